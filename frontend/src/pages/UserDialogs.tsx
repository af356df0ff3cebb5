// Dialogs of the users page: new user, edit (with the stale-edit conflict flow), delete, reset
// password.
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { ApiError } from '../api/http';
import type { UpdateUserRequest, User } from '../api/types';
import { Field, FormError } from '../components/Field';
import { Modal } from '../components/Modal';
import { users } from '../live';
import { notify } from '../stores/toasts';

interface Failure {
  message: string;
  fields: Record<string, string>;
}

function failure(e: unknown): Failure {
  if (e instanceof ApiError) {
    const fields = e.fields;
    const message =
      e.status === 422 && Object.keys(fields).length > 0 ? 'Please correct the highlighted fields.' : e.message;
    return { message: message.charAt(0).toUpperCase() + message.slice(1), fields };
  }
  return { message: e instanceof Error ? e.message : String(e), fields: {} };
}

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
      notify(`Created user ${name}`);
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
    <Modal title="New user" onClose={onClose}>
      <form onSubmit={submit} class="stack" noValidate>
        <Field label="Username" error={fe.username} hint="3–32 of a–z, 0–9, _ . -">
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
        <Field label="Email" error={fe.email}>
          {(p) => (
            <input {...p} type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          )}
        </Field>
        <Field label="Display name" error={fe.display_name}>
          {(p) => <input {...p} type="text" value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} />}
        </Field>
        <Field label="Password" error={fe.password} hint="At least 8 characters">
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
        <Field label="Role" error={fe.role}>
          {(p) => (
            <select {...p} value={role} onChange={(e) => setRole(e.currentTarget.value as 'admin' | 'viewer')}>
              <option value="viewer">viewer</option>
              <option value="admin">admin</option>
            </select>
          )}
        </Field>
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn primary" disabled={busy}>
            Create
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
      notify(`Saved ${updated.username}`);
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
    <Modal title={`Edit ${base.username}`} onClose={onClose}>
      <form
        class="stack"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (!conflict) void save(base.version);
        }}
      >
        <Field label="Email" error={fe.email}>
          {(p) => <input {...p} type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Field label="Display name" error={fe.display_name}>
          {(p) => <input {...p} type="text" value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} />}
        </Field>
        <Field label="Role" error={fe.role}>
          {(p) => (
            <select {...p} value={role} onChange={(e) => setRole(e.currentTarget.value)}>
              <option value="viewer">viewer</option>
              <option value="admin">admin</option>
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
          <label for={`disabled-${base.id}`}>Disabled</label>
        </div>
        {conflict && (
          <div role="alert" class="conflict">
            {conflict.kind === 'changed' ? (
              <>
                <p>
                  <strong>This user was changed by someone else</strong>
                  {conflict.by ? ` (${conflict.by})` : ''} while you were editing. Their version:
                </p>
                <dl class="current-values">
                  <dt>Email</dt>
                  <dd>{conflict.current.email}</dd>
                  <dt>Display name</dt>
                  <dd>{conflict.current.display_name || '—'}</dd>
                  <dt>Role</dt>
                  <dd>{conflict.current.role}</dd>
                  <dt>Status</dt>
                  <dd>{conflict.current.disabled ? 'Disabled' : 'Active'}</dd>
                </dl>
                <div class="dialog-actions">
                  <button
                    type="button"
                    class="btn danger"
                    disabled={busy}
                    onClick={() => void save(conflict.current.version)}
                  >
                    Apply my changes anyway
                  </button>
                  <button type="button" class="btn" onClick={discard}>
                    Discard my changes
                  </button>
                </div>
              </>
            ) : (
              <>
                <p>
                  <strong>This user was deleted by someone else</strong>
                  {conflict.by ? ` (${conflict.by})` : ''}; your changes cannot be saved.
                </p>
                <div class="dialog-actions">
                  <button type="button" class="btn" onClick={onClose}>
                    Discard my changes
                  </button>
                </div>
              </>
            )}
          </div>
        )}
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn primary" disabled={busy || conflict !== null}>
            Save
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
      notify(`Deleted user ${user.username}`);
      onClose();
    } catch (err) {
      setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal title={`Delete ${user.username}?`} onClose={onClose}>
      <p>
        This removes <strong>{user.username}</strong> and ends all of their sessions. It cannot be undone.
      </p>
      <FormError message={fail?.message ?? null} />
      <div class="dialog-actions">
        <button type="button" class="btn" onClick={onClose} autoFocus>
          Cancel
        </button>
        <button type="button" class="btn danger" disabled={busy} onClick={() => void confirm()}>
          Delete
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
      notify(`Password set for ${user.username}`);
      onClose();
    } catch (err) {
      setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal title={`Reset password for ${user.username}`} onClose={onClose}>
      <form onSubmit={submit} class="stack" noValidate>
        <input type="text" name="username" autoComplete="username" value={user.username} readOnly hidden />
        <Field label="New password" error={fail?.fields.password} hint="At least 8 characters; ends their sessions">
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
            Cancel
          </button>
          <button type="submit" class="btn primary" disabled={busy}>
            Set password
          </button>
        </div>
      </form>
    </Modal>
  );
}
