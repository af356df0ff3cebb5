import { describe, expect, it, vi } from 'vitest';
import type { EventListQuery } from '../api/types';
import type { EventFrame } from '../realtime/events';
import { ADMIN, ev, file, user } from '../test/fixtures';
import { createActivityStore, describe as describeEvent, isEcho } from './activity';

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
      const d = describeEvent(e, nameOf);
      return [d.actor, d.verb, d.target, d.detail].filter(Boolean).join(' ');
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
    expect(describeEvent(ev('auth.login', 1, { user: { id: 'u1', username: 'ada' }, ip: '10.0.0.7' }), none)).toEqual({
      actor: 'ada',
      verb: 'signed in',
      target: '',
      detail: 'from 10.0.0.7',
    });
    expect(describeEvent(ev('auth.login_failed', 2, { username: 'root', ip: null }, null), none)).toEqual({
      actor: 'someone',
      verb: 'failed to sign in as',
      target: 'root',
      detail: '',
    });
    expect(
      describeEvent(ev('user.role_changed', 3, { id: 'u2', username: 'bob', from: 'viewer', to: 'admin' }, ADMIN), none),
    ).toEqual({ actor: ADMIN.username, verb: 'changed the role of', target: 'bob', detail: 'from viewer to admin' });
  });
});
