/**
 * `walk` (a relation: one [path, value] solution per node, pre-order, children in Rego order) and
 * `graph.reachable` / `graph.reachable_paths` (opa:v1/topdown/walk.go, reachable.go).
 */
import { type Value, RSet, isObject, isSet } from '../value.js';
import { type BuiltinDef, argArrayOrSet, argObject, typeErrorOneOf } from './registry.js';

function walk(v: Value, path: Value[], out: Value[]): void {
  out.push([path, v]);
  if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i], out));
  else if (isObject(v)) for (const [k, x] of v.entries()) walk(x, [...path, k], out);
  else if (isSet(v)) for (const x of v.values()) walk(x, [...path, x], out);
}

/** A node's neighbours: an array or set of node ids; anything else has none. */
function neighbours(e: Value): readonly Value[] {
  if (Array.isArray(e)) return e;
  if (isSet(e)) return e.values();
  return [];
}

export const builtins: BuiltinDef[] = [
  {
    name: 'walk',
    arity: 1,
    relation: true,
    fn: (a) => {
      const out: Value[] = [];
      walk(a[0]!, [], out);
      return out;
    },
  },
  {
    name: 'graph.reachable',
    arity: 2,
    fn: (a) => {
      const g = argObject('graph.reachable', a, 0);
      const init = a[1]!;
      if (!Array.isArray(init) && !isSet(init)) throw typeErrorOneOf('graph.reachable', 2, ['set', 'array'], init);
      const reached = new RSet();
      const queue = [...argArrayOrSet('graph.reachable', a, 1)];
      for (let i = 0; i < queue.length; i++) {
        const n = queue[i]!;
        const e = g.get(n);
        if (e === undefined) continue;
        for (const m of neighbours(e)) if (!reached.has(m)) queue.push(m);
        reached.add(n);
      }
      return reached;
    },
  },
  {
    name: 'graph.reachable_paths',
    arity: 2,
    fn: (a) => {
      const g = argObject('graph.reachable_paths', a, 0);
      const init = a[1]!;
      if (!Array.isArray(init) && !isSet(init)) throw typeErrorOneOf('graph.reachable_paths', 2, ['set', 'array'], init);
      const out = new RSet();
      // pathBuilder: a path ends where a node is missing from the graph, has no edges, or closes a cycle.
      const build = (root: Value, path: Value[], reached: RSet): void => {
        const e = g.get(root);
        if (e === undefined) {
          out.add(path);
          return;
        }
        const p = [...path, root];
        const ns = neighbours(e);
        if (ns.length === 0) {
          out.add(p);
          return;
        }
        const r = reached.copy();
        r.add(root);
        for (const m of ns) {
          if (r.has(m)) out.add(p);
          else build(m, p, r);
        }
      };
      for (const node of argArrayOrSet('graph.reachable_paths', a, 1)) {
        const e = g.get(node);
        if (e === undefined) continue;
        const ns = neighbours(e);
        if (ns.length === 0) out.add([node]);
        else for (const m of ns) build(m, [node], RSet.from([node]));
      }
      return out;
    },
  },
];
