import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from './sqlite.js';
import { REPO_ROOT } from '../test-support/vectors.js';

const root = mkdtempSync(join(tmpdir(), 'cocokit-store-durability-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('kill -9 right after the writes resolve loses neither the admin write nor the request path\'s unsynced rows', async () => {
  const dataDir = join(root, 'data');
  const kekFile = join(root, 'kek');
  writeFileSync(kekFile, randomBytes(32).toString('hex'));
  const secret = randomBytes(48);
  // The child writes a resource (admin, synced), a session, a nonce record and a protocol audit row (request
  // path, not synced), says so, and is killed by SIGKILL while its store is still open (no checkpoint, no close).
  const script = `
    const { openSqliteStore } = await import(${JSON.stringify(new URL('./sqlite.ts', import.meta.url).pathname)});
    const s = await openSqliteStore({ dataDir: ${JSON.stringify(dataDir)}, kek: { file: ${JSON.stringify(kekFile)} } });
    const exp = new Date(Date.now() + 600000);
    await s.resources.put({ repository: 'r', type: 't', tag: 'k' }, Buffer.from('${secret.toString('hex')}', 'hex'));
    await s.sessions.put({ id: 'a'.repeat(32), tee: 'sample', nonce: 'n-1', state: 'authed', createdAt: new Date(), expiresAt: exp });
    if (!(await s.nonces.consume('n-1', exp))) throw new Error('fresh nonce refused');
    await s.audit.append({ kind: 'kbs.auth', subject: 'sample', outcome: 'ok' });
    process.stdout.write('written\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
  await new Promise<void>((res, rej) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('written') && res());
    child.on('exit', (code) => rej(new Error(`child exited ${code} before writing: ${err}`)));
  });
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');

  const s = await openSqliteStore({ dataDir, kek: { file: kekFile } });
  try {
    assert.deepEqual(Buffer.from((await s.resources.get({ repository: 'r', type: 't', tag: 'k' }))!), secret);
    assert.equal((await s.sessions.get('a'.repeat(32)))?.nonce, 'n-1');
    assert.equal(await s.nonces.consume('n-1', new Date(Date.now() + 600000)), false, 'a nonce consumed before the kill stays consumed');
    assert.deepEqual((await s.audit.list({ kind: 'kbs.auth' })).map((e) => e.outcome), ['ok']);
  } finally {
    await s.close();
  }
});

test('request-path and admin writes through two stores on one file are visible to each other at once', async () => {
  const dataDir = join(root, 'two');
  const kek = new Uint8Array(randomBytes(32));
  const a = await openSqliteStore({ dataDir, kek });
  const b = await openSqliteStore({ dataDir, kek });
  try {
    const exp = new Date(Date.now() + 600000);
    await a.sessions.put({ id: 'b'.repeat(32), tee: 'snp', nonce: 'n-2', state: 'authed', createdAt: new Date(), expiresAt: exp });
    assert.equal((await b.sessions.get('b'.repeat(32)))?.tee, 'snp');
    assert.equal(await b.nonces.consume('n-2', exp), true);
    assert.equal(await a.nonces.consume('n-2', exp), false);
    await b.resources.put({ repository: 'r', type: 't', tag: 'v' }, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...(await a.resources.get({ repository: 'r', type: 't', tag: 'v' }))!], [1, 2, 3]);
    const admin = await a.audit.append({ kind: 'admin.resource.put', subject: 'r/t/v', outcome: 'ok' });
    const proto = await b.audit.append({ kind: 'kbs.attest', subject: 'snp', outcome: 'ok' });
    // One id sequence across both connections: newest first, whichever path wrote it.
    assert.ok(proto.id > admin.id);
    assert.deepEqual((await a.audit.list({ limit: 2 })).map((e) => e.kind), ['kbs.attest', 'admin.resource.put']);
  } finally {
    await a.close();
    await b.close();
  }
});
