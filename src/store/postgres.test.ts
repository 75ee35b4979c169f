import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listFilesRecursive, storeContract } from './contract.js';
import { openPostgresStore, type PostgresStoreOptions } from './postgres.js';
import { withReadCache } from './read-cache.js';
import { postgresMissing, startPostgres, type PostgresCluster } from '../test-support/postgres.js';

const skip = postgresMissing();
let cluster: PostgresCluster | undefined;
let n = 0;
const defaultKek = new Uint8Array(32).fill(7);

if (skip === false) {
  before(async () => {
    cluster = await startPostgres();
    // A linguistic collation, as production databases usually have: listings must still come out in the
    // same code-unit order as on SQLite.
    // A server built without ICU falls back to the cluster's C collation.
    await cluster.createDatabase('contract', 'en-US').catch(() => cluster!.createDatabase('contract'));
  });
  after(async () => {
    await cluster?.stop();
  });
}

storeContract({
  name: 'PostgreSQL',
  skip,
  // One schema per test: the tests share the server, never their data.
  location: () => cluster!.createSchema(`contract_${n++}`, 'contract'),
  open: (connectionString, o = {}) => openPostgresStore({ connectionString, kek: o.kek ?? defaultKek, now: o.now }),
  // Heap pages and WAL of the whole cluster: after a checkpoint everything committed is in these files.
  filesAtRest: async () => {
    await cluster!.checkpoint();
    return listFilesRecursive(cluster!.dataDir);
  },
});

