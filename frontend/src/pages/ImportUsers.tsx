// Bulk user import on the users page (admins): the "Import users" dialog (file, preview, mode,
// dry run or import, progress from the import.* events, the report) and the banner that shows
// every admin the imports under way.
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import * as api from '../api/endpoints';
import { currentUser } from '../api/session';
import type { ImportFormat, ImportMode, UserImportReport } from '../api/types';
import { Field } from '../components/Field';
import { Modal } from '../components/Modal';
import { ProgressBar } from '../components/ProgressBar';
import { t, tx } from '../i18n';
import { problemText } from '../i18n/errors';
import { imports } from '../live';
import { formatOfName, previewCsv, previewJsonl, type ImportPreview } from '../lib/csv';
import { failure } from '../lib/failure';
import { formatBytes, formatList } from '../lib/format';
import type { ImportRun } from '../stores/imports';

/** Enough of the file for a preview of its first rows (the whole file goes to the server). */
const PREVIEW_BYTES = 256 * 1024;
const PREVIEW_ROWS = 5;
/** Problems listed at most in the dialog (the counts stay exact). */
const LISTED_ERRORS = 1000;

const MODES: ImportMode[] = ['all_or_nothing', 'skip_invalid'];

interface Done {
  report: UserImportReport;
  dryRun: boolean;
  mode: ImportMode;
}

function summaryText(d: Done): string {
  const { created, skipped } = d.report;
  return t(d.dryRun ? 'import.summary_dry' : 'import.summary', { created, skipped });
}

