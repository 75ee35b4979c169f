/**
 * How a `verify` command prints its checks: the failing ones (every one with `--explain`), then either one
 * JSON object `{ valid, checks, … }` or a one-line verdict, and the exit code the caller derived from them;
 * and, with `--json`, how it prints a failure that came before any verdict.
 */
import type { CocoError, ErrorKind } from '../errors.js';
import { renderChecks, type Check } from '../formats/check.js';
import { cliError } from './exit-codes.js';
import type { CliIO } from './io.js';

export interface CheckReportFlags {
  json?: boolean;
  explain?: boolean;
}

export function printCheckReport(
  io: CliIO,
  checks: readonly Check[],
  exitCode: number,
  f: CheckReportFlags,
  out: { json: () => Record<string, unknown>; valid: () => string },
): void {
  const valid = checks.every((c) => c.ok);
  io.exitCode = exitCode;
  if (f.explain || !valid) io.stdout(`${renderChecks(f.explain ? checks : checks.filter((c) => !c.ok))}\n`);
  if (f.json) io.stdout(`${JSON.stringify({ valid, checks, ...out.json() })}\n`);
  else io.stdout(valid ? out.valid() : `INVALID: ${checks.filter((c) => !c.ok).length} of ${checks.length} checks failed\n`);
}

/**
 * The one line a `--json` command prints when it fails before reaching a verdict (unreadable, truncated or
 * malformed evidence, a missing certificate, a bad option value): the same object for every TEE, so a script
 * reads `error.code` / `error.kind` without knowing which verifier ran.
 */
export interface JsonFailure {
  valid: false;
  checks: [];
  error: { code: string; kind: ErrorKind; message: string; detail?: unknown };
}

export function jsonFailure(e: unknown): { line: JsonFailure; exitCode: number; err: CocoError } {
  const err = cliError(e);
  return { line: { valid: false, checks: [], error: err.toJSON() }, exitCode: err.exitCode, err };
}

/**
 * Runs a command's action; with `--json`, a failure is printed as `error[CODE]: message` on stderr and as a
 * {@link JsonFailure} on stdout, and the command exits with the error's code (README exit-code table).
 * Without `--json` the error propagates to the CLI's usual handling, which prints and exits the same way.
 */
export async function withJsonFailure(io: CliIO, f: { json?: boolean }, action: () => void | Promise<void>): Promise<void> {
  try {
    await action();
  } catch (e) {
    if (!f.json) throw e;
    const { line, exitCode, err } = jsonFailure(e);
    io.stderr(`error[${err.code}]: ${err.message}\n`);
    io.stdout(`${JSON.stringify(line)}\n`);
    io.exitCode = exitCode;
  }
}
