/**
 * The TEE-independent half of a simulated configfs-tsm report entry (Documentation/ABI/testing/configfs-tsm;
 * specs/tdx-initdata.md §5.1), backed by a real directory: mkdir creates `provider` and `generation`, every
 * attribute write bumps `generation`, rmdir removes the entry. What writing `inblob` produces is the TEE's
 * part (snp/tsm-sim.ts, tdx/tsm-sim.ts). For tests and demos of the guest side without hardware.
 */
import * as fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { TsmFs } from './tsm.js';

export interface TsmSimEntry {
  /** `provider` content. */
  provider: string;
  /** Further read-only attributes the provider exposes (e.g. SNP `privlevel_floor`). */
  attributes?: Readonly<Record<string, string>>;
  /** Runs after `inblob` is written and counted; `bump` advances `generation` once more (a concurrent writer). */
  onInblob(entry: string, data: Uint8Array, bump: () => Promise<void>): Promise<void>;
}

export function tsmSimFs(sim: TsmSimEntry): TsmFs {
  const bump = async (entry: string): Promise<void> => {
    const g = Number(await fsp.readFile(join(entry, 'generation'), 'utf8'));
    await fsp.writeFile(join(entry, 'generation'), `${g + 1}\n`);
  };
  return {
    async mkdir(p) {
      await fsp.mkdir(p);
      await fsp.writeFile(join(p, 'provider'), `${sim.provider}\n`);
      await fsp.writeFile(join(p, 'generation'), '0\n');
      for (const [name, value] of Object.entries(sim.attributes ?? {})) await fsp.writeFile(join(p, name), `${value}\n`);
    },
    rmdir: (p) => fsp.rm(p, { recursive: true }),
    async writeFile(p, data) {
      const entry = dirname(p);
      await fsp.writeFile(p, data);
      await bump(entry);
      if (basename(p) !== 'inblob') return;
      await sim.onInblob(entry, data, () => bump(entry));
    },
    readFile: async (p) => new Uint8Array(await fsp.readFile(p)),
  };
}
