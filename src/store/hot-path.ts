/**
 * The statements every attestation request runs: session reads and writes, the nonce test-and-set, audit rows
 * of the protocol (`kbs.*`), and the resource and policy reads of a resource GET.
 *
 * They run on their own connection(s) with relaxed durability — committed, atomic and visible to every other
 * connection and replica at once, but not synced to disk before the request is answered:
 * - SQLite: a second connection with `synchronous = NORMAL` (in WAL mode a commit only appends to the WAL;
 *   the sync happens at checkpoints, which a worker thread runs, see sqlite.ts), with statements prepared once;
 * - PostgreSQL: a pool whose sessions run with `synchronous_commit = off`, the statements of one turn of the
 *   event loop sent as one query text (postgres-hot-path.ts).
 * A crash of the KBS process loses nothing; a power loss may lose the last fraction of a second of sessions,
 * nonce records and protocol audit rows — never an admin write, which stays on the durable connection and is
 * synced before it is acknowledged. Losing a session only forces the guest to run `/auth` again. Losing a nonce
 * record is harmless for the same reason: a WAL is replayed as a prefix, so the session update that followed
 * the nonce is lost with it, and a nonce is only accepted together with the session that issued it.
 */
import { sql, type Kysely } from 'kysely';
import type Sqlite from 'better-sqlite3';
import type { Database, Int64 } from './schema.js';

export interface HotResourceKey {
  namespace: string;
  repository: string;
  type: string;
  tag: string;
}

export interface HotAuditRow {
  time: number;
  kind: string;
  subject: string;
  outcome: string;
  detail: string | null;
}

/** A row a chain append writes; `head` is what the next link gets for it while it is the chain's newest row. */
export interface HotChainRow extends HotAuditRow {
  head?: unknown;
}

/**
 * The newest row of a chain as a link gets it: its detail, and, when this process appended it and nothing
 * newer of its kind was written since (checked under the write lock), the `head` its appender gave: the link
 * then need not parse the detail.
 */
export interface HotChainHead {
  detail: string | null;
  head?: unknown;
}

/** A server-state row (its value sealed) a chain append writes when its key holds none. */
export interface HotKvRow {
  key: string;
  value: Buffer;
  updated_at: number;
}

/** Server-state keys a chain append makes sure exist, in its transaction: `rows` gets those missing. */
export interface HotKeep {
  keys: readonly string[];
  rows(missing: string[]): HotKvRow[];
}

export interface HotPath {
  sessionGet(id: string): Promise<{ expires_at: Int64; body: Uint8Array } | undefined>;
  sessionPut(id: string, expiresAt: number, body: Uint8Array): Promise<void>;
  /** Deletes the session only while it is still expired at `now` (a concurrent refresh wins). */
  sessionDeleteExpired(id: string, now: number): Promise<void>;
  sessionDelete(id: string): Promise<boolean>;
  /** Inserts the nonce record; true when this call inserted it (the primary key is the atomic test-and-set). */
  nonceInsert(nonceHash: string, expiresAt: number): Promise<boolean>;
  /**
   * `sessionGet`, and the nonce record inserted until the session's expiry when the session is there and
   * has not expired at `now`: `inserted` as `nonceInsert` answers (false when there is no such session).
   */
  sessionGetNonceInsert(id: string, nonceHash: string, now: number): Promise<{ row: { expires_at: Int64; body: Uint8Array } | undefined; inserted: boolean }>;
  /** Deletes a nonce record (one `sessionGetNonceInsert` wrote for a nonce that was not the session's). */
  nonceDelete(nonceHash: string): Promise<void>;
  auditInsert(row: HotAuditRow): Promise<number>;
  /**
   * Appends rows that extend a chain, under the database's write lock from reading the head to the commit:
   * `link` gets the newest row of `kind` (null when there is none) and returns the rows to append after it,
   * in order. Returns their ids in order. The keys of `keep` that hold no server state are written in the
   * same transaction.
   */
  auditAppendChain(kind: string, link: (head: HotChainHead | null) => HotChainRow[], keep?: HotKeep): Promise<number[]>;
  /**
   * Under the same lock, deletes the server-state `keys` that no row of chain `kind` with an id above
   * `afterId` names (`named` lists the keys a row's detail names). Returns the keys deleted.
   */
  kvDeleteUnchained(keys: readonly string[], kind: string, afterId: number, named: (detail: string | null) => Iterable<string>): Promise<string[]>;
  resourceGet(k: HotResourceKey): Promise<Uint8Array | undefined>;
  policyGet(kind: string, id: string): Promise<{ text: string; updated_at: Int64 } | undefined>;
  close(): Promise<void>;
}

