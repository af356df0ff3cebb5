// Accounts for teams, end to end: TOTP enrolment and two-step sign-in, invitations seen live by
// another admin, ending someone's session from their user page, reset links, and the enrolment
// an admin must go through when the server requires a second factor.
//
// Real server binary, Debian's Chromium. Nothing sleeps to synchronise with the server or the
// page; the only waits on the clock are for the next TOTP time step (a code is accepted once per
// 30-second step, so the sign-in code must come from a later step than the enrolment's).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';
import type { Browser, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  type Api,
  checkPanelServed,
  closeQuietly,
  describePage,
  ensureOutDir,
  launchBrowser,
  loginViaForm,
  navTo,
  openPanel,
  type Panel,
  SECOND_ADMIN,
  Server,
  waitForCell,
  waitForConnection,
} from './harness';

/** docs/API.md §7: every change appears in every open panel within 2 s. */
const LIVE_BUDGET_MS = 2000;
const OBSERVE_MS = 10_000;
const STEP_MS = 30_000;

let server: Server;
let browser: Browser;
let adminApi: Api;
const panels: Panel[] = [];

const pathOf = (r: Response) => new URL(r.url()).pathname;
const isApi = (method: string, path: string | RegExp) => (r: Response) =>
  r.request().method() === method && (typeof path === 'string' ? pathOf(r) === path : path.test(pathOf(r)));
const userRow = (id: string) => `tr[data-user-id="${id}"]`;

async function panel(name: string, opts: Parameters<typeof openPanel>[3] = {}): Promise<Panel> {
  const p = await openPanel(browser, server.url, name, opts);
  panels.push(p);
  return p;
}

// ---- TOTP ----

function totpFor(secret: string): TOTP {
  return new TOTP({ secret: Secret.fromBase32(secret.replace(/\s+/g, '')), algorithm: 'SHA1', digits: 6, period: 30 });
}

const stepOf = (ms: number) => Math.floor(ms / STEP_MS);

/** A code for the current step, after waiting out a step about to end (so it is still good on arrival). */
async function freshCode(totp: TOTP, after = -1): Promise<{ code: string; step: number }> {
  for (;;) {
    const now = Date.now();
    const step = stepOf(now);
    const left = STEP_MS - (now % STEP_MS);
    if (step > after && left > 3000) return { code: totp.generate({ timestamp: now }), step };
    // Waiting for a clock boundary (the next TOTP step), not for any server or page state.
    await new Promise((r) => setTimeout(r, Math.min(left + 50, 1000)));
  }
}

/** Signs in through the form with a second factor; ends on the users page, live. */
async function loginWithCode(p: Panel, username: string, password: string, code: () => Promise<string>): Promise<void> {
  const page = p.page;
  await page.goto('/login');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  const loginP = page.waitForResponse(isApi('POST', '/api/auth/login'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  const login = await loginP;
  expect(login.status()).toBe(200);
  expect((await login.json()).mfa_required, 'the password step must ask for a code').toBe(true);
  await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
  await page.getByLabel('Authentication code', { exact: true }).fill(await code());
  const mfaP = page.waitForResponse(isApi('POST', '/api/auth/mfa'));
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  const mfa = await mfaP;
  expect(mfa.status(), await mfa.text()).toBe(200);
  await page.waitForURL('**/dashboard');
  await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
  await waitForConnection(page, 'live', 15_000);
  await navTo(page, 'Users');
}

async function logOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.waitForURL('**/login');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
}

async function openAccount(page: Page): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account', exact: true }).click();
  await page.waitForURL('**/account');
  await page.getByRole('heading', { name: 'Account', level: 1 }).waitFor();
}

