/**
 * RFC 6902 JSON Patch over plain JSON values, with RFC 6901 JSON Pointers.
 *
 * This is what the Kata agent does with the `ops` of an allowed policy decision (specs/rego.md §3.4): the ops
 * are applied to the whole `data` document, which is how `data.pstate` carries state between requests.
 *
 * - Values are plain JSON (`null`, booleans, numbers — `bigint` accepted for exact large integers —, strings,
 *   arrays, plain objects). The input document is never mutated: the patch runs on a copy and the copy is
 *   returned only when every operation succeeded (RFC 6902 §5: a patch is atomic).
 * - Every failure is a CocoError `REGO_JSON_PATCH` naming the operation index and the pointer involved.
 * - Pointers are strict RFC 6901 (`""` is the whole document, otherwise they start with `/`; `~0` → `~`,
 *   `~1` → `/`, any other `~` escape is an error). Array indices are `0` or digits without a leading zero;
 *   `-` names the position after the last element and is only valid where a value is inserted (RFC 6902 §4.1).
 *
 * - Work is bounded: values nest at most `MAX_PATCH_DEPTH` deep, and one patch copies at most
 *   `MAX_PATCH_NODES` values in total (`add`, `replace` and `copy` values), so a short patch cannot grow the
 *   document exponentially (each `copy` of the root doubles it). Beyond either bound the patch fails with a
 *   CocoError of kind `limit`.
 *
 * The `json.patch` Rego builtin (builtins/objects.ts) shares the pointer-token rules below; it keeps OPA's
 * leniencies (optional leading `/`, array-of-segment paths, sets) and turns failures into an undefined call.
 */
import { CocoError } from '../errors.js';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: JsonValue;
  from?: string;
}

const INDEX = /^(0|[1-9][0-9]*)$/;

/** Unescapes one reference token in RFC 6901 §4's order (`~1` first, then `~0`, so `~01` is `~1`). */
export function unescapePointerToken(token: string): string {
  return token.replaceAll('~1', '/').replaceAll('~0', '~');
}

/** Decodes one reference token; null when it holds a `~` not followed by `0` or `1`. */
export function decodePointerToken(token: string): string | null {
  if (/~(?![01])/.test(token)) return null;
  return unescapePointerToken(token);
}

/** Encodes a key as a reference token (`~` → `~0`, `/` → `~1`). */
export function encodePointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Whether a token is an RFC 6901 array index (`0`, or digits with no leading zero). */
export function isArrayIndexToken(token: string): boolean {
  return INDEX.test(token);
}

/** Deepest nesting of arrays and objects a patch operates on. */
export const MAX_PATCH_DEPTH = 1000;
/** Values one patch may copy, summed over its operations. */
export const MAX_PATCH_NODES = 200_000;

class Failure extends Error {}
class LimitFailure extends Failure {}

/** Remaining copy work of one patch. */
interface Budget {
  nodes: number;
}

/** Splits an RFC 6901 pointer into decoded tokens. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Failure(`pointer ${JSON.stringify(pointer)} must be empty or start with '/'`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => {
      const d = decodePointerToken(t);
      if (d === null) throw new Failure(`pointer ${JSON.stringify(pointer)} has an invalid '~' escape`);
      return d;
    });
}

type Container = JsonValue[] | { [key: string]: JsonValue };

function isPlainObject(v: unknown): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A deep copy that also validates that `v` is JSON (own enumerable keys only; no functions, undefined, NaN).
 * Each copied value spends one unit of `budget`; nesting deeper than `MAX_PATCH_DEPTH` fails.
 */
function clone(v: unknown, where: string, budget: Budget, depth = 0): JsonValue {
  if (--budget.nodes < 0) throw new LimitFailure(`the patch copies more than ${MAX_PATCH_NODES} values`);
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return v;
    case 'number':
      if (!Number.isFinite(v)) throw new Failure(`${where} is not a JSON number (${String(v)})`);
      return v;
    case 'object': {
      if (v === null) return null;
      if (depth >= MAX_PATCH_DEPTH) throw new LimitFailure(`${where} nests deeper than ${MAX_PATCH_DEPTH}`);
      if (Array.isArray(v)) return v.map((x, i) => clone(x, `${where}/${i}`, budget, depth + 1));
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new Failure(`${where} is not a plain JSON object`);
      const out: { [key: string]: JsonValue } = {};
      for (const k of Object.keys(v)) setOwn(out, k, clone((v as Record<string, unknown>)[k], `${where}/${encodePointerToken(k)}`, budget, depth + 1));
      return out;
    }
    default:
      throw new Failure(`${where} is not a JSON value (${typeof v})`);
  }
}

