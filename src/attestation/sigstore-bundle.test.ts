/** Sigstore bundles of expected measurements, verified offline against a throwaway trusted root. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { COCOKIT_PREDICATE, CYCLONEDX_PREDICATE } from './signed-statement.js';
import { importSigstoreBundle, isSigstoreBundle, parseTrustedRoot, type SignerPolicy } from './sigstore-bundle.js';
import { cycloneDxStatement, makeBundle, makeCa, makeDeployment } from '../test-support/sigstore-root.js';

const d = await makeDeployment();
const trust = parseTrustedRoot(Buffer.from(JSON.stringify(d.trustedRoot)));
const BUILDER = { san: 'https://github.com/acme/guest-image/.github/workflows/release.yml@refs/heads/main', issuer: 'https://token.actions.githubusercontent.com' };
const POLICY: SignerPolicy = { certificateIdentity: BUILDER.san, certificateOidcIssuer: BUILDER.issuer };
const MEASUREMENT = '7c'.repeat(48);
const statement = cycloneDxStatement({ name: 'guest-firmware', version: '2024.05' }, MEASUREMENT);
const bytes = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

function refused(f: () => unknown, code: string, check: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof CocoError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, check);
    return true;
  });
}

test('bundles v0.1, v0.2 and v0.3 verify: values, SAN and issuer as signer, statement digest, SBOM components', async () => {
  for (const version of ['0.1', '0.2', '0.3'] as const) {
    const b = await makeBundle(d, { statement, who: BUILDER, version });
    assert.ok(isSigstoreBundle(bytes(b)));
    const st = importSigstoreBundle(bytes(b), trust, POLICY);
    assert.deepEqual(st.values, { measurement: [MEASUREMENT] });
    assert.equal(st.signer, BUILDER.san);
    assert.equal(st.signerIssuer, BUILDER.issuer);
    assert.equal(st.statementDigest, createHash('sha256').update(JSON.stringify(statement)).digest('hex'));
    assert.equal(st.predicateType, CYCLONEDX_PREDICATE);
    assert.deepEqual(st.components, ['guest-firmware@2024.05', 'openssl@3.0.13']);
  }
});

test('the regexp forms of the identity flags match SAN and issuer', async () => {
  const b = bytes(await makeBundle(d, { statement, who: BUILDER }));
  const st = importSigstoreBundle(b, trust, { certificateIdentityRegexp: '^https://github\\.com/acme/', certificateOidcIssuerRegexp: 'githubusercontent\\.com$' });
  assert.equal(st.signer, BUILDER.san);
  refused(() => importSigstoreBundle(b, trust, { certificateIdentityRegexp: '^https://github\\.com/evil/', certificateOidcIssuer: BUILDER.issuer }), 'RV_STATEMENT_IDENTITY', /identity check failed/);
  refused(() => importSigstoreBundle(b, trust, { certificateIdentity: BUILDER.san, certificateOidcIssuerRegexp: '^https://accounts\\.google\\.com$' }), 'RV_STATEMENT_IDENTITY', /identity check failed: OIDC issuer/);
});

test('an exact identity is not a pattern: a longer SAN or a look-alike does not match', async () => {
  const b = bytes(await makeBundle(d, { statement, who: { ...BUILDER, san: `${BUILDER.san}x` } }));
  refused(() => importSigstoreBundle(b, trust, POLICY), 'RV_STATEMENT_IDENTITY', /identity check failed/);
  const dots = bytes(await makeBundle(d, { statement, who: { ...BUILDER, san: BUILDER.san.replace('github.com', 'githubXcom') } }));
  refused(() => importSigstoreBundle(dots, trust, POLICY), 'RV_STATEMENT_IDENTITY', /identity check failed/);
});

test('a wrong identity or a wrong OIDC issuer is refused by the identity check', async () => {
  const other = bytes(await makeBundle(d, { statement, who: { san: 'mailto:mallory@example.com', issuer: BUILDER.issuer } }));
  refused(() => importSigstoreBundle(other, trust, POLICY), 'RV_STATEMENT_IDENTITY', /identity check failed: .*mallory/);
  const issuer = bytes(await makeBundle(d, { statement, who: { ...BUILDER, issuer: 'https://accounts.google.com' } }));
  refused(() => importSigstoreBundle(issuer, trust, POLICY), 'RV_STATEMENT_IDENTITY', /identity check failed: .*issuer/);
});

test('a tampered payload is refused (the log entry and the signature no longer cover it)', async () => {
  const evil = bytes(await makeBundle(d, { statement, who: BUILDER, tamper: (p) => Buffer.from(p.toString().replace(MEASUREMENT, '00'.repeat(48))) }));
  refused(() => importSigstoreBundle(evil, trust, POLICY), 'RV_STATEMENT_TLOG', /tlog check failed: .*hash mismatch/);
});

test('a certificate from a CA the root does not name is refused by the certificate check, even under the same CA name', async () => {
  const rogue = await makeCa();
  const b = bytes(await makeBundle(d, { statement, who: BUILDER, ca: rogue }));
  refused(() => importSigstoreBundle(b, trust, POLICY), 'RV_STATEMENT_CERTIFICATE', /certificate check failed: .*certificate chain/);
});

test('a missing log entry, or one whose SET another key signed, is refused by the tlog check', async () => {
  const none = bytes(await makeBundle(d, { statement, who: BUILDER, noTlog: true }));
  refused(() => importSigstoreBundle(none, trust, POLICY), 'RV_STATEMENT_TLOG', /no transparency-log entry/);
  const other = await makeDeployment();
  const forged = bytes(await makeBundle(d, { statement, who: BUILDER, rekorKey: other.rekor.privateKey }));
  refused(() => importSigstoreBundle(forged, trust, POLICY), 'RV_STATEMENT_TLOG', /tlog check failed: inclusion promise/);
  // Against a root whose log is another one, the entry's log id names no trusted log.
  const otherTrust = parseTrustedRoot(bytes({ ...d.trustedRoot, tlogs: other.trustedRoot.tlogs }));
  const good = bytes(await makeBundle(d, { statement, who: BUILDER }));
  refused(() => importSigstoreBundle(good, otherTrust, POLICY), 'RV_STATEMENT_TLOG', /tlog check failed/);
});

test('an inclusion proof is checked against the checkpoint the log key signed; without a SET there is no trusted time', async () => {
  const other = await makeDeployment();
  const forged = bytes(await makeBundle(d, { statement, who: BUILDER, checkpointKey: other.rekor.privateKey }));
  refused(() => importSigstoreBundle(forged, trust, POLICY), 'RV_STATEMENT_TLOG', /tlog check failed: invalid checkpoint signature/);
  const b = (await makeBundle(d, { statement, who: BUILDER })) as { verificationMaterial: { tlogEntries: { inclusionProof: { hashes: string[] } }[] } };
  b.verificationMaterial.tlogEntries[0].inclusionProof.hashes = [Buffer.alloc(32, 9).toString('base64')];
  refused(() => importSigstoreBundle(bytes(b), trust, POLICY), 'RV_STATEMENT_TLOG', /root hash does not match/);
  // A log's integrated time counts only under its SET; with neither a SET nor a TSA timestamp the
  // certificate's validity cannot be placed in time.
  const proofOnly = bytes(await makeBundle(d, { statement, who: BUILDER, noPromise: true }));
  refused(() => importSigstoreBundle(proofOnly, trust, POLICY), 'RV_STATEMENT_TIMESTAMP', /timestamp check failed/);
});

test('a flipped signature byte is refused (by the log entry binding, before the signature check)', async () => {
  const b = (await makeBundle(d, { statement, who: BUILDER })) as { dsseEnvelope: { signatures: { sig: string }[] } };
  const sig = Buffer.from(b.dsseEnvelope.signatures[0].sig, 'base64');
  sig[sig.length - 1] ^= 1;
  b.dsseEnvelope.signatures[0].sig = sig.toString('base64');
  refused(() => importSigstoreBundle(bytes(b), trust, POLICY), 'RV_STATEMENT_TLOG', /signature mismatch/);
});

test('the statement inside a verified bundle still goes through the statement and predicate checks', async () => {
  const noValues = bytes(await makeBundle(d, { statement: { ...statement, predicateType: COCOKIT_PREDICATE, predicate: { reference_values: {} } }, who: BUILDER }));
  refused(() => importSigstoreBundle(noValues, trust, POLICY), 'RV_STATEMENT_PREDICATE', /predicate check failed/);
  const notStatement = bytes(await makeBundle(d, { statement: { hello: 'world' }, who: BUILDER }));
  refused(() => importSigstoreBundle(notStatement, trust, POLICY), 'RV_STATEMENT_STATEMENT', /statement check failed/);
});

test('the signer policy is required: both an identity and an issuer', async () => {
  const b = bytes(await makeBundle(d, { statement, who: BUILDER }));
  refused(() => importSigstoreBundle(b, trust, { certificateIdentity: BUILDER.san }), 'RV_STATEMENT_USAGE', /certificate-oidc-issuer/);
  refused(() => importSigstoreBundle(b, trust, { certificateOidcIssuer: BUILDER.issuer }), 'RV_STATEMENT_USAGE', /certificate-identity/);
  refused(() => importSigstoreBundle(b, trust, { ...POLICY, certificateIdentityRegexp: '.*' }), 'RV_STATEMENT_USAGE', /exactly one/);
  refused(() => importSigstoreBundle(b, trust, { certificateIdentityRegexp: '(', certificateOidcIssuer: BUILDER.issuer }), 'RV_STATEMENT_USAGE', /does not compile/);
});

test('bad trusted roots are refused by the trusted-root check', () => {
  const bad = (doc: unknown) => refused(() => parseTrustedRoot(typeof doc === 'string' ? Buffer.from(doc) : bytes(doc)), 'RV_STATEMENT_TRUSTED_ROOT', /trusted-root check failed/);
  bad('{');
  bad([]);
  bad({ ...d.trustedRoot, mediaType: 'application/json' });
  bad({ ...d.trustedRoot, certificateAuthorities: [] });
  bad({ ...d.trustedRoot, tlogs: [] });
  bad({ ...d.trustedRoot, tlogs: [{ baseUrl: 'x' }] });
  bad({ ...d.trustedRoot, certificateAuthorities: [{ uri: 'x' }] });
  bad({ ...d.trustedRoot, certificateAuthorities: [{ certChain: { certificates: [{ rawBytes: 'AAAA' }] } }] });
  refused(() => parseTrustedRoot(Buffer.alloc(2 * 1024 * 1024, 0x20)), 'RV_STATEMENT_TRUSTED_ROOT', /larger than/);
});

test('malformed bundles are refused by the bundle check: truncated, wrong types, message signatures, keys', async () => {
  const good = await makeBundle(d, { statement, who: BUILDER });
  const text = JSON.stringify(good);
  for (const cut of [0, 1, 10, text.length >> 1, text.length - 1]) {
    refused(() => importSigstoreBundle(Buffer.from(text.slice(0, cut)), trust, POLICY), 'RV_STATEMENT_BUNDLE', /bundle check failed/);
  }
  refused(() => importSigstoreBundle(bytes({ ...good, mediaType: 'application/json' }), trust, POLICY), 'RV_STATEMENT_BUNDLE', /mediaType/);
  refused(() => importSigstoreBundle(bytes({ ...good, dsseEnvelope: 7 }), trust, POLICY), 'RV_STATEMENT_BUNDLE', /bundle check failed/);
  refused(() => importSigstoreBundle(bytes([good]), trust, POLICY), 'RV_STATEMENT_BUNDLE', /not a JSON object/);
  const { dsseEnvelope: _drop, ...rest } = good;
  void _drop;
  refused(() => importSigstoreBundle(bytes({ ...rest, messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: 'AAAA' }, signature: 'AAAA' } }), trust, POLICY), 'RV_STATEMENT_BUNDLE', /message digest/);
  const keyed = { ...good, verificationMaterial: { ...(good.verificationMaterial as object), certificate: undefined, publicKey: { hint: 'k' } } };
  refused(() => importSigstoreBundle(bytes(keyed), trust, POLICY), 'RV_STATEMENT_CERTIFICATE', /--trusted-key/);
  const garbageCert = { ...good, verificationMaterial: { ...(good.verificationMaterial as object), certificate: { rawBytes: 'MIIB' } } };
  refused(() => importSigstoreBundle(bytes(garbageCert), trust, POLICY), 'RV_STATEMENT_BUNDLE', /bundle check failed/);
  refused(() => importSigstoreBundle(Buffer.alloc(5 * 1024 * 1024, 0x20), trust, POLICY), 'RV_STATEMENT_BUNDLE', /larger than/);
  assert.equal(isSigstoreBundle(Buffer.from('{"payloadType":"x"}')), false);
});

test('random bytes and flipped bytes never crash the importer: a CocoError or (unflipped) success', async () => {
  const good = Buffer.from(JSON.stringify(await makeBundle(d, { statement, who: BUILDER })));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (b) => {
      assert.throws(() => importSigstoreBundle(b, trust, POLICY), CocoError);
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
      const b = Buffer.from(good);
      b[at] ^= x;
      try {
        importSigstoreBundle(b, trust, POLICY);
      } catch (e) {
        assert.ok(e instanceof CocoError, `byte ${at}: ${String(e)}`);
      }
    }),
    { numRuns: 300 },
  );
});
