import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { readVector, readVectorJson, vectorPath } from '../test-support/vectors.js';
import { bufferIO } from '../cli/io.js';
import { run } from '../cli/program.js';
import { evidenceToJson } from '../tee/tdx/index.js';
import { inspect } from './inspect.js';
import type { Inspection } from './types.js';

const QUOTES = ['gotdx-v4-spr-e4', 'gotdx-v5-tdx15', 'dcapqvl-v4-uptodate', 'trustee-v4-mrconfigid', 'gotdx-cos113-ccel'];
const field = (r: Inspection, name: string) => {
  const f = r.fields.find((x) => x.name === name);
  assert.ok(f, `no field ${name}`);
  return f;
};
const isInput = (e: unknown) => e instanceof CocoError && e.kind !== 'internal';

for (const id of QUOTES) {
  test(`TDX quote ${id}: every TD report field at its offset with the vector's value, and the offline checks pass`, () => {
    const x = readVectorJson(`tdx`, `${id}.expected.json`);
    const r = inspect(new Uint8Array(readVector('tdx', `${id}.quote.bin`)), { now: new Date(x.verification_time ?? '2025-01-01T00:00:00Z') });
    assert.equal(r.format, 'tdx-quote');
    assert.equal(r.form, 'raw');
    assert.equal(field(r, 'VERSION').value, String(x.header.version));
    assert.equal(field(r, 'QE_VENDOR_ID').value, x.header.qe_vendor_id);
    const names: Record<string, string> = { tee_tcb_svn: 'TEE_TCB_SVN', mrseam: 'MRSEAM', mrsignerseam: 'MRSIGNERSEAM', seam_attributes: 'SEAM_ATTRIBUTES', td_attributes: 'TD_ATTRIBUTES', xfam: 'XFAM', mrtd: 'MRTD', mrconfigid: 'MRCONFIGID', mrowner: 'MROWNER', mrownerconfig: 'MROWNERCONFIG', rtmr0: 'RTMR0', rtmr1: 'RTMR1', rtmr2: 'RTMR2', rtmr3: 'RTMR3', report_data: 'REPORT_DATA', tee_tcb_svn2: 'TEE_TCB_SVN2', mrservicetd: 'MRSERVICETD' };
    for (const [k, v] of Object.entries(x.body as Record<string, string>)) assert.equal(field(r, names[k]).value, v, k);
    assert.equal(field(r, 'MRTD').offset, x.body_offset + 136);
    assert.equal(field(r, 'REPORT_DATA').offset, x.body_offset + 520);
    assert.equal(field(r, 'SIGNATURE_DATA_LEN').value, String(x.signature_data_len));
    assert.equal(field(r, 'SIGNATURE_DATA_LEN').offset, x.signed_region_length);
    assert.equal(field(r, 'QE_REPORT.MR_SIGNER').value, x.qe_report.mrsigner);
    assert.equal(field(r, 'QE_REPORT.ISV_SVN').value, String(x.qe_report.isvsvn));
    assert.equal(field(r, 'QE_AUTH_DATA').size, x.qe_auth_data_len);
    assert.equal(field(r, 'PCK_CERT_DATA_SIZE').value, String(x.pck_cert_chain_size));
    assert.equal(field(r, 'PCK.SGX_EXTENSION').flags!.fmspc, x.pck_sgx_extensions.fmspc);
    assert.equal(field(r, 'PCK.SGX_EXTENSION').flags!.ca, x.pck_issuer_ca);
    // TDATTRIBUTES bit 0 is DEBUG; XFAM bit 0 is x87 state, always set.
    const attrs = BigInt.asUintN(64, BigInt(`0x${Buffer.from(x.body.td_attributes, 'hex').reverse().toString('hex')}`));
    assert.equal(field(r, 'TD_ATTRIBUTES').flags!.debug, (attrs & 1n) === 1n);
    assert.equal(field(r, 'TD_ATTRIBUTES').flags!.sept_ve_disable, ((attrs >> 28n) & 1n) === 1n);
    const xfam = BigInt(`0x${Buffer.from(x.body.xfam, 'hex').reverse().toString('hex')}`);
    assert.equal(field(r, 'XFAM').flags!.avx, ((xfam >> 2n) & 1n) === 1n);
    assert.equal(field(r, 'XFAM').flags!.amx_tiledata, ((xfam >> 18n) & 1n) === 1n);
    assert.ok(r.fields.every((f) => f.meaning.length > 0));
    const c = x.checks_without_collateral;
    if (c) {
      const ok = (id: string) => r.checks.filter((k) => k.id === id).every((k) => k.ok) && r.checks.some((k) => k.id === id);
      assert.equal(ok('quote-signature'), c.quote_signature_valid);
      assert.equal(ok('qe-report-signature'), c.qe_report_signature_valid);
      assert.equal(ok('qe-report-data'), c.qe_report_data_binding_valid);
      assert.equal(ok('pck-chain'), c.pck_chain_valid_to_intel_root);
    }
    assert.ok(r.notes.some((n) => /^TCB status not evaluated/.test(n)));
    if (x.trailing_bytes_after_signature_data) assert.ok(r.notes.some((n) => n.startsWith(`${x.trailing_bytes_after_signature_data} byte(s) after`)));
  });
}

test('a TDX quote with a flipped body byte fails its quote signature check', () => {
  const raw = new Uint8Array(readVector('tdx', 'gotdx-v4-spr-e4.quote.bin'));
  raw[48 + 136] ^= 1; // MRTD
  const r = inspect(raw, { now: new Date('2025-01-01T00:00:00Z') });
  assert.equal(r.checks.find((c) => c.id === 'quote-signature')?.ok, false);
  assert.equal(r.checks.find((c) => c.id === 'qe-report-signature')?.ok, true);
});

