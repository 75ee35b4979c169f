/**
 * `io.jwt.*` built-ins (opa:v1/topdown/tokens.go) on node:crypto: JWS compact decoding with OPA's error
 * texts, signature verification for HS/RS/PS/ES/EdDSA with keys given as a PEM certificate, a PEM public
 * key or a JWK (set), `decode_verify` with OPA's constraint checks, and signing from a JWK.
 *
 * Keys and token parts are never logged; HMAC comparison is constant-time.
 */
import {
  type KeyObject,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  constants,
  sign as cryptoSign,
  timingSafeEqual,
  verify as cryptoVerify,
} from 'node:crypto';
import { type Value, RObject, isNumber, isObject, isSet, parseJsonValue, toDouble } from '../value.js';
import { type BuiltinContext, type BuiltinDef, argObject, argString, builtinError } from './registry.js';
import { bytesToString, goBase64Decode, goJsonMarshal, stringToBytes } from './encoding.js';
import { firstValueText, goCheckValid, goJsonError } from './gojson.js';
import { goQuote, goQuoteBytes } from './sprintf.js';
import { CocoError } from '../../errors.js';
import { goPemDecode } from './gopem.js';
import { Asn1Error, goCertificatePublicKey, goPkixPublicKey } from './x509.js';

interface Decoded {
  header: RObject;
  payload: Value;
  /** The innermost token's signature (what io.jwt.decode reports). */
  signature: Buffer;
}

class JwtError extends Error {}

/**
 * OPA's base64url decoding of a token part (builtinBase64UrlDecode): a part without trailing `=` gets the padding
 * RFC 7515 appendix C restores, a length padding cannot fix is refused, and a padded part must be padded right.
 */
