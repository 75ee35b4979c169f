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
