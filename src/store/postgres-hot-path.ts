/**
 * The request path on PostgreSQL (see hot-path.ts for what it covers and why its commits are relaxed): every
 * statement is a named prepared statement, parsed and planned once per pooled connection and then only bound
 * and executed — no query building per call in this process and no re-parsing in the server.
 *
 * The pool this runs on opens its sessions with `synchronous_commit = off` (postgres.ts).
 */
import type pg from 'pg';
import type { HotAuditRow, HotPath } from './hot-path.js';
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
  auditHead: { name: 'cocokit_hot_audit_head_1', text: 'SELECT detail FROM audit WHERE kind = $1 ORDER BY id DESC LIMIT 1' },
  resourceGet: {
    name: 'cocokit_hot_resource_get_1',
    text: 'SELECT value FROM resources WHERE namespace = $1 AND repository = $2 AND type = $3 AND tag = $4',
  },
  policyGet: { name: 'cocokit_hot_policy_get_1', text: 'SELECT text, updated_at FROM policies WHERE kind = $1 AND id = $2' },
} as const;

type Statement = (typeof Q)[keyof typeof Q];

export function postgresHotPath(pool: pg.Pool): HotPath {
  const run = <R extends pg.QueryResultRow>(q: Statement, values: unknown[], client: pg.Pool | pg.PoolClient = pool) =>
    client.query<R>({ name: q.name, text: q.text, values });
  const insertAudit = async (client: pg.Pool | pg.PoolClient, r: HotAuditRow): Promise<number> => {
    const res = await run<{ id: Int64 }>(Q.auditInsert, [r.time, r.kind, r.subject, r.outcome, r.detail], client);
    return Number(res.rows[0].id);
  };
  return {
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
    auditInsert: (row) => insertAudit(pool, row),
    async auditAppendChain(kind, link) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        // One round trip for both (simple protocol, no parameters). The lock is held until the transaction
        // ends, so no other replica reads the head meanwhile; the head is read by a later statement, whose
        // snapshot is taken after the lock was granted.
        await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${CHAIN_LOCK_KEY})`);
        const head = await run<{ detail: string | null }>(Q.auditHead, [kind], client);
        const rows = link(head.rows[0]?.detail ?? null);
        // One row per statement keeps the ids in the order of the rows.
        const ids: number[] = [];
        for (const r of rows) ids.push(await insertAudit(client, r));
        await client.query('COMMIT');
        return ids;
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
    async resourceGet(k) {
      return (await run<{ value: Uint8Array }>(Q.resourceGet, [k.namespace, k.repository, k.type, k.tag])).rows[0]?.value;
    },
    async policyGet(kind, id) {
      return (await run<{ text: string; updated_at: Int64 }>(Q.policyGet, [kind, id])).rows[0];
    },
    close: () => pool.end(),
  };
}
