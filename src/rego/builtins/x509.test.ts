import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { toolMissing, vectorPath } from '../../test-support/vectors.js';
import { type Value, RObject, obj, toJs } from '../value.js';
import { call, callNoCrash, conformanceCalls, expectCall, expectError, runConformanceCalls, testContext } from './test-support/harness.js';
import { builtins } from './x509.js';

// Certificates: the swtpm local CA chain in shared/vectors/tpm/ek (fields checked against `openssl x509`).
const root = readFileSync(vectorPath('tpm', 'ek', 'localca-root.pem'), 'utf8');
const issuer = readFileSync(vectorPath('tpm', 'ek', 'localca-issuer.pem'), 'utf8');
const ekDer = readFileSync(vectorPath('tpm', 'ek', 'ek-rsa-cert.der'));
const after = testContext({ now: () => 1_830_000_000n * 1_000_000_000n }); // 2027-12
const before = testContext({ now: () => 1_700_000_000n * 1_000_000_000n }); // 2023-11

function field(c: Value, ...path: string[]): Value | undefined {
  let v: Value | undefined = c;
  for (const p of path) v = (v as RObject).getStr(p);
  return v;
}

test('parse_certificates reads PEM, base64 PEM and base64 DER into Go x509.Certificate fields', () => {
  const [r] = call('crypto.x509.parse_certificates', [root]) as Value[];
  assert.equal(field(r!, 'Subject', 'CommonName'), 'swtpm-localca-rootca');
  assert.equal(field(r!, 'Issuer', 'CommonName'), 'swtpm-localca-rootca');
  assert.equal(field(r!, 'SerialNumber'), BigInt('0x1A064C881094B29B3AA232CA724F0DF7955E5188'));
  assert.equal(field(r!, 'IsCA'), true);
  assert.equal(field(r!, 'BasicConstraintsValid'), true);
  assert.equal(field(r!, 'KeyUsage'), 32); // KeyUsageCertSign
  assert.equal(field(r!, 'NotAfter'), '9999-12-31T23:59:59Z');
  assert.equal(field(r!, 'Version'), 3);
  const both = call('crypto.x509.parse_certificates', [Buffer.from(root + issuer).toString('base64')]) as Value[];
  assert.equal(both.length, 2);
  const [ek] = call('crypto.x509.parse_certificates', [ekDer.toString('base64')]) as Value[];
  assert.equal(field(ek!, 'Issuer', 'CommonName'), 'swtpm-localca');
  assert.equal(field(ek!, 'SerialNumber'), 2);
  assert.equal(field(ek!, 'IsCA'), false);
  assert.equal(field(ek!, 'PublicKeyAlgorithm'), 1);
  expectError('crypto.x509.parse_certificates', ['foobar'], 'illegal base64 data at input byte 4');
});

test('parse_and_verify_certificates checks the chain root → intermediates → leaf at the query time', () => {
  const chain = root + issuer + '-----BEGIN CERTIFICATE-----\n' + ekDer.toString('base64').replace(/(.{64})/g, '$1\n') + '\n-----END CERTIFICATE-----\n';
  const ok = call('crypto.x509.parse_and_verify_certificates', [chain], after) as Value[];
  assert.equal(ok[0], true);
  assert.equal((ok[1] as Value[]).length, 3);
  expectCall('crypto.x509.parse_and_verify_certificates', [chain], [false, []], before);
  expectCall('crypto.x509.parse_and_verify_certificates', [issuer + root], [false, []], after);
  const [rootJson, issuerJson] = call('crypto.x509.parse_certificates', [root + issuer]) as Value[];
  expectCall('crypto.x509.parse_and_verify_certificates_with_options', [root + issuer, obj({ CurrentTime: 1.83e18 })], [true, [issuerJson!, rootJson!]]);
  expectError('crypto.x509.parse_and_verify_certificates_with_options', [root, obj({ Bogus: 1 })], 'invalid key option: Bogus');
});

