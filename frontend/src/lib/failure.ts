// A failed request as forms show it: a sentence for role="alert" and the per-field messages.
import { ApiError } from '../api/http';

export interface Failure {
  message: string;
  fields: Record<string, string>;
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export function failure(e: unknown): Failure {
  if (e instanceof ApiError) {
    if (e.status === 429) {
      const s = e.retryAfter ?? 60;
      return { message: `Too many attempts. Try again in ${s} second${s === 1 ? '' : 's'}.`, fields: {} };
    }
    if (e.status === 0) return { message: 'Cannot reach the server. Check your connection and try again.', fields: {} };
    const message = e.status === 422 && Object.keys(e.fields).length > 0 ? 'Please correct the highlighted fields.' : e.message;
    return { message: capitalise(message), fields: e.fields };
  }
  return { message: capitalise(e instanceof Error ? e.message : String(e)), fields: {} };
}
