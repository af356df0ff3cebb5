import { describe, expect, it, vi } from 'vitest';
import type { EventListQuery } from '../api/types';
import type { EventFrame } from '../realtime/events';
import { ADMIN, ev, file, user } from '../test/fixtures';
import { createActivityStore, describe as describeEvent, describeText, isEcho } from './activity';

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
