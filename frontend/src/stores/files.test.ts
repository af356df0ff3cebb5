import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FileListQuery, FilePage } from '../api/types';
import { ev, file, flush } from '../test/fixtures';
import { createFilesStore } from './files';

const report = file({ name: 'report.pdf' });
const photo = file({ name: 'photo.png', download_count: 4 });

function setup() {
  const listFiles = vi.fn(async (q: FileListQuery): Promise<FilePage> => ({
    items: [report, photo],
    total: 2,
    page: q.page ?? 1,
    per_page: q.per_page ?? 20,
  }));
  return { store: createFilesStore({ listFiles }), listFiles };
}

function count(store: ReturnType<typeof createFilesStore>, id: string) {
  return store.items.value.find((f) => f.id === id)?.download_count;
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('files store', () => {
  it('updates download_count live from download.completed, once per seq', async () => {
    const { store } = setup();
    await store.load();
    const done = { download_id: 'd1', file_id: report.id, via: 'api' as const, bytes: 1000, duration_ms: 5, download_count: 1 };
    store.applyEvent(ev('download.completed', 3, done));
    expect(count(store, report.id)).toBe(1);
    store.applyEvent(ev('download.completed', 3, done));
    expect(count(store, report.id)).toBe(1);
    // A late, smaller count never lowers it.
    store.applyEvent(ev('download.completed', 5, { ...done, download_id: 'd3', download_count: 3 }));
    store.applyEvent(ev('download.completed', 4, { ...done, download_id: 'd2', download_count: 2 }));
    expect(count(store, report.id)).toBe(3);
    expect(count(store, photo.id)).toBe(4);
  });

  it('applies file.updated by version and keeps the higher download count', async () => {
    const { store } = setup();
    await store.load();
    store.applyEvent(ev('download.completed', 3, { download_id: 'd', file_id: photo.id, via: 'link', bytes: 1, duration_ms: 1, download_count: 6 }));
    store.applyEvent(ev('file.updated', 4, { ...photo, name: 'renamed.png', version: 2, download_count: 5 }));
    const f = store.items.value.find((x) => x.id === photo.id)!;
    expect(f.name).toBe('renamed.png');
    expect(f.download_count).toBe(6);
    store.applyEvent(ev('file.updated', 2, { ...photo, name: 'old.png', version: 1 }));
    expect(store.items.value.find((x) => x.id === photo.id)!.name).toBe('renamed.png');
  });

  it('does not count an import completion as a download', async () => {
    const { store } = setup();
    await store.load();
    store.applyEvent(ev('download.completed', 3, { download_id: 't', file_id: report.id, via: 'import', bytes: 1, duration_ms: 1, download_count: 0 }));
    expect(count(store, report.id)).toBe(0);
  });

  it('removes deleted files and refetches on file.created', async () => {
    const { store, listFiles } = setup();
    await store.load();
    store.applyEvent(ev('file.deleted', 7, { id: report.id }));
    expect(store.items.value.map((f) => f.id)).toEqual([photo.id]);
    expect(store.total.value).toBe(1);
    const fresh = file({ name: 'new.txt' });
    store.applyEvent(ev('file.created', 8, fresh));
    expect(store.nameOf(fresh.id)).toBe('new.txt');
    vi.advanceTimersByTime(300);
    await flush();
    expect(listFiles).toHaveBeenCalledTimes(2);
  });
});
