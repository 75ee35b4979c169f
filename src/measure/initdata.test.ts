import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { readVector, readVectorJson } from '../test-support/vectors.js';
import {
  agentPolicyData,
  bindInitData,
  checkInitDataBinding,
  decodeInitDataAnnotation,
  encodeInitDataAnnotation,
  initDataDigest,
  parseInitData,
  readInitDataImage,
} from './initdata.js';

function expectCocoError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CocoError, `expected a CocoError, got ${String(e)}`);
    return;
  }
}

test('initDataDigest hashes the raw bytes: the JSON and TOML forms of one document differ', () => {
  const e = readVectorJson<Record<string, { initdata_digest_hex: string }>>('initdata', 'expected-digests.json');
  const toml = initDataDigest(readVector('initdata', 'trustee-kbs-doc-simple.toml'));
  const json = initDataDigest(readVector('initdata', 'trustee-kbs-doc-simple.json'), 'json');
  assert.deepEqual(toml.initData.data, json.initData.data);
  assert.equal(toHex(toml.digest), e['trustee-kbs-doc-simple.toml'].initdata_digest_hex);
  assert.equal(toHex(json.digest), e['trustee-kbs-doc-simple.json'].initdata_digest_hex);
});

test('a TDX binding of a sha512 digest keeps its first 48 bytes', () => {
  const digest = fromHex('11'.repeat(32) + '22'.repeat(32));
  assert.equal(toHex(bindInitData(digest, 'tdx').value), '11'.repeat(32) + '22'.repeat(16));
  assert.equal(toHex(bindInitData(digest, 'cca').value), toHex(digest));
});

test('parseInitData keeps every [data] entry as a string', () => {
  const d = parseInitData(readVector('initdata', 'caa-doc-initdata.toml'));
  assert.deepEqual(Object.keys(d.data).sort(), ['aa.toml', 'cdh.toml', 'policy.rego']);
  assert.equal(d.algorithm, 'sha384');
});

test('agentPolicyData ignores braces inside strings and refuses what is not an object', () => {
  assert.deepEqual(agentPolicyData('package x\npolicy_data := {"a": "}{", "b": [1, {"c": 2}]}\n'), { a: '}{', b: [1, { c: 2 }] });
  assert.equal(agentPolicyData('policy_data := {"a": '), undefined);
  assert.equal(agentPolicyData('policy_data := [1]'), undefined);
  assert.equal(agentPolicyData('package x'), undefined);
});

test('readInitDataImage rejects a wrong magic and a length past the end', () => {
  const img = new Uint8Array(readVector('initdata', 'kata-agent-testdata-initdata.img'));
  const badMagic = img.slice();
  badMagic[0] ^= 1;
  assert.throws(() => readInitDataImage(badMagic), (e: unknown) => e instanceof CocoError && e.code === 'INITDATA_IMAGE');
  const longLen = img.slice();
  longLen[8] = 0xff;
  longLen[9] = 0xff;
  assert.throws(() => readInitDataImage(longLen), (e: unknown) => e instanceof CocoError && e.code === 'INITDATA_IMAGE');
  assert.throws(() => readInitDataImage(img.subarray(0, 12)), (e: unknown) => e instanceof CocoError && e.code === 'FORMAT_TRUNCATED');
});

test('fuzz: the annotation decoder gives bytes or a CocoError for any string', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => expectCocoError(() => decodeInitDataAnnotation(s, 4096))),
    { numRuns: 500 },
  );
});

test('fuzz: corrupted gzip inside a valid annotation gives bytes or a CocoError', () => {
  const gz = gzipSync(readVector('initdata', 'kata-default-initdata.toml'));
  fc.assert(
    fc.property(fc.nat(gz.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(gz.length), (at, flip, cut) => {
      const bad = Buffer.from(gz);
      bad[at] ^= flip;
      expectCocoError(() => decodeInitDataAnnotation(bad.subarray(0, cut).toString('base64'), 4096));
    }),
    { numRuns: 500 },
  );
});

test('fuzz: the image reader and the document parser give a value or a CocoError for random bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const img = new Uint8Array(b.length + 8);
      img.set(Buffer.from('initdata'));
      img.set(b, 8);
      expectCocoError(() => readInitDataImage(img, 4096));
      expectCocoError(() => parseInitData(b));
    }),
    { numRuns: 500 },
  );
});

test('encode/decode round-trips arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => {
      assert.deepEqual(decodeInitDataAnnotation(encodeInitDataAnnotation(b)), b);
    }),
    { numRuns: 100 },
  );
});

test('checkInitDataBinding passes the vector HOST_DATA and MRCONFIGID and fails a flipped byte', () => {
  const e = readVectorJson<Record<string, { initdata_digest_hex: string; snp_hostdata_hex: string; tdx_mrconfigid_hex: string }>>('initdata', 'expected-digests.json')[
    'kata-default-initdata.toml'
  ];
  const digest = fromHex(e.initdata_digest_hex);
  assert.equal(checkInitDataBinding(digest, 'snp', fromHex(e.snp_hostdata_hex)).ok, true);
  assert.equal(checkInitDataBinding(digest, 'tdx', fromHex(e.tdx_mrconfigid_hex)).ok, true);
  const flipped = fromHex(e.tdx_mrconfigid_hex);
  flipped[47] ^= 1;
  const c = checkInitDataBinding(digest, 'tdx', flipped);
  assert.equal(c.ok, false);
  assert.equal(c.expected, e.tdx_mrconfigid_hex);
  const sha384 = fromHex('00'.repeat(48));
  assert.equal(checkInitDataBinding(sha384, 'tpm', new Uint8Array(32)).ok, false);
});
