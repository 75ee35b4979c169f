import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CocoError } from '../errors.js';

/** Where CLI output goes; tests pass buffers, the real binary passes the process streams. */
export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Raw bytes to stdout (secrets fetched by the client, binary outputs). */
  stdoutBytes: (b: Uint8Array) => void;
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The whole of standard input as text (commands that read a document or query from it). */
  readStdin?: () => string;
  /** Set by a command that finished without an exception but must exit non-zero (e.g. `verify` → 5). */
  exitCode?: number;
}

export function processIO(): CliIO {
  return {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    stdoutBytes: (b) => void process.stdout.write(b),
    readStdin: () => readFileSync(0, 'utf8'),
    isTTY: Boolean(process.stdout.isTTY),
    env: process.env,
    cwd: process.cwd(),
  };
}

/** Collects output in memory, for in-process CLI tests. */
export function bufferIO(env: NodeJS.ProcessEnv = {}, cwd = process.cwd(), stdin?: string): CliIO & { out: () => string; err: () => string; bytes: () => Uint8Array } {
  const out: string[] = [];
  const err: string[] = [];
  const bin: Uint8Array[] = [];
  return {
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    stdoutBytes: (b) => {
      bin.push(b);
      out.push(Buffer.from(b).toString('utf8'));
    },
    ...(stdin === undefined ? {} : { readStdin: () => stdin }),
    isTTY: false,
    env,
    cwd,
    out: () => out.join(''),
    err: () => err.join(''),
    bytes: () => Buffer.concat(bin),
  };
}

/** A file named on the command line, relative to the working directory; `what` names it in the error. */
export function readInput(io: CliIO, file: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(resolve(io.cwd, file)));
  } catch (e) {
    throw new CocoError('CLI_FILE', `cannot read ${what} ${file}: ${(e as Error).message}`, { kind: 'usage', cause: e });
  }
}
