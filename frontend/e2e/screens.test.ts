// Every page of the panel, in both languages and both themes, at three widths:
//   - axe-core (serious and critical violations fail the test; all results, minor and moderate
//     included, go to target/e2e/axe.json), at 1280 px and at 375 px;
//   - no horizontal scroll of the page at 375, 1280 and 1920 px;
//   - at 375 px the navigation is folded into a menu button that opens (aria-expanded) and shows
//     the links, and closes with Escape; on the users page the dialogs fit in the screen;
//   - full-page screenshots at 375 and 1280 px: target/e2e/screens/<lang>-<theme>-<width>-<page>.png.
//
// A page whose path sends the browser elsewhere fails the test. Nothing sleeps: every step waits
// for a concrete DOM condition.
import { readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { en } from '../src/i18n/en';
import { zhCN } from '../src/i18n/zh-CN';
import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  type Api,
  checkPanelServed,
  closeQuietly,
  describePage,
  ensureOutDir,
  launchBrowser,
  openPanel,
  OUT_DIR,
  type Panel,
  pollUntil,
  Server,
  type User,
} from './harness';

/** The pages of the panel (signed in): name (for file names), path, and what shows it is ready. */
interface PageSpec {
  name: string;
  path: () => string;
  /** A selector present once the page has its data. */
  ready: string;
}

let viewer: User;

const PAGES: readonly PageSpec[] = [
  { name: 'dashboard', path: () => '/dashboard', ready: '[data-page="dashboard"]' },
  { name: 'users', path: () => '/users', ready: 'tr[data-user-id]' },
  { name: 'user-detail', path: () => `/users/${viewer.id}`, ready: '[data-testid="mfa-state"]' },
  { name: 'files', path: () => '/files', ready: 'tr[data-file-id]' },
  { name: 'activity', path: () => '/activity', ready: '.feed li' },
  { name: 'backups', path: () => '/backups', ready: '[data-testid="backup-status"]' },
  { name: 'account', path: () => '/account', ready: '[data-testid="mfa-state"]' },
];

const LANGS = [
  { lang: 'en', locale: 'en-US', htmlLang: 'en', cat: en as Record<string, string> },
  { lang: 'zh-CN', locale: 'zh-CN', htmlLang: 'zh-CN', cat: zhCN as Record<string, string> },
] as const;
const THEMES = ['light', 'dark'] as const;
const NARROW = { width: 375, height: 812 };
const DESKTOP = { width: 1280, height: 800 };
const WIDE = { width: 1920, height: 1080 };
const BACKUP_MS = 60_000;

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SCREENS_DIR = join(OUT_DIR, 'screens');

interface AxeNode {
  target: unknown;
  html: string;
  failureSummary?: string;
}
interface AxeViolation {
  id: string;
  impact: 'minor' | 'moderate' | 'serious' | 'critical' | null;
  help: string;
  helpUrl: string;
  nodes: AxeNode[];
}
interface AxeRecord {
  lang: string;
  theme: string;
  width: number;
  page: string;
  url: string;
  violations: AxeViolation[];
}

const axeResults: AxeRecord[] = [];
const shots: string[] = [];

let server: Server;
let browser: Browser;
let adminApi: Api;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async function setWidth(page: Page, size: { width: number; height: number }): Promise<void> {
  await page.setViewportSize(size);
  await page.waitForFunction((w) => window.innerWidth === w, size.width, { timeout: 5_000 });
}

