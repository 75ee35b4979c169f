import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { type KeyObject, X509Certificate, sign as cryptoSign } from 'node:crypto';
import { generateEcKey, generateEcKeyPair } from '../../formats/jwk.js';
import fc from 'fast-check';
import { toolMissing, vectorPath } from '../../test-support/vectors.js';
import { type Value, RObject, fromJson, obj, toJs, toJsonText } from '../value.js';
import { call, callNoCrash, conformanceCalls, expectCall, expectError, runConformanceCalls, s, testContext } from './test-support/harness.js';
import { builtins } from './x509.js';
import { safeKeyPair } from '../../formats/keygen.js';
import {
  bitString as x509BitString,
  boolean as x509Boolean,
  der as x509Der,
  explicit as x509Explicit,
  extension as x509Extension,
  integer as x509Integer,
  name as x509Name,
  oid as x509Oid,
  seq as x509Seq,
  time as x509Time,
} from '../../formats/x509-build.js';

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

// A chain built here, P-256 throughout: root → intermediate → leaf, valid 2024 to 2034.
interface TestCa {
  name: Uint8Array;
  key: { privateKey: KeyObject; publicKey: KeyObject };
  pem: string;
}
let testSerial = 100;
function ecCert(subject: string, issuerCa: TestCa | undefined, exts: Uint8Array[], sha1 = false): TestCa {
  const key = generateEcKeyPair('P-256');
  const subjectName = x509Name([['2.5.4.3', subject]]);
  const alg = x509Seq(x509Oid(sha1 ? '1.2.840.10045.4.1' : '1.2.840.10045.4.3.2'));
  const spki = new Uint8Array(key.publicKey.export({ type: 'spki', format: 'der' }));
  const validity = x509Seq(x509Time(new Date('2024-01-01T00:00:00Z')), x509Time(new Date('2034-01-01T00:00:00Z')));
  const tbs = x509Seq(x509Explicit(0, x509Integer(2)), x509Integer(testSerial++), alg, issuerCa?.name ?? subjectName, validity, subjectName, spki, x509Explicit(3, x509Seq(...exts)));
  const der = x509Seq(tbs, alg, x509BitString(new Uint8Array(cryptoSign(sha1 ? 'sha1' : 'sha256', tbs, (issuerCa?.key ?? key).privateKey))));
  return { name: subjectName, key, pem: pemOf('CERTIFICATE', Buffer.from(der)) };
}
const caExts = (pathLen?: number) => [x509Extension('2.5.29.19', true, x509Seq(x509Boolean(true), ...(pathLen === undefined ? [] : [x509Integer(pathLen)])))];
const leafSan = x509Extension('2.5.29.17', false, x509Seq(x509Der(0x82, new Uint8Array(Buffer.from('svc.example')))));

test('parse_and_verify_certificates checks the chain root → intermediates → leaf at the query time', () => {
  const testRoot = ecCert('test root', undefined, caExts());
  const inter = ecCert('test intermediate', testRoot, caExts());
  const chain = testRoot.pem + inter.pem + ecCert('test leaf', inter, [leafSan]).pem;
  const ok = call('crypto.x509.parse_and_verify_certificates', [chain], after) as Value[];
  assert.equal(ok[0], true);
  assert.equal((ok[1] as Value[]).length, 3);
  expectCall('crypto.x509.parse_and_verify_certificates', [chain], [false, []], before);
  // The swtpm EK certificate's critical SAN holds only a directoryName, a name Go does not read: the extension
  // is unhandled and critical, so Go's Verify (and OPA) refuses the chain it ends.
  const ekChain = root + issuer + '-----BEGIN CERTIFICATE-----\n' + ekDer.toString('base64').replace(/(.{64})/g, '$1\n') + '\n-----END CERTIFICATE-----\n';
  expectCall('crypto.x509.parse_and_verify_certificates', [ekChain], [false, []], after);
  expectCall('crypto.x509.parse_and_verify_certificates', [issuer + root], [false, []], after);
  // The _with_options chain holds plain x509.Certificate values: parse_certificates' without URIStrings.
  const plain = (c: Value): Value => {
    const o = new RObject();
    for (const [k, v] of (c as RObject).entries()) if (k !== 'URIStrings') o.set(k, v);
    return o;
  };
  const [rootJson, issuerJson] = (call('crypto.x509.parse_certificates', [root + issuer]) as Value[]).map(plain);
  expectCall('crypto.x509.parse_and_verify_certificates_with_options', [root + issuer, obj({ CurrentTime: 1.83e18 })], [true, [issuerJson!, rootJson!]]);
  expectError('crypto.x509.parse_and_verify_certificates_with_options', [root + issuer, obj({ Bogus: 1 })], 'crypto.x509.parse_and_verify_certificates_with_options: invalid key option');
});

// OPA returns the chain Go's x509 Verify built: leaf first, up to the trust anchor, intermediates given in any
// order and those the chain does not need left out (topdown/crypto.go verifyX509CertificateChain).
test('parse_and_verify_certificates returns the verified chain leaf first, without unused intermediates', () => {
  const testRoot = ecCert('test root', undefined, caExts());
  const inter = ecCert('test intermediate', testRoot, caExts());
  const leafPem = ecCert('test leaf', inter, [leafSan]).pem;
  const cn = (r: Value): string[] => ((r as Value[])[1] as Value[]).map((c) => field(c, 'Subject', 'CommonName') as string);
  const ok = call('crypto.x509.parse_and_verify_certificates', [testRoot.pem + inter.pem + leafPem], after) as Value[];
  assert.equal(ok[0], true);
  assert.deepEqual(cn(ok), ['test leaf', 'test intermediate', 'test root']);
  // AMD's ARK and ASK and the swtpm CAs as extra, unrelated intermediates: still verified, and not part of the chain.
  const amd = readFileSync(vectorPath('trustee', 'amd-roots', 'milan_ask_ark_asvk.pem'), 'utf8');
  const withExtra = call('crypto.x509.parse_and_verify_certificates', [testRoot.pem + amd + inter.pem + issuer + leafPem], after) as Value[];
  assert.equal(withExtra[0], true);
  assert.deepEqual(cn(withExtra), ['test leaf', 'test intermediate', 'test root']);
  // Without the issuing intermediate there is no chain.
  assert.deepEqual(call('crypto.x509.parse_and_verify_certificates', [testRoot.pem + amd + leafPem], after), [false, []]);
});

