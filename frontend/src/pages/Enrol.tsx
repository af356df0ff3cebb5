// Shown instead of the panel to an admin who must enrol a second factor
// (`--require-mfa-for-admins`) and has none yet: the server refuses them everything else.
import { useState } from 'preact/hooks';
import { currentUser, logout } from '../api/session';
import { RecoveryCodesView, TotpSetup } from '../components/AccountParts';
import { AuthTools } from '../components/AuthCard';
import { Toasts } from '../components/Toasts';
import { t } from '../i18n';
import { checkMfaGate } from '../live';

export function EnrolPage() {
  const [codes, setCodes] = useState<string[] | null>(null);
  const [busy, setBusy] = useState(false);
  const user = currentUser.value;

  return (
    <div class="login-page">
      <AuthTools />
      <main class="login-card wide-card">
        <div class="brand login-brand">
          <span class="logo" aria-hidden="true" />
          <span>Switchboard</span>
        </div>
        <h1>{t('enrol.title')}</h1>
        <p class="muted">{user ? t('enrol.intro_user', { username: user.username }) : t('enrol.intro')}</p>
        <section aria-label={t('mfa.title')} class="stack">
          {codes ? (
            <RecoveryCodesView
              codes={codes}
              doneLabel={t('common.continue')}
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
          {t('layout.log_out')}
        </button>
      </main>
      <Toasts />
    </div>
  );
}
