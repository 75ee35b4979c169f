import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failures } from '../../formats/check.js';
import { toBase64Url } from '../../formats/bytes.js';
import { toolMissing } from '../../test-support/vectors.js';
import { startSwtpm } from '../../test-support/swtpm.js';
import { provisionAzureVtpm } from '../../test-support/azure-vtpm.js';
import { TpmClient } from '../../tpm/client.js';
import { openTransport } from '../../tpm/transport.js';
import { collateralCachePath, serializeCollateralBundle } from '../tdx/collateral.js';
import { createTdxTestRoot } from '../tdx/test-root.js';
import { encodeHclReport, HCL_REPORT_NV_INDEX } from '../azure/hcl.js';
import { AzTdxVtpmAttester } from './attester.js';
import { createAzTdxVtpmVerifier, tdxQuoteVerification } from './verifier.js';

test('a swtpm provisioned like an Azure TDX vTPM (AK at 0x81000003, HCL report with a TDREPORT) attests to the az-tdx-vtpm verifier', { skip: toolMissing('swtpm'), timeout: 120_000 }, async () => {
  const root = createTdxTestRoot();
  const tpm = await startSwtpm();
  const dir = mkdtempSync(join(tmpdir(), 'az-tdx-'));
  try {
    // Provision: the paravisor's AK, persistent, and an HCL report whose TDREPORT REPORTDATA commits to it.
    let tdReport = new Uint8Array(0);
    await provisionAzureVtpm(tpm.tcti, {
      hclReport: (variableData) => {
        // TDREPORT (TDX module ABI, REPORTMACSTRUCT.REPORTDATA at offset 128), padded to the HCL hardware-report slot.
        tdReport = new Uint8Array(1184);
        tdReport.set(createHash('sha256').update(variableData).digest(), 128);
        return encodeHclReport({ reportType: 'tdx', hwReport: tdReport, variableData, size: 2048 });
      },
      more: (c) => c.pcrExtend(11, [{ alg: 0x000b, digest: new Uint8Array(32).fill(0x11) }]),
    });
    // The quoting service's part: a TD quote over the TDREPORT's REPORTDATA, signed under the test root.
    const seen: Uint8Array[] = [];
    const attester = new AzTdxVtpmAttester({ tcti: tpm.tcti, getTdQuote: async (r) => (seen.push(r), root.signQuote({ reportData: r.subarray(128, 192) })) });
    const nonce = createHash('sha384').update('runtime data').digest();
    const evidence = await attester.getEvidence(nonce);
    assert.deepEqual(seen.map((r) => Buffer.from(r.subarray(128, 192)).toString('hex')), [Buffer.from(tdReport.subarray(128, 192)).toString('hex')]);

    // Without TD quote verification configured, everything but the TD quote verifies.
    const bare = await createAzTdxVtpmVerifier().verify(evidence, { expectedReportData: nonce, now: new Date() });
    assert.deepEqual(failures(bare.checks).map((x) => x.id), ['td-quote']);
    assert.equal((bare.claims as any).tpm.pcr11, createHash('sha256').update(new Uint8Array(32)).update(new Uint8Array(32).fill(0x11)).digest('hex'));

    // With the test root and its collateral, the TD quote verifies too.
    const cache = join(dir, 'collateral');
    mkdirSync(join(cache, 'tdx'), { recursive: true });
    writeFileSync(collateralCachePath(cache, root.platform.fmspc, 'platform'), serializeCollateralBundle(root.collateral({ issued: new Date(Date.now() - 86_400_000) })));
    const verifier = createAzTdxVtpmVerifier({ verifyTdQuote: tdxQuoteVerification({ root: root.root, collateralDir: cache }) });
    const full = await verifier.verify(evidence, { expectedReportData: nonce, now: new Date() });
    assert.deepEqual(failures(full.checks), []);
    // Another nonce is refused; a TD quote over another TDREPORT does not bind.
    assert.deepEqual(failures((await verifier.verify(evidence, { expectedReportData: new Uint8Array(48), now: new Date() })).checks).map((x) => x.id), ['nonce']);
    const other = { ...(evidence as object), td_quote: toBase64Url(root.signQuote({ reportData: new Uint8Array(64).fill(7) })) };
    assert.ok(failures((await verifier.verify(other, { expectedReportData: nonce, now: new Date() })).checks).some((x) => x.id === 'td-quote-report-data'));
  } finally {
    await tpm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the az-tdx-vtpm attester refuses a vTPM whose NV holds an SNP HCL report or no HCL report, as CocoErrors', { skip: toolMissing('swtpm'), timeout: 120_000 }, async () => {
  const tpm = await startSwtpm();
  try {
    await provisionAzureVtpm(tpm.tcti, { runtime: {}, hclReport: (variableData) => encodeHclReport({ reportType: 'snp', hwReport: new Uint8Array(1184), variableData, size: 2048 }) });
    let asked = 0;
    const attester = new AzTdxVtpmAttester({ tcti: tpm.tcti, getTdQuote: async () => (asked++, new Uint8Array(0)) });
    await assert.rejects(attester.getEvidence(new Uint8Array(32)), (e: any) => e.name === 'CocoError' && e.kind === 'unsupported' && /not a TDREPORT/.test(e.message));
    // Random bytes where the HCL report should be.
    const c2 = new TpmClient(await openTransport(tpm.tcti));
    try {
      await c2.nvWrite(HCL_REPORT_NV_INDEX, new Uint8Array(2048).map((_, i) => (i * 131 + 7) & 0xff));
    } finally {
      await c2.transport.close();
    }
    await assert.rejects(attester.getEvidence(new Uint8Array(32)), (e: any) => e.name === 'CocoError' && e.kind !== 'internal');
    assert.equal(asked, 0);
  } finally {
    await tpm.stop();
  }
});
