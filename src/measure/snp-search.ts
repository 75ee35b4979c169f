/**
 * The launch-parameter search around an SNP launch digest, without the artifacts. The digest is a chain of
 * page updates (specs/snp.md §4.1): the firmware pages, the firmware's metadata pages — which depend on the VMM
 * type and on whether (and which) kernel hashes are measured — then one VMSA page per vCPU, which depends on
 * the vCPU count, the vCPU signature, the VMM type, the guest features and the firmware's SEV-ES reset EIP.
 * At registration the chain's value just before the VMSA pages is kept for every launch the search may try
 * (the "search states"); a KBS then tries the same single-parameter changes as `explainSnpMismatch` does
 * from the artifacts, from those states alone, at a cost of a few hundred small hashes.
 *
 * The states travel in the provenance of an `snp-launch-digest` value, as `parameters.searchStates`:
 *
 *     { "resetEip": 4294963968,                 // the firmware's SEV-ES reset EIP (0 to 2^32 - 1)
 *       "digests": {                             // 96 lower-case hex digits each: the digest before the VMSA pages
 *         "QEMU": …, "ec2": …, "gce": …,         //   per VMM type, with the registered kernel hashes
 *         "kernel-hashes-off": …,                //   the registered VMM without kernel hashes (registered with them)
 *         "no-append": … } }                     //   the registered VMM, kernel hashes without the command line
 *
 * At most five digests: about 600 bytes per registration.
 */
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { isRecord } from '../formats/json.js';
import { LD_SIZE, LaunchDigest, PageType, VMSA_GPA, sha384 } from './snp-launch/gctx.js';
import { measureMetadataPages } from './snp-launch/digest.js';
import { parseOvmf, sevEsResetEip } from './snp-launch/ovmf.js';
import { CPU_SIGS, vcpuTypeSig } from './snp-launch/vcpu-types.js';
import { BSP_EIP, VMM_TYPES, buildVmsa, type VmmType } from './snp-launch/vmsa.js';

/** One parameter change from a registration that reproduces a reported measurement. */
export interface SnpMismatchExplanation {
  /** The sev-snp-measure flag that differs, e.g. `--vcpus`. */
  flag: string;
  registered: string;
  reported: string;
  /** "matches with --vcpus 2; registered with 4". */
  hint: string;
}

/** The vCPU counts the search tries. */
export const SEARCH_VCPUS = 64;
/** SEV_FEATURES values seen in practice: SNPActive alone, with DebugSwap (0x20), with restricted/alternate injection. */
export const SEARCH_GUEST_FEATURES: readonly bigint[] = [0x1n, 0x21n, 0x5n, 0x9n, 0x25n, 0x29n, 0x3n];

/** The sentence naming a change: "matches with --vcpus 2; registered with 4". */
export function mismatchHint(flag: string, registered: string, reported: string): SnpMismatchExplanation {
  const flagText = flag === 'kernel-hashes' ? 'kernel hashes off' : `${flag} ${reported}`;
  const regText = flag === 'kernel-hashes' ? 'kernel hashes on' : registered;
  return { flag, registered, reported, hint: `matches with ${flagText}; registered with ${regText}` };
}

export type SearchStateKey = VmmType | 'kernel-hashes-off' | 'no-append';
export const SEARCH_STATE_KEYS: readonly SearchStateKey[] = [...VMM_TYPES, 'kernel-hashes-off', 'no-append'];

export interface SnpSearchStates {
  resetEip: number;
  digests: Partial<Record<SearchStateKey, string>>;
}

/** The launch inputs whose states are kept. */
export interface SnpSearchArtifacts {
  ovmf: Uint8Array;
  kernel?: Uint8Array;
  initrd?: Uint8Array;
  append?: string;
  vmmType?: VmmType;
}

/**
 * The search states of a launch: the firmware is hashed once (or `ovmfHash` is given), then each state costs
 * only the firmware's metadata pages.
 * @throws CocoError (input) for firmware that cannot be launched as given
 */
export function snpSearchStates(a: SnpSearchArtifacts, ovmfHash?: Uint8Array): SnpSearchStates {
  const image = parseOvmf(a.ovmf);
  let seed = ovmfHash;
  if (seed === undefined) {
    const g = new LaunchDigest();
    g.updateNormalPages(image.gpa, image.data);
    seed = g.ld;
  }
  const vmm = a.vmmType ?? 'QEMU';
  const hashes = a.kernel === undefined ? undefined : { kernel: a.kernel, initrd: a.initrd, cmdline: a.append };
  const state = (h: typeof hashes, v: VmmType): string => {
    const g = new LaunchDigest(seed);
    measureMetadataPages(g, image, h, v);
    return toHex(g.ld);
  };
  const digests: Partial<Record<SearchStateKey, string>> = {};
  for (const v of VMM_TYPES) digests[v] = state(hashes, v);
  if (hashes !== undefined) {
    digests['kernel-hashes-off'] = state(undefined, vmm);
    if (a.append !== undefined) digests['no-append'] = state({ ...hashes, cmdline: undefined }, vmm);
  }
  return { resetEip: sevEsResetEip(image), digests };
}

