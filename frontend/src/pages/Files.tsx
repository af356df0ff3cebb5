import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { currentUser } from '../api/session';
import type { FileItem } from '../api/types';
import { BulkDialog } from '../components/BulkDialog';
import { Pager } from '../components/Pager';
import { SortHeader } from '../components/SortHeader';
import { t } from '../i18n';
import { errorMessage } from '../i18n/errors';
import { reasonText } from '../i18n/labels';
import { files, refreshTasks, transfers } from '../live';
import { collectMatching, runBulk, SELECT_ALL_CAP, type BulkResult } from '../lib/bulk';
import { formatBytes, formatCount, formatDate, formatDuration, formatPercent, formatRate } from '../lib/format';
import { writePerPage } from '../lib/prefs';
import { allSelected, clickRow, togglePage } from '../lib/selection';
import { toFileApiQuery, type FileSortField } from '../stores/files';
import { notify, notifyError } from '../stores/toasts';
import { etaSeconds, fraction, type Transfer } from '../stores/transfers';
import { ImportDialog, ShareDialog } from './FileDialogs';

type DialogState = { kind: 'share'; file: FileItem } | { kind: 'import' } | null;

function upload(list: FileList | File[]): void {
  for (const file of Array.from(list)) {
    const id = transfers.startUpload(file.name, file.size);
    const handle = api.resumableUpload(file, {
      onProgress: (sent, total) => transfers.uploadProgress(id, sent, total),
      onRetry: () => transfers.uploadRetrying(id),
    });
    handle.promise.then(
      (created) => {
        transfers.endUpload(id, null);
        files.names.set(created.id, created.name);
        void files.load();
      },
      (e: unknown) => {
        const message = errorMessage(e);
        transfers.endUpload(id, message);
        notifyError(new Error(t('files.upload_failed', { name: file.name, error: message })));
      },
    );
  }
}

function viaText(x: Transfer): string {
  switch (x.via) {
    case 'api':
    case 'link':
    case 'import':
    case 'upload':
      return t(`transfer.via.${x.via}`);
    default:
      return x.via;
  }
}

function stateText(x: Transfer): string | null {
  switch (x.state) {
    case 'queued':
    case 'paused':
    case 'done':
    case 'cancelled':
      return t(`transfer.state.${x.state}`);
    case 'failed':
    case 'aborted':
      return x.reason ? t('transfer.state.stopped_reason', { reason: reasonText(x.reason) }) : t('transfer.state.stopped');
    default:
      return null;
  }
}

function TransferItem({ t: x, canCancel }: { t: Transfer; canCancel: boolean }) {
  const f = fraction(x);
  const eta = etaSeconds(x);
  const name = x.name || t('transfer.file');
  const status = stateText(x);
  const running = x.state === 'active' || x.state === 'queued';
  return (
    <li class={`transfer transfer-${x.state}`}>
      <div class="transfer-head">
        <span class="transfer-name">{name}</span>
        <span class="badge">{viaText(x)}</span>
        {x.actor && <span class="muted small">{t('transfer.by', { username: x.actor })}</span>}
      </div>
      {f === null || x.state === 'queued' ? (
        <progress aria-label={name} />
      ) : (
        <progress aria-label={name} max={1} value={f} />
      )}
      <div class="transfer-meta small">
        <span>
          {x.bytesTotal !== null ? t('transfer.bytes_of', { sent: formatBytes(x.bytesSent), total: formatBytes(x.bytesTotal) }) : formatBytes(x.bytesSent)}
        </span>
        {status ? (
          <span>{status}</span>
        ) : (
          <>
            <span class="speed">{formatRate(x.rate)}</span>
            <span class="eta">{eta === null ? t('transfer.eta_unknown') : t('transfer.eta', { duration: formatDuration(eta) })}</span>
          </>
        )}
        {x.kind === 'import' && x.taskId && running && canCancel && (
          <button
            type="button"
            class="btn small"
            onClick={() =>
              void api.cancelTask(x.taskId!).then(() => transfers.markCancelled(x.taskId!), notifyError)
            }
          >
            {t('transfer.cancel')}
          </button>
        )}
      </div>
    </li>
  );
}

