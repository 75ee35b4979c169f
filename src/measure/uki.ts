/**
 * PCR 11 prediction for Unified Kernel Images, as `systemd-measure calculate` computes it and systemd-stub
 * plus systemd-pcrphase measure it at boot (specs/measured-boot.md §2.2–2.3, systemd `src/boot/measure.c`).
 *
 *   for each section in canonical order, if given and non-empty:
 *       P = H(P ‖ H(name ‖ NUL));  P = H(P ‖ H(content))
 *   for each word of the phase (split on ':', empty words dropped):
 *       P = H(P ‖ H(word))                      — no NUL after phase words
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { findSection, parsePe, sectionMemory, type PeImage } from '../formats/pe.js';

/**
 * The stub's section table in canonical measurement order (systemd `src/fundamental/uki.c`, without the
 * multi-profile `.profile`/`.hwids` sections). `.pcrsig` is never measured: it carries signatures over
 * this very PCR value.
 */
export const UKI_SECTIONS = ['.linux', '.osrel', '.cmdline', '.initrd', '.ucode', '.splash', '.dtb', '.uname', '.sbat', '.pcrpkey'] as const;
export type UkiSection = (typeof UKI_SECTIONS)[number];

/** The sections systemd 252's stub measures (`src/fundamental/tpm-pcr.c` of v252; Debian bookworm). */
export const UKI_SECTIONS_V252: readonly UkiSection[] = ['.linux', '.osrel', '.cmdline', '.initrd', '.splash', '.dtb', '.pcrpkey'];

/** Which systemd's rules to follow: 252 (Debian bookworm, the vectors' oracle) or current upstream. */
export type SystemdRules = '252' | 'current';

/** The banks systemd-measure uses when none is given. */
export const DEFAULT_BANKS = ['sha1', 'sha256', 'sha384', 'sha512'];

/** The phases systemd-measure uses when none is given: from entering the initrd to the end of boot. */
export const DEFAULT_PHASES = ['enter-initrd', 'enter-initrd:leave-initrd', 'enter-initrd:leave-initrd:sysinit', 'enter-initrd:leave-initrd:sysinit:ready'];

/** Content of one section, delivered in chunks so a large initrd or a zero fill is never copied whole. */
export interface SectionContent {
  /** Calls `update` with consecutive chunks; returns the total length. */
  feed(update: (chunk: Uint8Array) => void): number;
  /** Where the bytes lie on disk, when they do: lets worker threads hash them without copying. */
  file?: FileRange;
}

/** `length` bytes of `path` from `start` (to the end of file when absent), then `zeroFill` zeros. */
export interface FileRange {
  path: string;
  start: number;
  length?: number;
  zeroFill: number;
  /** Append zeros up to the PE SizeOfImage of the file (current systemd-measure's `.linux` rule). */
  padToSizeOfImage: boolean;
}

export function bytesContent(bytes: Uint8Array, zeroFill = 0): SectionContent {
  return {
    feed(update) {
      if (bytes.length > 0) update(bytes);
      feedZeros(zeroFill, update);
      return bytes.length + zeroFill;
    },
  };
}

const CHUNK = 1 << 20;
let zeroChunk: Uint8Array | undefined;

function feedZeros(n: number, update: (chunk: Uint8Array) => void): void {
  zeroChunk ??= new Uint8Array(CHUNK);
  for (let left = n; left > 0; left -= CHUNK) update(zeroChunk.subarray(0, Math.min(CHUNK, left)));
}

/**
 * A file read in 1 MiB chunks. With `padToSizeOfImage` (current systemd, issue #34578), a `.linux` file
 * that is a PE image whose SizeOfImage exceeds the file size gets zeros appended up to SizeOfImage, as the
 * stub measures the section's VirtualSize that new ukify sets to it.
 * @throws CocoError UKI_OPEN (kind `notfound`) with systemd-measure's wording
 */
