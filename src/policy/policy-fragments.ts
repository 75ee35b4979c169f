/**
 * Shared fragments of an agent policy's `policy_data`.
 *
 * A pod's containers repeat much of their expected OCI spec (mounts, env, capability sets, storages). The
 * policy text names each JSON object or array that occurs more than once (and is worth naming) as a Rego
 * constant `policy_fragment_N := <JSON>` and writes `policy_data` with those names in its place: a Rego
 * composite literal may refer to another rule, so `policy_data` takes exactly the value it had, and the rules
 * that read it decide identically. {@link readPolicyDataDocument} reads both forms back: plain JSON and JSON
 * with fragment names.
 */
import { CocoError } from '../errors.js';

/** The serialised size (in JSON characters) below which a repeated value is left inline. */
export const MIN_FRAGMENT_BYTES = 64;

/** Name prefix of the fragment constants. */
export const FRAGMENT_PREFIX = 'policy_fragment_';

/** Most nodes (objects, arrays, scalars) a document may expand to once its fragments are substituted. */
export const MAX_EXPANDED_NODES = 4_000_000;

/** Deepest nesting of arrays and objects the reader accepts. */
export const MAX_DEPTH = 256;

class Ref {
  constructor(
    readonly id: number,
    readonly at = 0,
  ) {}
}

type Node = null | boolean | number | string | Ref | Node[] | { [k: string]: Node };

/** A document split into named fragments and a body that refers to them (Rego text for each). */
export interface FragmentedDocument {
  /** `[name, JSON-with-names text]` in an order where each is defined after the fragments it names. */
  fragments: [string, string][];
  /** The document's text, naming fragments. */
  body: string;
}

function isComposite(n: Node): n is Node[] | { [k: string]: Node } {
  return n !== null && typeof n === 'object' && !(n instanceof Ref);
}

/**
 * Splits a JSON value into fragments: repeatedly, the largest object or array (by its serialised size, at
 * least `minBytes`) that occurs two or more times becomes a fragment and every occurrence names it; nested
 * repeats inside a fragment are then counted once. Names and order are deterministic for a given value.
 */
export function fragmentJson(value: unknown, minBytes = MIN_FRAGMENT_BYTES): FragmentedDocument {
  const root = JSON.parse(JSON.stringify(value)) as Node;
  const bodies: Node[] = []; // fragment id -> its body (which may name other fragments)
  const refName = (r: Ref): string => `\u0000${r.id}\u0000`; // internal, replaced by the final names
  for (;;) {
    const ser = new Map<object, string>();
    const counts = new Map<string, { count: number; first: number }>();
    let order = 0;
    const walk = (n: Node, isRoot: boolean): string => {
      if (n instanceof Ref) return refName(n);
      if (!isComposite(n)) return JSON.stringify(n);
      const s = Array.isArray(n) ? `[${n.map((c) => walk(c, false)).join(',')}]` : `{${Object.entries(n).map(([k, v]) => `${JSON.stringify(k)}:${walk(v, false)}`).join(',')}}`;
      ser.set(n, s);
      if (!isRoot && s.length >= minBytes) {
        const c = counts.get(s);
        if (c) c.count++;
        else counts.set(s, { count: 1, first: order++ });
      }
      return s;
    };
    walk(root, true);
    for (const b of bodies) walk(b, true);
    let best: string | undefined;
    let bestFirst = Infinity;
    for (const [s, c] of counts) {
      if (c.count < 2) continue;
      if (best === undefined || s.length > best.length || (s.length === best.length && c.first < bestFirst)) {
        best = s;
        bestFirst = c.first;
      }
    }
    if (best === undefined) break;
    const ref = new Ref(bodies.length);
    let body: Node | undefined;
    const replace = (n: Node): void => {
      if (!isComposite(n)) return;
      const entries: [string | number, Node][] = Array.isArray(n) ? n.map((c, i) => [i, c]) : Object.entries(n);
      for (const [k, c] of entries) {
        if (isComposite(c) && ser.get(c) === best) {
          body ??= c;
          (n as Record<string | number, Node>)[k] = ref;
        } else {
          replace(c);
        }
      }
    };
    replace(root);
    for (const b of [...bodies]) replace(b);
    bodies.push(body!);
  }
  // Names in order of first use, each fragment after those it names.
  const names = new Map<number, string>();
  const fragments: [string, string][] = [];
  const text = (n: Node): string => {
    if (n instanceof Ref) return define(n.id);
    if (!isComposite(n)) return JSON.stringify(n);
    return Array.isArray(n) ? `[${n.map(text).join(',')}]` : `{${Object.entries(n).map(([k, v]) => `${JSON.stringify(k)}:${text(v)}`).join(',')}}`;
  };
  const define = (id: number): string => {
    const known = names.get(id);
    if (known !== undefined) return known;
    const t = text(bodies[id]!);
    const name = `${FRAGMENT_PREFIX}${fragments.length + 1}`;
    names.set(id, name);
    fragments.push([name, t]);
    return name;
  };
  const body = text(root);
  return { fragments, body };
}

// --- Reading ------------------------------------------------------------------------------------------------

function fail(what: string, message: string): never {
  throw new CocoError('AGENT_POLICY_DATA', `${what}: ${message}`, { kind: 'input' });
}

const WS = /[ \t\r\n]*/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;

interface Parsed {
  node: Node;
  end: number;
}

/**
 * Parses one JSON value at `start`, where bare identifiers other than true/false/null are fragment names
 * (looked up in `ids`, which assigns them numbers; they are resolved later).
 */
