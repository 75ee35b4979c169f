/**
 * `cocokit kbs …`: the Key Broker Service (`serve`, `keygen`), the guest client (`get-resource`) and the admin
 * client (`config …`, named after Trustee's `kbs-client config` subcommands). Each command is a library call
 * plus formatting.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import { CocoError } from '../errors.js';
import { isTeeKeyAlgorithm } from '../formats/jwk.js';
import { KbsClient, normalizeResourcePath } from '../client/kbs-client.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { attesterFor } from '../client/attesters.js';
import { TSM_REPORT_PATH, type TsmFs } from '../tee/snp/attester.js';
import { loadTestChip, signTestReport } from '../tee/snp/test-root.js';
import { tsmSimulator } from '../tee/snp/tsm-sim.js';
import { fromHex, utf8 } from '../formats/bytes.js';
import { bindInitData, initDataDigest } from '../measure/initdata.js';
import { policyEvaluators } from '../policy/index.js';
import { applyEnv, defaultConfig, loadConfigFile, type KbsConfig } from '../server/config.js';
import { openKbs, type Kbs } from '../server/kbs.js';
import { DEMO_RESOURCE, ensureAdminKey, seedDevelopmentData, writeAdminKeyPair } from '../server/development.js';
import type { CliIO } from './io.js';
import { checkOutputPath } from './output-path.js';

export { DEMO_RESOURCE, ADMIN_KEY_FILE, ADMIN_PUBKEY_FILE } from '../server/development.js';

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

function cliCommand(io: CliIO): string {
  if (io.env.COCOKIT_CLI) return io.env.COCOKIT_CLI;
  const script = process.argv[1] ?? 'dist/cli/main.js';
  return script.endsWith('main.js') ? `node ${relative(io.cwd, script) || script}` : 'cocokit';
}

/** Starts the KBS, seeds the development demo, prints the banner; the caller decides when to close. */
export async function startServe(opts: ServeOptions, io: CliIO): Promise<{ kbs: Kbs; url: string }> {
  const { config, zeroConfig, adminKey } = resolveServeConfig(opts, io);
  const logger = pino({ level: io.env.COCOKIT_LOG_LEVEL ?? 'info' }, pino.destination({ dest: 2, sync: true }));
  const kbs = await openKbs({ config, ...policyEvaluators(), logger });
  try {
    if (zeroConfig) await seedDevelopmentData(kbs);
    const url = await kbs.listen();
    const cmd = cliCommand(io);
    const lines = [
      `cocokit KBS (protocol 0.4.0) listening on ${url}`,
      `  store: ${config.storage_backend.storage_type === 'postgres' ? 'PostgreSQL' : config.storage_backend.ephemeral ? 'SQLite in a fresh temporary directory (Memory: nothing survives a restart)' : `SQLite in ${config.storage_backend.data_dir}`} (resources encrypted at rest)`,
    ];
    for (const n of config.notices ?? []) lines.push(`  config: ${n}`);
    if (adminKey) lines.push(`  admin key: ${adminKey} (role "admin"; use with: ${cmd} kbs config --url ${url} --auth-private-key ${adminKey} …)`);
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

function readFileArg(path: string, io: CliIO, what: string): Buffer {
  try {
    return readFileSync(isAbsolute(path) ? path : resolve(io.cwd, path));
  } catch (e) {
    throw new CocoError('CLI_FILE', `cannot read ${what} ${path}: ${(e as Error).message}`, { kind: 'file', cause: e });
  }
}

/**
 * An option given on the command or any command above it: Trustee's kbs-client takes `--url` and
 * `--cert-file` before the subcommand (`kbs-client --url URL config …`), cocokit also after it.
 */
function inherited<T>(cmd: Command, name: string): T | undefined {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const v = c.opts()[name] as T | undefined;
    if (v !== undefined) return v;
  }
  return undefined;
}

function kbsUrl(cmd: Command): string {
  const url = inherited<string>(cmd, 'url');
  if (!url) throw new CocoError('CLI_USAGE', "required option '--url <url>' not specified (before or after the subcommand)", { kind: 'usage' });
  return url;
}

function caOf(cmd: Command, io: CliIO): string | undefined {
  const file = inherited<string>(cmd, 'certFile');
  return file ? readFileArg(file, io, 'CA certificate').toString('utf8') : undefined;
}

function adminClient(cmd: Command, io: CliIO): KbsAdminClient {
  const o = cmd.parent!.opts() as { authPrivateKey?: string; role?: string };
  return new KbsAdminClient(kbsUrl(cmd), {
    privateKeyPem: o.authPrivateKey ? readFileArg(o.authPrivateKey, io, 'admin private key').toString('utf8') : undefined,
    role: o.role,
    ca: caOf(cmd, io),
  });
}

interface GuestFlags {
  testRoot?: string;
  hostData?: string;
  url?: string;
  tee: string;
  tsmPath?: string;
  development?: boolean;
  initData?: string;
  teeKeyAlg: string;
  certFile?: string;
}

/** The guest client a `get-resource` or `attest` command describes. */
async function guestClient(cmd: Command, opts: GuestFlags, io: CliIO, deps: KbsCliDeps): Promise<KbsClient> {
  if (!isTeeKeyAlgorithm(opts.teeKeyAlg)) throw new CocoError('CLI_USAGE', `--tee-key-alg must be ec-p256, ec-p521 or rsa, got ${opts.teeKeyAlg}`, { kind: 'usage' });
  const url = kbsUrl(cmd);
  const initData = opts.initData ? readFileArg(opts.initData, io, 'init-data').toString('utf8') : undefined;
  const ca = caOf(cmd, io);
  let tsm = opts.tsmPath ?? io.env.COCOKIT_TSM_PATH;
  let tsmFs = deps.tsmFs;
  if (opts.testRoot !== undefined) {
    // Labs without SNP hardware: a configfs-tsm simulated in a temporary directory, its "firmware" a chip of
    // the TEST root (NOT AMD) made by `cocokit snp test-root`. The launch HOST_DATA is what the host would set:
    // --host-data, or the binding of --init-data (as `cocokit initdata bind --tee snp`).
    if (opts.tee !== 'snp' && opts.tee !== 'auto') throw new CocoError('CLI_USAGE', '--test-root simulates SEV-SNP: use it with --tee snp', { kind: 'usage' });
    const chip = loadTestChip(resolve(io.cwd, opts.testRoot));
    const hostData = opts.hostData !== undefined ? fromHex(opts.hostData, '--host-data') : initData !== undefined ? bindInitData(initDataDigest(utf8.encode(initData)).digest, 'snp').value : undefined;
    if (hostData !== undefined && hostData.length !== 32) throw new CocoError('CLI_USAGE', `--host-data must be 32 bytes (64 hex digits), got ${hostData.length}`, { kind: 'usage' });
    tsmFs = tsmSimulator({ signReport: signTestReport }, chip, hostData ? { launch: { hostData } } : {});
    tsm ??= mkdtempSync(join(tmpdir(), 'cocokit-tsm-'));
    io.stderr(`attester: simulated SEV-SNP (configfs-tsm in ${tsm}) signed by the TEST root in ${opts.testRoot}: NOT AMD hardware\n`);
  }
  const attester = await attesterFor(opts.tee, { tsmPath: tsm ? resolve(io.cwd, tsm) : undefined, tsmFs, development: opts.development });
  if (opts.tee === 'auto') io.stderr(`attester: ${attester.tee}${attester.tee === 'sample' ? ' (development mode: no hardware root of trust)' : ''}\n`);
  return new KbsClient(url, attester, { teeKeyAlgorithm: opts.teeKeyAlg, initData, ca });
}

function guestOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'KBS URL, e.g. http://127.0.0.1:8080 (also before the subcommand)')
    .option('--tee <tee>', 'attester: sample (development), snp, or auto (the hardware present)', 'sample')
    .option('--tsm-path <dir>', `configfs-tsm report directory (also COCOKIT_TSM_PATH; default ${TSM_REPORT_PATH})`)
    .option('--development', 'development mode: let --tee auto fall back to the sample TEE when no hardware TEE is found')
    .option('--init-data <file>', 'init-data TOML sent with the evidence')
    .option('--tee-key-alg <alg>', 'TEE key: ec-p256, ec-p521 or rsa', 'ec-p256')
    .option('--cert-file <pem>', 'CA certificate of an https:// KBS')
    .option('--test-root <dir>', 'lab without SNP hardware: simulate configfs-tsm with a chip of this `cocokit snp test-root` directory (NOT AMD)')
    .option('--host-data <hex>', 'with --test-root: the launch HOST_DATA (default: the --init-data binding, else zeros)');
}

