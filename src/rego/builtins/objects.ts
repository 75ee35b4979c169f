/**
 * `object.*` and the path-based `json.filter` / `json.remove` / `json.patch` (opa:v1/topdown/object.go,
 * subset.go, json.go; ast `Object.Filter`; internal/edittree for patches).
 *
 * Paths for the `json.*` builtins are either `/`-separated strings (JSON-pointer escapes `~1`, `~0`; a leading
 * `/` is optional) or arrays of segments. A string segment indexes an array when it is a decimal index, as in
 * OPA where `a/0/b` is `{"a": {"0": {"b": null}}}` after `pathsToObject`.
 */
import { type Value, RObject, RSet, compare, equal, isInteger, isNumber, isObject, isSet, literalText, toBigInt, toRegoString, typeName } from '../value.js';
import { type BuiltinDef, BuiltinError, argArray, argObject, builtinError, typeErrorOneOf } from './registry.js';
import { elementError } from './aggregates.js';
import { unescapePointerToken } from '../json-patch.js';

/** Keys named by an array, set or object (its keys) — getObjectKeysParam. */
function keysParam(name: string, v: Value): RSet {
  if (Array.isArray(v)) return RSet.from(v);
  if (isSet(v)) return v;
  if (isObject(v)) return RSet.from(v.keys());
  throw typeErrorOneOf(name, 2, ['object', 'set', 'array'], v);
}

/** ast.Object.Filter: keep what the filter tree names; `null` leaves keep the whole subtree. */
function filterValue(v: Value, filter: Value): Value {
  if (filter === null) return v;
  if (!isObject(filter)) throw new BuiltinError('eval_builtin_error', `invalid filter value, expected an object`);
  if (Array.isArray(v)) {
    const out: Value[] = [];
    for (let i = 0; i < v.length; i++) {
      const sub = filter.get(String(i));
      if (sub !== undefined) out.push(filterValue(v[i]!, sub));
    }
    return out;
  }
  if (isSet(v)) {
    const out = new RSet();
    for (const x of v.values()) {
      const sub = filter.get(x);
      if (sub !== undefined) out.add(filterValue(x, sub));
    }
    return out;
  }
  if (isObject(v)) {
    const out = new RObject();
    for (const [k, x] of v.entries()) {
      const sub = filter.get(k);
      if (sub !== undefined) out.set(k, filterValue(x, sub));
    }
    return out;
  }
  return v;
}

// --- object.union / union_n --------------------------------------------------------------------------

function mergeWithOverwrite(a: RObject, b: RObject): RObject {
  const out = a.copy();
  for (const [k, v2] of b.unorderedEntries()) {
    const v1 = out.get(k);
    if (v1 !== undefined && isObject(v1) && isObject(v2)) out.set(k, mergeWithOverwrite(v1, v2));
    else out.set(k, v2);
  }
  return out;
}

// --- object.subset ------------------------------------------------------------------------------------

function objectSubset(sup: RObject, sub: RObject): boolean {
  for (const [k, sv] of sub.unorderedEntries()) {
    const pv = sup.get(k);
    if (pv === undefined) return false;
    if (equal(sv, pv)) continue;
    if (isObject(pv) && isObject(sv)) {
      if (!objectSubset(pv, sv)) return false;
    } else if (isSet(pv) && isSet(sv)) {
      if (!setSubset(pv, sv)) return false;
    } else if (Array.isArray(pv) && Array.isArray(sv)) {
      if (!arraySubset(pv, sv)) return false;
    } else return false;
  }
  return true;
}

function setSubset(sup: RSet, sub: RSet): boolean {
  for (const v of sub.unorderedValues()) if (!sup.has(v)) return false;
  return true;
}

/** `sub` occurs contiguously in `sup` (OPA's naive string search). */
function arraySubset(sup: Value[], sub: Value[]): boolean {
  if (sub.length > sup.length) return false;
  outer: for (let i = 0; i + sub.length <= sup.length; i++) {
    for (let j = 0; j < sub.length; j++) if (compare(sup[i + j]!, sub[j]!) !== 0) continue outer;
    return true;
  }
  return false;
}

/** OPA counts down once per array element found in the set and stops when the count hits exactly zero. */
function arraySetSubset(sup: Value[], sub: RSet): boolean {
  let unmatched = sub.size;
  for (const t of sup) {
    if (sub.has(t)) unmatched--;
    if (unmatched === 0) return true;
  }
  return false;
}

// --- json paths ---------------------------------------------------------------------------------------

