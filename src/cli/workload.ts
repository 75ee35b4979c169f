/**
 * `cocokit kbs workload register|list|show|delete`: the admin client of the per-workload registration API
 * (`/kbs/v0/workloads`). The Bearer token is signed with the admin key and names the namespace to act in.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import { parseJson } from '../formats/json.js';
import { fromHex, toHex } from '../formats/bytes.js';
import type { WorkloadAdminClient } from '../client/workload-client.js';
import type { CliIO } from './io.js';
import { NAMESPACE_OPTIONS, addAdminConnectionOptions, adminConnection, type NamespaceFlags } from './admin-connection.js';
import { addOptions } from './options.js';
import { pageLimit } from './paging.js';
import { type ArtifactFlags, addArtifactOptions } from './artifact-options.js';
import { addStatementTrustOptions, type StatementTrustFlags } from './statement-options.js';

// Each action imports the client, measurement and statement code it uses: registering the commands (for
// `kbs --help`, or to run another `kbs` command) loads none of it.

const SNP_CLAIMS = ['measurement', 'host_data'];
/** The TD quote body fields a TDX registration compares (`quote.body` of the TDX claims). */
const TDX_CLAIMS = ['mr_td', 'rtmr_1', 'rtmr_2', 'mr_config_id'];
const pick = <T>(o: Record<string, T>, keys: readonly string[]): Record<string, T> => Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k)));

