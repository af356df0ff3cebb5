// Single-use tokens travel in the fragment of emailed links (`/invite#token=…`, `/reset#token=…`),
// which browsers never send to the server nor in a Referer.

/** The `token` parameter of a location hash (`#token=abc` or `#a=1&token=abc`), or null. */
export function tokenFromHash(hash: string): string | null {
  const raw = hash.startsWith('#') ? hash.slice(1) : hash;
  if (!raw) return null;
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(raw);
  } catch {
    return null;
  }
  const token = params.get('token')?.trim();
  return token ? token : null;
}
