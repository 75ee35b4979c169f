import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CocoError } from '../../errors.js';
import { toHex } from '../../formats/bytes.js';
import { readVector } from '../../test-support/vectors.js';
import { parseTdReport, tdReportHashesConsistent } from './tdreport.js';

const bytes = new Uint8Array(readVector('trustee', 'tdx', 'tdx_report_1.bin'));

test("Trustee's TDREPORT parses, and its REPORTMACSTRUCT hashes cover its TEE_TCB_INFO and TDINFO", () => {
  const r = parseTdReport(bytes);
  assert.deepEqual(tdReportHashesConsistent(r), { teeTcbInfo: true, teeInfo: true });
  assert.equal(toHex(r.fields.reportType), '81000100');
  for (const off of [300, 600]) {
    const b = new Uint8Array(bytes);
    b[off] ^= 1;
    const c = tdReportHashesConsistent(parseTdReport(b));
    assert.equal(c.teeTcbInfo && c.teeInfo, false, `byte ${off}`);
  }
});

test('a TDREPORT of the wrong size or type is an input error', () => {
  assert.throws(() => parseTdReport(bytes.subarray(0, 1000)), (e: unknown) => e instanceof CocoError && e.kind === 'input');
  const b = new Uint8Array(bytes);
  b[0] = 0;
  assert.throws(() => parseTdReport(b), /not TDX/);
});