/** Problems with the page's width: '' if the page does not scroll sideways. */
async function horizontalOverflow(page: Page): Promise<string> {
  return page.evaluate(() => {
    const vw = window.innerWidth;
    const sw = document.documentElement.scrollWidth;
    if (sw <= vw) return '';
    // The deepest elements that stick out, but for those inside a container that scrolls or
    // clips (for the failure message).
    const clipped = (el: Element) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        if (getComputedStyle(p).overflowX !== 'visible') return true;
      }
      return false;
    };
    const out: string[] = [];
    for (const el of Array.from(document.body.querySelectorAll('*'))) {
      const r = el.getBoundingClientRect();
      if (r.right <= vw + 0.5 || r.width === 0 || clipped(el)) continue;
      if (Array.from(el.children).some((c) => c.getBoundingClientRect().right > vw + 0.5)) continue;
      out.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''} (right ${Math.round(r.right)})`);
      if (out.length >= 8) break;
    }
    return `scrollWidth ${sw} > innerWidth ${vw}: ${out.join(', ')}`;
  });
}

/** Runs axe-core on the document (or on the element `selector`); keeps the result. */
async function runAxe(page: Page, rec: Omit<AxeRecord, 'violations' | 'url'>, selector?: string): Promise<AxeViolation[]> {
  // The panel's CSP (script-src 'self') rightly blocks page.addScriptTag({ content }); an
  // evaluation through the DevTools protocol is not a page script and is not blocked.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(`${axeSource}\n;undefined`);
  const violations = await page.evaluate(async (sel) => {
    const axe = (window as any).axe;
    const context = sel ? document.querySelector(sel) : document;
    const r = await axe.run(context, { resultTypes: ['violations'] });
    return r.violations.map((v: any) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n: any) => ({ target: n.target, html: n.html, failureSummary: n.failureSummary })),
    }));
  }, selector ?? null);
  axeResults.push({ ...rec, url: page.url(), violations });
  return violations;
}

function seriousOnes(vs: AxeViolation[]): string[] {
  return vs
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id} (${v.help}): ${v.nodes.map((n) => `${JSON.stringify(n.target)} ${n.failureSummary ?? ''}`.replace(/\s+/g, ' ')).join(' | ')}`);
}

async function screenshot(page: Page, file: string): Promise<void> {
  const path = join(SCREENS_DIR, `${file}.png`);
  await page.screenshot({ path, fullPage: true, animations: 'disabled' });
  expect(statSync(path).size, path).toBeGreaterThan(3000);
  shots.push(path);
}

/** Waits until the page at `path` shows its data (or the browser went elsewhere): the path now. */
async function waitForPage(page: Page, path: string, ready: string): Promise<string> {
  await page.waitForFunction(
    ({ path, ready }) => {
      const live = document.querySelector('[data-testid="connection"]')?.getAttribute('data-state') === 'live';
      // Sent elsewhere: to another page of the panel (signed in), or to the sign-in page.
      if (location.pathname !== path) return location.pathname === '/login' || (!!document.querySelector('main h1') && live);
      return (
        !!document.querySelector('main h1') &&
        !!document.querySelector(ready) &&
        !document.querySelector('[aria-busy="true"]') &&
        live
      );
    },
    { path, ready },
    { timeout: 15_000 },
  );
  await page.evaluate(() => document.fonts.ready.then(() => undefined));
  return page.evaluate(() => location.pathname);
}

/** Signs in through the form (by field ids: the labels are in either language). */
async function signIn(page: Page): Promise<void> {
  await page.locator('#login-username').fill(ADMIN_USERNAME);
  await page.locator('#login-password').fill(ADMIN_PASSWORD);
  await page.locator('.login-card button[type="submit"]').click();
  await page.waitForFunction(
    () =>
      location.pathname !== '/login' &&
      !!document.querySelector('main h1') &&
      document.querySelector('[data-testid="connection"]')?.getAttribute('data-state') === 'live',
    undefined,
    { timeout: 15_000 },
  );
}

