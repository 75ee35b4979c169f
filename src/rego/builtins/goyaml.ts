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
 * alias names and unterminated verbatim tags. Anything else keeps the parser's own text behind the
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

/**
 * go-yaml's check of `\u` / `\U` escapes in a double-quoted scalar (`text` from `start` to `end`, the quotes
 * included): a surrogate or a value beyond U+10FFFF is `found invalid Unicode character escape code`, at the
 * escape's line, in the context of the scalar's start. Undefined when every escape is a character.
 */
export function goYamlUnicodeEscapeError(text: string, start: number, end: number): { offset: number; message: string } | undefined {
  for (let i = start + 1; i < end; i++) {
    if (text[i] !== '\\') continue;
    const e = text[i + 1];
    const n = e === 'u' ? 4 : e === 'U' ? 8 : 0;
    const hex = text.slice(i + 2, i + 2 + n);
    if (n > 0 && hex.length === n && /^[0-9a-fA-F]+$/.test(hex)) {
      const v = parseInt(hex, 16);
      if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) {
        return { offset: i, message: goYamlMessage('scanner', lineOf(text, i), lineOf(text, start), 'found invalid Unicode character escape code') };
      }
    }
    i++;
  }
  return undefined;
}
