/** `cocokit pcr common A B`: the PCR values two `tpm2_pcrread` readings agree on, as reference values. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import { commonPcrs, formatPcrRead, parsePcrRead } from '../measure/pcr.js';
import type { CliIO } from './io.js';

function readText(io: CliIO, path: string): string {
  try {
    return readFileSync(resolve(io.cwd, path), 'utf8');
  } catch (e) {
    throw new CocoError('CLI_READ', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { kind: 'notfound', cause: e });
  }
}

export function register(program: Command, io: CliIO): void {
  const group = program.command('pcr').description('TPM PCR readings');
  group
    .command('common')
    .description('the PCRs on which two tpm2_pcrread outputs agree (reference machine vs cloud VM), as reference values')
    .argument('<reference>', 'tpm2_pcrread output of the reference machine')
    .argument('<other>', 'tpm2_pcrread output of the other machine (e.g. the cloud VM)')
    .option('--json', 'print {bank: {pcr: hex}}')
    .option('--rvps', 'print a reference-value payload for the KBS (RVPS `sample` JSON: {"<prefix>NN": ["hex"]})')
    .option('--rv-prefix <prefix>', 'name prefix of the reference values with --rvps', 'tpm_pcr')
    .option('--bank <bank>', 'bank to take the --rvps values from', 'sha256')
    .action((refPath: string, otherPath: string, o: { json?: boolean; rvps?: boolean; rvPrefix: string; bank: string }) => {
      if (o.json && o.rvps) throw new CocoError('CLI_USAGE', '--json and --rvps are exclusive', { kind: 'usage' });
      const cmp = commonPcrs(parsePcrRead(readText(io, refPath), refPath), parsePcrRead(readText(io, otherPath), otherPath));
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
