/**
 * Level 0 of the dm-verity tree — one salted digest per data block — is all but 1/128 of the hashing work.
 * This module produces those digests in data order, either on the calling thread alone (small images, where
 * starting workers costs more than it saves) or on the calling thread together with worker threads
 * (verity-worker.ts). With workers, every thread claims runs of blocks from a shared counter and writes their
 * digests in place into a shared ring (verity-level0-shared.ts); the calling thread hashes runs too and hands
 * the finished ones to the tree builder in order, as views of the ring: no digest is copied between threads.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { closeSync, openSync } from 'node:fs';
import { CocoError } from '../errors.js';
import { DataRunHasher, digestSize } from './verity-digest.js';
import { claimRun, STATE, type Level0Shared } from './verity-level0-shared.js';
import type { VerityWorkerData, VerityWorkerFailure } from './verity-worker.js';

export interface Level0Options {
  path: string;
  nodeName: string;
  hashType: 0 | 1;
  salt: Uint8Array;
  blockSize: number;
  /** Number of data blocks to hash, from block 0. */
  blocks: number;
  /** Hashing threads including the calling one; 0 or 1 hash on the calling thread only. */
  threads: number;
  /** Blocks per run a thread claims at a time (default: 4 MiB worth). */
  runBlocks?: number;
}

/**
 * A run of consecutive level-0 digests (back to back) for the data blocks from `first` on. With workers the
 * digests are a view of shared memory, valid until the consumer asks for the next run.
 */
export interface Level0Run {
  first: number;
  digests: Uint8Array;
}

const RUN_BYTES = 4 << 20;

/** Atomics.waitAsync (ES2024, in Node since 16) is missing from the ES2022 library typings. */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number, timeout: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;
/** Ring slots: runs that may be hashed ahead of the one the tree builder takes next (64 MiB of data at 4 MiB runs). */
const RING_RUNS = 16;

/**
 * One hashing thread per core, but no more than one per 16 MiB of data: starting a worker costs about as
 * much as hashing a few MiB, so small images are hashed on the calling thread alone.
 */
export function defaultThreads(dataBytes: number): number {
  return Math.max(1, Math.min(availableParallelism(), Math.floor(dataBytes / (16 << 20))));
}

/** Workers started ahead of a level-0 pass (prestartWorkers), waiting for its shared memory. */
const prestarted: Worker[] = [];

/**
 * Starts `threads − 1` hashing workers now, before the pass that will use them: a worker takes tens of
 * milliseconds to boot, which can then overlap the caller's own start-up (loading the tree code, reading
 * the parameters). The next level-0 pass takes them; `releasePrestarted` ends any it did not take.
 */
export function prestartWorkers(threads: number): void {
  while (prestarted.length < threads - 1) {
    const w = startWorker(undefined);
    // An unused prestarted worker must not keep the process alive.
    w.unref();
    prestarted.push(w);
  }
}

export function releasePrestarted(): void {
  for (const w of prestarted.splice(0)) void w.terminate();
}

export function level0Digests(opts: Level0Options): AsyncGenerator<Level0Run> {
  const runBlocks = Math.max(1, opts.runBlocks ?? Math.floor(RUN_BYTES / opts.blockSize));
  return opts.threads > 1 ? viaWorkers(opts, runBlocks) : inThread(opts, runBlocks);
}

async function* inThread(opts: Level0Options, runBlocks: number): AsyncGenerator<Level0Run> {
  const run = Math.min(runBlocks, opts.blocks);
  const hasher = new DataRunHasher(opts.nodeName, opts.hashType, opts.salt, opts.blockSize, run);
  const size = digestSize(opts.nodeName);
  const out = Buffer.alloc(run * size);
  const fd = openSync(opts.path, 'r');
  try {
    for (let first = 0; first < opts.blocks; first += runBlocks) {
      const count = Math.min(runBlocks, opts.blocks - first);
      hasher.hashRun(fd, first, count, opts.path, out, 0);
      yield { first, digests: out.subarray(0, count * size) };
    }
  } finally {
    closeSync(fd);
  }
}

/** A worker with its job, or (`undefined`) one that waits for the job as its first message. */
function startWorker(workerData: VerityWorkerData | undefined): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./verity-worker.js', import.meta.url), { workerData });
  // Run from source (tests, `npm run cocokit`): the worker is TypeScript too. Workers do not take the
  // parent's loader hooks, so a one-line entry registers tsx and then imports the .ts worker.
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const worker = JSON.stringify(new URL('./verity-worker.ts', import.meta.url).href);
  return new Worker(`import(${api}).then((m) => { m.register(); return import(${worker}); })`, { eval: true, workerData });
}

