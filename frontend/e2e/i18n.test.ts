// The panel in Simplified Chinese, end to end: a browser whose language is zh-CN gets the panel in
// Chinese on every page an admin can reach (and in the dialogs that open without side effects),
// with no English left in what is rendered — the text, and the accessible names, placeholders and
// titles — but for the product name, the names this test itself created and a few technical
// tokens. Then the language switch: English, kept over a reload, and back.
//
// Screenshots: target/e2e/i18n-zh-*.png.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  type Api,
  checkPanelServed,
  closeQuietly,
  ensureOutDir,
  launchBrowser,
  openPanel,
  type Panel,
  pollUntil,
  Server,
  type User,
} from './harness';

const BACKUP_MS = 60_000;

let server: Server;
let browser: Browser;
let adminApi: Api;
let Z: Panel;
let viewer: User;
let backupId = '';

/** What this test created: names shown as they are in every language. */
const DATA = {
  viewer: 'e2e-zh-viewer',
  viewerEmail: 'e2e-zh-viewer@example.test',
  file: 'e2e-zh-report.txt',
  key: 'e2e-zh-key',
  invitee: 'e2e-zh-invitee@example.test',
};
/** Filled in as the test creates them (backup ids, content types…). */
const createdNames: string[] = [];

/**
 * Latin words allowed in the Chinese panel: the product name, the language switch's "English",
 * technical tokens (API, CSV, JSON Lines, ZIP, IP, size units, the "a–z" of a username hint), the
 * column names of an import file (they are typed as they are), and the browser and system names of
 * a session's client.
 */
const ALLOWED_WORDS = new Set([
  'Switchboard',
  'English',
  'API',
  'CSV',
  'JSON',
  'Lines',
  'ZIP',
  'IP',
  'kB',
  'MB',
  'GB',
  'username',
  'email',
  'display_name',
  'role',
  'disabled',
  'password',
  'password_hash',
  'Chrome',
  'HeadlessChrome',
  'Linux',
  'Node',
  'js',
]);

/** The rendered text of the page: visible text, option texts, and names/hints in attributes. */
async function renderedText(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [document.title, document.body.innerText];
    for (const el of Array.from(document.querySelectorAll('*'))) {
      for (const a of ['aria-label', 'aria-valuetext', 'placeholder', 'title', 'alt']) {
        const v = el.getAttribute(a);
        if (v) out.push(v);
      }
      if (el instanceof HTMLOptionElement) out.push(el.text);
    }
    return out;
  });
}

/** Latin words left once the allowed strings are taken out. */
function englishLeft(texts: string[]): string[] {
  const found = new Set<string>();
  for (let text of texts) {
    // Addresses and URLs (links, the import placeholder), the letters a username may have
    // ("a–z"), then the names this test created.
    text = text
      .replace(/\bhttps?:\/\/\S+/g, ' ')
      .replace(/[\w.+-]+@[\w-]+(\.[\w-]+)+/g, ' ')
      .replace(/\ba[–-]z\b/g, ' ');
    for (const name of [...createdNames].sort((a, b) => b.length - a.length)) text = text.split(name).join(' ');
    for (const w of text.match(/[A-Za-z][A-Za-z_]*/g) ?? []) if (!ALLOWED_WORDS.has(w)) found.add(w);
  }
  return [...found];
}

const shots: string[] = [];

/** Asserts the page is in Chinese with no English left, and saves a screenshot. */
async function expectChinese(page: Page, what: string): Promise<void> {
  // Let a fresh render settle (relative times, lists that load).
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'), undefined, { timeout: 10_000 });
  const texts = await renderedText(page);
  const all = texts.join('\n');
  expect(/[\u4e00-\u9fff]/.test(all), `${what}: no Chinese text`).toBe(true);
  expect(englishLeft(texts), `${what}: English words in the zh-CN panel:\n${all}`).toEqual([]);
  expect(await page.evaluate(() => document.documentElement.lang), `${what}: <html lang>`).toBe('zh-CN');
  const path = join(ensureOutDir(), `i18n-zh-${what}.png`);
  await page.screenshot({ path, fullPage: true, animations: 'disabled' });
  expect(statSync(path).size).toBeGreaterThan(5000);
  shots.push(path);
}

