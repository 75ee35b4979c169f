/**
 * Rego engine micro-benchmarks (not part of `npm test`): `npx tsx bench/rego/bench.ts`.
 * - Trustee's EAR CPU default policy: prepared evaluation vs parse+compile+evaluate every time;
 * - parse + compile of a large policy (all OPA conformance modules of one category concatenated per package,
 *   and the Trustee policies), to show the one-time cost.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Rego from '../../src/rego/index.js';

// Under tsx every closure is wrapped for names, which slows the evaluator; set REGO_ENGINE to a compiled
// build (`npx tsc -p tsconfig.build.json --outDir /tmp/build; REGO_ENGINE=/tmp/build/rego/index.js`) to
// measure what `dist/` runs.
const { Engine, fromJson } = (await import(process.env['REGO_ENGINE'] ?? '../../src/rego/index.js')) as typeof Rego;
type Value = Rego.Value;
type Engine = Rego.Engine;

const VECTORS = join(fileURLToPath(new URL('../../..', import.meta.url)), 'shared', 'vectors', 'rego');
const cpu = readFileSync(join(VECTORS, 'trustee', 'as-ear-default', 'ear_default_policy_cpu.rego'), 'utf8');

const refs: Record<string, unknown> = {
  launch_digest: ['abcde'],
  svn: ['1'],
  major_version: 1,
  minimum_minor_version: 1,
};
const input = {
  sample: { launch_digest: 'abcde', svn: '1', platform_version: { major: 1, minor: 1 }, debug: false },
  init_data_claims: {
    agent_policy_claims: {
      containers: [
        { OCI: { Annotations: { 'io.kubernetes.cri.image-name': 'pause' }, Process: { User: { UID: 65535 } } } },
        { OCI: { Annotations: { 'io.kubernetes.cri.image-name': 'nginx' }, Process: { User: { UID: 0 } } } },
      ],
    },
  },
};

function engine(): Engine {
  const e = new Engine({ printing: false });
  e.addPolicy('ear_default_policy_cpu.rego', cpu);
  e.addBuiltin({ name: 'query_reference_value', arity: 1, fn: (a) => fromJson(refs[a[0] as string] ?? null) as Value });
  return e;
}

function bench(name: string, n: number, f: () => void): void {
  for (let i = 0; i < Math.min(200, n); i++) f();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f();
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${name.padEnd(58)} ${(ns / 1000).toFixed(2).padStart(10)} µs/op  (${n} runs)`);
}

const inputValue = fromJson(input);
const prepared = engine().prepare();
const check = prepared.evalRule('data.policy.trust_claims', { input });
console.log('trust_claims =', JSON.stringify(check));

bench('EAR cpu: prepared evalRule(trust_claims)', 20000, () => prepared.evalRuleValue('data.policy.trust_claims', { input: inputValue }));
bench('EAR cpu: prepared evalRule(extensions)', 20000, () => prepared.evalRuleValue('data.policy.extensions', { input: inputValue }));
bench('EAR cpu: prepared query "x := data.policy.trust_claims"', 20000, () => prepared.queryRows('x := data.policy.trust_claims', { input: inputValue }));
bench('EAR cpu: unprepared (parse + compile + eval)', 500, () => {
  const e = engine();
  e.setInput(input);
  e.evalRule('data.policy.trust_claims');
});

// A large policy: every v1 conformance module, renamed into its own package, in one engine.
const confDir = join(VECTORS, 'opa-conformance');
const { parse } = await import('yaml');
const texts: string[] = [];
for (const cat of readdirSync(confDir)) {
  if (cat === 'v0' || cat.endsWith('.md')) continue;
  for (const f of readdirSync(join(confDir, cat))) {
    const doc = parse(readFileSync(join(confDir, cat, f), 'utf8'), { intAsBigInt: true }) as { cases?: Array<{ modules?: string[] }> };
    for (const c of doc.cases ?? []) for (const m of c.modules ?? []) texts.push(m.replace(/^package\s+([\w.]+)/m, `package bench.m${texts.length}.$1`));
  }
}
const chars = texts.reduce((a, t) => a + t.length, 0);
bench(`parse+compile ${texts.length} modules (${(chars / 1024).toFixed(0)} KiB)`, 3, () => {
  const e = new Engine();
  texts.forEach((t, i) => {
    try {
      e.addPolicy(`m${i}.rego`, t);
    } catch {
      // a few modules only parse with options the bench does not set
    }
  });
  try {
    e.prepare();
  } catch {
    // modules that fail to compile together are still parsed and mostly compiled
  }
});
bench('parse+compile Trustee EAR cpu policy', 500, () => engine().prepare());

// Rule indexing (rule-index.ts): 200 bodies of one rule, each guarded by `input.kind == "K<i>"`, evaluated with
// the index and without it (the evaluator's `ruleIndex: false`), for an input that matches one body and one
// that matches none.
const base = (process.env['REGO_ENGINE'] ?? '../../src/rego/index.js').replace(/index\.js$/, '');
const { Compiler } = (await import(base + 'compiler.js')) as typeof import('../../src/rego/compiler.js');
const { Evaluator } = (await import(base + 'evaluator.js')) as typeof import('../../src/rego/evaluator.js');
const { parseModule } = (await import(base + 'parser.js')) as typeof import('../../src/rego/parser.js');
const { BUILTINS } = (await import(base + 'builtins/index.js')) as typeof import('../../src/rego/builtins/index.js');
const many = ['package kinds', 'default allow := false'];
for (let i = 0; i < 200; i++) many.push(`allow if {\n\tinput.kind == "K${i}"\n\tinput.user == "u${i % 7}"\n\tcount(input.items) > ${i % 3}\n}`);
const compiler = new Compiler(BUILTINS, false);
compiler.compile([parseModule(many.join('\n'), 'kinds.rego', { version: 'v1' })]);
const emptyData = fromJson({});
for (const [label, json] of [
  ['one body matches', { kind: 'K150', user: 'u3', items: [1, 2, 3] }],
  ['no body matches', { kind: 'other', user: 'u3', items: [1] }],
] as const) {
  const inp = fromJson(json);
  for (const ruleIndex of [false, true]) {
    const evalOnce = (): Value | undefined =>
      new Evaluator(compiler.root, { input: inp, data: emptyData, strict: false, prints: undefined, now: () => 0n, random: Math.random, env: {}, ruleIndex }).document(['kinds', 'allow']);
    const v = evalOnce();
    bench(`200-body allow, ${label} (=${String(v)}), index ${ruleIndex ? 'on' : 'off'}`, 5000, evalOnce);
  }
}
