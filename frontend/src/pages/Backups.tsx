// Backups (admins): take one now, watch it run (live in every open panel through the backup.*
// events), download or delete the complete ones, and see at a glance how the last one went — so
// a failing schedule is noticed.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { ApiError } from '../api/http';
import type { Backup } from '../api/types';
import { Modal } from '../components/Modal';
import { ProgressBar } from '../components/ProgressBar';
import { t, tx } from '../i18n';
import { errorMessage } from '../i18n/errors';
import { backupStatusName, triggerName } from '../i18n/labels';
import { backups } from '../live';
import { saveBlob } from '../lib/download';
import { formatBytes, formatDate, formatRelative } from '../lib/format';
import { notify, notifyError } from '../stores/toasts';

/** What a running backup is doing, in words. */
function phaseText(b: Backup): string {
  switch (b.phase) {
    case 'database':
      return t('backup.phase.database');
    case 'objects':
      return t('backup.phase.objects', { done: b.objects_done, total: b.objects_total });
    case 'manifest':
      return t('backup.phase.manifest');
    default:
      return t('backup.phase.done');
  }
}

function BackupProgress({ b }: { b: Backup }) {
  // The database snapshot has no count; the objects phase counts files.
  const counting = b.phase !== 'database' && b.objects_total > 0;
  const text = phaseText(b);
  return (
    <div class="backup-progress">
      <ProgressBar
        label={t('backup.progress_label', { id: b.id })}
        value={counting ? b.objects_done : b.phase === 'manifest' || b.phase === 'done' ? 1 : null}
        max={counting ? b.objects_total : 1}
        valueText={text}
        testId="backup-progress"
      />
      <small class="muted" data-testid="backup-phase" data-phase={b.phase}>
        {text}
      </small>
    </div>
  );
}

/** "Last backup: completed 2 min ago", or the failure in an alert. */
function Summary({ now }: { now: number }) {
  const last = backups.lastFinished.value;
  const running = backups.running.value;
  if (!backups.loaded.value) return null;
  if (!last) {
    return (
      <p class="backup-summary" role="status" data-testid="backup-summary" data-state="none">
        {running ? t('backup.summary.first_running') : t('backup.summary.none')}
      </p>
    );
  }
  const at = last.finished_at ?? last.created_at;
  const when = (
    <time dateTime={at} title={formatDate(at)}>
      {formatRelative(at, now)}
    </time>
  );
  const scheduled = last.trigger === 'schedule';
  if (last.status === 'failed') {
    return (
      <div class="backup-summary failed" role="alert" data-testid="backup-summary" data-state="failed">
        {tx(scheduled ? 'backup.summary.failed_scheduled' : 'backup.summary.failed', { when, error: last.error ?? t('backup.no_reason') })}
      </div>
    );
  }
  return (
    <p class="backup-summary ok" role="status" data-testid="backup-summary" data-state="completed">
      {tx(scheduled ? 'backup.summary.completed_scheduled' : 'backup.summary.completed', { when })}
    </p>
  );
}

