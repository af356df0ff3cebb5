// Transfers in flight anywhere: downloads (API and share links), other admins' uploads and URL
// imports, from the ephemeral `download.*` / `upload.*` events and the tasks API; plus this
// tab's own uploads (XMLHttpRequest progress). Finished transfers linger briefly, then go.
import { signal } from '@preact/signals-core';
import type { Task } from '../api/types';
import type { EventFrame } from '../realtime/events';
import { realTimers, type TimerLike } from '../lib/seqs';

export type TransferKind = 'download' | 'upload' | 'import';
export type TransferState = 'queued' | 'active' | 'paused' | 'done' | 'failed' | 'cancelled' | 'aborted';

export interface Transfer {
  /** `d:<download_id>` (imports: the task id) or `u:<upload_id>`. */
  key: string;
  id: string;
  kind: TransferKind;
  /** `api`, `link`, `import` or `upload`. */
  via: string;
  fileId: string;
  name: string;
  actor: string | null;
  bytesSent: number;
  /** null when the size is unknown (indeterminate progress). */
  bytesTotal: number | null;
  /** Bytes per second, as last reported. */
  rate: number;
  state: TransferState;
  reason: string | null;
  startedAt: number;
  updatedAt: number;
  /** Import task id (cancellable). */
  taskId: string | null;
}

export interface LocalUpload {
  id: number;
  name: string;
  sent: number;
  total: number;
  /** `retrying`: the connection broke; the upload resumes by itself from the last offset. */
  state: 'active' | 'retrying' | 'done' | 'failed';
  error: string | null;
}

export interface TransfersDeps {
  /** A file's name, if known. */
  nameOf?: (fileId: string) => string | undefined;
  /** Asked for names not known yet (the answer comes back through `setName`). */
  resolveName?: (fileId: string) => void;
  /** The signed-in user's id (to leave out our own uploads, shown under Uploads). */
  me?: () => string | null;
  timers?: TimerLike;
  now?: () => number;
  /** How long a finished transfer stays listed. */
  lingerMs?: number;
  /** How long a failed one stays listed. */
  failedLingerMs?: number;
}

/** Fraction done in [0, 1], or null when the total is unknown. */
export function fraction(t: Pick<Transfer, 'bytesSent' | 'bytesTotal'>): number | null {
  if (t.bytesTotal === null) return null;
  if (t.bytesTotal === 0) return 1;
  return Math.min(1, t.bytesSent / t.bytesTotal);
}

/** Seconds left at the current rate, or null (unknown total, no rate yet). */
export function etaSeconds(t: Pick<Transfer, 'bytesSent' | 'bytesTotal' | 'rate'>): number | null {
  if (t.bytesTotal === null || t.rate <= 0) return null;
  return Math.max(0, Math.ceil((t.bytesTotal - t.bytesSent) / t.rate));
}

function taskState(status: Task['status']): TransferState {
  switch (status) {
    case 'queued':
      return 'queued';
    case 'running':
      return 'active';
    case 'completed':
      return 'done';
    case 'failed':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
    // Its server stopped mid-way; it can be retried (POST /api/tasks/{id}/retry).
    case 'interrupted':
      return 'aborted';
  }
}

function nameFromUrl(url: string): string {
  try {
    const u = new URL(url);
    const last = u.pathname.split('/').filter(Boolean).pop();
    return last ? decodeURIComponent(last) : u.host;
  } catch {
    return url;
  }
}

