// Typed endpoints of the Switchboard REST API (docs/API.md §3–§6).
import { ApiError, authHeader, buildUrl, request, send, toApiError, tokenSource } from './http';
import type {
  Backup,
  BackupList,
  CreatedInvitation,
  CreatedKey,
  CreateInvitationRequest,
  CreateKeyRequest,
  CreateLinkRequest,
  CreateUserRequest,
  DownloadUrl,
  EventListQuery,
  FileItem,
  FileListQuery,
  FilePage,
  ImportFileRequest,
  ImportFormat,
  ImportMode,
  InvitationList,
  InvitationPreview,
  KeyList,
  Link,
  LinkPage,
  MfaStatus,
  RecoveryCodes,
  ResetLink,
  SessionList,
  Stats,
  Task,
  TaskPage,
  TokenResponse,
  TotpEnrollment,
  UpdateFileRequest,
  UpdateUserRequest,
  User,
  UserImportReport,
  UserListQuery,
  UserPage,
} from './types';
import type { EventFrame } from '../realtime/events';
import { filenameFromDisposition } from '../lib/download';
import { Upload as TusUpload, type DetailedError } from 'tus-js-client';

const enc = encodeURIComponent;

// ---- users ----

export function listUsers(query: UserListQuery): Promise<UserPage> {
  return request<UserPage>('GET', '/users', { query });
}

export function getUser(id: string): Promise<User> {
  return request<User>('GET', `/users/${enc(id)}`);
}

export function createUser(body: CreateUserRequest): Promise<User> {
  return request<User>('POST', '/users', { body });
}

/** The body of a 412: the error and the resource as it is now. */
export interface Conflict<T> {
  current: T;
}

export function conflictOf<T>(e: unknown): Conflict<T> | null {
  if (e instanceof ApiError && e.status === 412 && e.body && typeof e.body === 'object' && 'current' in e.body) {
    return { current: (e.body as { current: T }).current };
  }
  return null;
}

/** PATCH with `If-Match: "<version>"` when a version is given; a stale one → 412 ApiError. */
export function updateUser(id: string, body: UpdateUserRequest, version?: number): Promise<User> {
  const headers: Record<string, string> = {};
  if (version !== undefined) headers['If-Match'] = `"${version}"`;
  return request<User>('PATCH', `/users/${enc(id)}`, { body, headers });
}

export function setUserPassword(id: string, password: string): Promise<User> {
  return request<User>('PATCH', `/users/${enc(id)}`, { body: { password } });
}

export function deleteUser(id: string): Promise<void> {
  return request<void>('DELETE', `/users/${enc(id)}`);
}

// ---- files ----

export function listFiles(query: FileListQuery): Promise<FilePage> {
  return request<FilePage>('GET', '/files', { query });
}

export function getFile(id: string): Promise<FileItem> {
  return request<FileItem>('GET', `/files/${enc(id)}`);
}

export function updateFile(id: string, body: UpdateFileRequest, version?: number): Promise<FileItem> {
  const headers: Record<string, string> = {};
  if (version !== undefined) headers['If-Match'] = `"${version}"`;
  return request<FileItem>('PATCH', `/files/${enc(id)}`, { body, headers });
}

export function deleteFile(id: string): Promise<void> {
  return request<void>('DELETE', `/files/${enc(id)}`);
}

export function downloadUrl(id: string): string {
  return buildUrl(`/files/${enc(id)}/download`);
}

export interface UploadHandle {
  promise: Promise<FileItem>;
  abort(): void;
}

/**
 * Uploads one file with `XMLHttpRequest` (fetch has no upload progress). On a 401 the token is
 * refreshed and the upload restarted once.
 */
