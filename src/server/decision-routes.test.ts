import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient, signAdminToken } from '../client/admin-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { utf8 } from '../formats/bytes.js';
import { startKbs, type Harness } from './test-harness.js';
import { DECISION_KIND, canonicalJson, verifyDecisionChain } from './decisions.js';
import { defaultAttestationPolicy } from '../policy/builtin.js';

const SECRET = 'decision-log-secret-7Yq';
const DENY_ALL = 'package policy\n\ndefault allow := false\n';
const ALLOW_ALL = 'package policy\n\ndefault allow := true\n';
let h: Harness;
let token: string;

async function call(method: 'GET' | 'POST', url: string, body?: unknown, auth = true) {
  const r = await h.kbs.app.inject({
    method,
    url,
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}) },
  });
  let json: any;
  try {
    json = JSON.parse(r.body);
  } catch {}
  return { status: r.statusCode, json, body: r.body, next: r.headers['x-next-cursor'] as string | undefined };
}

before(async () => {
  h = await startKbs();
  token = await signAdminToken(h.adminKeyPem, 'admin', 3600, h.clock.now);
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  await admin.setResource('default/key/one', utf8.encode(SECRET));
  // One allowed release, then one denied.
  assert.equal(await new KbsClient(h.url, new SampleAttester()).getResourceText('default/key/one'), SECRET);
  await admin.setResourcePolicy(DENY_ALL);
  await assert.rejects(new KbsClient(h.url, new SampleAttester(), { maxAttempts: 1 }).getResource('default/key/one'), /PolicyDeny/);
});
after(async () => {
  await h.stop();
});

test('every attestation and release is recorded, newest first, without the secret, nonce or token', async () => {
  const r = await call('GET', '/kbs/v0/decisions');
  assert.equal(r.status, 200, r.body);
  const summary = r.json.map((d: any) => `${d.type}:${d.verdict}`);
  assert.deepEqual(summary, ['release:deny', 'attestation:allow', 'release:allow', 'attestation:allow']);
  const [denied, , allowed, attested] = r.json;
  assert.equal(denied.resource, 'default/key/one');
  assert.equal(denied.tee, 'sample');
  assert.equal(denied.client, '127.0.0.1');
  assert.match(denied.policy_hash, /^[0-9a-f]{64}$/);
  assert.notEqual(denied.policy_hash, allowed.policy_hash);
  assert.match(attested.evidence_digest, /^[0-9a-f]{64}$/);
  assert.ok(attested.evidence_bytes > 0);
  assert.match(attested.token_id, /^[0-9a-f]{32}$/);
  assert.equal(attested.policy_id, 'default_cpu');
  const evaluated = (await h.kbs.store.policies.get('attestation', 'default_cpu'))?.text ?? defaultAttestationPolicy('default_cpu')!;
  assert.equal(attested.policy_hash, createHash('sha256').update(evaluated).digest('hex'));
  assert.ok(Array.isArray(attested.checks) && attested.checks.length > 0);
  const text = r.body;
  assert.ok(!text.includes(SECRET));
  // The nonce appears in the claims only as redacted.
  assert.doesNotMatch(text, /"nonce":"(?!\[redacted\])/);
  assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]+\.eyJ/);
});

test('filters by verdict, type and resource, and pages with x-next-cursor', async () => {
  assert.deepEqual((await call('GET', '/kbs/v0/decisions?verdict=deny')).json.map((d: any) => d.type), ['release']);
  assert.equal((await call('GET', '/kbs/v0/decisions?type=attestation')).json.length, 2);
  assert.equal((await call('GET', '/kbs/v0/decisions?resource=default/key/none')).json.length, 0);
  assert.equal((await call('GET', '/kbs/v0/decisions?tee=sample&type=release')).json.length, 2);
  const seen: number[] = [];
  let url = '/kbs/v0/decisions?limit=1';
  for (let i = 0; i < 10; i++) {
    const r = await call('GET', url);
    seen.push(...r.json.map((d: any) => d.id));
    if (!r.next) break;
    url = `/kbs/v0/decisions?limit=1&cursor=${r.next}`;
  }
  assert.equal(seen.length, 4);
  assert.deepEqual([...seen].sort((a, b) => b - a), seen);
});

test('one decision is fetched with its trace; an unknown one is 404', async () => {
  const [denied] = (await call('GET', '/kbs/v0/decisions?verdict=deny')).json;
  const r = await call('GET', `/kbs/v0/decisions/${denied.id}`);
  assert.equal(r.status, 200);
  // The record as stored, and beside it the trace recomputed from the policy version it names.
  const { explain, ...record } = r.json;
  assert.deepEqual(record, denied);
  assert.equal(explain.policy_hash, denied.policy_hash);
  assert.equal(explain.verdict, 'deny');
  assert.equal(typeof r.json.trace.rule, 'string');
  assert.equal((await call('GET', '/kbs/v0/decisions/999999')).status, 404);
  assert.equal((await call('GET', '/kbs/v0/decisions/abc')).status, 404);
});

