import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CocoError } from '../../errors.js';
import type { Check } from '../../formats/check.js';
import { readVector, readVectorJson, vectorPath, VECTORS } from '../../test-support/vectors.js';
import { loadPemBundle, vekExtensions } from './certs.js';
import { evidenceFromJson } from './evidence.js';
import { parseReport, serializeReport, type SnpProduct } from './format.js';
import { loadReport } from './input.js';
import { snpVerifier } from './verifier.js';
import { verifyReport, type SnpVerifyOptions } from './verify.js';
import { validateReport } from './validate.js';

const index = readVectorJson<{ vectors: any[] }>('snp', 'reports', 'index.json');
const byId = (id: string): any => index.vectors.find((v) => v.id === id);
/** Index chain paths are relative to the steering root (`shared/vectors/...`). */
const chainFile = (p: string): string => readFileSync(`${VECTORS}/${p.replace(/^shared\/vectors\//, '')}`, 'utf8');
const productOfChain = (p: string): SnpProduct => (['milan', 'genoa', 'turin'] as const).find((x) => p.includes(x))!;
/** Negative pairings carry no time: use the positive vector that shares the report. */
function timeOf(v: any): Date {
  const t = v.suggested_verification_time ?? index.vectors.find((x) => !x.negative && (x.report === v.report || x.report === v.report.replace('.tampered', '')))?.suggested_verification_time;
  return new Date(t);
}
const allOk = (checks: Check[], id: string): boolean => checks.filter((c) => c.id === id).every((c) => c.ok);
const ids = (checks: Check[]): string[] => [...new Set(checks.filter((c) => !c.ok).map((c) => c.id))];

function run(v: any, extra: Partial<SnpVerifyOptions> = {}) {
  const product = productOfChain(v.chain);
  const { report, raw } = loadReport(new Uint8Array(readVector('snp', v.report)), { product });
  return verifyReport(report, {
    now: timeOf(v),
    product,
    raw,
    vek: new Uint8Array(readVector('snp', v.endorsement_cert)),
    chain: loadPemBundle(chainFile(v.chain), 'chain'),
    ...extra,
  });
}

for (const v of index.vectors) {
  test(`vector ${v.id} gives exactly the expected signature/chain/TCB/chip results`, () => {
    const res = run(v);
    const e = v.expected;
    assert.equal(allOk(res.checks, 'signature'), e.signature_valid, 'signature');
    assert.equal(allOk(res.checks, 'chain'), e.chain_valid, 'chain');
    if (e.reported_tcb_matches_cert !== undefined) assert.equal(allOk(res.checks, 'tcb'), e.reported_tcb_matches_cert, 'tcb');
    if (e.chip_id_matches_hwid === null) {
      const chip = res.checks.find((c) => c.id === 'chip-id')!;
      assert.ok(chip.ok && /VLEK/.test(chip.detail), chip.detail);
    } else if (e.chip_id_matches_hwid !== undefined) assert.equal(allOk(res.checks, 'chip-id'), e.chip_id_matches_hwid, 'chip-id');
    if (!v.negative) {
      assert.deepEqual(ids(res.checks), [], 'a genuine vector passes every check at its suggested time');
      assert.equal(res.product, String(v.product).toLowerCase());
      assert.equal(res.signer, v.signer.toLowerCase());
    }
  });
}

test('genuine vectors verify with the shipped AMD roots alone (no chain file)', () => {
  for (const v of index.vectors.filter((x) => !x.negative)) {
    const res = run(v, { chain: undefined });
    assert.deepEqual(ids(res.checks), [], v.id);
  }
});

test('validity follows the injected clock: the VLEK expired, the Turin VCEK not yet valid', () => {
  const vlek = run(byId('coco-milan-vlek-v3'), { now: new Date('2026-11-23T00:00:00Z') });
  assert.deepEqual(ids(vlek.checks), ['validity']);
  const turin = run(byId('anolis-turin-v5'), { now: new Date('2025-06-01T00:00:00Z') });
  assert.deepEqual(ids(turin.checks), ['validity']);
  assert.equal(byId('anolis-turin-v5').endorsement_cert_time_valid_on_2026_11_23, true);
  assert.deepEqual(ids(run(byId('anolis-turin-v5'), { now: new Date('2026-11-23T00:00:00Z') }).checks), []);
});

