import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoError } from '../../errors.js';
import { SnpAttester, type TsmFs } from './attester.js';
import { tsmSimulator } from './tsm-sim.js';
import { createTestRoot } from './test-root.js';
import { createSnpVerifier } from './verifier.js';

const root = createTestRoot({ product: 'genoa' });
const chip = root.createChip();
const now = new Date('2026-01-01T00:00:00Z');

const configfsLike = (_tsm: string, o: { provider?: string; extraWrite?: boolean; certs?: boolean } = {}): TsmFs =>
  tsmSimulator(root, chip, { provider: o.provider, concurrentWriter: o.extraWrite, certTable: o.certs });

function tempTsm(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('attests through configfs-tsm: evidence verifies with the test root and binds the report data', async (t) => {
  const tsm = tempTsm(t);
  const attester = new SnpAttester({ tsmPath: tsm, fs: configfsLike(tsm) });
  assert.ok(attester.available());
  const digest = new Uint8Array(48).fill(0x5a);
  const evidence = await attester.getEvidence(digest);
  assert.deepEqual(readdirSync(tsm), [], 'the report entry is removed afterwards');
  const res = await createSnpVerifier({ roots: root.roots }).verify(evidence, { now, expectedReportData: digest });
  assert.deepEqual(res.checks.filter((c) => !c.ok), []);
  assert.equal(res.claims.report_data, Buffer.from([...digest, ...new Uint8Array(16)]).toString('hex'));
});

test('writes privlevel before inblob and accepts a host without a certificate table', async (t) => {
  const tsm = tempTsm(t);
  const a = await new SnpAttester({ tsmPath: tsm, fs: configfsLike(tsm, { certs: false }), privlevel: 2 }).attest(new Uint8Array(32).fill(1));
  assert.equal(a.report.vmpl, 2);
  assert.equal(a.certTable, null);
});

test('refuses a non-SNP provider, a concurrently used entry and oversized report data', async (t) => {
  const tsm = tempTsm(t);
  await assert.rejects(new SnpAttester({ tsmPath: tsm, fs: configfsLike(tsm, { provider: 'tdx_guest' }) }).attest(new Uint8Array(1)), /not sev_guest/);
  await assert.rejects(new SnpAttester({ tsmPath: tsm, fs: configfsLike(tsm, { extraWrite: true }) }).attest(new Uint8Array(1)), /concurrently/);
  assert.deepEqual(readdirSync(tsm), []);
  await assert.rejects(new SnpAttester({ tsmPath: tsm, fs: configfsLike(tsm) }).attest(new Uint8Array(65)), (e: unknown) => e instanceof CocoError && e.kind === 'usage');
});

test('without configfs-tsm or /dev/sev-guest the attester is unavailable', async (t) => {
  const dir = tempTsm(t);
  const attester = new SnpAttester({ tsmPath: join(dir, 'no-tsm'), devicePath: join(dir, 'no-dev') });
  assert.equal(attester.available(), false);
  await assert.rejects(attester.attest(new Uint8Array(8)), (e: unknown) => e instanceof CocoError && e.kind === 'unavailable');
});

test('the /dev/sev-guest fallback reports a missing snpguest tool as unavailable', async (t) => {
  const dir = tempTsm(t);
  writeFileSync(join(dir, 'sev-guest'), '');
  const attester = new SnpAttester({ tsmPath: join(dir, 'no-tsm'), devicePath: join(dir, 'sev-guest'), snpguest: join(dir, 'no-such-snpguest') });
  await assert.rejects(attester.attest(new Uint8Array(8)), (e: unknown) => e instanceof CocoError && e.code === 'SNP_DEVICE');
});
