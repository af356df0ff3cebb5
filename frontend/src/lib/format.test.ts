// Formatting through Intl in both languages (sizes, rates, durations, counts, dates, relative times).
import { afterEach, describe, expect, it } from 'vitest';
import { setLocale } from '../i18n';
import { formatBytes, formatCount, formatDate, formatDuration, formatList, formatPercent, formatRate, formatRelative } from './format';

// Intl output uses narrow no-break spaces in places (e.g. "9:52 AM"): compare on plain spaces.
const plain = (s: string) => s.replace(/[\u00a0\u202f]/g, ' ');

afterEach(() => setLocale('en'));

describe('sizes and rates', () => {
  it('en', () => {
    expect(formatBytes(0, 'en')).toBe('0 bytes');
    expect(formatBytes(1, 'en')).toBe('1 byte');
    expect(formatBytes(999, 'en')).toBe('999 bytes');
    expect(plain(formatBytes(1234, 'en'))).toBe('1.23 kB');
    expect(plain(formatBytes(12_345_678, 'en'))).toBe('12.3 MB');
    expect(plain(formatBytes(123_456_789_012, 'en'))).toBe('123 GB');
    expect(formatBytes(-1, 'en')).toBe('—');
    expect(plain(formatRate(1_500_000, 'en'))).toBe('1.5 MB/s');
    expect(plain(formatRate(500, 'en'))).toBe('0.5 kB/s');
    expect(formatRate(0, 'en')).toBe('—');
  });
  it('zh-CN', () => {
    expect(formatBytes(512, 'zh-CN')).toBe('512字节');
    expect(plain(formatBytes(1234, 'zh-CN'))).toBe('1.23 kB');
    expect(plain(formatBytes(12_345_678, 'zh-CN'))).toBe('12.3 MB');
    expect(plain(formatRate(1_500_000, 'zh-CN'))).toBe('1.5 MB/秒');
  });
});

describe('durations, counts, percentages, lists', () => {
  it('en', () => {
    expect(plain(formatDuration(12, 'en'))).toBe('12 sec');
    expect(plain(formatDuration(185, 'en'))).toBe('3 min 5 sec');
    expect(plain(formatDuration(3720, 'en'))).toBe('1 hr 2 min');
    expect(formatCount(1234567, 'en')).toBe('1,234,567');
    expect(formatPercent(0.456, 'en')).toBe('45%');
    expect(formatList(['username', 'email'], 'or', 'en')).toBe('username or email');
    expect(formatList(['a', 'b', 'c'], 'and', 'en')).toBe('a, b, and c');
  });
  it('zh-CN', () => {
    expect(formatDuration(12, 'zh-CN')).toBe('12秒');
    expect(formatDuration(185, 'zh-CN')).toBe('3分钟5秒');
    expect(formatDuration(3720, 'zh-CN')).toBe('1小时2分钟');
    expect(formatCount(1234567, 'zh-CN')).toBe('1,234,567');
    expect(formatPercent(0.456, 'zh-CN')).toBe('45%');
    expect(formatList(['username', 'email'], 'or', 'zh-CN')).toBe('username或email');
    expect(formatList(['a', 'b', 'c'], 'and', 'zh-CN')).toBe('a、b和c');
  });
  it('follow the current language by default', () => {
    setLocale('zh-CN');
    expect(formatDuration(185)).toBe('3分钟5秒');
    setLocale('en');
    expect(plain(formatDuration(185))).toBe('3 min 5 sec');
  });
});

describe('dates and relative times', () => {
  // Midday UTC: the same calendar day in every time zone the tests may run in.
  const iso = '2026-12-03T12:00:00Z';
  const now = Date.parse(iso);
  const ago = (s: number) => new Date(now - s * 1000).toISOString();

  it('en', () => {
    expect(plain(formatDate(iso, 'en'))).toMatch(/^Dec 3, 2026, \d{1,2}:\d{2} (AM|PM)$/);
    expect(formatDate(null, 'en')).toBe('');
    expect(formatDate('not a date', 'en')).toBe('not a date');
    expect(formatRelative(ago(2), now, 'en')).toBe('just now');
    expect(formatRelative(ago(30), now, 'en')).toBe('30 seconds ago');
    expect(formatRelative(ago(120), now, 'en')).toBe('2 minutes ago');
    expect(formatRelative(ago(60), now, 'en')).toBe('1 minute ago');
    expect(formatRelative(ago(3 * 3600), now, 'en')).toBe('3 hours ago');
    expect(formatRelative(ago(3 * 86400), now, 'en')).toBe(formatDate(ago(3 * 86400), 'en'));
  });
  it('zh-CN', () => {
    expect(formatDate(iso, 'zh-CN')).toMatch(/^2026年12月3日 \d{2}:\d{2}$/);
    expect(formatRelative(ago(2), now, 'zh-CN')).toBe('刚刚');
    expect(formatRelative(ago(120), now, 'zh-CN')).toBe('2分钟前');
    expect(formatRelative(ago(3 * 3600), now, 'zh-CN')).toBe('3小时前');
  });
});