async function* viaWorkers(opts: Level0Options, runBlocks: number): AsyncGenerator<Level0Run> {
  const totalRuns = Math.ceil(opts.blocks / runBlocks);
  const size = digestSize(opts.nodeName);
  const ringRuns = Math.min(RING_RUNS, totalRuns);
  const shared: Level0Shared = {
    state: new SharedArrayBuffer(4 * (STATE.done + ringRuns)),
    digests: new SharedArrayBuffer(ringRuns * runBlocks * size),
    ringRuns,
    runBlocks,
    blocks: opts.blocks,
    digestSize: size,
  };
  const state = new Int32Array(shared.state);
  const ring = Buffer.from(shared.digests);
  // Workers start first so they boot while this thread opens the data and hashes the first runs; `threads`
  // hashers are this thread plus threads − 1 workers.
  const data: VerityWorkerData = { ...shared, path: opts.path, nodeName: opts.nodeName, hashType: opts.hashType, salt: opts.salt, blockSize: opts.blockSize };
  const wanted = Math.min(opts.threads - 1, totalRuns - 1);
  const workers = prestarted.splice(0, wanted);
  releasePrestarted();
  for (const w of workers) {
    w.ref();
    w.postMessage(data);
  }
  while (workers.length < wanted) workers.push(startWorker(data));
  let failure: CocoError | undefined;
  let wake: (() => void) | undefined;
  const fail = (e: CocoError): void => {
    failure ??= e;
    Atomics.store(state, STATE.stop, 1);
    wake?.();
  };
  for (const w of workers) {
    w.on('message', (m: VerityWorkerFailure) => fail(new CocoError('VERITY_IO', m.error, { kind: 'input' })));
    w.on('error', (e) => fail(new CocoError('VERITY_WORKER', `hashing worker failed: ${e.message}`, { kind: 'internal', cause: e })));
    // A worker that dies without an error event (killed, out of memory) would leave its run undone.
    w.on('exit', (code) => {
      if (code !== 0) fail(new CocoError('VERITY_WORKER', `hashing worker exited with code ${code}`, { kind: 'internal' }));
    });
  }

  const own = new DataRunHasher(opts.nodeName, opts.hashType, opts.salt, opts.blockSize, Math.min(runBlocks, opts.blocks));
  const fd = openSync(opts.path, 'r');
  try {
    for (let id = 0; id < totalRuns; id++) {
      const slot = id % ringRuns;
      while (Atomics.load(state, STATE.done + slot) !== id + 1) {
        if (failure) throw failure;
        const mine = claimRun(state, shared, false);
        if (mine >= 0) {
          const first = mine * runBlocks;
          try {
            own.hashRun(fd, first, Math.min(runBlocks, opts.blocks - first), opts.path, ring, (mine % ringRuns) * runBlocks * size);
          } catch (e) {
            fail(e as CocoError);
            throw e;
          }
          Atomics.store(state, STATE.done + (mine % ringRuns), mine + 1);
          continue;
        }
        // Every runnable run is taken: wait for the one needed next (a failure message wakes this too). The
        // timeout only guards against a notification lost between the check above and this wait.
        const w = waitAsync(state, STATE.done + slot, Atomics.load(state, STATE.done + slot), 100);
        if (w.async) await Promise.race([w.value, new Promise<void>((resolve) => (wake = resolve))]);
      }
      const first = id * runBlocks;
      const at = slot * runBlocks * size;
      yield { first, digests: ring.subarray(at, at + Math.min(runBlocks, opts.blocks - first) * size) };
      // The consumer is done with the view: its slot may take the run ringRuns further on.
      Atomics.store(state, STATE.consumed, id + 1);
      Atomics.notify(state, STATE.consumed);
    }
  } finally {
    // Normal end, an error, or the consumer stopped early (verify found a corrupted block): waiting workers
    // wake up and see the stop, each closes its file descriptor and exits. Nothing waits for that (unref),
    // so the caller can report the result while the workers wind down.
    closeSync(fd);
    Atomics.store(state, STATE.stop, 1);
    Atomics.notify(state, STATE.consumed);
    for (const w of workers) w.unref();
  }
}
