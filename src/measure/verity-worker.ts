/**
 * Worker thread for dm-verity level 0. Workers schedule themselves: each claims the next run of data blocks
 * from a shared counter, reads it with its own file descriptor and writes the run's salted digests straight
 * into the shared ring of level-0 digests (verity-level0.ts), then marks the run done. Nothing goes through
 * messages but a failure, so a worker never waits for the main thread to hand out work — which matters
 * when other processes share the cores and the main thread is not scheduled for a while.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { closeSync, openSync } from 'node:fs';
import { DataRunHasher } from './verity-digest.js';
import { claimRun, STATE, type Level0Shared } from './verity-level0-shared.js';

export interface VerityWorkerData extends Level0Shared {
  path: string;
  nodeName: string;
  hashType: 0 | 1;
  salt: Uint8Array;
  blockSize: number;
}

/** Sent only when hashing fails (the run is not marked done; the main thread stops everything). */
export interface VerityWorkerFailure {
  error: string;
}

const port = parentPort;
if (port) {
  // Started with its job, or prestarted (verity-level0.ts prestartWorkers): then the job is the first message.
  if (workerData) hashRuns(port, workerData as VerityWorkerData);
  else port.once('message', (data: VerityWorkerData) => hashRuns(port, data));
}

function hashRuns(port: MessagePort, data: VerityWorkerData): void {
  const state = new Int32Array(data.state);
  const digests = Buffer.from(data.digests);
  let fd: number | undefined;
  try {
    fd = openSync(data.path, 'r');
    const hasher = new DataRunHasher(data.nodeName, data.hashType, data.salt, data.blockSize, data.runBlocks);
    for (let run = claimRun(state, data, true); run >= 0; run = claimRun(state, data, true)) {
      const first = run * data.runBlocks;
      const count = Math.min(data.runBlocks, data.blocks - first);
      const slot = run % data.ringRuns;
      hasher.hashRun(fd, first, count, data.path, digests, slot * data.runBlocks * data.digestSize);
      Atomics.store(state, STATE.done + slot, run + 1);
      Atomics.notify(state, STATE.done + slot);
    }
  } catch (e) {
    Atomics.store(state, STATE.stop, 1);
    port.postMessage({ error: e instanceof Error ? e.message : String(e) } satisfies VerityWorkerFailure);
  } finally {
    if (fd !== undefined) closeSync(fd);
    port.close();
  }
}
