// Framework-free client of `GET /api/ws` (docs/API.md §6).
//
// - authenticates with the first message, goes `live` on `welcome`;
// - tracks the last durable seq it has seen (a contiguous watermark plus the seqs seen above it,
//   so replayed or repeated events are dropped and nothing is skipped);
// - on any close but 4401 it reconnects with exponential backoff and full jitter (base 500 ms,
//   cap 30 s; the attempt count resets once a connection has stayed up for 10 s), and right after
//   the next `welcome` sends `{"type":"resume","after":lastSeq,"epoch":…}` (the epoch of the
//   welcome that seq was seen under);
// - `{"type":"resync"}` → `onResync` (the stores refetch);
// - close 4401 → `onUnauthorized`, no reconnect;
// - pings every 25 s, and drops a connection that has been silent for too long;
// - `navigator.onLine === false` → `offline`, reconnecting as soon as the network is back.
// WebSocket, timers, randomness, clock and network state are injectable for tests.
import { signal, type ReadonlySignal } from '@preact/signals-core';
import type { User } from '../api/types';
import type { ControlMessage, EventFrame } from './events';

export type ConnectionStatus = 'live' | 'reconnecting' | 'offline';

/** The subset of `WebSocket` the client uses. */
export interface WebSocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(id: unknown): void;
}

export interface Network {
  isOnline(): boolean;
  /** Calls back on online/offline changes; returns an unsubscribe function. */
  subscribe(cb: (online: boolean) => void): () => void;
}

export interface SocketOptions {
  url: string | (() => string);
  /** The access token for the `auth` message; null → treated like a 4401. */
  getToken: () => string | null | Promise<string | null>;
  onEvent: (frame: EventFrame) => void;
  /** The requested resume point is gone from the server's log: refetch everything. */
  onResync?: () => void;
  /** Authenticated. `resumed` is true on a reconnect (a resume was sent). */
  onWelcome?: (user: User, info: { resumed: boolean; seq: number }) => void;
  /** Closed with 4401 (or no token): the session is over. */
  onUnauthorized?: () => void;
  createSocket?: (url: string) => WebSocketLike;
  timers?: Timers;
  random?: () => number;
  now?: () => number;
  network?: Network;
  baseDelayMs?: number;
  maxDelayMs?: number;
  stableAfterMs?: number;
  pingIntervalMs?: number;
  /** A connection that received nothing for this long is dropped and reconnected. */
  idleTimeoutMs?: number;
}

export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_SLOW_CONSUMER = 4008;
/** Seqs remembered above the watermark before giving up on a gap. */
const MAX_SEEN = 10_000;

/** Full jitter: uniform in [0, min(cap, base · 2^attempt)). */
export function backoffDelay(attempt: number, random: () => number, baseMs = 500, capMs = 30_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

const browserTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id as ReturnType<typeof setTimeout>),
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (id) => globalThis.clearInterval(id as ReturnType<typeof setInterval>),
};

const browserNetwork: Network = {
  isOnline: () => typeof navigator === 'undefined' || navigator.onLine !== false,
  subscribe(cb) {
    if (typeof window === 'undefined') return () => {};
    const on = () => cb(true);
    const off = () => cb(false);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
    };
  },
};

