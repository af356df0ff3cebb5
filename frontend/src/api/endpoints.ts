// Typed endpoints of the Switchboard REST API (docs/API.md §3–§6).
import { ApiError, authHeader, buildUrl, request, send, toApiError, tokenSource } from './http';
import type {
  CreateLinkRequest,
  CreateUserRequest,
  DownloadUrl,
  EventListQuery,
  FileItem,
  FileListQuery,
  FilePage,
  ImportFileRequest,
  Link,
  LinkPage,
  Task,
  TaskPage,
  UpdateFileRequest,
  UpdateUserRequest,
  User,
  UserListQuery,
  UserPage,
} from './types';
import type { EventFrame } from '../realtime/events';

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
