/**
 * The key-encryption key (KEK) and the at-rest encryption of secret values.
 *
 * Each secret is sealed with AES-256-GCM under the KEK with a fresh 96-bit IV; the additional authenticated
 * data names the record (`resource:<namespace>/<repo>/<type>/<tag>`, `kv:<key>`), so a ciphertext copied onto
 * another row fails to open instead of serving the wrong secret. Sealed layout: version byte 1 ‖ IV (12) ‖
 * ciphertext ‖ tag (16).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { randomBytesPooled } from '../formats/random.js';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { CocoError } from '../errors.js';
import type { KekSource } from './store.js';

export const KEK_BYTES = 32;
const SEAL_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Parses KEK text: 64 hex characters or base64/base64url of 32 bytes (surrounding whitespace ignored). */
export function parseKekText(text: string, where: string): Uint8Array {
  const s = text.trim();
  let bytes: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(s)) bytes = Buffer.from(s, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(s)) bytes = Buffer.from(s.replace(/=$/, ''), s.includes('-') || s.includes('_') ? 'base64url' : 'base64');
  if (bytes === undefined || bytes.length !== KEK_BYTES) {
    throw new CocoError('STORE_KEK_FORMAT', `${where} must hold a 32-byte key as 64 hex characters or base64`, { kind: 'usage' });
  }
  return new Uint8Array(bytes);
}

/** Resolves a KEK source to its 32 bytes. */
export function loadKek(source: KekSource): Uint8Array {
  if (source instanceof Uint8Array) {
    if (source.length !== KEK_BYTES) {
      throw new CocoError('STORE_KEK_FORMAT', `the key-encryption key must be ${KEK_BYTES} bytes, got ${source.length}`, { kind: 'usage' });
    }
    return new Uint8Array(source);
  }
  if (typeof source === 'object' && source !== null && 'file' in source && typeof source.file === 'string') {
    let text: string;
    try {
      text = readFileSync(source.file, 'utf8');
    } catch (e) {
      throw new CocoError('STORE_KEK_MISSING', `cannot read the key-encryption key file ${source.file}: ${(e as Error).message}`, { kind: 'usage', cause: e });
    }
    return parseKekText(text, `key-encryption key file ${source.file}`);
  }
  if (typeof source === 'object' && source !== null && 'env' in source && typeof source.env === 'string') {
    const text = process.env[source.env];
    if (text === undefined || text === '') {
      throw new CocoError('STORE_KEK_MISSING', `environment variable ${source.env} (key-encryption key) is not set`, { kind: 'usage' });
    }
    return parseKekText(text, `environment variable ${source.env}`);
  }
  throw new CocoError('STORE_KEK_FORMAT', 'the key-encryption key source must be bytes, {file} or {env}', { kind: 'usage' });
}

/**
 * Reads the KEK file at `path`, creating it with a fresh random key (mode 0600, exclusive create so two
 * processes starting together cannot both write one) when it does not exist — the zero-configuration default.
 */
export function loadOrCreateKekFile(path: string): Uint8Array {
  if (!existsSync(path)) {
    const key = randomBytes(KEK_BYTES);
    let fd: number | undefined;
    try {
      fd = openSync(path, 'wx', 0o600);
      writeSync(fd, key.toString('hex') + '\n');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CocoError('STORE_KEK_CREATE', `cannot create the key-encryption key file ${path}: ${(e as Error).message}`, { kind: 'file', cause: e });
      }
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    // The umask cannot widen 0600, but a pre-existing ACL default could; make the mode explicit.
    try {
      chmodSync(path, 0o600);
    } catch {}
  }
  return loadKek({ file: path });
}

/** A short public fingerprint of the KEK (for error messages and the stored key check), not reversible. */
export function kekFingerprint(kek: Uint8Array): string {
  return createHash('sha256').update('cocokit-kek-fingerprint').update(kek).digest('hex').slice(0, 16);
}

/** Seals `plaintext` under `kek`, binding `aad`. */
export function seal(kek: Uint8Array, plaintext: Uint8Array, aad: string): Uint8Array {
  const iv = randomBytesPooled(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([Buffer.of(SEAL_VERSION), iv, body, cipher.getAuthTag()]));
}

/** Opens a sealed value; a wrong key, wrong AAD or any flipped byte is a `STORE_DECRYPT` crypto error. */
export function open(kek: Uint8Array, sealed: Uint8Array, aad: string): Uint8Array {
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== SEAL_VERSION) {
    throw new CocoError('STORE_DECRYPT', `stored ciphertext for ${aad} is malformed`, { kind: 'crypto' });
  }
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const iv = buf.subarray(1, 1 + IV_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  const body = buf.subarray(1 + IV_BYTES, buf.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, iv);
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch (e) {
    throw new CocoError('STORE_DECRYPT', `stored ciphertext for ${aad} does not open under the key-encryption key ${kekFingerprint(kek)} (wrong key or tampered data)`, {
      kind: 'crypto',
      cause: e,
    });
  }
}
