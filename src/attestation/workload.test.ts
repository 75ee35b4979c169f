import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { parseReport } from '../tee/snp/format.js';
import { createSnpVerifier, createTestRoot, vcekCachePaths } from '../tee/snp/index.js';
import { readVector, readVectorJson, toolMissing } from '../test-support/vectors.js';
import {
  appraise,
  appraiseQueries,
  appraiseRegistration,
  canonicalIntegerBase64,
  defaultPolicy,
  freshnessHash,
  hostDataForUuid,
  keybrokerClaims,
  keybrokerDuplicateKey,
  validateQueries,
  parseKeybrokerRegistration,
  parseRefKbsRegistration,
  parseRegistrationBody,
  rsaPkcs1Hex,
  rsaPublicKey,
  rvpRegisterResponse,
  uuidFromHostData,
  validatePolicy,
  verifyRawSnpReport,
  workloadIdFromExtraParams,
} from './workload.js';
import { loadRego } from '../rego/lazy.js';

// The policy helpers run synchronously on the Rego engine, which the server loads on its first request.
await loadRego();

const P = (f: string) => ['keybroker', 'protocol', f];
const ids = readVectorJson(...P('freshness_and_ids.json'));
const pem = readVector(...P('tee_rsa2048_private.pem')).toString();

