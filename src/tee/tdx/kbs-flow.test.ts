/**
 * The whole RCAR flow with TDX evidence: a guest attesting through (simulated) configfs-tsm, a KBS whose TDX
 * verifier trusts a generated test root because its config names it (`tdx_verifier.trusted_root`) and reads
 * collateral from an offline cache (`collateral_cache`), the default CPU policy with reference values,
 * and an "affirming" resource policy. Only the TD launched as expected gets the secret.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KbsAdminClient } from '../../client/admin-client.js';
import { KbsClient } from '../../client/kbs-client.js';
import { toHex, utf8 } from '../../formats/bytes.js';
import { builtinResourcePolicy } from '../../policy/builtin.js';
import { policyEvaluators } from '../../policy/index.js';
import { configFromToml } from '../../server/config.js';
import { openKbs, type Kbs } from '../../server/kbs.js';
import { TdxAttester } from './attester.js';
import { collateralCachePath, serializeCollateralBundle } from './collateral.js';
import { createTdxTestRoot, writeTdxTestRoot, type TdxTestRoot, type TestQuoteFields } from './test-root.js';
import { tdxTsmSimulator } from './tsm-sim.js';
import { safeKeyPair } from '../../formats/keygen.js';

const dir = mkdtempSync(join(tmpdir(), 'tdx-kbs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const INIT_DATA = 'version = "0.1.0"\nalgorithm = "sha384"\n\n[data]\n"aa.toml" = \'\'\'\n[token_configs]\n\'\'\'\n';
// MRCONFIGID carries the SHA-384 init-data digest as is (48 bytes, specs/tdx-initdata.md §6.1).
const MRCONFIGID = new Uint8Array(createHash('sha384').update(INIT_DATA).digest());
const LAUNCH: TestQuoteFields = {
  mrTd: new Uint8Array(48).fill(0x11),
  rtmr1: new Uint8Array(48).fill(0x21),
  rtmr2: new Uint8Array(48).fill(0x22),
  mrConfigId: MRCONFIGID,
};
const SECRET = 'luks-passphrase-for-tdx';

const root = createTdxTestRoot();
const rootDir = join(dir, 'root');
writeTdxTestRoot(rootDir, root);

async function startKbs(opts: { trustTestRoot: boolean; t: TdxTestRoot }): Promise<{ kbs: Kbs; url: string }> {
  const data = mkdtempSync(join(dir, 'kbs-'));
  const cache = join(data, 'collateral');
  const col = opts.t.collateral({ issued: new Date(Date.now() - 86_400_000) });
  const path = collateralCachePath(cache, opts.t.platform.fmspc, 'platform');
  mkdirSync(join(cache, 'tdx'), { recursive: true });
  writeFileSync(path, serializeCollateralBundle(col));
  const { privateKey, publicKey } = safeKeyPair('ed25519');
  writeFileSync(join(data, 'admin.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
  const config = configFromToml(`
[http_server]
insecure_http = true
[attestation_service.verifier_config.tdx_verifier]
collateral_cache = ${JSON.stringify(cache)}
${opts.trustTestRoot ? `trusted_root = ${JSON.stringify(join(rootDir, 'root.pem'))}` : ''}
[storage_backend]
data_dir = ${JSON.stringify(data)}
`);
  config.admin.identity_providers = [{ public_key_uri: join(data, 'admin.pub.pem') }];
  config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' }];
  const kbs = await openKbs({ config, ...policyEvaluators() });
  const url = await kbs.listen(0, '127.0.0.1');
  const admin = new KbsAdminClient(url, { privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() });
  await admin.setResource('default/key/disk', utf8.encode(SECRET));
  await admin.setResourcePolicy(builtinResourcePolicy('affirming'));
  // Reference values the default_cpu policy reads for TDX (policy/attestation/default_cpu.rego).
  await admin.setReferenceValues({
    mr_td: [toHex(LAUNCH.mrTd!)],
    rtmr_1: [toHex(LAUNCH.rtmr1!)],
    rtmr_2: [toHex(LAUNCH.rtmr2!)],
    xfam: ['e702060000000000'],
  });
  return { kbs, url };
}

function guest(url: string, t: TdxTestRoot, launch: TestQuoteFields = {}): KbsClient {
  const tsm = mkdtempSync(join(dir, 'tsm-'));
  const attester = new TdxAttester({ tsmPath: tsm, ccelPath: join(tsm, 'no-ccel'), fs: tdxTsmSimulator(t, { launch: { ...LAUNCH, ...launch } }) });
  return new KbsClient(url, attester, { initData: INIT_DATA, maxAttempts: 1 });
}

const trusted = await startKbs({ trustTestRoot: true, t: root });
const intelOnly = await startKbs({ trustTestRoot: false, t: root });
after(async () => {
  await trusted.kbs.close();
  await intelOnly.kbs.close();
});

test('a KBS configured with the TDX test root releases the secret to a TD with the right MRTD, RTMRs and MRCONFIGID', async () => {
  assert.equal(trusted.kbs.nonIntelTdxRoot, join(rootDir, 'root.pem'));
  assert.equal(utf8.decode(await guest(trusted.url, root).getResource('default/key/disk')), SECRET);
  assert.equal(utf8.decode(await guest(trusted.url, root, { version: 5 }).getResource('default/key/disk')), SECRET);
});

test('the same quote gets nothing from a KBS that trusts only the Intel root', async () => {
  assert.equal(intelOnly.kbs.nonIntelTdxRoot, null);
  await assert.rejects(guest(intelOnly.url, root).getResource('default/key/disk'), /failed check "pck-chain"/);
});

test('MRCONFIGID that is not the init-data digest is refused with the init-data check', async () => {
  await assert.rejects(guest(trusted.url, root, { mrConfigId: new Uint8Array(48).fill(9) }).getResource('default/key/disk'), /failed check "init-data"/);
});

test('a wrong MRTD, a wrong RTMR or the DEBUG attribute is attested but denied by the affirming resource policy', async () => {
  for (const launch of [
    { mrTd: new Uint8Array(48).fill(0x12) },
    { rtmr1: new Uint8Array(48).fill(0x31) },
    { rtmr2: new Uint8Array(48) },
    { tdAttributes: new Uint8Array([1, 0, 0, 0x10, 0, 0, 0, 0]) },
  ]) {
    await assert.rejects(guest(trusted.url, root, launch).getResource('default/key/disk'), /PolicyDeny.*not some_appraisal_not_affirming/, JSON.stringify(Object.keys(launch)));
  }
});

test('a quote from another (untrusted) test root is refused for its PCK chain', async () => {
  const rogue = createTdxTestRoot();
  await assert.rejects(guest(trusted.url, rogue).getResource('default/key/disk'), /failed check "pck-chain"/);
});

test('tdx_verifier config: keys are validated, and an unusable trusted_root stops the KBS at start', async () => {
  const c = configFromToml('[attestation_service.verifier_config.tdx_verifier]\ncollateral_cache = "/c"\nallow_expired_collateral = true\n');
  assert.deepEqual([c.attestation_service.tdx_collateral_cache, c.attestation_service.tdx_allow_expired_collateral, c.attestation_service.tdx_trusted_root], ['/c', true, undefined]);
  assert.throws(() => configFromToml('[attestation_service.verifier_config.tdx_verifier]\npccs = "x"\n'), /unknown key "pccs"/);
  assert.throws(() => configFromToml('[attestation_service.verifier_config.tdx_verifier]\ncollateral_cache = 5\n'), /must be a string/);
  assert.throws(() => configFromToml('[attestation_service.verifier_config.tdx_verifier]\ntrusted_root = ""\n'), /must name a PEM file/);
  const bogus = join(dir, 'bogus.pem');
  writeFileSync(bogus, readFileSync(join(rootDir, 'certs.pem'))); // three certificates, none of them a root
  const cfg = configFromToml(`[http_server]\ninsecure_http = true\n[attestation_service.verifier_config.tdx_verifier]\ntrusted_root = ${JSON.stringify(bogus)}\n[storage_backend]\ndata_dir = ${JSON.stringify(mkdtempSync(join(dir, 'kbs-')))}\n`);
  await assert.rejects(openKbs({ config: cfg, ...policyEvaluators() }), /KBS_CONFIG|tdx_verifier.trusted_root/);
});
