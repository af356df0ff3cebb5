// The WebSocket protocol's frames (docs/API.md §6, src/realtime/event.rs on the server).
import type { Backup, FileItem, User } from '../api/types';

export interface Actor {
  id: string;
  username: string;
}

export type Via = 'api' | 'link' | 'import';

export interface DownloadStarted {
  download_id: string;
  file_id: string;
  via: Via;
  bytes_total: number | null;
  range_start: number;
}

export interface TransferProgress {
  file_id: string;
  bytes_sent: number;
  bytes_total: number | null;
  bytes_per_sec: number;
}

export interface DownloadProgress extends TransferProgress {
  download_id: string;
}

export interface DownloadAborted {
  download_id: string;
  file_id: string;
  bytes_sent: number;
  bytes_total: number | null;
  reason: string;
}

export interface DownloadCompleted {
  download_id: string;
  file_id: string;
  via: Via;
  bytes: number;
  duration_ms: number;
  download_count: number;
}

export interface UploadStarted {
  upload_id: string;
  file_id: string;
  name: string | null;
  bytes_total: number | null;
}

export interface UploadProgress extends TransferProgress {
  upload_id: string;
}

export interface UploadAborted {
  upload_id: string;
  file_id: string;
  bytes_sent: number;
  bytes_total: number | null;
  reason: string;
}

/** A resumable upload whose request ended short of the end: it may go on later. */
export interface UploadPaused {
  upload_id: string;
  file_id: string;
  bytes_sent: number;
  bytes_total: number | null;
}

export interface Presence {
  user: Actor;
  connections: number;
}

export interface EventDataMap {
  'user.created': User;
  'user.updated': User;
  'user.deleted': { id: string };
  'file.created': FileItem;
  'file.updated': FileItem;
  'file.deleted': { id: string };
  'download.completed': DownloadCompleted;
  'download.started': DownloadStarted;
  'download.progress': DownloadProgress;
  'download.aborted': DownloadAborted;
  'upload.started': UploadStarted;
  'upload.progress': UploadProgress;
  'upload.aborted': UploadAborted;
  'upload.paused': UploadPaused;
  'presence.joined': Presence;
  'presence.left': Presence;
  'user.role_changed': { id: string; username: string; from: string; to: string };
  'auth.login': { user: Actor; ip: string | null };
  'auth.login_failed': { username: string; ip: string | null };
  'key.created': KeyCreated;
  'key.revoked': { id: string; user_id: string; name: string };
  'mfa.enabled': { id: string; username: string };
  'mfa.disabled': { id: string; username: string; reason: 'disabled' | 'reset' | string };
  'session.revoked': { id: string; user_id: string; reason: string };
  'user.invited': InvitationEvent;
  'user.invitation_accepted': { id: string; user_id: string };
  'user.invitation_revoked': { id: string };
  'import.started': ImportProgress;
  'import.progress': ImportProgress;
  'import.finished': ImportProgress;
  'backup.started': Backup;
  'backup.progress': Backup;
  'backup.completed': Backup;
  'backup.failed': Backup;
  'backup.deleted': { id: string };
}

/** The counts of a bulk user import (`import.*`, topic users, ephemeral). */
export interface ImportProgress {
  import_id: string;
  dry_run: boolean;
  mode: 'all_or_nothing' | 'skip_invalid';
  rows_total: number;
  rows_done: number;
  created: number;
  skipped: number;
  /** Rows with a problem. */
  errors: number;
}

export interface KeyCreated {
  id: string;
  user_id: string;
  name: string;
  role: string;
  created_at: string;
  expires_at: string | null;
}

export interface InvitationEvent {
  id: string;
  email: string;
  role: string;
  invited_by: string | null;
  created_at: string;
  expires_at: string;
  status: string;
}

export type EventType = keyof EventDataMap;

/** `{"type", "seq", "ts", "actor", "data"}`: one event, on the socket and in `/api/events`. */
export type EventFrame = {
  [K in EventType]: { type: K; seq: number | null; ts: string; actor: Actor | null; data: EventDataMap[K] };
}[EventType];

export type FrameOf<K extends EventType> = Extract<EventFrame, { type: K }>;

/** Server control messages. */
export type ControlMessage =
  | { type: 'welcome'; user: User; seq: number; epoch?: string }
  | { type: 'pong' }
  | { type: 'resync'; seq: number }
  | { type: 'subscribed'; topics: string[] }
  | { type: 'error'; code: string; message: string };

export const DURABLE_TYPES: ReadonlySet<string> = new Set([
  'user.created',
  'user.updated',
  'user.deleted',
  'file.created',
  'file.updated',
  'file.deleted',
  'download.completed',
  'user.role_changed',
  'auth.login',
  'auth.login_failed',
  'key.created',
  'key.revoked',
  'mfa.enabled',
  'mfa.disabled',
  'session.revoked',
  'user.invited',
  'user.invitation_accepted',
  'user.invitation_revoked',
  'backup.completed',
  'backup.failed',
  'backup.deleted',
]);

export function isEventFrame(msg: { type: string }): msg is EventFrame {
  return msg.type.includes('.');
}
