// Mutual exclusion across the tabs of one browser, for the refresh token (see `session.ts`).
// The Web Locks API where the browser has it (secure contexts: https and localhost); otherwise a
// best-effort lease kept in localStorage; without storage at all, a queue within the tab.

/** The part of `Storage` the session uses (localStorage, or a fake in tests). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Runs `fn` while holding the lock `name`: one holder at a time across the browser's tabs. */
export interface TabLock {
  run<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/** The part of `LockManager` used here (`navigator.locks`, or a fake in tests). */
export interface LockRequester {
  request<T>(name: string, callback: (lock: Lock | null) => T): Promise<T>;
}

/** The Web Locks API (`navigator.locks`): exclusive, queued in request order, held until `fn` settles. */
export function webLocks(locks: LockRequester): TabLock {
  return {
    run: <T>(name: string, fn: () => Promise<T>): Promise<T> =>
      locks.request(name, () => fn()) as unknown as Promise<T>,
  };
}

/** One holder at a time within this tab only (FIFO). */
export function inTabLock(): TabLock {
  const queues = new Map<string, Promise<unknown>>();
  return {
    run<T>(name: string, fn: () => Promise<T>): Promise<T> {
      const prev = queues.get(name) ?? Promise.resolve();
      const next = prev.then(fn, fn);
      queues.set(name, next.catch(() => undefined));
      return next;
    },
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Lease {
  owner: string;
  until: number;
}

/**
 * Fallback where `navigator.locks` is missing: a lease in localStorage (`<name>.lease`). A tab
 * waits while another tab's lease is live, then writes its claim, waits `settleMs` for a
 * competing claim to land, and holds the lease if its claim is still the one stored (the last
 * writer wins). Best effort: it relies on storage writes reaching other tabs within `settleMs`,
 * and a lease expires after `leaseMs` even if its holder is still busy.
 */
export function storageLease(
  storage: StorageLike,
  opts: { leaseMs?: number; settleMs?: number } = {},
): TabLock {
  const leaseMs = opts.leaseMs ?? 20_000;
  const settleMs = opts.settleMs ?? 50;
  const me = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const local = inTabLock();

  const read = (key: string): Lease | null => {
    try {
      const v = JSON.parse(storage.getItem(key) ?? 'null') as Partial<Lease> | null;
      return v && typeof v.owner === 'string' && typeof v.until === 'number' ? (v as Lease) : null;
    } catch {
      return null;
    }
  };

  async function acquire(key: string): Promise<void> {
    for (;;) {
      const cur = read(key);
      if (cur && cur.owner !== me && cur.until > Date.now()) {
        await sleep(settleMs + Math.random() * settleMs);
        continue;
      }
      try {
        storage.setItem(key, JSON.stringify({ owner: me, until: Date.now() + leaseMs } satisfies Lease));
      } catch {
        return; // storage refuses writes: no cross-tab exclusion to be had
      }
      await sleep(settleMs);
      if (read(key)?.owner === me) return;
    }
  }

  return {
    run<T>(name: string, fn: () => Promise<T>): Promise<T> {
      const key = `${name}.lease`;
      // One claim at a time from this tab, then the cross-tab lease.
      return local.run(name, async () => {
        await acquire(key);
        try {
          return await fn();
        } finally {
          if (read(key)?.owner === me) storage.removeItem(key);
        }
      });
    },
  };
}
