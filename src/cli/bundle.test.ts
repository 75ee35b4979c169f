/**
 * The bundled `cocokit` (dist/cli/, what the package's bin runs): it imports nothing but its own chunks, Node's
 * built-ins and the native SQLite driver (the Rego engine's YAML and GraphQL builtins `require` those packages
 * on first use), so it has one CocoError class of its own; and the files its modules
 * read by path — the AMD roots under assets/, the verity hashing worker, the Rego policies beside the compiled
 * modules — are found from the bundle as from the per-module build.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ensureBuilt } from '../test-support/built-package.js';
import { listeningUrl, stopChild } from '../test-support/serve-child.js';
import { readVectorJson, vectorPath } from '../test-support/vectors.js';
import { generateData, tempDir, verityCases, writeData } from '../measure/test-support/verity.js';
import { verityFormat } from '../measure/verity.js';
import { level0Digests } from '../measure/verity-level0.js';
import { STATE, type Level0Shared } from '../measure/verity-level0-shared.js';

const main = ensureBuilt();
const bundleDir = join(main, '..');

function cocokit(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [main, ...args], { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_ENV: '', ...env } });
}

/** The hashing worker the bundle starts: `./verity-worker.js` beside the compiled verity-level0 module it names. */
function bundledWorkerPath(): string {
  for (const f of readdirSync(bundleDir)) {
    for (const m of readFileSync(join(bundleDir, f), 'utf8').matchAll(/new URL\("([^"]+\/verity-level0\.js)", import\.meta\.url\)\.href/g)) {
      return join(bundleDir, m[1], '..', 'verity-worker.js');
    }
  }
  return assert.fail('the bundle names no verity-level0 module');
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

/**
 * An image of three 4 MiB hashing runs: with `--threads 2` the bundled CLI starts a hashing worker, the
 * compiled verity-worker.js, and its salted SHA-256 tree must equal the unbundled library's.
 */
test('the bundled CLI runs the verity hashing worker and builds the tree the library builds', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = Buffer.alloc(12 << 20);
    for (let i = 0; i < data.length; i += 32) createHash('sha256').update(`block ${i}`).digest().copy(data, i);
    writeFileSync(join(dir, 'data.img'), data);
    const salt = 'a5'.repeat(32);
    const uuid = '6f1c9a3e-2b4d-4e8f-9a7b-1c2d3e4f5a6b';
    const lib = await verityFormat({ data: join(dir, 'data.img'), hash: join(dir, 'lib.hash'), salt: Buffer.from(salt, 'hex'), uuid, threads: 1 });

    const r = cocokit(['verity', 'format', 'data.img', 'cli.hash', '--salt', salt, '--uuid', uuid, '--threads', '2'], dir, { NODE_DEBUG: 'worker' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Root hash:\\s+${Buffer.from(lib.rootHash).toString('hex')}$`, 'm'));
    assert.ok(readFileSync(join(dir, 'cli.hash')).equals(readFileSync(join(dir, 'lib.hash'))), 'the hash devices are byte for byte the same');
    // Node's worker debug log: the CLI made its hashing thread from the compiled worker script. Whether that
    // thread gets a run before the main thread has hashed them all is a race; the next test runs the same
    // file alone.
    const started = `instantiating Worker. url: ${pathToFileURL(bundledWorkerPath()).href} `;
    assert.ok(r.stderr.includes(started), r.stderr.slice(0, 2000));
    assert.doesNotMatch(r.stderr, /error/i);

    const v = cocokit(['verity', 'verify', 'data.img', 'cli.hash', Buffer.from(lib.rootHash).toString('hex'), '--threads', '2'], dir, { NODE_DEBUG: 'worker' });
    assert.equal(v.status, 0, v.stderr);
    assert.ok(v.stderr.includes(started), v.stderr.slice(0, 2000));
    data[5 << 20] ^= 1;
    writeFileSync(join(dir, 'data.img'), data);
    const bad = cocokit(['verity', 'verify', 'data.img', 'cli.hash', Buffer.from(lib.rootHash).toString('hex'), '--threads', '2'], dir);
    assert.equal(bad.status, 2, 'veritysetup exits 2 on corruption');
  } finally {
    cleanup();
  }
});

/**
 * The main thread of a pass hashes runs itself, so on a small image the worker may find no run left: here
 * the test is the main thread and claims none, so the bundle's worker file hashes every run, and its
 * digests must be the library's level-0 digests.
 */
test("the bundle's hashing worker alone hashes every run to the library's level-0 digests", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const blockSize = 4096;
    const blocks = 200;
    const data = Buffer.alloc(blocks * blockSize);
    for (let i = 0; i < data.length; i += 32) createHash('sha256').update(`w ${i}`).digest().copy(data, i);
    const path = join(dir, 'data.img');
    writeFileSync(path, data);
    const salt = Buffer.from('5a'.repeat(32), 'hex');
    const runBlocks = 16;
    const runs = Math.ceil(blocks / runBlocks);
    const shared: Level0Shared = { state: new SharedArrayBuffer(4 * (STATE.done + runs)), digests: new SharedArrayBuffer(runs * runBlocks * 32), ringRuns: runs, runBlocks, blocks, digestSize: 32 };
    const w = new Worker(pathToFileURL(bundledWorkerPath()), { workerData: { ...shared, path, nodeName: 'sha256', hashType: 1, salt, blockSize } });
    const failures: unknown[] = [];
    w.on('message', (m) => failures.push(m));
    const code = await new Promise<number>((resolve, reject) => {
      w.once('error', reject);
      w.once('exit', resolve);
    });
    assert.equal(code, 0);
    assert.deepEqual(failures, []);
    const state = new Int32Array(shared.state);
    for (let run = 0; run < runs; run++) assert.equal(Atomics.load(state, STATE.done + run), run + 1, `run ${run} done by the worker`);

    const want: Buffer[] = [];
    for await (const r of level0Digests({ path, nodeName: 'sha256', hashType: 1, salt, blockSize, blocks, threads: 1 })) want.push(Buffer.from(r.digests));
    assert.ok(Buffer.from(shared.digests).subarray(0, blocks * 32).equals(Buffer.concat(want)));
  } finally {
    cleanup();
  }
});

test('the bundled kbs serve loads its metrics library after it listens and counts the requests made before', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-bundle-serve-'));
  const child = spawn(process.execPath, [main, 'kbs', 'serve', '--port', '0', '--data-dir', join(dir, 'data')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: '', COCOKIT_LOG_LEVEL: 'silent' },
  });
  try {
    const url = await listeningUrl(child);
    const auth = await fetch(`${url}/kbs/v0/auth`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: '0.4.0', tee: 'sample', 'extra-params': '' }) });
    assert.equal(auth.status, 200);
    const metrics = await fetch(`${url}/metrics`);
    const text = await metrics.text();
    assert.equal(metrics.status, 200, text);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(text, /^kbs_build_info\{version="[^"]+",git_hash="unknown",build_date="unknown"\} 1$/m);
    assert.match(text, /^kbs_auth_requests_total 1$/m);
    assert.match(text, /^kbs_http_requests_total 1$/m);
  } finally {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  }
});
