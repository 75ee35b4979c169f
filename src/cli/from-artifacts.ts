/**
 * The `--from-artifacts` flags shared by `kbs workload register`, `kbs workload explain` and
 * `kbs config set-reference-value`: sev-snp-measure's launch flags (specs/snp.md §4.9), `--init-data`, and
 * the other measured artifacts: a rootfs image (dm-verity root hash), a UKI (PCR 11), libkrun's firmware
 * with `--cpus` / `--ram-mib`, a TDX firmware (MRTD, with `--kernel` / `--initrd` / `--append` RTMR1-2).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CocoError } from '../errors.js';
import type { BuildArtifacts, SnpArtifacts } from '../measure/from-artifacts.js';
import type { VmmType } from '../measure/snp-launch/index.js';
import { fromHex } from '../formats/bytes.js';
import type { CliIO } from './io.js';
import type { ArtifactFlags } from './artifact-options.js';
import { loadKrunFirmware } from './measure-krun.js';
import { parseAutoBaseInt } from './measure-snp.js';

export { ARTIFACT_OPTIONS, addArtifactOptions, type ArtifactFlags } from './artifact-options.js';

function positive(v: string | undefined, flag: string): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new CocoError('RV_ARTIFACTS_USAGE', `${flag} needs a positive integer`, { kind: 'usage' });
  return Number(v);
}

/**
 * Every artifact the flags name, read from disk, for `referenceValuesFromArtifacts`. `--kernel`, `--initrd`
 * and `--append` belong to the OVMF (SNP) launch when `--ovmf` is given, else to the TDX direct boot.
 */
export function readBuildArtifacts(io: CliIO, f: ArtifactFlags): BuildArtifacts {
  const out: BuildArtifacts = {};
  if (f.ovmf !== undefined || f.vcpus !== undefined) {
    const { initData: _, ...snp } = readArtifacts(io, f);
    out.snp = snp;
  }
  if (f.krunFirmware !== undefined) {
    out.krun = { ...loadKrunFirmware({ firmware: f.krunFirmware }, io), cpus: positive(f.cpus, '--cpus'), ramMib: positive(f.ramMib, '--ram-mib') };
  } else if (f.cpus !== undefined || f.ramMib !== undefined) {
    throw new CocoError('RV_ARTIFACTS_USAGE', '--cpus and --ram-mib measure a libkrun guest: give --krun-firmware', { kind: 'usage' });
  }
  if (f.tdxFirmware !== undefined) {
    const order = f.tdxPageAddOrder ?? 'single-pass';
    if (order !== 'single-pass' && order !== 'two-pass') throw new CocoError('RV_ARTIFACTS_USAGE', '--tdx-page-add-order is single-pass or two-pass', { kind: 'usage' });
    out.tdx = {
      firmware: readArtifact(io, f.tdxFirmware, 'TDX firmware'),
      pageAddOrder: order,
      ...(f.ovmf === undefined && f.kernel !== undefined ? { kernel: readArtifact(io, f.kernel, 'kernel') } : {}),
      ...(f.ovmf === undefined && f.initrd !== undefined ? { initrd: readArtifact(io, f.initrd, 'initrd') } : {}),
      ...(f.ovmf === undefined && f.append !== undefined ? { append: f.append } : {}),
    };
  }
  if (f.uki !== undefined) out.uki = readArtifact(io, f.uki, 'UKI');
  if (f.initData !== undefined) out.initData = readArtifact(io, f.initData, 'init-data');
  if (f.rootfs !== undefined) {
    let salt: Uint8Array | undefined;
    if (f.veritySalt !== undefined) {
      if (f.veritySalt !== '-' && (!/^([0-9a-fA-F]{2})+$/.test(f.veritySalt) || f.veritySalt.length > 512)) throw new CocoError('RV_ARTIFACTS_USAGE', '--verity-salt is hex (at most 256 bytes) or -', { kind: 'usage' });
      salt = f.veritySalt === '-' ? new Uint8Array(0) : fromHex(f.veritySalt);
    }
    out.rootfs = { image: resolve(io.cwd, f.rootfs), ...(f.verityHashDevice !== undefined ? { hashDevice: resolve(io.cwd, f.verityHashDevice) } : {}), ...(salt ? { salt } : {}) };
  } else if (f.verityHashDevice !== undefined || f.veritySalt !== undefined) {
    throw new CocoError('RV_ARTIFACTS_USAGE', '--verity-hash-device and --verity-salt need --rootfs', { kind: 'usage' });
  }
  if (Object.keys(out).length === 0) throw new CocoError('RV_ARTIFACTS_USAGE', '--from-artifacts needs artifacts: --ovmf, --krun-firmware, --tdx-firmware, --uki, --init-data or --rootfs', { kind: 'usage' });
  return out;
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
