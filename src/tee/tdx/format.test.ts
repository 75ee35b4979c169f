import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { toHex } from '../../formats/bytes.js';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { MAX_QUOTE_SIZE, decodeTdAttributes, parseQuote, quotePckChain, serializeQuote, signedLength } from './format.js';
import { pckExtensions } from './pck.js';

const TDX_VECTORS = ['gotdx-v4-spr-e4', 'gotdx-v5-tdx15', 'gotdx-cos113-ccel', 'dcapqvl-v4-uptodate', 'dcapqvl-v5-notsupported', 'trustee-v4-mrconfigid'];

const BODY_KEYS: Array<[string, string]> = [
  ['teeTcbSvn', 'tee_tcb_svn'],
  ['mrSeam', 'mrseam'],
  ['mrSignerSeam', 'mrsignerseam'],
  ['seamAttributes', 'seam_attributes'],
  ['tdAttributes', 'td_attributes'],
  ['xfam', 'xfam'],
  ['mrTd', 'mrtd'],
  ['mrConfigId', 'mrconfigid'],
  ['mrOwner', 'mrowner'],
  ['mrOwnerConfig', 'mrownerconfig'],
  ['rtmr0', 'rtmr0'],
  ['rtmr1', 'rtmr1'],
  ['rtmr2', 'rtmr2'],
  ['rtmr3', 'rtmr3'],
  ['reportData', 'report_data'],
  ['teeTcbSvn2', 'tee_tcb_svn2'],
  ['mrServiceTd', 'mrservicetd'],
];

const isInputError = (e: unknown): boolean => e instanceof CocoError && e.kind !== 'internal';

for (const name of TDX_VECTORS) {
  test(`parses every field of ${name} as its expected.json records and serializes it back byte-exact`, () => {
    const bytes = new Uint8Array(readVector('tdx', `${name}.quote.bin`));
    const x = readVectorJson('tdx', `${name}.expected.json`);
    const q = parseQuote(bytes);
    assert.equal(q.header.version, x.header.version);
    assert.equal(q.header.attKeyType, x.header.att_key_type);
    assert.equal(`0x${q.header.teeType.toString(16).padStart(8, '0')}`, x.header.tee_type);
    assert.equal(toHex(q.header.reserved), x.header.bytes_8_12_hex);
    assert.equal(toHex(q.header.qeVendorId), x.header.qe_vendor_id);
    assert.equal(toHex(q.header.userData), x.header.user_data);
    if (x.v5_body_type) assert.equal(q.bodyType, x.v5_body_type);
    else assert.equal(q.bodyType, 2);
    assert.equal(signedLength(q), x.signed_region_length);
    for (const [ours, theirs] of BODY_KEYS) {
      const v = (q.body as unknown as Record<string, Uint8Array | null>)[ours];
      if (x.body[theirs] === undefined) assert.equal(v, null, ours);
      else assert.equal(toHex(v!), x.body[theirs], ours);
    }
    const qe = q.signatureData.qeReport;
    assert.equal(toHex(qe.cpuSvn), x.qe_report.cpusvn);
    assert.equal(qe.miscSelect, Number.parseInt(x.qe_report.miscselect, 16));
    assert.equal(toHex(qe.attributes), x.qe_report.attributes);
    assert.equal(toHex(qe.mrEnclave), x.qe_report.mrenclave);
    assert.equal(toHex(qe.mrSigner), x.qe_report.mrsigner);
    assert.equal(qe.isvProdId, x.qe_report.isvprodid);
    assert.equal(qe.isvSvn, x.qe_report.isvsvn);
    assert.equal(toHex(qe.reportData), x.qe_report.report_data);
    assert.equal(q.signatureData.qeAuthData.length, x.qe_auth_data_len);
    assert.equal(q.signatureData.certification.type, x.pck_cert_chain_type);
    assert.equal(q.signatureData.certification.data.length, x.pck_cert_chain_size);
    assert.equal(q.signatureData.certification.data.at(-1) === 0, x.pck_cert_chain_ends_with_nul);
    assert.equal(q.trailing.length, x.trailing_bytes_after_signature_data);

    const chain = quotePckChain(q);
    assert.equal(chain.length, 3);
    const ext = pckExtensions(chain[0]);
    const xe = x.pck_sgx_extensions;
    assert.equal(toHex(ext.fmspc), xe.fmspc);
    assert.equal(toHex(ext.pceId), xe.pceid);
    assert.deepEqual(ext.tcb.sgxComponents, xe.tcb.comps);
    assert.equal(ext.tcb.pceSvn, xe.tcb.pcesvn);
    assert.equal(toHex(ext.tcb.cpuSvn), xe.tcb.cpusvn);
    assert.equal(ext.sgxType, Number.parseInt(xe.sgxtype, 16));
    if (xe.platform_instance_id) assert.equal(toHex(ext.platformInstanceId!), xe.platform_instance_id);

    assert.deepEqual(serializeQuote(q), bytes);
  });
}

