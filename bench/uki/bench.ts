/**
 * `measure uki calculate` vs `systemd-measure calculate` on the same UKI inputs, in one run.
 * Inputs: a random 16 MiB "kernel", 64 MiB "initrd", os-release and command line (sizes via
 * UKI_BENCH_KERNEL_MIB / UKI_BENCH_INITRD_MIB). Both tools compute all four default banks and phases.
 * Prints the median wall time per run of each and the ratio. Run: `npx tsx bench/uki/bench.ts`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { run } from '../../src/cli/program.js';
import { bufferIO } from '../../src/cli/io.js';
import { availableParallelism } from 'node:os';
import { fileContent, predictPcr11, predictPcr11Parallel, type Pcr11Request } from '../../src/measure/uki.js';

const RUNS = Number(process.env.UKI_BENCH_RUNS ?? 5);
const KERNEL = Number(process.env.UKI_BENCH_KERNEL_MIB ?? 16) << 20;
const INITRD = Number(process.env.UKI_BENCH_INITRD_MIB ?? 64) << 20;
const SYSTEMD_MEASURE = ['/usr/lib/systemd/systemd-measure', '/lib/systemd/systemd-measure'].find((p) => existsSync(p));

const dir = mkdtempSync(join(tmpdir(), 'cocokit-bench-uki-'));
writeFileSync(join(dir, 'linux'), randomBytes(KERNEL));
writeFileSync(join(dir, 'initrd'), randomBytes(INITRD));
writeFileSync(join(dir, 'osrel'), 'ID=bench\nVERSION_ID=1\n');
writeFileSync(join(dir, 'cmdline'), 'console=hvc0 root=/dev/dm-0 ro');
const argv = ['calculate', '--linux=linux', '--osrel=osrel', '--cmdline=cmdline', '--initrd=initrd', '--json=short'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeCocokit(): Promise<{ ms: number; out: string }> {
  const io = bufferIO({}, dir);
  const t = performance.now();
  const code = await run(['measure', 'uki', ...argv], io);
  const ms = performance.now() - t;
  if (code !== 0) throw new Error(io.err());
  return { ms, out: io.out() };
}

/** The library's single-threaded path on the same files, to show what the worker threads add. */
const request = (): Pcr11Request => ({
  sections: { '.linux': fileContent(join(dir, 'linux')), '.osrel': fileContent(join(dir, 'osrel')), '.cmdline': fileContent(join(dir, 'cmdline')), '.initrd': fileContent(join(dir, 'initrd')) },
});

function timeSingleThread(): number {
  const t = performance.now();
  predictPcr11(request());
  return performance.now() - t;
}

/** The worker-thread path forced on, whatever the machine's load. */
async function timeAllCores(): Promise<number> {
  const t = performance.now();
  await predictPcr11Parallel(request(), { threads: availableParallelism() });
  return performance.now() - t;
}

function timeSystemd(): { ms: number; out: string } {
  const t = performance.now();
  const r = spawnSync(SYSTEMD_MEASURE as string, argv, { cwd: dir, encoding: 'utf8' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(r.stderr);
  return { ms, out: r.stdout };
}

await timeCocokit(); // warm-up: module loading, not measured
const ours: number[] = [];
const single: number[] = [];
const allCores: number[] = [];
const theirs: number[] = [];
let same = true;
const load = loadavg()[0];
for (let i = 0; i < RUNS; i++) {
  const c = await timeCocokit();
  ours.push(c.ms);
  single.push(timeSingleThread());
  allCores.push(await timeAllCores());
  if (SYSTEMD_MEASURE !== undefined) {
    const s = timeSystemd();
    theirs.push(s.ms);
    same &&= s.out === c.out;
  }
}
rmSync(dir, { recursive: true, force: true });

const mib = (KERNEL + INITRD) / (1 << 20);
console.log(`inputs: ${mib} MiB (kernel ${KERNEL >> 20} MiB + initrd ${INITRD >> 20} MiB), banks sha1 sha256 sha384 sha512, ${RUNS} runs`);
console.log(`load average at start: ${load.toFixed(1)} on ${availableParallelism()} cores (the CLI spreads banks over threads only when cores are idle)`);
console.log(`cocokit measure uki:      median ${median(ours).toFixed(1)} ms/run (in-process CLI)`);
console.log(`cocokit single thread:    median ${median(single).toFixed(1)} ms/run (library predictPcr11)`);
console.log(`cocokit all cores:        median ${median(allCores).toFixed(1)} ms/run (library predictPcr11Parallel, forced)`);
if (SYSTEMD_MEASURE === undefined) {
  console.log('systemd-measure:          not installed (Debian package systemd)');
} else {
  console.log(`systemd-measure:          median ${median(theirs).toFixed(1)} ms/run (process)`);
  console.log(`ratio cocokit/systemd:    ${(median(ours) / median(theirs)).toFixed(2)}×   outputs identical: ${same}`);
}
