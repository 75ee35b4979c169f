import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { authenticodeDigest } from '../formats/authenticode.js';
import { encodeCryptoAgileLog, parseEventLog } from '../eventlog/index.js';
import { readVector, readVectorJson } from '../test-support/vectors.js';
import { referenceValuesFromArtifacts } from './from-artifacts.js';
import { tinyFirmware } from './test-support/tdvf.js';
import { checkPredictedRegister, directBootRtmr1Events, directBootRtmr2Events, explainEventLog, firstEventMismatch, loggedEvents, replayDigests, type PredictedRegister } from './explain-events.js';

const ccel = new Uint8Array(readVector('tdx', 'trustee-ovmf-directboot.ccel-data.bin'));
const ccelExpected = readVectorJson<{ upstream_expected: Record<string, string> }>('tdx', 'trustee-ovmf-directboot.expected.json').upstream_expected;
const ccelLog = parseEventLog(ccel, { trailing: 'padding' });
const kernelVector = new Uint8Array(readVector('uki', 'pe', 'pe-s01.efi'));
const tpmLog = new Uint8Array(readVector('tpm', 'eventlog.bin'));
const ukiCase = readVectorJson<{ pe_cases: { pe_file: string; expected: { sha256: Record<string, string> } }[] }>('uki', 'cases.json').pe_cases[0];
const uki = new Uint8Array(readVector('uki', ukiCase.pe_file));

test("the predicted events of a UKI's PCR 11 replay to systemd-measure's value", async () => {
  const rv = await referenceValuesFromArtifacts({ uki });
  const events = rv.provenance.tpm_pcr11.events!;
  assert.equal(events.register, 'PCR 11');
  assert.equal(replayDigests('sha256', events.events.map((e) => e.digest)), ukiCase.expected.sha256['enter-initrd:leave-initrd:sysinit:ready']);
  assert.equal(rv.values.tpm_pcr11, ukiCase.expected.sha256['enter-initrd:leave-initrd:sysinit:ready']);
  assert.deepEqual(events.events.slice(0, 2).map((e) => e.description), ['.linux section name', '.linux section']);
  assert.deepEqual(events.events.slice(-4).map((e) => e.description), ['phase enter-initrd', 'phase leave-initrd', 'phase sysinit', 'phase ready']);
});

test('a TPM event log whose PCR 11 holds another kernel is explained at the .linux section event', async () => {
  const predicted = (await referenceValuesFromArtifacts({ uki })).provenance.tpm_pcr11.events!;
  // The shared synthetic log's stub events: the .linux name agrees, its content is another kernel's.
  const logged = loggedEvents(parseEventLog(tpmLog), 11, 'sha256');
  assert.equal(logged[0].digest, createHash('sha256').update('.linux\0').digest('hex'));
  const m = explainEventLog('tpm', tpmLog, predicted)!;
  assert.equal(m.event, 2);
  assert.equal(m.description, '.linux section');
  assert.equal(m.expected, predicted.events[1].digest);
  assert.equal(m.measured, logged[1].digest);
  assert.equal(m.message, `PCR 11 event 2 (.linux section) differs: expected sha256 ${predicted.events[1].digest}, measured ${logged[1].digest}`);
  assert.equal(m.replayed, replayDigests('sha256', logged.map((e) => e.digest)));
});

test('a log that follows the prediction explains nothing; a missing or an extra event is named', async () => {
  const predicted = (await referenceValuesFromArtifacts({ uki })).provenance.tpm_pcr11.events!;
  const write = (digests: string[]) => encodeCryptoAgileLog({ algorithms: [{ alg: 0x000b, size: 32 }] }, digests.map((d) => ({ index: 11, type: 0xd, digests: [{ alg: 0x000b, digest: Buffer.from(d, 'hex') }], data: new Uint8Array(0) })));
  const all = predicted.events.map((e) => e.digest);
  assert.equal(explainEventLog('tpm', write(all), predicted), undefined);
  const short = explainEventLog('tpm', write(all.slice(0, -1)), predicted)!;
  assert.equal(short.message, `PCR 11 event ${all.length} (phase ready) is missing from the log: expected sha256 ${all[all.length - 1]}`);
  const extra = explainEventLog('tpm', write([...all, 'ab'.repeat(32)]), predicted)!;
  assert.equal(extra.event, all.length + 1);
  assert.match(extra.message, /is not predicted by the artifacts: measured sha256 (ab){32}/);
});

