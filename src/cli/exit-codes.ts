/**
 * What the CLI reports for a failure: the CocoError itself, re-kinded when the real cause is the user's
 * environment rather than cocokit. Exit codes come from the kind (src/errors.ts `EXIT_CODE_TABLE`, the
 * README's exit-code table), so a missing file, an unwritable data directory or a port in use never surfaces
 * as an internal error (70), whichever layer first noticed it.
 */
import { CocoError, asCocoError, networkCause, type ErrorKind } from '../errors.js';

/** errno codes of a file or directory the user named (missing, unreadable, not writable, wrong type). */
const FILE_CODES = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EROFS', 'ENOSPC', 'EEXIST', 'ENAMETOOLONG', 'ELOOP', 'EMFILE']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

function errnoCode(e: unknown): string | undefined {
  for (let c: unknown = e, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  }
  return undefined;
}

function rekind(e: CocoError, kind: ErrorKind, message = e.message): CocoError {
  return new CocoError(e.code, message, { kind, cause: e.cause ?? e, detail: e.detail });
}

/** The error the CLI prints, with the kind that decides the exit code. */
export function cliError(e: unknown): CocoError {
  const code = errnoCode(e);
  if (code === 'EADDRINUSE') {
    const addr = (e as { address?: string; port?: number }).address;
    const port = (e as { port?: number }).port;
    return new CocoError('CLI_PORT_IN_USE', `${addr ?? 'the address'}${port === undefined ? '' : `:${port}`} is already in use (EADDRINUSE); choose another with --port`, { kind: 'usage', cause: e });
  }
  if (code === 'EADDRNOTAVAIL') return new CocoError('CLI_ADDRESS', `cannot listen on that address (EADDRNOTAVAIL); choose another with --host`, { kind: 'usage', cause: e });
  const err = e instanceof CocoError ? e : asCocoError(e);
  // Only re-kind what no layer classified, or classified as "the artifact is unavailable": a CocoError that
  // says the input was malformed or did not verify keeps its kind.
  if (code && FILE_CODES.has(code) && (err.kind === 'internal' || err.kind === 'unavailable' || err.kind === 'usage' || err.kind === 'input')) return rekind(err, 'file');
  if (code && NETWORK_CODES.has(code) && (err.kind === 'internal' || err.kind === 'unavailable')) {
    return rekind(err, 'unreachable', err.kind === 'internal' ? `cannot reach the server: ${networkCause(e)}` : err.message);
  }
  return err;
}
