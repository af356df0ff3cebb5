// The landing page: live cards and traffic charts from `GET /api/stats` (docs/API.md §7.1),
// kept moving by the event stream (src/stores/stats.ts).
import { useEffect, useState } from 'preact/hooks';
import { TrafficChart } from '../components/TrafficChart';
import { t } from '../i18n';
import { stats as store } from '../live';
import { formatBytes, formatCount } from '../lib/format';
import { chartData } from '../stores/stats';
import '../styles/dashboard.css';

function Card({ id, label, value, detail }: { id: string; label: string; value: string; detail?: string }) {
  return (
    <div class="stat-card" data-testid={`card-${id}`}>
      <div class="stat-label">{label}</div>
      <div class="stat-value" data-testid={`card-${id}-value`}>
        {value}
      </div>
      {detail && <div class="stat-detail">{detail}</div>}
    </div>
  );
}

export function DashboardPage() {
  const [period, setPeriod] = useState<'hour' | 'day'>('hour');
  useEffect(() => {
    void store.load();
    // Hours and days roll over and online counts drift without events: read again each minute.
    const timer = setInterval(() => void store.load(), 60_000);
    return () => clearInterval(timer);
  }, []);

  const s = store.stats.value;
  const series = s ? (period === 'hour' ? s.hourly : s.daily) : [];
  return (
    <section class="page dashboard" data-page="dashboard">
      <div class="page-head">
        <h1>{t('dashboard.title')}</h1>
        {s && (
          <div class="segmented" role="group" aria-label={t('dashboard.period')}>
            <button type="button" class="btn" aria-pressed={period === 'hour'} onClick={() => setPeriod('hour')}>
              {t('dashboard.period_24h')}
            </button>
            <button type="button" class="btn" aria-pressed={period === 'day'} onClick={() => setPeriod('day')}>
              {t('dashboard.period_30d')}
            </button>
          </div>
        )}
      </div>
      {store.error.value && (
        <div role="alert" class="form-error">
          {t('dashboard.load_error', { error: store.error.value })}
        </div>
      )}
      {!s ? (
        <p class="muted" aria-busy="true">
          {t('common.loading')}
        </p>
      ) : (
        <>
          <div class="stat-cards" aria-live="off">
            <Card
              id="users"
              label={t('dashboard.card_users')}
              value={formatCount(s.users)}
              detail={[t('dashboard.admins_count', { count: s.admins }), t('dashboard.disabled_count', { count: s.disabled })].join(t('common.separator'))}
            />
            <Card id="files" label={t('dashboard.card_files')} value={formatCount(s.files)} detail={t('dashboard.files_detail', { bytes: formatBytes(s.bytes_stored) })} />
            <Card
              id="downloads-today"
              label={t('dashboard.card_downloads_today')}
              value={formatCount(s.downloads_today)}
              detail={t('dashboard.uploads_today', { count: s.uploads_today })}
            />
            <Card id="in-flight" label={t('dashboard.card_in_flight')} value={formatCount(s.transfers_in_flight)} />
            <Card
              id="admins-online"
              label={t('dashboard.card_admins_online')}
              value={formatCount(s.admins_online)}
              detail={t('dashboard.online_count', { count: s.online })}
            />
          </div>
          <div class="charts">
            <TrafficChart
              testId="chart-count"
              label={t(period === 'hour' ? 'dashboard.chart_count_24h' : 'dashboard.chart_count_30d')}
              data={chartData(series, 'count')}
              measure="count"
              period={period}
            />
            <TrafficChart
              testId="chart-bytes"
              label={t(period === 'hour' ? 'dashboard.chart_bytes_24h' : 'dashboard.chart_bytes_30d')}
              data={chartData(series, 'bytes')}
              measure="bytes"
              period={period}
            />
          </div>
          <section class="busiest" aria-labelledby="busiest-title">
            <h2 id="busiest-title">{t('dashboard.busiest')}</h2>
            {s.busiest_files.length === 0 ? (
              <p class="muted">{t('dashboard.busiest_empty')}</p>
            ) : (
              <ol class="busiest-list" data-testid="busiest">
                {s.busiest_files.map((f) => (
                  <li key={f.id}>
                    <span class="busiest-name">{f.name}</span>
                    <span class="muted">{formatBytes(f.size)}</span>
                    <span class="busiest-count">{t('dashboard.downloads_count', { count: f.download_count })}</span>
                  </li>
                ))}
              </ol>
            )}
          </section>
        </>
      )}
    </section>
  );
}
