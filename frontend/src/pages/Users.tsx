import { useEffect, useRef, useState } from 'preact/hooks';
import { exportUsers } from '../api/endpoints';
import { currentUser } from '../api/session';
import type { User } from '../api/types';
import { Pager } from '../components/Pager';
import { SortHeader } from '../components/SortHeader';
import { t } from '../i18n';
import { roleName } from '../i18n/labels';
import { users } from '../live';
import { saveBlob } from '../lib/download';
import { formatDate } from '../lib/format';
import { writePerPage } from '../lib/prefs';
import { allSelected, clickRow, togglePage } from '../lib/selection';
import { notifyError } from '../stores/toasts';
import type { UserSortField, UsersQuery } from '../stores/users';
import { onLinkClick, userPath } from '../router';
import { ImportBanners, ImportUsersDialog } from './ImportUsers';
import { InviteDialog, PendingInvitations } from './Invitations';
import { DeleteUserDialog, EditUserDialog, NewUserDialog, ResetPasswordDialog } from './UserDialogs';
import { UsersBulkBar } from './UsersBulk';

type DialogState =
  | { kind: 'new' }
  | { kind: 'invite' }
  | { kind: 'import' }
  | { kind: 'edit'; user: User }
  | { kind: 'delete'; user: User }
  | { kind: 'password'; user: User }
  | null;

