// End-to-end harness: runs the real `switchboard` binary against a temporary data directory,
// talks to its REST API from Node, and drives Debian's Chromium through playwright-core.
//
// Nothing here sleeps to synchronise: readiness is polled with a deadline, process exit is
// awaited with a deadline, and browser state is awaited through concrete DOM conditions.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page, type WebSocket as PwWebSocket } from 'playwright-core';

// ---------------------------------------------------------------------------------------------
// Paths and constants
// ---------------------------------------------------------------------------------------------

export const FRONTEND_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(FRONTEND_DIR, '..');
/** Screenshots, latencies, TTI figures and server logs go here. */
export const OUT_DIR = join(REPO_DIR, 'target', 'e2e');

export const ADMIN_USERNAME = 'admin';
/** Password of the bootstrap admin (via SWITCHBOARD_ADMIN_PASSWORD); distinctive on purpose. */
export const ADMIN_PASSWORD = 'E2e-Adm1n-Pw-4c1d9a';
export const SECOND_ADMIN = { username: 'e2e-admin2', password: 'E2e-Second-Pw-77b3', email: 'e2e-admin2@example.test' };

const STARTUP_TIMEOUT_MS = 60_000;
const SHUTDOWN_TIMEOUT_MS = 30_000;
const POLL_MS = 25;

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The server binary: SWITCHBOARD_BIN (absolute, or relative to the current directory, or
 * relative to the repository root), default `<repo>/target/debug/switchboard`.
 */
export function serverBinary(): string {
  const fromEnv = process.env.SWITCHBOARD_BIN;
  let bin: string;
  if (!fromEnv) bin = join(REPO_DIR, 'target', 'debug', 'switchboard');
  else if (isAbsolute(fromEnv)) bin = fromEnv;
  else {
    const fromCwd = resolve(process.cwd(), fromEnv);
    bin = existsSync(fromCwd) ? fromCwd : resolve(REPO_DIR, fromEnv);
  }
  if (!existsSync(bin)) {
    throw new Error(`switchboard binary not found at ${bin}: run \`cargo build --bin switchboard\` or set SWITCHBOARD_BIN`);
  }
  return bin;
}

export function ensureOutDir(): string {
  mkdirSync(OUT_DIR, { recursive: true });
  return OUT_DIR;
}

/** Polls `fn` until it returns a truthy value or the deadline passes (then throws `what`). */
export async function pollUntil<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined | null | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// REST client
// ---------------------------------------------------------------------------------------------

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or null. */
  body: T;
}

export interface User {
  id: string;
  username: string;
  email: string;
  display_name: string | null;
  role: 'admin' | 'viewer';
  disabled: boolean;
  version: number;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
}

export interface FileItem {
  id: string;
  name: string;
  size: number;
  content_type: string;
  sha256: string;
  download_count: number;
}

/** A tiny REST client for the server under test. */
export class Api {
  constructor(
    readonly baseUrl: string,
    public token: string | null = null,
  ) {}

