// Operations, end to end: a backup taken from the Backups page and watched to completion live by
// a second admin (then downloaded and deleted), and a bulk user import — all-or-nothing refused
// with the bad row's line, a dry run, then skip-invalid — whose users and progress reach a
// second admin's users page live.
//
// Real server binary, Debian's Chromium. Nothing sleeps to synchronise: every wait is for a
// concrete response, element or text, with a deadline.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ADMIN_USERNAME,
  type Api,
  closeQuietly,
  ensureOutDir,
  navTo,
  type Panel,
  Server,
  startTwoAdmins,
  waitForCell,
} from './harness';

/** docs/API.md §7: every change appears in every open panel within 2 s. */
const LIVE_BUDGET_MS = 2000;
const OBSERVE_MS = 10_000;
/** A backup of a small database in a debug build. */
const BACKUP_MS = 60_000;

let server: Server;
let browser: Browser;
let adminApi: Api;
let A: Panel;
let B: Panel;

const pathOf = (r: Response) => new URL(r.url()).pathname;
const isApi = (method: string, path: string | RegExp) => (r: Response) =>
  r.request().method() === method && (typeof path === 'string' ? pathOf(r) === path : path.test(pathOf(r)));
const backupRow = (id: string) => `tr[data-backup-id="${id}"]`;

/** Every frame of type `type` a panel's sockets received. */
function received(p: Panel, type: string): any[] {
  return p.sockets.flatMap((s) => s.received.map((r) => r.data)).filter((d) => d && d.type === type);
}

beforeAll(async () => {
  ({ server, adminApi, browser, A, B } = await startTwoAdmins('operations', async (api) => {
    // A stored file, so the backup has an object to copy.
    await api.uploadFile('e2e-backup-me.txt', Buffer.from('bytes a backup must hold\n'.repeat(100)));
  }));
});

afterAll(async () => {
  await closeQuietly(A?.context, B?.context, browser);
  await server?.dispose();
});

