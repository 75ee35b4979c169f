/**
 * `strings.render_template` (opa:v1/topdown/template.go): Go `text/template` executed over the variables
 * object converted to plain JSON. A field naming a key the map lacks renders as `<undefined>` rather than
 * failing the call (OPA's conformance cases rendertemplate/missingkey and rendertemplate/missingmultiplekeys,
 * opa:v1/test/cases/testdata/v1/rendertemplate/rendertemplate.yaml: `test {{.foo}} {{.bar}} {{.baz}}` over
 * `{"baz": 1}` gives `test <undefined> <undefined> 1`; earlier OPA releases used `missingkey=error` there).
 * A missing key is false in `if`/`with`, and a field of it is a missing key again.
 *
 * Supported: text and `{{…}}` actions with `{{-`/`-}}` trimming and `{{/* comments *\/}}`; pipelines of field
 * chains (`.a.b`, `$`, `$x.a`), string/number/bool/nil literals, parenthesised pipelines and `|`;
 * `if`/`else if`/`else`, `range` (with `$i, $v :=` and `else`), `with`, variable declarations and assignments;
 * the builtin functions `and or not len index print printf println eq ne lt le gt ge html js urlquery`.
 * Values print as Go's `fmt` prints `interface{}` JSON data (`map[a:1 b:2]`, `[1 2]`, `<no value>` for nil).
 * Not supported (a builtin error names them): `define`/`template`/`block`, `break`/`continue`, `call`, `slice`.
 */
import { type Value, RObject, isNumber, isObject, isSet, toJsonText } from '../value.js';
import { type BuiltinDef, argObject, argString, builtinError } from './registry.js';
import { goSprintf, toGoArg } from './sprintf.js';
import { queryEscape } from './encoding.js';

class TemplateError extends Error {}

// --- lexing into text / action items ------------------------------------------------------------------

type Item = { kind: 'text'; text: string } | { kind: 'action'; src: string; line: number };

