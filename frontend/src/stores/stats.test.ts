import { describe, expect, test, vi } from 'vitest';
import type { Stats, StatsPoint } from '../api/types';
import type { EventFrame } from '../realtime/events';
import { ev, file, flush, user } from '../test/fixtures';
import { addToSeries, applyToStats, chartData, createStatsStore, DAY_MS, HOUR_MS, updateBusiest } from './stats';

const T0 = Date.parse('2026-12-04T10:00:00Z');

function series(n: number, width: number, lastStart: number): StatsPoint[] {
  return Array.from({ length: n }, (_, i) => ({
    start: new Date(lastStart - (n - 1 - i) * width).toISOString(),
    downloads: 0,
    download_bytes: 0,
    uploads: 0,
    upload_bytes: 0,
  }));
}

function stats(over: Partial<Stats> = {}): Stats {
  return {
    generated_at: new Date(T0).toISOString(),
    users: 3,
    admins: 1,
    disabled: 0,
    files: 2,
    bytes_stored: 2000,
    downloads_today: 0,
    uploads_today: 0,
    transfers_in_flight: 0,
    online: 1,
    admins_online: 1,
    hourly: series(24, HOUR_MS, T0),
    daily: series(30, DAY_MS, Date.parse('2026-12-04T00:00:00Z')),
    busiest_files: [],
    ...over,
  };
}

function at<F extends EventFrame>(frame: F, iso: string): F {
  return { ...frame, ts: iso };
}

function download(fileId: string, bytes: number, iso: string, count = 1): EventFrame {
  return at(ev('download.completed', 10, { download_id: 'd', file_id: fileId, via: 'api', bytes, duration_ms: 5, download_count: count }), iso);
}

describe('addToSeries', () => {
  test('an event lands in the bucket that holds its ts', () => {
    const s = series(24, HOUR_MS, T0);
    const r = addToSeries(s, HOUR_MS, T0 - HOUR_MS + 1, 'download', 500);
    expect(r.inLast).toBe(false);
    expect(r.series[22]).toMatchObject({ downloads: 1, download_bytes: 500 });
    expect(r.series[23]).toMatchObject({ downloads: 0 });
    expect(s[22]!.downloads, 'the input is not changed').toBe(0);
  });

  test('the last bucket is inclusive of its start and exclusive of its end', () => {
    const s = series(24, HOUR_MS, T0);
    expect(addToSeries(s, HOUR_MS, T0, 'upload', 7).inLast).toBe(true);
    expect(addToSeries(s, HOUR_MS, T0 + HOUR_MS - 1, 'upload', 7).inLast).toBe(true);
  });

  test('a later hour slides the window: oldest dropped, new buckets appended, length kept', () => {
    const s = series(24, HOUR_MS, T0);
    s[23]!.downloads = 4;
    const r = addToSeries(s, HOUR_MS, T0 + 2 * HOUR_MS + 5, 'download', 1);
    expect(r.series).toHaveLength(24);
    expect(r.inLast).toBe(true);
    expect(Date.parse(r.series[23]!.start)).toBe(T0 + 2 * HOUR_MS);
    expect(r.series[21]!.downloads, 'the old current hour moved back by two').toBe(4);
    expect(r.series[22]!.downloads).toBe(0);
    expect(r.series[23]!.downloads).toBe(1);
  });

  test('a jump past the whole window leaves only the new bucket filled', () => {
    const s = series(24, HOUR_MS, T0);
    s.forEach((p) => (p.downloads = 1));
    const r = addToSeries(s, HOUR_MS, T0 + 100 * HOUR_MS, 'download', 1);
    expect(r.series).toHaveLength(24);
    expect(r.series.map((p) => p.downloads)).toEqual([...Array(23).fill(0), 1]);
    const starts = r.series.map((p) => Date.parse(p.start));
    expect(starts.at(-1)).toBe(T0 + 100 * HOUR_MS);
    starts.slice(1).forEach((v, i) => expect(v - starts[i]!).toBe(HOUR_MS));
  });

  test('an event older than the window is left out', () => {
    const r = addToSeries(series(24, HOUR_MS, T0), HOUR_MS, T0 - 30 * HOUR_MS, 'download', 1);
    expect(r.series.every((p) => p.downloads === 0)).toBe(true);
  });
});

