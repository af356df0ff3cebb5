// `/account`: the signed-in user's own password, second factor, API keys and sessions, kept
// current by live events about them (another tab or an admin may change any of these).
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { currentUser, logout } from '../api/session';
import type { CreatedKey, MfaStatus } from '../api/types';
import { KeysTable, MfaState, OneTimeSecret, RecoveryCodesView, SessionsTable, TotpSetup, useLoad } from '../components/AccountParts';
import { Field, FormError } from '../components/Field';
import { t } from '../i18n';
import { roleName } from '../i18n/labels';
import { mfaGate, subscribeLive } from '../live';
import { failure, type Failure } from '../lib/failure';
import { localInputToIso } from '../lib/format';
import { sectionsFor } from '../stores/account';
import { notify, notifyError } from '../stores/toasts';
import { loginNotice } from './Login';

export function AccountPage() {
  const me = currentUser.value;
  const myId = me?.id ?? '';
  const mfa = useLoad(() => api.myMfa(), [myId]);
  const keys = useLoad(() => api.listKeys(), [myId]);
  const sessions = useLoad(() => api.mySessions(), [myId]);

  useEffect(
    () =>
      subscribeLive({
        onFrame(frame) {
          const s = sectionsFor(frame, myId);
          if (s.has('mfa')) mfa.reload();
          if (s.has('keys')) keys.reload();
          if (s.has('sessions')) sessions.reload();
        },
        onResync() {
          mfa.reload();
          keys.reload();
          sessions.reload();
        },
      }),
    [myId],
  );

  // Turned off where it is required: the panel asks for enrolment before anything else.
  const st = mfa.data;
  useEffect(() => {
    if (st?.required && !st.totp_enabled) mfaGate.value = 'enrol';
  }, [st]);

  if (!me) return null;
  return (
    <section class="page">
      <div class="page-head">
        <h1>{t('account.title')}</h1>
      </div>
      <section class="card" aria-labelledby="account-profile">
        <h2 id="account-profile">{t('account.profile')}</h2>
        <dl class="facts">
          <dt>{t('field.username')}</dt>
          <dd>{me.username}</dd>
          <dt>{t('field.email')}</dt>
          <dd>{me.email}</dd>
          <dt>{t('field.role')}</dt>
          <dd>
            <span class={`badge role-${me.role}`}>{roleName(me.role)}</span>
          </dd>
        </dl>
      </section>
      <PasswordSection />
      <SecondFactorSection status={mfa.data} error={mfa.error} reload={mfa.reload} />
      <section class="card" aria-labelledby="account-keys">
        <h2 id="account-keys">{t('keys.title')}</h2>
        <p class="muted small">{t('keys.intro')}</p>
        <NewKeyForm isAdmin={me.role === 'admin'} onCreated={keys.reload} />
        {keys.error && (
          <div role="alert" class="form-error">
            {t('keys.load_error', { error: keys.error })}
          </div>
        )}
        {keys.data && (
          <KeysTable
            keys={keys.data.items}
            onRevoke={async (k) => {
              await api.revokeKey(k.id);
              notify(t('keys.revoked', { name: k.name }));
              keys.reload();
            }}
          />
        )}
      </section>
      <section class="card" aria-labelledby="account-sessions">
        <div class="card-head">
          <h2 id="account-sessions">{t('sessions.title')}</h2>
          <button
            type="button"
            class="btn small danger"
            disabled={!sessions.data || sessions.data.items.every((s) => s.current)}
            onClick={() =>
              void api.endMyOtherSessions().then(() => {
                notify(t('sessions.ended_others'));
                sessions.reload();
              }, notifyError)
            }
          >
            {t('sessions.end_others')}
          </button>
        </div>
        {sessions.error && (
          <div role="alert" class="form-error">
            {t('sessions.load_error', { error: sessions.error })}
          </div>
        )}
        {sessions.data && (
          <SessionsTable
            sessions={sessions.data.items}
            onEnd={async (s) => {
              await api.endSession(s.id);
              notify(t('sessions.ended'));
              sessions.reload();
            }}
          />
        )}
      </section>
    </section>
  );
}

