// A labelled form field with its validation message tied to it by aria-describedby.
import type { ComponentChildren } from 'preact';
import { useId } from 'preact/hooks';
import { t } from '../i18n';
import { fieldName } from '../i18n/errors';

interface Props {
  label: string;
  error?: string | undefined;
  hint?: string;
  children: (props: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean }) => ComponentChildren;
}

export function Field({ label, error, hint, children }: Props) {
  const id = useId();
  const errId = `${id}-err`;
  const hintId = `${id}-hint`;
  const describedBy = [error ? errId : '', hint ? hintId : ''].filter(Boolean).join(' ') || undefined;
  const props: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean } = { id };
  if (describedBy) props['aria-describedby'] = describedBy;
  if (error) props['aria-invalid'] = true;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children(props)}
      {hint && (
        <small id={hintId} class="hint">
          {hint}
        </small>
      )}
      {error && (
        <small id={errId} class="field-error">
          {error}
        </small>
      )}
    </div>
  );
}

/** A summary of a failed request (role="alert"): the message and each field problem. */
export function FormError({ message, fields }: { message: string | null; fields?: Record<string, string> }) {
  if (!message) return null;
  const entries = Object.entries(fields ?? {});
  return (
    <div role="alert" class="form-error">
      <p>{message}</p>
      {entries.length > 0 && (
        <ul>
          {entries.map(([k, v]) => (
            <li key={k}>
              {t('form.field_problem', { field: fieldName(k), problem: v })}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
