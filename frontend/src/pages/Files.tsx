import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { currentUser } from '../api/session';
import type { FileItem } from '../api/types';
import { Pager } from '../components/Pager';
import { SortHeader } from '../components/SortHeader';
import { files, refreshTasks, transfers } from '../live';
import { formatBytes, formatDate, formatDuration, formatRate } from '../lib/format';
import type { FileSortField } from '../stores/files';
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
        const message = e instanceof Error ? e.message : String(e);
        transfers.endUpload(id, message);
        notifyError(new Error(`Upload of ${file.name} failed: ${message}`));
      },
    );
  }
}

function viaText(t: Transfer): string {
  switch (t.via) {
    case 'api':
      return 'download';
    case 'link':
      return 'share link';
    case 'import':
      return 'import';
    case 'upload':
      return 'upload';
    default:
      return t.via;
  }
}

function stateText(t: Transfer): string | null {
  switch (t.state) {
    case 'queued':
      return 'Queued';
    case 'paused':
      return 'Paused';
    case 'done':
      return 'Done';
    case 'cancelled':
      return 'Cancelled';
    case 'failed':
    case 'aborted':
      return t.reason ? `Stopped (${t.reason.replace(/_/g, ' ')})` : 'Stopped';
    default:
      return null;
  }
}

