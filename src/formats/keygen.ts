/**
 * Key pairs that are safe to export on Node 20.
 *
 * On Node 20 a key object made by `generateKeyPairSync` stays tied to its key-generation job until a garbage
 * collection destroys that job, and the job's destructor takes the key's lock. An export of the key (JWK, PEM
 * or DER) holds that lock while it allocates; if the allocation starts a collection that destroys the job,
 * the process waits on itself for good (it ignores SIGTERM). This is so for RSA, EC and Ed25519 keys alike.
 *
 * Asking `generateKeyPairSync` for encoded keys (JWK) encodes them inside the generation call, while the job is
 * still alive, and key objects imported from that encoding belong to no job: they export like any other key.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';

export type SafeKeyPairType = 'rsa' | 'ed25519' | 'ec';

export interface SafeKeyPairOptions {
  /** RSA: the modulus length in bits (2048 unless given). */
  modulusLength?: number;
  /** RSA: the public exponent (65537 unless given). */
  publicExponent?: number;
  /** EC: the curve, by its OpenSSL or NIST name (`prime256v1` / `P-256`). */
  namedCurve?: string;
}

/** A fresh key pair of `type`, as `generateKeyPairSync` makes it, but free of its generation job. */
export function safeKeyPair(type: SafeKeyPairType, o: SafeKeyPairOptions = {}): { privateKey: KeyObject; publicKey: KeyObject } {
  // JWK, not DER: a DER import fails on any error an earlier TLS connection left on the thread's OpenSSL error
  // queue, while a JWK import sets the key from its numbers.
  const encodings = { publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } };
  const options = type === 'rsa' ? { modulusLength: o.modulusLength ?? 2048, publicExponent: o.publicExponent ?? 0x10001, ...encodings } : type === 'ec' ? { namedCurve: o.namedCurve ?? 'prime256v1', ...encodings } : encodings;
  const jwk = (generateKeyPairSync as unknown as (t: string, o: object) => { publicKey: JsonWebKey; privateKey: JsonWebKey })(type, options);
  return { privateKey: createPrivateKey({ key: jwk.privateKey, format: 'jwk' }), publicKey: createPublicKey({ key: jwk.publicKey, format: 'jwk' }) };
}
