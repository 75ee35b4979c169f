import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type KeyObject, constants, createHmac, generateKeyPair, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { type Value, RSet, fromJson, obj } from '../value.js';
import { call, callNoCrash, conformanceCalls, expectCall, expectError, runConformanceCalls, testContext } from './test-support/harness.js';
import { builtins } from './jwt.js';
import { BuiltinError } from './registry.js';
import { generateEcKeyPair } from '../../formats/jwk.js';
import { safeKeyPair } from '../../formats/keygen.js';
import { makeCa } from '../../test-support/sigstore-root.js';

test('io.jwt builtins pass the single-call cases of the jwt conformance categories', () => {
  let n = 0;
  for (const cat of ['jwtbuiltins', 'jwtencodesign', 'jwtencodesignpayloaderrors', 'jwtverifyeddsa', 'jwtverifyhs384', 'jwtverifyrsa']) {
    n += runConformanceCalls(conformanceCalls(cat));
  }
  assert.ok(n >= 35, `ran ${n}`);
});

// RFC 7515 appendix A.1 key, as used by opa-conformance/jwtencodesign.
const HS_KEY = obj({ kty: 'oct', k: 'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow' });
const SECRET = 'correct horse battery staple';
const SECRET_KEY = obj({ kty: 'oct', k: Buffer.from(SECRET).toString('base64url') });

function sign(header: Value, payload: Value, key: Value = HS_KEY): string {
  return call('io.jwt.encode_sign', [header, payload, key]) as string;
}

test('decode_verify checks signature, alg, exp, nbf, iss and aud against the query time', () => {
  const now = 1_700_000_000n * 1_000_000_000n;
  const ctx = testContext({ now: () => now });
  const rsa = safeKeyPair('rsa', { modulusLength: 2048 });
  const jwk = rsa.privateKey.export({ format: 'jwk' });
  const pub = rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const token = sign(obj({ alg: 'RS256' }), fromJson({ iss: 'me', aud: 'you', exp: 1_700_000_100, nbf: 1_699_999_000 }), fromJson(jwk));
  const ok = call('io.jwt.decode_verify', [token, obj({ cert: pub, iss: 'me', aud: 'you' })], ctx) as Value[];
  assert.equal(ok[0], true);
  const check = (c: Record<string, Value>, want: boolean): void => {
    const r = call('io.jwt.decode_verify', [token, fromJson(c)], ctx) as Value[];
    assert.equal(r[0], want, JSON.stringify(c));
  };
  check({ cert: pub, aud: 'you', iss: 'other' }, false);
  check({ cert: pub }, false); // token has aud, constraints none
  check({ cert: pub, aud: 'you', alg: 'RS384' }, false);
  check({ cert: pub, aud: 'you', time: 1_700_000_200 * 1e9 }, false);
  check({ cert: pub, aud: 'you', time: 1_600_000_000 * 1e9 }, false);
  expectError('io.jwt.decode_verify', [token, obj({ cert: pub, bogus: 1 })], 'unknown token validation constraint: bogus');
  expectError('io.jwt.decode_verify', [token, obj({})], 'io.jwt.decode_verify: no key constraint');
  expectError('io.jwt.decode_verify', [token, obj({ cert: pub, secret: 's' })], 'io.jwt.decode_verify: duplicate key constraints');
  // An empty secret is no key; empty alg, iss and aud constraints are no constraints.
  expectError('io.jwt.decode_verify', [token, obj({ secret: '' })], 'io.jwt.decode_verify: no key constraint');
  assert.equal((call('io.jwt.decode_verify', [token, obj({ cert: pub, secret: '', aud: 'you', alg: '', iss: '' })], ctx) as Value[])[0], true);
  // The time constraint: a number of nanoseconds, finite as a float64 and not negative.
  expectError('io.jwt.decode_verify', [token, obj({ cert: pub, time: '1' })], 'io.jwt.decode_verify: token time constraint: must be a number');
  expectError('io.jwt.decode_verify', [token, obj({ cert: pub, time: -1 })], 'io.jwt.decode_verify: token time constraint: must not be negative');
  expectError('io.jwt.decode_verify', [token, obj({ cert: pub, time: 10n ** 400n })], 'io.jwt.decode_verify: token time constraint: unvalid float64');
  expectError('io.jwt.decode_verify', [token, obj({ cert: pub, iss: 1 })], 'io.jwt.decode_verify: iss constraint: must be a string');
});

test('encode_sign and verify agree for every algorithm family', () => {
  const hs = sign(obj({ alg: 'HS512' }), obj({ a: 1 }), SECRET_KEY);
  expectCall('io.jwt.verify_hs512', [hs, SECRET], true);
  expectCall('io.jwt.verify_hs256', [hs, SECRET], false);
  for (const [alg, verify, gen] of [
    ['ES256', 'io.jwt.verify_es256', () => generateEcKeyPair('P-256')],
    ['ES384', 'io.jwt.verify_es384', () => generateEcKeyPair('P-384')],
    ['PS256', 'io.jwt.verify_ps256', () => safeKeyPair('rsa', { modulusLength: 2048 })],
    ['EdDSA', 'io.jwt.verify_eddsa', () => safeKeyPair('ed25519')],
  ] as const) {
    const kp = gen();
    const t = sign(obj({ alg }), obj({ x: 'y' }), fromJson(kp.privateKey.export({ format: 'jwk' })));
    const pem = kp.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expectCall(verify, [t, pem], true);
    expectCall(verify, [t, JSON.stringify({ keys: [kp.publicKey.export({ format: 'jwk' })] })], true);
    const at = t.lastIndexOf('.') + 5;
    const flipped = t.slice(0, at) + (t[at] === 'A' ? 'B' : 'A') + t.slice(at + 1);
    expectCall(verify, [flipped, pem], false);
  }
});

test('malformed tokens and keys are builtin errors with OPA texts', () => {
  expectError('io.jwt.decode', ['abc'], 'encoded JWT had no period separators', 'eval_builtin_error');
  expectError('io.jwt.decode', ['a.b'], 'encoded JWT must have 3 sections, found 2');
  expectError('io.jwt.verify_rs256', ['e30.e30.AA', '-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n'], 'failed to extract a Key from the PEM certificate');
  expectError('io.jwt.verify_rs256', ['e30.e30.AA', '{"kty":"bogus"}'], 'failed to parse a JWK key (set)');
});

