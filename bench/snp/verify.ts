/**
 * SNP verification throughput: `verifyReport` (parse + chain from the cache + ECDSA + TCB/chip binding) and
 * the whole `snpVerifier` on CoCo JSON evidence, next to Node's raw ECDSA-P384 verify of the same bytes
 * measured in the same run — the floor no verifier can beat. Run: `npx tsx bench/snp/verify.ts [seconds]`.
 */
import { X509Certificate, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evidenceFromJson, parseReport, reportSignatureP1363, snpVerifier, verifyReport, SIGNED_LENGTH } from '../../src/tee/snp/index.js';

const vectors = join(fileURLToPath(new URL('../../', import.meta.url)), '..', 'shared', 'vectors', 'snp', 'reports');
const seconds = Number(process.argv[2] ?? 2);

const raw = new Uint8Array(readFileSync(join(vectors, 'azure-genoa-v3.report.bin')));
const vekDer = new Uint8Array(readFileSync(join(vectors, 'azure-genoa-v3.vcek.der')));
const now = new Date('2025-06-01T00:00:00Z');
const evidence = JSON.parse(readFileSync(join(vectors, 'coco-e2e-genoa-v3.evidence.json'), 'utf8'));
const e2eNow = new Date('2025-06-01T00:00:00Z');

/**
 * Operations per second of this process's CPU time (user + system), so that other load on a shared machine
 * does not skew the ratio; the wall-clock rate is printed beside it.
 */
async function rate(name: string, fn: () => unknown): Promise<number> {
  for (let i = 0; i < 50; i++) await fn(); // warm-up; fills the chain cache
  let n = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) await fn();
    n += 20;
  }
  const cpu = process.cpuUsage(cpu0);
  const perCpuSec = n / ((cpu.user + cpu.system) / 1e6);
  const perWallSec = n / ((performance.now() - start) / 1000);
  console.log(`${name.padEnd(56)} ${perCpuSec.toFixed(0).padStart(7)} /CPU-s ${perWallSec.toFixed(0).padStart(7)} /wall-s`);
  return perCpuSec;
}

const key = new X509Certificate(vekDer).publicKey;
const sig = reportSignatureP1363(parseReport(raw))!;
const signed = raw.subarray(0, SIGNED_LENGTH);
if (!verify('sha384', signed, { key, dsaEncoding: 'ieee-p1363' }, sig)) throw new Error('vector signature does not verify');

const expected = evidenceFromJson(evidence).report.reportData;
const cases: Array<[string, () => unknown]> = [
  ['node crypto.verify ECDSA-P384 (floor)', () => verify('sha384', signed, { key, dsaEncoding: 'ieee-p1363' }, sig)],
  [
    'verifyReport raw + VCEK DER, chain cached',
    () => {
      const r = verifyReport(parseReport(raw), { now, raw, vek: vekDer });
      if (!r.checks.every((c) => c.ok)) throw new Error('verification failed');
    },
  ],
  [
    'snpVerifier on CoCo JSON evidence',
    async () => {
      const r = await snpVerifier.verify(evidence, { now: e2eNow, expectedReportData: expected });
      if (!r.checks.every((c) => c.ok)) throw new Error('verification failed');
    },
  ],
];
// Interleaved rounds, median per case: the machine is shared, so a single run of each is noisy.
const results: number[][] = cases.map(() => []);
for (let round = 0; round < 3; round++) for (const [i, [name, fn]] of cases.entries()) results[i].push(await rate(`${name} (round ${round + 1})`, fn));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const [floor, full, json] = results.map(median);
console.log(`median per CPU-second: floor ${floor.toFixed(0)}, verifyReport ${full.toFixed(0)}, snpVerifier(JSON) ${json.toFixed(0)}`);
console.log(`ratio verifyReport / floor: ${(full / floor).toFixed(2)}; snpVerifier(JSON) / floor: ${(json / floor).toFixed(2)}`);
