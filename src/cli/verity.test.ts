import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { run } from './program.js';
import { verityFormat } from '../measure/verity.js';
import { toHex } from '../formats/bytes.js';
import { bufferIO } from './io.js';
import { toolMissing } from '../test-support/vectors.js';
import { generateData, tempDir, verityCases, veritysetup, writeData } from '../measure/test-support/verity.js';

const UUID = '11111111-2222-3333-4444-555555555555';
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function cocokit(argv: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  const io = bufferIO({}, cwd);
  const code = await run(argv, io);
  return { code, out: io.out(), err: io.err() };
}

/** `Label:   \tvalue` lines of a veritysetup report as a map. */
function fields(report: string): Record<string, string> {
  return Object.fromEntries(
    report
      .split('\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

for (const c of verityCases()) {
  test(`vector ${c.id}: veritysetup's argv through \`cocokit verity\` gives its root hash, report and hash file`, async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeData(dir, 'data.img', generateData(c.data));
      // The argv is veritysetup's, verbatim; a salt veritysetup drew at random is the one case records.
      const argv = ['verity', ...c.veritysetup_argv];
      if (c.params.salt_source === 'random') argv.splice(2, 0, `--salt=${c.params.salt}`);
      const r = await cocokit(argv, dir);
      assert.equal(r.code, 0, r.err);
      const f = fields(r.out);
      assert.equal(r.out.split('\n')[0], `VERITY header information for ${c.veritysetup_argv.at(-1)}`);
      assert.equal(f['Root hash'], c.expected.root_hash);
      assert.equal(f['Data blocks'], String(c.expected.data_blocks));
      assert.equal(f['Hash blocks'], String(c.expected.hash_blocks));
      assert.equal(f['Hash algorithm'], c.params.hash);
      assert.equal(f['Salt'], c.params.salt === '' ? '-' : c.params.salt);
      if (c.params.hash_offset === 0) assert.equal(f['Hash device size'], `${c.expected.hash_device_size} [bytes]`);
      const bytes = readFileSync(join(dir, c.expected.hash_device_file));
      assert.equal(bytes.length, c.expected.hash_device_size);
      assert.equal(sha256(bytes), c.expected.hash_device_sha256);
    } finally {
      cleanup();
    }
  });
}

/** Flag sets run through both tools on the same generated image (argv after `format`, before the files). */
const ORACLE_FORMATS: Array<{ name: string; size: number; flags: string[]; sameDevice?: boolean; preexisting?: boolean }> = [
  { name: 'defaults with given salt', size: 300 * 4096, flags: ['--salt=0a0b0c'] },
  { name: '512-byte blocks, format 0', size: 333 * 512 + 100, flags: ['--format=0', '--data-block-size=512', '--hash-block-size=512', '--salt=ff00'] },
  { name: 'sha1 with 1 KiB data and 4 KiB hash blocks', size: 700 * 1024, flags: ['--hash=sha1', '--data-block-size=1024', '--salt=01'] },
  { name: 'sha384, no salt, 1 KiB hash blocks', size: 200 * 4096, flags: ['--hash=sha384', '--hash-block-size=1024', '--salt=-'] },
  { name: 'sha224 format 0, 3 levels', size: 600 * 512, flags: ['--hash=sha224', '--format=0', '--data-block-size=512', '--hash-block-size=512', '--salt=abcdef'] },
  { name: 'blake2b-512 (cryptsetup spelling)', size: 40 * 4096, flags: ['--hash=blake2b-512', '--salt=12'] },
  { name: 'upper-case algorithm and salt as typed', size: 40 * 4096, flags: ['--hash=SHA256', '--salt=ABCDEF'] },
  { name: 'no superblock at hash offset 8192', size: 129 * 4096, flags: ['--no-superblock', '--hash-offset=8192', '--salt=77'] },
  { name: 'superblock at hash offset 1024', size: 129 * 4096, flags: ['--hash-offset=1024', '--salt=77'] },
  { name: 'superblock at offset 512 with 1 KiB hash blocks', size: 50 * 4096, flags: ['--hash-offset=512', '--hash-block-size=1024', '--salt=77'] },
  { name: '--data-blocks smaller than the image', size: 500 * 4096, flags: ['--data-blocks=130', '--salt=99'] },
  { name: '--data-blocks=0 means the whole image', size: 20 * 4096 + 5, flags: ['--data-blocks=0', '--salt=98'] },
  { name: 'one data block (no levels)', size: 4096, flags: ['--salt=abcd'] },
  { name: 'hash area on the data device', size: 256 * 4096, flags: ['--data-blocks=200', '--hash-offset=819200', '--salt=55'], sameDevice: true },
  { name: 'hash file that already exists', size: 64 * 4096, flags: ['--salt=66'], preexisting: true },
];

for (const o of ORACLE_FORMATS) {
  test(`format matches live veritysetup: ${o.name}`, { skip: toolMissing('veritysetup') }, async () => {
    const peer = tempDir();
    const ours = tempDir();
    try {
      const data = generateData({ generator: 'sha256ctr', seed: o.name, size: o.size });
      const argv = ['format', ...o.flags, '--uuid=0d15ea5e-0000-4000-8000-00000000cafe', 'data.img', o.sameDevice ? 'data.img' : 'hash.img'];
      for (const d of [peer.dir, ours.dir]) {
        writeData(d, 'data.img', data);
        if (o.preexisting) writeData(d, 'hash.img', Buffer.alloc(70_000, 0xa5));
      }
      const p = veritysetup(argv, peer.dir);
      assert.equal(p.status, 0, p.stderr);
      const r = await cocokit(['verity', ...argv], ours.dir);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, p.stdout);
      const file = o.sameDevice ? 'data.img' : 'hash.img';
      assert.ok(readFileSync(join(ours.dir, file)).equals(readFileSync(join(peer.dir, file))), 'hash device bytes differ');
      // The same flags verify it again (with a superblock, the tree parameters come from it).
      const root = /Root hash:\s+([0-9a-f]+)/.exec(p.stdout)![1];
      const v = await cocokit(['verity', 'verify', ...o.flags, 'data.img', file, root], ours.dir);
      assert.equal(v.code, 0, v.err);
    } finally {
      peer.cleanup();
      ours.cleanup();
    }
  });
}

