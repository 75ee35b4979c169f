/**
 * Worker thread for dm-verity level 0: reads a run of data blocks from the data file with its own file
 * descriptor and returns their salted digests. The main thread hands out runs and assembles the tree
 * (verity-level0.ts); the upper levels are 1/128 of the work and stay on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { closeSync, openSync, readSync } from 'node:fs';
import { blockDigest } from './verity-digest.js';

export interface VerityWorkerData {
  path: string;
  nodeName: string;
  hashType: 0 | 1;
  salt: Uint8Array;
  blockSize: number;
  digestSize: number;
}

/** A run of `count` data blocks starting at block `first`. */
export interface VerityJob {
  id: number;
  first: number;
  count: number;
}

export type VerityJobResult = { id: number; digests: Uint8Array } | { id: number; error: string };

const data = workerData as VerityWorkerData;
const port = parentPort;
if (port) {
  const fd = openSync(data.path, 'r');
  const digest = blockDigest(data.nodeName, data.hashType, data.salt, data.blockSize);
  let chunk = Buffer.alloc(0);
  port.on('message', (job: VerityJob | null) => {
    if (job === null) {
      closeSync(fd);
      port.close();
      return;
    }
    try {
      const bytes = job.count * data.blockSize;
      if (chunk.length < bytes) chunk = Buffer.alloc(bytes);
      let got = 0;
      while (got < bytes) {
        const n = readSync(fd, chunk, got, bytes - got, job.first * data.blockSize + got);
        if (n === 0) throw new Error(`unexpected end of ${data.path} at byte ${job.first * data.blockSize + got}`);
        got += n;
      }
      const digests = new Uint8Array(job.count * data.digestSize);
      for (let i = 0; i < job.count; i++) {
        digest(chunk.subarray(i * data.blockSize, (i + 1) * data.blockSize), digests, i * data.digestSize);
      }
      port.postMessage({ id: job.id, digests } satisfies VerityJobResult, [digests.buffer]);
    } catch (e) {
      port.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) } satisfies VerityJobResult);
    }
  });
}
