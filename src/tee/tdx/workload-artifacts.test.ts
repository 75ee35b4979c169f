/**
 * A TDX workload registered from its build artifacts: `cocokit kbs workload register --tee tdx --from-artifacts`
 * computes MRTD from the TD firmware, RTMR1/RTMR2 from the kernel, initrd and command line of a direct boot
 * and MRCONFIGID from the init-data; a TD (configfs-tsm simulated under a test root) launched from those
 * artifacts gets the workload's secret, one launched with another command line is refused.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KbsClient } from '../../client/kbs-client.js';
import { signAdminToken } from '../../client/admin-client.js';
import { encodeCryptoAgileLog } from '../../eventlog/index.js';
import { fromHex, utf8 } from '../../formats/bytes.js';
import { bufferIO } from '../../cli/io.js';
import { run } from '../../cli/program.js';
import { policyEvaluators } from '../../policy/index.js';
import { openKbs } from '../../server/kbs.js';
import { referenceValuesFromArtifacts } from '../../measure/from-artifacts.js';
import { tinyFirmware } from '../../measure/test-support/tdvf.js';
import { writeTdxTestKbsConfig } from '../../test-support/tdx-test-kbs.js';
import { readVector, vectorPath } from '../../test-support/vectors.js';
import { TdxAttester } from './attester.js';
import { tdxTsmSimulator } from './tsm-sim.js';

const dir = mkdtempSync(join(tmpdir(), 'tdx-workload-'));
const EV_IPL = 0xd;
after(() => rmSync(dir, { recursive: true, force: true }));

test('register --tee tdx --from-artifacts: the TD launched from those artifacts gets the secret; another command line is refused', async () => {
  const { root, config, adminKeyPem } = writeTdxTestKbsConfig(dir, { allowedEndpoints: '^/kbs/v0/.*$' });
  const kbs = await openKbs({ config, ...policyEvaluators() });
  try {
    const url = await kbs.listen(0, '127.0.0.1');
    // The build artifacts: a TD firmware, a kernel (a PE image of the shared vectors), an initrd, a command
    // line and an init-data document.
    const firmware = tinyFirmware();
    writeFileSync(join(dir, 'tdvf.fd'), firmware);
    writeFileSync(join(dir, 'initrd.img'), new Uint8Array(4096).fill(7));
    const initData = 'version = "0.1.0"\nalgorithm = "sha384"\n\n[data]\n"aa.toml" = \'\'\'\n[token_configs]\n\'\'\'\n';
    writeFileSync(join(dir, 'init-data.toml'), initData);
    const kernel = vectorPath('uki', 'pe', 'pe-s01.efi');
    const append = 'console=hvc0 root=/dev/vda1';
    const io = bufferIO({}, dir);
    const code = await run(
      ['kbs', 'workload', '--url', url, '--auth-private-key', 'admin.pem', '--namespace', 'tenant-x', 'register', '--tee', 'tdx', '--identify', 'extra_params', '--from-artifacts',
        '--tdx-firmware', 'tdvf.fd', '--kernel', kernel, '--initrd', 'initrd.img', '--append', append, '--init-data', 'init-data.toml', '--resource', 'passphrase=td-from-artifacts'],
      io,
    );
    assert.equal(code, 0, io.err());
    const id = io.out().trim();
    const computed = await referenceValuesFromArtifacts({ tdx: { firmware, kernel: new Uint8Array(readVector('uki', 'pe', 'pe-s01.efi')), initrd: new Uint8Array(4096).fill(7), append }, initData: utf8.encode(initData) });
    const shown = new (await import('../../client/workload-client.js')).WorkloadAdminClient(url, { namespace: 'tenant-x', role: 'admin', privateKeyPem: adminKeyPem });
    const rec = (await shown.show(id)) as { reference_values: Record<string, string>; provenance: Record<string, { algorithm: string; events?: unknown }> };
    assert.deepEqual(rec.reference_values, { mr_td: computed.values.mr_td, rtmr_1: computed.values.rtmr_1, rtmr_2: computed.values.rtmr_2, mr_config_id: computed.values.mr_config_id });
    assert.equal(rec.provenance.rtmr_1.algorithm, 'tdx-direct-boot-rtmr');
    assert.ok(rec.provenance.rtmr_2.events, 'the RTMR events travel with the registration');

    const launch = { mrTd: fromHex(computed.values.mr_td), rtmr1: fromHex(computed.values.rtmr_1), rtmr2: fromHex(computed.values.rtmr_2), mrConfigId: fromHex(computed.values.mr_config_id) };
    const td = (l: typeof launch) => {
      const tsm = mkdtempSync(join(dir, 'tsm-'));
      const attester = new TdxAttester({ tsmPath: tsm, ccelPath: join(tsm, 'no-ccel'), fs: tdxTsmSimulator(root, { launch: l }) });
      return new KbsClient(url, attester, { initData, extraParams: { workload_id: id }, maxAttempts: 1 });
    };
    assert.equal(utf8.decode(await td(launch).getWorkloadResource('passphrase')), 'td-from-artifacts');
    // Launched with another command line: RTMR2 differs, the registration refuses it.
    const other = await referenceValuesFromArtifacts({ tdx: { firmware, kernel: new Uint8Array(readVector('uki', 'pe', 'pe-s01.efi')), initrd: new Uint8Array(4096).fill(7), append: 'console=hvc0 root=/dev/vda2' } });
    await assert.rejects(td({ ...launch, rtmr2: fromHex(other.values.rtmr_2) }).getWorkloadResource('passphrase'), /policy denied: .*rtmr_2/);

    // The same TD with its CCEL: the denial, and its decision record, name the RTMR2 event that differs from
    // what the registered command line predicts — the sentence an RVPS value's decision record gives.
    const ccel = encodeCryptoAgileLog({ algorithms: [{ alg: 0x000c, size: 48 }] }, [
      ...computed.provenance.rtmr_1.events!.events.map((e) => ({ index: 2, type: EV_IPL, digests: [{ alg: 0x000c, digest: fromHex(e.digest) }], data: new Uint8Array(0) })),
      ...other.provenance.rtmr_2.events!.events.map((e) => ({ index: 3, type: EV_IPL, digests: [{ alg: 0x000c, digest: fromHex(e.digest) }], data: new Uint8Array(0) })),
    ]);
    writeFileSync(join(dir, 'ccel.bin'), ccel);
    const sentence = `RTMR2 event 1 (load options (kernel command line)) differs: expected sha384 ${computed.provenance.rtmr_2.events!.events[0].digest}, measured ${other.provenance.rtmr_2.events!.events[0].digest}`;
    const withLog = () => {
      const tsm = mkdtempSync(join(dir, 'tsm-'));
      const attester = new TdxAttester({ tsmPath: tsm, ccelPath: join(dir, 'ccel.bin'), fs: tdxTsmSimulator(root, { launch: { ...launch, rtmr2: fromHex(other.values.rtmr_2) } }) });
      return new KbsClient(url, attester, { initData, extraParams: { workload_id: id }, maxAttempts: 1 });
    };
    await assert.rejects(withLog().getWorkloadResource('passphrase'), (e: unknown) => {
      const m = String((e as Error).message);
      assert.ok(m.includes(`; rtmr_2: ${sentence}`), m);
      assert.ok(!m.includes('rtmr_1:'), m);
      return true;
    });
    const token = await signAdminToken(adminKeyPem);
    const [release] = JSON.parse((await kbs.app.inject({ method: 'GET', url: '/kbs/v0/decisions?type=release&limit=1', headers: { authorization: `Bearer ${token}` } })).body);
    assert.equal(release.workload, id);
    assert.equal(release.verdict, 'deny');
    assert.deepEqual(release.explanations, { rtmr_2: sentence });
  } finally {
    await kbs.close();
  }
});