test('dry-run gives the candidate policy\'s verdict and changes nothing', async () => {
  const [denied] = (await call('GET', '/kbs/v0/decisions?verdict=deny')).json;
  const before = { decisions: (await call('GET', '/kbs/v0/decisions?limit=500')).body, policy: (await h.kbs.store.policies.get('resource', 'resource-policy'))?.text, audit: (await h.kbs.store.audit.list({ limit: 10_000 })).length };
  const allow = await call('POST', `/kbs/v0/decisions/${denied.id}/dry-run`, { kind: 'resource', policy: ALLOW_ALL });
  assert.equal(allow.status, 200, allow.body);
  assert.equal(allow.json.verdict, 'allow');
  assert.equal(allow.json.was.verdict, 'deny');
  const deny = await call('POST', `/kbs/v0/decisions/${denied.id}/dry-run`, { kind: 'resource', policy: 'package policy\n\ndefault allow := false\nallow if input.nope == 1\n' });
  assert.equal(deny.json.verdict, 'deny');
  assert.equal(typeof deny.json.trace.reason, 'string');
  const [attested] = (await call('GET', '/kbs/v0/decisions?type=attestation&limit=1')).json;
  const att = await call('POST', `/kbs/v0/decisions/${attested.id}/dry-run`, { kind: 'attestation', policy: 'package policy\n\ntrust_claims := {"executables": 3}\n' });
  assert.equal(att.status, 200, att.body);
  assert.equal(att.json.trace.trust_vector.executables, 3);
  assert.equal(att.json.status, 'affirming');
  const afterState = { decisions: (await call('GET', '/kbs/v0/decisions?limit=500')).body, policy: (await h.kbs.store.policies.get('resource', 'resource-policy'))?.text, audit: (await h.kbs.store.audit.list({ limit: 10_000 })).length };
  assert.deepEqual(afterState, before);
  assert.equal(afterState.policy, DENY_ALL);
});

test('dry-run of a policy with a syntax error says where, as a client error', async () => {
  const [d] = (await call('GET', '/kbs/v0/decisions?limit=1')).json;
  const r = await call('POST', `/kbs/v0/decisions/${d.id}/dry-run`, { kind: 'resource', policy: 'package policy\n\nallow if {{{\n' });
  assert.equal(r.status, 401);
  assert.match(r.json.type, /ParsePolicyError$/);
  assert.match(r.json.detail, /does not compile/);
});

test('the decision API needs an admin token', async () => {
  assert.equal((await call('GET', '/kbs/v0/decisions', undefined, false)).status, 401);
  assert.equal((await call('GET', '/kbs/v0/decisions/1', undefined, false)).status, 401);
  assert.equal((await call('POST', '/kbs/v0/decisions/1/dry-run', { kind: 'resource', policy: ALLOW_ALL }, false)).status, 401);
});

test('bad query parameters and dry-run bodies are refused as client errors, never a 500', async () => {
  for (const q of ['verdict=maybe', 'type=x', 'limit=0', 'limit=-1', 'cursor=abc', 'since=yesterday', `tee=${'x'.repeat(600)}`]) {
    const r = await call('GET', `/kbs/v0/decisions?${q}`);
    assert.ok(r.status >= 400 && r.status < 500, `${q}: ${r.status}`);
  }
  const [d] = (await call('GET', '/kbs/v0/decisions?limit=1')).json;
  for (const body of ['', '{', '[]', '{"kind":"resource"}', '{"kind":"x","policy":"p"}', '{"kind":"resource","policy":7}']) {
    const r = await call('POST', `/kbs/v0/decisions/${d.id}/dry-run`, body);
    assert.ok(r.status >= 400 && r.status < 500, `${body}: ${r.status} ${r.body}`);
  }
  await fc.assert(
    fc.asyncProperty(fc.dictionary(fc.constantFrom('type', 'tee', 'verdict', 'resource', 'since', 'until', 'limit', 'cursor'), fc.string({ maxLength: 40 })), async (q) => {
      const r = await call('GET', `/kbs/v0/decisions?${new URLSearchParams(q)}`);
      assert.ok(r.status < 500, `${JSON.stringify(q)}: ${r.status}`);
    }),
    { numRuns: 60 },
  );
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
      const r = await h.kbs.app.inject({ method: 'POST', url: `/kbs/v0/decisions/${d.id}/dry-run`, payload: Buffer.from(bytes), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
      assert.ok(r.statusCode < 500, `${r.statusCode} ${r.body}`);
    }),
    { numRuns: 60 },
  );
});