test('random parameter sets: format output and hash device match live veritysetup', { skip: toolMissing('veritysetup') }, async () => {
  const params = fc.record({
    size: fc.integer({ min: 1, max: 600_000 }),
    hash: fc.constantFrom('sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha3-256', 'ripemd160', 'sm3'),
    format: fc.constantFrom(0, 1),
    dataBlockSize: fc.constantFrom(512, 1024, 2048, 4096),
    hashBlockSize: fc.constantFrom(512, 1024, 2048, 4096),
    salt: fc.uint8Array({ maxLength: 40 }),
    hashOffset: fc.integer({ min: 0, max: 16 }).map((k) => k * 512),
    superblock: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(params, async (q) => {
      const data = generateData({ generator: 'sha256ctr', seed: JSON.stringify(q), size: q.size });
      if (Math.floor(q.size / q.dataBlockSize) === 0) return; // both refuse an image without a whole block
      // veritysetup cannot write a superblock at an offset inside a block of a still-empty file (one data block, no levels).
      if (q.superblock && q.size < 2 * q.dataBlockSize && q.hashOffset % 4096 !== 0) return;
      const argv = [
        'format',
        `--hash=${q.hash}`,
        `--format=${q.format}`,
        `--data-block-size=${q.dataBlockSize}`,
        `--hash-block-size=${q.hashBlockSize}`,
        `--salt=${q.salt.length ? Buffer.from(q.salt).toString('hex') : '-'}`,
        `--hash-offset=${q.hashOffset}`,
        '--uuid=f00dfeed-1234-4321-8888-0123456789ab',
        ...(q.superblock ? [] : ['--no-superblock']),
        'data.img',
        'hash.img',
      ];
      const peer = tempDir();
      const ours = tempDir();
      try {
        writeData(peer.dir, 'data.img', data);
        writeData(ours.dir, 'data.img', data);
        const p = veritysetup(argv, peer.dir);
        const r = await cocokit(['verity', ...argv], ours.dir);
        assert.equal(p.status, 0, p.stderr);
        assert.equal(r.code, 0, r.err);
        assert.equal(r.out, p.stdout);
        assert.ok(readFileSync(join(ours.dir, 'hash.img')).equals(readFileSync(join(peer.dir, 'hash.img'))), 'hash device bytes differ');
      } finally {
        peer.cleanup();
        ours.cleanup();
      }
    }),
    { numRuns: 12 },
  );
});

test('dump prints what veritysetup dump prints, with and without --hash-offset', { skip: toolMissing('veritysetup') }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeData(dir, 'data.img', generateData({ generator: 'mod251', seed: null, size: 90 * 4096 }));
    for (const extra of [[], ['--hash-offset=4096'], ['--hash=sha512', '--format=0', '--hash-block-size=512']]) {
      assert.equal(veritysetup(['format', ...extra, 'data.img', 'hash.img'], dir).status, 0);
      const p = veritysetup(['dump', ...extra.filter((a) => a.startsWith('--hash-offset')), 'hash.img'], dir);
      const r = await cocokit(['verity', 'dump', ...extra.filter((a) => a.startsWith('--hash-offset')), 'hash.img'], dir);
      assert.equal(p.status, 0, p.stderr);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, p.stdout);
    }
  } finally {
    cleanup();
  }
});