function parsePath(name: string, p: Value): Value[] {
  if (typeof p === 'string') {
    if (p === '') return [];
    return p
      .replace(/^\/+/, '')
      .split('/')
      .map(unescapePointerToken);
  }
  if (Array.isArray(p)) return p;
  // OPA's handleBuiltinErr puts the builtin's name before an operand error (topdown/builtins.go).
  throw new BuiltinError(
    'eval_type_error',
    `${name}: operand 2 must be one of {set, array} containing string paths or array of path segments but got ${typeName(p)}`,
  );
}

function jsonPaths(name: string, v: Value): Value[][] {
  if (Array.isArray(v)) return v.map((p) => parsePath(name, p));
  if (isSet(v)) return v.values().map((p) => parsePath(name, p));
  throw typeErrorOneOf(name, 2, ['set', 'array'], v);
}

function pathsToObject(paths: Value[][]): RObject {
  const root = new RObject();
  for (const path of paths) {
    if (path.length === 0) continue;
    let node = root;
    let done = false;
    for (let i = 0; i < path.length - 1 && !done; i++) {
      const child = node.get(path[i]!);
      if (child === undefined) {
        const o = new RObject();
        node.set(path[i]!, o);
        node = o;
      } else if (child === null) done = true;
      else node = child as RObject;
    }
    if (!done) node.set(path[path.length - 1]!, null);
  }
  return root;
}

function jsonRemove(a: Value, b: Value | undefined): Value | undefined {
  if (b === undefined) return a;
  if (b === null) return undefined;
  if (!isObject(b)) return a;
  if (isObject(a)) {
    const out = new RObject();
    for (const [k, v] of a.entries()) {
      const d = jsonRemove(v, b.get(k));
      if (d !== undefined) out.set(k, d);
    }
    return out;
  }
  if (isSet(a)) {
    const out = new RSet();
    for (const v of a.values()) {
      const d = jsonRemove(v, b.get(v));
      if (d !== undefined) out.add(d);
    }
    return out;
  }
  if (Array.isArray(a)) {
    const out: Value[] = [];
    a.forEach((v, i) => {
      const d = jsonRemove(v, b.get(String(i)));
      if (d !== undefined) out.push(d);
    });
    return out;
  }
  return a;
}

// --- json.patch (RFC 6902 over Rego values, sets included) -------------------------------------------
// This variant works on Rego values so that it can also address set members, and keeps OPA's leniencies
// (optional leading '/', array-of-segment paths). A path the document does not have fails with the text of
// OPA's edit tree (internal/edittree: Unfold, Insert, Delete, toIndex), a builtin error — so an undefined
// call outside strict mode, as in OPA.

/** Removing the whole document: OPA renders no value, an undefined call. */
class PatchError extends Error {}

function patchFail(msg: string): BuiltinError {
  return builtinError('json.patch', msg);
}

