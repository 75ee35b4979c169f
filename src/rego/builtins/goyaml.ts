/**
 * YAML syntax errors worded as go-yaml v2 words them (`yaml.unmarshal`, `yaml.is_valid`).
 *
 * OPA decodes YAML with sigs.k8s.io/yaml over go-yaml v2, whose errors read `yaml: line N: <problem>`. The
 * line is go-yaml's: a scanner error reports the 1-based line of the problem, a parser error the 0-based line
 * of the offending token (go-yaml's own quirk), and no `line N:` part at all when that line is 0 (the
 * context's line is used instead, again 0-based). The document is parsed here with the `yaml` package; this
 * module turns the first problem it reports into go-yaml's problem text and line for the common malformed
 * inputs: unclosed flow collections and quotes, `mapping values are not allowed in this context`, tabs where
 * go-yaml takes them for a token, bad indentation of mapping keys and sequence entries, stray closing
 * brackets, reserved indicators, unknown aliases, unknown escapes in double-quoted scalars, empty anchor and
 * alias names, unterminated verbatim tags and undefined tag handles. Quoted scalars are scanned by
 * go-yaml's rules here (`goYamlQuoted`). Anything else keeps the parser's own text behind the
 * same `yaml: line N:` prefix.
 *
 * go-yaml v2 also differs from the YAML spec in what it accepts: duplicate mapping keys are not an error
 * (the last value wins, as `yaml.Unmarshal` is not strict), and a tab right after `key:`, `- ` or at the
 * start of a line in block context cannot start a token.
 */

import type { CreateNodeOptions, DocumentOptions, ParseOptions, SchemaOptions, ToJSOptions } from 'yaml';

/**
 * The `yaml` package's options that read a document as go-yaml v2 decodes one into interface{}: YAML 1.1
 * scalars (`yes`/`no`/`on`/`off`/`y`/`n` booleans, `0777` octal, `0b101`, `1_000`), integers exact, a repeated
 * key no error (the last value wins), timestamps kept as strings and no base-60 numbers.
 */
export const GO_YAML_V2: ParseOptions & DocumentOptions & SchemaOptions & CreateNodeOptions & ToJSOptions = {
  version: '1.1',
  intAsBigInt: true,
  uniqueKeys: false,
  customTags: (tags) => tags.filter((t) => typeof t === 'string' || (t.tag !== 'tag:yaml.org,2002:timestamp' && t.format !== 'TIME')),
};

export type GoYamlErrorKind = 'scanner' | 'parser';

/** go-yaml's `parser.fail`: the line part from the problem and context marks (0-based lines). */
export function goYamlMessage(kind: GoYamlErrorKind, problemLine: number, contextLine: number, problem: string): string {
  let line = 0;
  if (problemLine !== 0) line = kind === 'scanner' ? problemLine + 1 : problemLine;
  else if (contextLine !== 0) line = contextLine;
  return line !== 0 ? `yaml: line ${line}: ${problem}` : `yaml: ${problem}`;
}

/** 0-based line of a character offset, counting `\n`, `\r\n` and lone `\r` as one break each. */
function lineOf(text: string, offset: number): number {
  let line = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    else if (c === '\r' && text[i + 1] !== '\n') line++;
  }
  return line;
}

/** The line go-yaml's STREAM-END token sits on: a last line without a break counts as ended. */
function streamEndLine(text: string): number {
  const last = lineOf(text, text.length);
  const ends = text.length === 0 || text.endsWith('\n') || text.endsWith('\r');
  return ends ? last : last + 1;
}

function lines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/** Indentation in spaces (go-yaml counts no tab as indentation). */
function indentOf(line: string): number {
  return line.length - line.replace(/^ +/, '').length;
}

function isContent(line: string): boolean {
  const t = line.trim();
  return t !== '' && !t.startsWith('#');
}

/**
 * What go-yaml's parser expected when a line does not fit its block collection: the nearest earlier line at
 * the same indentation tells whether that collection is a sequence (`'-' indicator`) or a mapping (`key`).
 */
function expectedAt(all: string[], lineNo: number): string {
  const indent = indentOf(all[lineNo] ?? '');
  for (let i = lineNo - 1; i >= 0; i--) {
    const l = all[i]!;
    if (!isContent(l)) continue;
    const ind = indentOf(l);
    if (ind < indent) break;
    if (ind === indent) return /^-(\s|$)/.test(l.trimStart()) ? "did not find expected '-' indicator" : 'did not find expected key';
  }
  return 'did not find expected key';
}

