import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { KbsClient, normalizeResourcePath } from './kbs-client.js';
import { httpError } from './http.js';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestRoot } from '../tee/snp/test-root.js';
import { tsmSimulator } from '../tee/snp/tsm-sim.js';

test('resource paths accept repo/type/tag and kbs:/// URIs, nothing else', () => {
  assert.equal(normalizeResourcePath('kbs:///a/b/c'), 'a/b/c');
  assert.equal(normalizeResourcePath('/a/b/c?x=1'), 'a/b/c?x=1');
  for (const bad of ['a/b', 'a/b/c/d', 'a//c', '']) assert.throws(() => normalizeResourcePath(bad), CocoError);
});

test('KBS error bodies become CocoErrors that keep the variant and detail', () => {
  const body = (t: string, d: string) => new TextEncoder().encode(JSON.stringify({ type: `https://github.com/confidential-containers/kbs/errors/${t}`, detail: d }));
  const deny = httpError('get', { status: 401, headers: new Headers(), body: body('PolicyDeny', 'rule x failed') });
  assert.equal(deny.code, 'KBS_CLIENT_POLICY_DENY');
  assert.equal(deny.kind, 'policy');
  assert.match(deny.message, /rule x failed/);
  assert.equal(httpError('get', { status: 404, headers: new Headers(), body: body('InvalidRequestPath', 'p') }).kind, 'notfound');
  assert.equal(httpError('get', { status: 502, headers: new Headers(), body: new Uint8Array([1, 2]) }).kind, 'server');
  // Trustee answers 401 for nearly everything: the kind follows the variant, and a 404 is "not found".
  assert.equal(httpError('get', { status: 401, headers: new Headers(), body: body('AdminAuthAccess', 'no token') }).kind, 'auth');
  assert.equal(httpError('get', { status: 404, headers: new Headers(), body: body('PluginInternalError', 'resource x does not exist') }).kind, 'notfound');
  assert.equal(httpError('get', { status: 401, headers: new Headers(), body: body('ParsePolicyError', 'rego') }).kind, 'input');
});

test('a KBS answering garbage makes the client fail with a CocoError, never a crash', async () => {
  let reply: { status: number; body: Buffer; cookie: boolean } = { status: 200, body: Buffer.alloc(0), cookie: true };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const headers: Record<string, string> = reply.cookie ? { 'set-cookie': 'kbs-session-id=abc; Expires=Thu, 01 Jan 2099 00:00:00 GMT' } : {};
      res.writeHead(reply.status, headers);
      res.end(reply.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(200, 401, 404, 500),
        fc.oneof(fc.json().map((s) => Buffer.from(s)), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), fc.constant(Buffer.from('{"nonce":"AAAA","extra-params":{"selected-hash-algorithm":"md5"}}'))),
        fc.boolean(),
        async (status, body, cookie) => {
          reply = { status, body, cookie };
          await assert.rejects(new KbsClient(url, new SampleAttester(), { maxAttempts: 1, timeoutMs: 5000 }).getResource('a/b/c'), (e: unknown) => e instanceof CocoError);
        },
      ),
      { numRuns: 60 },
    );
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('an unreachable KBS is an unreachable CocoError that names the cause in one line', async () => {
  await assert.rejects(
    new KbsClient('http://127.0.0.1:1', new SampleAttester()).attest(),
    (e: unknown) => e instanceof CocoError && e.kind === 'unreachable' && /ECONNREFUSED/.test(e.message) && !e.message.includes('\n'),
  );
});

test('attester selection: sample on request, SNP for sev_guest and TDX for tdx_guest providers, sample only in development mode', async () => {
  const { attesterFor } = await import('./attesters.js');
  const dir = mkdtempSync(join(tmpdir(), 'attesters-'));
  try {
    const none = { tsmPath: join(dir, 'no-tsm'), devicePath: join(dir, 'no-dev'), tdxDevicePath: join(dir, 'no-tdx-dev') };
    assert.equal((await attesterFor('sample')).tee, 'sample');
    await assert.rejects(attesterFor('cca'), /no attester for tee "cca"/);
    await assert.rejects(attesterFor('tdx', none), (e: unknown) => e instanceof CocoError && e.kind === 'unavailable');
    await assert.rejects(attesterFor('snp', none), (e: unknown) => e instanceof CocoError && e.kind === 'unavailable');
    await assert.rejects(attesterFor('auto', none), /no configfs-tsm, no \/dev\/sev-guest and no \/dev\/tdx_guest.*--development/);
    assert.equal((await attesterFor('auto', { ...none, development: true })).tee, 'sample');

    const tsm = join(dir, 'tsm');
    mkdirSync(tsm);
    const root = createTestRoot();
    const chip = root.createChip();
    const sev = { tsmPath: tsm, devicePath: none.devicePath, tsmFs: tsmSimulator(root, chip) };
    assert.equal((await attesterFor('auto', sev)).tee, 'snp');
    assert.equal((await attesterFor('auto', { ...sev, development: true })).tee, 'snp', 'hardware wins over development mode');
    const tdx = { ...sev, tsmFs: tsmSimulator(root, chip, { provider: 'tdx_guest' }) };
    assert.equal((await attesterFor('auto', tdx)).tee, 'tdx');
    assert.equal((await attesterFor('auto', { ...tdx, development: true })).tee, 'tdx', 'hardware wins over development mode');
    const cca = { ...sev, tsmFs: tsmSimulator(root, chip, { provider: 'arm_cca_guest' }) };
    await assert.rejects(attesterFor('auto', cca), /provider "arm_cca_guest" has no attester/);
    assert.equal((await attesterFor('auto', { ...cca, development: true })).tee, 'sample');
    assert.deepEqual(readdirSync(tsm), [], 'the probe entry is removed');

    // Without configfs-tsm, /dev/sev-guest still makes this an SNP guest.
    writeFileSync(join(dir, 'sev-guest'), '');
    assert.equal((await attesterFor('auto', { ...none, devicePath: join(dir, 'sev-guest') })).tee, 'snp');
    // …and /dev/tdx_guest a TDX guest.
    writeFileSync(join(dir, 'tdx_guest'), '');
    assert.equal((await attesterFor('auto', { ...none, tdxDevicePath: join(dir, 'tdx_guest') })).tee, 'tdx');
    assert.equal((await attesterFor('tdx', { ...none, tdxDevicePath: join(dir, 'tdx_guest') })).tee, 'tdx');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
