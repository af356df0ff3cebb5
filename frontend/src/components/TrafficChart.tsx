// One traffic chart (downloads and uploads over time) drawn by uPlot, a small canvas chart
// library; the same figures are also in a visually hidden table for screen readers.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { locale, t } from '../i18n';
import { formatBytes, formatCount } from '../lib/format';
import type { ChartData } from '../stores/stats';
import { theme } from '../theme';

export interface TrafficChartProps {
  /** Accessible name of the chart. */
  label: string;
  data: ChartData;
  measure: 'count' | 'bytes';
  period: 'hour' | 'day';
  testId: string;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function formatValue(v: number, measure: 'count' | 'bytes'): string {
  return measure === 'bytes' ? formatBytes(v) : formatCount(v);
}

function formatTick(sec: number, period: 'hour' | 'day'): string {
  const d = new Date(sec * 1000);
  return period === 'hour'
    ? new Intl.DateTimeFormat(locale.value, { hour: 'numeric' }).format(d)
    : new Intl.DateTimeFormat(locale.value, { month: 'numeric', day: 'numeric' }).format(d);
}

export function TrafficChart({ label, data, measure, period, testId }: TrafficChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const lng = locale.value;
  const mode = theme.value;

  // (Re)built when the language or theme changes (labels, colours); data updates go through setData.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const text = cssVar('--muted') || '#5d6675';
    const grid = cssVar('--border') || '#dfe3ea';
    const down = cssVar('--accent') || '#4f46e5';
    const up = cssVar('--ok') || '#1e8e3e';
    // Bars side by side on each hour or day: downloads to the left of it, uploads to the right.
    const bars = (align: -1 | 1) => uPlot.paths.bars?.({ size: [0.4, 18], align, gap: 1 });
    const half = (period === 'hour' ? 3600 : 86400) / 2;
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height: 180,
      // Labels only: values appear on hover in the cursor's legend (live), not as empty cells.
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: (_u, min, max) => [min - half, max + half] },
        y: { range: (_u, _min, max) => [0, Math.max(measure === 'count' ? 4 : 1024, max * 1.1)] },
      },
      axes: [
        {
          stroke: text,
          space: 56,
          grid: { show: false },
          ticks: { stroke: grid },
          values: (_u, ticks) => ticks.map((s) => formatTick(s, period)),
        },
        {
          stroke: text,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid },
          size: measure === 'bytes' ? 70 : 50,
          values: (_u, ticks) => ticks.map((v) => formatValue(v, measure)),
        },
      ],
      series: [
        { label: t(period === 'hour' ? 'dashboard.col_hour' : 'dashboard.col_day') },
        { label: t('dashboard.series_downloads'), stroke: down, fill: down, width: 0, paths: bars(-1), points: { show: false } },
        { label: t('dashboard.series_uploads'), stroke: up, fill: up, width: 0, paths: bars(1), points: { show: false } },
      ],
    };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const resize = new ResizeObserver(() => {
      const w = Math.max(240, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height: 180 });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- data goes through setData below
  }, [lng, mode, measure, period]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  const total = (i: 1 | 2) => data[i].reduce((a, b) => a + b, 0);
  return (
    <figure class="chart" data-testid={testId} data-downloads={total(1)} data-uploads={total(2)}>
      <figcaption class="chart-title">{label}</figcaption>
      <div ref={box} class="chart-canvas" role="img" aria-label={label} />
      {/* A table ignores the 1 px box of .offscreen: the wrapper hides it. */}
      <div class="offscreen">
        <table>
          <caption>{label}</caption>
          <thead>
            <tr>
              <th scope="col">{t(period === 'hour' ? 'dashboard.col_hour' : 'dashboard.col_day')}</th>
              <th scope="col">{t('dashboard.series_downloads')}</th>
              <th scope="col">{t('dashboard.series_uploads')}</th>
            </tr>
          </thead>
          <tbody>
            {data[0].map((x, i) => (
              <tr key={x}>
                <th scope="row">{formatTick(x, period)}</th>
                <td>{formatValue(data[1][i] ?? 0, measure)}</td>
                <td>{formatValue(data[2][i] ?? 0, measure)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}