test('the served log verifies as one chain', async () => {
  const r = await verifyDecisionChain(h.kbs.store);
  assert.equal(r.ok, true, JSON.stringify(r.problems));
  assert.ok(r.records >= 4);
});

test('records name the reference values compared and carry the deciding policy\'s explain trace', async () => {
  const [denied] = (await call('GET', '/kbs/v0/decisions?verdict=deny&limit=1')).json;
  const [attested] = (await call('GET', '/kbs/v0/decisions?type=attestation&limit=1')).json;
  // The built-in sample policy asks for these; none is set on this KBS, and the record says so.
  assert.equal(attested.reference_values.svn, 'absent');
  assert.equal(attested.reference_values.launch_digest, 'absent');
  await h.kbs.store.referenceValues.set('svn', [1]);
  await new KbsClient(h.url, new SampleAttester()).attest();
  const [again] = (await call('GET', '/kbs/v0/decisions?type=attestation&limit=1')).json;
  const svn = await h.kbs.store.referenceValues.get('svn');
  assert.equal(again.reference_values.svn, `updated ${svn!.updatedAt.toISOString()}`);
  await h.kbs.store.referenceValues.delete('svn');
  // The denial's trace is the explainer's account of data.policy.allow: no body, so the default decided.
  assert.equal(denied.trace.explanation.query, 'data.policy.allow');
  assert.equal(denied.trace.explanation.value, false);
  assert.deepEqual(denied.trace.explanation.bodies, []);
});

