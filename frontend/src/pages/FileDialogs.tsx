// Dialogs of the files page: share links and import from a URL.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import type { FileItem, Link } from '../api/types';
import { Field, FormError } from '../components/Field';
import { Modal } from '../components/Modal';
import { t } from '../i18n';
import { failure, type Failure } from '../lib/failure';
import { transfers } from '../live';
import { copyText } from '../lib/clipboard';
import { formatDate, localInputToIso } from '../lib/format';
import { notify, notifyError } from '../stores/toasts';

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
      notify(t('share.revoked'));
    } catch (err) {
      notifyError(err);
    }
  }

  const fe = fail?.fields ?? {};
  return (
    <Modal title={t('share.title', { name: file.name })} onClose={onClose} class="wide">
      <form onSubmit={create} class="stack" noValidate>
        <div class="row">
          <Field label={t('field.expires_at')} error={fe.expires_at} hint={t('common.optional')}>
            {(p) => <input {...p} type="datetime-local" value={expiresAt} onInput={(e) => setExpiresAt(e.currentTarget.value)} />}
          </Field>
          <Field label={t('field.max_downloads')} error={fe.max_downloads} hint={t('common.optional')}>
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
            {t('share.create')}
          </button>
        </div>
      </form>
      <h3 class="subhead">{t('share.links')}</h3>
      {links === null ? (
        <p class="muted">{t('common.loading')}</p>
      ) : links.length === 0 ? (
        <p class="muted">{t('share.none')}</p>
      ) : (
        <ul class="links" aria-label={t('share.list')}>
          {links.map((l) => (
            <li key={l.token}>
              <code class="link-url">{l.url}</code>
              <span class="muted small">
                {l.max_downloads != null
                  ? t('share.downloads_max', { count: l.download_count, max: l.max_downloads })
                  : t('share.downloads', { count: l.download_count })}
                {l.expires_at ? t('common.separator') + t('share.expires', { date: formatDate(l.expires_at) }) : ''}
              </span>
              <span class="link-actions">
                <button
                  type="button"
                  class="btn small"
                  onClick={() => void copyText(l.url).then(() => notify(t('share.copied')), notifyError)}
                >
                  {t('common.copy_link')}
                </button>
                <button type="button" class="btn small danger" onClick={() => void revoke(l)}>
                  {t('share.revoke')}
                </button>
              </span>
            </li>
          ))}
        </ul>
      )}
      <div class="dialog-actions">
        <button type="button" class="btn" onClick={onClose}>
          {t('common.close')}
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
      notify(t('import_url.started', { name: task.name ?? url.trim() }));
      onClose();
    } catch (err) {
      setFail(failure(err));
    } finally {
      setBusy(false);
    }
  }

  const fe = fail?.fields ?? {};
  return (
    <Modal title={t('import_url.title')} onClose={onClose}>
      <form onSubmit={submit} class="stack" noValidate>
        <Field label={t('field.url')} error={fe.url}>
          {(p) => (
            <input
              {...p}
              type="url"
              required
              placeholder={t('import_url.placeholder')}
              value={url}
              onInput={(e) => setUrl(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field label={t('field.name')} error={fe.name} hint={t('common.optional')}>
          {(p) => <input {...p} type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <FormError message={fail?.message ?? null} fields={fail?.fields} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" class="btn primary" disabled={busy}>
            {t('import_url.submit')}
          </button>
        </div>
      </form>
    </Modal>
  );
}
