// Activity filters, end to end: a filtered feed opened straight from its URL, filters set in the
// page written to the URL (and kept by a reload), and live events that join a filtered feed only
// when they match it.
//
// Real server binary, Debian's Chromium. Nothing sleeps to synchronise: every wait is for a
// concrete response, element, URL or text, with a deadline.
import type { Browser, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  type Api,
  checkPanelServed,
  closeQuietly,
  ensureOutDir,
  launchBrowser,
  loginViaForm,
  navTo,
  openPanel,
  type Panel,
  SECOND_ADMIN,
  seenAt,
  Server,
  type User,
  waitForConnection,
  watchFor,
} from './harness';

const OBSERVE_MS = 10_000;

let server: Server;
let browser: Browser;
let adminApi: Api;
let secondApi: Api;
let A: Panel;
let adminId: string;
let alice: User;
let bob: User;

const FEED = 'ol[aria-label="Activity feed"]';

const isEvents = (r: Response) => r.request().method() === 'GET' && new URL(r.url()).pathname === '/api/events';

/** The seq of the newest event of `type` by `actor`. */
async function lastSeq(type: string, actor: string): Promise<number> {
  const r = await adminApi.expect(200, 'GET', `/api/events?before=${Number.MAX_SAFE_INTEGER}&limit=1&type=${type}&actor=${actor}`);
  const seq = r.body.items[0]?.seq;
  if (typeof seq !== 'number') throw new Error(`no ${type} event by ${actor}`);
  return seq;
}

/** The feed once loaded (not busy): the text of each item, newest first. */
async function feedTexts(page: Page): Promise<string[]> {
  await page.waitForSelector(`${FEED}[aria-busy="false"]`, { timeout: OBSERVE_MS });
  return page.locator(`${FEED} li`).evaluateAll((lis) => lis.map((li) => (li.textContent ?? '').replace(/\s+/g, ' ').trim()));
}

/** Waits until the feed, loaded, shows exactly `expected` (item texts start with them), in order. */
async function waitForFeed(page: Page, expected: string[]): Promise<void> {
  await page.waitForFunction(
    ({ feed, expected }) => {
      const ol = document.querySelector(feed);
      if (!ol || ol.getAttribute('aria-busy') !== 'false') return false;
      const texts = Array.from(ol.querySelectorAll('li')).map((li) => (li.textContent ?? '').replace(/\s+/g, ' ').trim());
      return texts.length === expected.length && texts.every((t, i) => t.startsWith(expected[i]!));
    },
    { feed: FEED, expected },
    { timeout: OBSERVE_MS, polling: 20 },
  );
}

/** The browser's local date (`YYYY-MM-DD`), `offset` days from today. */
async function localDay(page: Page, offset = 0): Promise<string> {
  return page.evaluate((offset) => {
    const d = new Date();
    d.setDate(d.getDate() + offset);
    const pad = (n: number) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }, offset);
}

function searchOf(page: Page): URLSearchParams {
  return new URL(page.url()).searchParams;
}

beforeAll(async () => {
  ensureOutDir();
  server = new Server({ name: 'activity' });
  await server.start();
  await checkPanelServed(server.url);
  adminApi = server.api();
  adminId = (await adminApi.login(ADMIN_USERNAME, ADMIN_PASSWORD)).user.id;
  await adminApi.createUser({ username: SECOND_ADMIN.username, email: SECOND_ADMIN.email, password: SECOND_ADMIN.password, role: 'admin' });
  secondApi = server.api();
  await secondApi.login(SECOND_ADMIN.username, SECOND_ADMIN.password);

  // Events of several types by two actors.
  alice = await adminApi.createUser({ username: 'e2e-act-alice' });
  bob = await secondApi.createUser({ username: 'e2e-act-bob' });
  await secondApi.updateUser(alice.id, { display_name: 'Alice by the second admin' });
  await adminApi.updateUser(bob.id, { display_name: 'Bob by admin' });
  await adminApi.uploadFile('e2e-act-report.txt', Buffer.from('activity filters\n'));

  browser = await launchBrowser();
  A = await openPanel(browser, server.url, 'A');
  await loginViaForm(A, ADMIN_USERNAME, ADMIN_PASSWORD);
});

afterAll(async () => {
  await closeQuietly(A?.context, browser);
  await server?.dispose();
});

