// Sizes, rates, durations, counts, dates and relative times, through Intl in the panel's
// language (or the `lng` given). Reading the language signal while rendering makes the component
// re-render when it changes. Sizes are decimal (1 kB = 1000 bytes), as the server counts them.
import { locale, tIn, type Locale } from '../i18n';

const numberFormats = new Map<string, Intl.NumberFormat>();

function nf(lng: Locale, opts: Intl.NumberFormatOptions = {}): Intl.NumberFormat {
  const id = `${lng}|${JSON.stringify(opts)}`;
  let f = numberFormats.get(id);
  if (!f) {
    f = new Intl.NumberFormat(lng, opts);
    numberFormats.set(id, f);
  }
  return f;
}

const UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte', 'petabyte'] as const;

/** Digits after the point: three significant ones at most (1.23 kB, 12.3 MB, 123 GB). */
const fractionDigits = (v: number) => (v >= 100 ? 0 : v >= 10 ? 1 : 2);

/** "512 bytes", "1.23 kB", "12.3 MB" (zh-CN: "512字节", "1.23 kB"). */
export function formatBytes(n: number, lng: Locale = locale.value): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  if (n < 1000) return nf(lng, { style: 'unit', unit: 'byte', unitDisplay: 'long' }).format(n);
  let v = n;
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i += 1;
  }
  return nf(lng, { style: 'unit', unit: UNITS[i], unitDisplay: 'short', maximumFractionDigits: fractionDigits(v) }).format(v);
}

/** "1.5 MB/s" (zh-CN: "1.5 MB/秒"); "—" when nothing moves. */
export function formatRate(bytesPerSec: number, lng: Locale = locale.value): string {
  if (!(bytesPerSec > 0) || !Number.isFinite(bytesPerSec)) return '—';
  let v = bytesPerSec / 1000;
  let i = 1;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i += 1;
  }
  return nf(lng, { style: 'unit', unit: `${UNITS[i]}-per-second`, unitDisplay: 'short', maximumFractionDigits: fractionDigits(v) }).format(v);
}

const listFormats = new Map<string, Intl.ListFormat>();

function lf(lng: Locale, opts: Intl.ListFormatOptions): Intl.ListFormat {
  const id = `${lng}|${opts.type}|${opts.style}`;
  let f = listFormats.get(id);
  if (!f) {
    f = new Intl.ListFormat(lng, opts);
    listFormats.set(id, f);
  }
  return f;
}

/** "1 hr 2 min", "3 min 5 sec", "12 sec" (zh-CN: "1小时2分钟", "3分钟5秒", "12秒"). */
export function formatDuration(seconds: number, lng: Locale = locale.value): string {
  const s = Math.max(0, Math.round(seconds));
  const unit = (u: 'hour' | 'minute' | 'second', v: number) => nf(lng, { style: 'unit', unit: u, unitDisplay: 'short' }).format(v);
  const list = lf(lng, { type: 'unit', style: 'narrow' });
  if (s < 60) return unit('second', s);
  const m = Math.floor(s / 60);
  if (m < 60) return list.format([unit('minute', m), unit('second', s % 60)]);
  const h = Math.floor(m / 60);
  return list.format([unit('hour', h), unit('minute', m % 60)]);
}

/** "1,234" (grouped as the language groups digits). */
export function formatCount(n: number, lng: Locale = locale.value): string {
  return nf(lng).format(n);
}

/** A fraction as a whole percentage, rounded down: 0.456 → "45%". */
export function formatPercent(fraction: number, lng: Locale = locale.value): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  return nf(lng, { style: 'percent', maximumFractionDigits: 0 }).format(Math.floor(f * 100) / 100);
}

/** Items joined as the language lists them: "a, b and c" (`and`), "a or b" (`or`). */
export function formatList(items: string[], kind: 'and' | 'or' = 'and', lng: Locale = locale.value): string {
  return lf(lng, { type: kind === 'or' ? 'disjunction' : 'conjunction', style: 'long' }).format(items);
}

const dateFormats = new Map<Locale, Intl.DateTimeFormat>();

/** "Dec 3, 2026, 9:52 AM" (zh-CN: "2026年12月3日 09:52"); '' for none. */
export function formatDate(iso: string | null | undefined, lng: Locale = locale.value): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  let f = dateFormats.get(lng);
  if (!f) {
    f = new Intl.DateTimeFormat(lng, { dateStyle: 'medium', timeStyle: 'short' });
    dateFormats.set(lng, f);
  }
  return f.format(d);
}

const relativeFormats = new Map<Locale, Intl.RelativeTimeFormat>();

/** "just now", "30 seconds ago", "2 minutes ago", "1 hour ago", then the date (zh-CN: "刚刚", "2分钟前"…). */
export function formatRelative(iso: string, now = Date.now(), lng: Locale = locale.value): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  let f = relativeFormats.get(lng);
  if (!f) {
    f = new Intl.RelativeTimeFormat(lng, { numeric: 'auto', style: 'long' });
    relativeFormats.set(lng, f);
  }
  const s = Math.round((now - t) / 1000);
  if (s < 5) return tIn(lng, 'time.just_now');
  if (s < 60) return f.format(-s, 'second');
  const m = Math.round(s / 60);
  if (m < 60) return f.format(-m, 'minute');
  const h = Math.round(m / 60);
  if (h < 24) return f.format(-h, 'hour');
  return formatDate(iso, lng);
}

/** `<input type="datetime-local">` value → RFC 3339 UTC (or null when empty). */
export function localInputToIso(value: string): string | null {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
