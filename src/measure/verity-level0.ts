/**
 * Level 0 of the dm-verity tree — one salted digest per data block — is all but 1/128 of the hashing work.
 * This module produces those digests in data order, either on the calling thread alone (small images, where
 * starting workers costs more than it saves) or on the calling thread together with worker threads
 * (verity-worker.ts), each reading its own runs of blocks. Memory stays bounded: only a few runs are in
 * flight or waiting to be consumed at any time.
 */
import { Worker } from 'node:worker_threads';
import { closeSync, openSync } from 'node:fs';
import { CocoError } from '../errors.js';
import { DataRunHasher } from './verity-digest.js';
import type { VerityJob, VerityJobResult, VerityWorkerData } from './verity-worker.js';

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
  /** Blocks per run handed to a worker (default: 4 MiB worth). */
  runBlocks?: number;
}

/** A run of consecutive level-0 digests (back to back) for the data blocks from `first` on. */
export interface Level0Run {
  first: number;
  digests: Uint8Array;
}

const RUN_BYTES = 4 << 20;
/** Runs in flight per worker: one being hashed, one queued, so a worker never waits for the main thread. */
const DEPTH = 2;

export function level0Digests(opts: Level0Options): AsyncGenerator<Level0Run> {
  const runBlocks = Math.max(1, opts.runBlocks ?? Math.floor(RUN_BYTES / opts.blockSize));
  return opts.threads > 1 ? viaWorkers(opts, runBlocks) : inThread(opts, runBlocks);
}

async function* inThread(opts: Level0Options, runBlocks: number): AsyncGenerator<Level0Run> {
  const hasher = new DataRunHasher(opts.nodeName, opts.hashType, opts.salt, opts.blockSize, Math.min(runBlocks, opts.blocks));
  const fd = openSync(opts.path, 'r');
  try {
    for (let first = 0; first < opts.blocks; first += runBlocks) {
      yield { first, digests: hasher.hashRun(fd, first, Math.min(runBlocks, opts.blocks - first), opts.path) };
    }
  } finally {
    closeSync(fd);
  }
}

function startWorker(workerData: VerityWorkerData): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./verity-worker.js', import.meta.url), { workerData });
  // Run from source (tests, `npm run cocokit`): the worker is TypeScript too. Workers do not take the
  // parent's loader hooks, so a one-line entry registers tsx and then imports the .ts worker.
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const worker = JSON.stringify(new URL('./verity-worker.ts', import.meta.url).href);
  return new Worker(`import(${api}).then((m) => { m.register(); return import(${worker}); })`, { eval: true, workerData });
}

async function* viaWorkers(opts: Level0Options, runBlocks: number): AsyncGenerator<Level0Run> {
  const totalRuns = Math.ceil(opts.blocks / runBlocks);
  const data: VerityWorkerData = {
    path: opts.path,
    nodeName: opts.nodeName,
    hashType: opts.hashType,
    salt: opts.salt,
    blockSize: opts.blockSize,
    runBlocks,
  };
  // This thread hashes too (between handing out runs and building the tree), so `threads` hashers are
  // this one plus threads − 1 workers; it also keeps the cores busy while the workers start up.
  const workers = Array.from({ length: Math.min(opts.threads - 1, totalRuns) }, () => startWorker(data));
  const done = new Map<number, Uint8Array>();
  let failure: CocoError | undefined;
  let wake: (() => void) | undefined;
  let nextRun = 0;

  const dispatch = (w: Worker): void => {
    if (nextRun >= totalRuns) return;
    const first = nextRun * runBlocks;
    const job: VerityJob = { id: nextRun++, first, count: Math.min(runBlocks, opts.blocks - first) };
    w.postMessage(job);
  };
  for (const w of workers) {
    w.on('message', (r: VerityJobResult) => {
      // Runs go to a worker only once it is up; until then this thread hashes from the start of the data.
      if ('ready' in r) for (let i = 0; i < DEPTH; i++) dispatch(w);
      else if ('error' in r) failure ??= new CocoError('VERITY_IO', r.error, { kind: 'input' });
      else {
        done.set(r.id, r.digests);
        dispatch(w);
      }
      wake?.();
    });
    w.on('error', (e) => {
      failure ??= new CocoError('VERITY_WORKER', `hashing worker failed: ${e.message}`, { kind: 'internal', cause: e });
      wake?.();
    });
  }

  const own = new DataRunHasher(opts.nodeName, opts.hashType, opts.salt, opts.blockSize, Math.min(runBlocks, opts.blocks));
  const fd = openSync(opts.path, 'r');
  // How far ahead of the next run to yield this thread may hash, bounding the runs held in memory.
  const ahead = 4 * DEPTH * (workers.length + 1);
  try {
    for (let id = 0; id < totalRuns; id++) {
      while (!done.has(id)) {
        if (failure) throw failure;
        if (nextRun < totalRuns && nextRun - id < ahead) {
          const mine = nextRun++;
          const first = mine * runBlocks;
          done.set(mine, own.hashRun(fd, first, Math.min(runBlocks, opts.blocks - first), opts.path));
          // Let the workers' results in (and hand them new runs) before hashing the next one.
          await new Promise<void>((resolve) => setImmediate(resolve));
        } else {
          await new Promise<void>((resolve) => (wake = resolve));
        }
      }
      const digests = done.get(id)!;
      done.delete(id);
      yield { first: id * runBlocks, digests };
    }
  } finally {
    // Normal end, an error, or the consumer stopped early (verify found a corrupted block): each worker
    // finishes the runs it holds, closes its file descriptor and exits on its own. Nothing waits for that
    // (unref), so the caller can report the result while the workers wind down.
    closeSync(fd);
    for (const w of workers) {
      w.postMessage(null);
      w.unref();
    }
  }
}