export function fileContent(path: string, padToSizeOfImage = false): SectionContent {
  return {
    file: { path, start: 0, zeroFill: 0, padToSizeOfImage },
    feed(update) {
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch (e) {
        throw new CocoError('UKI_OPEN', `Failed to open '${path}': ${errnoText(e)}`, { kind: 'notfound', cause: e });
      }
      const buf = new Uint8Array(CHUNK);
      let total = 0;
      let head: Uint8Array | undefined;
      try {
        for (;;) {
          const n = readSync(fd, buf, 0, CHUNK, null);
          if (n === 0) break;
          if (padToSizeOfImage && head === undefined) head = buf.slice(0, Math.min(n, 4096));
          update(buf.subarray(0, n));
          total += n;
        }
      } catch (e) {
        throw new CocoError('UKI_READ', `Failed to read '${path}': ${errnoText(e)}`, { kind: 'input', cause: e });
      } finally {
        closeSync(fd);
      }
      if (padToSizeOfImage && head !== undefined) {
        const sizeOfImage = peSizeOfImage(head);
        if (sizeOfImage !== undefined && total < sizeOfImage) {
          feedZeros(sizeOfImage - total, update);
          total = sizeOfImage;
        }
      }
      return total;
    },
  };
}

/** SizeOfImage of a PE image from its first bytes, or undefined when they are not PE headers. */
function peSizeOfImage(head: Uint8Array): number | undefined {
  if (head.length < 0x40 || head[0] !== 0x4d || head[1] !== 0x5a) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const pe = view.getUint32(0x3c, true);
  if (pe + 24 + 60 > head.length || view.getUint32(pe, true) !== 0x00004550) return undefined;
  return view.getUint32(pe + 24 + 56, true);
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
};

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return (code !== undefined && ERRNO_TEXT[code]) || (e as Error).message;
}

/** OpenSSL's alias spellings of the SHA-2 family, as systemd-measure (EVP_get_digestbyname) accepts them. */
const BANK_ALIASES: Record<string, string> = {
  'sha-1': 'sha1',
  'sha-224': 'sha224',
  'sha2-224': 'sha224',
  'sha-256': 'sha256',
  'sha2-256': 'sha256',
  'sha-384': 'sha384',
  'sha2-384': 'sha384',
  'sha-512': 'sha512',
  'sha2-512': 'sha512',
  'sha2-512/224': 'sha512-224',
  'sha2-512/256': 'sha512-256',
};

/**
 * Bank names as systemd-measure reports them: any OpenSSL digest name, case-insensitive, canonicalised,
 * sorted and de-duplicated; the four TPM banks when none is given.
 * @throws CocoError UKI_BANK (kind `usage`) "Unknown bank 'x', refusing."
 */
export function normalizeBanks(banks: readonly string[]): string[] {
  if (banks.length === 0) return [...DEFAULT_BANKS];
  const out = new Set<string>();
  for (const b of banks) {
    const lower = b.toLowerCase();
    const name = BANK_ALIASES[lower] ?? lower;
    try {
      createHash(name);
    } catch {
      throw new CocoError('UKI_BANK', `Unknown bank '${b}', refusing.`, { kind: 'usage' });
    }
    out.add(name);
  }
  return [...out].sort();
}

/** `a::b:` → `a:b`: words split on ':', empty ones dropped (systemd-measure `normalize_phase`). */
export function normalizePhase(phase: string): string {
  return phase
    .split(':')
    .filter((w) => w !== '')
    .join(':');
}

/** Normalised, sorted and de-duplicated phases; the four boot phases when none is given. */
export function normalizePhases(phases: readonly string[]): string[] {
  if (phases.length === 0) return [...DEFAULT_PHASES];
  return [...new Set(phases.map(normalizePhase))].sort(byteOrder);
}

/** strcmp order (systemd's strv_sort), not locale order. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export interface Pcr11Request {
  sections: Partial<Record<UkiSection, SectionContent>>;
  banks?: readonly string[];
  phases?: readonly string[];
}

export interface Pcr11Value {
  /** Normalised phase; `''` means sections only. */
  phase: string;
  bank: string;
  pcr: 11;
  hash: Uint8Array;
}

export interface Pcr11Prediction {
  banks: string[];
  phases: string[];
  /** Phases in order, banks in order within each phase (systemd-measure's output order). */
  values: Pcr11Value[];
}

/**
 * Predicts PCR 11 for each bank and phase. `.linux` is mandatory, as for systemd-measure.
 * @throws CocoError UKI_NO_LINUX, UKI_BANK, UKI_OPEN, UKI_READ
 */
export function predictPcr11(req: Pcr11Request): Pcr11Prediction {
  const { banks, phases } = prepare(req);
  const digests = new Map<UkiSection, Uint8Array[] | null>();
  for (const name of UKI_SECTIONS) {
    const content = req.sections[name];
    if (content !== undefined) digests.set(name, streamDigests(content, banks));
  }
  return extendAll(banks, phases, digests);
}

