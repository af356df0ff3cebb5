// Bulk actions: one request per item (the same endpoint, and so the same guards and the same
// events, as a single change), a few at a time, with a result per item in the input's order.
/** "Select all matching" reads at most this many rows (one request per 200). */
export const SELECT_ALL_CAP = 10_000;

export type BulkOutcome = 'done' | 'skipped' | 'failed';

export interface BulkResult {
  id: string;
  label: string;
  outcome: BulkOutcome;
  /** Why it was skipped or failed, in words. */
  message?: string;
}

export interface BulkJob<T> {
  id(item: T): string;
  label(item: T): string;
  /** A reason (in words) to leave the item out without asking the server, or null. */
  skip?(item: T): string | null;
  run(item: T): Promise<void>;
  /** The error in words. */
  describe(error: unknown): string;
  /** Requests in flight at once (default 4: fast, without crowding out the panel's own). */
  concurrency?: number;
  onProgress?(finished: number, total: number): void;
}

export async function runBulk<T>(items: readonly T[], job: BulkJob<T>): Promise<BulkResult[]> {
  const results: BulkResult[] = new Array(items.length);
  const width = Math.max(1, Math.min(job.concurrency ?? 4, items.length));
  let next = 0;
  let finished = 0;
  const report = () => job.onProgress?.(finished, items.length);
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      const item = items[index]!;
      const base = { id: job.id(item), label: job.label(item) };
      const reason = job.skip?.(item) ?? null;
      if (reason !== null) {
        results[index] = { ...base, outcome: 'skipped', message: reason };
      } else {
        try {
          await job.run(item);
          results[index] = { ...base, outcome: 'done' };
        } catch (e) {
          results[index] = { ...base, outcome: 'failed', message: job.describe(e) };
        }
      }
      finished += 1;
      report();
    }
  }
  report();
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

export function countOutcomes(results: readonly BulkResult[]): Record<BulkOutcome, number> {
  const out = { done: 0, skipped: 0, failed: 0 };
  for (const r of results) out[r.outcome] += 1;
  return out;
}

/** A page of a list with its cursor to the next one (docs/API.md §2). */
export interface CursorPage<T> {
  items: T[];
  next?: string | null;
}

/**
 * Every item a list's filters select, following `next` cursors, at most `cap` of them
 * (`truncated` when there were more).
 */
export async function collectAll<T>(
  fetchPage: (after: string | undefined) => Promise<CursorPage<T>>,
  cap: number,
): Promise<{ items: T[]; truncated: boolean }> {
  const items: T[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await fetchPage(after);
    items.push(...page.items);
    if (items.length >= cap) return { items: items.slice(0, cap), truncated: items.length > cap || !!page.next };
    if (!page.next || page.items.length === 0) return { items, truncated: false };
    after = page.next;
  }
}

/** The paging parameters of a list query (docs/API.md §2). */
export interface PagedQuery {
  page?: number;
  per_page?: number;
  after?: string;
}

/**
 * Every row a list query's filters select ("select all matching"): the query without its paging,
 * read 200 at a time through the cursors, at most `SELECT_ALL_CAP` rows.
 */
export function collectMatching<T, Q extends PagedQuery>(
  list: (q: Q) => Promise<CursorPage<T>>,
  query: Q,
): Promise<{ items: T[]; truncated: boolean }> {
  const { page: _page, per_page: _perPage, after: _after, ...filters } = query;
  return collectAll((after) => list({ ...filters, per_page: 200, ...(after ? { after } : { page: 1 }) } as Q), SELECT_ALL_CAP);
}
