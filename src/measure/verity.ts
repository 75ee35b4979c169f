/**
 * dm-verity hash trees, byte-compatible with `veritysetup format|verify|dump` (cryptsetup 2.6.1,
 * specs/measured-boot.md §1): the superblock, the tree geometry, building the tree from a data image and
 * verifying an image against a root hash.
 *
 * The data is streamed — level-0 digests come in runs from worker threads (verity-level0.ts), every tree
 * level keeps one hash block in memory — so memory does not grow with the image.
 */
import { closeSync, constants as fsConstants, existsSync, fstatSync, ftruncateSync, fsyncSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { CocoError } from '../errors.js';
import { bytesEqual, toHex } from '../formats/bytes.js';
import { check, type Check } from '../formats/check.js';
import { ByteReader } from '../formats/reader.js';
import { blockDigest, digestSize, nodeHashName, type BlockDigest } from './verity-digest.js';
import { defaultThreads, level0Digests } from './verity-level0.js';

export const VERITY_SUPERBLOCK_SIZE = 512;
export const VERITY_MAX_SALT_SIZE = 256;
/** cryptsetup's VERITY_MAX_LEVELS. */
const MAX_LEVELS = 63;
const SIGNATURE = Uint8Array.from([0x76, 0x65, 0x72, 0x69, 0x74, 0x79, 0, 0]); // "verity\0\0"

/** The on-disk superblock, version 1 (§1.2; cryptsetup lib/verity/verity.c `struct verity_sb`). */
export interface VeritySuperblock {
  hashType: 0 | 1;
  /** Lower-case 8-4-4-4-12 form of the 16 stored bytes. */
  uuid: string;
  /** As stored (veritysetup keeps the spelling given to `--hash`). */
  algorithm: string;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  salt: Uint8Array;
}

/** Field offsets of the 512-byte little-endian superblock (§1.2). */
const SB = {
  signature: 0,
  version: 8,
  hashType: 12,
  uuid: 16,
  algorithm: 32,
  algorithmSize: 32,
  dataBlockSize: 64,
  hashBlockSize: 68,
  dataBlocks: 72,
  saltSize: 80,
  salt: 88,
} as const;

/** Everything that determines a hash tree. */
export interface VerityParams {
  /** veritysetup's `--hash` spelling; hashed with the matching node:crypto digest. */
  hashAlgorithm: string;
  /** `--format`: 1 = normal (salt first), 0 = Chrome OS (salt last, digests packed). */
  hashType: 0 | 1;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  salt: Uint8Array;
  /** Byte offset of the superblock (or of the tree, without one) on the hash device. */
  hashOffset: number;
  /** Whether a superblock precedes the tree (`--no-superblock` clears it). */
  superblock: boolean;
  /** Stored in the superblock only. */
  uuid?: string;
}

/** Where everything lies on the hash device (§1.3, §1.5). */
export interface VerityGeometry {
  digestSize: number;
  /** Bytes per digest inside a hash block: the digest rounded up to a power of two (format 1) or as is (format 0). */
  digestSlot: number;
  /** Digests per hash block (a power of two, from the unpadded digest size). */
  perBlock: number;
  /** Hash blocks per level; index 0 hashes the data blocks. */
  levelBlocks: number[];
  /** First hash-device block of each level; the top level is written first. */
  levelStart: number[];
  /** First block of the tree, in hash blocks. */
  treeStart: number;
  /** Σ levelBlocks — veritysetup's "Hash blocks". */
  hashBlocks: number;
  /** (treeStart + hashBlocks) · hashBlockSize — veritysetup's "Hash device size". */
  hashDeviceSize: number;
}

/** Result of `verityFormat`. */
export interface VerityFormatResult extends VerityParams, VerityGeometry {
  rootHash: Uint8Array;
}

export interface VerityRunOptions {
  /** Hashing threads for level 0, the calling one included (default: one per core, at most one per 16 MiB of data). */
  threads?: number;
  /** Data blocks per unit of work handed to a thread (default: 4 MiB worth). */
  runBlocks?: number;
  /** Called after each run of data blocks with the number hashed so far. */
  onProgress?: (doneBlocks: number, totalBlocks: number) => void;
}

export interface VerityFormatOptions extends VerityRunOptions {
  /** Data image path. */
  data: string;
  /** Hash device path (created with mode 0600 if missing, never truncated; may equal `data`). */
  hash: string;
  hashAlgorithm?: string;
  hashType?: number;
  dataBlockSize?: number;
  hashBlockSize?: number;
  /** Raw salt; empty = no salt (`--salt=-`); omitted = 32 random bytes, like veritysetup. */
  salt?: Uint8Array;
  /** Omitted = a random (version 4) UUID, like veritysetup's uuid_generate. */
  uuid?: string;
  hashOffset?: number;
  /** Default (or 0): every whole data block of the data image (a trailing partial block is ignored). */
  dataBlocks?: number;
  superblock?: boolean;
  /** Randomness for salt and UUID (injectable for reproducible tests). */
  random?: (n: number) => Uint8Array;
}

// ───────────────────────────── superblock ─────────────────────────────

function isBlockSizeOk(n: number): boolean {
  // VERITY_BLOCK_SIZE_OK: a power of two from 512 bytes to 512 KiB.
  return Number.isInteger(n) && n >= 512 && n <= 512 * 1024 && (n & (n - 1)) === 0;
}

function checkBlockSizes(dataBlockSize: number, hashBlockSize: number): void {
  if (!isBlockSizeOk(dataBlockSize) || !isBlockSizeOk(hashBlockSize)) {
    throw new CocoError('VERITY_BLOCK_SIZE', `Unsupported VERITY block size (data ${dataBlockSize}, hash ${hashBlockSize}): must be a power of two from 512 to 524288.`, {
      kind: 'usage',
      detail: { dataBlockSize, hashBlockSize },
    });
  }
}

function checkHashType(t: number): asserts t is 0 | 1 {
  if (t !== 0 && t !== 1) throw new CocoError('VERITY_HASH_TYPE', `Unsupported VERITY hash type ${t}.`, { kind: 'unsupported', detail: { hashType: t } });
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** The 16 bytes of a UUID string (libuuid's uuid_parse: 36 characters, hex digits of either case). */
export function parseUuid(uuid: string): Uint8Array {
  if (!UUID_RE.test(uuid)) throw new CocoError('VERITY_UUID', `Wrong VERITY UUID format provided: ${JSON.stringify(uuid)}.`, { kind: 'usage' });
  return new Uint8Array(Buffer.from(uuid.replaceAll('-', ''), 'hex'));
}

function unparseUuid(b: Uint8Array): string {
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A random version-4 UUID from the given randomness. */
export function randomUuid(random: (n: number) => Uint8Array): string {
  const b = Uint8Array.from(random(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return unparseUuid(b);
}

/**
 * Parses the first 512 bytes of `bytes` as a verity superblock, with cryptsetup's checks (VERITY_read_sb):
 * signature, version 1, hash type 0/1, block sizes, a known digest, salt size ≤ 256.
 */
export function readVeritySuperblock(bytes: Uint8Array, what = 'hash device'): VeritySuperblock {
  if (bytes.length < VERITY_SUPERBLOCK_SIZE) {
    throw new CocoError('VERITY_SUPERBLOCK', `${what} is not a valid VERITY device: ${bytes.length} bytes where the superblock needs ${VERITY_SUPERBLOCK_SIZE}.`, {
      kind: 'input',
      detail: { length: bytes.length },
    });
  }
  const r = new ByteReader(bytes.subarray(0, VERITY_SUPERBLOCK_SIZE), 'verity superblock');
  if (!bytesEqual(r.at(SB.signature, 8), SIGNATURE)) {
    throw new CocoError('VERITY_SUPERBLOCK', `${what} is not a valid VERITY device (no "verity" signature).`, { kind: 'input' });
  }
  r.seek(SB.version);
  const version = r.u32le();
  if (version !== 1) throw new CocoError('VERITY_SUPERBLOCK', `Unsupported VERITY version ${version}.`, { kind: 'unsupported', detail: { version } });
  const hashType = r.u32le();
  checkHashType(hashType);
  const uuid = unparseUuid(r.at(SB.uuid, 16));
  const algBytes = r.at(SB.algorithm, SB.algorithmSize);
  const nul = algBytes.indexOf(0);
  const algorithm = Buffer.from(algBytes.subarray(0, nul < 0 ? algBytes.length : nul)).toString('latin1');
  r.seek(SB.dataBlockSize);
  const dataBlockSize = r.u32le();
  const hashBlockSize = r.u32le();
  checkBlockSizes(dataBlockSize, hashBlockSize);
  const dataBlocks64 = r.u64le();
  if (dataBlocks64 > BigInt(Number.MAX_SAFE_INTEGER) / BigInt(dataBlockSize)) {
    throw new CocoError('VERITY_SUPERBLOCK', `VERITY header corrupted: ${dataBlocks64} data blocks is beyond any device.`, { kind: 'limit' });
  }
  nodeHashName(algorithm);
  const saltSize = r.u16le();
  if (saltSize > VERITY_MAX_SALT_SIZE) {
    throw new CocoError('VERITY_SUPERBLOCK', `VERITY header corrupted: salt size ${saltSize} exceeds ${VERITY_MAX_SALT_SIZE}.`, { kind: 'input', detail: { saltSize } });
  }
  const salt = Uint8Array.from(r.at(SB.salt, saltSize));
  return { hashType, uuid, algorithm, dataBlockSize, hashBlockSize, dataBlocks: Number(dataBlocks64), salt };
}

/** The 512-byte superblock (VERITY_write_sb): unused fields and padding are zero. */
export function writeVeritySuperblock(sb: VeritySuperblock): Uint8Array {
  checkHashType(sb.hashType);
  checkBlockSizes(sb.dataBlockSize, sb.hashBlockSize);
  if (sb.salt.length > VERITY_MAX_SALT_SIZE) {
    throw new CocoError('VERITY_SALT', `salt of ${sb.salt.length} bytes exceeds ${VERITY_MAX_SALT_SIZE}.`, { kind: 'usage' });
  }
  const out = new Uint8Array(VERITY_SUPERBLOCK_SIZE);
  const v = new DataView(out.buffer);
  out.set(SIGNATURE, SB.signature);
  v.setUint32(SB.version, 1, true);
  v.setUint32(SB.hashType, sb.hashType, true);
  out.set(parseUuid(sb.uuid), SB.uuid);
  // Stored lower-case (veritysetup prints `--hash` as typed but writes it lower-case), strncpy'd into 32
  // bytes with the last forced to NUL: at most 31 characters survive.
  out.set(Buffer.from(sb.algorithm.toLowerCase(), 'latin1').subarray(0, SB.algorithmSize - 1), SB.algorithm);
  v.setUint32(SB.dataBlockSize, sb.dataBlockSize, true);
  v.setUint32(SB.hashBlockSize, sb.hashBlockSize, true);
  v.setBigUint64(SB.dataBlocks, BigInt(sb.dataBlocks), true);
  v.setUint16(SB.saltSize, sb.salt.length, true);
  out.set(sb.salt, SB.salt);
  return out;
}

// ───────────────────────────── geometry ─────────────────────────────

function log2Floor(n: number): number {
  let i = 0;
  while (n / 2 ** i >= 2) i++;
  return i;
}

/** Tree geometry (§1.3, §1.5); throws `VERITY_HASH_AREA_OVERFLOW` past cryptsetup's 63 levels. */
export function verityGeometry(p: VerityParams): VerityGeometry {
  checkBlockSizes(p.dataBlockSize, p.hashBlockSize);
  const size = digestSize(nodeHashName(p.hashAlgorithm));
  const bits = log2Floor(Math.floor(p.hashBlockSize / size));
  if (bits === 0) throw new CocoError('VERITY_BLOCK_SIZE', `hash block of ${p.hashBlockSize} bytes holds fewer than two ${size}-byte digests`, { kind: 'usage' });
  const perBlock = 2 ** bits;
  const n = p.dataBlocks;
  let levels = 0;
  while (bits * levels < 64 && Math.floor((n - 1) / 2 ** (bits * levels)) > 0) levels++;
  if (levels > MAX_LEVELS) throw new CocoError('VERITY_HASH_AREA_OVERFLOW', 'Hash area overflow.', { kind: 'limit' });
  const treeStart = p.superblock ? Math.ceil((p.hashOffset + VERITY_SUPERBLOCK_SIZE) / p.hashBlockSize) : Math.floor(p.hashOffset / p.hashBlockSize);
  const levelBlocks: number[] = [];
  for (let i = 0; i < levels; i++) levelBlocks.push(Math.ceil(n / 2 ** (bits * (i + 1))));
  const levelStart: number[] = new Array(levels);
  let pos = treeStart;
  for (let i = levels - 1; i >= 0; i--) {
    levelStart[i] = pos;
    pos += levelBlocks[i];
  }
  const hashBlocks = pos - treeStart;
  return {
    digestSize: size,
    digestSlot: p.hashType === 1 ? 2 ** Math.ceil(Math.log2(size)) : size,
    perBlock,
    levelBlocks,
    levelStart,
    treeStart,
    hashBlocks,
    hashDeviceSize: pos * p.hashBlockSize,
  };
}

// ───────────────────────────── tree building ─────────────────────────────

/**
 * What finished hash blocks are handed to: written (format) or compared with the stored ones (verify).
 * `blocks` holds one or more consecutive hash blocks of `level`, the first being block `index` of the level.
 */
type BlockSink = (level: number, index: number, blocks: Uint8Array) => void;

/**
 * Builds the tree bottom-up as level-0 digests arrive in data order. Each level holds one hash block; when
 * it fills (or at the end) it goes to the sink and its digest moves one level up. The digest of the single
 * top-level block is the root hash (§1.6); with one data block there are no levels and the root is the
 * digest of that block.
 */
class TreeBuilder {
  private readonly bufs: Uint8Array[];
  private readonly fill: number[];
  private readonly emitted: number[];
  private readonly scratch: Uint8Array;
  private root: Uint8Array | undefined;

  constructor(
    private readonly geo: VerityGeometry,
    private readonly hashBlockSize: number,
    private readonly digestHashBlock: BlockDigest,
    private readonly sink: BlockSink,
  ) {
    const levels = geo.levelBlocks.length;
    this.bufs = Array.from({ length: levels }, () => new Uint8Array(hashBlockSize));
    this.fill = new Array<number>(levels).fill(0);
    this.emitted = new Array<number>(levels).fill(0);
    this.scratch = new Uint8Array(geo.digestSize);
  }

  /** Level-0 digests, `digestSize` bytes each, back to back. */
  pushData(digests: Uint8Array): void {
    const d = this.geo.digestSize;
    if (this.bufs.length === 0) {
      this.root = digests.slice(0, d);
      return;
    }
    let off = 0;
    // When digests fill hash blocks exactly (sha256 in 4 KiB blocks: 128 × 32 bytes, no padding), whole level-0
    // blocks are the digests as they come: they go to the sink in one piece and are hashed where they lie.
    const span = this.geo.perBlock * d;
    if (this.geo.digestSlot === d && span === this.hashBlockSize) {
      while (off < digests.length && this.fill[0] !== 0) {
        this.add(0, digests.subarray(off, off + d));
        off += d;
      }
      const whole = Math.floor((digests.length - off) / span);
      if (whole > 0) {
        this.sink(0, this.emitted[0], digests.subarray(off, off + whole * span));
        this.emitted[0] += whole;
        for (let b = 0; b < whole; b++, off += span) this.up(0, digests.subarray(off, off + span));
      }
    }
    for (; off < digests.length; off += d) this.add(0, digests.subarray(off, off + d));
  }

  /** Hashes a finished block of `level` into the level above (or the root). */
  private up(level: number, block: Uint8Array): void {
    this.digestHashBlock(block, this.scratch, 0);
    if (level === this.bufs.length - 1) this.root = this.scratch.slice();
    else this.add(level + 1, this.scratch);
  }

  private add(level: number, digest: Uint8Array): void {
    this.bufs[level].set(digest, this.fill[level] * this.geo.digestSlot);
    if (++this.fill[level] === this.geo.perBlock) this.emit(level);
  }

  private emit(level: number): void {
    const buf = this.bufs[level];
    this.sink(level, this.emitted[level]++, buf);
    this.fill[level] = 0;
    this.up(level, buf);
    buf.fill(0);
  }

  finish(): Uint8Array {
    for (let level = 0; level < this.bufs.length; level++) if (this.fill[level] > 0) this.emit(level);
    if (!this.root) throw new CocoError('VERITY_INTERNAL', 'hash tree ended without a root', { kind: 'internal' });
    return this.root;
  }
}

// ───────────────────────────── devices ─────────────────────────────

/** Size in bytes of a regular file or a block device (whose st_size is 0; sysfs knows its sectors). */
function deviceSize(fd: number, path: string): number {
  const st = fstatSync(fd);
  if (st.isBlockDevice()) {
    const major = Number(BigInt(st.rdev) >> 8n) & 0xfff;
    const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
    try {
      return Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim()) * 512;
    } catch (e) {
      throw new CocoError('VERITY_IO', `cannot determine the size of block device ${path}`, { kind: 'unavailable', cause: e });
    }
  }
  if (!st.isFile()) throw new CocoError('VERITY_IO', `${path} is neither a file nor a block device`, { kind: 'usage' });
  return st.size;
}

function openOrFail(path: string, flags: number, mode?: number): number {
  try {
    return openSync(path, flags, mode);
  } catch (e) {
    throw new CocoError('VERITY_IO', `Cannot open device ${path}: ${(e as Error).message}`, { kind: 'unavailable', cause: e, detail: { path } });
  }
}

/** Level-0 pass shared by format and verify: feeds every data-block digest into the builder. */
async function hashData(p: VerityParams, dataPath: string, builder: TreeBuilder, run: VerityRunOptions, shouldStop: () => boolean): Promise<void> {
  const nodeName = nodeHashName(p.hashAlgorithm);
  const size = digestSize(nodeName);
  const runs = level0Digests({
    path: dataPath,
    nodeName,
    hashType: p.hashType,
    salt: p.salt,
    blockSize: p.dataBlockSize,
    blocks: p.dataBlocks,
    threads: run.threads ?? defaultThreads(p.dataBlocks * p.dataBlockSize),
    runBlocks: run.runBlocks,
  });
  for await (const r of runs) {
    builder.pushData(r.digests);
    run.onProgress?.(r.first + r.digests.length / size, p.dataBlocks);
    if (shouldStop()) break;
  }
}

// ───────────────────────────── format ─────────────────────────────

/** Checks and completes format parameters exactly as veritysetup would refuse or default them. */
function formatParams(o: VerityFormatOptions, dataSize: number): VerityParams {
  const random = o.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const hashType = o.hashType ?? 1;
  checkHashType(hashType);
  const dataBlockSize = o.dataBlockSize ?? 4096;
  const hashBlockSize = o.hashBlockSize ?? 4096;
  checkBlockSizes(dataBlockSize, hashBlockSize);
  const hashAlgorithm = o.hashAlgorithm ?? 'sha256';
  nodeHashName(hashAlgorithm);
  const hashOffset = o.hashOffset ?? 0;
  if (!Number.isSafeInteger(hashOffset) || hashOffset < 0 || hashOffset % 512 !== 0) {
    throw new CocoError('VERITY_HASH_OFFSET', `Unsupported VERITY hash offset ${hashOffset}: must be a multiple of 512.`, { kind: 'usage' });
  }
  const salt = o.salt ?? random(32);
  if (salt.length > VERITY_MAX_SALT_SIZE) throw new CocoError('VERITY_SALT', `salt of ${salt.length} bytes exceeds ${VERITY_MAX_SALT_SIZE}.`, { kind: 'usage' });
  const superblock = o.superblock ?? true;
  const uuid = superblock ? (o.uuid ?? randomUuid(random)) : undefined;
  if (uuid !== undefined) parseUuid(uuid);
  const deviceBlocks = Math.floor(dataSize / dataBlockSize);
  // veritysetup treats --data-blocks=0 like no option: the whole device.
  const dataBlocks = o.dataBlocks || deviceBlocks;
  if (!Number.isSafeInteger(dataBlocks) || dataBlocks < 0) throw new CocoError('VERITY_DATA_BLOCKS', `invalid number of data blocks ${dataBlocks}`, { kind: 'usage' });
  if (dataBlocks === 0 || dataBlocks > deviceBlocks) {
    throw new CocoError('VERITY_DATA_TOO_SMALL', `Device ${o.data} is too small: ${dataSize} bytes hold ${deviceBlocks} block(s) of ${dataBlockSize} bytes, ${Math.max(dataBlocks, 1)} needed.`, {
      kind: 'input',
      detail: { dataSize, dataBlockSize, dataBlocks },
    });
  }
  return { hashAlgorithm, hashType, dataBlockSize, hashBlockSize, dataBlocks, salt: Uint8Array.from(salt), hashOffset, superblock, uuid };
}

/** Size in bytes of the data device or file at `path` (VERITY_IO when it cannot be opened). */
function dataDeviceSize(path: string): number {
  const fd = openOrFail(path, fsConstants.O_RDONLY);
  try {
    return deviceSize(fd, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * `veritysetup format DATA HASH`: writes the hash tree (and superblock) to the hash device and returns the
 * parameters with the root hash. Bytes the tree does not cover are left as they were (a new file has zeros).
 */
export async function verityFormat(o: VerityFormatOptions): Promise<VerityFormatResult> {
  const dataSize = dataDeviceSize(o.data);
  const p = formatParams(o, dataSize);
  const geo = verityGeometry(p);
  const sameDevice = existsSync(o.hash) && sameFile(o.data, o.hash);
  if (sameDevice && geo.treeStart * p.hashBlockSize < p.dataBlocks * p.dataBlockSize) {
    throw new CocoError('VERITY_OVERLAP', `Data area overlaps with hash area: the hash area at byte ${p.hashOffset} lies inside the ${p.dataBlocks * p.dataBlockSize} data bytes.`, {
      kind: 'usage',
    });
  }
  const hashFd = openOrFail(o.hash, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o600);
  try {
    const hashBlockDigest = blockDigest(nodeHashName(p.hashAlgorithm), p.hashType, p.salt, p.hashBlockSize);
    const builder = new TreeBuilder(geo, p.hashBlockSize, hashBlockDigest, (level, index, blocks) => {
      writeFully(hashFd, blocks, (geo.levelStart[level] + index) * p.hashBlockSize);
    });
    await hashData(p, o.data, builder, o, () => false);
    const rootHash = builder.finish();
    if (p.superblock) {
      const sb = writeVeritySuperblock({ ...p, uuid: p.uuid!, algorithm: p.hashAlgorithm });
      writeSync(hashFd, sb, 0, sb.length, p.hashOffset);
      // veritysetup writes the superblock block-wise, so the hash device always reaches the tree start.
      if (fstatSync(hashFd).size < geo.treeStart * p.hashBlockSize) ftruncateSync(hashFd, geo.treeStart * p.hashBlockSize);
    }
    fsyncSync(hashFd);
    return { ...p, ...geo, rootHash };
  } finally {
    closeSync(hashFd);
  }
}

/**
 * The root hash alone, for a tree nobody stores (what a policy pins for a layer): the tree is built with
 * one hash block per level in memory and nothing is written. Same parameters and refusals as `verityFormat`
 * without a hash device.
 */
export async function verityRootHash(o: Omit<VerityFormatOptions, 'hash' | 'superblock' | 'uuid' | 'hashOffset'>): Promise<Uint8Array> {
  const p = formatParams({ ...o, hash: '', superblock: false, salt: o.salt ?? new Uint8Array(0) }, dataDeviceSize(o.data));
  const geo = verityGeometry(p);
  const builder = new TreeBuilder(geo, p.hashBlockSize, blockDigest(nodeHashName(p.hashAlgorithm), p.hashType, p.salt, p.hashBlockSize), () => {});
  await hashData(p, o.data, builder, o, () => false);
  return builder.finish();
}

function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function sameFile(a: string, b: string): boolean {
  const fa = openSync(a, 'r');
  const fb = openSync(b, 'r');
  try {
    const sa = fstatSync(fa);
    const sb = fstatSync(fb);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

// ───────────────────────────── verify ─────────────────────────────

export interface VerityVerifyOptions extends VerityRunOptions {
  data: string;
  hash: string;
  rootHash: Uint8Array;
  /** Superblock position (default 0). */
  hashOffset?: number;
  /**
   * Tree parameters when the hash device has no superblock (`--no-superblock`); with a superblock they come
   * from it and these are ignored.
   */
  noSuperblock?: Omit<Partial<VerityParams>, 'superblock' | 'hashOffset' | 'uuid'>;
}

/** Where verification failed, in veritysetup's terms plus the tree coordinates. */
export interface VerityFailure {
  /** veritysetup's message, e.g. `Verification failed at position 151552.` */
  message: string;
  /** Tree level of the hash block whose entry did not match (0 = the data blocks' digests). */
  level: number;
  /** `digest` — a child's digest differs from its entry; `spare` — padding in a hash block is not zero. */
  reason: 'digest' | 'spare';
  /** Byte position veritysetup reports (in the data device for level 0, else in the hash device). */
  position: number;
  /** The corrupted (or unprotected) child: a data block for level 0, a hash block of level-1 otherwise. */
  childBlock?: number;
  /** Hash-device block holding the entry, and the entry's index inside it. */
  hashBlock: number;
  entry?: number;
}

export interface VerityVerifyResult extends VerityParams, VerityGeometry {
  rootHash: Uint8Array;
  /** What was checked (all passed: a failure throws). */
  checks: Check[];
}

/** Reads the superblock of a hash device at `offset`, for `verify` and `dump`. */
export function readVeritySuperblockFile(path: string, offset = 0): VeritySuperblock {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % 512 !== 0) {
    throw new CocoError('VERITY_HASH_OFFSET', `Unsupported VERITY hash offset ${offset}: must be a multiple of 512.`, { kind: 'usage' });
  }
  const fd = openOrFail(path, fsConstants.O_RDONLY);
  try {
    const buf = new Uint8Array(VERITY_SUPERBLOCK_SIZE);
    const n = readSync(fd, buf, 0, buf.length, offset);
    return readVeritySuperblock(buf.subarray(0, n), `Device ${path}`);
  } finally {
    closeSync(fd);
  }
}

function verifyParams(o: VerityVerifyOptions): VerityParams {
  const hashOffset = o.hashOffset ?? 0;
  if (!o.noSuperblock) {
    const sb = readVeritySuperblockFile(o.hash, hashOffset);
    return { ...sb, hashAlgorithm: sb.algorithm, hashOffset, superblock: true };
  }
  const n = o.noSuperblock;
  const p: VerityParams = {
    hashAlgorithm: n.hashAlgorithm ?? 'sha256',
    hashType: (n.hashType ?? 1) as 0 | 1,
    dataBlockSize: n.dataBlockSize ?? 4096,
    hashBlockSize: n.hashBlockSize ?? 4096,
    dataBlocks: n.dataBlocks ?? 0,
    salt: n.salt ?? new Uint8Array(0),
    hashOffset,
    superblock: false,
  };
  checkHashType(p.hashType);
  checkBlockSizes(p.dataBlockSize, p.hashBlockSize);
  if (hashOffset % 512 !== 0) throw new CocoError('VERITY_HASH_OFFSET', `Unsupported VERITY hash offset ${hashOffset}: must be a multiple of 512.`, { kind: 'usage' });
  return p;
}

/**
 * `veritysetup verify DATA HASH ROOT`: recomputes the tree and compares it with the stored one level by
 * level, bottom-up, as cryptsetup does — so the failure reported is the first corrupted data block if there
 * is one, else the lowest corrupted hash block — then compares the root hash. Throws `VERITY_CORRUPTED`
 * (with a `VerityFailure` as detail) or `VERITY_ROOT_HASH`, both of kind `expectation`.
 */
export async function verityVerify(o: VerityVerifyOptions): Promise<VerityVerifyResult> {
  const p = verifyParams(o);
  const dataSize = dataDeviceSize(o.data);
  if (p.dataBlocks === 0) p.dataBlocks = Math.floor(dataSize / p.dataBlockSize);
  if (p.dataBlocks === 0 || p.dataBlocks * p.dataBlockSize > dataSize) {
    throw new CocoError('VERITY_DATA_TOO_SMALL', `Device ${o.data} is too small: ${dataSize} bytes, ${p.dataBlocks} block(s) of ${p.dataBlockSize} bytes needed.`, { kind: 'input' });
  }
  const geo = verityGeometry(p);
  if (o.rootHash.length !== geo.digestSize) {
    throw new CocoError('VERITY_ROOT_HASH_FORMAT', `Invalid root hash: ${o.rootHash.length} bytes where ${p.hashAlgorithm} gives ${geo.digestSize}.`, { kind: 'usage' });
  }
  const hashFd = openOrFail(o.hash, fsConstants.O_RDONLY);
  try {
    const hashSize = deviceSize(hashFd, o.hash);
    if (hashSize < geo.hashDeviceSize) {
      throw new CocoError('VERITY_HASH_TOO_SMALL', `Hash device ${o.hash} is too small: ${hashSize} bytes where the tree needs ${geo.hashDeviceSize}.`, { kind: 'input' });
    }
    let failure: VerityFailure | undefined;
    const stored = new Uint8Array(p.hashBlockSize);
    const builder = new TreeBuilder(geo, p.hashBlockSize, blockDigest(nodeHashName(p.hashAlgorithm), p.hashType, p.salt, p.hashBlockSize), (level, index, blocks) => {
      for (let i = 0; i * p.hashBlockSize < blocks.length; i++) {
        // A failure at a lower level is what cryptsetup reports first (it verifies level by level).
        if (failure && failure.level <= level) return;
        const block = blocks.subarray(i * p.hashBlockSize, (i + 1) * p.hashBlockSize);
        const hashBlock = geo.levelStart[level] + index + i;
        readSync(hashFd, stored, 0, stored.length, hashBlock * p.hashBlockSize);
        if (bytesEqual(stored, block)) continue;
        failure = locateFailure(p, geo, level, index + i, stored, block);
      }
    });
    await hashData(p, o.data, builder, o, () => failure?.level === 0);
    // Partly filled blocks reach the sink only when the tree is finished.
    const rootHash = failure?.level === 0 ? undefined : builder.finish();
    if (failure || !rootHash) {
      throw new CocoError('VERITY_CORRUPTED', describeFailure(failure!), { kind: 'expectation', detail: failure });
    }
    if (!bytesEqual(rootHash, o.rootHash)) {
      throw new CocoError('VERITY_ROOT_HASH', `Verification of root hash failed: the tree gives ${toHex(rootHash)}, not ${toHex(o.rootHash)}.`, {
        kind: 'expectation',
        detail: { expected: toHex(o.rootHash), actual: toHex(rootHash) },
      });
    }
    const checks = [
      check('verity.tree', true, `${p.dataBlocks} data blocks and ${geo.hashBlocks} hash blocks match the digests stored above them`),
      check('verity.root-hash', true, 'the digest of the top hash block is the expected root hash', { expected: toHex(o.rootHash), actual: toHex(rootHash) }),
    ];
    return { ...p, ...geo, rootHash, checks };
  } finally {
    closeSync(hashFd);
  }
}

/**
 * The first difference between a stored hash block and the recomputed one, scanned in cryptsetup's order
 * (create_or_verify in lib/verity/verity_hash.c): entry, its zero padding (format 1), next entry, …, then
 * the unused tail of the block.
 */
function locateFailure(p: VerityParams, geo: VerityGeometry, level: number, index: number, stored: Uint8Array, built: Uint8Array): VerityFailure {
  const hashBlock = geo.levelStart[level] + index;
  const base = hashBlock * p.hashBlockSize;
  const children = level === 0 ? p.dataBlocks : geo.levelBlocks[level - 1];
  const count = Math.min(geo.perBlock, children - index * geo.perBlock);
  const differs = (from: number, to: number): boolean => !bytesEqual(stored.subarray(from, to), built.subarray(from, to));
  const spare = (from: number): VerityFailure => ({
    message: `Spare area is not zeroed at position ${base + from}.`,
    level,
    reason: 'spare',
    position: base + from,
    hashBlock,
  });
  for (let e = 0; e < count; e++) {
    const at = e * geo.digestSlot;
    if (differs(at, at + geo.digestSize)) {
      const childBlock = index * geo.perBlock + e;
      const position = level === 0 ? childBlock * p.dataBlockSize : (geo.levelStart[level - 1] + childBlock) * p.hashBlockSize;
      return { message: `Verification failed at position ${position}.`, level, reason: 'digest', position, childBlock, hashBlock, entry: e };
    }
    if (geo.digestSlot > geo.digestSize && differs(at + geo.digestSize, at + geo.digestSlot)) return spare(at + geo.digestSize);
  }
  return spare(count * geo.digestSlot);
}

function describeFailure(f: VerityFailure): string {
  if (f.reason === 'spare') return `${f.message} Hash block ${f.hashBlock} (level ${f.level}) has non-zero bytes where the format requires zeros.`;
  const child = f.level === 0 ? `data block ${f.childBlock} is corrupted` : `hash block at byte ${f.position} (level ${f.level - 1}) is corrupted`;
  return `${f.message} ${child[0].toUpperCase()}${child.slice(1)}: its digest differs from entry ${f.entry} of hash block ${f.hashBlock} (level ${f.level}).`;
}

// ───────────────────────────── report ─────────────────────────────

/**
 * veritysetup's parameter report (`_verity_dump` in lib/setup.c), printed by `format` (with the root hash)
 * and `dump` (without). The "Hash device size" line only appears when the hash area starts at offset 0,
 * because dump cannot know what precedes it otherwise.
 */
export function verityReport(device: string, p: VerityParams, geo: VerityGeometry, rootHash?: Uint8Array): string {
  const lines = [
    `VERITY header information for ${device}`,
    `UUID:            \t${p.superblock ? (p.uuid ?? '') : ''}`,
    `Hash type:       \t${p.hashType}`,
    `Data blocks:     \t${p.dataBlocks}`,
    `Data block size: \t${p.dataBlockSize}`,
    `Hash blocks:     \t${geo.hashBlocks}`,
    `Hash block size: \t${p.hashBlockSize}`,
    `Hash algorithm:  \t${p.hashAlgorithm}`,
    `Salt:            \t${p.salt.length > 0 ? toHex(p.salt) : '-'}`,
  ];
  if (rootHash) lines.push(`Root hash:      \t${toHex(rootHash)}`);
  if (p.hashOffset === 0) lines.push(`Hash device size: \t${geo.hashDeviceSize} [bytes]`);
  return lines.join('\n') + '\n';
}
