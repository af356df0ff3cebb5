// "Forgot password?": asks for a reset link by e-mail. The answer never tells whether the
// address has an account.
import { useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { AuthCard } from '../components/AuthCard';
import { FormError } from '../components/Field';
import { failure } from '../lib/failure';
import { onLinkClick } from '../router';

export const RESET_SENT_TEXT = 'If that address belongs to an account, a link is on its way';

export function ForgotPage() {
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.requestPasswordReset(email.trim());
      setSent(true);
    } catch (err) {
      setError(failure(err).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthCard title="Forgot password">
      {sent ? (
        <div class="stack">
          <div role="status" class="form-notice">
            {RESET_SENT_TEXT}
          </div>
          <p class="muted small">The link works once and for a limited time. Check your spam folder if nothing arrives.</p>
        </div>
      ) : (
        <form onSubmit={submit} class="stack">
          <p class="muted">Enter the e-mail address of your account and we will send you a link to choose a new password.</p>
          <div class="field">
            <label for="forgot-email">Email</label>
            <input
              id="forgot-email"
              name="email"
              type="email"
              autoComplete="email"
              required
              autoFocus
              value={email}
              onInput={(e) => setEmail(e.currentTarget.value)}
            />
          </div>
          <FormError message={error} />
          <button type="submit" class="btn primary wide" disabled={busy}>
            Send reset link
          </button>
        </form>
      )}
      <a href="/login" class="auth-link" onClick={(e) => onLinkClick(e, '/login')}>
        Back to sign in
      </a>
    </AuthCard>
  );
}
