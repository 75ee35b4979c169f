import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listFilesRecursive, storeContract } from './contract.js';
import Sqlite from 'better-sqlite3';
import { CHECKPOINT_INTERVAL_MS, KEK_FILE, SQLITE_FILE, openSqliteStore } from './sqlite.js';
import { REPO_ROOT } from '../test-support/vectors.js';

const root = mkdtempSync(join(tmpdir(), 'cocokit-store-sqlite-'));
let n = 0;
after(() => rmSync(root, { recursive: true, force: true }));

storeContract({
  name: 'SQLite',
  skip: false,
  location: async () => join(root, `d${n++}`),
  open: (dataDir, o = {}) => openSqliteStore({ dataDir, ...o }),
  // WAL frames and the main file are both read: a secret must be absent from either.
  filesAtRest: async (dataDir) => listFilesRecursive(dataDir),
});

test('with no key given, the data directory gets a 0600 key file and a 0700 directory, reused on reopen', async () => {
  const dataDir = join(root, 'default-kek');
  const a = await openSqliteStore({ dataDir });
  await a.resources.put({ repository: 'r', type: 't', tag: 'g' }, Buffer.from('kept'));
  await a.close();
  assert.equal(statSync(join(dataDir, KEK_FILE)).mode & 0o777, 0o600);
  assert.equal(statSync(dataDir).mode & 0o777, 0o700);
  const b = await openSqliteStore({ dataDir });
  assert.equal(Buffer.from((await b.resources.get({ repository: 'r', type: 't', tag: 'g' }))!).toString(), 'kept');
  await b.close();
  // The same key given explicitly by file path opens the store too; a fresh key file does not.
  const c = await openSqliteStore({ dataDir, kek: { file: join(dataDir, KEK_FILE) } });
  await c.close();
  writeFileSync(join(root, 'other-kek'), randomBytes(32).toString('hex'));
  await assert.rejects(openSqliteStore({ dataDir, kek: { file: join(root, 'other-kek') } }), { code: 'STORE_KEK_MISMATCH' });
  // Losing the key file is reported as such, and no new key is made up in its place.
  rmSync(join(dataDir, KEK_FILE));
  await assert.rejects(openSqliteStore({ dataDir }), { code: 'STORE_KEK_MISSING', kind: 'usage' });
  assert.equal(existsSync(join(dataDir, KEK_FILE)), false);
});

test('a ciphertext moved onto another resource row does not open (the path is authenticated)', async () => {
  const dataDir = join(root, 'swap');
  const s = await openSqliteStore({ dataDir });
  await s.resources.put({ repository: 'r', type: 't', tag: 'public' }, Buffer.from('harmless'));
  await s.resources.put({ repository: 'r', type: 't', tag: 'private' }, Buffer.from('secret'));
  await s.close();
  const raw = new Sqlite(join(dataDir, SQLITE_FILE));
  raw.prepare("UPDATE resources SET value = (SELECT value FROM resources WHERE tag = 'private') WHERE tag = 'public'").run();
  raw.close();
  const t = await openSqliteStore({ dataDir });
  try {
    await assert.rejects(t.resources.get({ repository: 'r', type: 't', tag: 'public' }), { code: 'STORE_DECRYPT', kind: 'crypto' });
    assert.equal(Buffer.from((await t.resources.get({ repository: 'r', type: 't', tag: 'private' }))!).toString(), 'secret');
    // Rotation re-encrypts `private` first (key order), then stops at the bad row and rolls back: the store
    // stays under the old key.
    await assert.rejects(t.rotateKek(randomBytes(32)), { code: 'STORE_DECRYPT' });
  } finally {
    await t.close();
  }
  const u = await openSqliteStore({ dataDir });
  assert.equal(Buffer.from((await u.resources.get({ repository: 'r', type: 't', tag: 'private' }))!).toString(), 'secret');
  await u.close();
});