/** Own data property, so that a key such as `__proto__` is stored as a member rather than changing the prototype. */
function setOwn(o: { [key: string]: JsonValue }, k: string, v: JsonValue): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

/**
 * Deep JSON equality (RFC 6902 §4.6): object member order does not matter; 1 and 1n are equal numbers.
 * Values nesting deeper than `MAX_PATCH_DEPTH` on both sides fail with a CocoError of kind `limit`.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  try {
    return equalAt(a, b, 0);
  } catch (e) {
    if (e instanceof LimitFailure) throw new CocoError('REGO_JSON_PATCH', e.message, { kind: 'limit', cause: e });
    throw e;
  }
}

function equalAt(a: unknown, b: unknown, depth: number): boolean {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    return a == b;
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (depth >= MAX_PATCH_DEPTH) throw new LimitFailure(`compared values nest deeper than ${MAX_PATCH_DEPTH}`);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => equalAt(x, b[i], depth + 1));
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => hasOwn(b, k) && equalAt((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], depth + 1));
}

/** The container holding the last token of `tokens`, walking from `doc`. */
function parentOf(doc: JsonValue, tokens: string[], pointer: string): Container {
  let cur: JsonValue = doc;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i]!;
    if (Array.isArray(cur)) {
      if (!isArrayIndexToken(t) || Number(t) >= cur.length) throw new Failure(`path ${pointer}: no array element ${t}`);
      cur = cur[Number(t)]!;
    } else if (isPlainObject(cur)) {
      if (!hasOwn(cur, t)) throw new Failure(`path ${pointer}: no member ${JSON.stringify(t)}`);
      cur = cur[t]!;
    } else throw new Failure(`path ${pointer}: cannot descend into a ${cur === null ? 'null' : typeof cur}`);
  }
  if (Array.isArray(cur) || isPlainObject(cur)) return cur;
  throw new Failure(`path ${pointer}: parent is not an object or array`);
}

function getAt(doc: JsonValue, tokens: string[], pointer: string): JsonValue {
  if (tokens.length === 0) return doc;
  const parent = parentOf(doc, tokens, pointer);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    if (!isArrayIndexToken(last) || Number(last) >= parent.length) throw new Failure(`path ${pointer}: no array element ${last}`);
    return parent[Number(last)]!;
  }
  if (!hasOwn(parent, last)) throw new Failure(`path ${pointer}: no member ${JSON.stringify(last)}`);
  return parent[last]!;
}

/** RFC 6902 §4.1; returns the new root. */
function addAt(doc: JsonValue, tokens: string[], pointer: string, value: JsonValue): JsonValue {
  if (tokens.length === 0) return value;
  const parent = parentOf(doc, tokens, pointer);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : isArrayIndexToken(last) ? Number(last) : -1;
    if (i < 0 || i > parent.length) throw new Failure(`path ${pointer}: array index ${last} out of bounds (length ${parent.length})`);
    parent.splice(i, 0, value);
  } else setOwn(parent, last, value);
  return doc;
}

/** RFC 6902 §4.2; returns the removed value. */
function removeAt(doc: JsonValue, tokens: string[], pointer: string): JsonValue {
  if (tokens.length === 0) throw new Failure('cannot remove the whole document');
  const parent = parentOf(doc, tokens, pointer);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    if (!isArrayIndexToken(last) || Number(last) >= parent.length) throw new Failure(`path ${pointer}: no array element ${last}`);
    return parent.splice(Number(last), 1)[0]!;
  }
  if (!hasOwn(parent, last)) throw new Failure(`path ${pointer}: no member ${JSON.stringify(last)}`);
  const v = parent[last]!;
  delete parent[last];
  return v;
}

