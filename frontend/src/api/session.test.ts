// Tabs of one browser sharing one session: two `createSession` instances ("tabs") over one fake
// localStorage (with `storage` events to the other tabs), one fake lock manager, one fake
// BroadcastChannel and one fake server that, like the real one, rotates the refresh token on
// every refresh and revokes the whole session when a spent token comes back.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { user } from '../test/fixtures';
import { storageLease, webLocks, type StorageLike, type TabLock } from './locks';
import { createSession, REFRESH_KEY, type Messenger, type Session, type SessionDeps } from './session';

const tick = (ms = 0) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---- the browser ----

type StorageListener = (key: string | null, newValue: string | null) => void;

/** localStorage of one origin: one map, and a `storage` event in every other tab on a change. */
class FakeLocalStorage {
  readonly data = new Map<string, string>();
  private listeners: { tab: number; cb: StorageListener }[] = [];
  /** False: changes reach no other tab (to test the other paths alone). */
  events = true;

  view(tab: number): StorageLike {
    return {
      getItem: (k) => this.data.get(k) ?? null,
      setItem: (k, v) => {
        this.data.set(k, v);
        this.notify(tab, k, v);
      },
      removeItem: (k) => {
        if (!this.data.delete(k)) return;
        this.notify(tab, k, null);
      },
    };
  }

  watch(tab: number): SessionDeps['watchStorage'] {
    return (cb) => {
      const entry = { tab, cb };
      this.listeners.push(entry);
      return () => {
        this.listeners = this.listeners.filter((l) => l !== entry);
      };
    };
  }

  private notify(from: number, key: string, value: string | null): void {
    if (!this.events) return;
    for (const l of this.listeners) {
      if (l.tab !== from) setTimeout(() => l.cb(key, value), 0); // a task later, in the other tabs only
    }
  }
}

/** `navigator.locks`: exclusive, FIFO, held until the callback's promise settles. */
class FakeLockManager {
  private tails = new Map<string, Promise<unknown>>();
  holders = 0;
  maxHolders = 0;
  requests = 0;

  request<T>(name: string, cb: (lock: Lock | null) => T): Promise<T> {
    this.requests += 1;
    const prev = this.tails.get(name) ?? Promise.resolve();
    const run = async () => {
      this.holders += 1;
      this.maxHolders = Math.max(this.maxHolders, this.holders);
      try {
        return await cb({ name, mode: 'exclusive' } as Lock);
      } finally {
        this.holders -= 1;
      }
    };
    const result = prev.then(run, run);
    this.tails.set(name, result.catch(() => undefined));
    return result as Promise<T>;
  }
}

/** BroadcastChannel: a message reaches every other tab, a task later. */
class FakeChannelHub {
  private subs: { tab: number; cb: (msg: unknown) => void }[] = [];
  sent: unknown[] = [];
  /** False: messages reach no other tab. */
  deliver = true;
  channel(tab: number): Messenger {
    return {
      post: (msg) => {
        this.sent.push(msg);
        if (!this.deliver) return;
        for (const s of this.subs) if (s.tab !== tab) setTimeout(() => s.cb(msg), 0);
      },
      subscribe: (cb) => {
        const entry = { tab, cb };
        this.subs.push(entry);
        return () => {
          this.subs = this.subs.filter((s) => s !== entry);
        };
      },
    };
  }
}

// ---- the server ----

interface ServerSession {
  secret: string;
  revoked: null | 'reuse' | 'logout';
}

/** `/api/auth/{login,refresh,logout}` with rotation and reuse detection, answering after `latencyMs`. */
class FakeServer {
  sessions = new Map<string, ServerSession>();
  /** Every refresh token presented to /auth/refresh, in arrival order. */
  presented: string[] = [];
  logouts: string[] = [];
  accessIssued = 0;
  latencyMs = 5;
  private n = 0;

  fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const body = JSON.parse(String(init?.body ?? '{}')) as Record<string, string>;
    const [status, json] = this.handle(url, body); // decided on arrival, answered after latency
    await tick(this.latencyMs);
    return {
      status,
      ok: status >= 200 && status < 300,
      headers: new Headers(),
      text: async () => (json === undefined ? '' : JSON.stringify(json)),
    } as unknown as Response;
  };

  private issue(sid: string): unknown {
    const secret = `s${++this.n}`;
    this.sessions.get(sid)!.secret = secret;
    this.accessIssued += 1;
    return {
      access_token: `access-${this.accessIssued}`,
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: `${sid}.${secret}`,
      user: user({ username: 'admin', role: 'admin' }),
    };
  }

  private handle(url: string, body: Record<string, string>): [number, unknown] {
    const unauthorized: [number, unknown] = [401, { error: { code: 'unauthorized', message: 'Invalid refresh token' } }];
    if (url === '/api/auth/login') {
      const sid = `sess${this.sessions.size + 1}`;
      this.sessions.set(sid, { secret: '', revoked: null });
      return [200, this.issue(sid)];
    }
    const token = body.refresh_token ?? '';
    const [sid, secret] = token.split('.');
    const s = this.sessions.get(sid ?? '');
    if (url === '/api/auth/refresh') {
      this.presented.push(token);
      if (!s || s.revoked) return unauthorized;
      if (s.secret !== secret) {
        s.revoked = 'reuse'; // a spent token came back: end the session for everyone
        return unauthorized;
      }
      return [200, this.issue(sid!)];
    }
    if (url === '/api/auth/logout') {
      this.logouts.push(token);
      if (s && !s.revoked && s.secret === secret) s.revoked = 'logout';
      return [204, undefined];
    }
    return [404, { error: { code: 'not_found', message: url } }];
  }

  /** True if no refresh token was ever presented twice. */
  noTokenPresentedTwice(): boolean {
    return new Set(this.presented).size === this.presented.length;
  }

  session(sid = 'sess1'): ServerSession {
    return this.sessions.get(sid)!;
  }
}

// ---- a browser with tabs ----

interface Browser {
  server: FakeServer;
  storage: FakeLocalStorage;
  locks: FakeLockManager;
  hub: FakeChannelHub;
  tabs: Session[];
  openTab(opts?: { lock?: TabLock; legacy?: StorageLike }): Session;
}

const opened: Session[] = [];

function browser(opts: { lock?: (storage: StorageLike) => TabLock } = {}): Browser {
  const server = new FakeServer();
  const storage = new FakeLocalStorage();
  const locks = new FakeLockManager();
  const hub = new FakeChannelHub();
  const tabs: Session[] = [];
  return {
    server,
    storage,
    locks,
    hub,
    tabs,
    openTab(o = {}) {
      const id = tabs.length;
      const view = storage.view(id);
      const s = createSession({
        storage: view,
        legacyStorage: o.legacy ?? null,
        lock: o.lock ?? (opts.lock ? opts.lock(view) : webLocks(locks)),
        channel: hub.channel(id),
        watchStorage: storage.watch(id),
        fetch: server.fetch,
      });
      tabs.push(s);
      opened.push(s);
      return s;
    },
  };
}

/** Logs in in one tab and opens a second tab (a duplicate, or any tab) that restores the session. */
async function twoTabsLoggedIn(b: Browser): Promise<[Session, Session]> {
  const a = b.openTab();
  await a.login('admin', 'pw');
  const c = b.openTab();
  await c.restore();
  expect(a.authState.value).toBe('in');
  expect(c.authState.value).toBe('in');
  return [a, c];
}

afterEach(() => {
  for (const s of opened.splice(0)) s.dispose();
});