/** Reads the setup key the page shows, checks the QR code rendered, confirms with a code. Returns the secret and the step used. */
async function enrolTotp(page: Page, scope: ReturnType<Page['getByRole']>): Promise<{ totp: TOTP; step: number; codes: string[] }> {
  const secretEl = scope.getByTestId('totp-secret');
  await secretEl.waitFor();
  const secret = ((await secretEl.textContent()) ?? '').replace(/\s+/g, '');
  expect(secret).toMatch(/^[A-Z2-7]+=*$/);
  expect(secret.length).toBeGreaterThanOrEqual(16);
  // The QR code is an image that actually rendered (the CSP allows data: images).
  const qr = scope.getByTestId('totp-qr');
  await expect.poll(() => qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0), { timeout: 5000 }).toBe(true);
  expect(await qr.getAttribute('src')).toMatch(/^data:image\/svg\+xml/);

  const totp = totpFor(secret);
  const { code, step } = await freshCode(totp);
  await scope.getByLabel('Authentication code', { exact: true }).fill(code);
  const confirmP = page.waitForResponse(isApi('POST', '/api/auth/mfa/totp/confirm'));
  await scope.getByRole('button', { name: 'Confirm', exact: true }).click();
  const confirm = await confirmP;
  expect(confirm.status(), await confirm.text()).toBe(200);
  const list = scope.getByTestId('recovery-codes');
  await list.waitFor();
  const codes = (await list.locator('li').allTextContents()).map((c) => c.trim());
  expect(codes).toHaveLength(10);
  for (const c of codes) expect(c).toMatch(/^[a-z0-9]{5}-[a-z0-9]{5}$/);
  return { totp, step, codes };
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  ensureOutDir();
  server = new Server({ name: 'accounts' });
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
});

afterAll(async () => {
  await closeQuietly(...panels.map((p) => p.context), browser);
  await server?.dispose();
});

