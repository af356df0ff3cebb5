import { useEffect, useState } from 'preact/hooks';
import { FeedText } from '../components/FeedText';
import { t } from '../i18n';
import { activity, files } from '../live';
import { formatDate, formatRelative } from '../lib/format';
import type { EventFrame } from '../realtime/events';
import { describe, isEcho } from '../stores/activity';

function nameOf(id: string): string | undefined {
  return activity.names.get(id) ?? files.nameOf(id);
}

function FeedItem({ frame, now }: { frame: EventFrame; now: number }) {
  const d = describe(frame, nameOf);
  return (
    <li class={`feed-item feed-${frame.type.replace('.', '-')}`} data-seq={frame.seq ?? undefined}>
      <FeedText d={d} />{' '}
      <time dateTime={frame.ts} title={formatDate(frame.ts)}>
        {formatRelative(frame.ts, now)}
      </time>
    </li>
  );
}

export function ActivityPage() {
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    void activity.loadRecent();
    const t = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(t);
  }, []);

  const items = activity.items.value;
  const bySeq = new Map<number, EventFrame>();
  for (const e of items) if (typeof e.seq === 'number') bySeq.set(e.seq, e);
  const shown = items.filter((e) => !isEcho(e, bySeq));

  return (
    <section class="page">
      <div class="page-head">
        <h1>{t('activity.title')}</h1>
      </div>
      {activity.error.value && (
        <div role="alert" class="form-error">
          {t('activity.load_error', { error: activity.error.value })}
        </div>
      )}
      <ol aria-label={t('activity.feed')} class="feed" aria-busy={activity.loading.value}>
        {shown.map((e) => (
          <FeedItem key={e.seq} frame={e} now={now} />
        ))}
      </ol>
      {activity.loaded.value && shown.length === 0 && <p class="muted">{t('activity.empty')}</p>}
      {activity.hasMore.value && (
        <button type="button" class="btn" disabled={activity.loading.value} onClick={() => void activity.loadOlder()}>
          {t('common.load_older')}
        </button>
      )}
    </section>
  );
}
