// `/invite#token=…`: the invitee sees the address and role, chooses a username and password,
// and is signed in.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { ApiError } from '../api/http';
import { adoptTokens, authState, currentUser, logout } from '../api/session';
import type { InvitationPreview } from '../api/types';
import { AuthCard } from '../components/AuthCard';
import { Field, FormError } from '../components/Field';
import { failure, type Failure } from '../lib/failure';
import { formatDate } from '../lib/format';
import { tokenFromHash } from '../lib/hash';
import { navigate, onLinkClick } from '../router';

const GONE_TEXT = 'This invitation is invalid, already used, revoked or expired. Ask the person who invited you for a new one.';

export function InvitePage() {
  const [token] = useState(() => tokenFromHash(location.hash));
  const [preview, setPreview] = useState<InvitationPreview | null>(null);
  const [problem, setProblem] = useState<string | null>(token ? null : 'This link has no invitation token. Open the link you were sent again.');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!token) return;
    api.inspectInvitation(token).then(setPreview, (e: unknown) => {
      setProblem(e instanceof ApiError && e.status === 410 ? GONE_TEXT : failure(e).message);
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
      navigate('/users', { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.status === 410) setProblem(GONE_TEXT);
      else if (err instanceof ApiError && err.status === 409) setFail({ message: 'That username is taken.', fields: { username: 'is taken' } });
      else setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  const signedInAs = authState.value === 'in' ? currentUser.value?.username : undefined;
  const fe = fail?.fields ?? {};
  return (
    <AuthCard title="Accept invitation">
      {problem ? (
        <div role="alert" class="form-error">
          {problem}
        </div>
      ) : !preview ? (
        <p class="muted" aria-busy="true">
          Checking the invitation…
        </p>
      ) : (
        <form onSubmit={submit} class="stack" noValidate>
          <p>
            You have been invited to Switchboard as <strong data-testid="invitation-role">{preview.role}</strong>.
          </p>
          <dl class="facts">
            <dt>Email</dt>
            <dd data-testid="invitation-email">{preview.email}</dd>
            <dt>Valid until</dt>
            <dd>
              <time dateTime={preview.expires_at}>{formatDate(preview.expires_at)}</time>
            </dd>
          </dl>
          {signedInAs && <p class="muted small">You are signed in as {signedInAs} in this browser; accepting signs you in as the new account instead.</p>}
          <Field label="Username" error={fe.username} hint="3–32 of a–z, 0–9, _ . -">
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
          <Field label="Password" error={fe.password} hint="At least 8 characters">
            {(p) => (
              <input {...p} type="password" autoComplete="new-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
            )}
          </Field>
          <FormError message={fail?.message ?? null} fields={fail?.fields} />
          <button type="submit" class="btn primary wide" disabled={busy}>
            Create account
          </button>
        </form>
      )}
      {authState.value !== 'in' && (
        <a href="/login" class="auth-link" onClick={(e) => onLinkClick(e, '/login')}>
          Back to sign in
        </a>
      )}
    </AuthCard>
  );
}
