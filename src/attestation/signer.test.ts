import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importJWK, jwtVerify } from 'jose';
import { readVectorJson } from '../test-support/vectors.js';
import { TokenSigner } from './signer.js';
import { earClaims, DEFAULT_BROKER, type Appraisal } from './ear.js';
import { CocoError } from '../errors.js';
import { generateEcKeyPair } from '../formats/jwk.js';

const E = readVectorJson('trustee', 'generated', 'ear-token-synthetic.json');

test('the signer reproduces the synthetic EAR token header and payload byte for byte (the ES256 signature is randomized)', async () => {
  const s = TokenSigner.fromPem(E.signer_private_key_pem);
  const token = await s.sign(E.claims);
  const [h, p, sig] = token.split('.');
  const [vh, vp] = E.token.split('.');
  assert.equal(h, vh);
  assert.equal(p, vp);
  assert.equal(Buffer.from(sig, 'base64url').length, 64);
  await jwtVerify(token, await importJWK(E.header.jwk, 'ES256'), { currentDate: new Date(E.claims.iat * 1000) });
});

test('the broker builds the vector claims set from one appraisal', () => {
  const cpu0 = E.claims.submods.cpu0;
  const appraisal: Appraisal = {
    submod: 'cpu0',
    status: cpu0['ear.status'],
    trustVector: cpu0['ear.trustworthiness-vector'],
    policyId: cpu0['ear.appraisal-policy-id'],
    annotatedEvidence: cpu0['ear.veraison.annotated-evidence'],
    extensions: [{ name: 'ear.trustee.identifiers', key: -18, value: cpu0['ear.trustee.identifiers'] }],
  };
  const claims = earClaims([appraisal], { ...DEFAULT_BROKER, build: E.claims['ear.verifier-id'].build }, new Date(E.claims.iat * 1000));
  assert.equal(JSON.stringify(claims), JSON.stringify(E.claims));
});

test('only P-256 keys can sign attestation tokens', () => {
  assert.throws(() => new TokenSigner(generateEcKeyPair('P-384').privateKey), CocoError);
  assert.throws(() => TokenSigner.fromPem('not a key'), CocoError);
});

test('tokens verify with jose and carry exactly the claims given, for any claims set', async () => {
  const s = TokenSigner.generate();
  const key = await importJWK(s.jwk, 'ES256');
  const sets: Array<Record<string, unknown>> = [{}, E.claims, { a: 'é\u2028\ud83d\ude00', n: [1, 2.5, -0], nested: { deep: [null, true, { x: '' }] } }];
  for (const claims of sets) {
    const token = await s.sign(claims);
    const [h, p] = token.split('.');
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url').toString('utf8')), { typ: 'JWT', alg: 'ES256', jwk: s.jwk });
    assert.equal(Buffer.from(p, 'base64url').toString('utf8'), JSON.stringify(claims));
    const { payload } = await jwtVerify(token, key, { currentDate: new Date(((claims.iat as number | undefined) ?? 0) * 1000 + 1000) });
    assert.deepEqual(payload, JSON.parse(JSON.stringify(claims)));
  }
  // A flipped byte anywhere in the signed part or the signature no longer verifies.
  const token = await s.sign(E.claims);
  for (const at of [3, token.indexOf('.') + 5, token.length - 3]) {
    const c = token[at] === 'A' ? 'B' : 'A';
    const bad = token.slice(0, at) + c + token.slice(at + 1);
    await assert.rejects(jwtVerify(bad, key, { currentDate: new Date(E.claims.iat * 1000) }));
  }
  await assert.rejects(s.sign([] as unknown as Record<string, unknown>), CocoError);
});
