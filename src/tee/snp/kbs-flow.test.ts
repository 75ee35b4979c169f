/**
 * The whole RCAR flow with SNP evidence: a guest attesting through (simulated) configfs-tsm, a KBS whose SNP
 * verifier trusts the generated test root because it was configured to, the default CPU policy with
 * reference values, and an "affirming" resource policy. Only evidence from the trusted root, with the
 * expected measurement and init-data, gets the secret.
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
import { toHex, utf8 } from '../../formats/bytes.js';
import { builtinResourcePolicy } from '../../policy/builtin.js';
import { policyEvaluators } from '../../policy/index.js';
import { defaultConfig } from '../../server/config.js';
import { openKbs, type Kbs } from '../../server/kbs.js';
import { SnpAttester } from './attester.js';
import { createTestRoot, type TestChip, type TestRoot } from './test-root.js';
import { tsmSimulator } from './tsm-sim.js';
import { safeKeyPair } from '../../formats/keygen.js';

const dir = mkdtempSync(join(tmpdir(), 'snp-kbs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const INIT_DATA = 'version = "0.1.0"\nalgorithm = "sha384"\n\n[data]\n"aa.toml" = \'\'\'\n[token_configs]\n\'\'\'\n';
// HOST_DATA carries the init-data digest truncated to 32 bytes (kbs-protocol.md §1.6).
const HOST_DATA = new Uint8Array(createHash('sha384').update(INIT_DATA).digest().subarray(0, 32));
const MEASUREMENT = new Uint8Array(48).fill(0x42);
const SECRET = 'luks-passphrase-for-snp';

const root = createTestRoot({ product: 'milan' });
const recently = new Date(Date.now() - 86_400_000);
const chip = root.createChip({ notBefore: recently });

async function startKbs(opts: { trustTestRoot: boolean }): Promise<{ kbs: Kbs; url: string; admin: KbsAdminClient }> {
  const data = mkdtempSync(join(dir, 'kbs-'));
  const { privateKey, publicKey } = safeKeyPair('ed25519');
  writeFileSync(join(data, 'admin.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
  const config = defaultConfig();
  config.storage_backend.data_dir = data;
  config.admin.identity_providers = [{ public_key_uri: join(data, 'admin.pub.pem') }];
  config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' }];
  // The test root is trusted only because this KBS is given it; the default registry knows AMD's roots only.
  const verifiers = opts.trustTestRoot ? defaultVerifiers({ snp: { roots: root.roots } }) : defaultVerifiers();
  const kbs = await openKbs({ config, ...policyEvaluators(), verifiers });
  const url = await kbs.listen(0, '127.0.0.1');
  const admin = new KbsAdminClient(url, { privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() });
  await admin.setResource('default/key/disk', utf8.encode(SECRET));
  await admin.setResourcePolicy(builtinResourcePolicy('affirming'));
  const t = chip.tcb;
  // Reference values the default_cpu policy reads for SNP (policy/attestation/default_cpu.rego).
  await admin.setReferenceValues({
    snp_launch_measurement: [toHex(MEASUREMENT)],
    snp_bootloader: [t.bootloader],
    snp_tee_svn: [t.tee],
    snp_snp_svn: [t.snp],
    snp_microcode: [t.microcode],
    snp_smt_enabled: true,
    snp_tsme_enabled: false,
    snp_guest_abi_major: 0,
    snp_guest_abi_minor: 0,
    snp_single_socket: false,
    snp_smt_allowed: true,
  });
  return { kbs, url, admin };
}

function guest(url: string, r: TestRoot, c: TestChip, launch: { measurement?: Uint8Array; hostData?: Uint8Array } = {}): KbsClient {
  const tsm = mkdtempSync(join(dir, 'tsm-'));
  const attester = new SnpAttester({ tsmPath: tsm, fs: tsmSimulator(r, c, { launch: { measurement: MEASUREMENT, hostData: HOST_DATA, ...launch } }) });
  return new KbsClient(url, attester, { initData: INIT_DATA, maxAttempts: 1 });
}

const trusted = await startKbs({ trustTestRoot: true });
const amdOnly = await startKbs({ trustTestRoot: false });
after(async () => {
  await trusted.kbs.close();
  await amdOnly.kbs.close();
});

test('a KBS configured with the test root releases the secret to SNP evidence from its chip', async () => {
  const client = guest(trusted.url, root, chip);
  assert.equal(utf8.decode(await client.getResource('default/key/disk')), SECRET);
});

test('the same evidence gets nothing from a KBS that trusts only the AMD roots', async () => {
  await assert.rejects(guest(amdOnly.url, root, chip).getResource('default/key/disk'), /failed check "chain"/);
});

test('evidence from another (untrusted) test root is refused for its chain', async () => {
  const rogue = createTestRoot({ product: 'milan' });
  await assert.rejects(guest(trusted.url, rogue, rogue.createChip({ notBefore: recently })).getResource('default/key/disk'), /failed check "chain"/);
});

test('a guest launched with another measurement is attested but denied by the affirming resource policy', async () => {
  await assert.rejects(guest(trusted.url, root, chip, { measurement: new Uint8Array(48).fill(0x43) }).getResource('default/key/disk'), /PolicyDeny.*not some_appraisal_not_affirming/);
});

test('HOST_DATA that is not the init-data digest is refused with the host-data check', async () => {
  await assert.rejects(guest(trusted.url, root, chip, { hostData: new Uint8Array(32).fill(9) }).getResource('default/key/disk'), /failed check "host-data"/);
});
