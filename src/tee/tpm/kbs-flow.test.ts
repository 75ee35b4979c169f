/**
 * The whole RCAR flow with a real software TPM as the guest's TPM, following seed 004: PCRs read from a
 * reference "boot" and a cloud VM's, the PCRs they agree on taken as reference values (`cocokit pcr common
 * --rvps`), Trustee's default CPU policy and an affirming resource policy. Only a guest with the reference
 * PCR 11, its init-data in PCR 8, a trusted AK and a fresh quote gets the secret.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultVerifiers } from '../../attestation/verifiers.js';
import { KbsAdminClient } from '../../client/admin-client.js';
import { KbsClient } from '../../client/kbs-client.js';
import { toBase64, utf8 } from '../../formats/bytes.js';
import { formatPcrRead } from '../../measure/pcr.js';
import { parseEventLog, encodeCryptoAgileLog } from '../../eventlog/index.js';
import { builtinResourcePolicy } from '../../policy/builtin.js';
import { policyEvaluators } from '../../policy/index.js';
import { openKbs } from '../../server/kbs.js';
import { adminKbsConfig } from '../../test-support/admin-kbs.js';
import { readVector, toolMissing } from '../../test-support/vectors.js';
import { startSwtpm, type Swtpm } from '../../test-support/swtpm.js';
import { TpmClient } from '../../tpm/client.js';
import { openTransport } from '../../tpm/transport.js';
import { parsePcrList } from '../../tpm/pcr-selection.js';
import type { Attester } from '../verifier.js';
import { TpmAttester } from './attester.js';
import { runCli, type CliRun } from '../../test-support/cli-run.js';

const skip = toolMissing('swtpm');
const INIT_DATA = 'version = "0.1.0"\nalgorithm = "sha256"\n\n[data]\n"aa.toml" = \'\'\'\n[token_configs]\n\'\'\'\n';
const INIT_DIGEST = new Uint8Array(createHash('sha256').update(INIT_DATA).digest());
const SECRET = 'luks-passphrase-for-vtpm';
const dir = mkdtempSync(join(tmpdir(), 'tpm-kbs-'));
const tpms: Swtpm[] = [];
after(async () => {
  for (const t of tpms) await t.stop();
  rmSync(dir, { recursive: true, force: true });
});

const bootLog = parseEventLog(new Uint8Array(readVector('tpm', 'eventlog.bin')));

/** A "boot": a fresh swtpm extended with the synthetic log's events, plus extra events (other firmware, another UKI). */
async function boot(extra: { index: number; fill: number }[] = [], initData = true): Promise<{ tpm: Swtpm; attester: TpmAttester; pcrs: string }> {
  const tpm = await startSwtpm();
  tpms.push(tpm);
  // swtpm serves one connection at a time: each step opens and closes its own.
  const withClient = async <T>(f: (c: TpmClient) => Promise<T>): Promise<T> => {
    const c = new TpmClient(await openTransport(tpm.tcti));
    try {
      return await f(c);
    } finally {
      await c.transport.close();
    }
  };
  await withClient(async (c) => {
    for (const e of bootLog.events.slice(1)) {
      if (e.type === 0x3) continue;
      await c.pcrExtend(e.index, e.digests.filter((d) => d.alg === 0x000b || d.alg === 0x0004).map((d) => ({ alg: d.alg, digest: d.digest })));
    }
    for (const x of extra) await c.pcrExtend(x.index, [{ alg: 0x000b, digest: new Uint8Array(32).fill(x.fill) }]);
  });
  const attester = new TpmAttester({ tcti: tpm.tcti });
  if (initData) await attester.bindInitData(INIT_DIGEST);
  return { tpm, attester, pcrs: formatPcrRead(await withClient((c) => c.pcrRead(parsePcrList('sha256:0,1,2,3,4,5,6,7,11,12')))) };
}

function cli(argv: string[]): Promise<CliRun> {
  return runCli(argv);
}

async function akOf(attester: TpmAttester): Promise<string> {
  return ((await attester.getEvidence(new Uint8Array(32))) as { ak_public: string }).ak_public;
}

