/**
 * Reference values computed from build artifacts: the SEV-SNP launch digest of firmware, kernel, initrd and
 * command line (specs/snp.md §4), and the HOST_DATA an init-data document binds (specs/tdx-initdata.md §6.1).
 * Each value comes with its provenance: the algorithm, the parameters and the SHA-256 of every input artifact,
 * so a registration says where its hex strings came from and a mismatch can be explained against them.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { bindInitData, initDataDigest, sniffInitDataFormat } from './initdata.js';
import { krunMeasurements, type KrunFirmware } from './krun/index.js';
import { CPU_SIGS, VMM_TYPES, type VmmType, snpLaunchDigest, snpOvmfHash, vcpuTypeSig } from './snp-launch/index.js';
import { SEARCH_GUEST_FEATURES, type SnpMismatchExplanation, type SnpSearchStates, mismatchHint, snpSearchStates } from './snp-search.js';
import { directBootRtmrs, tdvfMrtd, type PageAddOrder } from './tdx/index.js';
import { DEFAULT_PHASES, predictPcr11, ukiSections } from './uki.js';
import { readVeritySuperblockFile, verityFormat } from './verity.js';
import { directBootRtmr1Events, directBootRtmr2Events, ukiPcr11Events, type PredictedRegister } from './explain-events.js';
import { authenticodeDigest } from '../formats/authenticode.js';

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
  /** The launch digests before the VMSA pages that a KBS searches the nearby parameters from (snp-search.ts). */
  searchStates?: SnpSearchStates;
}

export interface ReferenceValueProvenance {
  /** Which computation produced the value. */
  algorithm:
    | 'snp-launch-digest'
    | 'krun-launch-digest'
    | 'initdata-host-data'
    | 'initdata-mrconfigid'
    | 'initdata-pcr8'
    | 'tdx-mrtd'
    | 'tdx-direct-boot-rtmr'
    | 'uki-pcr11'
    | 'dm-verity-root-hash';
  parameters: Record<string, unknown>;
  /** SHA-256 (hex) of each input artifact, by role. */
  inputs: Record<string, string>;
  /** For a PCR or RTMR: the events the artifacts put in it, so a log that differs can be explained. */
  events?: PredictedRegister;
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
  const ovmfHash = snpOvmfHash(a.ovmf);
  const measurement = snpLaunchDigest({
    ovmf: a.ovmf,
    ovmfHash,
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
    // The digests before the VMSA pages let a KBS search the parameters next to these without the artifacts.
    measurement: { algorithm: 'snp-launch-digest', parameters: { ...parametersOf(a), searchStates: snpSearchStates(a, ovmfHash) }, inputs },
  };
  if (a.initData !== undefined) {
    const d = initDataDigest(a.initData, sniffInitDataFormat(a.initData));
    values.host_data = toHex(bindInitData(d.digest, 'snp').value);
    provenance.host_data = { algorithm: 'initdata-host-data', parameters: { digestAlgorithm: d.algorithm }, inputs: { initData: sha256Hex(a.initData) } };
  }
  return { values, provenance };
}

export type { SnpMismatchExplanation };

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
  for (const gf of SEARCH_GUEST_FEATURES) {
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
    if (got === want) return mismatchHint(c.flag, c.registered, c.reported);
  }
  return undefined;
}

/** A rootfs image whose dm-verity root hash is expected (on the kernel command line or in init-data). */
export interface RootfsArtifact {
  /** Path of the data image. */
  image: string;
  /**
   * A hash device with a superblock (`veritysetup format` output): the tree parameters (salt, algorithm,
   * block sizes, data blocks) are read from it and the root hash is recomputed from the image, so a hash
   * device that does not belong to the image cannot lend it its root hash.
   */
  hashDevice?: string;
  /** Superblock offset on the hash device (default 0). */
  hashOffset?: number;
  /** Without a hash device: the tree parameters (`veritysetup format --no-superblock` flags). */
  salt?: Uint8Array;
  hashAlgorithm?: string;
  hashType?: 0 | 1;
  dataBlockSize?: number;
  hashBlockSize?: number;
  dataBlocks?: number;
}

