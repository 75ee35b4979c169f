/**
 * Start-up guards for the binary: what `cocokit --help`, `cocokit kbs --help` and `cocokit kbs serve` load before they answer, and a
 * generous CPU bound on `--help`. The goals themselves (≤ 0.2 s for `--help`, ≤ 0.5 s from `kbs serve` to
 * `/healthz`, built dist) are measured by bench/startup; this test only catches a module graph that grew back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../test-support/vectors.js';
import { listeningUrl, stopChild } from '../test-support/serve-child.js';

const MAIN = join(REPO_ROOT, 'src/cli/main.ts');

/**
 * A `--import` module recording every module URL the process resolves into `$IMPORT_LOG`: the ESM graph
 * through a resolve hook, and what `require` (createRequire included) loads through the CommonJS resolver.
 */
function importRecorder(dir: string): string {
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    [
      "import { appendFileSync } from 'node:fs';",
      'export async function resolve(spec, ctx, next) {',
      '  const r = await next(spec, ctx);',
      "  if (process.env.IMPORT_LOG) appendFileSync(process.env.IMPORT_LOG, r.url + '\\n');",
      '  return r;',
      '}',
    ].join('\n'),
  );
  const entry = join(dir, 'record.mjs');
  writeFileSync(
    entry,
    [
      "import Module, { register } from 'node:module';",
      "import { appendFileSync } from 'node:fs';",
      "import { isAbsolute } from 'node:path';",
      "import { pathToFileURL } from 'node:url';",
      `register(${JSON.stringify(pathToFileURL(hooks).href)});`,
      'const resolveFilename = Module._resolveFilename;',
      'Module._resolveFilename = function (...args) {',
      '  const r = resolveFilename.apply(this, args);',
      "  if (process.env.IMPORT_LOG && isAbsolute(r)) appendFileSync(process.env.IMPORT_LOG, pathToFileURL(r).href + '\\n');",
      '  return r;',
      '};',
    ].join('\n'),
  );
  return entry;
}

/** Repository-relative paths (`src/…`, `node_modules/<pkg>`) of what was loaded, and the `node:` built-ins imported. */
function loaded(log: string): Set<string> {
  const out = new Set<string>();
  for (const url of readFileSync(log, 'utf8').split('\n')) {
    if (url.startsWith('node:')) out.add(url);
    if (!url.startsWith('file://')) continue;
    const path = decodeURIComponent(new URL(url).pathname);
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
    if (pkg) out.add(`node_modules/${pkg[1]}`);
    else if (path.startsWith(REPO_ROOT)) out.add(path.slice(REPO_ROOT.length).replace(/^\//, ''));
  }
  return out;
}

/** Runs node (through tsx) with `args` under the import recorder; the run and the modules it loaded. */
function traceImports(dir: string, args: string[]): { r: SpawnSyncReturns<string>; mods: Set<string> } {
  const log = join(dir, 'imports.log');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', importRecorder(dir), ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, IMPORT_LOG: log },
  });
  return { r, mods: r.status === 0 ? loaded(log) : new Set() };
}

/** CPU time (user + system, ms) of the children this process has waited for. */
function childrenCpuMs(): number {
  const s = readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * 10;
}

