#!/usr/bin/env node
// dm-verity benchmark: `veritysetup format` against `cocokit verity format` on the same 1 GiB image in the
// same run, plus the machine's raw SHA-256 throughput (node:crypto, one core and all cores) as the floor.
//
//   node bench/verity/run.mjs [--size-mib 1024] [--runs 3] [--keep]
//
// Builds the package (npm run build) and runs the built CLI, as a user would. Not part of `npm test`.
import { spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
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
const runs = opt('runs', 3);
const SALT = '5a'.repeat(32);
const UUID = '11111111-2222-3333-4444-555555555555';

function sh(cmd, argv, options = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 24, ...options });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rootOf = (out) => /Root hash:\s+([0-9a-f]+)/.exec(out)?.[1];

// ── raw SHA-256 throughput ────────────────────────────────────────────────────────────────────────────
// Two numbers per thread count: one large update (the hash function's own speed) and one digest per
// 4 KiB block with a 32-byte salt (what dm-verity level 0 must do, including the per-call cost).
const RAW_BYTES = 256 << 20;
const rawCode = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash, hash } = require('node:crypto');
const buf = Buffer.alloc(workerData.bytes, 7);
const scratch = Buffer.alloc(32 + 4096);
let t = process.hrtime.bigint();
createHash('sha256').update(buf).digest();
const bulk = Number(process.hrtime.bigint() - t) / 1e9;
t = process.hrtime.bigint();
for (let off = 0; off < buf.length; off += 4096) { buf.copy(scratch, 32, off, off + 4096); hash('sha256', scratch, 'buffer'); }
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

  const common = [`--salt=${SALT}`, `--uuid=${UUID}`];
  const peerMs = [];
  const ourMs = [];
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
    console.log(`run ${i + 1}: veritysetup ${p.ms.toFixed(0)} ms, cocokit ${o.ms.toFixed(0)} ms (root ${rootOf(o.stdout).slice(0, 16)}…, hash devices identical)`);
  }

  const single = await rawThroughput(1);
  const all = await rawThroughput(availableParallelism());
  const gib = (sizeMiB << 20) / 2 ** 30;
  const pm = median(peerMs);
  const om = median(ourMs);
  console.log('');
  console.log(`image                     ${sizeMiB} MiB, sha256, 4096/4096, 32-byte salt, superblock`);
  console.log(`veritysetup format        median ${pm.toFixed(0)} ms  (${(gib / (pm / 1000)).toFixed(2)} GiB/s)  runs: ${peerMs.map((x) => x.toFixed(0)).join(', ')}`);
  console.log(`cocokit verity format     median ${om.toFixed(0)} ms  (${(gib / (om / 1000)).toFixed(2)} GiB/s)  runs: ${ourMs.map((x) => x.toFixed(0)).join(', ')}`);
  console.log(`ratio cocokit/veritysetup ${(om / pm).toFixed(2)}  (goal ≤ 0.60)`);
  console.log(`SHA-256 floor, 1 core     ${single.bulk.toFixed(2)} GB/s one stream, ${single.blocks.toFixed(2)} GB/s as salted 4 KiB blocks → ${((sizeMiB << 20) / single.blocks / 1e6).toFixed(0)} ms for this image`);
  console.log(`SHA-256 floor, ${availableParallelism()} cores    ${all.bulk.toFixed(2)} GB/s one stream each, ${all.blocks.toFixed(2)} GB/s as salted 4 KiB blocks → ${((sizeMiB << 20) / all.blocks / 1e6).toFixed(0)} ms for this image`);
} finally {
  if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}
