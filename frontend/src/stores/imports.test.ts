import { describe, expect, it } from 'vitest';
import type { ImportProgress } from '../realtime/events';
import { ADMIN, ALICE, ev } from '../test/fixtures';
import { createImportsStore } from './imports';

function counts(over: Partial<ImportProgress> = {}): ImportProgress {
  return { import_id: 'imp-1', dry_run: false, mode: 'all_or_nothing', rows_total: 100, rows_done: 0, created: 0, skipped: 0, errors: 0, ...over };
}

function clock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('imports store', () => {
  it('follows an import from start to finish, counts only forward', () => {
    const c = clock();
    const store = createImportsStore({ now: c.now });
    expect(store.applyEvent(ev('import.started', null, counts(), ADMIN))).toBe(true);
    expect(store.running.value).toHaveLength(1);
    expect(store.applyEvent(ev('import.progress', null, counts({ rows_done: 40 }), ADMIN))).toBe(true);
    // An older snapshot arriving late does not move it back.
    expect(store.applyEvent(ev('import.progress', null, counts({ rows_done: 20 }), ADMIN))).toBe(false);
    expect(store.get('imp-1')?.rows_done).toBe(40);
    expect(store.applyEvent(ev('import.finished', null, counts({ rows_done: 100, created: 90, skipped: 10, errors: 10 }), ADMIN))).toBe(true);
    expect(store.running.value).toHaveLength(0);
    expect(store.get('imp-1')).toMatchObject({ state: 'finished', created: 90, skipped: 10, actor: ADMIN });
    // Once finished, never running again, and finished only once.
    expect(store.applyEvent(ev('import.progress', null, counts({ rows_done: 99 }), ADMIN))).toBe(false);
    expect(store.applyEvent(ev('import.finished', null, counts({ rows_done: 100 }), ADMIN))).toBe(false);
    expect(store.get('imp-1')?.state).toBe('finished');
  });

  it('joins an import already under way from its progress events', () => {
    const store = createImportsStore();
    store.applyEvent(ev('import.progress', null, counts({ import_id: 'late', rows_done: 7 }), ALICE));
    expect(store.running.value.map((r) => [r.import_id, r.rows_done, r.actor?.username])).toEqual([['late', 7, 'alice']]);
  });

  it('a dialog claims the newest import of its admin started after it sent the file', () => {
    const c = clock();
    const store = createImportsStore({ now: c.now });
    store.applyEvent(ev('import.started', null, counts({ import_id: 'old' }), ADMIN));
    c.advance(10);
    const since = c.now();
    store.applyEvent(ev('import.started', null, counts({ import_id: 'other' }), ALICE));
    expect(store.newestUnclaimedBy(ADMIN.id, since)).toBeUndefined();
    c.advance(5);
    store.applyEvent(ev('import.started', null, counts({ import_id: 'mine' }), ADMIN));
    expect(store.newestUnclaimedBy(ADMIN.id, since)?.import_id).toBe('mine');
    store.claim('mine');
    expect(store.claimed.value.has('mine')).toBe(true);
    expect(store.newestUnclaimedBy(ADMIN.id, since)).toBeUndefined();
    store.unclaim('mine');
    expect(store.newestUnclaimedBy(ADMIN.id, since)?.import_id).toBe('mine');
  });

  it('sweeps finished imports after a while and running ones not heard of for long', () => {
    const c = clock();
    const store = createImportsStore({ now: c.now, keepFinishedMs: 1000, staleMs: 5000 });
    store.applyEvent(ev('import.started', null, counts({ import_id: 'a' }), ADMIN));
    store.applyEvent(ev('import.started', null, counts({ import_id: 'b' }), ADMIN));
    store.applyEvent(ev('import.finished', null, counts({ import_id: 'a', rows_done: 100 }), ADMIN));
    c.advance(1500);
    store.sweep();
    expect(store.runs.value.map((r) => r.import_id)).toEqual(['b']);
    c.advance(4000);
    store.sweep();
    expect(store.runs.value).toEqual([]);
    // A swept finished import stays finished.
    expect(store.applyEvent(ev('import.progress', null, counts({ import_id: 'a', rows_done: 100 }), ADMIN))).toBe(false);
  });

  it('ignores other events', () => {
    const store = createImportsStore();
    expect(store.applyEvent(ev('user.deleted', 1, { id: 'x' }))).toBe(false);
  });
});