test('cocokit --help loads the command table alone and stays well inside a second of CPU', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-startup-'));
  try {
    // The bound is on cocokit's own start: the TypeScript loader's cost is measured on an empty module and
    // taken off (the lower of two runs each, the first also warming the loader's cache).
    const empty = join(dir, 'empty.ts');
    writeFileSync(empty, 'export {};\n');
    const cpuOf = (args: string[]) => {
      const cpu0 = childrenCpuMs();
      const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
      return { r, cpuMs: childrenCpuMs() - cpu0 };
    };
    const loaderMs = Math.min(cpuOf([empty]).cpuMs, cpuOf([empty]).cpuMs);
    const runs = [cpuOf([MAIN, '--help']), cpuOf([MAIN, '--help'])];
    const r = runs[1].r;
    const cpuMs = Math.min(runs[0].cpuMs, runs[1].cpuMs) - loaderMs;
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Usage: cocokit/);
    assert.match(r.stdout, /kbs\s+Key Broker Service/);
    assert.ok(cpuMs < 1000, `cocokit --help used ${cpuMs} ms of CPU beyond the TypeScript loader's ${loaderMs} ms`);

    const { r: traced, mods } = traceImports(dir, [MAIN, '--help']);
    assert.equal(traced.status, 0, traced.stderr);
    assert.ok(mods.has('src/cli/program.ts'), `the recorder saw the CLI load: ${[...mods].join(', ')}`);
    const ours = [...mods].filter((m) => m.startsWith('src/') && !m.startsWith('src/cli/') && m !== 'src/errors.ts');
    assert.deepEqual(ours, [], 'top-level help loads no command group');
    const packages = [...mods].filter((m) => m.startsWith('node_modules/') && m !== 'node_modules/commander' && m !== 'node_modules/tsx');
    assert.deepEqual(packages, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cocokit kbs --help registers every kbs command without loading the client, server or measurement code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-startup-'));
  try {
    const { r, mods } = traceImports(dir, [MAIN, 'kbs', '--help']);
    assert.equal(r.status, 0, r.stderr);
    for (const cmd of ['serve', 'keygen', 'get-resource', 'get-workload-resource', 'attest', 'config', 'audit', 'console-token', 'workload']) {
      assert.match(r.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'), `kbs --help lists ${cmd}`);
    }
    assert.ok(mods.has('src/cli/kbs.ts') && mods.has('src/cli/workload.ts'), `the recorder saw the kbs commands load: ${[...mods].join(', ')}`);
    // Leaf modules the option tables use (constants, byte helpers) are fine; anything that runs a command is not.
    const light = new Set(['src/errors.ts', 'src/formats/bytes.ts', 'src/formats/json.ts', 'src/tee/tsm.ts']);
    const ours = [...mods].filter((m) => m.startsWith('src/') && !m.startsWith('src/cli/') && !light.has(m));
    assert.deepEqual(ours, []);
    assert.deepEqual([...mods].filter((m) => /^src\/cli\/(kbs-serve|rv|from-artifacts|measure-)/.test(m)), []);
    const packages = [...mods].filter((m) => m.startsWith('node_modules/') && m !== 'node_modules/commander' && m !== 'node_modules/tsx');
    assert.deepEqual(packages, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kbs serve answers /healthz without loading the client side, the PostgreSQL driver, the inspector, graphql/yaml, a metrics library, node:cluster or the verifiers of TEEs not yet seen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-startup-'));
  const recorder = importRecorder(dir);
  const log = join(dir, 'imports.log');
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', recorder, MAIN, 'kbs', 'serve', '--data-dir', join(dir, 'data'), '--port', '0'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, IMPORT_LOG: log, COCOKIT_LOG_LEVEL: 'warn' },
  });
  try {
    const url = await listeningUrl(child);
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    const mods = loaded(log);
    assert.ok(mods.has('src/server/app.ts') && mods.has('src/cli/kbs-serve.ts'), `the recorder saw the server load: ${[...mods].join(', ')}`);
    const unwanted = [...mods].filter(
      (m) =>
        /^src\/(client|inspect)\//.test(m) ||
        m === 'src/cli/kbs.ts' ||
        m === 'src/cli/workload.ts' ||
        m === 'src/store/postgres.ts' ||
        // TDX, TPM and the Azure vTPM verifiers load on their first evidence.
        /^src\/tee\/(tdx|tpm|az-snp-vtpm|az-tdx-vtpm|azure)\/(verifier|verify|vtpm|collateral|pck|validate|ccel|pcr8)\.ts$/.test(m) ||
        /^node_modules\/(pg|graphql|yaml)$/.test(m) ||
        // prom-client loads after the server listens (server/metrics.ts).
        m === 'node_modules/prom-client' ||
        // A single server is no cluster worker and needs no cluster module.
        m === 'node:cluster',
    );
    assert.deepEqual(unwanted, []);
  } finally {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the serve command, the server and its policy evaluators import the Rego engine only on demand', () => {
  // The running server starts loading the engine right after it listens, so this guards the static graph:
  // importing everything `kbs serve` imports must not evaluate the engine (only its on-demand loader).
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-startup-'));
  try {
    const entries = ['src/cli/kbs-serve.ts', 'src/server/kbs.ts', 'src/server/app.ts', 'src/policy/evaluators.ts', 'src/attestation/workload.ts'];
    const script = entries.map((e) => `await import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, e)).href)});`).join('\n');
    const { r, mods } = traceImports(dir, ['--input-type=module', '-e', script]);
    assert.equal(r.status, 0, r.stderr);
    for (const e of entries) assert.ok(mods.has(e), `the recorder saw ${e} load: ${[...mods].join(', ')}`);
    assert.ok(mods.has('src/rego/lazy.ts'));
    assert.deepEqual([...mods].filter((m) => m.startsWith('src/rego/') && m !== 'src/rego/lazy.ts'), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
