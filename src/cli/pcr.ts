/**
 * `cocokit pcr common A B`: the PCR values two readings agree on, as reference values. A reading is
 * `tpm2_pcrread` output, a tpm2-tools serialized PCR file (`tpm2_quote -o`), a TCG event log (replayed),
 * or TPM / Azure vTPM evidence JSON (its quoted PCRs).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import { commonPcrs, formatPcrRead, parsePcrRead, type PcrBanks } from '../measure/pcr.js';
import { parseEventLog, replayEventLog } from '../eventlog/index.js';
import { parsePcrsFile } from '../tpm/pcrs-file.js';
import type { CliIO } from './io.js';

/** PCR values from any of the readings `pcr common` accepts, told apart by their first bytes. */
export function pcrSource(bytes: Buffer, what: string): PcrBanks {
  const text = bytes.toString('utf8');
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    let json: any;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new CocoError('PCR_FORMAT', `${what}: not JSON: ${(e as Error).message}`, { kind: 'input' });
    }
    // Trustee tpm evidence (base64 quote, hex PCRs) or Azure evidence (v1/v2 hex, v0 byte arrays).
    const list: unknown = json?.tpm_quote?.pcrs ?? json?.quote?.pcrs;
    if (!Array.isArray(list) || list.length === 0 || list.length > 24) throw new CocoError('PCR_FORMAT', `${what}: JSON without tpm_quote.pcrs`, { kind: 'input' });
    const values = list.map((p, i) => {
      const b = typeof p === 'string' && /^[0-9a-fA-F]{64}$/.test(p) ? Buffer.from(p, 'hex') : Array.isArray(p) && p.length === 32 && p.every((x) => Number.isInteger(x) && x >= 0 && x < 256) ? Buffer.from(p) : undefined;
      if (b === undefined) throw new CocoError('PCR_FORMAT', `${what}: tpm_quote.pcrs[${i}] is not a SHA-256 value`, { kind: 'input' });
      return [i, new Uint8Array(b)] as const;
    });
    return new Map([['sha256', new Map(values)]]);
  }
  if (/^\s*([a-z0-9_]+\s*:\s*$|\d{1,2}\s*:\s*0x)/im.test(trimmed.slice(0, 200)) && !text.includes('\0')) return parsePcrRead(text, what);
  // Binary: a serialized PCR file has a fixed size; anything else is tried as an event log.
  if ((bytes.length - 136) % 532 === 0 && bytes.length >= 668) return parsePcrsFile(new Uint8Array(bytes)).pcrs;
  const log = parseEventLog(new Uint8Array(bytes), { what });
  return replayEventLog(log).banks;
}

function readBytes(io: CliIO, path: string): Buffer {
  try {
    return readFileSync(resolve(io.cwd, path));
  } catch (e) {
    throw new CocoError('CLI_READ', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { kind: 'notfound', cause: e });
  }
}

export function register(program: Command, io: CliIO): void {
  const group = program.command('pcr').description('TPM PCR readings');
  group
    .command('common')
    .description('the PCRs on which two readings agree (reference machine vs cloud VM), as reference values')
    .argument('<reference>', 'reading of the reference machine: tpm2_pcrread output, a serialized PCR file, an event log, or TPM/Azure evidence JSON')
    .argument('<other>', 'reading of the other machine (e.g. the cloud VM), in any of the same forms')
    .option('--json', 'print {bank: {pcr: hex}}')
    .option('--rvps', 'print a reference-value payload for the KBS (RVPS `sample` JSON: {"<prefix>NN": ["hex"]})')
    .option('--rv-prefix <prefix>', 'name prefix of the reference values with --rvps', 'tpm_pcr')
    .option('--bank <bank>', 'bank to take the --rvps values from', 'sha256')
    .action((refPath: string, otherPath: string, o: { json?: boolean; rvps?: boolean; rvPrefix: string; bank: string }) => {
      if (o.json && o.rvps) throw new CocoError('CLI_USAGE', '--json and --rvps are exclusive', { kind: 'usage' });
      const cmp = commonPcrs(pcrSource(readBytes(io, refPath), refPath), pcrSource(readBytes(io, otherPath), otherPath));
      for (const bank of new Set([...cmp.common.keys(), ...cmp.differing.keys(), ...cmp.unpaired.keys()])) {
        const same = [...(cmp.common.get(bank)?.keys() ?? [])];
        const diff = cmp.differing.get(bank) ?? [];
        const alone = cmp.unpaired.get(bank) ?? [];
        io.stderr(
          `# ${bank}: ${same.length} of ${same.length + diff.length} PCRs agree` +
            (diff.length > 0 ? `; differ: ${diff.join(' ')}` : '') +
            (alone.length > 0 ? `; read on one side only: ${alone.join(' ')}` : '') +
            '\n',
        );
      }
      if (o.rvps) {
        const values = cmp.common.get(o.bank.toLowerCase());
        if (values === undefined) throw new CocoError('PCR_NO_COMMON', `no ${o.bank} PCR agrees between the two readings`, { kind: 'expectation' });
        const payload = Object.fromEntries([...values].map(([i, v]) => [`${o.rvPrefix}${String(i).padStart(2, '0')}`, [Buffer.from(v).toString('hex')]]));
        io.stdout(`${JSON.stringify(payload, null, 2)}\n`);
      } else if (o.json) {
        const out = Object.fromEntries([...cmp.common].map(([bank, values]) => [bank, Object.fromEntries([...values].map(([i, v]) => [String(i), Buffer.from(v).toString('hex')]))]));
        io.stdout(`${JSON.stringify(out, null, 2)}\n`);
      } else {
        io.stdout(formatPcrRead(cmp.common));
      }
    });
}
