/**
 * The KBS resource response: an RFC 7516 flattened JWE (specs/kbs-protocol.md §1.8). Content encryption is
 * always A256GCM with the ASCII `protected` string as AAD; key management follows the TEE key: RSA-OAEP-256,
 * RSA1_5, or ECDH-ES+A256KW on P-256/P-521 with Concat-KDF (RFC 7518 §4.6, empty apu/apv).
 *
 * The protected header is written by hand: the Rust client recomputes the AAD by re-serializing the parsed
 * header in `alg, enc, epk{crv,kty,x,y}` order, so any other member order fails its tag check (§1.8, §7.7).
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createPublicKey,
  diffieHellman,
  privateDecrypt,
  publicEncrypt,
  type KeyObject,
} from 'node:crypto';
import { CocoError } from '../errors.js';
import { concatBytes, fromBase64Url, toBase64Url, utf8 } from './bytes.js';
import { randomBytesPooled } from './random.js';
import { isRecord, parseJson } from './json.js';
import { EC_COORD_BYTES, publicJwkMembers, teePubKeyObject, type EcCurve, type TeePubKey } from './jwk.js';

export interface FlattenedJwe {
  protected: string;
  encrypted_key: string;
  iv: string;
  ciphertext: string;
  tag: string;
  aad?: string;
}

/** Fixed inputs for reproducible output (tests); production leaves them to the RNG. */
export interface JweRandomness {
  cek?: Uint8Array;
  iv?: Uint8Array;
  /** Ephemeral ECDH private key on the TEE key's curve. */
  ephemeralKey?: KeyObject;
}

const AES_KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');

function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** Concat-KDF, one SHA-256 round (a 256-bit KEK), AlgorithmID = `alg`, empty PartyUInfo/PartyVInfo. */
export function concatKdf(z: Uint8Array, alg: string, keyBits = 256): Uint8Array {
  const algId = utf8.encode(alg);
  const otherInfo = concatBytes(u32be(algId.length), algId, u32be(0), u32be(0), u32be(keyBits));
  return new Uint8Array(createHash('sha256').update(concatBytes(u32be(1), z, otherInfo)).digest());
}

function aesKeyWrap(kek: Uint8Array, key: Uint8Array): Uint8Array {
  const c = createCipheriv('id-aes256-wrap', kek, AES_KW_IV);
  return new Uint8Array(Buffer.concat([c.update(key), c.final()]));
}

function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  try {
    const d = createDecipheriv('id-aes256-wrap', kek, AES_KW_IV);
    return new Uint8Array(Buffer.concat([d.update(wrapped), d.final()]));
  } catch (e) {
    throw new CocoError('JWE_UNWRAP', 'AES key unwrap failed (wrong key or tampered encrypted_key)', { kind: 'crypto', cause: e });
  }
}

/** The exact protected header serialization Trustee emits (§1.8 table). */
function protectedHeader(k: TeePubKey, epk?: { crv: EcCurve; x: string; y: string }): string {
  if (k.kty === 'RSA') return `{"alg":"${k.alg}","enc":"A256GCM"}`;
  return `{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":"${epk!.crv}","kty":"EC","x":"${epk!.x}","y":"${epk!.y}"}}`;
}

type EcTeeKey = Extract<TeePubKey, { kty: 'EC' }>;
type Agreement = { z: Uint8Array; epk: { crv: EcCurve; x: string; y: string } };

const OPENSSL_CURVE: Record<EcCurve, string> = { 'P-256': 'prime256v1', 'P-521': 'secp521r1' };

function ecdhFailed(k: EcTeeKey, e: unknown): CocoError {
  return new CocoError('JWE_TEE_KEY', `ECDH with the ${k.crv} TEE key failed: ${(e as Error).message}`, { kind: 'input', cause: e });
}

/**
 * ECDH with a fresh ephemeral key held by an ECDH object: no key object is made for it (an import of the
 * ephemeral key and an export of its public half cost as much as the agreement itself), and no key-generation
 * job either (see `generateEcKey` in jwk.ts). The TEE key's point was checked on the curve when it was parsed,
 * and the agreement checks it again.
 */
