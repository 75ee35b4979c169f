/**
 * `cocokit kbs serve`: configuration, the start-up banner, and the worker cluster. The command itself is
 * declared in kbs-command.ts, which loads this file when the command runs: registering `kbs` (for its help,
 * or for a client command) loads no server. Starting a server loads the server alone.
 */
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import pino from 'pino';
import { CocoError } from '../errors.js';
import { policyEvaluators } from '../policy/evaluators.js';
import { loadRego } from '../rego/lazy.js';
import { applyEnv, defaultConfig, loadConfigFile, type KbsConfig } from '../server/config.js';
import { openKbs, type Kbs } from '../server/kbs.js';
import { stderrLog } from '../server/log-destination.js';
import { KEK_FILE } from '../store/sqlite.js';
import { DEMO_RESOURCE, ensureAdminKey, seedDevelopmentData } from '../server/development.js';
import type { CliIO } from './io.js';

export interface ServeOptions {
  config?: string;
  port?: string;
  host?: string;
  dataDir?: string;
}

/** Resolves the configuration: a file (flag or `KBS_CONFIG_FILE`), or zero-config development mode. */
export function resolveServeConfig(opts: ServeOptions, io: CliIO): { config: KbsConfig; zeroConfig: boolean; adminKey?: string } {
  const file = opts.config ?? io.env.KBS_CONFIG_FILE;
  const config = file ? loadConfigFile(isAbsolute(file) ? file : resolve(io.cwd, file)) : defaultConfig();
  // Without a config file cocokit starts as a development KBS: the sample TEE is on, and says so loudly.
  if (!file) config.attestation_service.allow_sample_tee = true;
  applyEnv(config, io.env);
  if (opts.dataDir) config.storage_backend.data_dir = opts.dataDir;
  config.storage_backend.data_dir = resolve(io.cwd, config.storage_backend.data_dir);
  if (opts.port !== undefined || opts.host !== undefined) {
    const [h0, p0] = (config.http_server.sockets[0] ?? '127.0.0.1:8080').split(/:(?=\d+$)/);
    const port = opts.port ?? p0;
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new CocoError('CLI_USAGE', `--port ${port} is not a port number`, { kind: 'usage' });
    config.http_server.sockets = [`${opts.host ?? h0}:${port}`];
  }
  const adminKey = ensureAdminKey(config);
  return { config, zeroConfig: !file, adminKey };
}

/**
 * The key-encryption key file when it sits in the SQLite data directory, beside the database it protects:
 * one copy of that directory (a backup, a volume snapshot) then holds the sealed secrets and their key.
 */
export function kekBesideDatabase(config: KbsConfig, cwd: string): string | undefined {
  const sb = config.storage_backend;
  if (sb.storage_type !== 'sqlite') return undefined;
  const dataDir = resolve(cwd, sb.data_dir);
  const kek = sb.kek_file ? resolve(cwd, sb.kek_file) : join(dataDir, KEK_FILE);
  return dirname(kek) === dataDir ? kek : undefined;
}

/**
 * `kbs serve` as a primary process with `n` workers (node:cluster): the primary prepares the store once (schema,
 * admin key, token signer, default policies — so workers never race to create them), then forks workers that
 * each run the whole KBS and share the listening socket; the kernel's connections are handed out round-robin.
 * Any worker serves any request because every piece of state is in the store. A worker that dies is replaced;
 * SIGTERM/SIGINT stop the workers and then the primary.
 */
