import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import {
  readVeritySuperblock,
  verityFormat,
  verityGeometry,
  verityVerify,
  writeVeritySuperblock,
  type VerityFailure,
  type VerityFormatOptions,
  type VeritySuperblock,
} from './verity.js';
import { generateData, tempDir, verityCases, writeData, type VerityCase } from './test-support/verity.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function caseOptions(c: VerityCase, dir: string): VerityFormatOptions {
  const data = writeData(dir, 'data.img', generateData(c.data));
  return {
    data,
    hash: c.params.same_device ? data : join(dir, 'hash.img'),
    hashAlgorithm: c.params.hash,
    hashType: c.params.format,
    dataBlockSize: c.params.data_block_size,
    hashBlockSize: c.params.hash_block_size,
    salt: Buffer.from(c.params.salt, 'hex'),
    uuid: c.params.uuid ?? undefined,
    hashOffset: c.params.hash_offset,
    dataBlocks: c.params.data_blocks ?? undefined,
    superblock: !c.params.no_superblock,
  };
}

function assertCoco(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof CocoError && e.code === code, `expected CocoError ${code}`);
}

async function rejectsCoco(p: Promise<unknown>, code: string): Promise<CocoError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CocoError, `expected a CocoError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected CocoError ${code}`);
}

for (const c of verityCases()) {
  test(`vector ${c.id} (${c.description}): root hash, geometry and hash-device bytes match veritysetup`, async () => {
    const { dir, cleanup } = tempDir();
    try {
      const o = caseOptions(c, dir);
      const r = await verityFormat({ ...o, threads: 1 });
      assert.equal(toHex(r.rootHash), c.expected.root_hash);
      assert.equal(r.dataBlocks, c.expected.data_blocks);
      assert.equal(r.hashBlocks, c.expected.hash_blocks);
      const bytes = readFileSync(join(dir, c.expected.hash_device_file));
      assert.equal(bytes.length, c.expected.hash_device_size);
      assert.equal(sha256(bytes), c.expected.hash_device_sha256);
      // And the image verifies against that root hash.
      const v = await verityVerify({
        data: o.data,
        hash: o.hash,
        rootHash: r.rootHash,
        hashOffset: o.hashOffset,
        noSuperblock: o.superblock ? undefined : { ...o, hashType: c.params.format as 0 | 1 },
      });
      assert.equal(toHex(v.rootHash), c.expected.root_hash);
    } finally {
      cleanup();
    }
  });
}

test('worker threads give the same tree as hashing on one thread, whatever the run size', async () => {
  const c = verityCases().find((x) => x.id === 's08')!; // 1024 data blocks of 1 KiB, sha512: 3 levels
  const { dir, cleanup } = tempDir();
  try {
    const o = caseOptions(c, dir);
    for (const [threads, runBlocks] of [
      [2, 7],
      [3, 100],
    ] as const) {
      const r = await verityFormat({ ...o, hash: join(dir, `h${threads}-${runBlocks}.img`), threads, runBlocks });
      assert.equal(toHex(r.rootHash), c.expected.root_hash);
      assert.equal(sha256(readFileSync(join(dir, `h${threads}-${runBlocks}.img`))), c.expected.hash_device_sha256);
    }
  } finally {
    cleanup();
  }
});

test('reports progress up to the number of data blocks', async () => {
  const c = verityCases().find((x) => x.id === 's01')!;
  const { dir, cleanup } = tempDir();
  try {
    const seen: number[] = [];
    await verityFormat({ ...caseOptions(c, dir), threads: 2, runBlocks: 64, onProgress: (done, total) => seen.push(done, total) });
    assert.deepEqual(seen.slice(-2), [c.expected.data_blocks, c.expected.data_blocks]);
    assert.ok(seen.length >= 8);
  } finally {
    cleanup();
  }
});

