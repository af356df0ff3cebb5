import { useEffect, useRef, useState } from 'preact/hooks';
import { FeedText } from '../components/FeedText';
import { hasKey, t, tKey } from '../i18n';
import { activity, files } from '../live';
import { formatDate, formatRelative } from '../lib/format';
import type { EventFrame } from '../realtime/events';
import {
  type ActivityFilters,
  describe,
  filtersFromSearch,
  filtersToSearch,
  hasFilters,
  isEcho,
  NO_FILTERS,
  rangeValid,
  TYPE_GROUPS,
} from '../stores/activity';
import '../styles/activity.css';

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

/** A type's label ("User created"), or the type itself when we have none. */
function typeLabel(type: string): string {
  const key = `activity.type.${type}`;
  return hasKey(key) ? tKey(key) : type;
}

/** The filters of the current URL (the page is `/activity?type=…&actor=…&from=…&to=…`). */
function urlFilters(): ActivityFilters {
  return filtersFromSearch(location.search);
}

/** Puts the filters into the URL without a history entry; the path (and so the route) stays. */
function writeUrl(f: ActivityFilters): void {
  const url = location.pathname + filtersToSearch(f) + location.hash;
  if (url !== location.pathname + location.search + location.hash) history.replaceState(history.state, '', url);
}

/** The type filter: "all", then each group ("any of the group" and its types). */
function TypeSelect({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const known = value === '' || TYPE_GROUPS.some((g) => g.any === value || g.types.includes(value));
  return (
    <select id="activity-type" value={value} onChange={(e) => onChange(e.currentTarget.value)}>
      <option value="">{t('activity.filter.any_type')}</option>
      {!known && <option value={value}>{value}</option>}
      {TYPE_GROUPS.map((g) => (
        <optgroup key={g.id} label={tKey(`activity.filter.group.${g.id}`)}>
          <option value={g.any}>{tKey(`activity.filter.all.${g.id}`)}</option>
          {g.types.map((type) => (
            <option key={type} value={type}>
              {typeLabel(type)}
            </option>
          ))}
        </optgroup>
      ))}
    </select>
  );
}

export function ActivityPage() {
  const [now, setNow] = useState(Date.now());
  const [filters, setFilters] = useState<ActivityFilters>(urlFilters);
  // The filters as last applied, for the actor field's delayed update (its closure is older).
  const current = useRef(filters);
  // The actor field as typed; it becomes a filter after a pause (or Enter).
  const [actor, setActor] = useState(filters.actor);
  const actorTimer = useRef<ReturnType<typeof setTimeout>>();

  useEffect(() => {
    void activity.setFilters(urlFilters());
    const t = setInterval(() => setNow(Date.now()), 15_000);
    // Back or forward to another /activity URL: its filters.
    const onPop = () => {
      const f = urlFilters();
      current.current = f;
      setFilters(f);
      setActor(f.actor);
      void activity.setFilters(f);
    };
    window.addEventListener('popstate', onPop);
    return () => {
      clearInterval(t);
      clearTimeout(actorTimer.current);
      window.removeEventListener('popstate', onPop);
    };
  }, []);

  function apply(change: Partial<ActivityFilters>): void {
    const next = { ...current.current, ...change };
    current.current = next;
    setFilters(next);
    writeUrl(next);
    void activity.setFilters(next);
  }

  function onActor(value: string): void {
    setActor(value);
    clearTimeout(actorTimer.current);
    actorTimer.current = setTimeout(() => apply({ actor: value.trim() }), 300);
  }

  function clear(): void {
    clearTimeout(actorTimer.current);
    setActor('');
    apply(NO_FILTERS);
  }

  const filtered = hasFilters(filters);
  const validRange = rangeValid(filters);

  const items = activity.items.value;
  const bySeq = new Map<number, EventFrame>();
  for (const e of items) if (typeof e.seq === 'number') bySeq.set(e.seq, e);
  const shown = items.filter((e) => !isEcho(e, bySeq));

  return (
    <section class="page">
      <div class="page-head">
        <h1>{t('activity.title')}</h1>
      </div>
      <div class="toolbar activity-filters" role="search" aria-label={t('activity.filters')}>
        <div class="field inline">
          <label for="activity-type">{t('activity.filter.type')}</label>
          <TypeSelect value={filters.type} onChange={(type) => apply({ type })} />
        </div>
        <div class="field inline">
          <label for="activity-actor">{t('activity.filter.actor')}</label>
          <input
            id="activity-actor"
            type="search"
            autoComplete="off"
            spellcheck={false}
            placeholder={t('activity.filter.actor_placeholder')}
            value={actor}
            onInput={(e) => onActor(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                clearTimeout(actorTimer.current);
                apply({ actor: e.currentTarget.value.trim() });
              }
            }}
          />
        </div>
        <div class="field inline">
          <label for="activity-from">{t('activity.filter.from')}</label>
          <input
            id="activity-from"
            type="date"
            value={filters.from}
            max={filters.to || undefined}
            aria-invalid={!validRange || undefined}
            onChange={(e) => apply({ from: e.currentTarget.value })}
          />
        </div>
        <div class="field inline">
          <label for="activity-to">{t('activity.filter.to')}</label>
          <input
            id="activity-to"
            type="date"
            value={filters.to}
            min={filters.from || undefined}
            aria-invalid={!validRange || undefined}
            onChange={(e) => apply({ to: e.currentTarget.value })}
          />
        </div>
        <button type="button" class="btn" disabled={!filtered && actor === ''} onClick={clear}>
          {t('activity.filter.clear')}
        </button>
      </div>
      {!validRange && (
        <div role="alert" class="form-error">
          {t('activity.filter.range_invalid')}
        </div>
      )}
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
      {activity.loaded.value && shown.length === 0 && validRange && (
        <p class="muted">{filtered ? t('activity.filter.empty') : t('activity.empty')}</p>
      )}
      {activity.hasMore.value && (
        <button type="button" class="btn" disabled={activity.loading.value} onClick={() => void activity.loadOlder()}>
          {t('common.load_older')}
        </button>
      )}
    </section>
  );
}