function Preview({ preview }: { preview: ImportPreview }) {
  const cols = preview.columns;
  const ignored = new Set(preview.ignored);
  return (
    <div class="stack tight">
      {preview.missing.length > 0 && (
        <div role="alert" class="form-error">
          {t('import.missing', { columns: formatList(preview.missing, 'or') })}
        </div>
      )}
      <div class="table-wrap preview-wrap">
        <table aria-label={t('import.preview')} data-testid="import-preview">
          <thead>
            <tr>
              <th scope="col" class="num">
                {t('import.line')}
              </th>
              {cols.length === 0 ? (
                <th scope="col">{t('import.content')}</th>
              ) : (
                cols.map((c, i) => (
                  <th key={i} scope="col" class={ignored.has(c) ? 'ignored' : undefined} title={ignored.has(c) ? t('import.not_imported') : undefined}>
                    {c}
                  </th>
                ))
              )}
            </tr>
          </thead>
          <tbody>
            {preview.rows.map((r) => (
              <tr key={r.line} data-line={r.line}>
                <td class="num muted">{r.line}</td>
                {r.cells === null ? (
                  <td colSpan={Math.max(1, cols.length)} class="preview-bad">
                    {tx('import.not_json', { raw: <code>{r.raw}</code> })}
                  </td>
                ) : (
                  r.cells.map((v, i) => (
                    <td key={i} class={ignored.has(cols[i] ?? '') ? 'ignored' : undefined}>
                      {v}
                    </td>
                  ))
                )}
              </tr>
            ))}
            {preview.rows.length === 0 && (
              <tr>
                <td colSpan={Math.max(1, cols.length) + 1} class="empty">
                  {t('import.no_rows')}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {preview.ignored.length > 0 && <small class="hint">{t('import.ignored', { columns: formatList(preview.ignored) })}</small>}
    </div>
  );
}

function Report({ done }: { done: Done }) {
  const { report } = done;
  const errors = report.errors;
  const shown = errors.slice(0, LISTED_ERRORS);
  const nothing = !done.dryRun && done.mode === 'all_or_nothing' && report.created === 0 && errors.length > 0;
  return (
    <section class="import-report stack tight" aria-label={t('import.report')} data-testid="import-report" data-dry-run={String(done.dryRun)}>
      <p class="import-summary" role="status" data-testid="import-summary">
        {summaryText(done)}
      </p>
      {nothing && (
        <p class="muted small">{t('import.nothing')}</p>
      )}
      {errors.length === 0 ? (
        <p class="muted small">{t('import.no_problems')}</p>
      ) : (
        <div class="table-wrap report-wrap">
          <table aria-label={t('import.errors')} data-testid="import-errors">
            <thead>
              <tr>
                <th scope="col" class="num">
                  {t('import.line')}
                </th>
                <th scope="col">{t('import.field')}</th>
                <th scope="col">{t('import.problem')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e, i) => (
                <tr key={i} data-line={e.line} data-code={e.code}>
                  <td class="num">{e.line}</td>
                  <td>{e.field ?? <span class="muted">{t('import.whole_line')}</span>}</td>
                  <td>{problemText(e.message)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {errors.length > shown.length && <small class="hint">{t('import.more', { count: errors.length - shown.length })}</small>}
    </section>
  );
}

function progressOf(busy: boolean, run: ImportRun | undefined, done: Done | null): { value: number | null; max: number; text: string } {
  if (done) {
    const total = done.report.created + done.report.skipped;
    return { value: total, max: Math.max(total, 1), text: t('import.done_rows', { count: total }) };
  }
  if (!busy) return { value: null, max: 1, text: '' };
  if (!run) return { value: null, max: 1, text: t('import.sending') };
  if (run.state === 'finished') return { value: run.rows_total, max: Math.max(run.rows_total, 1), text: t('import.finishing') };
  return {
    value: run.rows_done,
    max: Math.max(run.rows_total, 1),
    text: t('import.rows', { done: run.rows_done, total: run.rows_total }),
  };
}

export function ImportUsersDialog({ onClose }: { onClose: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [head, setHead] = useState<{ text: string; truncated: boolean } | null>(null);
  const [format, setFormat] = useState<ImportFormat>('csv');
  const [mode, setMode] = useState<ImportMode>('all_or_nothing');
  const [busy, setBusy] = useState<'dry' | 'import' | null>(null);
  const [done, setDone] = useState<Done | null>(null);
  const [fail, setFail] = useState<string | null>(null);
  const [readError, setReadError] = useState<string | null>(null);
  const [trackedId, setTrackedId] = useState<string | null>(null);
  const since = useRef(0);
  const modeName = useId();
  const me = currentUser.value?.id ?? null;

  // The import this dialog started: the newest of this admin heard of since the file was sent.
  const runs = imports.runs.value;
  useEffect(() => {
    if (!busy || trackedId || !me) return;
    const run = imports.newestUnclaimedBy(me, since.current);
    if (run) {
      imports.claim(run.import_id);
      setTrackedId(run.import_id);
    }
  }, [runs, busy, trackedId, me]);

  // Closed while the import runs: the banner shows it from now on.
  const followed = useRef<{ id: string | null; busy: boolean }>({ id: null, busy: false });
  followed.current = { id: trackedId, busy: busy !== null };
  useEffect(
    () => () => {
      const { id, busy: running } = followed.current;
      if (id && running) imports.unclaim(id);
    },
    [],
  );

  async function onFile(input: HTMLInputElement) {
    const f = input.files?.[0] ?? null;
    setFile(f);
    setHead(null);
    setDone(null);
    setFail(null);
    setReadError(null);
    if (!f) return;
    setFormat(formatOfName(f.name));
    try {
      const text = await f.slice(0, PREVIEW_BYTES).text();
      setHead({ text, truncated: f.size > PREVIEW_BYTES });
    } catch (e) {
      setReadError(t('import.read_error', { error: e instanceof Error ? e.message : String(e) }));
    }
  }

  async function run(dryRun: boolean) {
    if (!file) return;
    setBusy(dryRun ? 'dry' : 'import');
    setDone(null);
    setFail(null);
    setTrackedId(null);
    since.current = Date.now();
    try {
      const report = await api.importUsers(file, { format, mode, dryRun });
      // The answer names the import: if the events pointed at another one, give that one back.
      const guessed = followed.current.id;
      if (guessed && guessed !== report.import_id) imports.unclaim(guessed);
      imports.claim(report.import_id);
      setTrackedId(report.import_id);
      setDone({ report, dryRun, mode });
    } catch (e) {
      setFail(failure(e).message);
    } finally {
      setBusy(null);
    }
  }

  const preview = head ? (format === 'csv' ? previewCsv(head.text, PREVIEW_ROWS, head.truncated) : previewJsonl(head.text, PREVIEW_ROWS, head.truncated)) : null;
  const run_ = trackedId ? imports.get(trackedId) : undefined;
  const progress = progressOf(busy !== null, run_, done);
  const showProgress = busy !== null || done !== null;

  return (
    <Modal title={t('import.title')} onClose={onClose} class="wide import-dialog">
      <div class="stack">
        <p class="muted small">{t('import.intro')}</p>
        <div class="row import-pick">
          <Field label={t('field.file')}>
            {(p) => (
              <input
                {...p}
                type="file"
                accept=".csv,.jsonl,.ndjson,.json,text/csv,application/x-ndjson"
                disabled={busy !== null}
                onChange={(e) => void onFile(e.currentTarget)}
              />
            )}
          </Field>
          <Field label={t('import.format')}>
            {(p) => (
              <select {...p} value={format} disabled={busy !== null} onChange={(e) => setFormat(e.currentTarget.value as ImportFormat)}>
                <option value="csv">{t('import.format_csv')}</option>
                <option value="jsonl">{t('import.format_jsonl')}</option>
              </select>
            )}
          </Field>
        </div>
        {file && (
          <small class="hint" data-testid="import-file">
            {t('import.file_info', { name: file.name, size: formatBytes(file.size) })}
            {head?.truncated ? t('import.preview_first', { count: PREVIEW_ROWS }) : ''}
          </small>
        )}
        {readError && (
          <div role="alert" class="form-error">
            {readError}
          </div>
        )}
        {preview && <Preview preview={preview} />}

        <fieldset class="choice">
          <legend>{t('import.mode')}</legend>
          {MODES.map((value) => (
            <div class="choice-item" key={value}>
              <input
                id={`${modeName}-${value}`}
                type="radio"
                name={modeName}
                value={value}
                checked={mode === value}
                disabled={busy !== null}
                aria-describedby={`${modeName}-${value}-hint`}
                onChange={() => setMode(value)}
              />
              <label for={`${modeName}-${value}`}>{t(`import.mode.${value}`)}</label>
              <small id={`${modeName}-${value}-hint`} class="hint">
                {t(`import.mode.${value}.hint`)}
              </small>
            </div>
          ))}
        </fieldset>

        {showProgress && (
          <div class="import-progress">
            <ProgressBar label={t('import.progress')} value={progress.value} max={progress.max} valueText={progress.text} testId="import-progress" />
            <small class="muted" data-testid="import-progress-text">
              {progress.text}
            </small>
          </div>
        )}

        {fail && (
          <div role="alert" class="form-error">
            {fail}
          </div>
        )}
        {done && <Report done={done} />}

        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            {t('common.close')}
          </button>
          <button type="button" class="btn" disabled={!file || busy !== null} onClick={() => void run(true)}>
            {t('import.dry_run')}
          </button>
          <button type="button" class="btn primary" disabled={!file || busy !== null} onClick={() => void run(false)}>
            {t('import.submit')}
          </button>
        </div>
      </div>
    </Modal>
  );
}

function bannerText(r: ImportRun): string {
  const username = r.actor?.username ?? t('common.someone');
  if (r.state === 'finished') {
    return t(r.dry_run ? 'import.banner_finished_dry' : 'import.banner_finished', { username, created: r.created, skipped: r.skipped });
  }
  return t(r.dry_run ? 'import.banner_running_dry' : 'import.banner_running', { username, done: r.rows_done, total: r.rows_total });
}

/** Imports under way (or just finished) that no dialog of this tab follows: by other admins, or another tab. */
export function ImportBanners() {
  const claimed = imports.claimed.value;
  const shown = imports.runs.value.filter((r) => !claimed.has(r.import_id));
  if (shown.length === 0) return null;
  return (
    <section aria-label={t('import.banners')} class="import-banners">
      {shown.map((r) => {
        const text = bannerText(r);
        return (
          <div key={r.import_id} class={`import-banner ${r.state}`} data-testid="import-banner" data-import-id={r.import_id} data-state={r.state}>
            <span class="import-banner-text">{text}</span>
            {r.state === 'running' && (
              <ProgressBar label={t('import.banner_label', { username: r.actor?.username ?? t('common.someone') })} value={r.rows_done} max={Math.max(r.rows_total, 1)} valueText={text} />
            )}
          </div>
        );
      })}
    </section>
  );
}
