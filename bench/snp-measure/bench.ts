/**
 * Time per `cocokit measure snp` run on the sev-snp-measure oracle cases (not part of `npm test`).
 *   npx tsx bench/snp-measure/bench.ts [iterations]
 * Prints, per case: the library call, the in-process CLI (file reads + parsing + output) and, when
 * dist/cli/main.js exists (`npm run build`), a whole `node dist/cli/main.js` process.
 */
import { spawnSync } from 'node:child_process';
import { hash } from 'node:crypto';
import { loadavg } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/program.js';
import { bufferIO } from '../../src/cli/io.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const SNP = resolve(ROOT, '..', 'shared', 'vectors', 'snp');
const N = Number(process.argv[2] ?? 50);
const PICK = ['s01-ovmfhash-debian', 's04-debian-4-milan-gf21', 's23-debian-64-rome', 's11-amdsev-k-i-a', 's24-seves-debian'];

interface Case {
  id: string;
  argv: string[];
  expected: string;
}
const cases = (JSON.parse(readFileSync(join(SNP, 'measure-cases.json'), 'utf8')) as { cases: Case[] }).cases.filter((c) => PICK.includes(c.id));

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `median ${s[Math.floor(s.length / 2)].toFixed(2)} ms, mean ${mean.toFixed(2)} ms, min ${s[0].toFixed(2)} ms`;
}

async function once(argv: string[], expected: string): Promise<number> {
  const io = bufferIO({}, SNP);
  const t0 = performance.now();
  const code = await run(['measure', 'snp', ...argv], io);
  const dt = performance.now() - t0;
  if (code !== 0 || io.out().trim() !== expected) throw new Error(`wrong result for ${argv.join(' ')}: ${io.out()}${io.err()}`);
  return dt;
}

// The floor: SHA-384 of the 2 MiB firmware page by page plus one PAGE_INFO hash per page, nothing else.
const fd = new Uint8Array(readFileSync(join(SNP, 'ovmf', 'OVMF.fd')));
const floor: number[] = [];
for (let i = 0; i < N + 3; i++) {
  const t0 = performance.now();
  const info = new Uint8Array(0x70);
  for (let o = 0; o < fd.length; o += 4096) {
    hash('sha384', fd.subarray(o, o + 4096), 'buffer');
    hash('sha384', info, 'buffer');
  }
  if (i >= 3) floor.push(performance.now() - t0);
}

const dist = join(ROOT, 'dist', 'cli', 'main.js');
console.log(`measure snp, ${N} runs per case (${process.version}, ${process.arch}, load average ${loadavg()[0].toFixed(2)})`);
console.log(`SHA-384 floor (512 firmware pages + 512 PAGE_INFO): ${stats(floor)}`);
for (const c of cases) {
  for (let i = 0; i < 3; i++) await once(c.argv, c.expected);
  const inProcess: number[] = [];
  for (let i = 0; i < N; i++) inProcess.push(await once(c.argv, c.expected));
  let proc = '';
  if (existsSync(dist)) {
    const wall: number[] = [];
    for (let i = 0; i < Math.min(N, 10); i++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [dist, 'measure', 'snp', ...c.argv], { cwd: SNP, encoding: 'utf8' });
      wall.push(performance.now() - t0);
      if (r.stdout.trim() !== c.expected) throw new Error(`process gave ${r.stdout}${r.stderr}`);
    }
    proc = `\n    process: ${stats(wall)}`;
  }
  console.log(`${c.id}\n    in-process: ${stats(inProcess)}${proc}`);
}
