import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readVector, readVectorJson, vectorPath } from '../test-support/vectors.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';

const expected = readVectorJson('azure', 'expected.json');

function cli(argv: string[]): Promise<CliRun> {
  return runCli(argv);
}

test('azure show decodes the HCL report of every evidence version and shows the REPORT_DATA binding', async () => {
  for (const [file, want] of Object.entries<any>(expected.evidence)) {
    const r = await cli(['azure', 'show', vectorPath('azure', ...file.split('/')), '--json']);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out);
    assert.equal(out.version, want.hcl.header_version, file);
    assert.equal(out.igvm.variableDataSize, want.hcl.var_data_size, file);
    assert.equal(out.runtime_data_sha256, want.hcl.var_data_sha256, file);
    assert.equal(out.report_data_binds_runtime_data, true, file);
    assert.deepEqual(out.runtime_data.keys.map((k: any) => k.kid), want.hcl.key_ids, file);
    if (want.snp) assert.equal(out.snp_report.measurement, want.snp.measurement, file);
  }
  const text = await cli(['azure', 'show', vectorPath('azure', 'azure-cvm-tooling', 'hcl-report-snp.bin')]);
  assert.match(text.out, /binding {12}REPORT_DATA\[0\.\.32\] = SHA-256\(runtime data\)/);
});

test('azure show flags a report whose runtime data was altered, and rejects what is not an HCL report', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-azure-'));
  try {
    const b = new Uint8Array(readVector('azure', 'trustee', 'az-snp-vtpm', 'hcl-report.bin'));
    b[0x6e0] += 1;
    writeFileSync(join(dir, 'hcl'), b);
    const r = await cli(['azure', 'show', join(dir, 'hcl')]);
    assert.equal(r.code, 0);
    assert.match(r.out, /MISMATCH/);
    writeFileSync(join(dir, 'junk'), Buffer.alloc(100, 1));
    const junk = await cli(['azure', 'show', join(dir, 'junk')]);
    assert.equal(junk.code, 4);
    assert.match(junk.err, /error\[HCL_REPORT\]/);
    writeFileSync(join(dir, 'bad.json'), '{"version": 1}');
    assert.equal((await cli(['azure', 'show', join(dir, 'bad.json')])).code, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
