/**
 * Worker thread for dm-verity level 0: reads runs of data blocks from the data file with its own file
 * descriptor and returns their salted digests. The main thread hands out runs and assembles the tree
 * (verity-level0.ts); the upper levels are 1/128 of the work and stay on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { closeSync, openSync } from 'node:fs';
import { DataRunHasher } from './verity-digest.js';

export interface VerityWorkerData {
  path: string;
  nodeName: string;
  hashType: 0 | 1;
  salt: Uint8Array;
  blockSize: number;
  /** Largest run a job will ask for. */
  runBlocks: number;
}

/** A run of `count` data blocks starting at block `first`; `null` asks the worker to close and exit. */
export interface VerityJob {
  id: number;
  first: number;
  count: number;
}

/** A run's digests or failure; `ready` once, when the worker has started and can take runs. */
export type VerityJobResult = { id: number; digests: Uint8Array } | { id: number; error: string } | { ready: true };

const data = workerData as VerityWorkerData;
const port = parentPort;
if (port) {
  const fd = openSync(data.path, 'r');
  const hasher = new DataRunHasher(data.nodeName, data.hashType, data.salt, data.blockSize, data.runBlocks);
  port.on('message', (job: VerityJob | null) => {
    if (job === null) {
      closeSync(fd);
      port.close();
      return;
    }
    try {
      const digests = hasher.hashRun(fd, job.first, job.count, data.path);
      port.postMessage({ id: job.id, digests } satisfies VerityJobResult, [digests.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) } satisfies VerityJobResult);
    }
  });
  port.postMessage({ ready: true } satisfies VerityJobResult);
}
