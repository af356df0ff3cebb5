// Shown instead of the panel to an admin who must enrol a second factor
// (`--require-mfa-for-admins`) and has none yet: the server refuses them everything else.
import { useState } from 'preact/hooks';
import { currentUser, logout } from '../api/session';
import { RecoveryCodesView, TotpSetup } from '../components/AccountParts';
import { Toasts } from '../components/Toasts';
import { checkMfaGate } from '../live';
import { theme, toggleTheme } from '../theme';

export function EnrolPage() {
  const [codes, setCodes] = useState<string[] | null>(null);
  const [busy, setBusy] = useState(false);
  const user = currentUser.value;

  return (
    <div class="login-page">
      <button type="button" class="btn icon login-theme" aria-label="Toggle theme" onClick={toggleTheme}>
        <span aria-hidden="true">{theme.value === 'dark' ? '☀' : '☾'}</span>
      </button>
      <main class="login-card wide-card">
        <div class="brand login-brand">
          <span class="logo" aria-hidden="true" />
          <span>Switchboard</span>
        </div>
        <h1>Set up two-factor authentication</h1>
        <p class="muted">
          Admins of this server must use a second factor. {user ? `Signed in as ${user.username}. ` : ''}Set it up to continue.
        </p>
        <section aria-label="Second factor" class="stack">
          {codes ? (
            <RecoveryCodesView
              codes={codes}
              doneLabel="Continue"
              onDone={() => {
                setBusy(true);
                void checkMfaGate().finally(() => setBusy(false));
              }}
            />
          ) : (
            <TotpSetup autoStart onConfirmed={setCodes} />
          )}
        </section>
        <button type="button" class="btn wide" disabled={busy} onClick={() => void logout()}>
          Log out
        </button>
      </main>
      <Toasts />
    </div>
  );
}