test('draws salt and UUID from the injected randomness when not given', async () => {
  const c = verityCases().find((x) => x.id === 's10')!; // veritysetup picked the salt; the case records it
  const { dir, cleanup } = tempDir();
  try {
    const o = caseOptions(c, dir);
    const recorded = Buffer.from(c.params.salt, 'hex');
    const uuidBytes = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const queue = [recorded, uuidBytes];
    const r = await verityFormat({ ...o, salt: undefined, uuid: undefined, random: (n) => queue.shift()!.subarray(0, n) });
    assert.equal(toHex(r.salt), c.params.salt);
    assert.equal(toHex(r.rootHash), c.expected.root_hash);
    // Version 4, RFC 4122 variant, like uuid_generate.
    assert.equal(r.uuid, '00112233-4455-4677-8899-aabbccddeeff');
  } finally {
    cleanup();
  }
});

test('a hash file that already exists keeps its bytes outside the tree and is not truncated', async () => {
  const c = verityCases().find((x) => x.id === 's09')!; // hash offset 4096 with superblock
  const { dir, cleanup } = tempDir();
  try {
    const o = caseOptions(c, dir);
    writeFileSync(o.hash, Buffer.alloc(100_000, 0xff));
    await verityFormat(o);
    const bytes = readFileSync(o.hash);
    assert.equal(bytes.length, 100_000);
    assert.equal(bytes[0], 0xff); // before the superblock
    assert.equal(bytes[4096 + 512], 0xff); // rest of the superblock's hash block: veritysetup leaves it
    assert.equal(bytes[c.expected.hash_device_size], 0xff); // after the tree
  } finally {
    cleanup();
  }
});

test('verify names the first corrupted data block and where its digest is stored', async () => {
  const c = verityCases().find((x) => x.id === 's01')!; // 256 blocks: level 0 = hash blocks 2 and 3
  const { dir, cleanup } = tempDir();
  try {
    const o = caseOptions(c, dir);
    const r = await verityFormat(o);
    const data = readFileSync(o.data);
    data[200 * 4096 + 17] ^= 1;
    data[250 * 4096] ^= 1;
    writeFileSync(o.data, data);
    const e = await rejectsCoco(verityVerify({ data: o.data, hash: o.hash, rootHash: r.rootHash, threads: 2, runBlocks: 16 }), 'VERITY_CORRUPTED');
    const f = e.detail as VerityFailure;
    assert.equal(e.kind, 'expectation');
    assert.deepEqual({ level: f.level, childBlock: f.childBlock, position: f.position, hashBlock: f.hashBlock, entry: f.entry }, { level: 0, childBlock: 200, position: 200 * 4096, hashBlock: 3, entry: 72 });
    assert.match(e.message, /Verification failed at position 819200\. Data block 200 is corrupted/);
  } finally {
    cleanup();
  }
});

test('verify reports a corrupted level-0 hash block through the level above it', async () => {
  const c = verityCases().find((x) => x.id === 's01')!;
  const { dir, cleanup } = tempDir();
  try {
    const o = caseOptions(c, dir);
    const r = await verityFormat(o);
    const hash = readFileSync(o.hash);
    // Change entry 5 of level-0 block 2 and re-point nothing: data block 5 no longer matches.
    hash[2 * 4096 + 5 * 32] ^= 0x80;
    writeFileSync(o.hash, hash);
    const e = await rejectsCoco(verityVerify({ data: o.data, hash: o.hash, rootHash: r.rootHash }), 'VERITY_CORRUPTED');
    assert.equal((e.detail as VerityFailure).childBlock, 5);
    // Undo it and break the zero tail of the top block instead (level 1, two entries used).
    hash[2 * 4096 + 5 * 32] ^= 0x80;
    hash[4096 + 2 * 32 + 9] = 1;
    writeFileSync(o.hash, hash);
    const e2 = await rejectsCoco(verityVerify({ data: o.data, hash: o.hash, rootHash: r.rootHash }), 'VERITY_CORRUPTED');
    assert.deepEqual(e2.detail, { message: 'Spare area is not zeroed at position 4160.', level: 1, reason: 'spare', position: 4160, hashBlock: 1 });
  } finally {
    cleanup();
  }
});

