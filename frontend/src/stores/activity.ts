// The activity feed: recent history from `GET /api/events` (newest first, paged backwards with
// `before`), with live durable events merged in by seq (no duplicates, newest first).
import { batch, signal } from '@preact/signals-core';
import type { EventListQuery } from '../api/types';
import { t, tKey, type KeysOf } from '../i18n';
import { roleName } from '../i18n/labels';
import { DURABLE_TYPES, type EventFrame } from '../realtime/events';
import { errorMessage } from '../i18n/errors';

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
      if (gen === generation) error.value = errorMessage(e);
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
      error.value = errorMessage(e);
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

/** One event as the feed tells it: a message of the catalogue with its actor and target. */
export interface Described {
  key: EventKey;
  actor: string;
  /** The user, file, key, address or backup acted on ('' when none). */
  target: string;
  /** The message's other parameters (ip, role, owner, …), already in words. */
  params: Record<string, string>;
}

export type EventKey = KeysOf<'event.'>;

/** "of <owner>" when someone acts on another user's key: the owner, or null for one's own. */
function ownerOf(actorId: string | undefined, ownerId: string, nameOf: (id: string) => string | undefined): string | null {
  if (actorId === ownerId) return null;
  return nameOf(ownerId) ?? ownerId;
}

/** "<actor username> <verb> <target>" for one event, as a message of the catalogue. */
export function describe(frame: EventFrame, nameOf: (id: string) => string | undefined): Described {
  const actor =
    frame.actor?.username ?? (frame.type === 'download.completed' ? t('event.actor.anonymous') : t('event.actor.system'));
  const d = (key: EventKey, target: string, params: Record<string, string> = {}, who = actor): Described => ({ key, actor: who, target, params });
  switch (frame.type) {
    case 'user.created':
      return d('event.user_created', frame.data.username);
    case 'user.updated':
      return d('event.user_updated', frame.data.username);
    case 'user.deleted':
      return d('event.user_deleted', nameOf(frame.data.id) ?? frame.data.id);
    case 'file.created':
      return d('event.file_created', frame.data.name);
    case 'file.updated':
      return d('event.file_updated', frame.data.name);
    case 'file.deleted':
      return d('event.file_deleted', nameOf(frame.data.id) ?? frame.data.id);
    case 'download.completed': {
      const target = nameOf(frame.data.file_id) ?? frame.data.file_id;
      if (frame.data.via === 'import') return d('event.file_imported', target);
      return d(frame.data.via === 'link' ? 'event.downloaded_link' : 'event.downloaded', target);
    }
    case 'user.role_changed':
      return d('event.role_changed', frame.data.username, { from: roleName(frame.data.from), to: roleName(frame.data.to) });
    case 'auth.login': {
      const who = frame.data.user.username;
      return frame.data.ip ? d('event.login_from', '', { ip: frame.data.ip }, who) : d('event.login', '', {}, who);
    }
    case 'auth.login_failed': {
      const who = t('event.actor.someone');
      return frame.data.ip
        ? d('event.login_failed_from', frame.data.username, { ip: frame.data.ip }, who)
        : d('event.login_failed', frame.data.username, {}, who);
    }
    case 'key.created':
    case 'key.revoked': {
      const owner = ownerOf(frame.actor?.id, frame.data.user_id, nameOf);
      const created = frame.type === 'key.created';
      if (owner === null) return d(created ? 'event.key_created' : 'event.key_revoked', frame.data.name);
      return d(created ? 'event.key_created_of' : 'event.key_revoked_of', frame.data.name, { owner });
    }
    case 'mfa.enabled':
      return d('event.mfa_enabled', frame.data.username);
    case 'mfa.disabled':
      return d(frame.data.reason === 'reset' ? 'event.mfa_reset' : 'event.mfa_disabled', frame.data.username);
    case 'session.revoked':
      return d('event.session_revoked', nameOf(frame.data.user_id) ?? frame.data.user_id);
    case 'user.invited':
      return d('event.invited', frame.data.email, { role: roleName(frame.data.role) });
    case 'user.invitation_accepted':
      return d('event.invitation_accepted', nameOf(frame.data.id) ?? t('event.an_account'));
    case 'user.invitation_revoked':
      return d('event.invitation_revoked', nameOf(frame.data.id) ?? frame.data.id);
    case 'backup.completed':
      return d(frame.data.trigger === 'schedule' ? 'event.backup_completed_scheduled' : 'event.backup_completed', frame.data.id);
    case 'backup.failed':
      return frame.data.error
        ? d('event.backup_failed_error', frame.data.id, { error: frame.data.error })
        : d('event.backup_failed', frame.data.id);
    case 'backup.deleted':
      return d('event.backup_deleted', frame.data.id);
    default:
      return d('event.other', frame.type);
  }
}

/** The event in words, as plain text. */
export function describeText(x: Described): string {
  return tKey(x.key, { ...x.params, actor: x.actor, target: x.target });
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
