/**
 * A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory, a server listening only on a
 * Unix socket inside it (no TCP port to collide on), fsync off for speed; `stop()` shuts it down and removes
 * the directory. PostgreSQL refuses to run as root, so under root the server binaries run as the `postgres`
 * system user (`runuser -u postgres --`) and the directory is handed to that user.
 *
 * Binaries are looked up in `$PG_BIN`, then the newest `/usr/lib/postgresql/<ver>/bin` (Debian), then `PATH`.
 * `postgresMissing()` behaves like `toolMissing`: a skip reason locally, a thrown error under CI=true.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import pg from 'pg';

export function postgresBinDir(): string | undefined {
  const candidates: string[] = [];
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN);
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(join(debian, v, 'bin'));
  }
  for (const dir of candidates) if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  const r = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim() !== '') return join(r.stdout.trim(), '..');
  return undefined;
}

/** For `describe(name, { skip: postgresMissing() }, …)`: false when a server can be started here. */
export function postgresMissing(): false | string {
  let reason: string | undefined;
  if (postgresBinDir() === undefined) reason = 'PostgreSQL server binaries (initdb, pg_ctl) are not installed';
  else if (isRoot() && spawnSync('id', ['-u', 'postgres']).status !== 0) reason = 'running as root and there is no postgres system user to run the server as';
  if (reason === undefined) return false;
  if (process.env.CI === 'true') throw new Error(`${reason}, but CI=true requires the PostgreSQL suite`);
  return reason;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export interface PostgresCluster {
  /** The cluster's data directory (to inspect what is at rest). */
  readonly dataDir: string;
  /** Connection string for a database of this cluster (default `postgres`). */
  connectionString(database?: string): string;
  /**
   * Creates an empty database and returns its connection string. `icuLocale` (e.g. `en-US`) makes its text
   * collation a linguistic one, as production databases usually have, instead of the cluster's C order.
   */
  createDatabase(name: string, icuLocale?: string): Promise<string>;
  /**
   * Creates an empty schema in the `postgres` database and returns a connection string whose sessions use it
   * (`search_path`): far cheaper than a database per test.
   */
  createSchema(name: string, database?: string): Promise<string>;
  /** Runs one statement as the superuser on the `postgres` database. */
  query(text: string): Promise<unknown[]>;
  /** Forces dirty pages to the data files (so greps of `dataDir` see everything written). */
  checkpoint(): Promise<void>;
  stop(): Promise<void>;
}

function runServerTool(bin: string, args: string[], asPostgres: boolean): void {
  const cmd = asPostgres ? 'runuser' : bin;
  const argv = asPostgres ? ['-u', 'postgres', '--', bin, ...args] : args;
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) {
    throw new Error(`${bin} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout || r.error?.message}`);
  }
}

export async function startPostgres(): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error('PostgreSQL server binaries not found');
  const asPostgres = isRoot();
  const root = mkdtempSync(join(tmpdir(), 'cocokit-pg-'));
  const dataDir = join(root, 'data');
  const sockDir = join(root, 'sock');
  mkdirSync(sockDir);
  if (asPostgres) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(root, uid, gid);
    chownSync(sockDir, uid, gid);
  }
  chmodSync(root, 0o755);
  let started = false;
  const stop = async (): Promise<void> => {
    if (started) {
      started = false;
      try {
        runServerTool(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w'], asPostgres);
      } catch {}
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    runServerTool(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--locale=C'], asPostgres);
    const serverOpts = `-k ${sockDir} -c listen_addresses= -p 5432 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100`;
    runServerTool(join(bin, 'pg_ctl'), ['start', '-D', dataDir, '-w', '-t', '30', '-l', join(root, 'server.log'), '-o', serverOpts], asPostgres);
    started = true;
  } catch (e) {
    await stop();
    throw e;
  }
  const connectionString = (database = 'postgres') => `postgresql://postgres@localhost/${database}?host=${encodeURIComponent(sockDir)}`;
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: connectionString() });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  // A crashed test run must not leave a server behind.
  const onExit = () => {
    if (started) spawnSync(asPostgres ? 'runuser' : join(bin, 'pg_ctl'), asPostgres ? ['-u', 'postgres', '--', join(bin, 'pg_ctl'), 'stop', '-D', dataDir, '-m', 'immediate'] : ['stop', '-D', dataDir, '-m', 'immediate']);
    if (existsSync(root) && statSync(root).isDirectory()) rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  return {
    dataDir,
    connectionString,
    async createDatabase(name, icuLocale) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      if (icuLocale !== undefined && !/^[A-Za-z0-9-]+$/.test(icuLocale)) throw new Error(`bad ICU locale ${icuLocale}`);
      const locale = icuLocale === undefined ? '' : ` TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '${icuLocale}'`;
      await admin((c) => c.query(`CREATE DATABASE ${name}${locale}`));
      return connectionString(name);
    },
    async createSchema(name, database = 'postgres') {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad schema name ${name}`);
      const c = new pg.Client({ connectionString: connectionString(database) });
      await c.connect();
      try {
        await c.query(`CREATE SCHEMA ${name}`);
      } finally {
        await c.end();
      }
      return `${connectionString(database)}&options=${encodeURIComponent(`-c search_path=${name}`)}`;
    },
    async query(text) {
      return admin(async (c) => (await c.query(text)).rows as unknown[]);
    },
    async checkpoint() {
      await admin((c) => c.query('CHECKPOINT'));
    },
    async stop() {
      process.removeListener('exit', onExit);
      await stop();
    },
  };
}

/**
 * One cluster for a test file: started before its first test and stopped after its last when PostgreSQL is
 * here. `skip` is `postgresMissing()` (tests pass it as their skip option); `cluster()` is the running cluster.
 */
export function postgresForFile(): { skip: false | string; cluster(): PostgresCluster } {
  const skip = postgresMissing();
  let running: PostgresCluster | undefined;
  if (skip === false) {
    before(async () => {
      running = await startPostgres();
    });
    after(async () => {
      await running?.stop();
    });
  }
  return {
    skip,
    cluster() {
      if (running === undefined) throw new Error('the PostgreSQL cluster of this file is not running');
      return running;
    },
  };
}