export function createTransfersStore(deps: TransfersDeps = {}) {
  const timers = deps.timers ?? realTimers;
  const now = deps.now ?? Date.now;
  const lingerMs = deps.lingerMs ?? 3000;
  const failedLingerMs = deps.failedLingerMs ?? 8000;

  const byKey = new Map<string, Transfer>();
  const list = signal<Transfer[]>([]);
  const uploads = signal<LocalUpload[]>([]);
  const removalTimers = new Map<string, unknown>();
  /** Keys of transfers we do not show (our own uploads) or that already ended. */
  const ignored = new Set<string>();
  const ended = new Set<string>();
  let nextUploadId = 1;

  function publish(): void {
    list.value = [...byKey.values()].sort((a, b) => a.startedAt - b.startedAt || a.key.localeCompare(b.key));
  }

  function nameFor(fileId: string): string {
    const n = deps.nameOf?.(fileId);
    if (n) return n;
    deps.resolveName?.(fileId);
    return '';
  }

  function put(t: Transfer): void {
    byKey.set(t.key, t);
    publish();
  }

  function update(key: string, patch: Partial<Transfer>): Transfer | undefined {
    const cur = byKey.get(key);
    if (!cur) return undefined;
    const next = { ...cur, ...patch, updatedAt: now() };
    byKey.set(key, next);
    publish();
    return next;
  }

  function finish(key: string, state: TransferState, patch: Partial<Transfer> = {}): void {
    ended.add(key);
    if (ended.size > 1000) ended.delete(ended.values().next().value!);
    const t = update(key, { ...patch, state, rate: 0 });
    if (!t) return;
    const prev = removalTimers.get(key);
    if (prev !== undefined) timers.clearTimeout(prev);
    const delay = state === 'done' ? lingerMs : failedLingerMs;
    removalTimers.set(
      key,
      timers.setTimeout(() => {
        removalTimers.delete(key);
        if (byKey.delete(key)) publish();
      }, delay),
    );
  }

  function ensure(
    key: string,
    init: () => Omit<Transfer, 'startedAt' | 'updatedAt' | 'state' | 'reason' | 'rate' | 'bytesSent'>,
  ): Transfer {
    const cur = byKey.get(key);
    if (cur) return cur;
    const t: Transfer = { ...init(), bytesSent: 0, rate: 0, state: 'active', reason: null, startedAt: now(), updatedAt: now() };
    put(t);
    return t;
  }

  function progress(key: string, sent: number, total: number | null, perSec: number): void {
    const cur = byKey.get(key);
    if (!cur) return;
    let rate = perSec;
    if (!(rate > 0)) {
      const dt = (now() - cur.updatedAt) / 1000;
      rate = dt > 0 ? Math.max(0, (sent - cur.bytesSent) / dt) : cur.rate;
    }
    update(key, { bytesSent: Math.max(sent, cur.bytesSent), bytesTotal: total ?? cur.bytesTotal, rate, state: 'active' });
  }

  function applyEvent(frame: EventFrame): boolean {
    switch (frame.type) {
      case 'download.started': {
        const d = frame.data;
        const key = `d:${d.download_id}`;
        if (ended.has(key)) return false;
        const isImport = d.via === 'import';
        const existing = byKey.get(key);
        if (existing) {
          update(key, { bytesTotal: d.bytes_total, state: 'active', fileId: d.file_id });
          return true;
        }
        put({
          key,
          id: d.download_id,
          kind: isImport ? 'import' : 'download',
          via: d.via,
          fileId: d.file_id,
          name: nameFor(d.file_id),
          actor: frame.actor?.username ?? null,
          bytesSent: 0,
          bytesTotal: d.bytes_total,
          rate: 0,
          state: 'active',
          reason: null,
          startedAt: now(),
          updatedAt: now(),
          taskId: isImport ? d.download_id : null,
        });
        return true;
      }
      case 'download.progress': {
        const d = frame.data;
        const key = `d:${d.download_id}`;
        if (ended.has(key)) return false;
        ensure(key, () => ({
          key,
          id: d.download_id,
          kind: 'download',
          via: 'api',
          fileId: d.file_id,
          name: nameFor(d.file_id),
          actor: frame.actor?.username ?? null,
          bytesTotal: d.bytes_total,
          taskId: null,
        }));
        progress(key, d.bytes_sent, d.bytes_total, d.bytes_per_sec);
        const t = byKey.get(key);
        // A range short of the end never completes: its last report closes it.
        if (t && t.kind === 'download' && t.bytesTotal !== null && t.bytesSent >= t.bytesTotal) {
          finish(key, 'done');
        }
        return true;
      }
      case 'download.aborted': {
        const d = frame.data;
        const key = `d:${d.download_id}`;
        if (!byKey.has(key)) return false;
        const state: TransferState = d.reason === 'cancelled' ? 'cancelled' : 'aborted';
        finish(key, state, { reason: d.reason, bytesSent: d.bytes_sent });
        return true;
      }
      case 'download.completed': {
        const d = frame.data;
        const key = `d:${d.download_id}`;
        if (!byKey.has(key)) {
          ended.add(key);
          return false;
        }
        const t = byKey.get(key)!;
        finish(key, 'done', { bytesSent: t.bytesTotal ?? d.bytes, bytesTotal: t.bytesTotal ?? d.bytes, fileId: d.file_id });
        return true;
      }
      case 'upload.started': {
        const d = frame.data;
        const key = `u:${d.upload_id}`;
        if (frame.actor && frame.actor.id === deps.me?.() && isLocalUpload(d.name)) {
          ignored.add(key);
          return false;
        }
        ensure(key, () => ({
          key,
          id: d.upload_id,
          kind: 'upload',
          via: 'upload',
          fileId: d.file_id,
          name: d.name ?? '',
          actor: frame.actor?.username ?? null,
          bytesTotal: d.bytes_total,
          taskId: null,
        }));
        if (byKey.get(key)?.state === 'paused') update(key, { state: 'active', reason: null });
        return true;
      }
      case 'upload.paused': {
        const key = `u:${frame.data.upload_id}`;
        if (ignored.has(key) || !byKey.has(key)) return false;
        update(key, { state: 'paused', rate: 0, bytesSent: frame.data.bytes_sent });
        return true;
      }
      case 'upload.progress': {
        const d = frame.data;
        const key = `u:${d.upload_id}`;
        if (ignored.has(key) || ended.has(key)) return false;
        ensure(key, () => ({
          key,
          id: d.upload_id,
          kind: 'upload',
          via: 'upload',
          fileId: d.file_id,
          name: nameFor(d.file_id),
          actor: frame.actor?.username ?? null,
          bytesTotal: d.bytes_total,
          taskId: null,
        }));
        progress(key, d.bytes_sent, d.bytes_total, d.bytes_per_sec);
        return true;
      }
      case 'upload.aborted': {
        const key = `u:${frame.data.upload_id}`;
        if (ignored.delete(key) || !byKey.has(key)) return false;
        finish(key, 'aborted', { reason: frame.data.reason });
        return true;
      }
      case 'file.created': {
        // An upload in flight ends when its file appears.
        for (const t of byKey.values()) {
          if (t.kind === 'upload' && t.fileId === frame.data.id && t.state === 'active') {
            finish(t.key, 'done', { bytesSent: t.bytesTotal ?? t.bytesSent, name: t.name || frame.data.name });
          }
        }
        return true;
      }
      default:
        return false;
    }
  }

  /** Adds or refreshes an import task (from `POST /api/files/import` or `GET /api/tasks`). */
  function addTask(task: Task): void {
    const key = `d:${task.task_id}`;
    const state = taskState(task.status);
    const finished = state === 'done' || state === 'failed' || state === 'cancelled' || state === 'aborted';
    const cur = byKey.get(key);
    if (!cur && (finished || ended.has(key))) return;
    const name = task.name || cur?.name || nameFromUrl(task.url);
    if (cur) {
      update(key, {
        name,
        taskId: task.task_id,
        bytesSent: Math.max(cur.bytesSent, task.bytes_received),
        bytesTotal: task.bytes_total ?? cur.bytesTotal,
      });
      if (finished) finish(key, state, { reason: task.error ?? (task.status === 'interrupted' ? 'interrupted' : null) });
      return;
    }
    put({
      key,
      id: task.task_id,
      kind: 'import',
      via: 'import',
      fileId: task.file_id,
      name,
      actor: null,
      bytesSent: task.bytes_received,
      bytesTotal: task.bytes_total ?? null,
      rate: 0,
      state,
      reason: null,
      startedAt: Date.parse(task.created_at) || now(),
      updatedAt: now(),
      taskId: task.task_id,
    });
  }

  function setTasks(tasks: Task[]): void {
    for (const t of tasks) addTask(t);
  }

  /** A name became known (see `resolveName`). */
  function setName(fileId: string, name: string): void {
    let changed = false;
    for (const [k, t] of byKey) {
      if (t.fileId === fileId && !t.name) {
        byKey.set(k, { ...t, name });
        changed = true;
      }
    }
    if (changed) publish();
  }

  function markCancelled(taskId: string): void {
    const key = `d:${taskId}`;
    if (byKey.has(key)) finish(key, 'cancelled', { reason: 'cancelled' });
  }

  /**
   * Drops active transfers silent for `maxIdleMs` (their end was missed, e.g. while the socket
   * was down). Queued imports wait legitimately and stay.
   */
  function sweepStale(maxIdleMs: number): void {
    const limit = now() - maxIdleMs;
    let changed = false;
    for (const [k, t] of byKey) {
      if (t.state === 'active' && t.updatedAt < limit && !removalTimers.has(k)) {
        byKey.delete(k);
        changed = true;
      }
    }
    if (changed) publish();
  }

  // ---- this tab's uploads ----

  function isLocalUpload(name: string | null): boolean {
    return uploads.value.some((u) => (u.state === 'active' || u.state === 'retrying') && (name === null || u.name === name));
  }

  function startUpload(name: string, total: number): number {
    const id = nextUploadId++;
    uploads.value = [...uploads.value, { id, name, sent: 0, total, state: 'active', error: null }];
    return id;
  }

  function uploadProgress(id: number, sent: number, total: number): void {
    uploads.value = uploads.value.map((u) => (u.id === id ? { ...u, sent, total, state: 'active' } : u));
  }

  /** This tab's upload lost its connection and is retrying. */
  function uploadRetrying(id: number): void {
    uploads.value = uploads.value.map((u) => (u.id === id && u.state === 'active' ? { ...u, state: 'retrying' } : u));
  }

  function endUpload(id: number, error: string | null): void {
    uploads.value = uploads.value.map((u) =>
      u.id === id ? { ...u, state: error ? 'failed' : 'done', error, sent: error ? u.sent : u.total } : u,
    );
    timers.setTimeout(() => {
      uploads.value = uploads.value.filter((u) => u.id !== id);
    }, error ? failedLingerMs : 800);
  }

  return {
    list,
    uploads,
    applyEvent,
    addTask,
    setTasks,
    setName,
    markCancelled,
    sweepStale,
    startUpload,
    uploadProgress,
    uploadRetrying,
    endUpload,
    get(key: string): Transfer | undefined {
      return byKey.get(key);
    },
  };
}

export type TransfersStore = ReturnType<typeof createTransfersStore>;
