#!/usr/bin/env node
// The i18n check (CI: `npm run check:i18n`). Fails (exit 1) when
//   1. the catalogues differ: a key of src/i18n/en.ts missing from src/i18n/zh-CN.ts or the other
//      way round, an empty message, or messages whose {{placeholders}} or <tags> differ; or
//   2. a user-visible string in src/ bypasses the catalogue:
//      - JSX text containing a letter;
//      - a string (literal or the fixed parts of a template) with a letter given to a JSX attribute
//        other than the technical ones in TECHNICAL_ATTRIBUTES (so aria-label, title, placeholder,
//        alt, and the `label=`, `title=`, `hint=`, … props of our components are all covered);
//      - a string with a letter rendered by a JSX expression (`{cond ? 'Yes' : 'No'}`);
//      - a string with a letter handed to a notice or error sink (notify, notifyError, new Error,
//        set…Error/Fail/Problem/Notice, `message:`/`text:`/`label:`/`title:` properties, document.title);
//      - in components (.tsx): a string with a letter returned by a function or held in a module-level
//        constant (tables of labels), unless it is one technical token (a path, a URI, a key: it
//        has one of / : ; = _ . # @ % and no space);
//      - anywhere else, outside src/api/ and src/realtime/ (transport code whose English messages are
//        only fallbacks, translated by code in src/i18n/errors.ts): a literal that reads like prose
//        (a capitalised word followed by more words).
//      A string is from the catalogue when it is the key argument of t(), tx() or tKey(), or a key
//      of the catalogue itself (handed on to be looked up later).
//
// ALLOWED_TOKENS is the whole allow-list: strings made only of these words (and non-letters) pass.
// Keep it small: the product name only. Language names (`English`, `简体中文`) are data in
// src/i18n/index.ts, shown as they are in every language.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');
const CATALOGUES = { en: join(SRC, 'i18n', 'en.ts'), 'zh-CN': join(SRC, 'i18n', 'zh-CN.ts') };

/** The only words allowed outside the catalogue. */
const ALLOWED_TOKENS = new Set(['Switchboard']);

/** JSX attributes whose values are never shown to people. */
const TECHNICAL_ATTRIBUTES = new Set([
  'accept', 'aria-busy', 'aria-controls', 'aria-current', 'aria-describedby', 'aria-hidden', 'aria-invalid',
  'aria-labelledby', 'aria-live', 'measure', 'aria-sort', 'autoCapitalize', 'autoComplete', 'autoFocus', 'class', 'className',
  'colSpan', 'dateTime', 'dir', 'download', 'field', 'for', 'height', 'href', 'htmlFor', 'id', 'inputMode', 'key',
  'lang', 'max', 'maxLength', 'method', 'min', 'name', 'pattern', 'ref', 'rel', 'role', 'scope', 'sort', 'spellcheck',
  'src', 'step', 'tabIndex', 'target', 'testId', 'type', 'value', 'width',
]);

