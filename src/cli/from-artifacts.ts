/**
 * The `--from-artifacts` flags shared by `kbs workload register`, `kbs workload explain` and
 * `kbs config set-reference-value`: sev-snp-measure's launch flags (specs/snp.md §4.9) plus `--init-data`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import type { SnpArtifacts } from '../measure/from-artifacts.js';
import type { VmmType } from '../measure/snp-launch/index.js';
import type { CliIO } from './io.js';
import { parseAutoBaseInt } from './measure-snp.js';

export interface ArtifactFlags {
  fromArtifacts?: boolean;
  ovmf?: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  vcpus?: string;
  vcpuType?: string;
  vmmType?: string;
  guestFeatures?: string;
  initData?: string;
}

export function addArtifactOptions(cmd: Command): Command {
  return cmd
    .option('--from-artifacts', 'compute the reference values from build artifacts (the flags below)')
    .option('--ovmf <file>', 'OVMF firmware image')
    .option('--kernel <file>', 'kernel (measured through the SEV hashes table)')
    .option('--initrd <file>', 'initrd')
    .option('--append <cmdline>', 'kernel command line')
    .option('--vcpus <n>', 'number of vCPUs')
    .option('--vcpu-type <type>', 'QEMU vCPU model, e.g. EPYC-Milan')
    .option('--vmm-type <type>', 'QEMU, ec2 or gce', 'QEMU')
    .option('--guest-features <value>', 'SEV_FEATURES of the VMSAs', '0x1')
    .option('--init-data <file>', 'init-data document (TOML or JSON): its digest becomes host_data');
}

function readArtifact(io: CliIO, file: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(resolve(io.cwd, file)));
  } catch (e) {
    throw new CocoError('RV_ARTIFACTS_FILE', `cannot read ${what} '${file}': ${(e as Error).message}`, { kind: 'file', cause: e });
  }
}

/** The artifacts the flags name, read from disk. */
export function readArtifacts(io: CliIO, f: ArtifactFlags): SnpArtifacts {
  if (f.ovmf === undefined) throw new CocoError('RV_ARTIFACTS_USAGE', '--from-artifacts needs --ovmf', { kind: 'usage' });
  if (f.vcpus === undefined || !/^\d+$/.test(f.vcpus)) throw new CocoError('RV_ARTIFACTS_USAGE', '--from-artifacts needs --vcpus <n>', { kind: 'usage' });
  let guestFeatures: bigint;
  try {
    guestFeatures = parseAutoBaseInt(f.guestFeatures ?? '0x1');
  } catch {
    throw new CocoError('RV_ARTIFACTS_USAGE', `--guest-features ${JSON.stringify(f.guestFeatures)} is not an integer`, { kind: 'usage' });
  }
  if (guestFeatures < 0n || guestFeatures > 0xffff_ffff_ffff_ffffn) throw new CocoError('RV_ARTIFACTS_USAGE', '--guest-features is not a 64-bit value', { kind: 'usage' });
  return {
    ovmf: readArtifact(io, f.ovmf, 'OVMF'),
    ...(f.kernel !== undefined ? { kernel: readArtifact(io, f.kernel, 'kernel') } : {}),
    ...(f.initrd !== undefined ? { initrd: readArtifact(io, f.initrd, 'initrd') } : {}),
    ...(f.append !== undefined ? { append: f.append } : {}),
    vcpus: Number(f.vcpus),
    ...(f.vcpuType !== undefined ? { vcpuType: f.vcpuType } : {}),
    vmmType: (f.vmmType ?? 'QEMU') as VmmType,
    guestFeatures,
    ...(f.initData !== undefined ? { initData: readArtifact(io, f.initData, 'init-data') } : {}),
  };
}
