import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sign, verify } from 'node:crypto';
import { safeKeyPair } from './keygen.js';

test('safeKeyPair makes RSA, EC and Ed25519 pairs whose halves belong together', () => {
  const data = Buffer.from('cocokit');
  const rsa = safeKeyPair('rsa', { modulusLength: 1024 });
  assert.equal(rsa.privateKey.asymmetricKeyDetails?.modulusLength, 1024);
  assert.equal(rsa.publicKey.asymmetricKeyDetails?.publicExponent, 65537n);
  assert.ok(verify('sha256', data, rsa.publicKey, sign('sha256', data, rsa.privateKey)));
  for (const namedCurve of ['prime256v1', 'secp384r1']) {
    const ec = safeKeyPair('ec', { namedCurve });
    assert.equal(ec.publicKey.asymmetricKeyDetails?.namedCurve, namedCurve);
    assert.ok(verify('sha256', data, ec.publicKey, sign('sha256', data, ec.privateKey)));
  }
  const ed = safeKeyPair('ed25519');
  assert.equal(ed.privateKey.asymmetricKeyType, 'ed25519');
  assert.ok(verify(null, data, ed.publicKey, sign(null, data, ed.privateKey)));
  // Another pair's public key does not verify.
  assert.equal(verify(null, data, safeKeyPair('ed25519').publicKey, sign(null, data, ed.privateKey)), false);
  // Every export form works on the imported keys.
  assert.equal(ed.publicKey.export({ format: 'jwk' }).crv, 'Ed25519');
  assert.equal(rsa.privateKey.export({ format: 'jwk' }).kty, 'RSA');
});
