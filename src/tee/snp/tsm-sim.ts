/**
 * A directory that behaves like configfs-tsm for an SEV-SNP guest (tdx-initdata.md §5.1), with a test-root
 * chip as the "firmware": mkdir creates the attribute files, each attribute write bumps `generation`, and
 * writing `inblob` produces the signed report in `outblob` and the certificate table in `auxblob`.
 * For tests and demos of the guest side without hardware; pass it as `SnpAttester`'s `fs`.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { CocoError } from '../../errors.js';
import type { TsmFs } from '../tsm.js';
import { tsmSimFs } from '../tsm-sim.js';
import { serializeCertTable } from './format.js';
import type { ReportFields, TestChip, TestRoot } from './test-root.js';

export interface TsmSimOptions {
  /** `provider` content (default `sev_guest`). */
  provider?: string;
  /** Fields the firmware puts in every report (e.g. MEASUREMENT, HOST_DATA set at launch). */
  launch?: ReportFields;
  /** Whether the host supplies the certificate table (default true). */
  certTable?: boolean;
  /** Simulates another process writing to the same entry (generation then runs ahead). */
  concurrentWriter?: boolean;
}

/** `root` only needs `signReport`: a `TestRoot`, or `{ signReport: signTestReport }` for a chip loaded from disk. */
export function tsmSimulator(root: Pick<TestRoot, 'signReport'>, chip: TestChip, opts: TsmSimOptions = {}): TsmFs {
  return tsmSimFs({
    provider: opts.provider ?? 'sev_guest',
    attributes: { privlevel_floor: '0' },
    async onInblob(entry, data, bump) {
      if (data.length > 64) throw new CocoError('SNP_TSM_SIM', 'inblob takes at most 64 bytes', { kind: 'input' });
      const reportData = new Uint8Array(64);
      reportData.set(data);
      const vmpl = Number((await fsp.readFile(join(entry, 'privlevel'), 'utf8').catch(() => '0')).trim());
      await fsp.writeFile(join(entry, 'outblob'), root.signReport(chip, { ...opts.launch, reportData, vmpl }));
      if (opts.certTable !== false) await fsp.writeFile(join(entry, 'auxblob'), serializeCertTable([{ type: 'VCEK', data: new Uint8Array(chip.vcek.raw) }]));
      if (opts.concurrentWriter) await bump();
    },
  });
}