function b64urlDecode(part: string, what: string): Buffer {
  try {
    let s = part;
    if (!s.endsWith('=')) {
      const r = stringToBytes(s).length % 4;
      if (r === 2) s += '==';
      else if (r === 3) s += '=';
      else if (r === 1) throw new Error(`illegal base64url string: ${s}`);
    }
    return goBase64Decode(s, 'url', true);
  } catch (e) {
    throw new JwtError(`JWT ${what} had invalid encoding: ${(e as Error).message}`);
  }
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/**
 * OPA's extractJSONObject: the text read as json.unmarshal reads it (Go's decoder words a syntax error), and it
 * must be an object.
 */
function extractJsonObject(bytes: Buffer): RObject {
  const text = bytesToString(bytes);
  let v: Value;
  try {
    v = parseJsonValue(text);
  } catch (e) {
    if (!(e instanceof CocoError)) throw e;
    const goErr = goJsonError(text);
    if (goErr !== undefined) throw new JwtError(`invalid JSON: ${goErr}`);
    v = parseJsonValue(firstValueText(text));
  }
  if (!isObject(v)) throw new JwtError('decoded JSON type was not an Object');
  return v;
}

/** OPA's validateJWTHeader: an object (errors prefixed `bad JWT header: `) that is not a JWE. */
function jwtHeader(bytes: Buffer): RObject {
  let header: RObject;
  try {
    header = extractJsonObject(bytes);
  } catch (e) {
    if (e instanceof JwtError) throw new JwtError(`bad JWT header: ${e.message}`);
    throw e;
  }
  if (header.getStr('enc') !== undefined) throw new JwtError('JWT is a JWE object, which is not supported');
  return header;
}

function splitToken(token: string): [string, string, string] {
  if (!token.includes('.')) throw new JwtError('encoded JWT had no period separators');
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError(`encoded JWT must have 3 sections, found ${parts.length}`);
  return parts as [string, string, string];
}

/**
 * io.jwt.decode semantics (OPA's builtinJWTDecode), following nested JWTs: a header whose `cty` is exactly
 * `JWT` (a lower-case `jwt` is an ordinary content type here, unlike decode_verify's case-insensitive test)
 * makes the payload the nested token, with the quote characters `"` and `'` trimmed from both its ends (a
 * nested token is often written as a JSON string); its decoding is the result and the outer signature is
 * not read.
 */
function decodeToken(token: string): Decoded {
  const [h, p, s] = splitToken(token);
  const header = jwtHeader(b64urlDecode(h, 'header'));
  const payloadBytes = b64urlDecode(p, 'payload');
  if (header.getStr('cty') === 'JWT') return decodeToken(bytesToString(payloadBytes).replace(/^["']+|["']+$/g, ''));
  // As OPA: the payload must be an object before the signature is decoded.
  const payload = extractJsonObject(payloadBytes);
  const signature = b64urlDecode(s, 'signature');
  return { header, payload, signature };
}

// --- keys -------------------------------------------------------------------------------------------------

/**
 * A key a `cert` argument gives (OPA's verificationKey): the key, or null for one Go holds but nothing verifies
 * with; the JWK's `alg` and `kid` ("" when absent or not from a JWK); whether the JWK held private parameters
 * (Go then holds a private-key type, which the verify_* builtins do not take as a public key).
 */
interface VerificationKey {
  key: KeyObject | null;
  alg: string;
  kid: string;
  privateKey: boolean;
}

function jwkError(cause: string): JwtError {
  return new JwtError(`failed to parse a JWK key (set): ${cause}`);
}

/** One JWK as a key (jwk.Export): the key types Go can hold; an unknown `kty` or bad members are refused. */
function jwkKey(jwk: unknown, where: string): VerificationKey {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw jwkError(`${where}: a JWK must be a JSON object`);
  const k = jwk as Record<string, unknown>;
  for (const member of ['kty', 'alg', 'kid'] as const) {
    if (k[member] !== undefined && typeof k[member] !== 'string') throw jwkError(`${where}: "${member}" must be a string`);
  }
  const kty = (k.kty as string | undefined) ?? '';
  const vk: VerificationKey = { key: null, alg: (k.alg as string | undefined) ?? '', kid: (k.kid as string | undefined) ?? '', privateKey: k.d !== undefined };
  try {
    switch (kty) {
      case 'oct':
        if (typeof k.k !== 'string') throw new Error('missing "k"');
        vk.key = createSecretKey(Buffer.from(k.k, 'base64url'));
        vk.privateKey = false;
        return vk;
      case 'RSA':
      case 'EC':
        vk.key = createPublicKey({ key: k as never, format: 'jwk' });
        return vk;
      case 'OKP':
        // Go reads Ed25519 and X25519 keys; of those only Ed25519 verifies (EdDSA).
        if (k.crv !== 'Ed25519' && k.crv !== 'X25519') throw new Error(`unsupported curve ${JSON.stringify(k.crv)}`);
        vk.key = createPublicKey({ key: k as never, format: 'jwk' });
        return vk;
      default:
        throw new Error(`invalid key type ${JSON.stringify(kty)}`);
    }
  } catch (e) {
    throw jwkError(`${where}: ${(e as Error).message}`);
  }
}

/**
 * jwk.ParseString: a JWK set (an object with `keys`) or a single JWK. As OPA's getKeysFromCertOrJWK, a key
 * whose `alg` is not one of the JWS algorithms OPA knows is left out.
 */
function jwkKeys(text: string): VerificationKey[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw jwkError('not a JSON JWK or JWK set');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw jwkError('not a JSON JWK or JWK set');
  const o = v as Record<string, unknown>;
  let keys: VerificationKey[];
  if ('keys' in o) {
    if (!Array.isArray(o.keys)) throw jwkError('"keys" must be an array of JWKs');
    keys = o.keys.map((k, i) => jwkKey(k, `key #${i} in "keys"`));
  } else keys = [jwkKey(o, 'the sole key')];
  return keys.filter((k) => k.alg === '' || ALGS[k.alg] !== undefined);
}

/**
 * OPA's getKeysFromCertOrJWK: the first PEM block Go's pem.Decode finds, which must end the text, holding a
 * CERTIFICATE (x509.ParseCertificate) or a PUBLIC KEY (x509.ParsePKIXPublicKey), each failure with Go's
 * text; text with no PEM block is read as a JWK or JWK set.
 */
function verificationKeys(certOrJwk: string): VerificationKey[] {
  const found = goPemDecode(certOrJwk);
  if (found) {
    const { block, rest } = found;
    if (rest.length > 0) throw new JwtError('extra data after a PEM certificate block');
    const one = (key: KeyObject | null): VerificationKey[] => [{ key, alg: '', kid: '', privateKey: false }];
    if (block.type === 'CERTIFICATE') {
      try {
        return one(goCertificatePublicKey(block.bytes));
      } catch (e) {
        if (e instanceof Asn1Error) throw new JwtError(`failed to parse a PEM certificate: ${e.message}`);
        throw e;
      }
    }
    if (block.type === 'PUBLIC KEY') {
      try {
        return one(goPkixPublicKey(block.bytes));
      } catch (e) {
        if (e instanceof Asn1Error) throw new JwtError(`failed to parse a PEM public key: ${e.message}`);
        throw e;
      }
    }
    throw new JwtError('failed to extract a Key from the PEM certificate');
  }
  return jwkKeys(certOrJwk);
}

/**
 * OPA's key choice (builtinJWTVerify and tokenConstraints.verify): a key whose `kid` is the token's `kid` is
 * the only one tried; otherwise every key in order, skipping those whose `alg` names another algorithm than
 * the token header's, until one verifies.
 */
function verifyWithKeys(keys: VerificationKey[], kid: string, headerAlg: string, check: (k: VerificationKey) => boolean): boolean {
  if (kid !== '') {
    const byKid = keys.find((k) => k.kid === kid);
    if (byKid) return check(byKid);
  }
  return keys.some((k) => (k.alg === '' || k.alg === headerAlg) && check(k));
}

// --- algorithms --------------------------------------------------------------------------------------------

interface Alg {
  kind: 'hmac' | 'rsa' | 'pss' | 'ecdsa' | 'eddsa';
  hash: string | null;
}

const ALGS: Record<string, Alg> = {
  HS256: { kind: 'hmac', hash: 'sha256' },
  HS384: { kind: 'hmac', hash: 'sha384' },
  HS512: { kind: 'hmac', hash: 'sha512' },
  RS256: { kind: 'rsa', hash: 'sha256' },
  RS384: { kind: 'rsa', hash: 'sha384' },
  RS512: { kind: 'rsa', hash: 'sha512' },
  PS256: { kind: 'pss', hash: 'sha256' },
  PS384: { kind: 'pss', hash: 'sha384' },
  PS512: { kind: 'pss', hash: 'sha512' },
  ES256: { kind: 'ecdsa', hash: 'sha256' },
  ES384: { kind: 'ecdsa', hash: 'sha384' },
  ES512: { kind: 'ecdsa', hash: 'sha512' },
  EdDSA: { kind: 'eddsa', hash: null },
};

/** A DER INTEGER of the unsigned big-endian bytes (leading zeros dropped, a zero octet before a high bit). */
function derInteger(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  let v = b.subarray(i);
  if (v.length === 0) v = Buffer.from([0]);
  if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return Buffer.concat([derLength(0x02, v.length), v]);
}

function derLength(tag: number, n: number): Buffer {
  if (n < 0x80) return Buffer.from([tag, n]);
  const bytes: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
}

/**
 * One signature check. `jws` is decode_verify's jwsbb.Verify: private JWKs verify through their public half,
 * PS* salts are the hash's length, ES* signatures are exactly twice the curve's size. Otherwise the verify_*
 * builtins' checks: a public key of the builtin's type only, PS* with any salt length, ES* r and s as the
 * two halves of a signature of any length.
 */
function verifyWith(alg: Alg, vk: VerificationKey, input: string, sig: Buffer, jws: boolean): boolean {
  const key = vk.key;
  if (key === null) return false;
  const data = Buffer.from(input, 'utf8');
  const publicOk = jws || !vk.privateKey;
  try {
    switch (alg.kind) {
      case 'hmac': {
        if (key.type !== 'secret') return false;
        const mac = createHmac(alg.hash!, key.export()).update(data).digest();
        return mac.length === sig.length && timingSafeEqual(mac, sig);
      }
      case 'rsa':
        return publicOk && key.asymmetricKeyType === 'rsa' && cryptoVerify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, sig);
      case 'pss':
        return (
          publicOk &&
          key.asymmetricKeyType === 'rsa' &&
          cryptoVerify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: jws ? constants.RSA_PSS_SALTLEN_DIGEST : constants.RSA_PSS_SALTLEN_AUTO }, sig)
        );
      case 'ecdsa': {
        if (!publicOk || key.asymmetricKeyType !== 'ec') return false;
        if (jws) return cryptoVerify(alg.hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
        const n = Math.floor(sig.length / 2);
        const body = Buffer.concat([derInteger(sig.subarray(0, n)), derInteger(sig.subarray(n))]);
        return cryptoVerify(alg.hash, data, { key, dsaEncoding: 'der' }, Buffer.concat([derLength(0x30, body.length), body]));
      }
      case 'eddsa':
        return publicOk && key.asymmetricKeyType === 'ed25519' && cryptoVerify(null, data, key, sig);
    }
  } catch {
    return false;
  }
}

/**
 * io.jwt.verify_<alg> for the public-key algorithms, in OPA's order (builtinJWTVerify): the token's sections,
 * the keys, the signature's encoding, the header (decoded and its parameters typed), then OPA's key choice.
 */
function verifyBuiltin(name: string, algName: string): BuiltinDef {
  const alg = ALGS[algName]!;
  return {
    name,
    arity: 2,
    fn: (a) => {
      const token = argString(name, a, 0);
      const keyText = argString(name, a, 1);
      return jwtWrap(name, () => {
        const [h, p, s] = splitToken(token);
        const keys = verificationKeys(keyText);
        const sig = b64urlDecode(s, 'signature');
        const th = tokenHeader(jwtHeader(b64urlDecode(h, 'header')));
        return verifyWithKeys(keys, th.kid, th.alg, (k) => verifyWith(alg, k, `${h}.${p}`, sig, false));
      });
    },
  };
}

/** io.jwt.verify_hs<n> (builtinJWTVerifyHS): the token's sections, the HMAC under the secret, the signature. */
function verifyHsBuiltin(name: string, algName: string): BuiltinDef {
  const alg = ALGS[algName]!;
  return {
    name,
    arity: 2,
    fn: (a) => {
      const token = argString(name, a, 0);
      const secret = argString(name, a, 1);
      return jwtWrap(name, () => {
        const [h, p, s] = splitToken(token);
        const sig = b64urlDecode(s, 'signature');
        return verifyWith(alg, { key: createSecretKey(Buffer.from(secret, 'utf8')), alg: '', kid: '', privateKey: false }, `${h}.${p}`, sig, false);
      });
    },
  };
}

function jwtWrap<T>(name: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof JwtError) throw builtinError(name, e.message);
    throw e;
  }
}

