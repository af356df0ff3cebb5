import { describe, expect, it } from 'vitest';
import { filenameFromDisposition } from './download';

describe('filenameFromDisposition', () => {
  it('reads a quoted or bare filename', () => {
    expect(filenameFromDisposition('attachment; filename="switchboard-backup-1.tar"')).toBe('switchboard-backup-1.tar');
    expect(filenameFromDisposition('attachment; filename=plain.tar')).toBe('plain.tar');
    expect(filenameFromDisposition('attachment; filename="a \\"b\\".tar"')).toBe('a "b".tar');
  });

  it('prefers filename* (RFC 5987) and decodes it', () => {
    expect(filenameFromDisposition(`attachment; filename="r_sum_.tar"; filename*=UTF-8''r%C3%A9sum%C3%A9.tar`)).toBe('résumé.tar');
  });

  it('refuses paths and empty names', () => {
    expect(filenameFromDisposition('attachment; filename="../etc/passwd"')).toBeNull();
    expect(filenameFromDisposition('attachment; filename=""')).toBeNull();
    expect(filenameFromDisposition('attachment')).toBeNull();
    expect(filenameFromDisposition(null)).toBeNull();
  });
});
