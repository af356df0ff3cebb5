// A progress bar with an accessible value: role="progressbar" with aria-valuenow / -min / -max
// (no value: indeterminate), drawn by a native <progress> (styled in styles.css; no inline
// styles, which the Content-Security-Policy forbids).
interface Props {
  label: string;
  /** Done so far; null → indeterminate. */
  value: number | null;
  max: number;
  /** What a screen reader says instead of the bare number, e.g. "3 of 10 objects". */
  valueText?: string;
  class?: string;
  testId?: string;
}

export function ProgressBar({ label, value, max, valueText, class: cls, testId }: Props) {
  const known = value !== null && max > 0;
  const now = known ? Math.min(value, max) : undefined;
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={known ? 0 : undefined}
      aria-valuemax={known ? max : undefined}
      aria-valuenow={now}
      aria-valuetext={valueText}
      class={cls ? `progress-bar ${cls}` : 'progress-bar'}
      data-testid={testId}
    >
      {known ? <progress aria-hidden="true" max={max} value={now} /> : <progress aria-hidden="true" />}
    </div>
  );
}
