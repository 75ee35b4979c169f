/**
 * Reference values computed from build artifacts: the SEV-SNP launch digest of firmware, kernel, initrd and
 * command line (specs/snp.md §4), and the HOST_DATA an init-data document binds (specs/tdx-initdata.md §6.1).
 * Each value comes with its provenance: the algorithm, the parameters and the SHA-256 of every input artifact,
 * so a registration says where its hex strings came from and a mismatch can be explained against them.
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { bindInitData, initDataDigest, sniffInitDataFormat } from './initdata.js';
import { CPU_SIGS, VMM_TYPES, type VmmType, snpLaunchDigest, snpOvmfHash, vcpuTypeSig } from './snp-launch/index.js';

export interface SnpArtifacts {
  ovmf: Uint8Array;
  kernel?: Uint8Array;
  initrd?: Uint8Array;
  /** The kernel command line (`--append`). */
  append?: string;
  vcpus: number;
  /** A QEMU vCPU model name (`EPYC-Milan`, …). */
  vcpuType?: string;
  vmmType?: VmmType;
  /** SEV_FEATURES of the VMSAs; default 0x1 as sev-snp-measure. */
  guestFeatures?: bigint;
  /** An init-data document (TOML or JSON) whose digest the host puts in HOST_DATA. */
  initData?: Uint8Array;
}

/** The launch parameters behind a measurement, in sev-snp-measure's flag vocabulary. */
export interface SnpParameters {
  vcpus: number;
  vcpuType?: string;
  vmmType: VmmType;
  guestFeatures: string;
  /** Whether the kernel, initrd and command line hashes were part of the launch (QEMU `kernel-hashes=on`). */
  kernelHashes: boolean;
  append?: string;
}

export interface ReferenceValueProvenance {
  /** Which computation produced the value. */
  algorithm: 'snp-launch-digest' | 'initdata-host-data';
  parameters: Record<string, unknown>;
  /** SHA-256 (hex) of each input artifact, by role. */
  inputs: Record<string, string>;
}

export interface ArtifactReferenceValues {
  /** Claim name → expected value (hex), as a workload registration or the RVPS stores it. */
  values: Record<string, string>;
  provenance: Record<string, ReferenceValueProvenance>;
}

const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function checkArtifacts(a: SnpArtifacts): void {
  if (!Number.isSafeInteger(a.vcpus) || a.vcpus < 1 || a.vcpus > 512) {
    throw new CocoError('RV_ARTIFACTS_USAGE', `--vcpus must be an integer from 1 to 512, got ${a.vcpus}`, { kind: 'usage' });
  }
  if (a.vmmType !== undefined && !VMM_TYPES.includes(a.vmmType)) {
    throw new CocoError('RV_ARTIFACTS_USAGE', `--vmm-type must be one of ${VMM_TYPES.join(', ')}`, { kind: 'usage' });
  }
  if (a.vcpuType !== undefined) vcpuTypeSig(a.vcpuType);
  if ((a.initrd !== undefined || a.append !== undefined) && a.kernel === undefined) {
    throw new CocoError('RV_ARTIFACTS_USAGE', '--initrd and --append need --kernel (they are measured through the kernel hashes table)', { kind: 'usage' });
  }
}

function parametersOf(a: SnpArtifacts): SnpParameters {
  return {
    vcpus: a.vcpus,
    ...(a.vcpuType !== undefined ? { vcpuType: a.vcpuType } : {}),
    vmmType: a.vmmType ?? 'QEMU',
    guestFeatures: `0x${(a.guestFeatures ?? 0x1n).toString(16)}`,
    kernelHashes: a.kernel !== undefined,
    ...(a.append !== undefined ? { append: a.append } : {}),
  };
}

/**
 * The SNP reference values of a guest built from these artifacts: `measurement` (launch digest) always,
 * `host_data` when an init-data document is given.
 * @throws CocoError (usage / input) for inconsistent flags or malformed firmware / init-data
 */
export function snpReferenceValuesFromArtifacts(a: SnpArtifacts): ArtifactReferenceValues {
  checkArtifacts(a);
  const measurement = snpLaunchDigest({
    ovmf: a.ovmf,
    kernel: a.kernel,
    initrd: a.initrd,
    cmdline: a.append,
    vcpus: a.vcpus,
    vcpuType: a.vcpuType,
    vmm: a.vmmType,
    guestFeatures: a.guestFeatures,
  });
  const inputs: Record<string, string> = { ovmf: sha256Hex(a.ovmf) };
  if (a.kernel !== undefined) inputs.kernel = sha256Hex(a.kernel);
  if (a.initrd !== undefined) inputs.initrd = sha256Hex(a.initrd);
  const values: Record<string, string> = { measurement: toHex(measurement) };
  const provenance: Record<string, ReferenceValueProvenance> = {
    measurement: { algorithm: 'snp-launch-digest', parameters: { ...parametersOf(a) }, inputs },
  };
  if (a.initData !== undefined) {
    const d = initDataDigest(a.initData, sniffInitDataFormat(a.initData));
    values.host_data = toHex(bindInitData(d.digest, 'snp').value);
    provenance.host_data = { algorithm: 'initdata-host-data', parameters: { digestAlgorithm: d.algorithm }, inputs: { initData: sha256Hex(a.initData) } };
  }
  return { values, provenance };
}

