import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { readVector, readVectorJson } from '../test-support/vectors.js';
import { toHex } from './bytes.js';
import { decodeDerInteger, oidToBytes, oidToString, parseCertificate, parseCrl, readDer } from './x509.js';
import { integer, time } from './x509-build.js';

const index = readVectorJson<{ vectors: any[] }>('snp', 'reports', 'index.json');

test('lists the AMD extensions of every vector VCEK/VLEK with the DER values the index records', () => {
  for (const v of index.vectors.filter((x) => !x.negative)) {
    const der = new Uint8Array(readVector('snp', v.endorsement_cert));
    const exts = parseCertificate(der).extensions;
    for (const [label, hex] of Object.entries(v.cert_extensions as Record<string, string>)) {
      const oid = label.match(/\(([\d.]+)\)/)![1];
      const ext = exts.find((e) => e.oid === oid);
      assert.ok(ext, `${v.id} ${label}`);
      assert.equal(toHex(ext.value), hex, `${v.id} ${label}`);
    }
  }
});

test('the TBS, signature and serial it splits out are what node:crypto verifies', () => {
  const der = new Uint8Array(readVector('snp', 'reports', 'gsg-milan-v2.vcek.der'));
  const parts = parseCertificate(der);
  assert.equal(parts.serialNumber, 0n);
  const cert = new X509Certificate(der);
  assert.ok(toHex(der).includes(toHex(parts.tbs)));
  assert.equal(parts.signature.length, 512, 'RSA-4096 signature by SEV-Milan');
  assert.equal(cert.serialNumber, parts.serialNumber.toString(16));
});

test('decodes INTEGERs including the leading-zero form KDS uses for ucodeSPL >= 128', () => {
  assert.equal(decodeDerInteger(new Uint8Array([0x02, 0x02, 0x00, 0xdb])), 219n);
  assert.equal(decodeDerInteger(new Uint8Array([0x02, 0x01, 0x73])), 115n);
  for (const n of [0n, 1n, 127n, 128n, 255n, 256n, -1n, -129n, 0x10001n, 1n << 70n]) assert.equal(decodeDerInteger(integer(n)), n);
});

test('OIDs convert both ways', () => {
  for (const o of ['1.3.6.1.4.1.3704.1.3.8', '2.5.29.19', '1.2.840.113549.1.1.10', '2.999.1']) assert.equal(oidToString(oidToBytes(o)), o);
});

test('builds UTCTime before 2050 and GeneralizedTime after', () => {
  assert.equal(toHex(time(new Date('2045-10-22T17:23:05Z'))), toHex(new Uint8Array([0x17, 13, ...Buffer.from('451022172305Z')])));
  assert.equal(time(new Date('2050-01-01T00:00:00Z'))[0], 0x18);
});

test('fuzz: random and mutated DER gives a parse or a CocoError', () => {
  const seed = new Uint8Array(readVector('snp', 'reports', 'anolis-turin-v5.vcek.der'));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.tuple(fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((m) => {
          const b = new Uint8Array(seed);
          for (const [i, v] of m) b[i] = v;
          return b;
        }),
        fc.nat(seed.length).map((n) => seed.subarray(0, n)),
      ),
      (b) => {
        for (const f of [() => parseCertificate(b), () => parseCrl(b), () => readDer(b)]) {
          try {
            f();
          } catch (e) {
            if (!(e instanceof CocoError)) throw e;
          }
        }
      },
    ),
    { numRuns: 500 },
  );
});