function items(tpl: string): Item[] {
  const out: Item[] = [];
  let i = 0;
  let trimNext = false;
  while (i < tpl.length) {
    const open = tpl.indexOf('{{', i);
    let text = open < 0 ? tpl.slice(i) : tpl.slice(i, open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    trimNext = false;
    if (open < 0) {
      if (text) out.push({ kind: 'text', text });
      break;
    }
    let start = open + 2;
    if (tpl.startsWith('- ', start) || tpl.startsWith('-\t', start) || tpl.startsWith('-\n', start)) {
      text = text.replace(/[ \t\r\n]+$/, '');
      start += 1;
    }
    if (text) out.push({ kind: 'text', text });
    const line = tpl.slice(0, open).split('\n').length;
    // Find the closing braces outside string literals.
    let j = start;
    let q: string | undefined;
    for (; j < tpl.length; j++) {
      const c = tpl[j]!;
      if (q) {
        if (c === '\\' && q !== '`') j++;
        else if (c === q) q = undefined;
      } else if (c === '"' || c === '`' || c === "'") q = c;
      else if (tpl.startsWith('}}', j)) break;
    }
    if (j >= tpl.length) throw new TemplateError(`template: template:${line}: unclosed action`);
    let src = tpl.slice(start, j);
    if (/[ \t\r\n]-$/.test(src)) {
      src = src.slice(0, -1);
      trimNext = true;
    }
    out.push({ kind: 'action', src: src.trim(), line });
    i = j + 2;
  }
  return out;
}

// --- expression tokens ------------------------------------------------------------------------------------------

type Tok = { t: 'field'; path: string[] } | { t: 'var'; name: string; path: string[] } | { t: 'ident'; name: string } | { t: 'lit'; v: unknown } | { t: 'punct'; p: string };

function lexExpr(src: string, line: number): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const fail = (m: string): never => {
    throw new TemplateError(`template: template:${line}: ${m}`);
  };
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === '|' || c === ',') {
      out.push({ t: 'punct', p: c });
      i++;
      continue;
    }
    if (src.startsWith(':=', i) || (c === '=' && src[i + 1] !== '=')) {
      out.push({ t: 'punct', p: src.startsWith(':=', i) ? ':=' : '=' });
      i += src.startsWith(':=', i) ? 2 : 1;
      continue;
    }
    if (c === '"' || c === '`') {
      const m = c === '"' ? /^"(?:[^"\\]|\\.)*"/.exec(src.slice(i)) : /^`[^`]*`/.exec(src.slice(i));
      if (!m) fail('unterminated quoted string');
      out.push({ t: 'lit', v: c === '"' ? JSON.parse(m![0]) : m![0].slice(1, -1) });
      i += m![0].length;
      continue;
    }
    const num = /^-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(src.slice(i));
    if (num && (c === '-' ? /\d/.test(src[i + 1] ?? '') : true) && /[\d-]/.test(c)) {
      out.push({ t: 'lit', v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    if (c === '.') {
      const f = /^\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)?/.exec(src.slice(i))!;
      out.push({ t: 'field', path: f[1] ? f[1].split('.') : [] });
      i += f[0].length;
      continue;
    }
    const m = /^(\$[A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)/.exec(src.slice(i));
    if (!m) fail(`unexpected "${c}" in command`);
    const path = m![2] ? m![2].slice(1).split('.') : [];
    const head = m![1]!;
    if (head.startsWith('$')) out.push({ t: 'var', name: head, path });
    else if (head === 'true' || head === 'false') out.push({ t: 'lit', v: head === 'true' });
    else if (head === 'nil') out.push({ t: 'lit', v: null });
    else {
      if (path.length > 0) fail(`unexpected . after term "${head}"`);
      out.push({ t: 'ident', name: head });
    }
    i += m![0].length;
  }
  return out;
}

// --- evaluation ---------------------------------------------------------------------------------------------

type Scope = Array<Map<string, unknown>>;

function lookupVar(scope: Scope, name: string, line: number): unknown {
  for (let k = scope.length - 1; k >= 0; k--) if (scope[k]!.has(name)) return scope[k]!.get(name);
  throw new TemplateError(`template: template:${line}: undefined variable "${name}"`);
}

/** The value of a field chain that names a key its map lacks; prints as `<undefined>`. */
class Missing {}
const MISSING = Object.freeze(new Missing());

function field(v: unknown, path: string[], line: number): unknown {
  let cur = v;
  for (const p of path) {
    if (cur === MISSING) return MISSING;
    if (cur !== null && typeof cur === 'object' && !Array.isArray(cur)) {
      if (!Object.prototype.hasOwnProperty.call(cur, p)) return MISSING;
      cur = (cur as Record<string, unknown>)[p];
    } else if (cur === null || cur === undefined) return undefined;
    else throw new TemplateError(`template: template:${line}: executing "template" at <.${path.join('.')}>: can't evaluate field ${p} in type ${goType(cur)}`);
  }
  return cur;
}

function goType(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number' || typeof v === 'bigint') return 'json.Number';
  if (Array.isArray(v)) return '[]interface {}';
  return 'map[string]interface {}';
}

function truth(v: unknown): boolean {
  if (v === MISSING) return false;
  if (v === null || v === undefined || v === false || v === '' || v === 0 || v === 0n) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

/** fmt's %v of JSON-decoded data. */
function show(v: unknown): string {
  if (v === MISSING) return '<undefined>';
  if (v === null || v === undefined) return '<no value>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return '[' + v.map(showInner).join(' ') + ']';
  const o = v as Record<string, unknown>;
  return 'map[' + Object.keys(o).sort().map((k) => `${k}:${showInner(o[k])}`).join(' ') + ']';
}

function showInner(v: unknown): string {
  return v === null || v === undefined ? '<nil>' : show(v);
}

function toRego(v: unknown): Value {
  if (v === MISSING) return '<undefined>';
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'bigint') return v;
  if (Array.isArray(v)) return v.map(toRego);
  const o = new RObject();
  for (const [k, x] of Object.entries(v as object)) o.set(k, toRego(x));
  return o;
}

function cmp(a: unknown, b: unknown, line: number): number {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) return Number(a) < Number(b) ? -1 : Number(a) > Number(b) ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return a === b ? 0 : 1;
  throw new TemplateError(`template: template:${line}: incompatible types for comparison`);
}