/** One parameter change from a registration that reproduces a reported measurement. */
export interface SnpMismatchExplanation {
  /** The sev-snp-measure flag that differs, e.g. `--vcpus`. */
  flag: string;
  registered: string;
  reported: string;
  /** "matches with --vcpus 2; registered with 4". */
  hint: string;
}

interface Candidate {
  flag: string;
  registered: string;
  reported: string;
  artifacts: SnpArtifacts;
}

/** Single-parameter neighbours of a registration, the likeliest operator slips first. */
function* neighbours(a: SnpArtifacts): Generator<Candidate> {
  const p = parametersOf(a);
  for (let n = 1; n <= 64; n++) if (n !== a.vcpus) yield { flag: '--vcpus', registered: String(a.vcpus), reported: String(n), artifacts: { ...a, vcpus: n } };
  const sig = a.vcpuType === undefined ? 0 : vcpuTypeSig(a.vcpuType);
  // Names sharing one CPUID signature measure the same: try one name per signature.
  const seen = new Set<number>([sig]);
  for (const [name, s] of CPU_SIGS) {
    if (seen.has(s)) continue;
    seen.add(s);
    yield { flag: '--vcpu-type', registered: a.vcpuType ?? '(none)', reported: name, artifacts: { ...a, vcpuType: name } };
  }
  for (const vmm of VMM_TYPES) if (vmm !== p.vmmType) yield { flag: '--vmm-type', registered: p.vmmType, reported: vmm, artifacts: { ...a, vmmType: vmm } };
  // SEV_FEATURES values seen in practice: SNPActive alone, with DebugSwap (0x20), with restricted/alternate injection.
  for (const gf of [0x1n, 0x21n, 0x5n, 0x9n, 0x25n, 0x29n, 0x3n]) {
    const s = `0x${gf.toString(16)}`;
    if (s !== p.guestFeatures) yield { flag: '--guest-features', registered: p.guestFeatures, reported: s, artifacts: { ...a, guestFeatures: gf } };
  }
  if (a.kernel !== undefined) {
    yield { flag: 'kernel-hashes', registered: 'on', reported: 'off', artifacts: { ...a, kernel: undefined, initrd: undefined, append: undefined } };
    if (a.append !== undefined) yield { flag: '--append', registered: JSON.stringify(a.append), reported: '(none)', artifacts: { ...a, append: undefined } };
  }
}

/**
 * Searches the launch parameters next to a registration (vCPU count 1–64, vCPU types, VMM types, guest
 * features, with and without kernel hashes) for one change that reproduces `reported`. The firmware pages
 * are hashed once; each candidate then costs only its metadata and VMSA pages. Candidates are tried in small
 * batches between which the event loop runs, so a server can explain a denial without stalling others.
 * @returns the first explaining change, or undefined when no single change reproduces the measurement
 */
export async function explainSnpMismatch(a: SnpArtifacts, reported: Uint8Array, opts: { batch?: number; deadlineMs?: number } = {}): Promise<SnpMismatchExplanation | undefined> {
  checkArtifacts(a);
  const want = toHex(reported);
  const ovmfHash = snpOvmfHash(a.ovmf);
  const batch = opts.batch ?? 4;
  const deadline = Date.now() + (opts.deadlineMs ?? 10_000);
  let i = 0;
  for (const c of neighbours(a)) {
    if (++i % batch === 0) {
      await new Promise<void>((r) => setImmediate(r));
      if (Date.now() > deadline) return undefined;
    }
    let got: string;
    try {
      const x = c.artifacts;
      got = toHex(snpLaunchDigest({ ovmf: x.ovmf, ovmfHash, kernel: x.kernel, initrd: x.initrd, cmdline: x.append, vcpus: x.vcpus, vcpuType: x.vcpuType, vmm: x.vmmType, guestFeatures: x.guestFeatures }));
    } catch {
      continue; // a neighbour the firmware cannot launch (e.g. kernel hashes without the section) explains nothing
    }
    if (got === want) {
      const flagText = c.flag === 'kernel-hashes' ? 'kernel hashes off' : `${c.flag} ${c.reported}`;
      const regText = c.flag === 'kernel-hashes' ? 'kernel hashes on' : c.registered;
      return { flag: c.flag, registered: c.registered, reported: c.reported, hint: `matches with ${flagText}; registered with ${regText}` };
    }
  }
  return undefined;
}
