/**
 * The built package (dist/) for tests that run what a user runs. `npm ci` builds it (the `prepare` script);
 * a developer's stale dist/ is rebuilt first. Test files run in parallel processes and `npm run build`
 * empties dist/ before compiling, so the check and the build happen under a lock shared by every process
 * of this checkout: one builds, the others wait and then find it fresh.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './vectors.js';

const LOCK = join(tmpdir(), `cocokit-build-lock-${createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 16)}`);
/** A lock older than this was left by a process that died while building. */
const STALE_LOCK_MS = 5 * 60_000;

function newestMtime(dir: string, keep: (p: string) => boolean): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    if (s.isDirectory()) newest = Math.max(newest, newestMtime(p, keep));
    else if (keep(p)) newest = Math.max(newest, s.mtimeMs);
  }
  return newest;
}

function stale(): boolean {
  let built = 0;
  try {
    built = statSync(join(REPO_ROOT, 'dist', 'cli', 'main.js')).mtimeMs;
  } catch {
    // not built yet
  }
  const source = newestMtime(join(REPO_ROOT, 'src'), (p) => (p.endsWith('.ts') && !p.endsWith('.test.ts')) || p.endsWith('.rego'));
  return built < source;
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function lock(): void {
  const deadline = Date.now() + 2 * STALE_LOCK_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    try {
      if (Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
    } catch {
      // released meanwhile
    }
    if (Date.now() > deadline) throw new Error(`waited too long for the build lock ${LOCK}`);
    sleep(200);
  }
}

/** Makes sure dist/ is built from the current sources; returns the path of the `cocokit` bin in it. */
export function ensureBuilt(): string {
  lock();
  try {
    if (stale()) {
      const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, NODE_ENV: '' }, timeout: 300_000 });
      if (r.status !== 0) throw new Error(`npm run build failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    }
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
  return join(REPO_ROOT, 'dist', 'cli', 'main.js');
}
