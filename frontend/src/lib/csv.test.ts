import { describe, expect, it } from 'vitest';
import { formatOfName, MASK, parseCsv, previewCsv, previewJsonl } from './csv';

describe('parseCsv', () => {
  it('splits plain fields and records, with their start lines', () => {
    expect(parseCsv('a,b,c\n1,2,3\n')).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['1', '2', '3'] },
    ]);
  });

  it('reads quoted fields: commas, doubled quotes, line breaks inside', () => {
    const text = 'name,note\n"Doe, Jane","She said ""hi"""\n"multi\nline",x\nlast,"y"';
    expect(parseCsv(text)).toEqual([
      { line: 1, fields: ['name', 'note'] },
      { line: 2, fields: ['Doe, Jane', 'She said "hi"'] },
      { line: 3, fields: ['multi\nline', 'x'] },
      { line: 5, fields: ['last', 'y'] },
    ]);
  });

  it('handles CRLF, a BOM, empty fields and a trailing comma', () => {
    expect(parseCsv('\uFEFFa,b\r\n,\r\nx,\r\n"",""\r\n')).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['', ''] },
      { line: 3, fields: ['x', ''] },
      { line: 4, fields: ['', ''] },
    ]);
  });

  it('keeps quotes that do not start a field, and text after a closing quote', () => {
    expect(parseCsv('a"b,"c"d\n')[0]!.fields).toEqual(['a"b', 'cd']);
  });

  it('counts blank lines, and an unterminated quote runs to the end', () => {
    expect(parseCsv('h\n\n\nv\n"open\nrest')).toEqual([
      { line: 1, fields: ['h'] },
      { line: 2, fields: [''] },
      { line: 3, fields: [''] },
      { line: 4, fields: ['v'] },
      { line: 5, fields: ['open\nrest'] },
    ]);
  });

  it('stops after maxRecords, and drops a cut-off last record of a truncated text', () => {
    expect(parseCsv('a\nb\nc\n', { maxRecords: 2 }).map((r) => r.fields[0])).toEqual(['a', 'b']);
    expect(parseCsv('a\nb\n"c,\nd', { truncated: true }).map((r) => r.fields[0])).toEqual(['a', 'b']);
    expect(parseCsv('a\nb\n', { truncated: true }).map((r) => r.fields[0])).toEqual(['a', 'b']);
  });
});

describe('previewCsv', () => {
  const csv = [
    'Username,email,display_name,role,password,extra',
    'u1,u1@example.test,"One, First",viewer,secret-1,x',
    '',
    'u2,u2@example.test,,admin,,y',
    '"u3","u3@example.test","Line\nbreak",viewer,,',
    'u4,u4@example.test,,viewer,,',
    'u5,u5@example.test,,viewer,,',
    'u6,u6@example.test,,viewer,,',
  ].join('\n');

  it('shows the header and the first 5 rows with their lines, blank lines skipped, secrets masked', () => {
    const p = previewCsv(csv, 5);
    expect(p.columns).toEqual(['Username', 'email', 'display_name', 'role', 'password', 'extra']);
    expect(p.ignored).toEqual(['extra']);
    expect(p.missing).toEqual([]);
    expect(p.rows.map((r) => r.line)).toEqual([2, 4, 5, 7, 8]);
    expect(p.rows[0]!.cells).toEqual(['u1', 'u1@example.test', 'One, First', 'viewer', MASK, 'x']);
    expect(p.rows[1]!.cells![4]).toBe('');
    expect(p.rows[2]!.cells![2]).toBe('Line\nbreak');
  });

  it('tells the missing required columns', () => {
    expect(previewCsv('name,mail\na,b\n').missing).toEqual(['username', 'email']);
    expect(previewCsv('').columns).toEqual([]);
  });
});

describe('previewJsonl', () => {
  it('tabulates the fields the import reads, flags lines that are not objects', () => {
    const text = '{"username":"a","email":"a@x.test","password":"pw","disabled":true,"x":1}\n\nnot json\n[1]\n{"username":"b","email":"b@x.test"}\n';
    const p = previewJsonl(text, 5);
    expect(p.columns).toEqual(['username', 'email', 'disabled', 'password']);
    expect(p.ignored).toEqual(['x']);
    expect(p.rows.map((r) => r.line)).toEqual([1, 3, 4, 5]);
    expect(p.rows[0]!.cells).toEqual(['a', 'a@x.test', 'true', MASK]);
    expect(p.rows[1]!.cells).toBeNull();
    expect(p.rows[1]!.raw).toBe('not json');
    expect(p.rows[2]!.cells).toBeNull();
    expect(p.rows[3]!.cells).toEqual(['b', 'b@x.test', '', '']);
  });
});

describe('formatOfName', () => {
  it('goes by the extension', () => {
    expect(formatOfName('users.csv')).toBe('csv');
    expect(formatOfName('users.JSONL')).toBe('jsonl');
    expect(formatOfName('users.ndjson')).toBe('jsonl');
    expect(formatOfName('users.txt')).toBe('csv');
  });
});
