import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { openSqliteStore } from '../store/sqlite.js';
import { RegoAttestationPolicy } from '../policy/evaluators.js';
import { defaultAttestationPolicy } from '../policy/builtin.js';
import { DecisionLog, type Decision } from './decisions.js';
import { explainAttestation, policyInputRefs, redactedPaths, redactionReport } from './decision-recompute.js';
import { referenceValueSetVersion } from './decision-versions.js';
import { loadRego } from '../rego/lazy.js';

// The policy helpers run synchronously on the Rego engine, which the server loads on its first request.
await loadRego();

test('the policy\'s references to input are found with their paths and lines; computed parts match any key', () => {
  const text = 'package policy\n\nimport rego.v1\n\nx if input.a.b == 1\n\ny if {\n\tsome k\n\tinput.c[k].d\n}\n\nz := input\n\nw if input["e-f"][0]\n';
  assert.deepEqual(
    policyInputRefs(text).map((r) => [r.text, r.row]),
    [['input.a.b', 5], ['input.c[_].d', 9], ['input', 12], ['input["e-f"][0]', 14]],
  );
  const input = { a: { b: 1, nonce: '[redacted]' }, c: { one: { d: 1, token: '[redacted]' } }, e: [{ secret: '[redacted]' }] };
  assert.deepEqual(redactedPaths(input), [['a', 'nonce'], ['c', 'one', 'token'], ['e', 0, 'secret']]);
  // input.c[_].d does not lead to c.one.token; `z := input` holds everything.
  const r = redactionReport(text, input);
  assert.deepEqual(r.redacted, ['a.nonce', 'c.one.token', 'e.0.secret']);
  assert.deepEqual(r.read.map((x) => [x.claim, x.ref]), [['a.nonce', 'input'], ['c.one.token', 'input'], ['e.0.secret', 'input']]);
  assert.equal(r.may_differ, true);
  const narrow = redactionReport('package policy\n\nimport rego.v1\n\nx if input.a.b == 1\n\ny if input.c[_].token\n', input);
  assert.deepEqual([narrow.may_differ, narrow.read.map((x) => x.ref)], [true, ['input.c[_].token']]);
  const none = redactionReport('package policy\n\nimport rego.v1\n\nx if input.a.b == 1\n', input);
  assert.deepEqual([none.may_differ, none.read, none.note], [false, [], 'the policy reads none of the redacted claims; the re-run decides as the request did']);
  assert.equal(redactionReport('package policy\n\nx := input\n', { a: 1 }).note, 'no claim was redacted; the re-run sees what the request saw');
});

test('an attestation record with any claims is explained or said not to be, never thrown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-recompute-'));
  const store = await openSqliteStore({ dataDir: dir, kek: new Uint8Array(32).fill(9) });
  try {
    const policyText = defaultAttestationPolicy('default_cpu')!;
    const set = referenceValueSetVersion({ svn: ['1'] });
    const written = await new DecisionLog(store).record({ type: 'attestation', client: 'c', tee: 'sample', verdict: 'allow', policyId: 'default_cpu', policyText, referenceValueSet: set });
    const base = written!;
    const attestationPolicy = new RegoAttestationPolicy();
    const json = fc.jsonValue({ maxDepth: 4 });
    const claims = fc.oneof(
      json,
      fc.record({ submods: fc.dictionary(fc.oneof(fc.constant('cpu0'), fc.constant('gpu0'), fc.string({ maxLength: 6 })), fc.oneof(json, fc.record({ 'ear.veraison.annotated-evidence': json, 'ear.trustworthiness-vector': json, 'ear.status': json }))) }),
      fc.record({ submods: fc.record({ cpu0: fc.record({ 'ear.veraison.annotated-evidence': fc.record({ sample: json, runtime_data_claims: fc.record({ nonce: fc.constant('[redacted]') }) }) }) }) }),
    );
    await fc.assert(
      fc.asyncProperty(claims, fc.oneof(fc.constant(set.hash), fc.constant('0'.repeat(64)), fc.string({ maxLength: 70 })), async (c, rvHash) => {
        const d = { ...base, claims: c, rv_set_hash: rvHash } as Decision;
        try {
          const ex = await explainAttestation({ store, attestationPolicy }, d);
          assert.equal(typeof ex?.available, 'boolean');
          if (ex?.available) assert.ok(Array.isArray(ex.appraisals));
          else assert.ok(typeof ex?.note === 'string' || Array.isArray(ex?.appraisals));
        } catch (e) {
          assert.fail(`threw ${e instanceof CocoError ? e.code : String(e)}`);
        }
      }),
      { numRuns: 150 },
    );
    // A release, or an attestation denied before any policy ran, has no attestation trace.
    assert.equal(await explainAttestation({ store, attestationPolicy }, { ...base, type: 'release' }), undefined);
    const { policy_hash: _p, ...noPolicy } = base;
    assert.equal(await explainAttestation({ store, attestationPolicy }, noPolicy as Decision), undefined);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
