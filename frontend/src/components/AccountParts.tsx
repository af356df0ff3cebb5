// Pieces shared by the account page (your own) and the user detail page (an admin's view of
// someone else's): sessions, API keys, second-factor enrolment and recovery codes.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { renderSVG } from 'uqr';
import * as api from '../api/endpoints';
import type { ApiKey, Session, TotpEnrollment } from '../api/types';
import { copyText } from '../lib/clipboard';
import { t, tx } from '../i18n';
import { roleName } from '../i18n/labels';
import { failure, type Failure } from '../lib/failure';
import { formatDate, formatRelative } from '../lib/format';
import { describeUserAgent } from '../lib/useragent';
import { notify, notifyError } from '../stores/toasts';
import { Field, FormError } from './Field';

// ---------------------------------------------------------------------------------------------
// Loading one resource, refetchable (by live events), answers out of order ignored.
// ---------------------------------------------------------------------------------------------

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

export function useLoad<T>(load: (() => Promise<T>) | null, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const gen = useRef(0);
  const loader = useRef(load);
  loader.current = load;

  const reload = useCallback(() => {
    const fn = loader.current;
    if (!fn) return;
    const mine = ++gen.current;
    setLoading(true);
    fn().then(
      (v) => {
        if (mine !== gen.current) return;
        setData(v);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (mine !== gen.current) return;
        setError(failure(e).message);
        setLoading(false);
      },
    );
  }, []);

  useEffect(() => {
    reload();
    return () => {
      gen.current += 1;
    };
  }, deps);

  return { data, error, loading, reload };
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

export function SessionsTable({
  sessions,
  onEnd,
  label,
}: {
  sessions: Session[];
  /** Ends one session; the current one is never offered (that is "Log out"). */
  onEnd: (s: Session) => Promise<void>;
  label?: string;
}) {
  const [busy, setBusy] = useState<string | null>(null);
  const now = Date.now();
  async function end(s: Session) {
    setBusy(s.id);
    try {
      await onEnd(s);
    } catch (e) {
      notifyError(e);
    } finally {
      setBusy(null);
    }
  }
  return (
    <div class="table-wrap" tabIndex={0} role="group" aria-label={label ?? t('sessions.title')}>
      <table aria-label={label ?? t('sessions.title')}>
        <thead>
          <tr>
            <th scope="col">{t('sessions.client')}</th>
            <th scope="col">{t('sessions.ip')}</th>
            <th scope="col">{t('sessions.signed_in')}</th>
            <th scope="col">{t('sessions.last_used')}</th>
            <th scope="col">{t('sessions.expires')}</th>
            <th scope="col" class="actions-col">
              {t('common.actions')}
            </th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => (
            <tr key={s.id} data-session-id={s.id} data-current={s.current ? 'true' : undefined}>
              <td title={s.user_agent ?? undefined}>
                {describeUserAgent(s.user_agent)}
                {s.current && (
                  <>
                    {' '}
                    <span class="badge on">{t('sessions.this')}</span>
                  </>
                )}
              </td>
              <td>{s.ip ?? '—'}</td>
              <td>
                <time dateTime={s.created_at}>{formatDate(s.created_at)}</time>
              </td>
              <td>
                <time dateTime={s.last_used_at} title={formatDate(s.last_used_at)}>
                  {formatRelative(s.last_used_at, now)}
                </time>
              </td>
              <td>
                <time dateTime={s.expires_at}>{formatDate(s.expires_at)}</time>
              </td>
              <td class="actions">
                {!s.current && (
                  <button type="button" class="btn small danger" disabled={busy === s.id} onClick={() => void end(s)}>
                    {t('sessions.end')}
                  </button>
                )}
              </td>
            </tr>
          ))}
          {sessions.length === 0 && (
            <tr>
              <td colSpan={6} class="empty">
                {t('sessions.empty')}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

export function KeysTable({ keys, onRevoke }: { keys: ApiKey[]; onRevoke: ((k: ApiKey) => Promise<void>) | null }) {
  const [busy, setBusy] = useState<string | null>(null);
  const now = Date.now();
  async function revoke(k: ApiKey) {
    if (!onRevoke) return;
    setBusy(k.id);
    try {
      await onRevoke(k);
    } catch (e) {
      notifyError(e);
    } finally {
      setBusy(null);
    }
  }
  return (
    <div class="table-wrap" tabIndex={0} role="group" aria-label={t('keys.title')}>
      <table aria-label={t('keys.title')}>
        <thead>
          <tr>
            <th scope="col">{t('keys.name')}</th>
            <th scope="col">{t('keys.role')}</th>
            <th scope="col">{t('keys.created')}</th>
            <th scope="col">{t('keys.last_used')}</th>
            <th scope="col">{t('keys.expires')}</th>
            <th scope="col" class="actions-col">
              {t('common.actions')}
            </th>
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => {
            const expired = k.expires_at ? Date.parse(k.expires_at) <= now : false;
            return (
              <tr key={k.id} data-key-id={k.id}>
                <td class="strong">{k.name}</td>
                <td>
                  <span class={`badge role-${k.role}`}>{roleName(k.role)}</span>
                </td>
                <td>
                  <time dateTime={k.created_at}>{formatDate(k.created_at)}</time>
                </td>
                <td>
                  {k.last_used_at ? (
                    <time dateTime={k.last_used_at} title={formatDate(k.last_used_at)}>
                      {formatRelative(k.last_used_at, now)}
                    </time>
                  ) : (
                    <span class="muted">{t('common.never')}</span>
                  )}
                </td>
                <td>
                  {k.expires_at ? (
                    <time dateTime={k.expires_at} class={expired ? 'expired' : undefined}>
                      {expired ? t('keys.expired', { date: formatDate(k.expires_at) }) : formatDate(k.expires_at)}
                    </time>
                  ) : (
                    <span class="muted">{t('common.never_expires')}</span>
                  )}
                </td>
                <td class="actions">
                  {onRevoke && (
                    <button
                      type="button"
                      class="btn small danger"
                      aria-label={t('keys.revoke_label', { name: k.name })}
                      disabled={busy === k.id}
                      onClick={() => void revoke(k)}
                    >
                      {t('common.revoke')}
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
          {keys.length === 0 && (
            <tr>
              <td colSpan={6} class="empty">
                {t('keys.empty')}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

/** A secret shown once, with a copy button. */
export function OneTimeSecret({
  label,
  value,
  testId,
  copyLabel,
  note,
  onDone,
}: {
  label: string;
  value: string;
  testId: string;
  copyLabel: string;
  note: string;
  onDone?: () => void;
}) {
  return (
    <div class="secret-box" role="group" aria-label={label}>
      <p class="small">{note}</p>
      <code class="secret" data-testid={testId}>
        {value}
      </code>
      <div class="dialog-actions start">
        <button type="button" class="btn small" onClick={() => void copyText(value).then(() => notify(t('common.copied')), notifyError)}>
          {copyLabel}
        </button>
        {onDone && (
          <button type="button" class="btn small" onClick={onDone}>
            {t('common.done')}
          </button>
        )}
      </div>
    </div>
  );
}

// ---------------------------------------------------------------------------------------------
// Second factor: state ("Two-factor authentication is On · since … · 10 recovery codes left")
// ---------------------------------------------------------------------------------------------

export function MfaState({ on, since, codesLeft }: { on: boolean; since: string | null | undefined; codesLeft: number }) {
  const state = (
    <strong data-testid="mfa-state" data-state={on ? 'on' : 'off'} class={on ? 'badge on' : 'badge off'}>
      {on ? t('mfa.on') : t('mfa.off')}
    </strong>
  );
  return (
    <p>
      {tx('mfa.state', { state })}
      {on && since && <span class="muted small"> {t('mfa.since', { date: formatDate(since) })}</span>}
      {on && (
        <span class="muted small">
          {t('common.separator')}
          {t('mfa.codes_left', { count: codesLeft })}
        </span>
      )}
    </p>
  );
}

// ---------------------------------------------------------------------------------------------
// Second factor: enrolment
// ---------------------------------------------------------------------------------------------

/** `otpauth://…` as an `<img>` source (the CSP allows data: images, not inline markup). */
export function qrDataUrl(uri: string): string {
  const svg = renderSVG(uri, { ecc: 'M', border: 2, pixelSize: 4 });
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

/** Splits a base32 secret in groups of four for reading aloud / typing. */
export function groupSecret(secret: string): string {
  return secret.replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

/**
 * Enrols TOTP: asks for a secret, shows it (text and QR code), confirms it with a first code and
 * hands the recovery codes to `onConfirmed` (the caller shows them, once).
 */
export function TotpSetup({ autoStart = false, onConfirmed }: { autoStart?: boolean; onConfirmed: (codes: string[]) => void }) {
  const [enrolment, setEnrolment] = useState<TotpEnrollment | null>(null);
  const [code, setCode] = useState('');
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  async function start() {
    setBusy(true);
    setFail(null);
    try {
      setEnrolment(await api.startTotp());
      setCode('');
    } catch (e) {
      setFail(failure(e));
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    if (autoStart) void start();
  }, []);

  async function confirm(e: Event) {
    e.preventDefault();
    setBusy(true);
    setFail(null);
    try {
      const r = await api.confirmTotp(code.replace(/\s+/g, ''));
      onConfirmed(r.recovery_codes);
    } catch (err) {
      const f = failure(err);
      setFail(f.fields.code ? { message: t('totp.wrong_code'), fields: f.fields } : f);
      setCode('');
    } finally {
      setBusy(false);
    }
  }

  if (!enrolment) {
    return (
      <div class="stack">
        <FormError message={fail?.message ?? null} />
        <div>
          <button type="button" class="btn primary" disabled={busy} onClick={() => void start()}>
            {t('totp.start')}
          </button>
        </div>
      </div>
    );
  }

  return (
    <form class="stack totp-setup" onSubmit={confirm} noValidate>
      <ol class="steps">
        <li>{t('totp.step_scan')}</li>
        <li>{t('totp.step_code')}</li>
      </ol>
      <div class="totp-pair">
        <img class="qr" src={qrDataUrl(enrolment.otpauth_uri)} alt={t('totp.qr_alt')} data-testid="totp-qr" width={192} height={192} />
        <div class="stack">
          <div>
            <div class="small muted">{t('totp.setup_key')}</div>
            <code class="secret" data-testid="totp-secret" data-secret={enrolment.secret}>
              {groupSecret(enrolment.secret)}
            </code>
          </div>
          <button type="button" class="btn small" onClick={() => void copyText(enrolment.secret).then(() => notify(t('totp.key_copied')), notifyError)}>
            {t('totp.copy_key')}
          </button>
        </div>
      </div>
      <Field label={t('field.code')} error={fail?.fields.code}>
        {(p) => (
          <input
            {...p}
            type="text"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9 ]*"
            maxLength={8}
            required
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
        )}
      </Field>
      <FormError message={fail?.message ?? null} />
      <div class="dialog-actions start">
        <button type="submit" class="btn primary" disabled={busy}>
          {t('totp.confirm')}
        </button>
      </div>
    </form>
  );
}

/** The ten recovery codes, shown once right after enrolment. */
export function RecoveryCodesView({ codes, onDone, doneLabel }: { codes: string[]; onDone: () => void; doneLabel?: string }) {
  return (
    <div class="secret-box" role="group" aria-label={t('recovery.label')}>
      <p>{tx('recovery.intro')}</p>
      <ol class="recovery-codes" data-testid="recovery-codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ol>
      <div class="dialog-actions start">
        <button type="button" class="btn small" onClick={() => void copyText(codes.join('\n')).then(() => notify(t('recovery.copied')), notifyError)}>
          {t('recovery.copy')}
        </button>
        <button type="button" class="btn primary small" onClick={onDone}>
          {doneLabel ?? t('common.done')}
        </button>
      </div>
    </div>
  );
}
