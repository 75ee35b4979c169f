#!/usr/bin/env node
import { availableParallelism } from 'node:os';

// `verity format` spends nearly all its time in hashing workers; a worker takes tens of milliseconds to boot,
// so start them before the CLI itself loads and let the two overlap. Unused ones are ended by the command.
if (process.argv[2] === 'verity' && process.argv[3] === 'format') {
  (await import('../measure/verity-level0.js')).prestartWorkers(availableParallelism());
}

const { run } = await import('./program.js');
const { processIO } = await import('./io.js');
process.exitCode = await run(process.argv.slice(2), processIO());
