// The activity feed: recent history from `GET /api/events` (newest first, paged backwards with
// `before`), with live durable events merged in by seq (no duplicates, newest first). Filters
// (type, actor, a range of local days) go to the server as `type`/`actor`/`since`/`until`, and
// live events join the feed only when they match them too (`matchesFilters`).
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

// ---- filters ----

/** The feed's filters as they are in the URL (`?type=…&actor=…&from=…&to=…`); '' = none. */
export interface ActivityFilters {
  /** Event types, comma-separated; an item ending in `*` matches by prefix (`file.*`). */
  type: string;
  /** A username or user id. */
  actor: string;
  /** First day shown (`YYYY-MM-DD`, the browser's time zone). */
  from: string;
  /** Last day shown, inclusive (`YYYY-MM-DD`). */
  to: string;
}

export const NO_FILTERS: ActivityFilters = { type: '', actor: '', from: '', to: '' };

const FILTER_NAMES = ['type', 'actor', 'from', 'to'] as const;

/** A group of the type filter's choices: its id (for its labels), "any of the group", its types. */
export interface TypeGroup {
  id: 'users' | 'invitations' | 'security' | 'files' | 'backups';
  any: string;
  types: readonly string[];
}

/** Every durable type, grouped for the type filter. */
export const TYPE_GROUPS: readonly TypeGroup[] = [
  {
    id: 'users',
    any: 'user.created,user.updated,user.role_changed,user.deleted',
    types: ['user.created', 'user.updated', 'user.role_changed', 'user.deleted'],
  },
  {
    id: 'invitations',
    any: 'user.invited,user.invitation_*',
    types: ['user.invited', 'user.invitation_accepted', 'user.invitation_revoked'],
  },
  {
    id: 'security',
    any: 'auth.*,mfa.*,session.revoked,key.*',
    types: ['auth.login', 'auth.login_failed', 'mfa.enabled', 'mfa.disabled', 'session.revoked', 'key.created', 'key.revoked'],
  },
  { id: 'files', any: 'file.*,download.completed', types: ['file.created', 'file.updated', 'file.deleted', 'download.completed'] },
  { id: 'backups', any: 'backup.*', types: ['backup.completed', 'backup.failed', 'backup.deleted'] },
];

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Local midnight at the start of `day` (`YYYY-MM-DD`) plus `offset` days, or null for a non-date. */
export function localDayStart(day: string, offset = 0): Date | null {
  const m = DAY.exec(day);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(y, mo - 1, d);
  // 2026-02-31 rolls over: not a date.
  if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d) return null;
  if (offset) date.setDate(date.getDate() + offset);
  return date;
}

/** The filters of a query string (`location.search`); unknown parameters and non-dates are dropped. */
export function filtersFromSearch(search: string): ActivityFilters {
  const params = new URLSearchParams(search);
  const f = { ...NO_FILTERS };
  for (const name of FILTER_NAMES) f[name] = (params.get(name) ?? '').trim();
  if (localDayStart(f.from) === null) f.from = '';
  if (localDayStart(f.to) === null) f.to = '';
  return f;
}

/** The query string of the filters ('' without any), readable: `,` and `*` stay as they are. */
export function filtersToSearch(f: ActivityFilters): string {
  const parts: string[] = [];
  for (const name of FILTER_NAMES) {
    const v = f[name].trim();
    if (v) parts.push(`${name}=${encodeURIComponent(v).replace(/%2C/gi, ',')}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

export function hasFilters(f: ActivityFilters): boolean {
  return FILTER_NAMES.some((name) => f[name].trim() !== '');
}

export function sameFilters(a: ActivityFilters, b: ActivityFilters): boolean {
  return FILTER_NAMES.every((name) => a[name].trim() === b[name].trim());
}

/** The filters' time range: `since` the start of `from`, `until` the start of the day after `to`. */
export function filterRange(f: ActivityFilters): { since?: Date; until?: Date } {
  const since = localDayStart(f.from);
  const until = localDayStart(f.to, 1);
  return { ...(since ? { since } : {}), ...(until ? { until } : {}) };
}

/** False when `from` is after `to` (nothing can match). */
export function rangeValid(f: ActivityFilters): boolean {
  const { since, until } = filterRange(f);
  return !since || !until || since < until;
}

/** The `GET /api/events` parameters of the filters. */
export function filterQuery(f: ActivityFilters): Pick<EventListQuery, 'type' | 'actor' | 'since' | 'until'> {
  const q: Pick<EventListQuery, 'type' | 'actor' | 'since' | 'until'> = {};
  const type = typeItems(f.type).join(',');
  if (type) q.type = type;
  const actor = f.actor.trim();
  if (actor) q.actor = actor;
  const { since, until } = filterRange(f);
  if (since) q.since = since.toISOString();
  if (until) q.until = until.toISOString();
  return q;
}

function typeItems(type: string): string[] {
  return type
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Whether an event matches the filters, as the server decides for `GET /api/events`. */
export function matchesFilters(frame: EventFrame, f: ActivityFilters): boolean {
  const types = typeItems(f.type);
  if (types.length > 0 && !types.some((t) => (t.endsWith('*') ? frame.type.startsWith(t.slice(0, -1)) : frame.type === t))) {
    return false;
  }
  const actor = f.actor.trim();
  if (actor && frame.actor?.id !== actor && frame.actor?.username !== actor) return false;
  const { since, until } = filterRange(f);
  if (since || until) {
    const ts = Date.parse(frame.ts);
    if (Number.isNaN(ts)) return false;
    if (since && ts < since.getTime()) return false;
    if (until && ts >= until.getTime()) return false;
  }
  return true;
}

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
  const filters = signal<ActivityFilters>(NO_FILTERS);
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

  /** Nothing can match (`from` after `to`): an empty feed, without asking. */
  function showNothing(): void {
    batch(() => {
      items.value = [];
      hasMore.value = false;
      error.value = null;
      loading.value = false;
      loaded.value = true;
    });
  }

  async function loadRecent(): Promise<void> {
    const gen = ++generation;
    const f = filters.peek();
    if (!rangeValid(f)) return showNothing();
    loading.value = true;
    try {
      const page = await deps.listEvents({ before: NEWEST, limit: pageSize, ...filterQuery(f) });
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
      const page = await deps.listEvents({ before: oldest, limit: pageSize, ...filterQuery(filters.peek()) });
      if (gen !== generation) return;
      learn(page.items);
      batch(() => {
        items.value = mergeDesc(items.value, page.items);
        hasMore.value = page.items.length >= pageSize;
        error.value = null;
      });
    } catch (e) {
      if (gen === generation) error.value = errorMessage(e);
    } finally {
      if (gen === generation) loading.value = false;
    }
  }

  /**
   * Shows the feed for `next` (and reloads its newest page). Other filters than before empty the
   * feed first: what it held was chosen by the old ones.
   */
  function setFilters(next: ActivityFilters): Promise<void> {
    if (!sameFilters(next, filters.peek())) {
      batch(() => {
        filters.value = { ...next };
        items.value = [];
        hasMore.value = false;
        loaded.value = false;
        error.value = null;
      });
    }
    return loadRecent();
  }

  function applyEvent(frame: EventFrame): boolean {
    if (typeof frame.seq !== 'number' || !DURABLE_TYPES.has(frame.type)) return false;
    if (items.value.some((e) => e.seq === frame.seq)) return false;
    // Names are learnt from every event: a shown one may name only an id.
    learn([frame]);
    if (!matchesFilters(frame, filters.peek())) return false;
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
    filters,
    names,
    loadRecent,
    loadOlder,
    setFilters,
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
