/**
 * `cocokit kbs …`: the Key Broker Service (`serve`, `keygen`), the guest client (`get-resource`) and the admin
 * client (`config …`, named after Trustee's `kbs-client config` subcommands). Each command is a library call
 * plus formatting.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import type { Command } from 'commander';
import pino from 'pino';
import { CocoError } from '../errors.js';
import { utf8 } from '../formats/bytes.js';
import { isTeeKeyAlgorithm } from '../formats/jwk.js';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { attesterFor } from '../client/attesters.js';
import { TSM_REPORT_PATH, type TsmFs } from '../tee/snp/attester.js';
import { policyEvaluators } from '../policy/index.js';
import { applyEnv, defaultConfig, loadConfigFile, type KbsConfig } from '../server/config.js';
import { openKbs, type Kbs } from '../server/kbs.js';
import type { CliIO } from './io.js';

export const DEMO_RESOURCE = 'default/demo/secret';
const DEMO_SECRET = 'Hello from cocokit! This secret was released by the KBS after a sample-TEE attestation.\n';
/** A certificate file as DER, whether it holds DER or one PEM certificate. */
function derOrPem(b: Buffer): Uint8Array {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(b.toString('latin1'));
  return new Uint8Array(m ? Buffer.from(m[1].replace(/\s+/g, ''), 'base64') : b);
}

/** Reference values that make the sample TEE "affirming" under Trustee's default_cpu policy (§3.4). */
const SAMPLE_REFERENCE_VALUES = { launch_digest: ['abcde'], svn: ['1'], major_version: 1, minimum_minor_version: 0 };
export const ADMIN_KEY_FILE = 'admin-key.pem';
export const ADMIN_PUBKEY_FILE = 'admin-key.pub.pem';

export interface ServeOptions {
  config?: string;
  port?: string;
  host?: string;
  dataDir?: string;
}

function writeKeyPair(dir: string, alg: 'ed25519' | 'es256'): { privatePath: string; publicPath: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const kp = alg === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const privatePath = join(dir, ADMIN_KEY_FILE);
  const publicPath = join(dir, ADMIN_PUBKEY_FILE);
  if (existsSync(privatePath)) throw new CocoError('KBS_KEYGEN_EXISTS', `${privatePath} already exists; not overwriting an admin key`, { kind: 'conflict' });
  writeFileSync(privatePath, kp.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  writeFileSync(publicPath, kp.publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644 });
  return { privatePath, publicPath };
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
  let adminKey: string | undefined;
  if (config.admin.authorization_mode === 'AuthenticatedAuthorization' && config.admin.identity_providers.length === 0) {
    // Secure by default: an Ed25519 admin key pair in the data directory instead of InsecureAllowAll.
    const dir = config.storage_backend.data_dir;
    adminKey = join(dir, ADMIN_KEY_FILE);
    if (!existsSync(adminKey)) writeKeyPair(dir, 'ed25519');
    config.admin.identity_providers = [{ public_key_uri: join(dir, ADMIN_PUBKEY_FILE) }];
    if (config.admin.acls.length === 0) config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' }];
  }
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
    if (zeroConfig) {
      if (!(await kbs.store.resources.get({ repository: 'default', type: 'demo', tag: 'secret' }))) {
        await kbs.store.resources.put({ repository: 'default', type: 'demo', tag: 'secret' }, utf8.encode(DEMO_SECRET));
      }
      for (const [name, value] of Object.entries(SAMPLE_REFERENCE_VALUES)) {
        if (!(await kbs.store.referenceValues.get(name))) await kbs.store.referenceValues.set(name, value);
      }
    }
    const url = await kbs.listen();
    const cmd = cliCommand(io);
    const lines = [
      `cocokit KBS (protocol 0.4.0) listening on ${url}`,
      `  store: ${config.storage_backend.storage_type === 'sqlite' ? `SQLite in ${config.storage_backend.data_dir}` : 'PostgreSQL'} (resources encrypted at rest)`,
    ];
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
    throw new CocoError('CLI_FILE', `cannot read ${what} ${path}: ${(e as Error).message}`, { kind: 'usage', cause: e });
  }
}

function adminClient(cmd: Command, io: CliIO): KbsAdminClient {
  const o = cmd.parent!.opts() as { url: string; authPrivateKey?: string; role?: string; certFile?: string };
  return new KbsAdminClient(o.url, {
    privateKeyPem: o.authPrivateKey ? readFileArg(o.authPrivateKey, io, 'admin private key').toString('utf8') : undefined,
    role: o.role,
    ca: o.certFile ? readFileArg(o.certFile, io, 'CA certificate').toString('utf8') : undefined,
  });
}

/** What the guest commands reach the TEE through; the real configfs by default (tests pass tsm-sim). */
export interface KbsCliDeps {
  tsmFs?: TsmFs;
}

