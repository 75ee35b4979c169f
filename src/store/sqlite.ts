/**
 * The embedded default: one SQLite file in the data directory, zero configuration. WAL mode lets readers run
 * beside the writer, and a busy timeout lets two processes on one data directory (a CLI beside a running
 * server) take turns instead of failing.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { CocoError } from '../errors.js';
import { loadKek, loadOrCreateKekFile } from './kek.js';
import type { Database } from './schema.js';
import { openSqlStore } from './sql-store.js';
import type { KekSource, Store } from './store.js';

export interface SqliteStoreOptions {
  /** Directory holding `cocokit.db` (and `kek` when no key is given); created 0700 if missing. */
  dataDir: string;
  /** The key-encryption key; default: the file `<dataDir>/kek`, created with a random key (0600) on first start. */
  kek?: KekSource;
  /** The clock; default `() => new Date()`. */
  now?: () => Date;
}

export const SQLITE_FILE = 'cocokit.db';
export const KEK_FILE = 'kek';

export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  if (typeof options !== 'object' || options === null || typeof options.dataDir !== 'string' || options.dataDir === '') {
    throw new CocoError('STORE_ARGUMENT', 'openSqliteStore needs a dataDir', { kind: 'usage' });
  }
  try {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new CocoError('STORE_DATA_DIR', `cannot create the data directory ${options.dataDir}: ${(e as Error).message}`, { kind: 'unavailable', cause: e });
  }
  const kek = options.kek === undefined ? loadOrCreateKekFile(join(options.dataDir, KEK_FILE)) : loadKek(options.kek);
  let sqlite: Sqlite.Database;
  try {
    sqlite = new Sqlite(join(options.dataDir, SQLITE_FILE));
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
  } catch (e) {
    throw new CocoError('STORE_OPEN', `cannot open the SQLite store in ${options.dataDir}: ${(e as Error).message}`, { kind: 'unavailable', cause: e });
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return openSqlStore({ db, dialect: 'sqlite', kek, now: options.now ?? (() => new Date()) });
}
