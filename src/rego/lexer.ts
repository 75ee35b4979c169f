/**
 * Rego lexer (specs/rego.md §2.2): identifiers, numbers (kept as text for exact parsing), `"…"` strings with
 * JSON escapes, raw `` `…` `` strings, operators and punctuation, `#` comments. Newlines are not tokens; each
 * token records whether a newline preceded it, which the parser uses to end body literals as OPA does.
 */
import { CocoError } from '../errors.js';

export type TokKind = 'ident' | 'number' | 'string' | 'rawstring' | 'template' | 'punct' | 'eof';

export interface Token {
  kind: TokKind;
  /** Identifier name, operator text, number text, or the decoded string value. */
  text: string;
  row: number;
  col: number;
  /** Offset of the token in the source. */
  pos: number;
  /** A newline separates this token from the previous one. */
  nl: boolean;
  /** For template strings: the raw text between the quotes. */
  raw?: string;
}

const PUNCT3 = new Set<string>([]);
const PUNCT2 = new Set([':=', '==', '!=', '<=', '>=']);
const PUNCT1 = new Set(['{', '}', '[', ']', '(', ')', '.', ',', ';', ':', '=', '<', '>', '+', '-', '*', '/', '%', '&', '|']);

export function parseError(file: string, row: number, col: number, message: string): CocoError {
  return new CocoError('REGO_PARSE', `${file}:${row}: rego_parse_error: ${message}`, {
    kind: 'input',
    detail: { opaCode: 'rego_parse_error', file, row, col, message },
  });
}

export interface Comment {
  row: number;
  /** Text after the `#`. */
  text: string;
}

/**
 * Splits Rego source into tokens. Throws REGO_PARSE with the position of the first bad character.
 * Comments are dropped, or collected into `comments` (for METADATA annotations) when given.
 */
export function tokenize(src: string, file: string, comments?: Comment[]): Token[] {
  const out: Token[] = [];
  let i = 0;
  let row = 1;
  let lineStart = 0;
  let nl = false;
  const n = src.length;
  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === 10) {
      i++;
      row++;
      lineStart = i;
      nl = true;
      continue;
    }
    if (c === 32 || c === 9 || c === 13 || c === 0xfeff) {
      i++;
      continue;
    }
    if (c === 35 /* # */) {
      const start = i + 1;
      while (i < n && src.charCodeAt(i) !== 10) i++;
      if (comments) comments.push({ row, text: src.slice(start, i).replace(/\r$/, '') });
      continue;
    }
    const col = i - lineStart + 1;
    const start = i;
    if (isIdentStart(c)) {
      i++;
      while (i < n && isIdentPart(src.charCodeAt(i))) i++;
      out.push({ kind: 'ident', text: src.slice(start, i), row, col, pos: start, nl });
      nl = false;
      continue;
    }
    if (c >= 48 && c <= 57) {
      const m = /(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
      m.lastIndex = i;
      const r = m.exec(src)!;
      i += r[0].length;
      if (i < n && (isIdentPart(src.charCodeAt(i)) || src[i] === '.')) {
        throw parseError(file, row, col, 'unexpected number token');
      }
      out.push({ kind: 'number', text: r[0], row, col, pos: start, nl });
      nl = false;
      continue;
    }
    if (c === 34 /* " */) {
      const { value, end } = readString(src, i, file, row, col);
      i = end;
      out.push({ kind: 'string', text: value, row, col, pos: start, nl });
      nl = false;
      continue;
    }
    if (c === 96 /* ` */) {
      const end = src.indexOf('`', i + 1);
      if (end < 0) throw parseError(file, row, col, 'unterminated raw string');
      const text = src.slice(i + 1, end);
      for (let j = i; j < end; j++) {
        if (src.charCodeAt(j) === 10) {
          row++;
          lineStart = j + 1;
        }
      }
      i = end + 1;
      out.push({ kind: 'rawstring', text, row, col, pos: start, nl });
      nl = false;
      continue;
    }
    if (c === 36 /* $ */ && (src[i + 1] === '"' || src[i + 1] === '`')) {
      // Template string: keep the raw body; the parser splits it into text and {expr} parts.
      const q = src[i + 1]!;
      let j = i + 2;
      let depth = 0;
      // Inside `{…}` expressions, strings (which may contain the closing quote) and nested braces are skipped.
      while (j < n && (depth > 0 || src[j] !== q)) {
        const ch = src[j]!;
        if (depth === 0 && q === '"' && ch === '\\') j++;
        else if (depth === 0 && q === '"' && ch === '\n') break;
        else if (ch === '{') depth++;
        else if (ch === '}' && depth > 0) depth--;
        else if (depth > 0 && (ch === '"' || ch === '`')) {
          const close = ch;
          j++;
          while (j < n && src[j] !== close) j += close === '"' && src[j] === '\\' ? 2 : 1;
        }
        j++;
      }
      if (j >= n || src[j] !== q) throw parseError(file, row, col, 'unterminated template string');
      const raw = src.slice(i + 2, j);
      for (let k = i; k < j; k++) {
        if (src.charCodeAt(k) === 10) {
          row++;
          lineStart = k + 1;
        }
      }
      i = j + 1;
      out.push({ kind: 'template', text: q, raw, row, col, pos: start, nl });
      nl = false;
      continue;
    }
    const three = src.slice(i, i + 3);
    const two = src.slice(i, i + 2);
    let p: string | undefined;
    if (PUNCT3.has(three)) p = three;
    else if (PUNCT2.has(two)) p = two;
    else if (PUNCT1.has(src[i]!)) p = src[i]!;
    if (p === undefined) {
      throw parseError(file, row, col, `illegal token`);
    }
    i += p.length;
    out.push({ kind: 'punct', text: p, row, col, pos: start, nl });
    nl = false;
  }
  out.push({ kind: 'eof', text: '', row, col: i - lineStart + 1, pos: i, nl: true });
  return out;
}

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}

function readString(src: string, i: number, file: string, row: number, col: number): { value: string; end: number } {
  let j = i + 1;
  let simple = true;
  while (j < src.length) {
    const ch = src.charCodeAt(j);
    if (ch === 34) break;
    if (ch === 10) throw parseError(file, row, col, 'non-terminated string');
    if (ch === 92) {
      simple = false;
      j += 2;
      continue;
    }
    j++;
  }
  if (j >= src.length) throw parseError(file, row, col, 'non-terminated string');
  const body = src.slice(i + 1, j);
  if (simple) return { value: body, end: j + 1 };
  try {
    return { value: JSON.parse('"' + body.replace(/[\u0000-\u001f]/g, (m) => '\\u' + m.charCodeAt(0).toString(16).padStart(4, '0')) + '"') as string, end: j + 1 };
  } catch {
    throw parseError(file, row, col, 'illegal escape sequence in string');
  }
}