/** Every build input cocokit measures; give the ones your guest uses. */
export interface BuildArtifacts {
  /** SEV-SNP guest under QEMU/OVMF: `measurement` (and `host_data` with `initData`). */
  snp?: Omit<SnpArtifacts, 'initData'>;
  /** SEV-SNP guest under libkrun: `measurement` for `--cpus` vCPUs and `--ram-mib` MiB. */
  krun?: KrunFirmware & { cpus: number; ramMib: number };
  /** TDX guest: `mr_td` of the firmware and, with a kernel, `rtmr_1` / `rtmr_2` of the direct boot. */
  tdx?: { firmware: Uint8Array; pageAddOrder?: PageAddOrder; kernel?: Uint8Array; initrd?: Uint8Array; append?: string; separatorInRtmr1?: boolean };
  /** A unified kernel image: the `tpm_pcr11` its systemd stub leaves (SHA-256 bank, booted to `ready`). */
  uki?: Uint8Array;
  /** An init-data document: `host_data` (SNP, krun), `mr_config_id` (TDX), `tpm_pcr08` (TPM, sha256 documents). */
  initData?: Uint8Array;
  rootfs?: RootfsArtifact;
}

const PCR11_PHASE = DEFAULT_PHASES[DEFAULT_PHASES.length - 1];

function usage(message: string): CocoError {
  return new CocoError('RV_ARTIFACTS_USAGE', message, { kind: 'usage' });
}

