// The activity feed: recent history from `GET /api/events` (newest first, paged backwards with
// `before`), with live durable events merged in by seq (no duplicates, newest first).
import { batch, signal } from '@preact/signals-core';
import type { EventListQuery } from '../api/types';
import { DURABLE_TYPES, type EventFrame } from '../realtime/events';

export interface EventPageLike {
  items: EventFrame[];
  latest_seq: number;
}

export interface ActivityDeps {
  listEvents(q: EventListQuery): Promise<EventPageLike>;
  pageSize?: number;
}

/** Larger than any seq: `before` this reads the newest events. */
const NEWEST = Number.MAX_SAFE_INTEGER;

function mergeDesc(a: EventFrame[], b: EventFrame[]): EventFrame[] {
  const bySeq = new Map<number, EventFrame>();
  for (const e of a) if (typeof e.seq === 'number') bySeq.set(e.seq, e);
  for (const e of b) if (typeof e.seq === 'number' && !bySeq.has(e.seq)) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((x, y) => (y.seq ?? 0) - (x.seq ?? 0));
}

export function createActivityStore(deps: ActivityDeps) {
  const pageSize = deps.pageSize ?? 50;
  const items = signal<EventFrame[]>([]);
  const hasMore = signal(false);
  const loading = signal(false);
  const loaded = signal(false);
  const error = signal<string | null>(null);
  /** Names of users and files seen in events, for events that only carry an id. */
  const names = new Map<string, string>();
  let generation = 0;

  function learn(frames: EventFrame[]): void {
    for (const f of frames) {
      switch (f.type) {
        case 'user.created':
        case 'user.updated':
          names.set(f.data.id, f.data.username);
          break;
        case 'file.created':
        case 'file.updated':
          names.set(f.data.id, f.data.name);
          break;
        case 'user.invited':
          names.set(f.data.id, f.data.email);
          break;
        case 'mfa.enabled':
        case 'mfa.disabled':
          names.set(f.data.id, f.data.username);
          break;
        default:
          break;
      }
    }
  }

  async function loadRecent(): Promise<void> {
    const gen = ++generation;
    loading.value = true;
    try {
      const page = await deps.listEvents({ before: NEWEST, limit: pageSize });
      if (gen !== generation) return;
      learn(page.items);
      batch(() => {
        // Live events that arrived while loading are newer than the page: keep them.
        const live = items.value.filter((e) => (e.seq ?? 0) > page.latest_seq);
        items.value = mergeDesc(page.items, live);
        hasMore.value = page.items.length >= pageSize;
        error.value = null;
        loaded.value = true;
      });
    } catch (e) {
      if (gen === generation) error.value = e instanceof Error ? e.message : String(e);
    } finally {
      if (gen === generation) loading.value = false;
    }
  }

  async function loadOlder(): Promise<void> {
    const oldest = items.value.at(-1)?.seq;
    if (typeof oldest !== 'number') return loadRecent();
    const gen = generation;
    loading.value = true;
    try {
      const page = await deps.listEvents({ before: oldest, limit: pageSize });
      if (gen !== generation) return;
      learn(page.items);
      batch(() => {
        items.value = mergeDesc(items.value, page.items);
        hasMore.value = page.items.length >= pageSize;
        error.value = null;
      });
    } catch (e) {
      error.value = e instanceof Error ? e.message : String(e);
    } finally {
      loading.value = false;
    }
  }

  function applyEvent(frame: EventFrame): boolean {
    if (typeof frame.seq !== 'number' || !DURABLE_TYPES.has(frame.type)) return false;
    if (items.value.some((e) => e.seq === frame.seq)) return false;
    learn([frame]);
    const head = items.value[0]?.seq ?? -1;
    items.value = frame.seq > head ? [frame, ...items.value] : mergeDesc(items.value, [frame]);
    return true;
  }

  return {
    items,
    hasMore,
    loading,
    loaded,
    error,
    names,
    loadRecent,
    loadOlder,
    applyEvent,
    resync: loadRecent,
  };
}

export type ActivityStore = ReturnType<typeof createActivityStore>;

export interface Described {
  actor: string;
  verb: string;
  target: string;
  /** Extra words after the target (e.g. "via share link"). */
  detail: string;
}

/** "of <owner>" when someone acts on another user's key. */
function ownerDetail(actorId: string | undefined, ownerId: string, nameOf: (id: string) => string | undefined): string {
  if (actorId === ownerId) return '';
  return `of ${nameOf(ownerId) ?? ownerId}`;
}