function TransferItem({ t, canCancel }: { t: Transfer; canCancel: boolean }) {
  const f = fraction(t);
  const eta = etaSeconds(t);
  const name = t.name || 'file';
  const status = stateText(t);
  const running = t.state === 'active' || t.state === 'queued';
  return (
    <li class={`transfer transfer-${t.state}`}>
      <div class="transfer-head">
        <span class="transfer-name">{name}</span>
        <span class="badge">{viaText(t)}</span>
        {t.actor && <span class="muted small">by {t.actor}</span>}
      </div>
      {f === null || t.state === 'queued' ? (
        <progress aria-label={name} />
      ) : (
        <progress aria-label={name} max={1} value={f} />
      )}
      <div class="transfer-meta small">
        <span>
          {formatBytes(t.bytesSent)}
          {t.bytesTotal !== null ? ` of ${formatBytes(t.bytesTotal)}` : ''}
        </span>
        {status ? (
          <span>{status}</span>
        ) : (
          <>
            <span class="speed">{formatRate(t.rate)}</span>
            <span class="eta">{eta === null ? 'time left unknown' : `${formatDuration(eta)} left`}</span>
          </>
        )}
        {t.kind === 'import' && t.taskId && running && canCancel && (
          <button
            type="button"
            class="btn small"
            onClick={() =>
              void api.cancelTask(t.taskId!).then(() => transfers.markCancelled(t.taskId!), notifyError)
            }
          >
            Cancel import
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
    clearTimeout(searchTimer.current);
    searchTimer.current = setTimeout(() => void files.setQuery({ q: value }), 250);
  }

  async function remove(file: FileItem) {
    try {
      await api.deleteFile(file.id);
      files.remove(file.id);
      notify(`Deleted ${file.name}`);
    } catch (e) {
      notifyError(e);
    }
  }

  const sort = (field: FileSortField, desc: boolean) => void files.setQuery({ sort: field, desc });
  const items = files.items.value;
  const allOnPage = items.length > 0 && items.every((f) => selected.has(f.id));

  function toggle(index: number, shift: boolean) {
    const next = new Set(selected);
    const on = !selected.has(items[index]!.id);
    const from = shift && anchor.current !== null ? Math.min(anchor.current, index) : index;
    const to = shift && anchor.current !== null ? Math.max(anchor.current, index) : index;
    for (let i = from; i <= to; i++) {
      const id = items[i]?.id;
      if (id === undefined) continue;
      if (on) next.add(id);
      else next.delete(id);
    }
    anchor.current = index;
    setSelected(next);
  }

  function toggleAll() {
    const next = new Set(selected);
    for (const f of items) {
      if (allOnPage) next.delete(f.id);
      else next.add(f.id);
    }
    setSelected(next);
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
        <h1>Files</h1>
        {isAdmin && (
          <button type="button" class="btn" onClick={() => setDialog({ kind: 'import' })}>
            Import from URL
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
            Drop files here
          </div>
          <div class="upload-pick">
            <label for="upload-input" class="btn primary file-label">
              Upload files
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

      <ul aria-label="Uploads" class="uploads">
        {uploads.map((u) => (
          <li key={u.id} class={`upload upload-${u.state}`}>
            <span class="transfer-name">{u.name}</span>
            <progress aria-label={u.name} max={u.total || 1} value={u.state === 'done' ? u.total || 1 : u.sent} />
            <span class="small muted">
              {u.state === 'failed'
                ? `Failed: ${u.error ?? ''}`
                : u.state === 'retrying'
                ? `Reconnecting… ${u.total ? Math.floor((u.sent / u.total) * 100) : 0}%`
                : `${u.total ? Math.floor((u.sent / u.total) * 100) : 0}%`}
            </span>
          </li>
        ))}
      </ul>

      {selected.size > 0 && (
        <div class="selection-bar" role="region" aria-label="Selection">
          <span>
            {selected.size} file{selected.size === 1 ? '' : 's'} selected
          </span>
          <button type="button" class="btn primary small" onClick={() => void downloadSelected()}>
            Download as ZIP
          </button>
          <button type="button" class="btn small" onClick={() => setSelected(new Set())}>
            Clear selection
          </button>
        </div>
      )}

      <div class="toolbar" role="search">
        <div class="field inline grow">
          <label for="files-search">Search files</label>
          <input id="files-search" type="search" placeholder="File name" value={search} onInput={(e) => onSearch(e.currentTarget.value)} />
        </div>
      </div>

      {files.error.value && (
        <div role="alert" class="form-error">
          Could not load files: {files.error.value}
        </div>
      )}

      <div class="table-wrap">
        <table aria-label="Files" aria-busy={files.loading.value}>
          <thead>
            <tr>
              <th scope="col" class="select-col">
                <input type="checkbox" aria-label="Select all files on this page" checked={allOnPage} onChange={toggleAll} />
              </th>
              <SortHeader label="Name" field="name" sort={q.sort} desc={q.desc} onSort={sort} />
              <SortHeader label="Size" field="size" sort={q.sort} desc={q.desc} onSort={sort} class="num" />
              <SortHeader label="Type" field="content_type" sort={q.sort} desc={q.desc} onSort={sort} />
              <SortHeader label="Downloads" field="download_count" sort={q.sort} desc={q.desc} onSort={sort} class="num" />
              <SortHeader label="Uploaded" field="created_at" sort={q.sort} desc={q.desc} onSort={sort} />
              <SortHeader label="Expires" field="expires_at" sort={q.sort} desc={q.desc} onSort={sort} />
              <th scope="col" class="actions-col">
                Actions
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((f, i) => (
              <tr key={f.id} data-file-id={f.id} class={highlights[f.id] ? 'highlight' : undefined}>
                <td class="select-col">
                  <input
                    type="checkbox"
                    aria-label={`Select ${f.name}`}
                    checked={selected.has(f.id)}
                    onClick={(e) => toggle(i, e.shiftKey)}
                  />
                </td>
                <td class="strong name-cell">{f.name}</td>
                <td class="num">{formatBytes(f.size)}</td>
                <td class="muted">{f.content_type}</td>
                <td class="num" data-testid="download-count">
                  {f.download_count}
                </td>
                <td>
                  <time dateTime={f.created_at}>{formatDate(f.created_at)}</time>
                </td>
                <td>{f.expires_at ? <time dateTime={f.expires_at}>{formatDate(f.expires_at)}</time> : <span class="muted">Never</span>}</td>
                <td class="actions">
                  <a
                    class="btn small"
                    href={api.downloadUrl(f.id)}
                    download={f.name}
                    aria-label={`Download ${f.name}`}
                    onClick={(e) => {
                      e.preventDefault();
                      void api.downloadFile(f.id, f.name).catch(notifyError);
                    }}
                  >
                    Download
                  </a>
                  {isAdmin && (
                    <>
                      <button type="button" class="btn small" aria-label={`Share ${f.name}`} onClick={() => setDialog({ kind: 'share', file: f })}>
                        Share
                      </button>
                      <button type="button" class="btn small danger" aria-label={`Delete ${f.name}`} onClick={() => void remove(f)}>
                        Delete
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
            {files.loaded.value && items.length === 0 && (
              <tr>
                <td colSpan={8} class="empty">
                  No files yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div class="list-foot">
        <span class="muted small">
          {files.total.value} file{files.total.value === 1 ? '' : 's'}
        </span>
        <Pager page={q.page} pages={files.pages()} onPage={(page) => void files.setQuery({ page })} />
      </div>

      <h2 class="subhead">Transfers</h2>
      <ul aria-label="Transfers" class="transfers">
        {inFlight.map((t) => (
          <TransferItem key={t.key} t={t} canCancel={isAdmin} />
        ))}
      </ul>
      {inFlight.length === 0 && <p class="muted small">No transfers in flight.</p>}

      {dialog?.kind === 'share' && <ShareDialog file={dialog.file} onClose={() => setDialog(null)} />}
      {dialog?.kind === 'import' && <ImportDialog onClose={() => setDialog(null)} />}
    </section>
  );
}
