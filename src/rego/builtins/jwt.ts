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
import { type BuiltinContext, type BuiltinDef, BuiltinError, argObject, argString, builtinError } from './registry.js';
import { bytesToString, goBase64Decode, goJsonMarshal, stringToBytes } from './encoding.js';
import { firstValueText, goJsonError } from './gojson.js';
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
      return signRaw(name, argString(name, a, 0), argString(name, a, 1), argString(name, a, 2));
    },
  },
];