/** Offset of the first `:` at or after `from` that go-yaml takes for a value indicator (`: `, `:` at line end). */
function nextValueIndicator(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === ':' && (i + 1 === text.length || /[ \t\r\n]/.test(text[i + 1]!))) return i;
  }
  return -1;
}

export interface YamlProblem {
  code: string;
  message: string;
  /** Character offset of the problem. */
  offset: number;
}

/**
 * An unclosed flow collection: the parser wants `,` or the closer and meets either a value indicator whose key
 * spans lines (go-yaml drops such a key, leaving a bare VALUE token) or, failing that, STREAM-END.
 */
function unclosedFlow(text: string, all: string[], closer: string): string {
  const open = text.lastIndexOf(closer === ']' ? '[' : '{');
  const from = lineOf(text, open);
  let prev = all[from]!.trimEnd();
  for (let i = from + 1; i < all.length; i++) {
    const l = all[i]!;
    const colon = nextValueIndicator(l, 0);
    if (colon >= 0) {
      const keyOnLine = /[,[{]\s*$/.test(prev) || /[,[{]/.test(l.slice(0, colon));
      if (!keyOnLine) return goYamlMessage('parser', i, i, `did not find expected ',' or '${closer}'`);
    }
    if (isContent(l)) prev = l.trimEnd();
  }
  return goYamlMessage('parser', streamEndLine(text), 0, `did not find expected ',' or '${closer}'`);
}

/** go-yaml's message for the first problem the `yaml` package found in `text`. */
export function goYamlSyntaxError(text: string, p: YamlProblem): string {
  const all = lines(text);
  const line = lineOf(text, p.offset);
  const first = p.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  switch (p.code) {
    case 'MISSING_CHAR':
      if (/closing ["']quote/.test(p.message)) {
        // The scanner runs to the end of the stream looking for the closing quote.
        return goYamlMessage('scanner', lineOf(text, text.length), 0, 'found unexpected end of stream');
      }
      if (/Implicit map keys need to be followed by map values/.test(p.message)) {
        return goYamlMessage('parser', line, line, expectedAt(all, line));
      }
      {
        const flow = /^Flow (sequence|map) must end with a ([\]}])/.exec(first);
        if (flow) return unclosedFlow(text, all, flow[2]!);
      }
      break;
    case 'BAD_DQ_ESCAPE': {
      // go-yaml's quoted scalar scanner: an escape it does not know, or \x, \u, \U without their hex digits;
      // the context is the scalar, from its opening quote.
      const esc = /Invalid escape sequence \\(.)/.exec(first)?.[1];
      const digits = esc === 'x' ? 2 : esc === 'u' ? 4 : esc === 'U' ? 8 : 0;
      if (digits > 0 && new RegExp(`^[0-9a-fA-F]{${digits}}`).test(text.slice(p.offset + 2))) {
        return goYamlMessage('scanner', line, lineOf(text, text.lastIndexOf('"', p.offset - 1)), 'found invalid Unicode character escape code');
      }
      const quote = lineOf(text, text.lastIndexOf('"', p.offset - 1));
      const problem = esc === 'x' || esc === 'u' || esc === 'U' ? 'did not find expected hexdecimal number' : 'found unknown escape character';
      return goYamlMessage('scanner', line, quote, problem);
    }
    case 'BAD_ALIAS':
      if (/(Anchor|Alias) cannot be an empty string/.test(first)) return goYamlMessage('scanner', line, line, 'did not find expected alphabetic or numeric character');
      break;
    case 'TAG_RESOLVE_FAILED':
      if (/Verbatim tags must end with a >/.test(first)) return goYamlMessage('scanner', line, line, "did not find the expected '>'");
      // A named handle (`!e!x`) no %TAG directive declared: go-yaml's parser, at the tag, while parsing the node.
      if (/Could not resolve tag: ![\w-]*!/.test(first)) return goYamlMessage('parser', line, line, 'found undefined tag handle');
      break;
    case 'BAD_INDENT': {
      const flow = /^Flow (sequence|map) in block collection must be sufficiently indented and end with a ([\]}])/.exec(first);
      if (flow) return unclosedFlow(text, all, flow[2]!);
      if (/All (mapping|sequence) items must start at the same column/.test(first)) {
        return goYamlMessage('parser', line, line, expectedAt(all, line));
      }
      break;
    }
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY': {
      const colon = nextValueIndicator(text, p.offset);
      if (colon >= 0) return goYamlMessage('scanner', lineOf(text, colon), lineOf(text, colon), 'mapping values are not allowed in this context');
      return goYamlMessage('parser', line, line, expectedAt(all, line));
    }
    case 'TAB_AS_INDENT': {
      // After a plain scalar go-yaml reads the tab as the scalar's folding whitespace, and a key then found
      // on that line makes the scalar a multi-line key.
      const colon = nextValueIndicator(all[line] ?? '', 0);
      if (afterPlainScalar(all, line) && colon >= 0) return goYamlMessage('scanner', line, line, 'mapping values are not allowed in this context');
      return goYamlMessage('scanner', line, line, 'found character that cannot start any token');
    }
    case 'BAD_SCALAR_START':
      if (/reserved character [@`]/.test(first)) return goYamlMessage('scanner', line, line, 'found character that cannot start any token');
      break;
    case 'UNEXPECTED_TOKEN': {
      const c = text[p.offset];
      if (c === ']' || c === '}') {
        // A closer with nothing open: where a value was due it is no node, after the root node no document.
        const before = text.slice(0, p.offset).trimEnd();
        const inValue = before.endsWith(':') || /(^|\n)\s*-$/.test(before) || before === '';
        return goYamlMessage('parser', line, line, inValue ? 'did not find expected node content' : 'did not find expected <document start>');
      }
      if (/Unexpected (scalar|block-seq-ind|map-value-ind)/.test(first) && indentOf(all[line] ?? '') === p.offset - lineStart(text, line)) {
        return goYamlMessage('parser', line, line, expectedAt(all, line));
      }
      break;
    }
  }
  return `yaml: line ${line + 1}: ${first}`;
}

function lineStart(text: string, line: number): number {
  let seen = 0;
  for (let i = 0; i < text.length && seen < line; i++) {
    if (text[i] === '\n' || (text[i] === '\r' && text[i + 1] !== '\n')) {
      seen++;
      if (seen === line) return i + 1;
    }
  }
  return 0;
}

/**
 * A tab go-yaml's scanner cannot skip: in block context, where a simple key may start (a line's start, after
 * `- `, `? ` or a `:` value indicator), a tab is read as the next token and none starts with it. Lines inside
 * block scalars, quoted scalars and flow collections are left alone. Returns its 0-based line and go-yaml's message,
 * or undefined.
 */
export function goYamlTabError(text: string): { line: number; message: string } | undefined {
  if (!text.includes('\t')) return undefined;
  const all = lines(text);
  let blockScalarParent = -1; // indentation of the line that opened a `|` / `>` scalar, -1 when none
  for (let i = 0; i < all.length; i++) {
    const l = all[i]!;
    let leftBlockScalar = false;
    if (blockScalarParent >= 0) {
      if (l.trim() === '' || indentOf(l) > blockScalarParent) continue;
      blockScalarParent = -1;
      leftBlockScalar = true;
    }
    const tab = l.indexOf('\t');
    const prefix = tab >= 0 ? l.slice(0, tab) : l;
    // A quote, flow collection or comment before the tab: the tab is inside it, or the line is beyond this check.
    if (/["'[\]{}#]/.test(prefix)) {
      if (!balanced(l)) return undefined;
      continue;
    }
    if (tab >= 0) {
      const lead = prefix.replace(/ +$/, '');
      const blank = !isContent(l);
      if (lead === '' && (blank || (!leftBlockScalar && afterPlainScalar(all, i)))) continue;
      if (lead === '' || /^ *(?:- +)*-$/.test(lead) || /^ *(?:- +)*\?$/.test(lead) || /^ *(?:- +)*[^:\s][^:]*:$/.test(lead)) {
        return { line: i, message: goYamlMessage('scanner', i, i, 'found character that cannot start any token') };
      }
    }
    if (/(^|[:-]\s+)[|>][0-9+-]*\s*(#.*)?$/.test(l)) blockScalarParent = indentOf(l);
  }
  return undefined;
}

/** The nearest earlier content line ends in a plain scalar value, which a following line may continue. */
function afterPlainScalar(all: string[], lineNo: number): boolean {
  for (let i = lineNo - 1; i >= 0; i--) {
    const l = all[i]!;
    if (!isContent(l)) continue;
    const t = l.replace(/\s+#.*$/, '').trimEnd();
    return !/(^|\s)[-?]$|:$|^-$|[|>][0-9+-]*$|[\]}"']$/.test(t);
  }
  return false;
}

/** Quotes and brackets on one line close on it (a rough check; an apostrophe inside a plain word is allowed). */
function balanced(line: string): boolean {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) break;
    if ((c === '"' || c === "'") && (i === 0 || /[\s[{,:-]/.test(line[i - 1]!))) quote = c;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
  }
  return depth === 0 && quote === '';
}

/** go-yaml's error for an alias whose anchor is not (yet) defined. */
export function goYamlAliasError(jsMessage: string): string | undefined {
  const m = /Unresolved alias[^:]*: (.*)$/.exec(jsMessage.split('\n')[0]!);
  return m ? `yaml: unknown anchor '${m[1]}' referenced` : undefined;
}

/** A line break as go-yaml's reader sees one: CR, LF, NEL, LS, PS. */
function isBreakAt(text: string, i: number): boolean {
  const c = text[i];
  return c === '\r' || c === '\n' || c === '\u0085' || c === '\u2028' || c === '\u2029';
}

function isBlankzAt(text: string, i: number): boolean {
  return i >= text.length || text[i] === ' ' || text[i] === '\t' || isBreakAt(text, i);
}

/** go-yaml's read_line: CRLF, CR, LF and NEL read as `\n`, LS and PS as themselves; returns [break, next]. */
function readBreak(text: string, i: number): [string, number] {
  if (text[i] === '\r' && text[i + 1] === '\n') return ['\n', i + 2];
  if (text[i] === '\u2028' || text[i] === '\u2029') return [text[i]!, i + 1];
  return ['\n', i + 1];
}

const DQ_ESCAPES: Record<string, string> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  t: '\t',
  '\t': '\t',
  n: '\n',
  v: '\v',
  f: '\f',
  r: '\r',
  e: '\x1b',
  ' ': ' ',
  '"': '"',
  "'": "'",
  '\\': '\\',
  N: '\u0085',
  _: '\u00a0',
  L: '\u2028',
  P: '\u2029',
};

type QuotedScan = { end: number; value: string } | { problemAt: number; problem: string };

/**
 * go-yaml's scanner over a quoted scalar opening at `start` (yaml_parser_scan_flow_scalar): continuation lines
 * at any indentation, a `---` or `...` at column 0 inside the quotes an error; in a single-quoted scalar `''`
 * is a quote; in a double-quoted one go-yaml's own escape set (`\'` is one, `\/` is not) and an escaped line
 * break joining lines without a space while the empty lines after it stay line feeds. Returns the scalar's end
 * and value, or the problem and where the scanner was.
 */
function scanQuoted(text: string, start: number): QuotedScan {
  const single = text[start] === "'";
  let i = start + 1;
  let s = '';
  let leadingBreak = '';
  let trailingBreaks = '';
  let whitespaces = '';
  for (;;) {
    const col0 = i === 0 || text[i - 1] === '\n' || text[i - 1] === '\r';
    if (col0 && (text.startsWith('---', i) || text.startsWith('...', i)) && isBlankzAt(text, i + 3)) {
      return { problemAt: i, problem: 'found unexpected document indicator' };
    }
    if (i >= text.length) return { problemAt: i, problem: 'found unexpected end of stream' };
    let leadingBlanks = false;
    while (!isBlankzAt(text, i)) {
      const c = text[i]!;
      if (single && c === "'" && text[i + 1] === "'") {
        s += "'";
        i += 2;
        continue;
      }
      if (c === (single ? "'" : '"')) break;
      if (!single && c === '\\' && isBreakAt(text, i + 1)) {
        i = readBreak(text, i + 1)[1];
        leadingBlanks = true;
        break;
      }
      if (!single && c === '\\') {
        const e = text[i + 1] ?? '';
        const digits = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
        if (digits === 0) {
          const out = DQ_ESCAPES[e];
          if (out === undefined) return { problemAt: i, problem: 'found unknown escape character' };
          s += out;
          i += 2;
          continue;
        }
        i += 2;
        const hex = text.slice(i, i + digits);
        if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) return { problemAt: i, problem: 'did not find expected hexdecimal number' };
        const v = parseInt(hex, 16);
        if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) return { problemAt: i, problem: 'found invalid Unicode character escape code' };
        s += String.fromCodePoint(v);
        i += digits;
        continue;
      }
      const cp = text.codePointAt(i)!;
      s += String.fromCodePoint(cp);
      i += cp > 0xffff ? 2 : 1;
    }
    if (text[i] === (single ? "'" : '"')) return { end: i + 1, value: s };
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || isBreakAt(text, i))) {
      if (!isBreakAt(text, i)) {
        if (!leadingBlanks) whitespaces += text[i];
        i++;
      } else {
        const [brk, next] = readBreak(text, i);
        if (!leadingBlanks) {
          whitespaces = '';
          leadingBreak = brk;
          leadingBlanks = true;
        } else trailingBreaks += brk;
        i = next;
      }
    }
    if (leadingBlanks) {
      if (leadingBreak.startsWith('\n')) s += trailingBreaks === '' ? ' ' : trailingBreaks;
      else s += leadingBreak + trailingBreaks;
      leadingBreak = '';
      trailingBreaks = '';
    } else {
      s += whitespaces;
      whitespaces = '';
    }
  }
}