test('a database written by a newer schema is refused with STORE_SCHEMA_NEWER', async () => {
  const dataDir = join(root, 'newer');
  await (await openSqliteStore({ dataDir })).close();
  const raw = new Sqlite(join(dataDir, SQLITE_FILE));
  raw.prepare("INSERT INTO cocokit_migration (name, applied_at) VALUES ('9999_future', 0)").run();
  raw.close();
  await assert.rejects(openSqliteStore({ dataDir }), { code: 'STORE_SCHEMA_NEWER', kind: 'unsupported' });
});

test('a data directory that cannot be created is a file CocoError', async () => {
  writeFileSync(join(root, 'a-file'), '');
  await assert.rejects(openSqliteStore({ dataDir: join(root, 'a-file', 'sub') }), { code: 'STORE_DATA_DIR', kind: 'file' });
  await assert.rejects(openSqliteStore({ dataDir: '' }), { code: 'STORE_ARGUMENT', kind: 'usage' });
});

test('two processes on one fresh data directory migrate once and consume each nonce once', async () => {
  const dataDir = join(root, 'processes');
  writeFileSync(join(root, 'processes.kek'), randomBytes(32).toString('hex'));
  // Each child loads the code, says "ready" and waits for "go" on stdin (startup takes a variable second or
  // two); then both open the store (racing the migration) and consume the same nonces.
  const script = `
    const { openSqliteStore } = await import(${JSON.stringify(new URL('./sqlite.ts', import.meta.url).pathname)});
    process.stdout.write('ready\\n');
    await new Promise((r) => process.stdin.once('data', r));
    process.stdin.pause();
    const s = await openSqliteStore({ dataDir: ${JSON.stringify(dataDir)}, kek: { file: ${JSON.stringify(join(root, 'processes.kek'))} } });
    const won = [];
    const exp = new Date(Date.now() + 600000);
    // One child walks the nonces upwards, the other downwards: they collide in the middle.
    const down = process.argv.includes('down');
    for (let k = 0; k < 300; k++) {
      const i = down ? 299 - k : k;
      if (await s.nonces.consume('p-' + i, exp)) won.push(i);
      // Leave the write lock free between statements, as a server between requests does: SQLite's busy
      // handler is not fair, and a tight loop would simply run one child after the other.
      if (k % 3 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await s.close();
    process.stdout.write(JSON.stringify(won) + '\\n');
  `;
  const children = ['up', 'down'].map((direction) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, direction], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const ready = new Promise<void>((res) => child.stdout.on('data', (d: Buffer) => ((out += d.toString()), out.startsWith('ready\n') && res())));
    const done = new Promise<number[]>((res, rej) =>
      child.on('close', (code) => (code === 0 ? res(JSON.parse(out.slice('ready\n'.length)) as number[]) : rej(new Error(`child exited ${code}: ${err}`)))),
    );
    return { child, ready, done };
  });
  await Promise.race([Promise.all(children.map((c) => c.ready)), Promise.all(children.map((c) => c.done))]);
  for (const c of children) c.child.stdin.end('go\n');
  const [a, b] = await Promise.all(children.map((c) => c.done));
  // Both got through (neither failed on a lock), and together they consumed every nonce exactly once.
  const all = [...a, ...b].sort((x, y) => x - y);
  assert.deepEqual(all, Array.from({ length: 300 }, (_, i) => i));
});

test('audit retention gives the space back: the WAL is truncated and freed pages leave the file', async () => {
  const dataDir = join(root, 'reclaim');
  const s = await openSqliteStore({ dataDir });
  const size = (f: string) => (existsSync(join(dataDir, f)) ? statSync(join(dataDir, f)).size : 0);
  const onDisk = () => size(SQLITE_FILE) + size(`${SQLITE_FILE}-wal`);
  const detail = 'd'.repeat(16 * 1024);
  for (let i = 0; i < 200; i++) await s.audit.append({ kind: 'k', subject: `e${i}`, outcome: 'ok', detail });
  await s.reclaimSpace();
  const full = onDisk();
  assert.ok(full > 200 * 16 * 1024, `${full} bytes for 3 MiB of audit details`);
  assert.equal(await s.audit.retain({ keepNewest: 5 }), 195);
  await s.reclaimSpace();
  assert.equal(size(`${SQLITE_FILE}-wal`), 0);
  assert.ok(onDisk() < full / 10, `${onDisk()} bytes left of ${full}`);
  assert.equal((await s.audit.list()).length, 5);
  await s.close();
});