test('verify rejects a wrong root hash with both values', async () => {
  const c = verityCases().find((x) => x.id === 's02')!;
  const { dir, cleanup } = tempDir();
  try {
    const o = caseOptions(c, dir);
    await verityFormat(o);
    const wrong = Buffer.from(c.expected.root_hash, 'hex');
    wrong[0] ^= 1;
    const e = await rejectsCoco(verityVerify({ data: o.data, hash: o.hash, rootHash: wrong }), 'VERITY_ROOT_HASH');
    assert.deepEqual(e.detail, { expected: toHex(wrong), actual: c.expected.root_hash });
    await rejectsCoco(verityVerify({ data: o.data, hash: o.hash, rootHash: wrong.subarray(0, 20) }), 'VERITY_ROOT_HASH_FORMAT');
  } finally {
    cleanup();
  }
});

test('bad format parameters are CocoErrors naming the problem', async () => {
  const c = verityCases().find((x) => x.id === 's02')!;
  const { dir, cleanup } = tempDir();
  try {
    const o = caseOptions(c, dir);
    const bad: Array<[Partial<VerityFormatOptions>, string]> = [
      [{ dataBlockSize: 3000 }, 'VERITY_BLOCK_SIZE'],
      [{ hashBlockSize: 256 }, 'VERITY_BLOCK_SIZE'],
      [{ dataBlockSize: 1 << 20 }, 'VERITY_BLOCK_SIZE'],
      [{ hashType: 2 }, 'VERITY_HASH_TYPE'],
      [{ hashAlgorithm: 'nosuch' }, 'VERITY_HASH_ALGORITHM'],
      [{ hashAlgorithm: 'shake256' }, 'VERITY_HASH_ALGORITHM'],
      [{ hashOffset: 100 }, 'VERITY_HASH_OFFSET'],
      [{ uuid: 'not-a-uuid' }, 'VERITY_UUID'],
      [{ salt: new Uint8Array(257) }, 'VERITY_SALT'],
      [{ dataBlocks: c.expected.data_blocks + 1 }, 'VERITY_DATA_TOO_SMALL'],
      [{ data: writeData(dir, 'short.img', new Uint8Array(4095)) }, 'VERITY_DATA_TOO_SMALL'],
      [{ data: join(dir, 'missing.img') }, 'VERITY_IO'],
      [{ hash: o.data, hashOffset: 4096 }, 'VERITY_OVERLAP'],
    ];
    for (const [change, code] of bad) await rejectsCoco(verityFormat({ ...o, ...change }), code);
  } finally {
    cleanup();
  }
});

test('verify refuses truncated hash devices and images shorter than the superblock says', async () => {
  const c = verityCases().find((x) => x.id === 's01')!;
  const { dir, cleanup } = tempDir();
  try {
    const o = caseOptions(c, dir);
    const r = await verityFormat(o);
    const hash = readFileSync(o.hash);
    writeFileSync(o.hash, hash.subarray(0, hash.length - 1));
    await rejectsCoco(verityVerify({ data: o.data, hash: o.hash, rootHash: r.rootHash }), 'VERITY_HASH_TOO_SMALL');
    writeFileSync(o.hash, hash.subarray(0, 300));
    await rejectsCoco(verityVerify({ data: o.data, hash: o.hash, rootHash: r.rootHash }), 'VERITY_SUPERBLOCK');
    writeFileSync(o.hash, hash);
    writeFileSync(o.data, readFileSync(o.data).subarray(0, 4096 * 255));
    await rejectsCoco(verityVerify({ data: o.data, hash: o.hash, rootHash: r.rootHash }), 'VERITY_DATA_TOO_SMALL');
    assert.ok(statSync(o.hash).size > 0);
  } finally {
    cleanup();
  }
});

const sampleSb: VeritySuperblock = {
  hashType: 1,
  uuid: '11111111-2222-3333-4444-555555555501',
  algorithm: 'sha256',
  dataBlockSize: 4096,
  hashBlockSize: 4096,
  dataBlocks: 256,
  salt: Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex'),
};

