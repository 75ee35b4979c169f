/**
 * Policy bundle archives read into their regular files: archives written by tar(1) in its GNU and PAX formats
 * (long names included) give back the files put in, and damaged input of any kind is a CocoError.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { deflateRawSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { buildTar } from '../test-support/tar-build.js';
import { TarballError, readBundleTarball } from './bundle-archive.js';

const dir = mkdtempSync(join(tmpdir(), 'bundle-archive-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const LONG = `${'deep/'.repeat(30)}policy.rego`;
const FILES: Record<string, string> = {
  '.manifest': '{"roots": ["app"]}',
  'app/policy.rego': 'package app\nallow := true\n',
  'app/data.json': '{"admins": ["alice"]}',
  [LONG]: 'package deep\n',
  'empty.json': '',
};

/** The tree above written to disk (with a directory and a symlink tar records but the reader skips), archived by tar(1). */
function tarGz(format: 'gnu' | 'pax'): Buffer {
  const src = mkdtempSync(join(dir, `${format}-`));
  for (const [p, text] of Object.entries(FILES)) {
    mkdirSync(dirname(join(src, p)), { recursive: true });
    writeFileSync(join(src, p), text);
  }
  mkdirSync(join(src, 'empty-dir'));
  symlinkSync('app/policy.rego', join(src, 'link.rego'));
  const out = join(dir, `${format}.tar.gz`);
  execFileSync('tar', [`--format=${format}`, '-czf', out, '-C', src, '.']);
  return readFileSync(out);
}

/** Sets a ustar header's checksum after its fields were changed. */
function reseal(h: Buffer): Buffer {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  Buffer.from(sum.toString(8).padStart(6, '0') + '\0 ', 'latin1').copy(h, 148);
  return h;
}

