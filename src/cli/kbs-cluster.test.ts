import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KbsClient } from '../client/kbs-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { utf8 } from '../formats/bytes.js';
import { REPO_ROOT } from '../test-support/vectors.js';

const dir = mkdtempSync(join(tmpdir(), 'cocokit-kbs-cluster-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const s = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('kbs\u0000serve');
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** POST /kbs/v0/auth on a fresh connection (no keep-alive), so the kernel may hand it to any worker. */
function authOnNewConnection(url: string): Promise<number> {
  const body = JSON.stringify({ version: '0.4.0', tee: 'sample', 'extra-params': '' });
  return new Promise((resolve, reject) => {
    const req = request(`${url}/kbs/v0/auth`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('kbs serve --workers 2 runs two worker processes on one port and store; both serve, and SIGTERM stops all', async () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'kbs', 'serve', '--workers', '2', '--port', String(port), '--data-dir', join(dir, 'data')], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, COCOKIT_LOG_LEVEL: 'debug' },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  try {
    const deadline = Date.now() + 90_000;
    // The first worker prints the banner once it listens; stdout may arrive after the log lines on stderr.
    while (childrenOf(child.pid!).length < 2 || (err.match(/Server listening/g) ?? []).length < 2 || !out.includes('listening on')) {
      assert.ok(Date.now() < deadline, `workers did not come up:\n${out}\n${err}`);
      assert.equal(child.exitCode, null, `serve exited:\n${out}\n${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const workers = childrenOf(child.pid!);
    assert.equal(workers.length, 2);
    assert.equal((out.match(/listening on/g) ?? []).length, 1, 'one banner');

    // A whole flow, and its resource read, whichever workers the connections land on.
    const c = new KbsClient(url, new SampleAttester());
    assert.match(utf8.decode(await c.getResource('default/demo/secret')), /Hello from cocokit/);
    for (let i = 0; i < 16; i++) assert.equal(await authOnNewConnection(url), 200);
    // Each request is logged at debug with the pid of the worker that answered it.
    const servedBy = () =>
      new Set(
        err
          .split('\n')
          // Whole lines only: the last one may still be arriving.
          .filter((l) => l.includes('"path":"/kbs/v0/auth"') && l.endsWith('}'))
          .map((l) => (JSON.parse(l) as { pid: number }).pid),
      );
    for (const until = Date.now() + 5000; servedBy().size < 2 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual([...servedBy()].sort(), [...workers].sort(), 'both workers answered');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, err.slice(-2000));
});
