import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { REPO_ROOT } from '../test-support/vectors.js';
import { run } from './program.js';
import { bufferIO } from './io.js';

// The binary's entry starts hashing workers for `verity format` before the CLI loads; the process must still
// give the in-process answer and exit on its own, on success and on failure.
function cocokit(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test('the binary formats like the in-process CLI and exits, also when the image is missing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-main-'));
  try {
    const data = join(dir, 'data.img');
    writeFileSync(data, randomBytes(64 << 20));
    const salt = '00'.repeat(32);
    const io = bufferIO();
    assert.equal(await run(['verity', 'format', data, join(dir, 'a.hash'), '--salt', salt, '--uuid', '11111111-2222-3333-4444-555555555555'], io), 0);
    const want = /Root hash:\s+([0-9a-f]{64})/.exec(io.out())![1];

    const ok = cocokit(['verity', 'format', data, join(dir, 'b.hash'), '--salt', salt, '--uuid', '11111111-2222-3333-4444-555555555555']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(/Root hash:\s+([0-9a-f]{64})/.exec(ok.stdout)?.[1], want);

    const missing = cocokit(['verity', 'format', join(dir, 'nope.img'), join(dir, 'c.hash')]);
    assert.equal(missing.status, 4, missing.stderr);
    assert.match(missing.stderr, /VERITY_IO/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
