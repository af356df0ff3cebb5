// The admin panel end to end: one server, two admins in two browser contexts (A = `admin`,
// B = a second admin), every change made in one panel shown live in the other.
//
// Latencies go to target/e2e/latencies.json, screenshots to target/e2e/*.png.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page, Response, WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  type Api,
  closeQuietly,
  ensureOutDir,
  getMarker,
  launchBrowser,
  loginViaForm,
  navTo,
  openPanel,
  OUT_DIR,
  pollUntil,
  type Panel,
  SECOND_ADMIN,
  Server,
  checkPanelServed,
  setMarker,
  type User,
  waitForCell,
  waitForConnection,
  waitForText,
  seenAt,
  watchFor,
} from './harness';

/** docs/API.md §7: every change appears in every open panel; the panel test allows 2 s. */
const LIVE_BUDGET_MS = 2000;
/** How long we keep watching past the budget, so a slow update is measured rather than cut off. */
const OBSERVE_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Latency bookkeeping
// ---------------------------------------------------------------------------------------------

interface Latency {
  /** From the moment A's action completed (API response / download seen in Node) to B's DOM. */
  ms: number;
  /** From A's click to B's DOM. */
  from_click_ms?: number;
  what: string;
}
const latencies: Record<string, Latency> = {};

function recordLatency(key: string, what: string, seenAt: number, doneAt: number, clickAt?: number): number {
  const ms = Math.max(0, seenAt - doneAt);
  const entry: Latency = { ms, what };
  if (clickAt !== undefined) entry.from_click_ms = Math.max(0, seenAt - clickAt);
  latencies[key] = entry;
  ensureOutDir();
  writeFileSync(
    join(OUT_DIR, 'latencies.json'),
    `${JSON.stringify({ budget_ms: LIVE_BUDGET_MS, measured_at: new Date().toISOString(), latencies }, null, 2)}\n`,
  );
  console.log(`[latency] ${key}: ${ms} ms${entry.from_click_ms !== undefined ? ` (${entry.from_click_ms} ms from click)` : ''} — ${what}`);
  return ms;
}

// ---------------------------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------------------------

let server: Server;
let browser: Browser;
let adminApi: Api;
let A: Panel;
let B: Panel;
const extraPanels: Panel[] = [];

const userRow = (id: string) => `tr[data-user-id="${id}"]`;
const fileRow = (id: string) => `tr[data-file-id="${id}"]`;
const pathOf = (r: Response) => new URL(r.url()).pathname;

/** The response to the PATCH that completed a resumable upload (it names the created file). */
function isUploadFinished(r: Response): boolean {
  return r.request().method() === 'PATCH' && pathOf(r).startsWith('/api/uploads/') && r.headers()['switchboard-file-id'] !== undefined;
}

const sha256Of = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function isApi(method: string, path: string | RegExp) {
  return (r: Response) =>
    r.request().method() === method && (typeof path === 'string' ? pathOf(r) === path : path.test(pathOf(r)));
}

/** The table named `table` has exactly these column headers (accessible names, in order). */
async function expectColumns(page: Page, table: string, names: string[]): Promise<void> {
  const headers = page.getByRole('table', { name: table, exact: true }).getByRole('columnheader');
  await expect.poll(() => headers.count(), { timeout: 5000 }).toBe(names.length);
  for (const [i, name] of names.entries()) {
    const h = headers.nth(i);
    // Accessible name: the text without aria-hidden decorations (sort icons).
    const text = await h.evaluate((th) => {
      const clone = th.cloneNode(true) as Element;
      clone.querySelectorAll('[aria-hidden="true"]').forEach((n) => n.remove());
      return clone.textContent?.trim();
    });
    expect(text, `column ${i + 1} of table ${table}`).toBe(name);
  }
}

/** Both panels still on their first page load, with no uncaught exceptions. */
async function expectNoReloadNoErrors(): Promise<void> {
  for (const [p, marker] of [
    [A, 'panel-A'],
    [B, 'panel-B'],
  ] as const) {
    expect(await getMarker(p.page), `${p.name} was reloaded (window marker gone)`).toBe(marker);
    expect(p.loads, `${p.name} had more than one page load`).toBe(1);
    expect(p.pageErrors, `${p.name} had uncaught exceptions`).toEqual([]);
  }
}

/** Opens the edit dialog of `username` in `page`; returns the dialog locator. */
async function openEdit(page: Page, username: string) {
  await page.getByRole('button', { name: `Edit ${username}`, exact: true }).click();
  const dialog = page.getByRole('dialog', { name: `Edit ${username}`, exact: true });
  await dialog.waitFor();
  return dialog;
}

