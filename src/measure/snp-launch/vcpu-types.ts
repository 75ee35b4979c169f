/**
 * vCPU signatures (CPUID Fn0000_0001_EAX) of QEMU's built-in EPYC models; QEMU puts the signature in RDX of
 * the initial VMSA (specs/snp.md §4.4, AMD CPUID specification #25481).
 */
import { CocoError } from '../../errors.js';

/** CPUID(1).EAX from family, model and stepping (extended family above 0xF). */
export function cpuSig(family: number, model: number, stepping: number): number {
  for (const [name, v] of [['family', family], ['model', model], ['stepping', stepping]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new CocoError('MEASURE_VCPU_SIG', `vCPU ${name} must be a non-negative integer, got ${v}`, { kind: 'usage' });
  }
  const familyLow = family > 0xf ? 0xf : family;
  const familyHigh = family > 0xf ? (family - 0xf) & 0xff : 0;
  return (
    ((familyHigh << 20) | (((model >> 4) & 0xf) << 16) | ((familyLow & 0xf) << 8) | ((model & 0xf) << 4) | (stepping & 0xf)) >>> 0
  );
}

const EPYC = cpuSig(23, 1, 2);
const ROME = cpuSig(23, 49, 0);
const MILAN = cpuSig(25, 1, 1);
const GENOA = cpuSig(25, 17, 0);
const TURIN = cpuSig(26, 0, 0);

/** The `--vcpu-type` names sev-snp-measure accepts, in its order. */
export const CPU_SIGS: ReadonlyMap<string, number> = new Map([
  ['EPYC', EPYC],
  ['EPYC-v1', EPYC],
  ['EPYC-v2', EPYC],
  ['EPYC-IBPB', EPYC],
  ['EPYC-v3', EPYC],
  ['EPYC-v4', EPYC],
  ['EPYC-Rome', ROME],
  ['EPYC-Rome-v1', ROME],
  ['EPYC-Rome-v2', ROME],
  ['EPYC-Rome-v3', ROME],
  ['EPYC-Milan', MILAN],
  ['EPYC-Milan-v1', MILAN],
  ['EPYC-Milan-v2', MILAN],
  ['EPYC-Genoa', GENOA],
  ['EPYC-Genoa-v1', GENOA],
  ['EPYC-Turin', TURIN],
]);

export function vcpuTypeSig(name: string): number {
  const sig = CPU_SIGS.get(name);
  if (sig === undefined) {
    throw new CocoError('MEASURE_VCPU_TYPE', `unknown vCPU type '${name}' (choose from ${[...CPU_SIGS.keys()].join(', ')})`, { kind: 'usage' });
  }
  return sig;
}
