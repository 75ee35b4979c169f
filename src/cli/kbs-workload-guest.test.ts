/**
 * `cocokit kbs get-workload-resource` end to end in all three dialects: a loopback KBS trusting a root made
 * by `cocokit snp test-root`, a workload registered with cocokit, and a guest whose configfs-tsm is the
 * simulator of a chip under that root, launched with the HOST_DATA and measurement the host chose.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { fromBase64, fromHex, toHex, utf8 } from '../formats/bytes.js';
import { hostDataForUuid } from '../attestation/workload.js';
import { rsaPkcs1v15Decrypt } from '../client/workload-guest.js';
import { vcekCachePaths } from '../tee/snp/certs.js';
import { loadTestChip, signTestReport } from '../tee/snp/test-root.js';
import { tsmSimulator } from '../tee/snp/tsm-sim.js';
import { writeTestRootKbsConfig } from '../test-support/test-root-kbs.js';
import { bufferIO } from './io.js';
import { register } from './kbs.js';
import { startServe } from './kbs-serve.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';
import { safeKeyPair } from '../formats/keygen.js';

const dir = mkdtempSync(join(tmpdir(), 'kbs-wl-guest-'));
const M = 'cd'.repeat(48);
const OTHER_M = 'ef'.repeat(48);

function cli(argv: string[]): Promise<CliRun> {
  return runCli(argv, { cwd: dir });
}

assert.equal((await cli(['snp', 'test-root', '--out', 'root', '--product', 'milan'])).code, 0);
const chip = loadTestChip(join(dir, 'root'));
// The compat dialects' evidence carries no VCEK: the KBS reads it from its offline cache.
const vcekPath = vcekCachePaths(join(dir, 'vcek-cache'), 'milan', chip.chipId, { ...chip.tcb, raw: 0n })[0];
mkdirSync(dirname(vcekPath), { recursive: true });
writeFileSync(vcekPath, chip.vcek.raw);
writeTestRootKbsConfig(
  dir,
  `[workloads]
vcek_cache_dir = ${JSON.stringify(join(dir, 'vcek-cache'))}
[workloads.keybroker]
enabled = true
unauthenticated_registration = true
registration_cidrs = ["127.0.0.0/8"]
[workloads.reference_kbs]
enabled = true
unauthenticated_registration = true
registration_cidrs = ["127.0.0.0/8"]
`,
);
const { kbs, url } = await startServe({ config: 'kbs.toml' }, bufferIO({ COCOKIT_LOG_LEVEL: 'silent' }, dir));
after(async () => {
  await kbs.close();
  rmSync(dir, { recursive: true, force: true });
});

let tsmN = 0;
/** `cocokit kbs get-workload-resource …` in a guest launched with `launch` (configfs-tsm simulated). */
async function guest(argv: string[], launch: { hostData?: Uint8Array; measurement?: Uint8Array }): Promise<string> {
  const io = bufferIO({}, dir);
  const program = new Command('cocokit').exitOverride();
  register(program, io, { tsmFs: tsmSimulator({ signReport: signTestReport }, chip, { launch: { measurement: fromHex(M), ...launch } }) });
  const tsm = join(dir, `tsm-${tsmN++}`);
  mkdirSync(tsm);
  await program.parseAsync(['kbs', 'get-workload-resource', '--url', url, '--tsm-path', tsm, ...argv], { from: 'user' });
  return utf8.decode(io.bytes());
}

const adminCli = ['kbs', 'workload', '--url', url, '--auth-private-key', 'admin.pem', '--namespace', 'tenant-x'];

test('native: a workload registered with cocokit is fetched by its guest, identified by HOST_DATA or by the id it names', async () => {
  const reg = await cli([...adminCli, 'register', '--tee', 'snp', '--reference-value', `measurement=${M}`, '--resource', 'passphrase=native-secret']);
  assert.equal(reg.code, 0, reg.err);
  const id = reg.out.trim();
  // The CLI says which HOST_DATA names the workload; `host-data` prints it again.
  const hostData = toHex(hostDataForUuid(id));
  assert.match(reg.err, new RegExp(`launch the guest with HOST_DATA ${hostData}`));
  assert.equal((await cli([...adminCli, 'host-data', id])).out.trim(), hostData);
  assert.equal(await guest([], { hostData: hostDataForUuid(id) }), 'native-secret');
  // A host_data reference value under host_data identification needs the id chosen first.
  const early = await cli([...adminCli, 'register', '--tee', 'snp', '--reference-value', `measurement=${M}`, '--reference-value', `host_data=${hostData}`]);
  assert.equal(early.code, 1);
  assert.match(early.err, /needs --workload-id chosen first/);
  // Another image under the same HOST_DATA is refused, with the reason.
  await assert.rejects(guest([], { hostData: hostDataForUuid(id), measurement: fromHex(OTHER_M) }), /policy denied: .*measurement: claim/);
  // A registration that opts in to extra_params identification: the guest names its workload.
  const named = await cli([...adminCli, 'register', '--tee', 'snp', '--workload-id', 'named-wl', '--identify', 'extra_params', '--reference-value', `measurement=${M}`, '--resource', 'token=by-name']);
  assert.equal(named.code, 0, named.err);
  assert.equal(await guest(['--name', 'token', '--workload-id', 'named-wl'], {}), 'by-name');
  // Naming a workload that does not opt in identifies nothing.
  await assert.rejects(guest(['--workload-id', id], {}), /does not allow identification by extra_params/);
});