function parseValue(text: string, start: number, what: string, ids: (name: string, at: number) => number): Parsed {
  let pos = start;
  const ws = (): void => {
    WS.lastIndex = pos;
    WS.exec(text);
    pos = WS.lastIndex;
  };
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    pos = re.lastIndex;
    return m[0];
  };
  const where = (): string => (pos >= text.length ? 'the text ends' : `unexpected ${JSON.stringify(text.slice(pos, pos + 12))} at offset ${pos}`);
  const value = (depth: number): Node => {
    if (depth > MAX_DEPTH) fail(what, `nested deeper than ${MAX_DEPTH} levels`);
    ws();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: { [k: string]: Node } = {};
      ws();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        ws();
        const key = match(STRING);
        if (key === undefined) fail(what, `expected an object key: ${where()}`);
        ws();
        if (text[pos] !== ':') fail(what, `expected ':': ${where()}`);
        pos++;
        Object.defineProperty(obj, JSON.parse(key) as string, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[pos] === ',') pos++;
        else if (text[pos] === '}') {
          pos++;
          return obj;
        } else fail(what, `expected ',' or '}': ${where()}`);
      }
    }
    if (c === '[') {
      pos++;
      const arr: Node[] = [];
      ws();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[pos] === ',') pos++;
        else if (text[pos] === ']') {
          pos++;
          return arr;
        } else fail(what, `expected ',' or ']': ${where()}`);
      }
    }
    if (c === '"') {
      const s = match(STRING);
      if (s === undefined) fail(what, `malformed string at offset ${pos}`);
      return JSON.parse(s) as string;
    }
    const n = match(NUMBER);
    if (n !== undefined) return Number(n);
    const at = pos;
    const id = match(IDENT);
    if (id === 'true') return true;
    if (id === 'false') return false;
    if (id === 'null') return null;
    if (id !== undefined) return new Ref(ids(id, at), at);
    return fail(what, `expected a value: ${where()}`);
  };
  const node = value(0);
  return { node, end: pos };
}

const FRAGMENT_DEF = new RegExp(`^(${FRAGMENT_PREFIX}[0-9]+)[ \\t]*:?=[ \\t]*`, 'gm');
const POLICY_DATA_DEF = /^policy_data\s*:?=\s*/m;

/**
 * The `policy_data` document of a policy text, with any `policy_fragment_N` constants before it substituted.
 * Unknown names, fragments that name themselves through others, duplicate definitions, trailing text and
 * garbled JSON are input errors.
 */
export function readPolicyDataDocument(policyText: string): unknown {
  const m = POLICY_DATA_DEF.exec(policyText);
  if (!m) throw new CocoError('AGENT_POLICY_DATA', 'the policy has no "policy_data :=" document', { kind: 'input' });
  const names: string[] = [];
  const byName = new Map<string, number>();
  const idOf = (name: string): number => {
    let id = byName.get(name);
    if (id === undefined) {
      id = names.length;
      names.push(name);
      byName.set(name, id);
    }
    return id;
  };
  const bodies = new Map<number, Node>();
  const head = policyText.slice(0, m.index);
  for (const d of head.matchAll(FRAGMENT_DEF)) {
    const name = d[1]!;
    const id = idOf(name);
    if (bodies.has(id)) fail(name, 'defined twice');
    const { node, end } = parseValue(policyText, d.index + d[0].length, name, idOf);
    const nl = policyText.indexOf('\n', end);
    if (policyText.slice(end, nl === -1 ? policyText.length : nl).trim() !== '') fail(name, `unexpected text after the value at offset ${end}`);
    bodies.set(id, node);
  }
  const { node: root, end } = parseValue(policyText, m.index + m[0].length, 'policy_data', idOf);
  if (policyText.slice(end).trim() !== '') fail('policy_data', `unexpected text after the document at offset ${end}`);

  // Expanded sizes (bounding what substitution may build) with cycle and unknown-name checks.
  const sizes = new Map<number, number>();
  const visiting = new Set<number>();
  const sizeOf = (n: Node, owner: string): number => {
    if (n instanceof Ref) return fragmentSize(n, owner);
    if (!isComposite(n)) return 1;
    let total = 1;
    for (const c of Array.isArray(n) ? n : Object.values(n)) {
      total += sizeOf(c, owner);
      if (total > MAX_EXPANDED_NODES) fail(owner, `expands to more than ${MAX_EXPANDED_NODES} values`);
    }
    return total;
  };
  const fragmentSize = (r: Ref, owner: string): number => {
    const known = sizes.get(r.id);
    if (known !== undefined) return known;
    const name = names[r.id]!;
    const body = bodies.get(r.id);
    if (body === undefined) fail(owner, `names ${name} at offset ${r.at}, which the policy does not define before policy_data`);
    if (visiting.has(r.id)) fail(name, `refers to itself through ${[...visiting].map((i) => names[i]).join(' -> ')} -> ${name}`);
    visiting.add(r.id);
    const s = sizeOf(body, name);
    visiting.delete(r.id);
    sizes.set(r.id, s);
    return s;
  };
  for (const id of bodies.keys()) fragmentSize(new Ref(id), names[id]!);
  sizeOf(root, 'policy_data');

  const build = (n: Node): unknown => {
    if (n instanceof Ref) return build(bodies.get(n.id)!);
    if (!isComposite(n)) return n;
    if (Array.isArray(n)) return n.map(build);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(n)) Object.defineProperty(out, k, { value: build(v), enumerable: true, writable: true, configurable: true });
    return out;
  };
  return build(root);
}