/** Calls whose string arguments end up on screen. */
const SINK_CALLS = /^(notify|notifyError|alert|confirm|set\w*(Error|Fail|Problem|Notice|Message))$/;
/** Object properties whose string values end up on screen. */
const SINK_PROPERTIES = new Set(['message', 'text', 'label', 'title', 'hint', 'note']);
/** The catalogue's functions: their first argument is a key. */
const CATALOGUE_CALLS = new Set(['t', 'tx', 'tKey']);
/** Prose: a capitalised word followed by at least one more word. */
const PROSE = /\p{Lu}\p{Ll}+[,:;]?\s+\p{L}/u;
const LETTER = /\p{L}/u;
/** One token with a technical character: a path, URI, key or identifier, never prose. */
const TECHNICAL_TEXT = /^[^\s]*[/:;=_.#@%][^\s]*$/;

const problems = [];

// ---------------------------------------------------------------------------------------------
// 1. Catalogues
// ---------------------------------------------------------------------------------------------

/** The flat `{ 'key': 'message' }` object literal exported by a catalogue file. */
function readCatalogue(path) {
  const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  let found = null;
  const visit = (node) => {
    if (found) return;
    if (ts.isVariableDeclaration(node) && node.initializer) {
      let init = node.initializer;
      while (ts.isAsExpression(init) || ts.isSatisfiesExpression(init) || ts.isParenthesizedExpression(init)) init = init.expression;
      if (ts.isObjectLiteralExpression(init)) found = init;
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  if (!found) throw new Error(`${path}: no object literal catalogue found`);
  const out = new Map();
  for (const p of found.properties) {
    if (!ts.isPropertyAssignment(p)) {
      problems.push(`${rel(path)}: only 'key': 'message' entries are allowed (found ${ts.SyntaxKind[p.kind]})`);
      continue;
    }
    const key = ts.isStringLiteral(p.name) || ts.isIdentifier(p.name) ? p.name.text : null;
    const v = p.initializer;
    const value = ts.isStringLiteral(v) || ts.isNoSubstitutionTemplateLiteral(v) ? v.text : null;
    if (key === null || value === null) {
      problems.push(`${rel(path)}:${line(sf, p)}: keys and messages must be string literals`);
      continue;
    }
    if (out.has(key)) problems.push(`${rel(path)}:${line(sf, p)}: duplicate key '${key}'`);
    out.set(key, value);
  }
  return out;
}

const placeholders = (s) => [...s.matchAll(/\{\{\s*([^,}\s]+)[^}]*\}\}/g)].map((m) => m[1]).sort();
const tags = (s) => [...s.matchAll(/<\/?(\w+)>/g)].map((m) => m[0]).sort();
const PLURAL = /_(zero|one|two|few|many|other)$/;

function checkCatalogues() {
  const cats = Object.fromEntries(Object.entries(CATALOGUES).map(([lng, p]) => [lng, readCatalogue(p)]));
  const en = cats.en;
  for (const k of en.keys()) {
    KEYS.add(k);
    KEYS.add(k.replace(PLURAL, ''));
  }
  for (const [lng, cat] of Object.entries(cats)) {
    for (const [k, v] of cat) {
      if (v.trim() === '') problems.push(`${lng}: '${k}' is empty`);
      if (lng !== 'en' && !en.has(k)) problems.push(`${lng}: '${k}' is not a key of en`);
    }
    if (lng === 'en') continue;
    for (const [k, v] of en) {
      const other = cat.get(k);
      if (other === undefined) {
        problems.push(`${lng}: missing key '${k}'`);
        continue;
      }
      // Plural forms may drop {{count}} (en "one day", …) but must not invent placeholders.
      const a = placeholders(v).filter((p) => !(PLURAL.test(k) && p === 'count'));
      const b = placeholders(other).filter((p) => !(PLURAL.test(k) && p === 'count'));
      if (a.join() !== b.join()) problems.push(`${lng}: '${k}' has placeholders [${b}] but en has [${a}]`);
      if (tags(v).join() !== tags(other).join()) problems.push(`${lng}: '${k}' has tags [${tags(other)}] but en has [${tags(v)}]`);
    }
  }
  return [...en.keys()].length;
}

// ---------------------------------------------------------------------------------------------
// 2. Strings that bypass the catalogue
// ---------------------------------------------------------------------------------------------

function rel(p) {
  return relative(ROOT, p).split(sep).join('/');
}

function line(sf, node) {
  return sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
}

/** True when the text has letters other than the allowed tokens. */
function visible(text) {
  const rest = text.replace(/\p{L}[\p{L}\p{N}]*/gu, (w) => (ALLOWED_TOKENS.has(w) ? ' ' : w));
  return LETTER.test(rest);
}

/** The fixed text of a string-ish literal, or null. */
function literalText(node) {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) return [node.head.text, ...node.templateSpans.map((s) => s.literal.text)].join(' ');
  return null;
}

