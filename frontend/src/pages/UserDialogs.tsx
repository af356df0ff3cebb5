// Dialogs of the users page: new user, edit (with the stale-edit conflict flow), delete, reset
// password.
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import type { UpdateUserRequest, User } from '../api/types';
import { Field, FormError } from '../components/Field';
import { Modal } from '../components/Modal';
import { t, tx } from '../i18n';
import { roleName } from '../i18n/labels';
import { failure, type Failure } from '../lib/failure';
import { users } from '../live';
import { notify } from '../stores/toasts';

// ---------------------------------------------------------------------------------------------

export function NewUserDialog({ onClose }: { onClose: () => void }) {
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<'admin' | 'viewer'>('viewer');
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setFail(null);
    const name = username.trim();
    try {
      await users.trackWrite(`name:${name}`, () =>
        api.createUser({
          username: name,
          email: email.trim(),
          display_name: displayName.trim() || null,
          password,
          role,
        }),
      );
      notify(t('user_new.created', { username: name }));
      onClose();
      void users.load();
    } catch (err) {
      setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  const fe = fail?.fields ?? {};
  return (
    <Modal title={t('users.new')} onClose={onClose}>
      <form onSubmit={submit} class="stack" noValidate>
        <Field label={t('field.username')} error={fe.username} hint={t('hint.username')}>
          {(p) => (
            <input
              {...p}
              type="text"
              autoComplete="off"
              autoCapitalize="none"
              spellcheck={false}
              required
              value={username}
              onInput={(e) => setUsername(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field label={t('field.email')} error={fe.email}>
          {(p) => (
            <input {...p} type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          )}
        </Field>
        <Field label={t('field.display_name')} error={fe.display_name}>
          {(p) => <input {...p} type="text" value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} />}
        </Field>
        <Field label={t('field.password')} error={fe.password} hint={t('hint.password')}>
          {(p) => (
            <input
              {...p}
              type="password"
              autoComplete="new-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field label={t('field.role')} error={fe.role}>
          {(p) => (
            <select {...p} value={role} onChange={(e) => setRole(e.currentTarget.value as 'admin' | 'viewer')}>
              <option value="viewer">{t('role.viewer')}</option>
              <option value="admin">{t('role.admin')}</option>
            </select>
          )}
        </Field>
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" class="btn primary" disabled={busy}>
            {t('common.create')}
          </button>
        </div>
      </form>
    </Modal>
  );
}

// ---------------------------------------------------------------------------------------------

type ConflictState = { kind: 'changed'; current: User; by: string | null } | { kind: 'deleted'; by: string | null };

export function EditUserDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const base = useRef(user).current;
  const [email, setEmail] = useState(user.email);
  const [displayName, setDisplayName] = useState(user.display_name ?? '');
  const [role, setRole] = useState(user.role);
  const [disabled, setDisabled] = useState(user.disabled);
  const [conflict, setConflict] = useState<ConflictState | null>(null);
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);
  const seenVersion = useRef(user.version);

  // Someone else's change to this user while the dialog is open → the conflict notice.
  useEffect(
    () =>
      users.onChange((c) => {
        if (c.user.id !== base.id || c.own) return;
        if (c.deleted) {
          setConflict({ kind: 'deleted', by: c.actor });
          return;
        }
        if (c.user.version <= seenVersion.current) return;
        seenVersion.current = c.user.version;
        setConflict({ kind: 'changed', current: c.user, by: c.actor });
      }),
    [base.id],
  );

  function changes(): UpdateUserRequest {
    const body: UpdateUserRequest = {};
    if (email.trim() !== base.email) body.email = email.trim();
    const dn = displayName.trim();
    if (dn !== (base.display_name ?? '')) body.display_name = dn || null;
    if (role !== base.role) body.role = role;
    if (disabled !== base.disabled) body.disabled = disabled;
    return body;
  }

  async function save(version: number) {
    const body = changes();
    if (Object.keys(body).length === 0) {
      onClose();
      return;
    }
    setBusy(true);
    setFail(null);
    try {
      const updated = await users.trackWrite(base.id, () => api.updateUser(base.id, body, version), (u) => u.version);
      users.upsert(updated);
      notify(t('user_edit.saved', { username: updated.username }));
      onClose();
    } catch (err) {
      const c = api.conflictOf<User>(err);
      if (c) {
        seenVersion.current = Math.max(seenVersion.current, c.current.version);
        setConflict({ kind: 'changed', current: c.current, by: null });
        users.upsert(c.current);
      } else {
        setFail(failure(err));
      }
    } finally {
      setBusy(false);
    }
  }

  function discard() {
    if (conflict?.kind === 'changed') users.upsert(conflict.current);
    onClose();
  }

  const fe = fail?.fields ?? {};
  return (
    <Modal title={t('users.edit_label', { username: base.username })} onClose={onClose}>
      <form
        class="stack"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (!conflict) void save(base.version);
        }}
      >
        <Field label={t('field.email')} error={fe.email}>
          {(p) => <input {...p} type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Field label={t('field.display_name')} error={fe.display_name}>
          {(p) => <input {...p} type="text" value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} />}
        </Field>
        <Field label={t('field.role')} error={fe.role}>
          {(p) => (
            <select {...p} value={role} onChange={(e) => setRole(e.currentTarget.value)}>
              <option value="viewer">{t('role.viewer')}</option>
              <option value="admin">{t('role.admin')}</option>
            </select>
          )}
        </Field>
        <div class="field checkbox">
          <input
            id={`disabled-${base.id}`}
            type="checkbox"
            checked={disabled}
            onChange={(e) => setDisabled(e.currentTarget.checked)}
          />
          <label for={`disabled-${base.id}`}>{t('field.disabled')}</label>
        </div>
        {conflict && (
          <div role="alert" class="conflict">
            {conflict.kind === 'changed' ? (
              <>
                <p>{conflict.by ? tx('user_edit.changed_by', { by: conflict.by }) : tx('user_edit.changed')}</p>
                <dl class="current-values">
                  <dt>{t('field.email')}</dt>
                  <dd>{conflict.current.email}</dd>
                  <dt>{t('field.display_name')}</dt>
                  <dd>{conflict.current.display_name || '—'}</dd>
                  <dt>{t('field.role')}</dt>
                  <dd>{roleName(conflict.current.role)}</dd>
                  <dt>{t('field.status')}</dt>
                  <dd>{conflict.current.disabled ? t('status.disabled') : t('status.active')}</dd>
                </dl>
                <div class="dialog-actions">
                  <button
                    type="button"
                    class="btn danger"
                    disabled={busy}
                    onClick={() => void save(conflict.current.version)}
                  >
                    {t('user_edit.apply_anyway')}
                  </button>
                  <button type="button" class="btn" onClick={discard}>
                    {t('user_edit.discard')}
                  </button>
                </div>
              </>
            ) : (
              <>
                <p>{conflict.by ? tx('user_edit.deleted_by', { by: conflict.by }) : tx('user_edit.deleted')}</p>
                <div class="dialog-actions">
                  <button type="button" class="btn" onClick={onClose}>
                    {t('user_edit.discard')}
                  </button>
                </div>
              </>
            )}
          </div>
        )}
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" class="btn primary" disabled={busy || conflict !== null}>
            {t('common.save')}
          </button>
        </div>
      </form>
    </Modal>
  );
}

// ---------------------------------------------------------------------------------------------

export function DeleteUserDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  async function confirm() {
    setBusy(true);
    setFail(null);
    try {
      await users.trackWrite(user.id, () => api.deleteUser(user.id));
      users.remove(user.id);
      notify(t('user_delete.done', { username: user.username }));
      onClose();
    } catch (err) {
      setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal title={t('user_delete.title', { username: user.username })} onClose={onClose}>
      <p>{tx('user_delete.body', { username: user.username })}</p>
      <FormError message={fail?.message ?? null} />
      <div class="dialog-actions">
        <button type="button" class="btn" onClick={onClose} autoFocus>
          {t('common.cancel')}
        </button>
        <button type="button" class="btn danger" disabled={busy} onClick={() => void confirm()}>
          {t('common.delete')}
        </button>
      </div>
    </Modal>
  );
}

// ---------------------------------------------------------------------------------------------

export function ResetPasswordDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const [password, setPassword] = useState('');
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setFail(null);
    try {
      const updated = await users.trackWrite(user.id, () => api.setUserPassword(user.id, password), (u) => u.version);
      users.upsert(updated);
      notify(t('user_password.done', { username: user.username }));
      onClose();
    } catch (err) {
      setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal title={t('users.reset_password_label', { username: user.username })} onClose={onClose}>
      <form onSubmit={submit} class="stack" noValidate>
        <input type="text" name="username" autoComplete="username" value={user.username} readOnly hidden />
        <Field label={t('field.new_password')} error={fail?.fields.password} hint={t('user_password.hint')}>
          {(p) => (
            <input
              {...p}
              type="password"
              autoComplete="new-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          )}
        </Field>
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" class="btn primary" disabled={busy}>
            {t('user_password.submit')}
          </button>
        </div>
      </form>
    </Modal>
  );
}