export function BackupsPage() {
  const [now, setNow] = useState(Date.now());
  const [starting, setStarting] = useState(false);
  const [downloading, setDownloading] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<Backup | null>(null);

  useEffect(() => {
    void backups.load();
    const t = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(t);
  }, []);

  const items = backups.items.value;
  const running = backups.running.value;

  async function backUpNow() {
    setStarting(true);
    try {
      backups.upsert(await api.createBackup());
      setNow(Date.now());
    } catch (e) {
      // 409 `backup_running`: "A backup is already running" (by its code, in the current language).
      notifyError(e);
      if (e instanceof ApiError && e.status === 409) void backups.load();
    } finally {
      setStarting(false);
    }
  }

  async function download(b: Backup) {
    setDownloading(b.id);
    try {
      const { blob, filename } = await api.downloadBackup(b.id);
      saveBlob(blob, filename);
    } catch (e) {
      notifyError(e);
    } finally {
      setDownloading(null);
    }
  }

  return (
    <section class="page">
      <div class="page-head">
        <h1>{t('backups.title')}</h1>
        <div class="head-actions">
          <button
            type="button"
            class="btn primary"
            disabled={starting || running !== null}
            title={running ? t('backups.running') : undefined}
            onClick={() => void backUpNow()}
          >
            {t('backups.now')}
          </button>
        </div>
      </div>

      <Summary now={now} />

      {backups.error.value && (
        <div role="alert" class="form-error">
          {t('backups.load_error', { error: backups.error.value })}
        </div>
      )}

      <div class="table-wrap">
        <table aria-label={t('backups.title')} aria-busy={backups.loading.value}>
          <thead>
            <tr>
              <th scope="col">{t('backups.created')}</th>
              <th scope="col">{t('backups.trigger')}</th>
              <th scope="col">{t('backups.status')}</th>
              <th scope="col" class="num">
                {t('backups.size')}
              </th>
              <th scope="col">{t('backups.objects')}</th>
              <th scope="col" class="num">
                {t('backups.last_seq')}
              </th>
              <th scope="col" class="actions-col">
                {t('common.actions')}
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((b) => (
              <tr key={b.id} data-backup-id={b.id} data-status={b.status}>
                <td>
                  <time dateTime={b.created_at}>{formatDate(b.created_at)}</time>
                  <br />
                  <code class="muted small">{b.id}</code>
                </td>
                <td>{triggerName(b.trigger)}</td>
                <td class="status-cell">
                  <span class={`badge backup-${b.status}`} data-testid="backup-status">
                    {backupStatusName(b.status)}
                  </span>
                  {b.status === 'running' && <BackupProgress b={b} />}
                  {b.status === 'failed' && b.error && <small class="backup-error">{b.error}</small>}
                </td>
                <td class="num">{b.status === 'running' && b.size_bytes === 0 ? '—' : formatBytes(b.size_bytes)}</td>
                <td>{t('backups.objects_counts', { copied: b.objects_copied, reused: b.objects_reused })}</td>
                <td class="num">{b.last_seq ?? '—'}</td>
                <td class="actions">
                  {b.status === 'completed' && (
                    <button
                      type="button"
                      class="btn small"
                      aria-label={t('backups.download_label', { id: b.id })}
                      disabled={downloading === b.id}
                      onClick={() => void download(b)}
                    >
                      {downloading === b.id ? t('backups.downloading') : t('common.download')}
                    </button>
                  )}
                  {b.status !== 'running' && (
                    <button
                      type="button"
                      class="btn small danger"
                      aria-label={t('backups.delete_label', { id: b.id })}
                      disabled={running !== null}
                      title={running ? t('backups.not_while_running') : undefined}
                      onClick={() => setConfirm(b)}
                    >
                      {t('common.delete')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
            {backups.loaded.value && items.length === 0 && (
              <tr>
                <td colSpan={7} class="empty">
                  {t('backups.empty')}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>

      {confirm && <DeleteBackupDialog backup={confirm} onClose={() => setConfirm(null)} />}
    </section>
  );
}

function DeleteBackupDialog({ backup, onClose }: { backup: Backup; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function remove() {
    setBusy(true);
    setError(null);
    try {
      await api.deleteBackup(backup.id);
      backups.removed(backup.id);
      notify(t('backups.deleted', { id: backup.id }));
      onClose();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        backups.removed(backup.id);
        onClose();
        return;
      }
      setError(e instanceof ApiError && e.status === 409 ? t('backups.delete_running') : errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal title={t('backups.delete_title', { id: backup.id })} onClose={onClose}>
      <div class="stack">
        <p>{t('backups.delete_body', { date: formatDate(backup.created_at), size: formatBytes(backup.size_bytes) })}</p>
        {error && (
          <div role="alert" class="form-error">
            {error}
          </div>
        )}
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="button" class="btn danger" disabled={busy} onClick={() => void remove()}>
            {t('common.delete')}
          </button>
        </div>
      </div>
    </Modal>
  );
}