/** What the search needs of a registration: its parameters and states, checked. */
export interface SnpSearchInput {
  vcpus: number;
  vcpuType?: string;
  vmmType: VmmType;
  guestFeatures: bigint;
  kernelHashes: boolean;
  /** The registered kernel command line, when one was given. */
  append?: string;
  states: SnpSearchStates;
}

function badStates(message: string): never {
  throw new CocoError('RV_SEARCH_STATES', `search states: ${message}`, { kind: 'input' });
}

const HEX96 = /^[0-9a-f]{96}$/;

/**
 * Checks `parameters.searchStates` (the shape above); undefined when there are none.
 * @throws CocoError RV_SEARCH_STATES (input) naming what is wrong
 */
export function checkSearchStates(states: unknown): SnpSearchStates | undefined {
  if (states === undefined) return undefined;
  if (!isRecord(states)) badStates('must be an object {resetEip, digests}');
  for (const k of Object.keys(states)) if (k !== 'resetEip' && k !== 'digests') badStates(`unknown field ${JSON.stringify(k.slice(0, 40))}`);
  const eip = states.resetEip;
  if (typeof eip !== 'number' || !Number.isSafeInteger(eip) || eip < 0 || eip > 0xffff_ffff) badStates('"resetEip" must be an integer from 0 to 4294967295');
  const d = states.digests;
  if (!isRecord(d)) badStates('"digests" must be an object {state: hex}');
  const digests: Partial<Record<SearchStateKey, string>> = {};
  for (const [k, v] of Object.entries(d)) {
    if (!(SEARCH_STATE_KEYS as readonly string[]).includes(k)) badStates(`unknown state ${JSON.stringify(k.slice(0, 40))} (known: ${SEARCH_STATE_KEYS.join(', ')})`);
    if (typeof v !== 'string' || !HEX96.test(v)) badStates(`the state ${k} must be ${LD_SIZE * 2} lower-case hex digits`);
    digests[k as SearchStateKey] = v;
  }
  return { resetEip: eip, digests };
}

/**
 * The search input of an `snp-launch-digest` provenance's parameters; undefined when they carry no search
 * states (registered from hex values, or before states were kept).
 * @throws CocoError RV_SEARCH_STATES (input) when the parameters or states are malformed
 */
export function snpSearchInput(parameters: unknown): SnpSearchInput | undefined {
  if (!isRecord(parameters)) return undefined;
  const states = checkSearchStates(parameters.searchStates);
  if (states === undefined) return undefined;
  const { vcpus, vcpuType, vmmType, guestFeatures, kernelHashes, append } = parameters;
  if (typeof vcpus !== 'number' || !Number.isSafeInteger(vcpus) || vcpus < 1 || vcpus > 512) badStates('"vcpus" must be an integer from 1 to 512');
  if (vcpuType !== undefined && (typeof vcpuType !== 'string' || !CPU_SIGS.has(vcpuType))) badStates('"vcpuType" must be a known vCPU type');
  if (typeof vmmType !== 'string' || !(VMM_TYPES as readonly string[]).includes(vmmType)) badStates(`"vmmType" must be one of ${VMM_TYPES.join(', ')}`);
  if (typeof guestFeatures !== 'string' || !/^0x[0-9a-f]{1,16}$/.test(guestFeatures)) badStates('"guestFeatures" must be a 64-bit hex value (0x…)');
  if (typeof kernelHashes !== 'boolean') badStates('"kernelHashes" must be true or false');
  if (append !== undefined && typeof append !== 'string') badStates('"append" must be a string');
  if (states.digests[vmmType as VmmType] === undefined) badStates(`no state for the registered VMM type ${vmmType}`);
  return {
    vcpus,
    ...(vcpuType !== undefined ? { vcpuType: vcpuType as string } : {}),
    vmmType: vmmType as VmmType,
    guestFeatures: BigInt(guestFeatures),
    kernelHashes,
    ...(append !== undefined ? { append: append as string } : {}),
    states,
  };
}

interface VmsaParams {
  sevFeatures: bigint;
  vcpuSig: number;
  vmm: VmmType;
}

/** The launch digest after 1, 2, … `max` vCPUs from a state: the BSP page, then the AP page again and again. */
function* digestsByVcpus(state: string, resetEip: number, p: VmsaParams, max: number): Generator<[number, string]> {
  const g = new LaunchDigest(fromHex(state));
  g.update(PageType.VMSA, VMSA_GPA, sha384(buildVmsa({ ...p, eip: BSP_EIP })));
  yield [1, toHex(g.ld)];
  // Without a reset EIP the application processors cannot start: no launch has more than one vCPU.
  if (max < 2 || resetEip === 0) return;
  const ap = sha384(buildVmsa({ ...p, eip: resetEip }));
  for (let n = 2; n <= max; n++) {
    g.update(PageType.VMSA, VMSA_GPA, ap);
    yield [n, toHex(g.ld)];
  }
}