/** String-ish literals an expression may evaluate to (what gets rendered / passed on). */
function valueLiterals(node, out = []) {
  if (!node) return out;
  if (literalText(node) !== null) {
    out.push(node);
    // A template's ${…} parts may themselves be literals (`${x ? 'a' : 'b'}`).
    if (ts.isTemplateExpression(node)) for (const s of node.templateSpans) valueLiterals(s.expression, out);
    return out;
  }
  if (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isNonNullExpression(node)) return valueLiterals(node.expression, out);
  if (ts.isConditionalExpression(node)) {
    valueLiterals(node.whenTrue, out);
    valueLiterals(node.whenFalse, out);
    return out;
  }
  if (ts.isBinaryExpression(node)) {
    const op = node.operatorToken.kind;
    if (op === ts.SyntaxKind.AmpersandAmpersandToken) valueLiterals(node.right, out);
    else if (op === ts.SyntaxKind.BarBarToken || op === ts.SyntaxKind.QuestionQuestionToken || op === ts.SyntaxKind.PlusToken) {
      valueLiterals(node.left, out);
      valueLiterals(node.right, out);
    }
    return out;
  }
  if (ts.isArrayLiteralExpression(node)) {
    for (const e of node.elements) valueLiterals(e, out);
    return out;
  }
  return out;
}

function calleeName(call) {
  const e = call.expression;
  if (ts.isIdentifier(e)) return e.text;
  if (ts.isPropertyAccessExpression(e)) return e.name.text;
  return null;
}

/** Keys of the English catalogue (plural forms also by their base): a literal equal to one is a key. */
const KEYS = new Set();