export function uploadFile(file: Blob, name: string | undefined, onProgress: (sent: number, total: number) => void): UploadHandle {
  let xhr: XMLHttpRequest | null = null;
  let aborted = false;
  const once = async (): Promise<{ status: number; xhr: XMLHttpRequest }> => {
    const auth = await authHeader();
    return new Promise((resolve, reject) => {
      if (aborted) {
        reject(new DOMException('Upload cancelled', 'AbortError'));
        return;
      }
      const x = new XMLHttpRequest();
      xhr = x;
      x.open('POST', buildUrl('/files'));
      x.setRequestHeader('Accept', 'application/json');
      for (const [k, v] of Object.entries(auth)) x.setRequestHeader(k, v);
      x.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      x.onload = () => resolve({ status: x.status, xhr: x });
      x.onerror = () => reject(new ApiError(0, { message: 'Upload failed: cannot reach the server' }, undefined, null));
      x.onabort = () => reject(new DOMException('Upload cancelled', 'AbortError'));
      const form = new FormData();
      if (name) form.append('name', name);
      form.append('file', file, name ?? (file instanceof File ? file.name : 'upload'));
      x.send(form);
    });
  };
  const promise = (async () => {
    let r = await once();
    if (r.status === 401 && (await tokenSource().onUnauthorized())) r = await once();
    const text = r.xhr.responseText;
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    if (r.status >= 200 && r.status < 300) return body as FileItem;
    const detail = body && typeof body === 'object' && 'error' in body ? (body as { error: { code?: string; message?: string } }).error : {};
    const ra = r.xhr.getResponseHeader('Retry-After');
    throw new ApiError(r.status, detail, body, ra ? Number(ra) : null);
  })();
  return {
    promise,
    abort() {
      aborted = true;
      xhr?.abort();
    },
  };
}

/** Bytes per PATCH of a resumable upload: each finished chunk is durable on the server. */
export const RESUMABLE_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Waits between retries of a resumable upload whose connection broke (or whose server is
 * restarting): about three minutes in all before giving up.
 */
const RETRY_DELAYS_MS = [0, 500, 1000, 2000, 3000, 5000, ...Array<number>(16).fill(10_000)];

export interface ResumableCallbacks {
  onProgress(sent: number, total: number): void;
  /** The connection broke; the upload will resume by itself. */
  onRetry(): void;
}

/**
 * Uploads one file with the tus resumable-upload protocol at `/api/uploads` (docs/API.md,
 * "Resumable uploads"), through tus-js-client. A dropped connection or a server restart resumes
 * from the last byte the server kept; the upload's URL is remembered in localStorage (keyed by
 * the file's name, type, size and modification time), so dropping the same file again after a
 * closed tab resumes it instead of starting over. Resolves with the created file's id.
 */
export function resumableUpload(file: File, cb: ResumableCallbacks): UploadHandle & { fileId: Promise<string> } {
  let fileId: string | null = null;
  let upload: TusUpload | null = null;
  let aborted = false;
  const done = new Promise<string>((resolve, reject) => {
    upload = new TusUpload(file, {
      endpoint: buildUrl('/uploads'),
      chunkSize: RESUMABLE_CHUNK_BYTES,
      retryDelays: RETRY_DELAYS_MS,
      metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      async onBeforeRequest(req) {
        const auth = await authHeader();
        for (const [k, v] of Object.entries(auth)) req.setHeader(k, v);
        req.setHeader('Accept', 'application/json');
      },
      onAfterResponse(_req, res) {
        const id = res.getHeader('Switchboard-File-Id');
        if (id) fileId = id;
      },
      onShouldRetry(err: DetailedError, _attempt, _options) {
        const status = err.originalResponse?.getStatus() ?? 0;
        // An expired access token: refresh it, then the next request carries the new one.
        if (status === 401) {
          void tokenSource().onUnauthorized();
          return true;
        }
        // 0: no answer (network gone, server restarting); 409: the offset moved under us (a
        // request that broke mid-way was partly kept), so ask again; 423/5xx: try again later.
        const retry = status === 0 || status === 409 || status === 423 || status >= 500;
        if (retry) cb.onRetry();
        return retry;
      },
      onProgress: (sent, total) => cb.onProgress(sent, total),
      onSuccess() {
        if (fileId) resolve(fileId);
        else reject(new ApiError(0, { code: 'upload_incomplete', message: 'The upload finished without a file id' }, undefined, null));
      },
      onError(e) {
        if (aborted) {
          reject(new DOMException('Upload cancelled', 'AbortError'));
          return;
        }
        const res = (e as DetailedError).originalResponse;
        let detail: { code?: string; message?: string } = { message: e.message };
        if (res) {
          try {
            const body = JSON.parse(res.getBody()) as { error?: { code?: string; message?: string } };
            if (body.error) detail = body.error;
          } catch {
            // not JSON: keep tus-js-client's message
          }
        }
        reject(new ApiError(res?.getStatus() ?? 0, detail, undefined, null));
      },
    });
    const u = upload;
    void u.findPreviousUploads().then(
      (previous) => {
        if (previous.length > 0) u.resumeFromPreviousUpload(previous[0]!);
        u.start();
      },
      () => u.start(),
    );
  });
  return {
    fileId: done,
    promise: done.then((id) => getFile(id)),
    abort() {
      aborted = true;
      // Ends the upload on the server too (tus termination), so nothing lingers.
      void (upload as TusUpload | null)?.abort(true);
    },
  };
}