function field(op: Record<string, unknown>, name: string): unknown {
  if (!hasOwn(op, name)) throw new Failure(`missing "${name}"`);
  return op[name];
}

function pointerField(op: Record<string, unknown>, name: 'path' | 'from'): string {
  const v = field(op, name);
  if (typeof v !== 'string') throw new Failure(`"${name}" must be a string`);
  return v;
}

/**
 * Applies an RFC 6902 patch and returns the patched document. `doc` is not modified; on any failure nothing
 * is returned and a CocoError `REGO_JSON_PATCH` (kind `input`) says which operation failed and why, with
 * `detail: { index, op, path }`.
 */
export function applyJsonPatch(doc: unknown, ops: unknown): JsonValue {
  let root: JsonValue;
  try {
    // The document is the caller's own data: its copy is depth-bounded but not charged to the patch.
    root = clone(doc, 'document', { nodes: Number.POSITIVE_INFINITY });
  } catch (e) {
    throw new CocoError('REGO_JSON_PATCH', `JSON patch target: ${(e as Error).message}`, { kind: e instanceof LimitFailure ? 'limit' : 'input', cause: e });
  }
  const budget: Budget = { nodes: MAX_PATCH_NODES };
  if (!Array.isArray(ops)) throw new CocoError('REGO_JSON_PATCH', `a JSON patch must be an array of operations, got ${ops === null ? 'null' : typeof ops}`, { kind: 'input' });
  for (let index = 0; index < ops.length; index++) {
    const raw: unknown = ops[index];
    let opName: unknown;
    let path: unknown;
    try {
      if (!isPlainObject(raw)) throw new Failure('an operation must be a JSON object');
      const op = raw as Record<string, unknown>;
      opName = op.op;
      path = op.path;
      if (!hasOwn(op, 'op') || typeof opName !== 'string') throw new Failure('"op" must be a string');
      const pathText = pointerField(op, 'path');
      const tokens = parsePointer(pathText);
      switch (opName) {
        case 'add':
          root = addAt(root, tokens, pathText, clone(field(op, 'value'), 'value', budget));
          break;
        case 'remove':
          removeAt(root, tokens, pathText);
          break;
        case 'replace': {
          const value = clone(field(op, 'value'), 'value', budget);
          if (tokens.length === 0) root = value;
          else {
            removeAt(root, tokens, pathText);
            root = addAt(root, tokens, pathText, value);
          }
          break;
        }
        case 'move': {
          const fromText = pointerField(op, 'from');
          const from = parsePointer(fromText);
          // RFC 6902 §4.4: a location cannot be moved into one of its children.
          if (from.length < tokens.length && from.every((t, i) => tokens[i] === t)) {
            throw new Failure(`cannot move ${fromText} into its own child ${pathText}`);
          }
          if (from.length === tokens.length && from.every((t, i) => tokens[i] === t)) {
            getAt(root, from, fromText); // moving a value onto itself: it must exist, nothing changes
            break;
          }
          const v = removeAt(root, from, fromText);
          root = addAt(root, tokens, pathText, v);
          break;
        }
        case 'copy': {
          const fromText = pointerField(op, 'from');
          const v = clone(getAt(root, parsePointer(fromText), fromText), 'from', budget);
          root = addAt(root, tokens, pathText, v);
          break;
        }
        case 'test': {
          const expected = field(op, 'value');
          const actual = getAt(root, tokens, pathText);
          if (!equalAt(actual, expected, 0)) throw new Failure(`test failed: ${pathText} is ${short(actual)}, expected ${short(expected)}`);
          break;
        }
        default:
          throw new Failure(`unknown op ${JSON.stringify(opName)}`);
      }
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      const shownOp = typeof opName === 'string' ? opName : '?';
      const shownPath = typeof path === 'string' ? path : '?';
      throw new CocoError('REGO_JSON_PATCH', `JSON patch operation ${index} (${shownOp} ${shownPath}): ${e.message}`, {
        kind: e instanceof LimitFailure ? 'limit' : 'input',
        detail: { index, op: shownOp, path: shownPath },
      });
    }
  }
  return root;
}

function short(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v);
  } catch {
    s = Array.isArray(v) ? 'an array' : typeof v; // too deep (or cyclic) to show
  }
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}
