/**
 * The RVPS with provenance: Trustee's registration message unchanged, an optional `provenance` member stamped
 * with who registered each value, when and at which version; the records through the admin API and the CLI,
 * across a restart; a value past its stated expiry denies the attestation that consults it, naming it.
 */
import { snpSearchStates } from '../measure/snp-search.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient, signAdminToken } from '../client/admin-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { toBase64, utf8 } from '../formats/bytes.js';
import { readVector, readVectorJson, vectorPath } from '../test-support/vectors.js';
import { bufferIO } from '../cli/io.js';
import { run } from '../cli/program.js';
import { startKbs, type Harness } from './test-harness.js';
import { explainMismatches, explainReferenceValue, parseReferenceValueMessage, referenceValueSnapshot } from './reference-values.js';

let h: Harness;
let token: string;
let admin: KbsAdminClient;

const payload = (v: unknown): string => toBase64(utf8.encode(JSON.stringify(v)));

async function post(body: unknown, auth = true) {
  const r = await h.kbs.app.inject({
    method: 'POST',
    url: '/kbs/v0/reference-value',
    payload: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}) },
  });
  let json: any;
  try {
    json = JSON.parse(r.body);
  } catch {}
  return { status: r.statusCode, json, body: r.body };
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = bufferIO({}, h.dataDir);
  const code = await run(argv, io);
  return { code, out: io.out(), err: io.err() };
}

before(async () => {
  h = await startKbs();
  token = await signAdminToken(h.adminKeyPem, 'admin', 3600, h.clock.now);
  admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  writeFileSync(join(h.dataDir, 'admin.pem'), h.adminKeyPem);
});
after(async () => {
  await h.stop();
});

