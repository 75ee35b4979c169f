/**
 * The salted block digest of dm-verity (specs/measured-boot.md §1.4) and the hash-name rules it depends on.
 * Shared by the main thread (hash levels ≥ 1, small images) and the level-0 workers (verity-worker.ts), so
 * it imports nothing of the project but the error class.
 */
import { createHash, getHashes, hash as oneShotHash } from 'node:crypto';
import { CocoError } from '../errors.js';

/**
 * cryptsetup spells a few digests differently from OpenSSL / node:crypto (its crypto backend maps them);
 * everything else is the same name, compared case-insensitively.
 */
const NODE_NAME: Record<string, string> = {
  'blake2b-512': 'blake2b512',
  'blake2s-256': 'blake2s256',
};

/** The node:crypto name for a veritysetup `--hash` value, or a `VERITY_HASH_ALGORITHM` error. */
export function nodeHashName(name: string): string {
  const lower = name.toLowerCase();
  const mapped = NODE_NAME[lower] ?? lower;
  // Extendable-output functions have no fixed digest size, which the tree geometry needs.
  if (!/^[a-z0-9-]{1,31}$/.test(lower) || mapped.startsWith('shake') || !getHashes().includes(mapped)) {
    throw new CocoError('VERITY_HASH_ALGORITHM', `Hash algorithm ${JSON.stringify(name)} not supported.`, { kind: 'unsupported', detail: { algorithm: name } });
  }
  return mapped;
}

/** Digest size in bytes of a node:crypto hash name. */
export function digestSize(nodeName: string): number {
  return createHash(nodeName).digest().length;
}

/**
 * Writes the dm-verity digest of `block` at `out[outOffset…]`:
 * format 1 hashes salt ‖ block, format 0 (Chrome OS) hashes block ‖ salt (§1.4).
 */
export type BlockDigest = (block: Uint8Array, out: Uint8Array, outOffset: number) => void;

/**
 * A digest function for blocks of exactly `blockSize` bytes. The per-call cost of `createHash` dominates at
 * 4 KiB, so salt and block are laid out in one reused scratch buffer and hashed with the one-shot
 * `crypto.hash`, which avoids creating a Hash object per block.
 */
export function blockDigest(nodeName: string, hashType: 0 | 1, salt: Uint8Array, blockSize: number): BlockDigest {
  const size = digestSize(nodeName);
  const scratch = Buffer.alloc(salt.length + blockSize);
  const blockAt = hashType === 1 ? salt.length : 0;
  scratch.set(salt, hashType === 1 ? 0 : blockSize);
  if (salt.length === 0) {
    return (block, out, outOffset) => {
      checkSize(block, blockSize);
      out.set(oneShotHash(nodeName, block, 'buffer'), outOffset);
    };
  }
  return (block, out, outOffset) => {
    checkSize(block, blockSize);
    scratch.set(block, blockAt);
    out.set(oneShotHash(nodeName, scratch, 'buffer').subarray(0, size), outOffset);
  };
}

function checkSize(block: Uint8Array, blockSize: number): void {
  if (block.length !== blockSize) {
    throw new CocoError('VERITY_INTERNAL', `block of ${block.length} bytes where ${blockSize} were expected`, { kind: 'internal' });
  }
}