// OPA returns the chain Go's x509 Verify built: leaf first, up to the trust anchor, intermediates given in any
// order and those the chain does not need left out (topdown/crypto.go verifyX509CertificateChain).
test('parse_and_verify_certificates returns the verified chain leaf first, without unused intermediates', () => {
  const ekPem = '-----BEGIN CERTIFICATE-----\n' + ekDer.toString('base64').replace(/(.{64})/g, '$1\n') + '\n-----END CERTIFICATE-----\n';
  const cn = (r: Value): string[] => ((r as Value[])[1] as Value[]).map((c) => field(c, 'Subject', 'CommonName') as string);
  const ok = call('crypto.x509.parse_and_verify_certificates', [root + issuer + ekPem], after) as Value[];
  assert.equal(ok[0], true);
  assert.deepEqual(cn(ok), [field((call('crypto.x509.parse_certificates', [ekPem]) as Value[])[0]!, 'Subject', 'CommonName'), 'swtpm-localca', 'swtpm-localca-rootca']);
  // AMD's ARK and ASK as extra, unrelated intermediates: still verified, and not part of the chain.
  const amd = readFileSync(vectorPath('trustee', 'amd-roots', 'milan_ask_ark_asvk.pem'), 'utf8');
  const withExtra = call('crypto.x509.parse_and_verify_certificates', [root + amd + issuer + ekPem], after) as Value[];
  assert.equal(withExtra[0], true);
  assert.equal(cn(withExtra).length, 3);
  // Without the issuing intermediate there is no chain.
  assert.deepEqual(call('crypto.x509.parse_and_verify_certificates', [root + amd + ekPem], after), [false, []]);
});

test('certificate request, keypair and private-key conformance cases', () => {
  let n = 0;
  for (const cat of ['cryptox509parsecertificaterequest', 'cryptox509parsekeypair', 'cryptoparsersaprivatekeys']) n += runConformanceCalls(conformanceCalls(cat));
  assert.ok(n >= 0);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
  const jwk = call('crypto.x509.parse_rsa_private_key', [pem]) as RObject;
  assert.equal(jwk.getStr('kty'), 'RSA');
  assert.equal((call('crypto.parse_private_keys', [pem + pem]) as Value[]).length, 2);
  expectCall('crypto.parse_private_keys', ['nope'], []);
  expectCall('crypto.parse_private_keys', [''], null);
});

test("private-key and keypair parsing fail as OPA's crypto.go does", () => {
  const name = 'crypto.x509.parse_rsa_private_key';
  expectError(name, [''], `${name}: input PEM data was empty`, 'eval_builtin_error');
  expectError(name, ['bad'], `${name}: illegal base64 data at input byte 0`, 'eval_builtin_error');
  expectError(name, ['notpem'], `${name}: illegal base64 data at input byte 4`, 'eval_builtin_error');
  expectCall(name, ['aGVsbG8='], null); // base64 of text without a private-key block: no key, null
  expectCall(name, ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'], null);
  // Base64 of a PEM private key is decoded first (a PKCS #8 block here).
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  assert.equal((call(name, [Buffer.from(rsa).toString('base64')]) as RObject).getStr('kty'), 'RSA');
  const kp = 'crypto.x509.parse_keypair';
  expectError(kp, ['a', 'b'], `${kp}: illegal base64 data at input byte 0`, 'eval_builtin_error');
  expectError(kp, ['aGVsbG8=', 1], `${kp}: operand 1 must be string but got number`, 'eval_type_error');
  expectError(kp, ['aGVsbG8=', 'aGVsbG8='], `${kp}: tls: failed to parse private key`, 'eval_builtin_error');
  expectError('crypto.x509.parse_certificates', ['notpem'], 'crypto.x509.parse_certificates: illegal base64 data at input byte 4', 'eval_builtin_error');
});

test('x509 builtins never fail with anything but a BuiltinError', () => {
  const b64ish = fc.string({ unit: fc.constantFrom('M', 'I', 'A', 'B', 'g', '0', '+', '/', '=', '-'), maxLength: 40 });
  fc.assert(
    fc.property(fc.constantFrom(...builtins), fc.oneof(b64ish, fc.constant(root.slice(0, 200)), fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from([0x30, b.length, ...b]).toString('base64'))), (def, s) => {
      callNoCrash(def.name, [s, def.arity === 2 ? (def.name.endsWith('options') ? obj({}) : s) : s].slice(0, def.arity));
    }),
    { numRuns: 1500 },
  );
});