// --- decode_verify -----------------------------------------------------------------------------------------

interface Constraints {
  keys?: VerificationKey[];
  secret?: string;
  alg?: string;
  iss?: string;
  aud?: string;
  time: number;
}

/**
 * OPA's parseTokenConstraints and validate: each constraint typed (`iss constraint: must be a string`, the time
 * a non-negative float64 of nanoseconds), an empty string the same as no constraint (OPA tests each against
 * ""), and exactly one key constraint: `cert` (any keys it gives) or a non-empty `secret`.
 */
function constraints(name: string, o: RObject, ctx: BuiltinContext): Constraints {
  const c: Constraints = { time: Number(ctx.now()) };
  const str = (k: string, v: Value): string | undefined => {
    if (typeof v !== 'string') throw builtinError(name, `${k} constraint: must be a string`);
    return v === '' ? undefined : v;
  };
  for (const [k, v] of o.entries()) {
    switch (k) {
      case 'cert':
        if (typeof v !== 'string') throw builtinError(name, 'cert constraint: must be a string');
        c.keys = verificationKeys(v);
        break;
      case 'secret':
        c.secret = str(k, v);
        break;
      case 'alg':
        c.alg = str(k, v);
        break;
      case 'iss':
        c.iss = str(k, v);
        break;
      case 'aud':
        c.aud = str(k, v);
        break;
      case 'time': {
        if (!isNumber(v)) throw builtinError(name, 'token time constraint: must be a number');
        const t = toDouble(v);
        if (!Number.isFinite(t)) throw builtinError(name, 'token time constraint: unvalid float64');
        if (t < 0) throw builtinError(name, 'token time constraint: must not be negative');
        c.time = t;
        break;
      }
      default:
        throw builtinError(name, `unknown token validation constraint: ${String(k)}`);
    }
  }
  const keys = (c.keys !== undefined ? 1 : 0) + (c.secret !== undefined ? 1 : 0);
  if (keys > 1) throw builtinError(name, 'duplicate key constraints');
  if (keys < 1) throw builtinError(name, 'no key constraint');
  return c;
}