function readText(io: CliIO, file: string, what: string): string {
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (e) {
    throw new CocoError('WORKLOAD_CLI_FILE', `cannot read ${what} '${file}': ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

/** The admin client of `cmd` (a `kbs workload` subcommand): its group's connection flags and namespace. */
async function client(io: CliIO, cmd: Command): Promise<WorkloadAdminClient> {
  const c = adminConnection(cmd, io);
  const { namespace } = cmd.parent!.opts() as NamespaceFlags;
  const { WorkloadAdminClient } = await import('../client/workload-client.js');
  return new WorkloadAdminClient(c.url, { ...c, namespace });
}

/** `name=value`: value as JSON when it parses (numbers, booleans), else the string itself. */
function keyValue(text: string, into: Record<string, unknown>, json: boolean): Record<string, unknown> {
  const i = text.indexOf('=');
  if (i <= 0) throw new CocoError('WORKLOAD_CLI_USAGE', `expected name=value, got ${JSON.stringify(text)}`, { kind: 'usage' });
  const k = text.slice(0, i);
  const v = text.slice(i + 1);
  let value: unknown = v;
  if (json) {
    try {
      value = JSON.parse(v);
    } catch {
      value = v;
    }
  }
  return { ...into, [k]: value };
}

export function register(program: Command, io: CliIO): void {
  const kbs = program.commands.find((c) => c.name() === 'kbs') ?? program.command('kbs');
  const wl = addOptions(
    addAdminConnectionOptions(kbs.command('workload').description('per-workload registrations (reference values, policy and secrets of one workload)')),
    NAMESPACE_OPTIONS,
  );

  addStatementTrustOptions(addArtifactOptions(wl.command('register')))
    .option('--statement <file>', 'take reference values and their provenance from a signed statement (DSSE envelope with --trusted-key, Sigstore bundle with --trusted-root)')
    .description('register a workload; prints its workload_id')
    .requiredOption('--tee <tee>', 'TEE of the workload, e.g. snp')
    .option('--reference-value <name=value>', 'expected claim (repeatable; JSON values allowed)', (v, acc: Record<string, unknown>) => keyValue(v, acc, true), {})
    .option('--reference-values-file <file>', 'JSON object of expected claims')
    .option('--policy-file <file>', 'Rego policy (package workload, rule allow); default: every reference value equals its claim')
    .option('--identify <list>', 'comma list of host_data, extra_params, init_data (default host_data,init_data)')
    .option('--resource <name=value>', 'secret (repeatable)', (v, acc: Record<string, unknown>) => keyValue(v, acc, false), {})
    .option('--resource-file <name=file>', 'secret read from a file (repeatable)', (v, acc: Record<string, unknown>) => keyValue(v, acc, false), {})
    .option('--workload-id <id>', 'choose the id (default: a random UUID)')
    .action(async function (this: Command) {
      const f = this.opts();
      // The connection flags are checked before any file is read or any value computed.
      const admin = await client(io, this);
      const resources: Record<string, string> = { ...(f.resource as Record<string, string>) };
      for (const [k, file] of Object.entries(f.resourceFile as Record<string, string>)) resources[k] = readText(io, file, `resource ${k}`);
      let rv = f.referenceValue as Record<string, unknown>;
      let provenance: Record<string, unknown> | undefined;
      if (f.referenceValuesFile) {
        const parsed = parseJson(readText(io, f.referenceValuesFile, 'reference values'), 'reference values file') as Record<string, unknown>;
        rv = { ...parsed, ...rv };
      }
      if (f.fromArtifacts) {
        if (f.tee !== 'snp' && f.tee !== 'tdx') throw new CocoError('WORKLOAD_CLI_USAGE', '--from-artifacts computes SNP and TDX reference values: use it with --tee snp or --tee tdx', { kind: 'usage' });
        const { readBuildArtifacts } = await import('./from-artifacts.js');
        const { referenceValuesFromArtifacts } = await import('../measure/from-artifacts.js');
        const all = await referenceValuesFromArtifacts(readBuildArtifacts(io, f as ArtifactFlags));
        // A registration compares the claims of its TEE: keep the values that TEE's guest reports.
        const claims = f.tee === 'snp' ? SNP_CLAIMS : TDX_CLAIMS;
        const computed = { values: pick(all.values, claims), provenance: pick(all.provenance, claims) };
        if (f.tee === 'snp' && computed.values.measurement === undefined) throw new CocoError('WORKLOAD_CLI_USAGE', '--from-artifacts with --tee snp needs the launch artifacts: --ovmf or --krun-firmware', { kind: 'usage' });
        if (f.tee === 'tdx' && computed.values.mr_td === undefined) throw new CocoError('WORKLOAD_CLI_USAGE', '--from-artifacts with --tee tdx needs the TD firmware: --tdx-firmware (with --kernel, --initrd, --append for RTMR1/RTMR2)', { kind: 'usage' });
        for (const k of Object.keys(computed.values)) {
          if (k in rv && rv[k] !== computed.values[k]) throw new CocoError('WORKLOAD_CLI_USAGE', `--reference-value ${k} contradicts the value computed from the artifacts`, { kind: 'usage' });
        }
        rv = { ...rv, ...computed.values };
        provenance = { ...computed.provenance };
        io.stderr(`reference values from artifacts: ${JSON.stringify(computed)}\n`);
      }
      if (f.statement) {
        const { statementProvenance, verifyStatementFile, workloadValues } = await import('./rv.js');
        const st = verifyStatementFile(io, String(f.statement), f as StatementTrustFlags);
        const values = workloadValues(st);
        for (const k of Object.keys(values)) {
          if (k in rv && rv[k] !== values[k]) throw new CocoError('WORKLOAD_CLI_USAGE', `${k} from the signed statement contradicts the value given or computed for it`, { kind: 'usage' });
        }
        rv = { ...rv, ...values };
        const p = statementProvenance(st);
        provenance = { ...provenance, ...Object.fromEntries(Object.keys(values).map((k) => [k, p])) };
        io.stderr(`verified statement: signer ${st.signer}${st.signerIssuer ? ` (issuer ${st.signerIssuer})` : ''}, statement sha256 ${st.statementDigest}\n`);
      }
      const identify = f.identify ? String(f.identify).split(',').map((s) => s.trim()) : ['host_data', 'init_data'];
      // Under host_data identification HOST_DATA is the id's bytes, so a host_data reference value can only be
      // written for an id chosen up front.
      if ('host_data' in rv && identify.includes('host_data') && !f.workloadId) {
        throw new CocoError('WORKLOAD_CLI_USAGE', 'a host_data reference value needs --workload-id chosen first: HOST_DATA is that UUID\'s 16 bytes followed by 16 zero bytes (print it with: cocokit kbs workload host-data <uuid>)', { kind: 'usage' });
      }
      const body = {
        tee: f.tee,
        reference_values: rv,
        resources,
        ...(f.policyFile ? { policy: readText(io, f.policyFile, 'policy') } : {}),
        ...(f.identify ? { identify: String(f.identify).split(',').map((s) => s.trim()) } : {}),
        ...(f.workloadId ? { workload_id: f.workloadId } : {}),
        ...(provenance ? { provenance } : {}),
      };
      const out = await admin.register(body);
      const { hostDataForUuid, isUuid } = await import('../attestation/workload.js');
      io.stdout(`${out.workload_id}\n`);
      if (identify.includes('host_data') && isUuid(out.workload_id)) io.stderr(`launch the guest with HOST_DATA ${toHex(hostDataForUuid(out.workload_id))}\n`);
      for (const w of out.warnings ?? []) io.stderr(`warning: ${w}\n`);
    });
  addArtifactOptions(wl.command('explain'))
    .description('name the launch parameter change that reproduces a reported SNP measurement, given the registered artifacts')
    .requiredOption('--reported <hex>', 'the MEASUREMENT of the refused report (48 bytes, hex)')
    .action(async function (this: Command) {
      const f = this.opts();
      const reported = fromHex(String(f.reported));
      if (reported.length !== 48) throw new CocoError('WORKLOAD_CLI_USAGE', '--reported must be 48 bytes of hex', { kind: 'usage' });
      const { readArtifacts } = await import('./from-artifacts.js');
      const { explainSnpMismatch, snpReferenceValuesFromArtifacts } = await import('../measure/from-artifacts.js');
      const artifacts = readArtifacts(io, f as ArtifactFlags);
      const { values } = snpReferenceValuesFromArtifacts(artifacts);
      if (values.measurement === toHex(reported)) {
        io.stdout('the reported measurement matches the artifacts as registered\n');
        return;
      }
      const why = await explainSnpMismatch(artifacts, reported);
      if (why === undefined) throw new CocoError('WORKLOAD_EXPLAIN_NONE', 'no single launch parameter change reproduces the reported measurement (different firmware, kernel, initrd or command line?)', { kind: 'expectation' });
      io.stdout(`${why.hint}\n`);
    });
  wl.command('host-data')
    .argument('<uuid>')
    .description('the HOST_DATA (hex) that names a workload registered with host_data identification')
    .action(async (id: string) => {
      const { hostDataForUuid } = await import('../attestation/workload.js');
      io.stdout(`${toHex(hostDataForUuid(id))}\n`);
    });
  wl.command('list')
    .description('workloads of the namespace (never secrets); every page, or one page with --limit/--cursor')
    .option('--limit <n>', 'one page of at most n workloads (the KBS caps it at 1000)')
    .option('--cursor <cursor>', 'the page after the one that printed this cursor')
    .action(async function (this: Command, opts: { limit?: string; cursor?: string }) {
      const c = await client(io, this);
      if (opts.limit === undefined && opts.cursor === undefined) {
        io.stdout(`${JSON.stringify(await c.list(), null, 2)}\n`);
        return;
      }
      const page = await c.listPage({ ...(opts.limit !== undefined ? { limit: pageLimit(opts.limit) } : {}), ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}) });
      io.stdout(`${JSON.stringify(page.items, null, 2)}\n`);
      if (page.next) io.stderr(`next page: --cursor ${page.next}\n`);
    });
  wl.command('show')
    .argument('<id>')
    .description('one workload: reference values, policy, secret names, version')
    .action(async function (this: Command, id: string) {
      io.stdout(`${JSON.stringify(await (await client(io, this)).show(id), null, 2)}\n`);
    });
  wl.command('delete')
    .argument('<id>')
    .description('delete the workload and its secrets')
    .action(async function (this: Command, id: string) {
      await (await client(io, this)).delete(id);
      io.stdout(`deleted ${id}\n`);
    });
}