// URI subject alternative names are *url.URL values in Go's x509.Certificate; OPA returns their JSON form.
// The certificate is made by openssl (the oracle for what the extension holds), the fields are net/url's.
test('parse_certificates returns URI SANs as Go url.URL objects', { skip: toolMissing('openssl') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-x509-'));
  try {
    const san = 'subjectAltName=URI:spiffe://example.org/ns/default/sa/web,URI:https://user@h.example:8443/p%20q?x=1\\#fr%41g,URI:urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66,DNS:a.example';
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=uri-san', '-addext', san, '-days', '1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [cert] = call('crypto.x509.parse_certificates', [readFileSync(join(dir, 'c.pem'), 'utf8')]) as Value[];
    const url = (fields: Record<string, unknown>) => ({ Scheme: '', Opaque: '', User: null, Host: '', Path: '', RawPath: '', OmitHost: false, ForceQuery: false, RawQuery: '', Fragment: '', RawFragment: '', ...fields });
    assert.deepEqual(toJs(field(cert!, 'URIs')!), [
      url({ Scheme: 'spiffe', Host: 'example.org', Path: '/ns/default/sa/web' }),
      url({ Scheme: 'https', User: {}, Host: 'h.example:8443', Path: '/p q', RawQuery: 'x=1', Fragment: 'frAg', RawFragment: 'fr%41g' }),
      url({ Scheme: 'urn', Opaque: 'uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66' }),
    ]);
    assert.deepEqual(toJs(field(cert!, 'DNSNames')!), ['a.example']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Malformed DER gets the text of the stage of Go's crypto/x509 parseCertificate that fails (cryptobyte reads,
// stage by stage), as OPA passes it on from x509.ParseCertificates.
test('parse_certificates: malformed DER fails with Go x509 parser texts, stage by stage', () => {
  const name = 'crypto.x509.parse_certificates';
  const der = Buffer.from(ekDer);
  const b64 = (b: Buffer) => b.toString('base64');
  // Offsets in the EK certificate: outer SEQUENCE header, then the TBS SEQUENCE header.
  assert.equal(der[0], 0x30);
  const outerHdr = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  const tbsAt = outerHdr;
  assert.equal(der[tbsAt], 0x30);
  const tbsHdr = der[tbsAt + 1]! & 0x80 ? 2 + (der[tbsAt + 1]! & 0x7f) : 2;
  const inTbs = tbsAt + tbsHdr;
  const patch = (at: number, v: number) => {
    const b = Buffer.from(der);
    b[at] = v;
    return b;
  };
  // Version [0] { INTEGER 2 } comes first in the TBS, then the serial INTEGER.
  assert.equal(der[inTbs], 0xa0);
  const serialAt = inTbs + 2 + der[inTbs + 1]!;
  assert.equal(der[serialAt], 0x02);
  const cases: Array<[string, Buffer]> = [
    ['x509: malformed certificate', der.subarray(0, der.length - 1)],
    ['x509: malformed certificate', der.subarray(0, 1)],
    ['x509: malformed certificate', patch(0, 0x31)],
    ['x509: malformed certificate', Buffer.concat([der, Buffer.from([0x00])])],
    ['x509: malformed certificate', Buffer.concat([der, der.subarray(0, 10)])],
    ['x509: malformed tbs certificate', patch(tbsAt, 0x31)],
    ['x509: malformed version', patch(inTbs + 2, 0x04)],
    ['x509: invalid version', patch(inTbs + 4, 0x05)],
    ['x509: malformed serial number', patch(serialAt, 0x04)],
    ['x509: negative serial number', patch(serialAt + 2, 0x82)],
  ];
  for (const [text, bytes] of cases) expectError(name, [b64(bytes)], `${name}: ${text}`, 'eval_builtin_error');
  // A certificate followed by another parses as two; the same bytes as PEM blocks are joined the same way.
  assert.equal((call(name, [b64(Buffer.concat([der, der]))]) as Value[]).length, 2);
  const pem = (b: Buffer) => `-----BEGIN CERTIFICATE-----\n${b64(b).replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
  expectError(name, [pem(Buffer.concat([der, Buffer.from([0x05, 0x00])]))], `${name}: x509: malformed certificate`);
  expectError(name, [pem(patch(tbsAt, 0x31))], `${name}: x509: malformed tbs certificate`);
});
