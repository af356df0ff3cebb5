import { describe, expect, it } from 'vitest';
import { tokenFromHash } from './hash';

describe('tokenFromHash', () => {
  it('reads the token of #token=…', () => {
    expect(tokenFromHash('#token=abc.DEF-123_x')).toBe('abc.DEF-123_x');
  });
  it('reads it among other parameters, without the #, percent-decoded', () => {
    expect(tokenFromHash('#from=mail&token=a%2Bb%3D')).toBe('a+b=');
    expect(tokenFromHash('token=xyz')).toBe('xyz');
  });
  it('is null without a token', () => {
    expect(tokenFromHash('')).toBeNull();
    expect(tokenFromHash('#')).toBeNull();
    expect(tokenFromHash('#token=')).toBeNull();
    expect(tokenFromHash('#token=%20%20')).toBeNull();
    expect(tokenFromHash('#other=1')).toBeNull();
  });
});