/**
 * Downloads several files as one ZIP archive, streamed by the server (docs/API.md, "ZIP
 * bundles"). Like a single download, a short-lived URL is fetched first so the browser itself
 * streams the archive to disk.
 */
export async function downloadArchive(ids: string[], name?: string): Promise<void> {
  const { url } = await request<{ url: string }>('POST', '/files/archive-url', { body: name ? { ids, name } : { ids } });
  const a = document.createElement('a');
  a.href = url;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
}

/**
 * Starts a browser download of a file. A plain navigation cannot carry `Authorization`, so the
 * server hands out a short-lived download URL first; the browser then streams the file to disk
 * itself (never through page memory) and can pause and resume it.
 */
export async function downloadFile(id: string, name: string): Promise<void> {
  const { url } = await request<DownloadUrl>('POST', `/files/${enc(id)}/download-url`, { body: {} });
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
}

// ---- share links ----

export function listLinks(fileId: string): Promise<LinkPage> {
  return request<LinkPage>('GET', `/files/${enc(fileId)}/links`, { query: { per_page: 200 } });
}

export function createLink(fileId: string, body: CreateLinkRequest): Promise<Link> {
  return request<Link>('POST', `/files/${enc(fileId)}/links`, { body });
}

export function deleteLink(token: string): Promise<void> {
  return request<void>('DELETE', `/links/${enc(token)}`);
}

// ---- imports and tasks ----

export function importFile(body: ImportFileRequest): Promise<Task> {
  return request<Task>('POST', '/files/import', { body });
}

export function listTasks(): Promise<TaskPage> {
  return request<TaskPage>('GET', '/tasks', { query: { per_page: 200 } });
}

export function cancelTask(id: string): Promise<void> {
  return request<void>('DELETE', `/tasks/${enc(id)}`);
}

// ---- events ----

export interface EventPage {
  items: EventFrame[];
  latest_seq: number;
}

/** `after` → ascending from there; `before` → newest first below it. */
export function listEvents(query: EventListQuery): Promise<EventPage> {
  return request<EventPage>('GET', '/events', { query });
}

// ---- password ----

/** Ends every session of the caller, this one included (sign in again afterwards). */
export function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  return request<void>('POST', '/auth/password', { body: { current_password: currentPassword, new_password: newPassword } });
}

/** Always 202, whether or not the address belongs to an account. */
export function requestPasswordReset(email: string): Promise<void> {
  return request<void>('POST', '/auth/reset', { auth: false, body: { email } });
}

/** 410 when the link is unknown, used or expired. */
export function confirmPasswordReset(token: string, newPassword: string): Promise<void> {
  return request<void>('POST', '/auth/reset/confirm', { auth: false, body: { token, new_password: newPassword } });
}

export function createResetLink(userId: string): Promise<ResetLink> {
  return request<ResetLink>('POST', `/users/${enc(userId)}/reset-link`);
}

// ---- second factor ----

export function myMfa(): Promise<MfaStatus> {
  return request<MfaStatus>('GET', '/auth/mfa');
}

export function startTotp(): Promise<TotpEnrollment> {
  return request<TotpEnrollment>('POST', '/auth/mfa/totp');
}

export function confirmTotp(code: string): Promise<RecoveryCodes> {
  return request<RecoveryCodes>('POST', '/auth/mfa/totp/confirm', { body: { code } });
}

export function disableTotp(password: string): Promise<void> {
  return request<void>('DELETE', '/auth/mfa/totp', { body: { password } });
}

export function userMfa(userId: string): Promise<MfaStatus> {
  return request<MfaStatus>('GET', `/users/${enc(userId)}/mfa`);
}

export function resetUserMfa(userId: string): Promise<void> {
  return request<void>('DELETE', `/users/${enc(userId)}/mfa`);
}

// ---- sessions ----

export function mySessions(): Promise<SessionList> {
  return request<SessionList>('GET', '/auth/sessions', { query: { per_page: 200 } });
}

export function endMyOtherSessions(): Promise<void> {
  return request<void>('DELETE', '/auth/sessions');
}

export function userSessions(userId: string): Promise<SessionList> {
  return request<SessionList>('GET', `/users/${enc(userId)}/sessions`, { query: { per_page: 200 } });
}

export function endUserSessions(userId: string): Promise<void> {
  return request<void>('DELETE', `/users/${enc(userId)}/sessions`);
}

