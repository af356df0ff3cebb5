import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventFrame } from './events';
import { backoffDelay, SocketClient, type Network, type SocketOptions, type WebSocketLike } from './socket';

class FakeWebSocket implements WebSocketLike {
  static instances: FakeWebSocket[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  sent: unknown[] = [];
  closed: { code?: number; reason?: string } | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }

  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
  }

  // ---- driving it from the test ----
  open(): void {
    this.onopen?.({});
  }

  receive(msg: unknown): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }

  welcome(seq: number): void {
    this.receive({ type: 'welcome', user: { id: 'u1', username: 'admin' }, seq });
  }

  drop(code = 1006): void {
    this.onclose?.({ code });
  }

  static last(): FakeWebSocket {
    const ws = FakeWebSocket.instances.at(-1);
    if (!ws) throw new Error('no socket');
    return ws;
  }
}

function frame(seq: number | null, type: EventFrame['type'] = 'user.updated'): EventFrame {
  return { type, seq, ts: '2026-01-01T00:00:00.000Z', actor: null, data: { id: `x${seq}` } } as EventFrame;
}

class FakeNetwork implements Network {
  online = true;
  private cb: ((online: boolean) => void) | null = null;
  isOnline() {
    return this.online;
  }
  subscribe(cb: (online: boolean) => void) {
    this.cb = cb;
    return () => {
      this.cb = null;
    };
  }
  set(online: boolean) {
    this.online = online;
    this.cb?.(online);
  }
}

let events: EventFrame[];
let network: FakeNetwork;

function makeClient(over: Partial<SocketOptions> = {}) {
  const opts: SocketOptions = {
    url: 'ws://test/api/ws',
    getToken: () => 'tok',
    onEvent: (f) => events.push(f),
    createSocket: (url) => new FakeWebSocket(url),
    timers: {
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
      setInterval: (fn, ms) => setInterval(fn, ms),
      clearInterval: (id) => clearInterval(id as ReturnType<typeof setInterval>),
    },
    now: () => Date.now(),
    random: () => 0.5,
    network,
    ...over,
  };
  return new SocketClient(opts);
}

/** Starts a client and takes it to `live` with the given welcome seq. */
function connectLive(client: SocketClient, seq = 0): FakeWebSocket {
  client.start();
  const ws = FakeWebSocket.last();
  ws.open();
  ws.welcome(seq);
  return ws;
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.instances = [];
  events = [];
  network = new FakeNetwork();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('backoffDelay', () => {
  it('grows exponentially and stays within full-jitter bounds, capped at 30 s', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(30_000, 500 * 2 ** attempt);
      expect(backoffDelay(attempt, () => 0)).toBe(0);
      expect(backoffDelay(attempt, () => 0.999999)).toBeLessThan(ceiling);
      expect(backoffDelay(attempt, () => 0.999999)).toBeGreaterThanOrEqual(Math.floor(ceiling * 0.999));
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt, Math.random);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(ceiling);
      }
    }
    expect(backoffDelay(100, () => 0.5)).toBe(15_000);
  });
});

