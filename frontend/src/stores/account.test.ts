import { describe, expect, it } from 'vitest';
import { ADMIN, ALICE, ev, user } from '../test/fixtures';
import { sectionsFor } from './account';

const BOB = 'id-bob';
const sorted = (s: Set<string>) => [...s].sort();

describe('sectionsFor', () => {
  it('sessions: sign-ins and ended sessions of that user', () => {
    expect(sorted(sectionsFor(ev('auth.login', 1, { user: { id: BOB, username: 'bob' }, ip: null }, { id: BOB, username: 'bob' }), BOB))).toEqual([
      'activity',
      'profile',
      'sessions',
    ]);
    expect(sorted(sectionsFor(ev('session.revoked', 2, { id: 's1', user_id: BOB, reason: 'ended' }, ADMIN), BOB))).toEqual(['sessions']);
    expect(sectionsFor(ev('session.revoked', 3, { id: 's1', user_id: 'id-other', reason: 'ended' }, ADMIN), BOB).size).toBe(0);
  });

  it('keys and second factor', () => {
    const key = { id: 'k', user_id: BOB, name: 'ci', role: 'viewer', created_at: '2026-01-01T00:00:00Z', expires_at: null };
    expect(sorted(sectionsFor(ev('key.created', 4, key, ADMIN), BOB))).toEqual(['keys']);
    expect(sorted(sectionsFor(ev('key.revoked', 5, { id: 'k', user_id: BOB, name: 'ci' }, ADMIN), BOB))).toEqual(['keys']);
    expect(sorted(sectionsFor(ev('mfa.enabled', 6, { id: BOB, username: 'bob' }, ALICE), BOB))).toEqual(['mfa']);
    expect(sorted(sectionsFor(ev('mfa.disabled', 7, { id: BOB, username: 'bob', reason: 'reset' }, ADMIN), BOB))).toEqual(['mfa']);
    expect(sectionsFor(ev('mfa.enabled', 8, { id: 'id-other', username: 'x' }, ADMIN), BOB).size).toBe(0);
  });

  it('profile on updates, deleted on deletion', () => {
    expect(sorted(sectionsFor(ev('user.updated', 9, user({ id: BOB })), BOB))).toEqual(['profile', 'sessions']);
    expect(sorted(sectionsFor(ev('user.deleted', 10, { id: BOB }), BOB))).toEqual(['deleted']);
    expect(sectionsFor(ev('user.updated', 11, user({ id: 'id-x' })), BOB).size).toBe(0);
  });

  it('activity: any durable event the user caused', () => {
    const bob = { id: BOB, username: 'bob' };
    expect(sorted(sectionsFor(ev('file.deleted', 12, { id: 'f' }, bob), BOB))).toEqual(['activity']);
    // Not durable (no seq): not in the activity log.
    expect(sectionsFor(ev('file.deleted', null, { id: 'f' }, bob), BOB).size).toBe(0);
    expect(sectionsFor(ev('file.deleted', 13, { id: 'f' }, ALICE), BOB).size).toBe(0);
  });
});