/** At 375 px: the links are behind the menu button, which opens and closes. */
async function checkMenu(page: Page, cat: Record<string, string>, problems: string[], where: string): Promise<void> {
  const toggle = page.getByRole('button', { name: cat['layout.menu']!, exact: true });
  const link = page.getByRole('navigation', { name: cat['nav.label']!, exact: true }).getByRole('link', { name: cat['nav.users']!, exact: true });
  await toggle.waitFor({ state: 'visible', timeout: 5_000 });
  expect(await toggle.getAttribute('aria-expanded'), `${where}: menu closed at first`).toBe('false');
  expect(await link.isVisible(), `${where}: links hidden while the menu is closed`).toBe(false);
  await toggle.click();
  await page.waitForFunction(() => document.querySelector('.menu-toggle')?.getAttribute('aria-expanded') === 'true', undefined, { timeout: 5_000 });
  await link.waitFor({ state: 'visible', timeout: 5_000 });
  for (const key of ['nav.files', 'nav.activity', 'nav.account', 'layout.log_out']) {
    const name = cat[key]!;
    const visible = key === 'layout.log_out' ? page.getByRole('button', { name, exact: true }) : page.getByRole('link', { name, exact: true });
    if (!(await visible.isVisible())) problems.push(`${where}: "${name}" not shown by the open menu`);
  }
  const open = await horizontalOverflow(page);
  if (open) problems.push(`${where} (menu open): ${open}`);
  await page.keyboard.press('Escape');
  await link.waitFor({ state: 'hidden', timeout: 5_000 });
  expect(await toggle.getAttribute('aria-expanded'), `${where}: menu closed by Escape`).toBe('false');
  expect(await page.evaluate(() => document.activeElement?.classList.contains('menu-toggle')), `${where}: focus back on the menu button`).toBe(true);
  // No focus ring in the screenshot.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
}

/** At 375 px on the users page: each dialog lies within the screen; axe on the open dialog. */
async function checkDialogs(page: Page, cat: Record<string, string>, rec: { lang: string; theme: string }, problems: string[]): Promise<void> {
  for (const [key, name] of [
    ['users.new', 'dialog-new-user'],
    ['users.import', 'dialog-import'],
  ] as const) {
    await page.getByRole('button', { name: cat[key]!, exact: true }).click();
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor({ state: 'visible', timeout: 5_000 });
    const box = await dialog.evaluate((d) => {
      const r = d.getBoundingClientRect();
      return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, vw: window.innerWidth, vh: window.innerHeight };
    });
    if (box.left < 0 || box.top < 0 || box.right > box.vw || box.bottom > box.vh) {
      problems.push(`${rec.lang}-${rec.theme} 375 ${name}: dialog outside the screen ${JSON.stringify(box)}`);
    }
    const where = `${rec.lang}-${rec.theme}-375-${name}`;
    for (const p of seriousOnes(await runAxe(page, { ...rec, width: NARROW.width, page: `users/${name}` }, 'dialog[open]'))) problems.push(`${where}: ${p}`);
    await screenshot(page, where);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached', timeout: 5_000 });
  }
}

// ---------------------------------------------------------------------------------------------
// Setup: one server with a little data
// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  ensureOutDir();
  mkdirSync(SCREENS_DIR, { recursive: true });
  server = new Server({ name: 'screens' });
  await server.start();
  await checkPanelServed(server.url);
  adminApi = server.api();
  await adminApi.login(ADMIN_USERNAME, ADMIN_PASSWORD);
  viewer = await adminApi.createUser({ username: 'e2e-screens-viewer', display_name: '李四 (Li Si)', role: 'viewer' });
  await adminApi.createUser({ username: 'e2e-screens-admin', display_name: 'Screens Admin', role: 'admin' });
  const disabled = await adminApi.createUser({ username: 'e2e-screens-disabled', role: 'viewer' });
  await adminApi.updateUser(disabled.id, { disabled: true });
  const file = await adminApi.uploadFile('e2e-screens-quarterly-report-with-a-long-name.txt', Buffer.from('report\n'.repeat(400)));
  await adminApi.uploadFile('e2e-screens-photo.bin', Buffer.alloc(20_000, 7));
  await adminApi.expect(201, 'POST', `/api/files/${file.id}/links`, { body: { max_downloads: 5 } });
  await adminApi.expect(201, 'POST', '/api/invitations', { body: { email: 'e2e-screens-invitee@example.test', role: 'viewer' } });
  const started = await adminApi.request('POST', '/api/backups');
  expect([201, 202], started.text).toContain(started.status);
  const backupId: string = started.body.id;
  await pollUntil('the backup to complete', BACKUP_MS, async () => {
    const r = await adminApi.expect(200, 'GET', '/api/backups');
    return r.body.items.find((b: { id: string; status: string }) => b.id === backupId && b.status === 'completed');
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  ensureOutDir();
  writeFileSync(join(OUT_DIR, 'axe.json'), JSON.stringify({ results: axeResults }, null, 2));
  console.log(`[axe] ${join(OUT_DIR, 'axe.json')}: ${axeResults.length} runs, ${axeResults.reduce((n, r) => n + r.violations.length, 0)} violations (all impacts)`);
  console.log(`[screenshots] ${shots.length} in ${SCREENS_DIR}`);
  await closeQuietly(browser);
  await server?.dispose();
});

