#!/usr/bin/env node
// dm-verity benchmark: `veritysetup format` against `cocokit verity format` on the same 1 GiB image in the
// same run, plus the machine's raw SHA-256 throughput (node:crypto, one core and all cores) as the floor.
//
//   node bench/verity/run.mjs [--size-mib 1024] [--runs 5] [--nice -20] [--keep]
//
// Builds the package (npm run build) and runs the built CLI, as a user would. Not part of `npm test`.
//
// On a machine shared with other work, Linux's autogroup scheduler gives each session one share of the CPU
// whatever its thread count, so a busy machine caps a two-thread tool at about the CPU share of a one-thread
// tool, and wall time then tracks CPU time. `--nice N` (N < 0 needs root) runs every timed command in a
// session of its own whose autogroup has nice N: both tools then get the cores about as on an idle machine,
// under the same conditions.
import { spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const root = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const sizeMiB = opt('size-mib', 1024);
const runs = opt('runs', 5);
const nice = args.includes('--nice') ? opt('nice', 0) : undefined;
const SALT = '5a'.repeat(32);
const UUID = '11111111-2222-3333-4444-555555555555';

const TIME = '/usr/bin/time';
let timeFile;

/** Runs a command; wall time from here, CPU time (user + sys) from GNU time when it is installed. */
function sh(cmd, argv, options = {}) {
  const timed = timeFile !== undefined && existsSync(TIME);
  let [c, a] = timed ? [TIME, ['-f', '%U %S', '-o', timeFile, cmd, ...argv]] : [cmd, argv];
  if (timed && nice !== undefined) [c, a] = ['setsid', ['-w', 'sh', '-c', `echo ${nice} > /proc/self/autogroup && exec "$@"`, 'sh', c, ...a]];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(c, a, { encoding: 'utf8', maxBuffer: 1 << 24, ...options });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  const cpu = timed ? readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number).reduce((x, y) => x + y, 0) * 1000 : NaN;
  return { ms, cpu, stdout: r.stdout };
}

const min = (xs) => Math.min(...xs);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rootOf = (out) => /Root hash:\s+([0-9a-f]+)/.exec(out)?.[1];

