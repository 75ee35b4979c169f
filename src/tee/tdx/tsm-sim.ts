/**
 * A directory that behaves like configfs-tsm for a TDX guest (specs/tdx-initdata.md §5.1), with a test root
 * as the "TDX module + QE": mkdir creates the attribute files, each write bumps `generation`, and writing
 * `inblob` produces a signed quote in `outblob`. For tests and demos of the guest side without hardware.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { CocoError } from '../../errors.js';
import type { TsmFs } from '../tsm.js';
import { tsmSimFs } from '../tsm-sim.js';
import type { TdxTestRoot, TestQuoteFields } from './test-root.js';

export interface TdxTsmSimOptions {
  /** `provider` content (default `tdx_guest`). */
  provider?: string;
  /** Fields the TD was launched with (MRTD, RTMRs, MRCONFIGID, attributes, …). */
  launch?: TestQuoteFields;
}

export function tdxTsmSimulator(root: Pick<TdxTestRoot, 'signQuote'>, opts: TdxTsmSimOptions = {}): TsmFs {
  return tsmSimFs({
    provider: opts.provider ?? 'tdx_guest',
    async onInblob(entry, data) {
      if (data.length > 64) throw new CocoError('TDX_TSM_SIM', 'inblob takes at most 64 bytes', { kind: 'input' });
      const reportData = new Uint8Array(64);
      reportData.set(data);
      await fsp.writeFile(join(entry, 'outblob'), root.signQuote({ ...opts.launch, reportData }));
    },
  });
}
