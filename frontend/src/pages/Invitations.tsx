// Invitations on the users page (admins): the "Invite" dialog with the link to hand over, and
// the pending list, live in every open panel.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { ApiError } from '../api/http';
import type { CreatedInvitation } from '../api/types';
import { Field, FormError } from '../components/Field';
import { Modal } from '../components/Modal';
import { t, tx } from '../i18n';
import { roleName } from '../i18n/labels';
import { invitations, usernameOf } from '../live';
import { copyText } from '../lib/clipboard';
import { failure, type Failure } from '../lib/failure';
import { formatDate } from '../lib/format';
import { notify, notifyError } from '../stores/toasts';

export function InviteDialog({ onClose }: { onClose: () => void }) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<'viewer' | 'admin'>('viewer');
  const [days, setDays] = useState('');
  const [created, setCreated] = useState<CreatedInvitation | null>(null);
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setFail(null);
    try {
      const n = days.trim() ? Number(days) : null;
      const inv = await api.createInvitation(n !== null ? { email: email.trim(), role, expires_in_days: n } : { email: email.trim(), role });
      invitations.added(inv);
      setCreated(inv);
    } catch (err) {
      const f = failure(err);
      // 409: a user has the address, or an invitation for it is pending.
      if (err instanceof ApiError && err.status === 409) f.fields = { ...f.fields, email: f.message };
      setFail(f);
    } finally {
      setBusy(false);
    }
  }

  if (created) {
    return (
      <Modal title={t('invite_dialog.title')} onClose={onClose}>
        <div class="stack">
          <p role="status">
            {tx(created.email_sent ? 'invite_dialog.created_sent' : 'invite_dialog.created_unsent', {
              email: created.email,
              role: roleName(created.role),
              date: formatDate(created.expires_at),
            })}
          </p>
          <div class="secret-box" role="group" aria-label={t('invite_dialog.link')}>
            <code class="secret" data-testid="invitation-url">
              {created.url}
            </code>
            <div class="dialog-actions start">
              <button type="button" class="btn small" onClick={() => void copyText(created.url).then(() => notify(t('invite_dialog.copied')), notifyError)}>
                {t('common.copy_link')}
              </button>
            </div>
          </div>
          <div class="dialog-actions">
            <button type="button" class="btn primary" onClick={onClose}>
              {t('common.done')}
            </button>
          </div>
        </div>
      </Modal>
    );
  }

  const fe = fail?.fields ?? {};
  return (
    <Modal title={t('invite_dialog.title')} onClose={onClose}>
      <form onSubmit={submit} class="stack" noValidate>
        <Field label={t('field.email')} error={fe.email}>
          {(p) => <input {...p} type="email" required autoFocus value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Field label={t('field.role')} error={fe.role}>
          {(p) => (
            <select {...p} value={role} onChange={(e) => setRole(e.currentTarget.value as 'viewer' | 'admin')}>
              <option value="viewer">{t('role.viewer')}</option>
              <option value="admin">{t('role.admin')}</option>
            </select>
          )}
        </Field>
        <Field label={t('field.expires_in_days')} error={fe.expires_in_days} hint={t('invite_dialog.days_hint')}>
          {(p) => <input {...p} type="number" min={1} max={30} value={days} onInput={(e) => setDays(e.currentTarget.value)} />}
        </Field>
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" class="btn primary" disabled={busy}>
            {t('invite_dialog.submit')}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function PendingInvitations() {
  const [busy, setBusy] = useState<string | null>(null);
  useEffect(() => {
    void invitations.load();
  }, []);
  const items = invitations.items.value;

  async function revoke(id: string, email: string) {
    setBusy(id);
    try {
      await api.revokeInvitation(id);
      invitations.removed(id);
      notify(t('invitations.revoked', { email }));
    } catch (e) {
      notifyError(e);
    } finally {
      setBusy(null);
    }
  }

  return (
    <section aria-labelledby="pending-invitations" class="card">
      <h2 id="pending-invitations">{t('invitations.title')}</h2>
      {invitations.error.value && (
        <div role="alert" class="form-error">
          {t('invitations.load_error', { error: invitations.error.value })}
        </div>
      )}
      <div class="table-wrap">
        <table aria-label={t('invitations.title')} aria-busy={invitations.loading.value}>
          <thead>
            <tr>
              <th scope="col">{t('field.email')}</th>
              <th scope="col">{t('field.role')}</th>
              <th scope="col">{t('invitations.invited_by')}</th>
              <th scope="col">{t('invitations.sent')}</th>
              <th scope="col">{t('invitations.expires')}</th>
              <th scope="col" class="actions-col">
                {t('common.actions')}
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((i) => (
              <tr key={i.id} data-invitation-id={i.id}>
                <td class="strong">{i.email}</td>
                <td>
                  <span class={`badge role-${i.role}`}>{roleName(i.role)}</span>
                </td>
                <td>{i.invited_by ? (usernameOf(i.invited_by) ?? '…') : <span class="muted">—</span>}</td>
                <td>
                  <time dateTime={i.created_at}>{formatDate(i.created_at)}</time>
                </td>
                <td>
                  <time dateTime={i.expires_at}>{formatDate(i.expires_at)}</time>
                </td>
                <td class="actions">
                  <button
                    type="button"
                    class="btn small danger"
                    aria-label={t('invitations.revoke_label', { email: i.email })}
                    disabled={busy === i.id}
                    onClick={() => void revoke(i.id, i.email)}
                  >
                    {t('common.revoke')}
                  </button>
                </td>
              </tr>
            ))}
            {invitations.loaded.value && items.length === 0 && (
              <tr>
                <td colSpan={6} class="empty">
                  {t('invitations.empty')}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
