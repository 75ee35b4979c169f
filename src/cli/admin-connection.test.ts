/** The admin connection flags: one definition in `kbs config`, `kbs workload` and `rv import`, one parser. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Command, Option } from 'commander';
import { COCOKIT_PREDICATE, INTOTO_PAYLOAD_TYPE, dssePae } from '../attestation/signed-statement.js';
import { exitCodeOf } from '../errors.js';
import { runCli } from '../test-support/cli-run.js';
import { vectorPath } from '../test-support/vectors.js';
import { ADMIN_CONNECTION_OPTIONS, MAX_TIMEOUT_SECONDS, NAMESPACE_OPTIONS, timeoutMs } from './admin-connection.js';
import { bufferIO } from './io.js';
import { buildProgram } from './program.js';

const dir = mkdtempSync(join(tmpdir(), 'cocokit-admin-conn-'));
// A KBS that accepts connections and never answers: a request ends only by the client's timeout.
const sockets = new Set<import('node:net').Socket>();
const silent: Server = createServer(() => {});
silent.on('connection', (s) => void sockets.add(s));
await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const admin = await promisify(generateKeyPair)('ed25519');
writeFileSync(join(dir, 'admin.pem'), admin.privateKey.export({ type: 'pkcs8', format: 'pem' }));
const signer = await promisify(generateKeyPair)('ed25519');
writeFileSync(join(dir, 'signer.pub'), signer.publicKey.export({ type: 'spki', format: 'pem' }));
const payload = Buffer.from(
  JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'guest-image', digest: { sha256: '22'.repeat(32) } }],
    predicateType: COCOKIT_PREDICATE,
    predicate: { reference_values: { snp_launch_measurement: ['6b'.repeat(48)] } },
  }),
);
const sig = sign(null, dssePae(INTOTO_PAYLOAD_TYPE, payload), signer.privateKey).toString('base64');
writeFileSync(join(dir, 'stmt.json'), JSON.stringify({ payloadType: INTOTO_PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: '', sig }] }));

/** Each group's command line with the connection flags `flags`, running a command that calls the KBS. */
const GROUPS: Record<string, (flags: string[]) => string[]> = {
  'kbs config': (flags) => ['kbs', 'config', ...flags, 'list-resources'],
  'kbs workload': (flags) => ['kbs', 'workload', ...flags, 'list'],
  'rv import': (flags) => ['rv', 'import', 'stmt.json', '--trusted-key', 'signer.pub', ...flags],
};

function find(program: Command, path: string): Command {
  let cmd = program;
  for (const name of path.split(' ')) cmd = cmd.commands.find((c) => c.name() === name) ?? assert.fail(`no command ${path}`);
  return cmd;
}

const spec = (o: Option): [string, string, unknown] => [o.flags, o.description, o.defaultValue];

test('kbs config, kbs workload and rv import declare the same connection flags with the same help', async () => {
  const program = await buildProgram(bufferIO());
  const want = ADMIN_CONNECTION_OPTIONS.map(([flags, description, def]) => [flags, description, def]);
  for (const path of Object.keys(GROUPS)) {
    const cmd = find(program, path);
    const conn = cmd.options.filter((o) => ADMIN_CONNECTION_OPTIONS.some(([flags]) => flags === o.flags));
    assert.deepEqual(conn.map(spec), want, path);
    // The printed help, its line wrapping undone, carries each flag with the one text.
    const help = cmd.helpInformation().replace(/\s+/g, ' ');
    for (const [flags, description, def] of ADMIN_CONNECTION_OPTIONS) {
      assert.ok(help.includes(`${flags} ${description}${def === undefined ? '' : ` (default: "${def}")`}`), `${path}: ${flags}`);
    }
  }
  // The namespace a workload token names: one declaration in the two groups that act on workloads.
  for (const path of ['kbs workload', 'rv import']) {
    assert.deepEqual(find(program, path).options.filter((o) => o.long === '--namespace').map(spec), NAMESPACE_OPTIONS.map(([f, d, v]) => [f, d, v]), path);
  }
});