describe('tabs sharing one session', () => {
  it('stores the refresh token where every tab sees it, and the access token nowhere', async () => {
    const b = browser();
    const a = b.openTab();
    await a.login('admin', 'pw');
    expect(b.storage.data.get(REFRESH_KEY)).toBe('sess1.s1');
    expect([...b.storage.data.values()].some((v) => v.includes('access-'))).toBe(false);
    expect(await a.getAccessToken()).toBe('access-1');
  });

  it('two tabs refreshing at the same time present two different refresh tokens, never one twice', async () => {
    const b = browser();
    const [a, c] = await twoTabsLoggedIn(b);
    const before = b.server.presented.length;

    const results = await Promise.all([a.refresh(), c.refresh()]);

    expect(results).toEqual([true, true]);
    const presented = b.server.presented.slice(before);
    expect(presented).toHaveLength(2);
    expect(presented[0]).not.toBe(presented[1]);
    expect(b.server.noTokenPresentedTwice()).toBe(true);
    expect(b.server.session().revoked).toBeNull();
    expect(b.locks.maxHolders).toBe(1);
    // Each tab has its own access token; the stored refresh token is the newest one.
    const [ta, tc] = [await a.getAccessToken(), await c.getAccessToken()];
    expect(ta).not.toBeNull();
    expect(tc).not.toBeNull();
    expect(ta).not.toBe(tc);
    expect(b.storage.data.get(REFRESH_KEY)).toBe(`sess1.${b.server.session().secret}`);
    expect([a.authState.value, c.authState.value]).toEqual(['in', 'in']);
  });

  it('many tabs answering 401s at once: one refresh each, one token each, session alive', async () => {
    const b = browser();
    const [a, c] = await twoTabsLoggedIn(b);
    const d = b.openTab();
    await d.restore();
    const before = b.server.presented.length;

    const results = await Promise.all(
      [a, c, d, a, c, d].map((t) => t.tokenSource.onUnauthorized()), // two per tab: single flight
    );

    expect(results.every(Boolean)).toBe(true);
    expect(b.server.presented.length - before).toBe(3);
    expect(b.server.noTokenPresentedTwice()).toBe(true);
    expect(b.server.session().revoked).toBeNull();
  });

  it('a tab whose refresh token was rotated by another tab refreshes with the new one', async () => {
    const b = browser();
    const [a, c] = await twoTabsLoggedIn(b);
    const seenByC = b.storage.data.get(REFRESH_KEY);

    expect(await a.refresh()).toBe(true); // A rotates the token c last saw
    const rotated = b.storage.data.get(REFRESH_KEY);
    expect(rotated).not.toBe(seenByC);

    expect(await c.refresh()).toBe(true);
    expect(b.server.presented.at(-1)).toBe(rotated);
    expect(b.server.noTokenPresentedTwice()).toBe(true);
    expect(b.server.session().revoked).toBeNull();
    expect(c.authState.value).toBe('in');
  });

  it('logout in one tab logs out the other (storage event and broadcast)', async () => {
    const b = browser();
    const [a, c] = await twoTabsLoggedIn(b);

    await a.logout();

    expect(a.authState.value).toBe('out');
    expect(b.storage.data.has(REFRESH_KEY)).toBe(false);
    await vi.waitFor(() => expect(c.authState.value).toBe('out'));
    expect(c.currentUser.value).toBeNull();
    expect(await c.getAccessToken()).toBeNull();
    expect(b.server.session().revoked).toBe('logout');
    expect(await c.refresh()).toBe(false);
  });

  it('logout reaches the other tab through the storage event alone', async () => {
    const b = browser();
    const [a, c] = await twoTabsLoggedIn(b);
    b.hub.deliver = false;

    await a.logout();

    await vi.waitFor(() => expect(c.authState.value).toBe('out'));
    expect(await c.getAccessToken()).toBeNull();
  });

  it('logout reaches the other tab through the BroadcastChannel alone', async () => {
    const b = browser();
    const [a, c] = await twoTabsLoggedIn(b);
    b.storage.events = false;

    await a.logout();

    await vi.waitFor(() => expect(c.authState.value).toBe('out'));
    expect(await c.getAccessToken()).toBeNull();
  });

  it('a logout while another tab is refreshing does not leave the session alive', async () => {
    const b = browser();
    const [a, c] = await twoTabsLoggedIn(b);

    const refreshing = c.refresh(); // holds the lock, its request in flight
    await tick(1);
    await a.logout();
    await refreshing;

    await vi.waitFor(() => expect(c.authState.value).toBe('out'));
    expect(b.storage.data.has(REFRESH_KEY)).toBe(false);
    expect(b.server.session().revoked).toBe('logout');
    expect(b.server.noTokenPresentedTwice()).toBe(true);
  });

  it('a tab logged out while its own refresh is in flight stays logged out', async () => {
    const b = browser();
    const [a, c] = await twoTabsLoggedIn(b);

    const refreshing = c.refresh();
    await tick(1);
    await c.logout();
    expect(await refreshing).toBe(false);

    expect(c.authState.value).toBe('out');
    expect(await c.getAccessToken()).toBeNull();
    expect(b.server.session().revoked).toBe('logout');
    await vi.waitFor(() => expect(a.authState.value).toBe('out'));
  });

  it('a tab on the login page joins when another tab signs in', async () => {
    const b = browser();
    const a = b.openTab();
    const c = b.openTab();
    await c.restore();
    expect(c.authState.value).toBe('out');

    await a.login('admin', 'pw');

    await vi.waitFor(() => expect(c.authState.value).toBe('in'));
    expect(b.server.sessions.size).toBe(1);
    expect(b.server.noTokenPresentedTwice()).toBe(true);
    expect(b.server.session().revoked).toBeNull();
  });

  it('a refused refresh ends the session in every tab', async () => {
    const b = browser();
    const [a, c] = await twoTabsLoggedIn(b);
    b.server.session().revoked = 'logout'; // e.g. revoked by an admin

    expect(await a.refresh()).toBe(false);

    expect(a.authState.value).toBe('out');
    expect(b.storage.data.has(REFRESH_KEY)).toBe(false);
    await vi.waitFor(() => expect(c.authState.value).toBe('out'));
  });

  it('moves a refresh token left in sessionStorage by an earlier build', async () => {
    const b = browser();
    const legacyData = new Map<string, string>();
    const legacy: StorageLike = {
      getItem: (k) => legacyData.get(k) ?? null,
      setItem: (k, v) => void legacyData.set(k, v),
      removeItem: (k) => void legacyData.delete(k),
    };
    // A session created by the old build, its token in this tab's sessionStorage.
    const old = b.openTab();
    await old.login('admin', 'pw');
    legacyData.set(REFRESH_KEY, b.storage.data.get(REFRESH_KEY)!);
    b.storage.data.delete(REFRESH_KEY);

    const a = b.openTab({ legacy });
    await a.restore();

    expect(a.authState.value).toBe('in');
    expect(legacyData.has(REFRESH_KEY)).toBe(false);
    expect(b.storage.data.get(REFRESH_KEY)).toBe(`sess1.${b.server.session().secret}`);
  });
});

describe('without navigator.locks (localStorage lease fallback)', () => {
  it('two tabs refreshing at the same time still present different refresh tokens', async () => {
    const b = browser({ lock: (storage) => storageLease(storage, { settleMs: 10 }) });
    const [a, c] = await twoTabsLoggedIn(b);
    const before = b.server.presented.length;

    const results = await Promise.all([a.refresh(), c.refresh(), a.refresh(), c.refresh()]);

    expect(results).toEqual([true, true, true, true]);
    expect(b.server.presented.length - before).toBe(2);
    expect(b.server.noTokenPresentedTwice()).toBe(true);
    expect(b.server.session().revoked).toBeNull();
    expect(b.storage.data.has('switchboard-refresh.lease')).toBe(false);
  });
});