test('verify agrees with veritysetup on a good image and finds the same first corruption', { skip: toolMissing('veritysetup') }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = generateData({ generator: 'sha256ctr', seed: 'verify', size: 300 * 4096 });
    writeData(dir, 'data.img', data);
    const f = veritysetup(['format', '--salt=0102', '--root-hash-file=root.txt', 'data.img', 'hash.img'], dir);
    assert.equal(f.status, 0, f.stderr);
    const root = readFileSync(join(dir, 'root.txt'), 'utf8');
    assert.equal(veritysetup(['verify', 'data.img', 'hash.img', root], dir).status, 0);
    const ok = await cocokit(['verity', 'verify', '--root-hash-file=root.txt', 'data.img', 'hash.img'], dir);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, new RegExp(`Root hash ${root} verified`));

    // Seed 004: flip a byte inside a data block ("CoCo" → "DoCo"); then a level-0 entry; then a spare area.
    const corruptions: Array<[string, number]> = [
      ['data.img', 241 * 4096 + 123],
      ['hash.img', 4 * 4096 + 7 * 32 + 3], // superblock, level 1, then level 0 in blocks 2–4: entry for data block 263
      ['hash.img', 4096 + 100],
    ];
    for (const [file, at] of corruptions) {
      const original = readFileSync(join(dir, file));
      const bad = Buffer.from(original);
      bad[at] ^= 0x01;
      writeFileSync(join(dir, file), bad);
      const p = veritysetup(['verify', 'data.img', 'hash.img', root], dir);
      const r = await cocokit(['verity', 'verify', 'data.img', 'hash.img', root], dir);
      assert.notEqual(p.status, 0);
      // veritysetup's exit code, as a script checking it expects (2: corruption, 1: wrong root hash).
      assert.equal(r.code, p.status, r.err);
      const peerLine = p.stderr.split('\n')[0];
      assert.match(peerLine, /^(Verification failed at position \d+\.|Spare area is not zeroed at position \d+\.|Verification of root hash failed\.)$/);
      assert.ok(r.err.includes(peerLine.replace(/\.$/, '')), `cocokit said ${r.err.trim()} where veritysetup said ${peerLine}`);
      writeFileSync(join(dir, file), original);
    }
    const asJson = await cocokit(['verity', 'verify', '--json', 'data.img', 'hash.img', root], dir);
    assert.equal(asJson.code, 0, asJson.err);
    assert.deepEqual(JSON.parse(asJson.out).checks.map((c: { id: string; ok: boolean }) => [c.id, c.ok]), [
      ['verity.tree', true],
      ['verity.root-hash', true],
    ]);
    const data241 = await (async () => {
      const bad = Buffer.from(data);
      bad[241 * 4096 + 123] ^= 1;
      writeData(dir, 'bad.img', bad);
      return cocokit(['verity', 'verify', 'bad.img', 'hash.img', root], dir);
    })();
    assert.match(data241.err, /Data block 241 is corrupted/);
    const failedJson = await cocokit(['verity', 'verify', '--json', 'bad.img', 'hash.img', root], dir);
    assert.equal(failedJson.code, 2);
    const j = JSON.parse(failedJson.out);
    assert.equal(j.verified, false);
    assert.deepEqual(j.checks.map((c: { id: string; ok: boolean }) => [c.id, c.ok]), [['verity.tree', false]]);
    assert.deepEqual([j.error.code, j.error.detail.childBlock, j.error.detail.position], ['VERITY_CORRUPTED', 241, 241 * 4096]);

    // Wrong root hash, missing devices: veritysetup's exit codes (1, 4); -v, -q and --batch-mode are accepted.
    const wrong = '00'.repeat(32);
    const peerWrong = veritysetup(['verify', 'data.img', 'hash.img', wrong], dir);
    const wrongJson = await cocokit(['verity', 'verify', '-v', '-q', '--json', 'data.img', 'hash.img', wrong], dir);
    assert.equal(wrongJson.code, peerWrong.status);
    assert.equal(wrongJson.code, 1);
    assert.deepEqual(JSON.parse(wrongJson.out).checks.map((c: { id: string; ok: boolean }) => [c.id, c.ok]), [['verity.tree', true], ['verity.root-hash', false]]);
    for (const argv of [['nope.img', 'hash.img', root], ['data.img', 'nope.img', root]]) {
      const peer = veritysetup(['verify', ...argv], dir);
      const r = await cocokit(['verity', 'verify', '--batch-mode', '--verbose', ...argv], dir);
      assert.equal(peer.status, 4);
      assert.equal(r.code, peer.status, r.err);
      assert.match(r.err, /nope\.img/);
    }
  } finally {
    cleanup();
  }
});

