// The frame of the pages seen before signing in (sign in, forgot password, reset, invitation).
import type { ComponentChildren } from 'preact';
import { theme, toggleTheme } from '../theme';

export function AuthCard({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <div class="login-page">
      <button type="button" class="btn icon login-theme" aria-label="Toggle theme" onClick={toggleTheme}>
        <span aria-hidden="true">{theme.value === 'dark' ? '☀' : '☾'}</span>
      </button>
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