test('jwt builtins never fail with anything but a BuiltinError', () => {
  const tokenish = fc.string({ unit: fc.constantFrom('a', 'e', 'y', 'J', '.', '-', '_', '=', '{', '"', '0'), maxLength: 30 });
  fc.assert(
    fc.property(fc.constantFrom(...builtins), tokenish, fc.oneof(tokenish, fc.constant('{"kty":"oct","k":"AA"}')), (def, x, y) => {
      callNoCrash(def.name, [x, def.name.startsWith('io.jwt.decode_verify') ? obj({ secret: y }) : y, y].slice(0, def.arity));
    }),
    { numRuns: 2000 },
  );
});

// io.jwt.decode_verify as OPA's topdown/tokens.go runs it: header parameters typed, RFC 7515 §4.1.11 `crit`,
// nested tokens (`cty: JWT`) verified level by level, an iss constraint needing the claim.
test('decode_verify: a critical header parameter it does not understand makes the token unverified', () => {
  const secret = obj({ secret: SECRET });
  const signed = (header: Record<string, unknown>) => sign(fromJson(header), obj({ sub: 'x' }), SECRET_KEY);
  assert.equal((call('io.jwt.decode_verify', [signed({ alg: 'HS256' }), secret]) as Value[])[0], true);
  assert.equal((call('io.jwt.decode_verify', [signed({ alg: 'HS256', crit: ['b64x'], b64x: true }), secret]) as Value[])[0], false);
  // Listing a parameter that is understood (or absent) is fine.
  assert.equal((call('io.jwt.decode_verify', [signed({ alg: 'HS256', crit: ['kid'], kid: 'k1' }), secret]) as Value[])[0], true);
  expectError('io.jwt.decode_verify', [signed({ alg: 'HS256', crit: 'b64x' }), secret], 'io.jwt.decode_verify: crit: must be a list');
  expectError('io.jwt.decode_verify', [signed({ alg: 'HS256', crit: [] }), secret], 'crit: must be a nonempty list');
  // encode_sign refuses a numeric kid, so this token is put together by hand.
  const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const input = `${b64({ alg: 'HS256', kid: 7 })}.${b64({ sub: 'x' })}`;
  const handMade = `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
  expectError('io.jwt.decode_verify', [handMade, secret], 'io.jwt.decode_verify: kid: must be a string');
});

test('decode_verify follows nested tokens (cty: JWT), verifying every level', () => {
  const secret = obj({ secret: SECRET });
  const inner = sign(obj({ alg: 'HS256' }), obj({ sub: 'inner', aud: 'svc' }), SECRET_KEY);
  const outerKey = JSON.stringify({ kty: 'oct', k: Buffer.from(SECRET).toString('base64url') });
  const wrap = (payload: string) => call('io.jwt.encode_sign_raw', ['{"alg": "HS256", "typ": "JOSE", "cty": "jwt"}', payload, outerKey]) as string;
  const nested = wrap(inner);
  const r = call('io.jwt.decode_verify', [nested, obj({ secret: SECRET, aud: 'svc' })]) as Value[];
  assert.equal(r[0], true);
  assert.equal((r[2] as any).get('sub'), 'inner');
  assert.equal((r[1] as any).get('cty'), undefined, 'the innermost header is returned');
  // An inner token signed with another key fails even though the outer signature is good.
  const otherKey = obj({ kty: 'oct', k: Buffer.from('another secret').toString('base64url') });
  const badInner = sign(obj({ alg: 'HS256' }), obj({ sub: 'inner' }), otherKey);
  assert.equal((call('io.jwt.decode_verify', [wrap(badInner), secret]) as Value[])[0], false);
  // A nested payload that is not a token is a decoding error.
  expectError('io.jwt.decode_verify', [wrap('not a token'), secret], 'encoded JWT had no period separators');
});

// io.jwt.decode as OPA's builtinJWTDecode reads a nested token: only a `cty` of exactly `JWT` nests, the payload
// is the inner token with quote characters trimmed, and the inner token's parts are the result.
test('decode: cty JWT (exactly) nests, quoted or bare, and the outer signature is not read', () => {
  const inner = sign(obj({ alg: 'HS256', kid: 'in' }), obj({ sub: 'inner', n: 7 }), SECRET_KEY);
  const [ih, ip, is] = inner.split('.') as [string, string, string];
  const want = [fromJson(JSON.parse(Buffer.from(ih, 'base64url').toString())), fromJson(JSON.parse(Buffer.from(ip, 'base64url').toString())), Buffer.from(is, 'base64url').toString('hex')];
  const b64 = (x: string) => Buffer.from(x).toString('base64url');
  const outer = (cty: string, payload: string, sig = 'c2ln') => `${b64(JSON.stringify({ alg: 'HS256', cty }))}.${b64(payload)}.${sig}`;
  expectCall('io.jwt.decode', [outer('JWT', inner)], want);
  expectCall('io.jwt.decode', [outer('JWT', JSON.stringify(inner))], want);
  expectCall('io.jwt.decode', [outer('JWT', `'"${inner}"'`)], want);
  // The outer signature is never decoded on the nested path (OPA returns the inner decoding straight away).
  expectCall('io.jwt.decode', [outer('JWT', inner, '!!')], want);
  // Any other spelling is a content type like any other: the payload must then be a JSON object.
  expectError('io.jwt.decode', [outer('jwt', inner)], 'io.jwt.decode: invalid JSON: ');
  expectError('io.jwt.decode', [outer('Jwt', JSON.stringify(inner))], 'io.jwt.decode: decoded JSON type was not an Object');
  expectCall('io.jwt.decode', [outer('jwt', '{"a": 1}', '')], [fromJson({ alg: 'HS256', cty: 'jwt' }), obj({ a: 1 }), '']);
  // A nested payload that is not a token fails as the inner decoding does.
  expectError('io.jwt.decode', [outer('JWT', '"not a token"')], 'io.jwt.decode: encoded JWT had no period separators');
  expectError('io.jwt.decode', [outer('JWT', 'a.b')], 'encoded JWT must have 3 sections, found 2');
  // Two levels of nesting reach the innermost token.
  expectCall('io.jwt.decode', [outer('JWT', outer('JWT', inner))], want);
  // decode_verify compares cty without regard to case, as OPA's strings.EqualFold does.
  const outerKey = JSON.stringify({ kty: 'oct', k: Buffer.from(SECRET).toString('base64url') });
  for (const cty of ['JWT', 'jwt', 'jWt']) {
    const nested = call('io.jwt.encode_sign_raw', [JSON.stringify({ alg: 'HS256', typ: 'JOSE', cty }), inner, outerKey]) as string;
    expectCall('io.jwt.decode_verify', [nested, obj({ secret: SECRET })], [true, want[0]!, want[1]!]);
  }
});

test('decode_verify: an iss constraint needs the claim, malformed exp/nbf and non-object payloads are errors', () => {
  const secret = { secret: SECRET };
  const tok = (payload: Record<string, unknown>) => sign(obj({ alg: 'HS256' }), fromJson(payload), SECRET_KEY);
  const ctx = testContext({ now: () => 1_700_000_000n * 1_000_000_000n });
  assert.equal((call('io.jwt.decode_verify', [tok({ sub: 'x' }), fromJson({ ...secret, iss: 'me' })], ctx) as Value[])[0], false);
  assert.equal((call('io.jwt.decode_verify', [tok({ iss: 'me' }), fromJson({ ...secret, iss: 'me' })], ctx) as Value[])[0], true);
  assert.equal((call('io.jwt.decode_verify', [tok({ sub: 'x' }), fromJson(secret)], ctx) as Value[])[0], true);
  // aud: a string or a list with the constraint's string in it; with no constraint only "" matches.
  assert.equal((call('io.jwt.decode_verify', [tok({ aud: ['x', 'me'] }), fromJson({ ...secret, aud: 'me' })], ctx) as Value[])[0], true);
  assert.equal((call('io.jwt.decode_verify', [tok({ aud: 5 }), fromJson({ ...secret, aud: 'me' })], ctx) as Value[])[0], false);
  assert.equal((call('io.jwt.decode_verify', [tok({ aud: '' }), fromJson(secret)], ctx) as Value[])[0], true);
  assert.equal((call('io.jwt.decode_verify', [tok({ aud: 'me' }), fromJson(secret)], ctx) as Value[])[0], false);
  assert.equal((call('io.jwt.decode_verify', [tok({ iss: 'you' }), fromJson({ ...secret, iss: 'me' })], ctx) as Value[])[0], false);
  assert.equal((call('io.jwt.decode_verify', [tok({ exp: 1_700_000_000 }), fromJson(secret)], ctx) as Value[])[0], false, 'exp equal to now has expired');
  assert.equal((call('io.jwt.decode_verify', [tok({ nbf: 1_700_000_000.5 }), fromJson(secret)], ctx) as Value[])[0], false);
  expectError('io.jwt.decode_verify', [tok({ exp: '1700000100' }), fromJson(secret)], 'io.jwt.decode_verify: exp value must be a number', undefined, ctx);
  expectError('io.jwt.decode_verify', [tok({ nbf: null }), fromJson(secret)], 'io.jwt.decode_verify: nbf value must be a number', undefined, ctx);
  const arrayPayload = call('io.jwt.encode_sign_raw', ['{"alg": "HS256", "typ": "JWT"}', '[1, 2]', JSON.stringify({ kty: 'oct', k: Buffer.from(SECRET).toString('base64url') })]) as string;
  expectError('io.jwt.decode_verify', [arrayPayload, fromJson(secret)], 'decoded JSON type was not an Object');
});

// io.jwt.encode_sign(_raw) as OPA's commonBuiltinJWTEncodeSign runs it on jwx v3: jwk.Parse on the key, the
// header's alg read by jwsbb's header reader, the payload checked only under `typ: JWT`, then jwsbb.Sign.
const ENC = 'io.jwt.encode_sign_raw';
const OCT = JSON.stringify({ kty: 'oct', k: Buffer.from(SECRET).toString('base64url') });

/** The call fails with exactly `io.jwt.encode_sign_raw: <text>`. */
function signFails(header: string, payload: string, key: string, text: string): void {
  assert.throws(
    () => call(ENC, [header, payload, key]),
    (e: unknown) => {
      assert.ok(e instanceof BuiltinError, `expected a BuiltinError, got ${String(e)}`);
      assert.equal(e.code, 'eval_builtin_error');
      assert.equal(e.message, `${ENC}: ${text}`, JSON.stringify([header, payload, key]));
      return true;
    },
  );
}

test('encode_sign_raw: the key is read as jwk.Parse reads it, with its texts', () => {
  const h = '{"alg":"HS256"}';
  // Not JSON: encoding/json's syntax error (json.Unmarshal checks the whole text first).
  signFails(h, '{}', 'not a key', "failed to unmarshal JWK set: invalid character 'o' in literal null (expecting 'u')");
  signFails(h, '{}', '', 'failed to unmarshal JWK set: unexpected end of JSON input');
  signFails(h, '{}', '{"kty":"oct"', 'failed to unmarshal JWK set: unexpected end of JSON input');
  signFails(h, '{}', `${OCT} x`, "failed to unmarshal JWK set: invalid character 'x' after top-level value");
  signFails(h, '{}', 'xyz', "failed to unmarshal JWK set: invalid character 'x' looking for beginning of value");
  // JSON that is not an object: the set reader's token texts.
  signFails(h, '{}', `[${OCT}]`, "failed to unmarshal JWK set: expected '{' but got '['");
  signFails(h, '{}', '42', 'failed to unmarshal JWK set: error reading token: EOF');
  signFails(h, '{}', 'null', 'failed to unmarshal JWK set: error reading token: EOF');
  signFails(h, '{}', '"oct"', 'failed to unmarshal JWK set: failed to decode value for key "oct": EOF');
  signFails(h, '{}', '"keys"', 'failed to unmarshal JWK set: failed to decode "keys": EOF');
  // A single JWK that does not parse: jwx gives no cause.
  for (const k of ['{}', '{"kty":"bogus"}', '{"kty":1}', '{"kty":"RSA","n":"AQAB"}', '{"kty":"oct","k":5}', '{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}']) {
    signFails(h, '{}', k, 'failed to unmarshal JWK set: failed to parse sole key in key set');
  }
  // A set: `keys` must be an array (null is no keys), each member a JWK; an empty set has no key to sign with.
  signFails(h, '{}', '{"keys":[]}', 'no keys found in JWK set');
  signFails(h, '{}', '{"keys":null}', 'no keys found in JWK set');
  signFails(h, '{}', '{"keys":{}}', 'failed to unmarshal JWK set: failed to decode "keys": json: cannot unmarshal object into Go value of type []json.RawMessage');
  signFails(h, '{}', '{"keys":"k"}', 'failed to unmarshal JWK set: failed to decode "keys": json: cannot unmarshal string into Go value of type []json.RawMessage');
  signFails(h, '{}', '{"keys":true}', 'failed to unmarshal JWK set: failed to decode "keys": json: cannot unmarshal bool into Go value of type []json.RawMessage');
  signFails(h, '{}', '{"keys":[{"kty":"bogus"}]}', 'failed to unmarshal JWK set: failed to decode key #0 in "keys": invalid key type from JSON (bogus)');
  signFails(h, '{}', `{"keys":[${OCT},{}]}`, 'failed to unmarshal JWK set: failed to decode key #1 in "keys": invalid key type from JSON ()');
  // Texts jwx words differently between releases: its prefix, then ours.
  expectError(ENC, [h, '{}', '{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}'], 'failed to decode key #0 in "keys": failed to unmarshal JSON into key (*jwk.ecdsaPublicKey): ');
  expectError(ENC, [h, '{}', '{"keys":[{"kty":"oct","k":"!!"}]}'], 'failed to unmarshal JSON into key (*jwk.symmetricKey): "k" is not base64 data');
  expectError(ENC, [h, '{}', '{"keys":[[]]}'], 'failed to decode key #0 in "keys": jwk.Parse: failed to probe data: ');
  // The first key of a set signs; later ones are only parsed.
  const first = call(ENC, [h, '{}', `{"keys":[${OCT},{"kty":"oct","k":"AAAA"}]}`]) as string;
  assert.equal(first, call(ENC, [h, '{}', OCT]));
  // The key is read before the header.
  signFails('not a header', '{}', '{}', 'failed to unmarshal JWK set: failed to parse sole key in key set');
});

test("encode_sign_raw: the header is read as jwsbb's header reader reads it", () => {
  const p = '{}';
  // A header that does not parse: fastjson's error after OPA's prefix.
  const bad = (header: string, why: string) => signFails(header, p, OCT, `missing or invalid 'alg' header: ${why}`);
  bad('', 'cannot parse JSON: cannot parse empty string; unparsed tail: ""');
  bad('  \n', 'cannot parse JSON: cannot parse empty string; unparsed tail: ""');
  bad('{"alg":"HS256"', 'cannot parse JSON: cannot parse object: unexpected end of object; unparsed tail: ""');
  bad('{"alg":"HS256"} {}', 'unexpected tail: "{}"');
  bad('{"alg" "HS256"}', `cannot parse JSON: cannot parse object: missing ':' after object key; unparsed tail: "\\"HS256\\"}"`);
  bad('{alg:1}', `cannot parse JSON: cannot parse object: cannot find opening '"" for object key; unparsed tail: "alg:1}"`);
  bad('{"alg":"HS256" "typ":"JWT"}', `cannot parse JSON: cannot parse object: missing ',' after object value; unparsed tail: "\\"typ\\":\\"JWT\\"}"`);
  bad('{"alg":tru}', 'cannot parse JSON: cannot parse object: cannot parse object value: unexpected value found: "tru}"; unparsed tail: "tru}"');
  bad('{"alg":"HS256}', `cannot parse JSON: cannot parse object: cannot parse object value: cannot parse string: missing closing '"'; unparsed tail: ""`);
  bad('{"alg', `cannot parse JSON: cannot parse object: cannot parse object key: missing closing '"'; unparsed tail: ""`);
  bad('{"a":[1,}', 'cannot parse JSON: cannot parse object: cannot parse object value: cannot parse array: cannot parse array value: cannot parse number: unexpected char: "}"; unparsed tail: "}"');
  bad('{"a":[1 2]}', `cannot parse JSON: cannot parse object: cannot parse object value: cannot parse array: missing ',' after array value; unparsed tail: "2]}"`);
  bad('[', `cannot parse JSON: cannot parse array: missing ']'; unparsed tail: ""`);
  bad('{', `cannot parse JSON: cannot parse object: missing '}'; unparsed tail: ""`);
  bad('\u00e9', 'cannot parse JSON: cannot parse number: unexpected char: "\\xc3"; unparsed tail: "é"');
  // 300 levels of nesting parse; a 301st is too deep.
  signFails('['.repeat(300) + ']'.repeat(300), p, OCT, 'unknown JWS algorithm: ');
  bad('['.repeat(301), `cannot parse JSON: ${'cannot parse array: cannot parse array value: '.repeat(300)}too big depth for the nested JSON; it exceeds 300; unparsed tail: "["`);
  // Bytes that are not UTF-8 in a quoted tail are shown as Go shows them (a header from a Rego string can only
  // hold a multi-byte character cut by the 40-byte limit).
  bad(`{} ${'x'.repeat(39)}\u00e9${'y'.repeat(60)}`, `unexpected tail: "${'x'.repeat(39)}\\xc3...${'y'.repeat(40)}"`);
  // A long tail is shown as its first and last 40 bytes.
  const long = 'x'.repeat(50) + 'y'.repeat(50);
  bad(`{} ${long}`, `unexpected tail: "${'x'.repeat(40)}...${'y'.repeat(40)}"`);
  // fastjson does not look inside strings or numbers it is not asked about.
  assert.equal(typeof call(ENC, ['{"alg":"HS256","x":"\\q\u0001","n":1.2.3e}', p, OCT]), 'string');
  // alg: a string OPA knows; anything else (absent, another type, a header that is no object) is unknown.
  signFails('{"alg":"XX256"}', p, OCT, 'unknown JWS algorithm: XX256');
  signFails('{"alg":"none"}', p, OCT, 'unknown JWS algorithm: none');
  signFails('{"alg":"hs256"}', p, OCT, 'unknown JWS algorithm: hs256');
  signFails('{"alg":5}', p, OCT, 'unknown JWS algorithm: ');
  signFails('{"typ":"JWT"}', p, OCT, 'unknown JWS algorithm: ');
  signFails('["HS256"]', p, OCT, 'unknown JWS algorithm: ');
  signFails('"HS256"', p, OCT, 'unknown JWS algorithm: ');
  // Keys and values are read with their escapes; the first member of a name counts.
  const hs = (header: string) => call(ENC, [header, p, OCT]) as string;
  assert.equal(hs('{"alg":"HS\\u0032\\u00356"}').split('.')[0], Buffer.from('{"alg":"HS\\u0032\\u00356"}').toString('base64url'));
  assert.equal(typeof hs('{"al\\u0067":"HS256"}'), 'string');
  assert.equal(typeof hs('{"alg":"HS256","alg":"nope"}'), 'string');
  signFails('{"alg":"nope","alg":"HS256"}', p, OCT, 'unknown JWS algorithm: nope');
  signFails('{"alg":"\\ud83d\\ude00"}', p, OCT, 'unknown JWS algorithm: \u{1f600}');
  signFails('{"alg":"\\ud83d"}', p, OCT, 'unknown JWS algorithm: \\ud83d');
  signFails('{"alg":"\\x"}', p, OCT, 'unknown JWS algorithm: \\x');
});

