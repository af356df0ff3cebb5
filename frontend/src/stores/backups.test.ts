import { describe, expect, it, vi } from 'vitest';
import type { Backup, BackupList } from '../api/types';
import { ADMIN, ev, flush } from '../test/fixtures';
import { applyBackupEvent, createBackupsStore, mergeBackupPage, newerBackup } from './backups';

function backup(n: number, over: Partial<Backup> = {}): Backup {
  return {
    id: `20260101T00000${n}000Z-000${n}`,
    status: 'running',
    trigger: 'api',
    created_at: `2026-01-01T00:00:0${n}Z`,
    finished_at: null,
    phase: 'database',
    database_backend: 'sqlite',
    last_seq: null,
    schema_version: null,
    objects_total: 0,
    objects_done: 0,
    objects_copied: 0,
    objects_reused: 0,
    bytes_copied: 0,
    size_bytes: 0,
    error: null,
    ...over,
  };
}

const progress = (b: Backup) => ev('backup.progress', null, b, ADMIN);
const started = (b: Backup) => ev('backup.started', null, b, ADMIN);
const completed = (seq: number, b: Backup) => ev('backup.completed', seq, { ...b, status: 'completed', phase: 'done' }, ADMIN);
const failed = (seq: number, b: Backup) => ev('backup.failed', seq, { ...b, status: 'failed', error: 'disk full' }, null);
const deleted = (seq: number, id: string) => ev('backup.deleted', seq, { id }, ADMIN);
const list = (items: Backup[]): BackupList => ({ items });

describe('newerBackup', () => {
  it('moves forward only: phase, then objects done; a finished copy is never replaced by a running one', () => {
    const a = backup(1, { phase: 'objects', objects_total: 10, objects_done: 4 });
    expect(newerBackup(a, backup(1, { phase: 'objects', objects_total: 10, objects_done: 3 }))).toBe(a);
    const b = backup(1, { phase: 'objects', objects_total: 10, objects_done: 6 });
    expect(newerBackup(a, b)).toBe(b);
    expect(newerBackup(b, backup(1, { phase: 'database' }))).toBe(b);
    const done = backup(1, { status: 'completed', phase: 'done' });
    expect(newerBackup(b, done)).toBe(done);
    expect(newerBackup(done, b)).toBe(done);
    expect(newerBackup(undefined, b)).toBe(b);
  });
});

describe('applyBackupEvent', () => {
  it('adds a started backup newest first, updates its progress, then its end', () => {
    const gone = new Set<string>();
    let items = applyBackupEvent([backup(1, { status: 'completed', phase: 'done' })], started(backup(2)), gone);
    expect(items.map((b) => b.id)).toEqual([backup(2).id, backup(1).id]);
    items = applyBackupEvent(items, progress(backup(2, { phase: 'objects', objects_total: 4, objects_done: 2 })), gone);
    expect(items[0]!.objects_done).toBe(2);
    items = applyBackupEvent(items, completed(9, backup(2, { objects_total: 4, objects_done: 4 })), gone);
    expect(items[0]!.status).toBe('completed');
    // A progress event that arrives after the end changes nothing.
    const same = applyBackupEvent(items, progress(backup(2, { phase: 'objects', objects_done: 3 })), gone);
    expect(same).toBe(items);
  });

  it('removes on backup.deleted, and never re-adds a deleted backup', () => {
    const gone = new Set<string>();
    let items = [backup(1, { status: 'completed' })];
    items = applyBackupEvent(items, deleted(3, backup(1).id), gone);
    expect(items).toEqual([]);
    expect(applyBackupEvent(items, completed(2, backup(1)), gone)).toEqual([]);
  });

  it('ignores other events', () => {
    const items = [backup(1)];
    expect(applyBackupEvent(items, ev('user.deleted', 1, { id: 'x' }), new Set())).toBe(items);
  });
});

