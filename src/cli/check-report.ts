/**
 * How a `verify` command prints its checks: the failing ones (every one with `--explain`), then either one
 * JSON object `{ valid, checks, … }` or a one-line verdict, and the exit code the caller derived from them.
 */
import { renderChecks, type Check } from '../formats/check.js';
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
