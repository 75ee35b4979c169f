/**
 * `cocokit rv import FILE --trusted-key KEY`: verifies a signed in-toto Statement of expected measurements
 * (DSSE envelope) against the operator's trusted keys and registers its reference values in the KBS's RVPS.
 * The signer identity and the statement digest are printed as the values' provenance.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { importDsseStatement, trustedKey } from '../attestation/signed-statement.js';
import type { CliIO } from './io.js';

function readArg(io: CliIO, file: string, what: string): Buffer {
  try {
    return readFileSync(resolve(io.cwd, file));
  } catch (e) {
    throw new CocoError('RV_FILE', `cannot read ${what} '${file}': ${(e as Error).message}`, { kind: 'file', cause: e });
  }
}

export function register(program: Command, io: CliIO): void {
  const rv = program.command('rv').description('reference values: import signed statements of expected measurements');
  rv.command('import')
    .description('verify a DSSE-signed in-toto Statement (cocokit or CycloneDX predicate) and register its reference values')
    .argument('<file>', 'DSSE envelope (JSON)')
    .option('--trusted-key <pem>', 'PEM public key of a trusted signer (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--url <url>', 'KBS URL (omit with --dry-run)')
    .option('--auth-private-key <file>', 'admin private key (PEM)')
    .option('--cert-file <file>', 'CA certificate of an HTTPS KBS')
    .option('--dry-run', 'verify and print, register nothing')
    .action(async (file: string, o: { trustedKey: string[]; url?: string; authPrivateKey?: string; certFile?: string; dryRun?: boolean }) => {
      if (o.trustedKey.length === 0) throw new CocoError('CLI_USAGE', 'rv import needs --trusted-key (a statement is only as good as its signer)', { kind: 'usage' });
      const keys = o.trustedKey.map((k) => trustedKey(readArg(io, k, 'trusted key').toString('utf8')));
      const st = importDsseStatement(readArg(io, file, 'statement'), keys);
      const provenance = {
        algorithm: 'signed-statement',
        signer: st.signer,
        statement_sha256: st.statementDigest,
        predicate_type: st.predicateType,
        subjects: st.subjects,
        ...(st.components ? { components: st.components } : {}),
      };
      io.stderr(`verified: signer ${st.signer}, statement sha256 ${st.statementDigest}\n`);
      if (!o.dryRun) {
        if (o.url === undefined) throw new CocoError('CLI_USAGE', "required option '--url <url>' not specified (or --dry-run)", { kind: 'usage' });
        const client = new KbsAdminClient(o.url, {
          privateKeyPem: o.authPrivateKey ? readArg(io, o.authPrivateKey, 'admin private key').toString('utf8') : undefined,
          ca: o.certFile ? readArg(io, o.certFile, 'CA certificate').toString('utf8') : undefined,
        });
        await client.setReferenceValues(st.values);
      }
      io.stdout(`${JSON.stringify({ reference_values: st.values, provenance })}\n`);
    });
}
