// Backups (admins): take one now, watch it run (live in every open panel through the backup.*
// events), download or delete the complete ones, and see at a glance how the last one went — so
// a failing schedule is noticed.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { ApiError } from '../api/http';
import type { Backup } from '../api/types';
import { Modal } from '../components/Modal';
import { ProgressBar } from '../components/ProgressBar';
import { backups } from '../live';
import { saveBlob } from '../lib/download';
import { formatBytes, formatCount, formatDate, formatRelative } from '../lib/format';
import { notify, notifyError } from '../stores/toasts';

const TRIGGERS: Record<Backup['trigger'], string> = { api: 'manual', schedule: 'scheduled', cli: 'command line' };

/** What a running backup is doing, in words. */
function phaseText(b: Backup): string {
  switch (b.phase) {
    case 'database':
      return 'Snapshotting the database';
    case 'objects':
      return `Copying files ${formatCount(b.objects_done)} / ${formatCount(b.objects_total)}`;
    case 'manifest':
      return 'Writing the manifest';
    default:
      return 'Finishing';
  }
}

function BackupProgress({ b }: { b: Backup }) {
  // The database snapshot has no count; the objects phase counts files.
  const counting = b.phase !== 'database' && b.objects_total > 0;
  const text = phaseText(b);
  return (
    <div class="backup-progress">
      <ProgressBar
        label={`Progress of backup ${b.id}`}
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
        {running ? 'The first backup is running.' : 'No backups yet.'}
      </p>
    );
  }
  const when = last.finished_at ?? last.created_at;
  if (last.status === 'failed') {
    return (
      <div class="backup-summary failed" role="alert" data-testid="backup-summary" data-state="failed">
        <strong>
          Last backup: failed{' '}
          <time dateTime={when} title={formatDate(when)}>
            {formatRelative(when, now)}
          </time>
        </strong>
        {last.trigger === 'schedule' ? ' (scheduled)' : ''}: {last.error ?? 'no reason given'}
      </div>
    );
  }
  return (
    <p class="backup-summary ok" role="status" data-testid="backup-summary" data-state="completed">
      Last backup: completed{' '}
      <time dateTime={when} title={formatDate(when)}>
        {formatRelative(when, now)}
      </time>
      {last.trigger === 'schedule' ? ' (scheduled)' : ''}
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
      if (e instanceof ApiError && e.status === 409) {
        notifyError(new Error(e.code === 'backup_running' ? 'A backup is already running' : e.message));
        void backups.load();
      } else notifyError(e);
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
        <h1>Backups</h1>
        <div class="head-actions">
          <button
            type="button"
            class="btn primary"
            disabled={starting || running !== null}
            title={running ? 'A backup is running' : undefined}
            onClick={() => void backUpNow()}
          >
            Back up now
          </button>
        </div>
      </div>

      <Summary now={now} />

      {backups.error.value && (
        <div role="alert" class="form-error">
          Could not load backups: {backups.error.value}
        </div>
      )}

      <div class="table-wrap">
        <table aria-label="Backups" aria-busy={backups.loading.value}>
          <thead>
            <tr>
              <th scope="col">Created</th>
              <th scope="col">Trigger</th>
              <th scope="col">Status</th>
              <th scope="col" class="num">
                Size
              </th>
              <th scope="col">Objects</th>
              <th scope="col" class="num">
                Last seq
              </th>
              <th scope="col" class="actions-col">
                Actions
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
                <td>{TRIGGERS[b.trigger] ?? b.trigger}</td>
                <td class="status-cell">
                  <span class={`badge backup-${b.status}`} data-testid="backup-status">
                    {b.status}
                  </span>
                  {b.status === 'running' && <BackupProgress b={b} />}
                  {b.status === 'failed' && b.error && <small class="backup-error">{b.error}</small>}
                </td>
                <td class="num">{b.status === 'running' && b.size_bytes === 0 ? '—' : formatBytes(b.size_bytes)}</td>
                <td>
                  {formatCount(b.objects_copied)} copied, {formatCount(b.objects_reused)} reused
                </td>
                <td class="num">{b.last_seq ?? '—'}</td>
                <td class="actions">
                  {b.status === 'completed' && (
                    <button
                      type="button"
                      class="btn small"
                      aria-label={`Download ${b.id}`}
                      disabled={downloading === b.id}
                      onClick={() => void download(b)}
                    >
                      {downloading === b.id ? 'Downloading…' : 'Download'}
                    </button>
                  )}
                  {b.status !== 'running' && (
                    <button
                      type="button"
                      class="btn small danger"
                      aria-label={`Delete ${b.id}`}
                      disabled={running !== null}
                      title={running ? 'Not while a backup runs' : undefined}
                      onClick={() => setConfirm(b)}
                    >
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
            {backups.loaded.value && items.length === 0 && (
              <tr>
                <td colSpan={7} class="empty">
                  No backups yet.
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
      notify(`Deleted backup ${backup.id}`);
      onClose();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        backups.removed(backup.id);
        onClose();
        return;
      }
      setError(e instanceof ApiError && e.status === 409 ? 'A backup is running: try again once it has finished.' : e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal title={`Delete backup ${backup.id}?`} onClose={onClose}>
      <div class="stack">
        <p>
          The backup taken {formatDate(backup.created_at)} ({formatBytes(backup.size_bytes)}) is removed from the backup location, with the
          files no other backup needs. This cannot be undone.
        </p>
        {error && (
          <div role="alert" class="form-error">
            {error}
          </div>
        )}
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" class="btn danger" disabled={busy} onClick={() => void remove()}>
            Delete
          </button>
        </div>
      </div>
    </Modal>
  );
}
