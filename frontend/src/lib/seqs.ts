// Small helpers the stores share.

/** Remembers applied event seqs (bounded), so applying an event twice is a no-op. */
export class AppliedSeqs {
  private readonly seqs = new Set<number>();
  constructor(private readonly capacity = 5000) {}

  /** True the first time `seq` is offered; false afterwards. */
  add(seq: number): boolean {
    if (this.seqs.has(seq)) return false;
    this.seqs.add(seq);
    if (this.seqs.size > this.capacity) {
      const oldest = this.seqs.values().next().value;
      if (oldest !== undefined) this.seqs.delete(oldest);
    }
    return true;
  }

  has(seq: number): boolean {
    return this.seqs.has(seq);
  }

  clear(): void {
    this.seqs.clear();
  }
}

/**
 * Writes this tab made, so their echoes on the socket are not shown as someone else's change
 * (the event may arrive before or after the HTTP response).
 */
export class OwnWrites {
  private readonly pending = new Map<string, number>();
  private readonly done: string[] = [];

  async track<T>(key: string, write: () => Promise<T>, versionOf?: (result: T) => number | undefined): Promise<T> {
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
    try {
      const result = await write();
      const v = versionOf?.(result);
      this.remember(`${key}@${v ?? '*'}`);
      return result;
    } finally {
      const n = (this.pending.get(key) ?? 1) - 1;
      if (n <= 0) this.pending.delete(key);
      else this.pending.set(key, n);
    }
  }

  private remember(entry: string): void {
    this.done.push(entry);
    if (this.done.length > 200) this.done.shift();
  }

  /** A write of `key` by this tab is in flight, or produced `version`. */
  isOwn(key: string, version?: number): boolean {
    if (this.pending.has(key)) return true;
    return this.done.includes(`${key}@${version ?? '*'}`) || this.done.includes(`${key}@*`);
  }
}

export interface TimerLike {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export const realTimers: TimerLike = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id as ReturnType<typeof setTimeout>),
};
