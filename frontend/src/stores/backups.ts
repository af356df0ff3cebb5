// Backups (admins): the list from `GET /api/backups`, kept up to date by the `backup.*` events of
// topic files — `backup.started` / `backup.progress` (ephemeral), `backup.completed` /
// `backup.failed` / `backup.deleted` (durable, applied once each by seq).
//
// Idempotent whatever the order: a backup only moves forward (running → completed | failed;
// while running, phase and objects_done never go back), and a deleted backup never comes back,
// even when a list read that started before its deletion answers afterwards.
import { batch, computed, signal } from '@preact/signals-core';
import type { Backup, BackupList, BackupPhase } from '../api/types';
import type { EventFrame } from '../realtime/events';
import { AppliedSeqs } from '../lib/seqs';
import { errorMessage } from '../i18n/errors';

export interface BackupsDeps {
  listBackups(): Promise<BackupList>;
}

const PHASES: Record<BackupPhase, number> = { database: 0, objects: 1, manifest: 2, done: 3 };

const terminal = (b: Backup) => b.status !== 'running';

/** Newest first: ids (`YYYYMMDDTHHMMSSmmmZ-xxxx`) sort in the order backups were taken. */
function byNewest(a: Backup, b: Backup): number {
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** How far a backup has come, to keep the furthest of two copies. */
function progressRank(b: Backup): [number, number, number] {
  return [terminal(b) ? 1 : 0, PHASES[b.phase] ?? 0, b.objects_done];
}

/**
 * The newer of two copies of one backup (pure): a finished copy beats a running one, a finished
 * one is never replaced by a running one; between running copies the furthest along wins.
 */
export function newerBackup(current: Backup | undefined, incoming: Backup): Backup {
  if (!current) return incoming;
  if (terminal(current)) {
    // A second finished copy (the list after the event, say) may carry later details.
    return terminal(incoming) ? incoming : current;
  }
  if (terminal(incoming)) return incoming;
  const a = progressRank(current);
  const b = progressRank(incoming);
  for (let i = 0; i < a.length; i++) {
    if (b[i]! > a[i]!) return incoming;
    if (b[i]! < a[i]!) return current;
  }
  return incoming;
}

/** Puts a copy of a backup into the list (pure); the same array when nothing changed. */
export function upsertBackup(items: Backup[], incoming: Backup, gone: ReadonlySet<string>): Backup[] {
  if (gone.has(incoming.id)) return items;
  const idx = items.findIndex((b) => b.id === incoming.id);
  if (idx < 0) return [...items, incoming].sort(byNewest);
  const next = newerBackup(items[idx], incoming);
  if (next === items[idx]) return items;
  const out = items.slice();
  out[idx] = next;
  return out;
}

/** The list after one event (pure). `gone` (deleted ids) is updated in place. */
export function applyBackupEvent(items: Backup[], frame: EventFrame, gone: Set<string>): Backup[] {
  switch (frame.type) {
    case 'backup.started':
    case 'backup.progress':
    case 'backup.completed':
    case 'backup.failed':
      return upsertBackup(items, frame.data, gone);
    case 'backup.deleted': {
      const id = frame.data.id;
      gone.add(id);
      return items.some((b) => b.id === id) ? items.filter((b) => b.id !== id) : items;
    }
    default:
      return items;
  }
}

/**
 * A fresh list merged with what is known (pure): each backup as far along as either copy says,
 * the live ones the page missed (started while it was read) kept, deleted ones left out.
 */
export function mergeBackupPage(page: Backup[], live: Backup[], gone: ReadonlySet<string>): Backup[] {
  const byId = new Map<string, Backup>();
  for (const b of page) if (!gone.has(b.id)) byId.set(b.id, newerBackup(byId.get(b.id), b));
  for (const b of live) {
    if (gone.has(b.id)) continue;
    const known = byId.get(b.id);
    byId.set(b.id, known ? newerBackup(b, known) : b);
  }
  return [...byId.values()].sort(byNewest);
}

export function isBackupEvent(frame: EventFrame): boolean {
  return frame.type.startsWith('backup.');
}

export function createBackupsStore(deps: BackupsDeps) {
  const items = signal<Backup[]>([]);
  const loading = signal(false);
  const loaded = signal(false);
  const error = signal<string | null>(null);
  const gone = new Set<string>();
  const applied = new AppliedSeqs();
  let generation = 0;
  /** Backups learnt from events or our own writes since the current read started. */
  let liveSinceLoad = new Map<string, Backup>();

  /** The backup that runs now (this server runs one at a time), if any. */
  const running = computed(() => items.value.find((b) => b.status === 'running') ?? null);
  /** The newest backup that finished (completed or failed): the line "Last backup: …". */
  const lastFinished = computed(() => items.value.find(terminal) ?? null);

  function remember(b: Backup): void {
    liveSinceLoad.set(b.id, newerBackup(liveSinceLoad.get(b.id), b));
  }

  async function load(): Promise<void> {
    const gen = ++generation;
    // The page is the truth about everything before the read; events during it may be newer.
    liveSinceLoad = new Map();
    loading.value = true;
    try {
      const page = await deps.listBackups();
      if (gen !== generation) return;
      batch(() => {
        items.value = mergeBackupPage(page.items, [...liveSinceLoad.values()], gone);
        error.value = null;
        loaded.value = true;
      });
    } catch (e) {
      if (gen === generation) error.value = errorMessage(e);
    } finally {
      if (gen === generation) loading.value = false;
    }
  }

  function applyEvent(frame: EventFrame): boolean {
    if (!isBackupEvent(frame)) return false;
    if (typeof frame.seq === 'number' && !applied.add(frame.seq)) return false;
    if (frame.type !== 'backup.deleted' && 'status' in frame.data) remember(frame.data as Backup);
    const next = applyBackupEvent(items.value, frame, gone);
    if (next !== items.value) items.value = next;
    return true;
  }

  /** Our own write's answer (the 202 of `POST /api/backups`), before or after its events. */
  function upsert(b: Backup): void {
    remember(b);
    const next = upsertBackup(items.value, b, gone);
    if (next !== items.value) items.value = next;
  }

  /** Our own delete, before (or after) its `backup.deleted`. */
  function removed(id: string): void {
    gone.add(id);
    if (items.value.some((b) => b.id === id)) items.value = items.value.filter((b) => b.id !== id);
  }

  return { items, loading, loaded, error, running, lastFinished, load, applyEvent, upsert, removed, resync: load };
}

export type BackupsStore = ReturnType<typeof createBackupsStore>;
