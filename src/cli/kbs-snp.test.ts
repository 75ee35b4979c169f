/**
 * The guest CLI with SEV-SNP end to end: `cocokit kbs get-resource --tee snp|auto` attests through a
 * configfs-tsm directory (tsm-sim, backed by a chip of a root made with `cocokit snp test-root`) to a loopback
 * KBS whose config trusts that root. HOST_DATA is what the host sets at launch: `cocokit initdata bind`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { fromHex, toHex, utf8 } from '../formats/bytes.js';
import { hostDataForUuid } from '../attestation/workload.js';
import { startKbs } from '../server/test-harness.js';
import { loadTestChip, signTestReport } from '../tee/snp/test-root.js';
import { tsmSimulator } from '../tee/snp/tsm-sim.js';
import { bufferIO } from './io.js';
import { register } from './kbs.js';
import { startServe } from './kbs-serve.js';
import { run } from './program.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';

const dir = mkdtempSync(join(tmpdir(), 'kbs-snp-cli-'));
const SECRET = 'disk key for the SNP guest';
const INIT_DATA = 'version = "0.1.0"\nalgorithm = "sha384"\n\n[data]\n"aa.toml" = \'\'\'\n[token_configs]\n[token_configs.kbs]\nurl = "http://127.0.0.1"\n\'\'\'\n';

function cli(argv: string[]): Promise<CliRun> {
  return runCli(argv, { cwd: dir });
}

assert.equal((await cli(['snp', 'test-root', '--out', 'root', '--product', 'genoa'])).code, 0);
writeFileSync(join(dir, 'init-data.toml'), INIT_DATA);
const bound = await cli(['initdata', 'bind', '--tee', 'snp', 'init-data.toml']);
assert.equal(bound.code, 0, bound.err);
const HOST_DATA = fromHex(bound.out.trim(), 'HOST_DATA');

writeFileSync(
  join(dir, 'kbs.toml'),
  `[http_server]
insecure_http = true
sockets = ["127.0.0.1:0"]
[admin]
authorization_mode = "DenyAll"
[storage_backend]
data_dir = ${JSON.stringify(join(dir, 'kbs-data'))}
[attestation_service.verifier_config.snp_verifier]
trusted_roots = [{ product = "genoa", pem = ${JSON.stringify(join(dir, 'root', 'roots.pem'))} }]
`,
);
const { kbs, url } = await startServe({ config: 'kbs.toml' }, bufferIO({ COCOKIT_LOG_LEVEL: 'silent' }, dir));
await kbs.store.resources.put({ repository: 'default', type: 'key', tag: 'snp' }, utf8.encode(SECRET));
after(async () => {
  await kbs.close();
  rmSync(dir, { recursive: true, force: true });
});

const chip = loadTestChip(join(dir, 'root'));
// The guest's launch measurement (the simulator launches with an all-zero one) and the chip's TCB as reference
// values: unrecognised, the guest would be appraised contraindicated and refused by the default resource policy.
for (const [name, value] of Object.entries({
  snp_launch_measurement: ['00'.repeat(48)],
  snp_bootloader: [chip.tcb.bootloader],
  snp_microcode: [chip.tcb.microcode],
  snp_snp_svn: [chip.tcb.snp],
  snp_tee_svn: [chip.tcb.tee],
})) {
  await kbs.store.referenceValues.set(name, value);
}

/** Runs `cocokit kbs …` with configfs-tsm reached through the simulator (a guest launched with `hostData`). */
async function guestCli(argv: string[], hostData: Uint8Array, env: NodeJS.ProcessEnv = {}): Promise<{ secret: string; err: string }> {
  const io = bufferIO(env, dir);
  const program = new Command('cocokit').exitOverride();
  register(program, io, { tsmFs: tsmSimulator({ signReport: signTestReport }, chip, { launch: { hostData } }) });
  await program.parseAsync(argv, { from: 'user' });
  return { secret: utf8.decode(io.bytes()), err: io.err() };
}

const tsmDir = (): string => mkdtempSync(join(dir, 'tsm-'));

test('kbs get-resource --tee snp --tsm-path attests with SNP evidence and returns the secret', async () => {
  const tsm = tsmDir();
  const r = await guestCli(['kbs', 'get-resource', '--url', url, '--path', 'default/key/snp', '--tee', 'snp', '--tsm-path', tsm, '--init-data', 'init-data.toml'], HOST_DATA);
  assert.equal(r.secret, SECRET);
  assert.deepEqual(readdirSync(tsm), [], 'the configfs report entry is removed');
});

test('kbs get-resource --tee auto picks SNP from the configfs-tsm provider named by COCOKIT_TSM_PATH', async () => {
  const r = await guestCli(['kbs', 'get-resource', '--url', url, '--path', 'default/key/snp', '--tee', 'auto', '--init-data', 'init-data.toml'], HOST_DATA, { COCOKIT_TSM_PATH: tsmDir() });
  assert.equal(r.secret, SECRET);
  assert.match(r.err, /attester: snp/);
});

