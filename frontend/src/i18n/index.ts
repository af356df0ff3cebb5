// The message catalogue and the current language.
//
// i18next (core only) does the lookups, plurals (Intl.PluralRules: `key_one`, `key_other`, …) and
// interpolation (`{{name}}`, `{{count, number}}` through Intl.NumberFormat). The language is a
// signal: a component that calls `t()` while rendering re-renders when it changes. `t()` is typed
// from the English catalogue: a key that does not exist, or a missing or unknown parameter, is a
// tsc error. `tx()` is the same for messages with markup (`<strong>…</strong>`) or with elements
// as parameters.
//
// The language: the one the user picked (localStorage `switchboard.lang`), else the first of the
// browser's languages we have (`zh…` → zh-CN, `en…` → en), else English. `<html lang>` follows.
import { effect, signal } from '@preact/signals';
import i18next from 'i18next';
import { createElement, Fragment, type ComponentChildren, type VNode } from 'preact';
import { en } from './en';
import { zhCN } from './zh-CN';

export const LOCALES = ['en', 'zh-CN'] as const;
export type Locale = (typeof LOCALES)[number];

/** Each language by its own name (the switch shows them so in every language). */
export const LANGUAGE_NAMES: Record<Locale, string> = { en: 'English', 'zh-CN': '简体中文' };

export const CATALOGUES: Record<Locale, Record<string, string>> = { en, 'zh-CN': zhCN };

const STORAGE_KEY = 'switchboard.lang';

export function isLocale(v: unknown): v is Locale {
  return typeof v === 'string' && (LOCALES as readonly string[]).includes(v);
}

/** The first of `languages` (BCP 47 tags, most preferred first) we have a catalogue for. */
export function pickLocale(languages: readonly string[]): Locale {
  for (const tag of languages) {
    const l = tag.toLowerCase();
    if (l === 'zh' || l.startsWith('zh-')) return 'zh-CN';
    if (l === 'en' || l.startsWith('en-')) return 'en';
  }
  return 'en';
}

function storedLocale(): Locale | null {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    return isLocale(v) ? v : null;
  } catch {
    return null;
  }
}

function browserLanguages(): readonly string[] {
  if (typeof navigator === 'undefined') return [];
  if (navigator.languages && navigator.languages.length > 0) return navigator.languages;
  return navigator.language ? [navigator.language] : [];
}

/** The language of the panel. */
export const locale = signal<Locale>(storedLocale() ?? pickLocale(browserLanguages()));

const i18n = i18next.createInstance();
void i18n.init({
  lng: locale.peek(),
  fallbackLng: 'en',
  supportedLngs: [...LOCALES],
  load: 'currentOnly',
  resources: { en: { translation: en }, 'zh-CN': { translation: zhCN } },
  // Flat keys with dots ('users.title'), no namespaces in keys.
  keySeparator: false,
  nsSeparator: false,
  // Preact escapes text; messages are never HTML.
  interpolation: { escapeValue: false },
  returnEmptyString: false,
  initAsync: false,
});

/** Switches the language and remembers the choice. */
export function setLocale(next: Locale): void {
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    /* not remembered */
  }
  locale.value = next;
}

/** Follows the language with `<html lang>` and i18next's own state. */
effect(() => {
  const l = locale.value;
  if (i18n.language !== l) void i18n.changeLanguage(l);
  if (typeof document !== 'undefined') document.documentElement.lang = l;
});

// ---------------------------------------------------------------------------------------------
// Types: keys and their parameters, from the English catalogue
// ---------------------------------------------------------------------------------------------

