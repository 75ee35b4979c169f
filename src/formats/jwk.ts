/**
 * The TEE public key of the KBS protocol (kbs-types `TeePubKey`, specs/kbs-protocol.md §1.4): an RSA or EC
 * JWK tagged by `kty`, members in the order kbs-types serializes them. The same key decides the JWE key
 * management of the resource response (§1.8), so only the combinations Trustee accepts are accepted here.
 */
import { createECDH, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { CocoError } from '../errors.js';
import { fromBase64Url, toBase64Url } from './bytes.js';
import { isRecord } from './json.js';
import { derChildren, readDer } from './x509.js';
import { safeKeyPair } from './keygen.js';

export type RsaTeeAlg = 'RSA-OAEP-256' | 'RSA1_5';
export type EcCurve = 'P-256' | 'P-521';

export type TeePubKey =
  | { kty: 'RSA'; alg: RsaTeeAlg; n: string; e: string }
  | { kty: 'EC'; crv: EcCurve; alg: 'ECDH-ES+A256KW'; x: string; y: string };

/** Coordinate length per curve: x and y are fixed-length big-endian (§1.4). */
export const EC_COORD_BYTES: Record<EcCurve, number> = { 'P-256': 32, 'P-521': 66 };

function b64urlField(obj: Record<string, unknown>, key: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || v.length === 0) throw new CocoError('JWK_FIELD', `tee-pubkey: "${key}" must be a non-empty base64url string`, { kind: 'input' });
  fromBase64Url(v, `tee-pubkey "${key}"`);
  return v;
}

/**
 * RSA numbers a resource can be encrypted to (RFC 8017 §3.1): JWK integers are minimal big-endian (RFC 7518
 * §6.3.1, no leading zero octet), the modulus is odd and 2048..8192 bits, and the exponent is odd, at least 3,
 * at most 64 bits and below the modulus. Anything else makes the encryption fail deep in OpenSSL.
 */
function checkRsaNumbers(n: Uint8Array, e: Uint8Array): void {
  const bad = (msg: string) => new CocoError('JWK_RSA', `tee-pubkey: ${msg}`, { kind: 'input' });
  if (n[0] === 0) throw bad('RSA modulus has a leading zero octet');
  const bits = n.length * 8 - Math.clz32(n[0]) + 24;
  if (bits < 2048 || bits > 8192) throw new CocoError('JWK_SIZE', `tee-pubkey: RSA modulus of ${bits} bits is outside 2048..8192`, { kind: 'input' });
  if ((n[n.length - 1] & 1) === 0) throw bad('RSA modulus is even');
  if (e[0] === 0) throw bad('RSA exponent has a leading zero octet');
  if (e.length > 8) throw bad('RSA exponent is longer than 64 bits');
  if ((e[e.length - 1] & 1) === 0 || (e.length === 1 && e[0] < 3)) throw bad('RSA exponent must be odd and at least 3');
}

/** Validates a `tee-pubkey` JSON value and returns it with members in kbs-types order. */
export function parseTeePubKey(v: unknown): TeePubKey {
  if (!isRecord(v)) throw new CocoError('JWK_INVALID', 'tee-pubkey must be a JSON object', { kind: 'input' });
  if (v.kty === 'RSA') {
    if (v.alg !== 'RSA-OAEP-256' && v.alg !== 'RSA1_5') {
      throw new CocoError('JWK_ALG', `tee-pubkey: RSA key alg must be RSA-OAEP-256 or RSA1_5, got ${JSON.stringify(v.alg)}`, { kind: 'input' });
    }
    const n = b64urlField(v, 'n');
    const e = b64urlField(v, 'e');
    checkRsaNumbers(fromBase64Url(n), fromBase64Url(e));
    const key: TeePubKey = { kty: 'RSA', alg: v.alg, n, e };
    teePubKeyObject(key);
    return key;
  }
  if (v.kty === 'EC') {
    if (v.crv !== 'P-256' && v.crv !== 'P-521') throw new CocoError('JWK_CURVE', `tee-pubkey: curve must be P-256 or P-521, got ${JSON.stringify(v.crv)}`, { kind: 'input' });
    if (v.alg !== 'ECDH-ES+A256KW') throw new CocoError('JWK_ALG', `tee-pubkey: EC key alg must be ECDH-ES+A256KW, got ${JSON.stringify(v.alg)}`, { kind: 'input' });
    const x = b64urlField(v, 'x');
    const y = b64urlField(v, 'y');
    const len = EC_COORD_BYTES[v.crv];
    if (fromBase64Url(x).length !== len || fromBase64Url(y).length !== len) {
      throw new CocoError('JWK_SIZE', `tee-pubkey: ${v.crv} coordinates must be ${len} bytes each`, { kind: 'input' });
    }
    const key: TeePubKey = { kty: 'EC', crv: v.crv, alg: 'ECDH-ES+A256KW', x, y };
    // A point off the curve is refused here, at attestation, not later when a resource is encrypted to it.
    teePubKeyObject(key);
    return key;
  }
  throw new CocoError('JWK_KTY', `tee-pubkey: kty must be RSA or EC, got ${JSON.stringify(v.kty)}`, { kind: 'input' });
}