/** Go's `%T` of an OPA scalar value. */
function goScalarType(v: Value): string {
  if (v === null) return 'ast.Null';
  if (typeof v === 'boolean') return 'ast.Boolean';
  if (typeof v === 'string') return 'ast.String';
  return 'ast.Number';
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** edittree toIndex: a number whose text is an int64, or a string that parses as one (no leading zeros), or "-". */
function toIndex(len: number, seg: Value): number {
  if (isNumber(seg)) {
    if (!isInteger(seg) || literalText(seg) !== undefined) throw patchFail('invalid number type for indexing');
    const b = toBigInt(seg);
    if (b < INT64_MIN || b > INT64_MAX) throw patchFail('invalid number type for indexing');
    return Number(b);
  }
  if (typeof seg === 'string') {
    if (seg === '-') return len;
    if (!/^[+-]?[0-9]+$/.test(seg)) throw patchFail('invalid string for indexing');
    const b = BigInt(seg);
    if (b < INT64_MIN || b > INT64_MAX) throw patchFail('invalid string for indexing');
    if (seg !== '0' && seg.startsWith('0')) throw patchFail('leading zeros are not allowed in JSON paths');
    return Number(b);
  }
  throw patchFail('invalid type for indexing');
}

/** One step of edittree Unfold: the child at `seg`, or OPA's error for a path the value does not have. */
function childAt(cur: Value, seg: Value): Value {
  if (isObject(cur)) {
    const v = cur.get(seg);
    if (v === undefined) throw patchFail(`path ${toRegoString(seg)} does not exist in object term ${toRegoString(cur)}`);
    return v;
  }
  if (isSet(cur)) {
    if (!cur.has(seg)) throw patchFail(`path ${toRegoString(seg)} does not exist in set term ${toRegoString(cur)}`);
    return seg;
  }
  if (Array.isArray(cur)) {
    const i = toIndex(cur.length, seg);
    if (i < 0 || i >= cur.length) throw patchFail(`path ${i} does not exist in array term ${toRegoString(cur)}`);
    return cur[i]!;
  }
  throw patchFail(`expected composite type for path ${toRegoString(seg)}, found value: ${toRegoString(cur)} (type: ${goScalarType(cur)})`);
}

function getAt(doc: Value, path: Value[]): Value {
  let cur = doc;
  for (const seg of path) cur = childAt(cur, seg);
  return cur;
}

/** Returns a copy of `doc` with `f` applied to the container at `path[:-1]` and the last segment. */
function update(doc: Value, path: Value[], f: (parent: Value, last: Value) => Value): Value {
  if (path.length === 1) return f(doc, path[0]!);
  const [seg, ...rest] = path as [Value, ...Value[]];
  const child = childAt(doc, seg);
  if (isObject(doc)) return doc.copy().set(seg, update(child, rest, f));
  if (Array.isArray(doc)) {
    const out = [...doc];
    out[toIndex(doc.length, seg)] = update(child, rest, f);
    return out;
  }
  const set = doc as RSet;
  const nv = update(seg, rest, f);
  const out = RSet.from(set.values().filter((x) => !equal(x, seg)));
  out.add(nv);
  return out;
}

function scalarTarget(x: Value): BuiltinError {
  return patchFail(`expected composite type, found value: ${toRegoString(x)} (type: ${goScalarType(x)})`);
}

function patchAdd(doc: Value, path: Value[], value: Value): Value {
  if (path.length === 0) return value;
  return update(doc, path, (parent, last) => {
    if (isObject(parent)) return parent.copy().set(last, value);
    if (Array.isArray(parent)) {
      const i = toIndex(parent.length, last);
      if (i < 0 || i > parent.length) throw patchFail('index for array insertion out of bounds');
      return [...parent.slice(0, i), value, ...parent.slice(i)];
    }
    if (isSet(parent)) {
      if (!equal(last, value)) throw patchFail(`set key ${toRegoString(last)} does not equal value to be inserted ${toRegoString(value)}`);
      const out = parent.copy();
      out.add(value);
      return out;
    }
    throw scalarTarget(parent);
  });
}

function patchRemove(doc: Value, path: Value[]): Value {
  if (path.length === 0) throw new PatchError('the document was removed');
  return update(doc, path, (parent, last) => {
    if (isObject(parent)) {
      if (!parent.has(last)) throw patchFail(`cannot delete child key ${toRegoString(last)} that does not exist`);
      const out = parent.copy();
      out.delete(last);
      return out;
    }
    if (Array.isArray(parent)) {
      const i = toIndex(parent.length, last);
      if (i < 0 || i > parent.length - 1) throw patchFail('index for array delete out of bounds');
      return [...parent.slice(0, i), ...parent.slice(i + 1)];
    }
    if (isSet(parent)) {
      if (!parent.has(last)) throw patchFail(`cannot delete child key ${toRegoString(last)} that does not exist`);
      return RSet.from(parent.values().filter((x) => !equal(x, last)));
    }
    throw scalarTarget(parent);
  });
}

/**
 * OPA's applyPatches (v1/topdown/json.go): a malformed operation is a builtin error with OPA's text, checked in
 * OPA's order; a path the document does not have is a failed patch (PatchError, an undefined call).
 */
function applyPatches(doc: Value, ops: Value[]): Value {
  const name = 'json.patch';
  let cur = doc;
  for (const opv of ops) {
    if (!isObject(opv)) throw builtinError(name, 'must be an array of JSON-Patch objects, but at least one element is not an object');
    const required = (k: string): Value => {
      const v = opv.getStr(k);
      if (v === undefined) throw builtinError(name, `missing required attribute '${k}'`);
      return v;
    };
    required('path');
    const op = required('op');
    if (typeof op !== 'string') throw builtinError(name, `attribute 'op' must be a string but found: ${typeName(op)}`);
    const path = parsePath(name, required('path'));
    switch (op) {
      case 'add':
        cur = patchAdd(cur, path, required('value'));
        break;
      case 'remove':
        cur = patchRemove(cur, path);
        break;
      case 'replace': {
        const removed = path.length === 0 ? cur : patchRemove(cur, path);
        const value = required('value');
        cur = path.length === 0 ? value : patchAdd(removed, path, value);
        break;
      }
      case 'move': {
        const from = parsePath(name, required('from'));
        const chunk = getAt(cur, from);
        cur = patchAdd(patchRemove(cur, from), path, chunk);
        break;
      }
      case 'copy': {
        const chunk = getAt(cur, parsePath(name, required('from')));
        cur = patchAdd(cur, path, chunk);
        break;
      }
      case 'test': {
        const actual = getAt(cur, path);
        const value = required('value');
        if (!equal(actual, value)) {
          throw builtinError(name, `value from EditTree != patch value.\n\nExpected: ${toRegoString(value)}\n\nFound: ${toRegoString(actual)}`);
        }
        break;
      }
      default:
        throw builtinError(name, `unrecognized op: '${op}'`);
    }
  }
  return cur;
}

export const builtins: BuiltinDef[] = [
  {
    name: 'object.union',
    arity: 2,
    fn: (a) => mergeWithOverwrite(argObject('object.union', a, 0), argObject('object.union', a, 1)),
  },
  {
    name: 'object.union_n',
    arity: 1,
    fn: (a) => {
      const arr = argArray('object.union_n', a, 0);
      // OPA merges from the last element back, so the last non-object is the one reported.
      for (let i = arr.length - 1; i >= 0; i--) {
        if (!isObject(arr[i]!)) throw elementError('object.union_n', 1, arr, arr[i]!, 'object');
      }
      let out = new RObject();
      for (const o of arr) out = mergeWithOverwrite(out, o as RObject);
      return out;
    },
  },
  {
    name: 'object.remove',
    arity: 2,
    fn: (a) => {
      const o = argObject('object.remove', a, 0);
      const keys = keysParam('object.remove', a[1]!);
      const out = new RObject();
      for (const [k, v] of o.unorderedEntries()) if (!keys.has(k)) out.set(k, v);
      return out;
    },
  },
  {
    name: 'object.filter',
    arity: 2,
    fn: (a) => {
      const o = argObject('object.filter', a, 0);
      const keys = keysParam('object.filter', a[1]!);
      const out = new RObject();
      for (const k of keys.unorderedValues()) {
        const v = o.get(k);
        if (v !== undefined) out.set(k, v);
      }
      return out;
    },
  },
  {
    name: 'object.get',
    arity: 3,
    fn: (a) => {
      const o = argObject('object.get', a, 0);
      const key = a[1]!;
      if (!Array.isArray(key)) {
        const v = o.get(key);
        return v === undefined ? a[2]! : v;
      }
      if (key.length === 0) return o;
      let cur: Value = o;
      for (const seg of key) {
        if (isObject(cur)) {
          const v = cur.get(seg);
          if (v === undefined) return a[2]!;
          cur = v;
        } else if (Array.isArray(cur)) {
          if (typeof seg !== 'number' || !Number.isInteger(seg) || seg < 0 || seg >= cur.length) return a[2]!;
          cur = cur[seg]!;
        } else if (isSet(cur)) {
          if (!cur.has(seg)) return a[2]!;
          cur = seg;
        } else return a[2]!;
      }
      return cur;
    },
  },
  { name: 'object.keys', arity: 1, fn: (a) => RSet.from(argObject('object.keys', a, 0).keys()) },
  {
    name: 'object.subset',
    arity: 2,
    fn: (a) => {
      const [sup, sub] = a as [Value, Value];
      if (isObject(sup) && isObject(sub)) return objectSubset(sup, sub);
      if (isSet(sup) && isSet(sub)) return setSubset(sup, sub);
      if (Array.isArray(sup) && Array.isArray(sub)) return equal(sup, sub) || arraySubset(sup, sub);
      if (Array.isArray(sup) && isSet(sub)) return arraySetSubset(sup, sub);
      throw new BuiltinError('eval_type_error', 'object.subset: both arguments object.subset must be of the same type or array and set');
    },
  },
  {
    name: 'json.filter',
    arity: 2,
    fn: (a) => {
      const o = argObject('json.filter', a, 0);
      return filterValue(o, pathsToObject(jsonPaths('json.filter', a[1]!)));
    },
  },
  {
    name: 'json.remove',
    arity: 2,
    fn: (a) => {
      const o = argObject('json.remove', a, 0);
      return jsonRemove(o, pathsToObject(jsonPaths('json.remove', a[1]!)));
    },
  },
  {
    name: 'json.patch',
    arity: 2,
    fn: (a) => {
      const ops = argArray('json.patch', a, 1);
      try {
        return applyPatches(a[0]!, ops);
      } catch (e) {
        // The whole document removed: OPA renders no value.
        if (e instanceof PatchError) return undefined;
        throw e;
      }
    },
  },
];
