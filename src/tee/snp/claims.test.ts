import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { snpClaims } from './claims.js';
import { parseReport, type SnpProduct } from './format.js';

const index = readVectorJson<{ vectors: any[] }>('snp', 'reports', 'index.json');

/** Trustee's SNP claim names and JSON types (kbs-protocol.md §3.2, snp.md §1.9 item 8). */
const TRUSTEE: Record<string, 'number' | 'boolean' | number> = {
  policy_abi_major: 'number',
  policy_abi_minor: 'number',
  policy_smt_allowed: 'boolean',
  policy_migrate_ma: 'boolean',
  policy_debug_allowed: 'boolean',
  policy_single_socket: 'boolean',
  reported_tcb_bootloader: 'number',
  reported_tcb_tee: 'number',
  reported_tcb_snp: 'number',
  reported_tcb_microcode: 'number',
  platform_tsme_enabled: 'boolean',
  platform_smt_enabled: 'boolean',
  measurement: 96,
  report_data: 128,
  init_data: 64,
  chip_id: 128,
};

for (const v of index.vectors.filter((x) => !x.negative)) {
  test(`claims of ${v.id} carry Trustee's names and encodings with the report's values`, () => {
    const r = parseReport(new Uint8Array(readVector('snp', v.report)), { product: String(v.product).toLowerCase() as SnpProduct });
    const c = snpClaims(r, String(v.product).toLowerCase() as SnpProduct);
    for (const [k, t] of Object.entries(TRUSTEE)) {
      if (typeof t === 'number') assert.match(String(c[k]), new RegExp(`^[0-9a-f]{${t}}$`), k);
      else assert.equal(typeof c[k], t, k);
    }
    const f = v.fields;
    assert.deepEqual(
      [c.measurement, c.report_data, c.init_data, c.chip_id, c.reported_tcb_bootloader, c.reported_tcb_tee, c.reported_tcb_snp, c.reported_tcb_microcode],
      [f.measurement, f.report_data, f.host_data, f.chip_id, f.reported_tcb.bl, f.reported_tcb.tee, f.reported_tcb.snp, f.reported_tcb.ucode],
    );
    const policy = BigInt(f.policy);
    assert.equal(c.policy_debug_allowed, ((policy >> 19n) & 1n) === 1n);
    assert.equal(c.policy_smt_allowed, ((policy >> 16n) & 1n) === 1n);
    assert.equal(c.platform_smt_enabled, (BigInt(f.platform_info) & 1n) === 1n);
    assert.equal(c.reported_tcb_fmc, f.reported_tcb.fmc);
  });
}
