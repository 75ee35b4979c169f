import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { type Value, fromJson, obj } from '../value.js';
import { call, callNoCrash, conformanceCalls, expectCall, expectError, runConformanceCalls, testContext } from './test-support/harness.js';
import { builtins } from './jwt.js';
import { generateEcKeyPair } from '../../formats/jwk.js';
import { safeKeyPair } from '../../formats/keygen.js';

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

// io.jwt.encode_sign_raw as OPA's commonBuiltinJWTEncodeSign checks its inputs (the key, the header, then the
// payload unless typ names another type, then the signer).
test('encode_sign_raw refuses what OPA refuses, with its texts', () => {
  const key = JSON.stringify({ kty: 'oct', k: Buffer.from(SECRET).toString('base64url') });
  const raw = (header: string, payload: string, k = key) => call('io.jwt.encode_sign_raw', [header, payload, k]);
  expectError('io.jwt.encode_sign_raw', ['{"alg": "XX256"}', '{}', key], 'io.jwt.encode_sign_raw: unknown signature algorithm');
  expectError('io.jwt.encode_sign_raw', ['{"alg": 5}', '{}', key], 'unknown signature algorithm');
  expectError('io.jwt.encode_sign_raw', ['{"alg": "none"}', '{}', key], 'failed to create signer: unsupported signature algorithm none');
  expectError('io.jwt.encode_sign_raw', ['{"typ": "JWT"}', '{}', key], 'failed to create signer: unsupported signature algorithm ');
  expectError('io.jwt.encode_sign_raw', ['{"alg": "HS256", "typ": 1}', '{}', key], 'json: cannot unmarshal number into Go struct field StandardHeaders.typ of type string');
  // Without typ the payload must be JSON too; any JSON value will do; another typ lifts the rule.
  expectError('io.jwt.encode_sign_raw', ['{"alg": "HS256"}', 'not json', key], 'type is JWT but payload is not JSON');
  assert.equal(typeof raw('{"alg": "HS256"}', '[1, 2]'), 'string');
  assert.equal(typeof raw('{"alg": "HS256", "typ": "text/plain"}', 'not json'), 'string');
  expectError('io.jwt.encode_sign_raw', ['{"alg": "HS256"}', '{}', 'not a key'], 'invalid JWK');
});
