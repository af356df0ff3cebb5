import { signal } from '@preact/signals';
import { useState } from 'preact/hooks';
import { ApiError } from '../api/http';
import { completeMfa, login } from '../api/session';
import { AuthCard } from '../components/AuthCard';
import { onLinkClick } from '../router';

/** A confirmation shown once on the sign-in page (e.g. after a password reset). */
export const loginNotice = signal<string | null>(null);

function tooMany(e: ApiError): string {
  const s = e.retryAfter ?? 60;
  return `Too many attempts. Try again in ${s} second${s === 1 ? '' : 's'}.`;
}

function loginError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 401) return 'Invalid username or password';
    if (e.status === 429) return tooMany(e);
    if (e.status === 0) return 'Cannot reach the server. Check your connection and try again.';
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

function codeError(e: unknown): { message: string; restart: boolean } {
  if (e instanceof ApiError) {
    if (e.status === 401 && e.code === 'invalid_mfa_code') return { message: 'Invalid code', restart: false };
    if (e.status === 401) return { message: 'The sign-in has expired. Enter your password again.', restart: true };
    if (e.status === 429) return { message: tooMany(e), restart: false };
    if (e.status === 0) return { message: 'Cannot reach the server. Check your connection and try again.', restart: false };
    return { message: e.message, restart: false };
  }
  return { message: e instanceof Error ? e.message : String(e), restart: false };
}

export function Login() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [challenge, setChallenge] = useState<string | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const notice = loginNotice.value;

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const outcome = await login(username.trim(), password);
      setPassword('');
      if (outcome.mfa) {
        setChallenge(outcome.mfa.challenge);
        setCode('');
      } else {
        loginNotice.value = null;
      }
    } catch (err) {
      setError(loginError(err));
      setPassword('');
    } finally {
      setBusy(false);
    }
  }

  async function submitCode(e: Event) {
    e.preventDefault();
    if (!challenge) return;
    setBusy(true);
    setError(null);
    try {
      await completeMfa(challenge, code.trim());
      loginNotice.value = null;
    } catch (err) {
      const { message, restart } = codeError(err);
      setError(message);
      setCode('');
      if (restart) setChallenge(null);
    } finally {
      setBusy(false);
    }
  }

  if (challenge) {
    return (
      <AuthCard title="Two-factor authentication">
        <form onSubmit={submitCode} class="stack">
          <p class="muted">Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
          <div class="field">
            <label for="login-code">Authentication code</label>
            <input
              id="login-code"
              name="code"
              type="text"
              inputMode="text"
              autoComplete="one-time-code"
              autoCapitalize="none"
              spellcheck={false}
              required
              autoFocus
              value={code}
              onInput={(e) => setCode(e.currentTarget.value)}
            />
          </div>
          {error && (
            <div role="alert" class="form-error">
              {error}
            </div>
          )}
          <button type="submit" class="btn primary wide" disabled={busy}>
            Verify
          </button>
          <button
            type="button"
            class="btn wide"
            onClick={() => {
              setChallenge(null);
              setError(null);
            }}
          >
            Back
          </button>
        </form>
      </AuthCard>
    );
  }

  return (
    <AuthCard title="Sign in">
      <form onSubmit={submit} class="stack">
        {notice && (
          <div role="status" class="form-notice">
            {notice}
          </div>
        )}
        <div class="field">
          <label for="login-username">Username</label>
          <input
            id="login-username"
            name="username"
            type="text"
            autoComplete="username"
            autoCapitalize="none"
            spellcheck={false}
            required
            autoFocus
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="login-password">Password</label>
          <input
            id="login-password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </div>
        {error && (
          <div role="alert" class="form-error">
            {error}
          </div>
        )}
        <button type="submit" class="btn primary wide" disabled={busy}>
          Sign in
        </button>
        <a href="/forgot" class="auth-link" onClick={(e) => onLinkClick(e, '/forgot')}>
          Forgot password?
        </a>
      </form>
    </AuthCard>
  );
}