/** "<actor username> <verb> <target>" for one event. */
export function describe(frame: EventFrame, nameOf: (id: string) => string | undefined): Described {
  const actor = frame.actor?.username ?? (frame.type === 'download.completed' ? 'anonymous' : 'system');
  switch (frame.type) {
    case 'user.created':
      return { actor, verb: 'created user', target: frame.data.username, detail: '' };
    case 'user.updated':
      return { actor, verb: 'updated user', target: frame.data.username, detail: '' };
    case 'user.deleted':
      return { actor, verb: 'deleted user', target: nameOf(frame.data.id) ?? frame.data.id, detail: '' };
    case 'file.created':
      return { actor, verb: 'uploaded', target: frame.data.name, detail: '' };
    case 'file.updated':
      return { actor, verb: 'updated file', target: frame.data.name, detail: '' };
    case 'file.deleted':
      return { actor, verb: 'deleted file', target: nameOf(frame.data.id) ?? frame.data.id, detail: '' };
    case 'download.completed': {
      const target = nameOf(frame.data.file_id) ?? frame.data.file_id;
      if (frame.data.via === 'import') return { actor, verb: 'imported', target, detail: '' };
      return { actor, verb: 'downloaded', target, detail: frame.data.via === 'link' ? 'via share link' : '' };
    }
    case 'user.role_changed':
      return { actor, verb: 'changed the role of', target: frame.data.username, detail: `from ${frame.data.from} to ${frame.data.to}` };
    case 'auth.login':
      return { actor: frame.data.user.username, verb: 'signed in', target: '', detail: frame.data.ip ? `from ${frame.data.ip}` : '' };
    case 'auth.login_failed':
      return { actor: 'someone', verb: 'failed to sign in as', target: frame.data.username, detail: frame.data.ip ? `from ${frame.data.ip}` : '' };
    case 'key.created':
      return { actor, verb: 'created API key', target: frame.data.name, detail: ownerDetail(frame.actor?.id, frame.data.user_id, nameOf) };
    case 'key.revoked':
      return { actor, verb: 'revoked API key', target: frame.data.name, detail: ownerDetail(frame.actor?.id, frame.data.user_id, nameOf) };
    case 'mfa.enabled':
      return { actor, verb: 'turned on the second factor of', target: frame.data.username, detail: '' };
    case 'mfa.disabled':
      return {
        actor,
        verb: frame.data.reason === 'reset' ? 'reset the second factor of' : 'turned off the second factor of',
        target: frame.data.username,
        detail: '',
      };
    case 'session.revoked':
      return { actor, verb: 'ended a session of', target: nameOf(frame.data.user_id) ?? frame.data.user_id, detail: '' };
    case 'user.invited':
      return { actor, verb: 'invited', target: frame.data.email, detail: `as ${frame.data.role}` };
    case 'user.invitation_accepted':
      return { actor, verb: 'accepted the invitation for', target: nameOf(frame.data.id) ?? 'an account', detail: '' };
    case 'user.invitation_revoked':
      return { actor, verb: 'revoked the invitation for', target: nameOf(frame.data.id) ?? frame.data.id, detail: '' };
    case 'backup.completed':
      return { actor, verb: 'took backup', target: frame.data.id, detail: frame.data.trigger === 'schedule' ? '(scheduled)' : '' };
    case 'backup.failed':
      return { actor, verb: 'could not take backup', target: frame.data.id, detail: frame.data.error ? `— ${frame.data.error}` : '' };
    case 'backup.deleted':
      return { actor, verb: 'deleted backup', target: frame.data.id, detail: '' };
    default:
      return { actor, verb: frame.type, target: '', detail: '' };
  }
}

/**
 * Echo events the feed leaves out: every counted download writes `download.completed` and then
 * `file.updated` (the new count), and an import writes `file.created` then `download.completed`
 * (via import); the feed shows only the download or the import.
 */
export function isEcho(frame: EventFrame, bySeq: Map<number, EventFrame>): boolean {
  if (typeof frame.seq !== 'number') return false;
  if (frame.type === 'file.updated') {
    const prev = bySeq.get(frame.seq - 1);
    return prev?.type === 'download.completed' && prev.data.via !== 'import' && prev.data.file_id === frame.data.id;
  }
  if (frame.type === 'file.created') {
    const next = bySeq.get(frame.seq + 1);
    return next?.type === 'download.completed' && next.data.via === 'import' && next.data.file_id === frame.data.id;
  }
  return false;
}