test('keybroker: /rvp/register, then the guest launched with the returned HOST_DATA gets the resource', async () => {
  const res = await fetch(`${url}/keybroker/rvp/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: ['data.measurement == input.measurement'], reference_values: { measurement: M }, resources: { passphrase: 'kb-secret' } }),
  });
  assert.equal(res.status, 200);
  const hostData = fromBase64(await res.text());
  assert.equal(await guest(['--dialect', 'keybroker', '--url', `${url}/keybroker`], { hostData }), 'kb-secret');
  await assert.rejects(guest(['--dialect', 'keybroker', '--url', `${url}/keybroker`], { hostData, measurement: fromHex(OTHER_M) }), /query .* is false/);
});

test('krun: a reference-kbs registration, then the krun guest flow returns the passphrase', async () => {
  const res = await fetch(`${url}/reference-kbs/kbs/v0/register_workload`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workload_id: 'krun-wl', launch_measurement: M, passphrase: 'krun-pass', tee_config: '{"flags":{"bits":15}}' }),
  });
  assert.equal(res.status, 200);
  assert.equal(await guest(['--dialect', 'krun', '--url', `${url}/reference-kbs`, '--workload-id', 'krun-wl'], {}), 'krun-pass');
  await assert.rejects(guest(['--dialect', 'krun', '--url', `${url}/reference-kbs`, '--workload-id', 'krun-wl'], { measurement: fromHex(OTHER_M) }), /WORKLOAD_POLICY_DENY/);
  const noId = await cli(['kbs', 'get-workload-resource', '--url', url, '--dialect', 'krun']);
  assert.notEqual(noId.code, 0);
  assert.match(noId.err, /needs --workload-id/);
  const badDialect = await cli(['kbs', 'get-workload-resource', '--url', url, '--dialect', 'rvp']);
  assert.match(badDialect.err, /--dialect must be one of native, keybroker, krun/);
});

test('a ciphertext that is not PKCS#1 v1.5 for the guest key is a crypto CocoError, never a crash', async () => {
  const { privateKey, publicKey } = safeKeyPair('rsa', { modulusLength: 2048 });
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
      try {
        rsaPkcs1v15Decrypt(privateKey, bytes);
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind === 'crypto', String(e));
      }
    }),
    { numRuns: 50 },
  );
  // A correct encryption round-trips (the KBS side encrypts with node:crypto's PKCS#1 v1.5).
  const { publicEncrypt, constants } = await import('node:crypto');
  const ct = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('round trip'));
  assert.equal(utf8.decode(rsaPkcs1v15Decrypt(privateKey, ct)), 'round trip');
});

test('a KBS answering garbage to the guest client in any dialect gives a CocoError, never a crash', async () => {
  const { createServer } = await import('node:http');
  let answer: { status: number; body: Uint8Array } = { status: 200, body: new Uint8Array() };
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(answer.status, { 'set-cookie': ['kbs-session-id=abc', 'session_id=abc'], 'content-type': 'application/json' });
    res.end(answer.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hostile = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const { getKeybrokerResource, getKrunPassphrase, getNativeWorkloadResource } = await import('../client/workload-guest.js');
  const { SnpAttester } = await import('../tee/snp/attester.js');
  const tsm = join(dir, 'tsm-hostile');
  mkdirSync(tsm);
  const snp = new SnpAttester({ tsmPath: tsm, fs: tsmSimulator({ signReport: signTestReport }, chip, {}) });
  const bodies = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.jsonValue().map((v) => new TextEncoder().encode(JSON.stringify(v))),
    fc.record({ nonce: fc.oneof(fc.string(), fc.jsonValue()), ciphertext: fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('hex')), fc.jsonValue()) }).map((v) => new TextEncoder().encode(JSON.stringify(v))),
  );
  try {
    await fc.assert(
      fc.asyncProperty(bodies, fc.constantFrom(200, 400, 401, 404, 500), fc.constantFrom('native', 'keybroker', 'krun'), async (body, status, dialect) => {
        answer = { status, body };
        try {
          if (dialect === 'native') await getNativeWorkloadResource(hostile, snp, 'passphrase');
          else if (dialect === 'keybroker') await getKeybrokerResource(hostile, snp, 'passphrase');
          else await getKrunPassphrase(hostile, snp, { workloadId: 'w' });
          assert.fail('a garbage answer was accepted');
        } catch (e) {
          assert.ok(e instanceof CocoError, String(e));
          assert.notEqual(e.kind, 'internal', e.message);
        }
      }),
      { numRuns: 40 },
    );
  } finally {
    server.close();
  }
});