test('a store made without incremental vacuum is converted by its first reclaimSpace', async () => {
  const dataDir = join(root, 'old-vacuum');
  const before = await openSqliteStore({ dataDir });
  await before.close();
  const raw = new Sqlite(join(dataDir, SQLITE_FILE));
  raw.pragma('auto_vacuum = NONE');
  raw.exec('VACUUM');
  assert.equal(raw.pragma('auto_vacuum', { simple: true }), 0);
  raw.close();
  const s = await openSqliteStore({ dataDir });
  await s.audit.append({ kind: 'k', subject: 's', outcome: 'ok' });
  await s.reclaimSpace();
  await s.close();
  const check = new Sqlite(join(dataDir, SQLITE_FILE), { readonly: true });
  assert.equal(check.pragma('auto_vacuum', { simple: true }), 2);
  check.close();
});

test('cocokit.db, its WAL and the key file are owner-only even under a permissive umask, and an open world-readable database is narrowed', async () => {
  const dataDir = join(root, 'modes');
  const old = process.umask(0o000);
  try {
    const s = await openSqliteStore({ dataDir });
    await s.resources.put({ repository: 'r', type: 't', tag: 'g' }, Buffer.from('secret'));
    for (const f of [SQLITE_FILE, `${SQLITE_FILE}-wal`, `${SQLITE_FILE}-shm`, KEK_FILE]) {
      assert.equal(statSync(join(dataDir, f)).mode & 0o777, 0o600, f);
    }
    await s.close();
    chmodSync(join(dataDir, SQLITE_FILE), 0o644);
    const again = await openSqliteStore({ dataDir });
    assert.equal(statSync(join(dataDir, SQLITE_FILE)).mode & 0o777, 0o600);
    await again.close();
  } finally {
    process.umask(old);
  }
});

/**
 * The WAL-index header in `-shm` (sqlite.org/walformat.html §2.1): mxFrame, the last valid frame, at byte 16
 * of the header, and nBackfill, the frames already copied into the database file, at byte 96; in the host's
 * byte order.
 */
function walIndex(dataDir: string): { mxFrame: number; nBackfill: number } {
  const shm = readFileSync(join(dataDir, `${SQLITE_FILE}-shm`)).subarray(0, 136);
  const le = new DataView(shm.buffer, shm.byteOffset, shm.byteLength);
  return { mxFrame: le.getUint32(16, true), nBackfill: le.getUint32(96, true) };
}

test('the checkpoint worker copies the request path’s unsynced WAL frames into the database file on its interval', async () => {
  const dataDir = join(root, 'checkpoint');
  const s = await openSqliteStore({ dataDir });
  try {
    const expires = new Date(Date.now() + 60_000);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 50; i++) assert.equal(await s.nonces.consume(`checkpoint-${round}-${i}`, expires), true);
      const written = walIndex(dataDir);
      assert.ok(written.mxFrame > written.nBackfill, `the request path's commits are in the WAL, not yet checkpointed (${JSON.stringify(written)})`);
      const waited = await (async () => {
        const t0 = Date.now();
        for (;;) {
          const w = walIndex(dataDir);
          if (w.nBackfill === w.mxFrame) return Date.now() - t0;
          if (Date.now() - t0 > CHECKPOINT_INTERVAL_MS * 10) assert.fail(`the WAL was not checkpointed within ${CHECKPOINT_INTERVAL_MS * 10} ms: ${JSON.stringify(w)}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      assert.ok(waited <= CHECKPOINT_INTERVAL_MS * 3, `checkpointed after ${waited} ms`);
    }
  } finally {
    await s.close();
  }
});
