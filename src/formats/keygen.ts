/**
 * Key pairs that are safe to export on Node 20.
 *
 * On Node 20 a key object made by `generateKeyPairSync` stays tied to its key-generation job until a garbage
 * collection destroys that job, and the job's destructor takes the key's lock. An export of the key (JWK, PEM
 * or DER) holds that lock while it allocates; if the allocation starts a collection that destroys the job,
 * the process waits on itself for good (it ignores SIGTERM). This is so for RSA, EC and Ed25519 keys alike.
 *
 * Asking `generateKeyPairSync` for DER-encoded keys encodes them inside the generation call, while the job is
 * still alive, and key objects imported from that DER belong to no job: they export like any other key.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

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
  const publicKeyEncoding = { type: 'spki', format: 'der' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'der' } as const;
  let der: { publicKey: Buffer; privateKey: Buffer };
  if (type === 'rsa') {
    der = generateKeyPairSync('rsa', { modulusLength: o.modulusLength ?? 2048, publicExponent: o.publicExponent ?? 0x10001, publicKeyEncoding, privateKeyEncoding });
  } else if (type === 'ec') der = generateKeyPairSync('ec', { namedCurve: o.namedCurve ?? 'prime256v1', publicKeyEncoding, privateKeyEncoding });
  else der = generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding });
  return {
    privateKey: createPrivateKey({ key: der.privateKey, format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: der.publicKey, format: 'der', type: 'spki' }),
  };
}