describe('SocketClient', () => {
  it('authenticates first, then goes live on welcome', () => {
    const client = makeClient();
    client.start();
    expect(client.status.value).toBe('reconnecting');
    const ws = FakeWebSocket.last();
    expect(ws.url).toBe('ws://test/api/ws');
    ws.open();
    expect(ws.sent).toEqual([{ type: 'auth', token: 'tok' }]);
    ws.welcome(7);
    expect(client.status.value).toBe('live');
    expect(client.lastSeq).toBe(7);
    // No resume on the first connection.
    expect(ws.sent).toHaveLength(1);
  });

  it('waits for an async token before sending auth', async () => {
    const client = makeClient({ getToken: () => Promise.resolve('async-tok') });
    client.start();
    const ws = FakeWebSocket.last();
    ws.open();
    expect(ws.sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.sent).toEqual([{ type: 'auth', token: 'async-tok' }]);
  });

  it('passes events on and drops duplicate durable seqs', () => {
    const client = makeClient();
    const ws = connectLive(client, 10);
    ws.receive(frame(11));
    ws.receive(frame(11));
    ws.receive(frame(9)); // before the welcome point
    ws.receive(frame(null, 'download.progress'));
    ws.receive(frame(null, 'download.progress'));
    expect(events.map((e) => e.seq)).toEqual([11, null, null]);
    expect(client.lastSeq).toBe(11);
  });

  it('reconnects with growing, jittered backoff and resets after a stable connection', () => {
    const delays: number[] = [];
    const client = makeClient({ random: () => 0.999 });
    connectLive(client, 0);

    for (let i = 0; i < 8; i++) {
      FakeWebSocket.last().drop(1006);
      expect(client.status.value).toBe('reconnecting');
      const d = client.pendingDelay!;
      delays.push(d);
      const before = FakeWebSocket.instances.length;
      vi.advanceTimersByTime(d);
      expect(FakeWebSocket.instances.length).toBe(before + 1);
      FakeWebSocket.last().open(); // opens but drops before welcome: never stable
    }
    // 0.999 × min(30 s, 500 ms × 2^n)
    expect(delays).toEqual([499, 999, 1998, 3996, 7992, 15984, 29970, 29970]);

    // A connection that stays up for 10 s resets the attempts.
    const ws = FakeWebSocket.last();
    ws.welcome(0);
    vi.advanceTimersByTime(9_999);
    expect(client.attempts).toBe(8);
    vi.advanceTimersByTime(1);
    expect(client.attempts).toBe(0);
    ws.drop(1006);
    expect(client.pendingDelay).toBe(499);
  });

  it('does not reset the backoff when the connection drops before 10 s', () => {
    const client = makeClient({ random: () => 0.5 });
    connectLive(client, 0);
    FakeWebSocket.last().drop();
    vi.advanceTimersByTime(client.pendingDelay!);
    const ws = FakeWebSocket.last();
    ws.open();
    ws.welcome(0);
    vi.advanceTimersByTime(5_000);
    ws.drop();
    expect(client.attempts).toBe(2);
    expect(client.pendingDelay).toBe(500); // 0.5 × 1000
  });

  it('resumes after the last seq on reconnect and drops what it already had', () => {
    const client = makeClient();
    const ws1 = connectLive(client, 3);
    ws1.receive(frame(4));
    ws1.receive(frame(5));
    ws1.drop(4008); // too slow: same as any drop
    expect(client.status.value).toBe('reconnecting');
    vi.advanceTimersByTime(client.pendingDelay!);
    const ws2 = FakeWebSocket.last();
    expect(ws2).not.toBe(ws1);
    ws2.open();
    ws2.welcome(9);
    expect(ws2.sent).toEqual([
      { type: 'auth', token: 'tok' },
      { type: 'resume', after: 5 },
    ]);
    expect(client.status.value).toBe('live');
    // A live event can overtake the replay; the replay then repeats it.
    ws2.receive(frame(10));
    for (const s of [5, 6, 7, 8, 9, 10]) ws2.receive(frame(s));
    ws2.receive(frame(11));
    expect(events.map((e) => e.seq)).toEqual([4, 5, 10, 6, 7, 8, 9, 11]);
    expect(client.lastSeq).toBe(11);
  });

  it('names the epoch it saw in its resume, so a restored log answers resync', () => {
    const client = makeClient();
    client.start();
    const first = FakeWebSocket.last();
    first.open();
    first.receive({ type: 'welcome', user: { id: 'u1', username: 'admin' }, seq: 7, epoch: 'e1' });
    first.drop();
    vi.advanceTimersByTime(client.pendingDelay!);
    const second = FakeWebSocket.last();
    second.open();
    second.receive({ type: 'welcome', user: { id: 'u1', username: 'admin' }, seq: 2, epoch: 'e2' });
    expect(second.sent.at(-1)).toEqual({ type: 'resume', after: 7, epoch: 'e1' });
    second.drop();
    vi.advanceTimersByTime(client.pendingDelay!);
    const third = FakeWebSocket.last();
    third.open();
    third.receive({ type: 'welcome', user: { id: 'u1', username: 'admin' }, seq: 2, epoch: 'e2' });
    expect(third.sent.at(-1)).toEqual({ type: 'resume', after: 7, epoch: 'e2' });
  });

  it('ignores frames from a socket it has replaced', () => {
    const client = makeClient();
    const ws1 = connectLive(client, 0);
    ws1.drop();
    vi.advanceTimersByTime(client.pendingDelay!);
    ws1.receive(frame(1));
    expect(events).toEqual([]);
  });

  it('calls onResync and continues from the resync seq', () => {
    const onResync = vi.fn();
    const client = makeClient({ onResync });
    const ws1 = connectLive(client, 3);
    ws1.drop();
    vi.advanceTimersByTime(client.pendingDelay!);
    const ws2 = FakeWebSocket.last();
    ws2.open();
    ws2.welcome(500);
    expect(ws2.sent.at(-1)).toEqual({ type: 'resume', after: 3 });
    ws2.receive({ type: 'resync', seq: 500 });
    expect(onResync).toHaveBeenCalledTimes(1);
    expect(client.lastSeq).toBe(500);
    ws2.receive(frame(500));
    ws2.receive(frame(501));
    expect(events.map((e) => e.seq)).toEqual([501]);
  });

  it('on close 4401 logs out and does not reconnect', () => {
    const onUnauthorized = vi.fn();
    const client = makeClient({ onUnauthorized });
    const ws = connectLive(client, 0);
    ws.drop(4401);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    expect(client.status.value).toBe('offline');
    expect(client.pendingDelay).toBeNull();
    vi.advanceTimersByTime(120_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('treats a missing token like 4401', () => {
    const onUnauthorized = vi.fn();
    const client = makeClient({ onUnauthorized, getToken: () => null });
    client.start();
    FakeWebSocket.last().open();
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    expect(FakeWebSocket.last().closed).not.toBeNull();
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('pings every 25 s while live', () => {
    const client = makeClient();
    const ws = connectLive(client, 0);
    const pings = () => ws.sent.filter((m) => (m as { type: string }).type === 'ping').length;
    vi.advanceTimersByTime(24_999);
    expect(pings()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(pings()).toBe(1);
    ws.receive({ type: 'pong' });
    vi.advanceTimersByTime(25_000);
    expect(pings()).toBe(2);
    // No pings after the connection is gone.
    ws.drop();
    vi.advanceTimersByTime(client.pendingDelay! - 1);
    vi.advanceTimersByTime(25_000);
    expect(pings()).toBe(2);
  });

  it('drops a silent connection and reconnects', () => {
    const client = makeClient();
    const ws = connectLive(client, 0);
    vi.advanceTimersByTime(75_000); // pings unanswered for > 70 s
    expect(ws.closed).not.toBeNull();
    expect(client.status.value).toBe('reconnecting');
    vi.advanceTimersByTime(client.pendingDelay!);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it('is offline while the browser is offline and reconnects when it is back', () => {
    network.online = false;
    const client = makeClient();
    client.start();
    expect(client.status.value).toBe('offline');
    expect(FakeWebSocket.instances).toHaveLength(0);
    network.set(true);
    expect(FakeWebSocket.instances).toHaveLength(1);
    const ws = FakeWebSocket.last();
    ws.open();
    ws.welcome(0);
    expect(client.status.value).toBe('live');
    network.set(false);
    expect(client.status.value).toBe('offline');
    expect(ws.closed).not.toBeNull();
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('stop() closes and stays offline', () => {
    const client = makeClient();
    const ws = connectLive(client, 0);
    client.stop();
    expect(ws.closed?.code).toBe(1000);
    expect(client.status.value).toBe('offline');
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });
});
