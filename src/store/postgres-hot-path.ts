/**
 * The request path on PostgreSQL (see hot-path.ts for what it covers and why its commits are relaxed).
 *
 * A round trip to the server costs this process more than the statement itself: a socket write and a read
 * per query, and the driver's per-query work. So the statements of all requests served in the same turn of the
 * event loop — session reads and writes, nonce test-and-sets, protocol audit rows, a decision chain append —
 * go to the server as one query text, executed as one implicit transaction: one round trip and one commit for
 * all of them. Values are written into that text as literals (the simple query protocol, which alone lets
 * several statements share a round trip). A batch the server refuses is run again statement by statement, so
 * that one refused statement fails alone.
 *
 * A chain append reads the chain's head before it can compute its rows. This replica remembers the head it
 * wrote last, computes the rows from it, and sends them with a guard (the head must still be that row) in the
 * same batch; when another replica appended meanwhile the guard inserts nothing, and the append is done again
 * in a transaction of its own that reads the head under the chain lock. The server-state keys an append must
 * keep (the versions its records name) are part of the guard: when one is missing (a prune deleted it) the
 * guard inserts nothing, and the locked append writes it back with the rows.
 *
 * The pool this runs on opens its sessions with `synchronous_commit = off` (postgres.ts).
 */
import type pg from 'pg';
import type { HotAuditRow, HotChainHead, HotChainRow, HotKeep, HotPath } from './hot-path.js';
import type { ChangeFeed } from './store.js';
import type { Int64 } from './schema.js';

/** Key of the PostgreSQL advisory lock that serialises chain appends across replicas (same as hot-path.ts). */
const CHAIN_LOCK_KEY = 0x636f636f;

/** Audit rows written by one multi-row INSERT at most; more are split. */
const AUDIT_BATCH_ROWS = 100;
/** Operations sent in one query text at most; the rest go in the next batch, on another connection. */
const BATCH_OPS = 256;
/**
 * Batches on their way at once. Statements queued meanwhile wait for one to come back and then go together:
 * under load, fewer and larger batches (group commit); an idle replica sends each turn's batch at once.
 */
const BATCHES_IN_FLIGHT = 2;

/**
 * A string literal. Backslashes and quotes are doubled, in the escape-string form when there is a backslash,
 * which reads the same whatever `standard_conforming_strings` is. PostgreSQL text cannot hold NUL: refused.
 */
