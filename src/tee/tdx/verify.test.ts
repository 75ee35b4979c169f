import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { failures } from '../../formats/check.js';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { QE_REPORT_SIZE, parseQuote, quotePckChain, signedLength } from './format.js';
import {
  MAX_COLLATERAL_SIZE,
  collateralFromPcs,
  parseCollateralBundle,
  parseTcbInfo,
  rawJsonMember,
  serializeCollateralBundle,
  type TdxCollateral,
} from './collateral.js';
import { verifyQuote } from './verify.js';

const VECTORS = ['gotdx-v4-spr-e4', 'gotdx-v5-tdx15', 'gotdx-cos113-ccel', 'dcapqvl-v4-uptodate', 'dcapqvl-v5-notsupported', 'trustee-v4-mrconfigid'];

for (const name of VECTORS) {
  test(`${name}: verdict at its recorded time is the one its expected.json records`, () => {
    const x = readVectorJson('tdx', `${name}.expected.json`);
    const raw = new Uint8Array(readVector('tdx', `${name}.quote.bin`));
    const quote = parseQuote(raw);
    const now = new Date(x.verification_time);
    const bare = verifyQuote(quote, { now, raw });
    assert.deepEqual(failures(bare.checks), [], 'collateral-free checks');
    const v = verifyQuote(quote, { now, raw, collateral: parseCollateralBundle(readVector('tdx', x.collateral_file)) });
    const failed = failures(v.checks).map((c) => c.id);
    if (x.expected_error) {
      assert.match(x.expected_error, /TCB_NOT_SUPPORTED/);
      assert.equal(v.tcb?.status, 'NotSupported');
      assert.deepEqual(failed, ['tcb-level', 'tcb-status']);
    } else {
      assert.deepEqual(failed, []);
      assert.equal(v.tcb?.status, x.expected_tcb_status_intel_qvl_semantics);
    }
    const d = x.detail;
    assert.equal(v.tcb?.qeStatus, d.qe_tcb_status[0]);
    assert.equal(v.tcb?.moduleStatus, d.module_status[0]);
    assert.deepEqual(v.tcb?.sgxLevel ? [v.tcb.sgxLevel.tcbDate, v.tcb.sgxLevel.tcbStatus] : null, d.sgx_level[0]);
    assert.deepEqual(v.tcb?.tdxLevel ? [v.tcb.tdxLevel.tcbDate, v.tcb.tdxLevel.tcbStatus] : null, d.tdx_level[0]?.slice(0, 2) ?? null);
    assert.deepEqual([v.validity?.from.getTime(), v.validity?.to.getTime()], d.validity_intersection.map((t: string) => new Date(t).getTime()));
    assert.equal(v.collateralExpired, false);
  });
}

const isCoco = (e: unknown): boolean => e instanceof CocoError && e.kind !== 'internal';

function verdict(raw: Uint8Array, now: Date, collateral?: TdxCollateral): string[] {
  try {
    return failures(verifyQuote(parseQuote(raw), { now, raw, collateral }).checks).map((c) => c.id);
  } catch (e) {
    assert.ok(isCoco(e), String(e));
    return [`error:${(e as CocoError).code}`];
  }
}

const v5 = readVectorJson('tdx', 'gotdx-v5-tdx15.expected.json');
const v5raw = new Uint8Array(readVector('tdx', 'gotdx-v5-tdx15.quote.bin'));
const v5now = new Date(v5.verification_time);
const v5col = (): TdxCollateral => parseCollateralBundle(readVector('tdx', v5.collateral_file));

test('every byte of the signed region flipped is detected by the quote signature or by parsing', () => {
  const n = signedLength(parseQuote(v5raw));
  for (let i = 0; i < n; i++) {
    const b = new Uint8Array(v5raw);
    b[i] ^= 0x01;
    const failed = verdict(b, v5now);
    assert.ok(failed.includes('quote-signature') || failed.some((f) => f.startsWith('error:')), `byte ${i}: ${failed.join(',')}`);
  }
});

test('every byte of the QE report flipped fails the QE report signature', () => {
  const start = signedLength(parseQuote(v5raw)) + 4 + 128 + 6;
  for (let i = start; i < start + QE_REPORT_SIZE; i++) {
    const b = new Uint8Array(v5raw);
    b[i] ^= 0x80;
    assert.ok(verdict(b, v5now).includes('qe-report-signature'), `byte ${i}`);
  }
});

