import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { KEK_BYTES, kekFingerprint, loadKek, loadOrCreateKekFile, open, parseKekText, seal } from './kek.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CocoError, String(e));
    return e.code;
  }
  return 'no error';
}

const kek = new Uint8Array(randomBytes(KEK_BYTES));

test('a sealed value opens under the same key and record name, and hides the plaintext', () => {
  const secret = Buffer.from('resource secret bytes');
  const sealed = seal(kek, secret, 'resource:default/a/b/c');
  assert.equal(sealed.length, 1 + 12 + secret.length + 16);
  assert.equal(Buffer.from(sealed).includes(secret), false);
  assert.deepEqual(Buffer.from(open(kek, sealed, 'resource:default/a/b/c')), secret);
  // A fresh IV each time: sealing twice never gives the same bytes.
  assert.notDeepEqual(Buffer.from(seal(kek, secret, 'x')), Buffer.from(seal(kek, secret, 'x')));
});

test('a flipped bit in any byte, a wrong key, a wrong record name and truncation fail with STORE_DECRYPT', () => {
  const sealed = seal(kek, Buffer.from('0123456789abcdef'), 'kv:k');
  for (let i = 0; i < sealed.length; i++) {
    const bad = new Uint8Array(sealed);
    bad[i] ^= 0x01;
    assert.equal(codeOf(() => open(kek, bad, 'kv:k')), 'STORE_DECRYPT', `byte ${i}`);
  }
  assert.equal(codeOf(() => open(new Uint8Array(randomBytes(32)), sealed, 'kv:k')), 'STORE_DECRYPT');
  assert.equal(codeOf(() => open(kek, sealed, 'kv:other')), 'STORE_DECRYPT');
  assert.equal(codeOf(() => open(kek, sealed.subarray(0, 28), 'kv:k')), 'STORE_DECRYPT');
  assert.equal(codeOf(() => open(kek, new Uint8Array(0), 'kv:k')), 'STORE_DECRYPT');
});

test('random bytes never open and always give a CocoError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      assert.equal(codeOf(() => open(kek, bytes, 'kv:k')), 'STORE_DECRYPT');
    }),
    { numRuns: 300 },
  );
});

test('KEK text is 64 hex characters or base64 / base64url of 32 bytes', () => {
  const hex = Buffer.from(kek).toString('hex');
  assert.deepEqual(parseKekText(`${hex}\n`, 'k'), kek);
  assert.deepEqual(parseKekText(hex.toUpperCase(), 'k'), kek);
  assert.deepEqual(parseKekText(Buffer.from(kek).toString('base64'), 'k'), kek);
  assert.deepEqual(parseKekText(Buffer.from(kek).toString('base64url'), 'k'), kek);
  assert.equal(codeOf(() => parseKekText(hex.slice(2), 'k')), 'STORE_KEK_FORMAT');
  assert.equal(codeOf(() => parseKekText(Buffer.from(randomBytes(16)).toString('base64'), 'k')), 'STORE_KEK_FORMAT');
  assert.equal(codeOf(() => parseKekText('', 'k')), 'STORE_KEK_FORMAT');
  assert.equal(codeOf(() => loadKek(new Uint8Array(31))), 'STORE_KEK_FORMAT');
  assert.equal(codeOf(() => loadKek({} as { file: string })), 'STORE_KEK_FORMAT');
});

test('a KEK is read from a file or an environment variable, with clear errors when missing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-kek-'));
  try {
    const file = join(dir, 'kek.txt');
    writeFileSync(file, Buffer.from(kek).toString('base64'));
    assert.deepEqual(loadKek({ file }), kek);
    assert.equal(codeOf(() => loadKek({ file: join(dir, 'absent') })), 'STORE_KEK_MISSING');
    const env = `COCOKIT_TEST_KEK_${process.pid}`;
    process.env[env] = Buffer.from(kek).toString('hex');
    assert.deepEqual(loadKek({ env }), kek);
    delete process.env[env];
    assert.equal(codeOf(() => loadKek({ env })), 'STORE_KEK_MISSING');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the default KEK file is created once with mode 0600 and then reused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-kek-'));
  try {
    const file = join(dir, 'kek');
    const first = loadOrCreateKekFile(file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, 'utf8'), /^[0-9a-f]{64}\n$/);
    assert.deepEqual(loadOrCreateKekFile(file), first);
    assert.equal(kekFingerprint(first), kekFingerprint(loadKek({ file })));
    assert.notEqual(kekFingerprint(first), kekFingerprint(kek));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