test('the three groups refuse the same bad connection values with the same error and exit code', async () => {
  const url = ['--url', silentUrl];
  const cases: [what: string, flags: string[], code: string, kind: 'usage' | 'file' | 'input'][] = [
    ['no --url', [], 'CLI_USAGE', 'usage'],
    ['a --url that is no URL', ['--url', 'kbs.example'], 'CLI_USAGE', 'usage'],
    ['a --url of another scheme', ['--url', 'ftp://127.0.0.1/'], 'CLI_USAGE', 'usage'],
    ['a --url with a password', ['--url', 'http://admin:secret@127.0.0.1:1/'], 'CLI_USAGE', 'usage'],
    ['a --url with a query', ['--url', 'http://127.0.0.1:1/?x=1'], 'CLI_USAGE', 'usage'],
    ['--timeout 0', [...url, '--timeout', '0'], 'CLI_USAGE', 'usage'],
    ['--timeout -1', [...url, '--timeout=-1'], 'CLI_USAGE', 'usage'],
    ['--timeout abc', [...url, '--timeout', 'abc'], 'CLI_USAGE', 'usage'],
    ['--timeout 1e3', [...url, '--timeout', '1e3'], 'CLI_USAGE', 'usage'],
    ['--timeout over the maximum', [...url, '--timeout', String(MAX_TIMEOUT_SECONDS + 1)], 'CLI_USAGE', 'usage'],
    ['an empty --role', [...url, '--role', ''], 'CLI_USAGE', 'usage'],
    ['a --role with a space', [...url, '--role', 'ad min'], 'CLI_USAGE', 'usage'],
    ['a missing admin key', [...url, '--auth-private-key', 'absent.pem'], 'CLI_FILE', 'file'],
    ['a public key as admin key', [...url, '--auth-private-key', 'signer.pub'], 'CLI_ADMIN_KEY', 'input'],
    ['an RSA admin key', [...url, '--auth-private-key', vectorPath('keybroker', 'protocol', 'tee_rsa2048_private.pem')], 'CLI_ADMIN_KEY', 'input'],
    ['a missing CA file', [...url, '--cert-file', 'absent-ca.pem'], 'CLI_FILE', 'file'],
    ['a CA file without a certificate', [...url, '--cert-file', 'admin.pem'], 'CLI_CA', 'input'],
  ];
  for (const [what, flags, code, kind] of cases) {
    for (const [group, argv] of Object.entries(GROUPS)) {
      const started = Date.now();
      const r = await runCli(argv(flags), { cwd: dir });
      assert.equal(r.code, exitCodeOf(kind), `${group}, ${what}: ${r.err}`);
      assert.match(r.err, new RegExp(`^error\\[${code}\\]: `), `${group}, ${what}`);
      // Refused before any request: the silent KBS would have held the command until a timeout.
      assert.ok(Date.now() - started < 5000, `${group}, ${what}`);
      assert.doesNotMatch(r.err, /secret/, `${group}, ${what}: the password is not echoed`);
    }
  }
});

test('--timeout bounds each request of every group, and the flags may precede the subcommand', async () => {
  const flags = ['--auth-private-key', 'admin.pem', '--cert-file', vectorPath('tpm', 'ek', 'localca-root.pem'), '--timeout', '0.3'];
  const lines = [
    ...Object.entries(GROUPS).map(([g, argv]) => [g, argv(['--url', silentUrl, ...flags])] as const),
    ['kbs --url … workload', ['kbs', '--url', silentUrl, 'workload', ...flags, 'list']] as const,
    ['kbs --url … config', ['kbs', '--url', silentUrl, 'config', ...flags, 'list-resources']] as const,
  ];
  for (const [what, argv] of lines) {
    const started = Date.now();
    const r = await runCli([...argv], { cwd: dir });
    const took = Date.now() - started;
    assert.equal(r.code, exitCodeOf('unreachable'), `${what}: ${r.err}`);
    assert.match(r.err, /^error\[KBS_CLIENT_TIMEOUT\]: no answer from .* within 300 ms/m, what);
    assert.ok(took >= 250 && took < 5000, `${what}: ${took} ms`);
  }
});

test('--timeout reads decimal seconds', () => {
  assert.equal(timeoutMs('0.3'), 300);
  assert.equal(timeoutMs('60'), 60_000);
  assert.equal(timeoutMs(String(MAX_TIMEOUT_SECONDS)), MAX_TIMEOUT_SECONDS * 1000);
  for (const bad of ['', ' 1', '1 ', '0.0001', '+1', '0x10', 'Infinity', 'NaN', '1.5s']) assert.throws(() => timeoutMs(bad), { code: 'CLI_USAGE' }, bad);
});