export function UsersPage() {
  const [dialog, setDialog] = useState<DialogState>(null);
  const q = users.query.value;
  const [search, setSearch] = useState(q.q);
  const searchTimer = useRef<ReturnType<typeof setTimeout>>();
  const isAdmin = currentUser.value?.role === 'admin';
  // Selected users (kept across pages, by id, with the row last seen); `anchor` is the index of
  // the row clicked last, for shift-click ranges; `allMatching` after "select all matching".
  const [selected, setSelected] = useState<ReadonlyMap<string, User>>(new Map());
  const [allMatching, setAllMatching] = useState(false);
  const anchor = useRef<number | null>(null);

  useEffect(() => {
    void users.load();
    return () => clearTimeout(searchTimer.current);
  }, []);

  function onSearch(value: string) {
    setSearch(value);
    clearTimeout(searchTimer.current);
    searchTimer.current = setTimeout(() => void users.setQuery({ q: value }), 250);
  }

  const sort = (field: UserSortField, desc: boolean) => void users.setQuery({ sort: field, desc });
  const highlights = users.highlights.value;
  const items = users.items.value;
  const close = () => setDialog(null);
  const ids = items.map((u) => u.id);
  const selectedIds = new Set(selected.keys());

  function select(next: Set<string>) {
    const byId = new Map<string, User>();
    for (const id of next) {
      const u = items.find((x) => x.id === id) ?? selected.get(id);
      if (u) byId.set(id, u);
    }
    setSelected(byId);
    setAllMatching(false);
  }

  function clearSelection() {
    setSelected(new Map());
    setAllMatching(false);
    anchor.current = null;
  }

  // A filter change makes "all matching" mean other users: the selection is dropped.
  const filterKey = `${q.q}|${q.role}|${q.disabled}`;
  const lastFilter = useRef(filterKey);
  useEffect(() => {
    if (lastFilter.current !== filterKey) {
      lastFilter.current = filterKey;
      clearSelection();
    }
  }, [filterKey]);
  const [exporting, setExporting] = useState(false);

  // Downloads the users the current filters select (not just this page) as CSV.
  async function onExport() {
    setExporting(true);
    try {
      saveBlob(await exportUsers(q, 'csv'), 'users.csv');
    } catch (e) {
      notifyError(e);
    } finally {
      setExporting(false);
    }
  }

  return (
    <section class="page">
      <div class="page-head">
        <h1>{t('users.title')}</h1>
        {isAdmin && (
          <div class="head-actions">
            <button type="button" class="btn" disabled={exporting} onClick={() => void onExport()}>
              {t('users.export')}
            </button>
            <button type="button" class="btn" onClick={() => setDialog({ kind: 'import' })}>
              {t('users.import')}
            </button>
            <button type="button" class="btn" onClick={() => setDialog({ kind: 'invite' })}>
              {t('users.invite')}
            </button>
            <button type="button" class="btn primary" onClick={() => setDialog({ kind: 'new' })}>
              {t('users.new')}
            </button>
          </div>
        )}
      </div>

      {isAdmin && <ImportBanners />}

      <div class="toolbar" role="search">
        <div class="field inline grow">
          <label for="users-search">{t('users.search')}</label>
          <input
            id="users-search"
            type="search"
            placeholder={t('users.search_placeholder')}
            value={search}
            onInput={(e) => onSearch(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                clearTimeout(searchTimer.current);
                void users.setQuery({ q: e.currentTarget.value });
              }
            }}
          />
        </div>
        <div class="field inline">
          <label for="users-role">{t('field.role')}</label>
          <select
            id="users-role"
            value={q.role}
            onChange={(e) => void users.setQuery({ role: e.currentTarget.value as UsersQuery['role'] })}
          >
            <option value="">{t('users.all_roles')}</option>
            <option value="admin">{t('role.admin')}</option>
            <option value="viewer">{t('role.viewer')}</option>
          </select>
        </div>
        <div class="field inline">
          <label for="users-status">{t('field.status')}</label>
          <select
            id="users-status"
            value={q.disabled}
            onChange={(e) => void users.setQuery({ disabled: e.currentTarget.value as UsersQuery['disabled'] })}
          >
            <option value="">{t('users.all_statuses')}</option>
            <option value="false">{t('status.active')}</option>
            <option value="true">{t('status.disabled')}</option>
          </select>
        </div>
      </div>

      {isAdmin && selected.size > 0 && (
        <UsersBulkBar
          selected={[...selected.values()]}
          total={users.total.value}
          allMatching={allMatching}
          onSelectAllMatching={(all, truncated) => {
            setSelected(new Map(all.map((u) => [u.id, u])));
            setAllMatching(!truncated);
          }}
          onClear={clearSelection}
        />
      )}

      {users.error.value && (
        <div role="alert" class="form-error">
          {t('users.load_error', { error: users.error.value })}
        </div>
      )}

      <div class="table-wrap">
        <table aria-label={t('users.title')} aria-busy={users.loading.value}>
          <thead>
            <tr>
              {isAdmin && (
                <th scope="col" class="select-col">
                  <input
                    type="checkbox"
                    aria-label={t('bulk.select_page_users')}
                    checked={allSelected(selectedIds, ids)}
                    onChange={() => select(togglePage(selectedIds, ids))}
                  />
                </th>
              )}
              <SortHeader label={t('field.username')} field="username" sort={q.sort} desc={q.desc} onSort={sort} />
              <SortHeader label={t('field.email')} field="email" sort={q.sort} desc={q.desc} onSort={sort} />
              <SortHeader label={t('field.display_name')} field="display_name" sort={q.sort} desc={q.desc} onSort={sort} />
              <SortHeader label={t('field.role')} field="role" sort={q.sort} desc={q.desc} onSort={sort} />
              <th scope="col">{t('field.status')}</th>
              <SortHeader label={t('field.last_login')} field="last_login_at" sort={q.sort} desc={q.desc} onSort={sort} />
              <th scope="col" class="actions-col">
                {t('common.actions')}
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((u, i) => {
              const hl = highlights[u.id];
              return (
                <tr key={u.id} data-user-id={u.id} class={hl ? 'highlight' : undefined} title={hl ? t('users.updated_by', { username: hl.by }) : undefined}>
                  {isAdmin && (
                    <td class="select-col">
                      <input
                        type="checkbox"
                        aria-label={t('bulk.select_user', { username: u.username })}
                        checked={selectedIds.has(u.id)}
                        onClick={(e) => {
                          select(clickRow(selectedIds, ids, i, anchor.current, e.shiftKey));
                          anchor.current = i;
                        }}
                      />
                    </td>
                  )}
                  <td class="strong">
                    <a href={userPath(u.id)} onClick={(e) => onLinkClick(e, userPath(u.id))}>
                      {u.username}
                    </a>
                  </td>
                  <td>{u.email}</td>
                  <td>{u.display_name ?? ''}</td>
                  <td>
                    <span class={`badge role-${u.role}`}>{roleName(u.role)}</span>
                  </td>
                  <td>
                    <span class={u.disabled ? 'badge off' : 'badge on'}>{u.disabled ? t('status.disabled') : t('status.active')}</span>
                  </td>
                  <td>
                    {u.last_login_at ? (
                      <time dateTime={u.last_login_at}>{formatDate(u.last_login_at)}</time>
                    ) : (
                      <span class="muted">{t('common.never')}</span>
                    )}
                  </td>
                  <td class="actions">
                    {hl && <small class="changed-by">{t('users.updated_by', { username: hl.by })}</small>}
                    {isAdmin && (
                      <>
                        <button
                          type="button"
                          class="btn small"
                          aria-label={t('users.edit_label', { username: u.username })}
                          onClick={() => setDialog({ kind: 'edit', user: u })}
                        >
                          {t('common.edit')}
                        </button>
                        <button
                          type="button"
                          class="btn small"
                          aria-label={t('users.reset_password_label', { username: u.username })}
                          onClick={() => setDialog({ kind: 'password', user: u })}
                        >
                          {t('users.reset_password')}
                        </button>
                        <button
                          type="button"
                          class="btn small danger"
                          aria-label={t('users.delete_label', { username: u.username })}
                          onClick={() => setDialog({ kind: 'delete', user: u })}
                        >
                          {t('common.delete')}
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
            {users.loaded.value && items.length === 0 && (
              <tr>
                <td colSpan={isAdmin ? 8 : 7} class="empty">
                  {t('users.empty')}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>

      <div class="list-foot">
        <span class="muted small">{t('users.count', { count: users.total.value })}</span>
        <Pager
          page={q.page}
          pages={users.pages()}
          onPage={(page) => void users.setQuery({ page })}
          perPage={q.perPage}
          onPerPage={(perPage) => {
            writePerPage('users', perPage);
            void users.setQuery({ perPage });
          }}
        />
      </div>

      {isAdmin && <PendingInvitations />}

      {dialog?.kind === 'new' && <NewUserDialog onClose={close} />}
      {dialog?.kind === 'invite' && <InviteDialog onClose={close} />}
      {dialog?.kind === 'import' && <ImportUsersDialog onClose={close} />}
      {dialog?.kind === 'edit' && <EditUserDialog key={dialog.user.id} user={dialog.user} onClose={close} />}
      {dialog?.kind === 'delete' && <DeleteUserDialog user={dialog.user} onClose={close} />}
      {dialog?.kind === 'password' && <ResetPasswordDialog user={dialog.user} onClose={close} />}
    </section>
  );
}
