// Admins online now, from `presence.joined` / `presence.left` (`{user: {id, username},
// connections}`); 0 connections or `left` with none remaining = gone. Reset on every new
// connection: the server sends a fresh snapshot after `welcome`.
import { signal } from '@preact/signals-core';
import type { EventFrame } from '../realtime/events';

export interface OnlineUser {
  id: string;
  username: string;
  connections: number;
}

export function createPresenceStore() {
  const online = signal<OnlineUser[]>([]);
  const byId = new Map<string, OnlineUser>();

  function publish(): void {
    online.value = [...byId.values()].sort((a, b) => a.username.localeCompare(b.username));
  }

  function applyEvent(frame: EventFrame): boolean {
    if (frame.type !== 'presence.joined' && frame.type !== 'presence.left') return false;
    const { user, connections } = frame.data;
    if (!user || typeof user.id !== 'string') return false;
    if (connections > 0) {
      byId.set(user.id, { id: user.id, username: user.username, connections });
    } else {
      byId.delete(user.id);
    }
    publish();
    return true;
  }

  function reset(): void {
    byId.clear();
    publish();
  }

  return { online, applyEvent, reset };
}

export type PresenceStore = ReturnType<typeof createPresenceStore>;