test('a changed attestation key or QE auth data breaks the QE report-data binding', () => {
  const q = parseQuote(v5raw);
  const at = signedLength(q) + 4;
  const key = new Uint8Array(v5raw);
  key[at + 64 + 5] ^= 1;
  assert.ok(verdict(key, v5now).includes('qe-report-data'));
  const auth = new Uint8Array(v5raw);
  auth[at + 134 + 384 + 64 + 2] ^= 1;
  assert.deepEqual(verdict(auth, v5now), ['qe-report-data']);
});

test('collateral tampering is named by its check', () => {
  const good = v5col();
  assert.deepEqual(verdict(v5raw, v5now, good), []);
  // TCB Info text changed after signing (one status downgraded in place).
  const t = v5col();
  t.tcbInfo.raw = t.tcbInfo.raw.replace('"tcbEvaluationDataNumber":18', '"tcbEvaluationDataNumber":19');
  assert.deepEqual(verdict(v5raw, v5now, t), ['tcb-info-signature']);
  const s = v5col();
  s.tcbInfo.signature[10] ^= 1;
  assert.deepEqual(verdict(v5raw, v5now, s), ['tcb-info-signature']);
  const qi = v5col();
  qi.qeIdentity.signature[3] ^= 1;
  assert.deepEqual(verdict(v5raw, v5now, qi), ['qe-identity-signature']);
  const crl = v5col();
  crl.pckCrl[crl.pckCrl.length - 5] ^= 1;
  assert.deepEqual(verdict(v5raw, v5now, crl), ['crl']);
  const rcrl = v5col();
  rcrl.rootCaCrl[rcrl.rootCaCrl.length - 5] ^= 1;
  assert.deepEqual(verdict(v5raw, v5now, rcrl), ['crl']);
});

test('collateral for another FMSPC is refused by the fmspc check', () => {
  const x = readVectorJson('tdx', 'dcapqvl-v4-uptodate.expected.json');
  const raw = new Uint8Array(readVector('tdx', 'dcapqvl-v4-uptodate.quote.bin'));
  const failed = verdict(raw, new Date('2026-03-01T00:00:00Z'), v5col());
  assert.ok(failed.includes('fmspc'), failed.join(','));
  assert.notEqual(x.pck_sgx_extensions.fmspc, v5.pck_sgx_extensions.fmspc);
});

test('expired collateral fails collateral-validity unless expiry is allowed, then it is reported', () => {
  const after = new Date(new Date(v5.detail.validity_intersection[1]).getTime() + 1000);
  assert.deepEqual(verdict(v5raw, after, v5col()), ['collateral-validity']);
  const before = new Date(new Date(v5.detail.validity_intersection[0]).getTime() - 1000);
  assert.deepEqual(verdict(v5raw, before, v5col()), ['collateral-validity']);
  const v = verifyQuote(parseQuote(v5raw), { now: after, collateral: v5col(), allowExpiredCollateral: true });
  assert.deepEqual(failures(v.checks), []);
  assert.equal(v.collateralExpired, true);
});

test('a QE identity naming another MRSIGNER or product fails qe-identity', () => {
  const c = v5col();
  c.qeIdentity.value.isvProdId = 1;
  c.qeIdentity.value.mrSigner[0] ^= 1;
  const v = verifyQuote(parseQuote(v5raw), { now: v5now, collateral: c });
  assert.deepEqual(
    failures(v.checks).map((x) => x.detail),
    ['QE MRSIGNER equals the identity', 'QE ISVPRODID equals the identity'],
  );
});

test('PCS responses assemble into the same collateral as the bundle (signed JSON sliced verbatim)', () => {
  const chain = readVector('tdx', 'gotdx-pcs-tcb-info-issuer-chain.pem').toString();
  const c = collateralFromPcs({
    tcbInfoBody: readVector('tdx', 'gotdx-pcs-tcbinfo-50806f000000.json').toString(),
    tcbInfoIssuerChain: chain,
    qeIdentityBody: readVector('tdx', 'gotdx-pcs-qeidentity-tdqe.json').toString(),
    qeIdentityIssuerChain: chain,
    pckCrl: new Uint8Array(readVector('tdx', 'gotdx-pcs-pckcrl-platform.der')),
    pckCrlIssuerChain: readVector('tdx', 'gotdx-pcs-pck-crl-issuer-chain.pem').toString(),
    rootCaCrl: new Uint8Array(readVector('tdx', 'gotdx-pcs-rootcrl.der')),
  });
  const bundle = parseCollateralBundle(readVector('tdx', 'gotdx-v4-spr-e4.collateral.json'));
  assert.equal(c.tcbInfo.raw, bundle.tcbInfo.raw);
  assert.equal(c.qeIdentity.raw, bundle.qeIdentity.raw);
  const raw = new Uint8Array(readVector('tdx', 'gotdx-v4-spr-e4.quote.bin'));
  assert.deepEqual(verdict(raw, new Date('2023-07-01T01:00:00Z'), c), ['tcb-level', 'tcb-status']);
  assert.deepEqual(parseCollateralBundle(serializeCollateralBundle(c)), c);
});

