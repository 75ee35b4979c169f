/**
 * `cocokit kbs …`: the Key Broker Service (`serve`, `keygen`), the guest client (`get-resource`,
 * `get-workload-resource`) and the admin
 * client (`config …`, named after Trustee's `kbs-client config` subcommands). Each command is a library call
 * plus formatting.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import type { TeeKeyAlgorithm } from '../formats/jwk.js';
import type { Attester } from '../tee/verifier.js';
import type { KbsClient } from '../client/kbs-client.js';
import type { KbsAdminClient } from '../client/admin-client.js';
import type { WorkloadGuestDialect } from '../client/workload-guest.js';
import type { TsmFs } from '../tee/snp/attester.js';
import { TSM_REPORT_PATH } from '../tee/tsm.js';
import { addAdminConnectionOptions, adminConnection } from './admin-connection.js';
import { addKbsCommand, registerServe } from './kbs-command.js';
import type { CliIO } from './io.js';
import { checkOutputPath } from './output-path.js';
import { pageLimit } from './paging.js';
import { registerAudit } from './kbs-audit.js';
import { registerConsoleToken } from './kbs-console.js';
import { type ArtifactFlags, addArtifactOptions } from './artifact-options.js';

// Registering these commands (for help, or to run one of them) loads none of the client, attester, server or
// measurement modules: each action imports what it uses. `cocokit kbs --help` stays a command table.

/** A certificate file as DER, whether it holds DER or one PEM certificate. */
async function derOrPem(b: Buffer): Promise<Uint8Array> {
  const { pemCertificates } = await import('../formats/pem.js');
  return pemCertificates(b.toString('latin1'))[0] ?? new Uint8Array(b);
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

async function adminClient(cmd: Command, io: CliIO): Promise<KbsAdminClient> {
  const c = adminConnection(cmd, io);
  const { KbsAdminClient } = await import('../client/admin-client.js');
  return new KbsAdminClient(c.url, c);
}

interface GuestFlags {
  tcti?: string;
  tpmEventLog?: string;
  vcek?: string;
  testRoot?: string;
  hostData?: string;
  launchMeasurement?: string;
  url?: string;
  tee: string;
  tsmPath?: string;
  development?: boolean;
  initData?: string;
  teeKeyAlg: string;
  certFile?: string;
}

/** The KBS, CA, init-data and attester a guest command describes. */
async function guestAttester(cmd: Command, opts: GuestFlags, io: CliIO, deps: KbsCliDeps): Promise<{ url: string; ca?: string; initData?: string; attester: Attester; teeKeyAlgorithm: TeeKeyAlgorithm }> {
  const { isTeeKeyAlgorithm } = await import('../formats/jwk.js');
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
    const [{ loadTestChip, signTestReport }, { tsmSimulator }, { fromHex, utf8 }, { bindInitData, initDataDigest }] = await Promise.all([
      import('../tee/snp/test-root.js'),
      import('../tee/snp/tsm-sim.js'),
      import('../formats/bytes.js'),
      import('../measure/initdata.js'),
    ]);
    const chip = loadTestChip(resolve(io.cwd, opts.testRoot));
    const hostData = opts.hostData !== undefined ? fromHex(opts.hostData, '--host-data') : initData !== undefined ? bindInitData(initDataDigest(utf8.encode(initData)).digest, 'snp').value : undefined;
    if (hostData !== undefined && hostData.length !== 32) throw new CocoError('CLI_USAGE', `--host-data must be 32 bytes (64 hex digits), got ${hostData.length}`, { kind: 'usage' });
    const measurement = opts.launchMeasurement !== undefined ? fromHex(opts.launchMeasurement, '--launch-measurement') : undefined;
    if (measurement !== undefined && measurement.length !== 48) throw new CocoError('CLI_USAGE', `--launch-measurement must be 48 bytes (96 hex digits), got ${measurement.length}`, { kind: 'usage' });
    tsmFs = tsmSimulator({ signReport: signTestReport }, chip, hostData || measurement ? { launch: { ...(hostData ? { hostData } : {}), ...(measurement ? { measurement } : {}) } } : {});
    tsm ??= mkdtempSync(join(tmpdir(), 'cocokit-tsm-'));
    io.stderr(`attester: simulated SEV-SNP (configfs-tsm in ${tsm}) signed by the TEST root in ${opts.testRoot}: NOT AMD hardware\n`);
  }
  const vcek = opts.vcek ? await derOrPem(readFileArg(opts.vcek, io, 'VCEK')) : undefined;
  const { attesterFor } = await import('../client/attesters.js');
  const attester = await attesterFor(opts.tee, { tsmPath: tsm ? resolve(io.cwd, tsm) : undefined, tsmFs, development: opts.development, ...(opts.tcti ? { tcti: opts.tcti } : {}), ...(opts.tpmEventLog ? { tpmEventLog: resolve(io.cwd, opts.tpmEventLog) } : {}), ...(vcek ? { vcek } : {}) });
  if (opts.tee === 'auto') io.stderr(`attester: ${attester.tee}${attester.tee === 'sample' ? ' (development mode: no hardware root of trust)' : ''}\n`);
  return { url, ca, initData, attester, teeKeyAlgorithm: opts.teeKeyAlg };
}