test('seed 004 with swtpm: reference PCRs from two boots, then the KBS releases only to the guest that matches them', { skip, timeout: 180_000 }, async () => {
  // Reference machine and cloud VM boot the same image; the cloud firmware differs (an extra PCR 0 event).
  const reference = await boot();
  const cloud = await boot([{ index: 0, fill: 0x0c }]);
  writeFileSync(join(dir, 'reference.pcrs'), reference.pcrs);
  writeFileSync(join(dir, 'cloud.pcrs'), cloud.pcrs);
  const common = await cli(['pcr', 'common', join(dir, 'reference.pcrs'), join(dir, 'cloud.pcrs'), '--rvps']);
  assert.equal(common.code, 0, common.err);
  assert.match(common.err, /sha256: 9 of 10 PCRs agree; differ: 0/);
  const rv = JSON.parse(common.out) as Record<string, string[]>;
  assert.equal(rv.tpm_pcr00, undefined);

  const data = mkdtempSync(join(dir, 'kbs-'));
  const { config, adminKeyPem } = adminKbsConfig(data);
  const kbs = await openKbs({ config, ...policyEvaluators(), verifiers: defaultVerifiers() });
  try {
    const url = await kbs.listen(0, '127.0.0.1');
    const admin = new KbsAdminClient(url, { privateKeyPem: adminKeyPem });
    await admin.setResource('default/key/disk', utf8.encode(SECRET));
    await admin.setResourcePolicy(builtinResourcePolicy('affirming'));
    // Reference values Trustee's default policy reads for `tpm`: PCR 11 and the AKs this deployment trusts.
    const trustedAks = [await akOf(cloud.attester)];
    await admin.setReferenceValues({ tpm_pcr11: rv.tpm_pcr11, trusted_aks: trustedAks });
    const guest = (a: Attester, initData = INIT_DATA) => new KbsClient(url, a, { initData, maxAttempts: 1 }).getResource('default/key/disk');

    assert.equal(utf8.decode(await guest(cloud.attester)), SECRET);
    // The same through the CLI on the guest: cocokit kbs get-resource --tee tpm --tcti ….
    writeFileSync(join(dir, 'init-data.toml'), INIT_DATA);
    const got = await cli(['kbs', 'get-resource', '--url', url, '--path', 'default/key/disk', '--tee', 'tpm', '--tcti', cloud.tpm.tcti, '--init-data', join(dir, 'init-data.toml')]);
    assert.equal(got.code, 0, got.err);
    assert.equal(got.out, SECRET);

    // PCR 8 listed as a reference value: the init-data binding SHA-256(zeros ‖ digest) is affirmed, any other refused.
    const pcr8 = createHash('sha256').update(new Uint8Array(32)).update(INIT_DIGEST).digest('hex');
    await admin.setReferenceValues({ tpm_pcr11: rv.tpm_pcr11, trusted_aks: trustedAks, tpm_pcr08: ['00'.repeat(32)] });
    await assert.rejects(guest(cloud.attester), /PolicyDeny/);
    await admin.setReferenceValues({ tpm_pcr11: rv.tpm_pcr11, trusted_aks: trustedAks, tpm_pcr08: [pcr8] });
    assert.equal(utf8.decode(await guest(cloud.attester)), SECRET);
    // With PCR 8 right, a wrong PCR 11 is still refused.
    await admin.setReferenceValues({ tpm_pcr11: ['11'.repeat(32)], trusted_aks: trustedAks, tpm_pcr08: [pcr8] });
    await assert.rejects(guest(cloud.attester), /PolicyDeny/);
    await admin.setReferenceValues({ tpm_pcr11: rv.tpm_pcr11, trusted_aks: trustedAks });

    // A VM booted with another UKI: PCR 11 differs from the reference value.
    const otherUki = await boot([{ index: 11, fill: 0x11 }]);
    await admin.setReferenceValues({ tpm_pcr11: rv.tpm_pcr11, trusted_aks: [...trustedAks, await akOf(otherUki.attester)] });
    await assert.rejects(guest(otherUki.attester), /PolicyDeny/);
    // A guest whose PCR 8 does not hold the init-data it presents.
    const noInit = await boot([], false);
    await assert.rejects(guest(noInit.attester), /failed check "init-data"/);
    // A quote from an AK nobody trusts (another TPM, same PCRs): attested, but not affirmed by policy.
    await assert.rejects(guest(reference.attester), /PolicyDeny/);
    // Evidence recorded for one session and replayed in another: its quote carries the old nonce.
    let recorded: unknown;
    await guest({ tee: 'tpm', getEvidence: async (rd) => (recorded = await cloud.attester.getEvidence(rd)) });
    await assert.rejects(guest({ tee: 'tpm', getEvidence: async () => recorded }), /failed check "nonce"/);
    // The cloud VM's quote presented with the reference TPM's AK: the signature does not verify.
    const refAk = await akOf(reference.attester);
    await assert.rejects(guest({ tee: 'tpm', getEvidence: async (rd) => ({ ...((await cloud.attester.getEvidence(rd)) as object), ak_public: refAk }) }), /failed check "signature"/);
    // An event log sent along must replay to the quoted PCRs; one with a tampered PCR 11 event does not.
    const log = (fill: number) =>
      toBase64(encodeCryptoAgileLog({ algorithms: [{ alg: 0x000b, size: 32 }] }, bootLog.events.slice(1).map((e) => ({ index: e.index, type: e.type, digests: [{ alg: 0x000b, digest: e.index === 11 && e.type !== 0x3 ? new Uint8Array(32).fill(fill) : (e.digests.find((d) => d.alg === 0x000b) as { digest: Uint8Array }).digest }], data: e.data }))));
    const withLog = (event_log: string): Attester => ({ tee: 'tpm', getEvidence: async (rd) => ({ ...((await cloud.attester.getEvidence(rd)) as object), event_log }) });
    await assert.rejects(guest(withLog(log(0x99))), /failed check "eventlog"/);
    // Malformed evidence is a client error (HTTP 4xx), never a server error.
    for (const bad of [{}, { ak_public: 'AAAA', tpm_quote: {} }, { ...((await cloud.attester.getEvidence(new Uint8Array(32))) as object), event_log: 'AAAAAAAA' }]) {
      await assert.rejects(guest({ tee: 'tpm', getEvidence: async () => bad }), (e: Error) => /HTTP 4\d\d/.test(e.message) && !/HTTP 5/.test(e.message));
    }
  } finally {
    await kbs.close();
  }
});
