// Wiring: the app's stores, the socket that feeds them, and the session that starts and stops it.
import { effect, signal } from '@preact/signals';
import * as api from './api/endpoints';
import { authState, currentUser, getAccessToken, logout } from './api/session';
import type { EventFrame } from './realtime/events';
import { defaultSocketUrl, SocketClient, type ConnectionStatus } from './realtime/socket';
import { createActivityStore } from './stores/activity';
import { createFilesStore } from './stores/files';
import { createPresenceStore } from './stores/presence';
import { createTransfersStore } from './stores/transfers';
import { createUsersStore } from './stores/users';

const me = () => currentUser.value?.id ?? null;

export const users = createUsersStore({ listUsers: api.listUsers, me });
export const files = createFilesStore({ listFiles: api.listFiles });
export const activity = createActivityStore({ listEvents: api.listEvents });
export const presence = createPresenceStore();

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
  users.applyEvent(frame);
  files.applyEvent(frame);
  transfers.applyEvent(frame);
  activity.applyEvent(frame);
  presence.applyEvent(frame);
  if (frame.type === 'user.updated' && frame.data.id === currentUser.value?.id) {
    currentUser.value = frame.data;
  }
}

/** Refetches whatever has been shown (after a resync, or once the first connection is up). */
function refetchLoaded(): void {
  if (users.loaded.value) void users.load();
  if (files.loaded.value) void files.load();
  if (activity.loaded.value) void activity.loadRecent();
  void refreshTasks();
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
      void logout();
    },
  });
  socket = s;
  stopStatus = effect(() => {
    connection.value = s.status.value;
  });
  s.start();
  sweeper = setInterval(() => transfers.sweepStale(30_000), 10_000);
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
  if (authState.value === 'in') startLive();
  else stopLive();
});
