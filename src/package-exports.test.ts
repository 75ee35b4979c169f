import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './test-support/vectors.js';

test('every package entry point has a source module behind it', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { exports: Record<string, string>; bin: Record<string, string> };
  const targets = [...Object.values(pkg.exports), ...Object.values(pkg.bin)];
  for (const target of targets) {
    const source = target.replace(/^(\.\/)?dist\//, 'src/').replace(/\.js$/, '.ts');
    assert.ok(existsSync(join(REPO_ROOT, source)), `${target} has no ${source}`);
  }
});
