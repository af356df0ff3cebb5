import { describe, expect, it } from 'vitest';
import { ADMIN, ALICE, ev } from '../test/fixtures';
import { createPresenceStore } from './presence';

describe('presence store', () => {
  it('lists users with connections and drops them at 0 or on left', () => {
    const store = createPresenceStore();
    store.applyEvent(ev('presence.joined', null, { user: ALICE, connections: 1 }, null));
    store.applyEvent(ev('presence.joined', null, { user: ADMIN, connections: 1 }, null));
    store.applyEvent(ev('presence.joined', null, { user: ALICE, connections: 2 }, null));
    expect(store.online.value.map((u) => [u.username, u.connections])).toEqual([
      ['admin', 1],
      ['alice', 2],
    ]);
    store.applyEvent(ev('presence.left', null, { user: ALICE, connections: 1 }, null));
    expect(store.online.value.find((u) => u.id === ALICE.id)?.connections).toBe(1);
    store.applyEvent(ev('presence.left', null, { user: ALICE, connections: 0 }, null));
    expect(store.online.value.map((u) => u.username)).toEqual(['admin']);
  });

  it('starts over on reset (a new connection gets a fresh snapshot)', () => {
    const store = createPresenceStore();
    store.applyEvent(ev('presence.joined', null, { user: ALICE, connections: 1 }, null));
    store.reset();
    expect(store.online.value).toEqual([]);
  });

  it('ignores other events', () => {
    const store = createPresenceStore();
    expect(store.applyEvent(ev('user.deleted', 1, { id: 'x' }))).toBe(false);
  });
});