// ---------------------------------------------------------------------------------------------
// Every page × language × theme
// ---------------------------------------------------------------------------------------------

describe('screens: every page at 375, 1280 and 1920 px, axe-clean (serious/critical)', () => {
  for (const L of LANGS) {
    for (const theme of THEMES) {
      test(`${L.lang} ${theme}`, async () => {
        const problems: string[] = [];
        let panel: Panel | null = null;
        let context: BrowserContext | null = null;
        try {
          panel = await openPanel(browser, server.url, `screens-${L.lang}-${theme}`, {
            locale: L.locale,
            colorScheme: theme,
            setup: async (ctx) => {
              await ctx.addInitScript((th) => localStorage.setItem('switchboard.theme', th), theme);
            },
          });
          context = panel.context;
          const page = panel.page;
          const rec = { lang: L.lang, theme };

          /** Axe at 1280 and 375, screenshots at both, no sideways scroll at 375, 1280, 1920. */
          const checkWidths = async (name: string, signedIn: boolean) => {
            expect(await page.evaluate(() => document.documentElement.dataset.theme), `${name}: theme`).toBe(theme);
            expect(await page.evaluate(() => document.documentElement.lang), `${name}: <html lang>`).toBe(L.htmlLang);
            for (const size of [DESKTOP, NARROW, WIDE]) {
              await setWidth(page, size);
              const where = `${L.lang}-${theme}-${size.width}-${name}`;
              const overflow = await horizontalOverflow(page);
              if (overflow) problems.push(`${where}: ${overflow}`);
              if (size === WIDE) continue;
              if (signedIn && size === NARROW) await checkMenu(page, L.cat, problems, where);
              if (signedIn && size === DESKTOP) {
                // The navigation stays in the bar; no menu button.
                const nav = page.getByRole('navigation', { name: L.cat['nav.label']!, exact: true });
                expect(await nav.getByRole('link', { name: L.cat['nav.files']!, exact: true }).isVisible(), `${where}: nav links visible`).toBe(true);
                expect(await page.locator('.menu-toggle').isVisible(), `${where}: no menu button`).toBe(false);
              }
              for (const p of seriousOnes(await runAxe(page, { ...rec, width: size.width, page: name }))) problems.push(`${where}: ${p}`);
              await screenshot(page, where);
              if (signedIn && size === NARROW && name === 'users') await checkDialogs(page, L.cat, rec, problems);
            }
          };

          // Signed out: the sign-in page.
          await setWidth(page, DESKTOP);
          await page.goto('/login');
          await page.locator('.login-card h1').waitFor();
          await page.locator('#login-username').waitFor();
          await checkWidths('login', false);

          await setWidth(page, DESKTOP);
          await signIn(page);

          for (const spec of PAGES) {
            const path = spec.path();
            await setWidth(page, DESKTOP);
            await page.goto(path);
            let landed: string;
            try {
              landed = await waitForPage(page, path, spec.ready);
            } catch (e) {
              throw new Error(`${spec.name} (${path}) never got ready: ${String(e)}\n${await describePage(panel)}`);
            }
            if (landed === '/login') throw new Error(`${spec.name} (${path}): signed out\n${await describePage(panel)}`);
            // Every page is checked: one that sends the browser elsewhere is a failure.
            expect(landed, `${spec.name} (${path}) redirected`).toBe(path);
            await checkWidths(spec.name, true);
          }
          expect(panel.pageErrors, 'uncaught exceptions').toEqual([]);
        } finally {
          await closeQuietly(context);
        }
        expect(problems.length, `problems (${problems.length}):\n${problems.join('\n')}`).toBe(0);
      }, 400_000);
    }
  }
});
