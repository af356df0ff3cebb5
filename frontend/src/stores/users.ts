// The users page's state: the current query and page, kept up to date by `user.*` events
// (applied idempotently by seq, newer versions only), with rows changed by someone else
// highlighted for a moment.
import { batch, signal } from '@preact/signals-core';
import type { User, UserListQuery, UserPage } from '../api/types';
import type { EventFrame } from '../realtime/events';
import { AppliedSeqs, OwnWrites, realTimers, type TimerLike } from '../lib/seqs';
import { errorMessage } from '../i18n/errors';

export type UserSortField = 'username' | 'email' | 'display_name' | 'role' | 'last_login_at';

export interface UsersQuery {
  q: string;
  role: '' | 'admin' | 'viewer';
  /** '' = all, 'false' = active, 'true' = disabled */
  disabled: '' | 'true' | 'false';
  sort: UserSortField;
  desc: boolean;
  page: number;
  perPage: number;
}

export const DEFAULT_USERS_QUERY: UsersQuery = {
  q: '',
  role: '',
  disabled: '',
  sort: 'username',
  desc: false,
  page: 1,
  perPage: 20,
};

export interface Highlight {
  by: string;
}

export interface UserChange {
  user: User;
  actor: string;
  /** Made by this tab (an echo of our own write). */
  own: boolean;
  deleted: boolean;
}

export interface UsersDeps {
  listUsers(q: UserListQuery): Promise<UserPage>;
  /** The signed-in user's id. */
  me(): string | null;
  timers?: TimerLike;
  highlightMs?: number;
  refetchDelayMs?: number;
}

export function toApiQuery(q: UsersQuery): UserListQuery {
  const out: UserListQuery = {
    page: q.page,
    per_page: q.perPage,
    sort: (q.desc ? '-' : '') + q.sort,
  };
  if (q.q.trim()) out.q = q.q.trim();
  if (q.role) out.role = q.role;
  if (q.disabled) out.disabled = q.disabled === 'true';
  return out;
}