/** PKCS#1 v1.5 decryption by the openssl CLI (Node 20 refuses PKCS#1 v1.5 private decryption). */
function opensslDecrypt(ciphertextHex: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-kb-'));
  try {
    writeFileSync(join(dir, 'key.pem'), pem);
    writeFileSync(join(dir, 'ct.bin'), Buffer.from(ciphertextHex, 'hex'));
    return execFileSync('openssl', ['pkeyutl', '-decrypt', '-inkey', join(dir, 'key.pem'), '-pkeyopt', 'rsa_padding_mode:pkcs1', '-in', join(dir, 'ct.bin')]).toString();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('freshness hashes of both dialects reproduce the vectors', () => {
  const n = ids['k-mod_base64'];
  const e = ids['k-exp_base64'];
  assert.equal(toHex(freshnessHash(ids.reference_kbs.nonce, n, e)), ids.reference_kbs.report_data_hex);
  assert.equal(toHex(freshnessHash(ids.keybroker.nonce, n, e)), ids.keybroker.report_data_hex);
  // The vector key is the PEM's: modulus and exponent are its minimal big-endian bytes.
  const jwk = createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' });
  assert.equal(Buffer.from(jwk.n!, 'base64url').toString('base64'), n);
  assert.equal(canonicalIntegerBase64(n, 'n'), n);
  // keybroker recomputes: a leading zero byte is dropped, so it hashes differently from what was sent.
  const padded = Buffer.concat([Buffer.alloc(1), Buffer.from(n, 'base64')]).toString('base64');
  assert.equal(canonicalIntegerBase64(padded, 'n'), n);
});

test('the synthetic reports carry the freshness hash, measurement and HOST_DATA of the vectors', () => {
  const kb = parseReport(readVector(...P('synthetic_snp_report_keybroker.bin')));
  const rk = parseReport(readVector(...P('synthetic_snp_report_refkbs.bin')));
  assert.equal(toHex(kb.reportData), ids.keybroker.report_data_hex);
  assert.equal(toHex(rk.reportData), ids.reference_kbs.report_data_hex);
  assert.equal(toHex(kb.hostData), ids.keybroker_host_data_hex);
  assert.deepEqual(new Uint8Array(readVector(...P('keybroker_host_data.bin'))), kb.hostData);
  assert.equal(uuidFromHostData(kb.hostData), ids.keybroker_registration_uuid);
  assert.ok(rk.hostData.every((b) => b === 0));
});

test('keybroker claims of the synthetic report equal the expected vector, platform-info bits swapped as sev 3.1.1 does', () => {
  const report = parseReport(readVector(...P('synthetic_snp_report_keybroker.bin')));
  const expected = readVectorJson(...P('keybroker_claims_expected.json'));
  assert.deepEqual(keybrokerClaims(report), expected);
  // The quirk: bit 0 (AMD SMT_EN) is reported as TSME, bit 1 (AMD TSME_EN) as SMT.
  const onlyBit0 = keybrokerClaims({ ...report, platformInfo: 1n });
  assert.equal(onlyBit0.platform_tsme_enabled, 'true');
  assert.equal(onlyBit0.platform_smt_enabled, 'false');
  const onlyBit1 = keybrokerClaims({ ...report, platformInfo: 2n });
  assert.equal(onlyBit1.platform_tsme_enabled, 'false');
  assert.equal(onlyBit1.platform_smt_enabled, 'true');
  for (const v of Object.values(keybrokerClaims(report))) assert.equal(typeof v, 'string');
});

test('rvp/register response and HOST_DATA come from the registration UUID', () => {
  const body = readVector(...P('keybroker_rvp_register_response.txt')).toString();
  assert.equal(rvpRegisterResponse(ids.keybroker_registration_uuid), body);
  assert.equal(body.length, 44);
  assert.deepEqual(hostDataForUuid(ids.keybroker_registration_uuid), new Uint8Array(readVector(...P('keybroker_host_data.bin'))));
});

test('the keybroker registration request parses; its duplicate key ignores secret values and key order', () => {
  const req = readVectorJson(...P('keybroker_rvp_register_request.json'));
  const reg = parseKeybrokerRegistration(req);
  assert.deepEqual(reg.query, ['data.measurement == input.measurement']);
  const key = (r: typeof reg) => keybrokerDuplicateKey({ queries: r.query, referenceValues: r.reference_values }, Object.keys(r.resources));
  const k = key(reg);
  const reordered = parseKeybrokerRegistration({ resources: req.resources, reference_values: req.reference_values, query: req.query });
  assert.equal(key(reordered), k);
  // A different secret value is the same registration: nothing derived from the secret is kept or compared.
  assert.equal(key(parseKeybrokerRegistration({ ...req, resources: { passphrase: 'other' } })), k);
  assert.ok(!k.includes(req.resources.passphrase));
  assert.notEqual(key(parseKeybrokerRegistration({ ...req, resources: { other: 'x' } })), k);
  assert.notEqual(key(parseKeybrokerRegistration({ ...req, query: ['true'] })), k);
});

test('keybroker queries are enforced against the vector claims: true releases, false and undefined deny', () => {
  const reg = parseKeybrokerRegistration(readVectorJson(...P('keybroker_rvp_register_request.json')));
  const claims = readVectorJson(...P('keybroker_claims_expected.json'));
  assert.equal(appraiseQueries(reg.query, reg.reference_values, claims).allow, true);
  const wrong = appraiseQueries(reg.query, { measurement: '00'.repeat(48) }, claims);
  assert.equal(wrong.allow, false);
  assert.match(wrong.reason, /data\.measurement == input\.measurement/);
  assert.equal(appraiseQueries(['data.nothing == input.measurement'], reg.reference_values, claims).allow, false);
  assert.equal(appraiseQueries(['input.policy_debug_allowed == "false"'], {}, claims).allow, true);
  // No query decides nothing, and nothing decided denies (keybroker released on an empty list).
  assert.equal(appraiseQueries([], reg.reference_values, claims).allow, false);
  assert.throws(() => validateQueries([]), /at least one query/);
});

test('the buildah registration and krun messages parse; the krun key binds to the report it carries', () => {
  const reg = parseRefKbsRegistration(readVectorJson(...P('refkbs_register_workload_request.json')));
  assert.equal(reg.workload_id, ids.workload_id);
  assert.equal(reg.passphrase, ids.passphrase_plaintext);
  const auth = readVectorJson(...P('krun_auth_request.json'));
  assert.equal(workloadIdFromExtraParams(auth['extra-params']), ids.workload_id);
  const attest = readVectorJson(...P('krun_attest_request.json'));
  const ev = JSON.parse(attest['tee-evidence']);
  assert.equal(ev.cert_chain, '[]');
  const report = parseReport(fromHex(ev.report.toLowerCase()));
  assert.equal(toHex(report.reportData), toHex(freshnessHash(readVectorJson(...P('refkbs_auth_response.json')).nonce, attest['tee-pubkey']['k-mod'], attest['tee-pubkey']['k-exp'])));
  assert.equal(toHex(report.measurement), reg.launch_measurement);
  const kb = readVectorJson(...P('keybroker_attest_request.json'));
  const kbReport = parseReport(fromHex(JSON.parse(kb['tee-evidence']).report));
  assert.equal(toHex(kbReport.reportData), toHex(freshnessHash(readVectorJson(...P('keybroker_auth_response.json')).nonce, kb['tee-pubkey'].n, kb['tee-pubkey'].e)));
});

test('the vector ciphertexts decrypt to the passphrase with the vector key, and so do ours', { skip: toolMissing('openssl') }, () => {
  const refkbs = readVectorJson(...P('refkbs_key_response.json'));
  assert.equal(typeof refkbs, 'string');
  assert.equal(opensslDecrypt(refkbs), ids.passphrase_plaintext);
  const kb = readVectorJson(...P('keybroker_resource_response.json'));
  assert.deepEqual({ ...kb, ciphertext: '' }, { protected: '', encrypted_key: '', iv: '', ciphertext: '', tag: '' });
  assert.equal(opensslDecrypt(kb.ciphertext), ids.passphrase_plaintext);
  const ours = rsaPkcs1Hex(rsaPublicKey(ids['k-mod_base64'], ids['k-exp_base64']), new TextEncoder().encode(ids.passphrase_plaintext));
  assert.match(ours, /^[0-9a-f]{512}$/);
  assert.equal(opensslDecrypt(ours), ids.passphrase_plaintext);
});

test('the default policy requires every reference value to equal its claim and says which differ', () => {
  const rv = { measurement: 'aa', host_data: 'bb' };
  const p = defaultPolicy(rv);
  validatePolicy(p);
  assert.equal(appraise(p, rv, { measurement: 'aa', host_data: 'bb', other: 1 }).allow, true);
  const d = appraise(p, rv, { measurement: 'ab', host_data: 'bb' });
  assert.equal(d.allow, false);
  assert.match(d.reason, /measurement: claim "ab", reference "aa"/);
  assert.match(appraise(p, rv, { measurement: 'aa' }).reason, /host_data: claim absent/);
  // A custom policy: undefined and false both deny.
  assert.equal(appraise('package workload\nallow if input.x > data.min', { min: 3 }, { x: 4 }).allow, true);
  assert.equal(appraise('package workload\nallow if input.x > data.min', { min: 3 }, { x: 2 }).allow, false);
  assert.throws(() => validatePolicy('package other\nallow := true'), (e: CocoError) => e.code === 'WORKLOAD_POLICY');
  assert.throws(() => validatePolicy('package workload\nallow if {'), (e: CocoError) => e.code === 'WORKLOAD_POLICY');
});

test('fuzzed registration bodies of all three front doors give CocoErrors, never crashes', () => {
  const good = { tee: 'snp', reference_values: { measurement: 'aa'.repeat(48) }, resources: { passphrase: 'x' } };
  const arb = fc.oneof(
    fc.anything(),
    fc.record({ tee: fc.anything(), reference_values: fc.anything(), resources: fc.anything(), identify: fc.anything(), policy: fc.anything(), workload_id: fc.anything() }, { requiredKeys: [] }),
    fc.dictionary(fc.string(), fc.jsonValue()),
  );
  fc.assert(
    fc.property(arb, (body) => {
      for (const f of [
        () => parseRegistrationBody(body, 'create'),
        () => parseRegistrationBody(body, 'update'),
        () => parseKeybrokerRegistration(body),
        () => parseRefKbsRegistration(body),
      ]) {
        try {
          f();
        } catch (e) {
          assert.ok(e instanceof CocoError, String(e));
        }
      }
    }),
    { numRuns: 400 },
  );
  assert.equal(parseRegistrationBody(good, 'create').identify!.join(','), 'host_data,init_data');
  assert.throws(() => parseRegistrationBody({ ...good, workload_id: 'not-a-uuid' }, 'create'), /UUID/);
  assert.throws(() => parseRegistrationBody({ ...good, reference_values: { workload: 1 } }, 'create'), /reserved/);
  assert.throws(() => parseRegistrationBody({ ...good, resources: { '../x': 'y' } }, 'create'), /resource name/);
  assert.throws(() => parseRegistrationBody(good, 'update'), (e: CocoError) => e.code === 'WORKLOAD_VERSION_REQUIRED');
});

test('keybroker registrations are bounded: query count, resource count and secret size', () => {
  const base = { query: ['true'], reference_values: {}, resources: {} };
  const isLimit = (e: CocoError) => e.code === 'WORKLOAD_LIMIT' && e.kind === 'limit';
  assert.throws(() => parseKeybrokerRegistration({ ...base, query: Array(65).fill('true') }), isLimit);
  assert.throws(() => parseKeybrokerRegistration({ ...base, resources: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`r${i}`, 'x'])) }), isLimit);
  assert.throws(() => parseKeybrokerRegistration({ ...base, resources: { big: 'x'.repeat(64 * 1024 + 1) } }), isLimit);
  assert.equal(parseKeybrokerRegistration({ ...base, resources: { ok: 'x'.repeat(64 * 1024) } }).resources.ok.length, 64 * 1024);
});

