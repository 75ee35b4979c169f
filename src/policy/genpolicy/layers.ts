/**
 * Image layers when the guest does not pull images itself: each layer reaches the guest as a read-only tar
 * block device protected by dm-verity, and the policy pins every layer's root hash (specs/rego.md §3).
 *
 * The device is the uncompressed layer tar followed by a tarfs index (the tar-to-image step of the tardev
 * snapshotter: an inode table, directory entries and names, and a 16-byte superblock naming where the
 * inode table starts), and the tree is dm-verity format 1 over it: sha256, 4096-byte data and hash blocks,
 * a salt of 32 zero bytes, no superblock; a trailing partial block is not covered. The root hashes, with
 * the /etc/passwd and /etc/group a layer carries, are cached by the layer's diff_id in a JSON file whose
 * records are `{diff_id, verity_hash, passwd, group}`.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CocoError } from '../../errors.js';
import { toHex } from '../../formats/bytes.js';
import { verityRootHash } from '../../measure/verity.js';
import { fdReader, tarEntries, type ReadAt } from '../../formats/tar.js';

/** One cached layer, as the cache file stores it. */
export interface LayerRecord {
  diff_id: string;
  verity_hash: string;
  passwd: string;
  group: string;
}

const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFBLK = 0o060000;
const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;

const DT: Record<number, number> = { [S_IFIFO]: 1, [S_IFCHR]: 2, [S_IFDIR]: 4, [S_IFBLK]: 6, [S_IFREG]: 8, [S_IFLNK]: 10, [S_IFSOCK]: 12 };

interface Node {
  offset: bigint;
  size: bigint;
  /** Keyed by the name's bytes as latin1 (so that string order is byte order). */
  children: Map<string, Node>;
  mode: number;
  ino: number;
  emitted: boolean;
  mtime: number;
  owner: number;
  group: number;
}

function node(mode = 0): Node {
  return { offset: 0n, size: 0n, children: new Map(), mode, ino: 0, emitted: false, mtime: 0, owner: 0, group: 0 };
}

function child(n: Node, name: string): Node {
  let c = n.children.get(name);
  if (!c) {
    c = node();
    n.children.set(name, c);
  }
  return c;
}

/** Path components, "" and "." dropped, ".." popping; undefined when ".." would leave the root. */
function cleanPath(bytes: Uint8Array): string[] | undefined {
  const out: string[] = [];
  for (const c of Buffer.from(bytes).toString('latin1').split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(c);
  }
  return out;
}

