// History-API routing: `/login`, `/forgot`, `/reset`, `/invite` (signed out too), `/dashboard`
// (the landing page), `/users`,
// `/users/{id}`, `/files`, `/activity`, `/backups` (admins), `/account`.
import { signal } from '@preact/signals';

export const ROUTES = ['/dashboard', '/users', '/files', '/activity', '/backups', '/account', '/login', '/forgot', '/reset', '/invite'] as const;
export type Route = (typeof ROUTES)[number];

/** Pages for signed-out visitors. */
export const PUBLIC_ROUTES: readonly string[] = ['/login', '/forgot', '/reset', '/invite'];
/** Pages that work whether or not someone is signed in (they come from links in e-mails). */
export const LINK_ROUTES: readonly string[] = ['/reset', '/invite'];
/** Pages of the panel proper. */
export const PANEL_ROUTES: readonly string[] = ['/dashboard', '/users', '/files', '/activity', '/backups', '/account'];
/** Where a signed-in user lands. */
export const HOME = '/dashboard';
/** Pages only admins see (others are sent to the landing page). */
export const ADMIN_ROUTES: readonly string[] = ['/backups'];

export const path = signal<string>(typeof location === 'undefined' ? '/' : location.pathname);

/** The user id of `/users/{id}`, or null. */
export function userDetailId(p: string): string | null {
  const m = /^\/users\/([^/]+)\/?$/.exec(p);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
}

export function userPath(id: string): string {
  return `/users/${encodeURIComponent(id)}`;
}

/** A path of the panel a signed-in user may stay on. */
export function isPanelPath(p: string): boolean {
  return PANEL_ROUTES.includes(p) || userDetailId(p) !== null;
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search + location.hash) return;
  const samePage = new URL(to, location.href).pathname === location.pathname;
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  path.value = location.pathname;
  // The same page with another query (the Activity link on a filtered feed): the page re-reads
  // its URL as it does after Back.
  if (samePage) window.dispatchEvent(new PopStateEvent('popstate', { state: history.state }));
}

/** A same-tab link click → client-side navigation (modified clicks keep the browser's way). */
export function onLinkClick(e: MouseEvent, to: string): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(to);
}

if (typeof window !== 'undefined') {
  window.addEventListener('popstate', () => {
    path.value = location.pathname;
  });
}