function prepare(req: Pcr11Request): { banks: string[]; phases: string[] } {
  if (req.sections['.linux'] === undefined) {
    // systemd-measure also offers --current (the running system's sections); cocokit does not, so its
    // message names what it does take.
    throw new CocoError('UKI_NO_LINUX', 'Either --linux= or --uki= must be specified, refusing.', { kind: 'usage' });
  }
  return { banks: normalizeBanks(req.banks ?? []), phases: normalizePhases(req.phases ?? []) };
}

/** One digest per bank of the section's content; null for an empty section. */
function streamDigests(content: SectionContent, banks: readonly string[]): Uint8Array[] | null {
  const hashes: Hash[] = banks.map((b) => createHash(b));
  const length = content.feed((chunk) => {
    for (const h of hashes) h.update(chunk);
  });
  return length === 0 ? null : hashes.map((h) => new Uint8Array(h.digest()));
}

/** The extends, in canonical section order, then the phase words, from per-section digests. */
function extendAll(banks: string[], phases: string[], digests: Map<UkiSection, Uint8Array[] | null>): Pcr11Prediction {
  const pcrs = banks.map((b) => new Uint8Array(createHash(b).digest().length));
  const extend = (i: number, digest: Uint8Array): void => {
    pcrs[i] = new Uint8Array(createHash(banks[i]).update(pcrs[i]).update(digest).digest());
  };
  for (const name of UKI_SECTIONS) {
    const d = digests.get(name);
    // Empty sections are skipped entirely, name event included; the stub does the same.
    if (d === undefined || d === null) continue;
    const nameBytes = Buffer.from(`${name}\0`, 'latin1');
    banks.forEach((b, i) => {
      extend(i, createHash(b).update(nameBytes).digest());
      extend(i, d[i]);
    });
  }
  const values: Pcr11Value[] = [];
  for (const phase of phases) {
    banks.forEach((b, i) => {
      let p = pcrs[i];
      for (const word of phase.split(':')) {
        if (word === '') continue;
        const d = createHash(b).update(word, 'utf8').digest();
        p = new Uint8Array(createHash(b).update(p).update(d).digest());
      }
      values.push({ phase, bank: b, pcr: 11, hash: p });
    });
  }
  return { banks, phases, values };
}

/**
 * Worker thread body (plain CommonJS, so it runs the same from TypeScript sources and the built package):
 * hashes file ranges with a subset of the banks, in 1 MiB chunks, and posts the digests back.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const CHUNK = 1 << 20;
const zeros = new Uint8Array(CHUNK);
try {
  const out = [];
  for (const r of workerData.ranges) {
    const hashes = workerData.banks.map((b) => createHash(b));
    const update = (c) => { for (const h of hashes) h.update(c); };
    const fd = openSync(r.path, 'r');
    const buf = new Uint8Array(CHUNK);
    let pos = r.start, left = r.length === undefined ? Infinity : r.length, total = 0, sizeOfImage;
    try {
      while (left > 0) {
        const n = readSync(fd, buf, 0, Math.min(CHUNK, left), pos);
        if (n === 0) break;
        if (r.padToSizeOfImage && total === 0 && n >= 0x40 && buf[0] === 0x4d && buf[1] === 0x5a) {
          const v = new DataView(buf.buffer, 0, n), pe = v.getUint32(0x3c, true);
          if (pe + 84 <= n && v.getUint32(pe, true) === 0x4550) sizeOfImage = v.getUint32(pe + 80, true);
        }
        update(buf.subarray(0, n));
        pos += n; left -= n; total += n;
      }
    } finally { closeSync(fd); }
    let fill = r.zeroFill + (sizeOfImage !== undefined && total < sizeOfImage ? sizeOfImage - total : 0);
    total += fill;
    for (; fill > 0; fill -= CHUNK) update(zeros.subarray(0, Math.min(CHUNK, fill)));
    out.push(total === 0 ? null : hashes.map((h) => h.digest()));
  }
  parentPort.postMessage({ out });
} catch (e) {
  parentPort.postMessage({ error: String(e && e.message || e) });
}
`;

/** Below this many bytes of input, starting a worker costs more than it saves. */
const PARALLEL_MIN_BYTES = 16 << 20;

export interface ParallelOptions {
  /** Threads to use, the calling one included; default: every core if some are idle, else one. */
  threads?: number;
  /** Smallest total input worth spreading over threads (default 16 MiB). */
  minBytes?: number;
}

