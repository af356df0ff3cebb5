// Saving a response the page holds (a Blob) as a file, and the name a server suggests for it.

/** The file name of a `Content-Disposition` header (RFC 6266: `filename*` wins), or null. */
export function filenameFromDisposition(header: string | null | undefined): string | null {
  if (!header) return null;
  const star = /(?:^|;)\s*filename\*\s*=\s*([^;]+)/i.exec(header);
  if (star) {
    const value = star[1]!.trim().replace(/^"(.*)"$/, '$1');
    const m = /^([^']*)'[^']*'(.*)$/.exec(value);
    if (m) {
      try {
        const name = decodeURIComponent(m[2]!);
        if (safe(name)) return name;
      } catch {
        /* a malformed encoding: try the plain parameter */
      }
    }
  }
  const plain = /(?:^|;)\s*filename\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]*)/i.exec(header);
  if (plain) {
    const name = plain[2] !== undefined ? plain[2].replace(/\\(.)/g, '$1') : plain[1]!.trim();
    if (safe(name)) return name;
  }
  return null;
}

/** A bare file name: not empty, no path. */
function safe(name: string): boolean {
  return name.trim() !== '' && !/[/\\]/.test(name) && name !== '.' && name !== '..';
}

/** Hands a Blob to the browser as a download named `name`. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
