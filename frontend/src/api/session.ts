// The session, one per browser and shared by its tabs. Each tab keeps its own access token, in
// memory only. The refresh token lives in localStorage, so every tab sees the latest one (and a
// reload keeps the session). The server rotates it on every refresh and treats a spent one coming
// back as theft (the whole session is revoked), so refreshes are serialised across tabs by a lock
// (`navigator.locks`, 'switchboard-refresh'): inside it a tab re-reads the stored token (another
// tab may have rotated it meanwhile), exchanges it and stores the new one before letting go; no
// refresh token is ever presented twice. Proactive refresh ~60 s before expiry, single-flight
// refresh on 401, and logout everywhere (the `storage` event when the token goes, plus a
// BroadcastChannel message).
import { signal, type Signal } from '@preact/signals';
import { ApiError, request, setTokenSource, type TokenSource } from './http';
import { inTabLock, storageLease, webLocks, type StorageLike, type TabLock } from './locks';
import type { MfaChallenge, TokenResponse, User } from './types';

export const REFRESH_KEY = 'switchboard.refresh_token';
export const REFRESH_LOCK = 'switchboard-refresh';
const CHANNEL = 'switchboard.auth';
/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

export type AuthState = 'unknown' | 'in' | 'out';

/** What a correct password leads to: signed in, or a second-factor challenge to answer. */
export type LoginOutcome = { mfa: null } | { mfa: MfaChallenge };

export function isMfaChallenge(body: unknown): body is MfaChallenge {
  return !!body && typeof body === 'object' && (body as { mfa_required?: unknown }).mfa_required === true && typeof (body as { challenge?: unknown }).challenge === 'string';
}

/** Messages between the tabs (a BroadcastChannel in the browser). */
export interface Messenger {
  post(msg: unknown): void;
  subscribe(cb: (msg: unknown) => void): () => void;
}

/** What a session needs from the browser (injectable in tests). */
export interface SessionDeps {
  /** Where the refresh token is kept, shared by all tabs (localStorage); null → memory only. */
  storage: StorageLike | null;
  /** Where earlier builds kept it (sessionStorage): moved to `storage` on restore. */
  legacyStorage?: StorageLike | null;
  /** Serialises refreshes (and logouts, logins) across tabs. */
  lock: TabLock;
  channel: Messenger | null;
  /** Changes made to `storage` by other tabs (the `storage` event); key null → cleared. */
  watchStorage: ((cb: (key: string | null, newValue: string | null) => void) => () => void) | null;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

export interface Session {
  readonly authState: Signal<AuthState>;
  readonly currentUser: Signal<User | null>;
  /** The password step; with a second factor on, answer the challenge with `completeMfa`. */
  login(username: string, password: string): Promise<LoginOutcome>;
  /** The second step: a TOTP or recovery code for the challenge from `login`. */
  completeMfa(challenge: string, code: string): Promise<void>;
  /** Signs in with tokens obtained otherwise (an accepted invitation). */
  adoptTokens(t: TokenResponse): Promise<void>;
  refresh(): Promise<boolean>;
  getAccessToken(): Promise<string | null>;
  logout(opts?: { callServer?: boolean; broadcast?: boolean }): Promise<void>;
  restore(): Promise<void>;
  /** For the HTTP layer: bearer tokens and the 401 → refresh → retry path. */
  readonly tokenSource: TokenSource;
  /** Stops timers and listeners (tests). */
  dispose(): void;
}

export function createSession(deps: SessionDeps): Session {
  const authState = signal<AuthState>('unknown');
  const currentUser = signal<User | null>(null);

  let accessToken: string | null = null;
  let expiresAt = 0;
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  let inflight: Promise<boolean> | null = null;
  /** The refresh token when `storage` is missing or refuses it: lasts as long as the page. */
  let memoryToken: string | null = null;
  /** Bumped whenever this tab ends its session: a refresh already under way must not revive it. */
  let epoch = 0;

  function readToken(): string | null {
    if (deps.storage) {
      try {
        return deps.storage.getItem(REFRESH_KEY);
      } catch {
        /* fall through */
      }
    }
    return memoryToken;
  }

  function writeToken(token: string | null): void {
    memoryToken = token;
    if (!deps.storage) return;
    try {
      if (token) deps.storage.setItem(REFRESH_KEY, token);
      else deps.storage.removeItem(REFRESH_KEY);
    } catch {
      /* storage unavailable: the token stays in memory */
    }
  }

  const post = <T>(path: string, body: unknown): Promise<T> =>
    request<T>('POST', path, deps.fetch ? { auth: false, body, fetch: deps.fetch } : { auth: false, body });

  function schedule(delay: number): void {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => void refresh(), delay);
  }

