import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { listFilesRecursive, storeContract } from './contract.js';
import type { HotAuditRow, HotChainHead } from './hot-path.js';
import { postgresHotPath } from './postgres-hot-path.js';
import { openPostgresStore, type PostgresStoreOptions } from './postgres.js';
import { withReadCache } from './read-cache.js';
import type { JsonValue } from './store.js';
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

/** The hot path on its own pool over a migrated schema, with the pool's queries counted. */
async function hotPathOn(schema: string) {
  const url = await cluster!.createSchema(schema);
  const store = await openPostgresStore({ connectionString: url, kek: defaultKek });
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const texts: string[] = [];
  const query = pool.query.bind(pool) as (text: string) => Promise<unknown>;
  (pool as unknown as { query: (text: string) => Promise<unknown> }).query = (text: string) => {
    texts.push(text);
    return query(text);
  };
  const hot = postgresHotPath(pool);
  return { url, store, hot, texts, close: async () => Promise.all([hot.close(), store.close()]) };
}

const hotRow = (subject: string, kind = 'kbs.test'): HotAuditRow => ({ time: Date.now(), kind, subject, outcome: 'ok', detail: JSON.stringify({ subject }) });

test('the statements of one turn go to the server as one query text; each caller gets its own answer', { skip }, async () => {
  const h = await hotPathOn('hot_batch');
  try {
    const nOf = (head: HotChainHead | null): number | null => (head === null ? null : (JSON.parse(head.detail!) as { n: number }).n);
    const chain = (kind: string) => (head: HotChainHead | null) => [{ ...hotRow('link', kind), detail: JSON.stringify({ after: nOf(head), n: (nOf(head) ?? 0) + 1 }) }];
    // The first chain append reads the head in a transaction of its own; afterwards this replica knows it.
    await h.hot.auditAppendChain('kbs.decision', chain('kbs.decision'));
    h.texts.length = 0;
    const body = (i: number) => new Uint8Array([i, 0, 255, 39, 92]);
    const [puts, nonces, again, audit, ids] = await Promise.all([
      Promise.all([0, 1, 2].map((i) => h.hot.sessionPut(`s${i}`, 1000 + i, body(i)))),
      Promise.all(['n0', 'n1', 'n1'].map((n) => h.hot.nonceInsert(n, 5000))),
      h.hot.sessionGet('s1'),
      Promise.all(["it's", 'back\\slash', 'plain'].map((s) => h.hot.auditInsert(hotRow(s)))),
      h.hot.auditAppendChain('kbs.decision', chain('kbs.decision')),
    ]);
    assert.equal(h.texts.length, 1, 'one round trip for the whole turn');
    assert.deepEqual(puts, [undefined, undefined, undefined]);
    assert.deepEqual(nonces, [true, true, false], 'a nonce twice in one batch: the second is a reuse');
    assert.equal(Number(again!.expires_at), 1001, 'a read after a write in the same batch sees it');
    assert.deepEqual([...again!.body], [...body(1)]);
    assert.equal(new Set(audit).size, 3);
    const rows = (await h.store.audit.list({ kind: 'kbs.test' })).reverse();
    assert.deepEqual(rows.map((r) => [r.id, r.subject]), audit.map((id, i) => [id, ["it's", 'back\\slash', 'plain'][i]]));
    assert.equal(ids.length, 1);
    const decisions = await h.store.audit.list({ kind: 'kbs.decision' });
    assert.deepEqual(decisions.map((d) => d.detail), [{ after: 1, n: 2 }, { after: null, n: 1 }]);
    assert.equal(decisions[0].id, ids[0]);
  } finally {
    await h.close();
  }
});

