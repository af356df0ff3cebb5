// Builders for test data.
import type { FileItem, User } from '../api/types';
import type { Actor, EventFrame } from '../realtime/events';

export function user(over: Partial<User> = {}): User {
  const username = over.username ?? 'bob';
  return {
    id: `id-${username}`,
    username,
    email: `${username}@example.com`,
    display_name: null,
    role: 'viewer',
    disabled: false,
    version: 1,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    last_login_at: null,
    ...over,
  };
}

export function file(over: Partial<FileItem> = {}): FileItem {
  const name = over.name ?? 'report.pdf';
  return {
    id: `f-${name}`,
    name,
    size: 1000,
    content_type: 'application/pdf',
    sha256: 'ab',
    uploaded_by: 'id-admin',
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    download_count: 0,
    expires_at: null,
    max_downloads: null,
    version: 1,
    ...over,
  };
}

export const ADMIN: Actor = { id: 'id-admin', username: 'admin' };
export const ALICE: Actor = { id: 'id-alice', username: 'alice' };

export function ev<T extends EventFrame['type']>(
  type: T,
  seq: number | null,
  data: Extract<EventFrame, { type: T }>['data'],
  actor: Actor | null = ALICE,
): EventFrame {
  return { type, seq, ts: '2026-01-01T00:00:00.000Z', actor, data } as EventFrame;
}

/** Lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
