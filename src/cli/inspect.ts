/** `cocokit inspect FILE`: every field of an attestation artifact, annotated, and the checks made on it. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import { renderChecks } from '../formats/check.js';
import { inspect, parseReferenceValues, type InspectedField, type Inspection } from '../inspect/inspect.js';
import type { CliIO } from './io.js';

export const INSPECT_DESCRIPTION = 'annotate every field of attestation evidence or a launch artifact, and verify it where possible';

function read(io: CliIO, file: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(io.cwd, file)));
}

function referenceText(m: NonNullable<InspectedField['reference']>): string {
  if (m.status === 'no-reference') return 'reference: none';
  return `reference ${m.name}: ${m.status === 'matched' ? 'matched' : `NOT matched (accepted: ${(m.expected ?? []).join(', ') || 'nothing'})`}`;
}

/** The text form: one line per field (offset, size, name, value), its meaning and decoded flags under it. */
export function renderInspection(r: Inspection): string {
  const out = [r.title, ''];
  for (const f of r.fields) {
    const at = f.offset === undefined ? '' : `0x${f.offset.toString(16).padStart(3, '0')} ${String(f.size ?? '').padStart(3)}  `;
    out.push(`${at}${f.name.padEnd(18)} ${f.value}`);
    const indent = ' '.repeat(at.length + 2);
    if (f.reference) out.push(`${indent}${referenceText(f.reference)}`);
    if (f.meaning) out.push(`${indent}${f.meaning}`);
    if (f.flags) out.push(`${indent}${Object.entries(f.flags).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  if (r.checks.length) out.push('', renderChecks(r.checks));
  for (const n of r.notes) out.push('', n);
  return out.join('\n') + '\n';
}

export function register(program: Command, io: CliIO): void {
  program
    .command('inspect')
    .description(INSPECT_DESCRIPTION)
    .argument(
      '<file>',
      'the artifact: SNP report, TDX quote, TPM quote or evidence, TCG/CCEL event log, EAR token, init-data (TOML, JSON, Kata annotation, image), Kata agent policy, dm-verity hash device, UKI',
    )
    .option('--vcek <file>', 'VCEK/VLEK certificate (DER or PEM) to verify an SNP report with')
    .option('--signature <file>', 'TPMT_SIGNATURE of a TPM quote (TPMS_ATTEST) to verify it with')
    .option('--ak <file>', 'AK public key of a TPM quote (PEM or TPM2B_PUBLIC)')
    .option('--at <iso8601>', 'verification time for certificate validity (default: now)')
    .option('--reference-values <file>', 'reference values ({name: value | [values]} as the KBS stores them, or an RVPS sample message): mark each measurement matched or not')
    .option('--json', 'print the inspection as JSON')
    .action((file: string, f: { vcek?: string; signature?: string; ak?: string; at?: string; json?: boolean; referenceValues?: string }) => {
      const now = f.at === undefined ? new Date() : new Date(f.at);
      if (Number.isNaN(now.getTime())) throw new CocoError('CLI_USAGE', `--at ${f.at} is not an ISO 8601 time`, { kind: 'usage' });
      const referenceValues = f.referenceValues === undefined ? undefined : parseReferenceValues(read(io, f.referenceValues));
      if ((f.signature === undefined) !== (f.ak === undefined)) throw new CocoError('CLI_USAGE', '--signature and --ak go together', { kind: 'usage' });
      const r = inspect(read(io, file), {
        now,
        ...(f.vcek ? { endorsement: read(io, f.vcek) } : {}),
        ...(f.signature && f.ak ? { signature: read(io, f.signature), key: read(io, f.ak) } : {}),
        ...(referenceValues ? { referenceValues } : {}),
      });
      io.stdout(f.json ? `${JSON.stringify(r)}\n` : renderInspection(r));
      // Like `snp verify`: a failed check, or a measurement no reference value accepts, is a failed command.
      if (r.checks.some((c) => !c.ok) || r.fields.some((x) => x.reference?.status === 'not-matched')) io.exitCode = 2;
    });
}
