// `/reset#token=…`: choose a new password with the link from a reset e-mail (or from an admin).
import { useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { ApiError } from '../api/http';
import { authState, logout } from '../api/session';
import { AuthCard } from '../components/AuthCard';
import { Field, FormError } from '../components/Field';
import { t } from '../i18n';
import { failure, type Failure } from '../lib/failure';
import { tokenFromHash } from '../lib/hash';
import { navigate, onLinkClick } from '../router';
import { loginNotice } from './Login';

export function ResetPage() {
  const [token] = useState(() => tokenFromHash(location.hash));
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [fail, setFail] = useState<Failure | null>(null);
  const [gone, setGone] = useState(false);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    if (!token) return;
    if (password !== confirm) {
      setFail({ message: t('reset.mismatch'), fields: { confirm: t('problem.not_match') } });
      return;
    }
    setBusy(true);
    setFail(null);
    try {
      await api.confirmPasswordReset(token, password);
      // The new password ended every session of that account; a session of this browser
      // (whoever's) makes way for signing in with it.
      if (authState.peek() === 'in') await logout();
      loginNotice.value = 'login.password_changed';
      navigate('/login', { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.status === 410) setGone(true);
      else {
        const f = failure(err);
        // The server names the field `new_password`.
        setFail({ message: f.message, fields: f.fields.new_password ? { password: f.fields.new_password } : f.fields });
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthCard title={t('reset.title')}>
      {!token || gone ? (
        <div class="stack">
          <div role="alert" class="form-error">
            {token ? t('reset.bad_link') : t('reset.no_token')}
          </div>
          <a href="/forgot" class="auth-link" onClick={(e) => onLinkClick(e, '/forgot')}>
            {t('reset.ask_new')}
          </a>
        </div>
      ) : (
        <form onSubmit={submit} class="stack" noValidate>
          <Field label={t('field.new_password')} error={fail?.fields.password} hint={t('hint.password')}>
            {(p) => (
              <input
                {...p}
                type="password"
                autoComplete="new-password"
                required
                autoFocus
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            )}
          </Field>
          <Field label={t('field.confirm')} error={fail?.fields.confirm}>
            {(p) => (
              <input {...p} type="password" autoComplete="new-password" required value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />
            )}
          </Field>
          <FormError message={fail?.message ?? null} />
          <button type="submit" class="btn primary wide" disabled={busy}>
            {t('reset.submit')}
          </button>
        </form>
      )}
      <a href="/login" class="auth-link" onClick={(e) => onLinkClick(e, '/login')}>
        {t('auth.back_to_sign_in')}
      </a>
    </AuthCard>
  );
}