test('a statement the server refuses fails alone; the rest of its batch is written', { skip }, async () => {
  const h = await hotPathOn('hot_refused');
  try {
    await cluster!.query('ALTER TABLE hot_refused.audit ADD CONSTRAINT short_subject CHECK (length(subject) <= 8)');
    await cluster!.query('ALTER TABLE hot_refused.sessions ADD CONSTRAINT short_id CHECK (length(id) <= 8)');
    const results = await Promise.allSettled([
      h.hot.auditInsert(hotRow('ok1')),
      h.hot.auditInsert(hotRow('far too long a subject')),
      h.hot.sessionPut('fine', 1, new Uint8Array([1])),
      h.hot.sessionPut('far too long an id', 1, new Uint8Array([1])),
      h.hot.nonceInsert('n', 5000),
      h.hot.auditInsert(hotRow('ok2')),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /short_subject/);
    assert.match(String((results[3] as PromiseRejectedResult).reason), /short_id/);
    assert.deepEqual((await h.store.audit.list({ kind: 'kbs.test' })).map((r) => r.subject).sort(), ['ok1', 'ok2']);
    assert.notEqual(await h.hot.sessionGet('fine'), undefined);
    assert.equal(await h.hot.nonceInsert('n', 5000), false, 'the nonce of the refused batch was recorded once');
    // Values that cannot be written at all fail their caller before anything is sent.
    await assert.rejects(h.hot.auditInsert({ ...hotRow('nul'), detail: '"\u0000"' }), /NUL/);
    await assert.rejects(h.hot.auditInsert({ ...hotRow('t'), time: 1.5 }), /not an integer/);
  } finally {
    await h.close();
  }
});

test('a nonce is consumed once across replicas, whichever batch carries it', { skip }, async () => {
  const url = await cluster!.createSchema('nonce_replicas');
  const a = await openPostgresStore({ connectionString: url, kek: defaultKek });
  const b = await openPostgresStore({ connectionString: url, kek: defaultKek });
  try {
    const until = new Date(Date.now() + 60_000);
    const nonces = Array.from({ length: 40 }, (_, i) => `nonce-${i}-${'x'.repeat(i)}`);
    // Each nonce three times on each replica, all in flight at once.
    const tries = await Promise.all(nonces.flatMap((n) => [a, b, a, b, a, b].map(async (s) => ({ n, ok: await s.nonces.consume(n, until) }))));
    for (const n of nonces) assert.equal(tries.filter((t) => t.n === n && t.ok).length, 1, n);
    assert.equal(await a.nonces.consume(nonces[0], until), false);
    assert.equal(await b.nonces.consume('fresh', until), true);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a replica that knows a stale chain head appends nothing on it: it reads the true head and links to it', { skip }, async () => {
  const url = await cluster!.createSchema('chain_replicas');
  const a = await openPostgresStore({ connectionString: url, kek: defaultKek });
  const b = await openPostgresStore({ connectionString: url, kek: defaultKek });
  const seqOf = (head: JsonValue | null) => (head === null ? 0 : (head as { seq: number }).seq);
  const next = (who: string, count = 1) => (head: JsonValue | null) =>
    Array.from({ length: count }, (_, i) => ({ time: new Date(), subject: who, outcome: 'allow', detail: JSON.stringify({ seq: seqOf(head) + i + 1, prev: seqOf(head) + i }) }));
  try {
    await a.audit.appendChain('kbs.decision', next('a'));
    await a.audit.appendChain('kbs.decision', next('a', 2));
    await b.audit.appendChain('kbs.decision', next('b'));
    // `a` last wrote seq 3 and knows nothing of b's seq 4.
    await Promise.all([a.audit.appendChain('kbs.decision', next('a')), a.audit.appendChain('kbs.decision', next('a', 3)), b.audit.appendChain('kbs.decision', next('b'))]);
    await a.audit.appendChain('kbs.decision', next('a'));
    const chain = (await a.audit.list({ kind: 'kbs.decision', limit: 100 })).reverse();
    assert.deepEqual(chain.map((e) => e.detail), chain.map((_, i) => ({ seq: i + 1, prev: i })));
    assert.equal(chain.length, 10);
  } finally {
    await a.close();
    await b.close();
  }
});

test('while two batches are on their way the next turns wait and then go as one batch', { skip }, async () => {
  const h = await hotPathOn('hot_group');
  const blocker = new pg.Client({ connectionString: h.url });
  await blocker.connect();
  try {
    await h.hot.sessionPut('x', 1, new Uint8Array([1]));
    await blocker.query('BEGIN');
    await blocker.query("SELECT id FROM sessions WHERE id = 'x' FOR UPDATE");
    h.texts.length = 0;
    const turn = () => new Promise((r) => setImmediate(r));
    const blocked = [h.hot.sessionPut('x', 2, new Uint8Array([2]))];
    await turn();
    await turn();
    blocked.push(h.hot.sessionPut('x', 3, new Uint8Array([3])));
    await turn();
    await turn();
    const later: Array<Promise<boolean>> = [];
    for (const n of ['a', 'b', 'c']) {
      later.push(h.hot.nonceInsert(n, 5000));
      await turn();
      await turn();
    }
    assert.equal(h.texts.length, 2, 'two batches sent, the later turns held back');
    await blocker.query('COMMIT');
    assert.deepEqual(await Promise.all(later), [true, true, true]);
    await Promise.all(blocked);
    assert.equal(h.texts.length, 3, 'the held-back turns went as one batch');
    assert.match(h.texts[2], /'a'[\s\S]*'b'[\s\S]*'c'/);
  } finally {
    await blocker.end();
    await h.close();
  }
});