export function endSession(id: string): Promise<void> {
  return request<void>('DELETE', `/sessions/${enc(id)}`);
}

// ---- API keys ----

export function createKey(body: CreateKeyRequest): Promise<CreatedKey> {
  return request<CreatedKey>('POST', '/keys', { body });
}

/** The caller's keys, or (admin) another user's. */
export function listKeys(userId?: string): Promise<KeyList> {
  return request<KeyList>('GET', '/keys', { query: { user_id: userId, per_page: 200 } });
}

export function revokeKey(id: string): Promise<void> {
  return request<void>('DELETE', `/keys/${enc(id)}`);
}


// ---- invitations ----

export function createInvitation(body: CreateInvitationRequest): Promise<CreatedInvitation> {
  return request<CreatedInvitation>('POST', '/invitations', { body });
}

export function listInvitations(status: 'pending' | 'all' = 'pending'): Promise<InvitationList> {
  return request<InvitationList>('GET', '/invitations', { query: { status, per_page: 200 } });
}

export function revokeInvitation(id: string): Promise<void> {
  return request<void>('DELETE', `/invitations/${enc(id)}`);
}

/** 410 when the link is unknown, used, revoked or expired. */
export function inspectInvitation(token: string): Promise<InvitationPreview> {
  return request<InvitationPreview>('POST', '/invitations/inspect', { auth: false, body: { token } });
}

/** Creates the user and signs them in. */
export function acceptInvitation(token: string, username: string, password: string): Promise<TokenResponse> {
  return request<TokenResponse>('POST', '/invitations/accept', { auth: false, body: { token, username, password } });
}

// ---- users export ----

/**
 * The users matching the list filters as one file (docs/API.md §4.3). The server streams it;
 * the browser holds it as a Blob until it is saved.
 */
export async function exportUsers(
  filters: { q: string; role: string; disabled: string },
  format: 'csv' | 'jsonl',
): Promise<Blob> {
  const res = await send('GET', '/users/export', {
    query: { format, q: filters.q.trim(), role: filters.role, disabled: filters.disabled },
    headers: { Accept: format === 'csv' ? 'text/csv' : 'application/x-ndjson' },
  });
  if (!res.ok) throw await toApiError(res);
  return res.blob();
}

// ---- users import ----

/**
 * Creates users in bulk from a CSV or JSON Lines file (docs/API.md §4.4). The file goes as it is
 * (never read into a string here); the answer comes once the whole file is settled, progress
 * meanwhile as `import.*` events.
 */
export function importUsers(
  file: Blob,
  opts: { format: ImportFormat; mode: ImportMode; dryRun: boolean },
): Promise<UserImportReport> {
  return request<UserImportReport>('POST', '/users/import', {
    query: { format: opts.format, mode: opts.mode, dry_run: opts.dryRun },
    raw: file,
    headers: { 'Content-Type': opts.format === 'csv' ? 'text/csv' : 'application/x-ndjson' },
  });
}

// ---- backups ----

export function listBackups(): Promise<BackupList> {
  return request<BackupList>('GET', '/backups');
}

export function getBackup(id: string): Promise<Backup> {
  return request<Backup>('GET', `/backups/${enc(id)}`);
}

/** 202 with the running backup; 409 `backup_running` while one runs. */
export function createBackup(): Promise<Backup> {
  return request<Backup>('POST', '/backups');
}

export function deleteBackup(id: string): Promise<void> {
  return request<void>('DELETE', `/backups/${enc(id)}`);
}

/**
 * A backup as one tar archive. It needs the bearer token, so it is fetched and held as a Blob
 * until saved; the name is the server's (`Content-Disposition`) or `switchboard-backup-<id>.tar`.
 */
export async function downloadBackup(id: string): Promise<{ blob: Blob; filename: string }> {
  const res = await send('GET', `/backups/${enc(id)}/download`, { headers: { Accept: 'application/x-tar, application/json' } });
  if (!res.ok) throw await toApiError(res);
  const filename = filenameFromDisposition(res.headers.get('Content-Disposition')) ?? `switchboard-backup-${id}.tar`;
  return { blob: await res.blob(), filename };
}

// ---- stats ----

/** The dashboard's counts and series; days start at UTC + `tzOffsetMinutes` (docs/API.md §7.1). */
export function getStats(tzOffsetMinutes: number): Promise<Stats> {
  return request<Stats>('GET', '/stats', { query: { tz_offset_minutes: tzOffsetMinutes } });
}
