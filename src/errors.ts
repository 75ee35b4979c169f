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
  | 'file' // a local file or directory is missing, unreadable, not writable, or of the wrong type
  | 'unreachable' // a server (KBS, AMD KDS) could not be reached: refused, unresolved, timed out, TLS failed
  | 'server' // the server was reached and answered with a server error (HTTP 5xx)
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
  file: 500,
  unreachable: 502,
  server: 502,
  internal: 500,
};

/**
 * CLI exit codes (the README's exit-code table), following go-sev-guest's `check` tool: a bad signature, a
 * missing certificate and a failed expectation are told apart by the exit code alone. One table for every
 * command; only `cocokit verity verify` answers with veritysetup's own codes, as its drop-in.
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
  file: 11,
  unreachable: 12,
  server: 13,
  internal: 70,
};

/** The exit-code table, one row per code, in the README's words. */
export const EXIT_CODE_TABLE: ReadonlyArray<{ code: number; kinds: readonly ErrorKind[]; meaning: string }> = [
  { code: 0, kinds: [], meaning: 'success (for verify commands: every check passed)' },
  { code: 1, kinds: ['usage'], meaning: 'usage: unknown command or flag, bad or missing option value, port in use' },
  { code: 2, kinds: ['crypto'], meaning: 'verification failure: a signature, certificate chain or MAC did not verify' },
  { code: 3, kinds: ['unavailable'], meaning: 'a certificate or collateral needed to verify could not be found' },
  { code: 4, kinds: ['input', 'limit'], meaning: 'malformed input (bytes, JSON, TOML, Rego, config) or input over a limit' },
  { code: 5, kinds: ['expectation'], meaning: 'expectation failure: verified, but a value differs from the expected one' },
  { code: 6, kinds: ['policy'], meaning: 'policy denial' },
  { code: 7, kinds: ['auth', 'forbidden'], meaning: 'refused by the KBS: attestation rejected, or the admin key, token or session not accepted' },
  { code: 8, kinds: ['notfound'], meaning: 'not found on the server (resource, workload, reference value)' },
  { code: 9, kinds: ['conflict'], meaning: 'conflict: already exists' },
  { code: 10, kinds: ['unsupported'], meaning: 'unsupported feature or config key' },
  { code: 11, kinds: ['file'], meaning: 'a file or directory is missing, unreadable, not writable, or a directory was given for a file' },
  { code: 12, kinds: ['unreachable'], meaning: 'network: the server could not be reached (refused, DNS, timeout, TLS)' },
  { code: 13, kinds: ['server'], meaning: 'server error: the server answered HTTP 5xx' },
  { code: 70, kinds: ['internal'], meaning: 'internal error: a bug in cocokit' },
];

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

const TLS_CODES: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed and not trusted (pass its CA with --cert-file)',
  SELF_SIGNED_CERT_IN_CHAIN: 'the server certificate chains to an untrusted self-signed CA (pass it with --cert-file)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server certificate is not trusted (pass its CA with --cert-file)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the server certificate is not trusted (pass its CA with --cert-file)',
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server certificate is not for this host name',
  EPROTO: 'TLS handshake failed (is the URL https:// for a plain-HTTP server, or the reverse?)',
  ERR_SSL_WRONG_VERSION_NUMBER: 'TLS handshake failed: the server does not speak TLS (use http://)',
};

/**
 * One line that names the cause of a failed connection (ECONNREFUSED, a DNS failure, a TLS mismatch) rather
 * than OpenSSL's internals.
 */
export function networkCause(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { reason?: string };
  const code = err?.code ?? '';
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED): nothing listens there';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host name not found (${code})`;
  if (code === 'ECONNRESET') return 'connection reset by the server (ECONNRESET)';
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `no route or no answer (${code})`;
  if (TLS_CODES[code]) return `${TLS_CODES[code]} (${code})`;
  if (/wrong version number|packet length too long|http request/i.test(err?.message ?? '')) return `${TLS_CODES.ERR_SSL_WRONG_VERSION_NUMBER} (${code || 'TLS'})`;
  const first = String(err?.message ?? e).split('\n')[0].replace(/^[0-9A-F]+:error:[0-9A-F]+:SSL routines:[^:]*:/i, '');
  return code ? `${first} (${code})` : first;
}