/** The JOSE header parameters decode_verify reads (OPA topdown/tokens.go parseTokenHeader). */
interface TokenHeader {
  alg: string;
  kid: string;
  cty: string;
  crit: Set<string>;
  unknown: string[];
}

function tokenHeader(header: RObject): TokenHeader {
  const h: TokenHeader = { alg: '', kid: '', cty: '', crit: new Set(), unknown: [] };
  for (const [k, v] of header.entries()) {
    switch (k) {
      case 'alg':
      case 'kid':
      case 'typ':
      case 'cty':
        if (typeof v !== 'string') throw new JwtError(`${k}: must be a string`);
        if (k !== 'typ') h[k] = v;
        break;
      case 'crit':
        if (!Array.isArray(v)) throw new JwtError('crit: must be a list');
        // OPA stops collecting at the first non-string element and only then checks for emptiness.
        for (const x of v) {
          if (typeof x !== 'string') break;
          h.crit.add(x);
        }
        if (h.crit.size === 0) throw new JwtError('crit: must be a nonempty list');
        break;
      default:
        if (typeof k === 'string') h.unknown.push(k);
    }
  }
  return h;
}

/**
 * io.jwt.decode_verify, step by step as OPA's builtinJWTDecodeVerify (RFC 7519 §7.2): every level of a nested
 * token (`cty: JWT`, any case) must carry a valid header and verify under the constraints; a header naming a
 * critical parameter this code does not understand (RFC 7515 §4.1.11) makes the token unverified. Malformed
 * tokens are errors; tokens that fail a check are `[false, {}, {}]`.
 */
function decodeVerify(a: Value[], ctx: BuiltinContext): Value {
  const name = 'io.jwt.decode_verify';
  const token = argString(name, a, 0);
  const o = argObject(name, a, 1);
  const invalid = [false, new RObject(), new RObject()];
  return jwtWrap(name, () => {
    const c = constraints(name, o, ctx);
    let text = token;
    let header: RObject;
    let payloadBytes: Buffer;
    for (;;) {
      const [h, p, s] = splitToken(text);
      header = jwtHeader(b64urlDecode(h, 'header'));
      const th = tokenHeader(header);
      if (th.alg === '' || th.unknown.some((u) => th.crit.has(u))) return invalid;
      if (c.alg !== undefined && c.alg !== th.alg) return invalid;
      const sig = b64urlDecode(s, 'signature');
      const alg = ALGS[th.alg];
      if (!alg) return invalid;
      const input = `${h}.${p}`;
      // Keys from `cert` are chosen as OPA chooses them; a secret is the only key when there is no `cert`.
      const verified =
        c.keys !== undefined
          ? verifyWithKeys(c.keys, th.kid, th.alg, (k) => verifyWith(alg, k, input, sig, true))
          : verifyWith(alg, { key: createSecretKey(Buffer.from(c.secret!, 'utf8')), alg: '', kid: '', privateKey: false }, input, sig, true);
      if (!verified) return invalid;
      payloadBytes = b64urlDecode(p, 'payload');
      if (th.cty.toUpperCase() !== 'JWT') break;
      // A nested token: its compact form is the payload, verified again with the same constraints.
      text = bytesToString(payloadBytes);
    }
    const payload = extractJsonObject(payloadBytes);
    // An iss constraint needs the token's iss, and the same one.
    if (c.iss !== undefined && payload.getStr('iss') !== c.iss) return invalid;
    // A token's aud (a string or a list holding strings) must name the aud constraint, "" when there is none.
    const aud = payload.getStr('aud');
    const want = c.aud ?? '';
    if (aud !== undefined) {
      if (!(typeof aud === 'string' ? aud === want : Array.isArray(aud) && aud.some((x) => x === want))) return invalid;
    } else if (c.aud !== undefined) return invalid;
    // exp and nbf are NumericDates (RFC 7519 §2): anything else is a malformed token, not an expired one.
    const exp = payload.getStr('exp');
    if (exp !== undefined) {
      if (!isNumber(exp)) throw new JwtError('exp value must be a number');
      if (c.time / 1e9 >= toDouble(exp)) return invalid;
    }
    const nbf = payload.getStr('nbf');
    if (nbf !== undefined) {
      if (!isNumber(nbf)) throw new JwtError('nbf value must be a number');
      if (c.time / 1e9 < toDouble(nbf)) return invalid;
    }
    return [true, header, payload];
  });
}

// --- signing -------------------------------------------------------------------------------------------------
//
// io.jwt.encode_sign(_raw) as OPA 1.x's commonBuiltinJWTEncodeSign runs it on jwx v3: jwk.Parse reads the key
// (set), the JOSE header is read only as far as jwsbb's header reader reads it (its `alg` and `typ` strings),
// and jwsbb.Sign signs with the set's first key.

/** Why a key text is refused; `text` is the whole message. */
class SignError extends Error {}

/** fastjson's startEndString: a text past 80 bytes shown as its first and last 40 bytes. */
function startEnd(b: Uint8Array): Uint8Array {
  if (b.length <= 80) return b;
  return Buffer.concat([b.subarray(0, 40), Buffer.from('...'), b.subarray(b.length - 40)]);
}