test('the superblock written for vector s01 is the first 512 bytes veritysetup wrote', async () => {
  const c = verityCases().find((x) => x.id === 's01')!;
  const { dir, cleanup } = tempDir();
  try {
    await verityFormat(caseOptions(c, dir));
    const onDisk = readFileSync(join(dir, 'hash.img')).subarray(0, 512);
    assert.deepEqual(Buffer.from(writeVeritySuperblock(sampleSb)), onDisk);
    assert.deepEqual(readVeritySuperblock(onDisk), { ...sampleSb, salt: Uint8Array.from(sampleSb.salt) });
  } finally {
    cleanup();
  }
});

test('rejects corrupted superblocks field by field', () => {
  const good = writeVeritySuperblock(sampleSb);
  const mutate = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  assertCoco(() => readVeritySuperblock(good.subarray(0, 511)), 'VERITY_SUPERBLOCK');
  assertCoco(() => readVeritySuperblock(mutate((b) => (b[0] = 0x56))), 'VERITY_SUPERBLOCK');
  assertCoco(() => readVeritySuperblock(mutate((b) => b.writeUInt32LE(2, 8))), 'VERITY_SUPERBLOCK');
  assertCoco(() => readVeritySuperblock(mutate((b) => b.writeUInt32LE(2, 12))), 'VERITY_HASH_TYPE');
  assertCoco(() => readVeritySuperblock(mutate((b) => b.write('nosuch\0\0', 32, 'latin1'))), 'VERITY_HASH_ALGORITHM');
  assertCoco(() => readVeritySuperblock(mutate((b) => b.writeUInt32LE(3000, 64))), 'VERITY_BLOCK_SIZE');
  assertCoco(() => readVeritySuperblock(mutate((b) => b.writeUInt32LE(0, 68))), 'VERITY_BLOCK_SIZE');
  assertCoco(() => readVeritySuperblock(mutate((b) => b.writeBigUInt64LE(1n << 62n, 72))), 'VERITY_SUPERBLOCK');
  assertCoco(() => readVeritySuperblock(mutate((b) => b.writeUInt16LE(257, 80))), 'VERITY_SUPERBLOCK');
});

test('fuzz: any bytes, and any single-byte change of a good superblock, parse or fail with a CocoError', () => {
  const good = writeVeritySuperblock(sampleSb);
  const check = (b: Uint8Array): void => {
    try {
      const sb = readVeritySuperblock(b);
      assert.ok(sb.salt.length <= 256 && Number.isSafeInteger(sb.dataBlocks));
      // What parses, writes back to the same fields (the algorithm name is always written lower-case).
      assert.deepEqual(readVeritySuperblock(writeVeritySuperblock(sb)), { ...sb, algorithm: sb.algorithm.toLowerCase() });
    } catch (e) {
      if (!(e instanceof CocoError)) throw e;
    }
  };
  fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), check), { numRuns: 500 });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 511 }), fc.integer({ min: 0, max: 255 }), (at, v) => {
      const b = Uint8Array.from(good);
      b[at] = v;
      check(b);
    }),
    { numRuns: 2000 },
  );
});

test('geometry: the level layout of §1.3 for the documented examples', () => {
  const base = { hashAlgorithm: 'sha256', hashType: 1 as const, dataBlockSize: 4096, hashBlockSize: 4096, salt: new Uint8Array(0), hashOffset: 0, superblock: true };
  const g1 = verityGeometry({ ...base, dataBlocks: 256 });
  assert.deepEqual([g1.levelBlocks, g1.levelStart, g1.hashBlocks, g1.hashDeviceSize], [[2, 1], [2, 1], 3, 16384]);
  const g2 = verityGeometry({ ...base, dataBlocks: 16388 });
  assert.equal(g2.levelBlocks.length, 3);
  const g3 = verityGeometry({ ...base, dataBlocks: 1 });
  assert.deepEqual([g3.levelBlocks, g3.hashDeviceSize], [[], 4096]);
  assert.equal(verityGeometry({ ...base, hashAlgorithm: 'sha1', dataBlocks: 1 }).perBlock, 128);
  assert.equal(verityGeometry({ ...base, hashAlgorithm: 'sha384', dataBlocks: 1 }).digestSlot, 64);
  assert.equal(verityGeometry({ ...base, hashAlgorithm: 'sha384', hashType: 0, dataBlocks: 1 }).digestSlot, 48);
});
