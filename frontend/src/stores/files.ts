// The files page's state: current page of files, live download counts
// (`download.completed`, `file.updated`), `file.created` / `file.deleted`.
import { batch, signal } from '@preact/signals-core';
import type { FileItem, FileListQuery, FilePage } from '../api/types';
import type { EventFrame } from '../realtime/events';
import { AppliedSeqs, realTimers, type TimerLike } from '../lib/seqs';
import { errorMessage } from '../i18n/errors';

export type FileSortField = 'name' | 'size' | 'content_type' | 'download_count' | 'created_at' | 'expires_at';

export interface FilesQuery {
  q: string;
  sort: FileSortField;
  desc: boolean;
  page: number;
  perPage: number;
}

export const DEFAULT_FILES_QUERY: FilesQuery = {
  q: '',
  sort: 'created_at',
  desc: true,
  page: 1,
  perPage: 20,
};

export interface FilesDeps {
  listFiles(q: FileListQuery): Promise<FilePage>;
  timers?: TimerLike;
  refetchDelayMs?: number;
  highlightMs?: number;
}

export function toFileApiQuery(q: FilesQuery): FileListQuery {
  const out: FileListQuery = { page: q.page, per_page: q.perPage, sort: (q.desc ? '-' : '') + q.sort };
  if (q.q.trim()) out.q = q.q.trim();
  return out;
}

export function createFilesStore(deps: FilesDeps) {
  const timers = deps.timers ?? realTimers;
  const refetchDelayMs = deps.refetchDelayMs ?? 250;
  const highlightMs = deps.highlightMs ?? 2000;

  const query = signal<FilesQuery>({ ...DEFAULT_FILES_QUERY });
  const items = signal<FileItem[]>([]);
  const total = signal(0);
  const loading = signal(false);
  const loaded = signal(false);
  const error = signal<string | null>(null);
  const highlights = signal<Record<string, string>>({});
  /** Names of files seen anywhere (for transfers and the activity feed). */
  const names = new Map<string, string>();

  const applied = new AppliedSeqs();
  const deletedAt = new Map<string, number>();
  let generation = 0;
  let refetchTimer: unknown = null;

  async function load(): Promise<void> {
    const gen = ++generation;
    loading.value = true;
    try {
      const page = await deps.listFiles(toFileApiQuery(query.value));
      if (gen !== generation) return;
      const pages = Math.max(1, Math.ceil(page.total / query.value.perPage));
      if (page.items.length === 0 && page.total > 0 && query.value.page > pages) {
        query.value = { ...query.value, page: pages };
        return load();
      }
      for (const f of page.items) names.set(f.id, f.name);
      batch(() => {
        items.value = page.items;
        total.value = page.total;
        error.value = null;
        loaded.value = true;
      });
    } catch (e) {
      if (gen === generation) error.value = errorMessage(e);
    } finally {
      if (gen === generation) loading.value = false;
    }
  }

  function setQuery(patch: Partial<FilesQuery>): Promise<void> {
    const resetsPage = ['q', 'sort', 'desc', 'perPage'].some((k) => k in patch);
    query.value = { ...query.value, ...(resetsPage && !('page' in patch) ? { page: 1 } : {}), ...patch };
    return load();
  }

  function scheduleRefetch(): void {
    if (refetchTimer !== null) return;
    refetchTimer = timers.setTimeout(() => {
      refetchTimer = null;
      void load();
    }, refetchDelayMs);
  }

  function flash(id: string): void {
    highlights.value = { ...highlights.value, [id]: 'new' };
    timers.setTimeout(() => {
      const next = { ...highlights.value };
      delete next[id];
      highlights.value = next;
    }, highlightMs);
  }

  function patchItem(id: string, f: (file: FileItem) => FileItem | null): void {
    const idx = items.value.findIndex((x) => x.id === id);
    if (idx < 0) return;
    const updated = f(items.value[idx]!);
    if (!updated) return;
    const next = items.value.slice();
    next[idx] = updated;
    items.value = next;
  }

  function applyEvent(frame: EventFrame): boolean {
    switch (frame.type) {
      case 'file.created':
      case 'file.updated':
      case 'file.deleted':
      case 'download.completed':
        break;
      default:
        return false;
    }
    if (typeof frame.seq === 'number' && !applied.add(frame.seq)) return false;
    const seq = frame.seq ?? Number.MAX_SAFE_INTEGER;

    switch (frame.type) {
      case 'file.created': {
        const file = frame.data;
        names.set(file.id, file.name);
        if ((deletedAt.get(file.id) ?? -1) > seq) return false;
        if (!items.value.some((x) => x.id === file.id)) {
          scheduleRefetch();
          flash(file.id);
        }
        return true;
      }
      case 'file.updated': {
        const file = frame.data;
        names.set(file.id, file.name);
        if ((deletedAt.get(file.id) ?? -1) > seq) return false;
        patchItem(file.id, (cur) =>
          file.version > cur.version
            ? { ...file, download_count: Math.max(file.download_count, cur.download_count) }
            : null,
        );
        return true;
      }
      case 'file.deleted': {
        const id = frame.data.id;
        deletedAt.set(id, seq);
        if (items.value.some((x) => x.id === id)) {
          batch(() => {
            items.value = items.value.filter((x) => x.id !== id);
            total.value = Math.max(0, total.value - 1);
          });
          if (items.value.length === 0 && total.value > 0) scheduleRefetch();
        }
        return true;
      }
      case 'download.completed': {
        const d = frame.data;
        // An import's completion creates the file (`file.created` follows); nothing to count.
        if (d.via === 'import') return true;
        patchItem(d.file_id, (cur) =>
          d.download_count > cur.download_count ? { ...cur, download_count: d.download_count } : null,
        );
        return true;
      }
    }
    return false;
  }

  function upsert(file: FileItem): void {
    names.set(file.id, file.name);
    patchItem(file.id, (cur) => (file.version >= cur.version ? file : null));
  }

  function remove(id: string): void {
    if (!items.value.some((x) => x.id === id)) return;
    batch(() => {
      items.value = items.value.filter((x) => x.id !== id);
      total.value = Math.max(0, total.value - 1);
    });
  }

  return {
    query,
    items,
    total,
    loading,
    loaded,
    error,
    highlights,
    names,
    load,
    setQuery,
    applyEvent,
    upsert,
    remove,
    resync: load,
    nameOf(id: string): string | undefined {
      return names.get(id);
    },
    pages(): number {
      return Math.max(1, Math.ceil(total.value / query.value.perPage));
    },
  };
}

export type FilesStore = ReturnType<typeof createFilesStore>;
