import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { flattenedDecrypt } from 'jose';
import fc from 'fast-check';
import { readVectorJson } from '../test-support/vectors.js';
import { fromHex, toHex, fromBase64Url, utf8 } from './bytes.js';
import { concatKdf, decryptWithTeeKey, encryptToTeeKey, parseFlattenedJwe } from './jwe.js';
import { generateTeeKeyPair, parseTeePubKey, publicJwkMembers } from './jwk.js';
import { CocoError } from '../errors.js';

const V = readVectorJson('trustee', 'generated', 'jwe-resource-responses.json');
const EC = V.ecdh_es_a256kw_p256;

test('ECDH-ES+A256KW response reproduces the vector byte for byte from its CEK, IV and ephemeral key', () => {
  const eph = createPrivateKey(EC.kbs_ephemeral_private_key_pem);
  const z = diffieHellman({ privateKey: eph, publicKey: createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: EC.tee_pubkey_jwk.x, y: EC.tee_pubkey_jwk.y }, format: 'jwk' }) });
  assert.equal(toHex(z), EC.shared_secret_z_hex);
  assert.equal(toHex(concatKdf(z, 'ECDH-ES+A256KW')), EC.concat_kdf_kek_hex);
  const jwe = encryptToTeeKey(utf8.encode(V.plaintext_utf8), parseTeePubKey(EC.tee_pubkey_jwk), {
    cek: fromHex(V.cek_hex),
    iv: fromHex(V.iv_hex),
    ephemeralKey: eph,
  });
  assert.deepEqual(jwe, EC.response);
  assert.equal(utf8.decode(fromBase64Url(jwe.protected)), EC.protected_header_json);
});

test('RSA protected headers are the exact compact form Trustee emits', () => {
  for (const v of [V.rsa_oaep_256, V.rsa1_5_legacy]) {
    const jwe = encryptToTeeKey(utf8.encode('x'), parseTeePubKey(v.tee_pubkey_jwk));
    assert.equal(jwe.protected, v.response.protected);
    assert.equal(utf8.decode(fromBase64Url(jwe.protected)), v.protected_header_json);
  }
});

test('EC headers on P-256 and P-521 serialize as alg, enc, epk{crv, kty, x, y} with fixed-length coordinates', () => {
  for (const [alg, len] of [['ec-p256', 32], ['ec-p521', 66]] as const) {
    const kp = generateTeeKeyPair(alg);
    const text = utf8.decode(fromBase64Url(encryptToTeeKey(utf8.encode('x'), kp.publicJwk).protected));
    const h = JSON.parse(text);
    assert.deepEqual(Object.keys(h), ['alg', 'enc', 'epk']);
    assert.deepEqual(Object.keys(h.epk), ['crv', 'kty', 'x', 'y']);
    assert.equal(fromBase64Url(h.epk.x).length, len);
    assert.equal(fromBase64Url(h.epk.y).length, len);
    // The Rust client's AAD: the parsed header re-serialized compactly must give the same bytes.
    assert.equal(JSON.stringify({ alg: h.alg, enc: h.enc, epk: { crv: h.epk.crv, kty: h.epk.kty, x: h.epk.x, y: h.epk.y } }), text);
  }
});

test('the vector responses decrypt with our decryptor for EC and RSA-OAEP-256', () => {
  assert.equal(utf8.decode(decryptWithTeeKey(EC.response, createPrivateKey(EC.tee_private_key_pem))), V.plaintext_utf8);
  const rsa = V.rsa_oaep_256;
  assert.equal(utf8.decode(decryptWithTeeKey(rsa.response, createPrivateKey(rsa.tee_private_key_pem))), V.plaintext_utf8);
});

test('our responses decrypt with jose for every TEE key algorithm jose supports here', async () => {
  for (const alg of ['ec-p256', 'ec-p521', 'rsa'] as const) {
    const kp = generateTeeKeyPair(alg);
    const jwe = encryptToTeeKey(utf8.encode('secret ' + alg), kp.publicJwk);
    const out = await flattenedDecrypt(jwe, kp.privateKey);
    assert.equal(utf8.decode(out.plaintext), 'secret ' + alg);
    assert.equal(utf8.decode(decryptWithTeeKey(jwe, kp.privateKey)), 'secret ' + alg);
  }
});

