// "Forgot password?": asks for a reset link by e-mail. The answer never tells whether the
// address has an account.
import { useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { AuthCard } from '../components/AuthCard';
import { FormError } from '../components/Field';
import { t } from '../i18n';
import { failure } from '../lib/failure';
import { onLinkClick } from '../router';

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
    <AuthCard title={t('forgot.title')}>
      {sent ? (
        <div class="stack">
          <div role="status" class="form-notice">
            {t('forgot.sent')}
          </div>
          <p class="muted small">{t('forgot.sent_hint')}</p>
        </div>
      ) : (
        <form onSubmit={submit} class="stack">
          <p class="muted">{t('forgot.intro')}</p>
          <div class="field">
            <label for="forgot-email">{t('field.email')}</label>
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
            {t('forgot.submit')}
          </button>
        </form>
      )}
      <a href="/login" class="auth-link" onClick={(e) => onLinkClick(e, '/login')}>
        {t('auth.back_to_sign_in')}
      </a>
    </AuthCard>
  );
}
