import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { vectorPath } from '../test-support/vectors.js';
import { CocoError } from '../errors.js';
import { parsePemCertificates, verifyJwkEndorsement } from './jwk-endorsement.js';
import { derChildren, readDer } from '../formats/x509.js';

// Trustee's test_verify_jwk_endorsement_scenarios: 01, 05, 06, 07 pass; 02 (leaf key ≠ jwk), 03 (no x5c),
// 04 (wrong anchor) fail. The certificates are valid from 2026-04-15 for ten years.
const OUTCOME: Record<string, true | RegExp> = { '01': true, '02': /leaf certificate does not hold/, '03': /no x5c/, '04': /no trusted issuer/, '05': true, '06': true, '07': true };
const at = new Date('2027-01-01T00:00:00Z');

for (const [n, ok] of Object.entries(OUTCOME)) {
  test(`header-JWK endorsement scenario ${n} ${ok === true ? 'verifies' : 'is rejected'}`, () => {
    const jwk = JSON.parse(readFileSync(vectorPath('trustee', 'kbs-jwk', `scenario${n}-jwk.json`), 'utf8'));
    const trust = parsePemCertificates(readFileSync(vectorPath('trustee', 'kbs-jwk', `scenario${n}-trust.pem`), 'utf8'), 'trust');
    if (ok === true) verifyJwkEndorsement(jwk, trust, at);
    else assert.throws(() => verifyJwkEndorsement(jwk, trust, at), (e: unknown) => e instanceof CocoError && ok.test(e.message));
  });
}

test('an endorsed JWK is rejected outside the certificate validity', () => {
  const jwk = JSON.parse(readFileSync(vectorPath('trustee', 'kbs-jwk', 'scenario01-jwk.json'), 'utf8'));
  const trust = parsePemCertificates(readFileSync(vectorPath('trustee', 'kbs-jwk', 'scenario01-trust.pem'), 'utf8'), 'trust');
  assert.throws(() => verifyJwkEndorsement(jwk, trust, new Date('2026-01-01T00:00:00Z')), /not valid at/);
});

test('an x5c leaf with a corrupted SubjectPublicKeyInfo is an auth CocoError, never an OpenSSL error', () => {
  const jwk = JSON.parse(readFileSync(vectorPath('trustee', 'kbs-jwk', 'scenario01-jwk.json'), 'utf8'));
  const trust = parsePemCertificates(readFileSync(vectorPath('trustee', 'kbs-jwk', 'scenario01-trust.pem'), 'utf8'), 'trust');
  const der = new Uint8Array(Buffer.from(jwk.x5c[0], 'base64'));
  // Certificate → TBSCertificate → [version, serial, signature, issuer, validity, subject, SPKI, …]
  const spki = derChildren(derChildren(readDer(der))[0])[6];
  const base = derChildren(readDer(der))[0].value.byteOffset - der.byteOffset;
  let rejected = 0;
  for (let i = spki.start; i < spki.end; i++) {
    for (const mask of [0x01, 0xff]) {
      const bad = Uint8Array.from(der);
      bad[base + i] ^= mask;
      assert.throws(
        () => verifyJwkEndorsement({ ...jwk, x5c: [Buffer.from(bad).toString('base64'), ...jwk.x5c.slice(1)] }, trust, at),
        (e: unknown) => e instanceof CocoError && e.kind === 'auth',
        `byte ${i} ^ ${mask}`,
      );
      rejected++;
    }
  }
  assert.ok(rejected > 80);
});
