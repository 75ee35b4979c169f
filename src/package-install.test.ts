/**
 * The package as a user gets it: `npm pack`'s tarball installed into an empty project (and the checkout
 * installed as a directory dependency), then the `cocokit` bin, every export entry and the README's library
 * example run from there. Offline: the temp project's lockfile is the checkout's own, minus dev packages, so
 * npm takes every tarball from the cache `npm ci` filled; the native SQLite binding is the checkout's build.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { REPO_ROOT } from './test-support/vectors.js';
import { ensureBuilt } from './test-support/built-package.js';
import { AGENT_RULE_FILES } from './policy/agent-rules.js';

interface PackageJson {
  name: string;
  version: string;
  license: string;
  engines: { node: string };
  bin: Record<string, string>;
  exports: Record<string, string>;
  dependencies: Record<string, string>;
}
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, NODE_ENV: '', npm_config_update_notifier: 'false', ...env }, timeout: 180_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The README's library example (the ```js block that opens a development KBS). */
function readmeLibraryExample(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes('openDevelopmentKbs'));
  assert.ok(block, 'README has a ```js example with openDevelopmentKbs');
  return block;
}

test('the packed tarball installs into an empty project offline; its bin, every export and the README library example run', async () => {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-pack-'));
  try {
    const packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], REPO_ROOT).stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = packed[0].files.map((f) => f.path);
    for (const must of ['LICENSE', 'README.md', 'package.json', ...Object.values(pkg.bin), ...Object.values(pkg.exports)]) {
      assert.ok(files.includes(must.replace(/^\.\//, '')), `tarball lacks ${must}`);
    }
    assert.ok(files.some((f) => f.startsWith('assets/amd/')), 'the AMD roots ship');
    // The Rego rule files the modules read at run time ship beside the compiled modules.
    for (const name of AGENT_RULE_FILES) assert.ok(files.includes(`dist/policy/agent-rules/${name}`), `tarball lacks dist/policy/agent-rules/${name}`);
    for (const f of ['index.html', 'app.js', 'app.css']) assert.ok(files.includes(`assets/console/${f}`), `the console's ${f} ships`);
    // Nothing for tests, and no source maps pointing at the unshipped src/.
    assert.deepEqual(files.filter((f) => /\.map$|\.test\.|test-support|test-harness|^src\//.test(f)), []);
    assert.match(readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);

    // The consumer project pins what the checkout's lockfile pins (production packages only).
    const app = join(dir, 'app');
    mkdirSync(app);
    const tgz = `file:../${packed[0].filename}`;
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; link?: boolean }> };
    const packages: Record<string, unknown> = {
      '': { name: 'app', dependencies: { cocokit: tgz } },
      'node_modules/cocokit': { version: pkg.version, resolved: tgz, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
    };
    for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && !entry.dev && !entry.link) packages[path] = entry;
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { cocokit: tgz } }));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }));
    run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], app);
    symlinkSync(join(REPO_ROOT, 'node_modules', 'better-sqlite3', 'build'), join(app, 'node_modules', 'better-sqlite3', 'build'));

    const installed = join(app, 'node_modules', 'cocokit');
    const js = (d: string): string[] => readdirSync(d, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js')).map((f) => join(d, f));
    for (const f of js(join(installed, 'dist'))) assert.doesNotMatch(readFileSync(f, 'utf8'), /sourceMappingURL/, relative(installed, f));

    const bin = join(app, 'node_modules', '.bin', 'cocokit');
    assert.equal(run(bin, ['--version'], app).stdout.trim(), pkg.version);
    assert.match(run(bin, ['--help'], app).stdout, /Usage: cocokit/);
    writeFileSync(join(app, 'init-data.toml'), 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n');
    assert.match(run(bin, ['initdata', 'digest', 'init-data.toml'], app).stdout, /^[0-9a-f]{64}\s*$/);

    const entries = Object.keys(pkg.exports).map((k) => (k === '.' ? 'cocokit' : `cocokit/${k.slice(2)}`));
    writeFileSync(join(app, 'exports.mjs'), `for (const m of ${JSON.stringify(entries)}) { const ns = await import(m); if (Object.keys(ns).length === 0) throw new Error(m + ' exports nothing'); }\nconsole.log('ok');\n`);
    assert.equal(run(process.execPath, ['exports.mjs'], app).stdout.trim(), 'ok');

    writeFileSync(join(app, 'agent-rules.mjs'), `const { agentRulesText } = await import('cocokit/policy'); console.log(agentRulesText().match(/^package agent_policy$/gm).length);\n`);
    assert.equal(run(process.execPath, ['agent-rules.mjs'], app).stdout.trim(), '1');

    writeFileSync(join(app, 'readme-example.mjs'), readmeLibraryExample());
    const out = run(process.execPath, ['readme-example.mjs'], app).stdout;
    assert.match(out, /^Hello from cocokit!/);
    assert.match(out, /admin key: .*\.kbs-data\/admin-key\.pem/);

    // A checkout installed as a directory dependency (npm links it) runs the same bin.
    const app2 = join(dir, 'app2');
    mkdirSync(app2);
    writeFileSync(join(app2, 'package.json'), JSON.stringify({ name: 'app2', private: true, type: 'module' }));
    run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', REPO_ROOT], app2);
    assert.equal(run(join(app2, 'node_modules', '.bin', 'cocokit'), ['--version'], app2).stdout.trim(), pkg.version);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no production dependency requires a newer Node than package.json engines promises', () => {
  // semver comes with fastify; the range check is the one npm applies for EBADENGINE.
  const semver = createRequire(import.meta.url)('semver') as { minVersion(r: string): { version: string } | null; satisfies(v: string, r: string): boolean };
  const floor = semver.minVersion(pkg.engines.node)!.version;
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; engines?: { node?: string } | string[] }> };
  const tooNew: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    const node = entry.engines && !Array.isArray(entry.engines) ? entry.engines.node : undefined;
    if (path === '' || entry.dev || !node) continue;
    if (!semver.satisfies(floor, node)) tooNew.push(`${path} (${node})`);
  }
  assert.deepEqual(tooNew, [], `engines.node ${pkg.engines.node}`);
});
