import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { LogDestination } from './log-destination.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tempFile(t: { after: (fn: () => void) => void }): { path: string; fd: number } {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-log-'));
  const path = join(dir, 'log');
  const fd = openSync(path, 'a');
  t.after(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, fd };
}

async function waitFor(cond: () => boolean, ms: number): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`condition not met within ${ms} ms`);
    await sleep(5);
  }
  return Date.now() - start;
}

test('log destination: lines wait for the interval, then go out in order in one write', async (t) => {
  const { path, fd } = tempFile(t);
  const d = new LogDestination({ fd, flushMs: 150 });
  const lines = Array.from({ length: 200 }, (_, i) => `{"n":${i}}\n`);
  for (const l of lines) d.write(l);
  // Nothing is written per line.
  await sleep(20);
  assert.equal(readFileSync(path, 'utf8'), '');
  assert.equal(d.pendingBytes, lines.join('').length);
  // Bounded delay: everything is out shortly after the interval.
  const waited = await waitFor(() => readFileSync(path, 'utf8').length === lines.join('').length, 2000);
  assert.ok(waited < 2000);
  assert.equal(readFileSync(path, 'utf8'), lines.join(''));
  assert.equal(d.pendingBytes, 0);
});

test('log destination: a full chunk is written at once, without waiting for the interval', async (t) => {
  const { path, fd } = tempFile(t);
  const d = new LogDestination({ fd, flushMs: 60_000, chunkBytes: 1024 });
  const line = `${'x'.repeat(99)}\n`;
  for (let i = 0; i < 5; i++) d.write(line);
  await sleep(30);
  assert.equal(readFileSync(path, 'utf8'), '', 'below the chunk size nothing is written before the interval');
  for (let i = 0; i < 6; i++) d.write(line);
  await waitFor(() => readFileSync(path, 'utf8').length === 11 * 100, 2000);
  assert.equal(readFileSync(path, 'utf8'), line.repeat(11));
  d.end();
});

test('log destination: flushSync writes what is pending at once; end keeps accepting lines', async (t) => {
  const { path, fd } = tempFile(t);
  const d = new LogDestination({ fd, flushMs: 60_000 });
  d.write('a\n');
  d.write('é\n');
  d.flushSync();
  assert.equal(readFileSync(path, 'utf8'), 'a\né\n');
  d.end();
  d.write('b\n');
  d.flush();
  await waitFor(() => readFileSync(path, 'utf8') === 'a\né\nb\n', 2000);
});

test('log destination: beyond its bound lines are dropped and counted, and the count is logged', async (t) => {
  const { path, fd } = tempFile(t);
  const d = new LogDestination({ fd, flushMs: 60_000, chunkBytes: 1 << 20, maxBufferedBytes: 100 });
  for (let i = 0; i < 10; i++) d.write(`${String(i).repeat(19)}\n`);
  assert.equal(d.pendingBytes, 100);
  assert.equal(d.dropped, 5);
  d.flushSync();
  const out = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  assert.equal(out.length, 6);
  const note = JSON.parse(out[0]) as { level: number; msg: string };
  assert.equal(note.level, 40);
  assert.match(note.msg, /^5 log lines dropped/);
  assert.deepEqual(out.slice(1), ['0', '1', '2', '3', '4'].map((c) => c.repeat(19)));
  assert.equal(d.dropped, 0);
});

test('log destination: a descriptor that cannot be written stops logging; the caller is never failed', async (t) => {
  const { path } = tempFile(t);
  writeFileSync(path, '');
  const ro = openSync(path, 'r');
  t.after(() => closeSync(ro));
  const d = new LogDestination({ fd: ro, flushMs: 5 });
  assert.equal(d.write('one\n'), true);
  await waitFor(() => d.stopped, 2000);
  assert.equal(d.write('two\n'), true);
  assert.equal(d.pendingBytes, 0);
  d.flushSync();
  assert.equal(readFileSync(path, 'utf8'), '');
});

test('log destination: pino lines through it are JSON, one per line, in order', async (t) => {
  const { path, fd } = tempFile(t);
  const d = new LogDestination({ fd, flushMs: 10 });
  const log = pino({ level: 'info' }, d);
  for (let i = 0; i < 50; i++) log.info({ event: 'release', i }, 'resource released');
  log.debug('not at info');
  await waitFor(() => readFileSync(path, 'utf8').split('\n').length === 51, 2000);
  const rows = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { i: number; msg: string; level: number });
  assert.deepEqual(rows.map((r) => r.i), Array.from({ length: 50 }, (_, i) => i));
  assert.ok(rows.every((r) => r.msg === 'resource released' && r.level === 30));
});

/** A process logging through the destination on stderr, whose reader is gone, still exits at once. */
const CHILD = `
import { stderrLog } from './src/server/log-destination.ts';
const d = stderrLog();
const line = JSON.stringify({ msg: 'x'.repeat(200) }) + '\\n';
let n = 0;
const t = setInterval(() => {
  for (let i = 0; i < 200; i++) d.write(line);
  if (++n === 20) { clearInterval(t); for (let i = 0; i < 200; i++) d.write(line); process.stdout.write('done ' + d.stopped + '\\n'); }
}, 10);
`;

test('log destination: the exit flush never waits for a closed stderr pipe', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  // The reader of the child's stderr goes away before the child has written anything.
  child.stderr.destroy();
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the child did not exit: the exit flush waited on a closed pipe'));
    }, 20_000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.equal(code, 0);
  assert.equal(out.trim(), 'done true', 'logging stopped on the closed pipe, and the process went on');
});

/**
 * A process whose every thread-pool thread waits (each opens a FIFO nobody writes to) still gets its log
 * lines out on a stdout pipe: the destination writes them on the event loop's thread. A thread-pool job queued
 * behind the blocked ones shows that the pool really is stuck.
 */
const BLOCKED_POOL_CHILD = `
import { open, stat } from 'node:fs';
import { LogDestination } from './src/server/log-destination.ts';
const d = new LogDestination({ fd: 1, flushMs: 5 });
for (const f of JSON.parse(process.env.FIFOS)) open(f, 'r', () => {});
stat('.', () => d.write('{"msg":"thread pool free"}\\n'));
setTimeout(() => d.write(JSON.stringify({ mode: d.mode }) + '\\n'), 100);
setTimeout(() => {}, 30_000);
`;

test('log destination: lines to a stdout pipe go out while every thread-pool thread is blocked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-log-'));
  const fifos = [0, 1, 2, 3].map((i) => join(dir, `fifo${i}`));
  execFileSync('mkfifo', fifos);
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', BLOCKED_POOL_CHILD], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, UV_THREADPOOL_SIZE: '4', FIFOS: JSON.stringify(fifos) },
  });
  t.after(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  await waitFor(() => out.includes('\n') || child.exitCode !== null, 20_000).catch(() => {
    throw new Error(`no log line while the thread pool was blocked (output so far: ${JSON.stringify(out)})`);
  });
  assert.deepEqual(JSON.parse(out.split('\n')[0]), { mode: 'stream' });
  assert.ok(!out.includes('thread pool free'), 'the thread pool was blocked while the line went out');
});

test('log destination: a regular file is written synchronously, another descriptor through the thread pool', (t) => {
  const { fd } = tempFile(t);
  assert.equal(new LogDestination({ fd }).mode, 'file');
  const bad = new LogDestination({ fd: 987_654 });
  assert.equal(bad.mode, 'thread-pool');
});