// Go's processExtensions: which extensions it reads, what it records of them, and which critical ones it leaves
// unhandled (so that Verify refuses the certificate).
test('parse_certificates: unhandled critical extensions, name constraints and policy fields as Go records them', () => {
  const name = 'crypto.x509.parse_certificates';
  const parse = (...extensions: Buffer[]) => (call(name, [buildCert({ extensions }).toString('base64')]) as Value[])[0]!;
  const get = (c: Value, k: string) => toJs(field(c, k)!);
  // The EK certificate: a critical SAN holding only a directoryName.
  assert.deepEqual(get((call(name, [ekDer.toString('base64')]) as Value[])[0]!, 'UnhandledCriticalExtensions'), [[2, 5, 29, 17]]);
  // An unknown extension counts only when critical; extensions Go reads never do.
  const unknown = hex('2a0304');
  assert.deepEqual(get(parse(ext(unknown, tlv(0x05), true), ext(hex('551d09'), tlv(0x30), true)), 'UnhandledCriticalExtensions'), [[1, 2, 3, 4], [2, 5, 29, 9]]);
  assert.equal(field(parse(ext(unknown, tlv(0x05), false)), 'UnhandledCriticalExtensions'), null);
  const pc = hex('551d24');
  const pm = hex('551d21');
  const iap = hex('551d36');
  const c = parse(
    ext(OID.san, tlv(0x30, tlv(0x82, 'a.example'), tlv(0x87, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])), true),
    ext(
      OID.nameConstraints,
      tlv(0x30, tlv(0xa0, tlv(0x30, tlv(0x82, '.example')), tlv(0x30, tlv(0x87, [10, 0, 0, 0, 255, 0, 0, 0])), tlv(0x30, tlv(0x81, 'ops@example')), tlv(0x30, tlv(0x86, 'svc.example'))), tlv(0xa1, tlv(0x30, tlv(0x82, 'bad.example')))),
      true,
    ),
    ext(OID.policies, tlv(0x30, tlv(0x30, tlv(0x06, hex('2a0305'))))),
    ext(pc, tlv(0x30, tlv(0x80, [0]), tlv(0x81, [2])), true),
    ext(pm, tlv(0x30, tlv(0x30, tlv(0x06, hex('2a0305')), tlv(0x06, hex('2a0306'))))),
    ext(iap, tlv(0x02, [3])),
  );
  assert.equal(field(c, 'UnhandledCriticalExtensions'), null);
  assert.deepEqual(get(c, 'IPAddresses'), ['2001:db8::1']);
  assert.equal(field(c, 'PermittedDNSDomainsCritical'), true);
  assert.deepEqual(get(c, 'PermittedDNSDomains'), ['.example']);
  assert.deepEqual(get(c, 'PermittedIPRanges'), [{ IP: '10.0.0.0', Mask: '/wAAAA==' }]);
  assert.deepEqual(get(c, 'PermittedEmailAddresses'), ['ops@example']);
  assert.deepEqual(get(c, 'PermittedURIDomains'), ['svc.example']);
  assert.deepEqual(get(c, 'ExcludedDNSDomains'), ['bad.example']);
  assert.equal(field(c, 'ExcludedIPRanges'), null);
  assert.deepEqual(get(c, 'Policies'), ['1.2.3.5']);
  assert.deepEqual(get(c, 'PolicyIdentifiers'), [[1, 2, 3, 5]]);
  assert.deepEqual(get(c, 'PolicyMappings'), [{ IssuerDomainPolicy: '1.2.3.5', SubjectDomainPolicy: '1.2.3.6' }]);
  assert.deepEqual(
    ['RequireExplicitPolicy', 'RequireExplicitPolicyZero', 'InhibitPolicyMapping', 'InhibitPolicyMappingZero', 'InhibitAnyPolicy', 'InhibitAnyPolicyZero'].map((k) => get(c, k)),
    [0, true, 2, false, 3, false],
  );
  // A certificate without those extensions: Go's zero values.
  const plain = parse();
  assert.deepEqual(
    ['PermittedDNSDomainsCritical', 'PermittedDNSDomains', 'Policies', 'PolicyIdentifiers', 'PolicyMappings', 'InhibitAnyPolicy', 'InhibitAnyPolicyZero'].map((k) => get(plain, k)),
    [false, null, null, null, null, 0, false],
  );
  // Critical name constraints with a form Go does not read (a directoryName) are unhandled; a critical SAN with
  // no name Go reads likewise.
  assert.deepEqual(get(parse(ext(OID.nameConstraints, tlv(0x30, tlv(0xa0, tlv(0x30, tlv(0xa4, tlv(0x30))))), true)), 'UnhandledCriticalExtensions'), [[2, 5, 29, 30]]);
  assert.deepEqual(get(parse(ext(OID.san, tlv(0x30, tlv(0xa4, tlv(0x30))), true)), 'UnhandledCriticalExtensions'), [[2, 5, 29, 17]]);
  assert.equal(field(parse(ext(OID.san, tlv(0x30, tlv(0xa4, tlv(0x30))), false)), 'UnhandledCriticalExtensions'), null);
  // The checks Go makes of constraint values and of the inhibit-any-policy integer.
  const nc = (...subtrees: Buffer[]) => buildCert({ extensions: [ext(OID.nameConstraints, tlv(0x30, tlv(0xa0, ...subtrees.map((t) => tlv(0x30, t)))))] }).toString('base64');
  assert.equal(errorOf(name, [nc(tlv(0x86, '10.1.2.3'))]), `${name}: x509: failed to parse URI constraint "10.1.2.3": cannot be IP address`);
  const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0, ...Array(12).fill(0xff), 0, 0, 0, 0];
  assert.equal(errorOf(name, [nc(tlv(0x87, mapped))]), `${name}: x509: IP constraint contained IPv4-mapped IPv6 address`);
  for (const bad of ['a..b@example', '.a@example', 'a@example.', 'a@b..c', '"unterminated@example', 'a b@example']) {
    assert.equal(errorOf(name, [nc(tlv(0x81, bad))]), `${name}: x509: failed to parse rfc822Name constraint ${JSON.stringify(bad)}`, bad);
  }
  // Go accepts an empty domain after the @.
  for (const good of ['"a b"@example', 'a\\@b@example', 'first.last@example', 'example', 'a@']) {
    assert.deepEqual(get((call(name, [nc(tlv(0x81, good))]) as Value[])[0]!, 'PermittedEmailAddresses'), [good], good);
  }
  assert.equal(errorOf(name, [buildCert({ extensions: [ext(iap, tlv(0x02, [0x01, 0, 0, 0, 0, 0, 0, 0, 0]))] }).toString('base64')]), `${name}: x509: invalid inhibit any policy extension`);
});

test('parse_and_verify_certificates refuses unhandled critical extensions and broken path length constraints', () => {
  const verify = (...pems: string[]) => (call('crypto.x509.parse_and_verify_certificates', [pems.join('')], after) as Value[])[0];
  const critical = x509Extension('1.2.3.4', true, x509Seq());
  const testRoot = ecCert('root', undefined, caExts());
  const inter = ecCert('intermediate', testRoot, caExts());
  assert.equal(verify(testRoot.pem, inter.pem, ecCert('leaf', inter, [leafSan]).pem), true);
  // On the leaf, on an intermediate or on the root alike.
  assert.equal(verify(testRoot.pem, inter.pem, ecCert('leaf', inter, [leafSan, critical]).pem), false);
  const badInter = ecCert('intermediate', testRoot, [...caExts(), critical]);
  assert.equal(verify(testRoot.pem, badInter.pem, ecCert('leaf', badInter, [leafSan]).pem), false);
  const badRoot = ecCert('root', undefined, [...caExts(), critical]);
  assert.equal(verify(badRoot.pem, ecCert('leaf', badRoot, [leafSan]).pem), false);
  // The same extension not critical is fine.
  const quiet = x509Extension('1.2.3.4', false, x509Seq());
  assert.equal(verify(testRoot.pem, inter.pem, ecCert('leaf', inter, [leafSan, quiet]).pem), true);
  // Path length: a root allowing no intermediates refuses one; an intermediate allowing none may issue the leaf.
  const strictRoot = ecCert('root', undefined, caExts(0));
  const under = ecCert('intermediate', strictRoot, caExts(0));
  assert.equal(verify(strictRoot.pem, ecCert('leaf', strictRoot, [leafSan]).pem), true);
  assert.equal(verify(strictRoot.pem, under.pem, ecCert('leaf', under, [leafSan]).pem), false);
  const oneRoot = ecCert('root', undefined, caExts(1));
  const zeroInter = ecCert('intermediate', oneRoot, caExts(0));
  assert.equal(verify(oneRoot.pem, zeroInter.pem, ecCert('leaf', zeroInter, [leafSan]).pem), true);
  const twoDown = ecCert('intermediate 2', zeroInter, caExts());
  assert.equal(verify(oneRoot.pem, zeroInter.pem, twoDown.pem, ecCert('leaf', twoDown, [leafSan]).pem), false);
});

test('parse_and_verify_certificates: extended key usages of the whole chain, ServerAuth when none are asked for', () => {
  const eku = (...oids: string[]) => x509Extension('2.5.29.37', false, x509Seq(...oids.map((o) => x509Oid(o))));
  const [serverAuth, clientAuth, codeSigning, anyUsage] = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.3', '2.5.29.37.0'];
  const withOpts = (pems: string[], usages?: string[]) =>
    (call('crypto.x509.parse_and_verify_certificates_with_options', [pems.join(''), fromJson({ CurrentTime: 1.83e18, ...(usages ? { KeyUsages: usages } : {}) })]) as Value[])[0];
  const plain = (pems: string[]) => (call('crypto.x509.parse_and_verify_certificates', [pems.join('')], after) as Value[])[0];
  const testRoot = ecCert('root', undefined, caExts());
  const inter = ecCert('intermediate', testRoot, caExts());
  const clientLeaf = ecCert('leaf', inter, [leafSan, eku(clientAuth)]).pem;
  assert.equal(plain([testRoot.pem, inter.pem, clientLeaf]), false);
  assert.equal(withOpts([testRoot.pem, inter.pem, clientLeaf]), false);
  assert.equal(withOpts([testRoot.pem, inter.pem, clientLeaf], ['KeyUsageClientAuth']), true);
  assert.equal(withOpts([testRoot.pem, inter.pem, clientLeaf], ['KeyUsageServerAuth', 'KeyUsageClientAuth']), true);
  assert.equal(withOpts([testRoot.pem, inter.pem, clientLeaf], ['KeyUsageAny']), true);
  // Each certificate naming usages must name one asked for, or any usage: an intermediate for code signing only
  // cannot issue a server leaf; with two usages asked for, the intermediate and the leaf may each name one.
  const codeInter = ecCert('intermediate', testRoot, [...caExts(), eku(codeSigning)]);
  assert.equal(plain([testRoot.pem, codeInter.pem, ecCert('leaf', codeInter, [leafSan, eku(serverAuth)]).pem]), false);
  const anyInter = ecCert('intermediate', testRoot, [...caExts(), eku(anyUsage)]);
  assert.equal(plain([testRoot.pem, anyInter.pem, ecCert('leaf', anyInter, [leafSan, eku(serverAuth)]).pem]), true);
  const serverInter = ecCert('intermediate', testRoot, [...caExts(), eku(serverAuth)]);
  const clientUnderServer = ecCert('leaf', serverInter, [leafSan, eku(clientAuth)]).pem;
  assert.equal(withOpts([testRoot.pem, serverInter.pem, clientUnderServer], ['KeyUsageServerAuth', 'KeyUsageClientAuth']), true);
  assert.equal(withOpts([testRoot.pem, serverInter.pem, clientUnderServer], ['KeyUsageClientAuth']), false);
  // An unknown usage alone counts as naming usages, none of them requested.
  assert.equal(plain([testRoot.pem, inter.pem, ecCert('leaf', inter, [leafSan, eku('1.2.3.4')]).pem]), false);
});

