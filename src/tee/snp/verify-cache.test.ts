/**
 * What the verifier keeps between reports (parsed certificates, chain findings, validity windows) never
 * accepts what a first verification would refuse: validity is judged at every verification time, and a
 * certificate is known by its DER hash, never by its names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Check } from '../../formats/check.js';
import { evidenceToJson } from './evidence.js';
import { parseReport, type CertTableEntry } from './format.js';
import { createTestRoot, type TestChip, type TestRoot } from './test-root.js';
import { createSnpVerifier } from './verifier.js';

const failed = (checks: Check[]): string[] => checks.filter((c) => !c.ok).map((c) => `${c.id}: ${c.detail}`);
const failedIds = (checks: Check[]): string[] => [...new Set(checks.filter((c) => !c.ok).map((c) => c.id))];
const at = (iso: string): Date => new Date(iso);

const root = createTestRoot({ product: 'milan', notBefore: at('2020-01-01T00:00:00Z'), notAfter: at('2030-01-01T00:00:00Z') });
const chip = root.createChip({ notBefore: at('2025-01-01T00:00:00Z'), notAfter: at('2027-01-01T00:00:00Z') });
const reportData = new Uint8Array(64).fill(0x5a);
const verifier = createSnpVerifier({ roots: root.roots });

/** Extended-report evidence: the VCEK and, unless left out, the ASK and ARK in the certificate table. */
function evidence(r: TestRoot, c: TestChip, table: { vcek?: TestChip; ask?: TestRoot; ark?: TestRoot | null } = {}): unknown {
  const entries: CertTableEntry[] = [{ type: 'VCEK', data: new Uint8Array((table.vcek ?? c).vcek.raw) }];
  entries.push({ type: 'ASK', data: new Uint8Array((table.ask ?? r).ask.raw) });
  if (table.ark !== null) entries.push({ type: 'ARK', data: new Uint8Array((table.ark ?? r).ark.raw) });
  return evidenceToJson(parseReport(r.signReport(c, { reportData })), entries);
}

const genuine = evidence(root, chip);

test('a chain whose findings are kept is still judged for validity at every verification time', async () => {
  const verify = async (iso: string): Promise<Check[]> => (await verifier.verify(genuine, { now: at(iso), expectedReportData: reportData })).checks;
  const first = await verify('2026-01-01T00:00:00Z');
  assert.deepEqual(failed(first), []);
  // The second verification takes the kept chain findings: the same checks, in the same order.
  assert.deepEqual(await verify('2026-01-01T00:00:00Z'), first);
  // The VCEK expired on 2027-01-01; the ASK and ARK, not before 2030.
  const expired = await verify('2027-06-01T00:00:00Z');
  assert.deepEqual(failedIds(expired), ['validity']);
  assert.deepEqual(
    expired.filter((c) => !c.ok).map((c) => c.detail),
    ['SEV-VCEK valid 2025-01-01T00:00:00.000Z .. 2027-01-01T00:00:00.000Z'],
  );
  // Past the root's end, every certificate of the chain is out of its window.
  assert.equal((await verify('2031-01-01T00:00:00Z')).filter((c) => c.id === 'validity' && !c.ok).length, 3);
  // Before the VCEK's start it is not yet valid.
  assert.deepEqual(failedIds(await verify('2024-06-01T00:00:00Z')), ['validity']);
  // And a time inside every window passes again: no time was remembered.
  assert.deepEqual(failed(await verify('2026-06-01T00:00:00Z')), []);
});

