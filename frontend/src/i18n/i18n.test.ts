// The catalogues are complete and consistent, the language is chosen and remembered, and the
// bypass check (scripts/check-i18n.mjs) passes on the sources and catches what it should.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { en } from './en';
import { CATALOGUES, LOCALES, locale, pickLocale, setLocale, t, tIn, tx } from './index';
import { zhCN } from './zh-CN';

const PLURAL = /_(zero|one|two|few|many|other)$/;
const placeholders = (s: string) => [...s.matchAll(/\{\{\s*([^,}\s]+)[^}]*\}\}/g)].map((m) => m[1]!).sort();
const tags = (s: string) => [...s.matchAll(/<\/?(\w+)>/g)].map((m) => m[0]).sort();

afterEach(() => {
  setLocale('en');
  localStorage.clear();
});

describe('catalogues', () => {
  const enKeys = Object.keys(en).sort();
  const zhKeys = Object.keys(zhCN).sort();

  it('zh-CN has every key of en, and no other', () => {
    expect(zhKeys.filter((k) => !(k in en))).toEqual([]);
    expect(enKeys.filter((k) => !(k in zhCN))).toEqual([]);
  });

  it('no message is empty', () => {
    for (const lng of LOCALES) {
      const empty = Object.entries(CATALOGUES[lng]).filter(([, v]) => v.trim() === '');
      expect(empty, lng).toEqual([]);
    }
  });

  it('both languages have the same placeholders and markup in every message', () => {
    const zh = zhCN as Record<string, string>;
    for (const k of enKeys) {
      const e = (en as Record<string, string>)[k]!;
      const z = zh[k]!;
      // A plural form may leave the number out ("preview of the first row").
      const strip = (ps: string[]) => (PLURAL.test(k) ? ps.filter((p) => p !== 'count') : ps);
      expect(strip(placeholders(z)), `placeholders of ${k}`).toEqual(strip(placeholders(e)));
      expect(tags(z), `markup of ${k}`).toEqual(tags(e));
    }
  });

  it('plural messages have every form each language needs (Intl.PluralRules)', () => {
    const bases = new Set(enKeys.filter((k) => PLURAL.test(k)).map((k) => k.replace(PLURAL, '')));
    expect(bases.size).toBeGreaterThan(5);
    for (const lng of LOCALES) {
      const categories = new Intl.PluralRules(lng).resolvedOptions().pluralCategories;
      for (const base of bases) {
        for (const c of categories) expect(CATALOGUES[lng], `${lng} ${base}_${c}`).toHaveProperty(`${base}_${c}`);
      }
    }
  });

  it('a message with a parameter keeps the value wherever the translation puts it', () => {
    expect(tIn('en', 'users.edit_label', { username: 'bob' })).toBe('Edit bob');
    expect(tIn('zh-CN', 'users.edit_label', { username: 'bob' })).toBe('编辑 bob');
    expect(tIn('en', 'event.mfa_reset', { actor: 'admin', target: 'bob' })).toBe('admin reset the second factor of bob');
    expect(tIn('zh-CN', 'event.mfa_reset', { actor: 'admin', target: 'bob' })).toBe('admin 重置了 bob 的两步验证');
  });

  it('plural forms and numbers follow the language', () => {
    expect(tIn('en', 'users.count', { count: 1 })).toBe('1 user');
    expect(tIn('en', 'users.count', { count: 12345 })).toBe('12,345 users');
    expect(tIn('zh-CN', 'users.count', { count: 1 })).toBe('共 1 个用户');
    expect(tIn('zh-CN', 'users.count', { count: 12345 })).toBe('共 12,345 个用户');
    expect(tIn('en', 'mfa.codes_left', { count: 1 })).toBe('1 recovery code left');
    expect(tIn('en', 'mfa.codes_left', { count: 10 })).toBe('10 recovery codes left');
    expect(tIn('en', 'import.summary_dry', { created: 1234, skipped: 1 })).toBe('Dry run: 1,234 would be created, 1 skipped');
    expect(tIn('zh-CN', 'import.summary', { created: 5, skipped: 1 })).toBe('已创建 5 个，跳过 1 个');
    expect(tIn('en', 'pager.page', { page: 1, pages: 201 })).toBe('Page 1 of 201');
    expect(tIn('zh-CN', 'pager.page', { page: 1, pages: 201 })).toBe('第 1 页，共 201 页');
  });
});