/** What the guest commands reach the TEE through; the real configfs by default (tests pass tsm-sim). */
export interface KbsCliDeps {
  tsmFs?: TsmFs;
}

export function register(program: Command, io: CliIO, deps: KbsCliDeps = {}): void {
  // `kbs --url A workload --url B …`: options belong to the command they follow. Commander needs this on
  // every command above as well, the root included (its only options, --help and --version, come first anyway).
  program.enablePositionalOptions();
  const kbs = program
    .command('kbs')
    .description('Key Broker Service (Trustee KBS protocol 0.4.0): server, guest client, admin client')
    // Trustee kbs-client's order: `kbs-client --url URL [--cert-file CA] config|get-resource|attest …`.
    .option('--url <url>', 'KBS URL for the client subcommands (config, get-resource, attest)')
    .option('--cert-file <pem>', 'CA certificate of an https:// KBS, for the client subcommands')
    // `kbs --url A workload --url B …`: an option after the subcommand belongs to the subcommand.
    .enablePositionalOptions();

  kbs
    .command('serve')
    .description('run a KBS; without --config a development KBS with the sample TEE and a demo secret')
    .option('-c, --config <file>', 'KBS config TOML (Trustee kbs-config layout); also KBS_CONFIG_FILE')
    .option('--port <port>', 'listen port (default 8080)')
    .option('--host <host>', 'listen address (default 127.0.0.1)')
    .option('--data-dir <dir>', `data directory of the embedded store (default ./.kbs-data)`)
    .action(async (opts: ServeOptions) => {
      const { kbs: server } = await startServe(opts, io);
      await new Promise<void>((resolveStop) => {
        const stop = () => void server.close().then(resolveStop, resolveStop);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  kbs
    .command('keygen')
    .description('make an admin key pair (Ed25519 by default) and print the [admin] config for it')
    .option('--out-dir <dir>', 'where to write admin-key.pem and admin-key.pub.pem', '.')
    .option('--alg <alg>', 'ed25519 or es256', 'ed25519')
    .action((opts: { outDir: string; alg: string }) => {
      if (opts.alg !== 'ed25519' && opts.alg !== 'es256') throw new CocoError('CLI_USAGE', `--alg must be ed25519 or es256, got ${opts.alg}`, { kind: 'usage' });
      const { privatePath, publicPath } = writeAdminKeyPair(resolve(io.cwd, opts.outDir), opts.alg);
      io.stdout(
        [
          `private key: ${privatePath} (keep it secret; pass it as --auth-private-key)`,
          `public key:  ${publicPath}`,
          '',
          '# kbs.toml',
          '[admin]',
          'authorization_mode = "AuthenticatedAuthorization"',
          '[[admin.authentication.bearer_jwt.identity_providers]]',
          `public_key_uri = "file://${publicPath}"`,
          '[[admin.authorization.regex_acl.acls]]',
          'role = "admin"',
          'allowed_endpoints = "^/kbs/v0/.*$"',
          '',
        ].join('\n'),
      );
    });

  guestOptions(kbs.command('get-resource'))
    .description('attest to a KBS and fetch a secret (auth → attest → resource → JWE decryption)')
    .requiredOption('--path <repo/type/tag>', 'resource path (or kbs:///repo/type/tag)')
    .option('--out <file>', 'write the secret here (mode 0600) instead of stdout')
    .action(async function (this: Command, opts: GuestFlags & { path: string; out?: string }) {
      // Check the path and where the secret goes before asking the KBS for it.
      normalizeResourcePath(opts.path);
      if (opts.out) checkOutputPath(resolve(io.cwd, opts.out));
      const client = await guestClient(this, opts, io, deps);
      const secret = await client.getResource(opts.path);
      if (opts.out) writeFileSync(resolve(io.cwd, opts.out), secret, { mode: 0o600 });
      else io.stdoutBytes(secret);
    });

  guestOptions(kbs.command('get-workload-resource'))
    .description('attest and fetch a secret of the workload this guest is (registered with cocokit kbs workload register)')
    .requiredOption('--name <name>', 'resource name given at registration (--resource NAME=…)')
    .option('--workload-id <id>', 'the workload this guest expects to be (the KBS refuses another)')
    .option('--out <file>', 'write the secret here (mode 0600) instead of stdout')
    .action(async function (this: Command, opts: GuestFlags & { name: string; workloadId?: string; out?: string }) {
      if (opts.out) checkOutputPath(resolve(io.cwd, opts.out));
      const client = await guestClient(this, opts, io, deps);
      const secret = await client.getWorkloadResource(opts.name, opts.workloadId);
      if (opts.out) writeFileSync(resolve(io.cwd, opts.out), secret, { mode: 0o600 });
      else io.stdoutBytes(secret);
    });

  guestOptions(kbs.command('attest'))
    .description('attest to a KBS and print the attestation (EAR) token, as Trustee kbs-client attest')
    .action(async function (this: Command, opts: GuestFlags) {
      const client = await guestClient(this, opts, io, deps);
      io.stdout(`${(await client.attest()).token}\n`);
    });

  const config = kbs
    .command('config')
    .description('admin client (Trustee kbs-client config …)')
    .option('--url <url>', 'KBS URL (also before the subcommand: cocokit kbs --url URL config …)')
    .option('--auth-private-key <file>', 'admin private key PEM (Ed25519 or P-256) that signs the Bearer token')
    .option('--role <role>', 'role claim of the admin token', 'admin')
    .option('--cert-file <pem>', 'CA certificate of an https:// KBS');

  config
    .command('set-resource')
    .description('store a secret (raw bytes) at repo/type/tag')
    .requiredOption('--path <repo/type/tag>', 'resource path')
    .requiredOption('--resource-file <file>', 'file holding the secret bytes')
    .action(async function (this: Command, opts: { path: string; resourceFile: string }) {
      normalizeResourcePath(opts.path);
      await adminClient(this, io).setResource(opts.path, new Uint8Array(readFileArg(opts.resourceFile, io, 'resource file')));
      io.stdout(`set ${opts.path}\n`);
    });
  config
    .command('delete-resource')
    .description('delete the secret at repo/type/tag')
    .requiredOption('--path <repo/type/tag>', 'resource path')
    .action(async function (this: Command, opts: { path: string }) {
      normalizeResourcePath(opts.path);
      await adminClient(this, io).deleteResource(opts.path);
      io.stdout(`deleted ${opts.path}\n`);
    });
  config.command('list-resources').description('paths and sizes, never values').action(async function (this: Command) {
    io.stdout(JSON.stringify(await adminClient(this, io).listResources(), null, 2) + '\n');
  });
  config
    .command('get-resource-policy')
    .description('print the resource policy (Rego), as Trustee kbs-client does')
    .option('--ids', 'print the ids of the stored resource policies instead (what Trustee\'s GET answers)')
    .action(async function (this: Command, opts: { ids?: boolean }) {
      const client = adminClient(this, io);
      if (opts.ids) io.stdout(JSON.stringify(await client.getResourcePolicy()) + '\n');
      else {
        const text = await client.getResourcePolicyText();
        io.stdout(text.endsWith('\n') ? text : `${text}\n`);
      }
    });
  config
    .command('set-resource-policy')
    .description('replace the resource policy (checked by the Rego engine before it is stored)')
    .requiredOption('--policy-file <file>', 'Rego resource policy (package policy, rule allow)')
    .action(async function (this: Command, opts: { policyFile: string }) {
      await adminClient(this, io).setResourcePolicy(readFileArg(opts.policyFile, io, 'policy file').toString('utf8'));
      io.stdout('resource policy set\n');
    });
  config
    .command('set-attestation-policy')
    .description('replace an attestation policy (default_cpu unless --id)')
    .requiredOption('--policy-file <file>', 'Rego attestation policy (rules trust_claims, extensions)')
    .option('--type <type>', 'policy type', 'rego')
    .option('--id <id>', 'policy id', 'default_cpu')
    .action(async function (this: Command, opts: { policyFile: string; type: string; id: string }) {
      await adminClient(this, io).setAttestationPolicy(readFileArg(opts.policyFile, io, 'policy file').toString('utf8'), opts.id, opts.type);
      io.stdout(`attestation policy ${opts.id} set\n`);
    });
  config
    .command('set-reference-value')
    .alias('set-sample-reference-value')
    .description('register a reference value (RVPS sample extractor; a one-element array unless --as-single-value)')
    .argument('<name>')
    .argument('<value>')
    .option('--as-integer', 'the value is an integer')
    .option('--as-bool', 'the value is a boolean')
    .option('--as-single-value', 'store the value itself, not a one-element array')
    .action(async function (this: Command, name: string, value: string, opts: { asInteger?: boolean; asBool?: boolean; asSingleValue?: boolean }) {
      let v: unknown = value;
      if (opts.asInteger) {
        if (!/^-?\d+$/.test(value)) throw new CocoError('CLI_USAGE', `${value} is not an integer`, { kind: 'usage' });
        v = Number(value);
      } else if (opts.asBool) {
        if (value !== 'true' && value !== 'false') throw new CocoError('CLI_USAGE', `${value} is not true or false`, { kind: 'usage' });
        v = value === 'true';
      }
      await adminClient(this, io).setReferenceValues({ [name]: opts.asSingleValue ? v : [v] });
      io.stdout(`reference value ${name} set\n`);
    });
  config
    .command('get-reference-value')
    .description('the stored value of a reference value id')
    .argument('<id>')
    .action(async function (this: Command, id: string) {
      io.stdout(JSON.stringify(await adminClient(this, io).getReferenceValue(id)) + '\n');
    });
}