test("Trustee's message registers as before, and every value is stamped with who, when and its version", async () => {
  const r = await post({ version: '0.1.0', type: 'sample', payload: payload({ snp_bootloader: 10, snp_launch_measurement: ['ab'.repeat(48)] }) });
  assert.equal(r.status, 200, r.body);
  // Trustee's reads are unchanged: the bare value by id, the {name: value} listing.
  assert.equal(await admin.getReferenceValue('snp_bootloader'), 10);
  const plain = await h.kbs.app.inject({ method: 'GET', url: '/kbs/v0/reference-value', headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual(JSON.parse(plain.body).snp_launch_measurement, ['ab'.repeat(48)]);
  const rec = await admin.getReferenceValueRecord('snp_bootloader');
  const p = rec.provenance as Record<string, unknown>;
  assert.equal(p.registered_by, 'role=admin sub=admin');
  assert.equal(p.registered_at, h.clock.now.toISOString());
  assert.equal(p.version, 1);
  assert.equal(p.algorithm, undefined);
  // Trustee's 12-month expiration stays on the record; it is not a stated expiry.
  assert.equal(rec.expiration, new Date(Date.UTC(h.clock.now.getUTCFullYear() + 1, h.clock.now.getUTCMonth(), h.clock.now.getUTCDate(), h.clock.now.getUTCHours(), h.clock.now.getUTCMinutes(), h.clock.now.getUTCSeconds(), h.clock.now.getUTCMilliseconds())).toISOString());
  // A second registration of the name is version 2.
  await post({ version: '0.1.0', type: 'sample', payload: payload({ snp_bootloader: 11 }) });
  assert.equal(((await admin.getReferenceValueRecord('snp_bootloader')).provenance as Record<string, unknown>).version, 2);
});

test('set-reference-value --from-artifacts stores the provenance; get-reference-value --provenance and list-reference-values show it after a restart', async () => {
  const OVMF = vectorPath('snp', 'ovmf', 'OVMF.fd');
  const s04 = readVectorJson<{ cases: { id: string; expected: string }[] }>('snp', 'measure-cases.json').cases.find((c) => c.id === 's04-debian-4-milan-gf21')!.expected;
  const base = ['kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem'];
  const set = await cli([...base, 'set-reference-value', 'snp_launch_measurement', '--from-artifacts', '--ovmf', OVMF, '--vcpus', '4', '--vcpu-type', 'EPYC-Milan', '--guest-features', '0x21', '--expires', '2099-01-01T00:00:00Z']);
  assert.equal(set.code, 0, set.err);
  const ovmfSha = createHash('sha256').update(readVector('snp', 'ovmf', 'OVMF.fd')).digest('hex');
  const check = (rec: Record<string, any>, version: number) => {
    assert.deepEqual(rec.value, [s04]);
    assert.equal(rec.provenance.algorithm, 'snp-launch-digest');
    const { searchStates, ...parameters } = rec.provenance.parameters;
    assert.deepEqual(parameters, { vcpus: 4, vcpuType: 'EPYC-Milan', vmmType: 'QEMU', guestFeatures: '0x21', kernelHashes: false });
    // The parameter search's states are kept as registered.
    assert.deepEqual(searchStates, snpSearchStates({ ovmf: readVector('snp', 'ovmf', 'OVMF.fd') }));
    assert.deepEqual(rec.provenance.inputs, { ovmf: ovmfSha });
    assert.equal(rec.provenance.registered_by, 'role=admin sub=admin');
    assert.equal(rec.provenance.version, version);
    assert.equal(rec.provenance.expires, '2099-01-01T00:00:00.000Z');
    assert.equal(rec.expiration, '2099-01-01T00:00:00.000Z');
  };
  // The earlier test registered the name once (version 1); this is its second registration.
  const got = await cli([...base, 'get-reference-value', 'snp_launch_measurement', '--provenance']);
  assert.equal(got.code, 0, got.err);
  check(JSON.parse(got.out), 2);
  await h.restart();
  admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  const list = await cli(['kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem', 'list-reference-values']);
  assert.equal(list.code, 0, list.err);
  const records = JSON.parse(list.out) as Array<Record<string, any>>;
  assert.deepEqual(records.map((r) => r.name), ['snp_bootloader', 'snp_launch_measurement']);
  check(records[1], 2);
  // Without --provenance, Trustee's answer: the bare value.
  assert.equal((await cli(['kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem', 'get-reference-value', 'snp_launch_measurement'])).out.trim(), JSON.stringify([s04]));
  const badExpiry = await cli(['kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem', 'set-reference-value', 'x', 'y', '--expires', 'next week']);
  assert.equal(badExpiry.code, 1);
  assert.match(badExpiry.err, /--expires must be an RFC 3339 time/);
});

test('a signed-statement provenance keeps its signer and statement digest', async () => {
  const statement = 'cd'.repeat(32);
  await admin.setReferenceValues(
    { tpm_pcr11: ['ee'.repeat(32)] },
    { tpm_pcr11: { algorithm: 'signed-statement', signer: 'key:sha256:' + '01'.repeat(32), statement_sha256: statement, predicate_type: 'https://cocokit.dev/expected-measurements/v1', subjects: [{ name: 'guest.efi', digest: { sha256: '02'.repeat(32) } }], components: ['kernel@6.8'] } },
  );
  // Stated in the earlier flat members, stored and shown in the one shape a workload registration uses too.
  const p = (await admin.getReferenceValueRecord('tpm_pcr11')).provenance as Record<string, unknown>;
  assert.equal(p.signer, 'key:sha256:' + '01'.repeat(32));
  assert.deepEqual(p.inputs, { statement });
  assert.deepEqual(p.parameters, { predicate_type: 'https://cocokit.dev/expected-measurements/v1', subjects: [{ name: 'guest.efi', digest: { sha256: '02'.repeat(32) } }] });
  assert.equal(p.statement_sha256, undefined);
  assert.deepEqual(p.components, ['kernel@6.8']);
  assert.equal(p.version, 1);
  const stored = (await h.kbs.store.referenceValues.get('tpm_pcr11'))!.provenance as Record<string, unknown>;
  assert.deepEqual(stored.inputs, { statement });
});

test('a value past its stated expiry denies the attestation that consults it, and the decision record says why', async () => {
  // The built-in sample policy consults `svn`.
  const expires = new Date(h.clock.now.getTime() + 60_000).toISOString();
  await admin.setReferenceValues({ svn: [1] }, { svn: { algorithm: 'operator-supplied', expires } });
  await new KbsClient(h.url, new SampleAttester()).attest();
  const [ok] = (await h.kbs.app.inject({ method: 'GET', url: '/kbs/v0/decisions?type=attestation&limit=1', headers: { authorization: `Bearer ${token}` } })).json();
  assert.equal(ok.verdict, 'allow');
  assert.match(ok.reference_values.svn, new RegExp(`^updated .*, version 1, operator-supplied, expires ${expires}$`));
  h.clock.now = new Date(h.clock.now.getTime() + 120_000);
  token = await signAdminToken(h.adminKeyPem, 'admin', 3600, h.clock.now);
  await assert.rejects(new KbsClient(h.url, new SampleAttester(), { maxAttempts: 1 }).attest(), (e: unknown) => {
    assert.match(String((e as Error).message), new RegExp(`reference value "svn" expired at ${expires.replace(/\./g, '\\.')}; register it again`));
    return true;
  });
  const [denied] = (await h.kbs.app.inject({ method: 'GET', url: '/kbs/v0/decisions?type=attestation&limit=1', headers: { authorization: `Bearer ${token}` } })).json();
  assert.equal(denied.verdict, 'deny');
  assert.equal(denied.code, 'AS_REFERENCE_VALUE_EXPIRED');
  assert.match(denied.reason, /reference value "svn" expired at/);
  // Registered again (no expiry), the attestation passes.
  await admin.setReferenceValues({ svn: [1] });
  await new KbsClient(h.url, new SampleAttester()).attest();
  await h.kbs.store.referenceValues.delete('svn');
});

test('the snapshot an attestation reads leaves out expired values and only them', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const rec = (name: string, provenance?: unknown) => ({ name, value: [name], updatedAt: now, ...(provenance === undefined ? {} : { provenance: provenance as any }) });
  const s = referenceValueSnapshot([rec('bare'), rec('future', { expires: '2026-06-02T00:00:00Z' }), rec('past', { expires: '2026-05-31T23:59:59Z' }), rec('now', { expires: now.toISOString() }), rec('junk', { expires: 'soon' })], now);
  assert.deepEqual(Object.keys(s.values), ['bare', 'future', 'junk']);
  assert.deepEqual(s.expired, { past: new Date('2026-05-31T23:59:59Z'), now });
});

test('malformed provenance is refused with KBS_RVPS_PROVENANCE and stores nothing', async () => {
  const msg = (provenance: unknown, values: unknown = { victim: [1] }) => ({ version: '0.1.0', type: 'sample', payload: payload(values), provenance });
  const cases: Array<[unknown, RegExp]> = [
    ['snp-launch-digest', /"provenance" must be an object/],
    [[], /"provenance" must be an object/],
    [{ other: { algorithm: 'x' } }, /the payload does not register/],
    [{ victim: null }, /must be an object/],
    [{ victim: {} }, /"algorithm"/],
    [{ victim: { algorithm: 'Upper Case' } }, /"algorithm"/],
    [{ victim: { algorithm: 'a', inputs: { ovmf: 'not-hex' } } }, /SHA-256 hex/],
    [{ victim: { algorithm: 'a', inputs: { ovmf: 'AB'.repeat(32) } } }, /SHA-256 hex/],
    [{ victim: { algorithm: 'a', parameters: [] } }, /"parameters"/],
    [{ victim: { algorithm: 'a', expires: 'tomorrow' } }, /RFC 3339/],
    [{ victim: { algorithm: 'a', expires: 1893456000 } }, /RFC 3339/],
    [{ victim: { algorithm: 'a', statement_sha256: 'ab' } }, /statement_sha256/],
    [{ victim: { algorithm: 'a', components: [1] } }, /components/],
    [{ victim: { algorithm: 'a', signer: '' } }, /signer/],
    [{ victim: { algorithm: 'a', signer_issuer: 7 } }, /signer_issuer/],
    // The stamp is the KBS's: a client cannot state who registered a value or its version.
    [{ victim: { algorithm: 'a', registered_by: 'someone else' } }, /unknown field "registered_by"/],
    [{ victim: { algorithm: 'a', version: 99 } }, /unknown field "version"/],
  ];
  for (const [p, re] of cases) {
    const r = await post(msg(p));
    // Trustee's status for every admin refusal, with the RVPS error type and the reason.
    assert.equal(r.status, 401, `${JSON.stringify(p)}: ${r.body}`);
    assert.match(r.json.type, /\/RvpsError$/);
    assert.match(r.json.detail, re, JSON.stringify(p));
  }
  const huge = await post(msg({ victim: { algorithm: 'a', parameters: { blob: 'x'.repeat(70_000) } } }));
  assert.ok(huge.status >= 400 && huge.status < 500, huge.body);
  assert.equal(await h.kbs.store.referenceValues.get('victim'), undefined);
  // Without an admin token nothing is registered.
  const anonymous = await post(msg({ victim: { algorithm: 'a' } }), false);
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.json.type, /\/AdminAuthAccess$/);
  assert.equal(await h.kbs.store.referenceValues.get('victim'), undefined);
  const detail = await h.kbs.app.inject({ method: 'GET', url: '/kbs/v0/reference-value?detail=yes', headers: { authorization: `Bearer ${token}` } });
  assert.ok(detail.statusCode >= 400 && detail.statusCode < 500, detail.body);
  assert.match(detail.body, /detail must be true or false/);
});