/**
 * `predictPcr11` with the banks spread over threads: each thread reads the inputs and hashes them with its
 * share of the banks (the calling thread takes one share), so the four default banks use every core.
 * Falls back to `predictPcr11` for small inputs, one bank, or sections not backed by files. Same results,
 * same errors.
 */
export async function predictPcr11Parallel(req: Pcr11Request, options: ParallelOptions = {}): Promise<Pcr11Prediction> {
  const { banks, phases } = prepare(req);
  const names = UKI_SECTIONS.filter((n) => req.sections[n] !== undefined);
  const ranges = names.map((n) => (req.sections[n] as SectionContent).file);
  const threads = Math.min(options.threads ?? idleThreads(), banks.length);
  if (threads < 2 || ranges.some((r) => r === undefined)) return predictPcr11(req);
  const files = ranges as FileRange[];
  let total = 0;
  for (const r of files) {
    const size = r.length ?? fileSize(r.path);
    // An unreadable file: the streaming path reports it with systemd-measure's wording.
    if (size === undefined) return predictPcr11(req);
    total += size + r.zeroFill;
  }
  if (total < (options.minBytes ?? PARALLEL_MIN_BYTES)) return predictPcr11(req);
  // Round-robin keeps the slow SHA-2 banks apart: with two threads {sha1, sha384} and {sha256, sha512}.
  const shares = Array.from({ length: threads }, (_, t) => banks.map((_b, i) => i).filter((i) => i % threads === t));
  const workers = shares.slice(1).map(
    (share) =>
      new Promise<Array<Uint8Array[] | null>>((resolvePromise, reject) => {
        const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { ranges: files, banks: share.map((i) => banks[i]) } });
        w.once('message', (m: { out?: Array<Uint8Array[] | null>; error?: string }) => {
          void w.terminate();
          if (m.out !== undefined) resolvePromise(m.out);
          else reject(new CocoError('UKI_READ', `Failed to read a section: ${m.error ?? 'unknown error'}`, { kind: 'input' }));
        });
        w.once('error', (e) => reject(new CocoError('UKI_READ', `hashing thread failed: ${e.message}`, { kind: 'internal', cause: e })));
      }),
  );
  // If the calling thread fails first, its error is the one reported; the workers' outcome is then moot.
  for (const w of workers) w.catch(() => undefined);
  // The calling thread hashes the first share meanwhile, through the ordinary streaming path (which also
  // raises systemd-measure's errors for unreadable files).
  const mine = names.map((n) => streamDigests(req.sections[n] as SectionContent, shares[0].map((i) => banks[i])));
  const theirs = await Promise.all(workers);
  const digests = new Map<UkiSection, Uint8Array[] | null>();
  names.forEach((n, k) => {
    if (mine[k] === null) {
      digests.set(n, null);
      return;
    }
    const perBank: Uint8Array[] = new Array<Uint8Array>(banks.length);
    shares[0].forEach((bank, j) => (perBank[bank] = (mine[k] as Uint8Array[])[j]));
    shares.slice(1).forEach((share, t) => share.forEach((bank, j) => (perBank[bank] = new Uint8Array((theirs[t][k] as Uint8Array[])[j]))));
    digests.set(n, perBank);
  });
  return extendAll(banks, phases, digests);
}

/**
 * Threads worth using: every core when some are idle, else one. On a saturated machine (load average at
 * or above the core count) the extra reads and thread start-up only add time (bench/uki).
 */
function idleThreads(): number {
  const cores = availableParallelism();
  return loadavg()[0] < cores - 0.5 ? cores : 1;
}

function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/** `systemd-measure calculate` text output: `11:<bank>=<hex>` lines, plus the per-phase comments for stderr. */
export function formatPcr11Text(p: Pcr11Prediction): Array<{ stderr?: string; stdout: string }> {
  const out: Array<{ stderr?: string; stdout: string }> = [];
  for (const v of p.values) {
    const first = v.bank === p.banks[0];
    out.push({ ...(first ? { stderr: `# PCR[11] Phase <${v.phase === '' ? ':' : v.phase}>\n` } : {}), stdout: `11:${v.bank}=${toHex(v.hash)}\n` });
  }
  return out;
}

/**
 * `--json=short|pretty` output, byte for byte as sd-json prints it: banks as keys, an array of
 * `{"phase", "pcr", "hash"}` per bank, `phase` omitted for the sections-only phase; pretty uses tabs and
 * `"key" : value`.
 */
