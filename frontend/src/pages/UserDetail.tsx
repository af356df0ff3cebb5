// `/users/{id}`: one user's profile, second factor, sessions, API keys, uploaded files and activity. Each section
// refetches itself on the live events about it (another admin may act meanwhile).
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { ApiError } from '../api/http';
import { currentUser } from '../api/session';
import type { ResetLink, User } from '../api/types';
import { KeysTable, MfaState, SessionsTable, useLoad } from '../components/AccountParts';
import { FeedText } from '../components/FeedText';
import { FormError } from '../components/Field';
import { Modal } from '../components/Modal';
import { t, tx } from '../i18n';
import { roleName } from '../i18n/labels';
import { activity, files, subscribeLive } from '../live';
import { copyText } from '../lib/clipboard';
import { failure } from '../lib/failure';
import { formatBytes, formatCount, formatDate, formatRelative } from '../lib/format';
import type { EventFrame } from '../realtime/events';
import { onLinkClick } from '../router';
import { sectionsFor } from '../stores/account';
import { describe } from '../stores/activity';
import { notify, notifyError } from '../stores/toasts';
import { EditUserDialog } from './UserDialogs';

const ACTIVITY_PAGE = 20;
const FILES_PAGE = 20;
const NEWEST = Number.MAX_SAFE_INTEGER;

function nameOf(id: string): string | undefined {
  return activity.names.get(id) ?? files.nameOf(id);
}

function mergeDesc(a: EventFrame[], b: EventFrame[]): EventFrame[] {
  const bySeq = new Map<number, EventFrame>();
  for (const e of [...a, ...b]) if (typeof e.seq === 'number' && !bySeq.has(e.seq)) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((x, y) => (y.seq ?? 0) - (x.seq ?? 0));
}

