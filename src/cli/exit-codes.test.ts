import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { EXIT_CODE_TABLE, exitCodeOf, type ErrorKind } from '../errors.js';
import { REPO_ROOT } from '../test-support/vectors.js';
import { startKbs, type Harness } from '../server/test-harness.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';
import { safeKeyPair } from '../formats/keygen.js';

let dir: string;
let h: Harness;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cocokit-exit-'));
  h = await startKbs();
  writeFileSync(join(dir, 'admin.pem'), h.adminKeyPem);
});
after(async () => {
  await h.stop();
  rmSync(dir, { recursive: true, force: true });
});

function cli(...argv: string[]): Promise<CliRun> {
  return runCli(argv, { cwd: dir, env: { COCOKIT_LOG_LEVEL: 'silent' } });
}

async function expectExit(code: number, argv: string[], message?: RegExp): Promise<string> {
  const r = await cli(...argv);
  assert.equal(r.code, code, `${argv.join(' ')} → ${r.code}: ${r.err}`);
  if (message) assert.match(r.err, message, argv.join(' '));
  return r.err;
}

test('the README exit-code table is the one the CLI uses, and every error kind has a row', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('#### Exit codes'));
  const rows = [...section.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => ({ code: Number(m[1]), meaning: m[2] }));
  assert.deepEqual(rows, EXIT_CODE_TABLE.map((r) => ({ code: r.code, meaning: r.meaning })));
  const kinds = EXIT_CODE_TABLE.flatMap((r) => r.kinds.map((k) => [k, r.code] as const));
  for (const [kind, code] of kinds) assert.equal(exitCodeOf(kind), code, kind);
  const all: ErrorKind[] = ['usage', 'input', 'crypto', 'unavailable', 'expectation', 'policy', 'auth', 'forbidden', 'notfound', 'conflict', 'limit', 'unsupported', 'file', 'unreachable', 'server', 'internal'];
  assert.deepEqual(kinds.map(([k]) => k).sort(), [...all].sort());
});

test('local commands: usage 1, missing file 11, directory for a file 11, malformed input 4, bad signature 2, failed expectation 5', async () => {
  await expectExit(1, ['snp', 'show', '--no-such-flag', 'x.bin']);
  await expectExit(1, ['no-such-command']);
  await expectExit(11, ['snp', 'show', 'missing.bin'], /missing\.bin/);
  mkdirSync(join(dir, 'a-dir'), { recursive: true });
  await expectExit(11, ['snp', 'show', 'a-dir']);
  writeFileSync(join(dir, 'garbage.bin'), Buffer.alloc(100, 7));
  await expectExit(4, ['snp', 'show', 'garbage.bin']);

  assert.equal((await cli('snp', 'test-root', '--out', 'root')).code, 0);
  const m = 'ab'.repeat(48);
  assert.equal((await cli('snp', 'test-report', '--root-dir', 'root', '--measurement', m, '--format', 'raw', '--out', 'report.bin')).code, 0);
  const verify = ['snp', 'verify', '--roots', 'root/roots.pem', '--vcek', 'root/vcek.pem'];
  await expectExit(0, [...verify, 'report.bin', '--measurement', m]);
  await expectExit(5, [...verify, 'report.bin', '--measurement', 'cd'.repeat(48)]);
  const flipped = readFileSync(join(dir, 'report.bin'));
  flipped[0x2a0] ^= 1; // first byte of the signature's R (specs/snp.md §1.1)
  writeFileSync(join(dir, 'flipped.bin'), flipped);
  await expectExit(2, [...verify, 'flipped.bin']);
  await expectExit(11, [...verify.slice(0, 4), '--vcek', 'root/missing.pem', 'report.bin'], /missing\.pem/);
  // AMD KDS unreachable: the cause in one line, not a stack or OpenSSL internals.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const kds = await expectExit(12, ['snp', 'fetch-vcek', 'report.bin', '--cache', 'vcek-cache', '--kds-url', `http://127.0.0.1:${closedPort}`], /ECONNREFUSED/);
  assert.equal(kds.trim().split('\n').length, 1, kds);
});

test('KBS commands: policy denial 6, refused credentials 7, missing resource 8 (HTTP 404), unreachable 12, server error 13', async () => {
  const admin = ['kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem'];
  writeFileSync(join(dir, 'deny.rego'), 'package policy\ndefault allow = false\n');
  writeFileSync(join(dir, 'allow.rego'), 'package policy\ndefault allow = true\n');
  writeFileSync(join(dir, 'secret.txt'), 's');
  assert.equal((await cli(...admin, 'set-resource', '--path', 'default/key/a', '--resource-file', 'secret.txt')).code, 0);
  assert.equal((await cli(...admin, 'set-resource-policy', '--policy-file', 'deny.rego')).code, 0);
  await expectExit(6, ['kbs', 'get-resource', '--url', h.url, '--path', 'default/key/a'], /PolicyDeny|POLICY_DENY/);
  assert.equal((await cli(...admin, 'set-resource-policy', '--policy-file', 'allow.rego')).code, 0);
  await expectExit(8, ['kbs', 'get-resource', '--url', h.url, '--path', 'default/key/none'], /HTTP 404/);
  writeFileSync(join(dir, 'other.pem'), safeKeyPair('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }));
  await expectExit(7, ['kbs', 'config', '--url', h.url, '--auth-private-key', 'other.pem', 'list-resources']);
  await expectExit(11, [...admin.slice(0, 4), '--auth-private-key', 'missing.pem', 'list-resources']);

  const refused = await expectExit(12, ['kbs', 'get-resource', '--url', 'http://127.0.0.1:1', '--path', 'default/key/a'], /ECONNREFUSED/);
  assert.equal(refused.trim().split('\n').length, 1, refused);
  // TLS to a plain-HTTP server: one line naming the mismatch.
  const tls = await expectExit(12, ['kbs', 'get-resource', '--url', h.url.replace('http:', 'https:'), '--path', 'default/key/a'], /TLS/);
  assert.equal(tls.trim().split('\n').length, 1, tls);

  const broken: Server = createServer((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('boom'));
  await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
    await expectExit(13, ['kbs', 'get-resource', '--url', url, '--path', 'default/key/a'], /HTTP 500/);
  } finally {
    await new Promise<void>((r) => broken.close(() => r()));
  }
});

test('user mistakes around the KBS are never internal: port in use, unwritable data dir, bad --out checked before the secret is fetched', async () => {
  const port = new URL(h.url).port;
  await expectExit(1, ['kbs', 'serve', '--port', port, '--data-dir', 'serve-data'], /in use.*--port/);
  writeFileSync(join(dir, 'a-file'), '');
  await expectExit(11, ['kbs', 'serve', '--port', '0', '--data-dir', 'a-file/data'], /a-file/);
  // The URL is unreachable: exit 11 (not 12) proves the output path is checked first.
  await expectExit(11, ['kbs', 'get-resource', '--url', 'http://127.0.0.1:1', '--path', 'default/key/a', '--out', 'no-dir/secret'], /no-dir/);
  await expectExit(11, ['kbs', 'get-resource', '--url', 'http://127.0.0.1:1', '--path', 'default/key/a', '--out', 'a-dir'], /is a directory/);
});