test("TDX RTMR1 from another kernel is explained at the kernel event of Trustee's OVMF CCEL", () => {
  const logged = loggedEvents(ccelLog, 2, 'sha384');
  // The log's own kernel digest, with the separator where this OVMF build logs it, predicts the log exactly.
  const own = directBootRtmr1Events(Buffer.from(logged[0].digest, 'hex'), false);
  assert.equal(explainEventLog('tdx', ccel, own), undefined);
  assert.equal(replayDigests('sha384', own.events.map((e) => e.digest)), ccelExpected.rtmr1);
  const other = directBootRtmr1Events(authenticodeDigest(kernelVector, 'sha384'));
  const m = explainEventLog('tdx', ccel, other)!;
  assert.equal(m.message, `RTMR1 event 1 (kernel (Authenticode)) differs: expected sha384 ${toHex(authenticodeDigest(kernelVector, 'sha384'))}, measured ${logged[0].digest}`);
  assert.equal(m.replayed, ccelExpected.rtmr1);
  // The tdx-measure model puts the separator in RTMR1; this build does not, and the replay says where.
  const sep = explainEventLog('tdx', ccel, directBootRtmr1Events(Buffer.from(logged[0].digest, 'hex'), true))!;
  assert.equal(sep.event, 3);
  assert.equal(sep.description, 'separator');
});

test('TDX RTMR2 with another command line is explained at the load options event', () => {
  const m = explainEventLog('tdx', ccel, directBootRtmr2Events('console=hvc0 root=/dev/vda1', new Uint8Array(16)))!;
  assert.equal(m.register, 'RTMR2');
  assert.equal(m.event, 1);
  assert.equal(m.description, 'load options (kernel command line)');
  assert.equal(m.replayed, ccelExpected.rtmr2);
});

test('provenance from TDX artifacts carries the RTMR events', async () => {
  const rv = await referenceValuesFromArtifacts({ tdx: { firmware: tinyFirmware(), kernel: kernelVector, initrd: new Uint8Array(16), append: 'console=hvc0' } });
  assert.equal(replayDigests('sha384', rv.provenance.rtmr_1.events!.events.map((e) => e.digest)), rv.values.rtmr_1);
  assert.equal(replayDigests('sha384', rv.provenance.rtmr_2.events!.events.map((e) => e.digest)), rv.values.rtmr_2);
});

test('malformed predicted events and logs are CocoErrors', () => {
  const good: PredictedRegister = { register: 'RTMR2', bank: 'sha384', events: [{ description: 'x', digest: 'ab'.repeat(48) }] };
  assert.deepEqual(checkPredictedRegister(good, 'p'), good);
  for (const bad of [null, 'x', { ...good, register: 'R2' }, { ...good, bank: 'md5' }, { ...good, events: [{ description: 'x', digest: 'ab' }] }, { ...good, events: [{ description: 1, digest: 'ab'.repeat(48) }] }, { ...good, events: {} }]) {
    assert.throws(() => checkPredictedRegister(bad, 'p'), (e: unknown) => e instanceof CocoError && e.code === 'RV_EVENTS', JSON.stringify(bad));
  }
  assert.throws(() => explainEventLog('tdx', ccel.subarray(0, 100), good), (e: unknown) => e instanceof CocoError);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      try {
        explainEventLog('tpm', bytes, good);
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
      }
    }),
    { numRuns: 200 },
  );
  assert.equal(firstEventMismatch(good, [{ digest: 'AB'.repeat(48) }]), undefined);
});