describe('language', () => {
  it('from the browser: the first language we have, zh… → zh-CN, else English', () => {
    expect(pickLocale(['zh-CN'])).toBe('zh-CN');
    expect(pickLocale(['zh-TW', 'en'])).toBe('zh-CN');
    expect(pickLocale(['zh'])).toBe('zh-CN');
    expect(pickLocale(['de-DE', 'zh-Hans-CN'])).toBe('zh-CN');
    expect(pickLocale(['en-GB', 'zh-CN'])).toBe('en');
    expect(pickLocale(['fr', 'de'])).toBe('en');
    expect(pickLocale([])).toBe('en');
  });

  it('switching re-translates, sets <html lang> and is remembered', () => {
    setLocale('zh-CN');
    expect(locale.value).toBe('zh-CN');
    expect(t('nav.users')).toBe('用户');
    expect(document.documentElement.lang).toBe('zh-CN');
    expect(localStorage.getItem('switchboard.lang')).toBe('zh-CN');
    setLocale('en');
    expect(t('nav.users')).toBe('Users');
    expect(document.documentElement.lang).toBe('en');
    expect(localStorage.getItem('switchboard.lang')).toBe('en');
  });

  it('a stored choice wins over the browser languages on the next start', async () => {
    localStorage.setItem('switchboard.lang', 'zh-CN');
    vi.resetModules();
    const fresh = await import('./index');
    expect(fresh.locale.value).toBe('zh-CN');
    localStorage.setItem('switchboard.lang', 'klingon');
    vi.resetModules();
    const again = await import('./index');
    expect(again.locale.value).toBe(pickLocale(navigator.languages));
  });

  it('rich messages: markup becomes elements, parameters are never read as markup', () => {
    const vnode = tx('user_delete.body', { username: '<strong>x</strong>' }) as unknown as { props: { children: unknown[] } };
    const parts = vnode.props.children;
    const strong = parts.find((p) => typeof p === 'object' && p !== null && (p as { type?: unknown }).type === 'strong') as
      | { props: { children: unknown } }
      | undefined;
    expect(strong).toBeDefined();
    // The username is the element's text as it is, not parsed.
    expect(JSON.stringify(strong!.props.children)).toContain('<strong>x</strong>');
    expect(parts.filter((p) => typeof p === 'string').join('')).toContain('ends all of their sessions');
  });
});

describe('the bypass check (npm run check:i18n)', () => {
  const script = resolve(__dirname, '../../scripts/check-i18n.mjs');
  const cwd = resolve(__dirname, '../..');

  it('passes on the sources', () => {
    const out = execFileSync(process.execPath, [script], { cwd, encoding: 'utf8' });
    expect(out).toContain('every visible string from the catalogue');
  });

  it('catches text, attributes, rendered literals and notices that bypass the catalogue', () => {
    const dir = mkdtempSync(join(tmpdir(), 'check-i18n-'));
    try {
      const bad = join(dir, 'Bad.tsx');
      writeFileSync(
        bad,
        `import { t } from '../i18n';
const LABELS = { a: 'Apples' };
function stateText(x: boolean) { return x ? 'Running' : 'Stopped'; }
export function Bad({ on }: { on: boolean }) {
  notify('Saved it');
  return (
    <div aria-label="Close dialog" class="btn small" data-x="not shown">
      <p>Hello there</p>
      <Field label="Username" />
      <button title={\`Edit \${'bob'}\`}>{on ? 'Yes' : 'No'}</button>
      <span>Switchboard</span>
      <span>{t('common.save')}</span>
      <code>—</code>
    </div>
  );
}
`,
      );
      const r = spawnSync(process.execPath, [script, bad], { cwd, encoding: 'utf8' });
      expect(r.status).toBe(1);
      const lines = r.stderr.split('\n').filter((l) => l.includes('bypasses the catalogue'));
      const found = (s: string) => lines.some((l) => l.includes(s));
      for (const s of ['"Apples"', '"Running"', '"Stopped"', '"Saved it"', '"Close dialog"', '"Hello there"', '"Username"', '"Edit', '"bob"', '"Yes"', '"No"']) {
        expect(found(s), `${s} in:\n${lines.join('\n')}`).toBe(true);
      }
      // Allowed: the product name, technical attributes, catalogue keys, punctuation.
      for (const s of ['Switchboard', 'btn small', 'not shown', 'common.save']) expect(found(s), s).toBe(false);
      expect(lines).toHaveLength(11);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