export function createUsersStore(deps: UsersDeps) {
  const timers = deps.timers ?? realTimers;
  const highlightMs = deps.highlightMs ?? 2000;
  const refetchDelayMs = deps.refetchDelayMs ?? 250;

  const query = signal<UsersQuery>({ ...DEFAULT_USERS_QUERY });
  const items = signal<User[]>([]);
  const total = signal(0);
  const loading = signal(false);
  const loaded = signal(false);
  const error = signal<string | null>(null);
  const highlights = signal<Record<string, Highlight>>({});

  const applied = new AppliedSeqs();
  const deletedAt = new Map<string, number>();
  const own = new OwnWrites();
  const listeners = new Set<(c: UserChange) => void>();
  const highlightTimers = new Map<string, unknown>();
  let generation = 0;
  let refetchTimer: unknown = null;
  // Cursors the server handed out (`next`), by the page they start, for one query: "next page"
  // (and a live refetch of a page reached that way) costs the same however deep it is.
  let cursors = new Map<number, string>();
  let cursorsKey = '';

  function apiQuery(q: UsersQuery): UserListQuery {
    const out = toApiQuery(q);
    const key = JSON.stringify({ ...out, page: 0 });
    if (key !== cursorsKey) {
      cursors = new Map();
      cursorsKey = key;
    }
    const after = cursors.get(q.page);
    if (after === undefined) return out;
    const { page: _page, ...rest } = out;
    return { ...rest, after };
  }

  async function load(): Promise<void> {
    const gen = ++generation;
    loading.value = true;
    try {
      const asked = query.value;
      const page = await deps.listUsers(apiQuery(asked));
      if (gen !== generation) return;
      if (page.next) cursors.set(asked.page + 1, page.next);
      else cursors.delete(asked.page + 1);
      const pages = Math.max(1, Math.ceil(page.total / query.value.perPage));
      if (page.items.length === 0 && page.total > 0 && query.value.page > pages) {
        // The page emptied under us (deletions): go to the last one.
        query.value = { ...query.value, page: pages };
        return load();
      }
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

  function setQuery(patch: Partial<UsersQuery>): Promise<void> {
    const resetsPage = ['q', 'role', 'disabled', 'sort', 'desc', 'perPage'].some((k) => k in patch);
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

  function highlight(id: string, by: string): void {
    const prev = highlightTimers.get(id);
    if (prev !== undefined) timers.clearTimeout(prev);
    highlights.value = { ...highlights.value, [id]: { by } };
    highlightTimers.set(
      id,
      timers.setTimeout(() => {
        highlightTimers.delete(id);
        const next = { ...highlights.value };
        delete next[id];
        highlights.value = next;
      }, highlightMs),
    );
  }

  function filtered(): boolean {
    const q = query.value;
    return Boolean(q.q.trim() || q.role || q.disabled);
  }

  /** Applies a durable `user.*` event; anything else is ignored. Returns true if applied. */
  function applyEvent(frame: EventFrame): boolean {
    if (frame.type === 'auth.login') {
      // A sign-in moves "Last login" without a new version: update the cell, no highlight.
      const id = frame.data.user.id;
      const idx = items.value.findIndex((u) => u.id === id);
      if (idx < 0) return false;
      const next = items.value.slice();
      next[idx] = { ...next[idx]!, last_login_at: frame.ts };
      items.value = next;
      return true;
    }
    if (frame.type !== 'user.created' && frame.type !== 'user.updated' && frame.type !== 'user.deleted') {
      return false;
    }
    if (typeof frame.seq === 'number' && !applied.add(frame.seq)) return false;
    const seq = frame.seq ?? Number.MAX_SAFE_INTEGER;
    const actorName = frame.actor?.username ?? 'system';
    const mine = frame.actor !== null && frame.actor.id === deps.me();

    if (frame.type === 'user.deleted') {
      const id = frame.data.id;
      deletedAt.set(id, seq);
      const gone = items.value.find((u) => u.id === id);
      if (gone) {
        batch(() => {
          items.value = items.value.filter((u) => u.id !== id);
          total.value = Math.max(0, total.value - 1);
        });
        if (items.value.length === 0 && total.value > 0) scheduleRefetch();
        emit({ user: gone, actor: actorName, own: mine && own.isOwn(id), deleted: true });
      } else {
        scheduleRefetch();
      }
      return true;
    }

    const user = frame.data;
    const tomb = deletedAt.get(user.id);
    if (tomb !== undefined && tomb > seq) return false; // older than its deletion
    const isOwn = mine && (own.isOwn(user.id, user.version) || own.isOwn(`name:${user.username}`));

    if (frame.type === 'user.created') {
      if (!items.value.some((u) => u.id === user.id)) scheduleRefetch();
      if (!isOwn) highlight(user.id, actorName);
      emit({ user, actor: actorName, own: isOwn, deleted: false });
      return true;
    }

    // user.updated
    const idx = items.value.findIndex((u) => u.id === user.id);
    if (idx >= 0) {
      const current = items.value[idx]!;
      if (user.version <= current.version) return false; // stale or already shown
      const next = items.value.slice();
      next[idx] = user;
      items.value = next;
    } else if (filtered()) {
      scheduleRefetch(); // it may match the filters now
    }
    if (!isOwn) highlight(user.id, actorName);
    emit({ user, actor: actorName, own: isOwn, deleted: false });
    return true;
  }

  function emit(c: UserChange): void {
    for (const l of listeners) l(c);
  }

  /** Replaces a row with a fresher copy (e.g. from a PATCH response). */
  function upsert(user: User): void {
    const idx = items.value.findIndex((u) => u.id === user.id);
    if (idx < 0) return;
    if (user.version < items.value[idx]!.version) return;
    const next = items.value.slice();
    next[idx] = user;
    items.value = next;
  }

  function remove(id: string): void {
    if (!items.value.some((u) => u.id === id)) return;
    batch(() => {
      items.value = items.value.filter((u) => u.id !== id);
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
    load,
    setQuery,
    applyEvent,
    upsert,
    remove,
    /** Refetch after a resync. */
    resync: load,
    /** Runs a write of this tab, so its echo is not shown as someone else's change. */
    trackWrite<T>(key: string, write: () => Promise<T>, versionOf?: (r: T) => number | undefined): Promise<T> {
      return own.track(key, write, versionOf);
    },
    /** Listens to applied user changes (the edit dialog watches for concurrent edits). */
    onChange(cb: (c: UserChange) => void): () => void {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    pages(): number {
      return Math.max(1, Math.ceil(total.value / query.value.perPage));
    },
  };
}

export type UsersStore = ReturnType<typeof createUsersStore>;
