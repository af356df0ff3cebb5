// Wiring: the app's stores, the socket that feeds them, and the session that starts and stops it.
import { effect, signal } from '@preact/signals';
import * as api from './api/endpoints';
import { ApiError, observeErrors } from './api/http';
import { authState, currentUser, getAccessToken, logout, refresh } from './api/session';
import type { EventFrame } from './realtime/events';
import { defaultSocketUrl, SocketClient, type ConnectionStatus } from './realtime/socket';
import { readPerPage } from './lib/prefs';
import { createActivityStore } from './stores/activity';
import { createBackupsStore } from './stores/backups';
import { createFilesStore } from './stores/files';
import { createImportsStore } from './stores/imports';
import { createInvitationsStore } from './stores/invitations';
import { createPresenceStore } from './stores/presence';
import { createStatsStore } from './stores/stats';
import { createTransfersStore } from './stores/transfers';
import { createUsersStore } from './stores/users';

const me = () => currentUser.value?.id ?? null;

export const users = createUsersStore({ listUsers: api.listUsers, me });
export const files = createFilesStore({ listFiles: api.listFiles });
// Rows per page, as last chosen in this browser.
users.query.value = { ...users.query.peek(), perPage: readPerPage('users') };
files.query.value = { ...files.query.peek(), perPage: readPerPage('files') };
export const activity = createActivityStore({ listEvents: api.listEvents });
export const presence = createPresenceStore();
export const invitations = createInvitationsStore({ listInvitations: () => api.listInvitations('pending') });
export const backups = createBackupsStore({ listBackups: api.listBackups });
export const imports = createImportsStore();
export const stats = createStatsStore({ getStats: api.getStats });

// ---- live listeners (pages that refetch parts of themselves on events) ----

export interface LiveListener {
  onFrame?(frame: EventFrame): void;
  /** The socket (re)connected without a resume, or the server asked for a resync. */
  onResync?(): void;
}

const listeners = new Set<LiveListener>();

