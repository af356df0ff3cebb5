// The frame after login: main navigation, connection indicator, online admins, theme toggle,
// log out, notices.
import type { ComponentChildren } from 'preact';
import { currentUser, logout } from '../api/session';
import { connection, presence } from '../live';
import { onLinkClick, path } from '../router';
import { theme, toggleTheme } from '../theme';
import { Toasts } from './Toasts';

/** [path, label, admins only] */
const LINKS = [
  ['/users', 'Users', false],
  ['/files', 'Files', false],
  ['/activity', 'Activity', false],
  ['/backups', 'Backups', true],
  ['/account', 'Account', false],
] as const;

const STATUS_TEXT = { live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' } as const;

export function Layout({ children }: { children: ComponentChildren }) {
  const status = connection.value;
  const user = currentUser.value;
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <div class="brand">
          <span class="logo" aria-hidden="true" />
          <span>Switchboard</span>
        </div>
        <nav aria-label="Main" class="mainnav">
          {LINKS.filter(([, , adminOnly]) => !adminOnly || user?.role === 'admin').map(([to, label]) => (
            <a
              key={to}
              href={to}
              aria-current={path.value === to ? 'page' : undefined}
              onClick={(e) => onLinkClick(e, to)}
            >
              {label}
            </a>
          ))}
        </nav>
        <div class="topbar-right">
          <span data-testid="connection" role="status" data-state={status} class={`conn conn-${status}`}>
            {STATUS_TEXT[status]}
          </span>
          <button
            type="button"
            class="btn icon"
            aria-label="Toggle theme"
            title={theme.value === 'dark' ? 'Switch to light theme' : 'Switch to dark theme'}
            onClick={toggleTheme}
          >
            <span aria-hidden="true">{theme.value === 'dark' ? '☀' : '☾'}</span>
          </button>
          {user && (
            <span class="whoami" title={`Signed in as ${user.username} (${user.role})`}>
              {user.username}
            </span>
          )}
          <button type="button" class="btn" onClick={() => void logout()}>
            Log out
          </button>
        </div>
      </header>
      <div class="body">
        <main id="main" class="content" tabIndex={-1}>
          {children}
        </main>
        <aside class="sidebar">
          <section aria-label="Online admins" class="presence">
            <h2 class="sidebar-title">Online</h2>
            <ul>
              {presence.online.value.map((u) => (
                <li key={u.id} title={`${u.connections} connection${u.connections === 1 ? '' : 's'}`}>
                  {u.username}
                </li>
              ))}
            </ul>
          </section>
        </aside>
      </div>
      <Toasts />
    </div>
  );
}
