import { useState } from 'preact/hooks';
import { ApiError } from '../api/http';
import { login } from '../api/session';
import { theme, toggleTheme } from '../theme';

function loginError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 401) return 'Invalid username or password';
    if (e.status === 429) {
      const s = e.retryAfter ?? 60;
      return `Too many attempts. Try again in ${s} second${s === 1 ? '' : 's'}.`;
    }
    if (e.status === 0) return 'Cannot reach the server. Check your connection and try again.';
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

export function Login() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(username.trim(), password);
    } catch (err) {
      setError(loginError(err));
      setPassword('');
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="login-page">
      <button
        type="button"
        class="btn icon login-theme"
        aria-label="Toggle theme"
        onClick={toggleTheme}
      >
        <span aria-hidden="true">{theme.value === 'dark' ? '☀' : '☾'}</span>
      </button>
      <main class="login-card">
        <div class="brand login-brand">
          <span class="logo" aria-hidden="true" />
          <span>Switchboard</span>
        </div>
        <h1>Sign in</h1>
        <form onSubmit={submit} class="stack">
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
        </form>
      </main>
    </div>
  );
}
