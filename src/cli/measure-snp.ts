/**
 * `cocokit measure snp`: SEV / SEV-ES / SEV-SNP launch digests with the flags and output of virtee's
 * sev-snp-measure (specs/snp.md §4.9), so scripts can swap one for the other.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { CocoError } from '../errors.js';
import { fromHex, toBase64, toHex } from '../formats/bytes.js';
import {
  CPU_SIGS,
  PAGE_TYPE_NAMES,
  type PageUpdate,
  VMM_TYPES,
  type VmmType,
  cpuSig,
  sevEsLaunchDigest,
  sevLaunchDigest,
  snpLaunchDigest,
  snpOvmfHash,
  svsmLaunchDigest,
} from '../measure/snp-launch/index.js';
import type { CliIO } from './io.js';

const MODES = ['sev', 'seves', 'snp', 'snp:ovmf-hash', 'snp:svsm'] as const;
type Mode = (typeof MODES)[number];

/** The names sev-snp-measure prints with `-v` (its SevMode enum). */
const MODE_NAMES: Record<Mode, string> = { sev: 'SEV', seves: 'SEV_ES', snp: 'SEV_SNP', 'snp:ovmf-hash': 'SEV_SNP', 'snp:svsm': 'SEV_SNP_SVSM' };

interface SnpFlags {
  mode: Mode;
  verbose?: boolean;
  vcpus?: number;
  vcpuType?: string;
  vcpuSig?: number;
  vcpuFamily?: number;
  vcpuModel?: number;
  vcpuStepping?: number;
  vmmType: string;
  ovmf: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  guestFeatures: bigint;
  outputFormat: 'hex' | 'base64';
  snpOvmfHash?: string;
  svsm?: string;
  varsSize?: number;
  varsFile?: string;
  trace?: boolean;
  dumpVmsa?: boolean;
}

/** Python's `int(s, 0)`: decimal without leading zeros, or 0x / 0o / 0b prefixed; `_` between digits. */
export function parseAutoBaseInt(text: string): bigint {
  const s = text.trim();
  const m = /^([+-]?)(0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?0)*|[1-9](?:_?[0-9])*)$/.exec(s);
  if (m === null) throw new InvalidArgumentError(`invalid int value: '${text}'`);
  const v = BigInt(m[2].replace(/_/g, '').replace(/^0[oO]/, '0o').replace(/^0[bB]/, '0b').replace(/^0[xX]/, '0x'));
  return m[1] === '-' ? -v : v;
}

/** Python's `int(s)`. */
function parseDecimal(text: string): number {
  const s = text.trim();
  if (!/^[+-]?[0-9](?:_?[0-9])*$/.test(s)) throw new InvalidArgumentError(`invalid int value: '${text}'`);
  return Number(s.replace(/_/g, ''));
}

const parseU32 = (text: string): number => {
  const v = parseAutoBaseInt(text);
  if (v < 0n || v > 0xffff_ffffn) throw new InvalidArgumentError(`'${text}' is not a 32-bit value`);
  return Number(v);
};

const parseU64 = (text: string): bigint => {
  const v = parseAutoBaseInt(text);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new InvalidArgumentError(`'${text}' is not a 64-bit value`);
  return v;
};

function usage(message: string): CocoError {
  return new CocoError('MEASURE_USAGE', message, { kind: 'usage' });
}

