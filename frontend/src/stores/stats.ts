// The dashboard's figures: `GET /api/stats` (docs/API.md §7.1), kept live from the event stream.
//
// Traffic events (`download.completed`, `file.created`) are added to the series the instant they
// arrive, by the same rule the server counts them with (`src/realtime/traffic.rs`): the bucket
// whose [start, start + width) holds the event's ts, new buckets appended when time has moved
// past the last one. Counts the events cannot give exactly (users by role, deleted files' bytes,
// transfers in flight, who is online) come from a refetch shortly after a change; a refetch that
// was in flight while a traffic event arrived may predate it, so it is thrown away and asked again
// rather than let the figure step back.
import { batch, signal } from '@preact/signals-core';
import type { BusyFile, Stats, StatsPoint } from '../api/types';
import { errorMessage } from '../i18n/errors';
import type { EventFrame } from '../realtime/events';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** At most this many busiest files (the server's limit). */
const BUSIEST = 5;

const emptyPoint = (start: number): StatsPoint => ({
  start: new Date(start).toISOString(),
  downloads: 0,
  download_bytes: 0,
  uploads: 0,
  upload_bytes: 0,
});

export type Direction = 'download' | 'upload';

/**
 * `series` with one more download or upload of `bytes` at `at` (ms): added to the bucket that
 * holds it; later than the last bucket → the window slides forward (oldest buckets dropped, empty
 * ones appended) until one holds it; older than the first → left out. Returns whether the last
 * bucket (the current hour or today) received it, and the new series.
 */
export function addToSeries(
  series: readonly StatsPoint[],
  widthMs: number,
  at: number,
  dir: Direction,
  bytes: number,
): { series: StatsPoint[]; inLast: boolean } {
  const out = series.map((p) => ({ ...p }));
  if (out.length === 0 || !Number.isFinite(at)) return { series: out, inLast: false };
  let lastStart = Date.parse(out[out.length - 1]!.start);
  if (at >= lastStart + widthMs) {
    const steps = Math.floor((at - lastStart) / widthMs);
    const keep = out.length;
    for (let i = 0; i < Math.min(steps, keep); i++) out.shift();
    const first = steps > keep ? lastStart + (steps - keep + 1) * widthMs : lastStart + widthMs;
    for (let s = first; out.length < keep; s += widthMs) out.push(emptyPoint(s));
    lastStart = Date.parse(out[out.length - 1]!.start);
  }
  const index = out.findIndex((p) => {
    const s = Date.parse(p.start);
    return at >= s && at < s + widthMs;
  });
  if (index < 0) return { series: out, inLast: false };
  const p = out[index]!;
  if (dir === 'download') {
    p.downloads += 1;
    p.download_bytes += bytes;
  } else {
    p.uploads += 1;
    p.upload_bytes += bytes;
  }
  return { series: out, inLast: index === out.length - 1 };
}

/** The busiest files after a file's count changed to `count` (or it was renamed / deleted). */
export function updateBusiest(list: readonly BusyFile[], file: BusyFile | { id: string; deleted: true }): BusyFile[] {
  const rest = list.filter((f) => f.id !== file.id);
  if ('deleted' in file) return rest;
  if (file.download_count <= 0) return rest;
  const was = list.some((f) => f.id === file.id);
  const smallest = list.length >= BUSIEST ? Math.min(...list.map((f) => f.download_count)) : 0;
  // A file not on the list joins only if it beats the smallest there (others may tie unseen).
  if (!was && list.length >= BUSIEST && file.download_count <= smallest) return [...list];
  return [...rest, file].sort((a, b) => b.download_count - a.download_count || a.name.localeCompare(b.name)).slice(0, BUSIEST);
}

/**
 * The figures after one event, as far as the event tells: traffic into both series and the
 * today counts, a new file into the file count and bytes stored, a download count into the
 * busiest files. Returns null when the event changes nothing shown.
 */
export function applyToStats(stats: Stats, frame: EventFrame): Stats | null {
  const at = Date.parse(frame.ts);
  switch (frame.type) {
    case 'download.completed': {
      const bytes = frame.data.bytes;
      const hourly = addToSeries(stats.hourly, HOUR_MS, at, 'download', bytes).series;
      const daily = addToSeries(stats.daily, DAY_MS, at, 'download', bytes);
      const today = daily.series[daily.series.length - 1];
      return { ...stats, hourly, daily: daily.series, downloads_today: today?.downloads ?? stats.downloads_today };
    }
    case 'file.created': {
      const size = frame.data.size;
      const hourly = addToSeries(stats.hourly, HOUR_MS, at, 'upload', size).series;
      const daily = addToSeries(stats.daily, DAY_MS, at, 'upload', size);
      const today = daily.series[daily.series.length - 1];
      return {
        ...stats,
        hourly,
        daily: daily.series,
        uploads_today: today?.uploads ?? stats.uploads_today,
        files: stats.files + 1,
        bytes_stored: stats.bytes_stored + size,
      };
    }
    case 'file.updated': {
      const f = frame.data;
      const busiest_files = updateBusiest(stats.busiest_files, { id: f.id, name: f.name, size: f.size, download_count: f.download_count });
      return { ...stats, busiest_files };
    }
    case 'file.deleted':
      return { ...stats, busiest_files: updateBusiest(stats.busiest_files, { id: frame.data.id, deleted: true }) };
    default:
      return null;
  }
}

/** Events after which the figures are read again (what they change is not in the event). */
export function needsRefetch(frame: EventFrame): boolean {
  const t = frame.type;
  return (
    t.startsWith('user.') ||
    t === 'file.deleted' ||
    t.startsWith('presence.') ||
    t === 'download.started' ||
    t === 'download.completed' ||
    t === 'download.aborted' ||
    t === 'upload.started' ||
    t === 'upload.aborted' ||
    t === 'upload.paused' ||
    t === 'file.created' ||
    t === 'backup.completed'
  );
}

/** Chart columns for uPlot: x in seconds, then downloads, uploads (counts or bytes). */
export type ChartData = [number[], number[], number[]];

export function chartData(series: readonly StatsPoint[], measure: 'count' | 'bytes'): ChartData {
  const xs: number[] = [];
  const down: number[] = [];
  const up: number[] = [];
  for (const p of series) {
    xs.push(Date.parse(p.start) / 1000);
    down.push(measure === 'count' ? p.downloads : p.download_bytes);
    up.push(measure === 'count' ? p.uploads : p.upload_bytes);
  }
  return [xs, down, up];
}

export interface StatsDeps {
  getStats(tzOffsetMinutes: number): Promise<Stats>;
  /** Minutes east of UTC of the browser's zone, now. */
  tzOffset?: () => number;
  /** Delay before a refetch after an event (ms); changes within it share one request. */
  refetchDelayMs?: number;
}

/** Local zone's offset east of UTC (Date.getTimezoneOffset counts west). */
export const browserTzOffset = (): number => -new Date().getTimezoneOffset();

export function createStatsStore(deps: StatsDeps) {
  const stats = signal<Stats | null>(null);
  const error = signal<string | null>(null);
  const delay = deps.refetchDelayMs ?? 400;
  const tz = deps.tzOffset ?? browserTzOffset;
  /** Bumped by every traffic event applied: a response older than one is stale. */
  let trafficGen = 0;
  let discarded = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight = false;
  let again = false;

  async function load(): Promise<void> {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    const gen = trafficGen;
    try {
      const s = await deps.getStats(tz());
      // Traffic applied meanwhile may be missing from the answer: ask again (a few times at most,
      // so constant traffic cannot keep the other counts from ever refreshing).
      if (gen !== trafficGen && stats.peek() !== null && discarded < 3) {
        discarded += 1;
        again = true;
      } else {
        discarded = 0;
        batch(() => {
          stats.value = s;
          error.value = null;
        });
      }
    } catch (e) {
      error.value = errorMessage(e);
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  }

  function schedule(): void {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void load();
    }, delay);
  }

  function applyEvent(frame: EventFrame): void {
    const s = stats.peek();
    if (s === null) return;
    const next = applyToStats(s, frame);
    if (next !== null) {
      if (frame.type === 'download.completed' || frame.type === 'file.created') trafficGen += 1;
      stats.value = next;
    }
    if (needsRefetch(frame)) schedule();
  }

  return { stats, error, load, applyEvent };
}

export type StatsStore = ReturnType<typeof createStatsStore>;
