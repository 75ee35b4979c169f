import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { toHex } from '../../formats/bytes.js';
import { authenticodeDigest } from '../../formats/authenticode.js';
import { parseEventLog } from '../../eventlog/index.js';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { directBootRtmrs, replayRtmr, rtmr1Events, rtmr2Events } from './rtmr.js';

const x = readVectorJson('tdx', 'trustee-ovmf-directboot.expected.json').upstream_expected;
const log = parseEventLog(new Uint8Array(readVector('tdx', 'trustee-ovmf-directboot.ccel-data.bin')), { trailing: 'padding' });
const logged = (mr: number): Uint8Array[] => log.events.filter((e) => e.index === mr && e.typeName !== 'EV_NO_ACTION').map((e) => e.digests[0].digest);

test("RTMR1 of a direct boot, from the kernel's digest, reproduces Trustee's OVMF log (a build that logs the separator in RTMR0)", () => {
  const events = logged(2);
  const predicted = rtmr1Events(events[0], { separatorInRtmr1: false });
  assert.deepEqual(predicted.map(toHex), events.map(toHex), 'every fixed event digest is the one OVMF logged');
  assert.equal(toHex(replayRtmr(predicted)), x.rtmr1);
  assert.equal(rtmr1Events(events[0]).length, 5, 'tdx-measure model: the separator is in RTMR1');
});

test('RTMR2 of a direct boot extends the load options and the initrd digests in that order', () => {
  const events = logged(3);
  assert.equal(events.length, 2);
  assert.equal(toHex(replayRtmr(events)), x.rtmr2);
  const [opts, initrd] = rtmr2Events('console=hvc0', new Uint8Array([1, 2, 3]));
  assert.equal(toHex(opts), createHash('sha384').update(Buffer.from('console=hvc0 initrd=initrd\0', 'utf16le')).digest('hex'));
  assert.equal(toHex(initrd), createHash('sha384').update(new Uint8Array([1, 2, 3])).digest('hex'));
});

test('directBootRtmrs measures the kernel by its Authenticode SHA-384', () => {
  const kernel = new Uint8Array(readVector('uki', 'pe', 'pe-s01.efi'));
  const r = directBootRtmrs(kernel, new Uint8Array(16), 'root=/dev/vda1');
  assert.equal(toHex(r.rtmr1), toHex(replayRtmr(rtmr1Events(authenticodeDigest(kernel)))));
  assert.equal(toHex(r.rtmr2), toHex(replayRtmr(rtmr2Events('root=/dev/vda1', new Uint8Array(16)))));
});