export function subscribeLive(l: LiveListener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

// ---- names of users by id (e.g. who sent an invitation) ----

export const userNames = signal<Record<string, string>>({});
const askedNames = new Set<string>();

/** The username of `id` when known; unknown ids are looked up once, in the background. */
export function usernameOf(id: string): string | undefined {
  const known = userNames.value[id] ?? users.items.value.find((u) => u.id === id)?.username ?? activity.names.get(id);
  if (known !== undefined) return known;
  if (currentUser.value?.id === id) return currentUser.value.username;
  if (!askedNames.has(id)) {
    askedNames.add(id);
    api.getUser(id).then(
      (u) => {
        userNames.value = { ...userNames.value, [u.id]: u.username };
      },
      () => {
        /* deleted: the id is all there is */
      },
    );
  }
  return undefined;
}

function learnNames(frame: EventFrame): void {
  if (frame.type === 'user.created' || frame.type === 'user.updated') {
    if (userNames.peek()[frame.data.id] !== frame.data.username) {
      userNames.value = { ...userNames.peek(), [frame.data.id]: frame.data.username };
    }
  }
}

// ---- the second factor: admins may have to enrol before anything else ----

/** 'unknown' until known for the signed-in user; 'enrol' → only the enrolment page is shown. */
export const mfaGate = signal<'unknown' | 'ok' | 'enrol'>('unknown');

export async function checkMfaGate(): Promise<void> {
  try {
    const s = await api.myMfa();
    mfaGate.value = s.required && !s.totp_enabled ? 'enrol' : 'ok';
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return; // the session is over: signed out
    // Not known: let the panel through; any refused request sends it to enrolment.
    if (mfaGate.peek() === 'unknown') mfaGate.value = 'ok';
  }
}

observeErrors((e) => {
  if (e.status === 403 && e.code === 'mfa_enrollment_required' && authState.peek() === 'in') mfaGate.value = 'enrol';
});

let gateKey = '';
effect(() => {
  const state = authState.value;
  const u = currentUser.value;
  if (state !== 'in' || !u) {
    if (state === 'out') {
      gateKey = '';
      mfaGate.value = 'unknown';
    }
    return;
  }
  const key = `${u.id}:${u.role}`;
  if (key === gateKey) return;
  const sameUser = gateKey.startsWith(`${u.id}:`);
  gateKey = key;
  // Only admins can be required to enrol.
  if (u.role !== 'admin') {
    mfaGate.value = 'ok';
    return;
  }
  if (!sameUser) mfaGate.value = 'unknown';
  void checkMfaGate();
});

const resolving = new Set<string>();
export const transfers = createTransfersStore({
  me,
  nameOf: (id) => files.nameOf(id) ?? activity.names.get(id),
  resolveName(id) {
    if (resolving.has(id)) return;
    resolving.add(id);
    api.getFile(id).then(
      (f) => {
        files.names.set(f.id, f.name);
        transfers.setName(f.id, f.name);
      },
      () => {
        /* not stored yet (an import) or gone */
      },
    );
  },
});

export const connection = signal<ConnectionStatus>('offline');

function dispatch(frame: EventFrame): void {
  learnNames(frame);
  invitations.applyEvent(frame);
  backups.applyEvent(frame);
  imports.applyEvent(frame);
  users.applyEvent(frame);
  files.applyEvent(frame);
  transfers.applyEvent(frame);
  activity.applyEvent(frame);
  presence.applyEvent(frame);
  stats.applyEvent(frame);
  if (frame.type === 'user.updated' && frame.data.id === currentUser.value?.id) {
    currentUser.value = frame.data;
  }
  for (const l of listeners) l.onFrame?.(frame);
}

/** Refetches whatever has been shown (after a resync, or once the first connection is up). */
function refetchLoaded(): void {
  if (users.loaded.value) void users.load();
  if (files.loaded.value) void files.load();
  if (activity.loaded.value) void activity.loadRecent();
  if (invitations.loaded.value) void invitations.load();
  if (backups.loaded.value) void backups.load();
  if (stats.stats.peek() !== null) void stats.load();
  void refreshTasks();
  for (const l of listeners) l.onResync?.();
}

export async function refreshTasks(): Promise<void> {
  try {
    const page = await api.listTasks();
    transfers.setTasks(page.items);
  } catch {
    /* shown again on the next event */
  }
}

let socket: SocketClient | null = null;
let stopStatus: (() => void) | null = null;
let sweeper: ReturnType<typeof setInterval> | undefined;

export function startLive(): void {
  if (socket) return;
  const s = new SocketClient({
    url: defaultSocketUrl,
    getToken: getAccessToken,
    onEvent: dispatch,
    onResync: refetchLoaded,
    onWelcome(user, { resumed }) {
      presence.reset();
      currentUser.value = user;
      // The first connection may come after the lists were read: refetch them once.
      if (!resumed) refetchLoaded();
      else void refreshTasks();
    },
    onUnauthorized() {
      void onSocketUnauthorized();
    },
  });
  socket = s;
  stopStatus = effect(() => {
    connection.value = s.status.value;
  });
  s.start();
  sweeper = setInterval(() => {
    transfers.sweepStale(30_000);
    imports.sweep();
  }, 10_000);
}

/** When a socket refused after a refresh is given up on (a loop guard). */
const REVIVE_WINDOW_MS = 30_000;
let lastRevive = 0;

/**
 * The socket was closed with 4401 (the session ended, or the access token it sent was refused).
 * A refresh tells which: refused → the session is over (signed out everywhere, back to the login
 * page); granted → connect again with the new token, unless that already happened just now.
 */
async function onSocketUnauthorized(): Promise<void> {
  if (authState.peek() !== 'in') return;
  const now = Date.now();
  const ok = now - lastRevive > REVIVE_WINDOW_MS && (await refresh());
  if (!ok) {
    if (authState.peek() !== 'out') await logout();
    return;
  }
  lastRevive = now;
  await checkMfaGate();
  if (authState.peek() === 'in' && mfaGate.peek() === 'ok') {
    stopLive();
    startLive();
  }
}

export function stopLive(): void {
  socket?.stop();
  socket = null;
  stopStatus?.();
  stopStatus = null;
  clearInterval(sweeper);
  connection.value = 'offline';
  presence.reset();
}

effect(() => {
  // An admin who must enrol a second factor gets no socket until they have (it would refuse).
  if (authState.value === 'in' && mfaGate.value === 'ok') startLive();
  else stopLive();
});