test('hex and CoCo evidence JSON give the same fields; the evidence event log is replayed into the RTMRs', () => {
  const raw = new Uint8Array(readVector('tdx', 'gotdx-cos113-ccel.quote.bin'));
  const fromRaw = inspect(raw);
  const fromHex = inspect(new TextEncoder().encode(Buffer.from(raw).toString('hex') + '\n'));
  assert.equal(fromHex.form, 'hex');
  assert.deepEqual(fromHex.fields, fromRaw.fields);
  const ccel = new Uint8Array(readVector('tdx', 'gotdx-cos113-ccel.ccel-data.bin'));
  const ev = inspect(new TextEncoder().encode(JSON.stringify(evidenceToJson({ quote: raw, ccEventLog: ccel }))));
  assert.equal(ev.form, 'json');
  const replay = readVectorJson('tdx', 'gotdx-cos113-ccel.ccel-replay.expected.json').replayed_sha384_registers as Record<string, string>;
  Object.values(replay).forEach((v, i) => assert.equal(field(ev, `CCEL.RTMR${i}`).value, v));
  const replayChecks = ev.checks.filter((c) => c.id === 'ccel-replay');
  assert.equal(replayChecks.length, 4);
  // The vector's RTMR0..2 equal the replay; RTMR3 is zero on both sides.
  assert.ok(replayChecks.every((c) => c.ok));
});

test('reference values mark each TDX measurement matched, not matched, or without reference', () => {
  const x = readVectorJson('tdx', 'gotdx-v4-spr-e4.expected.json');
  const r = inspect(new Uint8Array(readVector('tdx', 'gotdx-v4-spr-e4.quote.bin')), {
    referenceValues: { mr_td: [x.body.mrtd.toUpperCase(), 'ab'.repeat(48)], rtmr_1: 'cd'.repeat(48), tdx_rtmr_2: [x.body.rtmr2] },
  });
  assert.deepEqual(field(r, 'MRTD').reference, { status: 'matched', name: 'mr_td', expected: [x.body.mrtd.toUpperCase(), 'ab'.repeat(48)] });
  assert.equal(field(r, 'RTMR1').reference?.status, 'not-matched');
  assert.equal(field(r, 'RTMR2').reference?.name, 'tdx_rtmr_2');
  assert.equal(field(r, 'RTMR2').reference?.status, 'matched');
  assert.deepEqual(field(r, 'RTMR0').reference, { status: 'no-reference' });
  assert.equal(field(r, 'REPORT_DATA').reference, undefined);
});

test('truncated, flipped, random and malformed TDX input is an input error, never a crash', () => {
  const raw = new Uint8Array(readVector('tdx', 'gotdx-v5-tdx15.quote.bin'));
  for (const n of [8, 48, 100, 700, 1000, raw.length - 1]) assert.throws(() => inspect(raw.subarray(0, n)), isInput, `truncated to ${n}`);
  assert.throws(() => inspect(new TextEncoder().encode('{"quote": 5}')), isInput);
  assert.throws(() => inspect(new TextEncoder().encode('{"quote": "AAAA"}')), isInput);
  const head = raw.subarray(0, 8);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 3000 }).map((b) => Uint8Array.from([...head, ...b])),
        fc.tuple(fc.integer({ min: 8, max: raw.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const c = raw.slice();
          c[i] ^= x;
          return c;
        }),
      ),
      (bytes) => {
        try {
          const r = inspect(bytes);
          assert.equal(r.format, 'tdx-quote');
        } catch (e) {
          assert.ok(isInput(e), String(e));
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('cocokit inspect shows a TDX quote and marks measurements against a reference value file', async () => {
  const x = readVectorJson('tdx', 'gotdx-v4-spr-e4.expected.json');
  const dir = mkdtempSync(join(tmpdir(), 'inspect-rv-'));
  const rv = join(dir, 'rv.json');
  // The RVPS registration message form: the payload is base64 of {name: [values]}.
  writeFileSync(rv, JSON.stringify({ version: '0.1.0', type: 'sample', payload: Buffer.from(JSON.stringify({ mr_td: [x.body.mrtd], rtmr_0: ['00'.repeat(48)] })).toString('base64') }));
  const io = bufferIO();
  const code = await run(['inspect', vectorPath('tdx', 'gotdx-v4-spr-e4.quote.bin'), '--reference-values', rv, '--at', '2025-01-01T00:00:00Z'], io);
  assert.match(io.out(), new RegExp(`0x0b8  48  MRTD +${x.body.mrtd}`));
  assert.match(io.out(), /reference mr_td: matched/);
  assert.match(io.out(), /reference rtmr_0: NOT matched/);
  assert.match(io.out(), /^ok {3}quote-signature: /m);
  assert.match(io.out(), /TCB status not evaluated/);
  assert.equal(code, 2, 'a measurement no reference value accepts fails the command');
  const io2 = bufferIO();
  writeFileSync(rv, JSON.stringify({ mr_td: x.body.mrtd }));
  assert.equal(await run(['inspect', vectorPath('tdx', 'gotdx-v4-spr-e4.quote.bin'), '--reference-values', rv, '--at', '2025-01-01T00:00:00Z', '--json'], io2), 0, io2.err());
  assert.equal(JSON.parse(io2.out()).fields.find((f: any) => f.name === 'MRTD').reference.status, 'matched');
  writeFileSync(rv, '[1, 2]');
  const io3 = bufferIO();
  assert.notEqual(await run(['inspect', vectorPath('tdx', 'gotdx-v4-spr-e4.quote.bin'), '--reference-values', rv], io3), 0);
  assert.match(io3.err(), /reference values must be a JSON object/);
});