test('flipping any byte of the signed region or the signature is detected', () => {
  const v = byId('azure-genoa-v3');
  const good = new Uint8Array(readVector('snp', v.report));
  const opts = { now: timeOf(v), vek: new Uint8Array(readVector('snp', v.endorsement_cert)) };
  let detected = 0;
  let offsets = 0;
  for (let off = 0; off < 0x330; off++) {
    const b = new Uint8Array(good);
    b[off] ^= 0x01;
    offsets++;
    try {
      const res = verifyReport(parseReport(b), { ...opts, raw: b });
      if (res.checks.some((c) => !c.ok)) detected++;
    } catch (e) {
      assert.ok(e instanceof CocoError, String(e));
      detected++;
    }
  }
  assert.equal(detected, offsets);
});

test('a VCEK with any byte flipped fails the chain or the signature (or does not parse)', () => {
  const v = byId('gsg-milan-v2');
  const vcek = new Uint8Array(readVector('snp', v.endorsement_cert));
  const report = parseReport(new Uint8Array(readVector('snp', v.report)), { product: 'milan' });
  for (let off = 0; off < vcek.length; off++) {
    const b = new Uint8Array(vcek);
    b[off] ^= 0x01;
    try {
      const res = verifyReport(report, { now: timeOf(v), product: 'milan', vek: b });
      assert.ok(!allOk(res.checks, 'chain') || !allOk(res.checks, 'signature'), `offset ${off}`);
    } catch (e) {
      assert.ok(e instanceof CocoError, `offset ${off}: ${String(e)}`);
    }
  }
});

test('a VCEK of another chip fails chip-id (and the signature)', () => {
  const res = run(byId('neg-cross-chip'));
  assert.ok(ids(res.checks).includes('chip-id'));
  assert.ok(ids(res.checks).includes('signature'));
});

test('a Milan report checked against the Turin chain fails the chain', () => {
  const v = byId('azure-milan-v3');
  const res = run(v, { chain: loadPemBundle(chainFile('snp/certs/cert_chain_turin_vcek.pem'), 'turin chain') });
  assert.ok(ids(res.checks).includes('chain'));
  assert.ok(!res.checks.find((c) => c.id === 'chain')!.ok, 'the ARK is not the pinned ARK-Milan');
});

test('an expected product that contradicts the report CPUID fails the product expectation, not the chain', () => {
  const v = byId('azure-milan-v3');
  const { report, raw } = loadReport(new Uint8Array(readVector('snp', v.report)));
  const res = verifyReport(report, { now: timeOf(v), raw, product: 'turin', vek: new Uint8Array(readVector('snp', v.endorsement_cert)) });
  assert.deepEqual(ids(res.checks), []);
  assert.equal(res.product, 'milan');
  assert.deepEqual(ids(validateReport(res.report, { product: 'turin' }, res.product)), ['product']);
});

test('a Turin VCEK offered for a Milan report fails vek-product and the chain', () => {
  const v = byId('azure-milan-v3');
  const res = run(v, { vek: new Uint8Array(readVector('snp', 'reports', 'anolis-turin-v5.vcek.der')) });
  assert.ok(ids(res.checks).includes('vek-product'));
  assert.ok(ids(res.checks).includes('chain'));
  assert.ok(ids(res.checks).includes('signature'));
});

test('a REPORTED_TCB that differs from the VCEK fails the tcb check by component', () => {
  const v = byId('coco-milan-v2');
  const b = new Uint8Array(readVector('snp', v.report));
  b[0x187] += 1; // REPORTED_TCB microcode (Trustee's check_report_tcb_failure flips byte 384)
  const res = verifyReport(parseReport(b, { product: 'milan' }), { now: timeOf(v), product: 'milan', raw: b, vek: new Uint8Array(readVector('snp', v.endorsement_cert)) });
  const tcb = res.checks.filter((c) => c.id === 'tcb' && !c.ok);
  assert.equal(tcb.length, 1);
  assert.match(tcb[0].detail, /ucodeSPL/);
  assert.deepEqual([tcb[0].expected, tcb[0].actual], ['115', '116']);
});

test('compares the VCEK with REPORTED_TCB, not CURRENT_TCB (coco-milan-v2 has them differ)', () => {
  const v = byId('coco-milan-v2');
  const res = run(v);
  assert.notEqual(res.report.currentTcb.microcode, res.report.reportedTcb.microcode);
  assert.ok(allOk(res.checks, 'tcb'));
});

