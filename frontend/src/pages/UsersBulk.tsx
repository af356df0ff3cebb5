// Bulk actions of the users page: enable, disable, change role, delete — one request per user
// through the same endpoints as single changes (so the same guards: never yourself, never the
// last admin), with a result per user. Other admins see every change live as its event.
import { useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { currentUser } from '../api/session';
import type { Role, User } from '../api/types';
import { BulkDialog } from '../components/BulkDialog';
import { t } from '../i18n';
import { errorMessage } from '../i18n/errors';
import { roleName } from '../i18n/labels';
import { users } from '../live';
import { collectMatching, runBulk, SELECT_ALL_CAP, type BulkResult } from '../lib/bulk';
import { notifyError } from '../stores/toasts';
import { toApiQuery } from '../stores/users';

export type UserBulkAction = { kind: 'enable' } | { kind: 'disable' } | { kind: 'role'; role: Role } | { kind: 'delete' };

/** Every user the list's current filters select (up to the cap). */
export function allMatchingUsers(): Promise<{ items: User[]; truncated: boolean }> {
  return collectMatching(api.listUsers, toApiQuery(users.query.peek()));
}

function skipReason(action: UserBulkAction, u: User): string | null {
  if (u.id === currentUser.peek()?.id) return t('bulk.skip_self');
  switch (action.kind) {
    case 'enable':
      return u.disabled ? null : t('bulk.skip_already_active');
    case 'disable':
      return u.disabled ? t('bulk.skip_already_disabled') : null;
    case 'role':
      return u.role === action.role ? t('bulk.skip_already_role', { role: roleName(action.role) }) : null;
    case 'delete':
      return null;
  }
}

function write(action: UserBulkAction, u: User): Promise<void> {
  switch (action.kind) {
    case 'enable':
      return users.trackWrite(u.id, () => api.updateUser(u.id, { disabled: false })).then(() => undefined);
    case 'disable':
      return users.trackWrite(u.id, () => api.updateUser(u.id, { disabled: true })).then(() => undefined);
    case 'role':
      return users.trackWrite(u.id, () => api.updateUser(u.id, { role: action.role })).then(() => undefined);
    case 'delete':
      return users.trackWrite(u.id, () => api.deleteUser(u.id)).then(() => users.remove(u.id));
  }
}

function texts(action: UserBulkAction, count: number): { title: string; body: string; confirm: string } {
  switch (action.kind) {
    case 'enable':
      return { title: t('bulk.users_enable_title', { count }), body: t('bulk.users_enable_body', { count }), confirm: t('bulk.enable') };
    case 'disable':
      return { title: t('bulk.users_disable_title', { count }), body: t('bulk.users_disable_body', { count }), confirm: t('bulk.disable') };
    case 'role': {
      const role = roleName(action.role);
      return { title: t('bulk.users_role_title', { count, role }), body: t('bulk.users_role_body', { count, role }), confirm: t('bulk.change_role_confirm') };
    }
    case 'delete':
      return { title: t('bulk.users_delete_title', { count }), body: t('bulk.users_delete_body', { count }), confirm: t('common.delete') };
  }
}

interface BarProps {
  selected: readonly User[];
  /** Users the filters select in all (for "select all matching"). */
  total: number;
  /** All matching users are selected. */
  allMatching: boolean;
  onSelectAllMatching(items: User[], truncated: boolean): void;
  onClear(): void;
}

export function UsersBulkBar({ selected, total, allMatching, onSelectAllMatching, onClear }: BarProps) {
  const [action, setAction] = useState<UserBulkAction | null>(null);
  const [collecting, setCollecting] = useState(false);
  const count = selected.length;

  async function selectAll() {
    setCollecting(true);
    try {
      const r = await allMatchingUsers();
      onSelectAllMatching(r.items, r.truncated);
    } catch (e) {
      notifyError(e);
    } finally {
      setCollecting(false);
    }
  }

  function start(a: UserBulkAction, onProgress: (finished: number, total: number) => void): Promise<BulkResult[]> {
    return runBulk(selected, {
      id: (u) => u.id,
      label: (u) => u.username,
      skip: (u) => skipReason(a, u),
      run: (u) => write(a, u),
      describe: errorMessage,
      onProgress,
    });
  }

  const tx = action ? texts(action, count) : null;
  return (
    <div class="selection-bar" role="region" aria-label={t('bulk.selection')}>
      <span data-testid="selection-count">{t('bulk.users_selected', { count })}</span>
      {!allMatching && total > count && (
        <button type="button" class="btn small" disabled={collecting} onClick={() => void selectAll()}>
          {t('bulk.select_all_matching', { count: Math.min(total, SELECT_ALL_CAP) })}
        </button>
      )}
      <button type="button" class="btn small" onClick={() => setAction({ kind: 'enable' })}>
        {t('bulk.enable')}
      </button>
      <button type="button" class="btn small" onClick={() => setAction({ kind: 'disable' })}>
        {t('bulk.disable')}
      </button>
      <label class="offscreen" for="bulk-role">
        {t('bulk.change_role')}
      </label>
      <select
        id="bulk-role"
        class="small"
        value=""
        onChange={(e) => {
          const v = e.currentTarget.value;
          e.currentTarget.value = '';
          if (v === 'admin' || v === 'viewer') setAction({ kind: 'role', role: v });
        }}
      >
        <option value="">{t('bulk.change_role')}</option>
        <option value="admin">{t('bulk.make_role', { role: roleName('admin') })}</option>
        <option value="viewer">{t('bulk.make_role', { role: roleName('viewer') })}</option>
      </select>
      <button type="button" class="btn small danger" onClick={() => setAction({ kind: 'delete' })}>
        {t('common.delete')}
      </button>
      <button type="button" class="btn small" onClick={onClear}>
        {t('files.clear_selection')}
      </button>
      {action && tx && (
        <BulkDialog
          title={tx.title}
          body={tx.body}
          confirmLabel={tx.confirm}
          danger={action.kind === 'delete'}
          start={(p) => start(action, p)}
          onClose={(ran) => {
            setAction(null);
            if (ran) onClear();
          }}
        />
      )}
    </div>
  );
}
