// `/reset#token=…`: choose a new password with the link from a reset e-mail (or from an admin).
import { useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { ApiError } from '../api/http';
import { authState, logout } from '../api/session';
import { AuthCard } from '../components/AuthCard';
import { Field, FormError } from '../components/Field';
import { failure, type Failure } from '../lib/failure';
import { tokenFromHash } from '../lib/hash';
import { navigate, onLinkClick } from '../router';
import { loginNotice } from './Login';

export const RESET_DONE_TEXT = 'Your password has been changed. Sign in with your new password.';
const BAD_LINK_TEXT = 'This reset link is invalid, already used or expired. Ask for a new one.';

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
      setFail({ message: 'The passwords do not match.', fields: { confirm: 'does not match' } });
      return;
    }
    setBusy(true);
    setFail(null);
    try {
      await api.confirmPasswordReset(token, password);
      // The new password ended every session of that account; a session of this browser
      // (whoever's) makes way for signing in with it.
      if (authState.peek() === 'in') await logout();
      loginNotice.value = RESET_DONE_TEXT;
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
    <AuthCard title="Choose a new password">
      {!token || gone ? (
        <div class="stack">
          <div role="alert" class="form-error">
            {token ? BAD_LINK_TEXT : 'This link has no reset token. Open the link from the e-mail again.'}
          </div>
          <a href="/forgot" class="auth-link" onClick={(e) => onLinkClick(e, '/forgot')}>
            Ask for a new link
          </a>
        </div>
      ) : (
        <form onSubmit={submit} class="stack" noValidate>
          <Field label="New password" error={fail?.fields.password} hint="At least 8 characters">
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
          <Field label="Repeat new password" error={fail?.fields.confirm}>
            {(p) => (
              <input {...p} type="password" autoComplete="new-password" required value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />
            )}
          </Field>
          <FormError message={fail?.message ?? null} />
          <button type="submit" class="btn primary wide" disabled={busy}>
            Set new password
          </button>
        </form>
      )}
      <a href="/login" class="auth-link" onClick={(e) => onLinkClick(e, '/login')}>
        Back to sign in
      </a>
    </AuthCard>
  );
}
