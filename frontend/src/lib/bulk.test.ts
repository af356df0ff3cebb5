import { describe, expect, test } from 'vitest';
import { collectAll, countOutcomes, runBulk } from './bulk';
import { allSelected, clickRow, togglePage } from './selection';
import { readPerPage, writePerPage } from './prefs';

describe('runBulk', () => {
  test('one result per item in input order: done, skipped (not sent), failed with the reason', async () => {
    const sent: number[] = [];
    const progress: number[] = [];
    const results = await runBulk([1, 2, 3, 4, 5, 6], {
      id: (n) => `u${n}`,
      label: (n) => `user ${n}`,
      skip: (n) => (n === 2 ? 'that is you' : null),
      run: async (n) => {
        sent.push(n);
        // Finish out of order: later items first.
        await new Promise((r) => setTimeout(r, (7 - n) * 2));
        if (n === 5) throw new Error('last admin');
      },
      describe: (e) => (e as Error).message,
      concurrency: 3,
      onProgress: (done) => progress.push(done),
    });
    expect(results.map((r) => r.id)).toEqual(['u1', 'u2', 'u3', 'u4', 'u5', 'u6']);
    expect(results.map((r) => r.outcome)).toEqual(['done', 'skipped', 'done', 'done', 'failed', 'done']);
    expect(results[1]!.message).toBe('that is you');
    expect(results[4]!.message).toBe('last admin');
    expect(sent.sort()).toEqual([1, 3, 4, 5, 6]);
    expect(progress.at(-1)).toBe(6);
    expect(countOutcomes(results)).toEqual({ done: 4, skipped: 1, failed: 1 });
  });

  test('never more than `concurrency` requests at once', async () => {
    let now = 0;
    let peak = 0;
    await runBulk(Array.from({ length: 20 }, (_, i) => i), {
      id: String,
      label: String,
      run: async () => {
        now += 1;
        peak = Math.max(peak, now);
        await new Promise((r) => setTimeout(r, 1));
        now -= 1;
      },
      describe: String,
      concurrency: 4,
    });
    expect(peak).toBe(4);
  });

  test('an empty list is an empty result', async () => {
    expect(await runBulk([], { id: String, label: String, run: async () => {}, describe: String })).toEqual([]);
  });
});

describe('collectAll', () => {
  const pages: Record<string, { items: number[]; next?: string }> = {
    start: { items: [1, 2, 3], next: 'b' },
    b: { items: [4, 5, 6], next: 'c' },
    c: { items: [7] },
  };
  const fetch = async (after: string | undefined) => pages[after ?? 'start']!;

  test('follows the cursors to the end', async () => {
    expect(await collectAll(fetch, 100)).toEqual({ items: [1, 2, 3, 4, 5, 6, 7], truncated: false });
  });

  test('stops at the cap and says so', async () => {
    expect(await collectAll(fetch, 5)).toEqual({ items: [1, 2, 3, 4, 5], truncated: true });
    expect(await collectAll(fetch, 6)).toEqual({ items: [1, 2, 3, 4, 5, 6], truncated: true });
    expect(await collectAll(fetch, 7)).toEqual({ items: [1, 2, 3, 4, 5, 6, 7], truncated: false });
  });
});

describe('selection', () => {
  const ids = ['a', 'b', 'c', 'd', 'e'];

  test('a click toggles one row', () => {
    const s = clickRow(new Set(), ids, 1, null, false);
    expect([...s]).toEqual(['b']);
    expect([...clickRow(s, ids, 1, 1, false)]).toEqual([]);
  });

  test('shift-click sets the range from the anchor, either direction, to the clicked state', () => {
    expect([...clickRow(new Set(['b']), ids, 3, 1, true)].sort()).toEqual(['b', 'c', 'd']);
    expect([...clickRow(new Set(['d']), ids, 0, 3, true)].sort()).toEqual(['a', 'b', 'c', 'd']);
    // Shift-clicking a selected row clears the range.
    expect([...clickRow(new Set(ids), ids, 3, 1, true)].sort()).toEqual(['a', 'e']);
  });

  test('shift without an anchor (or one off the page) is a plain click', () => {
    expect([...clickRow(new Set(), ids, 2, null, true)]).toEqual(['c']);
    expect([...clickRow(new Set(), ids, 2, 9, true)]).toEqual(['c']);
  });

  test('the header box selects the page, keeping rows of other pages, and clears it again', () => {
    const other = new Set(['z']);
    const all = togglePage(other, ids);
    expect(allSelected(all, ids)).toBe(true);
    expect(all.has('z')).toBe(true);
    expect([...togglePage(all, ids)]).toEqual(['z']);
    expect(allSelected(new Set(), [])).toBe(false);
  });
});

describe('per-page choice', () => {
  test('remembered per list; anything else falls back', () => {
    writePerPage('users', 100);
    expect(readPerPage('users')).toBe(100);
    expect(readPerPage('files')).toBe(20);
    localStorage.setItem('switchboard.per_page.files', '7');
    expect(readPerPage('files')).toBe(20);
  });
});
