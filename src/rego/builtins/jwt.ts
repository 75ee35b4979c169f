/**
 * `io.jwt.*` built-ins (opa:v1/topdown/tokens.go) on node:crypto: JWS compact decoding with OPA's error
 * texts, signature verification for HS/RS/PS/ES/EdDSA with keys given as a PEM certificate, a PEM public
 * key or a JWK (set), `decode_verify` with OPA's constraint checks, and signing from a JWK.
 *
 * Keys and token parts are never logged; HMAC comparison is constant-time.
 */
import {
  type KeyObject,
  X509Certificate,
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
import { type BuiltinContext, type BuiltinDef, BuiltinError, argObject, argString, builtinError } from './registry.js';
import { bytesToString, goBase64Decode, goJsonMarshal, stringToBytes } from './encoding.js';
import { firstValueText, goJsonError } from './gojson.js';
import { CocoError } from '../../errors.js';

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

/** A PEM block (Go encoding/pem.Decode): type, DER bytes and the text after it. */
function pemDecode(text: string): { type: string; der: Buffer; rest: string } | undefined {
  const m = /-----BEGIN ([^-\n]*)-----\r?\n([\s\S]*?)-----END \1-----(\r?\n)?/.exec(text);
  if (!m) return undefined;
  const body = m[2]!.split(/\r?\n/).filter((l) => !l.includes(':'));
  return { type: m[1]!, der: Buffer.from(body.join(''), 'base64'), rest: text.slice(m.index + m[0].length) };
}

function jwkKeys(text: string): KeyObject[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new JwtError('failed to parse a JWK key (set)');
  }
  const list = typeof v === 'object' && v !== null && Array.isArray((v as { keys?: unknown }).keys) ? (v as { keys: unknown[] }).keys : [v];
  try {
    return list.map((k) => {
      const jwk = k as Record<string, unknown>;
      if (jwk.kty === 'oct') return createSecretKeyFromJwk(jwk);
      return createPublicKey({ key: jwk as never, format: 'jwk' });
    });
  } catch {
    throw new JwtError('failed to parse a JWK key (set)');
  }
}

function createSecretKeyFromJwk(jwk: Record<string, unknown>): KeyObject {
  if (typeof jwk.k !== 'string') throw new JwtError('failed to parse a JWK key (set)');
  return createSecretKey(Buffer.from(jwk.k, 'base64url'));
}

