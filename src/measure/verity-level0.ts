/**
 * Level 0 of the dm-verity tree — one salted digest per data block — is all but 1/128 of the hashing work.
 * This module produces those digests in data order, either on the calling thread (small images, where
 * starting workers costs more than it saves) or split across worker threads (verity-worker.ts), each
 * reading its own runs of blocks. Memory stays bounded: at most a few runs are in flight at any time.
 */
import { Worker } from 'node:worker_threads';
import { closeSync, openSync, readSync } from 'node:fs';
import { CocoError } from '../errors.js';
import { blockDigest } from './verity-digest.js';
import type { VerityJob, VerityJobResult, VerityWorkerData } from './verity-worker.js';

export interface Level0Options {
  path: string;
  nodeName: string;
  hashType: 0 | 1;
  salt: Uint8Array;
  blockSize: number;
  digestSize: number;
  /** Number of data blocks to hash, from block 0. */
  blocks: number;
  /** Worker threads; 0 hashes on the calling thread. */
  threads: number;
  /** Blocks per run handed to a worker (default: 4 MiB worth). */
  runBlocks?: number;
}

/** A run of consecutive level-0 digests, `digests.length / digestSize` of them starting at data block `first`. */
export interface Level0Run {
  first: number;
  digests: Uint8Array;
}

const RUN_BYTES = 4 << 20;
/** Runs in flight per worker: one being hashed, one queued, so a worker never waits for the main thread. */
const DEPTH = 2;

export function level0Digests(opts: Level0Options): AsyncGenerator<Level0Run> {
  const runBlocks = Math.max(1, opts.runBlocks ?? Math.floor(RUN_BYTES / opts.blockSize));
  return opts.threads > 0 ? viaWorkers(opts, runBlocks) : inThread(opts, runBlocks);
}

async function* inThread(opts: Level0Options, runBlocks: number): AsyncGenerator<Level0Run> {
  const digest = blockDigest(opts.nodeName, opts.hashType, opts.salt, opts.blockSize);
  const fd = openSync(opts.path, 'r');
  try {
    const chunk = Buffer.alloc(Math.min(runBlocks, opts.blocks) * opts.blockSize);
    for (let first = 0; first < opts.blocks; first += runBlocks) {
      const count = Math.min(runBlocks, opts.blocks - first);
      readFully(fd, chunk, count * opts.blockSize, first * opts.blockSize, opts.path);
      const digests = new Uint8Array(count * opts.digestSize);
      for (let i = 0; i < count; i++) {
        digest(chunk.subarray(i * opts.blockSize, (i + 1) * opts.blockSize), digests, i * opts.digestSize);
      }
      yield { first, digests };
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads exactly `length` bytes at `position`, or fails with `VERITY_IO` (the file shrank underneath us). */
export function readFully(fd: number, buf: Uint8Array, length: number, position: number, path: string): void {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) throw new CocoError('VERITY_IO', `unexpected end of ${path} at byte ${position + got}`, { kind: 'input' });
    got += n;
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
    digestSize: opts.digestSize,
  };
  const workers = Array.from({ length: Math.min(opts.threads, totalRuns) }, () => startWorker(data));
  const exited = workers.map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve())));
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
      if ('error' in r) failure ??= new CocoError('VERITY_IO', r.error, { kind: 'input' });
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
    for (let i = 0; i < DEPTH; i++) dispatch(w);
  }

  try {
    for (let id = 0; id < totalRuns; id++) {
      while (!done.has(id)) {
        if (failure) throw failure;
        await new Promise<void>((resolve) => (wake = resolve));
      }
      const digests = done.get(id)!;
      done.delete(id);
      yield { first: id * runBlocks, digests };
    }
  } finally {
    // Normal end, an error, or the consumer stopped early (verify found a corrupted block): each worker
    // finishes the runs it holds, closes its file descriptor and exits.
    for (const w of workers) w.postMessage(null);
    await Promise.all(exited);
  }
}
