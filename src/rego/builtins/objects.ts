/**
 * `object.*` and the path-based `json.filter` / `json.remove` / `json.patch` (opa:v1/topdown/object.go,
 * subset.go, json.go; ast `Object.Filter`; internal/edittree for patches).
 *
 * Paths for the `json.*` builtins are either `/`-separated strings (JSON-pointer escapes `~1`, `~0`; a leading
 * `/` is optional) or arrays of segments. A string segment indexes an array when it is a decimal index, as in
 * OPA where `a/0/b` is `{"a": {"0": {"b": null}}}` after `pathsToObject`.
 */
import { type Value, RObject, RSet, compare, equal, isObject, isSet, toRegoString, typeName } from '../value.js';
import { type BuiltinDef, BuiltinError, argArray, argObject, builtinError, typeErrorOneOf } from './registry.js';
import { elementError } from './aggregates.js';
import { isArrayIndexToken, unescapePointerToken } from '../json-patch.js';

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
// Pointer tokens and array indices follow the shared rules of ../json-patch.ts (which the Kata agent's `ops`
// use); this variant works on Rego values so that it can also address set members, and keeps OPA's
// leniencies (optional leading '/', array-of-segment paths) and its undefined-on-failure result.

class PatchError extends Error {}

function arrayIndex(seg: Value, len: number, forInsert: boolean): number {
  if (forInsert && seg === '-') return len;
  let n: number | undefined;
  if (typeof seg === 'number' && Number.isInteger(seg)) n = seg;
  else if (typeof seg === 'string' && isArrayIndexToken(seg)) n = Number(seg);
  if (n === undefined || n < 0 || n > len || (!forInsert && n === len)) throw new PatchError(`invalid array index ${String(seg)}`);
  return n;
}

function getAt(doc: Value, path: Value[]): Value {
  let cur = doc;
  for (const seg of path) {
    if (isObject(cur)) {
      const v = cur.get(seg);
      if (v === undefined) throw new PatchError('path not found');
      cur = v;
    } else if (Array.isArray(cur)) cur = cur[arrayIndex(seg, cur.length, false)]!;
    else if (isSet(cur)) {
      if (!cur.has(seg)) throw new PatchError('path not found');
      cur = seg;
    } else throw new PatchError('path through a scalar');
  }
  return cur;
}

/** Returns a copy of `doc` with `f` applied to the container at `path[:-1]` and the last segment. */
function update(doc: Value, path: Value[], f: (parent: Value, last: Value) => Value): Value {
  if (path.length === 1) return f(doc, path[0]!);
  const [seg, ...rest] = path as [Value, ...Value[]];
  if (isObject(doc)) {
    const child = doc.get(seg);
    if (child === undefined) throw new PatchError('path not found');
    return doc.copy().set(seg, update(child, rest, f));
  }
  if (Array.isArray(doc)) {
    const i = arrayIndex(seg, doc.length, false);
    const out = [...doc];
    out[i] = update(doc[i]!, rest, f);
    return out;
  }
  if (isSet(doc)) {
    if (!doc.has(seg)) throw new PatchError('path not found');
    const nv = update(seg, rest, f);
    const out = RSet.from(doc.values().filter((x) => !equal(x, seg)));
    out.add(nv);
    return out;
  }
  throw new PatchError('path through a scalar');
}

function patchAdd(doc: Value, path: Value[], value: Value): Value {
  if (path.length === 0) return value;
  return update(doc, path, (parent, last) => {
    if (isObject(parent)) return parent.copy().set(last, value);
    if (Array.isArray(parent)) {
      const i = arrayIndex(last, parent.length, true);
      return [...parent.slice(0, i), value, ...parent.slice(i)];
    }
    if (isSet(parent)) {
      if (!equal(last, value)) throw new PatchError('set key and value differ');
      const out = parent.copy();
      out.add(value);
      return out;
    }
    throw new PatchError('path through a scalar');
  });
}

function patchRemove(doc: Value, path: Value[]): Value {
  if (path.length === 0) throw new PatchError('cannot remove the root');
  return update(doc, path, (parent, last) => {
    if (isObject(parent)) {
      if (!parent.has(last)) throw new PatchError('path not found');
      const out = parent.copy();
      out.delete(last);
      return out;
    }
    if (Array.isArray(parent)) {
      const i = arrayIndex(last, parent.length, false);
      return [...parent.slice(0, i), ...parent.slice(i + 1)];
    }
    if (isSet(parent)) {
      if (!parent.has(last)) throw new PatchError('path not found');
      return RSet.from(parent.values().filter((x) => !equal(x, last)));
    }
    throw new PatchError('path through a scalar');
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
      let out = new RObject();
      for (const o of arr) {
        if (!isObject(o)) throw elementError('object.union_n', 1, arr, o, 'object');
        out = mergeWithOverwrite(out, o);
      }
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
        // A path the document lacks: undefined (OPA's EditTree errors are not reproduced here).
        if (e instanceof PatchError) return undefined;
        throw e;
      }
    },
  },
];
