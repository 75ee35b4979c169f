import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { toolMissing, vectorPath } from '../test-support/vectors.js';
import { authenticodeDigest } from './authenticode.js';

const skip = toolMissing('osslsigncode') || toolMissing('openssl');

test('the Authenticode SHA-384 of signed and unsigned EFI images equals the digest osslsigncode calculates', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'authenticode-'));
  try {
    const run = (cmd: string, args: string[]): string => {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=authenticode test']);
    for (const name of ['pe-s01.efi', 'pe-s02.efi']) {
      const unsigned = vectorPath('uki', 'pe', name);
      const signed = join(dir, `signed-${name}`);
      run('osslsigncode', ['sign', '-certs', join(dir, 'c.pem'), '-key', join(dir, 'k.pem'), '-h', 'sha384', '-in', unsigned, '-out', signed]);
      const out = run('osslsigncode', ['verify', '-CAfile', join(dir, 'c.pem'), '-in', signed]);
      const oracle = /Calculated message digest\s*:\s*([0-9A-F]+)/.exec(out)?.[1]?.toLowerCase();
      assert.ok(oracle, out);
      assert.equal(Buffer.from(authenticodeDigest(new Uint8Array(readFileSync(signed)))).toString('hex'), oracle, `${name} signed`);
      // Signing only appends the certificate table (and alignment the digest covers): the unsigned image of an
      // 8-byte-aligned file has the same digest.
      if (readFileSync(unsigned).length % 8 === 0) assert.equal(Buffer.from(authenticodeDigest(new Uint8Array(readFileSync(unsigned)))).toString('hex'), oracle, `${name} unsigned`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fuzz: damaged PE images give CocoErrors, never crashes', () => {
  const pe = new Uint8Array(readFileSync(vectorPath('uki', 'pe', 'pe-s01.efi'))).subarray(0, 4096);
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(1023), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.integer({ min: 64, max: 4096 }), (flips, cut) => {
      const b = new Uint8Array(pe.subarray(0, cut));
      for (const [i, v] of flips) if (i < b.length) b[i] = v;
      try {
        authenticodeDigest(b);
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind !== 'internal', String(e));
      }
    }),
    { numRuns: 300 },
  );
});
