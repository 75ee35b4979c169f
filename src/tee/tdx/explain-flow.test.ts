/**
 * A TD whose RTMR1 is not the one registered from artifacts: the guest (configfs-tsm simulated under a test
 * root, Trustee's OVMF direct-boot CCEL as its event log) attests, the affirming resource policy refuses the
 * secret, and the attestation's decision record names the first RTMR1 event that differs from what the
 * registered kernel predicts. With the registration made from the log's own events, the secret is released.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KbsAdminClient, signAdminToken } from '../../client/admin-client.js';
import { KbsClient } from '../../client/kbs-client.js';
import { fromHex, toHex, utf8 } from '../../formats/bytes.js';
import { authenticodeDigest } from '../../formats/authenticode.js';
import { parseEventLog } from '../../eventlog/index.js';
import { builtinResourcePolicy } from '../../policy/builtin.js';
import { policyEvaluators } from '../../policy/index.js';
import { openKbs } from '../../server/kbs.js';
import { referenceValuesFromArtifacts } from '../../measure/from-artifacts.js';
import { directBootRtmr1Events, loggedEvents } from '../../measure/explain-events.js';
import { tinyFirmware } from '../../measure/test-support/tdvf.js';
import { writeTdxTestKbsConfig } from '../../test-support/tdx-test-kbs.js';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { TdxAttester } from './attester.js';
import { tdxTsmSimulator } from './tsm-sim.js';

const dir = mkdtempSync(join(tmpdir(), 'tdx-explain-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'tdx-explained';
const ccel = new Uint8Array(readVector('tdx', 'trustee-ovmf-directboot.ccel-data.bin'));
const x = readVectorJson<{ upstream_expected: Record<string, string> }>('tdx', 'trustee-ovmf-directboot.expected.json').upstream_expected;
const ccelPath = join(dir, 'ccel.bin');
writeFileSync(ccelPath, ccel);
// The quote's RTMRs are the ones the CCEL replays to, so the verifier's replay check passes.
const LAUNCH = { mrTd: new Uint8Array(48).fill(0x11), rtmr0: fromHex(x.rtmr0), rtmr1: fromHex(x.rtmr1), rtmr2: fromHex(x.rtmr2), rtmr3: fromHex(x.rtmr3) };

test('a TD booted with another kernel than the registered one: denied, and the decision record names the RTMR1 kernel event', async () => {
  const { root, config, adminKeyPem } = writeTdxTestKbsConfig(dir, { allowedEndpoints: '^/kbs/v0/.*$' });
  const kbs = await openKbs({ config, ...policyEvaluators() });
  try {
    const url = await kbs.listen(0, '127.0.0.1');
    const admin = new KbsAdminClient(url, { privateKeyPem: adminKeyPem });
    await admin.setResource('default/key/disk', utf8.encode(SECRET));
    await admin.setResourcePolicy(builtinResourcePolicy('affirming'));
    // RTMR1/RTMR2 computed from artifacts: a kernel that is not the one this TD booted.
    const kernel = new Uint8Array(readVector('uki', 'pe', 'pe-s01.efi'));
    const computed = await referenceValuesFromArtifacts({ tdx: { firmware: tinyFirmware(), kernel, initrd: new Uint8Array(16), append: 'console=hvc0' } });
    const base = { mr_td: [toHex(LAUNCH.mrTd)], rtmr_2: [x.rtmr2], xfam: ['e702060000000000'] };
    await admin.setReferenceValues({ ...base, rtmr_1: [computed.values.rtmr_1] }, { rtmr_1: computed.provenance.rtmr_1 as unknown as Record<string, unknown> });

    const guest = () => {
      const tsm = mkdtempSync(join(dir, 'tsm-'));
      return new KbsClient(url, new TdxAttester({ tsmPath: tsm, ccelPath, fs: tdxTsmSimulator(root, { launch: LAUNCH }) }), { maxAttempts: 1 });
    };
    await assert.rejects(guest().getResource('default/key/disk'), /PolicyDeny/);
    const token = await signAdminToken(adminKeyPem);
    const records = async () => JSON.parse((await kbs.app.inject({ method: 'GET', url: '/kbs/v0/decisions?type=attestation&limit=1', headers: { authorization: `Bearer ${token}` } })).body);
    const [attested] = await records();
    const logged = loggedEvents(parseEventLog(ccel, { trailing: 'padding' }), 2, 'sha384');
    assert.deepEqual(attested.explanations, {
      rtmr_1: `RTMR1 event 1 (kernel (Authenticode)) differs: expected sha384 ${toHex(authenticodeDigest(kernel, 'sha384'))}, measured ${logged[0].digest}`,
    });
    assert.match(attested.reference_values.rtmr_1, /version 1, tdx-direct-boot-rtmr$/);

    // Registered from the events this OVMF build logs (its kernel, the separator in RTMR0): released, nothing to explain.
    const own = directBootRtmr1Events(Buffer.from(logged[0].digest, 'hex'), false);
    await admin.setReferenceValues({ ...base, rtmr_1: [x.rtmr1] }, { rtmr_1: { algorithm: 'tdx-direct-boot-rtmr', parameters: { separatorInRtmr1: false }, events: own } });
    assert.equal(utf8.decode(await guest().getResource('default/key/disk')), SECRET);
    const [again] = await records();
    assert.equal(again.explanations, undefined);
  } finally {
    await kbs.close();
  }
});
