import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { vectorPath } from '../../test-support/vectors.js';
import { arbValue, callNoCrash } from './test-support/harness.js';
import { BUILTINS } from './index.js';

/** Builtins the engine itself evaluates (unification, print and compiler-internal calls). */
const ENGINE = new Set(['assign', 'eq', 'print', 'internal.print', 'internal.template_string', 'internal.test_case', 'rego.metadata.chain', 'rego.metadata.rule']);

test('every OPA 1.20 capability builtin outside the engine is registered with its arity and flags', () => {
  const caps = JSON.parse(readFileSync(vectorPath('rego', 'opa-meta', 'capabilities.json'), 'utf8')) as {
    builtins: Array<{ name: string; decl: { args?: unknown[] }; nondeterministic?: boolean; relation?: boolean }>;
  };
  const missing = caps.builtins.map((b) => b.name).filter((n) => !BUILTINS.has(n) && !ENGINE.has(n));
  assert.deepEqual(missing, []);
  for (const b of caps.builtins) {
    const def = BUILTINS.get(b.name);
    if (!def) continue;
    if (def.arity >= 0) assert.equal(def.arity, (b.decl.args ?? []).length, `${b.name} arity`);
    assert.equal(def.nondeterministic ?? false, b.nondeterministic ?? false, `${b.name} nondeterministic`);
    assert.equal(def.relation ?? false, b.relation ?? false, `${b.name} relation`);
  }
});

test('no builtin fails with anything but a BuiltinError on arbitrary arguments', () => {
  const defs = [...BUILTINS.values()].filter((d) => !['net.cidr_expand', 'numbers.range', 'numbers.range_step', 'bits.lsh'].includes(d.name));
  fc.assert(
    fc.property(fc.constantFrom(...defs), fc.array(arbValue(), { minLength: 4, maxLength: 4 }), (def, args) => {
      callNoCrash(def.name, def.arity >= 0 ? args.slice(0, def.arity) : args);
    }),
    { numRuns: 5000 },
  );
});