test('an unreachable server is an unavailable CocoError', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-nopg-'));
  try {
    await assert.rejects(openPostgresStore({ connectionString: `postgresql://postgres@localhost/none?host=${dir}`, kek: defaultKek }), {
      code: 'STORE_BACKEND',
      kind: 'unavailable',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a PostgreSQL store needs a connection string and an explicit key', async () => {
  await assert.rejects(openPostgresStore({ connectionString: '', kek: defaultKek }), { code: 'STORE_ARGUMENT', kind: 'usage' });
  await assert.rejects(openPostgresStore({ connectionString: 'postgresql://x@localhost/y' } as PostgresStoreOptions), { code: 'STORE_KEK_MISSING', kind: 'usage' });
});

test('a store keeps working after the server drops its connections', { skip }, async () => {
  const s = await openPostgresStore({ connectionString: await cluster!.createSchema('dropped'), kek: defaultKek });
  try {
    await s.resources.put({ repository: 'r', type: 't', tag: 'g' }, Buffer.from('before'));
    const killed = await cluster!.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
    );
    assert.ok(killed.length >= 1);
    // The pool drops the dead idle connections and opens fresh ones; no process crash, no stale error.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(Buffer.from((await s.resources.get({ repository: 'r', type: 't', tag: 'g' }))!).toString(), 'before');
  } finally {
    await s.close();
  }
});

/** Polls `probe` until it returns true, for up to `ms`. */
async function eventually(probe: () => Promise<boolean> | boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('sessions and nonces are unlogged tables; the data that must survive is logged', { skip }, async () => {
  const url = await cluster!.createSchema('persistence');
  const s = await openPostgresStore({ connectionString: url, kek: defaultKek });
  try {
    const rows = (await cluster!.query(
      "SELECT c.relname, c.relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'persistence' AND c.relkind = 'r' ORDER BY c.relname",
    )) as Array<{ relname: string; relpersistence: string }>;
    const persistence = Object.fromEntries(rows.map((r) => [r.relname, r.relpersistence]));
    assert.equal(persistence.sessions, 'u');
    assert.equal(persistence.nonces, 'u');
    for (const t of ['resources', 'policies', 'reference_values', 'workloads', 'audit', 'kv', 'cocokit_meta', 'cocokit_migration']) assert.equal(persistence[t], 'p', t);
  } finally {
    await s.close();
  }
});

test('replicas hear of each other\'s policy and reference-value writes: a cached read is dropped at the commit', { skip }, async () => {
  const url = await cluster!.createSchema('changes');
  const a = await openPostgresStore({ connectionString: url, kek: defaultKek });
  const b = await openPostgresStore({ connectionString: url, kek: defaultKek });
  try {
    assert.ok(b.changes?.live, 'the feed listens once the store is open');
    let heard = 0;
    b.changes!.subscribe(() => heard++);
    const cached = withReadCache(b);
    await a.policies.put('resource', 'default', 'package policy\nallow := false\n');
    await a.referenceValues.set('rv', ['one']);
    assert.ok(await eventually(() => heard >= 2), `heard ${heard} of 2 writes`);
    assert.match((await cached.policies.get('resource', 'default'))!.text, /false/);
    assert.deepEqual((await cached.referenceValues.get('rv'))!.value, ['one']);
    // Served from the cache now: a write the database takes without an announcement (the trigger removed)
    // is not seen, which shows the reads above are cached…
    await cluster!.query('ALTER TABLE changes.policies DISABLE TRIGGER policies_changed');
    await a.policies.put('resource', 'default', 'package policy\nallow := 1\n');
    await new Promise((r) => setTimeout(r, 100));
    assert.match((await cached.policies.get('resource', 'default'))!.text, /false/);
    await cluster!.query('ALTER TABLE changes.policies ENABLE TRIGGER policies_changed');
    // …and an announced write from the other replica, inside a transaction too, replaces it.
    heard = 0;
    await a.transaction(async (tx) => {
      await tx.policies.put('resource', 'default', 'package policy\nallow := true\n');
      await tx.referenceValues.set('rv', ['two'], undefined, { source: 'test' });
    });
    assert.ok(await eventually(async () => /true/.test((await cached.policies.get('resource', 'default'))!.text)), 'the new policy is read');
    assert.ok(await eventually(async () => JSON.stringify((await cached.referenceValues.get('rv'))!.value) === '["two"]'));
    assert.deepEqual((await cached.referenceValues.get('rv'))!.provenance, { source: 'test' });
    await a.referenceValues.delete('rv');
    assert.ok(await eventually(async () => (await cached.referenceValues.get('rv')) === undefined), 'a deleted reference value is gone');
  } finally {
    await a.close();
    await b.close();
  }
});

test('while the change feed is down nothing is cached; it listens again and reports the gap as a change', { skip }, async () => {
  const url = await cluster!.createSchema('feed_down');
  const a = await openPostgresStore({ connectionString: url, kek: defaultKek });
  const b = await openPostgresStore({ connectionString: url, kek: defaultKek });
  try {
    const cached = withReadCache(b);
    await a.policies.put('resource', 'default', 'v1');
    assert.ok(await eventually(async () => (await cached.policies.get('resource', 'default'))?.text === 'v1'));
    // Drop every listening connection (the pools' connections may go too; they reconnect on use).
    await cluster!.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()");
    assert.ok(await eventually(() => b.changes!.live === false, 2000) || b.changes!.live, 'the feed noticed, or already listens again');
    // Whether or not the feed is back yet, a read never serves what was cached before the gap.
    await cluster!.query('ALTER TABLE feed_down.policies DISABLE TRIGGER policies_changed');
    await a.policies.put('resource', 'default', 'v2');
    await cluster!.query('ALTER TABLE feed_down.policies ENABLE TRIGGER policies_changed');
    assert.ok(await eventually(() => b.changes!.live), 'the feed listens again');
    assert.equal((await cached.policies.get('resource', 'default'))?.text, 'v2');
  } finally {
    await a.close();
    await b.close();
  }
});

test('protocol audit rows appended in one turn share a statement; each caller gets the id of its own row', { skip }, async () => {
  const s = await openPostgresStore({ connectionString: await cluster!.createSchema('audit_batch'), kek: defaultKek });
  try {
    const subjects = Array.from({ length: 250 }, (_, i) => `guest-${i}'"\\; DROP TABLE audit; --`);
    const events = await Promise.all(subjects.map((subject, i) => s.audit.append({ kind: 'kbs.attest', subject, outcome: 'ok', detail: { i } })));
    assert.equal(new Set(events.map((e) => e.id)).size, subjects.length);
    const listed = await s.audit.list({ kind: 'kbs.attest', limit: 1000 });
    assert.equal(listed.length, subjects.length);
    for (const e of listed) {
      const mine = events.find((x) => x.id === e.id)!;
      assert.equal(e.subject, mine.subject);
      assert.deepEqual(e.detail, mine.detail);
    }
    // Chains written as text keep quotes and backslashes as they are.
    const ids = await s.audit.appendChain('kbs.decision', (head) => [
      { time: new Date(), subject: "it's \\ odd", outcome: 'allow', detail: JSON.stringify({ head, q: "'\\" }) },
      { time: new Date(), subject: 'second', outcome: 'deny', detail: '{"n":2}' },
    ]);
    assert.equal(ids.length, 2);
    assert.ok(ids[0] < ids[1]);
    const [second, first] = await s.audit.list({ kind: 'kbs.decision' });
    assert.deepEqual([first.id, first.subject, first.detail], [ids[0], "it's \\ odd", { head: null, q: "'\\" }]);
    assert.deepEqual([second.id, second.subject], [ids[1], 'second']);
    await assert.rejects(
      s.audit.appendChain('kbs.decision', () => [{ time: new Date(), subject: 's', outcome: 'allow', detail: '"\u0000"' }]),
      (e: unknown) => e instanceof Error && /NUL/.test(e.message),
    );
    assert.equal((await s.audit.list({ kind: 'kbs.decision' })).length, 2, 'the refused chain appended nothing');
  } finally {
    await s.close();
  }
});

test('a replica holds the attested sessions it saw until one is deleted anywhere; authed sessions are always read', { skip }, async () => {
  const url = await cluster!.createSchema('held_sessions');
  const t0 = Date.parse('2026-03-01T12:00:00.000Z');
  let t = t0;
  const now = () => new Date(t);
  const a = await openPostgresStore({ connectionString: url, kek: defaultKek, now });
  const b = await openPostgresStore({ connectionString: url, kek: defaultKek, now });
  const session = (id: string, state: 'authed' | 'attested', token?: string) => ({
    id,
    tee: 'sample',
    nonce: 'bm9uY2U=',
    state,
    ...(token ? { token } : {}),
    createdAt: new Date(t0),
    expiresAt: new Date(t0 + 5 * 60_000),
  });
  try {
    // Authed: another replica's attestation is seen at once.
    await a.sessions.put(session('s1', 'authed'));
    await b.sessions.put(session('s1', 'attested', 'from-b'));
    assert.equal((await a.sessions.get('s1'))?.token, 'from-b');
    // Attested and held: a row changed behind the replica's back (which the KBS never does) is not read again…
    await b.sessions.put(session('s1', 'attested', 'rewritten'));
    assert.equal((await a.sessions.get('s1'))?.token, 'from-b');
    const copy = (await a.sessions.get('s1'))!;
    copy.token = 'mutated by a caller';
    assert.equal((await a.sessions.get('s1'))?.token, 'from-b', 'a caller gets its own copy');
    // …until a deletion anywhere is announced: a sweep that deletes nothing is silent, one that deletes is not.
    await b.sessions.put({ ...session('short', 'authed'), expiresAt: new Date(t0 + 1000) });
    assert.deepEqual(await b.sweepExpired(), { sessions: 0, nonces: 0 });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await a.sessions.get('s1'))?.token, 'from-b');
    t += 2000;
    assert.deepEqual(await b.sweepExpired(), { sessions: 1, nonces: 0 });
    assert.ok(await eventually(async () => (await a.sessions.get('s1'))?.token === 'rewritten'), 'the deletion dropped the held session');
    // A deletion of the held session itself on another replica.
    assert.equal(await b.sessions.delete('s1'), true);
    assert.ok(await eventually(async () => (await a.sessions.get('s1')) === undefined), 'the deleted session is gone on the other replica');
    // A held session expires on its own clock.
    await a.sessions.put(session('s2', 'attested', 'tok'));
    assert.equal((await a.sessions.get('s2'))?.token, 'tok');
    t = t0 + 5 * 60_000;
    assert.equal(await a.sessions.get('s2'), undefined);
    assert.equal(await b.sessions.get('s2'), undefined);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a replica holds sealed resource values until any replica writes resources; its own writes show at once', { skip }, async () => {
  const url = await cluster!.createSchema('held_resources');
  const a = await openPostgresStore({ connectionString: url, kek: defaultKek });
  const b = await openPostgresStore({ connectionString: url, kek: defaultKek });
  const K = { repository: 'r', type: 't', tag: 'g' };
  const text = async (s: typeof a) => {
    const v = await s.resources.get(K);
    return v === undefined ? undefined : Buffer.from(v).toString();
  };
  try {
    assert.equal(await text(b), undefined);
    await a.resources.put(K, Buffer.from('v1'));
    assert.equal(await text(a), 'v1', 'a replica reads its own write at once');
    assert.ok(await eventually(async () => (await text(b)) === 'v1'), 'the held absence is dropped by the announcement');
    // Held: a write the database takes without an announcement is not seen…
    await cluster!.query('ALTER TABLE held_resources.resources DISABLE TRIGGER resources_changed');
    await a.resources.put(K, Buffer.from('v2'));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await text(b), 'v1');
    await cluster!.query('ALTER TABLE held_resources.resources ENABLE TRIGGER resources_changed');
    // …until an announced write, in a transaction too.
    await a.transaction((tx) => tx.resources.put(K, Buffer.from('v3')));
    assert.equal(await text(a), 'v3');
    assert.ok(await eventually(async () => (await text(b)) === 'v3'));
    await a.resources.delete(K);
    assert.equal(await text(a), undefined);
    assert.ok(await eventually(async () => (await text(b)) === undefined));
    // A key rotation re-seals every value: the replica that rotates drops what it holds with the old key.
    await a.resources.put(K, Buffer.from('v4'));
    assert.equal(await text(a), 'v4');
    await b.close();
    await a.rotateKek(new Uint8Array(32).fill(9));
    assert.equal(await text(a), 'v4');
  } finally {
    await a.close();
    await b.close();
  }
});
