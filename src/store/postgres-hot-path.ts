/**
 * The request path on PostgreSQL (see hot-path.ts for what it covers and why its commits are relaxed): every
 * statement is a named prepared statement, parsed and planned once per pooled connection and then only bound
 * and executed — no query building per call in this process and no re-parsing in the server.
 *
 * The pool this runs on opens its sessions with `synchronous_commit = off` (postgres.ts).
 */
import type pg from 'pg';
import type { HotAuditRow, HotKeep, HotPath } from './hot-path.js';
import type { ChangeFeed } from './store.js';
import type { Int64 } from './schema.js';

/** Key of the PostgreSQL advisory lock that serialises chain appends across replicas (same as hot-path.ts). */
const CHAIN_LOCK_KEY = 0x636f636f;

/**
 * Statement names are per connection; the `cocokit_hot_` prefix keeps them apart from any other prepared
 * statement a shared pool might carry. A changed text must get a new name (a connection keeps the old plan).
 */
const Q = {
  sessionGet: { name: 'cocokit_hot_session_get_1', text: 'SELECT expires_at, body FROM sessions WHERE id = $1' },
  sessionPut: {
    name: 'cocokit_hot_session_put_1',
    text: 'INSERT INTO sessions (id, expires_at, body) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, body = excluded.body',
  },
  sessionDeleteExpired: { name: 'cocokit_hot_session_delete_expired_1', text: 'DELETE FROM sessions WHERE id = $1 AND expires_at <= $2' },
  sessionDelete: { name: 'cocokit_hot_session_delete_1', text: 'DELETE FROM sessions WHERE id = $1' },
  nonceInsert: {
    name: 'cocokit_hot_nonce_insert_1',
    text: 'INSERT INTO nonces (nonce_hash, expires_at) VALUES ($1, $2) ON CONFLICT (nonce_hash) DO NOTHING',
  },
  auditInsert: {
    name: 'cocokit_hot_audit_insert_1',
    text: 'INSERT INTO audit (time, kind, subject, outcome, detail) VALUES ($1, $2, $3, $4, $5) RETURNING id',
  },
  resourceGet: {
    name: 'cocokit_hot_resource_get_1',
    text: 'SELECT value FROM resources WHERE namespace = $1 AND repository = $2 AND type = $3 AND tag = $4',
  },
  policyGet: { name: 'cocokit_hot_policy_get_1', text: 'SELECT text, updated_at FROM policies WHERE kind = $1 AND id = $2' },
} as const;

type Statement = (typeof Q)[keyof typeof Q];

/** Rows written by one multi-row INSERT at most; a larger batch is split. */
const AUDIT_BATCH_ROWS = 100;

/**
 * A literal for a statement sent as text (the simple query protocol, which alone lets several statements
 * share one round trip). NUL cannot be written into PostgreSQL text, and would end the statement early: refused.
 */
function literal(client: pg.PoolClient, v: string | null): string {
  if (v === null) return 'NULL';
  if (v.includes('\u0000')) throw new Error('audit text must not contain NUL characters');
  return client.escapeLiteral(v);
}

function integer(v: number): string {
  if (!Number.isSafeInteger(v)) throw new Error(`audit time ${String(v)} is not an integer`);
  return String(v);
}

/** Sealed resource values held per replica (postgres.ts passes the change feed): how many, and how large each. */
const HELD_RESOURCES = 10_000;
const HELD_RESOURCE_BYTES = 64 * 1024;

/**
 * With `changes`, resource values are held as the database returned them (sealed: the plaintext is never
 * kept) until any replica writes the resources table, which the database announces at commit; absent
 * resources are remembered too. Nothing is held while the feed is down.
 */
