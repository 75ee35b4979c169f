import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalize } from './jcs.js';
import { fromHex, toHex, fromBase64, fromBase64Url, toBase64Url, constantTimeEqual } from './bytes.js';
import { ByteReader, ByteWriter } from './reader.js';
import { CocoError } from '../errors.js';

test('JCS sorts keys by UTF-16 code units and serializes numbers the ECMAScript way (RFC 8785 §3.2)', () => {
  assert.equal(canonicalize({ b: 1, a: [true, null, 'x'], '\u20ac': 0, '\ud83d\ude00': 1, '\ufb33': 2 }), '{"a":[true,null,"x"],"b":1,"\u20ac":0,"\ud83d\ude00":1,"\ufb33":2}');
  assert.equal(canonicalize({ n: 1e21, m: 0.000001, z: -0, f: 1.5e-7 }), '{"f":1.5e-7,"m":0.000001,"n":1e+21,"z":0}');
  assert.equal(canonicalize('\u2028\n"'), '"\u2028\\n\\""');
});

test('JCS rejects values JSON cannot carry', () => {
  assert.throws(() => canonicalize({ x: NaN }), CocoError);
  assert.throws(() => canonicalize({ x: () => 1 }), CocoError);
});

test('hex and base64 parse strictly and round-trip', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      assert.deepEqual(fromHex(toHex(b)), b);
      assert.deepEqual(fromBase64Url(toBase64Url(b)), b);
    }),
  );
  assert.throws(() => fromHex('abc'), CocoError);
  assert.throws(() => fromHex('zz'), CocoError);
  assert.throws(() => fromBase64('a b'), CocoError);
  assert.throws(() => fromBase64Url('a+b/'), CocoError);
});

test('constant-time comparison differs on length and content', () => {
  assert.equal(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
  assert.equal(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
  assert.equal(constantTimeEqual(new Uint8Array([1]), new Uint8Array([1, 2])), false);
});

test('ByteReader reads what ByteWriter wrote and refuses to read past the end', () => {
  const w = new ByteWriter(1).u8(1).u16le(0x0203).u32be(0x04050607).u64le(8n).bytes(new Uint8Array([9, 9]));
  const r = new ByteReader(w.finish(), 'test struct');
  assert.equal(r.u8(), 1);
  assert.equal(r.u16le(), 0x0203);
  assert.equal(r.u32be(), 0x04050607);
  assert.equal(r.u64le(), 8n);
  assert.deepEqual([...r.take(2)], [9, 9]);
  assert.throws(() => r.u8(), (e: unknown) => e instanceof CocoError && e.code === 'FORMAT_TRUNCATED' && /test struct/.test(e.message));
  assert.throws(() => r.seek(100), CocoError);
});

test('a TEE key is imported once and then shared; a key off the curve is refused every time and never kept', async () => {
  const { generateTeeKeyPair, parseTeePubKey, teePubKeyObject } = await import('./jwk.js');
  const { publicJwk } = generateTeeKeyPair('ec-p256');
  const a = teePubKeyObject(parseTeePubKey(publicJwk));
  assert.equal(teePubKeyObject({ ...publicJwk } as typeof publicJwk), a);
  assert.equal(a.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const other = generateTeeKeyPair('ec-p256').publicJwk;
  assert.notEqual(teePubKeyObject(other), a);
  // (x, y + 1) is not on P-256.
  const y = Buffer.from(fromBase64Url(publicJwk.kty === 'EC' ? publicJwk.y : ''));
  y[31] ^= 1;
  const bad = { ...publicJwk, y: toBase64Url(y) };
  for (let i = 0; i < 2; i++) assert.throws(() => parseTeePubKey(bad), (e: CocoError) => e.code === 'JWK_INVALID' && e.kind === 'input');
});
