/**
 * `cocokit measure krun`: the launch measurement of a libkrun TEE guest, as libkrunfw's krunfw_measurement
 * prints it and buildah registers it (specs/keybroker.md §3.5, §4).
 */
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { type KrunFirmware, findLibkrunfw, krunMeasurements, libraryDirs, readLibkrunfw } from '../measure/krun/index.js';
import type { CliIO } from './io.js';

/** libkrunfw-sev's x86_64 kernel bundle is linked at 16 MiB. */
const DEFAULT_KERNEL_LOAD_ADDR = 0x100_0000;

interface KrunFlags {
  cpus: number;
  ramMib: number;
  tee?: 'sev' | 'sev-es' | 'snp';
  firmware?: string;
  qboot?: string;
  kernel?: string;
  initrd?: string;
  kernelLoadAddr?: number;
}

function parsePositive(text: string): number {
  if (!/^[0-9]+$/.test(text.trim())) throw new InvalidArgumentError(`'${text}' is not a positive integer`);
  const v = Number(text.trim());
  if (v < 1 || !Number.isSafeInteger(v)) throw new InvalidArgumentError(`'${text}' is not a positive integer`);
  return v;
}

function parseAddress(text: string): number {
  const s = text.trim();
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(s)) throw new InvalidArgumentError(`'${text}' is not an address`);
  const v = Number(s);
  if (!Number.isSafeInteger(v)) throw new InvalidArgumentError(`'${text}' is not an address`);
  return v;
}

function readFile(io: CliIO, file: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(resolve(io.cwd, file)));
  } catch (e) {
    throw new CocoError('MEASURE_INPUT_FILE', `cannot read ${what} '${file}': ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The firmware: bundle files given one by one or in a directory (qboot.bin, kernel.bin, initrd.bin), or the
 * libkrunfw-sev library itself, found the way buildah finds it.
 */
export function loadKrunFirmware(f: Pick<KrunFlags, 'firmware' | 'qboot' | 'kernel' | 'initrd' | 'kernelLoadAddr'>, io: CliIO): KrunFirmware {
  const dir = f.firmware === undefined ? undefined : resolve(io.cwd, f.firmware);
  if ((dir !== undefined && isDirectory(dir)) || f.qboot !== undefined || f.kernel !== undefined || f.initrd !== undefined) {
    const bundle = (path: string | undefined, name: string, flag: string): Uint8Array => {
      if (path !== undefined) return readFile(io, path, name);
      if (dir === undefined || !isDirectory(dir)) throw new CocoError('MEASURE_USAGE', `give ${flag} FILE or --firmware DIR holding ${name}.bin`, { kind: 'usage' });
      return readFile(io, join(dir, `${name}.bin`), name);
    };
    return {
      qboot: bundle(f.qboot, 'qboot', '--qboot'),
      kernel: bundle(f.kernel, 'kernel', '--kernel'),
      initrd: bundle(f.initrd, 'initrd', '--initrd'),
      kernelLoadAddr: f.kernelLoadAddr ?? DEFAULT_KERNEL_LOAD_ADDR,
    };
  }
  // A path with a slash is taken relative to the working directory; a bare name is searched like buildah does.
  const name = f.firmware === undefined ? undefined : f.firmware.includes('/') && !isAbsolute(f.firmware) ? resolve(io.cwd, f.firmware) : f.firmware;
  const library = findLibkrunfw(name, libraryDirs(io.env.LD_LIBRARY_PATH));
  return readLibkrunfw(readFile(io, library, 'libkrunfw-sev'), f.kernelLoadAddr);
}

export function measureKrun(f: KrunFlags, io: CliIO): void {
  const m = krunMeasurements({ ...loadKrunFirmware(f, io), cpus: f.cpus, ramMib: f.ramMib });
  if (f.tee === undefined) {
    // krunfw_measurement's own output, which buildah scans for the "SNP:" / "SEV-ES:" / "SEV:" prefix.
    io.stdout(`SEV:\t${toHex(m.sev)}\nSEV-ES:\t${toHex(m.sevEs)}\nSNP:\t${toHex(m.snp)}\n`);
    return;
  }
  io.stdout(`${toHex(f.tee === 'snp' ? m.snp : f.tee === 'sev-es' ? m.sevEs : m.sev)}\n`);
}

export function register(measure: Command, io: CliIO): void {
  measure
    .command('krun')
    .description('launch measurement of a libkrun SEV / SEV-ES / SNP guest (krunfw_measurement compatible)')
    .requiredOption('-c, --cpus <N>', 'number of guest vCPUs', parsePositive)
    .requiredOption('-m, --ram-mib <M>', 'guest RAM in MiB', parsePositive)
    .addOption(new Option('--tee <tee>', 'print only this digest (default: all three, krunfw_measurement style)').choices(['sev', 'sev-es', 'snp']))
    .option('--firmware <PATH>', 'libkrunfw-sev library (path or name), or a directory holding qboot.bin, kernel.bin and initrd.bin; default: libkrunfw-sev.so.4/.3/.so searched like buildah in /usr/local/lib64, /usr/local/lib, /lib64, /lib, /usr/lib64, /usr/lib, then LD_LIBRARY_PATH')
    .option('--qboot <FILE>', 'qboot firmware bundle (mapped at 0xFFFF0000)')
    .option('--kernel <FILE>', 'kernel bundle (PT_LOAD segments as libkrunfw lays them out)')
    .option('--initrd <FILE>', 'initrd bundle (mapped at 0xA00000)')
    .option('--kernel-load-addr <ADDR>', 'GPA of the kernel bundle (default: from the library, or 0x1000000 for bundle files)', parseAddress)
    .action((flags: KrunFlags) => measureKrun(flags, io));
}