export function register(program: Command, io: CliIO, deps: KbsCliDeps = {}): void {
  const kbs = program.command('kbs').description('Key Broker Service (Trustee KBS protocol 0.4.0): server, guest client, admin client');

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
      const { privatePath, publicPath } = writeKeyPair(resolve(io.cwd, opts.outDir), opts.alg);
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

  kbs
    .command('get-resource')
    .description('attest to a KBS and fetch a secret (auth → attest → resource → JWE decryption)')
    .requiredOption('--url <url>', 'KBS URL, e.g. http://127.0.0.1:8080')
    .requiredOption('--path <repo/type/tag>', 'resource path (or kbs:///repo/type/tag)')
    .option('--tee <tee>', 'attester: sample (development), snp, tpm, az-snp-vtpm, or auto (the hardware present)', 'sample')
    .option('--tsm-path <dir>', `configfs-tsm report directory (also COCOKIT_TSM_PATH; default ${TSM_REPORT_PATH})`)
    .option('--tcti <tcti>', 'TPM of --tee tpm / az-snp-vtpm: device:/dev/tpmrm0 (default), swtpm:host=H,port=P or swtpm:path=SOCKET')
    .option('--vcek <file>', '--tee az-snp-vtpm: the VCEK (DER or PEM) instead of fetching it from Azure IMDS')
    .option('--development', 'development mode: let --tee auto fall back to the sample TEE when no hardware TEE is found')
    .option('--init-data <file>', 'init-data TOML sent with the evidence')
    .option('--tee-key-alg <alg>', 'TEE key: ec-p256, ec-p521 or rsa', 'ec-p256')
    .option('--out <file>', 'write the secret here (mode 0600) instead of stdout')
    .option('--cert-file <pem>', 'CA certificate of an https:// KBS')
    .action(async (opts: { url: string; path: string; tee: string; tsmPath?: string; tcti?: string; vcek?: string; development?: boolean; initData?: string; teeKeyAlg: string; out?: string; certFile?: string }) => {
      if (!isTeeKeyAlgorithm(opts.teeKeyAlg)) throw new CocoError('CLI_USAGE', `--tee-key-alg must be ec-p256, ec-p521 or rsa, got ${opts.teeKeyAlg}`, { kind: 'usage' });
      const initData = opts.initData ? readFileArg(opts.initData, io, 'init-data').toString('utf8') : undefined;
      const ca = opts.certFile ? readFileArg(opts.certFile, io, 'CA certificate').toString('utf8') : undefined;
      const tsm = opts.tsmPath ?? io.env.COCOKIT_TSM_PATH;
      const vcek = opts.vcek ? derOrPem(readFileArg(opts.vcek, io, 'VCEK')) : undefined;
      const attester = await attesterFor(opts.tee, { tsmPath: tsm ? resolve(io.cwd, tsm) : undefined, tsmFs: deps.tsmFs, development: opts.development, ...(opts.tcti ? { tcti: opts.tcti } : {}), ...(vcek ? { vcek } : {}) });
      if (opts.tee === 'auto') io.stderr(`attester: ${attester.tee}${attester.tee === 'sample' ? ' (development mode: no hardware root of trust)' : ''}\n`);
      const client = new KbsClient(opts.url, attester, { teeKeyAlgorithm: opts.teeKeyAlg, initData, ca });
      const secret = await client.getResource(opts.path);
      if (opts.out) writeFileSync(resolve(io.cwd, opts.out), secret, { mode: 0o600 });
      else io.stdoutBytes(secret);
    });

  const config = kbs
    .command('config')
    .description('admin client (Trustee kbs-client config …)')
    .requiredOption('--url <url>', 'KBS URL')
    .option('--auth-private-key <file>', 'admin private key PEM (Ed25519 or P-256) that signs the Bearer token')
    .option('--role <role>', 'role claim of the admin token', 'admin')
    .option('--cert-file <pem>', 'CA certificate of an https:// KBS');

  config
    .command('set-resource')
    .description('store a secret (raw bytes) at repo/type/tag')
    .requiredOption('--path <repo/type/tag>', 'resource path')
    .requiredOption('--resource-file <file>', 'file holding the secret bytes')
    .action(async function (this: Command, opts: { path: string; resourceFile: string }) {
      await adminClient(this, io).setResource(opts.path, new Uint8Array(readFileArg(opts.resourceFile, io, 'resource file')));
      io.stdout(`set ${opts.path}\n`);
    });
  config
    .command('delete-resource')
    .description('delete the secret at repo/type/tag')
    .requiredOption('--path <repo/type/tag>', 'resource path')
    .action(async function (this: Command, opts: { path: string }) {
      await adminClient(this, io).deleteResource(opts.path);
      io.stdout(`deleted ${opts.path}\n`);
    });
  config.command('list-resources').description('paths and sizes, never values').action(async function (this: Command) {
    io.stdout(JSON.stringify(await adminClient(this, io).listResources(), null, 2) + '\n');
  });
  config.command('get-resource-policy').description('ids of the stored resource policies').action(async function (this: Command) {
    io.stdout(JSON.stringify(await adminClient(this, io).getResourcePolicy()) + '\n');
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
