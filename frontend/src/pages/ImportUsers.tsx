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
import { imports } from '../live';
import { formatOfName, previewCsv, previewJsonl, type ImportPreview } from '../lib/csv';
import { failure } from '../lib/failure';
import { formatBytes, formatCount } from '../lib/format';
import type { ImportRun } from '../stores/imports';

/** Enough of the file for a preview of its first rows (the whole file goes to the server). */
const PREVIEW_BYTES = 256 * 1024;
const PREVIEW_ROWS = 5;
/** Problems listed at most in the dialog (the counts stay exact). */
const LISTED_ERRORS = 1000;

const MODES: [ImportMode, string, string][] = [
  ['all_or_nothing', 'All or nothing', 'Any problem: nothing is created.'],
  ['skip_invalid', 'Skip invalid rows', 'The good rows are created, the others reported.'],
];

interface Done {
  report: UserImportReport;
  dryRun: boolean;
  mode: ImportMode;
}

function summaryText(d: Done): string {
  const { created, skipped } = d.report;
  if (d.dryRun) return `Dry run: ${formatCount(created)} would be created, ${formatCount(skipped)} skipped`;
  return `${formatCount(created)} created, ${formatCount(skipped)} skipped`;
}

function Preview({ preview }: { preview: ImportPreview }) {
  const cols = preview.columns;
  const ignored = new Set(preview.ignored);
  return (
    <div class="stack tight">
      {preview.missing.length > 0 && (
        <div role="alert" class="form-error">
          The header has no {preview.missing.join(' or ')} column: the server will refuse this file.
        </div>
      )}
      <div class="table-wrap preview-wrap">
        <table aria-label="Import preview" data-testid="import-preview">
          <thead>
            <tr>
              <th scope="col" class="num">
                Line
              </th>
              {cols.length === 0 ? (
                <th scope="col">Content</th>
              ) : (
                cols.map((c, i) => (
                  <th key={i} scope="col" class={ignored.has(c) ? 'ignored' : undefined} title={ignored.has(c) ? 'Not imported' : undefined}>
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
                    Not a JSON object: <code>{r.raw}</code>
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
                  No rows.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {preview.ignored.length > 0 && <small class="hint">Ignored: {preview.ignored.join(', ')}</small>}
    </div>
  );
}

function Report({ done }: { done: Done }) {
  const { report } = done;
  const errors = report.errors;
  const shown = errors.slice(0, LISTED_ERRORS);
  const nothing = !done.dryRun && done.mode === 'all_or_nothing' && report.created === 0 && errors.length > 0;
  return (
    <section class="import-report stack tight" aria-label="Import report" data-testid="import-report" data-dry-run={String(done.dryRun)}>
      <p class="import-summary" role="status" data-testid="import-summary">
        {summaryText(done)}
      </p>
      {nothing && (
        <p class="muted small">Nothing was imported because some rows have problems: fix them, or choose “Skip invalid rows”.</p>
      )}
      {errors.length === 0 ? (
        <p class="muted small">No problems found.</p>
      ) : (
        <div class="table-wrap report-wrap">
          <table aria-label="Import errors" data-testid="import-errors">
            <thead>
              <tr>
                <th scope="col" class="num">
                  Line
                </th>
                <th scope="col">Field</th>
                <th scope="col">Problem</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e, i) => (
                <tr key={i} data-line={e.line} data-code={e.code}>
                  <td class="num">{e.line}</td>
                  <td>{e.field ?? <span class="muted">whole line</span>}</td>
                  <td>{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {errors.length > shown.length && <small class="hint">… and {formatCount(errors.length - shown.length)} more problems.</small>}
    </section>
  );
}

function progressOf(busy: boolean, run: ImportRun | undefined, done: Done | null): { value: number | null; max: number; text: string } {
  if (done) {
    const total = done.report.created + done.report.skipped;
    return { value: total, max: Math.max(total, 1), text: `Done: ${formatCount(total)} rows` };
  }
  if (!busy) return { value: null, max: 1, text: '' };
  if (!run) return { value: null, max: 1, text: 'Sending the file…' };
  if (run.state === 'finished') return { value: run.rows_total, max: Math.max(run.rows_total, 1), text: 'Finishing…' };
  return {
    value: run.rows_done,
    max: Math.max(run.rows_total, 1),
    text: `${formatCount(run.rows_done)} / ${formatCount(run.rows_total)} rows`,
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
      setReadError(`Cannot read the file: ${e instanceof Error ? e.message : String(e)}`);
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
    <Modal title="Import users" onClose={onClose} class="wide import-dialog">
      <div class="stack">
        <p class="muted small">
          A CSV file with a header row (columns username, email, display_name, role, disabled, password or password_hash; others are
          ignored — an Export CSV file imports as it is), or JSON Lines with the same fields.
        </p>
        <div class="row import-pick">
          <Field label="File">
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
          <Field label="Format">
            {(p) => (
              <select {...p} value={format} disabled={busy !== null} onChange={(e) => setFormat(e.currentTarget.value as ImportFormat)}>
                <option value="csv">CSV</option>
                <option value="jsonl">JSON Lines</option>
              </select>
            )}
          </Field>
        </div>
        {file && (
          <small class="hint" data-testid="import-file">
            {file.name} · {formatBytes(file.size)}
            {head?.truncated ? ` · preview of the first ${PREVIEW_ROWS} rows` : ''}
          </small>
        )}
        {readError && (
          <div role="alert" class="form-error">
            {readError}
          </div>
        )}
        {preview && <Preview preview={preview} />}

        <fieldset class="choice">
          <legend>Mode</legend>
          {MODES.map(([value, label, hint]) => (
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
              <label for={`${modeName}-${value}`}>{label}</label>
              <small id={`${modeName}-${value}-hint`} class="hint">
                {hint}
              </small>
            </div>
          ))}
        </fieldset>

        {showProgress && (
          <div class="import-progress">
            <ProgressBar label="Import progress" value={progress.value} max={progress.max} valueText={progress.text} testId="import-progress" />
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
            Close
          </button>
          <button type="button" class="btn" disabled={!file || busy !== null} onClick={() => void run(true)}>
            Dry run
          </button>
          <button type="button" class="btn primary" disabled={!file || busy !== null} onClick={() => void run(false)}>
            Import
          </button>
        </div>
      </div>
    </Modal>
  );
}

function bannerText(r: ImportRun): string {
  const who = `${r.dry_run ? 'Dry run' : 'Import'} by ${r.actor?.username ?? 'someone'}`;
  if (r.state === 'finished') {
    return r.dry_run
      ? `${who} finished: ${formatCount(r.created)} would be created, ${formatCount(r.skipped)} skipped`
      : `${who} finished: ${formatCount(r.created)} created, ${formatCount(r.skipped)} skipped`;
  }
  return `${who}: ${formatCount(r.rows_done)} / ${formatCount(r.rows_total)}`;
}

/** Imports under way (or just finished) that no dialog of this tab follows: by other admins, or another tab. */
export function ImportBanners() {
  const claimed = imports.claimed.value;
  const shown = imports.runs.value.filter((r) => !claimed.has(r.import_id));
  if (shown.length === 0) return null;
  return (
    <section aria-label="Imports" class="import-banners">
      {shown.map((r) => {
        const text = bannerText(r);
        return (
          <div key={r.import_id} class={`import-banner ${r.state}`} data-testid="import-banner" data-import-id={r.import_id} data-state={r.state}>
            <span class="import-banner-text">{text}</span>
            {r.state === 'running' && (
              <ProgressBar label={`Import by ${r.actor?.username ?? 'someone'}`} value={r.rows_done} max={Math.max(r.rows_total, 1)} valueText={text} />
            )}
          </div>
        );
      })}
    </section>
  );
}
