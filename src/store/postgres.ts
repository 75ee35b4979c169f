/**
 * PostgreSQL, for several KBS replicas serving one deployment: every replica opens the same database and any
 * of them can serve any request (docs/ARCHITECTURE.md "Storage"). The KEK must be the same on every replica
 * and is never stored in the database.
 */
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { CocoError } from '../errors.js';
import { loadKek } from './kek.js';
import type { Database } from './schema.js';
import { changeFeed } from './postgres-changes.js';
import { postgresHotPath } from './postgres-hot-path.js';
import { withReplicaHolds } from './postgres-sessions.js';
import { openSqlStore } from './sql-store.js';
import type { KekSource, Store } from './store.js';

export interface PostgresStoreOptions {
  /** A libpq-style URL, e.g. `postgresql://kbs@db.internal/kbs` or `postgresql://u@/db?host=/run/postgresql`. */
  connectionString: string;
  /** Required: a database shared by replicas has no data directory to keep a key in. */
  kek: KekSource;
  now?: () => Date;
  /** Pool size per replica (default 10). */
  maxConnections?: number;
}

export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  if (typeof options !== 'object' || options === null || typeof options.connectionString !== 'string' || options.connectionString === '') {
    throw new CocoError('STORE_ARGUMENT', 'openPostgresStore needs a connectionString', { kind: 'usage' });
  }
  if (options.kek === undefined) {
    throw new CocoError('STORE_KEK_MISSING', 'openPostgresStore needs a key-encryption key (bytes, {file} or {env})', { kind: 'usage' });
  }
  const kek = loadKek(options.kek);
  const pool = new pg.Pool({ connectionString: options.connectionString, max: options.maxConnections ?? 10, connectionTimeoutMillis: 10_000 });
  // An idle client losing its connection (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  // Writes to cached tables announced by every replica (postgres-changes.ts), listened for before the store
  // is handed out, so nothing read through it can miss a later write's announcement.
  const changes = changeFeed(options.connectionString);
  // The request path (sessions, nonces, protocol audit rows) on a pool whose commits do not wait for the WAL
  // flush (hot-path.ts), the statements of one turn in one round trip (postgres-hot-path.ts): still atomic and at
  // once visible to every replica; admin writes stay on `pool`.
  let forgetResources = (): void => {};
  const openHot = () => {
    const relaxed = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: 10_000,
      options: '-c synchronous_commit=off',
    });
    relaxed.on('error', () => {});
    const hot = postgresHotPath(relaxed, changes);
    forgetResources = () => hot.forgetResources();
    return hot;
  };
  const now = options.now ?? (() => new Date());
  const store = await openSqlStore({ db, dialect: 'postgres', kek, now, hotPath: openHot, changes, onClose: () => changes.close() });
  try {
    await changes.start();
  } catch (e) {
    await store.close().catch(() => {});
    throw new CocoError('STORE_BACKEND', `store error while listening for changes: ${(e as Error).message}`, { kind: 'unavailable', cause: e });
  }
  return withReplicaHolds(store, changes, now, () => forgetResources());
}
