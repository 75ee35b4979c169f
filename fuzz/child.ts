/**
 * Fuzz batches in their own process: `child.ts <seed> <findingsDir> <target>:<from>:<count>…`. Writes one line
 * per event to stdout with synchronous writes, so the parent knows which input a hung process is stuck on:
 * `S <target> <i>` before input i, `D <target> <i> <ms> ok|bad` after it, `F <target> <i> <file> <message>`
 * for a saved finding, `T <target> <maxRssKiB>` when a target's segment is done.
 */
import { mkdirSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeInput } from './input.js';
import { TARGETS, violation, type Target } from './targets.js';

const [seedText, findings, ...segments] = process.argv.slice(2);
const seed = Number(seedText);
const SLOW_MS = 1000;

/** Synchronous, so the line is out before a hang; a full pipe (EAGAIN) is retried until the parent reads. */
function say(line: string): void {
  const buf = Buffer.from(line + '\n');
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(1, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

async function outcome(target: Target, input: Uint8Array): Promise<string | undefined> {
  try {
    await target.run(input);
    return undefined;
  } catch (e) {
    return violation(e);
  }
}

/** Greedy minimisation: drop chunks (halving their size) while the input still breaks the contract. */
async function minimise(target: Target, input: Uint8Array): Promise<Uint8Array> {
  let best = input;
  let tries = 0;
  for (let chunk = Math.max(1, best.length >> 1); chunk >= 1 && tries < 400; chunk >>= 1) {
    for (let at = 0; at < best.length && tries < 400; ) {
      const cand = new Uint8Array(best.length - Math.min(chunk, best.length - at));
      cand.set(best.subarray(0, at));
      cand.set(best.subarray(at + chunk), at);
      tries++;
      if ((await outcome(target, cand)) !== undefined) best = cand;
      else at += chunk;
    }
  }
  return best;
}

function save(name: string, kind: string, i: number, input: Uint8Array): string {
  mkdirSync(findings!, { recursive: true });
  const file = join(findings!, `${name}-${seed}-${i}.${kind}.bin`);
  writeFileSync(file, input);
  return file;
}

for (const segment of segments) {
  const [name, fromText, countText] = segment.split(':');
  const target = TARGETS[name!];
  if (!target) throw new Error(`unknown target ${name}`);
  const from = Number(fromText);
  const count = Number(countText);
  await target.setup?.();
  const seeds = target.seeds();
  for (let i = from; i < from + count; i++) {
    const input = makeInput(seed, i, seeds, target.maxLen);
    say(`S ${name} ${i}`);
    const t0 = performance.now();
    const bad = await outcome(target, input);
    const ms = performance.now() - t0;
    say(`D ${name} ${i} ${ms.toFixed(1)} ${bad === undefined ? 'ok' : 'bad'}`);
    if (bad !== undefined) say(`F ${name} ${i} ${save(name!, 'throw', i, await minimise(target, input))} ${bad.replace(/\s+/g, ' ').slice(0, 300)}`);
    else if (ms > SLOW_MS) say(`F ${name} ${i} ${save(name!, 'slow', i, input)} took ${ms.toFixed(0)} ms`);
  }
  await target.teardown?.();
  say(`T ${name} ${process.resourceUsage().maxRSS}`);
}
process.exit(0);