test('certificate request, keypair and private-key conformance cases', () => {
  let n = 0;
  for (const cat of ['cryptox509parsecertificaterequest', 'cryptox509parsekeypair', 'cryptoparsersaprivatekeys']) n += runConformanceCalls(conformanceCalls(cat));
  assert.ok(n >= 0);
  const rsa = safeKeyPair('rsa', { modulusLength: 2048 });
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
  const rsa = safeKeyPair('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  assert.equal((call(name, [Buffer.from(rsa).toString('base64')]) as RObject).getStr('kty'), 'RSA');
  const kp = 'crypto.x509.parse_keypair';
  expectError(kp, ['a', 'b'], `${kp}: illegal base64 data at input byte 0`, 'eval_builtin_error');
  expectError(kp, ['aGVsbG8=', 1], `${kp}: operand 1 must be string but got number`, 'eval_type_error');
  // tls.X509KeyPair parses the certificate before the key: "hello" is no certificate.
  expectError(kp, ['aGVsbG8=', 'aGVsbG8='], `${kp}: x509: malformed certificate`, 'eval_builtin_error');
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

test('certificates with random extensions parse, or fail with a Go x509 text, in parsing and in verifying', () => {
  const ids = ['551d0f', '551d13', '551d11', '551d1e', '551d1f', '551d20', '551d21', '551d23', '551d24', '551d25', '551d0e', '551d36', '551d09', '2b06010505070101', '2a0304'].map(hex);
  const element = fc.oneof(
    fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)),
    fc.tuple(fc.constantFrom(0x30, 0x31, 0x04, 0x02, 0x06, 0x80, 0x81, 0x82, 0x86, 0x87, 0xa0, 0xa1, 0xa4), fc.uint8Array({ maxLength: 10 })).map(([t, b]) => tlv(t, Buffer.from(b))),
  );
  const value = fc.array(element, { maxLength: 3 }).map((parts) => tlv(0x30, ...parts));
  const extension = fc.tuple(fc.constantFrom(...ids), value, fc.constantFrom(undefined, true, false)).map(([id, v, critical]) => ext(id, v, critical));
  const name = 'crypto.x509.parse_certificates';
  fc.assert(
    fc.property(fc.uniqueArray(extension, { maxLength: 4, selector: (e) => e.subarray(0, 8).toString('hex') }), (extensions) => {
      const der = buildCert({ extensions }).toString('base64');
      for (const n of [name, 'crypto.x509.parse_and_verify_certificates']) {
        try {
          call(n, [n === name ? der : `${root}${pemOf('CERTIFICATE', Buffer.from(der, 'base64'))}`], after);
        } catch (e) {
          assert.match((e as Error).message, /^crypto\.x509\.parse_certificates: (x509|asn1): /, (e as Error).message);
        }
      }
    }),
    { numRuns: 400 },
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
    // OPA adds URIStrings, each URI as url.URL.String() writes it (these forms come back as written).
    assert.deepEqual(toJs(field(cert!, 'URIStrings')!), ['spiffe://example.org/ns/default/sa/web', 'https://user@h.example:8443/p%20q?x=1#fr%41g', 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66']);
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
    ['x509: invalid version', patch(inTbs + 4, 0x03)],
    ['x509: malformed version', patch(inTbs + 4, 0x05)],
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

// --- certificates built field by field, one stage of Go's parser broken at a time --------------------------------

/** DER TLV with a definite length (short or long form). */
function tlv(tag: number, ...parts: Array<Buffer | string | number[]>): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
  const n = body.length;
  const len = n < 128 ? [n] : n < 256 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}
const hex = (h: string) => Buffer.from(h, 'hex');
const OID = {
  sha256Rsa: hex('2a864886f70d01010b'),
  rsa: hex('2a864886f70d010101'),
  ecdsa: hex('2a8648ce3d0201'),
  p256: hex('2a8648ce3d030107'),
  ed25519: hex('2b6570'),
  cn: hex('550403'),
  keyUsage: hex('551d0f'),
  basicConstraints: hex('551d13'),
  san: hex('551d11'),
  ski: hex('551d0e'),
  aki: hex('551d23'),
  eku: hex('551d25'),
  policies: hex('551d20'),
  nameConstraints: hex('551d1e'),
  crlDp: hex('551d1f'),
  aia: hex('2b06010505070101'),
};
const nameOf = (cn: Buffer) => tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, OID.cn), cn)));
const ext = (id: Buffer, value: Buffer, critical?: boolean) => tlv(0x30, tlv(0x06, id), critical === undefined ? [] : tlv(0x01, [critical ? 0xff : 0]), tlv(0x04, value));
// The EK certificate's RSA key: a real SubjectPublicKeyInfo for the certificates built here.
const rsaSpki = Buffer.from(new X509Certificate(ekDer).publicKey.export({ type: 'spki', format: 'der' }));

interface CertParts {
  version: Buffer;
  serial: Buffer;
  alg: Buffer;
  issuer: Buffer;
  validity: Buffer;
  subject: Buffer;
  spki: Buffer;
  afterSpki: Buffer;
  extensions: Buffer[] | Buffer;
  signature: Buffer;
}
function buildCert(over: Partial<CertParts> = {}): Buffer {
  const p: CertParts = {
    version: tlv(0xa0, tlv(0x02, [2])),
    serial: tlv(0x02, [0x01, 0x23]),
    alg: tlv(0x30, tlv(0x06, OID.sha256Rsa), tlv(0x05)),
    issuer: nameOf(tlv(0x0c, 'issuer')),
    validity: tlv(0x30, tlv(0x17, '240101000000Z'), tlv(0x18, '20340101000000Z')),
    subject: nameOf(tlv(0x13, 'subject')),
    spki: rsaSpki,
    afterSpki: Buffer.alloc(0),
    extensions: [ext(OID.keyUsage, tlv(0x03, [0x05, 0xa0]), true), ext(OID.basicConstraints, tlv(0x30))],
    signature: tlv(0x03, [0x00, 1, 2, 3, 4]),
    ...over,
  };
  const exts = Array.isArray(p.extensions) ? (p.extensions.length ? tlv(0xa3, tlv(0x30, ...p.extensions)) : Buffer.alloc(0)) : p.extensions;
  const tbs = tlv(0x30, p.version, p.serial, p.alg, p.issuer, p.validity, p.subject, p.spki, p.afterSpki, exts);
  return tlv(0x30, tbs, p.alg, p.signature);
}
const rsaKey = (bits: Buffer, params: Buffer[] = [tlv(0x05)]) => tlv(0x30, tlv(0x30, tlv(0x06, OID.rsa), ...params), tlv(0x03, [0], bits));

/** The exact error a call gives (`eval_builtin_error`, the builtin's name as prefix). */
function errorOf(name: string, args: Value[]): string {
  try {
    call(name, args);
  } catch (e) {
    assert.equal((e as { code?: string }).code, 'eval_builtin_error', String(e));
    return (e as Error).message;
  }
  return '<no error>';
}

test('parse_certificates: a certificate built field by field parses, with the times Go reads', () => {
  const name = 'crypto.x509.parse_certificates';
  const [c] = call(name, [buildCert().toString('base64')]) as Value[];
  assert.equal(field(c!, 'Subject', 'CommonName'), 'subject');
  assert.equal(field(c!, 'Issuer', 'CommonName'), 'issuer');
  assert.equal(field(c!, 'NotBefore'), '2024-01-01T00:00:00Z');
  assert.equal(field(c!, 'NotAfter'), '2034-01-01T00:00:00Z');
  assert.equal(field(c!, 'KeyUsage'), 5); // digitalSignature | keyEncipherment
  assert.equal(field(c!, 'SerialNumber'), 0x123);
  // UTCTime without seconds is accepted (Go's fallback layout); a GeneralizedTime keeps its fraction.
  const [m] = call(name, [buildCert({ validity: tlv(0x30, tlv(0x17, '2401010930Z'), tlv(0x18, '20340101000000.5Z')) }).toString('base64')]) as Value[];
  assert.equal(field(m!, 'NotBefore'), '2024-01-01T09:30:00Z');
  assert.equal(field(m!, 'NotAfter'), '2034-01-01T00:00:00.5Z');
  // Go ignores what follows the first element of an extension's value.
  const trailing = buildCert({ extensions: [ext(OID.basicConstraints, Buffer.concat([tlv(0x30, tlv(0x01, [0xff])), hex('0500')]))] });
  assert.equal(field((call(name, [trailing.toString('base64')]) as Value[])[0]!, 'IsCA'), true);
});

test('parse_certificates: names, validity, key, unique IDs, extensions and signature fail with Go x509 texts', () => {
  const name = 'crypto.x509.parse_certificates';
  const cn = (v: Buffer) => nameOf(v);
  const cases: Array<[string, Partial<CertParts>]> = [
    // issuer and subject (x509 parseName)
    ['x509: malformed issuer', { issuer: tlv(0x31) }],
    ['x509: invalid RDNSequence', { issuer: tlv(0x30, tlv(0x30)) }],
    ['x509: invalid RDNSequence: invalid attribute', { issuer: tlv(0x30, tlv(0x31, tlv(0x31))) }],
    ['x509: invalid RDNSequence: invalid attribute type', { issuer: tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x04, 'x'), tlv(0x0c, 'x')))) }],
    ['x509: invalid RDNSequence: invalid attribute value: invalid ASN.1 element', { issuer: tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, OID.cn)))) }],
    ['x509: invalid RDNSequence: invalid attribute value: invalid PrintableString', { subject: cn(tlv(0x13, 'a@b')) }],
    ['x509: invalid RDNSequence: invalid attribute value: invalid UTF-8 string', { subject: cn(tlv(0x0c, [0xc3, 0x28])) }],
    ['x509: invalid RDNSequence: invalid attribute value: invalid IA5String', { subject: cn(tlv(0x16, [0xe9])) }],
    ['x509: invalid RDNSequence: invalid attribute value: invalid BMPString', { subject: cn(tlv(0x1e, [0x00, 0x41, 0x00])) }],
    ['x509: invalid RDNSequence: invalid attribute value: invalid NumericString', { subject: cn(tlv(0x12, '12a')) }],
    ['x509: invalid RDNSequence: invalid attribute value: invalid ASN.1 integer', { subject: cn(tlv(0x02, [0x00, 0x01])) }],
    ['x509: malformed issuer', { subject: tlv(0x31) }],
    // validity (x509 parseValidity / readASN1Time)
    ['x509: malformed validity', { validity: tlv(0x31) }],
    ['x509: unsupported time format', { validity: tlv(0x30, tlv(0x04, '240101000000Z'), tlv(0x17, '340101000000Z')) }],
    ['x509: unsupported time format', { validity: tlv(0x30, tlv(0x17, '240101000000Z')) }],
    ['x509: malformed UTCTime', { validity: tlv(0x30, tlv(0x17, '241301000000Z'), tlv(0x17, '340101000000Z')) }],
    ['x509: malformed UTCTime', { validity: tlv(0x30, tlv(0x17, '240101000000+0000'), tlv(0x17, '340101000000Z')) }],
    ['x509: malformed UTCTime', { validity: tlv(0x30, tlv(0x17, '240101246000Z'), tlv(0x17, '340101000000Z')) }],
    ['x509: malformed UTCTime', { validity: tlv(0x30, tlv(0x17, '240101000000.5Z'), tlv(0x17, '340101000000Z')) }],
    ['x509: malformed GeneralizedTime', { validity: tlv(0x30, tlv(0x17, '240101000000Z'), tlv(0x18, '20230229000000Z')) }],
    ['x509: malformed GeneralizedTime', { validity: tlv(0x30, tlv(0x17, '240101000000Z'), tlv(0x18, '20340101000000.50Z')) }],
    ['x509: malformed GeneralizedTime', { validity: tlv(0x30, tlv(0x17, '240101000000Z'), tlv(0x18, '340101000000Z')) }],
    // subject public key (x509 parsePublicKey)
    ['x509: malformed spki', { spki: tlv(0x31) }],
    ['x509: malformed public key algorithm identifier', { spki: tlv(0x30, tlv(0x31), tlv(0x03, [0])) }],
    ['x509: malformed OID', { spki: tlv(0x30, tlv(0x30, tlv(0x06, [0x80, 0x01])), tlv(0x03, [0])) }],
    ['x509: malformed subjectPublicKey', { spki: tlv(0x30, tlv(0x30, tlv(0x06, OID.rsa), tlv(0x05)), tlv(0x03, [0x08, 0x00])) }],
    ['x509: RSA key missing NULL parameters', { spki: rsaKey(tlv(0x30, tlv(0x02, [1]), tlv(0x02, [3])), []) }],
    ['x509: invalid RSA public key', { spki: rsaKey(tlv(0x31)) }],
    ['x509: invalid RSA modulus', { spki: rsaKey(tlv(0x30, tlv(0x04, [1]))) }],
    ['x509: invalid RSA public exponent', { spki: rsaKey(tlv(0x30, tlv(0x02, [1]))) }],
    ['x509: RSA modulus is not a positive number', { spki: rsaKey(tlv(0x30, tlv(0x02, [0]), tlv(0x02, [3]))) }],
    ['x509: RSA public exponent is not a positive number', { spki: rsaKey(tlv(0x30, tlv(0x02, [1]), tlv(0x02, [0xff]))) }],
    ['x509: invalid ECDSA parameters', { spki: tlv(0x30, tlv(0x30, tlv(0x06, OID.ecdsa), tlv(0x05)), tlv(0x03, [0, 4])) }],
    ['x509: unsupported elliptic curve', { spki: tlv(0x30, tlv(0x30, tlv(0x06, OID.ecdsa), tlv(0x06, hex('2b8104000a'))), tlv(0x03, [0, 4])) }],
    ['x509: failed to unmarshal elliptic curve point', { spki: tlv(0x30, tlv(0x30, tlv(0x06, OID.ecdsa), tlv(0x06, OID.p256)), tlv(0x03, [0, 4], Buffer.alloc(64))) }],
    ['x509: Ed25519 key encoded with illegal parameters', { spki: tlv(0x30, tlv(0x30, tlv(0x06, OID.ed25519), tlv(0x05)), tlv(0x03, [0], Buffer.alloc(32, 1))) }],
    ['x509: wrong Ed25519 public key size', { spki: tlv(0x30, tlv(0x30, tlv(0x06, OID.ed25519)), tlv(0x03, [0], Buffer.alloc(31, 1))) }],
    // unique IDs and the extensions list (a long-form length below 128 is not DER)
    ['x509: malformed issuerUniqueID', { afterSpki: hex('81810100') }],
    ['x509: malformed subjectUniqueID', { afterSpki: hex('810100' + '82810100') }],
    ['x509: malformed extensions', { extensions: tlv(0xa3, tlv(0x31)) }],
    ['x509: malformed extension', { extensions: [tlv(0x31)] }],
    ['x509: malformed extension OID field', { extensions: [tlv(0x30, tlv(0x04, 'x'), tlv(0x04, 'x'))] }],
    ['x509: malformed extension critical field', { extensions: [tlv(0x30, tlv(0x06, OID.keyUsage), tlv(0x01, [0x01]), tlv(0x04, tlv(0x03, [0])))] }],
    ['x509: malformed extension value field', { extensions: [tlv(0x30, tlv(0x06, OID.keyUsage), tlv(0x03, [0]))] }],
    ['x509: certificate contains duplicate extension with OID "2.5.29.15"', { extensions: [ext(OID.keyUsage, tlv(0x03, [0])), ext(OID.keyUsage, tlv(0x04))] }],
    // each extension Go decodes (x509 processExtensions)
    ['x509: invalid key usage', { extensions: [ext(OID.keyUsage, tlv(0x04, [0]))] }],
    ['x509: invalid basic constraints', { extensions: [ext(OID.basicConstraints, tlv(0x30, tlv(0x01, [0xff]), tlv(0x02, [0xff])))] }],
    ['x509: invalid basic constraints', { extensions: [ext(OID.basicConstraints, tlv(0x31))] }],
    ['x509: invalid subject alternative names', { extensions: [ext(OID.san, tlv(0x31))] }],
    ['x509: invalid subject alternative name', { extensions: [ext(OID.san, tlv(0x30, hex('82810100')))] }],
    ['x509: SAN dNSName is malformed', { extensions: [ext(OID.san, tlv(0x30, tlv(0x82, [0xe9])))] }],
    ['x509: SAN rfc822Name is malformed', { extensions: [ext(OID.san, tlv(0x30, tlv(0x81, [0xe9])))] }],
    ['x509: SAN uniformResourceIdentifier is malformed', { extensions: [ext(OID.san, tlv(0x30, tlv(0x86, [0xe9])))] }],
    ['x509: cannot parse URI "https://a..b/": invalid domain', { extensions: [ext(OID.san, tlv(0x30, tlv(0x86, 'https://a..b/')))] }],
    ['x509: cannot parse IP address of length 5', { extensions: [ext(OID.san, tlv(0x30, tlv(0x87, [1, 2, 3, 4, 5])))] }],
    ['x509: invalid NameConstraints extension', { extensions: [ext(OID.nameConstraints, tlv(0x31))] }],
    ['x509: empty name constraints extension', { extensions: [ext(OID.nameConstraints, tlv(0x30))] }],
    ['x509: empty name constraints subtree sequence', { extensions: [ext(OID.nameConstraints, tlv(0x30, tlv(0xa0)))] }],
    ['x509: IP constraint contained value of length 4', { extensions: [ext(OID.nameConstraints, tlv(0x30, tlv(0xa0, tlv(0x30, tlv(0x87, [10, 0, 0, 0])))))] }],
    ['x509: IP constraint contained invalid mask ff00ff00', { extensions: [ext(OID.nameConstraints, tlv(0x30, tlv(0xa0, tlv(0x30, tlv(0x87, [10, 0, 0, 0, 0xff, 0, 0xff, 0])))))] }],
    ['x509: failed to parse dnsName constraint "a..b"', { extensions: [ext(OID.nameConstraints, tlv(0x30, tlv(0xa1, tlv(0x30, tlv(0x82, 'a..b')))))] }],
    ['x509: invalid CRL distribution points', { extensions: [ext(OID.crlDp, tlv(0x31))] }],
    ['x509: invalid CRL distribution point', { extensions: [ext(OID.crlDp, tlv(0x30, tlv(0x31)))] }],
    ['x509: authority key identifier incorrectly marked critical', { extensions: [ext(OID.aki, tlv(0x30), true)] }],
    ['x509: invalid authority key identifier', { extensions: [ext(OID.aki, tlv(0x31))] }],
    ['x509: invalid extended key usages', { extensions: [ext(OID.eku, tlv(0x30, tlv(0x04)))] }],
    ['x509: subject key identifier incorrectly marked critical', { extensions: [ext(OID.ski, tlv(0x04, [1]), true)] }],
    ['x509: invalid subject key identifier', { extensions: [ext(OID.ski, tlv(0x03, [0]))] }],
    ['x509: invalid certificate policies', { extensions: [ext(OID.policies, tlv(0x30, tlv(0x30, tlv(0x06, [0x2a])), tlv(0x30, tlv(0x06, [0x2a]))))] }],
    ['x509: authority info access incorrectly marked critical', { extensions: [ext(OID.aia, tlv(0x30), true)] }],
    ['x509: invalid authority info access', { extensions: [ext(OID.aia, tlv(0x30, tlv(0x30, tlv(0x04))))] }],
    // the signature after the TBS
    ['x509: malformed signature', { signature: tlv(0x03, [0x08, 0x00]) }],
    ['x509: malformed signature', { signature: tlv(0x04, [0x00]) }],
  ];
  for (const [text, over] of cases) {
    assert.equal(errorOf(name, [buildCert(over).toString('base64')]), `${name}: ${text}`, text);
  }
  // The duplicate is found while the list is read, before an earlier extension's value is decoded.
  const dupAfterBad = buildCert({ extensions: [ext(OID.keyUsage, tlv(0x04)), ext(OID.keyUsage, tlv(0x04))] });
  assert.equal(errorOf(name, [dupAfterBad.toString('base64')]), `${name}: x509: certificate contains duplicate extension with OID "2.5.29.15"`);
});