function agreeEphemeral(k: EcTeeKey): Agreement {
  const len = EC_COORD_BYTES[k.crv];
  const ecdh = createECDH(OPENSSL_CURVE[k.crv]);
  const point = ecdh.generateKeys();
  const peer = Buffer.alloc(1 + 2 * len);
  peer[0] = 0x04;
  peer.set(fromBase64Url(k.x), 1);
  peer.set(fromBase64Url(k.y), 1 + len);
  let z: Uint8Array;
  try {
    z = new Uint8Array(ecdh.computeSecret(peer));
  } catch (e) {
    throw ecdhFailed(k, e);
  }
  return { z, epk: { crv: k.crv, x: toBase64Url(point.subarray(1, 1 + len)), y: toBase64Url(point.subarray(1 + len)) } };
}

/** ECDH with a given ephemeral private key (reproducible output for tests). */
function agreeWithKey(eph: KeyObject, k: EcTeeKey, recipient: KeyObject): Agreement {
  // Read from DER, never a JWK export of a freshly generated EC key (see `publicJwkMembers`).
  const ephJwk = publicJwkMembers(createPublicKey(eph));
  if (ephJwk.kty !== 'EC' || ephJwk.crv !== k.crv) throw new CocoError('JWE_PARAMS', `ephemeral key is not on ${k.crv} like the TEE key`, { kind: 'usage' });
  try {
    return { z: new Uint8Array(diffieHellman({ privateKey: eph, publicKey: recipient })), epk: { crv: k.crv, x: ephJwk.x, y: ephJwk.y } };
  } catch (e) {
    throw ecdhFailed(k, e);
  }
}

