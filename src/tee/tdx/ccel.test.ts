import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { toHex } from '../../formats/bytes.js';
import { failures } from '../../formats/check.js';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { CC_TYPE_TDX, checkCcelReplay, devicePathNodes, parseCcelTable, replayCcel, serializeCcelTable, uefiEventLogClaims } from './ccel.js';
import { parseQuote } from './format.js';

const regs = (x: any): string[] => Object.values(x.replayed_sha384_registers) as string[];

test('the COS CCEL table names a TDX log area and round-trips byte-exact', () => {
  const bytes = new Uint8Array(readVector('tdx', 'gotdx-cos113-ccel.ccel-table.bin'));
  const t = parseCcelTable(bytes);
  assert.deepEqual([t.ccType, t.laml, t.lasa, t.oemId], [CC_TYPE_TDX, 0x40000n, 0xbedbf000n, 'INTEL ']);
  assert.deepEqual(serializeCcelTable(t), bytes);
  const flipped = new Uint8Array(bytes);
  flipped[50] ^= 1;
  assert.throws(() => parseCcelTable(flipped), /checksum/);
});

test('replaying the COS CCEL reproduces the RTMRs of its quote', () => {
  const x = readVectorJson('tdx', 'gotdx-cos113-ccel.ccel-replay.expected.json');
  const r = replayCcel(new Uint8Array(readVector('tdx', 'gotdx-cos113-ccel.ccel-data.bin')));
  assert.deepEqual(r.rtmrs.map(toHex), regs(x));
  assert.equal(r.log.events.length - 1, x.event_count_excluding_specid_header);
  const q = parseQuote(new Uint8Array(readVector('tdx', 'gotdx-cos113-ccel.quote.bin')));
  assert.deepEqual(failures(checkCcelReplay(r, q.body)), []);
  const other = parseQuote(new Uint8Array(readVector('tdx', 'gotdx-v5-tdx15.quote.bin')));
  assert.deepEqual(failures(checkCcelReplay(r, other.body)).map((c) => c.detail.slice(-5)), ['RTMR0', 'RTMR1', 'RTMR2']);
});

test("replaying Trustee's OVMF direct-boot CCEL gives Trustee's RTMRs, and its events carry the kernel command line", () => {
  const x = readVectorJson('tdx', 'trustee-ovmf-directboot.expected.json');
  const r = replayCcel(new Uint8Array(readVector('tdx', 'trustee-ovmf-directboot.ccel-data.bin')));
  assert.deepEqual(r.rtmrs.map(toHex), [x.upstream_expected.rtmr0, x.upstream_expected.rtmr1, x.upstream_expected.rtmr2, x.upstream_expected.rtmr3]);
  const claims = uefiEventLogClaims(r.log);
  assert.equal(claims.length, x.event_count_excluding_specid_header);
  assert.ok(claims.some((c) => c.type_name === 'EV_EVENT_TAG' && (c.details as any).string === 'LOADED_IMAGE::LoadOptions'));
  // The kernel's image-load event names its file, as Trustee's default policy expects.
  const kernel = claims.find((c) => c.type_name === 'EV_EFI_BOOT_SERVICES_APPLICATION') as any;
  assert.ok(kernel.details.device_paths.includes('File(kernel)'), JSON.stringify(kernel.details));
});

test('a damaged CCEL log is an input error, never a crash', () => {
  const good = new Uint8Array(readVector('tdx', 'trustee-ovmf-directboot.ccel-data.bin')).subarray(0, 8192);
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(good.length), (flips, cut) => {
      const b = new Uint8Array(good.subarray(0, cut));
      for (const [i, v] of flips) if (i < b.length) b[i] = v;
      try {
        replayCcel(b);
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind !== 'internal', String(e));
      }
    }),
    { numRuns: 200 },
  );
  fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (p) => Array.isArray(devicePathNodes(p))), { numRuns: 300 });
  assert.throws(() => parseCcelTable(new Uint8Array(10)), (e: unknown) => e instanceof CocoError && e.kind === 'input');
});

test("digest_matches_event is Trustee's for every event of its CCEL logs", () => {
  // (CCEL_data_csv is a Hygon CSV log with an SM3 bank only: not a TDX log.)
  for (const name of ['CCEL_data', 'CCEL_data_ovmf', 'CCEL_data_grub', 'CCEL_data_grub_gke', 'CCEL_AAEL_alibabacloud']) {
    const want = (readVectorJson('trustee', 'eventlog', `${name}_out.json`) as { uefi_event_logs: { type_name: string; digest_matches_event: boolean }[] }).uefi_event_logs;
    const claims = uefiEventLogClaims(replayCcel(new Uint8Array(readVector('trustee', 'eventlog', name))).log);
    assert.deepEqual(
      claims.map((c) => [c.type_name, c.digest_matches_event]),
      // Trustee also lists EV_NO_ACTION events after the header (e.g. StartupLocality); cocokit leaves them out.
      want.filter((e) => e.type_name !== 'EV_NO_ACTION').map((e) => [e.type_name, e.digest_matches_event]),
      name,
    );
    assert.ok(want.some((e) => e.digest_matches_event) && want.some((e) => !e.digest_matches_event), `${name} has both kinds`);
  }
});
