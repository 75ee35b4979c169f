/**
 * The `KRUN` footer of a buildah confidential-workload `disk.img` and the `krun-sev.json` WorkloadConfig it
 * embeds (specs/keybroker.md §3.3–3.4):
 *
 *   [ LUKS1 header | payload | zero padding | config JSON | "KRUN" | u64le(len(config JSON)) ]
 *
 * Read like buildah's `ReadWorkloadConfigFromImage`: the last 12 bytes hold the magic and the length, the
 * config is the `length` bytes just before them, and lengths above 1 MiB are rejected.
 */
import { openSync, readSync, fstatSync, closeSync } from 'node:fs';
import { CocoError } from '../errors.js';
import { isRecord, parseJson } from './json.js';

export const KRUN_MAGIC = 'KRUN';
/** buildah `internal/mkcw/workload.go`: maxWorkloadConfigSize. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
const TRAILER = 12;

/** buildah `internal/mkcw/types/workload.go` WorkloadConfig; all six fields are required by libkrun. */
export interface WorkloadConfig {
  tee: string;
  /** JSON text: `{"gen":"milan"}` for SNP, `{"vendor_chain":…,"attestation_server_pubkey":…}` for SEV. */
  tee_data: string;
  workload_id: string;
  cpus: number;
  ram_mib: number;
  attestation_url: string;
}

export interface KrunFooter {
  config: WorkloadConfig;
  /** The config bytes exactly as stored (the same bytes as `/krun-sev.json`). */
  configBytes: Uint8Array;
  /** Offset of the config JSON in the image. */
  configOffset: number;
  /** Total image size. */
  imageSize: number;
}

function bad(message: string): never {
  throw new CocoError('KRUN_FOOTER', message, { kind: 'input' });
}

/** libkrun `TeeConfig`: tee is a kbs-types Tee (lower-case), cpus a u8, ram_mib a usize (§3.3). */
export function parseWorkloadConfig(bytes: Uint8Array | string, what = 'krun-sev.json'): WorkloadConfig {
  let v: unknown;
  try {
    v = parseJson(bytes, what, MAX_CONFIG_BYTES);
  } catch (e) {
    throw new CocoError('KRUN_CONFIG', (e as Error).message, { kind: 'input', cause: e });
  }
  const fail = (m: string): never => {
    throw new CocoError('KRUN_CONFIG', `${what}: ${m}`, { kind: 'input' });
  };
  if (!isRecord(v)) fail('must be a JSON object');
  const o = v as Record<string, unknown>;
  for (const k of ['tee', 'tee_data', 'workload_id', 'attestation_url']) if (typeof o[k] !== 'string') fail(`"${k}" must be a string`);
  if (!/^[a-z0-9-]+$/.test(o.tee as string)) fail(`"tee" ${JSON.stringify(o.tee)} is not a kbs-types TEE name`);
  const cpus = o.cpus;
  if (typeof cpus !== 'number' || !Number.isInteger(cpus) || cpus < 1 || cpus > 255) fail('"cpus" must be an integer 1..255 (libkrun u8)');
  const ram = o.ram_mib;
  if (typeof ram !== 'number' || !Number.isSafeInteger(ram) || ram < 1) fail('"ram_mib" must be a positive integer');
  return {
    tee: o.tee as string,
    tee_data: o.tee_data as string,
    workload_id: o.workload_id as string,
    cpus: cpus as number,
    ram_mib: ram as number,
    attestation_url: o.attestation_url as string,
  };
}

/** The `gen` of an SNP `tee_data` (buildah hard-codes milan, §3.3); undefined when absent or not SNP-shaped. */
export function teeDataGeneration(config: WorkloadConfig): string | undefined {
  try {
    const d = JSON.parse(config.tee_data) as unknown;
    return isRecord(d) && typeof d.gen === 'string' ? d.gen : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the footer from the image's last bytes; `tail` must end at the end of the image of `imageSize` bytes. */
export function parseKrunFooter(tail: Uint8Array, imageSize = tail.length): KrunFooter {
  if (tail.length < TRAILER) bad(`image is ${tail.length} bytes, shorter than the 12-byte KRUN trailer`);
  const trailer = tail.subarray(tail.length - TRAILER);
  const magic = String.fromCharCode(...trailer.subarray(0, 4));
  if (magic !== KRUN_MAGIC) bad(`no KRUN footer: the last 12 bytes start with ${JSON.stringify(magic)} instead of "KRUN"`);
  const len = new DataView(trailer.buffer, trailer.byteOffset + 4, 8).getBigUint64(0, true);
  if (len === 0n) bad('KRUN footer length is 0');
  if (len > BigInt(MAX_CONFIG_BYTES)) bad(`KRUN footer length ${len} exceeds the 1 MiB limit buildah enforces`);
  const n = Number(len);
  if (n > tail.length - TRAILER) bad(`KRUN footer length ${n} is larger than the ${imageSize - TRAILER} bytes before the trailer`);
  const configBytes = tail.slice(tail.length - TRAILER - n, tail.length - TRAILER);
  return { config: parseWorkloadConfig(configBytes, 'KRUN footer config'), configBytes, configOffset: imageSize - TRAILER - n, imageSize };
}

/** Reads only the tail of a (possibly multi-GiB) disk image. */
export function readKrunFooterFile(path: string): KrunFooter {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new CocoError('KRUN_FILE', `cannot open ${path}: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  try {
    const size = fstatSync(fd).size;
    const want = Math.min(size, MAX_CONFIG_BYTES + TRAILER);
    const buf = new Uint8Array(want);
    let got = 0;
    while (got < want) {
      const r = readSync(fd, buf, got, want - got, size - want + got);
      if (r === 0) break;
      got += r;
    }
    if (got !== want) bad(`short read of ${path}`);
    return parseKrunFooter(buf, size);
  } finally {
    closeSync(fd);
  }
}

/** The footer bytes buildah appends: config ‖ "KRUN" ‖ u64le(len) (§3.4). */
export function encodeKrunFooter(configBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(configBytes.length + TRAILER);
  out.set(configBytes, 0);
  out.set(new TextEncoder().encode(KRUN_MAGIC), configBytes.length);
  new DataView(out.buffer).setBigUint64(configBytes.length + 4, BigInt(configBytes.length), true);
  return out;
}
