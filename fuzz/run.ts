/**
 * The fuzz campaign: `npm run fuzz -- [--target a,b|all] [--count N] [--seed S] [--batch B] [--jobs J] [--group G]`.
 * Each target's inputs run in child processes of B inputs each (see child.ts), J at a time; G targets share
 * a child (start-up costs more than short runs). A watchdog kills
 * a child that spends more than `--hang-ms` on one input; a child that dies (out of memory: `--max-old-space-size`)
 * or is killed has its current input recorded, and the batch resumes after it. Findings are saved under
 * fuzz/findings/. Prints one summary row per target; exits 1 when any contract violation was found.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { TARGET_NAMES } from './names.js';

export interface CampaignOptions {
  targets: string[];
  count: number;
  seed: number;
  batch: number;
  jobs: number;
  hangMs: number;
  heapMb: number;
  findings: string;
}

export interface TargetSummary {
  target: string;
  inputs: number;
  /** Non-CocoError throws, internal CocoErrors and server 500s. */
  violations: number;
  /** Inputs that took over 1 s (each, in the child). */
  slow: number;
  /** Inputs that hung past the watchdog or killed the process (memory). */
  killed: number;
  maxRssMb: number;
  seconds: number;
  findings: string[];
}

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);

interface Segment {
  target: string;
  from: number;
  count: number;
}

function tally(sums: Map<string, TargetSummary>, target: string): TargetSummary {
  let s = sums.get(target);
  if (!s) sums.set(target, (s = { target, inputs: 0, violations: 0, slow: 0, killed: 0, maxRssMb: 0, seconds: 0, findings: [] }));
  return s;
}