for (const f of ['tdx_quote_4.dat', 'tdx_quote_5.dat', 'tdx_quote_6.dat']) {
  test(`parses Trustee's ${f} and serializes it back byte-exact`, () => {
    const bytes = new Uint8Array(readVector('trustee', 'tdx', f));
    const q = parseQuote(bytes);
    assert.equal(quotePckChain(q).length, 3);
    assert.deepEqual(serializeQuote(q), bytes);
  });
}

test('decodes TD attributes: SEPT_VE_DISABLE on the Trustee quote, DEBUG and reserved bits by position', () => {
  const q = parseQuote(new Uint8Array(readVector('tdx', 'trustee-v4-mrconfigid.quote.bin')));
  const a = decodeTdAttributes(q.body.tdAttributes);
  assert.deepEqual([a.debug, a.septVeDisable, a.reserved], [false, true, 0n]);
  const d = decodeTdAttributes(new Uint8Array([0x03, 0, 0, 0x50, 0, 0, 0, 0x80]));
  assert.deepEqual([d.debug, d.tudReserved, d.septVeDisable, d.protectionKeys, d.perfmon, d.reserved], [true, 1, true, true, true, 0x2n]);
});

const good = new Uint8Array(readVector('tdx', 'gotdx-v5-tdx15.quote.bin'));

test('rejects other versions, SGX quotes, other key types and v5 body types with CocoErrors naming the field', () => {
  const expectCode = (mut: (b: Uint8Array) => void, code: string): void => {
    const b = new Uint8Array(good);
    mut(b);
    assert.throws(() => parseQuote(b), (e: unknown) => e instanceof CocoError && e.code === code && e.kind === 'input');
  };
  expectCode((b) => (b[0] = 3), 'TDX_QUOTE_VERSION');
  expectCode((b) => (b[4] = 0), 'TDX_QUOTE_TEE_TYPE');
  expectCode((b) => (b[2] = 3), 'TDX_QUOTE_KEY_TYPE');
  expectCode((b) => (b[48] = 1), 'TDX_QUOTE_BODY_TYPE');
  expectCode((b) => (b[48] = 2), 'TDX_QUOTE_BODY_TYPE'); // type 2 with type-3 size
  expectCode((b) => (b[702 + 4 + 128] = 5), 'TDX_QUOTE_CERT_DATA');
});

test('every truncation of a quote is refused with an input error, never a crash', () => {
  for (let n = 0; n < good.length; n += 7) assert.throws(() => parseQuote(good.subarray(0, n)), isInputError, `length ${n}`);
  assert.throws(() => parseQuote(good.subarray(0, good.length - 1)), isInputError);
});

test('a quote above the size limit is refused before parsing', () => {
  assert.throws(() => parseQuote(new Uint8Array(MAX_QUOTE_SIZE + 1)), (e: unknown) => e instanceof CocoError && e.kind === 'limit');
});

test('a PCK chain with junk around the PEM blocks is refused', () => {
  const q = parseQuote(good);
  const text = new TextEncoder().encode('junk' + Buffer.from(q.signatureData.certification.data).toString('latin1'));
  assert.throws(() => quotePckChain({ ...q, signatureData: { ...q.signatureData, certification: { type: 5, data: text } } }), isInputError);
  assert.throws(() => quotePckChain({ ...q, signatureData: { ...q.signatureData, certification: { type: 3, data: text } } }), isInputError);
});

test('fuzz: random bytes, and random bytes over a real quote, either parse and round-trip or give a CocoError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => {
      try {
        parseQuote(b);
      } catch (e) {
        assert.ok(isInputError(e), String(e));
      }
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (flips) => {
      const b = new Uint8Array(good);
      for (const [i, v] of flips) b[i] = v;
      try {
        const q = parseQuote(b);
        assert.deepEqual(serializeQuote(q), b);
        try {
          for (const der of quotePckChain(q).slice(0, 1)) pckExtensions(der);
        } catch (e) {
          assert.ok(isInputError(e), String(e));
        }
      } catch (e) {
        assert.ok(isInputError(e), String(e));
      }
    }),
    { numRuns: 300 },
  );
});
