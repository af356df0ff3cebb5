import { describe, expect, it } from 'vitest';
import { describeUserAgent } from './useragent';

describe('describeUserAgent', () => {
  it('names common browsers and systems', () => {
    expect(describeUserAgent('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36')).toBe('Chrome 131 on Linux');
    expect(describeUserAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0')).toBe('Firefox 133 on Windows');
    expect(
      describeUserAgent('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15'),
    ).toBe('Safari 18 on macOS');
    expect(describeUserAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0')).toBe(
      'Edge 131 on Windows',
    );
    expect(describeUserAgent('curl/8.5.0')).toBe('curl 8.5');
  });
  it('falls back to the raw text, shortened, or "Unknown client"', () => {
    expect(describeUserAgent(null)).toBe('Unknown client');
    expect(describeUserAgent('  ')).toBe('Unknown client');
    expect(describeUserAgent('my-script')).toBe('my-script');
    expect(describeUserAgent('x'.repeat(80))).toHaveLength(58);
  });
});