export function literal(v: string | null): string {
  if (v === null) return 'NULL';
  if (typeof v !== 'string') throw new TypeError(`expected a string, got ${typeof v}`);
  if (v.includes('\u0000')) throw new TypeError('text values must not contain NUL characters');
  const quoted = v.replaceAll("'", "''");
  return v.includes('\\') ? ` E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

export function integer(v: number): string {
  if (!Number.isSafeInteger(v)) throw new TypeError(`${String(v)} is not an integer`);
  return String(v);
}

function bytea(v: Uint8Array): string {
  return `decode('${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}', 'hex')`;
}

const auditTuple = (r: HotAuditRow): string => `(${integer(r.time)}, ${literal(r.kind)}, ${literal(r.subject)}, ${literal(r.outcome)}, ${literal(r.detail)})`;
const AUDIT_INSERT = 'INSERT INTO audit (time, kind, subject, outcome, detail) VALUES ';

/** One request's statements and what to make of their results. */
interface Op {
  statements: string[];
  /** The rows of an audit INSERT, merged with the other rows of the batch into multi-row statements. */
  audit?: HotAuditRow;
  settle(results: pg.QueryResult[]): unknown;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/** The newest row of a chain as this replica last wrote or read it (with the `head` its appender gave). */
interface Head extends HotChainHead {
  id: number;
}

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

  const query = async (text: string): Promise<pg.QueryResult[]> => {
    const r = (await pool.query(text)) as pg.QueryResult | pg.QueryResult[];
    return Array.isArray(r) ? r : [r];
  };

  const queued: Op[] = [];
  const inFlight = new Set<Promise<void>>();

  /** Each op on its own: its own statements in one query, its own error. */
  const runAlone = async (op: Op): Promise<void> => {
    try {
      const statements = op.audit ? [`${AUDIT_INSERT}${auditTuple(op.audit)} RETURNING id`] : op.statements;
      op.resolve(await op.settle(await query(statements.join(';\n'))));
    } catch (e) {
      op.reject(e);
    }
  };

  const runBatch = async (ops: Op[]): Promise<void> => {
    if (ops.length === 1) return runAlone(ops[0]);
    const rows = ops.filter((o) => o.audit !== undefined);
    const others = ops.filter((o) => o.audit === undefined);
    const statements: string[] = [];
    for (const o of others) statements.push(...o.statements);
    const auditStatements: number[] = [];
    for (let i = 0; i < rows.length; i += AUDIT_BATCH_ROWS) {
      const part = rows.slice(i, i + AUDIT_BATCH_ROWS);
      auditStatements.push(part.length);
      statements.push(`${AUDIT_INSERT}${part.map((o) => auditTuple(o.audit!)).join(', ')} RETURNING id`);
    }
    let results: pg.QueryResult[];
    try {
      results = await query(statements.join(';\n'));
    } catch {
      // The whole batch was rolled back: each op again on its own, so that only a refused one fails.
      await Promise.all(ops.map(runAlone));
      return;
    }
    let at = 0;
    const settled: Array<Promise<void>> = [];
    for (const o of others) {
      const mine = results.slice(at, at + o.statements.length);
      at += o.statements.length;
      settled.push(
        (async () => {
          try {
            o.resolve(await o.settle(mine));
          } catch (e) {
            o.reject(e);
          }
        })(),
      );
    }
    let row = 0;
    for (const n of auditStatements) {
      // The ids of one statement are drawn in the order of its VALUES rows.
      const ids = results[at++].rows.map((r: { id: Int64 }) => Number(r.id)).sort((a, b) => a - b);
      for (let j = 0; j < n; j++) rows[row + j].resolve(ids[j]);
      row += n;
    }
    await Promise.all(settled);
  };

  let scheduled = false;
  const schedule = (): void => {
    if (scheduled || queued.length === 0 || inFlight.size >= BATCHES_IN_FLIGHT) return;
    scheduled = true;
    // A turn later, so the statements of every request of this turn are in the batch.
    setImmediate(flush);
  };
  function flush(): void {
    scheduled = false;
    while (queued.length > 0 && inFlight.size < BATCHES_IN_FLIGHT) {
      const p = runBatch(queued.splice(0, BATCH_OPS)).finally(() => {
        inFlight.delete(p);
        schedule();
      });
      inFlight.add(p);
    }
  }

  /** Queues the statements `build` returns; a value that cannot be written fails this caller alone, at once. */
  const enqueue = <T>(build: () => string[], settle: (results: pg.QueryResult[]) => T | Promise<T>, audit?: HotAuditRow): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const statements = build();
      queued.push({ statements, settle, resolve: resolve as (v: unknown) => void, reject, ...(audit ? { audit } : {}) });
      schedule();
    });

  // -- chains -----------------------------------------------------------------------------------------------

  const heads = new Map<string, Head>();
  /** Appends to one chain from this process follow each other, so each starts from the head the last one wrote. */
  const chainTails = new Map<string, Promise<unknown>>();

  const lastOf = (rows: HotChainRow[], ids: number[]): Head => ({ id: ids[ids.length - 1], detail: rows[rows.length - 1].detail, head: rows[rows.length - 1].head });

  /** The head read under the chain lock, in a transaction of its own (two round trips). */
  const appendLocked = async (kind: string, link: (head: HotChainHead | null) => HotChainRow[], keep?: HotKeep): Promise<number[]> => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      // The lock is held until the transaction ends, so no other replica reads the head meanwhile; the head is
      // read by a later statement, whose snapshot is taken after the lock was granted. The keys to keep are
      // looked up in the same trip; writing those missing (rare: a prune deleted them) costs one more.
      const keys = keep?.keys ?? [];
      const opened = (await client.query(
        `BEGIN; SELECT pg_advisory_xact_lock(${CHAIN_LOCK_KEY}); SELECT id, detail FROM audit WHERE kind = ${literal(kind)} ORDER BY id DESC LIMIT 1` +
          (keys.length > 0 ? `; SELECT key FROM kv WHERE key IN (${keys.map(literal).join(', ')})` : ''),
      )) as unknown as Array<pg.QueryResult<{ id: Int64; detail: string | null; key: string }>>;
      const head = opened[2].rows[0];
      const rows = link(head === undefined ? null : { detail: head.detail });
      if (rows.length === 0) {
        await client.query('COMMIT');
        if (head === undefined) heads.delete(kind);
        else heads.set(kind, { id: Number(head.id), detail: head.detail });
        return [];
      }
      if (keep && keys.length > 0) {
        const present = new Set(opened[3].rows.map((r) => r.key));
        const missing = keys.filter((k) => !present.has(k));
        for (const r of missing.length > 0 ? keep.rows(missing) : []) {
          await client.query('INSERT INTO kv (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING', [r.key, r.value, r.updated_at]);
        }
      }
      const done = (await client.query(`${AUDIT_INSERT}${rows.map(auditTuple).join(', ')} RETURNING id; COMMIT`)) as unknown as Array<pg.QueryResult<{ id: Int64 }>>;
      const ids = done[0].rows.map((r) => Number(r.id)).sort((a, b) => a - b);
      heads.set(kind, lastOf(rows, ids));
      return ids;
    } catch (e) {
      heads.delete(kind);
      // Whatever failed (the link function, a statement, BEGIN itself), the connection goes back to the pool
      // outside any transaction — or not at all when even the rollback fails.
      await client.query('ROLLBACK').catch((re: unknown) => {
        broken = re instanceof Error ? re : new Error(String(re));
      });
      throw e;
    } finally {
      client.release(broken);
    }
  };

  /** With the head this replica knows: the rows in the next batch, guarded by that head still being the newest. */
  const appendGuarded = async (kind: string, link: (head: HotChainHead | null) => HotChainRow[], keep?: HotKeep): Promise<number[]> => {
    const known = heads.get(kind);
    if (known === undefined) return appendLocked(kind, link, keep);
    const rows = link(known);
    // Nothing to append after the head as this replica knows it: the true head decides.
    if (rows.length === 0) return appendLocked(kind, link, keep);
    const keys = [...new Set(keep?.keys ?? [])];
    const kept = keys.length > 0 ? ` AND (SELECT count(*) FROM kv WHERE key IN (${keys.map(literal).join(', ')})) = ${keys.length}` : '';
    const guarded = [
      `SELECT pg_advisory_xact_lock(${CHAIN_LOCK_KEY})`,
      `${AUDIT_INSERT.replace(' VALUES ', ' ')}SELECT * FROM (VALUES ${rows.map(auditTuple).join(', ')}) AS v (time, kind, subject, outcome, detail) ` +
        `WHERE (SELECT id FROM audit WHERE kind = ${literal(kind)} ORDER BY id DESC LIMIT 1) = ${integer(known.id)}${kept} RETURNING id`,
    ];
    const ids = await enqueue(() => guarded, (results) => (results[1].rows as Array<{ id: Int64 }>).map((r) => Number(r.id)).sort((a, b) => a - b));
    if (ids.length === rows.length) {
      heads.set(kind, lastOf(rows, ids));
      return ids;
    }
    // Another replica appended since, or a key to keep is gone: nothing was written; again from the true head.
    heads.delete(kind);
    return appendLocked(kind, link, keep);
  };

  return {
    /** Drops every held value: for this replica's own writes, which must not wait for their announcement. */
    forgetResources() {
      generation++;
      heldResources.clear();
    },
    sessionGet: (id) => enqueue(() => [`SELECT expires_at, body FROM sessions WHERE id = ${literal(id)}`], (r) => r[0].rows[0] as { expires_at: Int64; body: Uint8Array } | undefined),
    sessionGetNonceInsert: (id, nonceHash, now) =>
      enqueue(
        () => [
          `SELECT expires_at, body FROM sessions WHERE id = ${literal(id)}`,
          // The session read and the test-and-set in one round trip; only a live session's attempt records it.
          `INSERT INTO nonces (nonce_hash, expires_at) SELECT ${literal(nonceHash)}, expires_at FROM sessions WHERE id = ${literal(id)} AND expires_at > ${integer(now)} ` +
            'ON CONFLICT (nonce_hash) DO NOTHING',
        ],
        (r) => ({ row: r[0].rows[0] as { expires_at: Int64; body: Uint8Array } | undefined, inserted: r[1].rowCount === 1 }),
      ),
    nonceDelete: (nonceHash) => enqueue(() => [`DELETE FROM nonces WHERE nonce_hash = ${literal(nonceHash)}`], () => undefined),
    sessionPut: (id, expiresAt, body) =>
      enqueue(
        () => [
          `INSERT INTO sessions (id, expires_at, body) VALUES (${literal(id)}, ${integer(expiresAt)}, ${bytea(body)}) ` +
            'ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, body = excluded.body',
        ],
        () => undefined,
      ),
    sessionDeleteExpired: (id, now) => enqueue(() => [`DELETE FROM sessions WHERE id = ${literal(id)} AND expires_at <= ${integer(now)}`], () => undefined),
    sessionDelete: (id) => enqueue(() => [`DELETE FROM sessions WHERE id = ${literal(id)}`], (r) => (r[0].rowCount ?? 0) > 0),
    nonceInsert: (nonceHash, expiresAt) =>
      enqueue(
        () => [`INSERT INTO nonces (nonce_hash, expires_at) VALUES (${literal(nonceHash)}, ${integer(expiresAt)}) ON CONFLICT (nonce_hash) DO NOTHING`],
        (r) => r[0].rowCount === 1,
      ),
    auditInsert: (row) => {
      try {
        // Checked now, so a value that cannot be written fails its own caller and never the batch.
        auditTuple(row);
      } catch (e) {
        return Promise.reject(e);
      }
      return enqueue(() => [], (r) => Number((r[0].rows[0] as { id: Int64 }).id), row);
    },
    auditAppendChain(kind, link, keep?: HotKeep) {
      const previous = chainTails.get(kind) ?? Promise.resolve();
      const mine = previous.catch(() => {}).then(() => appendGuarded(kind, link, keep));
      const tail = mine.catch(() => {});
      chainTails.set(kind, tail);
      void tail.then(() => {
        if (chainTails.get(kind) === tail) chainTails.delete(kind);
      });
      return mine;
    },
    async kvDeleteUnchained(keys, kind, afterId, named) {
      // Under the chain's lock: an append either committed before the rows are read here, or starts after the
      // deletes commit and finds a key it keeps gone (the guard then fails and the locked append writes it back).
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        const opened = (await client.query(
          `BEGIN; SELECT pg_advisory_xact_lock(${CHAIN_LOCK_KEY}); SELECT detail FROM audit WHERE kind = ${literal(kind)} AND id > ${integer(afterId)}`,
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
      const value = await enqueue(
        () => [`SELECT value FROM resources WHERE namespace = ${literal(k.namespace)} AND repository = ${literal(k.repository)} AND type = ${literal(k.type)} AND tag = ${literal(k.tag)}`],
        (r) => (r[0].rows[0] as { value: Uint8Array } | undefined)?.value,
      );
      if (live && changes.live && g === generation && (value === undefined || value.byteLength <= HELD_RESOURCE_BYTES)) {
        if (heldResources.size >= HELD_RESOURCES) heldResources.delete(heldResources.keys().next().value!);
        heldResources.set(key, value);
      }
      return value;
    },
    policyGet: (kind, id) =>
      enqueue(() => [`SELECT text, updated_at FROM policies WHERE kind = ${literal(kind)} AND id = ${literal(id)}`], (r) => r[0].rows[0] as { text: string; updated_at: Int64 } | undefined),
    async close() {
      for (;;) {
        await Promise.all([...chainTails.values()]);
        flush();
        if (inFlight.size === 0 && queued.length === 0 && chainTails.size === 0) break;
        await Promise.all([...inFlight]);
      }
      await pool.end();
    },
  };
}

/** Sealed resource values held per replica (postgres.ts passes the change feed): how many, and how large each. */
const HELD_RESOURCES = 10_000;
const HELD_RESOURCE_BYTES = 64 * 1024;
