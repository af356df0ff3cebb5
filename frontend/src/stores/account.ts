// Which parts of a user's account page (their own /account, or an admin's /users/{id}) an event
// makes stale. The pages refetch just those sections.
import type { EventFrame } from '../realtime/events';

export type AccountSection = 'profile' | 'sessions' | 'keys' | 'mfa' | 'activity' | 'deleted';

/** The sections of user `userId` that `frame` changes (pure). */
export function sectionsFor(frame: EventFrame, userId: string): Set<AccountSection> {
  const out = new Set<AccountSection>();
  switch (frame.type) {
    case 'user.updated':
      if (frame.data.id === userId) {
        out.add('profile');
        // A new password, a demotion or disabling ends sessions (and may end keys' powers).
        out.add('sessions');
      }
      break;
    case 'user.deleted':
      if (frame.data.id === userId) out.add('deleted');
      break;
    case 'auth.login':
      if (frame.data.user.id === userId) {
        out.add('sessions');
        out.add('profile'); // last login
      }
      break;
    case 'session.revoked':
      if (frame.data.user_id === userId) out.add('sessions');
      break;
    case 'key.created':
    case 'key.revoked':
      if (frame.data.user_id === userId) out.add('keys');
      break;
    case 'mfa.enabled':
    case 'mfa.disabled':
      if (frame.data.id === userId) out.add('mfa');
      break;
    default:
      break;
  }
  if (typeof frame.seq === 'number' && frame.actor?.id === userId) out.add('activity');
  return out;
}