  async request<T = any>(
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string>; token?: string | null; raw?: BodyInit } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { Accept: 'application/json', ...(opts.headers ?? {}) };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: BodyInit | undefined = opts.raw;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const res = await fetch(this.baseUrl + path, { method, headers, body, redirect: 'manual' });
    const text = await res.text();
    let parsed: any = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: res.status, headers: res.headers, text, body: parsed };
  }

  /** Like `request`, but throws unless the status is `expected`. */
  async expect<T = any>(expected: number, method: string, path: string, opts: Parameters<Api['request']>[2] = {}): Promise<ApiResponse<T>> {
    const r = await this.request<T>(method, path, opts);
    if (r.status !== expected) {
      throw new Error(`${method} ${path}: expected HTTP ${expected}, got ${r.status}: ${r.text}`);
    }
    return r;
  }

  /** Logs in and keeps the access token; returns the login response body. */
  async login(username: string, password: string): Promise<{ access_token: string; refresh_token: string; user: User }> {
    const r = await this.expect(200, 'POST', '/api/auth/login', { body: { username, password }, token: null });
    this.token = r.body.access_token;
    return r.body;
  }

  async createUser(u: { username: string; email?: string; display_name?: string | null; password?: string; role?: 'admin' | 'viewer' }): Promise<User> {
    const r = await this.expect<User>(201, 'POST', '/api/users', {
      body: {
        username: u.username,
        email: u.email ?? `${u.username}@example.test`,
        display_name: u.display_name ?? null,
        password: u.password ?? 'e2e-password-123',
        role: u.role ?? 'viewer',
      },
    });
    return r.body;
  }

  async getUser(id: string): Promise<User> {
    return (await this.expect<User>(200, 'GET', `/api/users/${encodeURIComponent(id)}`)).body;
  }

  async updateUser(id: string, patch: Record<string, unknown>): Promise<User> {
    return (await this.expect<User>(200, 'PATCH', `/api/users/${encodeURIComponent(id)}`, { body: patch })).body;
  }

  async getFile(id: string): Promise<FileItem> {
    return (await this.expect<FileItem>(200, 'GET', `/api/files/${encodeURIComponent(id)}`)).body;
  }

  /** Uploads bytes as a file with `POST /api/files` (multipart); returns the created file. */
  async uploadFile(name: string, content: Buffer): Promise<FileItem> {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(content)]), name);
    const res = await fetch(`${this.baseUrl}/api/files`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json' },
      body: form,
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`upload ${name}: HTTP ${res.status}: ${text}`);
    return JSON.parse(text) as FileItem;
  }

  /** Downloads a file completely with the bearer token; returns its bytes. */
  async download(id: string): Promise<Buffer> {
    const res = await fetch(`${this.baseUrl}/api/files/${encodeURIComponent(id)}/download`, {
      headers: { Authorization: `Bearer ${this.token}` },
    });
    if (res.status !== 200) throw new Error(`download ${id}: HTTP ${res.status}: ${await res.text()}`);
    return Buffer.from(await res.arrayBuffer());
  }
}

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

/** Environment of the child: inherited, minus everything that would change the test setup. */
function serverEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'DATABASE_URL' || k === 'RUST_LOG' || k.startsWith('SWITCHBOARD_')) continue;
    env[k] = v;
  }
  env.SWITCHBOARD_ADMIN_PASSWORD = ADMIN_PASSWORD;
  if (process.env.SWITCHBOARD_E2E_RUST_LOG) env.RUST_LOG = process.env.SWITCHBOARD_E2E_RUST_LOG;
  return { ...env, ...extra };
}

const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of liveChildren) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

export interface ServerOptions {
  /** Name used for the log file `target/e2e/server-<name>.log`. */
  name: string;
  extraArgs?: string[];
  extraEnv?: Record<string, string>;
}

/**
 * One `switchboard serve` on a fixed port and data dir. `stop()` sends SIGTERM and waits for
 * the exit; `start()` again reuses the same port and data dir (a restart).
 */
export class Server {
  readonly bin = serverBinary();
  readonly dataDir: string;
  port = 0;
  private child: ChildProcess | null = null;
  private exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  private log: WriteStream;
  /** Recent output lines (for error messages). */
  readonly tail: string[] = [];
  readonly logPath: string;

  constructor(readonly opts: ServerOptions) {
    this.dataDir = mkdtempSync(join(tmpdir(), `switchboard-e2e-${opts.name}-`));
    ensureOutDir();
    this.logPath = join(OUT_DIR, `server-${opts.name}.log`);
    this.log = createWriteStream(this.logPath, { flags: 'w' });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get dbPath(): string {
    return join(this.dataDir, 'switchboard.db');
  }

  get running(): boolean {
    return this.child !== null;
  }

  api(token: string | null = null): Api {
    return new Api(this.url, token);
  }

  /** Starts the server and waits until `GET /readyz` answers 200. */
  async start(): Promise<void> {
    if (this.child) throw new Error('server already running');
    if (!this.port) this.port = await freePort();
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    // A restart may briefly find the port still held by the previous process: retry then.
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.spawnOnce(deadline);
      if (outcome === 'ready') return;
      const inUse = this.tail.some((l) => /address already in use/i.test(l));
      if (!inUse || Date.now() > deadline) {
        throw new Error(`switchboard did not become ready (attempt ${attempt}); last output:\n${this.tail.slice(-30).join('\n')}`);
      }
    }
  }

