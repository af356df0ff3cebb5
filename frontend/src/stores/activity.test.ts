import { describe, expect, it, vi } from 'vitest';
import type { EventListQuery } from '../api/types';
import { en } from '../i18n/en';
import { zhCN } from '../i18n/zh-CN';
import { DURABLE_TYPES, type EventFrame } from '../realtime/events';
import { ADMIN, ev, file, user } from '../test/fixtures';
import {
  type ActivityFilters,
  createActivityStore,
  describe as describeEvent,
  describeText,
  filterQuery,
  filtersFromSearch,
  filtersToSearch,
  isEcho,
  matchesFilters,
  NO_FILTERS,
  rangeValid,
  TYPE_GROUPS,
} from './activity';

function history(from: number, to: number): EventFrame[] {
  const out: EventFrame[] = [];
  for (let s = to; s >= from; s--) out.push(ev('user.updated', s, user({ username: `u${s}`, version: s })));
  return out;
}

describe('activity store', () => {
  it('loads the newest page, then older ones with before=', async () => {
    const all = history(1, 5);
    const listEvents = vi.fn(async (q: EventListQuery) => {
      const before = q.before ?? Number.MAX_SAFE_INTEGER;
      const items = all.filter((e) => (e.seq ?? 0) < before).slice(0, q.limit ?? 100);
      return { items, latest_seq: 5 };
    });
    const store = createActivityStore({ listEvents, pageSize: 2 });
    await store.loadRecent();
    expect(listEvents.mock.calls[0]![0]).toEqual({ before: Number.MAX_SAFE_INTEGER, limit: 2 });
    expect(store.items.value.map((e) => e.seq)).toEqual([5, 4]);
    expect(store.hasMore.value).toBe(true);
    await store.loadOlder();
    expect(listEvents.mock.calls[1]![0]).toEqual({ before: 4, limit: 2 });
    await store.loadOlder();
    expect(store.items.value.map((e) => e.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(store.hasMore.value).toBe(false);
  });

  it('prepends live events once, newest first, and keeps them across a reload', async () => {
    let latest = 2;
    const listEvents = vi.fn(async () => ({ items: history(1, 2), latest_seq: latest }));
    const store = createActivityStore({ listEvents });
    await store.loadRecent();
    expect(store.applyEvent(ev('user.updated', 3, user({ version: 3 })))).toBe(true);
    expect(store.applyEvent(ev('user.updated', 3, user({ version: 3 })))).toBe(false);
    expect(store.applyEvent(ev('download.progress', null, { download_id: 'd', file_id: 'f', bytes_sent: 1, bytes_total: 2, bytes_per_sec: 1 }))).toBe(false);
    expect(store.items.value.map((e) => e.seq)).toEqual([3, 2, 1]);
    latest = 2;
    await store.loadRecent();
    expect(store.items.value.map((e) => e.seq)).toEqual([3, 2, 1]);
  });

  it('describes events as "<actor> <verb> <target>"', () => {
    const names = new Map([['id-bob', 'bob']]);
    const nameOf = (id: string) => names.get(id);
    const text = (e: EventFrame) => {
      return describeText(describeEvent(e, nameOf));
    };
    expect(text(ev('user.created', 1, user({ username: 'bob' }), ADMIN))).toBe('admin created user bob');
    expect(text(ev('user.deleted', 2, { id: 'id-bob' }, ADMIN))).toBe('admin deleted user bob');
    expect(text(ev('file.created', 3, file({ name: 'a.txt' }), ADMIN))).toBe('admin uploaded a.txt');
    names.set('f-a.txt', 'a.txt');
    expect(text(ev('download.completed', 4, { download_id: 'd', file_id: 'f-a.txt', via: 'link', bytes: 1, duration_ms: 1, download_count: 1 }, null))).toBe(
      'anonymous downloaded a.txt via share link',
    );
  });

  it('recognises the file.updated that follows a download', () => {
    const d = ev('download.completed', 4, { download_id: 'd', file_id: 'f-a.txt', via: 'api', bytes: 1, duration_ms: 1, download_count: 1 });
    const u = ev('file.updated', 5, file({ name: 'a.txt', download_count: 1 }));
    const other = ev('file.updated', 6, file({ name: 'a.txt', download_count: 1 }));
    const bySeq = new Map([d, u, other].map((e) => [e.seq!, e]));
    expect(isEcho(u, bySeq)).toBe(true);
    expect(isEcho(other, bySeq)).toBe(false);
    expect(isEcho(d, bySeq)).toBe(false);
  });
});

describe('audit events in the feed', () => {
  const none = () => undefined;
  it('names sign-ins, failed sign-ins and role changes', () => {
    const text = (f: EventFrame) => describeText(describeEvent(f, none));
    const login = describeEvent(ev('auth.login', 1, { user: { id: 'u1', username: 'ada' }, ip: '10.0.0.7' }), none);
    expect(login.actor).toBe('ada');
    expect(describeText(login)).toBe('ada signed in from 10.0.0.7');
    expect(text(ev('auth.login_failed', 2, { username: 'root', ip: null }, null))).toBe('someone failed to sign in as root');
    expect(text(ev('user.role_changed', 3, { id: 'u2', username: 'bob', from: 'viewer', to: 'admin' }, ADMIN))).toBe(
      'admin changed the role of bob from viewer to admin',
    );
  });
});

describe('describe: account events', () => {
  const names = new Map([['id-bob', 'bob']]);
  const nameOf = (id: string) => names.get(id);
  const text = (f: EventFrame) => {
    return describeText(describeEvent(f, nameOf));
  };
  it('keys, second factor, sessions and invitations', () => {
    const key = { id: 'k', user_id: 'id-bob', name: 'ci', role: 'viewer', created_at: '2026-01-01T00:00:00Z', expires_at: null };
    expect(text(ev('key.created', 1, key, ADMIN))).toBe('admin created API key ci of bob');
    expect(text(ev('key.revoked', 2, { id: 'k', user_id: 'id-bob', name: 'ci' }, { id: 'id-bob', username: 'bob' }))).toBe('bob revoked API key ci');
    expect(text(ev('mfa.enabled', 3, { id: 'id-bob', username: 'bob' }, { id: 'id-bob', username: 'bob' }))).toBe('bob turned on the second factor of bob');
    expect(text(ev('mfa.disabled', 4, { id: 'id-bob', username: 'bob', reason: 'reset' }, ADMIN))).toBe('admin reset the second factor of bob');
    expect(text(ev('session.revoked', 5, { id: 's', user_id: 'id-bob', reason: 'ended' }, ADMIN))).toBe('admin ended a session of bob');
    const inv = { id: 'i1', email: 'new@example.test', role: 'viewer', invited_by: ADMIN.id, created_at: '', expires_at: '', status: 'pending' };
    expect(text(ev('user.invited', 6, inv, ADMIN))).toBe('admin invited new@example.test as viewer');
    expect(text(ev('user.invitation_revoked', 7, { id: 'i1' }, ADMIN))).toBe('admin revoked the invitation for i1');
  });
  it('the store learns invitation addresses for the later events', () => {
    const store = createActivityStore({ listEvents: async () => ({ items: [], latest_seq: 0 }) });
    const inv = { id: 'i2', email: 'x@example.test', role: 'admin', invited_by: ADMIN.id, created_at: '', expires_at: '', status: 'pending' };
    store.applyEvent(ev('user.invited', 8, inv, ADMIN));
    const d = describeEvent(ev('user.invitation_accepted', 9, { id: 'i2', user_id: 'id-x' }, { id: 'id-x', username: 'xavier' }), (id) => store.names.get(id));
    expect(describeText(d)).toBe('xavier accepted the invitation for x@example.test');
  });
});

describe('describe: backups', () => {
  const text = (f: EventFrame) => {
    return describeText(describeEvent(f, () => undefined));
  };
  const b = {
    id: '20260101T000000000Z-abcd',
    status: 'completed' as const,
    trigger: 'api' as const,
    created_at: '2026-01-01T00:00:00Z',
    finished_at: '2026-01-01T00:00:01Z',
    phase: 'done' as const,
    database_backend: 'sqlite',
    last_seq: 5,
    schema_version: 'm1',
    objects_total: 1,
    objects_done: 1,
    objects_copied: 1,
    objects_reused: 0,
    bytes_copied: 10,
    size_bytes: 100,
    error: null,
  };
  it('taken, failed (with the reason) and deleted backups; the durable ones reach the feed live', () => {
    expect(text(ev('backup.completed', 1, b, ADMIN))).toBe(`admin took backup ${b.id}`);
    expect(text(ev('backup.completed', 2, { ...b, trigger: 'schedule' }, null))).toBe(`system took backup ${b.id} (scheduled)`);
    expect(text(ev('backup.failed', 3, { ...b, status: 'failed', error: 'disk full' }, null))).toBe(`system could not take backup ${b.id} — disk full`);
    expect(text(ev('backup.deleted', 4, { id: b.id }, ADMIN))).toBe(`admin deleted backup ${b.id}`);
    const store = createActivityStore({ listEvents: async () => ({ items: [], latest_seq: 0 }) });
    expect(store.applyEvent(ev('backup.completed', 5, b, ADMIN))).toBe(true);
    expect(store.applyEvent(ev('backup.progress', null, { ...b, status: 'running' }, ADMIN))).toBe(false);
  });
});

describe('activity filters', () => {
  const f = (over: Partial<ActivityFilters>): ActivityFilters => ({ ...NO_FILTERS, ...over });
  /** An event at a local wall-clock time (the filters' days are the browser's). */
  const at = (frame: EventFrame, y: number, mo: number, d: number, h = 0, mi = 0, ms = 0): EventFrame => ({
    ...frame,
    ts: new Date(y, mo - 1, d, h, mi, 0, ms).toISOString(),
  });
  const bob = { id: 'id-bob', username: 'bob' };

  it('matches by type: one type, a list, a prefix', () => {
    const created = ev('user.created', 1, user());
    const deleted = ev('user.deleted', 2, { id: 'x' });
    const uploaded = ev('file.created', 3, file());
    const accepted = ev('user.invitation_accepted', 4, { id: 'i', user_id: 'u' });
    expect(matchesFilters(created, NO_FILTERS)).toBe(true);
    expect(matchesFilters(created, f({ type: 'user.created' }))).toBe(true);
    expect(matchesFilters(deleted, f({ type: 'user.created' }))).toBe(false);
    expect(matchesFilters(deleted, f({ type: 'user.created, user.deleted' }))).toBe(true);
    expect(matchesFilters(uploaded, f({ type: 'user.created,user.deleted' }))).toBe(false);
    expect(matchesFilters(uploaded, f({ type: 'file.*,download.completed' }))).toBe(true);
    expect(matchesFilters(created, f({ type: 'file.*' }))).toBe(false);
    expect(matchesFilters(accepted, f({ type: 'user.invited,user.invitation_*' }))).toBe(true);
    expect(matchesFilters(created, f({ type: 'user.invited,user.invitation_*' }))).toBe(false);
    // "user" is not "user.created": exact unless it ends in `*`.
    expect(matchesFilters(created, f({ type: 'user' }))).toBe(false);
    expect(matchesFilters(created, f({ type: ' , ' }))).toBe(true);
  });

  it('matches the actor by username or id, exactly; events without an actor never match one', () => {
    const byBob = ev('user.updated', 1, user(), bob);
    expect(matchesFilters(byBob, f({ actor: 'bob' }))).toBe(true);
    expect(matchesFilters(byBob, f({ actor: 'id-bob' }))).toBe(true);
    expect(matchesFilters(byBob, f({ actor: ' bob ' }))).toBe(true);
    expect(matchesFilters(byBob, f({ actor: 'Bob' }))).toBe(false);
    expect(matchesFilters(byBob, f({ actor: 'alice' }))).toBe(false);
    expect(matchesFilters(ev('download.completed', 2, { download_id: 'd', file_id: 'f', via: 'link', bytes: 1, duration_ms: 1, download_count: 1 }, null), f({ actor: 'bob' }))).toBe(false);
  });

  it('matches local days: from its first millisecond, to the end of the "to" day', () => {
    const e = ev('user.updated', 1, user());
    const range = f({ from: '2026-12-01', to: '2026-12-03' });
    expect(matchesFilters(at(e, 2026, 11, 30, 23, 59, 999), range)).toBe(false);
    expect(matchesFilters(at(e, 2026, 12, 1, 0, 0, 0), range)).toBe(true);
    expect(matchesFilters(at(e, 2026, 12, 3, 23, 59, 999), range)).toBe(true);
    expect(matchesFilters(at(e, 2026, 12, 4, 0, 0, 0), range)).toBe(false);
    expect(matchesFilters(at(e, 2020, 1, 1), f({ to: '2026-12-03' }))).toBe(true);
    expect(matchesFilters(at(e, 2030, 1, 1), f({ from: '2026-12-01' }))).toBe(true);
    expect(matchesFilters(at(e, 2026, 12, 2), f({ to: '2026-12-01' }))).toBe(false);
    // One day.
    expect(matchesFilters(at(e, 2026, 12, 2, 12), f({ from: '2026-12-02', to: '2026-12-02' }))).toBe(true);
    // Everything together.
    const all = f({ type: 'user.*', actor: 'bob', from: '2026-12-01', to: '2026-12-03' });
    expect(matchesFilters(at(ev('user.updated', 2, user(), bob), 2026, 12, 2), all)).toBe(true);
    expect(matchesFilters(at(ev('user.updated', 2, user()), 2026, 12, 2), all)).toBe(false);
    expect(matchesFilters(at(ev('file.updated', 2, file(), bob), 2026, 12, 2), all)).toBe(false);
    expect(matchesFilters(at(ev('user.updated', 2, user(), bob), 2026, 12, 5), all)).toBe(false);
  });

  it('turns the days into since/until at local midnights, the day after "to" excluded', () => {
    const q = filterQuery(f({ type: 'user.updated', actor: ' alice ', from: '2026-12-01', to: '2026-12-03' }));
    expect(q).toEqual({
      type: 'user.updated',
      actor: 'alice',
      since: new Date(2026, 11, 1).toISOString(),
      until: new Date(2026, 11, 4).toISOString(),
    });
    // Month and year ends roll over.
    expect(filterQuery(f({ to: '2026-12-31' }))).toEqual({ until: new Date(2027, 0, 1).toISOString() });
    expect(filterQuery(NO_FILTERS)).toEqual({});
    expect(rangeValid(f({ from: '2026-12-03', to: '2026-12-03' }))).toBe(true);
    expect(rangeValid(f({ from: '2026-12-04', to: '2026-12-03' }))).toBe(false);
  });

  it('reads and writes the query string; junk is dropped', () => {
    const full = f({ type: 'file.*,download.completed', actor: 'al ice', from: '2026-12-01', to: '2026-12-03' });
    const search = filtersToSearch(full);
    expect(search).toBe('?type=file.*,download.completed&actor=al%20ice&from=2026-12-01&to=2026-12-03');
    expect(filtersFromSearch(search)).toEqual(full);
    expect(filtersToSearch(NO_FILTERS)).toBe('');
    expect(filtersFromSearch('?type=user.updated&actor=alice&from=2026-12-01&to=2026-12-03')).toEqual(
      f({ type: 'user.updated', actor: 'alice', from: '2026-12-01', to: '2026-12-03' }),
    );
    expect(filtersFromSearch('?from=yesterday&to=2026-02-30&page=3')).toEqual(NO_FILTERS);
    expect(filtersFromSearch('')).toEqual(NO_FILTERS);
  });

  it('groups every durable type once, each with a label in both languages', () => {
    const grouped = TYPE_GROUPS.flatMap((g) => g.types);
    expect([...grouped].sort()).toEqual([...DURABLE_TYPES].sort());
    for (const g of TYPE_GROUPS) {
      for (const type of g.types) expect(matchesFilters(ev(type as 'user.created', 1, user()), f({ type: g.any })), `${type} in ${g.any}`).toBe(true);
      for (const other of grouped.filter((t) => !g.types.includes(t))) {
        expect(matchesFilters(ev(other as 'user.created', 1, user()), f({ type: g.any })), `${other} not in ${g.id}`).toBe(false);
      }
      const keys = [`activity.filter.group.${g.id}`, `activity.filter.all.${g.id}`, ...g.types.map((t) => `activity.type.${t}`)];
      for (const key of keys) {
        expect(key in en, key).toBe(true);
        expect(key in zhCN, key).toBe(true);
      }
    }
  });

  it('the store loads with the filters, pages older with them, and merges only matching live events', async () => {
    const listEvents = vi.fn(async (q: EventListQuery) => {
      const before = q.before ?? Number.MAX_SAFE_INTEGER;
      const all = [ev('user.updated', 4, user(), bob), ev('user.updated', 2, user(), bob), ev('user.updated', 1, user(), bob)];
      return { items: all.filter((e) => (e.seq ?? 0) < before).slice(0, q.limit ?? 100), latest_seq: 5 };
    });
    const store = createActivityStore({ listEvents, pageSize: 2 });
    const filters = f({ type: 'user.updated', actor: 'bob', from: '2026-01-01', to: '2026-01-01' });
    await store.setFilters(filters);
    const range = { since: new Date(2026, 0, 1).toISOString(), until: new Date(2026, 0, 2).toISOString() };
    expect(listEvents.mock.calls[0]![0]).toEqual({ before: Number.MAX_SAFE_INTEGER, limit: 2, type: 'user.updated', actor: 'bob', ...range });
    expect(store.items.value.map((e) => e.seq)).toEqual([4, 2]);
    await store.loadOlder();
    expect(listEvents.mock.calls[1]![0]).toEqual({ before: 2, limit: 2, type: 'user.updated', actor: 'bob', ...range });
    expect(store.items.value.map((e) => e.seq)).toEqual([4, 2, 1]);

    const day = (frame: EventFrame, d: number): EventFrame => at(frame, 2026, 1, d, 12);
    // Wrong type, wrong actor, wrong day: left out (the names are still learnt).
    expect(store.applyEvent(day(ev('user.created', 6, user({ id: 'id-zed', username: 'zed' }), bob), 1))).toBe(false);
    expect(store.names.get('id-zed')).toBe('zed');
    expect(store.applyEvent(day(ev('user.updated', 7, user()), 1))).toBe(false);
    expect(store.applyEvent(day(ev('user.updated', 8, user(), bob), 2))).toBe(false);
    expect(store.applyEvent(day(ev('user.updated', 9, user(), bob), 1))).toBe(true);
    expect(store.items.value.map((e) => e.seq)).toEqual([9, 4, 2, 1]);

    // The same filters again (the page shown anew): the feed stays while its newest page
    // reloads, live events newer than it kept; other filters: the feed starts over.
    const again = store.setFilters(filters);
    expect(store.items.value.map((e) => e.seq)).toEqual([9, 4, 2, 1]);
    await again;
    expect(store.items.value.map((e) => e.seq)).toEqual([9, 4, 2]);
    const cleared = store.setFilters(NO_FILTERS);
    expect(store.items.value).toEqual([]);
    await cleared;
    expect(listEvents.mock.calls.at(-1)![0]).toEqual({ before: Number.MAX_SAFE_INTEGER, limit: 2 });
    expect(store.applyEvent(ev('user.created', 10, user()))).toBe(true);
  });

  it('a "from" after "to" shows nothing without asking the server', async () => {
    const listEvents = vi.fn(async () => ({ items: [ev('user.updated', 1, user())], latest_seq: 1 }));
    const store = createActivityStore({ listEvents });
    await store.setFilters(f({ from: '2026-12-05', to: '2026-12-01' }));
    expect(listEvents).not.toHaveBeenCalled();
    expect(store.items.value).toEqual([]);
    expect(store.loaded.value).toBe(true);
    expect(store.hasMore.value).toBe(false);
  });

  it('a page for filters no longer shown is dropped', async () => {
    const pending: Array<(v: { items: EventFrame[]; latest_seq: number }) => void> = [];
    const listEvents = vi.fn(() => new Promise<{ items: EventFrame[]; latest_seq: number }>((r) => pending.push(r)));
    const store = createActivityStore({ listEvents });
    const first = store.setFilters(f({ type: 'file.*' }));
    const second = store.setFilters(f({ type: 'user.*' }));
    pending[0]!({ items: [ev('file.created', 3, file())], latest_seq: 3 });
    pending[1]!({ items: [ev('user.created', 2, user())], latest_seq: 3 });
    await Promise.all([first, second]);
    expect(store.items.value.map((e) => e.type)).toEqual(['user.created']);
  });
});
