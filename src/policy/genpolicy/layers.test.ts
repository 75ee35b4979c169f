import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, linkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { toolMissing } from '../../test-support/vectors.js';
import { buildTar } from '../../test-support/tar-build.js';
import { LayerCache, appendTarIndex, computeLayers, deviceRootHash, layerStorages, layerVerity } from './layers.js';
import { tarEntries, bytesReader } from '../../formats/tar.js';

const tmp = mkdtempSync(join(tmpdir(), 'cocokit-layers-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

const BIG = Buffer.alloc(70_000, 'x');
const LAYER = buildTar([
  { path: 'bin/', type: 'dir' },
  { path: 'bin/app', content: 'the app', mode: 0o755, uid: 1000, gid: 1001, mtime: 0x1_2345_6789 },
  { path: 'bin/sh', type: 'symlink', link: 'busybox' },
  { path: 'bin/busybox', content: BIG },
  { path: 'bin/hard', type: 'hardlink', link: 'bin/app' },
  { path: 'etc/', type: 'dir' },
  { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n' },
  { path: 'etc/group', content: 'root:x:0:\napp:x:1001:\n' },
  { path: 'a/../../escape', content: 'skipped' },
]);

function indexed(tar: Uint8Array): { path: string; bytes: Buffer; users: { passwd: string; group: string } } {
  const path = join(tmp, `idx-${sha(tar).slice(0, 12)}.img`);
  writeFileSync(path, tar);
  const fd = openSync(path, 'r+');
  try {
    const users = appendTarIndex(fd, tar.length);
    return { path, bytes: readFileSync(path), users };
  } finally {
    closeSync(fd);
  }
}

/** An independent reading of the tarfs index: name → inode, following directory entries from inode 1. */
function readIndex(img: Buffer): Map<string, { ino: number; mode: number; owner: number; group: number; mtime: number; size: number; offset: bigint; type: number }> {
  const sbAt = img.length - 512;
  const table = Number(img.readBigUInt64LE(sbAt));
  const count = Number(img.readBigUInt64LE(sbAt + 8));
  const inode = (ino: number) => {
    const at = table + (ino - 1) * 32;
    return {
      ino,
      mode: img.readUInt16LE(at),
      owner: img.readUInt32LE(at + 4),
      group: img.readUInt32LE(at + 8),
      mtime: img[at + 3]! * 2 ** 32 + img.readUInt32LE(at + 12),
      size: Number(img.readBigUInt64LE(at + 16)),
      offset: img.readBigUInt64LE(at + 24),
      type: 0,
    };
  };
  assert.ok(count >= 1 && table + count * 32 <= sbAt);
  const out = new Map<string, ReturnType<typeof inode>>();
  const walk = (dir: ReturnType<typeof inode>, prefix: string) => {
    for (let k = 0; k < dir.size / 32; k++) {
      const at = Number(dir.offset) + k * 32;
      const ino = Number(img.readBigUInt64LE(at));
      const name = img.subarray(Number(img.readBigUInt64LE(at + 8)), Number(img.readBigUInt64LE(at + 8)) + Number(img.readBigUInt64LE(at + 16))).toString('latin1');
      const e = { ...inode(ino), type: img[at + 24]! };
      out.set(prefix + name, e);
      if ((e.mode & 0o170000) === 0o040000) walk(e, `${prefix}${name}/`);
    }
  };
  walk(inode(1), '');
  return out;
}

test('the tarfs index lists every file with its mode, owner, mtime and where its bytes lie in the tar', () => {
  const { bytes, users } = indexed(LAYER);
  assert.equal(bytes.length % 512, 0);
  assert.deepEqual(bytes.subarray(0, LAYER.length), LAYER);
  assert.equal(Number(bytes.readBigUInt64LE(bytes.length - 512)), LAYER.length);
  const idx = readIndex(bytes);
  assert.deepEqual([...idx.keys()].sort(), ['bin', 'bin/app', 'bin/busybox', 'bin/hard', 'bin/sh', 'etc', 'etc/group', 'etc/passwd']);
  const app = idx.get('bin/app')!;
  assert.equal(app.mode, 0o100755);
  assert.equal(app.type, 8);
  assert.deepEqual([app.owner, app.group, app.mtime], [1000, 1001, 0x1_2345_6789]);
  assert.equal(bytes.subarray(Number(app.offset), Number(app.offset) + app.size).toString(), 'the app');
  const busybox = idx.get('bin/busybox')!;
  assert.deepEqual(bytes.subarray(Number(busybox.offset), Number(busybox.offset) + busybox.size), BIG);
  // A hard link is the same inode; a symlink's target is read from the tar header's link-name field.
  assert.equal(idx.get('bin/hard')!.ino, app.ino);
  const sh = idx.get('bin/sh')!;
  assert.equal(sh.type, 10);
  assert.equal(bytes.subarray(Number(sh.offset), Number(sh.offset) + sh.size).toString(), 'busybox');
  assert.equal(idx.get('bin')!.type, 4);
  assert.match(users.passwd, /^app:x:1000:1001:/m);
  assert.equal(users.group, 'root:x:0:\napp:x:1001:\n');
});

test('a layer that deletes /etc/passwd reports a whiteout; one without users files reports nothing', () => {
  assert.deepEqual(indexed(buildTar([{ path: 'etc/.wh.passwd' }, { path: 'x', content: 'y' }])).users, { passwd: 'WHITEOUT', group: '' });
  assert.deepEqual(indexed(buildTar([{ path: 'x', content: 'y' }])).users, { passwd: '', group: '' });
});

test('archives tar(1) writes (GNU long names, symlinks, hard links) index too', { skip: toolMissing('tar') }, () => {
  const src = join(tmp, 'gnu-src');
  const long = `${'d'.repeat(120)}/${'f'.repeat(130)}`;
  mkdirSync(join(src, 'd'.repeat(120)), { recursive: true });
  writeFileSync(join(src, long), 'long-named');
  writeFileSync(join(src, 'plain'), 'p');
  symlinkSync('plain', join(src, 'link'));
  linkSync(join(src, 'plain'), join(src, 'hard'));
  const out = join(tmp, 'gnu.tar');
  const r = spawnSync('tar', ['--format=gnu', '--sort=name', '--owner=0', '--group=0', '-cf', out, '-C', src, '.'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const tar = readFileSync(out);
  const names = [...tarEntries(bytesReader(tar), tar.length)].map((e) => Buffer.from(e.path).toString());
  assert.ok(names.includes(`./${long}`), names.join(','));
  const idx = readIndex(indexed(tar).bytes);
  const f = idx.get(long)!;
  assert.equal(indexed(tar).bytes.subarray(Number(f.offset), Number(f.offset) + f.size).toString(), 'long-named');
  assert.equal(idx.get('hard')!.ino, idx.get('plain')!.ino);
});

test('the root hash is dm-verity format 1 over tar + index: sha256, 4 KiB blocks, zero salt — as veritysetup computes it', { skip: toolMissing('veritysetup') }, async () => {
  for (const tar of [LAYER, buildTar(Array.from({ length: 300 }, (_, i) => ({ path: `f${i}`, content: Buffer.alloc(1500 + i, i) })))]) {
    const { path, bytes } = indexed(tar);
    const blocks = Math.floor(bytes.length / 4096);
    const r = spawnSync('veritysetup', ['format', '--no-superblock', `--salt=${'00'.repeat(32)}`, '--hash=sha256', '--data-block-size=4096', '--hash-block-size=4096', `--data-blocks=${blocks}`, path, join(tmp, 'hash.img')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const expected = /Root hash:\s+([0-9a-f]{64})/.exec(r.stdout)![1];
    assert.equal(await deviceRootHash(path), expected);
    const rec = await layerVerity(tar, `sha256:${sha(tar)}`);
    assert.equal(rec.verity_hash, expected);
  }
});

test('a layer whose content is not its diff_id, or too small for a tree, is refused', async () => {
  await assert.rejects(layerVerity(LAYER, `sha256:${'0'.repeat(64)}`), (e: unknown) => e instanceof CocoError && e.code === 'GENPOLICY_LAYER' && /uncompressed content is sha256:/.test(e.message));
  const tiny = Buffer.alloc(1024);
  await assert.rejects(layerVerity(tiny, `sha256:${sha(tiny)}`), (e: unknown) => e instanceof CocoError && /too small/.test(e.message));
});

test('random bytes and damaged tars: a CocoError, never a crash or hang', () => {
  const cases: Uint8Array[] = [LAYER.subarray(0, 700), Buffer.concat([LAYER.subarray(0, 100), Buffer.from([LAYER[100]! ^ 1]), LAYER.subarray(101)])];
  fc.assert(fc.property(fc.uint8Array({ minLength: 512, maxLength: 4096 }), (b) => void cases.push(b)), { numRuns: 80 });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2047 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
      const b = Buffer.from(LAYER.subarray(0, 4096));
      b[at] ^= x;
      cases.push(b);
    }),
    { numRuns: 80 },
  );
  for (const b of cases) {
    const path = join(tmp, 'fuzz.img');
    writeFileSync(path, b);
    const fd = openSync(path, 'r+');
    try {
      appendTarIndex(fd, b.length);
    } catch (e) {
      assert.ok(e instanceof CocoError, String(e));
    } finally {
      closeSync(fd);
    }
  }
});

test('the cache file: computed layers are stored by diff_id in its format, and a cached layer is not fetched again', async () => {
  const cachePath = join(tmp, 'layers-cache.json');
  const gz = gzipSync(LAYER);
  const diffId = `sha256:${sha(LAYER)}`;
  let fetched = 0;
  const src = [{ diffId, fetch: async () => (fetched++, gz) }];
  const first = new LayerCache(cachePath);
  const [rec] = await computeLayers([...src, ...src], first);
  assert.equal(fetched, 1);
  first.save();
  const stored = JSON.parse(readFileSync(cachePath, 'utf8'));
  assert.deepEqual(stored, [{ diff_id: diffId, verity_hash: rec!.verity_hash, passwd: rec!.passwd, group: rec!.group }]);
  assert.equal(readFileSync(cachePath, 'utf8'), `${JSON.stringify(stored, null, 2)}\n`);
  const again = await computeLayers(src, new LayerCache(cachePath));
  assert.equal(fetched, 1);
  assert.deepEqual(again, [rec]);
  for (const bad of ['{', '{}', '[{"diff_id":1}]', '[{"diff_id":"a","verity_hash":"zz","passwd":"","group":""}]']) {
    writeFileSync(cachePath, bad);
    assert.throws(() => new LayerCache(cachePath), (e: unknown) => e instanceof CocoError && e.code === 'GENPOLICY_LAYER_CACHE');
  }
  assert.equal(statSync(cachePath).isFile(), true);
});

test('layer storages: one tar device per layer (top first) and the overlay naming layers by chain ID', () => {
  const l = [
    { diff_id: `sha256:${'1'.repeat(64)}`, verity_hash: 'a'.repeat(64) },
    { diff_id: `sha256:${'2'.repeat(64)}`, verity_hash: 'b'.repeat(64) },
  ];
  const chain1 = l[0]!.diff_id;
  const chain2 = `sha256:${sha(`${chain1} ${l[1]!.diff_id}`)}`;
  assert.deepEqual(layerStorages(l, '$(root_path)'), [
    { driver: 'blk', driver_options: [], source: '', fstype: 'tar', options: ['$(hash0)'], mount_point: '$(layer0)', fs_group: null },
    { driver: 'blk', driver_options: [], source: '', fstype: 'tar', options: ['$(hash1)'], mount_point: '$(layer1)', fs_group: null },
    { driver: 'overlayfs', driver_options: [], source: '', fstype: 'fuse3.kata-overlay', options: [`${sha(chain2)}:${sha(chain1)}`, `${'b'.repeat(64)}:${'a'.repeat(64)}`], mount_point: '$(root_path)', fs_group: null },
  ]);
});