  private async spawnOnce(deadline: number): Promise<'ready' | 'exited'> {
    const args = [
      'serve',
      '--listen',
      `127.0.0.1:${this.port}`,
      '--data-dir',
      this.dataDir,
      '--log-format',
      'json',
      ...(this.opts.extraArgs ?? []),
    ];
    this.log.write(`\n# ${new Date().toISOString()} start ${this.bin} ${args.join(' ')}\n`);
    const child = spawn(this.bin, args, {
      env: serverEnv(this.opts.extraEnv ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    liveChildren.add(child);
    let exited = false;
    this.exitPromise = new Promise((res) => {
      child.once('exit', (code, signal) => {
        exited = true;
        liveChildren.delete(child);
        this.log.write(`# ${new Date().toISOString()} exit code=${code} signal=${signal}\n`);
        res({ code, signal });
      });
    });
    const onData = (chunk: Buffer) => {
      this.log.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        this.tail.push(line);
        if (this.tail.length > 200) this.tail.shift();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);

    for (;;) {
      if (exited) {
        this.child = null;
        return 'exited';
      }
      try {
        const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return 'ready';
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`switchboard not ready within ${STARTUP_TIMEOUT_MS} ms; last output:\n${this.tail.slice(-30).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** SIGTERM, then waits for the exit (SIGKILL and throw after the deadline). Returns the exit code. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child || !this.exitPromise) return null;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), SHUTDOWN_TIMEOUT_MS);
    });
    const result = await Promise.race([this.exitPromise, timeout]);
    clearTimeout(timer);
    this.child = null;
    if (result === 'timeout') {
      child.kill('SIGKILL');
      await this.exitPromise;
      throw new Error(`switchboard did not exit within ${SHUTDOWN_TIMEOUT_MS} ms of SIGTERM`);
    }
    return result.code;
  }

  async restart(): Promise<number | null> {
    const code = await this.stop();
    await this.start();
    return code;
  }

  /** SIGKILL if still running (cleanup path). */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || !this.exitPromise) return;
    child.kill('SIGKILL');
    await this.exitPromise;
  }

  /** Kills the server and removes its data dir. */
  async dispose(): Promise<void> {
    await this.kill();
    await new Promise<void>((r) => this.log.end(() => r()));
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * Checks that the binary serves a complete panel: `/` is the HTML shell and every asset it
 * references answers 200 with a body. Catches a binary built while frontend/dist was being
 * rewritten (rebuild it then) before any browser test times out obscurely.
 */
export async function checkPanelServed(baseUrl: string): Promise<void> {
  const res = await fetch(`${baseUrl}/`);
  const html = await res.text();
  if (res.status !== 200 || !/<html/i.test(html)) {
    throw new Error(`GET / did not return the panel (HTTP ${res.status}): ${html.slice(0, 200)}`);
  }
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
  if (assets.length === 0) throw new Error(`index.html references no /assets/: ${html.slice(0, 400)}`);
  for (const a of assets) {
    const r = await fetch(baseUrl + a);
    const len = (await r.arrayBuffer()).byteLength;
    if (r.status !== 200 || len === 0) {
      throw new Error(`the embedded panel is incomplete: ${a} → HTTP ${r.status}, ${len} bytes (rebuild the binary after \`npm run build\`)`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Browser
// ---------------------------------------------------------------------------------------------

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: apt-get update && apt-get install -y chromium`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/** A WebSocket of a page with every frame it sent and received (for resume checks). */
export interface SocketLog {
  url: string;
  openedAt: number;
  closedAt: number | null;
  sent: { at: number; data: any }[];
  received: { at: number; data: any }[];
}

/** A browser context + page with the bookkeeping the tests check at the end. */
export interface Panel {
  name: string;
  context: BrowserContext;
  page: Page;
  /** Uncaught exceptions in the page. */
  pageErrors: string[];
  /** Number of `load` events of the main frame (1 = never reloaded after the first load). */
  loads: number;
  sockets: SocketLog[];
}

function parseFrame(payload: string | Buffer): any {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function openPanel(
  browser: Browser,
  baseURL: string,
  name: string,
  opts: { colorScheme?: 'light' | 'dark'; locale?: string; setup?: (context: BrowserContext) => Promise<void> } = {},
): Promise<Panel> {
  const context = await browser.newContext({
    baseURL,
    viewport: { width: 1280, height: 800 },
    colorScheme: opts.colorScheme ?? 'light',
    // The browser's language picks the panel's (docs/PANEL.md): English unless a test asks otherwise.
    locale: opts.locale ?? 'en-US',
    acceptDownloads: true,
    serviceWorkers: 'block',
  });
  if (opts.setup) await opts.setup(context);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const panel: Panel = { name, context, page, pageErrors: [], loads: 0, sockets: [] };
  page.on('pageerror', (e) => panel.pageErrors.push(String(e?.stack ?? e)));
  page.on('load', () => {
    panel.loads += 1;
  });
  page.on('websocket', (ws: PwWebSocket) => {
    const log: SocketLog = { url: ws.url(), openedAt: Date.now(), closedAt: null, sent: [], received: [] };
    panel.sockets.push(log);
    ws.on('framesent', (f) => log.sent.push({ at: Date.now(), data: parseFrame(f.payload) }));
    ws.on('framereceived', (f) => log.received.push({ at: Date.now(), data: parseFrame(f.payload) }));
    ws.on('close', () => {
      log.closedAt = Date.now();
    });
  });
  return panel;
}

/** Logs in through the real login form, waits for the landing page and a live connection, then opens the users page. */
export async function loginViaForm(panel: Panel, username: string, password: string): Promise<void> {
  try {
    await loginSteps(panel, username, password);
  } catch (e) {
    throw new Error(`login of ${username} in panel ${panel.name} failed: ${String(e)}\n${await describePage(panel)}`);
  }
}

/** What the page shows (for failure messages). */
export async function describePage(panel: Panel): Promise<string> {
  const { page } = panel;
  let body = '';
  try {
    body = (await page.evaluate(() => document.body?.innerText ?? '')).replace(/\s+/g, ' ').slice(0, 600);
  } catch (e) {
    body = `(cannot read the page: ${String(e)})`;
  }
  return `url: ${page.url()}\npage text: ${body}\nuncaught exceptions: ${JSON.stringify(panel.pageErrors)}`;
}

async function loginSteps(panel: Panel, username: string, password: string): Promise<void> {
  const { page } = panel;
  await page.goto('/login');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 15_000 });
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The dashboard is the landing page; the tests start from the users page.
  await page.waitForURL('**/dashboard', { timeout: 15_000 });
  await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor({ timeout: 15_000 });
  await waitForConnection(page, 'live', 15_000);
  await navTo(page, 'Users');
}

export const CONNECTION_TEXT = { live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' } as const;

/** Waits until the connection indicator shows `state` (both its text and data-state). */
export async function waitForConnection(page: Page, state: keyof typeof CONNECTION_TEXT, timeout: number): Promise<void> {
  await page.waitForFunction(
    ({ state, text }) => {
      const el = document.querySelector('[data-testid="connection"]');
      return !!el && el.getAttribute('role') === 'status' && el.getAttribute('data-state') === state && el.textContent?.trim() === text;
    },
    { state, text: CONNECTION_TEXT[state] },
    { timeout, polling: 20 },
  );
}

/** Navigates inside the SPA by clicking a link of the main navigation (no page load). */
export async function navTo(page: Page, label: 'Dashboard' | 'Users' | 'Files' | 'Activity' | 'Backups'): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
  await page.waitForURL(`**/${label.toLowerCase()}`);
  await page.getByRole('heading', { name: label, level: 1 }).waitFor();
}

/**
 * Condition on one table cell, checked inside the page: the row `rowSelector` inside the table
 * named `table` (aria-label) and the column whose header text is `column`.
 * `present: false` → the row must be absent. `text` → the cell's trimmed text must equal it.
 */
export interface CellCondition {
  table: string;
  rowSelector: string;
  present?: boolean;
  column?: string;
  text?: string;
}

/**
 * Waits until the condition holds in the page and returns the page's wall clock (Date.now())
 * at the moment it was first seen. Polls every 10 ms inside the page.
 */
export async function waitForCell(page: Page, cond: CellCondition, timeout: number): Promise<number> {
  const handle = await page.waitForFunction(
    (c: CellCondition) => {
      const table = document.querySelector(`table[aria-label="${c.table}"]`);
      if (!table) return false;
      const row = table.querySelector(`tbody ${c.rowSelector}`);
      if (c.present === false) return row ? false : Date.now();
      if (!row) return false;
      if (c.column === undefined) return Date.now();
      const headers = Array.from(table.querySelectorAll('thead th'));
      // The header's visible name, without decorative (aria-hidden) parts such as sort icons.
      const name = (th: Element) => {
        const clone = th.cloneNode(true) as Element;
        clone.querySelectorAll('[aria-hidden="true"]').forEach((n) => n.remove());
        return clone.textContent?.trim();
      };
      const idx = headers.findIndex((th) => name(th) === c.column);
      if (idx < 0) return false;
      const cell = row.querySelectorAll('td')[idx];
      if (!cell) return false;
      return cell.textContent?.trim() === c.text ? Date.now() : false;
    },
    cond,
    { timeout, polling: 10 },
  );
  return (await handle.jsonValue()) as number;
}

/** Sets a marker on `window` that a reload would wipe. */
export async function setMarker(page: Page, value: string): Promise<void> {
  await page.evaluate((v) => {
    (window as any).__e2eMarker = v;
  }, value);
}

export async function getMarker(page: Page): Promise<string | undefined> {
  return page.evaluate(() => (window as any).__e2eMarker as string | undefined);
}

/** Closes everything, ignoring errors (cleanup path). */
export async function closeQuietly(...things: Array<{ close: () => Promise<unknown> } | null | undefined>): Promise<void> {
  for (const t of things) {
    if (!t) continue;
    try {
      await t.close();
    } catch {
      /* already closed */
    }
  }
}

/**
 * Waits until the element `selector` exists and its trimmed text equals `text`; returns the
 * page's Date.now() at that moment. Polls every 10 ms inside the page.
 */
export async function waitForText(page: Page, selector: string, text: string, timeout: number): Promise<number> {
  const handle = await page.waitForFunction(
    ({ selector, text }) => {
      const el = document.querySelector(selector);
      return el && el.textContent?.trim() === text ? Date.now() : false;
    },
    { selector, text },
    { timeout, polling: 10 },
  );
  return (await handle.jsonValue()) as number;
}

/**
 * Starts watching the page for an element matching `selector` (whose text contains `text`, if
 * given) to appear, even briefly; `seenAt(page, key)` tells when it was first seen.
 */
export async function watchFor(page: Page, key: string, selector: string, text?: string): Promise<void> {
  await page.evaluate(
    ({ key, selector, text }) => {
      const w = window as any;
      w.__e2eSeen = w.__e2eSeen ?? {};
      w.__e2eSeen[key] = null;
      const check = () => {
        if (w.__e2eSeen[key] !== null) return true;
        const hit = Array.from(document.querySelectorAll(selector)).some((el) => text === undefined || (el.textContent ?? '').includes(text));
        if (hit) w.__e2eSeen[key] = Date.now();
        return hit;
      };
      if (check()) return;
      const observer = new MutationObserver(() => {
        if (check()) observer.disconnect();
      });
      observer.observe(document, { childList: true, subtree: true, attributes: true, characterData: true });
    },
    { key, selector, text },
  );
}

export async function seenAt(page: Page, key: string): Promise<number | null> {
  return page.evaluate((key) => ((window as any).__e2eSeen?.[key] as number | null | undefined) ?? null, key);
}

/** A started server, its admin's API client, a browser and two panels signed in as two admins. */
export interface TwoAdmins {
  server: Server;
  adminApi: Api;
  browser: Browser;
  A: Panel;
  B: Panel;
}

/**
 * Starts a server named `name`, creates the second admin, runs `seed` with the admin's API
 * client, then signs in panel A (the bootstrap admin) and panel B (the second admin).
 */
export async function startTwoAdmins(name: string, seed: (api: Api) => Promise<void> = async () => {}): Promise<TwoAdmins> {
  ensureOutDir();
  const server = new Server({ name });
  await server.start();
  await checkPanelServed(server.url);
  const adminApi = server.api();
  await adminApi.login(ADMIN_USERNAME, ADMIN_PASSWORD);
  await adminApi.createUser({
    username: SECOND_ADMIN.username,
    email: SECOND_ADMIN.email,
    password: SECOND_ADMIN.password,
    display_name: 'Second Admin',
    role: 'admin',
  });
  await seed(adminApi);
  const browser = await launchBrowser();
  const A = await openPanel(browser, server.url, 'A');
  const B = await openPanel(browser, server.url, 'B');
  await loginViaForm(A, ADMIN_USERNAME, ADMIN_PASSWORD);
  await loginViaForm(B, SECOND_ADMIN.username, SECOND_ADMIN.password);
  return { server, adminApi, browser, A, B };
}