// --- CSRs, private keys and key pairs: OPA's crypto.go over Go's x509 / encoding/asn1 / crypto/tls texts -------

const GO_PARAMS = '{optional:false explicit:false application:false private:false defaultValue:<nil> tag:<nil> stringType:0 timeType:0 set:false omitEmpty:false}';
const pemOf = (type: string, der: Buffer) => `-----BEGIN ${type}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${type}-----\n`;

function buildCsr(over: { version?: Buffer; subject?: Buffer; spki?: Buffer; attrs?: Buffer } = {}): Buffer {
  const info = tlv(0x30, over.version ?? tlv(0x02, [0]), over.subject ?? nameOf(tlv(0x0c, 'csr')), over.spki ?? rsaSpki, over.attrs ?? tlv(0xa0));
  return tlv(0x30, info, tlv(0x30, tlv(0x06, OID.sha256Rsa), tlv(0x05)), tlv(0x03, [0, 1, 2, 3]));
}
const extRequest = (...exts: Buffer[]) => tlv(0xa0, tlv(0x30, tlv(0x06, hex('2a864886f70d01090e')), tlv(0x31, tlv(0x30, ...exts))));

test('parse_certificate_request: base64, PEM type, encoding/asn1 and x509 failures carry Go texts', () => {
  const name = 'crypto.x509.parse_certificate_request';
  const b64 = (b: Buffer) => b.toString('base64');
  const [ok] = [call(name, [pemOf('CERTIFICATE REQUEST', buildCsr({ attrs: extRequest(ext(OID.san, tlv(0x30, tlv(0x82, 'a.example')))) }))]) as RObject];
  assert.equal(field(ok!, 'Subject', 'CommonName'), 'csr');
  assert.deepEqual(toJs(field(ok!, 'DNSNames')!), ['a.example']);
  const cases: Array<[string, string]> = [
    ['illegal base64 data at input byte 3', 'abc!'],
    ['invalid PEM-encoded certificate signing request', Buffer.from(pemOf('CERTIFICATE', ekDer)).toString('base64')],
    // Text with the CSR header that holds no PEM block is read as DER: "--" is tag 13, length 45.
    [`asn1: structure error: tags don't match (16 vs {class:0 tag:13 length:45 isCompound:true}) ${GO_PARAMS} certificateRequest @2`, '-----BEGIN CERTIFICATE REQUEST-----\n!!!'],
    ['asn1: syntax error: sequence truncated', ''],
    ['asn1: syntax error: data truncated', b64(buildCsr().subarray(0, 40))],
    ['asn1: syntax error: trailing data', b64(Buffer.concat([buildCsr(), hex('00')]))],
    ['asn1: syntax error: indefinite length found (not DER)', b64(hex('3080'))],
    ['asn1: structure error: non-minimal length', b64(hex('30810100'))],
    [`asn1: structure error: tags don't match (2 vs {class:0 tag:4 length:1 isCompound:false}) ${GO_PARAMS} int @2`, b64(buildCsr({ version: tlv(0x04, [0]) }))],
    ['asn1: structure error: integer not minimally-encoded', b64(buildCsr({ version: tlv(0x02, [0, 1]) }))],
    ['x509: RSA key missing NULL parameters', b64(buildCsr({ spki: rsaKey(tlv(0x30, tlv(0x02, [1]), tlv(0x02, [3])), []) }))],
    ['asn1: syntax error: PrintableString contains invalid character', b64(buildCsr({ subject: nameOf(tlv(0x13, 'a@b')) }))],
    ['x509: certificate request contains duplicate requested extensions', b64(buildCsr({ attrs: extRequest(ext(OID.ski, tlv(0x04, [1])), ext(OID.ski, tlv(0x04, [2]))) }))],
    ['x509: cannot parse IP address of length 3', b64(buildCsr({ attrs: extRequest(ext(OID.san, tlv(0x30, tlv(0x87, [1, 2, 3])))) }))],
  ];
  for (const [text, input] of cases) assert.equal(errorOf(name, [input]), `${name}: ${text}`, text);
  // Requested extensions other than the SAN are listed, not read: malformed ones are no error.
  const odd = call(name, [b64(buildCsr({ attrs: extRequest(ext(OID.nameConstraints, tlv(0x30, tlv(0xa0, tlv(0x04)))), ext(hex('551d21'), tlv(0x30, tlv(0x30))), ext(OID.san, tlv(0x30, tlv(0x82, 'b.example')))) }))]) as RObject;
  assert.equal((field(odd, 'Extensions') as Value[]).length, 3);
  assert.deepEqual(toJs(field(odd, 'DNSNames')!), ['b.example']);
  assert.equal(field(odd, 'PermittedDNSDomains'), undefined);
  // An attribute that does not parse is ignored, as Go's parseCSRExtensions does.
  assert.equal(field(call(name, [b64(buildCsr({ attrs: tlv(0xa0, tlv(0x30, tlv(0x04, 'x'))) }))]) as RObject, 'Subject', 'CommonName'), 'csr');
});

