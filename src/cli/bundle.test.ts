/**
 * The bundled `cocokit` (dist/cli/, what the package's bin runs): it imports nothing but its own chunks, Node's
 * built-ins and the native SQLite driver (the Rego engine's YAML and GraphQL builtins `require` those packages
 * on first use), so it has one CocoError class of its own; and the files its modules
 * read by path — the AMD roots under assets/, the verity hashing worker, the Rego policies beside the compiled
 * modules — are found from the bundle as from the per-module build.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt } from '../test-support/built-package.js';
import { readVectorJson, vectorPath } from '../test-support/vectors.js';
import { generateData, tempDir, verityCases, writeData } from '../measure/test-support/verity.js';

const main = ensureBuilt();
const bundleDir = join(main, '..');

function cocokit(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [main, ...args], { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_ENV: '' } });
}

test('the bundle imports only its own chunks, Node built-ins and the native SQLite driver', () => {
  const files = readdirSync(bundleDir);
  assert.ok(files.includes('main.js') && files.some((f) => /^chunk-\w+\.js$/.test(f)), files.join(', '));
  const specifiers = new Set<string>();
  for (const f of files) {
    assert.match(f, /^(main|chunk-\w+)\.js$/, 'dist/cli holds the bundle alone');
    const text = readFileSync(join(bundleDir, f), 'utf8');
    // esbuild writes every specifier it emits in double quotes (single-quoted ones are in comments).
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^"'`;]*?\bfrom\s*"([^"]+)"|^\s*import\s*"([^"]+)"|\bimport\("([^"]+)"\)/gm)) {
      specifiers.add(m[1] ?? m[2] ?? m[3]);
    }
  }
  const foreign = [...specifiers].filter((s) => !/^\.\/chunk-\w+\.js$/.test(s) && !s.startsWith('node:') && s !== 'better-sqlite3');
  assert.deepEqual(foreign, []);
  assert.ok(specifiers.has('better-sqlite3'), 'the SQLite driver is loaded from node_modules');
  assert.ok([...specifiers].filter((s) => s.startsWith('./chunk-')).length > 10, 'command groups are split into chunks');
});

test("each bundled module that reads files by path has its compiled file in dist/ to resolve them from", () => {
  // A module's `import.meta.url` is its compiled file's URL; paths beside it (the verity worker, .rego files,
  // ../../assets) then resolve as from the per-module build.
  const bases = new Set<string>();
  for (const f of readdirSync(bundleDir)) {
    for (const m of readFileSync(join(bundleDir, f), 'utf8').matchAll(/new URL\("([^"]+)", import\.meta\.url\)\.href/g)) bases.add(m[1]);
  }
  for (const must of ['../measure/verity-level0.js', '../policy/builtin.js', '../server/console.js', '../tee/snp/certs.js', '../store/sqlite.js']) {
    assert.ok(bases.has(must), `${must} among ${[...bases].join(', ')}`);
  }
  for (const b of bases) assert.ok(existsSync(join(bundleDir, b)), `${b} is not in dist/`);
  assert.ok(existsSync(join(bundleDir, '../measure/verity-worker.js')));
});

test('the bundled CLI finds the AMD roots under assets/ and maps CocoError kinds to exit codes', () => {
  const index = readVectorJson<{ vectors: Array<{ id: string; suggested_verification_time?: string; fields: { chip_id: string } }> }>('snp', 'reports', 'index.json');
  const v = index.vectors.find((x) => x.id === 'coco-e2e-genoa-v3')!;
  const { dir, cleanup } = tempDir();
  try {
    const ok = cocokit(['snp', 'verify', vectorPath('trustee', 'snp', 'evidence-e2e.json'), '--at', v.suggested_verification_time!, '--json'], dir);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { claims: { chip_id: string } }).claims.chip_id, v.fields.chip_id);
    // Malformed input is a CocoError of kind `input` (exit 4); a class the CLI did not recognise would exit 70.
    writeData(dir, 'short.bin', new Uint8Array(100));
    const bad = cocokit(['snp', 'show', 'short.bin'], dir);
    assert.equal(bad.status, 4, bad.stderr);
    assert.match(bad.stderr, /^error\[[A-Z0-9_]+\]: /);
  } finally {
    cleanup();
  }
});

test('the bundled CLI formats a verity vector to its root hash', () => {
  const c = verityCases().find((x) => x.id === 's01')!;
  const { dir, cleanup } = tempDir();
  try {
    writeData(dir, 'data.img', generateData(c.data));
    const r = cocokit(['verity', ...c.veritysetup_argv], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Root hash:\\s+${c.expected.root_hash}$`, 'm'));
  } finally {
    cleanup();
  }
});
