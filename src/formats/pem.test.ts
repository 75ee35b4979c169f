import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { REPO_ROOT } from '../test-support/vectors.js';
import { pemCertificates } from './pem.js';

test('every certificate of a PEM bundle comes back as the DER node:crypto reads, in order', () => {
  const pem = (name: string) => readFileSync(join(REPO_ROOT, 'assets', 'amd', name), 'utf8');
  const text = `${pem('ask_milan.pem')}\n${pem('ark_milan.pem')}`;
  const ders = pemCertificates(`explanatory text\n${text}`);
  assert.equal(ders.length, 2);
  const [ask, ark] = ders.map((d) => new X509Certificate(d));
  assert.ok(ask.verify(ark.publicKey), 'the ASK is signed by the ARK');
});

test('text without certificate blocks gives none; random text never throws', () => {
  assert.deepEqual(pemCertificates(''), []);
  assert.deepEqual(pemCertificates('-----BEGIN CERTIFICATE-----\nno end'), []);
  fc.assert(fc.property(fc.string(), (s) => Array.isArray(pemCertificates(s))));
});