test('a guest whose HOST_DATA is not the init-data digest is refused with the host-data check', async () => {
  const other = new Uint8Array(HOST_DATA);
  other[0] ^= 1;
  await assert.rejects(
    guestCli(['kbs', 'get-resource', '--url', url, '--path', 'default/key/snp', '--tee', 'snp', '--tsm-path', tsmDir(), '--init-data', 'init-data.toml'], other),
    /failed check "host-data"/,
  );
});

test('the sample TEE is refused by this KBS, and --tee snp without configfs-tsm is unavailable', async () => {
  await assert.rejects(guestCli(['kbs', 'get-resource', '--url', url, '--path', 'default/key/snp', '--tee', 'sample'], HOST_DATA), /tee "sample" is not enabled/);
  // /dev/sev-guest would still make this an SNP guest (the fallback); elsewhere there is no SNP interface.
  if (!existsSync('/dev/sev-guest')) {
    const r = await cli(['kbs', 'get-resource', '--url', url, '--path', 'default/key/snp', '--tee', 'snp', '--tsm-path', join(dir, 'no-such-tsm')]);
    assert.equal(r.code, 3);
    assert.match(r.err, /KBS_CLIENT_NO_TEE.*no-such-tsm/);
  }
});

test('kbs get-resource --tee snp --test-root runs the SNP flow from the plain CLI, HOST_DATA bound to --init-data', async () => {
  const io = bufferIO({}, dir);
  const code = await run(['kbs', 'get-resource', '--url', url, '--path', 'default/key/snp', '--tee', 'snp', '--test-root', 'root', '--init-data', 'init-data.toml'], io);
  assert.equal(code, 0, io.err());
  assert.equal(utf8.decode(io.bytes()), SECRET);
  assert.match(io.err(), /simulated SEV-SNP.*NOT AMD/);
  // The same through kbs-client's order and an explicit --host-data.
  const r2 = await cli(['kbs', '--url', url, 'get-resource', '--path', 'default/key/snp', '--tee', 'snp', '--test-root', 'root', '--host-data', bound.out.trim(), '--init-data', 'init-data.toml']);
  assert.equal(r2.code, 0, r2.err);
  // A report whose HOST_DATA does not carry the init-data is refused by the KBS.
  const wrong = await cli(['kbs', 'get-resource', '--url', url, '--path', 'default/key/snp', '--tee', 'snp', '--test-root', 'root', '--host-data', '00'.repeat(32), '--init-data', 'init-data.toml']);
  assert.equal(wrong.code, 7, wrong.err);
  assert.equal((await cli(['kbs', 'get-resource', '--url', url, '--path', 'default/key/snp', '--test-root', 'root'])).code, 1);
  assert.equal((await cli(['kbs', 'get-resource', '--url', url, '--path', 'default/key/snp', '--tee', 'snp', '--test-root', 'no-such-root'])).code, 11);
});

test('a guest fetches its workload secret: workload register, then kbs get-workload-resource --test-root', async () => {
  const h = await startKbs((c) => {
    c.attestation_service.allow_sample_tee = false;
    c.attestation_service.snp_trusted_roots = [{ product: 'genoa', pem: join(dir, 'root', 'roots.pem') }];
  });
  try {
    writeFileSync(join(dir, 'wl-admin.pem'), h.adminKeyPem);
    const id = randomUUID();
    const hostData = toHex(hostDataForUuid(id));
    const reg = await cli(['kbs', 'workload', '--url', h.url, '--auth-private-key', 'wl-admin.pem', 'register', '--tee', 'snp', '--workload-id', id, '--reference-value', `measurement=${'00'.repeat(48)}`, '--resource', 'disk=workload secret']);
    assert.equal(reg.code, 0, reg.err);
    const io = bufferIO({}, dir);
    const code = await run(['kbs', 'get-workload-resource', '--url', h.url, '--name', 'disk', '--tee', 'snp', '--test-root', 'root', '--host-data', hostData], io);
    assert.equal(code, 0, io.err());
    assert.equal(utf8.decode(io.bytes()), 'workload secret');
    // Another workload's guest (other HOST_DATA) is not identified as this one.
    const other = await cli(['kbs', 'get-workload-resource', '--url', h.url, '--name', 'disk', '--tee', 'snp', '--test-root', 'root', '--host-data', toHex(hostDataForUuid(randomUUID()))]);
    assert.notEqual(other.code, 0);
    assert.equal((await cli(['kbs', 'get-workload-resource', '--url', h.url, '--name', 'nope', '--tee', 'snp', '--test-root', 'root', '--host-data', hostData])).code, 8);
  } finally {
    await h.stop();
  }
});
