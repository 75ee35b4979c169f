/**
 * The CLI as the command-line tests run it: `cocokit <argv>` in process through `run`, with a buffered IO in
 * `cwd` (default: the process's), the environment `env` and, when given, `stdin` as standard input.
 */
import { bufferIO } from '../cli/io.js';
import { run } from '../cli/program.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
  /** What the command wrote to standard output as bytes. */
  bytes: Uint8Array;
  /** The last line of standard output as JSON, or undefined when it does not parse. */
  json: any;
}

export async function runCli(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<CliRun> {
  const io = bufferIO(opts.env ?? {}, opts.cwd, opts.stdin);
  const code = await run(argv, io);
  const lines = io.out().trim().split('\n');
  let json: any;
  try {
    json = JSON.parse(lines[lines.length - 1]);
  } catch {}
  return { code, out: io.out(), err: io.err(), bytes: io.bytes(), json };
}