export function FilesPage() {
  const [dialog, setDialog] = useState<DialogState>(null);
  const [dragging, setDragging] = useState(false);
  // Selected file ids (kept across pages); `anchor` is the last row clicked, for shift-click ranges.
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const anchor = useRef<number | null>(null);
  const [allMatching, setAllMatching] = useState(false);
  const [collecting, setCollecting] = useState(false);
  const [bulkDelete, setBulkDelete] = useState(false);
  const q = files.query.value;
  const [search, setSearch] = useState(q.q);
  const searchTimer = useRef<ReturnType<typeof setTimeout>>();
  const isAdmin = currentUser.value?.role === 'admin';

  useEffect(() => {
    void files.load();
    void refreshTasks();
    return () => clearTimeout(searchTimer.current);
  }, []);

  function onSearch(value: string) {
    setSearch(value);
    setAllMatching(false);
    clearTimeout(searchTimer.current);
    searchTimer.current = setTimeout(() => void files.setQuery({ q: value }), 250);
  }

  async function remove(file: FileItem) {
    try {
      await api.deleteFile(file.id);
      files.remove(file.id);
      notify(t('files.deleted', { name: file.name }));
    } catch (e) {
      notifyError(e);
    }
  }

  const sort = (field: FileSortField, desc: boolean) => void files.setQuery({ sort: field, desc });
  const items = files.items.value;
  const allOnPage = allSelected(selected, items.map((f) => f.id));

  const ids = items.map((f) => f.id);

  function toggle(index: number, shift: boolean) {
    setSelected(clickRow(selected, ids, index, anchor.current, shift));
    anchor.current = index;
    setAllMatching(false);
  }

  function toggleAll() {
    setSelected(togglePage(selected, ids));
    setAllMatching(false);
  }

  function clearSelection() {
    setSelected(new Set());
    setAllMatching(false);
    anchor.current = null;
  }

  async function selectAllMatching() {
    setCollecting(true);
    try {
      const all = await collectMatching(api.listFiles, toFileApiQuery(files.query.peek()));
      for (const f of all.items) files.names.set(f.id, f.name);
      setSelected(new Set(all.items.map((f) => f.id)));
      setAllMatching(!all.truncated);
    } catch (e) {
      notifyError(e);
    } finally {
      setCollecting(false);
    }
  }

  function deleteSelected(onProgress: (finished: number, total: number) => void): Promise<BulkResult[]> {
    return runBulk([...selected], {
      id: (id) => id,
      label: (id) => files.nameOf(id) ?? id,
      run: async (id) => {
        await api.deleteFile(id);
        files.remove(id);
      },
      describe: errorMessage,
      onProgress,
    });
  }

  async function downloadSelected() {
    try {
      await api.downloadArchive([...selected]);
    } catch (e) {
      notifyError(e);
    }
  }
  const uploads = transfers.uploads.value;
  const inFlight = transfers.list.value;
  const highlights = files.highlights.value;

  return (
    <section class="page">
      <div class="page-head">
        <h1>{t('files.title')}</h1>
        {isAdmin && (
          <button type="button" class="btn" onClick={() => setDialog({ kind: 'import' })}>
            {t('files.import_url')}
          </button>
        )}
      </div>

      {isAdmin && (
        <div class="upload-bar">
          <div
            data-testid="dropzone"
            class={dragging ? 'dropzone dragging' : 'dropzone'}
            onDragEnter={(e) => {
              e.preventDefault();
              setDragging(true);
            }}
            onDragOver={(e) => {
              e.preventDefault();
              if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
            }}
            onDragLeave={(e) => {
              if (e.currentTarget === e.target) setDragging(false);
            }}
            onDrop={(e) => {
              e.preventDefault();
              setDragging(false);
              if (e.dataTransfer?.files.length) upload(e.dataTransfer.files);
            }}
          >
            {t('files.drop')}
          </div>
          <div class="upload-pick">
            <label for="upload-input" class="btn primary file-label">
              {t('files.upload')}
            </label>
            <input
              id="upload-input"
              class="file-input"
              type="file"
              multiple
              onChange={(e) => {
                const input = e.currentTarget;
                if (input.files?.length) upload(input.files);
                input.value = '';
              }}
            />
          </div>
        </div>
      )}

      <ul aria-label={t('files.uploads')} class="uploads">
        {uploads.map((u) => (
          <li key={u.id} class={`upload upload-${u.state}`}>
            <span class="transfer-name">{u.name}</span>
            <progress aria-label={u.name} max={u.total || 1} value={u.state === 'done' ? u.total || 1 : u.sent} />
            <span class="small muted">
              {u.state === 'failed'
                ? t('files.upload_failed_short', { error: u.error ?? '' })
                : u.state === 'retrying'
                ? t('files.upload_retrying', { percent: formatPercent(u.total ? u.sent / u.total : 0) })
                : formatPercent(u.total ? u.sent / u.total : 0)}
            </span>
          </li>
        ))}
      </ul>

      {selected.size > 0 && (
        <div class="selection-bar" role="region" aria-label={t('files.selection')}>
          <span data-testid="selection-count">{t('files.selected', { count: selected.size })}</span>
          {!allMatching && files.total.value > selected.size && (
            <button type="button" class="btn small" disabled={collecting} onClick={() => void selectAllMatching()}>
              {t('bulk.select_all_matching', { count: Math.min(files.total.value, SELECT_ALL_CAP) })}
            </button>
          )}
          <button type="button" class="btn primary small" onClick={() => void downloadSelected()}>
            {t('files.download_zip')}
          </button>
          {isAdmin && (
            <button type="button" class="btn small danger" onClick={() => setBulkDelete(true)}>
              {t('common.delete')}
            </button>
          )}
          <button type="button" class="btn small" onClick={clearSelection}>
            {t('files.clear_selection')}
          </button>
          {bulkDelete && (
            <BulkDialog
              title={t('bulk.files_delete_title', { count: selected.size })}
              body={t('bulk.files_delete_body', { count: selected.size })}
              confirmLabel={t('common.delete')}
              danger
              start={deleteSelected}
              onClose={(ran) => {
                setBulkDelete(false);
                if (ran) clearSelection();
              }}
            />
          )}
        </div>
      )}

      <div class="toolbar" role="search">
        <div class="field inline grow">
          <label for="files-search">{t('files.search')}</label>
          <input id="files-search" type="search" placeholder={t('files.search_placeholder')} value={search} onInput={(e) => onSearch(e.currentTarget.value)} />
        </div>
      </div>

      {files.error.value && (
        <div role="alert" class="form-error">
          {t('files.load_error', { error: files.error.value })}
        </div>
      )}

      <div class="table-wrap">
        <table aria-label={t('files.title')} aria-busy={files.loading.value}>
          <thead>
            <tr>
              <th scope="col" class="select-col">
                <input type="checkbox" aria-label={t('files.select_all')} checked={allOnPage} onChange={toggleAll} />
              </th>
              <SortHeader label={t('files.name')} field="name" sort={q.sort} desc={q.desc} onSort={sort} />
              <SortHeader label={t('files.size')} field="size" sort={q.sort} desc={q.desc} onSort={sort} class="num" />
              <SortHeader label={t('files.type')} field="content_type" sort={q.sort} desc={q.desc} onSort={sort} />
              <SortHeader label={t('files.downloads')} field="download_count" sort={q.sort} desc={q.desc} onSort={sort} class="num" />
              <SortHeader label={t('files.uploaded')} field="created_at" sort={q.sort} desc={q.desc} onSort={sort} />
              <SortHeader label={t('files.expires')} field="expires_at" sort={q.sort} desc={q.desc} onSort={sort} />
              <th scope="col" class="actions-col">
                {t('common.actions')}
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((f, i) => (
              <tr key={f.id} data-file-id={f.id} class={highlights[f.id] ? 'highlight' : undefined}>
                <td class="select-col">
                  <input
                    type="checkbox"
                    aria-label={t('files.select', { name: f.name })}
                    checked={selected.has(f.id)}
                    onClick={(e) => toggle(i, e.shiftKey)}
                  />
                </td>
                <td class="strong name-cell">{f.name}</td>
                <td class="num">{formatBytes(f.size)}</td>
                <td class="muted">{f.content_type}</td>
                <td class="num" data-testid="download-count">
                  {formatCount(f.download_count)}
                </td>
                <td>
                  <time dateTime={f.created_at}>{formatDate(f.created_at)}</time>
                </td>
                <td>{f.expires_at ? <time dateTime={f.expires_at}>{formatDate(f.expires_at)}</time> : <span class="muted">{t('common.never_expires')}</span>}</td>
                <td class="actions">
                  <a
                    class="btn small"
                    href={api.downloadUrl(f.id)}
                    download={f.name}
                    aria-label={t('files.download_label', { name: f.name })}
                    onClick={(e) => {
                      e.preventDefault();
                      void api.downloadFile(f.id, f.name).catch(notifyError);
                    }}
                  >
                    {t('common.download')}
                  </a>
                  {isAdmin && (
                    <>
                      <button
                        type="button"
                        class="btn small"
                        aria-label={t('files.share_label', { name: f.name })}
                        onClick={() => setDialog({ kind: 'share', file: f })}
                      >
                        {t('files.share')}
                      </button>
                      <button type="button" class="btn small danger" aria-label={t('files.delete_label', { name: f.name })} onClick={() => void remove(f)}>
                        {t('common.delete')}
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
            {files.loaded.value && items.length === 0 && (
              <tr>
                <td colSpan={8} class="empty">
                  {t('files.empty')}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div class="list-foot">
        <span class="muted small">{t('files.count', { count: files.total.value })}</span>
        <Pager
          page={q.page}
          pages={files.pages()}
          onPage={(page) => void files.setQuery({ page })}
          perPage={q.perPage}
          onPerPage={(perPage) => {
            writePerPage('files', perPage);
            void files.setQuery({ perPage });
          }}
        />
      </div>

      <h2 class="subhead">{t('files.transfers')}</h2>
      <ul aria-label={t('files.transfers')} class="transfers">
        {inFlight.map((tr) => (
          <TransferItem key={tr.key} t={tr} canCancel={isAdmin} />
        ))}
      </ul>
      {inFlight.length === 0 && <p class="muted small">{t('files.no_transfers')}</p>}

      {dialog?.kind === 'share' && <ShareDialog file={dialog.file} onClose={() => setDialog(null)} />}
      {dialog?.kind === 'import' && <ImportDialog onClose={() => setDialog(null)} />}
    </section>
  );
}