/** How many times a text is lexed again after a scalar the lexer cut short: the work stays linear. */
const MAX_RELEX = 8;

/**
 * A quoted scalar on one line, closed, with no escape (`\\`), no character go-yaml takes for a line break, no
 * control character and no UTF-16 surrogate: go-yaml and the `yaml` package read it alike (in single quotes `''`
 * is a quote to both), so it is left as it is rather than scanned and respelled.
 */
const SIMPLE_QUOTED = /^(?:"[^"\\\x00-\x1f\u0085\u2028\u2029\ud800-\udfff]*"|'(?:[^'\x00-\x1f\u0085\u2028\u2029\ud800-\udfff]|'')*')$/;

/** Lexer tokens that mark structure without standing for any source text. */
const MARKER_TOKENS = new Set(['\x02', '\x18', '\x1f']);

/**
 * Quoted scalars read by go-yaml's rules before the `yaml` package sees the text: each one, located
 * with the package's lexer, is replaced by a double-quoted scalar holding go-yaml's value in escapes both
 * agree on, on as many lines as the original and with its continuation lines indented past the opening
 * quote, so the document keeps its structure and line numbers. The first scalar go-yaml fails on is left
 * as it is and reported with the offset, in the returned text, where it starts. A scalar the lexer cut short
 * makes it lex the rewritten text again, up to `MAX_RELEX` times; after that the tokens that follow the
 * scalar are taken as the first lexing found them.
 */
