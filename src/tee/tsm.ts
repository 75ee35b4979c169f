/**
 * One configfs-tsm report request (Linux ≥ 6.7, Documentation/ABI/testing/configfs-tsm; specs/tdx-initdata.md
 * §5.1), shared by the SEV-SNP and TDX attesters: mkdir a report entry under the tsm directory, check that
 * `provider` is the expected TEE, write any extra attributes and then `inblob`, read `outblob` (and `auxblob`
 * when asked), check `generation`, rmdir. What the blobs mean is up to the caller (snp.md, tdx-initdata.md).
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';

export const TSM_REPORT_PATH = '/sys/kernel/config/tsm/report';

/** The file operations the configfs protocol needs; node:fs/promises by default. */
export interface TsmFs {
  mkdir(path: string): Promise<unknown>;
  rmdir(path: string): Promise<unknown>;
  writeFile(path: string, data: Uint8Array): Promise<unknown>;
  readFile(path: string): Promise<Uint8Array>;
}

export const nodeTsmFs: TsmFs = {
  mkdir: (p) => fsp.mkdir(p),
  rmdir: (p) => fsp.rmdir(p),
  writeFile: (p, d) => fsp.writeFile(p, d),
  readFile: async (p) => new Uint8Array(await fsp.readFile(p)),
};

export interface TsmRequest {
  /** The `provider` this TEE's guest driver registers (`sev_guest`, `tdx_guest`). */
  provider: string;
  /** Written to `inblob` as is; sizing it (64 bytes of report data for both TEEs) is the caller's job. */
  inblob: Uint8Array;
  /** Attributes written before `inblob` (e.g. SNP `privlevel`); each one counts towards `generation`. */
  attributes?: ReadonlyArray<readonly [name: string, value: string]>;
  /** Read `auxblob` too (SNP certificate table); a missing or unreadable one comes back as null. */
  auxblob?: boolean;
  /** Builds the TEE's own error (its code) from a message; messages start without the `configfs-tsm: ` prefix. */
  error: (message: string, cause?: unknown) => Error;
  /** The message for a `generation` that ran ahead of our writes (each TEE keeps its wording). */
  generationMessage?: (generation: number, writes: number) => string;
}

export interface TsmResponse {
  outblob: Uint8Array;
  auxblob: Uint8Array | null;
}

/** Performs one report request in a fresh entry under `tsmPath`, removing the entry whatever happens. */
export async function tsmReport(fs: TsmFs, tsmPath: string, req: TsmRequest): Promise<TsmResponse> {
  const entry = join(tsmPath, `cocokit-${randomBytes(8).toString('hex')}`);
  try {
    await fs.mkdir(entry);
  } catch (e) {
    throw req.error(`cannot create ${entry}: ${(e as Error).message}`, e);
  }
  try {
    const provider = Buffer.from(await fs.readFile(join(entry, 'provider'))).toString('utf8').trim();
    if (provider !== req.provider) throw req.error(`provider is ${JSON.stringify(provider)}, not ${req.provider}`);
    let writes = 0;
    for (const [name, value] of req.attributes ?? []) {
      await fs.writeFile(join(entry, name), new Uint8Array(Buffer.from(value)));
      writes++;
    }
    await fs.writeFile(join(entry, 'inblob'), req.inblob);
    writes++;
    const outblob = await fs.readFile(join(entry, 'outblob'));
    let auxblob: Uint8Array | null = null;
    if (req.auxblob) {
      try {
        auxblob = await fs.readFile(join(entry, 'auxblob'));
      } catch {
        auxblob = null; // the host supplied no auxiliary data
      }
    }
    // generation counts attribute writes; more than ours means another process wrote to the entry.
    const generation = Number(Buffer.from(await fs.readFile(join(entry, 'generation'))).toString('utf8').trim());
    if (generation !== writes) {
      throw req.error(req.generationMessage?.(generation, writes) ?? `generation is ${generation} after ${writes} write(s): the entry was used concurrently`);
    }
    return { outblob, auxblob };
  } finally {
    await fs.rmdir(entry).catch(() => undefined);
  }
}