const rsaPair = safeKeyPair('rsa', { modulusLength: 1024 });
const pkcs1Der = rsaPair.privateKey.export({ format: 'der', type: 'pkcs1' });
const pkcs8Der = rsaPair.privateKey.export({ format: 'der', type: 'pkcs8' });
const ec = generateEcKey('P-256');
const sec1Der = ec.privateKey.export({ format: 'der', type: 'sec1' });

test("private keys: each block must parse with Go's x509 parser for its type, else the call fails with its text", () => {
  const rsaName = 'crypto.x509.parse_rsa_private_key';
  const keysName = 'crypto.parse_private_keys';
  const cases: Array<[string, string, Buffer]> = [
    ['x509: failed to parse private key (use ParseECPrivateKey instead for this key format)', 'RSA PRIVATE KEY', sec1Der],
    ['x509: failed to parse private key (use ParsePKCS8PrivateKey instead for this key format)', 'RSA PRIVATE KEY', pkcs8Der],
    ['x509: failed to parse private key (use ParsePKCS1PrivateKey instead for this key format)', 'PRIVATE KEY', pkcs1Der],
    ['x509: failed to parse private key (use ParseECPrivateKey instead for this key format)', 'PRIVATE KEY', sec1Der],
    ['x509: failed to parse private key (use ParsePKCS8PrivateKey instead for this key format)', 'EC PRIVATE KEY', pkcs8Der],
    ['x509: failed to parse private key (use ParsePKCS1PrivateKey instead for this key format)', 'EC PRIVATE KEY', pkcs1Der],
    [`asn1: structure error: tags don't match (16 vs {class:0 tag:0 length:0 isCompound:false}) ${GO_PARAMS} pkcs1PrivateKey @2`, 'RSA PRIVATE KEY', hex('0000')],
    [`x509: failed to parse EC private key: asn1: structure error: tags don't match (16 vs {class:0 tag:4 length:0 isCompound:false}) ${GO_PARAMS} ecPrivateKey @2`, 'EC PRIVATE KEY', hex('0400')],
    ['asn1: syntax error: trailing data', 'RSA PRIVATE KEY', Buffer.concat([pkcs1Der, hex('00')])],
    ['asn1: syntax error: data truncated', 'PRIVATE KEY', pkcs8Der.subarray(0, 30)],
    ['x509: unsupported private key version', 'RSA PRIVATE KEY', Buffer.concat([pkcs1Der.subarray(0, 4), hex('020102'), pkcs1Der.subarray(7)])],
    ['x509: PKCS#8 wrapping contained private key with unknown algorithm: 1.2.3', 'PRIVATE KEY', tlv(0x30, tlv(0x02, [0]), tlv(0x30, tlv(0x06, [0x2a, 0x03])), tlv(0x04, [1]))],
    ['x509: invalid Ed25519 private key length: 3', 'PRIVATE KEY', tlv(0x30, tlv(0x02, [0]), tlv(0x30, tlv(0x06, OID.ed25519)), tlv(0x04, tlv(0x04, [1, 2, 3])))],
    ['x509: invalid Ed25519 private key parameters', 'PRIVATE KEY', tlv(0x30, tlv(0x02, [0]), tlv(0x30, tlv(0x06, OID.ed25519), tlv(0x05)), tlv(0x04, tlv(0x04, Buffer.alloc(32))))],
    [`x509: failed to parse RSA private key embedded in PKCS#8: asn1: structure error: tags don't match (16 vs {class:0 tag:2 length:1 isCompound:false}) ${GO_PARAMS} pkcs1PrivateKey @2`, 'PRIVATE KEY', tlv(0x30, tlv(0x02, [0]), tlv(0x30, tlv(0x06, OID.rsa), tlv(0x05)), tlv(0x04, tlv(0x02, [1])))],
    ['x509: unknown EC private key version 2', 'EC PRIVATE KEY', Buffer.concat([sec1Der.subarray(0, 2), hex('020102'), sec1Der.subarray(5)])],
  ];
  for (const [text, type, der] of cases) {
    assert.equal(errorOf(rsaName, [pemOf(type, der)]), `${rsaName}: ${text}`, `${type}: ${text}`);
    // parse_private_keys reads every block: a bad one after a good one still fails the call.
    assert.equal(errorOf(keysName, [pemOf('RSA PRIVATE KEY', pkcs1Der) + pemOf(type, der)]), `${keysName}: ${text}`);
  }
  // The good forms: each block type with its own format, base64 of the PEM text too.
  for (const [type, der] of [['RSA PRIVATE KEY', pkcs1Der], ['PRIVATE KEY', pkcs8Der], ['EC PRIVATE KEY', sec1Der]] as const) {
    const jwk = call(rsaName, [pemOf(type, der)]) as RObject;
    assert.equal(jwk.getStr('kty'), type === 'EC PRIVATE KEY' ? 'EC' : 'RSA');
  }
  assert.equal((call(keysName, [Buffer.from(pemOf('EC PRIVATE KEY', sec1Der) + pemOf('PRIVATE KEY', pkcs8Der)).toString('base64')]) as Value[]).length, 2);
});