/**
 * Edits a user through the panel's edit dialog and waits for the PATCH response and the dialog
 * to close. Returns the response, when it arrived and when Save was clicked.
 */
async function editViaDialog(page: Page, user: User, changes: { displayName?: string; role?: 'admin' | 'viewer' }) {
  const dialog = await openEdit(page, user.username);
  if (changes.displayName !== undefined) await dialog.getByLabel('Display name', { exact: true }).fill(changes.displayName);
  if (changes.role !== undefined) await dialog.getByLabel('Role', { exact: true }).selectOption(changes.role);
  const responseP = page.waitForResponse(isApi('PATCH', `/api/users/${user.id}`));
  const clickAt = Date.now();
  await dialog.getByRole('button', { name: 'Save', exact: true }).click();
  const response = await responseP;
  const doneAt = Date.now();
  expect(response.status(), `PATCH /api/users/${user.id}: ${await response.text()}`).toBe(200);
  await dialog.waitFor({ state: 'hidden' });
  return { response, doneAt, clickAt };
}

// ---------------------------------------------------------------------------------------------
// Setup / teardown
// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  ensureOutDir();
  server = new Server({ name: 'panel' });
  await server.start();
  await checkPanelServed(server.url);
  adminApi = server.api();
  await adminApi.login(ADMIN_USERNAME, ADMIN_PASSWORD);
  await adminApi.createUser({
    username: SECOND_ADMIN.username,
    email: SECOND_ADMIN.email,
    password: SECOND_ADMIN.password,
    display_name: 'Second Admin',
    role: 'admin',
  });
  browser = await launchBrowser();
  A = await openPanel(browser, server.url, 'A');
  B = await openPanel(browser, server.url, 'B');
  await loginViaForm(A, ADMIN_USERNAME, ADMIN_PASSWORD);
  await loginViaForm(B, SECOND_ADMIN.username, SECOND_ADMIN.password);
  // Gone if the page is ever reloaded.
  await setMarker(A.page, 'panel-A');
  await setMarker(B.page, 'panel-B');
});