test('encode_sign_raw: only typ JWT asks for a JSON payload, as json.Valid judges it', () => {
  const jwt = '{"alg":"HS256","typ":"JWT"}';
  for (const payload of ['', 'not json', '{"a":1', '{"a":1} x', '{a:1}', "{'a':1}", '[1,]', '01', 'NaN']) {
    signFails(jwt, payload, OCT, 'type is JWT but payload is not JSON');
  }
  for (const payload of ['{}', ' [1, 2] ', '"s"', '1e5', 'null']) assert.equal(typeof call(ENC, [jwt, payload, OCT]), 'string', payload);
  // Without typ, with another typ or a typ that is no string, any payload is signed.
  for (const header of ['{"alg":"HS256"}', '{"alg":"HS256","typ":"jwt"}', '{"alg":"HS256","typ":1}', '{"alg":"HS256","typ":"text/plain"}']) {
    assert.equal(typeof call(ENC, [header, 'not json', OCT]), 'string', header);
  }
  // The payload is checked after alg.
  signFails('{"alg":"XX","typ":"JWT"}', 'not json', OCT, 'unknown JWS algorithm: XX');
});

test('encode_sign_raw: a key of another family than alg is refused by jwsbb.Sign', async () => {
  const rsa = JSON.stringify(safeKeyPair('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }));
  const rsaPub = JSON.stringify(safeKeyPair('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }));
  const ec = JSON.stringify(generateEcKeyPair('P-256').privateKey.export({ format: 'jwk' }));
  const ed = safeKeyPair('ed25519');
  const edPriv = JSON.stringify(ed.privateKey.export({ format: 'jwk' }));
  const edPub = JSON.stringify(ed.publicKey.export({ format: 'jwk' }));
  const x25519 = JSON.stringify((await promisify(generateKeyPair)('x25519')).privateKey.export({ format: 'jwk' }));
  const refused = (alg: string, key: string, type: string, required: string, keyconv: string) => {
    const raw = required.replace(/^\*/, '');
    signFails(
      JSON.stringify({ alg }),
      '{}',
      key,
      `jwsbb.Sign: invalid key type *jwk.${type}. ${required} is required: ${keyconv}failed to produce ${raw} from *jwk.${type}: jwk.Export: no suitable exporter found for key type '*jwk.${type}'`,
    );
  };
  refused('HS256', rsa, 'rsaPrivateKey', '[]byte', 'keyconv: ');
  refused('RS256', OCT, 'symmetricKey', '*rsa.PrivateKey', '');
  refused('PS384', ec, 'ecdsaPrivateKey', '*rsa.PrivateKey', '');
  refused('RS256', rsaPub, 'rsaPublicKey', '*rsa.PrivateKey', '');
  refused('ES256', rsa, 'rsaPrivateKey', '*ecdsa.PrivateKey', 'keyconv: ');
  refused('EdDSA', ec, 'ecdsaPrivateKey', 'ed25519.PrivateKey', '');
  refused('EdDSA', edPub, 'okpPublicKey', 'ed25519.PrivateKey', '');
  refused('EdDSA', x25519, 'okpPrivateKey', 'ed25519.PrivateKey', '');
  refused('HS512', edPriv, 'okpPrivateKey', '[]byte', 'keyconv: ');
});

test('encode_sign_raw signs every algorithm OPA knows; node:crypto verifies the tokens', () => {
  const rsa = safeKeyPair('rsa', { modulusLength: 2048 });
  const ecs: Record<string, ReturnType<typeof generateEcKeyPair>> = { ES256: generateEcKeyPair('P-256'), ES384: generateEcKeyPair('P-384'), ES512: generateEcKeyPair('P-521') };
  const ed = safeKeyPair('ed25519');
  const secret = Buffer.from('a secret of thirty-two bytes....');
  const oct = JSON.stringify({ kty: 'oct', k: secret.toString('base64url') });
  const hashes: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };
  for (const alg of ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']) {
    const family = alg.slice(0, 2);
    const hash = hashes[alg.slice(2)] ?? null;
    const pair = family === 'RS' || family === 'PS' ? rsa : family === 'ES' ? ecs[alg]! : ed;
    const key = family === 'HS' ? oct : JSON.stringify(pair.privateKey.export({ format: 'jwk' }));
    // The header and payload are signed as given, whitespace and member order included.
    const header = ` { "typ" : "JWT", "alg": "${alg}" } `;
    const payload = '{"sub": "x",  "n": 1}';
    const token = call(ENC, [header, payload, key]) as string;
    const [h, p, s] = token.split('.') as [string, string, string];
    assert.equal(Buffer.from(h, 'base64url').toString(), header);
    assert.equal(Buffer.from(p, 'base64url').toString(), payload);
    const input = Buffer.from(`${h}.${p}`);
    const sig = Buffer.from(s, 'base64url');
    let ok: boolean;
    if (family === 'HS') ok = createHmac(hash!, secret).update(input).digest().equals(sig);
    else if (family === 'RS') ok = cryptoVerify(hash, input, { key: pair.publicKey, padding: constants.RSA_PKCS1_PADDING }, sig);
    else if (family === 'PS') ok = cryptoVerify(hash, input, { key: pair.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
    else if (family === 'ES') ok = cryptoVerify(hash, input, { key: pair.publicKey, dsaEncoding: 'ieee-p1363' }, sig);
    else ok = cryptoVerify(null, input, pair.publicKey, sig);
    assert.ok(ok, alg);
    // A flipped input does not verify, so the check above can fail.
    if (family === 'HS') assert.ok(!createHmac(hash!, secret).update(Buffer.concat([input, Buffer.from('x')])).digest().equals(sig));
  }
});

test('encode_sign writes its objects as json.Marshal does, then signs as encode_sign_raw', () => {
  const key = fromJson(JSON.parse(OCT));
  const header = obj({ typ: 'JWT', alg: 'HS256' });
  const payload = obj({ b: RSet.from([2, 1]), a: 'x' });
  const token = call('io.jwt.encode_sign', [header, payload, key]) as string;
  // Members sorted by name, a set as an array.
  assert.equal(token, call(ENC, ['{"alg":"HS256","typ":"JWT"}', '{"a":"x","b":[1,2]}', OCT]));
  expectError('io.jwt.encode_sign', [obj({ alg: 1 }), obj({}), key], 'io.jwt.encode_sign: unknown JWS algorithm: ');
  expectError('io.jwt.encode_sign', [header, obj({}), obj({ keys: [] })], 'io.jwt.encode_sign: no keys found in JWK set');
  expectError('io.jwt.encode_sign', [header, obj({}), obj({ kty: 'RSA' })], 'io.jwt.encode_sign: failed to unmarshal JWK set: failed to parse sole key in key set');
});

test('encode_sign_raw reads its key operand first, as OPA does', () => {
  expectError(ENC, [1, 2, 3], `${ENC}: operand 3 must be string but got number`);
  expectError(ENC, [1, 2, OCT], `${ENC}: operand 1 must be string but got number`);
  expectError(ENC, ['{}', 2, OCT], `${ENC}: operand 2 must be string but got number`);
});

test('encode_sign_raw: random headers, payloads and keys give a token or a BuiltinError, and alg is read as JSON reads it', () => {
  const piece = fc.constantFrom('{', '}', '[', ']', '"', ':', ',', '\\', 'u', '0', 'alg', 'typ', 'HS256', 'JWT', 'keys', 'kty', 'oct', 'k', 'AAAA', ' ', 'null', 'tru', '-', 'e');
  const text = fc.array(piece, { maxLength: 20 }).map((a) => a.join(''));
  fc.assert(
    fc.property(text, text, fc.oneof(text, fc.constant(OCT)), (h, p, k) => {
      callNoCrash(ENC, [h, p, k]);
    }),
    { numRuns: 3000 },
  );
  // On JSON objects without repeated names, the alg the header reader finds is the one JSON.parse finds.
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom('alg', 'typ', 'kid', 'x'), fc.oneof(fc.constantFrom('HS256', 'HS384', 'XX', 'JWT'), fc.integer(), fc.constant(null))), (o) => {
      const header = JSON.stringify(o);
      const alg = typeof o.alg === 'string' ? o.alg : '';
      try {
        call(ENC, [header, '{}', OCT]);
        assert.ok(alg === 'HS256' || alg === 'HS384', header);
      } catch (e) {
        assert.ok(e instanceof BuiltinError);
        assert.equal(e.message, `${ENC}: unknown JWS algorithm: ${alg}`);
      }
    }),
    { numRuns: 500 },
  );
});

// Key choice from a `cert` argument as OPA's tokens.go makes it (getKeysFromCertOrJWK, builtinJWTVerify,
// tokenConstraints.verify): a key whose kid is the token's kid is the only one tried; otherwise every key,
// skipping those whose alg names another algorithm; keys of algorithms OPA does not know are left out.
test('a JWKS cert: the kid-matched key alone, else every key whose alg fits the token', () => {
  const signer = safeKeyPair('rsa', { modulusLength: 2048 });
  const other = safeKeyPair('rsa', { modulusLength: 2048 });
  const pub = (k: typeof signer, extra: Record<string, unknown>) => ({ ...(k.publicKey.export({ format: 'jwk' }) as object), ...extra });
  const token = (header: Record<string, unknown>) => sign(fromJson(header), obj({ sub: 'x' }), fromJson(signer.privateKey.export({ format: 'jwk' })));
  const jwks = (...keys: object[]) => JSON.stringify({ keys });
  const both = (tok: string, set: string, want: boolean) => {
    expectCall('io.jwt.verify_rs256', [tok, set], want);
    assert.equal((call('io.jwt.decode_verify', [tok, obj({ cert: set })]) as Value[])[0], want, `${set} for ${tok.split('.')[0]}`);
  };
  const set = jwks(pub(other, { kid: 'k1' }), pub(signer, { kid: 'k2' }));
  both(token({ alg: 'RS256', kid: 'k2' }), set, true);
  // The kid names the other key: only that key is tried, though the signer's key is in the set.
  both(token({ alg: 'RS256', kid: 'k1' }), set, false);
  // A kid no key has, or no kid at all: every key is tried.
  both(token({ alg: 'RS256', kid: 'k9' }), set, true);
  both(token({ alg: 'RS256' }), set, true);
  // A key whose alg is another algorithm is skipped; one with no alg is tried.
  both(token({ alg: 'RS256' }), jwks(pub(signer, { alg: 'RS384' })), false);
  both(token({ alg: 'RS256' }), jwks(pub(signer, { alg: 'RS256' })), true);
  both(token({ alg: 'RS256' }), jwks(pub(other, { alg: 'RS256' }), pub(signer, {})), true);
  // ... but the kid-matched key is used whatever its alg says.
  both(token({ alg: 'RS256', kid: 'k2' }), jwks(pub(signer, { kid: 'k2', alg: 'RS512' })), true);
  // A key of an algorithm OPA does not know (an encryption key here) is not in the set at all, kid or not.
  both(token({ alg: 'RS256', kid: 'enc' }), jwks(pub(signer, { kid: 'enc', alg: 'RSA-OAEP' })), false);
  both(token({ alg: 'RS256', kid: 'enc' }), jwks(pub(signer, { kid: 'enc', alg: 'RSA-OAEP' }), pub(signer, {})), true);
  // No key fits: unverified, not an error.
  expectCall('io.jwt.decode_verify', [token({ alg: 'RS256' }), obj({ cert: jwks() })], [false, obj({}), obj({})]);
  // A single JWK (no "keys") is a set of one.
  both(token({ alg: 'RS256', kid: 'zz' }), JSON.stringify(pub(signer, { kid: 'k2' })), true);
});

test('a cert given as a PEM certificate, a PEM public key or a JWK verifies the same token', async () => {
  const ca = await makeCa('jwt issuer');
  const certPem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(ca.cert).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
  const spkiPem = ca.key.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const jwk = JSON.stringify(ca.key.publicKey.export({ format: 'jwk' }));
  const token = sign(obj({ alg: 'ES256' }), obj({ sub: 'x' }), fromJson(ca.key.privateKey.export({ format: 'jwk' })));
  const otherToken = sign(obj({ alg: 'ES256' }), obj({ sub: 'x' }), fromJson(generateEcKeyPair('P-256').privateKey.export({ format: 'jwk' })));
  for (const cert of [certPem, spkiPem, jwk]) {
    expectCall('io.jwt.verify_es256', [token, cert], true);
    expectCall('io.jwt.verify_es256', [otherToken, cert], false);
    assert.equal((call('io.jwt.decode_verify', [token, obj({ cert })]) as Value[])[0], true);
    assert.equal((call('io.jwt.decode_verify', [otherToken, obj({ cert })]) as Value[])[0], false);
  }
  // Go's pem.Decode skips text before the block and takes the END line's line break; anything after it is extra.
  expectCall('io.jwt.verify_es256', [token, `issued for tests\n${certPem}`], true);
  expectError('io.jwt.verify_es256', [token, `${certPem}\n`], 'io.jwt.verify_es256: extra data after a PEM certificate block');
  expectError('io.jwt.verify_es256', [token, `${certPem}${spkiPem}`], 'io.jwt.verify_es256: extra data after a PEM certificate block');
  expectCall('io.jwt.verify_es256', [token, certPem.trimEnd()], true);
});

test('decode_verify: bad cert constraints fail with the texts OPA gives', async () => {
  const name = 'io.jwt.decode_verify';
  const token = sign(obj({ alg: 'HS256' }), obj({ sub: 'x' }), SECRET_KEY);
  const pem = (type: string, der: Buffer) => `-----BEGIN ${type}-----\n${der.toString('base64')}\n-----END ${type}-----\n`;
  const ed = safeKeyPair('ed25519');
  const spki = ed.publicKey.export({ format: 'der', type: 'spki' });
  const err = (cert: Value, text: string) => expectError(name, [token, obj({ cert })], `${name}: ${text}`);
  err(5, 'cert constraint: must be a string');
  err('', 'failed to parse a JWK key (set): ');
  err('{"keys": 1}', 'failed to parse a JWK key (set): ');
  err('{"kty": "XYZ"}', 'failed to parse a JWK key (set): ');
  err('{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}, {"kty": "bogus"}]}', 'failed to parse a JWK key (set): ');
  err(pem('PRIVATE KEY', spki), 'failed to extract a Key from the PEM certificate');
  // A PEM whose body is not base64 is no PEM block to Go: the text is then read as a JWK.
  err('-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n', 'failed to parse a JWK key (set): ');
  // x509.ParseCertificate and x509.ParsePKIXPublicKey texts behind OPA's prefixes.
  err(pem('CERTIFICATE', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])), 'failed to parse a PEM certificate: x509: malformed tbs certificate');
  err(pem('CERTIFICATE', Buffer.from('0500', 'hex')), 'failed to parse a PEM certificate: x509: malformed certificate');
  err(pem('PUBLIC KEY', spki.subarray(0, spki.length - 1)), 'failed to parse a PEM public key: asn1: ');
  err(pem('PUBLIC KEY', Buffer.concat([spki, Buffer.from([0])])), 'failed to parse a PEM public key: x509: trailing data after ASN.1 of public-key');
  const rsaPkcs1 = safeKeyPair('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'pkcs1' });
  err(pem('PUBLIC KEY', rsaPkcs1), 'failed to parse a PEM public key: x509: failed to parse public key (use ParsePKCS1PublicKey instead for this key format)');
  const ed448 = (await promisify(generateKeyPair)('ed448')).publicKey.export({ format: 'der', type: 'spki' });
  err(pem('PUBLIC KEY', ed448), 'failed to parse a PEM public key: x509: unknown public key algorithm');
  const badEd = Buffer.from(spki);
  badEd[1] = badEd[1]! - 1;
  badEd[badEd.length - 34] = badEd[badEd.length - 34]! - 1; // the BIT STRING one byte shorter
  err(pem('PUBLIC KEY', Buffer.concat([badEd.subarray(0, badEd.length - 1)])), 'failed to parse a PEM public key: x509: wrong Ed25519 public key size');
  // Constraint errors come before the token is read; the constraint keys are checked one by one.
  expectError(name, ['not a token', obj({ cert: 'x' })], `${name}: failed to parse a JWK key (set): `);
  expectError(name, [token, obj({ cert: spkiPemOf(ed), secret: SECRET })], `${name}: duplicate key constraints`);
  expectError(name, [token, obj({ cert: spkiPemOf(ed), kid: 'k' })], `${name}: unknown token validation constraint: kid`);
});

function spkiPemOf(kp: { publicKey: KeyObject }): string {
  return kp.publicKey.export({ format: 'pem', type: 'spki' }).toString();
}

test('verify_<alg> reads the keys, then the signature, then the header, as OPA does', () => {
  const rsa = safeKeyPair('rsa', { modulusLength: 2048 });
  const good = sign(obj({ alg: 'RS256' }), obj({ sub: 'x' }), fromJson(rsa.privateKey.export({ format: 'jwk' })));
  const [h, p] = good.split('.') as [string, string, string];
  // A bad key is reported before a badly encoded signature, which is reported before a bad header.
  expectError('io.jwt.verify_rs256', [`${h}.${p}.!!`, '{"kty": "bogus"}'], 'io.jwt.verify_rs256: failed to parse a JWK key (set): ');
  expectError('io.jwt.verify_rs256', [`e3!!.${p}.!!`, spkiPemOf(rsa)], 'io.jwt.verify_rs256: JWT signature had invalid encoding: ');
  expectError('io.jwt.verify_rs256', [`e3!!.${p}.AA`, spkiPemOf(rsa)], 'io.jwt.verify_rs256: JWT header had invalid encoding: ');
  // The header's parameters are typed as decode_verify types them.
  const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
  expectError('io.jwt.verify_rs256', [`${b64({ alg: 'RS256', kid: 1 })}.${p}.AA`, spkiPemOf(rsa)], 'io.jwt.verify_rs256: kid: must be a string');
  expectError('io.jwt.verify_rs256', [`${b64({ alg: 'RS256', enc: 'A128GCM' })}.${p}.AA`, spkiPemOf(rsa)], 'io.jwt.verify_rs256: JWT is a JWE object, which is not supported');
  // verify_hs* reads no header at all.
  expectCall('io.jwt.verify_hs256', [`${b64({ alg: 'HS256', kid: 1 })}.${p}.AA`, SECRET], false);
});

test('verify_<alg> takes public keys only; decode_verify verifies as jwsbb.Verify does', () => {
  const rsa = safeKeyPair('rsa', { modulusLength: 2048 });
  const privJwk = rsa.privateKey.export({ format: 'jwk' });
  const token = sign(obj({ alg: 'RS256' }), obj({ sub: 'x' }), fromJson(privJwk));
  // A JWK with private parameters is a private key to Go: not the *rsa.PublicKey verify_rs256 asks for, but a
  // crypto.Signer whose public half decode_verify uses.
  expectCall('io.jwt.verify_rs256', [token, JSON.stringify(privJwk)], false);
  assert.equal((call('io.jwt.decode_verify', [token, obj({ cert: JSON.stringify(privJwk) })]) as Value[])[0], true);
  // PS256: verify_ps256 takes any salt length (rsa.VerifyPSS with no options); decode_verify wants the hash's.
  const headerB64 = Buffer.from('{"alg":"PS256"}').toString('base64url');
  const input = `${headerB64}.${Buffer.from('{"sub":"x"}').toString('base64url')}`;
  const pss = (saltLength: number) => `${input}.${cryptoSign('sha256', Buffer.from(input), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }).toString('base64url')}`;
  const pub = spkiPemOf(rsa);
  for (const [salt, jws] of [[32, true], [20, false], [64, false]] as const) {
    expectCall('io.jwt.verify_ps256', [pss(salt), pub], true);
    assert.equal((call('io.jwt.decode_verify', [pss(salt), obj({ cert: pub })]) as Value[])[0], jws, `salt ${salt}`);
  }
  // ES256: verify_es256 splits the signature in halves of any length; jwsbb wants exactly r || s of 32 bytes each.
  const ec = generateEcKeyPair('P-256');
  const esInput = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}`;
  const raw = cryptoSign('sha256', Buffer.from(esInput), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
  const padded = Buffer.concat([Buffer.alloc(8), raw.subarray(0, 32), Buffer.alloc(8), raw.subarray(32)]);
  const ecPub = spkiPemOf(ec);
  for (const [sig, jws] of [[raw, true], [padded, false]] as const) {
    const tok = `${esInput}.${sig.toString('base64url')}`;
    expectCall('io.jwt.verify_es256', [tok, ecPub], true);
    assert.equal((call('io.jwt.decode_verify', [tok, obj({ cert: ecPub })]) as Value[])[0], jws);
  }
  // An HMAC key in a JWKS verifies HS* tokens in decode_verify; verify_rs256 has no use for it.
  const hs = sign(obj({ alg: 'HS256' }), obj({ sub: 'x' }), SECRET_KEY);
  const octSet = JSON.stringify({ keys: [{ kty: 'oct', k: Buffer.from(SECRET).toString('base64url') }] });
  assert.equal((call('io.jwt.decode_verify', [hs, obj({ cert: octSet })]) as Value[])[0], true);
  expectCall('io.jwt.verify_rs256', [hs, octSet], false);
});

test('cert keys: random JWKS and PEM texts give a result or a BuiltinError, never a crash', () => {
  const token = sign(obj({ alg: 'HS256', kid: 'a' }), obj({ sub: 'x' }), SECRET_KEY);
  const jwkish = fc.oneof(
    fc.json(),
    fc.record({ keys: fc.array(fc.record({ kty: fc.constantFrom('RSA', 'EC', 'OKP', 'oct', 'x', 1), kid: fc.oneof(fc.constant('a'), fc.integer()), alg: fc.constantFrom('HS256', 'RS256', 'none', 3), k: fc.string(), n: fc.string(), e: fc.string(), crv: fc.constantFrom('P-256', 'Ed25519', 'X25519'), x: fc.string(), y: fc.string() }, { requiredKeys: ['kty'] })) }).map((o) => JSON.stringify(o)),
    fc.tuple(fc.constantFrom('CERTIFICATE', 'PUBLIC KEY', 'X'), fc.uint8Array({ maxLength: 80 }), fc.constantFrom('', '\n', 'x')).map(([t, b, tail]) => `-----BEGIN ${t}-----\n${Buffer.from(b).toString('base64')}\n-----END ${t}-----\n${tail}`),
  );
  fc.assert(
    fc.property(jwkish, (cert) => {
      for (const n of ['io.jwt.verify_rs256', 'io.jwt.verify_es256', 'io.jwt.verify_eddsa']) callNoCrash(n, [token, cert]);
      callNoCrash('io.jwt.decode_verify', [token, obj({ cert })]);
    }),
    { numRuns: 300 },
  );
});
