import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { readVectorJson } from '../test-support/vectors.js';
import { CocoError } from '../errors.js';
import { TokenSigner } from '../attestation/signer.js';
import { AttestationTokenVerifier, jsonPointer, sessionTokenClaims, teePubkeyFromClaims } from './token-verifier.js';
import { generateEcKeyPair } from '../formats/jwk.js';

const EAR = readVectorJson('trustee', 'generated', 'ear-token-synthetic.json');
const atIssue = () => new Date((EAR.claims.iat + 10) * 1000);

test('the synthetic EAR token verifies by its header jwk when insecure_header_jwk is set, at a time it was valid', async () => {
  const v = new AttestationTokenVerifier({ insecureHeaderJwk: true, clock: atIssue });
  const claims = await v.verify(EAR.token);
  assert.deepEqual(claims, EAR.claims);
  assert.deepEqual(teePubkeyFromClaims(claims), jsonPointer(EAR.claims, EAR.tee_pubkey_json_pointer));
});

test('the same token is refused when expired, when its signer is not trusted, or when a byte is flipped', async () => {
  await assert.rejects(new AttestationTokenVerifier({ insecureHeaderJwk: true }).verify(EAR.token), /expired/);
  await assert.rejects(new AttestationTokenVerifier({ ownSigner: TokenSigner.generate().jwk, clock: atIssue }).verify(EAR.token), /not a trusted signer/);
  const parts = EAR.token.split('.');
  const sig = Buffer.from(parts[2], 'base64url');
  sig[5] ^= 1;
  await assert.rejects(new AttestationTokenVerifier({ insecureHeaderJwk: true, clock: atIssue }).verify(`${parts[0]}.${parts[1]}.${sig.toString('base64url')}`), CocoError);
  await assert.rejects(new AttestationTokenVerifier({ insecureHeaderJwk: true }).verify('not.a.jwt'), CocoError);
});

test('a token without a header jwk verifies by kid against a trusted JWKS file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-jwks-'));
  try {
    const { privateKey, publicKey } = generateEcKeyPair('P-256');
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'as-1', alg: 'ES256' }] }));
    const token = await new SignJWT({ 'tee-pubkey': { kty: 'EC' } }).setProtectedHeader({ alg: 'ES256', kid: 'as-1' }).setExpirationTime('5m').sign(privateKey);
    const v = new AttestationTokenVerifier({ trustedJwkSets: [`file://${join(dir, 'jwks.json')}`] });
    assert.deepEqual((await v.verify(token))['tee-pubkey'], { kty: 'EC' });
    const other = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'as-2' }).setExpirationTime('5m').sign(privateKey);
    await assert.rejects(v.verify(other), CocoError);
    assert.throws(() => new AttestationTokenVerifier({ trustedJwkSets: ['https://example.com/jwks'] }), /only local files/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a KBS without any trust source refuses to start', () => {
  assert.throws(() => new AttestationTokenVerifier({}), /no attestation token trust source/);
});

test('a token kept in an attested session gives its claims while within its lifetime (60 s leeway), then is refused as expired', () => {
  assert.deepEqual(sessionTokenClaims(EAR.token, atIssue()), EAR.claims);
  assert.deepEqual(sessionTokenClaims(EAR.token, new Date((EAR.claims.exp + 59) * 1000)), EAR.claims);
  assert.throws(() => sessionTokenClaims(EAR.token, new Date((EAR.claims.exp + 60) * 1000)), (e: CocoError) => e.code === 'KBS_TOKEN_INVALID' && e.kind === 'auth');
  assert.throws(() => sessionTokenClaims('garbage', atIssue()), (e: CocoError) => e.code === 'KBS_TOKEN_FORMAT' && e.kind === 'auth');
});

test('the own signer\'s tokens keep verifying after the first (its key is imported once), a foreign header key still fails', async () => {
  const signer = TokenSigner.generate();
  const v = new AttestationTokenVerifier({ ownSigner: signer.jwk });
  const exp = Math.floor(Date.now() / 1000) + 300;
  for (let i = 0; i < 3; i++) assert.equal((await v.verify(await signer.sign({ exp, i })))!.i, i);
  await assert.rejects(v.verify(await TokenSigner.generate().sign({ exp })), /not a trusted signer/);
});

test('the own signer\'s tokens are refused when expired, not yet valid, re-signed payloads, non-object claims or bent signatures', async () => {
  const signer = TokenSigner.generate();
  const now = new Date('2030-01-01T00:00:00Z');
  const t = Math.floor(now.getTime() / 1000);
  const v = new AttestationTokenVerifier({ ownSigner: signer.jwk, clock: () => now });
  const refused = async (token: string, why: RegExp) =>
    assert.rejects(v.verify(token), (e: unknown) => e instanceof CocoError && e.code === 'KBS_TOKEN_INVALID' && e.kind === 'auth' && why.test(e.message));
  // 60 s of leeway on both ends, as jose's check gives the tokens of other signers.
  assert.equal((await v.verify(await signer.sign({ exp: t - 59 }))).exp, t - 59);
  await refused(await signer.sign({ exp: t - 60 }), /expired/);
  assert.equal((await v.verify(await signer.sign({ exp: t + 300, nbf: t + 60 }))).nbf, t + 60);
  await refused(await signer.sign({ exp: t + 300, nbf: t + 61 }), /nbf/);
  await refused(await signer.sign({}), /exp/);
  await refused(await signer.sign({ exp: String(t + 300) }), /exp/);
  await refused(await signer.sign({ exp: t + 300, iat: 'now' }), /iat/);
  const good = await signer.sign({ exp: t + 300, role: 'guest' });
  const [h, p, s] = good.split('.');
  const other = (await signer.sign({ exp: t + 300, role: 'admin' })).split('.')[1];
  await refused(`${h}.${other}.${s}`, /signature/);
  const sig = Buffer.from(s, 'base64url');
  sig[40] ^= 1;
  await refused(`${h}.${p}.${sig.toString('base64url')}`, /signature/);
  await refused(`${h}.${p}.${s}A`, /signature/);
  await assert.rejects(v.verify(`${h}.${p}.${s}.x`), (e: unknown) => e instanceof CocoError && e.code === 'KBS_TOKEN_FORMAT' && e.kind === 'auth');
  await refused(`${h}.${p}.${s.slice(0, -1)}*`, /base64url/);
  // A payload the signer never writes (an array) is refused even under a valid signature.
  const { sign } = await import('node:crypto');
  const arr = Buffer.from('[1]').toString('base64url');
  const arrSig = sign('sha256', Buffer.from(`${h}.${arr}`), { key: signer.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  await refused(`${h}.${arr}.${arrSig}`, /object/);
  const junk = Buffer.from('{"exp":').toString('base64url');
  const junkSig = sign('sha256', Buffer.from(`${h}.${junk}`), { key: signer.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  await refused(`${h}.${junk}.${junkSig}`, /JSON/);
});