export function goYamlQuoted(
  text: string,
  lexer: () => { lex(src: string): Iterable<string> },
): { text: string; error?: { at: number; message: string } } {
  let src = text;
  let done = 0; // everything before this offset of `src` has been rewritten
  let relexes = 0;
  for (;;) {
    const pieces: string[] = [];
    let outLen = 0; // length of `pieces` joined
    let from = 0; // `src` up to here is in `pieces`
    let offset = 0;
    let relex = false;
    for (const tok of lexer().lex(src)) {
      if (MARKER_TOKENS.has(tok)) continue;
      const at = offset;
      offset += tok.length;
      if (at < done || at < from || (tok[0] !== '"' && tok[0] !== "'")) continue;
      if (SIMPLE_QUOTED.test(tok)) continue;
      const scan = scanQuoted(src, at);
      if ('problem' in scan) {
        const message = goYamlMessage('scanner', lineOf(src, scan.problemAt), lineOf(src, at), scan.problem);
        return { text: pieces.join('') + src.slice(from), error: { at: outLen + at - from, message } };
      }
      const raw = src.slice(at, scan.end);
      const breaks = lineOf(raw, raw.length);
      let enc = JSON.stringify(scan.value);
      if (breaks > 0) {
        // The column of the opening quote: back to the nearest break only (a search for each kind of break
        // would run to the start of the text for a kind it holds none of, on every multi-line scalar).
        let lineStart = at;
        while (lineStart > 0 && src[lineStart - 1] !== '\n' && src[lineStart - 1] !== '\r') lineStart--;
        const pad = ' '.repeat(at - lineStart + 1);
        enc = enc.slice(0, -1) + `\\\n${pad}`.repeat(breaks) + '"';
      }
      pieces.push(src.slice(from, at), enc);
      outLen += at - from + enc.length;
      from = scan.end;
      // The lexer cut this scalar short (a continuation line it found under-indented): lex the rewritten text
      // again, a bounded number of times; past that the pass goes on after the scalar's end as lexed.
      if (tok.length !== raw.length && relexes < MAX_RELEX) {
        relexes++;
        relex = true;
        break;
      }
    }
    const out = pieces.join('') + src.slice(from);
    if (!relex) return { text: out };
    done = outLen;
    src = out;
  }
}