function htmlEscape(s: string): string {
  return s.replace(/[&'<>"\u0000]/g, (c) => ({ '&': '&amp;', "'": '&#39;', '<': '&lt;', '>': '&gt;', '"': '&#34;', '\u0000': '\uFFFD' })[c]!);
}

function jsEscape(s: string): string {
  return s.replace(/[\\'"<>&=\u0000-\u001f]/g, (c) => {
    const map: Record<string, string> = { '\\': '\\\\', "'": "\\'", '"': '\\"', '<': '\\u003C', '>': '\\u003E', '&': '\\u0026', '=': '\\u003D' };
    return map[c] ?? `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  });
}

class Exec {
  constructor(private readonly line: number) {}

  fail(m: string): never {
    throw new TemplateError(`template: template:${this.line}: ${m}`);
  }

  /** Evaluates a pipeline token list (commands separated by `|`). */
  pipeline(toks: Tok[], dot: unknown, scope: Scope): unknown {
    const cmds: Tok[][] = [[]];
    let depth = 0;
    for (const t of toks) {
      if (t.t === 'punct' && t.p === '(') depth++;
      if (t.t === 'punct' && t.p === ')') depth--;
      if (t.t === 'punct' && t.p === '|' && depth === 0) cmds.push([]);
      else cmds[cmds.length - 1]!.push(t);
    }
    let prev: unknown;
    let has = false;
    for (const c of cmds) {
      if (c.length === 0) this.fail('missing command');
      prev = this.command(c, dot, scope, has ? [prev] : []);
      has = true;
    }
    return prev;
  }

  private operands(toks: Tok[], dot: unknown, scope: Scope): unknown[] {
    const out: unknown[] = [];
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i]!;
      if (t.t === 'punct' && t.p === '(') {
        let depth = 1;
        let j = i + 1;
        for (; j < toks.length && depth > 0; j++) {
          const u = toks[j]!;
          if (u.t === 'punct' && u.p === '(') depth++;
          if (u.t === 'punct' && u.p === ')') depth--;
        }
        if (depth !== 0) this.fail('unclosed left paren');
        out.push(this.pipeline(toks.slice(i + 1, j - 1), dot, scope));
        i = j - 1;
      } else out.push(this.term(t, dot, scope));
    }
    return out;
  }

  private term(t: Tok, dot: unknown, scope: Scope): unknown {
    switch (t.t) {
      case 'lit':
        return t.v;
      case 'field':
        return field(dot, t.path, this.line);
      case 'var':
        return field(lookupVar(scope, t.name, this.line), t.path, this.line);
      case 'ident':
        this.fail(`function "${t.name}" not defined`);
        break;
      default:
        this.fail(`unexpected "${t.p}" in operand`);
    }
  }

  private command(toks: Tok[], dot: unknown, scope: Scope, piped: unknown[]): unknown {
    const head = toks[0]!;
    if (head.t !== 'ident') {
      if (toks.length > 1 && !(head.t === 'punct' && head.p === '(')) this.fail(`can't give argument to non-function ${JSON.stringify(head)}`);
      if (piped.length > 0) this.fail(`can't give argument to non-function`);
      return this.operands(toks, dot, scope)[0];
    }
    const args = [...this.operands(toks.slice(1), dot, scope), ...piped];
    switch (head.name) {
      case 'and': {
        let v: unknown = true;
        for (const a of args) {
          v = a;
          if (!truth(a)) return a;
        }
        return v;
      }
      case 'or': {
        let v: unknown = false;
        for (const a of args) {
          v = a;
          if (truth(a)) return a;
        }
        return v;
      }
      case 'not':
        return !truth(args[0]);
      case 'len': {
        const a = args[0];
        if (typeof a === 'string') return Buffer.byteLength(a);
        if (Array.isArray(a)) return a.length;
        if (a !== null && typeof a === 'object') return Object.keys(a).length;
        return this.fail(`error calling len: len of type ${goType(a)}`);
      }
      case 'index': {
        let cur = args[0];
        for (const k of args.slice(1)) {
          if (Array.isArray(cur) && typeof k === 'number') {
            if (k < 0 || k >= cur.length) this.fail(`error calling index: index out of range: ${k}`);
            cur = cur[k];
          } else if (cur !== null && typeof cur === 'object' && typeof k === 'string') cur = (cur as Record<string, unknown>)[k];
          else this.fail('error calling index: cannot index');
        }
        return cur;
      }
      case 'print':
        return args.map((a, i) => (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string' ? ' ' : '') + show(a)).join('');
      case 'println':
        return args.map(show).join(' ') + '\n';
      case 'printf': {
        const [f, ...rest] = args;
        if (typeof f !== 'string') this.fail('printf: format must be a string');
        return goSprintf(f as string, rest.map((x) => toGoArg(toRego(x))));
      }
      case 'eq':
        if (args.length < 2) this.fail('missing argument for comparison');
        return args.slice(1).some((b) => cmp(args[0], b, this.line) === 0);
      case 'ne':
        return cmp(args[0], args[1], this.line) !== 0;
      case 'lt':
        return cmp(args[0], args[1], this.line) < 0;
      case 'le':
        return cmp(args[0], args[1], this.line) <= 0;
      case 'gt':
        return cmp(args[0], args[1], this.line) > 0;
      case 'ge':
        return cmp(args[0], args[1], this.line) >= 0;
      case 'html':
        return htmlEscape(args.map(show).join(''));
      case 'js':
        return jsEscape(args.map(show).join(''));
      case 'urlquery':
        return queryEscape(args.map(show).join(''));
      default:
        return this.fail(`function "${head.name}" not defined`);
    }
  }
}

// --- control structure ----------------------------------------------------------------------------------------

type Node =
  | { k: 'text'; text: string }
  | { k: 'out'; toks: Tok[]; line: number; decl?: { names: string[]; assign: boolean } }
  | { k: 'if' | 'with'; toks: Tok[]; line: number; then: Node[]; else: Node[] }
  | { k: 'range'; toks: Tok[]; line: number; vars: string[]; body: Node[]; else: Node[] };

function parseTemplate(tpl: string): Node[] {
  const its = items(tpl);
  let pos = 0;
  // `{{if a}}…{{else if b}}…{{else}}…{{end}}`: the chain shares one {{end}}, so the nested node consumes it.
  const cond = (word: 'if' | 'with', toks: Tok[], line: number): Node => {
    const [thenB, term] = block(['end', 'else']);
    let elseB: Node[] = [];
    if (term.startsWith('else')) {
      const m = /^(if|with)\s+([\s\S]*)$/.exec(term.slice(4).trim());
      if (m) elseB = [cond(m[1] as 'if' | 'with', lexExpr(m[2]!, line), line)];
      else [elseB] = block(['end']);
    }
    return { k: word, toks, line, then: thenB, else: elseB };
  };
  const block = (endOn: string[]): [Node[], string, Item | undefined] => {
    const out: Node[] = [];
    while (pos < its.length) {
      const it = its[pos++]!;
      if (it.kind === 'text') {
        out.push({ k: 'text', text: it.text });
        continue;
      }
      const src = it.src;
      if (src.startsWith('/*')) continue;
      const word = /^[a-z]+/.exec(src)?.[0] ?? '';
      const rest = src.slice(word.length).trim();
      if (word === 'end' || word === 'else') {
        if (!endOn.includes(word)) throw new TemplateError(`template: template:${it.line}: unexpected {{${word}}}`);
        return [out, src, it];
      }
      if (word === 'if' || word === 'with') {
        out.push(cond(word, lexExpr(rest, it.line), it.line));
        continue;
      }
      if (word === 'range') {
        const m = /^(\$[A-Za-z0-9_]*)(?:\s*,\s*(\$[A-Za-z0-9_]*))?\s*:=\s*/.exec(rest);
        const vars = m ? [m[1]!, ...(m[2] ? [m[2]] : [])] : [];
        const toks = lexExpr(m ? rest.slice(m[0].length) : rest, it.line);
        const [body, term] = block(['end', 'else']);
        let elseB: Node[] = [];
        if (term.startsWith('else')) [elseB] = block(['end']);
        out.push({ k: 'range', toks, line: it.line, vars, body, else: elseB });
        continue;
      }
      if (['define', 'template', 'block', 'break', 'continue'].includes(word)) {
        throw new TemplateError(`template: template:${it.line}: {{${word}}} is not supported`);
      }
      const decl = /^(\$[A-Za-z0-9_]*)\s*(:=|=)\s*/.exec(src);
      if (decl) out.push({ k: 'out', toks: lexExpr(src.slice(decl[0].length), it.line), line: it.line, decl: { names: [decl[1]!], assign: decl[2] === '=' } });
      else out.push({ k: 'out', toks: lexExpr(src, it.line), line: it.line });
    }
    if (endOn.length > 0) throw new TemplateError('template: template: unexpected EOF');
    return [out, '', undefined];
  };
  const [nodes] = block([]);
  return nodes;
}

function run(nodes: Node[], dot: unknown, scope: Scope, out: string[]): void {
  for (const n of nodes) {
    switch (n.k) {
      case 'text':
        out.push(n.text);
        break;
      case 'out': {
        const v = new Exec(n.line).pipeline(n.toks, dot, scope);
        if (n.decl) {
          const name = n.decl.names[0]!;
          if (n.decl.assign) {
            let done = false;
            for (let k = scope.length - 1; k >= 0 && !done; k--) {
              if (scope[k]!.has(name)) {
                scope[k]!.set(name, v);
                done = true;
              }
            }
            if (!done) throw new TemplateError(`template: template:${n.line}: undefined variable "${name}"`);
          } else scope[scope.length - 1]!.set(name, v);
        } else out.push(show(v));
        break;
      }
      case 'if':
      case 'with': {
        const v = new Exec(n.line).pipeline(n.toks, dot, scope);
        scope.push(new Map());
        if (truth(v)) run(n.then, n.k === 'with' ? v : dot, scope, out);
        else run(n.else, dot, scope, out);
        scope.pop();
        break;
      }
      case 'range': {
        const v = new Exec(n.line).pipeline(n.toks, dot, scope);
        let entries: Array<[unknown, unknown]>;
        if (Array.isArray(v)) entries = v.map((x, i) => [i, x]);
        else if (v !== null && typeof v === 'object') entries = Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]);
        else if (typeof v === 'number' && Number.isInteger(v)) entries = Array.from({ length: Math.max(0, v) }, (_x, i) => [i, i]);
        else if (v === null || v === undefined) entries = [];
        else throw new TemplateError(`template: template:${n.line}: range can't iterate over ${show(v)}`);
        if (entries.length === 0) {
          run(n.else, dot, scope, out);
          break;
        }
        for (const [k, x] of entries) {
          const frame = new Map<string, unknown>();
          if (n.vars.length === 1) frame.set(n.vars[0]!, x);
          if (n.vars.length === 2) {
            frame.set(n.vars[0]!, k);
            frame.set(n.vars[1]!, x);
          }
          scope.push(frame);
          run(n.body, x, scope, out);
          scope.pop();
        }
        break;
      }
    }
  }
}

/** Rego value → the JSON data text/template sees (numbers stay numbers; sets become arrays). */
function toData(v: Value): unknown {
  if (isNumber(v)) return typeof v === 'bigint' ? Number(v) : v;
  if (Array.isArray(v)) return v.map(toData);
  if (isSet(v)) return v.values().map(toData);
  if (isObject(v)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v.entries()) o[typeof k === 'string' ? k : toJsonText(k)] = toData(x);
    return o;
  }
  return v;
}

export function renderTemplate(tpl: string, vars: Value): string {
  const nodes = parseTemplate(tpl);
  const out: string[] = [];
  const data = toData(vars);
  run(nodes, data, [new Map([['$', data]])], out);
  return out.join('');
}

export const builtins: BuiltinDef[] = [
  {
    name: 'strings.render_template',
    arity: 2,
    fn: (a) => {
      const tpl = argString('strings.render_template', a, 0);
      const vars = argObject('strings.render_template', a, 1);
      try {
        return renderTemplate(tpl, vars);
      } catch (e) {
        if (e instanceof TemplateError) throw builtinError('strings.render_template', e.message);
        throw e;
      }
    },
  },
];

