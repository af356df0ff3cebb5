// Light/dark theme: follows prefers-color-scheme until toggled; the choice is kept in
// localStorage and applied as `data-theme` on <html> (CSS variables do the rest).
import { signal } from '@preact/signals';

const KEY = 'switchboard.theme';
type Theme = 'light' | 'dark';

function stored(): Theme | null {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : null;
  } catch {
    return null;
  }
}

function systemTheme(): Theme {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export const theme = signal<Theme>(stored() ?? systemTheme());

function apply(): void {
  const choice = stored();
  if (choice) document.documentElement.dataset.theme = choice;
  else delete document.documentElement.dataset.theme;
}

export function initTheme(): void {
  apply();
  if (typeof matchMedia === 'function') {
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      if (!stored()) theme.value = systemTheme();
    });
  }
}

export function toggleTheme(): void {
  const next: Theme = theme.value === 'dark' ? 'light' : 'dark';
  try {
    localStorage.setItem(KEY, next);
  } catch {
    /* not persisted */
  }
  theme.value = next;
  apply();
}