describe('accounts', () => {
  test('a. TOTP: enrol from the secret the account page shows, sign out, sign in with password + a fresh code (and with a recovery code)', async () => {
    const username = 'e2e-totp';
    const password = 'e2e-totp-password-1';
    await adminApi.createUser({ username, password, role: 'viewer' });
    const T = await panel('totp');
    await loginViaForm(T, username, password);
    const page = T.page;
    await openAccount(page);
    const section = page.getByRole('region', { name: 'Second factor' });
    await section.getByTestId('mfa-state').filter({ hasText: 'Off' }).waitFor();

    await section.getByRole('button', { name: 'Set up second factor', exact: true }).click();
    const { totp, step, codes } = await enrolTotp(page, section);
    await section.getByRole('button', { name: 'Done', exact: true }).click();
    await section.getByTestId('mfa-state').filter({ hasText: 'On' }).waitFor();
    await section.getByText('10 recovery codes left').waitFor();

    // A wrong code is refused with a message, the password step is not repeated.
    await logOut(page);
    await loginWithCode(T, username, password, async () => {
      const wrongP = page.waitForResponse(isApi('POST', '/api/auth/mfa'));
      const current = totp.generate();
      await page.getByLabel('Authentication code', { exact: true }).fill(current === '000000' ? '111111' : '000000');
      await page.getByRole('button', { name: 'Verify', exact: true }).click();
      expect((await wrongP).status()).toBe(401);
      await page.getByRole('alert').filter({ hasText: 'Invalid code' }).waitFor();
      // A code from a later step than the one that confirmed the enrolment.
      return (await freshCode(totp, step)).code;
    });
    expect(T.pageErrors).toEqual([]);

    // A recovery code works once in place of the app's code.
    await logOut(page);
    await loginWithCode(T, username, password, async () => codes[0]!);
    await openAccount(page);
    await page.getByRole('region', { name: 'Second factor' }).getByText('9 recovery codes left').waitFor();
    // Sessions: this one is marked; the earlier sign-ins of this test were logged out.
    const mine = page.getByRole('table', { name: 'Sessions', exact: true }).locator('tbody tr[data-session-id]');
    await mine.first().waitFor();
    expect(await mine.count()).toBe(1);
    expect(await mine.first().getAttribute('data-current')).toBe('true');
    await mine.first().getByText('This session').waitFor();
    await page.screenshot({ path: join(ensureOutDir(), 'account-light.png'), fullPage: true, animations: 'disabled' });
    expect(T.pageErrors).toEqual([]);
  });

  test('b. invitation: A invites, B sees it pending live; the invitee accepts in a third browser and is signed in; B sees it leave and the user arrive', async () => {
    const A = await panel('A');
    await A.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    const B = await panel('B');
    await loginViaForm(A, ADMIN_USERNAME, ADMIN_PASSWORD);
    await loginViaForm(B, SECOND_ADMIN.username, SECOND_ADMIN.password);
    const pa = A.page;
    const pb = B.page;
    await pb.getByRole('heading', { name: 'Pending invitations' }).waitFor();

    const email = 'e2e-invitee@example.test';
    await pa.getByRole('button', { name: 'Invite', exact: true }).click();
    const dialog = pa.getByRole('dialog', { name: 'Invite user', exact: true });
    await dialog.waitFor();
    await dialog.getByLabel('Email', { exact: true }).fill(email);
    await dialog.getByLabel('Role', { exact: true }).selectOption('viewer');
    const createP = pa.waitForResponse(isApi('POST', '/api/invitations'));
    await dialog.getByRole('button', { name: 'Create invitation', exact: true }).click();
    const created = await createP;
    const createdAt = Date.now();
    expect(created.status(), await created.text()).toBe(201);
    const invitation = (await created.json()) as { id: string; url: string };

    // B: the pending invitation appears, live.
    const row = `tr[data-invitation-id="${invitation.id}"]`;
    const seen = await waitForCell(pb, { table: 'Pending invitations', rowSelector: row, column: 'Email', text: email }, OBSERVE_MS);
    expect(seen - createdAt, 'pending invitation in B').toBeLessThanOrEqual(LIVE_BUDGET_MS);
    await waitForCell(pb, { table: 'Pending invitations', rowSelector: row, column: 'Invited by', text: ADMIN_USERNAME }, 5000);

    // A: the link is shown and copied.
    const urlText = ((await dialog.getByTestId('invitation-url').textContent()) ?? '').trim();
    expect(urlText).toBe(invitation.url);
    expect(urlText).toMatch(new RegExp(`^${server.url.replace(/[.]/g, '\\.')}/invite#token=.+`));
    await dialog.getByRole('button', { name: 'Copy link', exact: true }).click();
    await expect.poll(() => pa.evaluate(() => navigator.clipboard.readText()), { timeout: 5000 }).toBe(urlText);
    await dialog.getByRole('button', { name: 'Done', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });

    // The invitee, in a browser of their own.
    const C = await panel('invitee');
    const pc = C.page;
    await pc.goto(urlText);
    await pc.getByRole('heading', { name: 'Accept invitation' }).waitFor();
    await pc.getByTestId('invitation-email').filter({ hasText: email }).waitFor();
    expect((await pc.getByTestId('invitation-role').textContent())?.trim()).toBe('viewer');
    await pc.getByLabel('Username', { exact: true }).fill('e2e-invitee');
    await pc.getByLabel('Password', { exact: true }).fill('e2e-invitee-password');
    const acceptP = pc.waitForResponse(isApi('POST', '/api/invitations/accept'));
    await pc.getByRole('button', { name: 'Create account', exact: true }).click();
    const accept = await acceptP;
    const acceptedAt = Date.now();
    expect(accept.status(), await accept.text()).toBe(201);
    const newUser = (await accept.json()).user as { id: string; username: string; role: string };
    expect(newUser.role).toBe('viewer');
    await pc.waitForURL('**/dashboard');
    await pc.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
    await waitForConnection(pc, 'live', 15_000);
    await pc.locator('.whoami').filter({ hasText: 'e2e-invitee' }).waitFor();

    // B: the invitation leaves the pending list and the user joins the users list, live.
    const gone = await waitForCell(pb, { table: 'Pending invitations', rowSelector: row, present: false }, OBSERVE_MS);
    const arrived = await waitForCell(pb, { table: 'Users', rowSelector: userRow(newUser.id), column: 'Username', text: 'e2e-invitee' }, OBSERVE_MS);
    expect(gone - acceptedAt, 'invitation gone from B').toBeLessThanOrEqual(LIVE_BUDGET_MS);
    expect(arrived - acceptedAt, 'new user in B').toBeLessThanOrEqual(LIVE_BUDGET_MS);
    await waitForCell(pa, { table: 'Pending invitations', rowSelector: row, present: false }, OBSERVE_MS);
    // The link works once.
    expect((await adminApi.request('POST', '/api/invitations/inspect', { token: null, body: { token: urlText.split('#token=')[1] } })).status).toBe(410);
    for (const p of [A, B, C]) expect(p.pageErrors, p.name).toEqual([]);
    await closeQuietly(C.context);
  });

  test('c. an admin ends a user\'s session from the user page: that browser is back on the login page within seconds', async () => {
    const username = 'e2e-victim';
    const password = 'e2e-victim-password';
    const victim = await adminApi.createUser({ username, password, role: 'viewer' });
    const X = await panel('victim');
    await loginViaForm(X, username, password);

    const A = panels.find((p) => p.name === 'A')!;
    const pa = A.page;
    await pa.goto('/users');
    await pa.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await waitForConnection(pa, 'live', 15_000);
    await pa.getByRole('table', { name: 'Users' }).getByRole('link', { name: username, exact: true }).click();
    await pa.waitForURL(`**/users/${victim.id}`);
    await pa.getByRole('heading', { name: username, level: 1 }).waitFor();
    const profile = pa.getByTestId('user-profile');
    await profile.getByText(victim.email, { exact: true }).waitFor();
    expect((await pa.getByTestId('user-role').textContent())?.trim()).toBe('viewer');
    expect((await pa.getByTestId('user-status').textContent())?.trim()).toBe('Active');
    await pa.getByRole('region', { name: 'Second factor' }).getByTestId('mfa-state').filter({ hasText: 'Off' }).waitFor();
    // The sign-in shows in the user's activity.
    await pa.getByRole('list', { name: 'User activity' }).locator('li').filter({ hasText: `${username} signed in` }).first().waitFor();

    const sessions = pa.getByRole('table', { name: 'Sessions', exact: true });
    const rows = sessions.locator('tbody tr[data-session-id]');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(1);
    const endP = pa.waitForResponse(isApi('DELETE', /^\/api\/sessions\/[^/]+$/));
    await rows.first().getByRole('button', { name: 'End', exact: true }).click();
    const ended = await endP;
    const endedAt = Date.now();
    expect(ended.status()).toBe(204);

    try {
      await X.page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 5000 });
      await X.page.waitForURL('**/login', { timeout: 1000 });
    } catch (e) {
      throw new Error(`the ended session's browser did not return to the login page: ${String(e)}\n${await describePage(X)}`);
    }
    console.log(`[latency] session ended → login page in the user's browser: ${Date.now() - endedAt} ms`);
    expect(await X.page.evaluate(() => localStorage.getItem('switchboard.refresh_token'))).toBeNull();
    await sessions.getByText('No active sessions.').waitFor({ timeout: 5000 });

    // Signing in again shows up live on the admin's user page.
    await loginViaForm(X, username, password);
    const back = Date.now();
    await rows.first().waitFor({ timeout: OBSERVE_MS });
    expect(Date.now() - back, 'new session on the user page').toBeLessThanOrEqual(LIVE_BUDGET_MS + 500);

    // The user's own API key shows up live on the admin's page; the admin revokes it there.
    const victimApi = server.api();
    await victimApi.login(username, password);
    const key = (await victimApi.expect(201, 'POST', '/api/keys', { body: { name: 'e2e-ci-key', role: 'viewer' } })).body as { id: string; key: string };
    const keyCreated = Date.now();
    const keyRow = `tr[data-key-id="${key.id}"]`;
    const keySeen = await waitForCell(pa, { table: 'API keys', rowSelector: keyRow, column: 'Name', text: 'e2e-ci-key' }, OBSERVE_MS);
    expect(keySeen - keyCreated, 'new key on the user page').toBeLessThanOrEqual(LIVE_BUDGET_MS);
    await waitForCell(pa, { table: 'API keys', rowSelector: keyRow, column: 'Last used', text: 'Never' }, 1000);
    const revokeP = pa.waitForResponse(isApi('DELETE', `/api/keys/${key.id}`));
    await pa.getByRole('button', { name: 'Revoke key e2e-ci-key', exact: true }).click();
    expect((await revokeP).status()).toBe(204);
    await waitForCell(pa, { table: 'API keys', rowSelector: keyRow, present: false }, 5000);
    expect((await server.api(key.key).request('GET', '/api/auth/me')).status, 'a revoked key still works').toBe(401);
    // Files a user uploaded are on their page, and new ones appear live.
    const me = (await adminApi.expect(200, 'GET', '/api/auth/me')).body as { id: string };
    const first = await adminApi.uploadFile('e2e-detail-1.txt', Buffer.from('first'));
    await pa.goto(`/users/${me.id}`);
    const uploads = pa.getByTestId('user-files');
    await uploads.locator(`tr[data-file-id="${first.id}"]`).waitFor({ timeout: OBSERVE_MS });
    const uploadedAt = Date.now();
    const second = await adminApi.uploadFile('e2e-detail-2.txt', Buffer.from('second'));
    await uploads.locator(`tr[data-file-id="${second.id}"]`).waitFor({ timeout: OBSERVE_MS });
    expect(Date.now() - uploadedAt, 'new upload on the user page').toBeLessThanOrEqual(LIVE_BUDGET_MS + 1000);
    await pa.screenshot({ path: join(ensureOutDir(), 'user-detail-light.png'), fullPage: true, animations: 'disabled' });
    for (const p of [A, X]) expect(p.pageErrors, p.name).toEqual([]);
  });

  test('d. reset link: an admin copies one from the user page; it sets a new password once; "Forgot password?" never tells', async () => {
    const username = 'e2e-forgetful';
    const user = await adminApi.createUser({ username, password: 'e2e-old-password', role: 'viewer' });
    const A = panels.find((p) => p.name === 'A')!;
    const pa = A.page;
    await pa.goto(`/users/${user.id}`);
    await pa.getByRole('heading', { name: username, level: 1 }).waitFor();
    const linkP = pa.waitForResponse(isApi('POST', `/api/users/${user.id}/reset-link`));
    await pa.getByRole('button', { name: 'Copy password reset link', exact: true }).click();
    expect((await linkP).status()).toBe(201);
    const url = ((await pa.getByTestId('reset-link-url').textContent()) ?? '').trim();
    expect(url).toMatch(/\/reset#token=.+/);
    await expect.poll(() => pa.evaluate(() => navigator.clipboard.readText()), { timeout: 5000 }).toBe(url);

    const R = await panel('reset');
    const pr = R.page;
    await pr.goto(url);
    await pr.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await pr.getByLabel('New password', { exact: true }).fill('e2e-new-password');
    await pr.getByLabel('Repeat new password', { exact: true }).fill('e2e-new-password');
    const confirmP = pr.waitForResponse(isApi('POST', '/api/auth/reset/confirm'));
    await pr.getByRole('button', { name: 'Set new password', exact: true }).click();
    expect((await confirmP).status()).toBe(204);
    await pr.waitForURL('**/login');
    await pr.getByRole('status').filter({ hasText: 'Your password has been changed' }).waitFor();
    await pr.getByRole('textbox', { name: 'Username' }).fill(username);
    await pr.getByLabel('Password', { exact: true }).fill('e2e-new-password');
    await pr.getByRole('button', { name: 'Sign in' }).click();
    await pr.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();

    // The link worked once.
    const again = await panel('reset-again');
    await again.page.goto(url);
    await again.page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await again.page.getByLabel('New password', { exact: true }).fill('e2e-third-password');
    await again.page.getByLabel('Repeat new password', { exact: true }).fill('e2e-third-password');
    await again.page.getByRole('button', { name: 'Set new password', exact: true }).click();
    await again.page.getByRole('alert').filter({ hasText: 'invalid, already used or expired' }).waitFor();

    // Forgot password: the same answer for any address.
    const F = await panel('forgot');
    const pf = F.page;
    for (const address of [user.email, 'nobody-at-all@example.test']) {
      await pf.goto('/login');
      await pf.getByRole('link', { name: 'Forgot password?', exact: true }).click();
      await pf.waitForURL('**/forgot');
      await pf.getByLabel('Email', { exact: true }).fill(address);
      const resetP = pf.waitForResponse(isApi('POST', '/api/auth/reset'));
      await pf.getByRole('button', { name: 'Send reset link', exact: true }).click();
      expect((await resetP).status()).toBe(202);
      await pf.getByRole('status').filter({ hasText: 'If that address belongs to an account, a link is on its way' }).waitFor();
    }
    for (const p of [A, R, again, F]) expect(p.pageErrors, p.name).toEqual([]);
  });

  test('f. "Export CSV" on the users page downloads every user the filters select, not just the page', async () => {
    const A = panels.find((p) => p.name === 'A')!;
    const pa = A.page;
    await pa.goto('/users');
    await pa.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await pa.getByLabel('Role', { exact: true }).selectOption('admin');
    const admins = (await adminApi.expect(200, 'GET', '/api/users?role=admin&per_page=200')).body as {
      total: number;
      items: { username: string }[];
    };
    const downloadP = pa.waitForEvent('download');
    await pa.getByRole('button', { name: 'Export CSV', exact: true }).click();
    const download = await downloadP;
    expect(download.suggestedFilename()).toBe('users.csv');
    const path = await download.path();
    const text = readFileSync(path, 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('id,username,email,display_name,role,disabled,created_at,updated_at,last_login_at');
    expect(lines.length - 1).toBe(admins.total);
    for (const u of admins.items) expect(text).toContain(`,${u.username},`);
    expect(text).not.toContain(',viewer,');
    expect(A.pageErrors).toEqual([]);
  });
});

describe('accounts: --require-mfa-for-admins', () => {
  let strict: Server;
  afterAll(async () => {
    await strict?.dispose();
  });

  test('e. an admin without a second factor sees only the enrolment page (no socket) until enrolled, then the panel goes live', async () => {
    strict = new Server({ name: 'accounts-require-mfa', extraArgs: ['--require-mfa-for-admins'] });
    await strict.start();
    const P = await openPanel(browser, strict.url, 'strict');
    panels.push(P);
    const page = P.page;
    await page.goto('/login');
    await page.getByRole('textbox', { name: 'Username' }).fill(ADMIN_USERNAME);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Set up two-factor authentication' }).waitFor();
    expect(await page.getByRole('navigation', { name: 'Main' }).count(), 'no panel before enrolment').toBe(0);
    const section = page.getByRole('region', { name: 'Second factor' });
    await enrolTotp(page, section);
    expect(P.sockets, 'the panel opened a WebSocket before enrolment').toHaveLength(0);
    await section.getByRole('button', { name: 'Continue', exact: true }).click();
    await page.waitForURL('**/dashboard');
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
    await waitForConnection(page, 'live', 15_000);
    expect(P.pageErrors).toEqual([]);
    await closeQuietly(P.context);
  });
});
