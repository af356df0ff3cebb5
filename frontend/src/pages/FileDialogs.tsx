// Dialogs of the files page: share links and import from a URL.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { ApiError } from '../api/http';
import type { FileItem, Link } from '../api/types';
import { Field, FormError } from '../components/Field';
import { Modal } from '../components/Modal';
import { transfers } from '../live';
import { copyText } from '../lib/clipboard';
import { formatDate, localInputToIso } from '../lib/format';
import { notify, notifyError } from '../stores/toasts';

interface Failure {
  message: string;
  fields: Record<string, string>;
}

function failure(e: unknown): Failure {
  if (e instanceof ApiError) {
    const message = e.status === 422 && Object.keys(e.fields).length > 0 ? 'Please correct the highlighted fields.' : e.message;
    return { message: message.charAt(0).toUpperCase() + message.slice(1), fields: e.fields };
  }
  return { message: e instanceof Error ? e.message : String(e), fields: {} };
}

export function ShareDialog({ file, onClose }: { file: FileItem; onClose: () => void }) {
  const [links, setLinks] = useState<Link[] | null>(null);
  const [expiresAt, setExpiresAt] = useState('');
  const [maxDownloads, setMaxDownloads] = useState('');
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  async function reload() {
    try {
      const page = await api.listLinks(file.id);
      setLinks(page.items);
    } catch (e) {
      setFail(failure(e));
      setLinks([]);
    }
  }

  useEffect(() => {
    void reload();
  }, [file.id]);

  async function create(e: Event) {
    e.preventDefault();
    setBusy(true);
    setFail(null);
    try {
      const max = maxDownloads.trim() ? Number(maxDownloads) : null;
      const link = await api.createLink(file.id, { expires_at: localInputToIso(expiresAt), max_downloads: max });
      setLinks((cur) => [link, ...(cur ?? []).filter((l) => l.token !== link.token)]);
      setExpiresAt('');
      setMaxDownloads('');
    } catch (err) {
      setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  async function revoke(link: Link) {
    try {
      await api.deleteLink(link.token);
      setLinks((cur) => (cur ?? []).filter((l) => l.token !== link.token));
      notify('Link revoked');
    } catch (err) {
      notifyError(err);
    }
  }

  const fe = fail?.fields ?? {};
  return (
    <Modal title={`Share ${file.name}`} onClose={onClose} class="wide">
      <form onSubmit={create} class="stack" noValidate>
        <div class="row">
          <Field label="Expires at" error={fe.expires_at} hint="Optional">
            {(p) => <input {...p} type="datetime-local" value={expiresAt} onInput={(e) => setExpiresAt(e.currentTarget.value)} />}
          </Field>
          <Field label="Max downloads" error={fe.max_downloads} hint="Optional">
            {(p) => (
              <input
                {...p}
                type="number"
                min={1}
                step={1}
                inputMode="numeric"
                value={maxDownloads}
                onInput={(e) => setMaxDownloads(e.currentTarget.value)}
              />
            )}
          </Field>
        </div>
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions">
          <button type="submit" class="btn primary" disabled={busy}>
            Create link
          </button>
        </div>
      </form>
      <h3 class="subhead">Links</h3>
      {links === null ? (
        <p class="muted">Loading…</p>
      ) : links.length === 0 ? (
        <p class="muted">No links yet.</p>
      ) : (
        <ul class="links" aria-label="Share links">
          {links.map((l) => (
            <li key={l.token}>
              <code class="link-url">{l.url}</code>
              <span class="muted small">
                {l.download_count}
                {l.max_downloads != null ? ` of ${l.max_downloads}` : ''} downloads
                {l.expires_at ? ` · expires ${formatDate(l.expires_at)}` : ''}
              </span>
              <span class="link-actions">
                <button
                  type="button"
                  class="btn small"
                  onClick={() => void copyText(l.url).then(() => notify('Link copied'), notifyError)}
                >
                  Copy link
                </button>
                <button type="button" class="btn small danger" onClick={() => void revoke(l)}>
                  Revoke link
                </button>
              </span>
            </li>
          ))}
        </ul>
      )}
      <div class="dialog-actions">
        <button type="button" class="btn" onClick={onClose}>
          Close
        </button>
      </div>
    </Modal>
  );
}

export function ImportDialog({ onClose }: { onClose: () => void }) {
  const [url, setUrl] = useState('');
  const [name, setName] = useState('');
  const [fail, setFail] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setFail(null);
    try {
      const task = await api.importFile({ url: url.trim(), name: name.trim() || null });
      transfers.addTask(task);
      notify(`Importing ${task.name ?? url.trim()}`);
      onClose();
    } catch (err) {
      setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  const fe = fail?.fields ?? {};
  return (
    <Modal title="Import from URL" onClose={onClose}>
      <form onSubmit={submit} class="stack" noValidate>
        <Field label="URL" error={fe.url}>
          {(p) => (
            <input
              {...p}
              type="url"
              required
              placeholder="https://example.com/file.zip"
              value={url}
              onInput={(e) => setUrl(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field label="Name" error={fe.name} hint="Optional">
          {(p) => <input {...p} type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn primary" disabled={busy}>
            Import
          </button>
        </div>
      </form>
    </Modal>
  );
}