function digestWith(state: string | undefined, resetEip: number, p: VmsaParams, vcpus: number): string | undefined {
  if (state === undefined) return undefined;
  let last: [number, string] | undefined;
  for (last of digestsByVcpus(state, resetEip, p, vcpus));
  return last !== undefined && last[0] === vcpus ? last[1] : undefined;
}

/** A candidate: the change it names and how to compute its digest (undefined: that launch cannot be). */
interface StateCandidate {
  flag: string;
  registered: string;
  reported: string;
  digest: () => string | undefined;
}

/** The candidates in `explainSnpMismatch`'s order: vCPU counts, vCPU types, VMM types, guest features, kernel hashes. */
function* stateCandidates(s: SnpSearchInput): Generator<StateCandidate | Array<StateCandidate>> {
  const gf = `0x${s.guestFeatures.toString(16)}`;
  const sig = s.vcpuType === undefined ? 0 : vcpuTypeSig(s.vcpuType);
  const base: VmsaParams = { sevFeatures: s.guestFeatures, vcpuSig: sig, vmm: s.vmmType };
  const { resetEip, digests } = s.states;
  const own = digests[s.vmmType]!;
  // Every vCPU count from one chain.
  const byCount: StateCandidate[] = [];
  for (const [n, d] of digestsByVcpus(own, resetEip, base, SEARCH_VCPUS)) {
    if (n !== s.vcpus) byCount.push({ flag: '--vcpus', registered: String(s.vcpus), reported: String(n), digest: () => d });
  }
  yield byCount;
  const seen = new Set<number>([sig]);
  for (const [name, x] of CPU_SIGS) {
    if (seen.has(x)) continue;
    seen.add(x);
    yield { flag: '--vcpu-type', registered: s.vcpuType ?? '(none)', reported: name, digest: () => digestWith(own, resetEip, { ...base, vcpuSig: x }, s.vcpus) };
  }
  for (const vmm of VMM_TYPES) {
    if (vmm !== s.vmmType) yield { flag: '--vmm-type', registered: s.vmmType, reported: vmm, digest: () => digestWith(digests[vmm], resetEip, { ...base, vmm }, s.vcpus) };
  }
  for (const f of SEARCH_GUEST_FEATURES) {
    const text = `0x${f.toString(16)}`;
    if (text !== gf) yield { flag: '--guest-features', registered: gf, reported: text, digest: () => digestWith(own, resetEip, { ...base, sevFeatures: f }, s.vcpus) };
  }
  if (s.kernelHashes) {
    yield { flag: 'kernel-hashes', registered: 'on', reported: 'off', digest: () => digestWith(digests['kernel-hashes-off'], resetEip, base, s.vcpus) };
    if (s.append !== undefined) yield { flag: '--append', registered: JSON.stringify(s.append), reported: '(none)', digest: () => digestWith(digests['no-append'], resetEip, base, s.vcpus) };
  }
}

export interface SnpSearchResult {
  /** The first explaining change; absent when none reproduces the measurement (or the time ran out). */
  explanation?: SnpMismatchExplanation;
  /** Candidates tried. */
  tried: number;
  /** False when the deadline stopped the search before every candidate was tried. */
  complete: boolean;
}

/**
 * Searches the single-parameter changes next to a registration for one that reproduces `reported`, from its
 * search states: the same candidates in the same order as `explainSnpMismatch`, so both name the same change.
 * Yields to the event loop between candidate groups and stops at `deadlineMs`.
 */
export async function searchSnpStates(s: SnpSearchInput, reported: Uint8Array, opts: { deadlineMs?: number; batch?: number } = {}): Promise<SnpSearchResult> {
  const want = toHex(reported);
  const deadline = Date.now() + (opts.deadlineMs ?? 2_000);
  const batch = opts.batch ?? 8;
  let tried = 0;
  let sinceYield = 0;
  for (const group of stateCandidates(s)) {
    for (const c of Array.isArray(group) ? group : [group]) {
      tried++;
      let got: string | undefined;
      try {
        got = c.digest();
      } catch {
        got = undefined; // a launch the states cannot describe explains nothing
      }
      if (got === want) return { explanation: mismatchHint(c.flag, c.registered, c.reported), tried, complete: true };
    }
    if (++sinceYield % batch === 0) {
      await new Promise<void>((r) => setImmediate(r));
      if (Date.now() > deadline) return { tried, complete: false };
    }
  }
  return { tried, complete: true };
}