describe('mergeBackupPage', () => {
  it('keeps the furthest copy of each backup, live ones the page missed, and leaves deleted ones out', () => {
    const page = [backup(3, { phase: 'objects', objects_done: 1 }), backup(2, { status: 'completed' }), backup(1, { status: 'completed' })];
    const live = [backup(4), backup(3, { status: 'completed', phase: 'done' }), backup(2, { phase: 'objects' })];
    const merged = mergeBackupPage(page, live, new Set([backup(1).id]));
    expect(merged.map((b) => [b.id.slice(-1), b.status])).toEqual([
      ['4', 'running'],
      ['3', 'completed'],
      ['2', 'completed'],
    ]);
  });
});

describe('backups store', () => {
  it('applies durable events once each by seq, ephemeral ones always', async () => {
    const store = createBackupsStore({ listBackups: async () => list([]) });
    await store.load();
    expect(store.applyEvent(started(backup(1)))).toBe(true);
    expect(store.running.value?.id).toBe(backup(1).id);
    expect(store.applyEvent(completed(5, backup(1)))).toBe(true);
    expect(store.applyEvent(completed(5, backup(1)))).toBe(false);
    expect(store.running.value).toBeNull();
    expect(store.lastFinished.value?.status).toBe('completed');
    expect(store.applyEvent(ev('file.deleted', 6, { id: 'f' }))).toBe(false);
  });

  it('an event during a load is not lost, and a deletion during a load sticks', async () => {
    let release!: (p: BackupList) => void;
    const listBackups = vi.fn(() => new Promise<BackupList>((r) => (release = r)));
    const store = createBackupsStore({ listBackups });
    const loading = store.load();
    store.applyEvent(started(backup(3)));
    store.applyEvent(deleted(7, backup(1).id));
    release(list([backup(2, { status: 'completed' }), backup(1, { status: 'completed' })]));
    await loading;
    expect(store.items.value.map((b) => b.id)).toEqual([backup(3).id, backup(2).id]);
    expect(store.loaded.value).toBe(true);
  });

  it('a read that answers after the end does not bring the backup back to running', async () => {
    let release!: (p: BackupList) => void;
    const store = createBackupsStore({ listBackups: () => new Promise<BackupList>((r) => (release = r)) });
    const loading = store.load();
    store.applyEvent(completed(4, backup(1)));
    release(list([backup(1, { phase: 'objects' })])); // read before the end
    await loading;
    expect(store.items.value[0]!.status).toBe('completed');
  });

  it('a newer load wins over an older one that answers late', async () => {
    const answers: ((p: BackupList) => void)[] = [];
    const store = createBackupsStore({ listBackups: () => new Promise<BackupList>((r) => answers.push(r)) });
    const first = store.load();
    const second = store.load();
    answers[1]!(list([backup(2, { status: 'completed' })]));
    await second;
    answers[0]!(list([backup(1, { status: 'completed' })]));
    await first;
    await flush();
    expect(store.items.value.map((b) => b.id)).toEqual([backup(2).id]);
  });

  it('own writes: upsert() of the 202 before its events, removed() after a delete; a failure is the last result', async () => {
    const store = createBackupsStore({ listBackups: async () => list([]) });
    await store.load();
    store.upsert(backup(1));
    expect(store.items.value).toHaveLength(1);
    store.applyEvent(started(backup(1)));
    expect(store.items.value).toHaveLength(1);
    store.applyEvent(failed(8, backup(1)));
    expect(store.lastFinished.value?.status).toBe('failed');
    expect(store.lastFinished.value?.error).toBe('disk full');
    store.removed(backup(1).id);
    expect(store.items.value).toEqual([]);
    store.applyEvent(deleted(9, backup(1).id));
    expect(store.items.value).toEqual([]);
  });

  it('keeps the error of a failed load', async () => {
    const store = createBackupsStore({ listBackups: async () => Promise.reject(new Error('nope')) });
    await store.load();
    expect(store.error.value).toBe('nope');
    expect(store.loaded.value).toBe(false);
  });
});
