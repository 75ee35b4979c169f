import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { toHex } from '../../formats/bytes.js';
import { parseEventLog } from '../../eventlog/index.js';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { tinyFirmware } from '../test-support/tdvf.js';
import { replayRtmr, patchKernelSetupHeader } from './rtmr.js';
import { cfvDigest, efiVariableDigest, rtmr0Events, rtmr0EventsFromFiles, tdHobList } from './rtmr0.js';
import { parseTdvfSections } from './tdvf.js';

const sha384 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha384').update(b).digest());
const isInput = (e: unknown): boolean => e instanceof CocoError && e.kind !== 'internal';
const rtmr0Logged = (file: string): { type: string; digest: Uint8Array; data: Uint8Array }[] =>
  parseEventLog(new Uint8Array(readVector('tdx', file)), { trailing: 'padding' })
    .events.filter((e) => e.index === 1 && e.typeName !== 'EV_NO_ACTION')
    .map((e) => ({ type: e.typeName, digest: e.digests[0].digest, data: e.data }));

test("RTMR0 of a direct boot reproduces OVMF's log: every fixed event from its inputs, the firmware/VMM ones from the log", () => {
  const x = readVectorJson('tdx', 'trustee-ovmf-directboot.expected.json').upstream_expected;
  const events = rtmr0Logged('trustee-ovmf-directboot.ccel-data.bin');
  const acpi = events.filter((e) => e.type === 'EV_PLATFORM_CONFIG_FLAGS').map((e) => e.digest);
  assert.equal(acpi.length, 3);
  // The TD HOB, CFV and ACPI blobs of that VM are not published; their digests come from the log.
  const predicted = rtmr0Events({ tdHob: events[0].digest, cfv: events[1].digest, acpiLoader: acpi[0], acpiRsdp: acpi[1], acpiTables: acpi[2] }, { separatorInRtmr1: false });
  assert.deepEqual(predicted.map(toHex), events.map((e) => toHex(e.digest)));
  assert.equal(toHex(replayRtmr(predicted)), x.rtmr0);
  // tdx-measure's model puts the second separator in RTMR1: one event fewer here.
  assert.equal(rtmr0Events({ tdHob: events[0].digest, cfv: events[1].digest, acpiLoader: acpi[0], acpiRsdp: acpi[1], acpiTables: acpi[2] }).length, events.length - 1);
});

test('UEFI variable digests equal the EV_EFI_VARIABLE_DRIVER_CONFIG digests of a secure-boot log, from the logged variable data', () => {
  const events = rtmr0Logged('gotdx-cos113-ccel.ccel-data.bin').filter((e) => e.type === 'EV_EFI_VARIABLE_DRIVER_CONFIG');
  assert.equal(events.length, 5);
  for (const e of events) {
    const d = Buffer.from(e.data);
    const g = d.subarray(0, 16);
    const guid = [toHex(Uint8Array.from(g.subarray(0, 4)).reverse()), toHex(Uint8Array.from(g.subarray(4, 6)).reverse()), toHex(Uint8Array.from(g.subarray(6, 8)).reverse()), toHex(g.subarray(8, 10)), toHex(g.subarray(10, 16))].join('-');
    const nameLen = Number(d.readBigUInt64LE(16));
    const dataLen = Number(d.readBigUInt64LE(24));
    const name = d.subarray(32, 32 + 2 * nameLen).toString('utf16le');
    const data = d.subarray(32 + 2 * nameLen, 32 + 2 * nameLen + dataLen);
    assert.ok(data.length > 0, `${name} carries data`);
    assert.equal(toHex(efiVariableDigest(guid, name, data)), toHex(e.digest), name);
  }
});