afterAll(async () => {
  await closeQuietly(...extraPanels.map((p) => p.context), A?.context, B?.context, browser);
  await server?.dispose();
});

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('admin panel', () => {
  test('1. login: wrong password → "Invalid username or password"; repeated failures → "Too many attempts"', async () => {
    const L = await openPanel(browser, server.url, 'login');
    extraPanels.push(L);
    const page = L.page;
    // Signed out, a panel route leads to the login page.
    await page.goto('/users');
    await page.waitForURL('**/login');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();

    await page.getByRole('textbox', { name: 'Username' }).fill(ADMIN_USERNAME);
    await page.getByLabel('Password', { exact: true }).fill('definitely-not-the-password');
    const wrongP = page.waitForResponse(isApi('POST', '/api/auth/login'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect((await wrongP).status()).toBe(401);
    const alert = page.getByRole('alert').filter({ hasText: 'Invalid username or password' });
    await alert.waitFor({ timeout: 5000 });
    expect((await alert.textContent())?.trim()).toBe('Invalid username or password');
    expect(new URL(page.url()).pathname).toBe('/login');
    await expect.poll(() => page.getByRole('heading', { name: 'Users' }).count(), { timeout: 1000 }).toBe(0);

    // Rate limit: fail for one username until the API answers 429, then the form shows it.
    const victim = 'e2e-rate-limited';
    let limited = false;
    for (let i = 0; i < 10 && !limited; i++) {
      const r = await adminApi.request('POST', '/api/auth/login', { token: null, body: { username: victim, password: 'wrong-password' } });
      expect([401, 429]).toContain(r.status);
      limited = r.status === 429;
    }
    expect(limited, 'the API never rate-limited repeated failures').toBe(true);
    await page.getByRole('textbox', { name: 'Username' }).fill(victim);
    await page.getByLabel('Password', { exact: true }).fill('wrong-password');
    const limitedP = page.waitForResponse(isApi('POST', '/api/auth/login'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    const resp = await limitedP;
    expect(resp.status()).toBe(429);
    const retryAfter = resp.headers()['retry-after'];
    expect(retryAfter).toMatch(/^\d+$/);
    const tooMany = page.getByRole('alert').filter({ hasText: 'Too many attempts' });
    await tooMany.waitFor({ timeout: 5000 });
    expect(await tooMany.textContent()).toContain(retryAfter);
  });

  test('2. users: create, edit and delete in A appear in B live within 2 s, without reload', async () => {
    const pa = A.page;
    const pb = B.page;
    await expectColumns(pb, 'Users', ['', 'Username', 'Email', 'Display name', 'Role', 'Status', 'Last login', 'Actions']);
    const toEdit = await adminApi.createUser({ username: 'e2e-edit-me', display_name: 'Before Edit' });
    const toDelete = await adminApi.createUser({ username: 'e2e-delete-me', display_name: 'Doomed' });
    for (const p of [pa, pb]) {
      await waitForCell(p, { table: 'Users', rowSelector: userRow(toEdit.id), column: 'Display name', text: 'Before Edit' }, OBSERVE_MS);
      await waitForCell(p, { table: 'Users', rowSelector: userRow(toDelete.id), column: 'Username', text: 'e2e-delete-me' }, OBSERVE_MS);
    }

    // --- create (New user dialog) ---
    await pa.getByRole('button', { name: 'New user', exact: true }).click();
    const dialog = pa.getByRole('dialog', { name: 'New user', exact: true });
    await dialog.waitFor();
    await dialog.getByLabel('Username', { exact: true }).fill('e2e-new-user');
    await dialog.getByLabel('Email', { exact: true }).fill('e2e-new-user@example.test');
    await dialog.getByLabel('Display name', { exact: true }).fill('Created In A');
    await dialog.getByLabel('Password', { exact: true }).fill('e2e-password-123');
    await dialog.getByLabel('Role', { exact: true }).selectOption('viewer');
    const createP = pa.waitForResponse(isApi('POST', '/api/users'));
    const createClick = Date.now();
    await dialog.getByRole('button', { name: 'Create', exact: true }).click();
    const createResp = await createP;
    const created = Date.now();
    expect(createResp.status(), await createResp.text()).toBe(201);
    const newUser = (await createResp.json()) as User;
    const seenCreate = await waitForCell(
      pb,
      { table: 'Users', rowSelector: userRow(newUser.id), column: 'Username', text: 'e2e-new-user' },
      OBSERVE_MS,
    );
    const createMs = recordLatency('user_created', 'user created in A (New user dialog) → row in B', seenCreate, created, createClick);
    expect(createMs).toBeLessThanOrEqual(LIVE_BUDGET_MS);
    await dialog.waitFor({ state: 'hidden' });
    await waitForCell(pb, { table: 'Users', rowSelector: userRow(newUser.id), column: 'Display name', text: 'Created In A' }, 1000);
    await waitForCell(pb, { table: 'Users', rowSelector: userRow(newUser.id), column: 'Role', text: 'viewer' }, 1000);

    // --- edit (display name and role) ---
    const edit = await editViaDialog(pa, toEdit, { displayName: 'Edited In A', role: 'admin' });
    expect(edit.response.request().headers()['if-match'], 'the edit dialog must send If-Match').toBe(`"${toEdit.version}"`);
    const seenEdit = await waitForCell(
      pb,
      { table: 'Users', rowSelector: userRow(toEdit.id), column: 'Display name', text: 'Edited In A' },
      OBSERVE_MS,
    );
    const editMs = recordLatency('user_updated', 'display name + role edited in A → row in B', seenEdit, edit.doneAt, edit.clickAt);
    expect(editMs).toBeLessThanOrEqual(LIVE_BUDGET_MS);
    await waitForCell(pb, { table: 'Users', rowSelector: userRow(toEdit.id), column: 'Role', text: 'admin' }, 1000);
    // The row changed by someone else is highlighted with who did it.
    await pb.waitForFunction(
      (sel) => {
        const row = document.querySelector(sel);
        return !!row && row.classList.contains('highlight') && `${row.getAttribute('title') ?? ''} ${row.textContent ?? ''}`.includes('updated by admin');
      },
      userRow(toEdit.id),
      { timeout: 1500, polling: 10 },
    );

    // --- delete (confirm dialog) ---
    await pa.getByRole('button', { name: 'Delete e2e-delete-me', exact: true }).click();
    const confirm = pa.getByRole('dialog', { name: 'Delete e2e-delete-me?', exact: true });
    await confirm.waitFor();
    const deleteP = pa.waitForResponse(isApi('DELETE', `/api/users/${toDelete.id}`));
    const deleteClick = Date.now();
    await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
    const deleteResp = await deleteP;
    const deleted = Date.now();
    expect(deleteResp.status()).toBe(204);
    const seenDelete = await waitForCell(pb, { table: 'Users', rowSelector: userRow(toDelete.id), present: false }, OBSERVE_MS);
    const deleteMs = recordLatency('user_deleted', 'user deleted in A (confirm dialog) → row gone in B', seenDelete, deleted, deleteClick);
    expect(deleteMs).toBeLessThanOrEqual(LIVE_BUDGET_MS);
    await confirm.waitFor({ state: 'hidden' });
    await waitForCell(pa, { table: 'Users', rowSelector: userRow(toDelete.id), present: false }, 1000);
    expect((await adminApi.request('GET', `/api/users/${toDelete.id}`)).status).toBe(404);

    await expectNoReloadNoErrors();
  });

  test('3. stale edit: conflict notice with the other admin\'s value; discard keeps theirs, apply anyway writes mine', async () => {
    const pa = A.page;
    const pb = B.page;
    const x = await adminApi.createUser({ username: 'e2e-stale', display_name: 'Original' });
    for (const p of [pa, pb]) {
      await waitForCell(p, { table: 'Users', rowSelector: userRow(x.id), column: 'Display name', text: 'Original' }, OBSERVE_MS);
    }

    // Round 1: B is editing, A saves first → B's open dialog shows the conflict live; B discards.
    const bDialog = await openEdit(pb, 'e2e-stale');
    await bDialog.getByLabel('Display name', { exact: true }).fill('Draft From B');
    await editViaDialog(pa, x, { displayName: 'From A 1' });
    const notice1 = bDialog.getByRole('alert').filter({ hasText: 'changed by someone else' });
    await notice1.waitFor({ timeout: 5000 });
    expect(await notice1.textContent()).toContain('From A 1');
    // B's draft is not silently replaced.
    expect(await bDialog.getByLabel('Display name', { exact: true }).inputValue()).toBe('Draft From B');
    await notice1.getByRole('button', { name: 'Discard my changes', exact: true }).click();
    await bDialog.waitFor({ state: 'hidden' });
    expect((await adminApi.getUser(x.id)).display_name).toBe('From A 1');
    await waitForCell(pb, { table: 'Users', rowSelector: userRow(x.id), column: 'Display name', text: 'From A 1' }, 2000);

    // Round 2: a stale save. Panel C (the second admin again) gets its live events held back,
    // so it cannot know about A's change: its PATCH carries the old If-Match → 412 → conflict
    // notice from the 412 body → "Apply my changes anyway" writes C's value.
    let hold = false;
    const held: Array<string | Buffer> = [];
    let route: WebSocketRoute | null = null;
    const C = await openPanel(browser, server.url, 'C', {
      setup: (ctx) =>
        ctx.routeWebSocket(/\/api\/ws$/, (ws) => {
          route = ws;
          const upstream = ws.connectToServer();
          upstream.onMessage((m) => {
            if (hold) held.push(m);
            else ws.send(m);
          });
        }),
    });
    extraPanels.push(C);
    await loginViaForm(C, SECOND_ADMIN.username, SECOND_ADMIN.password);
    const pc = C.page;
    await waitForCell(pc, { table: 'Users', rowSelector: userRow(x.id), column: 'Display name', text: 'From A 1' }, OBSERVE_MS);
    hold = true;
    const cDialog = await openEdit(pc, 'e2e-stale');
    await cDialog.getByLabel('Display name', { exact: true }).fill('From B 2');
    const seenByC = (await adminApi.getUser(x.id)).version;
    await editViaDialog(pa, { ...x, version: seenByC }, { displayName: 'From A 2' });
    await waitForCell(pb, { table: 'Users', rowSelector: userRow(x.id), column: 'Display name', text: 'From A 2' }, 2000);
    expect(await cDialog.getByRole('alert').count(), 'C cannot know about the change yet').toBe(0);
    const staleP = pc.waitForResponse(isApi('PATCH', `/api/users/${x.id}`));
    await cDialog.getByRole('button', { name: 'Save', exact: true }).click();
    const stale = await staleP;
    expect(stale.status(), await stale.text()).toBe(412);
    expect(stale.request().headers()['if-match']).toBe(`"${seenByC}"`);
    const notice2 = cDialog.getByRole('alert').filter({ hasText: 'changed by someone else' });
    await notice2.waitFor({ timeout: 5000 });
    expect(await notice2.textContent()).toContain('From A 2');
    const applyP = pc.waitForResponse(isApi('PATCH', `/api/users/${x.id}`));
    await notice2.getByRole('button', { name: 'Apply my changes anyway', exact: true }).click();
    const applied = await applyP;
    expect(applied.status(), await applied.text()).toBe(200);
    expect(applied.request().headers()['if-match']).toBe(`"${seenByC + 1}"`);
    await cDialog.waitFor({ state: 'hidden' });
    expect((await adminApi.getUser(x.id)).display_name).toBe('From B 2');
    for (const p of [pa, pb]) {
      await waitForCell(p, { table: 'Users', rowSelector: userRow(x.id), column: 'Display name', text: 'From B 2' }, 2000);
    }
    hold = false;
    for (const m of held.splice(0)) (route as WebSocketRoute | null)?.send(m);
    expect(C.pageErrors).toEqual([]);
    await closeQuietly(C.context);

    // Round 3: B is editing, A's change arrives live → conflict; B applies anyway.
    const bDialog3 = await openEdit(pb, 'e2e-stale');
    await bDialog3.getByLabel('Display name', { exact: true }).fill('From B 3');
    await adminApi.updateUser(x.id, { display_name: 'From A 3' });
    const notice3 = bDialog3.getByRole('alert').filter({ hasText: 'changed by someone else' });
    await notice3.waitFor({ timeout: 5000 });
    expect(await notice3.textContent()).toContain('From A 3');
    const apply3P = pb.waitForResponse(isApi('PATCH', `/api/users/${x.id}`));
    await notice3.getByRole('button', { name: 'Apply my changes anyway', exact: true }).click();
    expect((await apply3P).status()).toBe(200);
    await bDialog3.waitFor({ state: 'hidden' });
    expect((await adminApi.getUser(x.id)).display_name).toBe('From B 3');
    await waitForCell(pa, { table: 'Users', rowSelector: userRow(x.id), column: 'Display name', text: 'From B 3' }, 2000);

    await expectNoReloadNoErrors();
  });

  test('4. files: an upload in A appears in B; downloads raise B\'s download count live', async () => {
    const pa = A.page;
    const pb = B.page;
    await navTo(pa, 'Files');
    await navTo(pb, 'Files');
    await pb.getByRole('table', { name: 'Files' }).waitFor();
    // The first column holds the row-selection checkboxes.
    await expectColumns(pb, 'Files', ['', 'Name', 'Size', 'Type', 'Downloads', 'Uploaded', 'Expires', 'Actions']);

    const name = 'e2e-upload.bin';
    const content = randomBytes(3 * 1024 * 1024 + 12345);
    const sha256 = createHash('sha256').update(content).digest('hex');
    const input = pa.getByLabel('Upload files', { exact: true });
    expect(await input.getAttribute('type')).toBe('file');
    expect(await input.getAttribute('multiple')).not.toBeNull();
    // The upload in flight is listed with a progress bar named after the file.
    await watchFor(pa, 'upload-progress', `ul[aria-label="Uploads"] li progress[aria-label="${name}"]`);
    // The panel uploads through the resumable-upload protocol; the last PATCH names the file.
    const uploadP = pa.waitForResponse(isUploadFinished, { timeout: 60_000 });
    const uploadClick = Date.now();
    await input.setInputFiles({ name, mimeType: 'application/octet-stream', buffer: content });
    const uploadResp = await uploadP;
    const uploaded = Date.now();
    expect(uploadResp.status(), await uploadResp.text()).toBe(204);
    const file = await adminApi.getFile(uploadResp.headers()['switchboard-file-id']!);
    expect(file.name).toBe(name);
    expect(file.size).toBe(content.length);
    expect(file.sha256).toBe(sha256);
    const seenUpload = await waitForCell(pb, { table: 'Files', rowSelector: fileRow(file.id), column: 'Name', text: name }, OBSERVE_MS);
    const uploadMs = recordLatency('file_created', 'file uploaded in A (Upload files input) → row in B', seenUpload, uploaded, uploadClick);
    expect(uploadMs).toBeLessThanOrEqual(LIVE_BUDGET_MS);
    await expect.poll(() => seenAt(pa, 'upload-progress'), { timeout: 2000 }).not.toBeNull();
    const countSel = `table[aria-label="Files"] ${fileRow(file.id)} [data-testid="download-count"]`;
    await waitForText(pb, countSel, '0', 1000);
    await waitForText(pa, countSel, '0', OBSERVE_MS);

    // Download through the REST API with a bearer token; B lists the transfer.
    await watchFor(pb, 'transfer', 'ul[aria-label="Transfers"] li', name);
    const bytes = await adminApi.download(file.id);
    const downloaded = Date.now();
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(sha256);
    const seenApi = await waitForText(pb, countSel, '1', OBSERVE_MS);
    const apiMs = recordLatency('download_count_api', 'REST download completed → download-count 1 in B', seenApi, downloaded);
    expect(apiMs).toBeLessThanOrEqual(LIVE_BUDGET_MS);
    await expect.poll(() => seenAt(pb, 'transfer'), { timeout: 2000 }).not.toBeNull();

    // Download by clicking "Download <name>" in A.
    const downloadP = pa.waitForEvent('download', { timeout: 60_000 });
    const clickAt = Date.now();
    await pa.getByRole('link', { name: `Download ${name}`, exact: true }).click();
    const download = await downloadP;
    const clicked = Date.now();
    expect(download.suggestedFilename()).toBe(name);
    const seenClick = await waitForText(pb, countSel, '2', OBSERVE_MS);
    const clickMs = recordLatency('download_count_click', '"Download <name>" clicked in A, file received → download-count 2 in B', seenClick, clicked, clickAt);
    expect(clickMs).toBeLessThanOrEqual(LIVE_BUDGET_MS);
    const saved = await download.path();
    expect(statSync(saved).size).toBe(content.length);
    await waitForText(pa, countSel, '2', 2000);
    expect((await adminApi.getFile(file.id)).download_count).toBe(2);

    await expectNoReloadNoErrors();
  });

  test('4b. resumable upload: the server is killed mid-way, comes back, and the upload resumes to the right sha256 while B watches', async () => {
    const pa = A.page;
    const pb = B.page;
    await navTo(pa, 'Files');
    await navTo(pb, 'Files');
    const name = 'e2e-resumable.bin';
    // Three 16 MiB requests and a short one; slowed down so that the kill lands mid-way.
    const content = randomBytes(40 * 1024 * 1024 + 777);
    const sha256 = sha256Of(content);
    const cdp = await A.context.newCDPSession(pa);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 6 * 1024 * 1024 });
    const patches: { offset: number; at: number }[] = [];
    pa.on('request', (r) => {
      if (r.method() === 'PATCH' && new URL(r.url()).pathname.startsWith('/api/uploads/')) {
        patches.push({ offset: Number(r.headers()['upload-offset']), at: Date.now() });
      }
    });
    const finishedP = pa.waitForResponse(isUploadFinished, { timeout: 180_000 });
    await pa.getByLabel('Upload files', { exact: true }).setInputFiles({ name, mimeType: 'application/octet-stream', buffer: content });

    // B watches A's upload in its Transfers list until more than the first request's bytes are in.
    const bProgress = pb.locator(`ul[aria-label="Transfers"] progress[aria-label="${name}"]`);
    await expect.poll(async () => Number((await bProgress.getAttribute('value', { timeout: 1000 }).catch(() => null)) ?? 0), { timeout: 60_000, interval: 50 }).toBeGreaterThan(0.45);

    await server.kill();
    const killedAt = Date.now();
    await waitForConnection(pb, 'reconnecting', 10_000);
    await pa.locator('ul[aria-label="Uploads"] li', { hasText: 'Reconnecting' }).waitFor({ timeout: 30_000 });
    await server.start();
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

    const finished = await finishedP;
    expect(finished.status()).toBe(204);
    const file = await adminApi.getFile(finished.headers()['switchboard-file-id']!);
    expect(file.name).toBe(name);
    expect(file.size).toBe(content.length);
    expect(file.sha256).toBe(sha256);
    // It went on from what the server had kept, not from zero.
    const after = patches.filter((p) => p.at > killedAt);
    expect(after.length, 'no PATCH after the restart').toBeGreaterThan(0);
    expect(after[0]!.offset, 'the upload restarted from zero').toBeGreaterThanOrEqual(16 * 1024 * 1024);
    // B sees the finished file without a reload; its copy is byte-identical.
    await waitForCell(pb, { table: 'Files', rowSelector: fileRow(file.id), column: 'Name', text: name }, OBSERVE_MS);
    expect(sha256Of(await adminApi.download(file.id))).toBe(sha256);
    await waitForConnection(pa, 'live', 45_000);
    await waitForConnection(pb, 'live', 45_000);
    await cdp.detach();
  });

  test('4d. resumable upload: a tab closed mid-upload resumes when the same file is dropped again in a new tab', async () => {
    const C = await openPanel(browser, server.url, 'C');
    extraPanels.push(C);
    await loginViaForm(C, ADMIN_USERNAME, ADMIN_PASSWORD);
    const name = 'e2e-closed-tab.bin';
    // From a file on disk, so that both drops carry the same modification time (part of the
    // fingerprint under which the panel remembers the upload's URL).
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-e2e-tab-'));
    const path = join(dir, name);
    const content = randomBytes(40 * 1024 * 1024 + 99);
    writeFileSync(path, content);
    try {
      const first = C.page;
      await navTo(first, 'Files');
      const cdp = await C.context.newCDPSession(first);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 6 * 1024 * 1024 });
      await first.getByLabel('Upload files', { exact: true }).setInputFiles(path);
      // Wait until the server holds at least one whole request's bytes, then close the tab.
      const kept = await pollUntil('a partial upload on the server', 60_000, async () => {
        const r = await adminApi.expect(200, 'GET', '/api/uploads');
        const u = (r.body.items as { name: string; offset: number }[]).find((i) => i.name === name);
        return u && u.offset >= 16 * 1024 * 1024 ? u.offset : null;
      });
      await first.close();

      const second = await C.context.newPage();
      const offsets: number[] = [];
      second.on('request', (r) => {
        if (r.method() === 'PATCH' && new URL(r.url()).pathname.startsWith('/api/uploads/')) offsets.push(Number(r.headers()['upload-offset']));
      });
      await second.goto('/files');
      await second.getByRole('heading', { name: 'Files', level: 1 }).waitFor();
      const finishedP = second.waitForResponse(isUploadFinished, { timeout: 120_000 });
      await second.getByLabel('Upload files', { exact: true }).setInputFiles(path);
      const finished = await finishedP;
      expect(offsets[0], 'the new tab started the upload over').toBeGreaterThanOrEqual(kept);
      const file = await adminApi.getFile(finished.headers()['switchboard-file-id']!);
      expect(file.size).toBe(content.length);
      expect(file.sha256).toBe(sha256Of(content));
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('4c. ZIP: three files selected in the list download as one archive that unpacks to the same bytes', async () => {
    const pa = A.page;
    const originals = new Map<string, Buffer>([
      ['zip-one.txt', Buffer.from('one\n')],
      ['zip-two.bin', randomBytes(256 * 1024)],
      ['zip-三.txt', Buffer.from('three — 三\n')],
    ]);
    for (const [name, content] of originals) await adminApi.uploadFile(name, content);
    await navTo(pa, 'Files');
    for (const name of originals.keys()) {
      const box = pa.getByRole('checkbox', { name: `Select ${name}`, exact: true });
      await box.check();
    }
    await pa.getByRole('region', { name: 'Selection' }).getByText('3 files selected').waitFor();
    const downloadP = pa.waitForEvent('download', { timeout: 60_000 });
    await pa.getByRole('button', { name: 'Download as ZIP', exact: true }).click();
    const download = await downloadP;
    expect(download.suggestedFilename()).toMatch(/\.zip$/);
    const zipPath = join(ensureOutDir(), 'e2e-bundle.zip');
    await download.saveAs(zipPath);
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-e2e-zip-'));
    try {
      execFileSync('unzip', ['-q', '-o', zipPath, '-d', dir]);
      expect(readdirSync(dir).sort()).toEqual([...originals.keys()].sort());
      for (const [name, content] of originals) expect(sha256Of(readFileSync(join(dir, name))), name).toBe(sha256Of(content));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('5. restart: both panels show "Reconnecting…" then "Live", resume and catch up without reload', async () => {
    const pa = A.page;
    const pb = B.page;
    await navTo(pa, 'Users');
    await navTo(pb, 'Users');
    for (const p of [A, B]) await waitForConnection(p.page, 'live', 5000);

    // The last durable seq each panel has seen on its current socket.
    const lastSeq = (p: Panel) => {
      let seq = -1;
      for (const s of p.sockets) for (const f of s.received) if (typeof f.data?.seq === 'number') seq = Math.max(seq, f.data.seq);
      return seq;
    };
    const before = new Map<Panel, { sockets: number; seq: number }>();
    for (const p of [A, B]) {
      const seq = lastSeq(p);
      expect(seq, `${p.name} has seen no durable seq`).toBeGreaterThanOrEqual(0);
      before.set(p, { sockets: p.sockets.length, seq });
    }

    const exitCode = await server.stop();
    expect(exitCode, 'graceful shutdown on SIGTERM exits 0').toBe(0);
    await Promise.all([waitForConnection(pa, 'reconnecting', 10_000), waitForConnection(pb, 'reconnecting', 10_000)]);

    await server.start();
    // A change right after the restart, probably before the panels are back: catch-up by resume.
    const late = await adminApi.createUser({ username: 'e2e-after-restart', display_name: 'After Restart' });
    await Promise.all([waitForConnection(pa, 'live', 45_000), waitForConnection(pb, 'live', 45_000)]);
    for (const p of [pa, pb]) {
      await waitForCell(p, { table: 'Users', rowSelector: userRow(late.id), column: 'Display name', text: 'After Restart' }, OBSERVE_MS);
    }

    for (const p of [A, B]) {
      const b = before.get(p)!;
      const fresh = p.sockets.slice(b.sockets);
      const resumed = fresh.find((s) => s.sent.some((f) => f.data?.type === 'resume'));
      expect(resumed, `${p.name} never sent {"type":"resume"} on a new socket`).toBeDefined();
      const resume = resumed!.sent.find((f) => f.data?.type === 'resume')!;
      expect(resume.data.after, `${p.name} resumed after the wrong seq`).toBe(b.seq);
      const got = resumed!.received.find((f) => f.data?.type === 'user.created' && f.data?.data?.id === late.id);
      expect(got, `${p.name} did not receive user.created for the user created after the restart`).toBeDefined();
      expect(got!.data.seq).toBeGreaterThan(b.seq);
    }
    await expectNoReloadNoErrors();
  });

  test('6. screenshots: login, users, files, activity (light) and users (dark)', async () => {
    const out = ensureOutDir();
    const shots: string[] = [];
    const shoot = async (page: Page, file: string) => {
      const path = join(out, file);
      await page.screenshot({ path, fullPage: true, animations: 'disabled' });
      expect(statSync(path).size).toBeGreaterThan(5000);
      shots.push(path);
    };
    /** Luminance (0..1) of the first non-transparent background from <body> up. */
    const backgroundLuminance = (page: Page) =>
      page.evaluate(() => {
        for (let el: Element | null = document.body; el; el = el.parentElement) {
          const m = getComputedStyle(el).backgroundColor.match(/[\d.]+/g);
          if (!m) continue;
          const [r, g, b, a] = m.map(Number) as [number, number, number, number?];
          if (a === 0) continue;
          return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
        }
        return 1;
      });

    // By default the theme follows prefers-color-scheme.
    const D = await openPanel(browser, server.url, 'prefers-dark', { colorScheme: 'dark' });
    extraPanels.push(D);
    await D.page.goto('/login');
    await D.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await backgroundLuminance(D.page), 'prefers-color-scheme: dark is not respected').toBeLessThan(0.5);
    await closeQuietly(D.context);

    const L = await openPanel(browser, server.url, 'screenshot-login');
    extraPanels.push(L);
    await L.page.goto('/login');
    await L.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await backgroundLuminance(L.page)).toBeGreaterThan(0.5);
    await shoot(L.page, 'login-light.png');

    const pa = A.page;
    expect(await backgroundLuminance(pa)).toBeGreaterThan(0.5);
    await navTo(pa, 'Users');
    await pa.locator('table[aria-label="Users"] tbody tr[data-user-id]').first().waitFor();
    await waitForConnection(pa, 'live', 5000);
    // Steady state: the "updated by" highlight of the last change fades (~2 s).
    await pa.locator('table[aria-label="Users"] tbody tr.highlight').first().waitFor({ state: 'detached', timeout: 6000 });
    await pa.getByRole('region', { name: 'Online admins' }).getByText(SECOND_ADMIN.username, { exact: true }).waitFor();
    await shoot(pa, 'users-light.png');

    await navTo(pa, 'Files');
    await pa.locator('table[aria-label="Files"] tbody tr[data-file-id]').first().waitFor();
    await shoot(pa, 'files-light.png');

    await navTo(pa, 'Activity');
    const feed = pa.getByRole('list', { name: 'Activity feed' });
    // Newest first: the last durable event is the user created after the restart.
    await feed.locator('li').first().filter({ hasText: 'e2e-after-restart' }).waitFor({ timeout: 10_000 });
    const first = feed.locator('li').first();
    expect(await first.textContent()).toContain(ADMIN_USERNAME);
    expect(await first.locator('time').count()).toBe(1);
    await shoot(pa, 'activity-light.png');

    await navTo(pa, 'Users');
    await pa.locator('table[aria-label="Users"] tbody tr[data-user-id]').first().waitFor();
    await pa.getByRole('button', { name: 'Toggle theme' }).click();
    await expect.poll(() => backgroundLuminance(pa), { timeout: 5000 }).toBeLessThan(0.5);
    expect(await pa.evaluate(() => Object.values(localStorage).includes('dark')), 'theme choice kept in localStorage').toBe(true);
    await shoot(pa, 'users-dark.png');
    await pa.getByRole('button', { name: 'Toggle theme' }).click();
    await expect.poll(() => backgroundLuminance(pa), { timeout: 5000 }).toBeGreaterThan(0.5);

    for (const s of shots) console.log(`[screenshot] ${s}`);
    await expectNoReloadNoErrors();
  });
});