/** A value as fastjson holds it: strings and object keys raw (escapes unread), numbers not read at all. */
type FjValue = { t: 'object'; kvs: [Uint8Array, FjValue][] } | { t: 'array' } | { t: 'string'; raw: Uint8Array } | { t: 'scalar' };

class FjError extends Error {
  constructor(
    message: string,
    readonly tail: number,
  ) {
    super(message);
  }
}

const FJ_MAX_DEPTH = 300;

/**
 * jwsbb.HeaderParse: valyala/fastjson's Parser. It finds the ends of strings and numbers without checking what
 * is inside (escapes, control characters, number syntax are read, if ever, only when a value is asked for);
 * errors read `cannot parse JSON: <why>; unparsed tail: "<rest>"` or `unexpected tail: "<rest>"`.
 */
function fastjsonParse(b: Uint8Array): FjValue | string {
  const ws = (i: number): number => {
    while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x09 || b[i] === 0x0d)) i++;
    return i;
  };
  // A string's end after its opening quote: the first quote not escaped by an odd run of backslashes.
  const rawString = (i: number): number => {
    for (let j = i; j < b.length; j++) {
      if (b[j] !== 0x22) continue;
      let k = j;
      while (k > i && b[k - 1] === 0x5c) k--;
      if ((j - k) % 2 === 0) return j;
    }
    throw new FjError(`missing closing '"'`, b.length);
  };
  const word = (i: number, w: string): boolean => Buffer.from(b.subarray(i, i + w.length)).toString('latin1') === w;
  const parseValue = (i: number, depth: number): [FjValue, number] => {
    if (i >= b.length) throw new FjError('cannot parse empty string', i);
    if (depth + 1 > FJ_MAX_DEPTH) throw new FjError(`too big depth for the nested JSON; it exceeds ${FJ_MAX_DEPTH}`, i);
    const c = b[i]!;
    const wrap = (what: string, f: () => [FjValue, number]): [FjValue, number] => {
      try {
        return f();
      } catch (e) {
        if (e instanceof FjError) throw new FjError(`cannot parse ${what}: ${e.message}`, e.tail);
        throw e;
      }
    };
    if (c === 0x7b) return wrap('object', () => parseObject(i + 1, depth + 1));
    if (c === 0x5b) return wrap('array', () => parseArray(i + 1, depth + 1));
    if (c === 0x22) {
      return wrap('string', () => {
        const end = rawString(i + 1);
        return [{ t: 'string', raw: b.subarray(i + 1, end) }, end + 1];
      });
    }
    const unexpected = (): never => {
      throw new FjError(`unexpected value found: ${goQuoteBytes(startEnd(b.subarray(i)))}`, i);
    };
    if (c === 0x74) return word(i, 'true') ? [{ t: 'scalar' }, i + 4] : unexpected();
    if (c === 0x66) return word(i, 'false') ? [{ t: 'scalar' }, i + 5] : unexpected();
    if (c === 0x6e) {
      if (word(i, 'null')) return [{ t: 'scalar' }, i + 4];
      return /^nan$/i.test(Buffer.from(b.subarray(i, i + 3)).toString('latin1')) ? [{ t: 'scalar' }, i + 3] : unexpected();
    }
    // A number: the run of digits, signs, dots and exponent letters; `inf`/`nan` (after an optional sign).
    let j = i;
    while (j < b.length && /[0-9.eE+-]/.test(String.fromCharCode(b[j]!))) j++;
    if (j === b.length) return [{ t: 'scalar' }, j];
    if (j === i || (j === i + 1 && (b[i] === 0x2d || b[i] === 0x2b))) {
      if (/^(inf|nan)$/i.test(Buffer.from(b.subarray(j, j + 3)).toString('latin1'))) return [{ t: 'scalar' }, j + 3];
      throw new FjError(`cannot parse number: unexpected char: ${goQuoteBytes(b.subarray(i, i + 1))}`, i);
    }
    return [{ t: 'scalar' }, j];
  };
  const parseArray = (i: number, depth: number): [FjValue, number] => {
    i = ws(i);
    if (i >= b.length) throw new FjError("missing ']'", i);
    if (b[i] === 0x5d) return [{ t: 'array' }, i + 1];
    for (;;) {
      i = ws(i);
      try {
        i = parseValue(i, depth)[1];
      } catch (e) {
        if (e instanceof FjError) throw new FjError(`cannot parse array value: ${e.message}`, e.tail);
        throw e;
      }
      i = ws(i);
      if (i >= b.length) throw new FjError('unexpected end of array', i);
      if (b[i] === 0x2c) {
        i++;
        continue;
      }
      if (b[i] === 0x5d) return [{ t: 'array' }, i + 1];
      throw new FjError("missing ',' after array value", i);
    }
  };
  const parseObject = (i: number, depth: number): [FjValue, number] => {
    const kvs: [Uint8Array, FjValue][] = [];
    i = ws(i);
    if (i >= b.length) throw new FjError("missing '}'", i);
    if (b[i] === 0x7d) return [{ t: 'object', kvs }, i + 1];
    for (;;) {
      i = ws(i);
      if (i >= b.length || b[i] !== 0x22) throw new FjError(`cannot find opening '"" for object key`, i);
      let end: number;
      try {
        end = rawString(i + 1);
      } catch (e) {
        if (e instanceof FjError) throw new FjError(`cannot parse object key: ${e.message}`, e.tail);
        throw e;
      }
      const key = b.subarray(i + 1, end);
      i = ws(end + 1);
      if (i >= b.length || b[i] !== 0x3a) throw new FjError("missing ':' after object key", i);
      i = ws(i + 1);
      let v: FjValue;
      try {
        [v, i] = parseValue(i, depth);
      } catch (e) {
        if (e instanceof FjError) throw new FjError(`cannot parse object value: ${e.message}`, e.tail);
        throw e;
      }
      kvs.push([key, v]);
      i = ws(i);
      if (i >= b.length) throw new FjError('unexpected end of object', i);
      if (b[i] === 0x2c) {
        i++;
        continue;
      }
      if (b[i] === 0x7d) return [{ t: 'object', kvs }, i + 1];
      throw new FjError("missing ',' after object value", i);
    }
  };
  const start = ws(0);
  let v: FjValue;
  let tail: number;
  try {
    [v, tail] = parseValue(start, 0);
  } catch (e) {
    if (e instanceof FjError) return `cannot parse JSON: ${e.message}; unparsed tail: ${goQuoteBytes(startEnd(b.subarray(e.tail)))}`;
    throw e;
  }
  tail = ws(tail);
  if (tail < b.length) return `unexpected tail: ${goQuoteBytes(startEnd(b.subarray(tail)))}`;
  return v;
}

