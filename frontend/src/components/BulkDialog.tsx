// A bulk action from confirmation to results: what will happen to how many, then a progress bar
// while the requests run (src/lib/bulk.ts), then the outcome per item (every one skipped or
// failed is listed with its reason).
import { useState } from 'preact/hooks';
import { t } from '../i18n';
import { countOutcomes, type BulkResult } from '../lib/bulk';
import '../styles/bulk.css';
import { Modal } from './Modal';
import { ProgressBar } from './ProgressBar';

interface Props {
  title: string;
  /** What the action does, for the confirmation. */
  body: string;
  confirmLabel: string;
  danger?: boolean;
  /** Runs the action, reporting progress; resolves with one result per item. */
  start(onProgress: (finished: number, total: number) => void): Promise<BulkResult[]>;
  /** Closed; `ran` when the action ran (the selection is then cleared). */
  onClose(ran: boolean): void;
}

export function BulkDialog({ title, body, confirmLabel, danger, start, onClose }: Props) {
  const [phase, setPhase] = useState<'confirm' | 'running' | 'done'>('confirm');
  const [progress, setProgress] = useState<[number, number]>([0, 0]);
  const [results, setResults] = useState<BulkResult[]>([]);

  async function go() {
    setPhase('running');
    const r = await start((finished, total) => setProgress([finished, total]));
    setResults(r);
    setPhase('done');
  }

  const counts = countOutcomes(results);
  const problems = results.filter((r) => r.outcome !== 'done');
  return (
    <Modal title={title} onClose={() => phase !== 'running' && onClose(phase === 'done')} class="bulk-dialog">
      {phase === 'confirm' && (
        <>
          <p>{body}</p>
          <div class="dialog-actions">
            <button type="button" class="btn" onClick={() => onClose(false)} autoFocus>
              {t('common.cancel')}
            </button>
            <button type="button" class={danger ? 'btn danger' : 'btn primary'} onClick={() => void go()}>
              {confirmLabel}
            </button>
          </div>
        </>
      )}
      {phase === 'running' && (
        <ProgressBar
          label={t('bulk.progress')}
          value={progress[0]}
          max={progress[1]}
          valueText={t('bulk.progress_text', { done: progress[0], total: progress[1] })}
          testId="bulk-progress"
        />
      )}
      {phase === 'done' && (
        <>
          <p role="status" data-testid="bulk-summary">
            {t('bulk.summary', { done: counts.done, skipped: counts.skipped, failed: counts.failed })}
          </p>
          {problems.length > 0 && (
            <ul class="bulk-problems" aria-label={t('bulk.problems')}>
              {problems.map((r) => (
                <li key={r.id} data-outcome={r.outcome}>
                  <strong>{r.label}</strong>
                  {t('common.separator')}
                  {r.outcome === 'skipped' ? t('bulk.skipped_because', { reason: r.message ?? '' }) : (r.message ?? '')}
                </li>
              ))}
            </ul>
          )}
          <div class="dialog-actions">
            <button type="button" class="btn primary" onClick={() => onClose(true)} autoFocus>
              {t('common.close')}
            </button>
          </div>
        </>
      )}
    </Modal>
  );
}
