// `/account`: the signed-in user's own password, second factor, API keys and sessions, kept
// current by live events about them (another tab or an admin may change any of these).
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { currentUser, logout } from '../api/session';
import type { CreatedKey, MfaStatus } from '../api/types';
import { KeysTable, OneTimeSecret, RecoveryCodesView, SessionsTable, TotpSetup, useLoad } from '../components/AccountParts';
import { Field, FormError } from '../components/Field';
import { mfaGate, subscribeLive } from '../live';
import { failure, type Failure } from '../lib/failure';
import { formatDate, localInputToIso } from '../lib/format';
import { sectionsFor } from '../stores/account';
import { notify, notifyError } from '../stores/toasts';
import { loginNotice } from './Login';

export const PASSWORD_CHANGED_TEXT = 'Your password has been changed. Sign in with your new password.';

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
        <h1>Account</h1>
      </div>
      <section class="card" aria-labelledby="account-profile">
        <h2 id="account-profile">Profile</h2>
        <dl class="facts">
          <dt>Username</dt>
          <dd>{me.username}</dd>
          <dt>Email</dt>
          <dd>{me.email}</dd>
          <dt>Role</dt>
          <dd>
            <span class={`badge role-${me.role}`}>{me.role}</span>
          </dd>
        </dl>
      </section>
      <PasswordSection />
      <SecondFactorSection status={mfa.data} error={mfa.error} reload={mfa.reload} />
      <section class="card" aria-labelledby="account-keys">
        <h2 id="account-keys">API keys</h2>
        <p class="muted small">A key acts as you, with the role you give it (never more than yours), until it expires or is revoked.</p>
        <NewKeyForm isAdmin={me.role === 'admin'} onCreated={keys.reload} />
        {keys.error && (
          <div role="alert" class="form-error">
            Could not load API keys: {keys.error}
          </div>
        )}
        {keys.data && (
          <KeysTable
            keys={keys.data.items}
            onRevoke={async (k) => {
              await api.revokeKey(k.id);
              notify(`Revoked key ${k.name}`);
              keys.reload();
            }}
          />
        )}
      </section>
      <section class="card" aria-labelledby="account-sessions">
        <div class="card-head">
          <h2 id="account-sessions">Sessions</h2>
          <button
            type="button"
            class="btn small danger"
            disabled={!sessions.data || sessions.data.items.every((s) => s.current)}
            onClick={() =>
              void api.endMyOtherSessions().then(() => {
                notify('Ended all other sessions');
                sessions.reload();
              }, notifyError)
            }
          >
            End all other sessions
          </button>
        </div>
        {sessions.error && (
          <div role="alert" class="form-error">
            Could not load sessions: {sessions.error}
          </div>
        )}
        {sessions.data && (
          <SessionsTable
            sessions={sessions.data.items}
            onEnd={async (s) => {
              await api.endSession(s.id);
              notify('Session ended');
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
      loginNotice.value = PASSWORD_CHANGED_TEXT;
      await logout({ callServer: false });
    } catch (err) {
      setFail(failure(err));
      setBusy(false);
    }
  }

  const fe = fail?.fields ?? {};
  return (
    <section class="card" aria-labelledby="account-password">
      <h2 id="account-password">Password</h2>
      <form class="stack narrow" onSubmit={submit} noValidate>
        <input type="text" name="username" autoComplete="username" value={currentUser.value?.username ?? ''} readOnly hidden />
        <Field label="Current password" error={fe.current_password}>
          {(p) => (
            <input {...p} type="password" autoComplete="current-password" required value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />
          )}
        </Field>
        <Field label="New password" error={fe.new_password} hint="At least 8 characters; signs you out everywhere">
          {(p) => <input {...p} type="password" autoComplete="new-password" required value={next} onInput={(e) => setNext(e.currentTarget.value)} />}
        </Field>
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions start">
          <button type="submit" class="btn primary" disabled={busy}>
            Change password
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
      notify('Second factor turned off');
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
      <h2 id="account-mfa">Second factor</h2>
      {error && (
        <div role="alert" class="form-error">
          Could not load the second factor: {error}
        </div>
      )}
      {status && (
        <p>
          Two-factor authentication is{' '}
          <strong data-testid="mfa-state" data-state={on ? 'on' : 'off'} class={on ? 'badge on' : 'badge off'}>
            {on ? 'On' : 'Off'}
          </strong>
          {on && status.confirmed_at && <span class="muted small"> since {formatDate(status.confirmed_at)}</span>}
          {on && (
            <span class="muted small">
              {' '}
              · {status.recovery_codes_left} recovery code{status.recovery_codes_left === 1 ? '' : 's'} left
            </span>
          )}
        </p>
      )}
      {status?.required && !on && <p class="muted small">Admins of this server must use a second factor.</p>}
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
          <Field label="Password" error={fail?.fields.password} hint={status.required ? 'Admins must use a second factor: set it up again right after.' : 'To turn the second factor off'}>
            {(p) => (
              <input {...p} type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
            )}
          </Field>
          <FormError message={fail?.message ?? null} fields={fail?.fields} />
          <div class="dialog-actions start">
            <button type="submit" class="btn danger" disabled={busy}>
              Turn off second factor
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
          label="New API key"
          value={created.key}
          testId="new-api-key"
          copyLabel="Copy key"
          note={`Key “${created.name}” created. Copy it now: it is not shown again.`}
          onDone={() => setCreated(null)}
        />
      )}
      <form class="inline-form" onSubmit={submit} noValidate aria-label="New API key">
        <Field label="Key name" error={fe.name}>
          {(p) => <input {...p} type="text" required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field label="Key role" error={fe.role}>
          {(p) => (
            <select {...p} value={role} onChange={(e) => setRole(e.currentTarget.value as 'viewer' | 'admin')}>
              <option value="viewer">viewer</option>
              {isAdmin && <option value="admin">admin</option>}
            </select>
          )}
        </Field>
        <Field label="Expires" error={fe.expires_at} hint="Optional">
          {(p) => <input {...p} type="datetime-local" value={expires} onInput={(e) => setExpires(e.currentTarget.value)} />}
        </Field>
        <button type="submit" class="btn primary" disabled={busy}>
          Create key
        </button>
      </form>
      <FormError message={fail?.message ?? null} fields={fail?.fields} />
    </div>
  );
}
