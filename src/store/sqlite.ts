/**
 * The embedded default: one SQLite file in the data directory, zero configuration. WAL mode lets readers run
 * beside the writer, and a busy timeout lets two processes on one data directory (a CLI beside a running
 * server) take turns instead of failing.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { CocoError } from '../errors.js';
import { loadKek, loadOrCreateKekFile } from './kek.js';
import type { Database } from './schema.js';
import { sqliteHotPath, type HotPath } from './hot-path.js';
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

/**
 * better-sqlite3 is synchronous: a connection waiting on the busy timeout blocks the whole event loop, so it
 * would wait out its full timeout on another connection of the same process that holds the write lock across
 * an await (the migration transaction does). Opens in one process are therefore queued per database file;
 * other processes are kept apart by SQLite's own lock (`BEGIN IMMEDIATE` in schema.ts).
 */
const migrationQueues = new Map<string, Promise<unknown>>();

function exclusiveFor(file: string): <T>(fn: () => Promise<T>) => Promise<T> {
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const prev = migrationQueues.get(file) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => {});
    migrationQueues.set(file, settled);
    void settled.then(() => {
      if (migrationQueues.get(file) === settled) migrationQueues.delete(file);
    });
    return next;
  };
}

/**
 * The database holds sealed secrets, session tokens and the audit log: it is created 0600 (SQLite would use
 * 0644 less the umask), and an existing file readable by others is narrowed. SQLite gives its -wal and -shm
 * files the mode of the database file.
 */
function ownerOnly(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
}

/**
 * A pragma that may meet SQLITE_BUSY without SQLite calling the busy handler: switching a fresh file to WAL
 * while another process opening the same file is switching or recovering it. Retried for up to 5 s; this runs
 * once, when the store opens, before the server listens.
 */
function pragmaWhenFree(sqlite: Sqlite.Database, text: string): void {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      sqlite.pragma(text);
      return;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 + Math.floor(Math.random() * 20));
    }
  }
}

/**
 * Deleted rows leave free pages that SQLite keeps for reuse; give them back to the file system. `exec` steps
 * the pragma to completion (a prepared `run()` frees one page per step). Only a full VACUUM switches an older
 * file to incremental vacuum (sqlite.org/pragma.html#pragma_auto_vacuum); it runs once.
 */
function reclaimSpace(sqlite: Sqlite.Database): void {
  if (sqlite.pragma('auto_vacuum', { simple: true }) !== 2) {
    sqlite.pragma('auto_vacuum = INCREMENTAL');
    sqlite.exec('VACUUM');
  } else {
    sqlite.exec('PRAGMA incremental_vacuum');
  }
  // The vacuum went to the WAL: checkpoint it into the database and cut the WAL file back to zero.
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  if (typeof options !== 'object' || options === null || typeof options.dataDir !== 'string' || options.dataDir === '') {
    throw new CocoError('STORE_ARGUMENT', 'openSqliteStore needs a dataDir', { kind: 'usage' });
  }
  try {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new CocoError('STORE_DATA_DIR', `cannot create the data directory ${options.dataDir}: ${(e as Error).message}`, { kind: 'file', cause: e });
  }
  const file = resolve(options.dataDir, SQLITE_FILE);
  const kekFile = join(options.dataDir, KEK_FILE);
  if (options.kek === undefined && existsSync(file) && !existsSync(kekFile)) {
    // A fresh random key would only lead to a key mismatch; say what is actually wrong.
    throw new CocoError('STORE_KEK_MISSING', `${options.dataDir} holds a store but no key file ${KEK_FILE}: restore it, or give the key-encryption key explicitly`, {
      kind: 'usage',
    });
  }
  const kek = options.kek === undefined ? loadOrCreateKekFile(kekFile) : loadKek(options.kek);
  let sqlite: Sqlite.Database;
  try {
    ownerOnly(file);
    sqlite = new Sqlite(file);
    // The busy timeout first: switching a fresh file to WAL needs a lock another process may be holding.
    sqlite.pragma('busy_timeout = 5000');
    // Takes effect on a new file (no tables yet); an older file is converted by the first reclaimSpace().
    pragmaWhenFree(sqlite, 'auto_vacuum = INCREMENTAL');
    pragmaWhenFree(sqlite, 'journal_mode = WAL');
    // FULL: a secret the admin API acknowledged, or a nonce recorded as used, survives a power loss too
    // (NORMAL would only survive a process crash). KBS write rates make the extra fsync cheap.
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    for (const f of [`${file}-wal`, `${file}-shm`]) if (existsSync(f)) ownerOnly(f);
  } catch (e) {
    throw new CocoError('STORE_OPEN', `cannot open the SQLite store in ${options.dataDir}: ${(e as Error).message}`, { kind: 'file', cause: e });
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return openSqlStore({ db, dialect: 'sqlite', kek, now: options.now ?? (() => new Date()), exclusive: exclusiveFor(file), reclaimSpace: () => reclaimSpace(sqlite), hotPath: () => openHotPath(file) });
}

/**
 * How often the checkpoint worker moves the WAL into the database file: the newest request-path rows a power
 * loss can drop (PostgreSQL's `synchronous_commit = off` risks about 0.6 s). Each checkpoint syncs the WAL and
 * the database file and, in this process, takes the WAL-index lock the event loop's connection needs for every
 * transaction; it copies only the newest version of each page, and every flow rewrites the same few pages
 * (the audit table's last leaf and indexes, page 1, the pointer map), so fewer checkpoints copy fewer pages.
 * At 250 ms a flow at concurrency 1 paid for a checkpoint every few flows.
 */
export const CHECKPOINT_INTERVAL_MS = 1000;

/**
 * The request path's connection (hot-path.ts): `synchronous = NORMAL`, so a commit appends to the WAL without
 * an fsync, and no automatic checkpoints, whose syncs would run on this (the event loop's) thread. A worker
 * thread with its own connection checkpoints instead; a passive checkpoint never blocks a writer, and once the
 * WAL is fully checkpointed the next writer starts it over, so it stays bounded.
 */
function openHotPath(file: string): HotPath {
  const conn = new Sqlite(file);
  let worker: Worker | undefined;
  try {
    conn.pragma('busy_timeout = 5000');
    conn.pragma('synchronous = NORMAL');
    conn.pragma('wal_autocheckpoint = 0');
    conn.pragma('foreign_keys = ON');
    worker = new Worker(CHECKPOINT_WORKER, { eval: true, workerData: { file, driver: createRequire(import.meta.url).resolve('better-sqlite3'), interval: CHECKPOINT_INTERVAL_MS } });
    worker.unref();
    // A failing checkpointer must not take the server down; the admin connection still checkpoints itself.
    worker.on('error', () => {});
    const hot = sqliteHotPath(conn);
    const w = worker;
    return {
      ...hot,
      async close() {
        await w.terminate().catch(() => {});
        await hot.close();
      },
    };
  } catch (e) {
    void worker?.terminate();
    conn.close();
    throw e;
  }
}

const CHECKPOINT_WORKER = `
const { workerData } = require('node:worker_threads');
const Sqlite = require(workerData.driver);
const db = new Sqlite(workerData.file);
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = FULL');
setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
}, workerData.interval);
`;