function readInput(io: CliIO, path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(resolve(io.cwd, path)));
  } catch (e) {
    throw new CocoError('MEASURE_INPUT_FILE', `cannot read ${what} '${path}': ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

/** vCPU signature precedence of sev-snp-measure's `get_vcpu_sig` (specs/snp.md §4.4). */
function vcpuSigOf(f: SnpFlags, vmm: VmmType): number | undefined {
  if (f.mode === 'sev') return 0;
  if (f.vcpuFamily !== undefined) {
    if (f.vcpuModel === undefined || f.vcpuStepping === undefined) throw usage('--vcpu-family needs --vcpu-model and --vcpu-stepping');
    return cpuSig(f.vcpuFamily, f.vcpuModel, f.vcpuStepping);
  }
  if (f.vcpuSig !== undefined) return f.vcpuSig;
  if (f.vcpuType !== undefined) return CPU_SIGS.get(f.vcpuType);
  if (vmm === 'QEMU') throw usage(`missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode '${f.mode}'`);
  return undefined; // EC2 and GCE put a fixed value in RDX
}

function traceHook(io: CliIO): (u: PageUpdate) => void {
  let n = 0;
  return (u) => {
    io.stderr(`page ${n++} ${PAGE_TYPE_NAMES[u.pageType]} gpa=0x${u.gpa.toString(16)} contents=${toHex(u.contents)} ld=${toHex(u.ld)}\n`);
  };
}

export function measureSnp(f: SnpFlags, io: CliIO): void {
  const ovmf = readInput(io, f.ovmf, 'OVMF');
  const onPage = f.trace ? traceHook(io) : undefined;
  if (f.mode === 'snp:ovmf-hash') {
    // The upstream tool prints this mode in hex whatever --output-format says.
    io.stdout(`${toHex(snpOvmfHash(ovmf, onPage))}\n`);
    return;
  }
  if (f.initrd !== undefined && f.kernel === undefined) throw usage('--kernel required when using --initrd');
  if (f.append && f.kernel === undefined) throw usage('--kernel required when using --append');
  if (f.mode !== 'sev' && f.vcpus === undefined) throw usage(`missing --vcpus N in guest mode '${f.mode}'`);
  if (!(VMM_TYPES as readonly string[]).includes(f.vmmType)) throw usage(`unknown VMM type '${f.vmmType}'`);
  const vmm = f.vmmType as VmmType;
  const vcpuSig = vcpuSigOf(f, vmm);
  if (f.snpOvmfHash && f.mode !== 'snp') throw usage('SNP OVMF hash only works with SNP');
  if (f.varsSize !== undefined && f.varsFile !== undefined) throw usage('--vars-size and --vars-file are mutually exclusive');
  if (f.dumpVmsa && f.mode === 'sev') throw usage('--dump-vmsa is not available in the selected mode');
  // Upstream writes vmsa<N>.bin into the working directory.
  const onVmsa = f.dumpVmsa ? (i: number, page: Uint8Array) => writeFileSync(resolve(io.cwd, `vmsa${i}.bin`), page) : undefined;

  const kernel = f.kernel === undefined ? undefined : readInput(io, f.kernel, 'kernel');
  const initrd = f.initrd === undefined ? undefined : readInput(io, f.initrd, 'initrd');
  const vcpus = f.vcpus ?? 0;
  let ld: Uint8Array;
  switch (f.mode) {
    case 'sev':
      ld = sevLaunchDigest({ ovmf, kernel, initrd, cmdline: f.append });
      break;
    case 'seves':
      ld = sevEsLaunchDigest({ ovmf, kernel, initrd, cmdline: f.append, vcpus, vcpuSig, vmm, onVmsa });
      break;
    case 'snp': {
      const ovmfHash = f.snpOvmfHash ? fromHex(f.snpOvmfHash.replace(/\s+/g, ''), '--snp-ovmf-hash') : undefined;
      ld = snpLaunchDigest({ ovmf, kernel, initrd, cmdline: f.append, vcpus, vcpuSig, vmm, guestFeatures: f.guestFeatures, ovmfHash, onPage, onVmsa });
      break;
    }
    case 'snp:svsm': {
      let varsSize: number;
      if (f.varsFile !== undefined) {
        try {
          varsSize = statSync(resolve(io.cwd, f.varsFile)).size;
        } catch (e) {
          throw new CocoError('MEASURE_INPUT_FILE', `cannot read OVMF vars '${f.varsFile}': ${(e as Error).message}`, { kind: 'input', cause: e });
        }
      } else if (f.varsSize) varsSize = f.varsSize;
      else throw usage('snp:svsm mode requires --vars-size or --vars-file');
      if (vmm !== 'QEMU') throw usage('SVSM mode is only implemented for Qemu.');
      if (f.svsm === undefined) throw usage('snp:svsm mode requires --svsm');
      ld = svsmLaunchDigest({ ovmf, svsm: readInput(io, f.svsm, 'SVSM'), varsSize, vcpus, vcpuSig, onPage, onVmsa });
      break;
    }
  }
  const text = f.outputFormat === 'base64' ? toBase64(ld) : toHex(ld);
  io.stdout(f.verbose ? `Calculated ${MODE_NAMES[f.mode]} guest measurement: ${text}\n` : `${text}\n`);
}

export function register(measure: Command, io: CliIO): void {
  measure
    .command('snp')
    .description('AMD SEV / SEV-ES / SEV-SNP guest launch measurement (sev-snp-measure compatible)')
    .addOption(new Option('--mode <mode>', 'guest mode').choices(MODES).makeOptionMandatory())
    .option('-v, --verbose', 'print "Calculated <MODE> guest measurement: …"')
    .option('--vcpus <N>', 'number of guest vCPUs', parseDecimal)
    .addOption(new Option('--vcpu-type <CPUTYPE>', 'type of guest vCPU').choices([...CPU_SIGS.keys()]))
    .option('--vcpu-sig <VALUE>', 'guest vCPU signature value', parseU32)
    .option('--vcpu-family <FAMILY>', 'guest vCPU family', parseDecimal)
    .option('--vcpu-model <MODEL>', 'guest vCPU model', parseDecimal)
    .option('--vcpu-stepping <STEPPING>', 'guest vCPU stepping', parseDecimal)
    .option('--vmm-type <VMMTYPE>', `type of guest VMM (${VMM_TYPES.join(', ')})`, 'QEMU')
    .requiredOption('--ovmf <PATH>', 'OVMF file to calculate the hash from')
    .option('--kernel <PATH>', 'kernel file to calculate the hash from')
    .option('--initrd <PATH>', 'initrd file to calculate the hash from (use with --kernel)')
    .option('--append <CMDLINE>', 'kernel command line to calculate the hash from (use with --kernel)')
    .addOption(new Option('--guest-features <VALUE>', 'SEV_FEATURES of the guest VMSAs').argParser(parseU64).default(0x1n, '0x1'))
    .addOption(new Option('--output-format <FORMAT>', 'measurement output format').choices(['hex', 'base64']).default('hex'))
    .option('--snp-ovmf-hash <HASH>', 'precalculated hash of the OVMF binary (hex string)')
    .option('--svsm <PATH>', 'SVSM binary (snp:svsm mode)')
    .option('--vars-size <SIZE>', 'size of the OVMF_VARS file in bytes (snp:svsm mode)', parseDecimal)
    .option('--vars-file <PATH>', 'OVMF_VARS file (snp:svsm mode)')
    .option('--dump-vmsa', 'write the measured VMSA pages to vmsa<N>.bin (seves, snp and snp:svsm modes)')
    .option('--trace', 'print every page update (type, GPA, contents hash, digest after) to stderr')
    .action((flags: SnpFlags) => measureSnp(flags, io));
}