// ── raw SHA-256 throughput ────────────────────────────────────────────────────────────────────────────
// Two numbers per thread count: one large update (the hash function's own speed, no per-call cost) and one
// digest per 4 KiB block with a 32-byte salt, laid out in place the way cocokit's level 0 does it (what
// dm-verity must do in Node at least: one crypto call per block). Data is in memory: no read cost.
const RAW_BYTES = 256 << 20;
const rawCode = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash, hash } = require('node:crypto');
const buf = Buffer.alloc(workerData.bytes, 7);
let t = process.hrtime.bigint();
createHash('sha256').update(buf).digest();
const bulk = Number(process.hrtime.bigint() - t) / 1e9;
const n = workerData.bytes / 4096;
const slots = Buffer.alloc(1024 * (32 + 4096), 7);
const views = Array.from({ length: 1024 }, (_, i) => slots.subarray(i * 4128, (i + 1) * 4128));
const out = Buffer.alloc(1024 * 32);
t = process.hrtime.bigint();
for (let k = 0; k < n; k++) out.write(hash('sha256', views[k & 1023], 'binary'), (k & 1023) * 32, 32, 'latin1');
const blocks = Number(process.hrtime.bigint() - t) / 1e9;
parentPort.postMessage({ bulk, blocks });
`;
async function rawThroughput(threads) {
  const results = await Promise.all(
    Array.from({ length: threads }, () => new Promise((resolve, reject) => {
      const w = new Worker(rawCode, { eval: true, workerData: { bytes: RAW_BYTES } });
      w.once('message', resolve);
      w.once('error', reject);
    })),
  );
  // Aggregate rate = total bytes / slowest thread's time (they ran side by side).
  const gbps = (key) => (threads * RAW_BYTES) / Math.max(...results.map((r) => r[key])) / 1e9;
  return { bulk: gbps('bulk'), blocks: gbps('blocks') };
}

// `--raw-only`: just the SHA-256 throughput, as JSON (the bench runs itself this way so that the floor is
// measured under the same scheduling as the tools).
if (args.includes('--raw-only')) {
  console.log(JSON.stringify({ single: await rawThroughput(1), all: await rawThroughput(availableParallelism()) }));
  process.exit(0);
}

// ── main ──────────────────────────────────────────────────────────────────────────────────────────────
const dir = mkdtempSync(join(tmpdir(), 'cocokit-verity-bench-'));
try {
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, node ${process.version}`);
  const vs = sh('veritysetup', ['--version']).stdout.trim();
  console.log(`peer: ${vs}`);

  process.stdout.write('building cocokit (npm run build) … ');
  sh('npm', ['run', 'build', '--silent'], { cwd: root });
  console.log('done');
  const cli = join(root, 'dist', 'cli', 'main.js');

  const data = join(dir, 'data.img');
  process.stdout.write(`writing a ${sizeMiB} MiB image of random bytes … `);
  {
    const fd = openSync(data, 'w');
    const chunk = Buffer.alloc(8 << 20);
    for (let left = sizeMiB << 20; left > 0; left -= chunk.length) {
      randomFillSync(chunk);
      writeSync(fd, chunk, 0, Math.min(chunk.length, left));
    }
    closeSync(fd);
  }
  // Read it once so both tools start from the page cache.
  {
    const fd = openSync(data, 'r');
    const chunk = Buffer.alloc(8 << 20);
    while (readSync(fd, chunk, 0, chunk.length, null) > 0);
    closeSync(fd);
  }
  console.log('done');

  timeFile = join(dir, 'time.txt');
  // From here on every command runs under the same scheduling (--nice).
  const cliStart = [0, 1, 2].map(() => sh(process.execPath, [cli, 'verity', '--help']).ms);
  const load0 = loadavg()[0];
  const common = [`--salt=${SALT}`, `--uuid=${UUID}`];
  const peerMs = [];
  const ourMs = [];
  const peerCpu = [];
  const ourCpu = [];
  for (let i = 0; i < runs; i++) {
    rmSync(join(dir, 'peer.img'), { force: true });
    rmSync(join(dir, 'ours.img'), { force: true });
    const p = sh('veritysetup', ['format', ...common, data, join(dir, 'peer.img')]);
    const o = sh(process.execPath, [cli, 'verity', 'format', ...common, data, join(dir, 'ours.img')]);
    if (rootOf(p.stdout) !== rootOf(o.stdout)) throw new Error(`root hashes differ: ${rootOf(p.stdout)} vs ${rootOf(o.stdout)}`);
    const same = createHash('sha256').update(readFileSync(join(dir, 'peer.img'))).digest('hex') === createHash('sha256').update(readFileSync(join(dir, 'ours.img'))).digest('hex');
    if (!same) throw new Error('hash devices differ');
    peerMs.push(p.ms);
    ourMs.push(o.ms);
    peerCpu.push(p.cpu);
    ourCpu.push(o.cpu);
    console.log(
      `run ${i + 1}: veritysetup ${p.ms.toFixed(0)} ms (cpu ${p.cpu.toFixed(0)}), cocokit ${o.ms.toFixed(0)} ms (cpu ${o.cpu.toFixed(0)}) ` +
        `— root ${rootOf(o.stdout).slice(0, 16)}…, hash devices identical`,
    );
  }

  const startup = [0, 1, 2].map(() => sh(process.execPath, ['-e', '0']).ms);
  const { single, all } = JSON.parse(sh(process.execPath, [fileURLToPath(import.meta.url), '--raw-only']).stdout);
  const gib = (sizeMiB << 20) / 2 ** 30;
  const load1 = loadavg()[0];
  console.log('');
  console.log(`image                     ${sizeMiB} MiB, sha256, 4096/4096, 32-byte salt, superblock; ${runs} alternating runs`);
  console.log(`load average              ${load0.toFixed(2)} before, ${load1.toFixed(2)} after (other processes share the cores: compare best runs)`);
  console.log(`scheduling                ${nice === undefined ? 'as the bench runs (shared with whatever else runs)' : `each command in its own session, autogroup nice ${nice}`}`);
  const rows = [
    ['veritysetup format', peerMs, peerCpu],
    ['cocokit verity format', ourMs, ourCpu],
  ];
  for (const [name, ms, cpu] of rows) {
    console.log(`${name.padEnd(26)}wall best ${min(ms).toFixed(0)} ms (${(gib / (min(ms) / 1000)).toFixed(2)} GiB/s), median ${median(ms).toFixed(0)} ms; cpu median ${median(cpu).toFixed(0)} ms`);
  }
  console.log(`cocokit CLI start-up      ${median(cliStart).toFixed(0)} ms (cocokit verity --help: node, the CLI and the verity group)`);
  for (const [name, ms, cpu] of rows.slice(1)) {
    console.log(
      `ratio ${name.trim()}/veritysetup: wall best ${(min(ms) / min(peerMs)).toFixed(2)}, wall median ${(median(ms) / median(peerMs)).toFixed(2)}, cpu ${(median(cpu) / median(peerCpu)).toFixed(2)}  (goal ≤ 0.60 wall)`,
    );
  }
  const startMs = median(startup);
  const bytes = sizeMiB << 20;
  for (const [label, r] of [['1 core ', single], [`${availableParallelism()} cores`, all]]) {
    console.log(
      `SHA-256 floor, ${label}   ${r.bulk.toFixed(2)} GB/s as one stream (${(bytes / r.bulk / 1e6).toFixed(0)} ms for this image), ` +
        `${r.blocks.toFixed(2)} GB/s as salted 4 KiB blocks (${(bytes / r.blocks / 1e6).toFixed(0)} ms)`,
    );
  }
  console.log(`node start-up             ${startMs.toFixed(0)} ms (node -e 0); Node floor for this image ≈ start-up + blocks on all cores = ${(startMs + bytes / all.blocks / 1e6).toFixed(0)} ms`);
} finally {
  if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}
