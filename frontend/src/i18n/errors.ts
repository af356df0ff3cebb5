// Errors as the panel shows them, in the current language.
//
// The server answers `{"error": {"code", "message", "fields"}}` (src/api/http.ts → ApiError). A
// code the catalogue knows (`error.code.<code>`) is shown translated; for the codes whose English
// message carries details the generic text lacks (which file, which limit, which address…), an
// English panel shows the server's own message. An unknown code shows the server's English
// message: it stays the fallback. Field problems (`fields`) are recognised by the server's English
// wording (src/users/validate.rs and friends) and translated, or shown as they are.
import { ApiError } from '../api/http';
import { hasKey, locale, t, tKey, type KeysOf } from './index';

export interface Failure {
  message: string;
  fields: Record<string, string>;
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * Codes whose server message says more than the catalogue's generic text: English shows the
 * server's message for them (other languages the translation).
 */
const DETAILED = new Set([
  'bad_request',
  'forbidden',
  'not_found',
  'conflict',
  'gone',
  'payload_too_large',
  'unsupported_media_type',
  'url_forbidden',
  'task_not_retryable',
  'offset_mismatch',
  'username_taken',
]);

/** The sentence for a failed request (or any error). */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 429 && (e.code === 'rate_limited' || e.code === 'http_error')) {
      return t('error.rate_limited', { count: e.retryAfter ?? 60 });
    }
    const key = `error.code.${e.code}`;
    const server = e.status === 0 ? '' : (e.serverMessage ?? '');
    if (hasKey(key) && !(locale.value === 'en' && server && DETAILED.has(e.code))) return tKey(key);
    if (e.status === 0) return t('error.network');
    if (server) return capitalise(server);
    return t('error.request_failed', { status: e.status });
  }
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------
// Field problems
// ---------------------------------------------------------------------------------------------

type ProblemKey = KeysOf<'problem.'>;

/** The server's English wording → a message of the catalogue (parameters from the match). */
const PROBLEMS: [RegExp, ProblemKey, (m: RegExpExecArray) => Record<string, string | number>][] = [
  [/^must be (\d+) to (\d+) characters$/, 'problem.length_between', (m) => ({ min: Number(m[1]), max: Number(m[2]) })],
  [/^must be (\d+)[–-](\d+) characters$/, 'problem.length_between', (m) => ({ min: Number(m[1]), max: Number(m[2]) })],
  [/^must be at least (\d+) characters$/, 'problem.min_chars', (m) => ({ min: Number(m[1]) })],
  [/^must be at most (\d+) characters$/, 'problem.max_chars', (m) => ({ max: Number(m[1]) })],
  [/^may only contain a-z, 0-9, '_', '\.' and '-'$/, 'problem.username_chars', () => ({})],
  [/^must be a valid email address$/, 'problem.email', () => ({})],
  [/^must not contain control characters$/, 'problem.control_chars', () => ({})],
  [/^must be '?admin'? or '?viewer'?$/, 'problem.role', () => ({})],
  [/^is incorrect$/, 'problem.incorrect', () => ({})],
  [/^is incorrect or expired$/, 'problem.code_incorrect', () => ({})],
  [/^must be in the future$/, 'problem.future', () => ({})],
  [/^must be (\d+)[–-](\d+)$/, 'problem.range', (m) => ({ min: Number(m[1]), max: Number(m[2]) })],
  [/^must be an RFC 3339 timestamp$/, 'problem.timestamp', () => ({})],
  [/^must be an integer$/, 'problem.integer', () => ({})],
  [/^must be an absolute http or https URL$/, 'problem.url', () => ({})],
  [/^must have a host$/, 'problem.host', () => ({})],
  [/^the host (\S+) does not resolve$/, 'problem.host_unresolved', (m) => ({ host: m[1]! })],
  [/^(is )?too long$/, 'problem.too_long', () => ({})],
  [/^must be a non-empty file name$/, 'problem.file_name', () => ({})],
  [/^is taken$/, 'problem.taken', () => ({})],
  [/^the email address is already in use$/, 'problem.email_taken', () => ({})],
  [/^username '([^']*)' is already taken$/, 'problem.username_taken', (m) => ({ name: m[1]! })],
  [/^(\w+) is required$/, 'problem.required', (m) => ({ field: m[1]! })],
  [/^(\w+) must be a string$/, 'problem.not_string', (m) => ({ field: m[1]! })],
  [/^disabled must be true, false, 1 or 0$/, 'problem.disabled_value', () => ({})],
  [/^give password or password_hash, not both$/, 'problem.password_both', () => ({})],
  [/^does not match$/, 'problem.not_match', () => ({})],
  [/^send exactly one file$/, 'problem.one_file', () => ({})],
  [/^must be UTF-8 text$/, 'problem.utf8', () => ({})],
  [/^must list at least one file id$/, 'problem.no_ids', () => ({})],
];

/** A field problem in the current language (the server's text when we do not know it). */
export function problemText(problem: string): string {
  for (const [re, key, params] of PROBLEMS) {
    const m = re.exec(problem.trim());
    if (m) return tKey(key, params(m));
  }
  return problem;
}

/** The name of a form field (`display_name` → "Display name"). */
export function fieldName(field: string): string {
  const key = `field.${field}`;
  return hasKey(key) ? tKey(key) : field.replace(/_/g, ' ');
}

/** A failed request as forms show it: a sentence for role="alert" and the per-field messages. */
export function failure(e: unknown): Failure {
  if (e instanceof ApiError) {
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(e.fields)) fields[k] = problemText(v);
    if (e.status === 422 && Object.keys(fields).length > 0) return { message: t('form.fix_fields'), fields };
    return { message: capitalise(errorMessage(e)), fields };
  }
  return { message: capitalise(errorMessage(e)), fields: {} };
}
