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
