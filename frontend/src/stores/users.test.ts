import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { UserListQuery, UserPage } from '../api/types';
import { ADMIN, ALICE, ev, flush, user } from '../test/fixtures';
import { createUsersStore, type UserChange } from './users';

const bob = user({ username: 'bob' });
const carol = user({ username: 'carol' });

function setup(items = [bob, carol]) {
  const calls: UserListQuery[] = [];
  const listUsers = vi.fn(async (q: UserListQuery): Promise<UserPage> => {
    calls.push(q);
    return { items, total: items.length, page: q.page ?? 1, per_page: q.per_page ?? 20 };
  });
  const store = createUsersStore({ listUsers, me: () => ADMIN.id });
  return { store, listUsers, calls };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('users store', () => {
  it('loads a page with the query mapped to the API', async () => {
    const { store, calls } = setup();
    await store.setQuery({ q: ' bo ', role: 'admin', disabled: 'false', sort: 'email', desc: true });
    expect(calls.at(-1)).toEqual({ page: 1, per_page: 20, sort: '-email', q: 'bo', role: 'admin', disabled: false });
    expect(store.items.value.map((u) => u.username)).toEqual(['bob', 'carol']);
    await store.setQuery({ page: 2 });
    expect(calls.at(-1)?.page).toBe(2);
    await store.setQuery({ role: '' }); // a filter change goes back to page 1
    expect(calls.at(-1)?.page).toBe(1);
    expect(calls.at(-1)).not.toHaveProperty('role');
  });

  it('asks for the next page by the cursor the previous page handed out', async () => {
    const calls: UserListQuery[] = [];
    const listUsers = vi.fn(async (q: UserListQuery): Promise<UserPage> => {
      calls.push(q);
      const next = q.after === 'c2' ? 'c3' : q.page === 1 ? 'c2' : undefined;
      return { items: [bob], total: 60, page: q.page ?? 1, per_page: 20, next };
    });
    const store = createUsersStore({ listUsers, me: () => ADMIN.id });
    await store.load();
    await store.setQuery({ page: 2 });
    expect(calls.at(-1)).toEqual({ per_page: 20, sort: 'username', after: 'c2' });
    await store.load(); // a refetch of page 2 uses the same cursor
    expect(calls.at(-1)?.after).toBe('c2');
    await store.setQuery({ page: 3 });
    expect(calls.at(-1)?.after).toBe('c3');
    await store.setQuery({ page: 1 });
    expect(calls.at(-1)).toEqual({ page: 1, per_page: 20, sort: 'username' });
    await store.setQuery({ q: 'x', page: 2 }); // another query: its own cursors, by offset
    expect(calls.at(-1)?.page).toBe(2);
    expect(calls.at(-1)).not.toHaveProperty('after');
  });

  it('applies user.updated in place, highlighting with the actor for ~2 s', async () => {
    const { store } = setup();
    await store.load();
    const changed = { ...bob, email: 'new@example.com', version: 2 };
    expect(store.applyEvent(ev('user.updated', 5, changed))).toBe(true);
    expect(store.items.value[0]).toEqual(changed);
    expect(store.highlights.value[bob.id]).toEqual({ by: 'alice' });
    vi.advanceTimersByTime(1999);
    expect(store.highlights.value[bob.id]).toBeDefined();
    vi.advanceTimersByTime(1);
    expect(store.highlights.value[bob.id]).toBeUndefined();
  });

  it('is idempotent by seq and never goes back to an older version', async () => {
    const { store } = setup();
    await store.load();
    const v3 = { ...bob, display_name: 'Bob 3', version: 3 };
    const v2 = { ...bob, display_name: 'Bob 2', version: 2 };
    expect(store.applyEvent(ev('user.updated', 7, v3))).toBe(true);
    expect(store.applyEvent(ev('user.updated', 7, v3))).toBe(false); // same seq again
    expect(store.applyEvent(ev('user.updated', 6, v2))).toBe(false); // older version, late
    expect(store.items.value[0]?.display_name).toBe('Bob 3');
  });

  it('removes a deleted user once and ignores later-arriving older events for it', async () => {
    const { store } = setup();
    await store.load();
    expect(store.total.value).toBe(2);
    store.applyEvent(ev('user.deleted', 10, { id: bob.id }));
    store.applyEvent(ev('user.deleted', 10, { id: bob.id }));
    expect(store.items.value.map((u) => u.username)).toEqual(['carol']);
    expect(store.total.value).toBe(1);
    expect(store.applyEvent(ev('user.updated', 9, { ...bob, version: 5 }))).toBe(false);
    expect(store.items.value.map((u) => u.username)).toEqual(['carol']);
  });

  it('refetches (debounced) when a user is created, and highlights it', async () => {
    const { store, listUsers } = setup();
    await store.load();
    expect(listUsers).toHaveBeenCalledTimes(1);
    const dave = user({ username: 'dave' });
    store.applyEvent(ev('user.created', 11, dave));
    store.applyEvent(ev('user.created', 12, user({ username: 'erin' })));
    vi.advanceTimersByTime(300);
    await flush();
    expect(listUsers).toHaveBeenCalledTimes(2);
    expect(store.highlights.value[dave.id]).toEqual({ by: 'alice' });
  });

  it("does not highlight this tab's own writes, before or after the response", async () => {
    const { store } = setup();
    await store.load();
    let resolve!: (v: typeof bob) => void;
    const write = store.trackWrite(bob.id, () => new Promise<typeof bob>((r) => (resolve = r)), (u) => u.version);
    // The echo arrives before the HTTP response.
    store.applyEvent(ev('user.updated', 20, { ...bob, version: 2 }, ADMIN));
    expect(store.highlights.value[bob.id]).toBeUndefined();
    resolve({ ...bob, version: 2 });
    await write;
    // Someone else (even with the same account in another tab) → highlighted.
    store.applyEvent(ev('user.updated', 21, { ...bob, version: 3 }, ADMIN));
    expect(store.highlights.value[bob.id]).toEqual({ by: 'admin' });
  });

  it('tells listeners about changes (the edit dialog watches for concurrent edits)', async () => {
    const { store } = setup();
    await store.load();
    const seen: UserChange[] = [];
    const off = store.onChange((c) => seen.push(c));
    store.applyEvent(ev('user.updated', 30, { ...bob, version: 2 }, ALICE));
    store.applyEvent(ev('user.updated', 30, { ...bob, version: 2 }, ALICE)); // duplicate
    off();
    store.applyEvent(ev('user.updated', 31, { ...bob, version: 3 }, ALICE));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ actor: 'alice', own: false, deleted: false, user: { version: 2 } });
  });

  it('ignores events of other kinds', async () => {
    const { store } = setup();
    expect(store.applyEvent(ev('file.deleted', 1, { id: 'x' }))).toBe(false);
    expect(store.applyEvent(ev('presence.joined', null, { user: ALICE, connections: 1 }))).toBe(false);
  });
});

describe('users store and sign-ins', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('moves "last login" on auth.login without a highlight or a version change', async () => {
    const { store } = setup();
    await store.setQuery({});
    const login = ev('auth.login', 9, { user: { id: bob.id, username: 'bob' }, ip: '127.0.0.1' }, { id: bob.id, username: 'bob' });
    expect(store.applyEvent(login)).toBe(true);
    const row = store.items.value.find((u) => u.id === bob.id)!;
    expect(row.last_login_at).toBe(login.ts);
    expect(row.version).toBe(bob.version);
    expect(store.highlights.value[bob.id]).toBeUndefined();
    // Someone not on the page: nothing to do.
    expect(store.applyEvent(ev('auth.login', 10, { user: { id: 'elsewhere', username: 'x' }, ip: null }))).toBe(false);
  });
});