export function formatPcr11Json(p: Pcr11Prediction, mode: 'short' | 'pretty'): string {
  const entries = (bank: string): Array<Array<[string, string]>> =>
    p.values
      .filter((v) => v.bank === bank)
      .map((v) => [
        ...(v.phase === '' ? [] : [['phase', JSON.stringify(v.phase)] as [string, string]]),
        ['pcr', '11'],
        ['hash', JSON.stringify(toHex(v.hash))],
      ]);
  if (mode === 'short') {
    const banks = p.banks.map((b) => `${JSON.stringify(b)}:[${entries(b).map((e) => `{${e.map(([k, v]) => `"${k}":${v}`).join(',')}}`).join(',')}]`);
    return `{${banks.join(',')}}\n`;
  }
  const banks = p.banks.map((b) => {
    const objs = entries(b).map((e) => `\t\t{\n${e.map(([k, v]) => `\t\t\t"${k}" : ${v}`).join(',\n')}\n\t\t}`);
    return `\t${JSON.stringify(b)} : [\n${objs.join(',\n')}\n\t]`;
  });
  return `{\n${banks.join(',\n')}\n}\n`;
}

/** Most zero fill (VirtualSize beyond SizeOfRawData, summed over measured sections) a UKI may declare. */
export const MAX_ZERO_FILL = 256 * 1024 * 1024;

export interface UkiSections {
  sections: Partial<Record<UkiSection, SectionContent>>;
  /** The `.sdmagic` text of the embedded stub (`#### LoaderInfo: systemd-stub 252.39 ####`), if any. */
  stub?: string;
  /** Sections present in the image that these rules do not measure. */
  ignored: string[];
  image: PeImage;
}

/**
 * The sections the stub inside a built UKI measures, each as the VirtualSize bytes it maps (zero-filled
 * past SizeOfRawData, truncated when VirtualSize is smaller), in canonical order whatever the physical
 * order. A section with VirtualSize 0 is absent for the stub.
 * @throws CocoError PE_FORMAT / FORMAT_TRUNCATED (not a PE image), UKI_NOT_UKI (no `.linux` section),
 *   UKI_PROFILES (multi-profile UKI, kind `unsupported`)
 */
export function ukiSections(bytes: Uint8Array, rules: SystemdRules = '252', path?: string): UkiSections {
  const image = parsePe(bytes);
  if (findSection(image, '.linux') === undefined) {
    throw new CocoError('UKI_NOT_UKI', `PE image has no .linux section, so it is not a UKI (sections: ${image.sections.map((s) => s.name).join(' ') || 'none'})`, {
      kind: 'input',
    });
  }
  if (rules === 'current' && findSection(image, '.profile') !== undefined) {
    throw new CocoError('UKI_PROFILES', 'multi-profile UKIs (.profile sections) are not supported', { kind: 'unsupported' });
  }
  const measured: readonly string[] = rules === '252' ? UKI_SECTIONS_V252 : UKI_SECTIONS;
  const sections: Partial<Record<UkiSection, SectionContent>> = {};
  const ignored: string[] = [];
  let zeroFillTotal = 0;
  for (const s of image.sections) {
    if (!measured.includes(s.name)) {
      ignored.push(s.name);
      continue;
    }
    // The stub looks sections up by name and takes the first match.
    if (sections[s.name as UkiSection] !== undefined || s.virtualSize === 0) continue;
    const { raw, zeroFill } = sectionMemory(bytes, s);
    zeroFillTotal += zeroFill;
    // Real UKIs zero-fill little (a kernel's BSS at most); gigabytes of VirtualSize over a few raw bytes
    // are a malformed or hostile image, not something to spend minutes hashing.
    if (zeroFillTotal > MAX_ZERO_FILL) {
      throw new CocoError('UKI_LIMIT', `UKI sections declare more than ${MAX_ZERO_FILL} bytes of zero fill beyond their raw data`, { kind: 'limit' });
    }
    const content = bytesContent(raw, zeroFill);
    if (path !== undefined) content.file = { path, start: s.pointerToRawData, length: raw.length, zeroFill, padToSizeOfImage: false };
    sections[s.name as UkiSection] = content;
  }
  const sdmagic = findSection(image, '.sdmagic');
  let stub: string | undefined;
  if (sdmagic !== undefined) {
    const { raw } = sectionMemory(bytes, sdmagic);
    const nul = raw.indexOf(0);
    stub = Buffer.from(raw.subarray(0, nul < 0 ? raw.length : nul)).toString('latin1').trim();
  }
  return { sections, ...(stub === undefined ? {} : { stub }), ignored, image };
}