test('rawJsonMember keeps the exact member text, strings with braces included', () => {
  const text = '{"a" : {"x":"}{\\"","y":[1,{"z":2}]} ,"sig":"00"}';
  assert.equal(rawJsonMember(text, 'a'), '{"x":"}{\\"","y":[1,{"z":2}]}');
  assert.equal(rawJsonMember(text, 'sig'), '"00"');
  assert.throws(() => rawJsonMember(text, 'b'), isCoco);
  assert.throws(() => rawJsonMember('{"a":{', 'a'), isCoco);
});

test('fuzz: damaged collateral bundles and PCS bodies give CocoErrors, never crashes', () => {
  const text = readVector('tdx', v5.collateral_file).toString();
  fc.assert(
    fc.property(fc.nat(text.length - 1), fc.string({ maxLength: 3 }), fc.nat(4), (at, ins, del) => {
      const t = text.slice(0, at) + ins + text.slice(at + del);
      try {
        const c = parseCollateralBundle(t);
        verdict(v5raw, v5now, c);
      } catch (e) {
        assert.ok(isCoco(e), String(e));
      }
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(fc.oneof(fc.json(), fc.string()), (body) => {
      try {
        rawJsonMember(body, 'tcbInfo');
        parseTcbInfo(JSON.parse(body));
      } catch (e) {
        assert.ok(isCoco(e) || e instanceof SyntaxError, String(e));
      }
    }),
    { numRuns: 300 },
  );
  assert.throws(() => parseCollateralBundle('x'.repeat(MAX_COLLATERAL_SIZE + 1)), (e: unknown) => e instanceof CocoError && e.kind === 'limit');
});

for (const f of ['tdx_quote_4.dat', 'tdx_quote_5.dat', 'tdx_quote_6.dat']) {
  test(`Trustee's ${f} passes every collateral-free check inside its PCK validity`, async () => {
    const { X509Certificate } = await import('node:crypto');
    const raw = new Uint8Array(readVector('trustee', 'tdx', f));
    const q = parseQuote(raw);
    const leaf = new X509Certificate(quotePckChain(q)[0]);
    const now = new Date(new Date(leaf.validFrom).getTime() + 86_400_000);
    assert.deepEqual(failures(verifyQuote(q, { now, raw }).checks), []);
    const after = new Date(new Date(leaf.validTo).getTime() + 1000);
    assert.deepEqual([...new Set(failures(verifyQuote(q, { now: after, raw }).checks).map((c) => c.id))], ['pck-validity']);
  });
}

test("Trustee's raw PCS bodies (tcbInfo.json, enclaveIdentity.json) carry the signed texts the tdx_quote_6 bundle verifies", () => {
  const bundle = parseCollateralBundle(readVector('tdx', 'trustee-v4-mrconfigid.collateral.json'));
  const pem = (ders: Uint8Array[]): string => ders.map((d) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(d).toString('base64')}\n-----END CERTIFICATE-----\n`).join('');
  const c = collateralFromPcs({
    tcbInfoBody: readVector('trustee', 'tdx', 'tcbInfo.json').toString(),
    tcbInfoIssuerChain: pem(bundle.tcbInfo.issuerChain),
    qeIdentityBody: readVector('trustee', 'tdx', 'enclaveIdentity.json').toString(),
    qeIdentityIssuerChain: pem(bundle.qeIdentity.issuerChain),
    pckCrl: bundle.pckCrl,
    pckCrlIssuerChain: pem(bundle.pckCrlIssuerChain),
    rootCaCrl: bundle.rootCaCrl,
  });
  const raw = new Uint8Array(readVector('trustee', 'tdx', 'tdx_quote_6.dat'));
  const v = verifyQuote(parseQuote(raw), { now: new Date('2025-11-05T00:00:00Z'), raw, collateral: c });
  assert.deepEqual(failures(v.checks), []);
  assert.equal(v.tcb?.status, 'OutOfDate');
});

test('a collateral certificate whose validity dates do not parse fails collateral-validity instead of throwing', () => {
  // A two-character edit inside the TCB info issuer chain's notBefore field (found by the fuzz test above).
  const text = readVector('tdx', v5.collateral_file).toString();
  const damaged = text.slice(0, 1242) + '+A' + text.slice(1244);
  const ids = verdict(v5raw, v5now, parseCollateralBundle(damaged));
  assert.ok(ids.includes('collateral-validity'), ids.join(','));
});
