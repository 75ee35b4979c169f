/**
 * Cold-start benchmark of the built CLI: `cocokit --help`, `cocokit kbs --help`, and `cocokit kbs serve` from
 * process start until `/healthz` answers (SQLite, a fresh data directory, then a second start on that
 * directory). Prints the median
 * of N runs of each — wall time and the process's CPU (user + system) — beside the goal, and `node -e 0` as
 * the floor no command can go below on this machine at its current load.
 *
 *   npx tsx bench/startup/run.ts [--runs 9] [--no-build] [--json]
 *
 * Wall time is what the goals are stated in; on a busy machine it mostly measures the scheduler, so the CPU
 * column (and the node floor) tell whether a slow wall time is ours. Not part of `npm test`
 * (src/cli/startup.test.ts guards the import graph and a generous bound).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const RUNS = Math.max(1, Number(opt('runs', '9')));
const BUILD = !args.includes('--no-build');
const JSON_OUT = args.includes('--json');
const MAIN = join(repo, 'dist/cli/main.js');
const CLK_TCK = 100;

interface Sample {
  wallMs: number;
  cpuMs: number;
}

/** CPU seconds (user + system) of a live process, from /proc. */
function procCpuMs(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** Runs a command to its exit: wall time, and its CPU from the rusage of the exited child. */
function runToExit(argv: string[]): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, argv, { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const wallMs = performance.now() - t0;
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}: ${err}`));
      // /proc of an exited child is gone: its CPU is in this process's cutime + cstime once it is waited for.
      const after = childrenCpuMs();
      resolve({ wallMs, cpuMs: after - childCpuBase.value });
      childCpuBase.value = after;
    });
  });
}

/** cutime + cstime of this process (waited-for children), in ms. */
function childrenCpuMs(): number {
  const s = readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
}
const childCpuBase = { value: 0 };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function healthz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** `kbs serve` on `dataDir`: from spawn until /healthz answers 200; the server is then stopped. */
async function serveToHealthz(dataDir: string): Promise<Sample> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [MAIN, 'kbs', 'serve', '--data-dir', dataDir, '--port', String(port)], {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    // Poll: the first answer is what a health check would see, whatever the server prints before.
    for (;;) {
      if (child.exitCode !== null) throw new Error(`kbs serve exited ${child.exitCode}: ${err}`);
      if (await healthz(port)) break;
      if (performance.now() - t0 > 60_000) throw new Error(`kbs serve: no /healthz answer in 60 s: ${err}`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const wallMs = performance.now() - t0;
    return { wallMs, cpuMs: procCpuMs(child.pid!) };
  } finally {
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
    childCpuBase.value = childrenCpuMs();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Row {
  name: string;
  goalMs?: number;
  wallMs: number;
  cpuMs: number;
  runs: number;
}

async function measure(name: string, goalMs: number | undefined, once: () => Promise<Sample>): Promise<Row> {
  await once(); // warm the page cache and the compile cache
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await once());
  return { name, ...(goalMs === undefined ? {} : { goalMs }), wallMs: median(samples.map((s) => s.wallMs)), cpuMs: median(samples.map((s) => s.cpuMs)), runs: RUNS };
}

async function main(): Promise<void> {
  if (BUILD) execFileSync('npm', ['run', 'build', '--silent'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  else if (!existsSync(MAIN)) throw new Error('dist/cli/main.js is missing: run `npm run build` (or drop --no-build)');
  const machineBefore = loadavg();
  const rows: Row[] = [];
  childCpuBase.value = childrenCpuMs();
  rows.push(await measure('node -e 0 (floor)', undefined, () => runToExit(['-e', '0'])));
  rows.push(await measure('cocokit --help', 200, () => runToExit([MAIN, '--help'])));
  rows.push(await measure('cocokit kbs --help', 200, () => runToExit([MAIN, 'kbs', '--help'])));
  const dirs: string[] = [];
  try {
    rows.push(
      await measure('kbs serve → /healthz, fresh data dir', 500, () => {
        const d = mkdtempSync(join(tmpdir(), 'cocokit-bench-start-'));
        dirs.push(d);
        return serveToHealthz(join(d, 'data'));
      }),
    );
    const again = mkdtempSync(join(tmpdir(), 'cocokit-bench-start-'));
    dirs.push(again);
    await serveToHealthz(join(again, 'data'));
    rows.push(await measure('kbs serve → /healthz, second start', 500, () => serveToHealthz(join(again, 'data'))));
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  const load = [machineBefore, loadavg()].map((l) => l.map((x) => x.toFixed(2)).join(' '));
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, load ${load[0]} before / ${load[1]} after`;
  if (JSON_OUT) {
    console.log(JSON.stringify({ machine, node: process.version, rows }, null, 2));
    return;
  }
  console.log(`# machine: ${machine}; node ${process.version}; medians of ${RUNS} runs after one warm-up`);
  console.log('what                                     goal-ms  wall-ms   cpu-ms  verdict');
  for (const r of rows) {
    const verdict = r.goalMs === undefined ? '' : r.wallMs <= r.goalMs ? 'ok' : 'over goal';
    console.log(`${r.name.padEnd(40)} ${(r.goalMs === undefined ? '-' : String(r.goalMs)).padStart(7)} ${r.wallMs.toFixed(0).padStart(8)} ${r.cpuMs.toFixed(0).padStart(8)}  ${verdict}`);
  }
}

await main();
