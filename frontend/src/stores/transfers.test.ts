import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Task } from '../api/types';
import { ADMIN, ALICE, ev } from '../test/fixtures';
import { createTransfersStore, etaSeconds, fraction } from './transfers';

beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
afterEach(() => vi.useRealTimers());

function setup() {
  const resolveName = vi.fn();
  const store = createTransfersStore({
    nameOf: (id) => (id === 'f1' ? 'big.iso' : undefined),
    resolveName,
    me: () => ADMIN.id,
    now: () => Date.now(),
    lingerMs: 3000,
    failedLingerMs: 8000,
  });
  return { store, resolveName };
}

describe('transfers store', () => {
  it('tracks a download: progress, speed, ETA, completion, then removal', () => {
    const { store } = setup();
    store.applyEvent(ev('download.started', null, { download_id: 'd1', file_id: 'f1', via: 'api', bytes_total: 10_000, range_start: 0 }));
    let t = store.get('d:d1')!;
    expect(t).toMatchObject({ name: 'big.iso', kind: 'download', via: 'api', bytesSent: 0, bytesTotal: 10_000, state: 'active', actor: 'alice' });
    expect(fraction(t)).toBe(0);
    expect(etaSeconds(t)).toBeNull(); // no rate yet

    store.applyEvent(ev('download.progress', null, { download_id: 'd1', file_id: 'f1', bytes_sent: 4000, bytes_total: 10_000, bytes_per_sec: 2000 }));
    t = store.get('d:d1')!;
    expect(fraction(t)).toBeCloseTo(0.4);
    expect(t.rate).toBe(2000);
    expect(etaSeconds(t)).toBe(3); // 6000 left at 2000/s

    store.applyEvent(ev('download.completed', 9, { download_id: 'd1', file_id: 'f1', via: 'api', bytes: 10_000, duration_ms: 5000, download_count: 1 }));
    t = store.get('d:d1')!;
    expect(t.state).toBe('done');
    expect(fraction(t)).toBe(1);
    expect(store.list.value).toHaveLength(1);
    vi.advanceTimersByTime(3000);
    expect(store.list.value).toHaveLength(0);
    // A late progress report does not bring it back.
    store.applyEvent(ev('download.progress', null, { download_id: 'd1', file_id: 'f1', bytes_sent: 9000, bytes_total: 10_000, bytes_per_sec: 1 }));
    expect(store.list.value).toHaveLength(0);
  });

  it('computes the rate itself when the server reports none', () => {
    const { store } = setup();
    store.applyEvent(ev('download.started', null, { download_id: 'd2', file_id: 'f1', via: 'link', bytes_total: 100_000, range_start: 0 }));
    vi.advanceTimersByTime(2000);
    store.applyEvent(ev('download.progress', null, { download_id: 'd2', file_id: 'f1', bytes_sent: 20_000, bytes_total: 100_000, bytes_per_sec: 0 }));
    const t = store.get('d:d2')!;
    expect(t.rate).toBe(10_000);
    expect(etaSeconds(t)).toBe(8);
  });

  it('shows an import of unknown length as indeterminate', () => {
    const { store } = setup();
    store.applyEvent(ev('download.started', null, { download_id: 'task1', file_id: 'f9', via: 'import', bytes_total: null, range_start: 0 }));
    store.applyEvent(ev('download.progress', null, { download_id: 'task1', file_id: 'f9', bytes_sent: 5000, bytes_total: null, bytes_per_sec: 1000 }));
    const t = store.get('d:task1')!;
    expect(t.kind).toBe('import');
    expect(t.taskId).toBe('task1');
    expect(fraction(t)).toBeNull();
    expect(etaSeconds(t)).toBeNull();
    expect(t.bytesSent).toBe(5000);
  });

  it('merges an import task from the API with its download events', () => {
    const { store } = setup();
    const task: Task = {
      task_id: 'task2',
      kind: 'import',
      status: 'queued',
      url: 'https://example.com/files/data.csv',
      name: null,
      file_id: 'f10',
      bytes_received: 0,
      bytes_total: null,
      error: null,
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
      instance: 'i1',
      created_by: ADMIN.id,
    };
    store.addTask(task);
    expect(store.get('d:task2')).toMatchObject({ name: 'data.csv', state: 'queued', kind: 'import' });
    store.applyEvent(ev('download.started', null, { download_id: 'task2', file_id: 'f10', via: 'import', bytes_total: 2000, range_start: 0 }, ADMIN));
    expect(store.get('d:task2')).toMatchObject({ name: 'data.csv', state: 'active', bytesTotal: 2000 });
    expect(store.list.value).toHaveLength(1);
    store.markCancelled('task2');
    expect(store.get('d:task2')?.state).toBe('cancelled');
    vi.advanceTimersByTime(8000);
    expect(store.list.value).toHaveLength(0);
  });

  it('leaves out finished tasks it never saw running', () => {
    const { store } = setup();
    store.setTasks([
      { task_id: 't', kind: 'import', status: 'completed', url: 'https://x/y', name: 'y', file_id: 'f', bytes_received: 1, bytes_total: 1, error: null, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', instance: 'i1', created_by: 'a' },
    ]);
    expect(store.list.value).toHaveLength(0);
  });

  it('shows an import task whose server stopped as interrupted', () => {
    const { store } = setup();
    const base = { task_id: 'task9', kind: 'import' as const, url: 'https://example.com/a.iso', name: 'a.iso', file_id: 'f90', bytes_received: 10, bytes_total: 100, error: null, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', instance: 'i1', created_by: ADMIN.id };
    store.addTask({ ...base, status: 'running' });
    expect(store.get('d:task9')?.state).toBe('active');
    store.addTask({ ...base, status: 'interrupted' });
    expect(store.get('d:task9')).toMatchObject({ state: 'aborted', reason: 'interrupted' });
  });

  it("shows another admin's resumable upload as paused between requests, then active again", () => {
    const { store } = setup();
    store.applyEvent(ev('upload.started', null, { upload_id: 'r1', file_id: 'f30', name: 'disk.img', bytes_total: 1000 }, ALICE));
    store.applyEvent(ev('upload.progress', null, { upload_id: 'r1', file_id: 'f30', bytes_sent: 400, bytes_total: 1000, bytes_per_sec: 100 }, ALICE));
    store.applyEvent(ev('upload.paused', null, { upload_id: 'r1', file_id: 'f30', bytes_sent: 400, bytes_total: 1000 }, ALICE));
    expect(store.get('u:r1')).toMatchObject({ state: 'paused', bytesSent: 400, rate: 0 });
    // Resumed by a new request, from the kept offset.
    store.applyEvent(ev('upload.started', null, { upload_id: 'r1', file_id: 'f30', name: 'disk.img', bytes_total: 1000 }, ALICE));
    expect(store.get('u:r1')?.state).toBe('active');
    store.applyEvent(ev('upload.progress', null, { upload_id: 'r1', file_id: 'f30', bytes_sent: 900, bytes_total: 1000, bytes_per_sec: 100 }, ALICE));
    expect(store.get('u:r1')).toMatchObject({ state: 'active', bytesSent: 900 });
  });

  it("marks this tab's upload as reconnecting until progress comes back", () => {
    const { store } = setup();
    const local = store.startUpload('big.bin', 100);
    store.uploadProgress(local, 40, 100);
    store.uploadRetrying(local);
    expect(store.uploads.value[0]).toMatchObject({ state: 'retrying', sent: 40 });
    // Its own events stay hidden while it reconnects.
    store.applyEvent(ev('upload.started', null, { upload_id: 'r2', file_id: 'f31', name: 'big.bin', bytes_total: 100 }, ADMIN));
    expect(store.get('u:r2')).toBeUndefined();
    store.uploadProgress(local, 60, 100);
    expect(store.uploads.value[0]).toMatchObject({ state: 'active', sent: 60 });
  });

  it("lists other admins' uploads until their file appears, but not this tab's own", () => {
    const { store } = setup();
    store.applyEvent(ev('upload.started', null, { upload_id: 'u1', file_id: 'f20', name: 'movie.mp4', bytes_total: 5000 }, ALICE));
    store.applyEvent(ev('upload.progress', null, { upload_id: 'u1', file_id: 'f20', bytes_sent: 2500, bytes_total: 5000, bytes_per_sec: 500 }, ALICE));
    expect(store.get('u:u1')).toMatchObject({ kind: 'upload', name: 'movie.mp4', bytesSent: 2500 });
    expect(etaSeconds(store.get('u:u1')!)).toBe(5);

    // Ours, already shown under Uploads.
    const local = store.startUpload('mine.txt', 10);
    store.applyEvent(ev('upload.started', null, { upload_id: 'u2', file_id: 'f21', name: 'mine.txt', bytes_total: 10 }, ADMIN));
    store.applyEvent(ev('upload.progress', null, { upload_id: 'u2', file_id: 'f21', bytes_sent: 5, bytes_total: 10, bytes_per_sec: 1 }, ADMIN));
    expect(store.get('u:u2')).toBeUndefined();
    store.uploadProgress(local, 5, 10);
    expect(store.uploads.value[0]).toMatchObject({ name: 'mine.txt', sent: 5, total: 10, state: 'active' });

    store.applyEvent(ev('file.created', 40, { id: 'f20', name: 'movie.mp4' } as never, ALICE));
    expect(store.get('u:u1')?.state).toBe('done');
    vi.advanceTimersByTime(3000);
    expect(store.get('u:u1')).toBeUndefined();
  });

  it('marks aborted downloads and asks for unknown names', () => {
    const { store, resolveName } = setup();
    store.applyEvent(ev('download.started', null, { download_id: 'd3', file_id: 'f-unknown', via: 'api', bytes_total: 10, range_start: 0 }));
    expect(resolveName).toHaveBeenCalledWith('f-unknown');
    store.setName('f-unknown', 'late.txt');
    expect(store.get('d:d3')?.name).toBe('late.txt');
    store.applyEvent(ev('download.aborted', null, { download_id: 'd3', file_id: 'f-unknown', bytes_sent: 3, bytes_total: 10, reason: 'client_gone' }));
    expect(store.get('d:d3')).toMatchObject({ state: 'aborted', reason: 'client_gone' });
  });

  it('closes a range download with its last progress report', () => {
    const { store } = setup();
    store.applyEvent(ev('download.started', null, { download_id: 'r', file_id: 'f1', via: 'api', bytes_total: 100, range_start: 50 }));
    store.applyEvent(ev('download.progress', null, { download_id: 'r', file_id: 'f1', bytes_sent: 100, bytes_total: 100, bytes_per_sec: 10 }));
    expect(store.get('d:r')?.state).toBe('done');
  });

  it('sweeps transfers whose end was missed', () => {
    const { store } = setup();
    store.applyEvent(ev('download.started', null, { download_id: 's', file_id: 'f1', via: 'api', bytes_total: 100, range_start: 0 }));
    vi.advanceTimersByTime(31_000);
    store.sweepStale(30_000);
    expect(store.list.value).toHaveLength(0);
  });
});
