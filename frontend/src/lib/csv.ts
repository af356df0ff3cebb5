// A small CSV reader (RFC 4180, as the server's `csv` crate reads it) for the import preview,
// and the preview of a JSON Lines file. Line numbers are the file's physical lines (1-based, the
// header is line 1), counted as the server counts them in its import report.

export interface CsvRecord {
  /** The line the record starts on. */
  line: number;
  fields: string[];
}

export interface CsvParseOptions {
  /** Stop after this many records. */
  maxRecords?: number;
  /**
   * The text is the start of a longer file: a last record not ended by a line break may be cut
   * short, so it is left out.
   */
  truncated?: boolean;
}

/**
 * Records of a CSV text: fields separated by commas, records by `\n`, `\r\n` or `\r`; a field
 * starting with `"` is quoted (commas, line breaks and `""` for a quote inside), a quote
 * elsewhere is an ordinary character. A leading byte-order mark is ignored. Blank lines are
 * records of one empty field (the caller decides what to skip).
 */
export function parseCsv(text: string, opts: CsvParseOptions = {}): CsvRecord[] {
  const max = opts.maxRecords ?? Infinity;
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  const n = s.length;
  while (i < n && records.length < max) {
    const start = line;
    const fields: string[] = [];
    let ended = false; // the record ended with a line break
    for (;;) {
      // One field.
      let value = '';
      if (s[i] === '"') {
        i++;
        for (;;) {
          if (i >= n) break; // unterminated quote: the rest of the text
          const c = s[i]!;
          if (c === '"') {
            if (s[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          value += c;
          i++;
        }
        // After the closing quote, anything up to the delimiter belongs to the field (lenient).
        while (i < n && s[i] !== ',' && s[i] !== '\n' && s[i] !== '\r') value += s[i++];
      } else {
        const from = i;
        while (i < n && s[i] !== ',' && s[i] !== '\n' && s[i] !== '\r') i++;
        value = s.slice(from, i);
      }
      fields.push(value);
      if (i >= n) break;
      const c = s[i]!;
      if (c === ',') {
        i++;
        if (i >= n) {
          fields.push('');
          break;
        }
        continue;
      }
      // A line break ends the record.
      if (c === '\r') i += s[i + 1] === '\n' ? 2 : 1;
      else i++;
      if (c === '\n' || s[i - 1] === '\n') line++;
      ended = true;
      break;
    }
    if (!ended && opts.truncated) break;
    records.push({ line: start, fields });
  }
  return records;
}

/** The fields an import reads; any other column or key is ignored (as the server does). */
export const IMPORT_FIELDS = ['username', 'email', 'display_name', 'role', 'disabled', 'password', 'password_hash'] as const;
const SECRET_FIELDS = new Set(['password', 'password_hash']);
export const MASK = '••••••';

export interface PreviewRow {
  line: number;
  /** One per column; null for a line that is not a JSON object. */
  cells: string[] | null;
  /** The line as it is (JSON Lines). */
  raw: string;
}

export interface ImportPreview {
  columns: string[];
  rows: PreviewRow[];
  /** Header columns the import does not read. */
  ignored: string[];
  /** Required columns the header lacks (username, email): the server would refuse the file. */
  missing: string[];
}

const isBlank = (fields: string[]) => fields.every((f) => f.trim() === '');

/**
 * The header and the first `count` rows of a CSV file (blank lines skipped, as the import does),
 * secrets masked. `truncated`: the text is only the start of the file.
 */
export function previewCsv(text: string, count = 5, truncated = false): ImportPreview {
  const out: ImportPreview = { columns: [], rows: [], ignored: [], missing: [] };
  // The header, then up to `count` non-blank rows; blank ones do not count.
  const records = parseCsv(text, { truncated });
  const header = records[0];
  if (!header) return out;
  out.columns = header.fields.map((h) => h.trim());
  const known = out.columns.map((h) => h.toLowerCase());
  out.ignored = out.columns.filter((_, i) => !(IMPORT_FIELDS as readonly string[]).includes(known[i]!));
  out.missing = ['username', 'email'].filter((f) => !known.includes(f));
  for (const r of records.slice(1)) {
    if (out.rows.length >= count) break;
    if (isBlank(r.fields)) continue;
    const cells = out.columns.map((_, i) => {
      const v = r.fields[i] ?? '';
      return SECRET_FIELDS.has(known[i]!) && v !== '' ? MASK : v;
    });
    out.rows.push({ line: r.line, cells, raw: '' });
  }
  return out;
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The first `count` non-blank lines of a JSON Lines file, as a table of the fields the import reads. */
export function previewJsonl(text: string, count = 5, truncated = false): ImportPreview {
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = s.split('\n');
  if (truncated && !s.endsWith('\n')) lines.pop(); // the last line may be cut short
  const picked: { line: number; raw: string; value: Record<string, unknown> | null }[] = [];
  for (let i = 0; i < lines.length && picked.length < count; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    if (raw.trim() === '') continue;
    let value: Record<string, unknown> | null = null;
    try {
      const v: unknown = JSON.parse(raw);
      if (v && typeof v === 'object' && !Array.isArray(v)) value = v as Record<string, unknown>;
    } catch {
      value = null;
    }
    picked.push({ line: i + 1, raw, value });
  }
  const present = new Set<string>();
  const ignored = new Set<string>();
  for (const p of picked) {
    for (const k of Object.keys(p.value ?? {})) {
      if ((IMPORT_FIELDS as readonly string[]).includes(k)) present.add(k);
      else ignored.add(k);
    }
  }
  const columns = IMPORT_FIELDS.filter((f) => present.has(f));
  return {
    columns,
    rows: picked.map((p) => ({
      line: p.line,
      raw: p.raw,
      cells: p.value ? columns.map((c) => (SECRET_FIELDS.has(c) && p.value![c] ? MASK : cellText(p.value![c]))) : null,
    })),
    ignored: [...ignored],
    missing: [],
  };
}

export type ImportFileFormat = 'csv' | 'jsonl';

/** The format a file's name suggests (`.jsonl`, `.ndjson`, `.json` → JSON Lines), else CSV. */
export function formatOfName(name: string): ImportFileFormat {
  return /\.(jsonl|ndjson|json)$/i.test(name) ? 'jsonl' : 'csv';
}
