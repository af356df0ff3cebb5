// A failed request as forms show it: a sentence for role="alert" and the per-field messages,
// in the current language (src/i18n/errors.ts).
export { failure, type Failure } from '../i18n/errors';