describe('activity filters', () => {
  test('a. a filtered URL opened directly shows only the matching events, and asks the server with those filters', async () => {
    const page = A.page;
    const request = page.waitForResponse(isEvents);
    await page.goto(`/activity?type=user.updated&actor=${SECOND_ADMIN.username}`);
    await page.getByRole('heading', { name: 'Activity', level: 1 }).waitFor();
    const sent = new URL((await request).url()).searchParams;
    expect(sent.get('type')).toBe('user.updated');
    expect(sent.get('actor')).toBe(SECOND_ADMIN.username);

    await waitForFeed(page, [`${SECOND_ADMIN.username} updated user e2e-act-alice`]);
    expect(await page.getByLabel('Event type', { exact: true }).inputValue()).toBe('user.updated');
    expect(await page.getByLabel('Actor', { exact: true }).inputValue()).toBe(SECOND_ADMIN.username);
    expect(new URL(page.url()).pathname).toBe('/activity');

    // By the other actor, by id: only its update.
    await page.goto(`/activity?type=user.updated&actor=${encodeURIComponent(adminId)}`);
    await waitForFeed(page, [`${ADMIN_USERNAME} updated user e2e-act-bob`]);

    // A group: every user change (both creations and both updates), newest first.
    await page.goto('/activity?type=user.created,user.updated,user.role_changed,user.deleted');
    const texts = await feedTexts(page);
    expect(texts.filter((t) => t.includes('e2e-act-'))).toEqual([
      expect.stringContaining(`${ADMIN_USERNAME} updated user e2e-act-bob`),
      expect.stringContaining(`${SECOND_ADMIN.username} updated user e2e-act-alice`),
      expect.stringContaining(`${SECOND_ADMIN.username} created user e2e-act-bob`),
      expect.stringContaining(`${ADMIN_USERNAME} created user e2e-act-alice`),
    ]);
    expect(texts.some((t) => t.includes('uploaded') || t.includes('signed in'))).toBe(false);
    expect(await page.getByLabel('Event type', { exact: true }).inputValue()).toBe('user.created,user.updated,user.role_changed,user.deleted');
    await waitForConnection(page, 'live', OBSERVE_MS);
    expect(A.pageErrors).toEqual([]);
  });

  test('b. filters set in the page go into the URL (no new history entry), survive a reload, and clear', async () => {
    const page = A.page;
    await page.goto('/users');
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await navTo(page, 'Activity');
    const historyLength = await page.evaluate(() => history.length);
    const all = await feedTexts(page);
    expect(all.some((t) => t.includes('uploaded e2e-act-report.txt'))).toBe(true);
    expect(all.some((t) => t.includes('created user e2e-act-alice'))).toBe(true);

    // Type: one choice of the select, by its label.
    await page.getByLabel('Event type', { exact: true }).selectOption({ label: 'File uploaded' });
    await page.waitForURL((u) => u.pathname === '/activity' && u.searchParams.get('type') === 'file.created');
    await waitForFeed(page, [`${ADMIN_USERNAME} uploaded e2e-act-report.txt`]);

    // Actor, typed: applied after a pause.
    await page.getByLabel('Actor', { exact: true }).fill(ADMIN_USERNAME);
    await page.waitForURL((u) => u.searchParams.get('actor') === ADMIN_USERNAME && u.searchParams.get('type') === 'file.created');
    await waitForFeed(page, [`${ADMIN_USERNAME} uploaded e2e-act-report.txt`]);

    // Days: today (the browser's), from and to.
    const today = await localDay(page);
    await page.getByLabel('From', { exact: true }).fill(today);
    await page.getByLabel('To', { exact: true }).fill(today);
    await page.waitForURL((u) => u.searchParams.get('from') === today && u.searchParams.get('to') === today);
    await waitForFeed(page, [`${ADMIN_USERNAME} uploaded e2e-act-report.txt`]);
    expect(await page.evaluate(() => history.length), 'filters replace the history entry').toBe(historyLength);
    const filtered = page.url();
    expect(searchOf(page).get('type')).toBe('file.created');

    // A reload opens the same filtered view.
    const reloaded = page.waitForResponse(isEvents);
    await page.reload();
    const sent = new URL((await reloaded).url()).searchParams;
    expect(page.url()).toBe(filtered);
    expect(sent.get('type')).toBe('file.created');
    expect(sent.get('actor')).toBe(ADMIN_USERNAME);
    // `since`/`until`: the browser's midnights, today's and tomorrow's.
    const [since, until] = await page.evaluate((day) => {
      const [y, m, d] = day.split('-').map(Number) as [number, number, number];
      return [new Date(y, m - 1, d).toISOString(), new Date(y, m - 1, d + 1).toISOString()];
    }, today);
    expect(sent.get('since')).toBe(since);
    expect(sent.get('until')).toBe(until);
    await waitForFeed(page, [`${ADMIN_USERNAME} uploaded e2e-act-report.txt`]);
    expect(await page.getByLabel('Event type', { exact: true }).inputValue()).toBe('file.created');
    expect(await page.getByLabel('Actor', { exact: true }).inputValue()).toBe(ADMIN_USERNAME);
    expect(await page.getByLabel('From', { exact: true }).inputValue()).toBe(today);
    expect(await page.getByLabel('To', { exact: true }).inputValue()).toBe(today);

    // Days before today: nothing, said so.
    await page.getByLabel('From', { exact: true }).fill(await localDay(page, -3));
    await page.getByLabel('To', { exact: true }).fill(await localDay(page, -1));
    await waitForFeed(page, []);
    await page.getByText('No activity matches these filters.').waitFor();

    // Clear: everything again, and a bare URL.
    await page.getByRole('button', { name: 'Clear filters', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/activity' && u.search === '');
    const cleared = await feedTexts(page);
    expect(cleared.some((t) => t.includes('uploaded e2e-act-report.txt'))).toBe(true);
    expect(cleared.some((t) => t.includes('created user e2e-act-alice'))).toBe(true);
    expect(await page.getByLabel('Actor', { exact: true }).inputValue()).toBe('');

    // The Activity link of the navigation on a filtered feed: the whole feed again.
    await page.getByLabel('Event type', { exact: true }).selectOption('file.created');
    await page.waitForURL((u) => u.searchParams.get('type') === 'file.created');
    await waitForFeed(page, [`${ADMIN_USERNAME} uploaded e2e-act-report.txt`]);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Activity', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/activity' && u.search === '');
    await page.waitForFunction(() => [...document.querySelectorAll('.feed-item')].some((li) => li.textContent?.includes('created user e2e-act-alice')));
    expect(await page.getByLabel('Event type', { exact: true }).inputValue()).toBe('');
    expect(A.pageErrors).toEqual([]);
  });

  test('c. live: an event that does not match the filters stays out of the feed, one that matches arrives', async () => {
    const page = A.page;
    await page.goto(`/activity?type=user.updated&actor=${SECOND_ADMIN.username}`);
    await waitForFeed(page, [`${SECOND_ADMIN.username} updated user e2e-act-alice`]);
    await waitForConnection(page, 'live', OBSERVE_MS);
    await watchFor(page, 'other-actor', `${FEED} li`, `${ADMIN_USERNAME} updated user e2e-act-alice`);
    await watchFor(page, 'other-type', `${FEED} li`, 'e2e-act-carol');

    // Not matching: the right type by the wrong actor, the right actor with the wrong type.
    await adminApi.updateUser(alice.id, { display_name: 'Alice by admin, live' });
    const wrongActor = await lastSeq('user.updated', ADMIN_USERNAME);
    await secondApi.createUser({ username: 'e2e-act-carol' });
    const wrongType = await lastSeq('user.created', SECOND_ADMIN.username);
    // Matching.
    await secondApi.updateUser(bob.id, { display_name: 'Bob by the second admin, live' });
    const match = await lastSeq('user.updated', SECOND_ADMIN.username);
    expect(wrongActor).toBeLessThan(match);
    expect(wrongType).toBeLessThan(match);

    await page.locator(`${FEED} li[data-seq="${match}"]`).waitFor({ timeout: OBSERVE_MS });
    await waitForFeed(page, [`${SECOND_ADMIN.username} updated user e2e-act-bob`, `${SECOND_ADMIN.username} updated user e2e-act-alice`]);
    // The others reached the page (before the match, in seq order) and were left out.
    const received = A.sockets.flatMap((s) => s.received.map((r) => r.data)).map((d) => d?.seq);
    expect(received).toContain(wrongActor);
    expect(received).toContain(wrongType);
    expect(await seenAt(page, 'other-actor')).toBeNull();
    expect(await seenAt(page, 'other-type')).toBeNull();
    expect(await page.locator(`${FEED} li[data-seq="${wrongActor}"], ${FEED} li[data-seq="${wrongType}"]`).count()).toBe(0);
    expect(A.pageErrors).toEqual([]);
  });
});