describe('operations', () => {
  test('a. backup: A backs up now, both panels see it appear and complete without reload; A downloads it, deletes it, it leaves both', async () => {
    const pa = A.page;
    const pb = B.page;
    await navTo(pa, 'Backups');
    await navTo(pb, 'Backups');
    for (const p of [pa, pb]) {
      await p.getByRole('table', { name: 'Backups' }).getByText('No backups yet.').waitFor();
      expect(await p.getByTestId('backup-summary').getAttribute('data-state')).toBe('none');
    }

    const postP = pa.waitForResponse(isApi('POST', '/api/backups'));
    await pa.getByRole('button', { name: 'Back up now', exact: true }).click();
    const post = await postP;
    const postedAt = Date.now();
    expect(post.status(), await post.text()).toBe(202);
    const backup = (await post.json()) as { id: string; status: string };
    expect(backup.status).toBe('running');
    const row = backupRow(backup.id);

    // B: the backup appears (from backup.started), live.
    const appeared = await waitForCell(pb, { table: 'Backups', rowSelector: row }, OBSERVE_MS);
    expect(appeared - postedAt, 'backup row in B').toBeLessThanOrEqual(LIVE_BUDGET_MS);

    // Both: it completes, live.
    for (const p of [pa, pb]) {
      await waitForCell(p, { table: 'Backups', rowSelector: row, column: 'Status', text: 'completed' }, BACKUP_MS);
      await waitForCell(p, { table: 'Backups', rowSelector: row, column: 'Trigger', text: 'manual' }, 5000);
      await waitForCell(p, { table: 'Backups', rowSelector: row, column: 'Objects', text: '1 copied, 0 reused' }, 5000);
      const summary = p.getByTestId('backup-summary');
      await summary.filter({ hasText: 'Last backup: completed' }).waitFor();
      expect(await summary.getAttribute('data-state')).toBe('completed');
      expect(await summary.getAttribute('role')).toBe('status');
      // "Back up now" is enabled again once it is over.
      await expect.poll(() => p.getByRole('button', { name: 'Back up now', exact: true }).isEnabled(), { timeout: 5000 }).toBe(true);
    }
    // B learnt it from the socket, not from a reload or a refetch.
    expect(received(B, 'backup.started').some((f) => f.data.id === backup.id), 'backup.started in B').toBe(true);
    const done = received(B, 'backup.completed').find((f) => f.data.id === backup.id);
    expect(done, 'backup.completed in B').toBeTruthy();
    expect(typeof done.seq).toBe('number');
    const lastSeq = String(done.data.last_seq);
    await waitForCell(pb, { table: 'Backups', rowSelector: row, column: 'Last seq', text: lastSeq }, 5000);
    await pb.screenshot({ path: join(ensureOutDir(), 'backups-light.png'), fullPage: true, animations: 'disabled' });

    // Download: a tar archive under the server's name.
    const downloadP = pa.waitForEvent('download');
    await pa.getByRole('button', { name: `Download ${backup.id}`, exact: true }).click();
    const download = await downloadP;
    expect(download.suggestedFilename()).toBe(`switchboard-backup-${backup.id}.tar`);
    const path = await download.path();
    const bytes = readFileSync(path);
    expect(bytes.length).toBeGreaterThan(1024);
    expect(bytes.subarray(257, 262).toString('latin1'), 'a ustar header').toBe('ustar');

    // Delete, after confirming: it leaves both panels.
    await pa.getByRole('button', { name: `Delete ${backup.id}`, exact: true }).click();
    const confirm = pa.getByRole('dialog', { name: `Delete backup ${backup.id}?`, exact: true });
    await confirm.waitFor();
    const delP = pa.waitForResponse(isApi('DELETE', `/api/backups/${backup.id}`));
    await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
    const del = await delP;
    const deletedAt = Date.now();
    expect(del.status()).toBe(204);
    await confirm.waitFor({ state: 'hidden' });
    await waitForCell(pa, { table: 'Backups', rowSelector: row, present: false }, OBSERVE_MS);
    const gone = await waitForCell(pb, { table: 'Backups', rowSelector: row, present: false }, OBSERVE_MS);
    expect(gone - deletedAt, 'backup gone from B').toBeLessThanOrEqual(LIVE_BUDGET_MS);

    for (const p of [A, B]) {
      expect(p.loads, `${p.name} reloaded`).toBe(1);
      expect(p.pageErrors, p.name).toEqual([]);
    }
  });

  test('b. import: all-or-nothing refuses the file with the bad row\'s line; skip-invalid creates 5, and B sees them and the import live', async () => {
    const pa = A.page;
    const pb = B.page;
    await navTo(pa, 'Users');
    await navTo(pb, 'Users');
    await pb.getByRole('table', { name: 'Users' }).getByRole('link', { name: ADMIN_USERNAME, exact: true }).waitFor();

    const good = [1, 2, 3, 4, 5].map((n) => `e2e-imp-${n}`);
    const csv = [
      'username,email,display_name,role,disabled',
      ...good.map((u, i) => `${u},${u}@example.test,"Imported, No. ${i + 1}",viewer,false`),
      'e2e-imp-bad,not-an-email,Bad Row,viewer,false',
    ].join('\n');

    await pa.getByRole('button', { name: 'Import…', exact: true }).click();
    const dialog = pa.getByRole('dialog', { name: 'Import users', exact: true });
    await dialog.waitFor();
    await dialog.getByLabel('File', { exact: true }).setInputFiles({ name: 'users.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });

    // The preview: the header and the first 5 rows, with their lines; quoted commas kept.
    const preview = dialog.getByRole('table', { name: 'Import preview' });
    await preview.waitFor();
    expect(await preview.locator('tbody tr').count()).toBe(5);
    expect(await preview.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-line')))).toEqual(['2', '3', '4', '5', '6']);
    await preview.getByRole('cell', { name: 'Imported, No. 1', exact: true }).waitFor();
    expect(await dialog.getByLabel('Format', { exact: true }).inputValue()).toBe('csv');
    expect(await dialog.getByRole('radio', { name: 'All or nothing', exact: true }).isChecked()).toBe(true);

    // All or nothing: nothing is created, the bad row is reported at line 7.
    const firstP = pa.waitForResponse(isApi('POST', '/api/users/import'));
    await dialog.getByRole('button', { name: 'Import', exact: true }).click();
    const first = await firstP;
    expect(first.status(), await first.text()).toBe(200);
    expect(new URL(first.url()).searchParams.get('mode')).toBe('all_or_nothing');
    const firstReport = await first.json();
    expect(firstReport).toMatchObject({ created: 0, skipped: 6 });
    await dialog.getByTestId('import-summary').filter({ hasText: '0 created, 6 skipped' }).waitFor();
    const errors = dialog.getByRole('table', { name: 'Import errors' });
    await waitForCell(pa, { table: 'Import errors', rowSelector: 'tr[data-line="7"]', column: 'Field', text: 'email' }, 5000);
    await waitForCell(pa, { table: 'Import errors', rowSelector: 'tr[data-line="7"]', column: 'Line', text: '7' }, 5000);
    expect(await errors.locator('tbody tr').count()).toBe(1);
    expect((await adminApi.expect(200, 'GET', '/api/users?q=e2e-imp')).body.total).toBe(0);

    // A dry run of skip-invalid: what would happen, nothing written.
    await dialog.getByRole('radio', { name: 'Skip invalid rows', exact: true }).check();
    const dryP = pa.waitForResponse(isApi('POST', '/api/users/import'));
    await dialog.getByRole('button', { name: 'Dry run', exact: true }).click();
    const dry = await dryP;
    expect(dry.status(), await dry.text()).toBe(200);
    expect(new URL(dry.url()).searchParams.get('dry_run')).toBe('true');
    await dialog.getByTestId('import-summary').filter({ hasText: 'Dry run: 5 would be created, 1 skipped' }).waitFor();
    expect((await adminApi.expect(200, 'GET', '/api/users?q=e2e-imp')).body.total).toBe(0);

    // Skip invalid: 5 created, 1 skipped.
    const secondP = pa.waitForResponse(isApi('POST', '/api/users/import'));
    await dialog.getByRole('button', { name: 'Import', exact: true }).click();
    const second = await secondP;
    const importedAt = Date.now();
    expect(second.status(), await second.text()).toBe(200);
    const report = await second.json();
    expect(report).toMatchObject({ created: 5, skipped: 1 });
    await dialog.getByTestId('import-summary').filter({ hasText: '5 created, 1 skipped' }).waitFor();
    await waitForCell(pa, { table: 'Import errors', rowSelector: 'tr[data-line="7"]', column: 'Field', text: 'email' }, 5000);
    // The progress bar ends full: every row settled.
    const bar = dialog.getByRole('progressbar', { name: 'Import progress' });
    await expect.poll(() => bar.getAttribute('aria-valuenow'), { timeout: 5000 }).toBe('6');
    expect(await bar.getAttribute('aria-valuemax')).toBe('6');

    // B: the 5 users appear in the users list, live, and the import shows in its banner.
    const created = (await adminApi.expect(200, 'GET', '/api/users?q=e2e-imp&per_page=50')).body.items as { id: string; username: string }[];
    expect(created.map((u) => u.username).sort()).toEqual(good);
    for (const u of created) {
      const seen = await waitForCell(pb, { table: 'Users', rowSelector: `tr[data-user-id="${u.id}"]`, column: 'Username', text: u.username }, OBSERVE_MS);
      expect(seen - importedAt, `${u.username} in B`).toBeLessThanOrEqual(LIVE_BUDGET_MS);
    }
    const banner = pb.getByTestId('import-banner').filter({ hasText: `Import by ${ADMIN_USERNAME} finished: 5 created, 1 skipped` });
    await banner.waitFor({ timeout: OBSERVE_MS });
    expect(await banner.getAttribute('data-import-id')).toBe(report.import_id);
    // B heard the import's progress from the socket.
    const bFrames = ['import.started', 'import.finished'].map((t) => received(B, t).filter((f) => f.data.import_id === report.import_id));
    for (const frames of bFrames) expect(frames.length).toBe(1);
    expect(bFrames[1]![0].data).toMatchObject({ rows_total: 6, rows_done: 6, created: 5, skipped: 1, mode: 'skip_invalid', dry_run: false });
    expect(bFrames[1]![0].actor.username).toBe(ADMIN_USERNAME);

    // A follows its own import in the dialog, not in a banner.
    expect(await pa.getByTestId('import-banner').count()).toBe(0);
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await pa.getByRole('table', { name: 'Users' }).getByRole('link', { name: good[0]!, exact: true }).waitFor();

    for (const p of [A, B]) {
      expect(p.loads, `${p.name} reloaded`).toBe(1);
      expect(p.pageErrors, p.name).toEqual([]);
    }
  });
});