/** Successfully imported TEE keys, oldest first (bounded: each entry is one key of at most a few KB). */
const RECENT_KEYS = 4096;
const recentKeys = new Map<string, KeyObject>();

/** The platform key for a validated TEE key; a point off the curve is a CocoError. */
export function teePubKeyObject(k: TeePubKey): KeyObject {
  // One TEE key is imported at /attest and again for every resource it fetches; an import (with its point
  // check) cost as much as the ECDH it precedes. KeyObjects are immutable, so recently used ones are shared.
  const id = k.kty === 'RSA' ? `RSA.${k.n}.${k.e}` : `EC.${k.crv}.${k.x}.${k.y}`;
  const hit = recentKeys.get(id);
  if (hit !== undefined) return hit;
  try {
    const jwk = k.kty === 'RSA' ? { kty: 'RSA', n: k.n, e: k.e } : { kty: 'EC', crv: k.crv, x: k.x, y: k.y };
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    if (recentKeys.size >= RECENT_KEYS) recentKeys.delete(recentKeys.keys().next().value!);
    recentKeys.set(id, key);
    return key;
  } catch (e) {
    throw new CocoError('JWK_INVALID', `tee-pubkey is not a valid ${k.kty} public key: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

const CURVE_NAMES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
const CURVE_COORD_BYTES: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

export type PublicJwkMembers = { kty: 'EC'; crv: string; x: string; y: string } | { kty: 'RSA'; n: string; e: string };

/**
 * The JWK members of an EC or RSA public key, read from its SubjectPublicKeyInfo DER (RFC 5480 §2.2 for the
 * uncompressed EC point, RFC 8017 A.1.1 for RSAPublicKey) instead of `export({ format: 'jwk' })`: on Node 20
 * the JWK export of an EC key made by a synchronous key generation holds the key's lock while allocating,
 * and a garbage collection finalizing that generation job waits on the same lock — the process hangs for good.
 */
export function publicJwkMembers(key: KeyObject): PublicJwkMembers {
  const spki = new Uint8Array(key.export({ format: 'der', type: 'spki' }));
  const [, bits] = derChildren(readDer(spki));
  if (bits === undefined || bits.tag !== 0x03 || bits.value[0] !== 0) throw new CocoError('JWK_INVALID', 'public key has no SPKI bit string', { kind: 'input' });
  const body = bits.value.subarray(1);
  if (key.asymmetricKeyType === 'ec') {
    const crv = CURVE_NAMES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    const len = crv === undefined ? 0 : CURVE_COORD_BYTES[crv];
    if (crv === undefined || body.length !== 1 + 2 * len || body[0] !== 0x04) {
      throw new CocoError('JWK_CURVE', `EC public key on ${key.asymmetricKeyDetails?.namedCurve ?? 'an unknown curve'} is not supported`, { kind: 'unsupported' });
    }
    return { kty: 'EC', crv, x: toBase64Url(body.subarray(1, 1 + len)), y: toBase64Url(body.subarray(1 + len)) };
  }
  if (key.asymmetricKeyType === 'rsa') {
    const [n, e] = derChildren(readDer(body));
    if (n?.tag !== 0x02 || e?.tag !== 0x02) throw new CocoError('JWK_INVALID', 'RSA public key is not an RSAPublicKey', { kind: 'input' });
    // JWK integers are unsigned big-endian without the DER sign octet (RFC 7518 §6.3.1).
    const unsigned = (v: Uint8Array) => (v.length > 1 && v[0] === 0 ? v.subarray(1) : v);
    return { kty: 'RSA', n: toBase64Url(unsigned(n.value)), e: toBase64Url(unsigned(e.value)) };
  }
  throw new CocoError('JWK_KTY', `${key.asymmetricKeyType ?? 'unknown'} keys have no JWK form here`, { kind: 'unsupported' });
}

const OPENSSL_CURVE: Record<EcKeyCurve, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };

/** The curves an EC key pair can be made on here (the TEE key curves and P-384, the curve of SNP's VCEK). */
export type EcKeyCurve = EcCurve | 'P-384';

/**
 * A fresh EC key pair, made through ECDH and imported, never through `generateKeyPairSync('ec')`: on Node 20 a
 * garbage collection that destroys a finished EC key-generation job can wait forever on a lock an export of
 * that key holds (seen under allocation pressure with JWK and DER exports alike). Importing a key made by
 * ECDH involves no key-generation job. The public coordinates come back with the key.
 */
export function generateEcKey(crv: EcKeyCurve): { privateKey: KeyObject; x: string; y: string } {
  const len = CURVE_COORD_BYTES[crv];
  const ecdh = createECDH(OPENSSL_CURVE[crv]);
  const point = ecdh.generateKeys();
  const raw = ecdh.getPrivateKey();
  const d = new Uint8Array(len);
  d.set(raw.subarray(Math.max(0, raw.length - len)), len - Math.min(len, raw.length));
  const x = toBase64Url(point.subarray(1, 1 + len));
  const y = toBase64Url(point.subarray(1 + len));
  const privateKey = createPrivateKey({ key: { kty: 'EC', crv, d: toBase64Url(d), x, y }, format: 'jwk' });
  return { privateKey, x, y };
}

/** {@link generateEcKey} as the private and public key objects `generateKeyPairSync('ec')` would return. */
export function generateEcKeyPair(crv: EcKeyCurve): { privateKey: KeyObject; publicKey: KeyObject } {
  const { privateKey, x, y } = generateEcKey(crv);
  return { privateKey, publicKey: createPublicKey({ key: { kty: 'EC', crv, x, y }, format: 'jwk' }) };
}

export type TeeKeyAlgorithm = 'ec-p256' | 'ec-p521' | 'rsa';

export interface TeeKeyPair {
  privateKey: KeyObject;
  publicJwk: TeePubKey;
}

/**
 * A fresh TEE key pair, as guest-components makes one per handshake: EC P-256 by default, P-521, or RSA 2048
 * with RSA-OAEP-256 (RSA1_5 is never generated: Node refuses its decryption, §1.8).
 */
export function generateTeeKeyPair(alg: TeeKeyAlgorithm = 'ec-p256'): TeeKeyPair {
  if (alg === 'rsa') {
    const { privateKey, publicKey } = safeKeyPair('rsa', { modulusLength: 2048 });
    const j = publicJwkMembers(publicKey);
    if (j.kty !== 'RSA') throw new CocoError('JWK_KTY', 'generated key is not RSA', { kind: 'internal' });
    return { privateKey, publicJwk: { kty: 'RSA', alg: 'RSA-OAEP-256', n: j.n, e: j.e } };
  }
  const crv: EcCurve = alg === 'ec-p521' ? 'P-521' : 'P-256';
  const { privateKey, x, y } = generateEcKey(crv);
  return { privateKey, publicJwk: { kty: 'EC', crv, alg: 'ECDH-ES+A256KW', x, y } };
}

export function isTeeKeyAlgorithm(s: string): s is TeeKeyAlgorithm {
  return s === 'ec-p256' || s === 'ec-p521' || s === 'rsa';
}
