// Invitations on the users page (admins): the "Invite" dialog with the link to hand over, and
// the pending list, live in every open panel.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { ApiError } from '../api/http';
import type { CreatedInvitation } from '../api/types';
import { Field, FormError } from '../components/Field';
import { Modal } from '../components/Modal';
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
      <Modal title="Invite user" onClose={onClose}>
        <div class="stack">
          <p role="status">
            Invitation for <strong>{created.email}</strong> as {created.role} created, valid until {formatDate(created.expires_at)}.
            {created.email_sent ? ' An e-mail with the link is on its way.' : ' No e-mail is sent by this server: hand the link over yourself.'}
          </p>
          <div class="secret-box" role="group" aria-label="Invitation link">
            <code class="secret" data-testid="invitation-url">
              {created.url}
            </code>
            <div class="dialog-actions start">
              <button type="button" class="btn small" onClick={() => void copyText(created.url).then(() => notify('Invitation link copied'), notifyError)}>
                Copy link
              </button>
            </div>
          </div>
          <div class="dialog-actions">
            <button type="button" class="btn primary" onClick={onClose}>
              Done
            </button>
          </div>
        </div>
      </Modal>
    );
  }

  const fe = fail?.fields ?? {};
  return (
    <Modal title="Invite user" onClose={onClose}>
      <form onSubmit={submit} class="stack" noValidate>
        <Field label="Email" error={fe.email}>
          {(p) => <input {...p} type="email" required autoFocus value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Field label="Role" error={fe.role}>
          {(p) => (
            <select {...p} value={role} onChange={(e) => setRole(e.currentTarget.value as 'viewer' | 'admin')}>
              <option value="viewer">viewer</option>
              <option value="admin">admin</option>
            </select>
          )}
        </Field>
        <Field label="Valid for (days)" error={fe.expires_in_days} hint="1–30; empty for the server's default">
          {(p) => <input {...p} type="number" min={1} max={30} value={days} onInput={(e) => setDays(e.currentTarget.value)} />}
        </Field>
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn primary" disabled={busy}>
            Create invitation
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
      notify(`Revoked the invitation for ${email}`);
    } catch (e) {
      notifyError(e);
    } finally {
      setBusy(null);
    }
  }

  return (
    <section aria-labelledby="pending-invitations" class="card">
      <h2 id="pending-invitations">Pending invitations</h2>
      {invitations.error.value && (
        <div role="alert" class="form-error">
          Could not load invitations: {invitations.error.value}
        </div>
      )}
      <div class="table-wrap">
        <table aria-label="Pending invitations" aria-busy={invitations.loading.value}>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Invited by</th>
              <th scope="col">Sent</th>
              <th scope="col">Expires</th>
              <th scope="col" class="actions-col">
                Actions
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((i) => (
              <tr key={i.id} data-invitation-id={i.id}>
                <td class="strong">{i.email}</td>
                <td>
                  <span class={`badge role-${i.role}`}>{i.role}</span>
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
                    aria-label={`Revoke invitation for ${i.email}`}
                    disabled={busy === i.id}
                    onClick={() => void revoke(i.id, i.email)}
                  >
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
            {invitations.loaded.value && items.length === 0 && (
              <tr>
                <td colSpan={6} class="empty">
                  No pending invitations.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
