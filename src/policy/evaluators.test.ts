import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readVectorJson, vectorPath } from '../test-support/vectors.js';
import { Engine } from '../rego/index.js';
import { evaluateInitData } from '../attestation/init-data.js';
import { trustVectorFrom, statusOf, extensionsFrom } from '../attestation/ear.js';
import { builtinResourcePolicy, defaultAttestationPolicy } from './builtin.js';
import { markRegoV0, policyRegoVersion, REGO_V0_MARKER, RegoAttestationPolicy, RegoResourcePolicy } from './evaluators.js';

const rego = (...p: string[]) => readFileSync(vectorPath('rego', 'trustee', ...p), 'utf8');
const EAR = readVectorJson('trustee', 'generated', 'ear-token-synthetic.json');
const annotated = EAR.claims.submods.cpu0['ear.veraison.annotated-evidence'];

const DEFAULT_CPU = defaultAttestationPolicy('default_cpu')!;

test('default_cpu over sample claims without reference values gives the vector trust vector (contraindicated)', async () => {
  const out = await new RegoAttestationPolicy().evaluate(DEFAULT_CPU, 'default_cpu', annotated, () => null);
  const tv = trustVectorFrom(out.trustClaims, 'default_cpu');
  assert.deepEqual(tv, EAR.claims.submods.cpu0['ear.trustworthiness-vector']);
  assert.equal(statusOf(tv), EAR.claims.submods.cpu0['ear.status']);
});

test('default_cpu over sample claims with matching reference values is affirming', async () => {
  const rvs: Record<string, unknown> = { launch_digest: ['abcde'], svn: ['1'], major_version: 1, minimum_minor_version: 0 };
  const out = await new RegoAttestationPolicy().evaluate(DEFAULT_CPU, 'default_cpu', annotated, (id) => rvs[id] ?? null);
  const tv = trustVectorFrom(out.trustClaims, 'default_cpu');
  assert.equal(tv.executables, 3);
  assert.equal(tv.hardware, 2);
  assert.equal(tv.configuration, 2);
  assert.equal(statusOf(tv), 'affirming');
});

test('default_cpu derives the validated identifiers from a real init-data agent policy', async () => {
  const body = readFileSync(vectorPath('trustee', 'initdata', 'init-data-with-policy.toml'), 'utf8');
  const input = { ...annotated, init_data: 'x', init_data_claims: evaluateInitData({ format: 'toml', body }).claims };
  const out = await new RegoAttestationPolicy().evaluate(DEFAULT_CPU, 'default_cpu', input, () => null);
  const ext = extensionsFrom(out.extensions, 'default_cpu');
  const ids = ext.find((e) => e.name === 'ear.trustee.identifiers');
  assert.deepEqual((ids?.value as any).validated, { container_images: ['bitnami/nginx:latest'], container_uids: [65535, 1001] });
});

test('Trustee\'s resource policy files, loaded unmodified: default denies the sample token, allow_all allows it', async () => {
  const p = new RegoResourcePolicy();
  const data = EAR.resource_policy_data_example;
  const deny = await p.evaluate(rego('kbs-resource-policy', 'default.rego'), EAR.claims, data);
  assert.equal(deny.allow, false);
  assert.match(deny.reason, /rule data.policy.allow .*failed at `not input\["submods"\]\["cpu0"\]\["ear.veraison.annotated-evidence"\]\["sample"\]`/);
  assert.equal((await p.evaluate(rego('kbs-resource-policy', 'allow_all.rego'), EAR.claims, data)).allow, true);
  assert.equal((await p.evaluate(rego('kbs-resource-policy', 'deny_all.rego'), EAR.claims, data)).allow, false);
});

test('cocokit\'s default resource policy denies the sample token, naming the sample check; allow_all allows it', async () => {
  const p = new RegoResourcePolicy();
  const data = EAR.resource_policy_data_example;
  const deny = await p.evaluate(builtinResourcePolicy('default'), EAR.claims, data);
  assert.equal(deny.allow, false);
  assert.match(deny.reason, /rule data.policy.allow .*failed at `not sample_tee`/);
  assert.equal((await p.evaluate(builtinResourcePolicy('allow_all'), EAR.claims, data)).allow, true);
  assert.equal((await p.evaluate(builtinResourcePolicy('deny_all'), EAR.claims, data)).allow, false);
});