test('a VCEK with the names, serial and chip id of a trusted one but another issuer key is not served from what was kept', async () => {
  const now = at('2026-01-01T00:00:00Z');
  assert.deepEqual(failed((await verifier.verify(genuine, { now, expectedReportData: reportData })).checks), []);
  // Same product, same CNs, same chip id and TCB: only the keys differ.
  const rogue = createTestRoot({ product: 'milan', notBefore: at('2020-01-01T00:00:00Z'), notAfter: at('2030-01-01T00:00:00Z') });
  const twin = rogue.createChip({ chipId: chip.chipId, tcb: chip.tcb, notBefore: at('2025-01-01T00:00:00Z'), notAfter: at('2027-01-01T00:00:00Z') });
  assert.equal(twin.vcek.subject, chip.vcek.subject);
  assert.equal(twin.vcek.issuer, chip.vcek.issuer);
  assert.equal(twin.vcek.serialNumber, chip.vcek.serialNumber);
  assert.notEqual(twin.vcek.fingerprint256, chip.vcek.fingerprint256);

  // The twin's own report with its whole chain: the ARK is not the pinned one.
  const own = await verifier.verify(evidence(rogue, twin), { now, expectedReportData: reportData });
  assert.ok(failedIds(own.checks).includes('chain'), failed(own.checks).join('\n'));
  // The twin VCEK offered under the trusted ARK and ASK: the ASK did not sign it.
  const underTrusted = await verifier.verify(evidence(rogue, twin, { ask: root, ark: root }), { now, expectedReportData: reportData });
  assert.deepEqual(failedIds(underTrusted.checks), ['chain']);
  assert.match(failed(underTrusted.checks)[0], /SEV-VCEK .* \(signature or names do not verify\)/);
  // A report signed by the twin's key but carrying the trusted VCEK: the signature fails.
  const borrowed = await verifier.verify(evidence(rogue, twin, { vcek: chip, ask: root, ark: root }), { now, expectedReportData: reportData });
  assert.deepEqual(failedIds(borrowed.checks), ['signature']);
  // A changed chain: the trusted VCEK under a rogue ASK of the same name.
  const swappedAsk = await verifier.verify(evidence(root, chip, { ask: rogue }), { now, expectedReportData: reportData });
  assert.deepEqual(failedIds(swappedAsk.checks), ['chain']);
  // The genuine evidence is unaffected by everything above.
  assert.deepEqual(failed((await verifier.verify(genuine, { now, expectedReportData: reportData })).checks), []);
});

test('a VCEK of another chip of the same root fails chip-id and the signature, cached chain or not', async () => {
  const now = at('2026-01-01T00:00:00Z');
  const other = root.createChip({ notBefore: at('2025-01-01T00:00:00Z'), notAfter: at('2027-01-01T00:00:00Z') });
  // Both VCEKs chain correctly; the report was signed by `chip`, and names `chip`'s CHIP_ID.
  const wrongVcek = evidence(root, chip, { vcek: other });
  for (let i = 0; i < 2; i++) assert.deepEqual(failedIds((await verifier.verify(wrongVcek, { now, expectedReportData: reportData })).checks), ['signature', 'chip-id']);
});

test('checks handed out are the caller\'s: altering them changes nothing for the next verification', async () => {
  const now = at('2027-06-01T00:00:00Z');
  const first = await verifier.verify(genuine, { now, expectedReportData: reportData });
  for (const c of first.checks) {
    c.ok = true;
    c.detail = 'altered';
  }
  const again = await verifier.verify(genuine, { now, expectedReportData: reportData });
  assert.deepEqual(failedIds(again.checks), ['validity']);
  assert.ok(again.checks.every((c) => c.detail !== 'altered'));
});

test('evidence without the ASK and ARK uses the configured ones, and a wrong ARK in the table fails the chain', async () => {
  const now = at('2026-01-01T00:00:00Z');
  assert.deepEqual(failed((await verifier.verify(evidence(root, chip, { ark: null }), { now, expectedReportData: reportData })).checks), []);
  const rogue = createTestRoot({ product: 'milan' });
  assert.deepEqual(failedIds((await verifier.verify(evidence(root, chip, { ark: rogue }), { now, expectedReportData: reportData })).checks), ['chain']);
});