/** A self-signed certificate for `key` (signed with sha256WithRSA by node:crypto), built by hand. */
function signedCert(key: typeof rsaPair, cn: string): Buffer {
  const alg = tlv(0x30, tlv(0x06, OID.sha256Rsa), tlv(0x05));
  const spki = key.publicKey.export({ type: 'spki', format: 'der' });
  const tbs = tlv(0x30, tlv(0xa0, tlv(0x02, [2])), tlv(0x02, [7]), alg, nameOf(tlv(0x0c, cn)), tlv(0x30, tlv(0x17, '240101000000Z'), tlv(0x17, '340101000000Z')), nameOf(tlv(0x0c, cn)), spki);
  return tlv(0x30, tbs, alg, tlv(0x03, [0], cryptoSign('sha256', tbs, key.privateKey)));
}

test("parse_keypair: tls.X509KeyPair's texts for missing, switched, unparsable and mismatched inputs", () => {
  const name = 'crypto.x509.parse_keypair';
  const cert = pemOf('CERTIFICATE', signedCert(rsaPair, 'pair'));
  const key = pemOf('RSA PRIVATE KEY', pkcs1Der);
  const pair = call(name, [cert, key]) as RObject;
  assert.equal(field(pair, 'Leaf', 'Subject', 'CommonName'), 'pair');
  // The Go rsa.PrivateKey (not a JWK), its modulus the leaf's.
  assert.equal(field(pair, 'PrivateKey', 'N'), field(pair, 'Leaf', 'PublicKey', 'N'));
  // DER (base64) of the certificate and of a PKCS #8 key are taken as PEM blocks.
  assert.equal(field(call(name, [signedCert(rsaPair, 'der').toString('base64'), pkcs8Der.toString('base64')]) as RObject, 'Leaf', 'Subject', 'CommonName'), 'der');
  const other = safeKeyPair('rsa', { modulusLength: 1024 });
  const cases: Array<[string, string, string]> = [
    ['tls: failed to find any PEM data in certificate input', '-----BEGIN nothing', key],
    ['tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched', key, cert],
    ['tls: failed to find "CERTIFICATE" PEM block in certificate input after skipping PEM blocks of the following types: [CERTIFICATE REQUEST X]', pemOf('CERTIFICATE REQUEST', buildCsr()) + pemOf('X', hex('00')), key],
    ['tls: failed to find any PEM data in key input', cert, '-----BEGIN nothing'],
    ['tls: found a certificate rather than a key in the PEM for the private key', cert, cert],
    ['tls: failed to find PEM block with type ending in "PRIVATE KEY" in key input after skipping PEM blocks of the following types: [CERTIFICATE PUBLIC KEY]', cert, cert + pemOf('PUBLIC KEY', rsaSpki)],
    ['x509: malformed tbs certificate', pemOf('CERTIFICATE', tlv(0x30, tlv(0x31))), key],
    ['x509: trailing data', pemOf('CERTIFICATE', Buffer.concat([signedCert(rsaPair, 'pair'), hex('0500')])), key],
    ['tls: failed to parse private key', cert, pemOf('RSA PRIVATE KEY', hex('0500'))],
    ['tls: private key does not match public key', cert, pemOf('RSA PRIVATE KEY', other.privateKey.export({ format: 'der', type: 'pkcs1' }))],
    ['tls: private key type does not match public key type', cert, pemOf('EC PRIVATE KEY', sec1Der)],
    ['illegal base64 data at input byte 0', '!', key],
  ];
  for (const [text, c, k] of cases) assert.equal(errorOf(name, [c, k]), `${name}: ${text}`, text);
});

test("parse_and_verify_certificates_with_options: certificates first, then the options with OPA's texts", () => {
  const name = 'crypto.x509.parse_and_verify_certificates_with_options';
  const chain = root + issuer;
  // Input that is no certificate is [false, []] even with options OPA would refuse.
  expectCall(name, ['not base64!', obj({ Bogus: 1 })], [false, []]);
  const cases: Array<[string, RObject]> = [
    ['invalid key option', obj({ Bogus: 1 })],
    ["'DNSName' should be a string", obj({ DNSName: 1 })],
    ["'CurrentTime' should be a number", obj({ CurrentTime: '1' })],
    ["'CurrentTime' should be a valid int64 number", obj({ CurrentTime: 1.5 })],
    ["'MaxConstraintComparisons' should be a number", obj({ MaxConstraintComparisons: null })],
    ["'MaxConstraintComparisons' should be a valid number", obj({ MaxConstraintComparisons: 2.5 })],
    ["'KeyUsages' should be an Array or Set", obj({ KeyUsages: 'KeyUsageAny' })],
    ["invalid entries for 'KeyUsages' found: [Nope Other]", obj({ KeyUsages: ['KeyUsageAny', 'Nope', 1, 'Other'] })],
  ];
  for (const [text, opts] of cases) assert.equal(errorOf(name, [chain, opts]), `${name}: ${text}`, text);
  // KeyUsages may be a set; strings that are not usage names are the only bad entries.
  const ok = call(name, [chain, obj({ CurrentTime: 1_830_000_000_000_000_000n, KeyUsages: s('KeyUsageAny') })]) as Value[];
  assert.equal(ok[0], true);
});

test('parse_certificates: a PEM block of another type is refused; no certificate at all is null', () => {
  const name = 'crypto.x509.parse_certificates';
  assert.equal(errorOf(name, [root + pemOf('RSA PRIVATE KEY', pkcs1Der)]), `${name}: PEM block type is 'RSA PRIVATE KEY', expected CERTIFICATE`);
  expectCall(name, [''], null);
  expectCall(name, ['-----BEGIN nothing'], null);
});

test('parse_and_verify_certificates: name constraints of intermediates and roots, and no SHA-1 signatures', () => {
  const verify = (...pems: string[]) => (call('crypto.x509.parse_and_verify_certificates', [pems.join('')], after) as Value[])[0];
  const gn = (tag: number, v: string | number[]) => x509Der(tag, new Uint8Array(typeof v === 'string' ? Buffer.from(v, 'latin1') : v));
  const san = (...names: Uint8Array[]) => x509Extension('2.5.29.17', false, x509Seq(...names));
  const constraints = (permitted: Uint8Array[], excluded: Uint8Array[] = []) =>
    x509Extension('2.5.29.30', true, x509Seq(...(permitted.length ? [x509Der(0xa0, ...permitted.map((g) => x509Seq(g)))] : []), ...(excluded.length ? [x509Der(0xa1, ...excluded.map((g) => x509Seq(g)))] : [])));
  const testRoot = ecCert('root', undefined, caExts());
  const chainWith = (ca: Uint8Array[], leafNames: Uint8Array[], caSan?: Uint8Array) => {
    const inter = ecCert('intermediate', testRoot, [...caExts(), ...ca, ...(caSan ? [caSan] : [])]);
    return verify(testRoot.pem, inter.pem, ecCert('leaf', inter, [san(...leafNames)]).pem);
  };
  const dns = (n: string) => gn(0x82, n);
  // DNS: a leading period asks for at least one more label; comparison ignores case.
  assert.equal(chainWith([constraints([dns('.example')])], [dns('svc.EXAMPLE')]), true);
  assert.equal(chainWith([constraints([dns('.example')])], [dns('example')]), false);
  assert.equal(chainWith([constraints([dns('example')])], [dns('example'), dns('a.b.example')]), true);
  assert.equal(chainWith([constraints([dns('example')])], [dns('svc.example'), dns('svc.other')]), false);
  assert.equal(chainWith([constraints([dns('example')], [dns('bad.example')])], [dns('bad.example')]), false);
  // A name form without permitted constraints is free; excluded ones still apply.
  assert.equal(chainWith([constraints([dns('example')])], [dns('svc.example'), gn(0x87, [192, 168, 0, 1])]), true);
  // IP ranges, email and URI constraints.
  const ipNet = gn(0x87, [10, 0, 0, 0, 255, 0, 0, 0]);
  assert.equal(chainWith([constraints([ipNet])], [gn(0x87, [10, 1, 2, 3])]), true);
  assert.equal(chainWith([constraints([ipNet])], [gn(0x87, [192, 168, 0, 1])]), false);
  assert.equal(chainWith([constraints([gn(0x81, 'example')])], [gn(0x81, 'ops@example')]), true);
  assert.equal(chainWith([constraints([gn(0x81, 'ops@EXAMPLE')])], [gn(0x81, 'ops@example')]), true);
  assert.equal(chainWith([constraints([gn(0x81, 'ops@example')])], [gn(0x81, 'dev@example')]), false);
  assert.equal(chainWith([constraints([gn(0x86, '.example')])], [gn(0x86, 'https://svc.example:8443/x')]), true);
  assert.equal(chainWith([constraints([gn(0x86, '.example')])], [gn(0x86, 'https://svc.other/x')]), false);
  // A URI whose host is an IP address cannot be checked against URI constraints: refused.
  assert.equal(chainWith([constraints([gn(0x86, '.example')])], [gn(0x86, 'https://10.0.0.1/x')]), false);
  // The constrained CA's own names are checked too; constraints on the root apply as well.
  assert.equal(chainWith([constraints([dns('.example')])], [dns('svc.example')], san(dns('ca.other'))), false);
  const constrainedRoot = ecCert('root', undefined, [...caExts(), constraints([dns('.example')])]);
  assert.equal(verify(constrainedRoot.pem, ecCert('leaf', constrainedRoot, [san(dns('svc.other'))]).pem), false);
  assert.equal(verify(constrainedRoot.pem, ecCert('leaf', constrainedRoot, [san(dns('svc.example'))]).pem), true);
  // MaxConstraintComparisons bounds the comparisons made for each constrained CA (0 is Go's default).
  const two = ecCert('intermediate', testRoot, [...caExts(), constraints([dns('example')], [dns('bad.example')])]);
  const twoNames = [testRoot.pem, two.pem, ecCert('leaf', two, [san(dns('a.example'), dns('b.example'))]).pem].join('');
  const withMax = (max: number) => (call('crypto.x509.parse_and_verify_certificates_with_options', [twoNames, obj({ CurrentTime: 1.83e18, MaxConstraintComparisons: max })]) as Value[])[0];
  assert.deepEqual([withMax(0), withMax(4), withMax(3)], [true, true, false]);
  // Go builds no chain through a SHA-1 signature.
  assert.equal(verify(testRoot.pem, ecCert('leaf', testRoot, [leafSan], true).pem), false);
  assert.equal(verify(testRoot.pem, ecCert('leaf', testRoot, [leafSan]).pem), true);
});