/** Encrypts `plaintext` to the TEE key as the KBS resource response. */
export function encryptToTeeKey(plaintext: Uint8Array, teeKey: TeePubKey, rnd: JweRandomness = {}): FlattenedJwe {
  const cek = rnd.cek ?? randomBytesPooled(32);
  const iv = rnd.iv ?? randomBytesPooled(12);
  if (cek.length !== 32 || iv.length !== 12) throw new CocoError('JWE_PARAMS', 'A256GCM needs a 32-byte CEK and a 12-byte IV', { kind: 'usage' });
  const recipient = teePubKeyObject(teeKey);
  let header: string;
  let encryptedKey: Uint8Array;
  if (teeKey.kty === 'RSA') {
    const padding = teeKey.alg === 'RSA-OAEP-256' ? constants.RSA_PKCS1_OAEP_PADDING : constants.RSA_PKCS1_PADDING;
    try {
      encryptedKey = new Uint8Array(publicEncrypt({ key: recipient, padding, ...(teeKey.alg === 'RSA-OAEP-256' ? { oaepHash: 'sha256' } : {}) }, cek));
    } catch (e) {
      throw new CocoError('JWE_TEE_KEY', `cannot encrypt to the ${teeKey.alg} TEE key: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
    header = protectedHeader(teeKey);
  } else {
    const { z, epk } = rnd.ephemeralKey ? agreeWithKey(rnd.ephemeralKey, teeKey, recipient) : agreeEphemeral(teeKey);
    encryptedKey = aesKeyWrap(concatKdf(z, 'ECDH-ES+A256KW'), cek);
    header = protectedHeader(teeKey, epk);
  }
  const protectedB64 = toBase64Url(utf8.encode(header));
  const gcm = createCipheriv('aes-256-gcm', cek, iv);
  gcm.setAAD(Buffer.from(protectedB64, 'ascii'));
  const ciphertext = Buffer.concat([gcm.update(plaintext), gcm.final()]);
  return {
    protected: protectedB64,
    encrypted_key: toBase64Url(encryptedKey),
    iv: toBase64Url(iv),
    ciphertext: toBase64Url(ciphertext),
    tag: toBase64Url(gcm.getAuthTag()),
  };
}

/** Validates the JSON shape of a flattened JWE. */
export function parseFlattenedJwe(v: unknown): FlattenedJwe {
  if (!isRecord(v)) throw new CocoError('JWE_FORMAT', 'JWE must be a JSON object', { kind: 'input' });
  for (const k of ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag'] as const) {
    if (typeof v[k] !== 'string') throw new CocoError('JWE_FORMAT', `JWE member "${k}" must be a string`, { kind: 'input' });
  }
  if (v.aad !== undefined && typeof v.aad !== 'string') throw new CocoError('JWE_FORMAT', 'JWE member "aad" must be a string', { kind: 'input' });
  return v as unknown as FlattenedJwe;
}

/**
 * Decrypts a resource response with the TEE private key. The received `protected` string is the AAD
 * (equivalent to the Rust client's re-serialization when the server is canonical, §1.8).
 */
export function decryptWithTeeKey(jwe: FlattenedJwe, privateKey: KeyObject): Uint8Array {
  const header = parseJson(fromBase64Url(jwe.protected, 'JWE protected header'), 'JWE protected header');
  if (!isRecord(header)) throw new CocoError('JWE_FORMAT', 'JWE protected header must be an object', { kind: 'input' });
  if (header.enc !== 'A256GCM') throw new CocoError('JWE_ENC', `unsupported JWE enc ${JSON.stringify(header.enc)}`, { kind: 'unsupported' });
  const encryptedKey = fromBase64Url(jwe.encrypted_key, 'JWE encrypted_key');
  let cek: Uint8Array;
  if (header.alg === 'RSA-OAEP-256' || header.alg === 'RSA1_5') {
    try {
      cek = new Uint8Array(
        privateDecrypt(
          header.alg === 'RSA-OAEP-256'
            ? { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }
            : { key: privateKey, padding: constants.RSA_PKCS1_PADDING },
          encryptedKey,
        ),
      );
    } catch (e) {
      throw new CocoError('JWE_DECRYPT', `${header.alg} key decryption failed: ${(e as Error).message}`, { kind: 'crypto', cause: e });
    }
  } else if (header.alg === 'ECDH-ES+A256KW') {
    if (!isRecord(header.epk)) throw new CocoError('JWE_FORMAT', 'ECDH-ES header lacks "epk"', { kind: 'input' });
    let epk: KeyObject;
    try {
      epk = createPublicKey({ key: header.epk as any, format: 'jwk' });
    } catch (e) {
      throw new CocoError('JWE_FORMAT', `JWE epk is not a valid EC public key: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
    let z: Uint8Array;
    try {
      z = new Uint8Array(diffieHellman({ privateKey, publicKey: epk }));
    } catch (e) {
      throw new CocoError('JWE_DECRYPT', `ECDH failed (epk curve differs from the TEE key?): ${(e as Error).message}`, { kind: 'crypto', cause: e });
    }
    cek = aesKeyUnwrap(concatKdf(z, 'ECDH-ES+A256KW'), encryptedKey);
  } else {
    throw new CocoError('JWE_ALG', `unsupported JWE alg ${JSON.stringify(header.alg)}`, { kind: 'unsupported' });
  }
  const iv = fromBase64Url(jwe.iv, 'JWE iv');
  const tag = fromBase64Url(jwe.tag, 'JWE tag');
  if (cek.length !== 32 || iv.length !== 12 || tag.length !== 16) throw new CocoError('JWE_FORMAT', 'A256GCM needs a 32-byte CEK, 12-byte IV and 16-byte tag', { kind: 'input' });
  try {
    const d = createDecipheriv('aes-256-gcm', cek, iv);
    const aad = jwe.aad === undefined ? jwe.protected : `${jwe.protected}.${toBase64Url(utf8.encode(jwe.aad))}`;
    d.setAAD(Buffer.from(aad, 'ascii'));
    d.setAuthTag(tag);
    return new Uint8Array(Buffer.concat([d.update(fromBase64Url(jwe.ciphertext, 'JWE ciphertext')), d.final()]));
  } catch (e) {
    throw new CocoError('JWE_TAG', 'A256GCM authentication failed: the response was tampered with or is for another key', { kind: 'crypto', cause: e });
  }
}