test('reads both hwID encodings and large ucodeSPL integers from the synthetic Trustee VCEKs', () => {
  const legacy = vekExtensions(new Uint8Array(readVector('trustee', 'snp', 'test-vcek-invalid-legacy.der')));
  const wrapped = vekExtensions(new Uint8Array(readVector('trustee', 'snp', 'test-vcek-invalid-new.der')));
  const seq = Uint8Array.from({ length: 64 }, (_, i) => i);
  assert.deepEqual(legacy.hwId, seq);
  assert.deepEqual(wrapped.hwId, seq);
  assert.equal(legacy.microcode, 169);
  const turin = vekExtensions(new Uint8Array(readVector('snp', 'reports', 'anolis-turin-v5.vcek.der')));
  assert.deepEqual([turin.structVersion, turin.productName, turin.fmc, turin.hwId?.length], [1, 'Turin', 1, 8]);
  const vlek = vekExtensions(new Uint8Array(readVector('trustee', 'snp', 'test-vlek.der')));
  assert.deepEqual([vlek.hwId, vlek.cspId], [null, 'CN=cc-us-east-2.amazonaws.com']);
});

test('Trustee raw samples verify: test-report with test-vcek, test-vlek-report with test-vlek', () => {
  const a = loadReport(new Uint8Array(readVector('trustee', 'snp', 'test-report.bin')), { product: 'milan' });
  const ra = verifyReport(a.report, { now: new Date('2024-01-01T00:00:00Z'), raw: a.raw, vek: new Uint8Array(readVector('trustee', 'snp', 'test-vcek.der')) });
  assert.deepEqual(ids(ra.checks), []);
  const b = loadReport(new Uint8Array(readVector('trustee', 'snp', 'test-vlek-report.bin')));
  const rb = verifyReport(b.report, { now: new Date('2025-01-01T00:00:00Z'), raw: b.raw, vek: new Uint8Array(readVector('trustee', 'snp', 'test-vlek.der')) });
  assert.deepEqual(ids(rb.checks), []);
  assert.equal(rb.signer, 'vlek');
});

test('Azure SNP samples verify: the SNP report inside each HCL report, with its VCEK', () => {
  const cases: Array<[Uint8Array, Uint8Array | string]> = [
    [new Uint8Array(readVector('azure', 'trustee', 'az-snp-vtpm', 'hcl-report.bin')), readFileSync(vectorPath('azure', 'trustee', 'az-snp-vtpm', 'vcek.pem'), 'utf8')],
  ];
  for (const name of ['evidence-v1.json', 'evidence-v2.json']) {
    const ev = readVectorJson('azure', 'trustee', 'az-snp-vtpm', name);
    cases.push([new Uint8Array(Buffer.from(ev.hcl_report, 'base64url')), new Uint8Array(Buffer.from(ev.vcek, 'base64url'))]);
  }
  const g = readVectorJson('azure', 'trustee', 'az-snp-vtpm', 'evidence-genoa.json');
  cases.push([new Uint8Array(g.report), readFileSync(vectorPath('azure', 'trustee', 'az-snp-vtpm', 'vcek-genoa.pem'), 'utf8')]);
  for (const [i, [hcl, vek]] of cases.entries()) {
    const { report, raw, form } = loadReport(hcl, { product: 'milan' });
    assert.equal(form, 'hcl');
    const vekBytes = typeof vek === 'string' ? new Uint8Array(Buffer.from(loadPemBundle(vek, 'bundle')[0].raw)) : vek;
    const notBefore = new Date(loadPemBundle(typeof vek === 'string' ? vek : `-----BEGIN CERTIFICATE-----\n${Buffer.from(vek).toString('base64')}\n-----END CERTIFICATE-----`, 'v')[0].validFrom);
    const res = verifyReport(report, { now: new Date(notBefore.getTime() + 86_400_000), raw, vek: vekBytes });
    assert.deepEqual(ids(res.checks), [], `azure case ${i}`);
  }
});

test('the azure-cvm-tooling VCEK belongs to another chip than its HCL report: chain ok, chip-id and signature fail', () => {
  const { report, raw } = loadReport(new Uint8Array(readVector('azure', 'azure-cvm-tooling', 'hcl-report-snp.bin')), { product: 'milan' });
  const certs = loadPemBundle(readFileSync(vectorPath('azure', 'azure-cvm-tooling', 'certs.pem'), 'utf8'), 'certs.pem');
  const ext = vekExtensions(new Uint8Array(certs[0].raw));
  assert.notDeepEqual(ext.hwId, report.chipId);
  const res = verifyReport(report, { now: new Date('2024-06-01T00:00:00Z'), raw, vek: new Uint8Array(certs[0].raw), chain: certs.slice(1) });
  assert.deepEqual(ids(res.checks), ['signature', 'chip-id']);
});