describe('applyToStats: chart data built from events', () => {
  test('a download counts in the hour, today and the downloads-today card', () => {
    const next = applyToStats(stats(), download('f1', 1234, '2026-12-04T10:15:00Z'))!;
    expect(next.downloads_today).toBe(1);
    expect(next.hourly[23]).toMatchObject({ downloads: 1, download_bytes: 1234 });
    expect(next.daily[29]).toMatchObject({ downloads: 1, download_bytes: 1234 });
  });

  test('a stored file counts as an upload and adds to files and bytes stored', () => {
    const f = file({ id: 'f9', size: 4096 });
    const next = applyToStats(stats(), at(ev('file.created', 11, f), '2026-12-04T10:20:00Z'))!;
    expect(next).toMatchObject({ uploads_today: 1, files: 3, bytes_stored: 6096 });
    expect(next.hourly[23]).toMatchObject({ uploads: 1, upload_bytes: 4096 });
  });

  test('after midnight the day rolls: downloads today starts again from the new event', () => {
    const s = stats({ downloads_today: 5 });
    s.daily[29]!.downloads = 5;
    const next = applyToStats(s, download('f1', 1, '2026-12-05T00:00:01Z'))!;
    expect(next.downloads_today).toBe(1);
    expect(next.daily[28]!.downloads).toBe(5);
  });

  test('events without traffic change nothing shown', () => {
    expect(applyToStats(stats(), ev('user.created', 3, user()))).toBeNull();
  });

  test('chartData turns a series into uPlot columns (seconds, downloads, uploads)', () => {
    let s = stats();
    for (const m of ['05', '10', '15']) s = applyToStats(s, download('f1', 100, `2026-12-04T10:${m}:00Z`))!;
    s = applyToStats(s, at(ev('file.created', 20, file({ id: 'u', size: 50 })), '2026-12-04T09:30:00Z'))!;
    const [xs, down, up] = chartData(s.hourly, 'count');
    expect(xs).toHaveLength(24);
    expect(xs[23]).toBe(T0 / 1000);
    expect(down.slice(-2)).toEqual([0, 3]);
    expect(up.slice(-2)).toEqual([1, 0]);
    const [, downBytes, upBytes] = chartData(s.hourly, 'bytes');
    expect(downBytes[23]).toBe(300);
    expect(upBytes[22]).toBe(50);
  });
});

describe('updateBusiest', () => {
  const busy = (id: string, n: number) => ({ id, name: id, size: 1, download_count: n });

  test('a new count re-sorts the list and keeps at most five', () => {
    const list = [busy('a', 9), busy('b', 7), busy('c', 5), busy('d', 3), busy('e', 2)];
    expect(updateBusiest(list, busy('e', 8)).map((f) => f.id)).toEqual(['a', 'e', 'b', 'c', 'd']);
    expect(updateBusiest(list, busy('z', 4)).map((f) => f.id)).toEqual(['a', 'b', 'c', 'z', 'd']);
    expect(updateBusiest(list, busy('z', 2)).map((f) => f.id), 'a tie with the smallest does not push in').toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  test('a deleted file leaves the list', () => {
    expect(updateBusiest([busy('a', 1)], { id: 'a', deleted: true })).toEqual([]);
  });
});

describe('the store', () => {
  test('applies traffic at once and reads the figures again shortly after', async () => {
    vi.useFakeTimers();
    try {
      const getStats = vi.fn(async () => stats({ users: 4 }));
      const store = createStatsStore({ getStats, tzOffset: () => 480, refetchDelayMs: 100 });
      await store.load();
      expect(getStats).toHaveBeenCalledWith(480);
      store.applyEvent(download('f1', 10, new Date(T0 + 60_000).toISOString()));
      expect(store.stats.value!.downloads_today).toBe(1);
      getStats.mockResolvedValueOnce(stats({ users: 4, downloads_today: 1 }));
      await vi.advanceTimersByTimeAsync(100);
      await flush();
      expect(getStats).toHaveBeenCalledTimes(2);
      expect(store.stats.value!.downloads_today).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  test('an answer that may predate a traffic event is thrown away and asked again', async () => {
    vi.useFakeTimers();
    try {
      let resolve: (s: Stats) => void = () => {};
      const getStats = vi.fn(async () => stats());
      const store = createStatsStore({ getStats, refetchDelayMs: 50 });
      await store.load();
      getStats.mockImplementationOnce(() => new Promise<Stats>((r) => (resolve = r)));
      const pending = store.load();
      store.applyEvent(download('f1', 10, new Date(T0 + 1000).toISOString()));
      resolve(stats({ downloads_today: 0 }));
      await pending;
      expect(store.stats.value!.downloads_today, 'the figure does not step back').toBe(1);
      getStats.mockResolvedValueOnce(stats({ downloads_today: 1, users: 9 }));
      await vi.advanceTimersByTimeAsync(60);
      await flush();
      expect(store.stats.value).toMatchObject({ downloads_today: 1, users: 9 });
    } finally {
      vi.useRealTimers();
    }
  });
});
