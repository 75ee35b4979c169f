import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { vectorPath, readVectorJson } from '../test-support/vectors.js';
import { CocoError } from '../errors.js';
import { Engine, fromJson, type Value } from './index.js';
import { parseModule } from './parser.js';

const TRUSTEE = vectorPath('rego', 'trustee');

function regoFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? regoFiles(p) : n.endsWith('.rego') ? [p] : [];
  });
}

test('every Trustee policy parses and compiles (OPA-era historical policies as Rego v0)', () => {
  const files = regoFiles(TRUSTEE);
  assert.ok(files.length >= 20);
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    const version = f.includes('/historical/') && !f.includes('/as-token/') ? 'v0' : 'v1';
    const e = new Engine();
    e.addPolicy(f, text, { regoVersion: version });
    e.addBuiltin({ name: 'query_reference_value', arity: 1, fn: () => null });
    e.prepare();
    assert.ok(parseModule(text, f, { version }).rules.length > 0, f);
  }
});

interface KbsCase {
  policy: string;
  query: string;
  data: unknown;
  input: unknown;
  want: boolean;
}

test('KBS resource policies give the decisions of Trustee policy-engine tests', () => {
  const { cases } = readVectorJson<{ cases: KbsCase[] }>('rego', 'trustee', 'policy-engine-tests', 'cases.json');
  assert.equal(cases.length, 12);
  for (const [i, c] of cases.entries()) {
    const e = new Engine();
    e.addPolicy(c.policy, readFileSync(join(TRUSTEE, 'policy-engine-tests', c.policy), 'utf8'));
    e.addData(c.data);
    e.setInput(c.input);
    assert.equal(e.evalRule(c.query), c.want, `case ${i} (${c.policy})`);
  }
});