type Catalogue = typeof en;
type RawKey = keyof Catalogue & string;
type PluralSuffix = 'zero' | 'one' | 'two' | 'few' | 'many' | 'other';
type PluralBase<K extends string> = K extends `${infer B}_${PluralSuffix}` ? B : never;
/** Keys as they are asked for: plural forms by their base (`users.count`, not `users.count_one`). */
export type MessageKey = Exclude<RawKey, `${string}_${PluralSuffix}`> | PluralBase<RawKey>;
type Message<K extends MessageKey> = K extends RawKey ? Catalogue[K] : Catalogue[Extract<RawKey, `${K}_${PluralSuffix}`>];
type Trim<S extends string> = S extends ` ${infer R}` ? Trim<R> : S extends `${infer R} ` ? Trim<R> : S;
type ParamName<P extends string> = P extends `${infer N},${string}` ? Trim<N> : Trim<P>;
type Placeholders<S> = S extends `${string}{{${infer P}}}${infer R}` ? ParamName<P> | Placeholders<R> : never;
type Names<K extends MessageKey> = Placeholders<Message<K>> | (K extends PluralBase<RawKey> ? 'count' : never);
/** The parameters of a message: `count` is a number (it picks the plural form), others strings or numbers. */
export type Params<K extends MessageKey> = { [P in Names<K>]: P extends 'count' ? number : string | number };
type ParamArgs<K extends MessageKey> = [Names<K>] extends [never] ? [] : [params: Params<K>];
/** Parameters of a rich message: elements too. */
export type RichParams<K extends MessageKey> = { [P in Names<K>]: P extends 'count' ? number : ComponentChildren };

/** Keys of messages without parameters. */
export type PlainKey = { [K in MessageKey]: [Names<K>] extends [never] ? K : never }[MessageKey];

/** Keys starting with `prefix` (e.g. the `error.code.` family). */
export type KeysOf<Prefix extends string> = Extract<MessageKey, `${Prefix}${string}`>;

// ---------------------------------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------------------------------

function lookup(key: string, params: Record<string, unknown> | undefined, lng: Locale): string {
  return i18n.t(key, { ...params, lng }) as string;
}

/** The message `key` in the current language. */
export function t<K extends MessageKey>(key: K, ...args: ParamArgs<K>): string {
  return lookup(key, args[0], locale.value);
}

/** The message `key` in `lng` (tests, and the language switch's own label). */
export function tIn<K extends MessageKey>(lng: Locale, key: K, ...args: ParamArgs<K>): string {
  return lookup(key, args[0], lng);
}

/** A key chosen at run time (event descriptions, error codes): parameters are not checked. */
export function tKey(key: MessageKey, params?: Record<string, string | number>): string {
  return lookup(key, params, locale.value);
}

/** Whether `key` is in the catalogue (e.g. an error code we have a message for). */
export function hasKey(key: string): key is MessageKey {
  return key in en || `${key}_other` in en;
}

// Markers for parameters that are elements (or strings that must not be read as markup).
const OPEN = '\uE000';
const CLOSE = '\uE001';
const MARKER = /\uE000(\d+)\uE001/;
const TAG = /<(strong|em|code)>([\s\S]*?)<\/\1>/;

function splitMarkers(text: string, values: ComponentChildren[]): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  let rest = text;
  for (let m = MARKER.exec(rest); m; m = MARKER.exec(rest)) {
    if (m.index > 0) out.push(rest.slice(0, m.index));
    out.push(values[Number(m[1])]);
    rest = rest.slice(m.index + m[0].length);
  }
  if (rest) out.push(rest);
  return out;
}

/** Text with `<strong>…</strong>` (and em, code) as elements, markers replaced by their values. */
function render(text: string, values: ComponentChildren[]): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  let rest = text;
  for (let m = TAG.exec(rest); m; m = TAG.exec(rest)) {
    if (m.index > 0) out.push(...splitMarkers(rest.slice(0, m.index), values));
    out.push(createElement(m[1]!, null, ...splitMarkers(m[2]!, values)));
    rest = rest.slice(m.index + m[0].length);
  }
  if (rest) out.push(...splitMarkers(rest, values));
  return out;
}

/** Renders a message with markup or element parameters (`tx('x', { name: <strong>{n}</strong> })`). */
export function tx<K extends MessageKey>(key: K, ...args: [Names<K>] extends [never] ? [] : [params: RichParams<K>]): VNode {
  return txKey(key, args[0] as Record<string, ComponentChildren> | undefined);
}

/** `tx` for a key chosen at run time. */
export function txKey(key: MessageKey, params?: Record<string, ComponentChildren>): VNode {
  const values: ComponentChildren[] = [];
  const plain: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(params ?? {})) {
    // Numbers go through as they are (plural forms, `{{n, number}}`); anything else as a marker,
    // so that user data is never read as markup.
    if (typeof v === 'number') plain[name] = v;
    else {
      plain[name] = `${OPEN}${values.length}${CLOSE}`;
      values.push(v);
    }
  }
  return createElement(Fragment, null, ...render(lookup(key, plain, locale.value), values));
}