export function postgresHotPath(pool: pg.Pool, changes?: ChangeFeed): HotPath & { forgetResources(): void } {
  const heldResources = new Map<string, Uint8Array | undefined>();
  // Moved at every announcement: a read that raced with a write does not hold what it read before it.
  let generation = 0;
  changes?.subscribe((table) => {
    if (table === undefined || table === 'resources') {
      generation++;
      heldResources.clear();
    }
  });
  const run = <R extends pg.QueryResultRow>(q: Statement, values: unknown[], client: pg.Pool | pg.PoolClient = pool) =>
    client.query<R>({ name: q.name, text: q.text, values });
  const insertAudit = async (client: pg.Pool | pg.PoolClient, r: HotAuditRow): Promise<number> => {
    const res = await run<{ id: Int64 }>(Q.auditInsert, [r.time, r.kind, r.subject, r.outcome, r.detail], client);
    return Number(res.rows[0].id);
  };
  /**
   * Several rows in one INSERT. The ids of one statement are drawn in the order of its VALUES rows, so the
   * ascending ids belong to the rows in order.
   */
  const insertAuditRows = async (rows: HotAuditRow[]): Promise<number[]> => {
    if (rows.length === 1) return [await insertAudit(pool, rows[0])];
    const values: unknown[] = [];
    const tuples = rows.map((r, i) => {
      values.push(r.time, r.kind, r.subject, r.outcome, r.detail);
      const b = i * 5;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5})`;
    });
    const res = await pool.query<{ id: Int64 }>(`INSERT INTO audit (time, kind, subject, outcome, detail) VALUES ${tuples.join(', ')} RETURNING id`, values);
    return res.rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  };

  // Audit rows of requests answered in the same turn of the event loop go to the database together: one
  // statement and one commit for all of them. Each caller still gets its row's id once it is committed.
  let queued: Array<{ row: HotAuditRow; resolve: (id: number) => void; reject: (e: unknown) => void }> = [];
  const flushAudit = async (): Promise<void> => {
    const all = queued;
    queued = [];
    for (let i = 0; i < all.length; i += AUDIT_BATCH_ROWS) {
      const batch = all.slice(i, i + AUDIT_BATCH_ROWS);
      try {
        const ids = await insertAuditRows(batch.map((q) => q.row));
        batch.forEach((q, j) => q.resolve(ids[j]));
      } catch {
        // One row the database refuses must not fail the others: each on its own, with its own error.
        await Promise.all(batch.map((q) => insertAudit(pool, q.row).then(q.resolve, q.reject)));
      }
    }
  };

  return {
    /** Drops every held value: for this replica's own writes, which must not wait for their announcement. */
    forgetResources() {
      generation++;
      heldResources.clear();
    },
    async sessionGet(id) {
      return (await run<{ expires_at: Int64; body: Uint8Array }>(Q.sessionGet, [id])).rows[0];
    },
    async sessionPut(id, expiresAt, body) {
      await run(Q.sessionPut, [id, expiresAt, Buffer.from(body.buffer, body.byteOffset, body.byteLength)]);
    },
    async sessionDeleteExpired(id, now) {
      await run(Q.sessionDeleteExpired, [id, now]);
    },
    async sessionDelete(id) {
      return ((await run(Q.sessionDelete, [id])).rowCount ?? 0) > 0;
    },
    async nonceInsert(nonceHash, expiresAt) {
      return (await run(Q.nonceInsert, [nonceHash, expiresAt])).rowCount === 1;
    },
    auditInsert: (row) =>
      new Promise<number>((resolve, reject) => {
        queued.push({ row, resolve, reject });
        if (queued.length === 1) setImmediate(() => void flushAudit());
      }),
    async auditAppendChain(kind, link, keep?: HotKeep) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        // Two round trips in all. The lock is held until the transaction ends, so no other replica reads the
        // head meanwhile; the head is read by a later statement, whose snapshot is taken after the lock was
        // granted. The rows and the commit then go as one text (values written as escaped literals). The keys
        // to keep are looked up in the first trip; one that is missing (rare: a prune deleted it) costs one more.
        const keys = keep?.keys ?? [];
        const opened = (await client.query(
          `BEGIN; SELECT pg_advisory_xact_lock(${CHAIN_LOCK_KEY}); SELECT detail FROM audit WHERE kind = ${literal(client, kind)} ORDER BY id DESC LIMIT 1` +
            (keys.length > 0 ? `; SELECT key FROM kv WHERE key IN (${keys.map((k) => literal(client, k)).join(', ')})` : ''),
        )) as unknown as Array<pg.QueryResult<{ detail: string | null; key: string }>>;
        const rows = link(opened[2].rows[0]?.detail ?? null);
        if (rows.length === 0) {
          await client.query('COMMIT');
          return [];
        }
        if (keep && keys.length > 0) {
          const present = new Set(opened[3].rows.map((r) => r.key));
          const missing = keys.filter((k) => !present.has(k));
          for (const r of missing.length > 0 ? keep.rows(missing) : []) {
            await client.query('INSERT INTO kv (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING', [r.key, r.value, r.updated_at]);
          }
        }
        const tuples = rows.map(
          (r) => `(${integer(r.time)}, ${literal(client, r.kind)}, ${literal(client, r.subject)}, ${literal(client, r.outcome)}, ${literal(client, r.detail)})`,
        );
        const done = (await client.query(
          `INSERT INTO audit (time, kind, subject, outcome, detail) VALUES ${tuples.join(', ')} RETURNING id; COMMIT`,
        )) as unknown as Array<pg.QueryResult<{ id: Int64 }>>;
        // Ids of one statement are drawn in the order of its rows.
        return done[0].rows.map((r) => Number(r.id)).sort((a, b) => a - b);
      } catch (e) {
        // Whatever failed (the link function, a statement, BEGIN itself), the connection goes back to the pool
        // outside any transaction — or not at all when even the rollback fails.
        await client.query('ROLLBACK').catch((re: unknown) => {
          broken = re instanceof Error ? re : new Error(String(re));
        });
        throw e;
      } finally {
        client.release(broken);
      }
    },
    async kvDeleteUnchained(keys, kind, afterId, named) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        // The chain's lock: an append either committed before the rows are read here, or starts after the
        // deletes commit and finds the keys it needs gone.
        const opened = (await client.query(
          `BEGIN; SELECT pg_advisory_xact_lock(${CHAIN_LOCK_KEY}); SELECT detail FROM audit WHERE kind = ${literal(client, kind)} AND id > ${integer(afterId)}`,
        )) as unknown as Array<pg.QueryResult<{ detail: string | null }>>;
        const doomed = new Set(keys);
        for (const r of opened[2].rows) for (const k of named(r.detail)) doomed.delete(k);
        const deleted = doomed.size === 0 ? [] : (await client.query<{ key: string }>('DELETE FROM kv WHERE key = ANY($1::text[]) RETURNING key', [[...doomed]])).rows.map((r) => r.key);
        await client.query('COMMIT');
        return deleted;
      } catch (e) {
        await client.query('ROLLBACK').catch((re: unknown) => {
          broken = re instanceof Error ? re : new Error(String(re));
        });
        throw e;
      } finally {
        client.release(broken);
      }
    },
    async resourceGet(k) {
      const key = `${k.namespace}\u0000${k.repository}\u0000${k.type}\u0000${k.tag}`;
      const live = changes?.live === true;
      if (live && heldResources.has(key)) return heldResources.get(key);
      const g = generation;
      const value = (await run<{ value: Uint8Array }>(Q.resourceGet, [k.namespace, k.repository, k.type, k.tag])).rows[0]?.value;
      if (live && changes.live && g === generation && (value === undefined || value.byteLength <= HELD_RESOURCE_BYTES)) {
        if (heldResources.size >= HELD_RESOURCES) heldResources.delete(heldResources.keys().next().value!);
        heldResources.set(key, value);
      }
      return value;
    },
    async policyGet(kind, id) {
      return (await run<{ text: string; updated_at: Int64 }>(Q.policyGet, [kind, id])).rows[0];
    },
    async close() {
      await flushAudit();
      await pool.end();
    },
  };
}
