/** The shared sev-snp-measure cases (`snp/measure-cases.json`) and the artifacts each one names. */
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import type { SnpArtifacts } from '../from-artifacts.js';
import type { VmmType } from '../snp-launch/index.js';

export interface SnpMeasureCase {
  id: string;
  ovmf: string;
  kernel: string | null;
  initrd: string | null;
  append: string | null;
  vcpus: number;
  vcpu_type: string | null;
  vmm_type: string;
  guest_features_arg: string | null;
  expected: string;
}

export const snpMeasureCases: SnpMeasureCase[] = readVectorJson<{ cases: SnpMeasureCase[] }>('snp', 'measure-cases.json').cases;

export const snpMeasureCase = (id: string): SnpMeasureCase => {
  const c = snpMeasureCases.find((x) => x.id === id);
  if (c === undefined) throw new Error(`no measure case ${id}`);
  return c;
};

/** The case's build inputs as `--from-artifacts` takes them. */
export const snpArtifactsOf = (c: SnpMeasureCase): SnpArtifacts => ({
  ovmf: readVector('snp', c.ovmf),
  ...(c.kernel ? { kernel: readVector('snp', c.kernel) } : {}),
  ...(c.initrd ? { initrd: readVector('snp', c.initrd) } : {}),
  ...(c.append !== null ? { append: c.append } : {}),
  vcpus: c.vcpus,
  ...(c.vcpu_type ? { vcpuType: c.vcpu_type } : {}),
  vmmType: c.vmm_type as VmmType,
  ...(c.guest_features_arg ? { guestFeatures: BigInt(c.guest_features_arg) } : {}),
});
