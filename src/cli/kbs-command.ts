/**
 * The `kbs` command and its `serve` subcommand as the command line sees them: names, options, help. What
 * they run is loaded when they run (kbs-serve.ts), so `cocokit kbs --help` and the client commands beside
 * `serve` never load the server.
 */
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import type { CliIO } from './io.js';
import type { ServeOptions } from './kbs-serve.js';

function workerCount(text: string): number {
  if (!/^[1-9][0-9]{0,2}$/.test(text) || Number(text) > 256) throw new CocoError('CLI_USAGE', `--workers ${text} is not a number from 1 to 256`, { kind: 'usage' });
  return Number(text);
}

/** Adds `serve` to the `kbs` command. */
export function registerServe(kbs: Command, io: CliIO): void {
  kbs
    .command('serve')
    .description('run a KBS; without --config a development KBS with the sample TEE and a demo secret')
    .option('-c, --config <file>', 'KBS config TOML (Trustee kbs-config layout); also KBS_CONFIG_FILE')
    .option('--port <port>', 'listen port (default 8080)')
    .option('--host <host>', 'listen address (default 127.0.0.1)')
    .option('--data-dir <dir>', `data directory of the embedded store (default ./.kbs-data)`)
    .option('--workers <n>', 'worker processes sharing the port and the store (default http_server.worker_count, else 1)')
    .action(async (opts: ServeOptions & { workers?: string }) => {
      // A cluster worker always has an IPC channel to its primary: a process without one is no worker, and a
      // single server does not load the cluster module at all.
      const cluster = process.channel ? (await import('node:cluster')).default : undefined;
      const { resolveServeConfig, serveCluster, startServe } = await import('./kbs-serve.js');
      const workers = cluster?.isWorker ? 1 : opts.workers !== undefined ? workerCount(opts.workers) : (resolveServeConfig(opts, io).config.http_server.worker_count ?? 1);
      if (workers > 1) return serveCluster(opts, io, workers);
      // A cluster worker: only the first prints the banner.
      const quiet = cluster?.isWorker === true && cluster.worker?.id !== 1;
      const { kbs: server } = await startServe(opts, quiet ? { ...io, stdout: () => {} } : io);
      await new Promise<void>((resolveStop) => {
        const stop = () => void server.close().then(resolveStop, resolveStop);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      // The channel to the primary would keep a stopped worker alive.
      if (cluster?.isWorker) cluster.worker?.disconnect();
    });
}

/**
 * The `kbs` command and its own options (Trustee kbs-client's order: `kbs-client --url URL [--cert-file CA]
 * config|get-resource|attest …`), without subcommands. `kbs --url A workload --url B …`: an option after a
 * subcommand belongs to that subcommand; commander needs positional options on every command above as well, the
 * root included (its only options, --help and --version, come first anyway).
 */
export function addKbsCommand(program: Command): Command {
  program.enablePositionalOptions();
  return program
    .command('kbs')
    .description(KBS_DESCRIPTION)
    .option('--url <url>', KBS_URL_HELP)
    .option('--cert-file <pem>', KBS_CERT_FILE_HELP)
    .enablePositionalOptions();
}

/** The `kbs` command with `serve` alone, for `cocokit kbs serve …`: the same command lines parse, without loading the client side. */
export function registerServeOnly(program: Command, io: CliIO): void {
  registerServe(addKbsCommand(program), io);
}

export const KBS_DESCRIPTION = 'Key Broker Service (Trustee KBS protocol 0.4.0): server, guest client, admin client';
export const KBS_URL_HELP = 'KBS URL for the client subcommands (config, get-resource, attest)';
export const KBS_CERT_FILE_HELP = 'CA certificate of an https:// KBS, for the client subcommands';