/**
 * fastjson's unescapeStringBestEffort: the JSON escapes read, a surrogate pair joined, anything it cannot read
 * (a bad or short `\u`, an unknown escape) kept as written.
 */
function fjUnescape(raw: Uint8Array): Buffer {
  const out: number[] = [];
  const hex4 = (k: number): number | undefined => {
    const s = Buffer.from(raw.subarray(k, k + 4)).toString('latin1');
    return /^[0-9a-fA-F]{4}$/.test(s) ? parseInt(s, 16) : undefined;
  };
  const push = (text: string) => out.push(...Buffer.from(text, 'utf8'));
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c !== 0x5c || i + 1 >= raw.length) {
      out.push(c);
      i++;
      continue;
    }
    const e = raw[i + 1]!;
    i += 2;
    const simple: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9 };
    if (simple[e] !== undefined) {
      out.push(simple[e]);
      continue;
    }
    if (e !== 0x75) {
      out.push(0x5c, e);
      continue;
    }
    const x = hex4(i);
    if (x === undefined) {
      out.push(0x5c, 0x75);
      continue;
    }
    i += 4;
    if (x < 0xd800 || x > 0xdfff) {
      push(String.fromCodePoint(x));
      continue;
    }
    // A surrogate: joined with a `\u` that follows; otherwise kept as written.
    const x1 = raw[i] === 0x5c && raw[i + 1] === 0x75 ? hex4(i + 2) : undefined;
    if (x1 === undefined) {
      out.push(0x5c, 0x75, ...raw.subarray(i - 4, i));
      continue;
    }
    i += 6;
    // utf16.DecodeRune: a high then a low surrogate make one rune, any other pair U+FFFD.
    push(x < 0xdc00 && x1 >= 0xdc00 && x1 <= 0xdfff ? String.fromCodePoint(0x10000 + ((x - 0xd800) << 10) + (x1 - 0xdc00)) : '\ufffd');
  }
  return Buffer.from(out);
}

/**
 * jwsbb.HeaderGetString: the header's member as a string, "" when the header is not an object, lacks the member
 * or holds another type there. As fastjson's Object.Get: the first member whose key is written exactly so, else
 * the first whose key reads so once unescaped.
 */
function fjGetString(v: FjValue, key: string): string {
  if (v.t !== 'object') return '';
  const k = Buffer.from(key, 'utf8');
  const m = v.kvs.find(([raw]) => k.equals(raw)) ?? v.kvs.find(([raw]) => k.equals(fjUnescape(raw)));
  if (!m || m[1].t !== 'string') return '';
  return fjUnescape(m[1].raw).toString('utf8');
}

// --- jwk.Parse ---

/** The Go type jwx v3 holds a parsed JWK in (its `%T` in error texts). */
type JwkType = 'rsaPrivateKey' | 'rsaPublicKey' | 'ecdsaPrivateKey' | 'ecdsaPublicKey' | 'okpPrivateKey' | 'okpPublicKey' | 'symmetricKey';

interface SigningKey {
  type: JwkType;
  /** The key for node:crypto: secret bytes for `oct`, else the key object. */
  secret?: Buffer;
  key?: KeyObject;
  /** OKP only: the curve. */
  crv?: string;
}

