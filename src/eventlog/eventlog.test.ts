import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { fromBase64, fromHex, toHex } from '../formats/bytes.js';
import { readVector, readVectorJson } from '../test-support/vectors.js';
import {
  EV_EFI_ACTION,
  EV_NO_ACTION,
  EV_SEPARATOR,
  compareReplay,
  decodeEvent,
  encodeCryptoAgileLog,
  encodeLegacyLog,
  firstLogDifference,
  parseEventLog,
  replayEventLog,
  zeroInitialValues,
  type EventLog,
  type RegisterBanks,
} from './index.js';

const expected = readVectorJson('tpm', 'eventlogs', 'expected.json');
const synthetic = new Uint8Array(readVector('tpm', 'eventlog.bin'));
const syntheticJson = readVectorJson('tpm', 'eventlog.json');
const cases = readVectorJson('tpm', 'cases.json');

function banksToHex(banks: RegisterBanks): Record<string, Record<string, string>> {
  return Object.fromEntries([...banks].map(([b, m]) => [b, Object.fromEntries([...m].map(([i, v]) => [String(i), toHex(v)]))]));
}
function hexToBanks(obj: Record<string, Record<string, string>>): RegisterBanks {
  return new Map(Object.entries(obj).map(([b, m]) => [b, new Map(Object.entries(m).map(([i, v]) => [Number(i), fromHex(v)]))]));
}
const sha1 = (s: string | Uint8Array) => new Uint8Array(createHash('sha1').update(s).digest());
const isInputError = (e: unknown) => e instanceof CocoError && e.kind !== 'internal' && e.code === 'EVENTLOG_FORMAT';

test('real firmware logs parse in their format and replay, bank by bank, to the PCRs tpm2_eventlog computes', () => {
  for (const [file, want] of Object.entries<any>(expected.logs)) {
    if (file.endsWith('.json')) continue;
    const bytes = readVector('tpm', 'eventlogs', file);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), want.sha256_of_file, file);
    const log = parseEventLog(bytes);
    assert.equal(log.format, want.format, file);
    assert.equal(log.events.length, want.records_including_header, file);
    // The tools' replay starts every PCR at zero; none of these logs carries a StartupLocality event.
    assert.deepEqual(banksToHex(replayEventLog(log).banks), want.expected_replay, file);
  }
});

test('the synthetic swtpm log holds the events its JSON lists and replays to the PCRs the swtpm reported', () => {
  const log = parseEventLog(synthetic);
  assert.equal(log.format, 'crypto-agile');
  assert.deepEqual(log.specId?.algorithms.map((a) => a.name), ['sha1', 'sha256', 'sha384']);
  const events = log.events.slice(1);
  assert.equal(events.length, syntheticJson.events.length);
  for (const [i, e] of events.entries()) {
    const j = syntheticJson.events[i];
    assert.equal(e.index, j.pcr);
    assert.equal(e.type, Number(j.type));
    assert.equal(toHex(e.data), j.data_hex);
    assert.deepEqual(Object.fromEntries(e.digests.map((d) => [d.name, toHex(d.digest)])), j.digests);
  }
  const replay = replayEventLog(log);
  assert.deepEqual(banksToHex(replay.banks), syntheticJson.expected_replay);
  // The same values the swtpm reported after the extends (all 24 PCRs; the untouched ones are initial values).
  const tpm = hexToBanks(cases.tpm_pcrs);
  const cmp = compareReplay(log, replay, tpm);
  assert.equal(cmp.ok, true);
  assert.equal(cmp.registers.length, 72);
});

