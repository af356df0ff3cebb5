import { signal } from '@preact/signals';
import { useState } from 'preact/hooks';
import { ApiError } from '../api/http';
import { completeMfa, login } from '../api/session';
import { AuthCard } from '../components/AuthCard';
import { t, type PlainKey } from '../i18n';
import { errorMessage } from '../i18n/errors';
import { onLinkClick } from '../router';

/** A confirmation shown once on the sign-in page (e.g. after a password reset), by its key. */
export const loginNotice = signal<PlainKey | null>(null);

function tooMany(e: ApiError): string {
  return t('error.rate_limited', { count: e.retryAfter ?? 60 });
}

function loginError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 401) return t('login.invalid');
    if (e.status === 429) return tooMany(e);
  }
  return errorMessage(e);
}

function codeError(e: unknown): { message: string; restart: boolean } {
  if (e instanceof ApiError) {
    if (e.status === 401 && e.code === 'invalid_mfa_code') return { message: t('login.invalid_code'), restart: false };
    if (e.status === 401) return { message: t('login.expired'), restart: true };
    if (e.status === 429) return { message: tooMany(e), restart: false };
  }
  return { message: errorMessage(e), restart: false };
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
      <AuthCard title={t('login.mfa_title')}>
        <form onSubmit={submitCode} class="stack">
          <p class="muted">{t('login.mfa_intro')}</p>
          <div class="field">
            <label for="login-code">{t('field.code')}</label>
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
            {t('login.verify')}
          </button>
          <button
            type="button"
            class="btn wide"
            onClick={() => {
              setChallenge(null);
              setError(null);
            }}
          >
            {t('common.back')}
          </button>
        </form>
      </AuthCard>
    );
  }

  return (
    <AuthCard title={t('login.title')}>
      <form onSubmit={submit} class="stack">
        {notice && (
          <div role="status" class="form-notice">
            {t(notice)}
          </div>
        )}
        <div class="field">
          <label for="login-username">{t('field.username')}</label>
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
          <label for="login-password">{t('field.password')}</label>
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
          {t('login.submit')}
        </button>
        <a href="/forgot" class="auth-link" onClick={(e) => onLinkClick(e, '/forgot')}>
          {t('login.forgot')}
        </a>
      </form>
    </AuthCard>
  );
}