test('parse_and_verify_certificates_with_options: DNSName checked as Go\'s VerifyHostname checks it', () => {
  const gn = (tag: number, v: string | number[]) => x509Der(tag, new Uint8Array(typeof v === 'string' ? Buffer.from(v, 'latin1') : v));
  const testRoot = ecCert('root', undefined, caExts());
  const leaf = ecCert('cn.example', testRoot, [x509Extension('2.5.29.17', false, x509Seq(gn(0x82, 'svc.example'), gn(0x82, '*.wild.example'), gn(0x82, 'f*.example'), gn(0x82, '10.0.0.3'), gn(0x87, [10, 0, 0, 1])))]);
  const noSan = ecCert('cn.example', testRoot, []);
  const ok = (pem: string, dnsName: string) =>
    (call('crypto.x509.parse_and_verify_certificates_with_options', [testRoot.pem + pem, obj({ CurrentTime: 1.83e18, DNSName: dnsName })]) as Value[])[0];
  for (const [name, want] of [
    ['svc.example', true],
    ['SVC.Example.', true],
    ['other.example', false],
    ['a.wild.example', true],
    ['a.b.wild.example', false],
    ['wild.example', false],
    // Only a whole left-most * label is a wildcard; "f*" matches itself alone.
    ['foo.example', false],
    ['f*.example', true],
    // IP addresses match IP SANs only, brackets allowed.
    ['10.0.0.1', true],
    ['[10.0.0.1]', true],
    ['10.0.0.2', false],
    ['10.0.0.3', false],
    // No name asked for: no check.
    ['', true],
  ] as const) {
    assert.equal(ok(leaf.pem, name), want, name);
  }
  // The subject's common name is never a host name.
  assert.equal(ok(noSan.pem, 'cn.example'), false);
  assert.equal(ok(noSan.pem, ''), true);
});

// Every builtin finds PEM blocks as Go's pem.Decode does: text around blocks is skipped, a block whose body is
// not base64 or whose END line does not match is passed over, leading `Key: value` headers are ignored.
test('certificate, CSR and private-key inputs: PEM blocks found as Go finds them', () => {
  const certName = 'crypto.x509.parse_certificates';
  const cn = (v: Value) => (v as Value[]).map((c) => field(c, 'Subject', 'CommonName'));
  const bad = '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n';
  const mismatched = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END OTHER-----\n';
  const trailing = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE----- x\n';
  assert.deepEqual(cn(call(certName, [`${bad}${root}`])!), ['swtpm-localca-rootca']);
  assert.deepEqual(cn(call(certName, [`${root}${mismatched}${trailing}${issuer}`])!), ['swtpm-localca-rootca', 'swtpm-localca']);
  // Text between blocks, CRLF line ends and headers before the body.
  const withHeaders = root.replace('-----BEGIN CERTIFICATE-----\n', '-----BEGIN CERTIFICATE-----\nComment: issued for tests\n\n');
  assert.deepEqual(cn(call(certName, [`${withHeaders}between blocks\n${issuer.replace(/\n/g, '\r\n')}`])!), ['swtpm-localca-rootca', 'swtpm-localca']);
  // A header line in the middle of the body makes the body no base64: that block is passed over.
  const lines = root.split('\n');
  const brokenRoot = [...lines.slice(0, 3), 'Note: x', ...lines.slice(3)].join('\n');
  assert.deepEqual(cn(call(certName, [`${brokenRoot}${issuer}`])!), ['swtpm-localca']);
  // Private keys: a block Go cannot decode is no block; the key after it is found.
  const keysName = 'crypto.parse_private_keys';
  const keys = call(keysName, [`-----BEGIN RSA PRIVATE KEY-----\n!!\n-----END RSA PRIVATE KEY-----\n${pemOf('PRIVATE KEY', pkcs8Der)}`]) as Value[];
  assert.equal(keys.length, 1);
  // BEGIN and END naming different types: no block, so no key.
  assert.deepEqual(call(keysName, [pemOf('EC PRIVATE KEY', sec1Der).replace('-----END EC PRIVATE KEY-----', '-----END RSA PRIVATE KEY-----')]), []);
  // A CSR whose PEM block Go does not find is read as DER (and fails as DER does).
  const csrName = 'crypto.x509.parse_certificate_request';
  const csrPem = pemOf('CERTIFICATE REQUEST', buildCsr());
  assert.equal(field(call(csrName, [csrPem.replace(/\n/g, '\r\n')]) as RObject, 'Subject', 'CommonName'), 'csr');
  assert.match(errorOf(csrName, [csrPem.replace('-----END CERTIFICATE REQUEST-----', '-----END CERTIFICATE-----')]), /^crypto\.x509\.parse_certificate_request: asn1: structure error: /);
});

test('CSR and private-key parsing of random and mutated DER never fails with anything but a BuiltinError', () => {
  const seeds = [buildCsr(), pkcs1Der, pkcs8Der, sec1Der, buildCert()];
  fc.assert(
    fc.property(fc.constantFrom(...seeds), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('CERTIFICATE REQUEST', 'RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'CERTIFICATE'), (der, at, byte, type) => {
      const bad = Buffer.from(der);
      bad[at % bad.length] = byte;
      for (const def of ['crypto.x509.parse_certificate_request', 'crypto.x509.parse_rsa_private_key', 'crypto.parse_private_keys', 'crypto.x509.parse_certificates']) callNoCrash(def, [pemOf(type, bad)]);
      callNoCrash('crypto.x509.parse_keypair', [pemOf('CERTIFICATE', bad), pemOf(type, bad)]);
    }),
    { numRuns: 400 },
  );
});