export function UserDetailPage({ id }: { id: string }) {
  const isAdmin = currentUser.value?.role === 'admin';
  const profile = useLoad(() => api.getUser(id), [id]);
  const [live, setLive] = useState<User | null>(null);
  const [deleted, setDeleted] = useState<string | null>(null);
  const mfa = useLoad(isAdmin ? () => api.userMfa(id) : null, [id, isAdmin]);
  const sessions = useLoad(isAdmin ? () => api.userSessions(id) : null, [id, isAdmin]);
  const keys = useLoad(isAdmin ? () => api.listKeys(id) : null, [id, isAdmin]);
  const uploads = useLoad(() => api.listFiles({ uploaded_by: id, per_page: FILES_PAGE }), [id]);
  // The ids on show, read by the live handler (which outlives renders).
  const shownFiles = useRef(new Set<string>());
  shownFiles.current = new Set((uploads.data?.items ?? []).map((f) => f.id));
  const [events, setEvents] = useState<EventFrame[]>([]);
  const [hasOlder, setHasOlder] = useState(false);
  const [eventsError, setEventsError] = useState<string | null>(null);
  const [dialog, setDialog] = useState<'edit' | 'mfa-reset' | null>(null);
  const [resetLink, setResetLink] = useState<ResetLink | null>(null);

  async function loadEvents(before: number, replace: boolean) {
    try {
      const page = await api.listEvents({ actor: id, before, limit: ACTIVITY_PAGE });
      setEvents((cur) => (replace ? mergeDesc(page.items, cur.filter((e) => (e.seq ?? 0) > page.latest_seq)) : mergeDesc(cur, page.items)));
      setHasOlder(page.items.length >= ACTIVITY_PAGE);
      setEventsError(null);
    } catch (e) {
      setEventsError(failure(e).message);
    }
  }

  useEffect(() => {
    setEvents([]);
    void loadEvents(NEWEST, true);
    return subscribeLive({
      onFrame(frame) {
        const s = sectionsFor(frame, id);
        if (s.has('deleted')) setDeleted(frame.actor?.username ?? t('common.someone'));
        if (s.has('profile')) {
          if (frame.type === 'user.updated') setLive(frame.data);
          else profile.reload();
        }
        if (s.has('mfa')) mfa.reload();
        if (s.has('sessions')) sessions.reload();
        if (s.has('keys')) keys.reload();
        if (
          (frame.type === 'file.created' && frame.data.uploaded_by === id) ||
          ((frame.type === 'file.updated' || frame.type === 'file.deleted') && shownFiles.current.has(frame.data.id))
        )
          uploads.reload();
        if (s.has('activity')) setEvents((cur) => mergeDesc([frame], cur));
      },
      onResync() {
        profile.reload();
        mfa.reload();
        sessions.reload();
        keys.reload();
        uploads.reload();
        void loadEvents(NEWEST, true);
      },
    });
  }, [id]);

  // The freshest copy: a live `user.updated` or a refetch, whichever has the higher version.
  const fetched = profile.data;
  const user = live && (!fetched || live.version >= fetched.version) ? live : fetched;
  const notFound = profile.error !== null && !user;

  async function copyResetLink() {
    try {
      const link = await api.createResetLink(id);
      setResetLink(link);
      await copyText(link.url);
      notify(t('user_detail.reset_copied'));
    } catch (e) {
      notifyError(e);
    }
  }

  const back = (
    <a href="/users" class="back-link" onClick={(e) => onLinkClick(e, '/users')}>
      {t('user_detail.all_users')}
    </a>
  );

  if (notFound) {
    return (
      <section class="page">
        {back}
        <h1>{t('title.user')}</h1>
        <div role="alert" class="form-error">
          {t('user_detail.load_error', { error: profile.error ?? '' })}
        </div>
      </section>
    );
  }
  if (!user) {
    return (
      <section class="page" aria-busy="true">
        {back}
        <h1>{t('title.user')}</h1>
      </section>
    );
  }

  const mfaOn = mfa.data?.totp_enabled ?? false;
  const now = Date.now();
  return (
    <section class="page" data-user-id={user.id}>
      {back}
      <div class="page-head">
        <h1>{user.username}</h1>
        {isAdmin && !deleted && (
          <div class="head-actions">
            <button type="button" class="btn" onClick={() => setDialog('edit')}>
              {t('users.edit_label', { username: user.username })}
            </button>
            <button type="button" class="btn" onClick={() => void copyResetLink()}>
              {t('user_detail.copy_reset')}
            </button>
          </div>
        )}
      </div>
      {deleted && (
        <div role="alert" class="form-error">
          {t('user_detail.deleted', { username: deleted })}
        </div>
      )}
      {resetLink && (
        <div class="secret-box" role="group" aria-label={t('user_detail.reset_link')}>
          <p class="small">{t('user_detail.reset_note', { username: user.username, date: formatDate(resetLink.expires_at) })}</p>
          <code class="secret" data-testid="reset-link-url">
            {resetLink.url}
          </code>
          <div class="dialog-actions start">
            <button type="button" class="btn small" onClick={() => void copyText(resetLink.url).then(() => notify(t('common.copied')), notifyError)}>
              {t('common.copy_link')}
            </button>
            <button type="button" class="btn small" onClick={() => setResetLink(null)}>
              {t('common.done')}
            </button>
          </div>
        </div>
      )}

      <section class="card" aria-labelledby="user-profile">
        <h2 id="user-profile">{t('account.profile')}</h2>
        <dl class="facts" data-testid="user-profile">
          <dt>{t('field.username')}</dt>
          <dd>{user.username}</dd>
          <dt>{t('field.email')}</dt>
          <dd>{user.email}</dd>
          <dt>{t('field.display_name')}</dt>
          <dd>{user.display_name || <span class="muted">—</span>}</dd>
          <dt>{t('field.role')}</dt>
          <dd>
            <span class={`badge role-${user.role}`} data-testid="user-role">
              {roleName(user.role)}
            </span>
          </dd>
          <dt>{t('field.status')}</dt>
          <dd>
            <span class={user.disabled ? 'badge off' : 'badge on'} data-testid="user-status">
              {user.disabled ? t('status.disabled') : t('status.active')}
            </span>
          </dd>
          <dt>{t('field.created')}</dt>
          <dd>
            <time dateTime={user.created_at}>{formatDate(user.created_at)}</time>
          </dd>
          <dt>{t('field.updated')}</dt>
          <dd>
            <time dateTime={user.updated_at}>{formatDate(user.updated_at)}</time>
          </dd>
          <dt>{t('field.last_login')}</dt>
          <dd>
            {user.last_login_at ? (
              <time dateTime={user.last_login_at}>{formatDate(user.last_login_at)}</time>
            ) : (
              <span class="muted">{t('common.never')}</span>
            )}
          </dd>
        </dl>
      </section>

      {isAdmin && (
        <section class="card" aria-labelledby="user-mfa">
          <h2 id="user-mfa">{t('mfa.title')}</h2>
          {mfa.error && (
            <div role="alert" class="form-error">
              {t('mfa.load_error', { error: mfa.error })}
            </div>
          )}
          {mfa.data && (
            <div class="stack">
              <MfaState on={mfaOn} since={mfa.data.confirmed_at} codesLeft={mfa.data.recovery_codes_left} />
              {mfaOn && !deleted && (
                <div>
                  <button type="button" class="btn danger" onClick={() => setDialog('mfa-reset')}>
                    {t('user_detail.reset_mfa')}
                  </button>
                </div>
              )}
            </div>
          )}
        </section>
      )}

      {isAdmin && (
        <section class="card" aria-labelledby="user-sessions">
          <div class="card-head">
            <h2 id="user-sessions">{t('sessions.title')}</h2>
            <button
              type="button"
              class="btn small danger"
              disabled={!sessions.data || sessions.data.items.length === 0 || deleted !== null}
              onClick={() =>
                void api.endUserSessions(id).then(() => {
                  notify(t('sessions.ended_all', { username: user.username }));
                  sessions.reload();
                }, notifyError)
              }
            >
              {t('sessions.end_all')}
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
      )}

      {isAdmin && (
        <section class="card" aria-labelledby="user-keys">
          <h2 id="user-keys">{t('keys.title')}</h2>
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
      )}

      <section class="card" aria-labelledby="user-files">
        <h2 id="user-files">{t('user_detail.files')}</h2>
        {uploads.error && (
          <div role="alert" class="form-error">
            {t('files.load_error', { error: uploads.error })}
          </div>
        )}
        {uploads.data && uploads.data.items.length === 0 && <p class="muted">{t('user_detail.no_files')}</p>}
        {uploads.data && uploads.data.items.length > 0 && (
          <div class="table-wrap">
            <table aria-label={t('user_detail.files_table')} data-testid="user-files">
              <thead>
                <tr>
                  <th scope="col">{t('files.name')}</th>
                  <th scope="col">{t('files.size')}</th>
                  <th scope="col">{t('files.uploaded')}</th>
                  <th scope="col">{t('files.downloads')}</th>
                </tr>
              </thead>
              <tbody>
                {uploads.data.items.map((f) => (
                  <tr key={f.id} data-file-id={f.id}>
                    <td>{f.name}</td>
                    <td>{formatBytes(f.size)}</td>
                    <td>
                      <time dateTime={f.created_at}>{formatDate(f.created_at)}</time>
                    </td>
                    <td>{formatCount(f.download_count)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {uploads.data.total > uploads.data.items.length && (
              <p class="muted small">{t('user_detail.newest', { shown: uploads.data.items.length, total: uploads.data.total })}</p>
            )}
          </div>
        )}
      </section>

      <section class="card" aria-labelledby="user-activity">
        <h2 id="user-activity">{t('user_detail.activity')}</h2>
        {eventsError && (
          <div role="alert" class="form-error">
            {t('activity.load_error', { error: eventsError })}
          </div>
        )}
        <ol aria-label={t('user_detail.activity_list')} class="feed">
          {events.map((e) => {
            const d = describe(e, nameOf);
            return (
              <li key={e.seq} class="feed-item" data-seq={e.seq ?? undefined}>
                <FeedText d={d} />{' '}
                <time dateTime={e.ts} title={formatDate(e.ts)}>
                  {formatRelative(e.ts, now)}
                </time>
              </li>
            );
          })}
        </ol>
        {events.length === 0 && !eventsError && <p class="muted">{t('user_detail.no_activity')}</p>}
        {hasOlder && (
          <button type="button" class="btn" onClick={() => void loadEvents(events.at(-1)?.seq ?? NEWEST, false)}>
            {t('common.load_older')}
          </button>
        )}
      </section>

      {dialog === 'edit' && (
        <EditUserDialog
          user={user}
          onClose={() => {
            setDialog(null);
            profile.reload();
          }}
        />
      )}
      {dialog === 'mfa-reset' && (
        <ResetMfaDialog
          user={user}
          onClose={() => setDialog(null)}
          onDone={() => {
            setDialog(null);
            mfa.reload();
          }}
        />
      )}
    </section>
  );
}

function ResetMfaDialog({ user, onClose, onDone }: { user: User; onClose: () => void; onDone: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      await api.resetUserMfa(user.id);
      notify(t('mfa_reset.done', { username: user.username }));
      onDone();
    } catch (e) {
      setError(failure(e).message);
      setBusy(false);
    }
  }
  return (
    <Modal title={t('mfa_reset.title', { username: user.username })} onClose={onClose}>
      <p>{tx('mfa_reset.body', { username: user.username })}</p>
      <FormError message={error} />
      <div class="dialog-actions">
        <button type="button" class="btn" onClick={onClose} autoFocus>
          {t('common.cancel')}
        </button>
        <button type="button" class="btn danger" disabled={busy} onClick={() => void confirm()}>
          {t('common.reset')}
        </button>
      </div>
    </Modal>
  );
}