test('verify of a --no-superblock tree takes the tree parameters from flags, like veritysetup', { skip: toolMissing('veritysetup') }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeData(dir, 'data.img', generateData({ generator: 'sha256ctr', seed: 'nosb', size: 77 * 1024 }));
    const flags = ['--no-superblock', '--salt=beef', '--data-block-size=1024', '--hash-block-size=512', '--format=0'];
    assert.equal(veritysetup(['format', ...flags, '--root-hash-file=root.txt', 'data.img', 'hash.img'], dir).status, 0);
    const root = readFileSync(join(dir, 'root.txt'), 'utf8');
    const ok = await cocokit(['verity', 'verify', ...flags, 'data.img', 'hash.img', root], dir);
    assert.equal(ok.code, 0, ok.err);
    // Without the salt the tree cannot match, for either tool.
    const bad = await cocokit(['verity', 'verify', ...flags.filter((x) => !x.startsWith('--salt')), 'data.img', 'hash.img', root], dir);
    assert.equal(bad.code, veritysetup(['verify', ...flags.filter((x) => !x.startsWith('--salt')), 'data.img', 'hash.img', root], dir).status);
    assert.notEqual(bad.code, 0);
  } finally {
    cleanup();
  }
});

test('bad command lines and inputs exit with a CocoError code and message', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeData(dir, 'data.img', generateData({ generator: 'zero', seed: null, size: 16 * 4096 }));
    writeData(dir, 'odd.img', new Uint8Array(1000));
    writeData(dir, 'junk.img', Buffer.alloc(4096, 0x42));
    const cases: Array<[string[], number, RegExp]> = [
      [['format', '--salt=xyz', 'data.img', 'h.img'], 1, /VERITY_SALT.*Invalid salt/],
      [['format', '--salt=abc', 'data.img', 'h.img'], 1, /VERITY_SALT/],
      [['format', '--data-block-size=3000', 'data.img', 'h.img'], 1, /VERITY_BLOCK_SIZE/],
      [['format', '--hash-block-size=65', 'data.img', 'h.img'], 1, /VERITY_BLOCK_SIZE/],
      [['format', '--data-block-size=-1', 'data.img', 'h.img'], 1, /VERITY_USAGE/],
      [['format', '--hash-offset=100', 'data.img', 'h.img'], 1, /VERITY_HASH_OFFSET/],
      [['format', '--format=2', 'data.img', 'h.img'], 1, /VERITY_HASH_TYPE/],
      [['format', '--hash=md99', 'data.img', 'h.img'], 1, /VERITY_HASH_ALGORITHM/],
      [['format', '--uuid=nope', 'data.img', 'h.img'], 1, /VERITY_UUID/],
      [['format', 'odd.img', 'h.img'], 1, /VERITY_DATA_TOO_SMALL/],
      [['format', 'missing.img', 'h.img'], 4, /VERITY_IO/],
      [['dump', 'junk.img'], 1, /VERITY_SUPERBLOCK.*not a valid VERITY device/],
      [['dump', 'odd.img'], 1, /VERITY_SUPERBLOCK/],
      [['dump', 'missing.img'], 4, /missing\.img/],
      [['format', '--fec-device=fec.img', 'data.img', 'h.img'], 1, /VERITY_FEC.*not supported/],
      [['verify', '--fec-roots=2', 'data.img', 'h.img', '00'], 1, /VERITY_FEC/],
      [['verify', 'data.img', 'junk.img', 'zz'], 1, /VERITY_ROOT_HASH_FORMAT/],
      [['verify', 'data.img', 'junk.img'], 1, /VERITY_USAGE/],
    ];
    for (const [argv, code, message] of cases) {
      const r = await cocokit(['verity', ...argv], dir);
      assert.equal(r.code, code, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, message, argv.join(' '));
    }
    // A data block size above the page size works, with veritysetup's warning.
    copyFileSync(join(dir, 'data.img'), join(dir, 'big.img'));
    const w = await cocokit(['verity', 'format', '--data-block-size=8192', '--salt=-', 'big.img', 'hb.img'], dir);
    assert.equal(w.code, 0, w.err);
    assert.match(w.err, /WARNING: Kernel cannot activate device if data block size exceeds page size \(4096\)/);
  } finally {
    cleanup();
  }
});

