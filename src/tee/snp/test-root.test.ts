import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { toHex } from '../../formats/bytes.js';
import { parseCertificate } from '../../formats/x509.js';
import { readVector } from '../../test-support/vectors.js';
import { rootsFromPem, vekExtensions } from './certs.js';
import { evidenceToJson } from './evidence.js';
import { parseReport } from './format.js';
import { createTestRoot, RSA_PSS_SHA384 } from './test-root.js';
import { createSnpVerifier, snpVerifier } from './verifier.js';
import { verifyReport } from './verify.js';

const failedIds = (checks: Array<{ id: string; ok: boolean }>): string[] => [...new Set(checks.filter((c) => !c.ok).map((c) => c.id))];
const now = new Date('2026-01-01T00:00:00Z');
const root = createTestRoot({ product: 'milan' });
const chip = root.createChip();

test('the test root signs with the exact RSASSA-PSS AlgorithmIdentifier AMD certificates carry', () => {
  const amdAsk = new X509Certificate(readVector('snp', 'certs', 'ask_milan.pem'));
  assert.equal(toHex(parseCertificate(new Uint8Array(amdAsk.raw)).signatureAlgorithm), toHex(RSA_PSS_SHA384));
  assert.equal(toHex(parseCertificate(new Uint8Array(chip.vcek.raw)).signatureAlgorithm), toHex(RSA_PSS_SHA384));
});

test('test VCEKs carry the AMD extensions a verifier reads', () => {
  const ext = vekExtensions(new Uint8Array(chip.vcek.raw));
  assert.deepEqual([ext.bootloader, ext.tee, ext.snp, ext.microcode, ext.productName], [3, 0, 8, 115, 'Milan-B0']);
  assert.deepEqual(ext.hwId, chip.chipId);
  // Serial 0, like genuine KDS VCEKs (snp.md §2.1).
  assert.equal(chip.vcek.serialNumber, new X509Certificate(readVector('snp', 'reports', 'gsg-milan-v2.vcek.der')).serialNumber);
});

test('reports signed by the test root verify only when its roots are passed explicitly', async () => {
  const reportData = new Uint8Array(48).fill(0xab);
  const raw = root.signReport(chip, { reportData: new Uint8Array([...reportData, ...new Uint8Array(16)]) });
  const report = parseReport(raw);
  assert.deepEqual(failedIds(verifyReport(report, { now, vek: new Uint8Array(chip.vcek.raw), roots: root.roots }).checks), []);
  // Default roots: the genuine AMD ARK only.
  const def = verifyReport(report, { now, vek: new Uint8Array(chip.vcek.raw) });
  assert.deepEqual(failedIds(def.checks), ['chain']);
  const evidence = evidenceToJson(report, [{ type: 'VCEK', data: new Uint8Array(chip.vcek.raw) }]);
  const withTest = await createSnpVerifier({ roots: root.roots }).verify(evidence, { now, expectedReportData: reportData });
  assert.deepEqual(failedIds(withTest.checks), []);
  assert.equal(withTest.claims.report_data, toHex(report.reportData));
  assert.deepEqual(failedIds((await snpVerifier.verify(evidence, { now, expectedReportData: reportData })).checks), ['chain']);
  // A test root is also accepted from PEM (e.g. a KBS config file), again only when passed.
  const pem = [root.ark, root.ask].map((c) => c.toString()).join('\n');
  assert.deepEqual(failedIds(verifyReport(report, { now, vek: new Uint8Array(chip.vcek.raw), roots: rootsFromPem('milan', pem, 'TEST') }).checks), []);
});

test('a second, unrelated test root does not vouch for the first one\'s chips', () => {
  const other = createTestRoot({ product: 'milan' });
  const raw = root.signReport(chip);
  assert.ok(failedIds(verifyReport(parseReport(raw), { now, vek: new Uint8Array(chip.vcek.raw), roots: other.roots }).checks).includes('chain'));
});

test('Turin test chips use the Turin TCB layout, an 8-byte hwID and fmcSPL', () => {
  const turin = createTestRoot({ product: 'turin' });
  const c = turin.createChip({ tcb: { fmc: 2, microcode: 200 } });
  const report = parseReport(turin.signReport(c));
  assert.equal(report.version, 5);
  assert.equal(report.tcbLayout, 'turin');
  assert.equal(report.reportedTcb.fmc, 2);
  const res = verifyReport(report, { now, vek: new Uint8Array(c.vcek.raw), roots: turin.roots });
  assert.deepEqual(failedIds(res.checks), []);
  assert.equal(res.vekExtensions.hwId?.length, 8);
  assert.equal(res.vekExtensions.microcode, 200);
});

test('a VCEK for another TCB fails tcb; one for another chip fails chip-id', () => {
  const raw = root.signReport(chip);
  const otherTcb = root.createChip({ chipId: chip.chipId, tcb: { snp: 9 } });
  const a = verifyReport(parseReport(raw), { now, vek: new Uint8Array(otherTcb.vcek.raw), roots: root.roots });
  assert.deepEqual(failedIds(a.checks), ['signature', 'tcb']);
  const otherChip = root.createChip();
  const b = verifyReport(parseReport(raw), { now, vek: new Uint8Array(otherChip.vcek.raw), roots: root.roots });
  assert.deepEqual(failedIds(b.checks), ['signature', 'chip-id']);
});

test('CRLs signed by the ARK revoke listed ASK serials; stale or foreign CRLs fail', () => {
  const report = parseReport(root.signReport(chip));
  const base = { now, vek: new Uint8Array(chip.vcek.raw), roots: root.roots };
  const clean = root.issueCrl([0x777n], new Date('2025-12-01T00:00:00Z'), new Date('2026-02-01T00:00:00Z'));
  assert.deepEqual(failedIds(verifyReport(report, { ...base, crls: [clean] }).checks), []);
  const revoking = root.issueCrl([0x10001n], new Date('2025-12-01T00:00:00Z'), new Date('2026-02-01T00:00:00Z'));
  const r = verifyReport(report, { ...base, crls: [revoking] });
  assert.deepEqual(failedIds(r.checks), ['crl']);
  assert.match(r.checks.find((c) => c.id === 'crl' && !c.ok)!.detail, /SEV-Milan.*revoked/);
  const stale = root.issueCrl([], new Date('2025-01-01T00:00:00Z'), new Date('2025-02-01T00:00:00Z'));
  assert.deepEqual(failedIds(verifyReport(report, { ...base, crls: [stale] }).checks), ['crl']);
  const foreign = createTestRoot().issueCrl([], new Date('2025-12-01T00:00:00Z'), new Date('2026-02-01T00:00:00Z'));
  assert.deepEqual(failedIds(verifyReport(report, { ...base, crls: [foreign] }).checks), ['crl']);
});
