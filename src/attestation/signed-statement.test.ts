import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { COCOKIT_PREDICATE, CYCLONEDX_PREDICATE, SLSA_PREDICATES, SPDX_PREDICATE, INTOTO_PAYLOAD_TYPE, dssePae, importDsseStatement, keyIdentity, trustedKey } from './signed-statement.js';

const gen = promisify(generateKeyPair);
type Pair = { publicKey: KeyObject; privateKey: KeyObject };
const keys: Record<string, Pair> = {
  p256: (await gen('ec', { namedCurve: 'P-256' })) as Pair,
  p384: (await gen('ec', { namedCurve: 'P-384' })) as Pair,
  ed25519: (await gen('ed25519')) as Pair,
  rsa: (await gen('rsa', { modulusLength: 2048 })) as Pair,
};
const pem = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }).toString();

function envelope(statement: unknown, k: Pair, alg: string, payloadType = INTOTO_PAYLOAD_TYPE): Uint8Array {
  const payload = Buffer.from(JSON.stringify(statement));
  const hash = alg === 'ed25519' ? null : alg === 'p384' ? 'sha384' : 'sha256';
  const sig = sign(hash, dssePae(payloadType, payload), k.privateKey);
  return Buffer.from(JSON.stringify({ payloadType, payload: payload.toString('base64'), signatures: [{ keyid: '', sig: sig.toString('base64') }] }));
}

const MEASUREMENT = 'ab'.repeat(48);
const statement = (predicateType: string, predicate: unknown) => ({
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'guest.img', digest: { sha256: 'cd'.repeat(32) } }],
  predicateType,
  predicate,
});
const cocokit = statement(COCOKIT_PREDICATE, { reference_values: { snp_launch_measurement: [MEASUREMENT], tpm_pcr11: 'ef'.repeat(32) } });

test('PAE is the DSSE v1 encoding (the specification example)', () => {
  assert.equal(dssePae('http://example.com/HelloWorld', Buffer.from('hello world')).toString(), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
});

test('a cocokit statement signed with each key type verifies and yields its values, signer and digest', () => {
  for (const [alg, k] of Object.entries(keys)) {
    const env = envelope(cocokit, k, alg);
    const got = importDsseStatement(env, [trustedKey(pem(keys.p256.publicKey)), trustedKey(pem(k.publicKey))]);
    assert.deepEqual(got.values, { snp_launch_measurement: [MEASUREMENT], tpm_pcr11: ['ef'.repeat(32)] }, alg);
    assert.equal(got.signer, keyIdentity(k.publicKey), alg);
    assert.match(got.signer, /^key:sha256:[0-9a-f]{64}$/);
    const payload = Buffer.from((JSON.parse(Buffer.from(env).toString()) as { payload: string }).payload, 'base64');
    assert.equal(got.statementDigest, createHash('sha256').update(payload).digest('hex'));
    assert.deepEqual(got.subjects, [{ name: 'guest.img', digest: { sha256: 'cd'.repeat(32) } }]);
  }
});

test('a CycloneDX SBOM with measurement properties yields values and its component list', () => {
  const bom = statement(CYCLONEDX_PREDICATE, {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    components: [
      { type: 'firmware', name: 'ovmf', version: '2024.02', properties: [{ name: 'cocokit:reference-value:snp_launch_measurement', value: MEASUREMENT }] },
      { type: 'library', name: 'openssl', version: '3.0.13' },
    ],
  });
  const got = importDsseStatement(envelope(bom, keys.ed25519, 'ed25519'), [keys.ed25519.publicKey]);
  assert.deepEqual(got.values, { snp_launch_measurement: [MEASUREMENT] });
  assert.deepEqual(got.components, ['ovmf@2024.02', 'openssl@3.0.13']);
});

test('an SPDX SBOM with measurement annotations and a SLSA provenance with measured subjects yield values', () => {
  const spdx = statement(SPDX_PREDICATE, {
    spdxVersion: 'SPDX-2.3',
    packages: [
      { SPDXID: 'SPDXRef-ovmf', name: 'ovmf', versionInfo: '2024.02', annotations: [{ annotationType: 'OTHER', comment: `cocokit:reference-value:snp_launch_measurement=${MEASUREMENT}` }] },
      { SPDXID: 'SPDXRef-kernel', name: 'linux', versionInfo: '6.8' },
    ],
  });
  const a = importDsseStatement(envelope(spdx, keys.rsa, 'rsa'), [keys.rsa.publicKey]);
  assert.deepEqual(a.values, { snp_launch_measurement: [MEASUREMENT] });
  assert.deepEqual(a.components, ['ovmf@2024.02', 'linux@6.8']);
  const slsa = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [
      { name: 'guest.img', digest: { sha256: 'cd'.repeat(32) } },
      { name: 'cocokit:reference-value:snp_launch_measurement', digest: { sha384: MEASUREMENT } },
    ],
    predicateType: SLSA_PREDICATES[0],
    predicate: { buildDefinition: { buildType: 'https://example.com/build' }, runDetails: { builder: { id: 'https://example.com/builder' } } },
  };
  const b = importDsseStatement(envelope(slsa, keys.p256, 'p256'), [keys.p256.publicKey]);
  assert.deepEqual(b.values, { snp_launch_measurement: [MEASUREMENT] });
  assert.equal(b.subjects.length, 2);
  const noMeasured = { ...slsa, subject: [slsa.subject[0]] };
  assert.throws(() => importDsseStatement(envelope(noMeasured, keys.p256, 'p256'), [keys.p256.publicKey]), (e: unknown) => e instanceof CocoError && e.code === 'RV_STATEMENT_PREDICATE');
  const badSpdx = statement(SPDX_PREDICATE, { packages: [{ name: 'x', annotations: [{ comment: 'cocokit:reference-value:novalue' }] }] });
  assert.throws(() => importDsseStatement(envelope(badSpdx, keys.p256, 'p256'), [keys.p256.publicKey]), (e: unknown) => e instanceof CocoError && e.code === 'RV_STATEMENT_PREDICATE');
});