async function verityRootHash(r: RootfsArtifact): Promise<{ value: string; provenance: ReferenceValueProvenance }> {
  let params: { hashAlgorithm: string; hashType: 0 | 1; dataBlockSize: number; hashBlockSize: number; salt: Uint8Array; dataBlocks?: number; uuid?: string };
  if (r.hashDevice !== undefined) {
    if (r.salt !== undefined) throw usage('give the verity salt or a hash device with a superblock, not both');
    const sb = readVeritySuperblockFile(r.hashDevice, r.hashOffset ?? 0);
    params = { hashAlgorithm: sb.algorithm, hashType: sb.hashType, dataBlockSize: sb.dataBlockSize, hashBlockSize: sb.hashBlockSize, salt: sb.salt, dataBlocks: sb.dataBlocks, uuid: sb.uuid };
  } else {
    if (r.salt === undefined) throw usage('a rootfs root hash needs its verity hash device (with superblock) or its salt: a random salt would make every build differ');
    params = { hashAlgorithm: r.hashAlgorithm ?? 'sha256', hashType: r.hashType ?? 1, dataBlockSize: r.dataBlockSize ?? 4096, hashBlockSize: r.hashBlockSize ?? 4096, salt: r.salt, dataBlocks: r.dataBlocks };
  }
  // The tree goes to a scratch file: only its root is wanted.
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-verity-'));
  try {
    const res = await verityFormat({ data: r.image, hash: join(dir, 'tree'), ...params, superblock: false, threads: 1 });
    return {
      value: toHex(res.rootHash),
      provenance: {
        algorithm: 'dm-verity-root-hash',
        parameters: { hashAlgorithm: res.hashAlgorithm, hashType: res.hashType, dataBlockSize: res.dataBlockSize, hashBlockSize: res.hashBlockSize, dataBlocks: res.dataBlocks, salt: toHex(res.salt) },
        inputs: { rootfs: await fileSha256(r.image) },
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * All the reference values a guest built from these artifacts will show, each with its provenance: one call
 * from build inputs to what a registration or the RVPS stores. Names are the claims / reference value ids
 * the verifiers and the default policy use (`measurement`, `host_data`, `mr_td`, `rtmr_1`, `rtmr_2`,
 * `mr_config_id`, `tpm_pcr11`, `tpm_pcr08`, `rootfs_root_hash`).
 * @throws CocoError (usage / input / file) for inconsistent inputs or malformed artifacts
 */
export async function referenceValuesFromArtifacts(a: BuildArtifacts): Promise<ArtifactReferenceValues> {
  if (a.snp !== undefined && a.krun !== undefined) throw usage('an SNP guest is launched either by QEMU (--ovmf) or by libkrun (--krun-*), not both');
  const values: Record<string, string> = {};
  const provenance: Record<string, ReferenceValueProvenance> = {};
  const put = (name: string, value: string, p: ReferenceValueProvenance): void => {
    values[name] = value;
    provenance[name] = p;
  };
  if (a.snp !== undefined) {
    const r = snpReferenceValuesFromArtifacts(a.snp);
    put('measurement', r.values.measurement, r.provenance.measurement);
  }
  if (a.krun !== undefined) {
    const k = a.krun;
    if (!Number.isSafeInteger(k.cpus) || k.cpus < 1 || k.cpus > 255) throw usage(`--cpus must be an integer from 1 to 255, got ${k.cpus}`);
    if (!Number.isSafeInteger(k.ramMib) || k.ramMib < 1 || k.ramMib > 0x10_0000) throw usage(`--ram-mib must be an integer from 1 to 1048576, got ${k.ramMib}`);
    const m = krunMeasurements(k);
    put('measurement', toHex(m.snp), {
      algorithm: 'krun-launch-digest',
      parameters: { cpus: k.cpus, ramMib: k.ramMib, kernelLoadAddr: `0x${k.kernelLoadAddr.toString(16)}` },
      inputs: { qboot: sha256Hex(k.qboot), kernel: sha256Hex(k.kernel), initrd: sha256Hex(k.initrd) },
    });
  }
  if (a.tdx !== undefined) {
    const t = a.tdx;
    const order = t.pageAddOrder ?? 'single-pass';
    put('mr_td', toHex(tdvfMrtd(t.firmware, order)), { algorithm: 'tdx-mrtd', parameters: { pageAddOrder: order }, inputs: { firmware: sha256Hex(t.firmware) } });
    if (t.kernel !== undefined) {
      const initrd = t.initrd ?? new Uint8Array(0);
      const r = directBootRtmrs(t.kernel, initrd, t.append ?? '', { separatorInRtmr1: t.separatorInRtmr1 });
      const p: ReferenceValueProvenance = {
        algorithm: 'tdx-direct-boot-rtmr',
        parameters: { append: t.append ?? '', separatorInRtmr1: t.separatorInRtmr1 ?? true },
        inputs: { kernel: sha256Hex(t.kernel), initrd: sha256Hex(initrd) },
      };
      put('rtmr_1', toHex(r.rtmr1), { ...p, events: directBootRtmr1Events(authenticodeDigest(t.kernel, 'sha384'), t.separatorInRtmr1 ?? true) });
      put('rtmr_2', toHex(r.rtmr2), { ...p, events: directBootRtmr2Events(t.append ?? '', initrd) });
    } else if (t.initrd !== undefined || t.append !== undefined) {
      throw usage('the TDX initrd and command line need the TDX kernel');
    }
  }
  if (a.uki !== undefined) {
    const sections = ukiSections(a.uki).sections;
    const prediction = predictPcr11({ sections, banks: ['sha256'], phases: [PCR11_PHASE] });
    const v = prediction.values.find((x) => x.phase === PCR11_PHASE && x.bank === 'sha256')!;
    put('tpm_pcr11', toHex(v.hash), {
      algorithm: 'uki-pcr11',
      parameters: { bank: 'sha256', phase: PCR11_PHASE, rules: 'systemd 252' },
      inputs: { uki: sha256Hex(a.uki) },
      events: ukiPcr11Events(sections, PCR11_PHASE),
    });
  }
  if (a.initData !== undefined) {
    const d = initDataDigest(a.initData, sniffInitDataFormat(a.initData));
    const inputs = { initData: sha256Hex(a.initData) };
    const parameters = { digestAlgorithm: d.algorithm };
    put('host_data', toHex(bindInitData(d.digest, 'snp').value), { algorithm: 'initdata-host-data', parameters, inputs });
    put('mr_config_id', toHex(bindInitData(d.digest, 'tdx').value), { algorithm: 'initdata-mrconfigid', parameters, inputs });
    // PCR 8 binds only sha256 documents; the others have no TPM value (the attesters refuse to extend it).
    if (d.digest.length === 32) put('tpm_pcr08', toHex(bindInitData(d.digest, 'tpm').value), { algorithm: 'initdata-pcr8', parameters, inputs });
  }
  if (a.rootfs !== undefined) {
    const r = await verityRootHash(a.rootfs);
    put('rootfs_root_hash', r.value, r.provenance);
  }
  if (Object.keys(values).length === 0) throw usage('no artifacts given: nothing to compute');
  return { values, provenance };
}