test('--json prints the parameters and the root hash', async () => {
  const c = verityCases().find((x) => x.id === 's01')!;
  const { dir, cleanup } = tempDir();
  try {
    writeData(dir, 'data.img', generateData(c.data));
    const r = await cocokit(['verity', ...c.veritysetup_argv, '--json'], dir);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual([j.rootHash, j.dataBlocks, j.hashBlocks, j.salt, j.uuid], [c.expected.root_hash, c.expected.data_blocks, c.expected.hash_blocks, c.params.salt, c.params.uuid]);
  } finally {
    cleanup();
  }
});

test('format with --threads hashes through prestarted workers and gives the one-thread tree', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // Three 4 MiB runs and a partial one, so the prestarted workers are handed the pass.
    writeData(dir, 'data.img', generateData({ generator: 'sha256ctr', seed: 'threads', size: 12 * 1024 * 1024 + 3 * 4096 }));
    const one = await verityFormat({ data: join(dir, 'data.img'), hash: join(dir, 'one.img'), salt: Uint8Array.of(1, 2, 3), uuid: UUID, threads: 1 });
    const r = await cocokit(['verity', 'format', '--threads=3', '--salt=010203', `--uuid=${UUID}`, 'data.img', 'many.img'], dir);
    assert.equal(r.code, 0, r.err);
    assert.equal(fields(r.out)['Root hash'], toHex(one.rootHash));
    assert.equal(sha256(readFileSync(join(dir, 'many.img'))), sha256(readFileSync(join(dir, 'one.img'))));
    // Failing before the pass ends the prestarted workers and still reports the usual error.
    const bad = await cocokit(['verity', 'format', '--threads=2', '--hash=nope', 'data.img', 'bad.img'], dir);
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /VERITY_HASH_ALGORITHM/);
  } finally {
    cleanup();
  }
});