function isCatalogueKey(node) {
  const p = node.parent;
  if (p && ts.isCallExpression(p) && CATALOGUE_CALLS.has(calleeName(p) ?? '') && p.arguments[0] === node) return true;
  return (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && KEYS.has(node.text);
}

/** Literals of a context that is not shown: imports, types, keys, comparisons, switch cases, indexes. */
function isTechnicalPosition(node) {
  const p = node.parent;
  if (!p) return true;
  if (ts.isImportDeclaration(p) || ts.isExportDeclaration(p) || ts.isImportTypeNode(p) || ts.isExternalModuleReference(p)) return true;
  if (ts.isLiteralTypeNode(p)) return true;
  if (ts.isPropertyAssignment(p) && p.name === node) return true;
  if (ts.isPropertyDeclaration(p) && p.name === node) return true;
  if (ts.isElementAccessExpression(p) && p.argumentExpression === node) return true;
  if (ts.isCaseClause(p)) return true;
  if (ts.isBinaryExpression(p)) {
    const op = p.operatorToken.kind;
    const cmp = [ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken, ts.SyntaxKind.InKeyword];
    if (cmp.includes(op)) return true;
  }
  if (ts.isJsxAttribute(p)) return true; // judged by the attribute rule
  return false;
}

function checkFile(path) {
  const kind = path.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true, kind);
  const relPath = rel(path);
  const transport = relPath.startsWith('src/api/') || relPath.startsWith('src/realtime/');
  const reported = new Set();
  const report = (node, what, text) => {
    if (reported.has(node.pos)) return;
    reported.add(node.pos);
    problems.push(`${relPath}:${line(sf, node)}: ${what} bypasses the catalogue: ${JSON.stringify(text.trim().slice(0, 80))}`);
  };
  const checkValue = (expr, what) => {
    for (const lit of valueLiterals(expr)) {
      const text = literalText(lit);
      if (text !== null && visible(text) && !isCatalogueKey(lit)) report(lit, what, text);
    }
  };

  const isTsx = kind === ts.ScriptKind.TSX;
  const checkTable = (expr, what) => {
    for (const lit of valueLiterals(expr)) {
      const text = literalText(lit);
      if (text !== null && visible(text) && !TECHNICAL_TEXT.test(text.trim()) && !isCatalogueKey(lit)) report(lit, what, text);
    }
  };
  /** Literals of a module-level constant (arrays and objects of labels). */
  const checkConstant = (init) => {
    const walk = (n) => {
      if (ts.isArrowFunction(n) || ts.isFunctionExpression(n)) return;
      if (ts.isArrayLiteralExpression(n)) for (const e of n.elements) checkTable(e, 'constant');
      if (ts.isPropertyAssignment(n)) checkTable(n.initializer, 'constant');
      ts.forEachChild(n, walk);
    };
    walk(init);
  };

  const visit = (node) => {
    if (isTsx && ts.isReturnStatement(node) && node.expression) checkTable(node.expression, 'returned string');
    if (isTsx && ts.isArrowFunction(node) && !ts.isBlock(node.body) && !ts.isJsxElement(node.body)) checkTable(node.body, 'returned string');
    if (isTsx && ts.isVariableStatement(node) && node.parent === sf) {
      for (const d of node.declarationList.declarations) if (d.initializer) checkConstant(d.initializer);
    }
    // JSX text.
    if (ts.isJsxText(node)) {
      if (visible(node.text)) report(node, 'JSX text', node.text);
    }
    // JSX attributes.
    else if (ts.isJsxAttribute(node)) {
      const name = node.name.getText(sf);
      const technical = TECHNICAL_ATTRIBUTES.has(name) || name.startsWith('data-') || /^on[A-Z]/.test(name);
      const init = node.initializer;
      if (!technical && init) {
        if (ts.isStringLiteral(init)) {
          if (visible(init.text)) report(init, `attribute ${name}=`, init.text);
        } else if (ts.isJsxExpression(init) && init.expression) checkValue(init.expression, `attribute ${name}=`);
      }
    }
    // Rendered expressions: {…} among JSX children.
    else if (ts.isJsxExpression(node) && node.expression && (ts.isJsxElement(node.parent) || ts.isJsxFragment(node.parent))) {
      checkValue(node.expression, 'JSX expression');
    }
    // Sinks.
    else if ((ts.isCallExpression(node) || ts.isNewExpression(node)) && node.arguments) {
      const name = ts.isNewExpression(node) ? (ts.isIdentifier(node.expression) ? node.expression.text : '') : calleeName(node);
      const sink = (ts.isNewExpression(node) && name === 'Error' && !transport) || (ts.isCallExpression(node) && SINK_CALLS.test(name ?? ''));
      if (sink) for (const a of node.arguments) checkValue(a, `${name}()`);
      if (ts.isCallExpression(node) && CATALOGUE_CALLS.has(name ?? '')) {
        // Parameters of a message must not smuggle English in either.
        for (const a of node.arguments.slice(1)) {
          if (ts.isObjectLiteralExpression(a)) for (const p of a.properties) if (ts.isPropertyAssignment(p)) checkValue(p.initializer, `${name}() parameter`);
        }
      }
    } else if (ts.isPropertyAssignment(node) && !transport) {
      const key = ts.isIdentifier(node.name) || ts.isStringLiteral(node.name) ? node.name.text : '';
      if (SINK_PROPERTIES.has(key)) checkValue(node.initializer, `property ${key}:`);
    } else if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
      const target = node.left.getText(sf);
      if (/(^document\.title$|\.textContent$|\.innerText$|Notice\.value$)/.test(target)) checkValue(node.right, `${target} =`);
    }

    // Prose anywhere else.
    if (!transport && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateExpression(node))) {
      const text = literalText(node);
      if (text !== null && PROSE.test(text) && visible(text) && !isCatalogueKey(node) && !isTechnicalPosition(node)) {
        report(node, 'prose', text);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}

function sources(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'test') sources(p, out);
    } else if (/\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// `node scripts/check-i18n.mjs [file…]`: the given files instead of all of src/ (the unit test of
// this check uses it on samples).
const keyCount = checkCatalogues();
const args = process.argv.slice(2);
const files = args.length > 0 ? args.map((a) => resolve(a)) : sources(SRC).filter((p) => !Object.values(CATALOGUES).includes(p));
for (const f of files) checkFile(f);

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(`\ncheck-i18n: ${problems.length} problem(s).`);
  process.exit(1);
}
console.log(`check-i18n: ${keyCount} keys in en and zh-CN, ${files.length} source files, every visible string from the catalogue.`);