function PasswordSection() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setFail(null);
    try {
      await api.changePassword(current, next);
      // Every session of this account has ended, this one included.
      loginNotice.value = 'login.password_changed';
      await logout({ callServer: false });
    } catch (err) {
      setFail(failure(err));
      setBusy(false);
    }
  }

  const fe = fail?.fields ?? {};
  return (
    <section class="card" aria-labelledby="account-password">
      <h2 id="account-password">{t('password.title')}</h2>
      <form class="stack narrow" onSubmit={submit} noValidate>
        <input type="text" name="username" autoComplete="username" value={currentUser.value?.username ?? ''} readOnly hidden />
        <Field label={t('field.current_password')} error={fe.current_password}>
          {(p) => (
            <input {...p} type="password" autoComplete="current-password" required value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />
          )}
        </Field>
        <Field label={t('field.new_password')} error={fe.new_password} hint={t('password.hint')}>
          {(p) => <input {...p} type="password" autoComplete="new-password" required value={next} onInput={(e) => setNext(e.currentTarget.value)} />}
        </Field>
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions start">
          <button type="submit" class="btn primary" disabled={busy}>
            {t('password.change')}
          </button>
        </div>
      </form>
    </section>
  );
}

function SecondFactorSection({ status, error, reload }: { status: MfaStatus | null; error: string | null; reload: () => void }) {
  const [codes, setCodes] = useState<string[] | null>(null);
  const [password, setPassword] = useState('');
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  async function disable(e: Event) {
    e.preventDefault();
    setBusy(true);
    setFail(null);
    try {
      await api.disableTotp(password);
      setPassword('');
      notify(t('mfa.turned_off'));
      reload();
    } catch (err) {
      setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  const on = status?.totp_enabled ?? false;
  return (
    <section class="card" aria-labelledby="account-mfa">
      <h2 id="account-mfa">{t('mfa.title')}</h2>
      {error && (
        <div role="alert" class="form-error">
          {t('mfa.load_error', { error })}
        </div>
      )}
      {status && <MfaState on={on} since={status.confirmed_at} codesLeft={status.recovery_codes_left} />}
      {status?.required && !on && <p class="muted small">{t('mfa.required')}</p>}
      {codes ? (
        <RecoveryCodesView
          codes={codes}
          onDone={() => {
            setCodes(null);
            reload();
          }}
        />
      ) : status && !on ? (
        <TotpSetup
          onConfirmed={(c) => {
            setCodes(c);
            reload();
          }}
        />
      ) : status && on ? (
        <form class="stack narrow" onSubmit={disable} noValidate>
          <input type="text" name="username" autoComplete="username" value={currentUser.value?.username ?? ''} readOnly hidden />
          <Field label={t('field.password')} error={fail?.fields.password} hint={status.required ? t('mfa.password_hint_required') : t('mfa.password_hint')}>
            {(p) => (
              <input {...p} type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
            )}
          </Field>
          <FormError message={fail?.message ?? null} fields={fail?.fields} />
          <div class="dialog-actions start">
            <button type="submit" class="btn danger" disabled={busy}>
              {t('mfa.turn_off')}
            </button>
          </div>
        </form>
      ) : null}
    </section>
  );
}

function NewKeyForm({ isAdmin, onCreated }: { isAdmin: boolean; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState<'viewer' | 'admin'>('viewer');
  const [expires, setExpires] = useState('');
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setFail(null);
    try {
      const expiresAt = localInputToIso(expires);
      const k = await api.createKey(expiresAt ? { name: name.trim(), role, expires_at: expiresAt } : { name: name.trim(), role });
      setCreated(k);
      setName('');
      setExpires('');
      onCreated();
    } catch (err) {
      setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  const fe = fail?.fields ?? {};
  return (
    <div class="stack">
      {created && (
        <OneTimeSecret
          label={t('keys.new')}
          value={created.key}
          testId="new-api-key"
          copyLabel={t('keys.copy')}
          note={t('keys.created_note', { name: created.name })}
          onDone={() => setCreated(null)}
        />
      )}
      <form class="inline-form" onSubmit={submit} noValidate aria-label={t('keys.new')}>
        <Field label={t('keys.key_name')} error={fe.name}>
          {(p) => <input {...p} type="text" required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field label={t('keys.key_role')} error={fe.role}>
          {(p) => (
            <select {...p} value={role} onChange={(e) => setRole(e.currentTarget.value as 'viewer' | 'admin')}>
              <option value="viewer">{t('role.viewer')}</option>
              {isAdmin && <option value="admin">{t('role.admin')}</option>}
            </select>
          )}
        </Field>
        <Field label={t('keys.expires')} error={fe.expires_at} hint={t('common.optional')}>
          {(p) => <input {...p} type="datetime-local" value={expires} onInput={(e) => setExpires(e.currentTarget.value)} />}
        </Field>
        <button type="submit" class="btn primary" disabled={busy}>
          {t('keys.create')}
        </button>
      </form>
      <FormError message={fail?.message ?? null} fields={fail?.fields} />
    </div>
  );
}