const B64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * One JWK as jwx v3's ParseKey reads it: the `kty` hint picks the key type (`invalid key type from JSON (<kty>)`,
 * `()` when there is none), `d` present makes it a private key, then the members are read into it. What the
 * member read reports is jwx's own and differs between its releases: the texts after `failed to unmarshal JSON
 * into key (<type>): ` are ours.
 */
function parseJwk(v: unknown): SigningKey {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SignError('jwk.Parse: failed to probe data: a JWK must be a JSON object');
  const k = v as Record<string, unknown>;
  if (k.kty !== undefined && typeof k.kty !== 'string') throw new SignError('jwk.Parse: failed to probe data: "kty" must be a string');
  const kty = (k.kty as string | undefined) ?? '';
  const priv = 'd' in k;
  const types: Record<string, JwkType> = {
    RSA: priv ? 'rsaPrivateKey' : 'rsaPublicKey',
    EC: priv ? 'ecdsaPrivateKey' : 'ecdsaPublicKey',
    OKP: priv ? 'okpPrivateKey' : 'okpPublicKey',
    oct: 'symmetricKey',
  };
  const type = Object.hasOwn(types, kty) ? types[kty] : undefined;
  if (type === undefined) throw new SignError(`invalid key type from JSON (${kty})`);
  const bad = (why: string): never => {
    throw new SignError(`failed to unmarshal JSON into key (*jwk.${type}): ${why}`);
  };
  for (const [name, value] of Object.entries(k)) {
    if (['kty', 'kid', 'alg', 'use', 'crv', 'x5u', 'x5t', 'x5t#S256', 'k', 'n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'x', 'y'].includes(name) && typeof value !== 'string') {
      bad(`"${name}" must be a string`);
    }
    if (['k', 'n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'x', 'y'].includes(name) && (!B64.test(value as string) || (value as string).replace(/=+$/, '').length % 4 === 1)) {
      bad(`"${name}" is not base64 data`);
    }
  }
  if (type === 'symmetricKey') {
    if (typeof k.k !== 'string') bad('"k" is required');
    return { type, secret: Buffer.from(k.k as string, 'base64url') };
  }
  if (kty === 'OKP' && k.crv !== 'Ed25519' && k.crv !== 'X25519') bad(`unsupported curve ${JSON.stringify(k.crv ?? '')}`);
  try {
    const key = priv ? createPrivateKey({ key: k as never, format: 'jwk' }) : createPublicKey({ key: k as never, format: 'jwk' });
    return { type, key, crv: k.crv as string | undefined };
  } catch (e) {
    return bad(`invalid key material (${(e as Error).message})`);
  }
}

/**
 * jwk.Parse (jwx v3): Go's json.Unmarshal into a key set, so the text must be JSON (`failed to unmarshal JWK
 * set: <encoding/json's syntax error>`); the set decoder then wants an object: one with `keys` is a set (each
 * member a JWK, `failed to decode key #<i> in "keys": ...`), one without is a single JWK (`failed to parse sole
 * key in key set`, jwx giving no cause).
 */
function parseJwkSet(text: string): SigningKey[] {
  const fail = (why: string): never => {
    throw new SignError(`failed to unmarshal JWK set: ${why}`);
  };
  const syntax = goCheckValid(text);
  if (syntax !== undefined) fail(syntax);
  const v = JSON.parse(text) as unknown;
  if (Array.isArray(v)) fail("expected '{' but got '['");
  // A lone string is read as an object key whose value is missing; other scalars leave nothing to read.
  if (typeof v === 'string') fail(v === 'keys' ? 'failed to decode "keys": EOF' : `failed to decode value for key ${goQuote(v)}: EOF`);
  if (typeof v !== 'object' || v === null) fail('error reading token: EOF');
  // Members in the order written (duplicates included), as Go's token reader sees them.
  const members = jsonMembers(text);
  const keyLists = members.filter(([name]) => name === 'keys').map(([, value]) => value);
  if (keyLists.length === 0) {
    try {
      return [parseJwk(v)];
    } catch (e) {
      if (e instanceof SignError) fail('failed to parse sole key in key set');
      throw e;
    }
  }
  const keys: SigningKey[] = [];
  for (const list of keyLists) {
    if (list === null) continue;
    if (!Array.isArray(list)) fail(`failed to decode "keys": json: cannot unmarshal ${goJsonType(list)} into Go value of type []json.RawMessage`);
    (list as unknown[]).forEach((member, i) => {
      try {
        keys.push(parseJwk(member));
      } catch (e) {
        if (e instanceof SignError) fail(`failed to decode key #${i} in "keys": ${e.message}`);
        throw e;
      }
    });
  }
  return keys;
}