  /** This tab's half of a token response (the refresh token is stored by the caller, under the lock). */
  function adopt(t: TokenResponse): void {
    accessToken = t.access_token;
    expiresAt = Date.now() + t.expires_in * 1000;
    currentUser.value = t.user;
    authState.value = 'in';
    schedule(Math.max(5_000, t.expires_in * 1000 - REFRESH_MARGIN_MS));
  }

  /** Ends the session in this tab only (memory); the stored token is someone else's business. */
  function endLocal(): void {
    epoch += 1;
    clearTimeout(refreshTimer);
    accessToken = null;
    expiresAt = 0;
    currentUser.value = null;
    authState.value = 'out';
  }

  async function adoptTokens(t: TokenResponse): Promise<void> {
    await deps.lock.run(REFRESH_LOCK, async () => writeToken(t.refresh_token));
    adopt(t);
  }

  async function login(username: string, password: string): Promise<LoginOutcome> {
    const r = await post<TokenResponse | MfaChallenge>('/auth/login', { username, password });
    if (isMfaChallenge(r)) return { mfa: r };
    await adoptTokens(r);
    return { mfa: null };
  }

  async function completeMfa(challenge: string, code: string): Promise<void> {
    const t = await post<TokenResponse>('/auth/mfa', { challenge, code });
    await adoptTokens(t);
  }

  /** Runs holding the lock: the stored token is the latest (possibly rotated by another tab). */
  async function exchange(startEpoch: number): Promise<boolean> {
    const token = readToken();
    if (!token) {
      // Logged out in another tab while this one waited.
      if (authState.value !== 'out') endLocal();
      return false;
    }
    let t: TokenResponse;
    try {
      t = await post<TokenResponse>('/auth/refresh', { refresh_token: token });
    } catch (e) {
      if (e instanceof ApiError && e.status === 0) {
        // Network trouble: keep the session and try again shortly.
        schedule(5_000);
        if (authState.value === 'unknown') authState.value = 'out';
        return false;
      }
      // Refused (expired, revoked, user disabled): the session is over, in every tab.
      if (readToken() === token) writeToken(null);
      const wasIn = authState.value === 'in';
      endLocal();
      if (wasIn) deps.channel?.post({ type: 'logout' });
      return false;
    }
    // Stored before the lock is released: the next holder reads this one.
    writeToken(t.refresh_token);
    if (epoch !== startEpoch) return false; // logged out meanwhile; that logout revokes `t`
    adopt(t);
    return true;
  }

  /** Exchanges the stored refresh token for a new pair (single flight per tab). False → no new token. */
  function refresh(): Promise<boolean> {
    if (inflight) return inflight;
    if (!readToken()) {
      if (authState.value !== 'out') endLocal();
      return Promise.resolve(false);
    }
    const startEpoch = epoch;
    const run = deps.lock.run(REFRESH_LOCK, () => exchange(startEpoch)).finally(() => {
      inflight = null;
    });
    inflight = run;
    return run;
  }

  /** A usable access token: refreshed first when it expires within 30 s. */
  async function getAccessToken(): Promise<string | null> {
    if (accessToken && Date.now() < expiresAt - 30_000) return accessToken;
    if (!readToken()) return accessToken;
    await refresh();
    return accessToken;
  }

  /** Ends the session here and in every other tab. */
  async function logout(opts: { callServer?: boolean; broadcast?: boolean } = {}): Promise<void> {
    const wasIn = authState.value === 'in';
    endLocal();
    if (opts.broadcast !== false && wasIn) deps.channel?.post({ type: 'logout' });
    // Under the lock, so a refresh in another tab cannot store a newer token after this removal
    // (the other tabs see the removal through the `storage` event).
    const token = await deps.lock.run(REFRESH_LOCK, async () => {
      const stored = readToken();
      if (stored) writeToken(null);
      return stored;
    });
    if (opts.callServer !== false && token) {
      try {
        await post('/auth/logout', { refresh_token: token });
      } catch {
        /* the session is gone locally either way */
      }
    }
  }

