// History-API routing: `/login`, `/users`, `/files`, `/activity`.
import { signal } from '@preact/signals';

export const ROUTES = ['/users', '/files', '/activity', '/login'] as const;
export type Route = (typeof ROUTES)[number];

export const path = signal<string>(typeof location === 'undefined' ? '/' : location.pathname);

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === location.pathname) return;
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  path.value = to;
}

if (typeof window !== 'undefined') {
  window.addEventListener('popstate', () => {
    path.value = location.pathname;
  });
}