/** Runs segments in one child; when the child hangs or dies, records the input and resumes after it. */
function runChild(o: CampaignOptions, segments: Segment[], sums: Map<string, TargetSummary>): Promise<void> {
  return new Promise((resolve) => {
    const args = segments.map((g) => `${g.target}:${g.from}:${g.count}`);
    const child = spawn(process.execPath, [`--max-old-space-size=${o.heapMb}`, '--import', 'tsx', join(HERE, 'child.ts'), String(o.seed), o.findings, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let current: { target: string; i: number } | undefined;
    let since = Date.now();
    let segStart = Date.now();
    const finished = new Set<string>();
    let buf = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [kind, target, a, b, ...rest] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        const s = tally(sums, target!);
        if (kind === 'S') {
          current = { target: target!, i: Number(a) };
          since = Date.now();
        } else if (kind === 'D') {
          s.inputs++;
          current = undefined;
          if (rest[0] === 'bad') s.violations++;
        } else if (kind === 'F') {
          s.findings.push(`${target} #${a}: ${rest.join(' ')} (${b})`);
          if (/^took \d+ ms$/.test(rest.join(' '))) s.slow++;
        } else if (kind === 'T') {
          s.maxRssMb = Math.max(s.maxRssMb, Math.round(Number(a) / 1024));
          s.seconds += (Date.now() - segStart) / 1000;
          segStart = Date.now();
          finished.add(target!);
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const watchdog = setInterval(() => {
      if (current && Date.now() - since > o.hangMs) child.kill('SIGKILL');
    }, 200);
    child.on('exit', () => {
      clearInterval(watchdog);
      const rest = segments.filter((g) => !finished.has(g.target));
      if (rest.length === 0) return resolve();
      // Killed by the watchdog, or died (out of memory, native crash): blame the input it was on.
      const why = stderr.trim().split('\n').slice(-3).join(' | ');
      if (!current) {
        tally(sums, rest[0]!.target).findings.push(`${rest[0]!.target}: process failed outside an input: ${why}`);
        tally(sums, rest[0]!.target).killed++;
        return resolve();
      }
      const s = tally(sums, current.target);
      s.inputs++;
      s.killed++;
      s.seconds += (Date.now() - segStart) / 1000;
      s.findings.push(`${current.target} #${current.i}: process hung (over ${o.hangMs} ms) or died on this input: ${why}`);
      const resume = rest.map((g) => (g.target === current!.target ? { ...g, count: g.from + g.count - current!.i - 1, from: current!.i + 1 } : g)).filter((g) => g.count > 0);
      if (resume.length === 0) return resolve();
      void runChild(o, resume, sums).then(resolve);
    });
  });
}

/**
 * Runs the campaign: each target's inputs in batches of `batch`; `group` targets share one child process
 * (the short run in the test suite, where process start-up dominates). At most `jobs` children at once.
 */
export async function runCampaign(o: CampaignOptions & { group?: number }, progress: (s: TargetSummary) => void = () => {}): Promise<TargetSummary[]> {
  const sums = new Map<string, TargetSummary>();
  const work: Segment[][] = [];
  const group = Math.max(1, o.group ?? 1);
  for (let k = 0; k < o.targets.length; k += group) {
    const ts = o.targets.slice(k, k + group);
    for (let from = 0; from < o.count; from += o.batch) work.push(ts.map((target) => ({ target, from, count: Math.min(o.batch, o.count - from) })));
  }
  const left = new Map(o.targets.map((t) => [t, work.filter((w) => w.some((g) => g.target === t)).length]));
  let next = 0;
  const worker = async () => {
    while (next < work.length) {
      const segs = work[next++]!;
      await runChild(o, segs, sums);
      for (const g of segs) {
        left.set(g.target, left.get(g.target)! - 1);
        if (left.get(g.target) === 0) progress(tally(sums, g.target));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, worker));
  return o.targets.map((t) => tally(sums, t));
}

export function summaryTable(rows: TargetSummary[]): string {
  const head = ['target', 'inputs', 'non-CocoError/500', 'over 1 s', 'hung/died', 'max RSS MB', 'child s'];
  const lines = rows.map((r) => [r.target, String(r.inputs), String(r.violations), String(r.slow), String(r.killed), String(r.maxRssMb), r.seconds.toFixed(0)]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (l: string[]) => '| ' + l.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ') + ' |';
  return [fmt(head), '|' + w.map((n, i) => (i === 0 ? '-'.repeat(n + 2) : '-'.repeat(n + 1) + ':')).join('|') + '|', ...lines.map(fmt)].join('\n');
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t = arg('target', 'all');
  const targets = t === 'all' ? [...TARGET_NAMES] : t.split(',');
  const unknown = targets.filter((x) => !TARGET_NAMES.includes(x));
  if (unknown.length) {
    console.error(`unknown target(s) ${unknown.join(', ')}; targets: ${TARGET_NAMES.join(', ')}`);
    process.exit(2);
  }
  const o: CampaignOptions & { group: number } = {
    group: Number(arg('group', '1')),
    targets,
    count: Number(arg('count', '1000')),
    seed: Number(arg('seed', '1')),
    batch: Number(arg('batch', '5000')),
    jobs: Number(arg('jobs', '2')),
    hangMs: Number(arg('hang-ms', '10000')),
    heapMb: Number(arg('heap-mb', '1024')),
    findings: arg('findings', join(HERE, 'findings')),
  };
  const t0 = Date.now();
  const rows = await runCampaign(o, (s) => console.error(`${s.target}: ${s.inputs} inputs, ${s.violations} non-CocoError/500, ${s.slow} over 1 s, ${s.killed} hung/died, max RSS ${s.maxRssMb} MB, ${s.seconds.toFixed(0)} s`));
  console.log(summaryTable(rows));
  console.log(`seed ${o.seed}, ${((Date.now() - t0) / 1000).toFixed(0)} s wall`);
  const findings = rows.flatMap((r) => r.findings);
  for (const f of findings.slice(0, 50)) console.log(`- ${f}`);
  process.exit(rows.some((r) => r.violations + r.slow + r.killed > 0) ? 1 : 0);
}