const asRecord = (entries: ReturnType<typeof readBundleTarball>): Record<string, string> =>
  Object.fromEntries(entries.map((e) => [e.path.replace(/^\.\//, ''), e.data.toString('utf8')]));

test('archives tar(1) writes in GNU and PAX format give back exactly their regular files, long names included', () => {
  for (const format of ['gnu', 'pax'] as const) {
    const entries = readBundleTarball(tarGz(format));
    assert.deepEqual(asRecord(entries), FILES, format);
    assert.ok(entries.every((e) => Buffer.isBuffer(e.data)));
  }
});

test('old-style regular entries (typeflag NUL) are files too; the decompressed size limit is the one given', () => {
  const tar = buildTar([{ path: 'a.rego', content: 'package a\n' }]);
  const old = Buffer.from(tar);
  old[156] = 0;
  reseal(old);
  assert.deepEqual(asRecord(readBundleTarball(gzipSync(old))), { 'a.rego': 'package a\n' });
  assert.deepEqual(asRecord(readBundleTarball(gzipSync(tar), tar.length)), { 'a.rego': 'package a\n' });
  assert.throws(
    () => readBundleTarball(gzipSync(tar), tar.length - 1),
    (e: unknown) => e instanceof CocoError && e instanceof TarballError && e.code === 'BUNDLE_FORMAT' && e.message === `archive larger than ${tar.length - 1} bytes once decompressed`,
  );
});

/** The error text readBundleTarball gives for an archive, or 'ok' with the names it read. */
function tarballText(gz: Buffer, max?: number): string {
  try {
    return `ok ${readBundleTarball(gz, max).map((e) => e.path).join(',')}`;
  } catch (e) {
    assert.ok(e instanceof TarballError, String(e));
    return e.message;
  }
}

test('bundle tarballs as opa reads them: names as stored, and Go\'s gzip and tar texts where the archive goes wrong', () => {
  const tar = buildTar([
    { path: './app/p.rego', content: 'package app\n' },
    { path: 'dir/', type: 'dir' },
    { path: '/data.json', content: '{"a": 1}' },
  ]);
  const gz = gzipSync(tar);
  assert.equal(tarballText(gz), 'ok ./app/p.rego,/data.json');
  // The gzip header: nothing, a cut header, wrong magic or method, a bad header CRC.
  assert.equal(tarballText(Buffer.alloc(0)), 'archive read failed: EOF');
  assert.equal(tarballText(gz.subarray(0, 5)), 'archive read failed: unexpected EOF');
  assert.equal(tarballText(Buffer.from('plain text, not gzip')), 'archive read failed: gzip: invalid header');
  const method = Buffer.from(gz);
  method[2] = 7;
  assert.equal(tarballText(method), 'archive read failed: gzip: invalid header');
  const withCrc = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 2, 0, 0, 0, 0, 0, 3, 0, 0]), deflateRawSync(tar), gz.subarray(gz.length - 8)]);
  assert.equal(tarballText(withCrc), 'archive read failed: gzip: invalid header');
  // Cut inside the compressed data: cut in a header, or in a file's data (Go names the file).
  assert.equal(tarballText(gzipSync(tar.subarray(0, 300))), 'unexpected EOF');
  assert.equal(tarballText(gzipSync(tar.subarray(0, 520))), 'failed to copy file ./app/p.rego: unexpected EOF');
  const cutStream = gzipSync(Buffer.concat([tar.subarray(0, 512), Buffer.alloc(4)]));
  assert.equal(tarballText(cutStream.subarray(0, cutStream.length - 9)), 'failed to copy file ./app/p.rego: unexpected EOF');
  // A clean end on a block boundary without the end marker is an end, as in Go; half a marker is too.
  assert.equal(tarballText(gzipSync(tar.subarray(0, 1024))), 'ok ./app/p.rego');
  // A tar header whose checksum does not match; a zero block followed by a non-zero one.
  const flipped = Buffer.from(tar);
  flipped[1030]! ^= 1;
  assert.equal(tarballText(gzipSync(flipped)), 'archive/tar: invalid tar header');
  const afterZero = Buffer.concat([tar.subarray(0, 2560), Buffer.alloc(512), tar.subarray(0, 1024)]);
  assert.equal(tarballText(gzipSync(afterZero)), 'archive/tar: invalid tar header');
  // The gzip trailer is only read when the tar reader reads to the end: a bad CRC past the end marker goes
  // unnoticed; an archive without its marker runs into it.
  const badCrc = Buffer.from(gz);
  badCrc[badCrc.length - 8]! ^= 1;
  assert.equal(tarballText(badCrc), 'ok ./app/p.rego,/data.json');
  const noMarker = gzipSync(tar.subarray(0, 1024));
  noMarker[noMarker.length - 8]! ^= 1;
  assert.equal(tarballText(noMarker), 'gzip: invalid checksum');
  // Damaged deflate data: Go's flate text with an input offset.
  const damaged = Buffer.from(gz);
  damaged.fill(0xff, 12, 40);
  assert.match(tarballText(damaged), /^(failed to copy file \S+: )?flate: corrupt input before offset \d+$/);
  // Members after the first (multistream) are read on; garbage after a member is a bad header.
  assert.equal(tarballText(Buffer.concat([gzipSync(tar.subarray(0, 1024)), gzipSync(tar.subarray(1024))])), 'ok ./app/p.rego,/data.json');
  assert.equal(tarballText(Buffer.concat([gzipSync(tar.subarray(0, 1024)), Buffer.from('trailing junk')])), 'gzip: invalid header');
});

test('bundle tarballs: a gzip bomb stops at the size bound with a clear error, quickly', () => {
  // 64 MiB of zeros in about 64 KiB of gzip, read with a 1 MiB bound.
  const bomb = gzipSync(Buffer.concat([buildTar([{ path: 'data.json', content: '{}' }]).subarray(0, 1024), Buffer.alloc(64 * 1024 * 1024)]), { level: 9 });
  const t0 = Date.now();
  assert.equal(tarballText(bomb, 1024 * 1024), 'archive larger than 1048576 bytes once decompressed');
  assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  // Within the bound the same archive reads (its data is zeros: an end marker after the file).
  assert.equal(tarballText(bomb, 80 * 1024 * 1024), 'ok data.json');
});

test('bundle tarballs: random bytes, cut archives and changed bytes give files or a TarballError, never another failure', () => {
  const gz = tarGz('pax');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), (bytes, gzip) => {
      tarballText(gzip ? gzipSync(bytes) : Buffer.from(bytes));
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(fc.nat(gz.length), (n) => {
      tarballText(gz.subarray(0, n));
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(gz.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
      const g = Buffer.from(gz);
      for (const [i, x] of edits) g[i]! ^= x;
      tarballText(g);
    }),
    { numRuns: 200 },
  );
});