/** Key of the PostgreSQL advisory lock that serialises chain appends across replicas (any fixed number). */
const CHAIN_LOCK_KEY = 0x636f636f;

/**
 * The hot path over any kysely database: the view a store transaction hands out (SQLite's and PostgreSQL's
 * own hot paths use prepared statements, sqliteHotPath below and postgres-hot-path.ts).
 */
export function kyselyHotPath(db: Kysely<Database>, close: () => Promise<void> = async () => {}, dialect: 'sqlite' | 'postgres' = 'postgres'): HotPath {
  // PostgreSQL: the lock is held until the transaction ends, so no other replica reads the head meanwhile.
  // SQLite (a store transaction): the transaction already holds the only connection of this store.
  const lock = async (trx: Kysely<Database>): Promise<void> => {
    if (dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(${CHAIN_LOCK_KEY})`.execute(trx);
  };
  const appendChain = async (trx: Kysely<Database>, kind: string, link: (head: HotChainHead | null) => HotChainRow[], keep?: HotKeep): Promise<number[]> => {
    await lock(trx);
    const head = await trx.selectFrom('audit').select('detail').where('kind', '=', kind).orderBy('id', 'desc').limit(1).executeTakeFirst();
    const rows = link(head === undefined ? null : { detail: head.detail });
    if (rows.length === 0) return [];
    // One row per statement keeps the ids in the order of the rows.
    const ids: number[] = [];
    for (const { time, kind: k, subject, outcome, detail } of rows) {
      ids.push(Number((await trx.insertInto('audit').values({ time, kind: k, subject, outcome, detail }).returning('id').executeTakeFirstOrThrow()).id));
    }
    if (keep && keep.keys.length > 0) {
      const present = new Set((await trx.selectFrom('kv').select('key').where('key', 'in', [...keep.keys]).execute()).map((r) => r.key));
      const missing = keep.keys.filter((k) => !present.has(k));
      if (missing.length > 0) await trx.insertInto('kv').values(keep.rows(missing)).onConflict((oc) => oc.column('key').doNothing()).execute();
    }
    return ids;
  };
  const deleteUnchained = async (trx: Kysely<Database>, keys: readonly string[], kind: string, afterId: number, named: (detail: string | null) => Iterable<string>): Promise<string[]> => {
    await lock(trx);
    const doomed = new Set(keys);
    for (const r of await trx.selectFrom('audit').select('detail').where('kind', '=', kind).where('id', '>', afterId).execute()) for (const k of named(r.detail)) doomed.delete(k);
    const out: string[] = [];
    for (const k of doomed) if (Number((await trx.deleteFrom('kv').where('key', '=', k).executeTakeFirst()).numDeletedRows) > 0) out.push(k);
    return out;
  };
  const nonceInsert = async (nonceHash: string, expiresAt: number): Promise<boolean> => {
    const r = await db
      .insertInto('nonces')
      .values({ nonce_hash: nonceHash, expires_at: expiresAt })
      .onConflict((oc) => oc.column('nonce_hash').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  };
  return {
    sessionGet: (id) => db.selectFrom('sessions').select(['expires_at', 'body']).where('id', '=', id).executeTakeFirst(),
    async sessionPut(id, expiresAt, body) {
      const b = Buffer.from(body);
      await db
        .insertInto('sessions')
        .values({ id, expires_at: expiresAt, body: b })
        .onConflict((oc) => oc.column('id').doUpdateSet({ expires_at: expiresAt, body: b }))
        .execute();
    },
    async sessionDeleteExpired(id, now) {
      await db.deleteFrom('sessions').where('id', '=', id).where('expires_at', '<=', now).execute();
    },
    async sessionDelete(id) {
      const r = await db.deleteFrom('sessions').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    nonceInsert,
    async nonceDelete(nonceHash) {
      await db.deleteFrom('nonces').where('nonce_hash', '=', nonceHash).execute();
    },
    async sessionGetNonceInsert(id, nonceHash, now) {
      const row = await db.selectFrom('sessions').select(['expires_at', 'body']).where('id', '=', id).executeTakeFirst();
      return { row, inserted: row !== undefined && Number(row.expires_at) > now ? await nonceInsert(nonceHash, Number(row.expires_at)) : false };
    },
    async auditInsert(row) {
      const r = await db.insertInto('audit').values(row).returning('id').executeTakeFirstOrThrow();
      return Number(r.id);
    },
    auditAppendChain: (kind, link, keep) => (db.isTransaction ? appendChain(db, kind, link, keep) : db.transaction().execute((trx) => appendChain(trx, kind, link, keep))),
    kvDeleteUnchained: (keys, kind, afterId, named) =>
      db.isTransaction ? deleteUnchained(db, keys, kind, afterId, named) : db.transaction().execute((trx) => deleteUnchained(trx, keys, kind, afterId, named)),
    async resourceGet(k) {
      const row = await db
        .selectFrom('resources')
        .select('value')
        .where('namespace', '=', k.namespace)
        .where('repository', '=', k.repository)
        .where('type', '=', k.type)
        .where('tag', '=', k.tag)
        .executeTakeFirst();
      return row?.value;
    },
    policyGet: (kind, id) => db.selectFrom('policies').select(['text', 'updated_at']).where('kind', '=', kind).where('id', '=', id).executeTakeFirst(),
    close,
  };
}

/**
 * The hot path on a dedicated better-sqlite3 connection: statements prepared once (no query building per
 * call), and `synchronous = NORMAL` on this connection only — SQLite keeps the setting per connection, so the
 * admin connection beside it still syncs every commit.
 */
export function sqliteHotPath(conn: Sqlite.Database): HotPath {
  const s = {
    sessionGet: conn.prepare<[string], { expires_at: number; body: Buffer }>('SELECT expires_at, body FROM sessions WHERE id = ?'),
    sessionPut: conn.prepare('INSERT INTO sessions (id, expires_at, body) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, body = excluded.body'),
    sessionDeleteExpired: conn.prepare('DELETE FROM sessions WHERE id = ? AND expires_at <= ?'),
    sessionDelete: conn.prepare('DELETE FROM sessions WHERE id = ?'),
    nonceInsert: conn.prepare('INSERT INTO nonces (nonce_hash, expires_at) VALUES (?, ?) ON CONFLICT (nonce_hash) DO NOTHING'),
    nonceDelete: conn.prepare('DELETE FROM nonces WHERE nonce_hash = ?'),
    auditInsert: conn.prepare('INSERT INTO audit (time, kind, subject, outcome, detail) VALUES (?, ?, ?, ?, ?)'),
    resourceGet: conn.prepare<[string, string, string, string], { value: Buffer }>(
      'SELECT value FROM resources WHERE namespace = ? AND repository = ? AND type = ? AND tag = ?',
    ),
    policyGet: conn.prepare<[string, string], { text: string; updated_at: number }>('SELECT text, updated_at FROM policies WHERE kind = ? AND id = ?'),
    auditHead: conn.prepare<[string], { id: number; detail: string | null }>('SELECT id, detail FROM audit WHERE kind = ? ORDER BY id DESC LIMIT 1'),
    // From the newest row down to the known head only (the rowid range): the rows written since it, a few.
    auditNewestFrom: conn.prepare<[string, number], { id: number }>('SELECT id FROM audit WHERE kind = ? AND id >= ? ORDER BY id DESC LIMIT 1'),
    auditAfter: conn.prepare<[string, number], { detail: string | null }>('SELECT detail FROM audit WHERE kind = ? AND id > ?'),
    kvHas: conn.prepare<[string], { one: number }>('SELECT 1 AS one FROM kv WHERE key = ?'),
    kvInsert: conn.prepare('INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING'),
    kvDelete: conn.prepare('DELETE FROM kv WHERE key = ?'),
  };
  // The writes of requests answered in the same turn of the event loop — session rows, nonce records, audit
  // rows and chain appends — are committed together: one transaction and one WAL append for all of them
  // instead of one per statement. Each caller gets its statement's result once it is committed.
  // `alone` runs the statement in a transaction of its own, when the batch it was in failed.
  type Op = { run: () => unknown; alone?: () => unknown; resolve: (v: never) => void; reject: (e: unknown) => void };
  let queued: Op[] = [];
  const insertRow = (r: HotAuditRow): number => Number(s.auditInsert.run(r.time, r.kind, r.subject, r.outcome, r.detail).lastInsertRowid);
  type KnownHead = { id: number } & HotChainHead;
  /**
   * The newest row of each chain as this connection last appended or read it. Other processes may append to
   * the same file (`kbs serve --workers N`), so it is used only when, under the write lock, no row of its kind
   * is newer and it is still there (ids are never reused: AUTOINCREMENT); else the head is read.
   */
  const heads = new Map<string, KnownHead>();
  /** The heads the open transaction appended: certainly the newest (the lock is held), known after its commit. */
  const pending = new Map<string, KnownHead | undefined>();
  const headOf = (kind: string): KnownHead | undefined => {
    if (pending.has(kind)) return pending.get(kind);
    const known = heads.get(kind);
    if (known !== undefined && s.auditNewestFrom.get(kind, known.id)?.id === known.id) return known;
    return s.auditHead.get(kind);
  };
  const chainRows = (kind: string, link: (head: HotChainHead | null) => HotChainRow[], keep?: HotKeep): number[] => {
    const head = headOf(kind);
    const rows = link(head ?? null);
    const ids = rows.map(insertRow);
    if (ids.length > 0 && keep && keep.keys.length > 0) {
      const missing = keep.keys.filter((k) => s.kvHas.get(k) === undefined);
      if (missing.length > 0) for (const r of keep.rows(missing)) s.kvInsert.run(r.key, r.value, r.updated_at);
    }
    const last = rows[rows.length - 1];
    pending.set(kind, last === undefined ? head : { id: ids[ids.length - 1], detail: last.detail, head: last.head });
    return ids;
  };
  // BEGIN IMMEDIATE takes the database's write lock before any chain head is read: another process appending
  // to the same chain waits (busy_timeout) instead of linking to the same head.
  const batch = conn.transaction((runs: Array<() => unknown>) => runs.map((run) => run()));
  /** Runs statements in one transaction; after the commit the heads it appended are known, after a failure none. */
  const commit = (runs: Array<() => unknown>): unknown[] => {
    try {
      const results = batch.immediate(runs);
      for (const [kind, head] of pending) {
        if (head === undefined) heads.delete(kind);
        else heads.set(kind, head);
      }
      return results;
    } catch (e) {
      for (const kind of pending.keys()) heads.delete(kind);
      throw e;
    } finally {
      pending.clear();
    }
  };
  // The same write lock: a chain append either committed before the rows are read here, or starts after the
  // deletes and finds the keys it needs gone.
  const deleteUnchained = conn.transaction((keys: readonly string[], kind: string, afterId: number, named: (detail: string | null) => Iterable<string>): string[] => {
    const doomed = new Set(keys);
    for (const r of s.auditAfter.iterate(kind, afterId)) for (const k of named(r.detail)) doomed.delete(k);
    return [...doomed].filter((k) => s.kvDelete.run(k).changes > 0);
  });
  /** One statement the database refuses must not fail the others: each on its own, with its own error. */
  const runAlone = (ops: Op[]): void => {
    for (const o of ops) {
      try {
        o.resolve((o.alone ?? o.run)() as never);
      } catch (e) {
        o.reject(e);
      }
    }
  };
  const flush = (): void => {
    const ops = queued;
    queued = [];
    if (ops.length === 0) return;
    if (!conn.open) {
      for (const o of ops) o.reject(new TypeError('The database connection is not open'));
      return;
    }
    let results: unknown[];
    try {
      results = commit(ops.map((o) => o.run));
    } catch {
      runAlone(ops);
      return;
    }
    ops.forEach((o, i) => o.resolve(results[i] as never));
  };
  const enqueue = <T>(run: () => T, alone?: () => T): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queued.push({ run, alone, resolve: resolve as (v: never) => void, reject });
      if (queued.length === 1) setImmediate(flush);
    });
  return {
    sessionGet: async (id) => s.sessionGet.get(id),
    sessionPut: (id, expiresAt, body) => enqueue(() => void s.sessionPut.run(id, expiresAt, Buffer.from(body.buffer, body.byteOffset, body.byteLength))),
    sessionDeleteExpired: (id, now) => enqueue(() => void s.sessionDeleteExpired.run(id, now)),
    sessionDelete: (id) => enqueue(() => s.sessionDelete.run(id).changes > 0),
    nonceInsert: (hash, expiresAt) => enqueue(() => s.nonceInsert.run(hash, expiresAt).changes === 1),
    nonceDelete: (hash) => enqueue(() => void s.nonceDelete.run(hash)),
    async sessionGetNonceInsert(id, hash, now) {
      const row = s.sessionGet.get(id);
      return { row, inserted: row !== undefined && row.expires_at > now ? await enqueue(() => s.nonceInsert.run(hash, row.expires_at).changes === 1) : false };
    },
    auditInsert: (row) => enqueue(() => insertRow(row)),
    // Appends queued in the same turn share the transaction, each linked to the one before it.
    auditAppendChain: (kind, link, keep) =>
      enqueue(
        () => chainRows(kind, link, keep),
        () => commit([() => chainRows(kind, link, keep)])[0] as number[],
      ),
    kvDeleteUnchained: async (keys, kind, afterId, named) => deleteUnchained.immediate(keys, kind, afterId, named),
    resourceGet: async (k) => s.resourceGet.get(k.namespace, k.repository, k.type, k.tag)?.value,
    policyGet: async (kind, id) => s.policyGet.get(kind, id),
    async close() {
      flush();
      if (conn.open) conn.close();
    },
  };
}
