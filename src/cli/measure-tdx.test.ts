import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tdvfMrtd } from '../measure/tdx/tdvf.js';
import { tinyFirmware } from '../measure/test-support/tdvf.js';
import { bufferIO } from './io.js';
import { run } from './program.js';

test('cocokit measure tdx prints the MRTD of a firmware file, and its sections with --json', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tdvf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fw = tinyFirmware();
  writeFileSync(join(dir, 'fw.fd'), fw);
  const io = bufferIO();
  assert.equal(await run(['measure', 'tdx', '--firmware', join(dir, 'fw.fd'), '--page-add-order', 'two-pass'], io), 0);
  assert.equal(io.out().trim(), Buffer.from(tdvfMrtd(fw, 'two-pass')).toString('hex'));
  const js = bufferIO();
  assert.equal(await run(['measure', 'tdx', '--firmware', join(dir, 'fw.fd'), '--json'], js), 0);
  const out = JSON.parse(js.out());
  assert.equal(out.mr_td, Buffer.from(tdvfMrtd(fw)).toString('hex'));
  assert.deepEqual(
    out.sections.map((s: any) => s.type),
    ['BFV', 'TD_HOB', 'TempMem'],
  );
  writeFileSync(join(dir, 'zero.fd'), new Uint8Array(4096));
  assert.equal(await run(['measure', 'tdx', '--firmware', join(dir, 'zero.fd')], bufferIO()), 4);
});

test('cocokit measure tdx --kernel --initrd --append prints RTMR1 and RTMR2 of the direct boot', async (t) => {
  const { directBootRtmrs } = await import('../measure/tdx/rtmr.js');
  const { readVector, vectorPath } = await import('../test-support/vectors.js');
  const dir = mkdtempSync(join(tmpdir(), 'tdx-direct-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'initrd'), new Uint8Array(100).fill(7));
  const kernel = vectorPath('uki', 'pe', 'pe-s01.efi');
  const want = directBootRtmrs(new Uint8Array(readVector('uki', 'pe', 'pe-s01.efi')), new Uint8Array(100).fill(7), 'console=hvc0', { separatorInRtmr1: false });
  const io = bufferIO();
  assert.equal(await run(['measure', 'tdx', '--kernel', kernel, '--initrd', join(dir, 'initrd'), '--append', 'console=hvc0', '--no-separator-in-rtmr1', '--json'], io), 0, io.err());
  assert.deepEqual(JSON.parse(io.out()), { rtmr_1: Buffer.from(want.rtmr1).toString('hex'), rtmr_2: Buffer.from(want.rtmr2).toString('hex') });
  assert.equal(await run(['measure', 'tdx', '--kernel', kernel], bufferIO()), 1);
  assert.equal(await run(['measure', 'tdx'], bufferIO()), 1);
});

test('cocokit measure tdx --firmware --acpi-* --memory prints RTMR0 of the direct boot; --patch-kernel measures the patched kernel', async (t) => {
  const { replayRtmr, rtmr0EventsFromFiles, directBootRtmrs } = await import('../measure/tdx/index.js');
  const { readVector, vectorPath } = await import('../test-support/vectors.js');
  const dir = mkdtempSync(join(tmpdir(), 'tdx-rtmr0-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fw = tinyFirmware({ cfv: true });
  const blobs = { loader: new Uint8Array([1, 2]), rsdp: new Uint8Array([3]), tables: new Uint8Array(300).fill(9) };
  writeFileSync(join(dir, 'fw.fd'), fw);
  for (const [k, v] of Object.entries(blobs)) writeFileSync(join(dir, k), v);
  const acpiArgs = ['--acpi-loader', join(dir, 'loader'), '--acpi-rsdp', join(dir, 'rsdp'), '--acpi-tables', join(dir, 'tables')];
  const io = bufferIO();
  assert.equal(await run(['measure', 'tdx', '--firmware', join(dir, 'fw.fd'), ...acpiArgs, '--memory', '4G', '--json'], io), 0, io.err());
  const want = replayRtmr(rtmr0EventsFromFiles({ firmware: fw, memorySize: 4n << 30n, acpiLoader: blobs.loader, acpiRsdp: blobs.rsdp, acpiTables: blobs.tables }));
  assert.equal(JSON.parse(io.out()).rtmr_0, Buffer.from(want).toString('hex'));
  const other = bufferIO();
  assert.equal(await run(['measure', 'tdx', '--firmware', join(dir, 'fw.fd'), ...acpiArgs, '--memory', '2048M'], other), 0, other.err());
  assert.match(other.out(), /^MRTD: [0-9a-f]{96}\nRTMR0: [0-9a-f]{96}\n$/);
  assert.notEqual(other.out().split('\n')[1].slice(7), Buffer.from(want).toString('hex'), 'the memory size shapes the TD HOB');
  assert.equal(await run(['measure', 'tdx', '--firmware', join(dir, 'fw.fd'), '--acpi-rsdp', join(dir, 'rsdp')], bufferIO()), 1, 'all three ACPI blobs');
  assert.equal(await run(['measure', 'tdx', '--firmware', join(dir, 'fw.fd'), ...acpiArgs, '--memory', 'lots'], bufferIO()), 1);
  assert.equal(await run(['measure', 'tdx', '--firmware', join(dir, 'fw.fd'), ...acpiArgs.slice(0, 4), '--acpi-tables', join(dir, 'missing')], bufferIO()), 11, 'an unreadable file');

  writeFileSync(join(dir, 'initrd'), new Uint8Array(100).fill(7));
  // A PE image without a Linux setup header cannot be patched; give it boot protocol 2.15 in a copy.
  assert.equal(await run(['measure', 'tdx', '--kernel', vectorPath('uki', 'pe', 'pe-s01.efi'), '--initrd', join(dir, 'initrd'), '--patch-kernel'], bufferIO()), 4);
  const kernel = new Uint8Array(readVector('uki', 'pe', 'pe-s01.efi'));
  Buffer.from(kernel.buffer, kernel.byteOffset).writeUInt16LE(0x20f, 0x206);
  writeFileSync(join(dir, 'bzImage'), kernel);
  const patched = bufferIO();
  assert.equal(await run(['measure', 'tdx', '--kernel', join(dir, 'bzImage'), '--initrd', join(dir, 'initrd'), '--patch-kernel', '--memory', '8G', '--json'], patched), 0, patched.err());
  const p = directBootRtmrs(kernel, new Uint8Array(100).fill(7), '', { patchKernel: { memorySize: 8n << 30n } });
  assert.equal(JSON.parse(patched.out()).rtmr_1, Buffer.from(p.rtmr1).toString('hex'));
  assert.notEqual(JSON.parse(patched.out()).rtmr_1, Buffer.from(directBootRtmrs(kernel, new Uint8Array(100).fill(7), '').rtmr1).toString('hex'));
});
