// `/invite#token=…`: the invitee sees the address and role, chooses a username and password,
// and is signed in.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { ApiError } from '../api/http';
import { adoptTokens, authState, currentUser, logout } from '../api/session';
import type { InvitationPreview } from '../api/types';
import { AuthCard } from '../components/AuthCard';
import { Field, FormError } from '../components/Field';
import { t, tx } from '../i18n';
import { roleName } from '../i18n/labels';
import { failure, type Failure } from '../lib/failure';
import { formatDate } from '../lib/format';
import { tokenFromHash } from '../lib/hash';
import { HOME, navigate, onLinkClick } from '../router';

export function InvitePage() {
  const [token] = useState(() => tokenFromHash(location.hash));
  const [preview, setPreview] = useState<InvitationPreview | null>(null);
  // A problem with the link, by its message key (or an error's own words).
  const [problem, setProblem] = useState<{ key: 'invite.gone' | 'invite.no_token' } | { text: string } | null>(token ? null : { key: 'invite.no_token' });
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!token) return;
    api.inspectInvitation(token).then(setPreview, (e: unknown) => {
      setProblem(e instanceof ApiError && e.status === 410 ? { key: 'invite.gone' } : { text: failure(e).message });
    });
  }, [token]);

  async function submit(e: Event) {
    e.preventDefault();
    if (!token) return;
    setBusy(true);
    setFail(null);
    try {
      const t = await api.acceptInvitation(token, username.trim(), password);
      // Someone else signed in in this browser makes way for the new account.
      if (authState.peek() === 'in') await logout();
      await adoptTokens(t);
      navigate(HOME, { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.status === 410) setProblem({ key: 'invite.gone' });
      else if (err instanceof ApiError && err.status === 409) setFail({ message: t('invite.username_taken'), fields: { username: t('problem.taken') } });
      else setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  const signedInAs = authState.value === 'in' ? currentUser.value?.username : undefined;
  const fe = fail?.fields ?? {};
  return (
    <AuthCard title={t('invite.title')}>
      {problem ? (
        <div role="alert" class="form-error">
          {'key' in problem ? t(problem.key) : problem.text}
        </div>
      ) : !preview ? (
        <p class="muted" aria-busy="true">
          {t('invite.checking')}
        </p>
      ) : (
        <form onSubmit={submit} class="stack" noValidate>
          <p>{tx('invite.intro', { role: <strong data-testid="invitation-role">{roleName(preview.role)}</strong> })}</p>
          <dl class="facts">
            <dt>{t('field.email')}</dt>
            <dd data-testid="invitation-email">{preview.email}</dd>
            <dt>{t('invite.valid_until')}</dt>
            <dd>
              <time dateTime={preview.expires_at}>{formatDate(preview.expires_at)}</time>
            </dd>
          </dl>
          {signedInAs && <p class="muted small">{t('invite.signed_in_as', { username: signedInAs })}</p>}
          <Field label={t('field.username')} error={fe.username} hint={t('hint.username')}>
            {(p) => (
              <input
                {...p}
                type="text"
                autoComplete="username"
                autoCapitalize="none"
                spellcheck={false}
                required
                autoFocus
                value={username}
                onInput={(e) => setUsername(e.currentTarget.value)}
              />
            )}
          </Field>
          <Field label={t('field.password')} error={fe.password} hint={t('hint.password')}>
            {(p) => (
              <input {...p} type="password" autoComplete="new-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
            )}
          </Field>
          <FormError message={fail?.message ?? null} fields={fail?.fields} />
          <button type="submit" class="btn primary wide" disabled={busy}>
            {t('invite.submit')}
          </button>
        </form>
      )}
      {authState.value !== 'in' && (
        <a href="/login" class="auth-link" onClick={(e) => onLinkClick(e, '/login')}>
          {t('auth.back_to_sign_in')}
        </a>
      )}
    </AuthCard>
  );
}
