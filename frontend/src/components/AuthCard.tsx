// The frame of the pages seen before signing in (sign in, forgot password, reset, invitation).
import type { ComponentChildren } from 'preact';
import { t } from '../i18n';
import { theme, toggleTheme } from '../theme';
import { LanguageSelect } from './LanguageSelect';

/** Language and theme, top right of the pages outside the panel (a banner landmark: axe `region`). */
export function AuthTools() {
  return (
    <header class="login-tools">
      <LanguageSelect />
      <button type="button" class="btn icon" aria-label={t('theme.toggle')} onClick={toggleTheme}>
        <span aria-hidden="true">{theme.value === 'dark' ? '☀' : '☾'}</span>
      </button>
    </header>
  );
}

export function AuthCard({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <div class="login-page">
      <AuthTools />
      <main class="login-card">
        <div class="brand login-brand">
          <span class="logo" aria-hidden="true" />
          <span>Switchboard</span>
        </div>
        <h1>{title}</h1>
        {children}
      </main>
    </div>
  );
}