/** The guest client a `get-resource` or `attest` command describes. */
async function guestClient(cmd: Command, opts: GuestFlags, io: CliIO, deps: KbsCliDeps): Promise<KbsClient> {
  const g = await guestAttester(cmd, opts, io, deps);
  const { KbsClient } = await import('../client/kbs-client.js');
  return new KbsClient(g.url, g.attester, { teeKeyAlgorithm: g.teeKeyAlgorithm, initData: g.initData, ca: g.ca });
}

function guestOptions(cmd: Command, defaultTee = 'sample'): Command {
  return cmd
    .option('--url <url>', 'KBS URL, e.g. http://127.0.0.1:8080 (also before the subcommand)')
    .option('--tee <tee>', 'attester: sample (development), snp, tdx, tpm, az-snp-vtpm, az-tdx-vtpm, or auto (the hardware present)', defaultTee)
    .option('--tsm-path <dir>', `configfs-tsm report directory (also COCOKIT_TSM_PATH; default ${TSM_REPORT_PATH})`)
    .option('--tcti <tcti>', 'TPM of --tee tpm / az-snp-vtpm / az-tdx-vtpm: device:/dev/tpmrm0 (default), swtpm:host=H,port=P or swtpm:path=SOCKET')
    .option('--tpm-event-log <file>', '--tee tpm: a TCG event log sent with the quote (e.g. /sys/kernel/security/tpm0/binary_bios_measurements)')
    .option('--vcek <file>', '--tee az-snp-vtpm: the VCEK (DER or PEM) instead of fetching it from Azure IMDS')
    .option('--development', 'development mode: let --tee auto fall back to the sample TEE when no hardware TEE is found')
    .option('--init-data <file>', 'init-data TOML sent with the evidence')
    .option('--tee-key-alg <alg>', 'TEE key: ec-p256, ec-p521 or rsa', 'ec-p256')
    .option('--cert-file <pem>', 'CA certificate of an https:// KBS')
    .option('--test-root <dir>', 'lab without SNP hardware: simulate configfs-tsm with a chip of this `cocokit snp test-root` directory (NOT AMD)')
    .option('--host-data <hex>', 'with --test-root: the launch HOST_DATA (default: the --init-data binding, else zeros)')
    .option('--launch-measurement <hex>', 'with --test-root: the launch MEASUREMENT the simulated firmware reports (e.g. the output of cocokit measure snp)');
}

/** What the guest commands reach the TEE through; the real configfs by default (tests pass tsm-sim). */
export interface KbsCliDeps {
  tsmFs?: TsmFs;
}