export async function serveCluster(opts: ServeOptions, io: CliIO, n: number): Promise<void> {
  const { default: cluster } = await import('node:cluster');
  const { config } = resolveServeConfig(opts, io);
  const prep = await openKbs({ config, ...policyEvaluators(), logger: pino({ level: 'silent' }) });
  await prep.close();
  let stopping = false;
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    io.stderr(`kbs worker ${w.process.pid} exited (${signal ?? code}); starting another\n`);
    cluster.fork();
  });
  for (let i = 0; i < n; i++) cluster.fork();
  await new Promise<void>((resolveStop) => {
    const stop = () => {
      stopping = true;
      const alive = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined && !w.isDead());
      if (alive.length === 0) return resolveStop();
      let left = alive.length;
      for (const w of alive) {
        w!.once('exit', () => --left === 0 && resolveStop());
        w!.process.kill('SIGTERM');
      }
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function cliCommand(io: CliIO): string {
  if (io.env.COCOKIT_CLI) return io.env.COCOKIT_CLI;
  const script = process.argv[1] ?? 'dist/cli/main.js';
  return script.endsWith('main.js') ? `node ${relative(io.cwd, script) || script}` : 'cocokit';
}

/** Starts the KBS, seeds the development demo, prints the banner; the caller decides when to close. */
export async function startServe(opts: ServeOptions, io: CliIO): Promise<{ kbs: Kbs; url: string }> {
  const { config, zeroConfig, adminKey } = resolveServeConfig(opts, io);
  // Lines are gathered and written a few times a second (server/log-destination.ts): a write per line cost a
  // flow more CPU than its SQL did. What is pending is written once, without retrying, when the process exits.
  const logger = pino({ level: io.env.COCOKIT_LOG_LEVEL ?? 'info' }, stderrLog());
  const kbs = await openKbs({ config, ...policyEvaluators(), logger });
  try {
    if (zeroConfig) await seedDevelopmentData(kbs);
    const url = await kbs.listen();
    // The Rego engine loads shortly after the socket answers (its parse would hold up the first health
    // checks if it ran at once), so the first attestation seldom waits for it; a request that needs it earlier
    // loads it itself.
    // prom-client comes with it, for the same reason; what the first requests record is carried over.
    setTimeout(() => {
      void loadRego().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'the Rego engine did not load; the next request retries'));
      void kbs.metrics.load().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'the metrics library did not load; /metrics retries'));
    }, 250).unref();
    const cmd = cliCommand(io);
    const lines = [
      `cocokit KBS (protocol 0.4.0) listening on ${url}`,
      `  store: ${config.storage_backend.storage_type === 'postgres' ? 'PostgreSQL' : config.storage_backend.ephemeral ? 'SQLite in a fresh temporary directory (Memory: nothing survives a restart)' : `SQLite in ${config.storage_backend.data_dir}`} (resources encrypted at rest)`,
    ];
    for (const n of config.notices ?? []) lines.push(`  config: ${n}`);
    if (adminKey) lines.push(`  admin key: ${adminKey} (role "admin"; use with: ${cmd} kbs config --url ${url} --auth-private-key ${adminKey} …)`);
    if (config.admin.authorization_mode !== 'DenyAll') {
      lines.push(`  console: ${url}/console (sign in with the token from: ${cmd} kbs console-token --auth-private-key ${adminKey ?? '<admin key>'})`);
    }
    const besideKek = kekBesideDatabase(config, io.cwd);
    if (besideKek) {
      lines.push(
        '',
        `WARNING: the key-encryption key ${besideKek} sits in the data directory beside the database it`,
        'protects: whoever copies that directory (a backup, a volume snapshot) can decrypt every secret.',
        'Keep the key on another volume and point COCOKIT_KBS_KEK_FILE (or storage_backend.kek_file) at it.',
      );
    }
    if (kbs.developmentMode) {
      lines.push(
        '',
        'WARNING: DEVELOPMENT MODE. The "sample" TEE is enabled: it has no hardware root of trust, so any',
        'client can pass attestation. Never use this mode for real secrets.',
      );
    }
    if (kbs.nonAmdSnpRoots.length) {
      lines.push(
        '',
        'WARNING: NON-AMD SNP ROOTS ARE TRUSTED. [attestation_service.verifier_config.snp_verifier] trusted_roots',
        `replaces the genuine AMD roots with: ${kbs.nonAmdSnpRoots.join(', ')}.`,
        'SNP reports signed under these roots do not come from AMD hardware. Never use this for real secrets.',
      );
    }
    if (zeroConfig) {
      lines.push('', `A demo secret is stored at ${DEMO_RESOURCE}. Fetch it with:`, '', `  ${cmd} kbs get-resource --url ${url} --path ${DEMO_RESOURCE}`, '');
    }
    io.stdout(lines.join('\n') + '\n');
    return { kbs, url };
  } catch (e) {
    await kbs.close();
    throw e;
  }
}