// Node 20 refuses PKCS#1 v1.5 private decryption (CVE-2023-46809); a child process with the documented
// revert flag is the oracle for RSA1_5.
function decryptRsa15InChild(jwe: object, pem: string): string {
  const script = `
    const c = require('node:crypto');
    const [jwe, pem] = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
    const k = c.createPrivateKey(pem);
    const cek = c.privateDecrypt({ key: k, padding: c.constants.RSA_PKCS1_PADDING }, Buffer.from(jwe.encrypted_key, 'base64url'));
    const d = c.createDecipheriv('aes-256-gcm', cek, Buffer.from(jwe.iv, 'base64url'));
    d.setAAD(Buffer.from(jwe.protected, 'ascii')); d.setAuthTag(Buffer.from(jwe.tag, 'base64url'));
    process.stdout.write('RESULT:' + Buffer.concat([d.update(Buffer.from(jwe.ciphertext, 'base64url')), d.final()]).toString('hex'));`;
  const r = spawnSync(process.execPath, ['--security-revert=CVE-2023-46809', '-e', script], { input: JSON.stringify([jwe, pem]), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // The revert flag prints a security warning on stdout first.
  return Buffer.from(r.stdout.split('RESULT:')[1] ?? '', 'hex').toString('utf8');
}

test('RSA1_5 responses (vector and ours) decrypt with PKCS#1 v1.5', () => {
  const v = V.rsa1_5_legacy;
  assert.equal(decryptRsa15InChild(v.response, V.rsa_oaep_256.tee_private_key_pem), V.plaintext_utf8);
  const ours = encryptToTeeKey(utf8.encode('legacy'), parseTeePubKey(v.tee_pubkey_jwk));
  assert.equal(decryptRsa15InChild(ours, V.rsa_oaep_256.tee_private_key_pem), 'legacy');
});

test('a flipped ciphertext, tag or wrapped key byte fails with a crypto CocoError', () => {
  const key = createPrivateKey(EC.tee_private_key_pem);
  for (const field of ['ciphertext', 'tag', 'encrypted_key'] as const) {
    const b = fromBase64Url(EC.response[field]);
    b[0] ^= 1;
    const jwe = { ...EC.response, [field]: Buffer.from(b).toString('base64url') };
    assert.throws(() => decryptWithTeeKey(jwe, key), (e: unknown) => e instanceof CocoError && e.kind === 'crypto');
  }
});

test('decrypting with another TEE key fails', () => {
  const other = generateTeeKeyPair('ec-p256');
  assert.throws(() => decryptWithTeeKey(EC.response, other.privateKey), CocoError);
});

test('tee-pubkey validation rejects wrong curves, algs, short coordinates and small RSA moduli', () => {
  const ok = EC.tee_pubkey_jwk;
  for (const bad of [
    null,
    [],
    { ...ok, crv: 'P-384' },
    { ...ok, alg: 'ECDH-ES' },
    { ...ok, x: ok.x.slice(2) },
    { ...ok, kty: 'OKP' },
    { ...V.rsa_oaep_256.tee_pubkey_jwk, n: 'AQAB' },
    { ...V.rsa_oaep_256.tee_pubkey_jwk, alg: 'RSA-OAEP' },
  ]) {
    assert.throws(() => parseTeePubKey(bad), CocoError, JSON.stringify(bad));
  }
  assert.deepEqual(Object.keys(parseTeePubKey({ y: ok.y, x: ok.x, alg: ok.alg, crv: ok.crv, kty: 'EC' })), ['kty', 'crv', 'alg', 'x', 'y']);
});

test('random JWE objects never crash the decryptor', () => {
  const key = createPrivateKey(EC.tee_private_key_pem);
  fc.assert(
    fc.property(fc.record({ protected: fc.string(), encrypted_key: fc.string(), iv: fc.string(), ciphertext: fc.string(), tag: fc.string() }), (j) => {
      try {
        decryptWithTeeKey(parseFlattenedJwe(j), key);
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
      }
    }),
    { numRuns: 300 },
  );
});

test('public JWK members read from DER equal the vector TEE keys (EC and RSA)', () => {
  for (const v of [EC, V.rsa_oaep_256]) {
    const members = publicJwkMembers(createPublicKey(createPrivateKey(v.tee_private_key_pem)));
    const { alg: _alg, ...expected } = v.tee_pubkey_jwk;
    assert.deepEqual({ ...members }, expected);
  }
});

test('RSA TEE keys that cannot be encrypted to are refused at parse time with an input CocoError', () => {
  const ok = V.rsa_oaep_256.tee_pubkey_jwk;
  const n = fromBase64Url(ok.n);
  const even = Uint8Array.from(n);
  even[even.length - 1] &= 0xfe;
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  for (const bad of [
    { ...ok, n: b64(even) },
    { ...ok, n: b64(new Uint8Array(256)) },
    { ...ok, n: b64(Uint8Array.from([0, ...n])) },
    { ...ok, e: ok.n },
    { ...ok, e: 'AAEAAQ' },
    { ...ok, e: 'AQ' },
    { ...ok, e: 'AQAA' },
  ]) {
    assert.throws(
      () => parseTeePubKey(bad),
      (e: unknown) => e instanceof CocoError && e.kind === 'input',
      JSON.stringify({ n: bad.n.slice(0, 8), e: bad.e.slice(0, 8) }),
    );
  }
  assert.equal(parseTeePubKey(ok).kty, 'RSA');
});

test('encrypting to an unusable TEE key is an input CocoError, not an OpenSSL error', () => {
  const ok = V.rsa_oaep_256.tee_pubkey_jwk;
  const even = fromBase64Url(ok.n);
  even[even.length - 1] &= 0xfe;
  const key = { kty: 'RSA' as const, alg: 'RSA-OAEP-256' as const, n: Buffer.from(even).toString('base64url'), e: ok.e };
  assert.throws(
    () => encryptToTeeKey(utf8.encode('x'), key),
    (e: unknown) => e instanceof CocoError && e.kind === 'input',
  );
});

test('an EC TEE key off its curve is refused at parse time', () => {
  const ok = EC.tee_pubkey_jwk;
  const y = fromBase64Url(ok.y);
  y[31] ^= 1;
  assert.throws(
    () => parseTeePubKey({ ...ok, y: Buffer.from(y).toString('base64url') }),
    (e: unknown) => e instanceof CocoError && e.kind === 'input',
  );
});