export function register(program: Command, io: CliIO, deps: KbsCliDeps = {}): void {
  const kbs = addKbsCommand(program);

  registerServe(kbs, io);

  registerAudit(kbs, io);
  registerConsoleToken(kbs, io);

  kbs
    .command('keygen')
    .description('make an admin key pair (Ed25519 by default) and print the [admin] config for it')
    .option('--out-dir <dir>', 'where to write admin-key.pem and admin-key.pub.pem', '.')
    .option('--alg <alg>', 'ed25519 or es256', 'ed25519')
    .action(async (opts: { outDir: string; alg: string }) => {
      if (opts.alg !== 'ed25519' && opts.alg !== 'es256') throw new CocoError('CLI_USAGE', `--alg must be ed25519 or es256, got ${opts.alg}`, { kind: 'usage' });
      const { writeAdminKeyPair } = await import('../server/development.js');
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
          '# namespaces = ["tenant-a"]   # workload namespaces this key may act in (default: all)',
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
      (await import('../client/kbs-client.js')).normalizeResourcePath(opts.path);
      if (opts.out) checkOutputPath(resolve(io.cwd, opts.out));
      const client = await guestClient(this, opts, io, deps);
      const secret = await client.getResource(opts.path);
      if (opts.out) {
        const out = resolve(io.cwd, opts.out);
        // The mode option applies to a new file only: narrow an existing one before the secret goes in.
        if (existsSync(out)) chmodSync(out, 0o600);
        writeFileSync(out, secret, { mode: 0o600 });
      } else io.stdoutBytes(secret);
    });

  // Workload secrets are for hardware guests: SNP unless told otherwise.
  guestOptions(kbs.command('get-workload-resource'), 'snp')
    .description('attest and fetch a secret of the workload this guest is: native, keybroker or krun (reference-kbs) dialect')
    .option('--name <name>', 'resource name given at registration (native, keybroker); krun always fetches the passphrase', 'passphrase')
    .option('--dialect <dialect>', 'native, keybroker or krun; for keybroker and krun the --url includes the dialect prefix, e.g. http://kbs:8080/keybroker', 'native')
    .option('--workload-id <id>', 'the workload this guest names: extra-params.workload_id (native, when its registration allows it; required for krun)')
    .option('--out <file>', 'write the secret here (mode 0600) instead of stdout')
    .action(async function (this: Command, opts: GuestFlags & { name: string; dialect: string; workloadId?: string; out?: string }) {
      const { WORKLOAD_GUEST_DIALECTS, getKeybrokerResource, getKrunPassphrase, getNativeWorkloadResource } = await import('../client/workload-guest.js');
      if (!(WORKLOAD_GUEST_DIALECTS as readonly string[]).includes(opts.dialect)) {
        throw new CocoError('CLI_USAGE', `--dialect must be one of ${WORKLOAD_GUEST_DIALECTS.join(', ')}, got ${opts.dialect}`, { kind: 'usage' });
      }
      const dialect = opts.dialect as WorkloadGuestDialect;
      if (dialect === 'krun' && !opts.workloadId) throw new CocoError('CLI_USAGE', '--dialect krun needs --workload-id (the krun guest names its workload)', { kind: 'usage' });
      if (opts.out) checkOutputPath(resolve(io.cwd, opts.out));
      // Both compat dialects carry a raw SNP report: no other TEE speaks them.
      if (dialect !== 'native' && opts.tee !== 'snp' && opts.tee !== 'auto') throw new CocoError('CLI_USAGE', `--dialect ${dialect} needs an SNP guest (--tee snp), not ${opts.tee}`, { kind: 'usage' });
      const g = await guestAttester(this, opts, io, deps);
      const { SnpAttester } = await import('../tee/snp/attester.js');
      let secret: Uint8Array;
      if (dialect === 'native') {
        secret = await getNativeWorkloadResource(g.url, g.attester, opts.name, { ca: g.ca, initData: g.initData, teeKeyAlgorithm: g.teeKeyAlgorithm, workloadId: opts.workloadId });
      } else {
        if (!(g.attester instanceof SnpAttester)) throw new CocoError('KBS_CLIENT_NO_TEE', 'no SEV-SNP attester here', { kind: 'unavailable' });
        secret = dialect === 'keybroker' ? await getKeybrokerResource(g.url, g.attester, opts.name, { ca: g.ca }) : await getKrunPassphrase(g.url, g.attester, { ca: g.ca, workloadId: opts.workloadId });
      }
      if (opts.out) {
        const out = resolve(io.cwd, opts.out);
        if (existsSync(out)) chmodSync(out, 0o600);
        writeFileSync(out, secret, { mode: 0o600 });
      } else io.stdoutBytes(secret);
    });

  guestOptions(kbs.command('attest'))
    .description('attest to a KBS and print the attestation (EAR) token, as Trustee kbs-client attest')
    .action(async function (this: Command, opts: GuestFlags) {
      const client = await guestClient(this, opts, io, deps);
      io.stdout(`${(await client.attest()).token}\n`);
    });

  const config = addAdminConnectionOptions(kbs.command('config').description('admin client (Trustee kbs-client config …)'));

  config
    .command('set-resource')
    .description('store a secret (raw bytes) at repo/type/tag')
    .requiredOption('--path <repo/type/tag>', 'resource path')
    .requiredOption('--resource-file <file>', 'file holding the secret bytes')
    .action(async function (this: Command, opts: { path: string; resourceFile: string }) {
      (await import('../client/kbs-client.js')).normalizeResourcePath(opts.path);
      await (await adminClient(this, io)).setResource(opts.path, new Uint8Array(readFileArg(opts.resourceFile, io, 'resource file')));
      io.stdout(`set ${opts.path}\n`);
    });
  config
    .command('delete-resource')
    .description('delete the secret at repo/type/tag')
    .requiredOption('--path <repo/type/tag>', 'resource path')
    .action(async function (this: Command, opts: { path: string }) {
      (await import('../client/kbs-client.js')).normalizeResourcePath(opts.path);
      await (await adminClient(this, io)).deleteResource(opts.path);
      io.stdout(`deleted ${opts.path}\n`);
    });
  config
    .command('list-resources')
    .description('paths and sizes, never values (every page, or one page with --limit/--cursor)')
    .option('--limit <n>', 'one page of at most n resources (the KBS caps it at 1000)')
    .option('--cursor <cursor>', 'the page after the one that printed this cursor')
    .action(async function (this: Command, opts: { limit?: string; cursor?: string }) {
      const client = await adminClient(this, io);
      if (opts.limit === undefined && opts.cursor === undefined) {
        io.stdout(JSON.stringify(await client.listResources(), null, 2) + '\n');
        return;
      }
      const page = await client.listResourcesPage({ ...(opts.limit !== undefined ? { limit: pageLimit(opts.limit) } : {}), ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}) });
      io.stdout(JSON.stringify(page.items, null, 2) + '\n');
      // The listing stays a plain array on stdout; the cursor of the next page goes to stderr.
      if (page.next) io.stderr(`next page: --cursor ${page.next}\n`);
    });
  config
    .command('get-resource-policy')
    .description('print the resource policy (Rego), as Trustee kbs-client does')
    .option('--ids', 'print the ids of the stored resource policies instead (what Trustee\'s GET answers)')
    .action(async function (this: Command, opts: { ids?: boolean }) {
      const client = await adminClient(this, io);
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
    .option('--v0', 'the policy is Rego v0 (pre-1.0 syntax); it is stored marked as such', false)
    .action(async function (this: Command, opts: { policyFile: string; v0: boolean }) {
      const text = readFileArg(opts.policyFile, io, 'policy file').toString('utf8');
      const { markRegoV0 } = await import('../policy/evaluators.js');
      await (await adminClient(this, io)).setResourcePolicy(opts.v0 ? markRegoV0(text) : text);
      io.stdout('resource policy set\n');
    });
  config
    .command('set-attestation-policy')
    .description('replace an attestation policy (default_cpu unless --id)')
    .requiredOption('--policy-file <file>', 'Rego attestation policy (rules trust_claims, extensions)')
    .option('--type <type>', 'policy type', 'rego')
    .option('--id <id>', 'policy id', 'default_cpu')
    .option('--v0', 'the policy is Rego v0 (pre-1.0 syntax); it is stored marked as such', false)
    .action(async function (this: Command, opts: { policyFile: string; type: string; id: string; v0: boolean }) {
      const text = readFileArg(opts.policyFile, io, 'policy file').toString('utf8');
      const { markRegoV0 } = await import('../policy/evaluators.js');
      await (await adminClient(this, io)).setAttestationPolicy(opts.v0 ? markRegoV0(text) : text, opts.id, opts.type);
      io.stdout(`attestation policy ${opts.id} set\n`);
    });
  const setRv = config
    .command('set-reference-value')
    .alias('set-sample-reference-value')
    .description('register a reference value (RVPS sample extractor; a one-element array unless --as-single-value)')
    .argument('<name>')
    .argument('[value]', 'the value (omit with --from-artifacts)')
    .option('--as-integer', 'the value is an integer')
    .option('--as-bool', 'the value is a boolean')
    .option('--as-single-value', 'store the value itself, not a one-element array')
    .option('--claim <claim>', 'with --from-artifacts: which computed value to store (measurement, host_data, mr_td, rtmr_1, rtmr_2, mr_config_id, tpm_pcr11, tpm_pcr08, rootfs_root_hash)', 'measurement')
    .option('--expires <time>', 'RFC 3339 time after which an attestation consulting the value is denied (kept in its provenance)');
  addArtifactOptions(setRv).action(async function (this: Command, name: string, value: string | undefined, opts: ArtifactFlags & { asInteger?: boolean; asBool?: boolean; asSingleValue?: boolean; claim: string; expires?: string }) {
      const expires = opts.expires === undefined ? undefined : rfc3339(opts.expires, '--expires');
      if (opts.fromArtifacts) {
        if (value !== undefined) throw new CocoError('CLI_USAGE', 'give either a value or --from-artifacts, not both', { kind: 'usage' });
        const { readBuildArtifacts } = await import('./from-artifacts.js');
        const { referenceValuesFromArtifacts } = await import('../measure/from-artifacts.js');
        const computed = await referenceValuesFromArtifacts(readBuildArtifacts(io, opts));
        const v = computed.values[opts.claim];
        if (v === undefined) throw new CocoError('CLI_USAGE', `--claim ${opts.claim} is not computed from these artifacts (computed: ${Object.keys(computed.values).join(', ')})`, { kind: 'usage' });
        const provenance = { ...computed.provenance[opts.claim], ...(expires ? { expires } : {}) };
        await (await adminClient(this, io)).setReferenceValues({ [name]: opts.asSingleValue ? v : [v] }, { [name]: provenance });
        io.stderr(`provenance: ${JSON.stringify(provenance)}\n`);
        io.stdout(`reference value ${name} set\n`);
        return;
      }
      if (value === undefined) throw new CocoError('CLI_USAGE', 'set-reference-value needs a value or --from-artifacts', { kind: 'usage' });
      let v: unknown = value;
      if (opts.asInteger) {
        if (!/^-?\d+$/.test(value)) throw new CocoError('CLI_USAGE', `${value} is not an integer`, { kind: 'usage' });
        v = Number(value);
      } else if (opts.asBool) {
        if (value !== 'true' && value !== 'false') throw new CocoError('CLI_USAGE', `${value} is not true or false`, { kind: 'usage' });
        v = value === 'true';
      }
      await (await adminClient(this, io)).setReferenceValues({ [name]: opts.asSingleValue ? v : [v] }, expires ? { [name]: { algorithm: 'operator-supplied', expires } } : undefined);
      io.stdout(`reference value ${name} set\n`);
    });
  config
    .command('get-reference-value')
    .description('the stored value of a reference value id (--provenance: the whole record, with its provenance)')
    .argument('<id>')
    .option('--provenance', 'print the record: value, update and expiration times, and provenance (who registered it, when, version, algorithm, inputs)')
    .action(async function (this: Command, id: string, opts: { provenance?: boolean }) {
      const client = await adminClient(this, io);
      if (opts.provenance) io.stdout(JSON.stringify(await client.getReferenceValueRecord(id), null, 2) + '\n');
      else io.stdout(JSON.stringify(await client.getReferenceValue(id)) + '\n');
    });
  config
    .command('list-decisions')
    .description('the decision log, newest first: one record per attestation and secret release')
    .option('--workload <id>', 'decisions on one workload registration')
    .option('--verdict <verdict>', 'allow, deny or error')
    .option('--type <type>', 'attestation or release')
    .option('--limit <n>', 'at most n records (the KBS caps it at 500)', '20')
    .option('--ids', 'print the record ids, one a line, instead of the records')
    .action(async function (this: Command, opts: { workload?: string; verdict?: string; type?: string; limit: string; ids?: boolean }) {
      const filter: Record<string, string> = { limit: String(pageLimit(opts.limit)) };
      for (const k of ['workload', 'verdict', 'type'] as const) if (opts[k] !== undefined) filter[k] = opts[k];
      const items = await (await adminClient(this, io)).listDecisions(filter);
      io.stdout(opts.ids ? items.map((d) => `${String(d.id)}\n`).join('') : JSON.stringify(items, null, 2) + '\n');
    });
  config
    .command('get-decision')
    .description('one decision record, with the policy trace and the launch parameter search the KBS computes when it is read')
    .argument('<id>')
    .option('--explain', 'print the verdict, the reason, and why each reference value did not match, instead of the JSON record')
    .action(async function (this: Command, id: string, opts: { explain?: boolean }) {
      const d = await (await adminClient(this, io)).getDecision(id);
      io.stdout(opts.explain ? explainDecisionText(d) : JSON.stringify(d, null, 2) + '\n');
    });
  config
    .command('list-reference-values')
    .description('every stored reference value with its provenance')
    .action(async function (this: Command) {
      io.stdout(JSON.stringify(await (await adminClient(this, io)).listReferenceValueRecords(), null, 2) + '\n');
    });
}

/**
 * A decision as an operator reads it: the verdict and reason, then each reference value that did not match with
 * why, and the launch parameter change the KBS found to reproduce the reported measurement.
 */
export function explainDecisionText(d: Record<string, unknown>): string {
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const lines = [`decision ${String(d.id)}: ${str(d.type) ?? '?'} ${str(d.resource) ?? str(d.tee) ?? ''} — ${str(d.verdict) ?? '?'}${str(d.code) ? ` (${str(d.code)})` : ''}`];
  if (str(d.reason)) lines.push(`reason: ${str(d.reason)}`);
  const explanations = d.explanations !== null && typeof d.explanations === 'object' ? (d.explanations as Record<string, unknown>) : {};
  const search = d.parameter_search !== null && typeof d.parameter_search === 'object' ? (d.parameter_search as Record<string, { hint?: unknown; note?: unknown }>) : {};
  for (const [name, why] of Object.entries(explanations)) {
    lines.push(`${name}: ${String(why)}`);
    const s = search[name];
    if (s && str(s.hint)) lines.push(`  ${str(s.hint)}`);
    else if (s && str(s.note)) lines.push(`  ${str(s.note)}`);
  }
  return lines.join('\n') + '\n';
}

/** An RFC 3339 time given on the command line, normalized. */
function rfc3339(text: string, flag: string): string {
  const t = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(t)) throw new CocoError('CLI_USAGE', `${flag} must be an RFC 3339 time (2027-01-31T00:00:00Z), got ${JSON.stringify(text)}`, { kind: 'usage' });
  return new Date(t).toISOString();
}
