import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { TARGET_NAMES } from './names.js';
import { runCampaign, summaryTable } from './run.js';

// The short, fixed-seed run of the campaign: 1000 inputs per target, eight targets per child process.
test('every parser and server entry point survives 1000 fuzzed inputs (fixed seed)', { timeout: 240_000 }, async () => {
  const findings = mkdtempSync(join(tmpdir(), 'cocokit-fuzz-'));
  try {
    const rows = await runCampaign({ targets: [...TARGET_NAMES], count: 1000, seed: 20261206, batch: 1000, jobs: 2, group: 8, hangMs: 10_000, heapMb: 1024, findings });
    const table = summaryTable(rows);
    for (const r of rows) {
      assert.equal(r.inputs, 1000, `${r.target} ran ${r.inputs} inputs\n${table}`);
      assert.deepEqual(r.findings, [], `${r.target}:\n${table}`);
    }
  } finally {
    rmSync(findings, { recursive: true, force: true });
  }
});
