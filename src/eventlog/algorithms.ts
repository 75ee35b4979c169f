/**
 * TPM 2.0 hash algorithm identifiers (TPM_ALG_ID, TCG TPM 2.0 Library Part 2 §6.3; specs/measured-boot.md §3.1)
 * as they appear in event logs, PCR selections and signatures, with the digest sizes and the names
 * tpm2-tools prints (`sha256`, …).
 */
import { createHash, getHashes } from 'node:crypto';
import { CocoError } from '../errors.js';

export interface HashAlgorithm {
  id: number;
  /** tpm2-tools' bank name. */
  name: string;
  size: number;
  /** node:crypto's name, when Node can compute it here. */
  node?: string;
}

const NODE_HASHES = new Set(getHashes());
const nodeName = (n: string): string | undefined => (NODE_HASHES.has(n) ? n : undefined);

const TABLE: readonly HashAlgorithm[] = [
  { id: 0x0004, name: 'sha1', size: 20, node: nodeName('sha1') },
  { id: 0x000b, name: 'sha256', size: 32, node: nodeName('sha256') },
  { id: 0x000c, name: 'sha384', size: 48, node: nodeName('sha384') },
  { id: 0x000d, name: 'sha512', size: 64, node: nodeName('sha512') },
  { id: 0x0012, name: 'sm3_256', size: 32, node: nodeName('sm3') },
  { id: 0x0027, name: 'sha3_256', size: 32, node: nodeName('sha3-256') },
  { id: 0x0028, name: 'sha3_384', size: 48, node: nodeName('sha3-384') },
  { id: 0x0029, name: 'sha3_512', size: 64, node: nodeName('sha3-512') },
];

const BY_ID = new Map(TABLE.map((a) => [a.id, a]));
const BY_NAME = new Map(TABLE.map((a) => [a.name, a]));

/** The known hash algorithm with this TPM_ALG_ID, or undefined. */
export function hashAlgorithmById(id: number): HashAlgorithm | undefined {
  return BY_ID.get(id);
}

/** The known hash algorithm with this tpm2-tools bank name (`sha256`), or undefined. */
export function hashAlgorithmByName(name: string): HashAlgorithm | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/**
 * A name for any algorithm id: the bank name when known, else `0x00NN` (event logs may carry algorithms this
 * table does not know, with their sizes taken from the Spec ID header).
 */
export function hashAlgorithmName(id: number): string {
  return BY_ID.get(id)?.name ?? `0x${id.toString(16).padStart(4, '0')}`;
}

/**
 * H_alg(parts…).
 * @throws CocoError TPM_HASH_UNSUPPORTED (kind `unsupported`) when Node cannot compute this algorithm
 */
export function digestWith(alg: HashAlgorithm | number, ...parts: Uint8Array[]): Uint8Array {
  const a = typeof alg === 'number' ? BY_ID.get(alg) : alg;
  if (a?.node === undefined) {
    const label = typeof alg === 'number' ? hashAlgorithmName(alg) : alg.name;
    throw new CocoError('TPM_HASH_UNSUPPORTED', `hash algorithm ${label} is not available`, { kind: 'unsupported' });
  }
  const h = createHash(a.node);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}
