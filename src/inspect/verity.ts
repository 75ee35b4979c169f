/**
 * The inspector's view of a dm-verity hash device with its superblock (`veritysetup format` without
 * `--no-superblock`): every superblock field at its offset (cryptsetup `struct verity_sb`, measure/verity.ts),
 * the tree geometry those parameters imply, and — when the input holds the top hash block — the root hash.
 */
import { toHex } from '../formats/bytes.js';
import { VERITY_SUPERBLOCK_SIZE, readVeritySuperblock, verityGeometry, type VerityParams } from '../measure/verity.js';
import { blockDigest, nodeHashName } from '../measure/verity-digest.js';
import type { InspectedField, Inspection } from './types.js';

/** "verity\0\0", the superblock signature. */
export function looksLikeVerity(b: Uint8Array): boolean {
  return b.length >= 8 && Buffer.from(b.subarray(0, 8)).toString('latin1') === 'verity\0\0';
}

export function inspectVerity(bytes: Uint8Array): Inspection {
  const sb = readVeritySuperblock(bytes, 'verity superblock');
  const p: VerityParams = {
    hashAlgorithm: sb.algorithm,
    hashType: sb.hashType,
    dataBlockSize: sb.dataBlockSize,
    hashBlockSize: sb.hashBlockSize,
    dataBlocks: sb.dataBlocks,
    salt: sb.salt,
    hashOffset: 0,
    superblock: true,
    uuid: sb.uuid,
  };
  const geo = verityGeometry(p);
  const fields: InspectedField[] = [
    { name: 'SIGNATURE', offset: 0, size: 8, value: 'verity', meaning: 'superblock signature "verity\\0\\0"' },
    { name: 'VERSION', offset: 8, size: 4, value: '1', meaning: 'superblock format version' },
    { name: 'HASH_TYPE', offset: 12, size: 4, value: String(sb.hashType), meaning: 'hash format: 1 normal (salt before each block), 0 Chrome OS (salt after, digests packed)' },
    { name: 'UUID', offset: 16, size: 16, value: sb.uuid, meaning: 'id of the hash device' },
    { name: 'ALGORITHM', offset: 32, size: 32, value: sb.algorithm, meaning: 'hash algorithm of the tree' },
    { name: 'DATA_BLOCK_SIZE', offset: 64, size: 4, value: String(sb.dataBlockSize), meaning: 'bytes per data block' },
    { name: 'HASH_BLOCK_SIZE', offset: 68, size: 4, value: String(sb.hashBlockSize), meaning: 'bytes per hash block' },
    { name: 'DATA_BLOCKS', offset: 72, size: 8, value: String(sb.dataBlocks), meaning: `data blocks covered: ${sb.dataBlocks * sb.dataBlockSize} bytes of the data device` },
    { name: 'SALT_SIZE', offset: 80, size: 2, value: String(sb.salt.length), meaning: 'salt length in bytes (0: no salt)' },
    { name: 'SALT', offset: 88, size: sb.salt.length, value: toHex(sb.salt), meaning: 'salt hashed with every block' },
    { name: 'DIGEST_SIZE', value: String(geo.digestSize), meaning: 'bytes per digest' },
    { name: 'HASH_LEVELS', value: String(geo.levelBlocks.length), meaning: `tree levels (hash blocks per level from the data up: ${geo.levelBlocks.join(', ') || 'none'})` },
    { name: 'HASH_BLOCKS', value: String(geo.hashBlocks), meaning: 'hash blocks of the tree (veritysetup "Hash blocks")' },
    { name: 'HASH_DEVICE_SIZE', value: String(geo.hashDeviceSize), meaning: 'bytes of hash device the superblock and tree take' },
  ];
  const notes: string[] = [];
  const levels = geo.levelBlocks.length;
  if (levels === 0) {
    notes.push('root hash not computed: with one data block the root hash is the digest of the data block itself, which is on the data device');
  } else {
    const at = geo.levelStart[levels - 1] * sb.hashBlockSize;
    if (bytes.length >= at + sb.hashBlockSize) {
      const root = new Uint8Array(geo.digestSize);
      blockDigest(nodeHashName(sb.algorithm), sb.hashType, sb.salt, sb.hashBlockSize)(bytes.subarray(at, at + sb.hashBlockSize), root, 0);
      fields.push({ name: 'ROOT_HASH', offset: at, size: sb.hashBlockSize, value: toHex(root), meaning: 'digest of the top hash block: the value dm-verity is opened with and the reference value to compare', references: ['verity_root_hash', 'root_hash'] });
      notes.push('the root hash is computed from the top hash block as stored; the tree below it and the data device are not checked here (`cocokit verity verify` does that)');
    } else {
      notes.push(`root hash not computed: the top hash block is at byte ${at}, past the ${bytes.length} bytes given (pass the whole hash device)`);
    }
  }
  return {
    format: 'verity-superblock',
    form: bytes.length > VERITY_SUPERBLOCK_SIZE ? 'hash device' : 'superblock',
    title: `dm-verity hash device: ${sb.algorithm}, ${sb.dataBlocks} × ${sb.dataBlockSize}-byte data blocks, format ${sb.hashType}`,
    fields,
    checks: [],
    notes,
  };
}