/** getKeysFromCertOrJWK. */
function verificationKeys(certOrJwk: string): KeyObject[] {
  const block = pemDecode(certOrJwk);
  if (block) {
    if (block.rest.trim().length > 0 || /-----BEGIN/.test(block.rest)) throw new JwtError('extra data after a PEM certificate block');
    if (block.type === 'CERTIFICATE') {
      try {
        return [new X509Certificate(block.der).publicKey];
      } catch (e) {
        throw new JwtError(`failed to parse a PEM certificate: ${(e as Error).message}`);
      }
    }
    if (block.type === 'PUBLIC KEY') {
      try {
        return [createPublicKey({ key: block.der, format: 'der', type: 'spki' })];
      } catch (e) {
        throw new JwtError(`failed to parse a PEM public key: ${(e as Error).message}`);
      }
    }
    throw new JwtError('failed to extract a Key from the PEM certificate');
  }
  return jwkKeys(certOrJwk);
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

function verifyWith(alg: Alg, key: KeyObject, input: string, sig: Buffer): boolean {
  const data = Buffer.from(input, 'utf8');
  try {
    switch (alg.kind) {
      case 'hmac': {
        if (key.type !== 'secret') return false;
        const mac = createHmac(alg.hash!, key.export()).update(data).digest();
        return mac.length === sig.length && timingSafeEqual(mac, sig);
      }
      case 'rsa':
        return key.asymmetricKeyType === 'rsa' && cryptoVerify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, sig);
      case 'pss':
        return (
          (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') &&
          cryptoVerify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig)
        );
      case 'ecdsa':
        return key.asymmetricKeyType === 'ec' && cryptoVerify(alg.hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
      case 'eddsa':
        return (key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448') && cryptoVerify(null, data, key, sig);
    }
  } catch {
    return false;
  }
}

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
        const sig = b64urlDecode(s, 'signature');
        const keys = alg.kind === 'hmac' ? [createSecretKey(Buffer.from(keyText, 'utf8'))] : verificationKeys(keyText);
        return keys.some((k) => verifyWith(alg, k, `${h}.${p}`, sig));
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
  keys?: KeyObject[];
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
      const keys = c.secret !== undefined ? [createSecretKey(Buffer.from(c.secret, 'utf8'))] : c.keys!;
      if (!keys.some((k) => verifyWith(alg, k, `${h}.${p}`, sig))) return invalid;
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

function jwkSign(name: string, alg: string, jwk: Record<string, unknown>, input: string): Buffer {
  const a = ALGS[alg];
  if (!a) throw builtinError(name, `unknown signature algorithm: ${alg}`);
  const data = Buffer.from(input, 'utf8');
  try {
    if (a.kind === 'hmac') {
      if (typeof jwk.k !== 'string') throw new Error('missing k');
      return createHmac(a.hash!, Buffer.from(jwk.k, 'base64url')).update(data).digest();
    }
    const key = createPrivateKey({ key: jwk as never, format: 'jwk' });
    switch (a.kind) {
      case 'rsa':
        return cryptoSign(a.hash, data, { key, padding: constants.RSA_PKCS1_PADDING });
      case 'pss':
        return cryptoSign(a.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
      case 'ecdsa':
        return cryptoSign(a.hash, data, { key, dsaEncoding: 'ieee-p1363' });
      default:
        return cryptoSign(null, data, key);
    }
  } catch (e) {
    if (e instanceof BuiltinError) throw e;
    throw builtinError(name, `failed to sign with the given key: ${(e as Error).message}`);
  }
}

/** The JOSE algorithms OPA's header parser accepts (internal/jwx/jwa signature.go), EdDSA included. */
const HEADER_ALGS = new Set([...Object.keys(ALGS), 'none']);

/**
 * io.jwt.encode_sign(_raw) in OPA's order (topdown/tokens.go commonBuiltinJWTEncodeSign): the key, then the
 * header (an unknown `alg` is "unknown signature algorithm"), then — unless `typ` names another type — the
 * payload must be JSON, then the signer for `alg` (none has no signer).
 */
function signRaw(name: string, headerText: string, payloadText: string, keyText: string): string {
  let jwk: unknown;
  try {
    jwk = JSON.parse(keyText);
  } catch {
    throw builtinError(name, 'invalid JWK');
  }
  if (typeof jwk !== 'object' || jwk === null) throw builtinError(name, 'invalid JWK');
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch {
    throw builtinError(name, 'invalid JWS header');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw builtinError(name, 'invalid JWS header');
  const h = header as Record<string, unknown>;
  if (h.alg !== undefined && (typeof h.alg !== 'string' || !HEADER_ALGS.has(h.alg))) throw builtinError(name, 'unknown signature algorithm');
  for (const k of ['typ', 'cty', 'kid', 'jku', 'jwk'] as const) {
    if (h[k] !== undefined && typeof h[k] !== 'string') {
      throw builtinError(name, `json: cannot unmarshal ${goJsonKind(h[k])} into Go struct field StandardHeaders.${k} of type string`);
    }
  }
  const typ = (h.typ as string | undefined) ?? '';
  if (typ === '' || typ === 'JWT') {
    try {
      JSON.parse(payloadText);
    } catch {
      throw builtinError(name, 'type is JWT but payload is not JSON');
    }
  }
  const alg = (h.alg as string | undefined) ?? '';
  if (!ALGS[alg]) throw builtinError(name, `failed to create signer: unsupported signature algorithm ${alg}`);
  const input = `${b64url(headerText)}.${b64url(payloadText)}`;
  return `${input}.${b64url(jwkSign(name, alg, jwk as Record<string, unknown>, input))}`;
}

/** The JSON kind Go's encoding/json names in an UnmarshalTypeError. */
function goJsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v;
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
  verifyBuiltin('io.jwt.verify_hs256', 'HS256'),
  verifyBuiltin('io.jwt.verify_hs384', 'HS384'),
  verifyBuiltin('io.jwt.verify_hs512', 'HS512'),
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
      return signRaw(name, argString(name, a, 0), argString(name, a, 1), argString(name, a, 2));
    },
  },
];