/** The `default <claim> := <n>` values the CPU policy declares: its verdict when no TEE matched. */
function declaredDefaults(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^default (\w+) := (-?\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

const CLAIM_RULE: Record<string, string> = {
  executables: 'executables',
  hardware: 'hardware',
  configuration: 'configuration',
  'file-system': 'file_system',
  'instance-identity': 'instance_identity',
  'runtime-opaque': 'runtime_opaque',
  'storage-opaque': 'storage_opaque',
  'sourced-data': 'sourced_data',
};

function earEngine(refs: Record<string, unknown>): Engine {
  const text = readFileSync(join(TRUSTEE, 'as-ear-default', 'ear_default_policy_cpu.rego'), 'utf8');
  const e = new Engine();
  e.addPolicy('ear_default_policy_cpu.rego', text);
  // Trustee registers query_reference_value/1 as a regorus extension backed by the RVPS (specs/rego.md §4.3).
  e.addBuiltin({ name: 'query_reference_value', arity: 1, fn: (args) => fromJson(refs[args[0] as string] ?? null) as Value });
  return e;
}

test('EAR default policies (cpu, gpu, switch, ppcie): without claims every trust claim keeps its declared default', () => {
  for (const cls of ['cpu', 'gpu', 'switch', 'ppcie']) {
    const text = readFileSync(join(TRUSTEE, 'as-ear-default', `ear_default_policy_${cls}.rego`), 'utf8');
    const defaults = declaredDefaults(text);
    const e = new Engine();
    e.addPolicy(`ear_default_policy_${cls}.rego`, text);
    e.addBuiltin({ name: 'query_reference_value', arity: 1, fn: () => null });
    e.setInput({});
    const claims = e.evalRule('data.policy.trust_claims') as Record<string, number>;
    for (const [claim, rule] of Object.entries(CLAIM_RULE)) {
      if (defaults.has(rule)) assert.equal(claims[claim], defaults.get(rule), `${cls}: ${claim}`);
    }
  }
});

test('EAR CPU default policy: a sample TEE matching its reference values is affirmed', () => {
  const e = earEngine({ launch_digest: ['abcde'], svn: ['1'], major_version: 1, minimum_minor_version: 1 });
  e.setInput({ sample: { launch_digest: 'abcde', svn: '1', platform_version: { major: 1, minor: 1 }, debug: false } });
  const claims = e.evalRule('data.policy.trust_claims') as Record<string, number>;
  // Values from the policy's own rules for the sample platform: executables 3, hardware 2, configuration 2.
  assert.equal(claims['executables'], 3);
  assert.equal(claims['hardware'], 2);
  assert.equal(claims['configuration'], 2);
  // A digest outside the reference values falls back to the default.
  e.setInput({ sample: { launch_digest: 'other', svn: '1', platform_version: { major: 1, minor: 1 }, debug: false } });
  assert.equal((e.evalRule('data.policy.trust_claims') as Record<string, number>)['executables'], declaredDefaults(readFileSync(join(TRUSTEE, 'as-ear-default', 'ear_default_policy_cpu.rego'), 'utf8')).get('executables'));
});

test('evalRules answers several rules of one evaluation as evalRule answers each, asking a shared rule once', () => {
  const refs = { launch_digest: ['abcde'], svn: ['1'], major_version: 1, minimum_minor_version: 1 };
  let asked = 0;
  const e = new Engine();
  e.addPolicy('p.rego', 'package policy\nimport rego.v1\nshared := query_reference_value("svn")\na := count(shared)\nb := [x | some x in shared]\n');
  e.addBuiltin({ name: 'query_reference_value', arity: 1, fn: (args) => (asked++, fromJson(refs[args[0] as keyof typeof refs] ?? null) as Value) });
  const p = e.prepare();
  assert.deepEqual(p.evalRules(['data.policy.a', 'data.policy.b', 'data.policy.missing'], { input: {} }), [1, ['1'], undefined]);
  assert.equal(asked, 1);
  // Trustee's EAR CPU policy: the same trust claims either way, for a matching and a mismatching sample TEE.
  const ear = earEngine(refs).prepare();
  for (const digest of ['abcde', 'other']) {
    const input = { sample: { launch_digest: digest, svn: '1', platform_version: { major: 1, minor: 1 }, debug: false } };
    const [claims, missing] = ear.evalRules(['data.policy.trust_claims', 'data.policy.no_such_rule'], { input });
    assert.deepEqual(claims, ear.evalRule('data.policy.trust_claims', { input }));
    assert.equal(missing, undefined);
    assert.equal((claims as Record<string, number>).executables, digest === 'abcde' ? 3 : declaredDefaults(readFileSync(join(TRUSTEE, 'as-ear-default', 'ear_default_policy_cpu.rego'), 'utf8')).get('executables'));
  }
});

test('explains which expression failed for an undefined KBS decision', () => {
  const e = new Engine();
  e.addPolicy('default.rego', readFileSync(join(TRUSTEE, 'kbs-resource-policy', 'default.rego'), 'utf8'));
  e.addData({ plugin: 'other', 'resource-path': ['a', 'b', 'c'], query: {} });
  e.setInput({ submods: {} });
  const x = e.explain('data.policy.allow');
  assert.equal(x.value, false);
  const body = x.bodies.find((b) => b.rule === 'data.policy.allow' && !b.succeeded);
  assert.ok(body?.failed);
  assert.match(body.failed.text, /plugin == "resource"/);
});

test('explains the EAR CPU default policy: the failing reference-value check and its operands', () => {
  const e = earEngine({ launch_digest: ['abcde'], svn: ['1'], major_version: 1, minimum_minor_version: 1 });
  e.setInput({ sample: { launch_digest: 'other', svn: '1', platform_version: { major: 1, minor: 1 }, debug: false } });
  const x = e.explain('data.policy.executables');
  const sample = x.bodies.find((b) => !b.succeeded && b.failed?.text.includes('input.sample.launch_digest'));
  assert.ok(sample?.failed, JSON.stringify(x.bodies));
  assert.equal(sample.failed.operands['input.sample.launch_digest'], 'other');
  assert.deepEqual(sample.failed.operands['query_reference_value("launch_digest")'], ['abcde']);
  // Bodies for other TEEs stop at their platform guard (`input.snp` is undefined).
  assert.ok(x.bodies.some((b) => b.failed?.text === 'input.snp' && b.failed.operands['input.snp'] === '<undefined>'));
});

test('query_reference_value may be an asynchronous host builtin (evalRuleAsync), same verdict as sync', async () => {
  const refs: Record<string, unknown> = { launch_digest: ['abcde'], svn: ['1'], major_version: 1, minimum_minor_version: 1 };
  const text = readFileSync(join(TRUSTEE, 'as-ear-default', 'ear_default_policy_cpu.rego'), 'utf8');
  const e = new Engine();
  e.addPolicy('ear_default_policy_cpu.rego', text);
  const asked: string[] = [];
  e.addAsyncBuiltin('query_reference_value', 1, async (args) => {
    asked.push(args[0] as string);
    await new Promise((r) => setImmediate(r));
    return fromJson(refs[args[0] as string] ?? null);
  });
  const input = { sample: { launch_digest: 'abcde', svn: '1', platform_version: { major: 1, minor: 1 }, debug: false } };
  e.setInput(input);
  const asyncClaims = await e.evalRuleAsync('data.policy.trust_claims');
  assert.deepEqual(asyncClaims, earEngine(refs).prepare().evalRule('data.policy.trust_claims', { input }));
  assert.deepEqual(new Set(asked), new Set(['launch_digest', 'svn', 'major_version', 'minimum_minor_version']));
  assert.throws(() => e.evalRule('data.policy.trust_claims'), (err: unknown) => err instanceof CocoError && err.code === 'REGO_ASYNC_BUILTIN');
});
