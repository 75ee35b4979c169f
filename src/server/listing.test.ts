import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { KbsAdminClient } from '../client/admin-client.js';
import { WorkloadAdminClient } from '../client/workload-client.js';
import { signAdminToken } from '../client/admin-client.js';
import { SQLITE_FILE } from '../store/index.js';
import { bufferIO } from '../cli/io.js';
import { run } from '../cli/program.js';
import { startKbs, type Harness } from './test-harness.js';

const N = 100_000;
let h: Harness;
let admin: KbsAdminClient;

/** `r<i % 7>/t/k<i>` for i < N, written straight into the database in one transaction (the values are never read). */
function seedResources(dataDir: string): string[] {
  const db = new Sqlite(join(dataDir, SQLITE_FILE));
  try {
    const ins = db.prepare('INSERT INTO resources (namespace, repository, type, tag, value, size, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const junk = randomBytes(44);
    const paths: string[] = [];
    db.transaction(() => {
      for (let i = 0; i < N; i++) {
        ins.run('default', `r${i % 7}`, 't', `k${i}`, junk, 16, 1_700_000_000_000);
        paths.push(`r${i % 7}/t/k${i}`);
      }
    })();
    // Byte order, as the listing promises for the ASCII segment alphabet.
    return paths.sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
  } finally {
    db.close();
  }
}

let expected: string[];

before(async () => {
  h = await startKbs();
  admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  expected = seedResources(h.dataDir);
});
after(async () => {
  await h.stop();
});
// The harness clock stands still; admin tokens are signed with the real time.
beforeEach(() => {
  h.clock.now = new Date();
});

async function get(path: string): Promise<{ status: number; next: string | null; body: any; bytes: number }> {
  const r = await fetch(h.url + path, { headers: { authorization: `Bearer ${await signAdminToken(h.adminKeyPem)}` } });
  const text = await r.text();
  return { status: r.status, next: r.headers.get('x-next-cursor'), body: JSON.parse(text), bytes: text.length };
}

test('at 100k resources GET /kbs/v0/resources answers one bounded page with a cursor, and the cursor walk yields every path once, in order', async () => {
  const first = await get('/kbs/v0/resources');
  assert.equal(first.status, 200);
  assert.equal(first.body.length, 100, 'default page size');
  assert.deepEqual(first.body.map((r: { path: string }) => r.path), expected.slice(0, 100));
  assert.ok(first.next);
  const capped = await get('/kbs/v0/resources?limit=50000');
  assert.equal(capped.body.length, 1000, 'the page size is capped whatever the client asks');
  assert.ok(capped.bytes < 100_000);

  const loopDelay = { max: 0 };
  const probe = setInterval(() => {}, 1);
  const t0 = Date.now();
  let last = t0;
  const tick = setInterval(() => {
    const now = Date.now();
    loopDelay.max = Math.max(loopDelay.max, now - last);
    last = now;
  }, 5);
  let all: string[];
  try {
    all = (await admin.listResources()).map((r) => r.path);
  } finally {
    clearInterval(tick);
    clearInterval(probe);
  }
  assert.equal(all.length, N);
  assert.deepEqual(all, expected);
  // Not asserted (timing on a shared machine): how long the event loop stalled at most while 100 pages were served.
  console.log(`# walked ${N} resources in ${Date.now() - t0} ms; longest event-loop stall ${loopDelay.max} ms`);
});

test('the cursor holds when resources are added and deleted between pages', async () => {
  const p1 = await admin.listResourcesPage({ limit: 3 });
  assert.deepEqual(p1.items.map((r) => r.path), expected.slice(0, 3));
  // Delete the item the cursor names, and add one before and one right after it.
  await admin.deleteResource(expected[2]);
  await admin.setResource('r0/t/a-before', new Uint8Array([1]));
  // '-' sorts before every digit: right behind the deleted cursor item, before the next existing one.
  await admin.setResource(`${expected[2]}-x`, new Uint8Array([1]));
  try {
    const p2 = await admin.listResourcesPage({ limit: 3, cursor: p1.next! });
    assert.deepEqual(p2.items.map((r) => r.path), [`${expected[2]}-x`, expected[3], expected[4]]);
  } finally {
    await admin.setResource(expected[2], new Uint8Array([1]));
    await admin.deleteResource('r0/t/a-before');
    await admin.deleteResource(`${expected[2]}-x`);
  }
});

test('bad limits and cursors on the listing endpoints are client errors with a KBS error body naming them, never 500s', async () => {
  for (const q of ['limit=0', 'limit=-1', 'limit=abc', 'limit=1.5', 'limit=99999999', 'cursor=%21%21', 'cursor=e30', `cursor=${'A'.repeat(5000)}`, `cursor=${Buffer.from('[1,2,3,4]').toString('base64url')}`]) {
    const r = await get(`/kbs/v0/resources?${q}`);
    // Trustee answers 401 for every plugin error; what matters is a client error that says what was wrong.
    assert.ok(r.status >= 400 && r.status < 500, `${q}: ${r.status}`);
    assert.match(r.body.type, /confidential-containers\/kbs\/errors\//);
    assert.match(r.body.detail, /limit must be a positive integer|page cursor is not one this store handed out/, q);
  }
  const wl = await fetch(`${h.url}/kbs/v0/workloads?cursor=zz`, { headers: { authorization: `Bearer ${await signAdminToken(h.adminKeyPem, 'admin', 300, new Date(), { namespace: 'tenant-x' })}` } });
  assert.equal(wl.status, 400);
  assert.match(JSON.stringify(await wl.json()), /page cursor/);
});

test('workloads list page by page over HTTP; the client follows the cursor to the end', async () => {
  const c = new WorkloadAdminClient(h.url, { privateKeyPem: h.adminKeyPem, namespace: 'tenant-p' });
  const ids = Array.from({ length: 5 }, () => randomUUID()).sort();
  for (const id of ids) await c.register({ workload_id: id, tee: 'snp', reference_values: { measurement: 'ab'.repeat(48) }, resources: { k: 'v' } });
  const p1 = await c.listPage({ limit: 2 });
  assert.equal(p1.items.length, 2);
  assert.ok(p1.next);
  const p3 = await c.listPage({ limit: 2, cursor: (await c.listPage({ limit: 2, cursor: p1.next })).next! });
  assert.equal(p3.items.length, 1);
  assert.equal(p3.next, undefined);
  assert.deepEqual((await c.list()).map((w) => (w as { workload_id?: string; id?: string }).workload_id ?? (w as { id: string }).id), ids);
});

test('cocokit kbs config list-resources --limit prints one page and the next cursor; without it, everything', async () => {
  const key = join(h.dataDir, 'admin-cli.pem');
  (await import('node:fs')).writeFileSync(key, h.adminKeyPem);
  const io = bufferIO({}, h.dataDir);
  assert.equal(await run(['kbs', 'config', '--url', h.url, '--auth-private-key', key, 'list-resources', '--limit', '4'], io), 0, io.err());
  assert.deepEqual(JSON.parse(io.out()).map((r: { path: string }) => r.path), expected.slice(0, 4));
  const cursor = /next page: --cursor (\S+)/.exec(io.err())?.[1];
  assert.ok(cursor);
  const io2 = bufferIO({}, h.dataDir);
  assert.equal(await run(['kbs', 'config', '--url', h.url, '--auth-private-key', key, 'list-resources', '--limit', '2', '--cursor', cursor], io2), 0, io2.err());
  assert.deepEqual(JSON.parse(io2.out()).map((r: { path: string }) => r.path), expected.slice(4, 6));
  const bad = bufferIO({}, h.dataDir);
  assert.notEqual(await run(['kbs', 'config', '--url', h.url, '--auth-private-key', key, 'list-resources', '--limit', 'x'], bad), 0);
  assert.match(bad.err(), /--limit x is not a positive integer/);
});