test('a denial is explained by the compiled policy exactly as a freshly parsed one explains it, call after call', async () => {
  const p = new RegoResourcePolicy();
  const fresh = (text: string, input: unknown, data: unknown) => {
    const e = new Engine();
    e.addPolicy('resource-policy.rego', text);
    e.addData(data);
    e.setInput(input);
    return e.explain('data.policy.allow');
  };
  const base = EAR.resource_policy_data_example;
  const contraindicated = structuredClone(EAR.claims);
  delete contraindicated.submods.cpu0['ear.veraison.annotated-evidence'].sample;
  contraindicated.submods.cpu0['ear.status'] = 'contraindicated';
  const warning = structuredClone(contraindicated);
  warning.submods.cpu0['ear.status'] = 'warning';
  const cases: Array<[string, unknown, unknown]> = [
    [builtinResourcePolicy('default'), EAR.claims, base],
    [builtinResourcePolicy('default'), contraindicated, base],
    [builtinResourcePolicy('default'), warning, { ...base, plugin: 'other' }],
    [builtinResourcePolicy('affirming'), warning, base],
    [rego('kbs-resource-policy', 'default.rego'), EAR.claims, base],
    [builtinResourcePolicy('default'), EAR.claims, base],
  ];
  for (const [text, input, data] of cases) {
    const d = await p.evaluate(text, input, data as typeof base);
    assert.equal(d.allow, false);
    assert.deepEqual(d.explanation, fresh(text, input, data));
    assert.deepEqual((await p.explain(text, input, data as typeof base)).explanation, d.explanation);
  }
  // Each denial names its own request's values: the plugin of the third case, the status of the fourth.
  assert.match((await p.evaluate(builtinResourcePolicy('default'), warning, { ...base, plugin: 'other' })).reason, /data.plugin == "resource"/);
  assert.match((await p.evaluate(builtinResourcePolicy('affirming'), warning, base)).reason, /some_appraisal_not_affirming/);
  // An allowed request is explained by its succeeding rule, again as a fresh engine explains it.
  const allowed = await p.explain(builtinResourcePolicy('default'), warning, base);
  assert.equal(allowed.allow, true);
  assert.deepEqual(allowed.explanation, fresh(builtinResourcePolicy('default'), warning, base));
});

test('Trustee\'s policy-engine evaluation table passes', async () => {
  const { cases } = readVectorJson('rego', 'trustee', 'policy-engine-tests', 'cases.json');
  const p = new RegoResourcePolicy();
  for (const c of cases) {
    const r = await p.evaluate(rego('policy-engine-tests', c.policy), c.input, c.data);
    assert.equal(r.allow, c.want, `${c.policy} ${JSON.stringify(c.data)}`);
  }
});

test('a policy that does not parse is refused by validate', async () => {
  await assert.rejects(new RegoResourcePolicy().validate('package policy\nallow if {'), /REGO|parse|expected/i);
  await assert.rejects(new RegoAttestationPolicy().validate('not rego at all'));
});

test('a stored policy is Rego v0 only when its first line is the v0 marker', async () => {
  const v0 = 'package policy\n\ndefault allow = false\n\nallow { data.plugin == "resource" }\n';
  assert.equal(policyRegoVersion(v0), 'v1');
  assert.equal(policyRegoVersion(markRegoV0(v0)), 'v0');
  assert.equal(markRegoV0(markRegoV0(v0)), markRegoV0(v0));
  assert.equal(policyRegoVersion(`package policy\n${REGO_V0_MARKER}\n`), 'v1');
  const p = new RegoResourcePolicy();
  await assert.rejects(p.validate(v0));
  const data = { plugin: 'resource', 'resource-path': ['a', 'b', 'c'], query: {} };
  assert.equal((await p.evaluate(markRegoV0(v0), {}, data)).allow, true);
  // Trustee's pre-1.0 KBS default policy, unmodified after the marker line.
  const old = markRegoV0(rego('historical', 'v0.14.0', 'kbs-opa', 'default_policy.rego'));
  assert.equal((await p.evaluate(old, EAR.claims, data)).allow, false);
  assert.equal((await p.evaluate(old, { submods: { cpu0: { 'ear.veraison.annotated-evidence': { snp: {} } } } }, data)).allow, true);
});

test('the attestation policy explained: a failed call of a user function is shown, not followed round', async () => {
  const text = 'package policy\n\nimport rego.v1\n\ndefault x := 1\n\nlisted(value, id) if value in query_reference_value(id)\n\nx := 3 if {\n\tinput.sample\n\tlisted(input.sample.svn, "svn")\n}\n\ntrust_claims := {"executables": x}\n';
  const p = new RegoAttestationPolicy();
  for (const [rv, executables] of [[null, 1], [['1'], 3]] as const) {
    const out = await p.explain(text, 'default_cpu', { sample: { svn: '1' } }, (id) => (id === 'svn' ? rv : null));
    assert.deepEqual(out.trustClaims, { executables });
    // The explanation's value is what evaluate gives.
    assert.deepEqual((await p.evaluate(text, 'default_cpu', { sample: { svn: '1' } }, (id) => (id === 'svn' ? rv : null))).trustClaims, out.trustClaims);
    if (rv === null) {
      const x = out.explanation.bodies.find((b) => b.rule === 'data.policy.x')!;
      assert.equal(x.failed!.text, 'listed(input.sample.svn, "svn")');
      assert.deepEqual(x.failed!.operands, { 'data.policy.listed(input.sample.svn, "svn")': '<undefined>', 'input.sample.svn': '1' });
      // The call evaluated for the account adds no body of its own: `listed` appears once, as evaluation ran it.
      assert.equal(out.explanation.bodies.filter((b) => b.rule === 'data.policy.listed').length, 1);
    }
  }
});
