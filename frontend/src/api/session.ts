// The session: access token in memory only, refresh token in sessionStorage (a reload of the
// tab keeps the session), proactive refresh ~60 s before expiry, single-flight refresh on 401,
// and logout everywhere (BroadcastChannel) when the session ends.
import { signal } from '@preact/signals';
import { ApiError, request, setTokenSource } from './http';
import type { TokenResponse, User } from './types';

const REFRESH_KEY = 'switchboard.refresh_token';
const CHANNEL = 'switchboard.auth';
/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

export type AuthState = 'unknown' | 'in' | 'out';

export const authState = signal<AuthState>('unknown');
export const currentUser = signal<User | null>(null);

let accessToken: string | null = null;
let expiresAt = 0;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let inflight: Promise<boolean> | null = null;
const channel: BroadcastChannel | null =
  typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel(CHANNEL);

function storedRefresh(): string | null {
  try {
    return sessionStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
}

function storeRefresh(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(REFRESH_KEY, token);
    else sessionStorage.removeItem(REFRESH_KEY);
  } catch {
    /* storage unavailable: the session lasts as long as the page */
  }
}

function adopt(t: TokenResponse): void {
  accessToken = t.access_token;
  expiresAt = Date.now() + t.expires_in * 1000;
  storeRefresh(t.refresh_token);
  currentUser.value = t.user;
  authState.value = 'in';
  clearTimeout(refreshTimer);
  const delay = Math.max(5_000, t.expires_in * 1000 - REFRESH_MARGIN_MS);
  refreshTimer = setTimeout(() => void refresh(), delay);
}

function clearLocal(): void {
  clearTimeout(refreshTimer);
  accessToken = null;
  expiresAt = 0;
  storeRefresh(null);
  currentUser.value = null;
  authState.value = 'out';
}

export async function login(username: string, password: string): Promise<void> {
  const t = await request<TokenResponse>('POST', '/auth/login', {
    auth: false,
    body: { username, password },
  });
  adopt(t);
}

/** Exchanges the refresh token for a new pair (single flight). False → logged out. */
export function refresh(): Promise<boolean> {
  if (inflight) return inflight;
  const token = storedRefresh();
  if (!token) {
    if (authState.value !== 'out') clearLocal();
    return Promise.resolve(false);
  }
  inflight = (async () => {
    try {
      const t = await request<TokenResponse>('POST', '/auth/refresh', {
        auth: false,
        body: { refresh_token: token },
      });
      adopt(t);
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 0) {
        // Network trouble: keep the session and try again shortly.
        clearTimeout(refreshTimer);
        refreshTimer = setTimeout(() => void refresh(), 5_000);
        if (authState.value === 'unknown') authState.value = 'out';
        return false;
      }
      await logout({ callServer: false });
      return false;
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

/** A usable access token: refreshed first when it expires within 30 s. */
export async function getAccessToken(): Promise<string | null> {
  if (accessToken && Date.now() < expiresAt - 30_000) return accessToken;
  if (!storedRefresh()) return accessToken;
  await refresh();
  return accessToken;
}

/** Ends the session here and in every other tab. */
export async function logout(opts: { callServer?: boolean; broadcast?: boolean } = {}): Promise<void> {
  const token = storedRefresh();
  const wasIn = authState.value === 'in';
  clearLocal();
  if (opts.broadcast !== false && wasIn) channel?.postMessage({ type: 'logout' });
  if (opts.callServer !== false && token) {
    try {
      await request('POST', '/auth/logout', { auth: false, body: { refresh_token: token } });
    } catch {
      /* the session is gone locally either way */
    }
  }
}

/** Startup: resume the tab's session from its refresh token, if any. */
export async function restore(): Promise<void> {
  if (!storedRefresh()) {
    authState.value = 'out';
    return;
  }
  await refresh();
}

channel?.addEventListener('message', (e: MessageEvent<{ type?: string }>) => {
  if (e.data?.type === 'logout' && authState.value === 'in') {
    void logout({ broadcast: false });
  }
});

setTokenSource({
  accessToken: getAccessToken,
  onUnauthorized: async () => {
    if (!storedRefresh()) return false;
    accessToken = null;
    return refresh();
  },
});