test('the TD HOB list is a PHIT HOB and resource HOBs for accepted and unaccepted RAM, byte for byte', () => {
  const sections = parseTdvfSections(tinyFirmware());
  const hob = (type: number, start: bigint, length: bigint): Buffer => {
    const b = Buffer.alloc(48);
    b.writeUInt16LE(3, 0);
    b.writeUInt16LE(48, 2);
    b.writeUInt32LE(type, 24);
    b.writeUInt32LE(7, 28);
    b.writeBigUInt64LE(start, 32);
    b.writeBigUInt64LE(length, 40);
    return b;
  };
  const phit = (n: number): Buffer => {
    const b = Buffer.alloc(56);
    b.writeUInt16LE(1, 0);
    b.writeUInt16LE(56, 2);
    b.writeUInt32LE(9, 8);
    b.writeBigUInt64LE(0x809000n + BigInt(56 + 48 * n + 8), 48);
    return b;
  };
  // 16 MiB: TD_HOB [0x809000, 0x80b000) and TempMem [0x900000, 0x901000) accepted, the rest unaccepted.
  const small = [hob(7, 0n, 0x809000n), hob(0, 0x809000n, 0x2000n), hob(7, 0x80b000n, 0xf5000n), hob(0, 0x900000n, 0x1000n), hob(7, 0x901000n, 0x6ff000n)];
  assert.equal(toHex(tdHobList(sections, 0x100_0000n)), toHex(Buffer.concat([phit(5), ...small])));
  // 4 GiB: RAM above 2 GiB moves above 4 GiB (the PCI hole).
  const big = [...small.slice(0, 4), hob(7, 0x901000n, 0x8000_0000n - 0x901000n), hob(7, 0x1_0000_0000n, 0x8000_0000n)];
  assert.equal(toHex(tdHobList(sections, 0x1_0000_0000n)), toHex(Buffer.concat([phit(6), ...big])));
  assert.throws(() => tdHobList(sections, 0n), isInput);
  assert.throws(() => tdHobList(sections, 0x80a000n), /ends inside/);
});

test('the CFV digest is SHA-384 of the CFV bytes of the image; an image without CFV is an input error', () => {
  const fw = tinyFirmware({ cfv: true });
  assert.equal(toHex(cfvDigest(fw)), toHex(sha384(fw.subarray(0x3000, 0x3800))));
  assert.throws(() => cfvDigest(tinyFirmware()), (e: unknown) => isInput(e) && /no CFV/.test((e as Error).message));
  const loader = new Uint8Array([1]);
  const rsdp = new Uint8Array([2]);
  const tables = new Uint8Array([3]);
  const ev = rtmr0EventsFromFiles({ firmware: fw, memorySize: 0x8000_0000n, acpiLoader: loader, acpiRsdp: rsdp, acpiTables: tables });
  assert.deepEqual(
    [ev[0], ev[1], ev[8], ev[9], ev[10]].map(toHex),
    [sha384(tdHobList(parseTdvfSections(fw), 0x8000_0000n)), sha384(fw.subarray(0x3000, 0x3800)), sha384(loader), sha384(rsdp), sha384(tables)].map(toHex),
  );
});

test("QEMU's setup-header patch writes the boot-protocol fields and places the initrd below low RAM", () => {
  const k = Buffer.alloc(0x1000, 0x11);
  k.writeUInt16LE(0x20f, 0x206);
  k[0x211] = 0x01; // LOADED_HIGH
  k.writeUInt16LE(0, 0x236);
  const p = Buffer.from(patchKernelSetupHeader(k, 1000, 0x8000_0000n));
  assert.equal(p[0x210], 0xb0);
  assert.equal(p[0x211], 0x81);
  assert.equal(p.readUInt32LE(0x224), 0x20000 - 0x10000 - 0x200);
  assert.equal(p.readUInt32LE(0x228), 0x20000);
  assert.equal(p.readUInt32LE(0x218), 0x37fff000, 'initrd_addr_max 0x37ffffff, page-aligned below it');
  assert.equal(p.readUInt32LE(0x21c), 1000);
  assert.equal(Buffer.compare(p.subarray(0x240), k.subarray(0x240)), 0, 'nothing else changes');
  k.writeUInt16LE(0x40, 0x236); // XLF_CAN_BE_LOADED_ABOVE_4G: limited by RAM below 4 GiB minus QEMU's ACPI area
  assert.equal(Buffer.from(patchKernelSetupHeader(k, 1000, 0x8000_0000n)).readUInt32LE(0x218), 0x7ffd7000);
  assert.equal(Buffer.from(patchKernelSetupHeader(k, 1000, 0x2_0000_0000n)).readUInt32LE(0x218), 0x7ffd7000, '8 GiB: low RAM ends at 2 GiB');
  assert.throws(() => patchKernelSetupHeader(new Uint8Array(100), 0, 1n << 31n), isInput);
  assert.throws(() => patchKernelSetupHeader(k, 0x7fff_0000, 0x8000_0000n), /does not fit/);
});

test('random kernels and memory sizes give a patched image or an input error', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 0x1100 }), fc.nat(0x10000000), fc.bigInt(0n, 1n << 40n), (k, n, m) => {
      try {
        assert.equal(patchKernelSetupHeader(k, n, m).length, k.length);
      } catch (e) {
        assert.ok(isInput(e), String(e));
      }
    }),
    { numRuns: 200 },
  );
});
