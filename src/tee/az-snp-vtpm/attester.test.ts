import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { failures } from '../../formats/check.js';
import { toolMissing } from '../../test-support/vectors.js';
import { startSwtpm } from '../../test-support/swtpm.js';
import { provisionAzureVtpm } from '../../test-support/azure-vtpm.js';
import { createTestRoot } from '../snp/test-root.js';
import { encodeHclReport } from '../azure/hcl.js';
import { AzSnpVtpmAttester } from './attester.js';
import { createAzSnpVtpmVerifier } from './verifier.js';

test('a swtpm provisioned like an Azure vTPM (AK at 0x81000003, HCL report in NV) attests to the az-snp-vtpm verifier', { skip: toolMissing('swtpm'), timeout: 120_000 }, async () => {
  const root = createTestRoot({ product: 'milan' });
  const chip = root.createChip({ notBefore: new Date(Date.now() - 86_400_000) });
  const tpm = await startSwtpm();
  try {
    // Provision: the paravisor's AK, persistent, and an HCL report whose SNP REPORT_DATA commits to it.
    await provisionAzureVtpm(tpm.tcti, {
      hclReport: (variableData) => {
        const reportData = new Uint8Array(64);
        reportData.set(createHash('sha256').update(variableData).digest());
        return encodeHclReport({ reportType: 'snp', hwReport: root.signReport(chip, { reportData }), variableData, size: 2048 });
      },
      more: (c) => c.pcrExtend(11, [{ alg: 0x000b, digest: new Uint8Array(32).fill(0x11) }]),
    });
    const attester = new AzSnpVtpmAttester({ tcti: tpm.tcti, vcek: new Uint8Array(chip.vcek.raw) });
    const nonce = createHash('sha384').update('runtime data').digest();
    const evidence = await attester.getEvidence(nonce);
    const verifier = createAzSnpVtpmVerifier({ roots: root.roots });
    const r = await verifier.verify(evidence, { expectedReportData: nonce, now: new Date() });
    assert.deepEqual(failures(r.checks), []);
    assert.equal((r.claims as any).tpm.pcr11, createHash('sha256').update(new Uint8Array(32)).update(new Uint8Array(32).fill(0x11)).digest('hex'));
    assert.equal((r.claims as any).report_data, nonce.toString('hex'));
    // The genuine AMD roots do not anchor the test chip; another nonce is refused.
    assert.ok(failures((await createAzSnpVtpmVerifier().verify(evidence, { expectedReportData: nonce, now: new Date() })).checks).some((x) => x.id === 'chain'));
    assert.deepEqual(failures((await verifier.verify(evidence, { expectedReportData: new Uint8Array(48), now: new Date() })).checks).map((x) => x.id), ['nonce']);
  } finally {
    await tpm.stop();
  }
});
