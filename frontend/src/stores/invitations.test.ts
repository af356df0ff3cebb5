import { describe, expect, it, vi } from 'vitest';
import type { Invitation, InvitationList } from '../api/types';
import type { InvitationEvent } from '../realtime/events';
import { ADMIN, ev } from '../test/fixtures';
import { applyInvitationEvent, createInvitationsStore, mergeInvitationPage } from './invitations';

const FAR = '2999-01-01T00:00:00Z';

function inv(n: number, over: Partial<Invitation> = {}): Invitation {
  return {
    id: `inv-${n}`,
    email: `p${n}@example.test`,
    role: 'viewer',
    invited_by: ADMIN.id,
    created_at: `2026-01-0${n}T00:00:00Z`,
    expires_at: FAR,
    status: 'pending',
    user_id: null,
    ...over,
  };
}

const invited = (seq: number, i: Invitation) =>
  ev('user.invited', seq, { id: i.id, email: i.email, role: i.role, invited_by: i.invited_by ?? null, created_at: i.created_at, expires_at: i.expires_at, status: i.status } satisfies InvitationEvent, ADMIN);
const accepted = (seq: number, id: string) => ev('user.invitation_accepted', seq, { id, user_id: 'id-new' }, { id: 'id-new', username: 'new' });
const revoked = (seq: number, id: string) => ev('user.invitation_revoked', seq, { id }, ADMIN);

function page(items: Invitation[]): InvitationList {
  return { items, total: items.length, page: 1, per_page: 200 };
}

describe('applyInvitationEvent', () => {
  it('adds user.invited newest first, once', () => {
    const gone = new Set<string>();
    let items = applyInvitationEvent([], invited(1, inv(1)), gone);
    items = applyInvitationEvent(items, invited(2, inv(3)), gone);
    items = applyInvitationEvent(items, invited(3, inv(2)), gone);
    expect(items.map((i) => i.id)).toEqual(['inv-3', 'inv-2', 'inv-1']);
    const same = applyInvitationEvent(items, invited(4, inv(2)), gone);
    expect(same).toBe(items);
  });

  it('removes on accepted and revoked, and never re-adds what left', () => {
    const gone = new Set<string>();
    let items = [inv(2), inv(1)];
    items = applyInvitationEvent(items, accepted(5, 'inv-1'), gone);
    expect(items.map((i) => i.id)).toEqual(['inv-2']);
    items = applyInvitationEvent(items, revoked(6, 'inv-2'), gone);
    expect(items).toEqual([]);
    // A late (replayed) user.invited for an invitation already accepted stays out.
    expect(applyInvitationEvent(items, invited(1, inv(1)), gone)).toEqual([]);
    // Removing an unknown id changes nothing but is remembered.
    const before: Invitation[] = [];
    expect(applyInvitationEvent(before, revoked(7, 'inv-9'), gone)).toBe(before);
    expect(gone.has('inv-9')).toBe(true);
  });

  it('ignores other events', () => {
    const items = [inv(1)];
    expect(applyInvitationEvent(items, ev('user.deleted', 1, { id: 'x' }), new Set())).toBe(items);
  });
});

describe('mergeInvitationPage', () => {
  it('keeps pending, unexpired, not-gone rows, plus live ones the page missed', () => {
    const now = Date.parse('2026-06-01T00:00:00Z');
    const rows = [inv(1), inv(2, { status: 'accepted' }), inv(3, { expires_at: '2026-05-01T00:00:00Z' }), inv(4)];
    const merged = mergeInvitationPage(rows, [inv(5), inv(1)], new Set(['inv-4']), now);
    expect(merged.map((i) => i.id)).toEqual(['inv-5', 'inv-1']);
  });
});

describe('invitations store', () => {
  it('an event during a load is not lost, and a removal during a load sticks', async () => {
    let release!: (p: InvitationList) => void;
    const listInvitations = vi.fn(() => new Promise<InvitationList>((r) => (release = r)));
    const store = createInvitationsStore({ listInvitations });
    const loading = store.load();
    // While the read is in flight: one invited, one (listed) accepted.
    expect(store.applyEvent(invited(10, inv(3)))).toBe(true);
    expect(store.applyEvent(accepted(11, 'inv-1'))).toBe(true);
    release(page([inv(2), inv(1)]));
    await loading;
    expect(store.items.value.map((i) => i.id)).toEqual(['inv-3', 'inv-2']);
    expect(store.loaded.value).toBe(true);
    // Each seq once.
    expect(store.applyEvent(accepted(11, 'inv-1'))).toBe(false);
    expect(store.applyEvent(revoked(12, 'inv-2'))).toBe(true);
    expect(store.items.value.map((i) => i.id)).toEqual(['inv-3']);
  });

  it('own writes: added() before its event, removed() after a revoke', async () => {
    const store = createInvitationsStore({ listInvitations: async () => page([]) });
    await store.load();
    store.added(inv(1));
    expect(store.items.value.map((i) => i.id)).toEqual(['inv-1']);
    expect(store.applyEvent(invited(20, inv(1)))).toBe(true);
    expect(store.items.value).toHaveLength(1);
    store.removed('inv-1');
    expect(store.items.value).toEqual([]);
  });

  it('keeps the error of a failed load', async () => {
    const store = createInvitationsStore({ listInvitations: async () => Promise.reject(new Error('nope')) });
    await store.load();
    expect(store.error.value).toBe('nope');
    expect(store.loaded.value).toBe(false);
  });
});