test('events are decoded by type: separators, EFI variables, actions, systemd-stub sections, the Linux initrd tag, GPT', () => {
  const log = parseEventLog(synthetic);
  const decoded = log.events.map((e) => ({ e, d: decodeEvent(e) }));
  assert.equal(decoded[0].d.kind, 'spec-id');
  const seps = decoded.filter(({ e }) => e.type === EV_SEPARATOR);
  assert.deepEqual(seps.map(({ e, d }) => [e.index, d]), [0, 1, 2, 3, 4, 5, 6, 7].map((i) => [i, { kind: 'separator', value: 0, error: false }]));
  const secureBoot = decoded.find(({ d }) => d.kind === 'efi-variable' && d.unicodeName === 'SecureBoot')?.d;
  assert.deepEqual(secureBoot && secureBoot.kind === 'efi-variable' && [secureBoot.variableName, secureBoot.value], ['8be4df61-93ca-11d2-aa0d-00e098032b8c', 1]);
  const actions = decoded.filter(({ e }) => e.type === EV_EFI_ACTION).map(({ d }) => (d.kind === 'string' ? d.text : d.kind));
  assert.deepEqual(actions.slice(-2), ['Exit Boot Services Invocation', 'Exit Boot Services Returned with Success']);
  const pcr11 = decoded.filter(({ e }) => e.index === 11).map(({ d }) => (d.kind === 'string' ? `${d.encoding}:${d.text}` : d.kind));
  assert.equal(pcr11.length, 6);
  assert.ok(pcr11.every((s) => /^utf-16le:\.[a-z]+$/.test(s)), pcr11.join(' '));

  const fedora = parseEventLog(readVector('tpm', 'eventlogs', 'event-sd-boot-fedora37.bin'));
  const tag = fedora.events.map(decodeEvent).find((d) => d.kind === 'event-tag');
  assert.deepEqual(tag && tag.kind === 'event-tag' && [tag.taggedEventId, tag.text], [0x8f3b22ec, 'Linux initrd']);
  const cmdline = fedora.events.filter((e) => e.index === 12).map(decodeEvent);
  assert.deepEqual(cmdline.map((d) => d.kind === 'string' && d.text), [' console=ttyS0 console=tty0 efi=debug ', ' console=ttyS0 console=tty0 efi=debug ']);

  const gce = parseEventLog(readVector('tpm', 'eventlogs', 'event-gce-ubuntu-2104-log.bin'));
  const gpt = gce.events.map(decodeEvent).find((d) => d.kind === 'gpt');
  assert.ok(gpt && gpt.kind === 'gpt' && gpt.partitions.length > 0 && gpt.partitions.some((p) => p.typeGuid === 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b'));
  const boot = gce.events.map(decodeEvent).find((d) => d.kind === 'efi-variable' && d.unicodeName === 'BootOrder');
  assert.ok(boot && boot.kind === 'efi-variable' && Array.isArray(boot.value) && (boot.value as string[]).every((v) => /^Boot[0-9A-F]{4}$/.test(v)));
});

test('a legacy SHA-1 log replays to the PCRs a Windows GCP quote covers', () => {
  const dump = readVectorJson('tpm', 'eventlogs', 'windows_gcp_shielded_vm.json');
  const log = parseEventLog(fromBase64(dump.Log.Raw));
  assert.equal(log.format, 'legacy-sha1');
  const quoted = expected.logs['windows_gcp_shielded_vm.json'].quoted_pcrs_sha1;
  const want: RegisterBanks = new Map([['sha1', new Map([0, 4, 5, 7, 11, 12, 13, 14].map((i) => [i, fromHex(quoted[String(i)])]))]]);
  assert.equal(compareReplay(log, replayEventLog(log), want).ok, true);
});

test('the EBS-missing log does not replay to the real PCR 5; two unlogged ExitBootServices extends explain it', () => {
  const info = expected.logs.ebs_event_missing_eventlog;
  const log = parseEventLog(readVector('tpm', 'eventlogs', 'ebs_event_missing_eventlog'));
  const replay = replayEventLog(log);
  const cmp = compareReplay(log, replay, new Map([['sha1', new Map([[5, fromHex(info.actual_tpm_pcr5_sha1)]])]]));
  assert.equal(cmp.ok, false);
  assert.equal(toHex(cmp.registers[0].replayed), info.expected_replay.sha1['5']);
  // The register holds extends the log does not record: no logged event can be blamed.
  assert.equal(cmp.firstDivergent, undefined);
  const ext = (pcr: Uint8Array, s: string) => sha1(Buffer.concat([pcr, sha1(s)]));
  const real = ext(ext(cmp.registers[0].replayed, 'Exit Boot Services Invocation'), 'Exit Boot Services Returned with Success');
  assert.equal(toHex(real), info.actual_tpm_pcr5_sha1);
});

test('a comparison names the first event whose digest does not hash its data', () => {
  const log = parseEventLog(synthetic);
  const sep = log.events.find((e) => e.type === EV_SEPARATOR && e.index === 4);
  assert.ok(sep);
  const tampered = synthetic.slice();
  // Flip one byte of the separator's sha256 digest (after index, type, count, sha1 alg+digest, sha256 alg).
  tampered[sep.offset + 12 + 2 + 20 + 2] ^= 0x01;
  const bad = parseEventLog(tampered);
  const cmp = compareReplay(bad, replayEventLog(bad), hexToBanks(cases.tpm_pcrs));
  assert.equal(cmp.ok, false);
  assert.deepEqual(cmp.registers.filter((r) => !r.ok).map((r) => `${r.bank}:${r.register}`), ['sha256:4']);
  assert.equal(cmp.firstDivergent?.seq, sep.seq);
  assert.match(cmp.firstDivergent?.reason ?? '', /sha256 digest does not hash the event data/);
});

test('a comparison names the first logged event a register does not contain', () => {
  const log = parseEventLog(synthetic);
  const last = log.events[log.events.length - 1];
  assert.equal(last.index, 5);
  // PCR values of a TPM that saw every event but the last.
  const shorter = parseEventLog(synthetic.subarray(0, last.offset));
  const cmp = compareReplay(log, replayEventLog(log), replayEventLog(shorter).banks);
  assert.equal(cmp.ok, false);
  assert.equal(cmp.firstDivergent?.seq, last.seq);
  assert.match(cmp.firstDivergent?.reason ?? '', /logged but not extended/);
  assert.deepEqual(firstLogDifference(log, shorter), { seq: last.seq, field: 'missing', detail: `one log ends after ${last.seq} records, the other has ${log.events.length}` });
});

test('a caller-supplied register mapping replays a crypto-agile log into other registers (as a CCEL into RTMRs)', () => {
  const log = parseEventLog(synthetic);
  const rtmr = replayEventLog(log, { banks: ['sha384'], register: (e) => (e.index === 11 ? 2 : e.index === 12 ? 3 : undefined), initial: zeroInitialValues });
  assert.deepEqual([...rtmr.banks.keys()], ['sha384']);
  const values = rtmr.banks.get('sha384') as Map<number, Uint8Array>;
  assert.deepEqual([...values.keys()], [2, 3]);
  assert.equal(toHex(values.get(2) as Uint8Array), cases.tpm_pcrs.sha384['11']);
  assert.equal(toHex(values.get(3) as Uint8Array), cases.tpm_pcrs.sha384['12']);
  assert.throws(() => replayEventLog(log, { banks: ['sha512'] }), (e: CocoError) => e.code === 'EVENTLOG_BANK' && e.kind === 'usage');
});

test('CCEL-style erased padding after the last record is accepted only when asked for', () => {
  const padded = new Uint8Array(synthetic.length + 300).fill(0xff);
  padded.set(synthetic);
  assert.throws(() => parseEventLog(padded), isInputError);
  const log = parseEventLog(padded, { trailing: 'padding' });
  assert.equal(log.events.length, 26);
  assert.equal(log.paddingBytes, 300);
});

test('a StartupLocality event sets the initial value of PCR 0; an H-CRTM event makes it 4', () => {
  const alg = { alg: 0x000b, size: 32 };
  const digest = new Uint8Array(32).fill(7);
  const locality = new Uint8Array([...new TextEncoder().encode('StartupLocality\0'), 3]);
  const log = parseEventLog(
    encodeCryptoAgileLog({ algorithms: [alg] }, [
      { index: 0, type: EV_NO_ACTION, digests: [{ alg: 0x000b, digest: new Uint8Array(32) }], data: locality },
      { index: 0, type: 0x8, digests: [{ alg: 0x000b, digest }], data: new Uint8Array(2) },
    ]),
  );
  assert.deepEqual(decodeEvent(log.events[1]), { kind: 'startup-locality', locality: 3 });
  const start = new Uint8Array(32);
  start[31] = 3;
  const want = createHash('sha256').update(start).update(digest).digest('hex');
  assert.equal(toHex(replayEventLog(log).banks.get('sha256')?.get(0) as Uint8Array), want);
  const hcrtm = parseEventLog(encodeCryptoAgileLog({ algorithms: [alg] }, [{ index: 0, type: 0x80000010, digests: [{ alg: 0x000b, digest }], data: new Uint8Array(0) }]));
  start[31] = 4;
  assert.equal(toHex(replayEventLog(hcrtm).banks.get('sha256')?.get(0) as Uint8Array), createHash('sha256').update(start).update(digest).digest('hex'));
});

test('encoding the parsed events gives back the original log bytes', () => {
  const log = parseEventLog(synthetic);
  const again = encodeCryptoAgileLog(log.specId as NonNullable<EventLog['specId']>, log.events.slice(1));
  assert.deepEqual(again, synthetic);
  const legacyBytes = new Uint8Array(readVector('tpm', 'eventlogs', 'event-uefi-sha1-log.bin'));
  const legacy = parseEventLog(legacyBytes);
  assert.deepEqual(encodeLegacyLog(legacy.events.map((e) => ({ ...e, digest: e.digests[0].digest }))), legacyBytes);
});

test('every truncation of a log is an EVENTLOG_FORMAT error, except at record boundaries', () => {
  const log = parseEventLog(synthetic);
  const boundaries = new Set([...log.events.map((e) => e.offset), synthetic.length]);
  for (let n = 0; n < synthetic.length; n++) {
    if (boundaries.has(n) && n > 0) {
      assert.equal(parseEventLog(synthetic.subarray(0, n)).events.length, log.events.findIndex((e) => e.offset === n));
    } else {
      assert.throws(() => parseEventLog(synthetic.subarray(0, n)), isInputError, `length ${n}`);
    }
  }
});

test('oversized events, unknown banks, wrong digest counts and bad Spec ID headers are rejected', () => {
  const log = parseEventLog(synthetic);
  const e1 = log.events[1];
  const set32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(at, v, true);
  const huge = synthetic.slice();
  set32(huge, e1.offset + 12 + 22 + 34 + 50, 0xffffffff); // EventSize after three digests
  assert.throws(() => parseEventLog(huge), isInputError);
  assert.throws(() => parseEventLog(synthetic, { maxEventSize: 16 }), (e: CocoError) => isInputError(e) && /exceeds the limit/.test(e.message));
  const count = synthetic.slice();
  set32(count, e1.offset + 8, 4);
  assert.throws(() => parseEventLog(count), (e: CocoError) => isInputError(e) && /4 digests/.test(e.message));
  const alg = synthetic.slice();
  alg[e1.offset + 12] = 0x0d; // sha512, not in the header
  assert.throws(() => parseEventLog(alg), (e: CocoError) => isInputError(e) && /sha512/.test(e.message));
  const dup = synthetic.slice();
  dup[32 + 28 + 4] = 0x04; // second header algorithm becomes sha1 again
  dup[32 + 28 + 5] = 0x00;
  assert.throws(() => parseEventLog(dup), (e: CocoError) => isInputError(e) && /listed twice/.test(e.message));
  const nalgs = synthetic.slice();
  set32(nalgs, 32 + 24, 1000);
  assert.throws(() => parseEventLog(nalgs), isInputError);
});

test('random bytes and flipped bytes give a log or an EVENTLOG_FORMAT error; decoding never throws', () => {
  const check = (bytes: Uint8Array) => {
    let log: EventLog;
    try {
      log = parseEventLog(bytes, { trailing: 'padding' });
    } catch (e) {
      assert.ok(isInputError(e), String(e));
      return;
    }
    for (const e of log.events) decodeEvent(e);
    replayEventLog(log);
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => check(b)), { numRuns: 300 });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: synthetic.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
      const b = synthetic.slice();
      b[i] ^= x;
      check(b);
    }),
    { numRuns: 400 },
  );
  // Every event's data replaced by random bytes still decodes to a value, never an exception.
  const log = parseEventLog(synthetic);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: log.events.length - 1 }), fc.uint8Array({ maxLength: 200 }), (i, data) => {
      decodeEvent({ ...log.events[i], data });
    }),
    { numRuns: 400 },
  );
});
