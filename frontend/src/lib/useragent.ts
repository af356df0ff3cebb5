// A short name for a session's User-Agent: "Chrome 131 on Linux", "curl 8.5", or the raw text.
// Browser and system names are product names, the same in every language; the words around them
// come from the catalogue.
import { t } from '../i18n';

const BROWSERS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
  [/\bOPR\/(\d+)/, 'Opera'],
  [/\bFirefox\/(\d+)/, 'Firefox'],
  [/\bFxiOS\/(\d+)/, 'Firefox'],
  [/\b(?:Headless)?Chrome\/(\d+)/, 'Chrome'],
  [/\bCriOS\/(\d+)/, 'Chrome'],
  [/\bVersion\/(\d+)(?:\.\d+)*.*\bSafari\//, 'Safari'],
  [/^curl\/(\d+(?:\.\d+)?)/, 'curl'],
  [/^python-requests\/(\d+(?:\.\d+)?)/, 'python-requests'],
  [/^node(?:-fetch)?\/?(\d+)?/i, 'Node.js'],
];

const SYSTEMS: [RegExp, string][] = [
  [/\bAndroid\b/, 'Android'],
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bLinux\b/, 'Linux'],
];

export function describeUserAgent(ua: string | null | undefined): string {
  const s = (ua ?? '').trim();
  if (!s) return t('ua.unknown');
  let browser: string | null = null;
  for (const [re, name] of BROWSERS) {
    const m = re.exec(s);
    if (m) {
      browser = m[1] ? `${name} ${m[1]}` : name;
      break;
    }
  }
  const system = SYSTEMS.find(([re]) => re.test(s))?.[1] ?? null;
  if (browser && system) return t('ua.on', { browser, system });
  if (browser) return browser;
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}