export function defaultSocketUrl(): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/api/ws`;
}

export class SocketClient {
  private readonly opts: SocketOptions;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly network: Network;
  private readonly baseDelay: number;
  private readonly maxDelay: number;
  private readonly stableAfter: number;
  private readonly pingInterval: number;
  private readonly idleTimeout: number;

  private readonly statusSignal = signal<ConnectionStatus>('offline');
  private ws: WebSocketLike | null = null;
  private started = false;
  private welcomed = false;
  private attemptCount = 0;
  private nextDelay: number | null = null;
  private reconnectTimer: unknown = null;
  private stableTimer: unknown = null;
  private pingTimer: unknown = null;
  private lastHeard = 0;
  private unsubscribeNetwork: (() => void) | null = null;
  /** Highest seq such that every durable event up to it has been seen (null before welcome). */
  private watermark: number | null = null;
  /** Seqs seen above the watermark (out of order, e.g. live before a resume replay). */
  private readonly seen = new Set<number>();
  /** The log's identity from the last welcome: a resume names it, so seqs of a log restored
   * from a backup are never taken for this one's (the server answers `resync`). */
  private epoch: string | null = null;

  constructor(opts: SocketOptions) {
    this.opts = opts;
    this.timers = opts.timers ?? browserTimers;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.network = opts.network ?? browserNetwork;
    this.baseDelay = opts.baseDelayMs ?? 500;
    this.maxDelay = opts.maxDelayMs ?? 30_000;
    this.stableAfter = opts.stableAfterMs ?? 10_000;
    this.pingInterval = opts.pingIntervalMs ?? 25_000;
    this.idleTimeout = opts.idleTimeoutMs ?? 70_000;
  }

  get status(): ReadonlySignal<ConnectionStatus> {
    return this.statusSignal;
  }

  /** The last durable seq seen without a gap (what a resume asks to continue after). */
  get lastSeq(): number | null {
    return this.watermark;
  }

  /** Reconnect attempts since the last stable connection. */
  get attempts(): number {
    return this.attemptCount;
  }

  /** The delay chosen for the pending reconnect, if any. */
  get pendingDelay(): number | null {
    return this.nextDelay;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribeNetwork = this.network.subscribe((online) => this.onNetwork(online));
    this.connect();
  }

  stop(): void {
    this.started = false;
    this.unsubscribeNetwork?.();
    this.unsubscribeNetwork = null;
    this.clearReconnect();
    this.drop(1000, 'bye');
    this.statusSignal.value = 'offline';
  }

  private setStatus(s: ConnectionStatus): void {
    this.statusSignal.value = s;
  }

  private connect(): void {
    this.clearReconnect();
    if (!this.started) return;
    if (!this.network.isOnline()) {
      this.setStatus('offline');
      return;
    }
    this.setStatus('reconnecting');
    const url = typeof this.opts.url === 'function' ? this.opts.url() : this.opts.url;
    let ws: WebSocketLike;
    try {
      ws = this.opts.createSocket ? this.opts.createSocket(url) : (new WebSocket(url) as unknown as WebSocketLike);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.lastHeard = this.now();
    ws.onopen = () => {
      if (this.ws !== ws) return;
      const token = this.opts.getToken();
      if (token instanceof Promise) {
        token.then(
          (t) => this.authenticate(ws, t),
          () => this.authenticate(ws, null),
        );
      } else {
        this.authenticate(ws, token);
      }
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastHeard = this.now();
      this.onMessage(ws, ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.onClose(ev.code);
    };
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  private authenticate(ws: WebSocketLike, token: string | null): void {
    if (this.ws !== ws) return;
    if (!token) {
      this.drop(1000, 'no token');
      this.unauthorized();
      return;
    }
    this.send({ type: 'auth', token });
  }

  private send(msg: unknown): void {
    try {
      this.ws?.send(JSON.stringify(msg));
    } catch {
      /* the close handler takes over */
    }
  }

  private onMessage(ws: WebSocketLike, data: unknown): void {
    if (typeof data !== 'string') return;
    let msg: { type?: unknown };
    try {
      msg = JSON.parse(data) as { type?: unknown };
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    if (msg.type.includes('.')) {
      this.onFrame(msg as EventFrame);
      return;
    }
    const ctl = msg as ControlMessage;
    switch (ctl.type) {
      case 'welcome':
        this.onWelcome(ws, ctl);
        break;
      case 'resync':
        this.watermark = ctl.seq;
        this.seen.clear();
        this.opts.onResync?.();
        break;
      default:
        break; // pong, subscribed, error
    }
  }

  private onWelcome(ws: WebSocketLike, msg: { user: User; seq: number; epoch?: string }): void {
    const resumed = this.watermark !== null;
    this.welcomed = true;
    this.setStatus('live');
    this.timers.clearTimeout(this.stableTimer);
    this.stableTimer = this.timers.setTimeout(() => {
      this.stableTimer = null;
      if (this.ws === ws) this.attemptCount = 0;
    }, this.stableAfter);
    this.timers.clearInterval(this.pingTimer);
    this.pingTimer = this.timers.setInterval(() => this.onPingTick(ws), this.pingInterval);
    if (resumed) {
      this.send(this.epoch ? { type: 'resume', after: this.watermark, epoch: this.epoch } : { type: 'resume', after: this.watermark });
    } else {
      this.watermark = msg.seq;
    }
    this.epoch = msg.epoch ?? null;
    this.opts.onWelcome?.(msg.user, { resumed, seq: msg.seq });
  }

  /** Durable events pass once each, in whatever order they come; ephemeral ones always pass. */
  private onFrame(frame: EventFrame): void {
    const seq = frame.seq;
    if (typeof seq === 'number') {
      if (!this.accept(seq)) return;
    }
    this.opts.onEvent(frame);
  }

  private accept(seq: number): boolean {
    if (this.watermark === null) {
      this.watermark = seq;
      return true;
    }
    if (seq <= this.watermark || this.seen.has(seq)) return false;
    this.seen.add(seq);
    while (this.seen.has(this.watermark + 1)) {
      this.watermark += 1;
      this.seen.delete(this.watermark);
    }
    if (this.seen.size > MAX_SEEN) {
      // A gap that never filled: move on rather than remember forever.
      this.watermark = Math.max(...this.seen);
      this.seen.clear();
    }
    return true;
  }

  private onPingTick(ws: WebSocketLike): void {
    if (this.ws !== ws) return;
    if (this.now() - this.lastHeard > this.idleTimeout) {
      this.drop(4000, 'silent');
      this.scheduleReconnect();
      return;
    }
    this.send({ type: 'ping' });
  }

  private onClose(code: number): void {
    this.detach();
    if (code === CLOSE_UNAUTHORIZED) {
      this.unauthorized();
      return;
    }
    if (!this.started) {
      this.setStatus('offline');
      return;
    }
    // 4008 (too slow), 1001 (restart), 4408, 1006, …: reconnect and resume.
    this.scheduleReconnect();
  }

  private unauthorized(): void {
    this.started = false;
    this.unsubscribeNetwork?.();
    this.unsubscribeNetwork = null;
    this.clearReconnect();
    this.setStatus('offline');
    this.opts.onUnauthorized?.();
  }

  private scheduleReconnect(): void {
    this.clearReconnect();
    if (!this.started) return;
    if (!this.network.isOnline()) {
      this.setStatus('offline');
      return;
    }
    this.setStatus('reconnecting');
    const delay = backoffDelay(this.attemptCount, this.random, this.baseDelay, this.maxDelay);
    this.attemptCount += 1;
    this.nextDelay = delay;
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      this.nextDelay = null;
      this.connect();
    }, delay);
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== null) this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.nextDelay = null;
  }

  private onNetwork(online: boolean): void {
    if (!this.started) return;
    if (!online) {
      this.clearReconnect();
      this.drop(1000, 'offline');
      this.setStatus('offline');
      return;
    }
    if (!this.ws) {
      this.attemptCount = 0;
      this.connect();
    }
  }

  /** Forgets the current socket (its late events are ignored) and closes it. */
  private drop(code: number, reason: string): void {
    const ws = this.ws;
    this.detach();
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(code, reason);
      } catch {
        /* already closed */
      }
    }
  }

  private detach(): void {
    this.ws = null;
    this.welcomed = false;
    this.timers.clearTimeout(this.stableTimer);
    this.stableTimer = null;
    this.timers.clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  /** True between `welcome` and the next close. */
  get isLive(): boolean {
    return this.welcomed;
  }
}