test('snpVerifier accepts the CoCo e2e evidence with Trustee claims and binds report data', async () => {
  const json = readVectorJson('trustee', 'snp', 'evidence-e2e.json');
  const ev = evidenceFromJson(json);
  const now = timeOf(byId('coco-e2e-genoa-v3'));
  const res = await snpVerifier.verify(json, { now, expectedReportData: ev.report.reportData });
  assert.deepEqual(ids(res.checks), []);
  assert.equal(res.teeClass, 'cpu');
  const f = byId('coco-e2e-genoa-v3').fields;
  assert.equal(res.claims.measurement, f.measurement);
  assert.equal(res.claims.report_data, f.report_data);
  assert.equal(res.claims.init_data, f.host_data);
  assert.equal(res.claims.chip_id, f.chip_id);
  assert.equal(res.claims.reported_tcb_microcode, f.reported_tcb.ucode);
  assert.equal(res.claims.policy_smt_allowed, true);
  assert.equal(res.claims.policy_debug_allowed, false);
  // A digest that is not the report's REPORT_DATA, or an init-data digest HOST_DATA does not carry, fails.
  const wrong = await snpVerifier.verify(json, { now, expectedReportData: new Uint8Array(48).fill(7), expectedInitDataHash: new Uint8Array(32).fill(1) });
  assert.deepEqual(ids(wrong.checks), ['report-data', 'host-data']);
});

test('snpVerifier without a VCEK in the evidence or cache reports it unavailable', async () => {
  const json = structuredClone(readVectorJson('trustee', 'snp', 'evidence-e2e.json'));
  json.cert_chain = null;
  await assert.rejects(snpVerifier.verify(json, { now: new Date() }), (e: unknown) => e instanceof CocoError && e.kind === 'unavailable');
});

test('snpVerifier follows Trustee in rejecting version-2 reports and VMPL 1', async () => {
  const v2 = parseReport(new Uint8Array(readVector('snp', 'reports', 'coco-milan-v2.report.bin')), { product: 'milan' });
  const { evidenceToJson } = await import('./evidence.js');
  const vcek = new Uint8Array(readVector('snp', 'reports', 'coco-milan-v2.vcek.der'));
  const r2 = await snpVerifier.verify(evidenceToJson(v2, [{ type: 'VCEK', data: vcek }]), { now: timeOf(byId('coco-milan-v2')) });
  assert.deepEqual(ids(r2.checks), ['report-version']);
  const vl = parseReport(new Uint8Array(readVector('snp', 'reports', 'coco-milan-vlek-v3.report.bin')));
  const vlek = new Uint8Array(readVector('snp', 'reports', 'coco-milan-vlek-v3.vlek.der'));
  const r3 = await snpVerifier.verify(evidenceToJson(vl, [{ type: 'VLEK', data: vlek }]), { now: timeOf(byId('coco-milan-vlek-v3')) });
  assert.deepEqual(ids(r3.checks), ['vmpl']);
  assert.equal(serializeReport(vl).length, 1184);
});

test('fuzz: snpVerifier on mutated evidence (report fields and certificate bytes) returns checks or throws a CocoError', async () => {
  const fc = (await import('fast-check')).default;
  const json = readVectorJson('trustee', 'snp', 'evidence-e2e.json');
  const now = timeOf(byId('coco-e2e-genoa-v3'));
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(1346), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      fc.array(fc.tuple(fc.constantFrom('measurement', 'chip_id', 'report_data', 'signature'), fc.nat(63), fc.integer({ min: 0, max: 255 })), { maxLength: 2 }),
      async (certMuts, reportMuts) => {
        const ev = structuredClone(json);
        for (const [i, b] of certMuts) ev.cert_chain[0].data[i] = b;
        for (const [k, i, b] of reportMuts) {
          const target = k === 'signature' ? ev.attestation_report.signature.r : ev.attestation_report[k];
          target[i % target.length] = b;
        }
        try {
          const res = await snpVerifier.verify(ev, { now });
          if (certMuts.length === 0 && reportMuts.length === 0) assert.deepEqual(ids(res.checks), []);
        } catch (e) {
          if (!(e instanceof CocoError)) throw e;
        }
      },
    ),
    { numRuns: 150 },
  );
});

test('with both ASK and ASVK supplied, the intermediate of the signer\'s role is used', () => {
  const v = byId('coco-milan-vlek-v3');
  const both = [...loadPemBundle(chainFile('snp/certs/cert_chain_milan_vcek.pem'), 'vcek chain'), ...loadPemBundle(chainFile('snp/certs/cert_chain_milan_vlek.pem'), 'vlek chain')];
  assert.deepEqual(ids(run(v, { chain: both }).checks), []);
});
