// The frame after login: main navigation, connection indicator, online admins, language and
// theme, log out, notices. On small screens (styles.css) the navigation and the tools fold into a
// menu opened by a button (aria-expanded); it closes on navigation and with Escape.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { currentUser, logout } from '../api/session';
import { t, type KeysOf } from '../i18n';
import { connection, presence } from '../live';
import { onLinkClick, path } from '../router';
import { theme, toggleTheme } from '../theme';
import { roleName } from '../i18n/labels';
import { LanguageSelect } from './LanguageSelect';
import { Toasts } from './Toasts';

/** [path, label, admins only] */
const LINKS: readonly (readonly [string, KeysOf<'nav.'>, boolean])[] = [
  ['/dashboard', 'nav.dashboard', false],
  ['/users', 'nav.users', false],
  ['/files', 'nav.files', false],
  ['/activity', 'nav.activity', false],
  ['/backups', 'nav.backups', true],
  ['/account', 'nav.account', false],
];

export function Layout({ children }: { children: ComponentChildren }) {
  const status = connection.value;
  const user = currentUser.value;
  const current = path.value;
  const [menuOpen, setMenuOpen] = useState(false);
  const menuButton = useRef<HTMLButtonElement>(null);
  useEffect(() => setMenuOpen(false), [current]);
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        {t('layout.skip')}
      </a>
      <header
        class="topbar"
        onKeyDown={(e) => {
          if (e.key === 'Escape' && menuOpen) {
            setMenuOpen(false);
            menuButton.current?.focus();
          }
        }}
      >
        <div class="brand">
          <span class="logo" aria-hidden="true" />
          <span>Switchboard</span>
        </div>
        <span data-testid="connection" role="status" data-state={status} class={`conn conn-${status}`}>
          {t(`connection.${status}`)}
        </span>
        <button
          ref={menuButton}
          type="button"
          class="btn icon menu-toggle"
          aria-label={t('layout.menu')}
          aria-expanded={menuOpen}
          aria-controls="topbar-menu"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          <span aria-hidden="true">{menuOpen ? '✕' : '☰'}</span>
        </button>
        <div id="topbar-menu" class={menuOpen ? 'topbar-menu open' : 'topbar-menu'}>
          <nav aria-label={t('nav.label')} class="mainnav">
            {LINKS.filter(([, , adminOnly]) => !adminOnly || user?.role === 'admin').map(([to, label]) => (
              <a key={to} href={to} aria-current={current === to ? 'page' : undefined} onClick={(e) => onLinkClick(e, to)}>
                {t(label)}
              </a>
            ))}
          </nav>
          <div class="topbar-right">
            <LanguageSelect />
            <button
              type="button"
              class="btn icon"
              aria-label={t('theme.toggle')}
              title={theme.value === 'dark' ? t('theme.to_light') : t('theme.to_dark')}
              onClick={toggleTheme}
            >
              <span aria-hidden="true">{theme.value === 'dark' ? '☀' : '☾'}</span>
            </button>
            {user && (
              <span class="whoami" title={t('layout.signed_in_as', { username: user.username, role: roleName(user.role) })}>
                {user.username}
              </span>
            )}
            <button type="button" class="btn" onClick={() => void logout()}>
              {t('layout.log_out')}
            </button>
          </div>
        </div>
      </header>
      <div class="body">
        <main id="main" class="content" tabIndex={-1}>
          {children}
        </main>
        <aside class="sidebar">
          <section aria-label={t('presence.label')} class="presence">
            <h2 class="sidebar-title">{t('presence.title')}</h2>
            <ul>
              {presence.online.value.map((u) => (
                <li key={u.id} title={t('presence.connections', { count: u.connections })}>
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