test('raw reports are verified as received: a flip in any byte, reserved TCB bytes included, is refused', async () => {
  const root = createTestRoot();
  const chip = root.createChip();
  const cache = mkdtempSync(join(tmpdir(), 'cocokit-vcek-'));
  try {
    const path = vcekCachePaths(cache, 'milan', chip.chipId, { ...chip.tcb, raw: 0n })[0];
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, chip.vcek.raw);
    const verifier = createSnpVerifier({ roots: root.roots, cacheDir: cache });
    const rd = freshnessHash(ids.reference_kbs.nonce, ids['k-mod_base64'], ids['k-exp_base64']);
    const report = root.signReport(chip, { reportData: rd });
    const now = new Date();
    const ok = await verifyRawSnpReport(verifier, toHex(report).toUpperCase(), rd, now);
    assert.equal(ok.claims.host_data, '00'.repeat(32));
    // Extra bytes after the 1184 are ignored, as keybroker reads only the first 1184.
    await verifyRawSnpReport(verifier, toHex(report) + 'ff', rd, now);
    // 0x3A and 0x182 are reserved bytes of CURRENT_TCB / REPORTED_TCB on Milan; the rest sample the report.
    for (const i of [0x0, 0x3a, 0x3d, 0x50, 0x90, 0xc0, 0x182, 0x1e2, 0x1f5, 0x29f, 0x2a0, 0x2e8]) {
      const b = report.slice();
      b[i] ^= 1;
      await assert.rejects(verifyRawSnpReport(verifier, toHex(b), rd, now), (e: CocoError) => e instanceof CocoError, `byte 0x${i.toString(16)}`);
    }
    await assert.rejects(verifyRawSnpReport(verifier, toHex(report), new Uint8Array(64), now), (e: CocoError) => e.code === 'WORKLOAD_KEY_BINDING');
    await assert.rejects(verifyRawSnpReport(verifier, toHex(report.subarray(0, 1000)), rd, now), (e: CocoError) => e.code === 'WORKLOAD_EVIDENCE');
    await assert.rejects(verifyRawSnpReport(verifier, 'zz', rd, now), (e: CocoError) => e.code === 'WORKLOAD_EVIDENCE');
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('SEV-SNP reference values are checked at registration: lower-case hex of the field length, one value or a list', () => {
  const body = (rv: Record<string, unknown>) => ({ tee: 'snp', reference_values: rv, resources: { k: 'v' } });
  const ok = parseRegistrationBody(body({ measurement: 'ab'.repeat(48), init_data: ['00'.repeat(32), '11'.repeat(32)], svn: 3, anything_else: 'AB' }), 'create');
  assert.equal(ok.referenceValues.measurement, 'ab'.repeat(48));
  for (const [rv, re] of [
    [{ measurement: 'ab'.repeat(32) }, /measurement for snp must be 48 bytes .* got 32 bytes/],
    [{ measurement: 'AB'.repeat(48) }, /upper case/],
    [{ host_data: 'zz'.repeat(32) }, /host_data .* not hex/],
    [{ report_data: 7 }, /report_data .* got a number/],
    [{ init_data: ['00'.repeat(32), 'abc'] }, /init_data/],
  ] as const) {
    assert.throws(() => parseRegistrationBody(body(rv), 'create'), (e: unknown) => e instanceof CocoError && e.kind === 'input' && re.test(e.message), JSON.stringify(rv));
  }
  // Other TEEs' claims are not known here and pass through.
  assert.equal(parseRegistrationBody({ ...body({ measurement: 'ab' }), tee: 'tdx' }, 'create').tee, 'tdx');
});

test('signed-statement provenance: signer, issuer and components are checked, then reach the registration policy as input.provenance', () => {
  const base = { tee: 'snp', reference_values: { measurement: 'ab'.repeat(48) }, resources: {} };
  const p = { algorithm: 'signed-statement', parameters: { predicate_type: 'https://cyclonedx.org/bom' }, inputs: { statement: 'cd'.repeat(32) }, signer: 'https://ci.example/build', signer_issuer: 'https://issuer.example', components: ['openssl@3.0.13'] };
  assert.deepEqual(parseRegistrationBody({ ...base, provenance: { measurement: p } }, 'create').provenance, { measurement: p });
  for (const bad of [{ signer: 7 }, { signer: '' }, { signer: 'x'.repeat(1025) }, { signer_issuer: {} }, { components: 'openssl' }, { components: [1] }, { signed_by: 'x' }]) {
    assert.throws(() => parseRegistrationBody({ ...base, provenance: { measurement: { ...p, ...bad } } }, 'create'), (e: unknown) => e instanceof CocoError && e.code === 'WORKLOAD_BODY');
  }
  const policy = `package workload\n\ndefault allow := false\n\nallow if {\n\tinput.measurement == data.measurement\n\tinput.provenance.measurement.signer == "https://ci.example/build"\n\t"openssl@3.0.13" in input.provenance.measurement.components\n}\n`;
  const spec = { referenceValues: base.reference_values, identify: ['host_data' as const], dialect: 'native' as const, provenance: { measurement: p } };
  const claims = { measurement: 'ab'.repeat(48) };
  assert.equal(appraiseRegistration({ policy }, spec, claims).allow, true);
  assert.equal(appraiseRegistration({ policy }, { ...spec, provenance: { measurement: { ...p, signer: 'https://ci.example/other' } } }, claims).allow, false);
  assert.equal(appraiseRegistration({ policy }, { ...spec, provenance: { measurement: { ...p, components: ['openssl@1.1.1'] } } }, claims).allow, false);
  // Evidence cannot stand in for the registration's provenance.
  assert.equal(appraiseRegistration({ policy }, { ...spec, provenance: undefined }, { ...claims, provenance: { measurement: p } }).allow, false);
  // keybroker-style queries read it too.
  assert.equal(appraiseRegistration({ policy: '' }, { ...spec, queries: ['input.provenance.measurement.signer == "https://ci.example/build"'] }, claims).allow, true);
});