// crypto.parse_private_keys and crypto.x509.parse_keypair hand back Go values as encoding/json writes them (OPA
// json.Marshals the []crypto.PrivateKey and the tls.Certificate). The keys are made by openssl, and each field
// is checked against what `openssl pkey -text` prints for the key, not against anything this code computes.
test('parse_private_keys and parse_keypair: Go key structs with the values openssl prints', { skip: toolMissing('openssl') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-keys-'));
  const ossl = (...args: string[]): string => {
    const r = spawnSync('openssl', args, { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  /** `openssl pkey -text` fields: hex blocks as bigints, `name: 65537 (0x10001)` lines as their value. */
  const fields = (f: string): Record<string, bigint> => {
    const out: Record<string, bigint> = {};
    let label = '';
    for (const line of ossl('pkey', '-in', f, '-text', '-noout').split('\n')) {
      const inline = /^(\w+): (\d+) \(0x[0-9a-f]+\)$/.exec(line);
      if (inline) out[inline[1]!] = BigInt(inline[2]!);
      else if (/^\w+:$/.test(line)) label = line.slice(0, -1);
      else if (/^ +[0-9a-f:]+$/.test(line) && label) out[label] = ((out[label] ?? 0n) << BigInt(line.replace(/[ :]/g, '').length * 4)) | BigInt('0x' + line.replace(/[ :]/g, ''));
    }
    return out;
  };
  const text = (v: unknown): string => toJsonText(fromJson(v));
  const keys = (pem: string): Value[] => call('crypto.parse_private_keys', [pem]) as Value[];
  try {
    ossl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'rsa.p8.pem');
    ossl('rsa', '-in', 'rsa.p8.pem', '-traditional', '-out', 'rsa.p1.pem');
    ossl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-pkeyopt', 'rsa_keygen_primes:3', '-out', 'rsa3.pem');
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec256.sec1.pem');
    ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', 'ec384.p8.pem');
    ossl('genpkey', '-algorithm', 'ed25519', '-out', 'ed.pem');
    ossl('genpkey', '-algorithm', 'x25519', '-out', 'x.pem');

    // RSA, two primes: N, E, D, the primes and PKCS #1's CRT values; CRTValues is Go's empty (non-nil) slice.
    const r = fields('rsa.p8.pem');
    const rsaWant = text({ N: r.modulus, E: r.publicExponent, D: r.privateExponent, Primes: [r.prime1, r.prime2], Precomputed: { Dp: r.exponent1, Dq: r.exponent2, Qinv: r.coefficient, CRTValues: [] } });
    assert.equal(r.modulus, r.prime1! * r.prime2!);
    assert.equal(text(keys(read('rsa.p8.pem'))[0]), rsaWant);
    assert.equal(text(keys(read('rsa.p1.pem'))[0]), rsaWant);
    assert.match(text(keys(read('rsa.p1.pem'))[0]), /"E":65537,/);
    // Three primes: the third prime's CRT value holds D mod (r − 1), R = p·q and R⁻¹ mod r (PKCS #1's
    // exponent3 and coefficient3), in PKCS #8 and in PKCS #1 form.
    ossl('rsa', '-in', 'rsa3.pem', '-traditional', '-out', 'rsa3.p1.pem');
    const m = fields('rsa3.pem');
    const rsa3Want = text({
      N: m.modulus,
      E: m.publicExponent,
      D: m.privateExponent,
      Primes: [m.prime1, m.prime2, m.prime3],
      Precomputed: { Dp: m.exponent1, Dq: m.exponent2, Qinv: m.coefficient, CRTValues: [{ Exp: m.exponent3, Coeff: m.coefficient3, R: m.prime1! * m.prime2! }] },
    });
    assert.equal(text(keys(read('rsa3.pem'))[0]), rsa3Want);
    assert.equal(text(keys(read('rsa3.p1.pem'))[0]), rsa3Want);

    // ECDSA: the curve interface value has no exported fields; X and Y are the public point, D the scalar.
    for (const [f, size] of [['ec256.sec1.pem', 32], ['ec384.p8.pem', 48]] as const) {
      const e = fields(f);
      const pub = e.pub!.toString(16).padStart(2 + 4 * size, '0');
      assert.equal(pub.slice(0, 2), '04');
      const want = text({ Curve: {}, X: BigInt('0x' + pub.slice(2, 2 + 2 * size)), Y: BigInt('0x' + pub.slice(2 + 2 * size)), D: e.priv });
      assert.equal(text(keys(read(f))[0]), want, f);
    }
    // Ed25519: a byte slice (seed ‖ public key) is a base64 string; X25519's *ecdh.PrivateKey is {}.
    const ed = fields('ed.pem');
    const edBytes = Buffer.from(ed.priv!.toString(16).padStart(64, '0') + ed.pub!.toString(16).padStart(64, '0'), 'hex');
    assert.deepEqual(keys(read('ed.pem')), [edBytes.toString('base64')]);
    assert.equal(text(keys(read('x.pem'))), '[{}]');
    // Every block in order, base64 of the PEM text too.
    const all = read('rsa.p1.pem') + read('ec256.sec1.pem') + read('ed.pem') + read('x.pem');
    assert.equal(text(keys(Buffer.from(all).toString('base64'))), text([keys(read('rsa.p1.pem'))[0], keys(read('ec256.sec1.pem'))[0], edBytes.toString('base64'), {}]));

    // parse_rsa_private_key stays OPA's jwk.New: a JWK for RSA and ECDSA, Go's other key types refused.
    const rsaJwk = call('crypto.x509.parse_rsa_private_key', [read('rsa.p1.pem')]) as RObject;
    assert.equal(BigInt('0x' + Buffer.from(rsaJwk.getStr('n') as string, 'base64url').toString('hex')), r.modulus);
    assert.equal(errorOf('crypto.x509.parse_rsa_private_key', [read('ed.pem')]), 'crypto.x509.parse_rsa_private_key: invalid key type ed25519.PrivateKey');
    assert.equal(errorOf('crypto.x509.parse_rsa_private_key', [read('x.pem')]), 'crypto.x509.parse_rsa_private_key: invalid key type *ecdh.PrivateKey');
    const x25519 = (k: Buffer, params: Buffer[] = []) => pemOf('PRIVATE KEY', tlv(0x30, tlv(0x02, [0]), tlv(0x30, tlv(0x06, hex('2b656e')), ...params), tlv(0x04, tlv(0x04, k))));
    assert.equal(errorOf('crypto.parse_private_keys', [x25519(Buffer.alloc(31, 1))]), 'crypto.parse_private_keys: crypto/ecdh: invalid private key size');
    assert.equal(errorOf('crypto.parse_private_keys', [x25519(Buffer.alloc(32, 1), [tlv(0x05)])]), 'crypto.parse_private_keys: x509: invalid X25519 private key parameters');

    // parse_keypair: tls.Certificate's six fields, the DER chain as base64, the key as above, the leaf as
    // parse_certificates reads it (without the URI texts OPA adds only there).
    const leafOf = (pem: string): string => {
      const c = (call('crypto.x509.parse_certificates', [pem]) as RObject[])[0]!;
      const o = new RObject();
      for (const [k, v] of c.entries()) if (k !== 'URIStrings') o.set(k, v);
      return toJsonText(o);
    };
    for (const [keyFile, keyPem] of [['rsa.p8.pem', read('rsa.p1.pem')], ['ec256.sec1.pem', read('ec256.sec1.pem')], ['ed.pem', read('ed.pem')]] as const) {
      ossl('req', '-x509', '-key', keyFile, '-subj', '/CN=pair', '-days', '1', '-out', `${keyFile}.crt`);
      const certPem = read(`${keyFile}.crt`);
      ossl('x509', '-in', `${keyFile}.crt`, '-outform', 'der', '-out', `${keyFile}.der`);
      const der = readFileSync(join(dir, `${keyFile}.der`));
      const pair = call('crypto.x509.parse_keypair', [certPem, keyPem]) as RObject;
      assert.deepEqual(pair.keys().map((k) => k as string).sort(), ['Certificate', 'Leaf', 'OCSPStaple', 'PrivateKey', 'SignedCertificateTimestamps', 'SupportedSignatureAlgorithms']);
      assert.deepEqual(pair.getStr('Certificate'), [der.toString('base64')]);
      for (const k of ['OCSPStaple', 'SignedCertificateTimestamps', 'SupportedSignatureAlgorithms']) assert.equal(pair.getStr(k), null, k);
      assert.equal(text(pair.getStr('PrivateKey')), text(keys(keyPem)[0]), keyFile);
      assert.equal(toJsonText(pair.getStr('Leaf')!), leafOf(certPem));
    }
    // Keys of the right type that do not belong to the leaf, and a key type tls does not take.
    ossl('req', '-x509', '-key', 'ec384.p8.pem', '-subj', '/CN=p384', '-days', '1', '-out', 'ec384.crt');
    assert.equal(errorOf('crypto.x509.parse_keypair', [read('ec384.crt'), read('ec256.sec1.pem')]), 'crypto.x509.parse_keypair: tls: private key does not match public key');
    assert.equal(errorOf('crypto.x509.parse_keypair', [read('ed.pem.crt'), read('ec256.sec1.pem')]), 'crypto.x509.parse_keypair: tls: private key type does not match public key type');
    assert.equal(errorOf('crypto.x509.parse_keypair', [read('rsa.p8.pem.crt'), read('x.pem')]), 'crypto.x509.parse_keypair: tls: found unknown private key type in PKCS#8 wrapping');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// OPA's extendedCert: parse_certificates and parse_and_verify_certificates add `URIStrings` (null without URI
// SANs), the URIs as Go's url.URL.String() writes them; the _with_options chain and the key pair's Leaf are
// plain x509.Certificate values. The texts below are String()'s rules applied by hand: the scheme lower-cased,
// a raw path kept only when it is a valid encoding, userinfo re-escaped, `//` before an authority.
test('URIStrings: url.URL.String() of each URI SAN, only where OPA extends the certificate', { skip: toolMissing('openssl') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-uri-'));
  try {
    const san = 'subjectAltName=URI:HTTPS://Example.org/a b,URI:mailto:a@b,URI:https://h.example/p%41,URI:https://u%40x:pw@h.example,URI:https://h.example?q,URI:file:///etc/x';
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=uris', '-addext', san, '-days', '1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const pem = readFileSync(join(dir, 'c.pem'), 'utf8');
    const [cert] = call('crypto.x509.parse_certificates', [pem]) as Value[];
    assert.deepEqual(toJs(field(cert!, 'URIStrings')!), ['https://Example.org/a%20b', 'mailto:a@b', 'https://h.example/p%41', 'https://u%40x:pw@h.example', 'https://h.example?q', 'file:///etc/x']);
    // Without URI SANs the field is null; the verified chain carries it, the _with_options chain does not.
    const [rootCert] = call('crypto.x509.parse_certificates', [root]) as RObject[];
    assert.equal(rootCert!.getStr('URIStrings'), null);
    const [ok, chain] = call('crypto.x509.parse_and_verify_certificates', [root + issuer], after) as [boolean, RObject[]];
    assert.equal(ok, true);
    for (const c of chain) assert.equal(c.getStr('URIStrings'), null);
    const [ok2, chain2] = call('crypto.x509.parse_and_verify_certificates_with_options', [root + issuer, obj({ CurrentTime: 1_830_000_000_000_000_000n })]) as [boolean, RObject[]];
    assert.equal(ok2, true);
    for (const c of chain2) assert.equal(c.getStr('URIStrings'), undefined);
    const pair = call('crypto.x509.parse_keypair', [pem, readFileSync(join(dir, 'k.pem'), 'utf8')]) as RObject;
    assert.equal((pair.getStr('Leaf') as RObject).getStr('URIStrings'), undefined);
    assert.equal(toJsonText((pair.getStr('Leaf') as RObject).getStr('URIs')!), toJsonText(field(cert!, 'URIs')!));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