test('dry-run on uploaded evidence: verifier, claims, candidate policy, verdict and trace; the store is unchanged', async () => {
  const snapshot = async () => ({
    audit: (await h.kbs.store.audit.list({ limit: 10_000 })).map((e) => e.id),
    policies: [(await h.kbs.store.policies.get('resource', 'resource-policy'))?.text, (await h.kbs.store.policies.get('attestation', 'default_cpu'))?.text],
    rvs: await h.kbs.store.referenceValues.list(),
    resources: (await h.kbs.store.resources.list({})).map((r) => `${r.repository}/${r.type}/${r.tag}`),
  });
  const before = await snapshot();
  const evidence = await new SampleAttester().getEvidence(new Uint8Array(32).fill(7));
  const att = await call('POST', '/kbs/v0/dry-run', { tee: 'sample', evidence, kind: 'attestation', policy: 'package policy\n\ntrust_claims := {"executables": 3}\n' });
  assert.equal(att.status, 200, att.body);
  assert.equal(att.json.verdict, 'allow');
  assert.equal(att.json.status, 'affirming');
  assert.equal(att.json.trace.trust_vector.executables, 3);
  assert.ok(att.json.checks.length > 0 && att.json.checks.every((c: { ok: boolean }) => c.ok));
  const denyPolicy = 'package policy\n\ndefault allow := false\n\nallow if {\n\tinput.submods.cpu0["ear.status"] == "affirming"\n}\n';
  const res = await call('POST', '/kbs/v0/dry-run', { tee: 'sample', evidence, kind: 'resource', resource: 'default/key/one', policy: denyPolicy });
  assert.equal(res.status, 200, res.body);
  // The stored default attestation policy gives the sample evidence no affirming status, so the rule fails.
  assert.equal(res.json.verdict, 'deny');
  assert.notEqual(res.json.status, 'affirming');
  assert.equal(res.json.trace.explanation.bodies[0].failed.text, 'input.submods.cpu0["ear.status"] == "affirming"');
  assert.match(res.json.trace.reason, /rule data.policy.allow \(line 5\) failed/);
  const allow = await call('POST', '/kbs/v0/dry-run', { tee: 'sample', evidence, kind: 'resource', resource: 'default/key/one', policy: ALLOW_ALL });
  assert.equal(allow.json.verdict, 'allow');
  assert.doesNotMatch(allow.body, /"nonce":"(?!\[redacted\])/);
  assert.deepEqual(await snapshot(), before);
});

test('dry-run on uploaded evidence refuses bad input as a client error', async () => {
  const evidence = await new SampleAttester().getEvidence(new Uint8Array(32));
  const good = { tee: 'sample', evidence, kind: 'attestation', policy: ALLOW_ALL };
  for (const body of ['', '{', '[]', { ...good, tee: 'nope' }, { ...good, tee: 7 }, { ...good, evidence: '' }, { ...good, kind: 'x' }, { ...good, policy: 7 }, { ...good, policy: 'package policy\n\nallow if {{{\n' }, { ...good, kind: 'resource' }, { ...good, evidence: { svn: 7 } }, { ...good, evidence: 'garbage' }]) {
    const r = await call('POST', '/kbs/v0/dry-run', body);
    assert.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(body)}: ${r.status} ${r.body}`);
  }
  assert.equal((await call('POST', '/kbs/v0/dry-run', good, false)).status, 401);
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
      const r = await h.kbs.app.inject({ method: 'POST', url: '/kbs/v0/dry-run', payload: Buffer.from(bytes), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
      assert.ok(r.statusCode < 500, `${r.statusCode} ${r.body}`);
    }),
    { numRuns: 60 },
  );
  await fc.assert(
    fc.asyncProperty(fc.jsonValue(), async (ev) => {
      const r = await call('POST', '/kbs/v0/dry-run', { ...good, evidence: ev });
      assert.ok(r.status < 500, `${JSON.stringify(ev)}: ${r.status} ${r.body}`);
    }),
    { numRuns: 60 },
  );
});

test('an allowed release fetched later shows its deciding policy\'s full trace, from the policy version it was decided by', async () => {
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  // Two allow bodies: the first fails on a claim the sample TEE does not have, the second allows.
  const two = 'package policy\n\ndefault allow := false\n\nallow if {\n\tinput.submods.cpu0["ear.veraison.annotated-evidence"].nothing == "x"\n}\n\nallow if {\n\tdata["resource-path"][2] == "one"\n}\n';
  await admin.setResourcePolicy(two);
  assert.equal(await new KbsClient(h.url, new SampleAttester()).getResourceText('default/key/one'), SECRET);
  const [allowed] = (await call('GET', '/kbs/v0/decisions?type=release&verdict=allow&limit=1')).json;
  assert.equal(allowed.policy_hash, sha(two));
  const first = await call('GET', `/kbs/v0/decisions/${allowed.id}`);
  assert.equal(first.status, 200, first.body);
  const ex = first.json.explain;
  assert.equal(ex.available, true);
  assert.equal(ex.verdict, 'allow');
  assert.equal(ex.reason, 'data.policy.allow is true: rule data.policy.allow (line 9) succeeded');
  assert.deepEqual(ex.explanation.bodies.map((b: any) => [b.location.row, b.succeeded]), [[5, false], [9, true]]);
  assert.equal(ex.explanation.bodies[0].failed.text, 'input.submods.cpu0["ear.veraison.annotated-evidence"].nothing == "x"');
  assert.equal(ex.explanation.bodies[0].failed.operands['input.submods.cpu0["ear.veraison.annotated-evidence"].nothing'], '<undefined>');
  // The record keeps its chain fields and the chain still verifies.
  assert.match(first.json.digest, /^[0-9a-f]{64}$/);
  assert.match(first.json.prev, /^[0-9a-f]{64}$/);
  assert.equal((await verifyDecisionChain(h.kbs.store)).ok, true);

  // The policy changes afterwards; the old decision is still explained by the version that made it.
  await admin.setResourcePolicy(DENY_ALL);
  await assert.rejects(new KbsClient(h.url, new SampleAttester(), { maxAttempts: 1 }).getResource('default/key/one'), /PolicyDeny/);
  const later = await call('GET', `/kbs/v0/decisions/${allowed.id}`);
  assert.deepEqual(later.json, first.json);
  const [denied] = (await call('GET', '/kbs/v0/decisions?type=release&verdict=deny&limit=1')).json;
  assert.ok(denied.id > allowed.id);
  const deniedEx = (await call('GET', `/kbs/v0/decisions/${denied.id}`)).json.explain;
  assert.deepEqual([deniedEx.policy_hash, deniedEx.verdict, deniedEx.explanation.value], [sha(DENY_ALL), 'deny', false]);

  // A policy version whose text is gone, or whose kept text does not hash to its name, is said so.
  const key = `policy-version/${sha(two)}`;
  const kept = (await h.kbs.store.kv.get(key))!;
  assert.equal(utf8.decode(kept), two);
  await h.kbs.store.kv.put(key, utf8.encode(ALLOW_ALL));
  const forged = (await call('GET', `/kbs/v0/decisions/${allowed.id}`)).json;
  assert.deepEqual([forged.explain.available, forged.trace], [false, allowed.trace]);
  await h.kbs.store.kv.delete(key);
  const gone = (await call('GET', `/kbs/v0/decisions/${allowed.id}`)).json;
  assert.equal(gone.explain.available, false);
  assert.match(gone.explain.note, /not kept/);
  await h.kbs.store.kv.put(key, kept);
  assert.equal((await h.kbs.store.audit.list({ kind: DECISION_KIND, limit: 1 }))[0].id, denied.id);
});

test('attestation policies are read by id (stored, else built-in) and a refused one says its line and column', async () => {
  const builtin = await call('GET', '/kbs/v0/attestation-policy/default_cpu');
  assert.equal(builtin.status, 200);
  assert.equal(builtin.body, defaultAttestationPolicy('default_cpu'));
  for (const [id, status] of [['nope', 404], ['%ff', 404], ['a%2Fb', 404], ['x'.repeat(600), 404]] as const) {
    const r = await call('GET', `/kbs/v0/attestation-policy/${id}`);
    assert.ok(r.status === status || (r.status >= 400 && r.status < 500), `${id}: ${r.status} ${r.body}`);
  }
  assert.equal((await call('GET', '/kbs/v0/attestation-policy/default_cpu', undefined, false)).status, 401);
  const status = await call('GET', '/kbs/v0/status');
  assert.deepEqual(status.json.attestation_policies, ['default_cpu', 'default_gpu', 'default_ppcie', 'default_switch']);

  const policy = (text: string) => Buffer.from(text).toString('base64url');
  const bad = await call('POST', '/kbs/v0/attestation-policy', { policy_id: 'custom', policy: policy('package policy\n\ntrust_claims := {"executables": 3 ]\n') });
  assert.equal(bad.status, 401);
  assert.match(bad.json.type, /ParsePolicyError$/);
  assert.deepEqual(bad.json.location, { file: 'attestation-policy.rego', row: 3, col: 35 });
  const unsafe = await call('POST', '/kbs/v0/resource-policy', { policy: policy('package policy\n\nallow if { x }\n') });
  assert.deepEqual(unsafe.json.location, { file: 'resource-policy.rego', row: 3, col: 12 });
  const [d] = (await call('GET', '/kbs/v0/decisions?limit=1')).json;
  const dry = await call('POST', `/kbs/v0/decisions/${d.id}/dry-run`, { kind: 'resource', policy: 'package policy\n\nallow if ) {\n' });
  assert.deepEqual(dry.json.location, { file: 'resource-policy.rego', row: 3, col: 10 });
  // Other refusals carry no location.
  assert.equal((await call('POST', `/kbs/v0/decisions/${d.id}/dry-run`, { kind: 'x', policy: 'p' })).json.location, undefined);

  const text = 'package policy\n\ntrust_claims := {"executables": 3}\n';
  assert.equal((await call('POST', '/kbs/v0/attestation-policy', { policy_id: 'custom', policy: policy(text) })).status, 200);
  assert.equal((await call('GET', '/kbs/v0/attestation-policy/custom')).body, text);
  assert.ok((await call('GET', '/kbs/v0/status')).json.attestation_policies.includes('custom'));
  await h.kbs.store.policies.delete('attestation', 'custom');
});

test('dry-run flags the reference values it relies on that are expired now, and with expiring_before those about to expire', async () => {
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  const now = h.clock.now.getTime();
  const soon = new Date(now + 1_800_000).toISOString();
  const later = new Date(now + 30 * 86_400_000).toISOString();
  // The built-in sample policy consults svn and launch_digest.
  await admin.setReferenceValues({ svn: [1], launch_digest: ['abc'] }, { svn: { algorithm: 'operator-supplied', expires: soon }, launch_digest: { algorithm: 'operator-supplied', expires: later } });
  try {
    const evidence = await new SampleAttester().getEvidence(new Uint8Array(32).fill(7));
    const upload = (extra: Record<string, unknown> = {}) => call('POST', '/kbs/v0/dry-run', { tee: 'sample', evidence, kind: 'resource', resource: 'default/key/one', policy: ALLOW_ALL, ...extra });
    // Nothing expired, nothing asked about: no flags, the candidate decides.
    let r = await upload();
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.verdict, 'allow');
    assert.equal(r.json.expired_reference_values, undefined);
    assert.equal(r.json.expiring_reference_values, undefined);
    // Expiring within a day: svn only (launch_digest lasts 30 days).
    r = await upload({ expiring_before: new Date(now + 86_400_000).toISOString() });
    assert.deepEqual(r.json.expiring_reference_values, { svn: soon });
    assert.equal(r.json.verdict, 'allow');
    r = await upload({ expiring_before: new Date(now + 60 * 86_400_000).toISOString() });
    assert.deepEqual(r.json.expiring_reference_values, { svn: soon, launch_digest: later });

    // Forty minutes on, svn has expired: the attestation would be denied, and the dry-run says so and why.
    h.clock.now = new Date(now + 2_400_000);
    r = await upload({ expiring_before: new Date(now + 86_400_000).toISOString() });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.expired_reference_values, { svn: soon });
    assert.equal(r.json.expiring_reference_values, undefined);
    assert.equal(r.json.verdict, 'deny');
    assert.equal(r.json.reason, `reference value "svn" expired at ${soon}; register it again`);
    const att = await call('POST', '/kbs/v0/dry-run', { tee: 'sample', evidence, kind: 'attestation', policy: defaultAttestationPolicy('default_cpu')! });
    assert.equal(att.json.verdict, 'deny');
    assert.deepEqual(att.json.expired_reference_values, { svn: soon });

    // On a recorded decision: its attestation compared svn and launch_digest.
    const [attested] = (await call('GET', '/kbs/v0/decisions?type=attestation&limit=1')).json;
    const onRecord = await call('POST', `/kbs/v0/decisions/${attested.id}/dry-run`, { kind: 'attestation', policy: defaultAttestationPolicy('default_cpu')!, expiring_before: new Date(now + 60 * 86_400_000).toISOString() });
    assert.equal(onRecord.status, 200, onRecord.body);
    assert.equal(onRecord.json.verdict, 'deny');
    assert.deepEqual(onRecord.json.expired_reference_values, { svn: soon });
    assert.deepEqual(onRecord.json.expiring_reference_values, { launch_digest: later });
    const [release] = (await call('GET', '/kbs/v0/decisions?type=release&limit=1')).json;
    const resource = await call('POST', `/kbs/v0/decisions/${release.id}/dry-run`, { kind: 'resource', policy: ALLOW_ALL });
    assert.equal(resource.json.verdict, 'allow');
    // A release record names no reference values of its own; its claims came from an earlier attestation.
    assert.equal(resource.json.expired_reference_values, undefined);
    for (const bad of ['tomorrow', 7, '2027-13-45T00:00:00Z', '']) {
      const e = await upload({ expiring_before: bad });
      assert.ok(e.status >= 400 && e.status < 500, `${JSON.stringify(bad)}: ${e.status} ${e.body}`);
      assert.match(e.json.detail, /expiring_before/);
    }
  } finally {
    h.clock.now = new Date(now);
    await h.kbs.store.referenceValues.delete('svn');
    await h.kbs.store.referenceValues.delete('launch_digest');
  }
});

test('an attestation fetched later recomputes its policy trace from the policy and reference-value set versions it names', async () => {
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const rvKeys = async () => (await h.kbs.store.kv.keys('rv-set/')).length;
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  // The sample TEE reports platform version 1.4: a minimum minor version of 5 leaves `hardware` unrecognised.
  await admin.setReferenceValues({ launch_digest: ['abcde'], svn: ['1'], major_version: 1, minimum_minor_version: 5 });
  await new KbsClient(h.url, new SampleAttester()).attest();
  const [first] = (await call('GET', '/kbs/v0/decisions?type=attestation&limit=1')).json;
  const values = Object.fromEntries((await h.kbs.store.referenceValues.list()).map((r) => [r.name, r.value]));
  assert.equal(first.rv_set_hash, sha(canonicalJson(values)));
  const sets = await rvKeys();
  // The same set for every further attestation: one kept row, whatever the number of decisions.
  await new KbsClient(h.url, new SampleAttester()).attest();
  const [second] = (await call('GET', '/kbs/v0/decisions?type=attestation&limit=1')).json;
  assert.equal(second.rv_set_hash, first.rv_set_hash);
  assert.equal(await rvKeys(), sets);

  const got = await call('GET', `/kbs/v0/decisions/${first.id}`);
  assert.equal(got.status, 200, got.body);
  const ex = got.json.explain;
  assert.deepEqual([ex.available, ex.policy_id, ex.policy_hash, ex.rv_set_hash], [true, 'default_cpu', first.policy_hash, first.rv_set_hash]);
  const [cpu0] = ex.appraisals;
  assert.equal(cpu0.submod, 'cpu0');
  assert.deepEqual([cpu0.status, cpu0.recorded_status, cpu0.same_as_recorded], ['contraindicated', 'contraindicated', true]);
  assert.deepEqual(cpu0.trust_vector, first.claims.submods.cpu0['ear.trustworthiness-vector']);
  assert.deepEqual([cpu0.trust_vector.hardware, cpu0.trust_vector.executables], [97, 3]);
  // The failing rule: `hardware`'s body stopped at the minor-version comparison, with both values.
  assert.deepEqual(cpu0.failing.map((f: any) => [f.claim, f.value, f.tier, f.rule]), [['hardware', 97, 'contraindicated', 'data.policy.hardware']]);
  const hw = cpu0.failing.find((f: any) => f.claim === 'hardware');
  assert.equal(hw.bodies.length, 1);
  assert.equal(hw.bodies[0].failed.text, 'input.sample.platform_version.minor >= query_reference_value("minimum_minor_version")');
  assert.deepEqual(Object.values(hw.bodies[0].failed.operands).slice(-2), [4, 5]);
  assert.equal(cpu0.reference_values.minimum_minor_version, 5);
  assert.deepEqual(cpu0.redaction.redacted, ['runtime_data_claims.nonce']);
  assert.equal(cpu0.redaction.may_differ, false);
  assert.equal(ex.note, undefined);

  // The values change; the new attestation names a new set and the old one is still explained by its own.
  await admin.setReferenceValues({ minimum_minor_version: 4 });
  await new KbsClient(h.url, new SampleAttester()).attest();
  const [third] = (await call('GET', '/kbs/v0/decisions?type=attestation&limit=1')).json;
  assert.notEqual(third.rv_set_hash, first.rv_set_hash);
  assert.equal(third.claims.submods.cpu0['ear.trustworthiness-vector'].hardware, 2);
  assert.deepEqual((await call('GET', `/kbs/v0/decisions/${first.id}`)).json, got.json);
  // A dry-run of an attestation policy on the first record uses the set that record names, not today's values.
  const dry = await call('POST', `/kbs/v0/decisions/${first.id}/dry-run`, { kind: 'attestation', policy: defaultAttestationPolicy('default_cpu') });
  assert.deepEqual([dry.json.trace.trust_vector.hardware, dry.json.reference_value_set], [97, `recorded set ${first.rv_set_hash}`]);
  const now = (await call('GET', `/kbs/v0/decisions/${third.id}`)).json.explain;
  assert.deepEqual([now.appraisals[0].trust_vector.hardware, now.appraisals[0].failing.some((f: any) => f.claim === 'hardware')], [2, false]);

  // A set whose kept text is gone, or does not hash to its name, is said so; so is such a policy version.
  const key = `rv-set/${first.rv_set_hash}`;
  const kept = (await h.kbs.store.kv.get(key))!;
  await h.kbs.store.kv.put(key, utf8.encode('{"minimum_minor_version":0}'));
  const altered = (await call('GET', `/kbs/v0/decisions/${first.id}`)).json.explain;
  assert.deepEqual([altered.available, altered.note], [false, 'this reference-value set version is kept altered: its text does not hash to its name; the trace is the one recorded']);
  await h.kbs.store.kv.delete(key);
  assert.match((await call('GET', `/kbs/v0/decisions/${first.id}`)).json.explain.note, /^this reference-value set version is not kept/);
  await h.kbs.store.kv.put(key, kept);
  const pkey = `policy-version/${first.policy_hash}`;
  const ptext = (await h.kbs.store.kv.get(pkey))!;
  await h.kbs.store.kv.put(pkey, utf8.encode(ALLOW_ALL));
  assert.match((await call('GET', `/kbs/v0/decisions/${first.id}`)).json.explain.note, /^the text of this policy version is kept altered/);
  await h.kbs.store.kv.put(pkey, ptext);
  assert.deepEqual((await call('GET', `/kbs/v0/decisions/${first.id}`)).json, got.json);
});

test('a recomputed attestation trace says which claims were redacted and whether the policy read them', async () => {
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  // The nonce is 32 bytes in base64 (44 characters) at the request; the record keeps "[redacted]".
  const reads = 'package policy\n\nimport rego.v1\n\ndefault executables := 33\n\nexecutables := 3 if count(input.runtime_data_claims.nonce) == 44\n\ntrust_claims := {"executables": executables}\n';
  await admin.setAttestationPolicy(reads);
  try {
    await new KbsClient(h.url, new SampleAttester()).attest();
    const [d] = (await call('GET', '/kbs/v0/decisions?type=attestation&limit=1')).json;
    assert.equal(d.claims.submods.cpu0['ear.trustworthiness-vector'].executables, 3);
    const ex = (await call('GET', `/kbs/v0/decisions/${d.id}`)).json.explain;
    const [cpu0] = ex.appraisals;
    assert.deepEqual([cpu0.trust_vector.executables, cpu0.same_as_recorded], [33, false]);
    assert.deepEqual(cpu0.redaction.read, [{ claim: 'runtime_data_claims.nonce', ref: 'input.runtime_data_claims.nonce', line: 7 }]);
    assert.equal(cpu0.redaction.may_differ, true);
    assert.match(cpu0.redaction.note, /^re-run may differ: the policy reads redacted claims \(runtime_data_claims\.nonce\)/);
    assert.match(ex.note, /trust vector other than the one recorded/);
    // A policy that reads the document holding the nonce may read the nonce too.
    await admin.setAttestationPolicy('package policy\n\nimport rego.v1\n\nrd := input.runtime_data_claims\n\ntrust_claims := {"executables": count(rd)}\n');
    await new KbsClient(h.url, new SampleAttester()).attest();
    const [d2] = (await call('GET', '/kbs/v0/decisions?type=attestation&limit=1')).json;
    const r2 = (await call('GET', `/kbs/v0/decisions/${d2.id}`)).json.explain.appraisals[0].redaction;
    assert.deepEqual([r2.may_differ, r2.read[0].ref], [true, 'input.runtime_data_claims']);
  } finally {
    await h.kbs.store.policies.delete('attestation', 'default_cpu');
  }
});

test('each appraisal of an attestation with a device is recomputed with its own policy version', async () => {
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  // A GPU policy that recognises the device by its SVN among the reference values (the sample device reports "2").
  const gpu = 'package policy\n\nimport rego.v1\n\ndefault hardware := 97\n\nhardware := 2 if input.sampledevice.svn in query_reference_value("device_svn")\n\ntrust_claims := {"hardware": hardware}\n';
  await admin.setAttestationPolicy(gpu, 'default_gpu');
  await admin.setReferenceValues({ device_svn: ['3'] });
  await new KbsClient(h.url, new SampleAttester(), { deviceAttesters: [new SampleAttester('sampledevice')] }).attest();
  const [d] = (await call('GET', '/kbs/v0/decisions?type=attestation&limit=1')).json;
  assert.deepEqual(Object.keys(d.claims.submods).sort(), ['cpu0', 'gpu0']);
  const cpuText = defaultAttestationPolicy('default_cpu')!;
  assert.deepEqual(d.appraisal_policies, { cpu0: { id: 'default_cpu', hash: sha(cpuText) }, gpu0: { id: 'default_gpu', hash: sha(gpu) } });
  assert.deepEqual([d.policy_id, d.policy_hash], ['default_cpu', sha(cpuText)]);
  assert.equal(d.claims.submods.gpu0['ear.trustworthiness-vector'].hardware, 97);
  // The GPU policy changes afterwards: the record is still explained by the version that made it.
  await admin.setAttestationPolicy('package policy\n\nimport rego.v1\n\ntrust_claims := {"hardware": 2}\n', 'default_gpu');
  const ex = (await call('GET', `/kbs/v0/decisions/${d.id}`)).json.explain;
  assert.equal(ex.available, true);
  const byName = Object.fromEntries(ex.appraisals.map((a: any) => [a.submod, a]));
  assert.deepEqual([byName.cpu0.available, byName.cpu0.policy_id, byName.cpu0.same_as_recorded], [true, 'default_cpu', true]);
  const g = byName.gpu0;
  assert.deepEqual([g.available, g.policy_id, g.policy_hash, g.same_as_recorded, g.status], [true, 'default_gpu', sha(gpu), true, d.claims.submods.gpu0['ear.status']]);
  assert.deepEqual(g.trust_vector, d.claims.submods.gpu0['ear.trustworthiness-vector']);
  assert.deepEqual(g.reference_values, { device_svn: ['3'] });
  const hw = g.failing.find((f: any) => f.claim === 'hardware');
  assert.equal(hw.bodies[0].failed.text, 'input.sampledevice.svn in query_reference_value("device_svn")');
  // The GPU policy's version gone: that appraisal alone says so.
  const key = `policy-version/${sha(gpu)}`;
  const kept = (await h.kbs.store.kv.get(key))!;
  await h.kbs.store.kv.delete(key);
  const without = Object.fromEntries((await call('GET', `/kbs/v0/decisions/${d.id}`)).json.explain.appraisals.map((a: any) => [a.submod, a]));
  assert.deepEqual([without.cpu0.available, without.gpu0.available], [true, false]);
  assert.match(without.gpu0.note, /^the text of this policy version is not kept/);
  await h.kbs.store.kv.put(key, kept);
});

test('with several attestation policies stored, the record names the default of the primary evidence\'s class', async () => {
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  const cpu = `${defaultAttestationPolicy('default_cpu')!}\n# stored default_cpu\n`;
  const gpu = `${defaultAttestationPolicy('default_gpu')!}\n# stored default_gpu\n`;
  // Decoys under the ids of submodules and of the requested policy: none of them appraises anything.
  const decoy = 'package policy\n\nimport rego.v1\n\ntrust_claims := {"executables": 97}\n';
  const ids = ['default_cpu', 'default_gpu', 'cpu0', 'gpu0', 'default', 'default_cpu0'];
  try {
    for (const id of ids.slice(2)) await admin.setAttestationPolicy(decoy, id);
    await admin.setAttestationPolicy(gpu, 'default_gpu');
    await admin.setAttestationPolicy(cpu, 'default_cpu');
    await new KbsClient(h.url, new SampleAttester(), { deviceAttesters: [new SampleAttester('sampledevice')] }).attest();
    const [d] = (await call('GET', '/kbs/v0/decisions?type=attestation&limit=1')).json;
    assert.deepEqual([d.policy_id, d.policy_hash], ['default_cpu', sha(cpu)]);
    assert.deepEqual(d.appraisal_policies, { cpu0: { id: 'default_cpu', hash: sha(cpu) }, gpu0: { id: 'default_gpu', hash: sha(gpu) } });
    assert.notEqual(d.claims.submods.cpu0['ear.trustworthiness-vector'].executables, 97);
  } finally {
    for (const id of ids) await h.kbs.store.policies.delete('attestation', id);
  }
});