/** The JSON kind encoding/json names in an UnmarshalTypeError. */
function goJsonType(v: unknown): string {
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

/** The top-level object's members in written order, duplicates kept (JSON.parse keeps only the last). */
function jsonMembers(text: string): [string, unknown][] {
  const out: [string, unknown][] = [];
  let i = text.indexOf('{') + 1;
  const skipWs = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  for (;;) {
    skipWs();
    if (text[i] === '}') return out;
    const keyEnd = jsonValueEnd(text, i);
    const name = JSON.parse(text.slice(i, keyEnd)) as string;
    i = keyEnd;
    skipWs();
    i++; // ':'
    skipWs();
    const end = jsonValueEnd(text, i);
    out.push([name, JSON.parse(text.slice(i, end)) as unknown]);
    i = end;
    skipWs();
    if (text[i] === ',') i++;
  }
}

/** The end of the (valid) JSON value starting at `i`. */
function jsonValueEnd(text: string, i: number): number {
  let depth = 0;
  let inString = false;
  for (let j = i; j < text.length; j++) {
    const c = text[j]!;
    if (inString) {
      if (c === '\\') j++;
      else if (c === '"') {
        inString = false;
        if (depth === 0) return j + 1;
      }
      continue;
    }
    if (depth === 0 && (c === ',' || c === '}' || c === ']' || ' \t\n\r'.includes(c))) return j;
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  return text.length;
}

// --- jwsbb.Sign ---

/**
 * jwsbb.Sign with a jwk.Key: the key is exported to the raw type the algorithm's family needs ([]byte,
 * *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey); a key that does not export so is `jwsbb.Sign:
 * invalid key type *jwk.<type>. <raw type> is required: <keyconv's text>: jwk.Export: no suitable exporter found
 * for key type '*jwk.<type>'` (every exporter of the key's type passing on a destination of another type). An
 * X25519 OKP key asked for an Ed25519 key gets the same text here; jwx's own wording of that case is not pinned.
 */
function jwsSign(key: SigningKey, alg: string, input: Buffer): Buffer {
  const a = ALGS[alg]!;
  const refuse = (required: string, produce: string): never => {
    const raw = required.replace(/^\*/, '');
    throw new SignError(
      `jwsbb.Sign: invalid key type *jwk.${key.type}. ${required} is required: ${produce}failed to produce ${raw} from *jwk.${key.type}: jwk.Export: no suitable exporter found for key type '*jwk.${key.type}'`,
    );
  };
  switch (a.kind) {
    case 'hmac':
      if (key.secret === undefined) return refuse('[]byte', 'keyconv: ');
      return createHmac(a.hash!, key.secret).update(input).digest();
    case 'rsa':
    case 'pss':
      if (key.type !== 'rsaPrivateKey') return refuse('*rsa.PrivateKey', '');
      return a.kind === 'rsa'
        ? cryptoSign(a.hash, input, { key: key.key!, padding: constants.RSA_PKCS1_PADDING })
        : cryptoSign(a.hash, input, { key: key.key!, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
    case 'ecdsa':
      if (key.type !== 'ecdsaPrivateKey') return refuse('*ecdsa.PrivateKey', 'keyconv: ');
      return cryptoSign(a.hash, input, { key: key.key!, dsaEncoding: 'ieee-p1363' });
    case 'eddsa':
      if (key.type !== 'okpPrivateKey' || key.crv !== 'Ed25519') return refuse('ed25519.PrivateKey', '');
      return cryptoSign(null, input, key.key!);
  }
}

/**
 * io.jwt.encode_sign(_raw) in OPA's order (commonBuiltinJWTEncodeSign): the key (set) and its first key; the
 * header's `alg` (`missing or invalid 'alg' header: <fastjson's error>` when the header does not parse), which
 * must be one OPA knows (`unknown JWS algorithm: <alg>`); a header whose `typ` is `JWT` needs a payload that is
 * JSON; then the signature over the base64url header and payload as given.
 */
function signRaw(name: string, headerText: string, payloadText: string, keyText: string): string {
  try {
    const keys = parseJwkSet(keyText);
    if (keys.length === 0) throw new SignError('no keys found in JWK set');
    const headerBytes = Buffer.from(headerText, 'utf8');
    const header = fastjsonParse(headerBytes);
    if (typeof header === 'string') throw new SignError(`missing or invalid 'alg' header: ${header}`);
    const alg = fjGetString(header, 'alg');
    if (ALGS[alg] === undefined) throw new SignError(`unknown JWS algorithm: ${alg}`);
    if (fjGetString(header, 'typ') === 'JWT' && goCheckValid(payloadText) !== undefined) throw new SignError('type is JWT but payload is not JSON');
    const input = `${b64url(headerBytes)}.${b64url(payloadText)}`;
    return `${input}.${b64url(jwsSign(keys[0]!, alg, Buffer.from(input, 'utf8')))}`;
  } catch (e) {
    if (e instanceof SignError) throw builtinError(name, e.message);
    throw e;
  }
}

/** Sets in the header/payload/key become arrays, as OPA's ast.JSON conversion does. */
function jsonText(v: Value): string {
  return goJsonMarshal(v);
}

export const builtins: BuiltinDef[] = [
  {
    name: 'io.jwt.decode',
    arity: 1,
    fn: (a) =>
      jwtWrap('io.jwt.decode', () => {
        const d = decodeToken(argString('io.jwt.decode', a, 0));
        return [d.header, d.payload, d.signature.toString('hex')];
      }),
  },
  verifyHsBuiltin('io.jwt.verify_hs256', 'HS256'),
  verifyHsBuiltin('io.jwt.verify_hs384', 'HS384'),
  verifyHsBuiltin('io.jwt.verify_hs512', 'HS512'),
  verifyBuiltin('io.jwt.verify_rs256', 'RS256'),
  verifyBuiltin('io.jwt.verify_rs384', 'RS384'),
  verifyBuiltin('io.jwt.verify_rs512', 'RS512'),
  verifyBuiltin('io.jwt.verify_ps256', 'PS256'),
  verifyBuiltin('io.jwt.verify_ps384', 'PS384'),
  verifyBuiltin('io.jwt.verify_ps512', 'PS512'),
  verifyBuiltin('io.jwt.verify_es256', 'ES256'),
  verifyBuiltin('io.jwt.verify_es384', 'ES384'),
  verifyBuiltin('io.jwt.verify_es512', 'ES512'),
  verifyBuiltin('io.jwt.verify_eddsa', 'EdDSA'),
  { name: 'io.jwt.decode_verify', arity: 2, nondeterministic: true, fn: decodeVerify },
  {
    name: 'io.jwt.encode_sign',
    arity: 3,
    nondeterministic: true,
    fn: (a) => {
      const name = 'io.jwt.encode_sign';
      const h = argObject(name, a, 0);
      const p = a[1]!;
      if (!isObject(p) && !isSet(p) && !Array.isArray(p)) argObject(name, a, 1);
      const k = argObject(name, a, 2);
      return signRaw(name, jsonText(h), jsonText(p), jsonText(k));
    },
  },
  {
    name: 'io.jwt.encode_sign_raw',
    arity: 3,
    nondeterministic: true,
    fn: (a) => {
      const name = 'io.jwt.encode_sign_raw';
      // OPA reads the key operand first.
      const key = argString(name, a, 2);
      return signRaw(name, argString(name, a, 0), argString(name, a, 1), key);
    },
  },
];