test('random provenance and random bodies get a 4xx or a registration, never a crash', async () => {
  await fc.assert(
    fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), async (p) => {
      const r = await post({ version: '0.1.0', type: 'sample', payload: payload({ fuzzed: [1] }), provenance: p });
      assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `${JSON.stringify(p)}: ${r.status} ${r.body}`);
    }),
    { numRuns: 80 },
  );
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
      const r = await h.kbs.app.inject({ method: 'POST', url: '/kbs/v0/reference-value', payload: Buffer.from(bytes), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
      assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${r.statusCode} ${r.body}`);
    }),
    { numRuns: 60 },
  );
  // The parser alone: every refusal is a CocoError.
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })), (m) => {
      try {
        parseReferenceValueMessage(m);
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
      }
    }),
    { numRuns: 200 },
  );
  await h.kbs.store.referenceValues.delete('fuzzed');
});

test('explainMismatches: an SNP launch measurement from artifacts is explained from the claims; matches, statements and odd input explain nothing', () => {
  const M = 'ab'.repeat(48);
  const OTHER = 'cd'.repeat(48);
  const rec = (name: string, value: unknown, provenance: unknown) => ({ name, value, provenance, updatedAt: new Date(0) }) as unknown as Parameters<typeof explainMismatches>[2][number];
  const computed = { algorithm: 'snp-launch-digest', parameters: { vcpus: 4 }, inputs: { ovmf: '0f'.repeat(32) } };
  const records = [rec('snp_launch_measurement', [M], computed), rec('other', [M], { algorithm: 'signed-statement', signer: 's' }), rec('svn', [1], undefined)];
  assert.deepEqual(explainMismatches('snp', {}, records, { measurement: OTHER }), {
    snp_launch_measurement: `registered snp_launch_measurement computed by snp-launch-digest with {"vcpus":4} from {"ovmf":"${'0f'.repeat(32)}"}; explain with: cocokit kbs workload explain --from-artifacts … --reported ${OTHER}`,
  });
  assert.deepEqual(explainMismatches('snp', {}, records, { measurement: M.toUpperCase() }), {});
  assert.deepEqual(explainMismatches('snp', {}, records), {});
  // A value computed by another algorithm names its computation and the reported value.
  assert.equal(
    explainReferenceValue('host_data', 'aa'.repeat(32), { algorithm: 'initdata-host-data', parameters: { digestAlgorithm: 'sha256' } }, { tee: 'snp' }, 'bb'.repeat(32)),
    `registered host_data computed by initdata-host-data with {"digestAlgorithm":"sha256"}; reported ${'bb'.repeat(32)}`,
  );
  // Predicted RTMR events against a TD's uefi_event_logs claim, without the log itself.
  const events = { register: 'RTMR2', bank: 'sha384', events: [{ description: 'load options (kernel command line)', digest: '11'.repeat(48) }] };
  const claims = { uefi_event_logs: [{ index: 3, type_name: 'EV_EVENT_TAG', digests: [{ alg: 'SHA-384', digest: '22'.repeat(48) }] }] };
  assert.equal(explainReferenceValue('rtmr_2', ['00'.repeat(48)], { algorithm: 'tdx-direct-boot-rtmr', events }, { tee: 'tdx', claims }), `RTMR2 event 1 (load options (kernel command line)) differs: expected sha384 ${'11'.repeat(48)}, measured ${'22'.repeat(48)}`);
  // Random provenance, values and claims never throw.
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), fc.jsonValue(), fc.constantFrom('snp', 'tdx', 'tpm', 'sample'), (value, provenance, claims, tee) => {
      const out = explainReferenceValue('x', value, provenance, { tee, ...(claims !== null && typeof claims === 'object' && !Array.isArray(claims) ? { claims: claims as Record<string, unknown> } : {}) });
      assert.ok(out === undefined || typeof out === 'string');
      assert.equal(typeof explainMismatches(tee, claims, [rec('x', value, provenance)]), 'object');
    }),
    { numRuns: 300 },
  );
});