/** Opens a dialog with `open`, checks it (and the page under it), closes it with `closeName`. */
async function checkDialog(page: Page, what: string, open: () => Promise<void>, dialogName: string, closeName = '取消'): Promise<void> {
  await open();
  const dialog = page.getByRole('dialog', { name: dialogName, exact: true });
  await dialog.waitFor();
  await expectChinese(page, what);
  await dialog.getByRole('button', { name: closeName, exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
}

async function nav(page: Page, label: string, path: string, heading: string): Promise<void> {
  await page.getByRole('navigation', { name: '主导航' }).getByRole('link', { name: label, exact: true }).click();
  await page.waitForURL(`**${path}`);
  await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
}

beforeAll(async () => {
  ensureOutDir();
  server = new Server({ name: 'i18n' });
  await server.start();
  await checkPanelServed(server.url);
  adminApi = server.api();
  const admin = (await adminApi.login(ADMIN_USERNAME, ADMIN_PASSWORD)).user;
  viewer = await adminApi.createUser({ username: DATA.viewer, email: DATA.viewerEmail, display_name: '张三', role: 'viewer' });
  const file = await adminApi.uploadFile(DATA.file, Buffer.from('一份报告\n'.repeat(50)));
  await adminApi.expect(201, 'POST', `/api/files/${file.id}/links`, { body: { max_downloads: 5 } });
  await adminApi.expect(201, 'POST', '/api/keys', { body: { name: DATA.key, role: 'viewer' } });
  await adminApi.expect(201, 'POST', '/api/invitations', { body: { email: DATA.invitee, role: 'viewer' } });
  const started = await adminApi.request('POST', '/api/backups');
  expect([201, 202], started.text).toContain(started.status);
  backupId = started.body.id;
  await pollUntil('the backup to complete', BACKUP_MS, async () => {
    const r = await adminApi.expect(200, 'GET', '/api/backups');
    return r.body.items.find((b: { id: string; status: string }) => b.id === backupId && b.status === 'completed');
  });
  // The bootstrap admin's display name is the server's data too.
  if (admin.display_name) createdNames.push(admin.display_name);
  createdNames.push(ADMIN_USERNAME, admin.email, DATA.viewer, DATA.file, DATA.key, backupId, (await adminApi.getFile(file.id)).content_type);
  browser = await launchBrowser();
  Z = await openPanel(browser, server.url, 'zh', { locale: 'zh-CN' });
  // Sessions show their raw User-Agent in a tooltip: data, not the panel's words.
  createdNames.push(await Z.page.evaluate(() => navigator.userAgent), 'node');
});

afterAll(async () => {
  for (const s of shots) console.log(`[screenshot] ${s}`);
  await closeQuietly(Z?.context, browser);
  await server?.dispose();
});

describe('i18n', () => {
  test('a. zh-CN browser: every page and dialog in Chinese, no English left', async () => {
    const page = Z.page;
    expect(await page.evaluate(() => navigator.language)).toBe('zh-CN');

    // Signed out: sign in, forgot password, links without a token.
    await page.goto('/login');
    await page.getByRole('heading', { name: '登录', level: 1 }).waitFor();
    await expectChinese(page, 'login');
    await page.goto('/forgot');
    await page.getByRole('heading', { name: '忘记密码', level: 1 }).waitFor();
    await expectChinese(page, 'forgot');
    await page.goto('/reset');
    await page.getByRole('alert').waitFor();
    await expectChinese(page, 'reset');
    await page.goto('/invite');
    await page.getByRole('alert').waitFor();
    await expectChinese(page, 'invite');

    // A wrong password: the error in Chinese too.
    await page.goto('/login');
    await page.getByRole('textbox', { name: '用户名' }).fill(ADMIN_USERNAME);
    await page.getByLabel('密码', { exact: true }).fill('not-the-password');
    await page.getByRole('button', { name: '登录' }).click();
    await page.getByRole('alert').filter({ hasText: '用户名或密码错误' }).waitFor();
    await expectChinese(page, 'login-error');

    // Sign in with the Chinese form.
    await page.getByLabel('密码', { exact: true }).fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: '登录' }).click();
    await page.waitForURL('**/dashboard');
    await page.getByRole('heading', { name: '仪表盘', level: 1 }).waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="connection"]')?.getAttribute('data-state') === 'live');
    await page.getByRole('figure', { name: '每小时下载与上传次数' }).waitFor();
    await expectChinese(page, 'dashboard');
    await nav(page, '用户', '/users', '用户');
    await page.locator(`tr[data-user-id="${viewer.id}"]`).waitFor();
    await page.getByRole('table', { name: '待接受的邀请' }).getByText(DATA.invitee).waitFor();
    await expectChinese(page, 'users');

    await checkDialog(page, 'users-new', () => page.getByRole('button', { name: '新建用户', exact: true }).click(), '新建用户');
    await checkDialog(page, 'users-invite', () => page.getByRole('button', { name: '邀请', exact: true }).click(), '邀请用户');
    await checkDialog(page, 'users-import', () => page.getByRole('button', { name: '导入…', exact: true }).click(), '导入用户', '关闭');
    await checkDialog(
      page,
      'users-edit',
      () => page.getByRole('button', { name: `编辑 ${DATA.viewer}`, exact: true }).click(),
      `编辑 ${DATA.viewer}`,
    );
    await checkDialog(
      page,
      'users-password',
      () => page.getByRole('button', { name: `为 ${DATA.viewer} 重置密码`, exact: true }).click(),
      `为 ${DATA.viewer} 重置密码`,
    );
    await checkDialog(
      page,
      'users-delete',
      () => page.getByRole('button', { name: `删除 ${DATA.viewer}`, exact: true }).click(),
      `删除 ${DATA.viewer}？`,
    );

    // User detail (of the viewer, and of the admin: sessions and API keys).
    await page.getByRole('link', { name: DATA.viewer, exact: true }).click();
    await page.waitForURL(`**/users/${viewer.id}`);
    await page.getByRole('heading', { name: DATA.viewer, level: 1 }).waitFor();
    await page.getByTestId('user-role').filter({ hasText: '查看者' }).waitFor();
    await page.getByTestId('mfa-state').filter({ hasText: '未开启' }).waitFor();
    await expectChinese(page, 'user-detail');
    await page.getByRole('link', { name: '← 全部用户' }).click();
    await page.getByRole('heading', { name: '用户', level: 1 }).waitFor();
    await page.getByRole('link', { name: ADMIN_USERNAME, exact: true }).click();
    await page.getByRole('heading', { name: ADMIN_USERNAME, level: 1 }).waitFor();
    await page.getByRole('table', { name: 'API 密钥' }).getByText(DATA.key).waitFor();
    await page.getByRole('table', { name: '会话' }).locator('tr[data-current="true"]').waitFor();
    await page.getByRole('list', { name: '用户活动' }).locator('li').first().waitFor();
    await expectChinese(page, 'user-detail-admin');

    // Files, with the share and import dialogs.
    await nav(page, '文件', '/files', '文件');
    await page.getByRole('table', { name: '文件' }).getByText(DATA.file).waitFor();
    await expectChinese(page, 'files');
    await checkDialog(page, 'files-share', () => page.getByRole('button', { name: `分享 ${DATA.file}`, exact: true }).click(), `分享 ${DATA.file}`, '关闭');
    await checkDialog(page, 'files-import', () => page.getByRole('button', { name: '从网址导入', exact: true }).click(), '从网址导入');

    // Activity.
    await nav(page, '活动', '/activity', '活动');
    await page.getByRole('list', { name: '活动动态' }).locator('li').filter({ hasText: `邀请 ${DATA.invitee}` }).waitFor();
    await expectChinese(page, 'activity');

    // Account.
    await nav(page, '账户', '/account', '账户');
    await page.getByRole('region', { name: '两步验证' }).getByTestId('mfa-state').waitFor();
    await page.getByRole('region', { name: '会话' }).locator('tr[data-current="true"]').waitFor();
    await expectChinese(page, 'account');

    // Backups, with the delete confirmation.
    await nav(page, '备份', '/backups', '备份');
    await page.getByTestId('backup-status').filter({ hasText: '已完成' }).waitFor();
    await page.getByTestId('backup-summary').filter({ hasText: '上次备份' }).waitFor();
    await expectChinese(page, 'backups');
    await checkDialog(
      page,
      'backups-delete',
      () => page.getByRole('button', { name: `删除 ${backupId}`, exact: true }).click(),
      `删除备份 ${backupId}？`,
    );

    expect(Z.pageErrors, 'uncaught exceptions').toEqual([]);
  });

  test('b. the language switch: English, kept over a reload, and back to Chinese', async () => {
    const page = Z.page;
    await nav(page, '用户', '/users', '用户');
    await page.getByRole('combobox', { name: '语言' }).selectOption('en');
    // At once, without a reload: the same roles with English names.
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Files', exact: true }).waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
    await page.getByRole('button', { name: 'Log out' }).waitFor();

    await page.reload();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="connection"]')?.textContent?.trim() === 'Live');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
    expect(await page.getByRole('combobox', { name: 'Language' }).inputValue()).toBe('en');
    // Still English in a new page of the same browser, whatever the browser's language.
    const other = await Z.context.newPage();
    await other.goto('/activity');
    await other.getByRole('heading', { name: 'Activity', level: 1 }).waitFor();
    await other.close();

    await page.getByRole('combobox', { name: 'Language' }).selectOption('zh-CN');
    await page.getByRole('heading', { name: '用户', level: 1 }).waitFor();
    await page.reload();
    await page.getByRole('heading', { name: '用户', level: 1 }).waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="connection"]')?.textContent?.trim() === '已连接');
    await expectChinese(page, 'users-after-switch');
    expect(Z.pageErrors, 'uncaught exceptions').toEqual([]);
  });
});
