import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { parseQuote } from './format.js';
import { parseCollateralBundle } from './collateral.js';
import { tdxClaims } from './claims.js';
import { verifyQuote } from './verify.js';

test("claims of Trustee's tdx_quote_4 equal Trustee's parse_tdx_claims_expected.json (event-log claims aside)", () => {
  const want = readVectorJson('trustee', 'tdx', 'parse_tdx_claims_expected.json');
  const raw = new Uint8Array(readVector('trustee', 'tdx', 'tdx_quote_4.dat'));
  const q = parseQuote(raw);
  // Collateral-free verification at a time inside the PCK chain's validity gives the quote claims.
  const v = verifyQuote(q, { now: new Date('2024-01-01T00:00:00Z'), raw });
  const c = tdxClaims(v);
  for (const k of ['quote', 'td_attributes', 'report_data', 'init_data', 'platform_instance_id']) assert.deepEqual(c[k], want[k], k);
});

test('a v5 quote adds type, size, TEE_TCB_SVN2 and MRSERVICETD; collateral adds the TCB claims', () => {
  const x = readVectorJson('tdx', 'gotdx-v5-tdx15.expected.json');
  const raw = new Uint8Array(readVector('tdx', 'gotdx-v5-tdx15.quote.bin'));
  const v = verifyQuote(parseQuote(raw), { now: new Date(x.verification_time), raw, collateral: parseCollateralBundle(readVector('tdx', x.collateral_file)) });
  const c = tdxClaims(v) as any;
  assert.equal(c.quote.type, '0300');
  assert.equal(c.quote.size, '88020000');
  assert.equal(c.quote.header.version, '0500');
  assert.equal(c.quote.body.tee_tcb_svn2, x.body.tee_tcb_svn2);
  assert.equal(c.quote.body.mr_servicetd, x.body.mrservicetd);
  assert.equal(c.tcb_status, 'UpToDate');
  assert.deepEqual(c.advisory_ids, []);
  assert.equal(c.tcb_date, x.detail.tdx_level[0][0]);
  assert.equal(c.collateral_expiration_status, '0');
  assert.equal(c.fmspc, x.pck_sgx_extensions.fmspc);
  assert.equal(c.earliest_expiration_date, new Date(x.detail.validity_intersection[1]).toISOString());
});