test('untrusted signer, tampered payload, wrong type and bad predicates are refused with the check named', () => {
  const code = (c: string) => (e: unknown) => e instanceof CocoError && e.code === c && (e.detail as { check: string }).check.length > 0;
  const env = envelope(cocokit, keys.p256, 'p256');
  assert.throws(() => importDsseStatement(env, [keys.p384.publicKey, keys.rsa.publicKey]), (e: unknown) => code('RV_STATEMENT_SIGNATURE')(e) && (e as CocoError).kind === 'crypto' && /signature check failed/.test((e as Error).message));
  // Tampered payload: a different measurement under the original signature.
  const parsed = JSON.parse(Buffer.from(env).toString()) as { payload: string };
  const evil = Buffer.from(Buffer.from(parsed.payload, 'base64').toString().replace(MEASUREMENT, '00'.repeat(48)));
  const tampered = Buffer.from(JSON.stringify({ ...parsed, payload: evil.toString('base64') }));
  assert.throws(() => importDsseStatement(tampered, [keys.p256.publicKey]), code('RV_STATEMENT_SIGNATURE'));
  // The payload type is signed too.
  const retyped = Buffer.from(JSON.stringify({ ...parsed, payloadType: 'application/json' }));
  assert.throws(() => importDsseStatement(retyped, [keys.p256.publicKey]), code('RV_STATEMENT_SIGNATURE'));
  assert.throws(() => importDsseStatement(envelope(cocokit, keys.p256, 'p256', 'application/json'), [keys.p256.publicKey]), code('RV_STATEMENT_STATEMENT'));
  assert.throws(() => importDsseStatement(envelope({ ...cocokit, _type: 'x' }, keys.p256, 'p256'), [keys.p256.publicKey]), code('RV_STATEMENT_STATEMENT'));
  for (const bad of [statement('https://slsa.dev/unknown', {}), statement(COCOKIT_PREDICATE, { reference_values: { a: 'XYZ' } }), statement(COCOKIT_PREDICATE, { reference_values: { a: [] } }), statement(CYCLONEDX_PREDICATE, { components: [{ name: 'x' }] })]) {
    assert.throws(() => importDsseStatement(envelope(bad, keys.p256, 'p256'), [keys.p256.publicKey]), code('RV_STATEMENT_PREDICATE'));
  }
  assert.throws(() => trustedKey('not a key'), code('RV_STATEMENT_KEY'));
});

test('random and truncated envelopes are CocoErrors, never crashes', () => {
  const env = envelope(cocokit, keys.ed25519, 'ed25519');
  for (let n = 0; n < env.length; n += 7) {
    assert.throws(() => importDsseStatement(env.subarray(0, n), [keys.ed25519.publicKey]), (e: unknown) => e instanceof CocoError && e.kind !== 'internal');
  }
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.json().map((j) => Buffer.from(j))), (bytes) => {
      try {
        importDsseStatement(bytes, [keys.ed25519.publicKey]);
        assert.fail('accepted random bytes');
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind !== 'internal', String(e));
      }
    }),
    { numRuns: 200 },
  );
});
