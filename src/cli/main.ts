#!/usr/bin/env node
import { run } from './program.js';
import { processIO } from './io.js';

const code = await run(process.argv.slice(2), processIO());
process.exitCode = code;
