// A thin fetch wrapper: JSON in and out, bearer token, one refresh-and-retry on 401, and the
// server's `{"error": {code, message, fields}}` bodies turned into `ApiError`s.
import type { ErrorDetail } from './types';

export const API_BASE = '/api';

/** Any non-2xx answer (or a network failure, status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: Record<string, string>;
  /** The server's own (English) message, if it sent one: the fallback of src/i18n/errors.ts. */
  readonly serverMessage: string | null;
  /** The parsed body (e.g. a 412's `{error, current}`). */
  readonly body: unknown;
  /** Seconds from `Retry-After` (429). */
  readonly retryAfter: number | null;

  constructor(status: number, detail: Partial<ErrorDetail>, body: unknown, retryAfter: number | null) {
    super(detail.message || (status === 0 ? 'Network error' : `Request failed (${status})`));
    this.name = 'ApiError';
    this.status = status;
    this.code = detail.code ?? (status === 0 ? 'network_error' : 'http_error');
    this.fields = detail.fields ?? {};
    this.serverMessage = detail.message || null;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

/** How the HTTP layer reaches the session (set by `session.ts`; injectable in tests). */
export interface TokenSource {
  /** A usable access token (refreshed first if it is about to expire), or null. */
  accessToken(): Promise<string | null>;
  /** Called once on a 401: true if a new access token was obtained. */
  onUnauthorized(): Promise<boolean>;
}

let tokens: TokenSource = {
  accessToken: async () => null,
  onUnauthorized: async () => false,
};

export function setTokenSource(source: TokenSource): void {
  tokens = source;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query | undefined;
  body?: unknown;
  /** A body sent as it is (a file), instead of `body` as JSON; give its Content-Type in `headers`. */
  raw?: BodyInit;
  headers?: Record<string, string>;
  /** Send the bearer token (default true). */
  auth?: boolean;
  signal?: AbortSignal;
  /** Instead of the global `fetch` (tests). */
  fetch?: typeof fetch;
}

export function buildUrl(path: string, query?: Query): string {
  let url = API_BASE + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
    }
    const s = params.toString();
    if (s) url += '?' + s;
  }
  return url;
}

function retryAfterOf(res: Response): number | null {
  const h = res.headers.get('Retry-After');
  if (!h) return null;
  const n = Number(h);
  return Number.isFinite(n) ? n : null;
}

async function readBody(res: Response): Promise<unknown> {
  if (res.status === 204 || res.status === 304) return undefined;
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export async function toApiError(res: Response): Promise<ApiError> {
  const body = await readBody(res).catch(() => undefined);
  const detail =
    body && typeof body === 'object' && 'error' in body && typeof body.error === 'object' && body.error
      ? (body.error as Partial<ErrorDetail>)
      : {};
  const err = new ApiError(res.status, detail, body, retryAfterOf(res));
  for (const o of errorObservers) o(err);
  return err;
}

const errorObservers = new Set<(e: ApiError) => void>();

/** Sees every error answer (e.g. 403 `mfa_enrollment_required` sends the panel to enrolment). */
export function observeErrors(cb: (e: ApiError) => void): () => void {
  errorObservers.add(cb);
  return () => errorObservers.delete(cb);
}

export async function authHeader(): Promise<Record<string, string>> {
  const t = await tokens.accessToken();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** Sends a request, retrying once after a token refresh when the server answers 401. */
export async function send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const useAuth = opts.auth !== false;
  const attempt = async (): Promise<Response> => {
    const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (useAuth) Object.assign(headers, await authHeader());
    const init: RequestInit = { method, headers };
    if (opts.raw !== undefined) init.body = opts.raw;
    else if (opts.body !== undefined) init.body = JSON.stringify(opts.body);
    if (opts.signal) init.signal = opts.signal;
    try {
      const url = buildUrl(path, opts.query);
      return await (opts.fetch ? opts.fetch(url, init) : fetch(url, init));
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, { message: 'Cannot reach the server' }, undefined, null);
    }
  };
  let res = await attempt();
  if (res.status === 401 && useAuth && (await tokens.onUnauthorized())) {
    res = await attempt();
  }
  return res;
}

/** JSON request → parsed JSON response (undefined for 204); throws `ApiError` on non-2xx. */
export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(method, path, opts);
  if (!res.ok) throw await toApiError(res);
  return (await readBody(res)) as T;
}

/** Test hook: the source currently installed. */
export function tokenSource(): TokenSource {
  return tokens;
}
