/**
 * `cocokit rv import FILE`: verifies a signed in-toto Statement of expected measurements — a DSSE envelope
 * against `--trusted-key`s, or a Sigstore bundle against `--trusted-root` and the signer named by
 * `--certificate-identity` / `--certificate-oidc-issuer` — and registers its reference values: in the KBS's
 * RVPS (`--url`) or in a workload registration (`--url --workload ID`), with their provenance.
 * The signer identity, statement digest, predicate type, subjects and SBOM components are the provenance.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import { isRecord } from '../formats/json.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { WorkloadAdminClient } from '../client/workload-client.js';
import { importDsseStatement, trustedKey, type ImportedStatement } from '../attestation/signed-statement.js';
import { importSigstoreBundle, isSigstoreBundle, parseTrustedRoot } from '../attestation/sigstore-bundle.js';
import type { CliIO } from './io.js';
import { ADMIN_CONNECTION_OPTIONS, NAMESPACE_OPTIONS, parseAdminConnection, type AdminConnectionFlags, type NamespaceFlags } from './admin-connection.js';
import { addOptions, type OptionSpec, type OptionValues } from './options.js';
import { STATEMENT_TRUST_OPTIONS, type StatementTrustFlags } from './statement-options.js';

function readArg(io: CliIO, file: string, what: string): Buffer {
  try {
    return readFileSync(resolve(io.cwd, file));
  } catch (e) {
    throw new CocoError('RV_FILE', `cannot read ${what} '${file}': ${(e as Error).message}`, { kind: 'file', cause: e });
  }
}

export { STATEMENT_TRUST_OPTIONS, addStatementTrustOptions, type StatementTrustFlags } from './statement-options.js';

/** Verifies a statement file (DSSE envelope or Sigstore bundle, told apart by the bundle media type). */
export function verifyStatementFile(io: CliIO, file: string, o: StatementTrustFlags): ImportedStatement {
  const bytes = readArg(io, file, 'statement');
  if (isSigstoreBundle(bytes)) {
    if (o.trustedRoot === undefined) throw new CocoError('CLI_USAGE', `${file} is a Sigstore bundle: verify it with --trusted-root and --certificate-identity / --certificate-oidc-issuer`, { kind: 'usage' });
    const trust = parseTrustedRoot(readArg(io, o.trustedRoot, 'trusted root'));
    return importSigstoreBundle(bytes, trust, o);
  }
  if (o.trustedKey.length === 0) {
    throw new CocoError('CLI_USAGE', o.trustedRoot !== undefined ? `${file} is not a Sigstore bundle: a DSSE envelope needs --trusted-key` : 'a signed statement needs --trusted-key or --trusted-root (it is only as good as its signer)', { kind: 'usage' });
  }
  return importDsseStatement(bytes, o.trustedKey.map((k) => trustedKey(readArg(io, k, 'trusted key').toString('utf8'))));
}

/**
 * The provenance a statement gives each of its reference values, in the one provenance shape of RVPS records
 * and workload registrations: the statement's digest is the input, its predicate type and subjects the
 * parameters; the signer (and the SBOM's components) beside them for policies to read.
 */
export function statementProvenance(st: ImportedStatement): Record<string, unknown> {
  return {
    algorithm: 'signed-statement',
    parameters: { predicate_type: st.predicateType, subjects: st.subjects },
    inputs: { statement: st.statementDigest },
    signer: st.signer,
    ...(st.signerIssuer !== undefined ? { signer_issuer: st.signerIssuer } : {}),
    ...(st.components ? { components: st.components } : {}),
  };
}

/**
 * A workload registration compares one expected value per claim: a statement value list of one becomes
 * that value, a longer list is refused rather than silently narrowed.
 */
export function workloadValues(st: ImportedStatement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [claim, list] of Object.entries(st.values)) {
    if (list.length !== 1) throw new CocoError('CLI_USAGE', `the statement lists ${list.length} values for ${claim}; a workload registration holds one per claim (register the others as separate workloads)`, { kind: 'usage' });
    out[claim] = list[0];
  }
  return out;
}

/** Where `rv import` registers what it verified. */
const IMPORT_OPTIONS = [
  ['--workload <id>', 'register into this workload registration (with provenance) instead of the RVPS'],
  ['--dry-run', 'verify and print, register nothing (no --url needed)'],
] as const satisfies readonly OptionSpec[];

type ImportFlags = StatementTrustFlags & AdminConnectionFlags & NamespaceFlags & OptionValues<typeof IMPORT_OPTIONS>;

export function register(program: Command, io: CliIO): void {
  const rv = program.command('rv').description('reference values: import signed statements of expected measurements');
  addOptions(
    rv
      .command('import')
      .description('verify a signed in-toto Statement (DSSE envelope or Sigstore bundle) and register its reference values')
      .argument('<file>', 'DSSE envelope or Sigstore bundle (JSON)'),
    [...STATEMENT_TRUST_OPTIONS, ...ADMIN_CONNECTION_OPTIONS, ...NAMESPACE_OPTIONS, ...IMPORT_OPTIONS],
  )
    .action(async (file: string, o: ImportFlags) => {
      // The connection is checked before the statement is verified: a bad flag costs no signature check.
      const conn = o.dryRun ? undefined : parseAdminConnection(io, o);
      const st = verifyStatementFile(io, file, o);
      const provenance = statementProvenance(st);
      io.stderr(`verified: signer ${st.signer}${st.signerIssuer ? ` (issuer ${st.signerIssuer})` : ''}, statement sha256 ${st.statementDigest}\n`);
      if (conn !== undefined) {
        if (o.workload !== undefined) {
          const values = workloadValues(st);
          const client = new WorkloadAdminClient(conn.url, { ...conn, namespace: o.namespace });
          const current = await client.show(o.workload);
          if (!isRecord(current) || typeof current.tee !== 'string' || !isRecord(current.reference_values) || typeof current.version !== 'number') {
            throw new CocoError('RV_WORKLOAD', `the KBS answered an unexpected workload description for ${o.workload}`, { kind: 'input' });
          }
          // The statement's claims replace those of the same name; the others (and their provenance) stay.
          const out = await client.update(o.workload, {
            tee: current.tee,
            reference_values: { ...current.reference_values, ...values },
            provenance: Object.fromEntries(Object.keys(values).map((k) => [k, provenance])),
            version: current.version,
          });
          io.stderr(`workload ${o.workload} now at version ${out.version}\n`);
        } else {
          await new KbsAdminClient(conn.url, conn).setReferenceValues(st.values, Object.fromEntries(Object.keys(st.values).map((k) => [k, provenance])));
        }
      }
      io.stdout(`${JSON.stringify({ reference_values: st.values, provenance })}\n`);
    });
}