function sortedChildren(n: Node): Array<[string, Node]> {
  return [...n.children.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function breadthFirst(root: Node, visit: (n: Node) => void): void {
  const q: Node[] = [root];
  for (let i = 0; i < q.length; i++) {
    visit(q[i]!);
    for (const [, c] of sortedChildren(q[i]!)) q.push(c);
  }
}

/** What indexing a layer found besides the index itself. */
export interface LayerUsers {
  passwd: string;
  group: string;
}

const WHITEOUT = 'WHITEOUT';

/**
 * Appends the tarfs index to the layer tar in the file `fd` (of `size` bytes) and returns the /etc/passwd
 * and /etc/group the layer holds ("WHITEOUT" when it deletes them, "" when it does not touch them).
 */
export function appendTarIndex(fd: number, size: number, what = 'layer'): LayerUsers {
  const read: ReadAt = fdReader(fd);
  const rootRef = { root: node(S_IFDIR | 0o555) };
  let passwd = '';
  let group = '';
  let foundPasswd = false;
  let foundGroup = false;
  for (const e of tarEntries(read, size, what)) {
    const pathText = Buffer.from(e.path).toString('utf8');
    if (!(foundPasswd && foundGroup)) {
      if (pathText === 'etc/passwd' && (e.type === '0' || e.type === '\0')) {
        passwd = Buffer.from(read(e.dataOffset, e.size)).toString('utf8');
        foundPasswd = true;
      } else if (pathText === 'etc/.wh.passwd') {
        passwd = WHITEOUT;
        foundPasswd = true;
      } else if (pathText === 'etc/group' && (e.type === '0' || e.type === '\0')) {
        group = Buffer.from(read(e.dataOffset, e.size)).toString('utf8');
        foundGroup = true;
      } else if (pathText === 'etc/.wh.group') {
        group = WHITEOUT;
        foundGroup = true;
      }
    }
    const mode = e.modeStrict;
    if (mode === undefined) continue;
    let m = mode & 0x1ff;
    let entrySize: bigint;
    let entryOffset: bigint;
    switch (e.type) {
      case '0':
      case '\0':
        m |= S_IFREG;
        entrySize = BigInt(e.size);
        entryOffset = BigInt(e.dataOffset);
        break;
      case '5':
        m |= S_IFDIR;
        entrySize = 0n;
        entryOffset = 0n;
        break;
      case '6':
        m |= S_IFIFO;
        entrySize = 0n;
        entryOffset = 0n;
        break;
      case '3':
      case '4': {
        m |= e.type === '3' ? S_IFCHR : S_IFBLK;
        if (!e.ustar || e.devMajorStrict === undefined || e.devMinorStrict === undefined) continue;
        entryOffset = BigInt(e.devMinorStrict) | (BigInt(e.devMajorStrict) << 32n);
        entrySize = 0n;
        break;
      }
      case '2': {
        m |= S_IFLNK;
        if (!e.linkName) continue;
        const header = e.headerLinkName ?? new Uint8Array(0);
        if (Buffer.compare(Buffer.from(header), Buffer.from(e.linkName)) !== 0) continue;
        entrySize = BigInt(e.linkName.length);
        entryOffset = BigInt(e.headerOffset + 157);
        break;
      }
      case '1': {
        if (e.linkName) hardLink(rootRef, e.path, e.linkName);
        continue;
      }
      default:
        continue;
    }
    const path = cleanPath(e.path);
    if (!path) continue;
    let ptr = rootRef.root;
    for (const c of path) ptr = child(ptr, c);
    ptr.children = new Map();
    ptr.mode = m;
    ptr.size = entrySize;
    ptr.offset = entryOffset;
    ptr.mtime = e.mtime;
    ptr.owner = e.uid % 2 ** 32;
    ptr.group = e.gid % 2 ** 32;
  }
  const root = rootRef.root;
  const contentsSize = BigInt(size);

  let inoCount = 0;
  breadthFirst(root, (n) => {
    if (n.ino === 0) n.ino = ++inoCount;
  });
  let offset = contentsSize + 32n * BigInt(inoCount);
  breadthFirst(root, (n) => {
    if ((n.mode & S_IFMT) !== S_IFDIR) return;
    n.offset = offset;
    n.size = 32n * BigInt(n.children.size);
    offset += n.size;
  });
  const parts: Buffer[] = [];
  breadthFirst(root, (n) => {
    if (n.emitted) return;
    n.emitted = true;
    const b = Buffer.alloc(32);
    b.writeUInt16LE(n.mode & 0xffff, 0);
    b[3] = Math.floor(n.mtime / 2 ** 32) & 0xf;
    b.writeUInt32LE(n.owner, 4);
    b.writeUInt32LE(n.group, 8);
    b.writeUInt32LE(n.mtime % 2 ** 32, 12);
    b.writeBigUInt64LE(BigInt.asUintN(64, n.size), 16);
    b.writeBigUInt64LE(BigInt.asUintN(64, n.offset), 24);
    parts.push(b);
  });
  let stringOffset = offset;
  breadthFirst(root, (n) => {
    if ((n.mode & S_IFMT) !== S_IFDIR) return;
    for (const [name, c] of sortedChildren(n)) {
      const b = Buffer.alloc(32);
      b.writeBigUInt64LE(BigInt(c.ino), 0);
      b.writeBigUInt64LE(stringOffset, 8);
      b.writeBigUInt64LE(BigInt(name.length), 16);
      b[24] = DT[c.mode & S_IFMT] ?? 0;
      parts.push(b);
      stringOffset += BigInt(name.length);
    }
  });
  breadthFirst(root, (n) => {
    if ((n.mode & S_IFMT) !== S_IFDIR) return;
    for (const [name] of sortedChildren(n)) parts.push(Buffer.from(name, 'latin1'));
  });
  parts.push(Buffer.alloc(Number((512n - (stringOffset % 512n)) % 512n)));
  const sb = Buffer.alloc(512);
  sb.writeBigUInt64LE(contentsSize, 0);
  sb.writeBigUInt64LE(BigInt(inoCount), 8);
  parts.push(sb);
  const index = Buffer.concat(parts);
  for (let done = 0; done < index.length; ) done += writeSync(fd, index, done, index.length - done, size + done);
  return { passwd, group };
}

function hardLink(rootRef: { root: Node }, name: Uint8Array, linkName: Uint8Array): void {
  const target = cleanPath(linkName);
  if (!target) return;
  let existing = rootRef.root;
  for (const c of target) existing = child(existing, c);
  if ((existing.mode & S_IFMT) !== S_IFREG) return;
  const path = cleanPath(name);
  if (!path) return;
  if (path.length === 0) {
    rootRef.root = existing;
    return;
  }
  let ptr = rootRef.root;
  for (const c of path.slice(0, -1)) ptr = child(ptr, c);
  ptr.children.set(path[path.length - 1]!, existing);
}

const ZERO_SALT = new Uint8Array(32);

/**
 * The dm-verity root hash (hex) of a layer device, and its users files: `tar` is the uncompressed layer,
 * checked against `diffId` first.
 */
export async function layerVerity(tar: Uint8Array, diffId: string): Promise<LayerRecord> {
  const actual = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  if (actual !== diffId) throw new CocoError('GENPOLICY_LAYER', `layer ${diffId}: the uncompressed content is ${actual}`, { kind: 'input' });
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-layer-'));
  const path = join(dir, 'layer.tar');
  try {
    writeFileSync(path, tar);
    const fd = openSync(path, 'r+');
    let users: LayerUsers;
    try {
      users = appendTarIndex(fd, tar.length, `layer ${diffId}`);
    } finally {
      closeSync(fd);
    }
    return { diff_id: diffId, verity_hash: await deviceRootHash(path), ...users };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The root hash of a layer device file (tar and index) as the policy pins it. */
export async function deviceRootHash(path: string): Promise<string> {
  const { size } = statSync(path);
  // A tree needs at least one hash level: one block or less has none.
  if (size < 2 * 4096) throw new CocoError('GENPOLICY_LAYER', `layer device ${path} is too small for a hash tree: ${size} bytes`, { kind: 'input' });
  return toHex(await verityRootHash({ data: path, salt: ZERO_SALT, hashAlgorithm: 'sha256', dataBlockSize: 4096, hashBlockSize: 4096, threads: 1 }));
}

/** The layer cache file (records by diff_id), read once and written back when it gained records. */
export class LayerCache {
  private readonly records = new Map<string, LayerRecord>();
  private readonly order: LayerRecord[] = [];
  private dirty = false;

  constructor(readonly path?: string) {
    if (!path || !existsSync(path)) return;
    let v: unknown;
    try {
      v = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new CocoError('GENPOLICY_LAYER_CACHE', `${path}: not a layer cache (JSON array of {diff_id, verity_hash, passwd, group}): ${(e as Error).message}`, { kind: 'input', cause: e });
    }
    if (!Array.isArray(v)) throw new CocoError('GENPOLICY_LAYER_CACHE', `${path}: a layer cache is a JSON array`, { kind: 'input' });
    v.forEach((r: unknown, i) => {
      const o = r as Record<string, unknown> | null;
      if (!o || typeof o.diff_id !== 'string' || typeof o.verity_hash !== 'string' || !/^[0-9a-f]{64}$/.test(o.verity_hash) || typeof o.passwd !== 'string' || typeof o.group !== 'string') {
        throw new CocoError('GENPOLICY_LAYER_CACHE', `${path}: record ${i} is not {diff_id, verity_hash (64 hex), passwd, group}`, { kind: 'input' });
      }
      const rec = { diff_id: o.diff_id, verity_hash: o.verity_hash, passwd: o.passwd, group: o.group };
      this.order.push(rec);
      if (!this.records.has(rec.diff_id)) this.records.set(rec.diff_id, rec);
    });
  }

  get(diffId: string): LayerRecord | undefined {
    return this.records.get(diffId);
  }

  add(rec: LayerRecord): void {
    if (this.records.has(rec.diff_id)) return;
    this.records.set(rec.diff_id, rec);
    this.order.push(rec);
    this.dirty = true;
  }

  /** Writes the file (pretty JSON, 2-space indent) when records were added. */
  save(): void {
    if (!this.path || !this.dirty) return;
    const tmp = join(dirname(this.path), `.${Date.now()}-${process.pid}.layers-cache.tmp`);
    writeFileSync(tmp, `${JSON.stringify(this.order, null, 2)}\n`);
    renameSync(tmp, this.path);
    this.dirty = false;
  }
}

/** A layer to compute: its diff_id and how to get its bytes (gzip or plain tar). */
export interface LayerSource {
  diffId: string;
  fetch: () => Promise<Uint8Array>;
}

function decompress(bytes: Uint8Array, diffId: string): Uint8Array {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes, { maxOutputLength: 4 * 1024 * 1024 * 1024 - 1 });
    } catch (e) {
      throw new CocoError('GENPOLICY_LAYER', `layer ${diffId}: gzip: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
  }
  if (bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd) {
    throw new CocoError('GENPOLICY_LAYER', `layer ${diffId}: zstd-compressed layers are not supported`, { kind: 'unsupported' });
  }
  return bytes;
}

/**
 * The records of `layers`, from the cache where it has them, the rest fetched and computed `concurrency` at
 * a time (and added to the cache). Order follows `layers`.
 */
export async function computeLayers(layers: LayerSource[], cache: LayerCache, concurrency = 4): Promise<LayerRecord[]> {
  const out: LayerRecord[] = new Array(layers.length);
  const pending = new Map<string, Promise<LayerRecord>>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < layers.length) {
      const i = next++;
      const l = layers[i]!;
      const hit = cache.get(l.diffId);
      if (hit) {
        out[i] = hit;
        continue;
      }
      let p = pending.get(l.diffId);
      if (!p) {
        p = l.fetch().then((bytes) => layerVerity(decompress(bytes, l.diffId), l.diffId));
        pending.set(l.diffId, p);
      }
      const rec = await p;
      cache.add(rec);
      out[i] = rec;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, layers.length)) }, worker));
  return out;
}

/** sha256 hex of a text. */
function hashName(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * The storages a container's policy lists for its image layers (bottom layer first in `layers`): one
 * read-only tar block device per layer, top layer first, its hash a `$(hashN)` placeholder; then the overlay
 * over them whose options are the layer names (sha256 of each layer's chain ID) and the root hashes.
 */
export function layerStorages(layers: Array<Pick<LayerRecord, 'diff_id' | 'verity_hash'>>, rootPath: string): Array<Record<string, unknown>> {
  const names: string[] = [];
  const hashes: string[] = [];
  const blk: Array<Record<string, unknown>> = [];
  let chain = '';
  layers.forEach((l, k) => {
    chain = chain === '' ? l.diff_id : `sha256:${hashName(`${chain} ${l.diff_id}`)}`;
    names.push(hashName(chain));
    hashes.push(l.verity_hash);
    const index = layers.length - 1 - k;
    blk.push({ driver: 'blk', driver_options: [], source: '', fstype: 'tar', options: [`$(hash${index})`], mount_point: `$(layer${index})`, fs_group: null });
  });
  return [...blk.reverse(), { driver: 'overlayfs', driver_options: [], source: '', fstype: 'fuse3.kata-overlay', options: [names.reverse().join(':'), hashes.reverse().join(':')], mount_point: rootPath, fs_group: null }];
}