  /** Moves a refresh token left in sessionStorage by an earlier build into shared storage. */
  async function migrateLegacy(): Promise<void> {
    const legacy = deps.legacyStorage;
    if (!legacy) return;
    let old: string | null = null;
    try {
      old = legacy.getItem(REFRESH_KEY);
      if (old) legacy.removeItem(REFRESH_KEY);
    } catch {
      return;
    }
    if (!old) return;
    const token = old;
    await deps.lock.run(REFRESH_LOCK, async () => {
      if (!readToken()) writeToken(token);
    });
  }

  /** Startup: join the browser's session, if there is one. */
  async function restore(): Promise<void> {
    await migrateLegacy();
    if (!readToken()) {
      if (authState.value === 'unknown') authState.value = 'out';
      return;
    }
    await refresh();
  }

  const unsubscribe: (() => void)[] = [];
  if (deps.channel) {
    unsubscribe.push(
      deps.channel.subscribe((msg) => {
        const type = msg && typeof msg === 'object' && 'type' in msg ? msg.type : undefined;
        if (type === 'logout' && authState.value !== 'out') void logout({ broadcast: false });
      }),
    );
  }
  if (deps.watchStorage) {
    unsubscribe.push(
      deps.watchStorage((key, newValue) => {
        if (key !== null && key !== REFRESH_KEY) return;
        const token = key === null ? readToken() : newValue;
        if (token === null) {
          // Another tab logged out (or the storage was cleared).
          if (authState.value !== 'out') endLocal();
        } else if (authState.value === 'out' && !inflight) {
          // Another tab signed in: join its session.
          void refresh();
        }
      }),
    );
  }

  const tokenSource: TokenSource = {
    accessToken: getAccessToken,
    onUnauthorized: async () => {
      if (!readToken()) return false;
      accessToken = null;
      return refresh();
    },
  };

  return {
    authState,
    currentUser,
    login,
    completeMfa,
    adoptTokens,
    refresh,
    getAccessToken,
    logout,
    restore,
    tokenSource,
    dispose() {
      clearTimeout(refreshTimer);
      for (const u of unsubscribe) u();
    },
  };
}

function probeStorage(get: () => Storage): Storage | null {
  try {
    const s = get();
    return s ?? null;
  } catch {
    return null; // e.g. storage blocked by the browser's settings
  }
}

/** The real browser: localStorage, navigator.locks (or a fallback), BroadcastChannel, `storage` events. */
export function browserDeps(): SessionDeps {
  const hasWindow = typeof window !== 'undefined';
  const storage = hasWindow ? probeStorage(() => window.localStorage) : null;
  const legacyStorage = hasWindow ? probeStorage(() => window.sessionStorage) : null;
  // navigator.locks exists in secure contexts (https, localhost). Elsewhere a best-effort lease
  // in localStorage stands in for it (see `storageLease`).
  const locks = typeof navigator !== 'undefined' ? (navigator as Partial<Navigator>).locks : undefined;
  const lock: TabLock = locks ? webLocks(locks) : storage ? storageLease(storage) : inTabLock();
  let channel: Messenger | null = null;
  if (typeof BroadcastChannel !== 'undefined') {
    const bc = new BroadcastChannel(CHANNEL);
    channel = {
      post: (msg) => bc.postMessage(msg),
      subscribe(cb) {
        const h = (e: MessageEvent) => cb(e.data);
        bc.addEventListener('message', h);
        return () => bc.removeEventListener('message', h);
      },
    };
  }
  const watchStorage: SessionDeps['watchStorage'] = hasWindow
    ? (cb) => {
        const h = (e: StorageEvent) => {
          if (e.storageArea && e.storageArea !== storage) return;
          cb(e.key, e.newValue);
        };
        window.addEventListener('storage', h);
        return () => window.removeEventListener('storage', h);
      }
    : null;
  return { storage, legacyStorage, lock, channel, watchStorage };
}

// The app's session.
const session = createSession(browserDeps());

export const authState = session.authState;
export const currentUser = session.currentUser;
export const login = session.login;
export const completeMfa = session.completeMfa;
export const adoptTokens = session.adoptTokens;
export const refresh = session.refresh;
export const getAccessToken = session.getAccessToken;
export const logout = session.logout;
export const restore = session.restore;

setTokenSource(session.tokenSource);
