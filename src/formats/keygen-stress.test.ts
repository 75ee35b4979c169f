import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../test-support/vectors.js';

const CHILD = fileURLToPath(new URL('./keygen-stress.child.ts', import.meta.url));
const RUN_MS = 7500;
// A hung process ignores SIGTERM (the lock is taken inside a garbage collection), so the watchdog kills it.
// The deadline counts from the first phase: loading TypeScript on a busy machine is slow, never a hang.
const DEADLINE_MS = 20_000;
const STARTUP_MS = 120_000;

interface Outcome {
  flags: string;
  hung: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(flags: string[]): Promise<Outcome> {
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', CHILD, String(RUN_MS)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const o: Outcome = { flags: flags.join(' '), hung: false, code: null, stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (o.stdout += d.toString()));
  return new Promise((resolve) => {
    const kill = () => {
      o.hung = true;
      child.kill('SIGKILL');
    };
    let timer = setTimeout(kill, STARTUP_MS);
    child.stderr.on('data', (d: Buffer) => {
      if (o.stderr === '') {
        clearTimeout(timer);
        timer = setTimeout(kill, DEADLINE_MS);
      }
      o.stderr += d.toString();
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      o.code = code;
      resolve(o);
    });
  });
}

test('EC, Ed25519 and RSA key generation, resource JWE encryption and signer keys never deadlock under garbage-collection pressure', async () => {
  // Two garbage-collection regimes side by side (one per core): a forced collection every 97 allocations,
  // and a 1 MiB young generation. Before the keys were read from DER, one run or the other hung in most
  // attempts, inside the JWK export of a just-generated EC key.
  const outcomes = await Promise.all([run(['--gc-interval=97']), run(['--max-semi-space-size=1'])]);
  for (const o of outcomes) {
    const phase = o.stderr.trim().split('\n').at(-1);
    assert.equal(o.hung, false, `${o.flags}: hung in the "${phase}" phase (killed after ${DEADLINE_MS} ms)`);
    assert.equal(o.code, 0, `${o.flags}: ${o.stderr}`);
    const counts = o.stdout.trim().split(' ').map(Number);
    assert.ok(counts.length === 5 && counts.every((n) => n > 20), `${o.flags}: too few iterations: ${o.stdout}`);
  }
});
