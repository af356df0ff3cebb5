// The language switch (select "Language" / "语言"): each language by its own name; the choice is
// remembered (src/i18n).
import { isLocale, LANGUAGE_NAMES, locale, LOCALES, setLocale, t } from '../i18n';

export function LanguageSelect() {
  const label = t('language.label');
  return (
    <select
      class="lang-select"
      aria-label={label}
      title={label}
      value={locale.value}
      onChange={(e) => {
        const v = e.currentTarget.value;
        if (isLocale(v)) setLocale(v);
      }}
    >
      {LOCALES.map((l) => (
        <option key={l} value={l} lang={l}>
          {LANGUAGE_NAMES[l]}
        </option>
      ))}
    </select>
  );
}
