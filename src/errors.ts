/**
 * The one error class of cocokit. Every failure the project reports — malformed bytes, a bad signature,
 * a policy denial, an HTTP protocol violation — is a `CocoError` with a stable machine `code`
 * (`SNP_SIGNATURE`, `KBS_NONCE_MISMATCH`, …) and a `kind` that decides the HTTP status and CLI exit code.
 *
 * This module is a leaf: every layer, the Rego engine included, may import it.
 */

/** What sort of failure an error is; each kind maps to one HTTP status and one CLI exit code. */
export type ErrorKind =
  | 'usage' // the caller asked for something that makes no sense (bad flags, bad API arguments)
  | 'input' // malformed input: bytes, JSON, TOML, Rego, YAML, HTTP bodies
  | 'crypto' // a signature, chain or MAC did not verify
  | 'unavailable' // a certificate, collateral or other needed artifact could not be found
  | 'expectation' // evidence verified, but a value differs from what was expected
  | 'policy' // a policy denied
  | 'auth' // missing or wrong credentials, unknown or expired session
  | 'forbidden' // authenticated, but not allowed
  | 'notfound'
  | 'conflict'
  | 'limit' // too large, too many, too deep
  | 'unsupported'
  | 'internal';

const HTTP_STATUS: Record<ErrorKind, number> = {
  usage: 400,
  input: 400,
  crypto: 401,
  unavailable: 503,
  expectation: 401,
  policy: 401,
  auth: 401,
  forbidden: 403,
  notfound: 404,
  conflict: 409,
  limit: 413,
  unsupported: 501,
  internal: 500,
};

/**
 * CLI exit codes, following go-sev-guest's `check` tool: a bad signature, a missing certificate and a failed
 * expectation are told apart by the exit code alone.
 */
const EXIT_CODE: Record<ErrorKind, number> = {
  usage: 1,
  input: 4,
  crypto: 2,
  unavailable: 3,
  expectation: 5,
  policy: 6,
  auth: 7,
  forbidden: 7,
  notfound: 8,
  conflict: 9,
  limit: 4,
  unsupported: 10,
  internal: 70,
};

export interface CocoErrorOptions {
  kind?: ErrorKind;
  /** Structured detail safe to show a user (never secrets). */
  detail?: unknown;
  cause?: unknown;
  /** Overrides the HTTP status derived from the kind. */
  status?: number;
}

export class CocoError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly detail: unknown;
  readonly status: number;

  constructor(code: string, message: string, options: CocoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CocoError';
    this.code = code;
    this.kind = options.kind ?? 'input';
    this.detail = options.detail;
    this.status = options.status ?? HTTP_STATUS[this.kind];
  }

  get exitCode(): number {
    return EXIT_CODE[this.kind];
  }

  toJSON(): { code: string; kind: ErrorKind; message: string; detail?: unknown } {
    return { code: this.code, kind: this.kind, message: this.message, ...(this.detail === undefined ? {} : { detail: this.detail }) };
  }
}

export function isCocoError(e: unknown): e is CocoError {
  return e instanceof CocoError;
}

/** Wraps any thrown value as a CocoError, keeping CocoErrors as they are. */
export function asCocoError(e: unknown, code = 'INTERNAL', kind: ErrorKind = 'internal'): CocoError {
  if (e instanceof CocoError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new CocoError(code, message, { kind, cause: e });
}

export function exitCodeOf(kind: ErrorKind): number {
  return EXIT_CODE[kind];
}
