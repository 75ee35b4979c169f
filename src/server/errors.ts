/**
 * Trustee-style error responses (specs/kbs-protocol.md §1.10): body
 * `{"type":"https://github.com/confidential-containers/kbs/errors/<Variant>","detail":"…"}`, status 404 only for
 * an invalid path or unknown plugin, 401 for everything else (clients re-attest on 401). cocokit adds 413
 * for an oversize body (Trustee's HTTP layer answers that before any handler), 405 for a wrong method and 429
 * (with `Retry-After`) when `/auth` is rate limited.
 * Unlike Trustee, the `detail` says what was wrong (which check, which rule, which value).
 */
import { CocoError, asCocoError } from '../errors.js';
import { bounded } from './echo.js';

export type ErrorVariant =
  | 'AdminAuthAccess'
  | 'AttestationError'
  | 'InvalidRequestPath'
  | 'JweError'
  | 'PluginNotFound'
  | 'PluginInternalError'
  | 'PolicyDeny'
  | 'ParsePolicyError'
  | 'PolicyEngineError'
  | 'RvpsError'
  | 'SerdeError'
  | 'TokenNotFound'
  | 'TokenVerifierError'
  | 'PayloadTooLarge'
  | 'MethodNotAllowed'
  | 'TooManyRequests';

export const ERROR_TYPE_PREFIX = 'https://github.com/confidential-containers/kbs/errors/';

/** The variant for an error code; the route's default when no rule matches. */
const RULES: Array<[RegExp, ErrorVariant]> = [
  [/^KBS_PATH/, 'InvalidRequestPath'],
  [/^KBS_PLUGIN_NOT_FOUND/, 'PluginNotFound'],
  [/^KBS_METHOD/, 'MethodNotAllowed'],
  [/^KBS_BODY_LIMIT/, 'PayloadTooLarge'],
  [/^KBS_AUTH_(RATE|PENDING)$/, 'TooManyRequests'],
  [/^KBS_ADMIN/, 'AdminAuthAccess'],
  [/^KBS_POLICY_DENY/, 'PolicyDeny'],
  [/^(KBS_POLICY_PARSE|REGO_)/, 'ParsePolicyError'],
  [/^(KBS_POLICY|POLICY_)/, 'PolicyEngineError'],
  [/^KBS_TOKEN_MISSING/, 'TokenNotFound'],
  [/^KBS_TOKEN/, 'TokenVerifierError'],
  [/^(JWE|JWK)_/, 'JweError'],
  [/^KBS_RVPS/, 'RvpsError'],
  [/^KBS_RESOURCE/, 'PluginInternalError'],
  [/^KBS_SERDE/, 'SerdeError'],
];

export function variantOf(e: CocoError, fallback: ErrorVariant): ErrorVariant {
  for (const [re, v] of RULES) if (re.test(e.code)) return v;
  return fallback;
}

export function statusOf(variant: ErrorVariant, e: CocoError): number {
  if (variant === 'InvalidRequestPath' || variant === 'PluginNotFound') return 404;
  if (variant === 'PayloadTooLarge') return 413;
  if (variant === 'MethodNotAllowed') return 405;
  if (variant === 'TooManyRequests') return 429;
  // A missing resource (after the policy allowed the request) is 404, not Trustee's 401: a 401 makes
  // clients re-attest and retry for something that does not exist.
  if (e.kind === 'notfound') return 404;
  if (e.kind === 'internal') return 500;
  return 401;
}

export interface ErrorBody {
  type: string;
  detail: string;
  /** cocokit: where in a refused policy text the parser or compiler stopped (1-based line and column). */
  location?: PolicyLocation;
}

export interface PolicyLocation {
  file: string;
  row: number;
  col: number;
}

/** The source location a Rego parse or compile error carries, if any. */
function locationOf(e: CocoError): PolicyLocation | undefined {
  let d = e.detail as { file?: unknown; row?: unknown; col?: unknown; errors?: unknown } | undefined;
  if (!d || typeof d !== 'object') return undefined;
  // A compile error lists its errors (the first is reported); a parse error is one location.
  if (Array.isArray(d.errors)) d = d.errors[0] as typeof d;
  if (!d || typeof d !== 'object') return undefined;
  const { file, row, col } = d;
  if (typeof file !== 'string' || !Number.isSafeInteger(row) || !Number.isSafeInteger(col) || (row as number) < 1 || (col as number) < 1) return undefined;
  return { file: bounded(file, 256), row: row as number, col: col as number };
}

/**
 * A policy text that does not compile, refused as the caller's error; the engine's location (line and
 * column) is kept so the answer can point at it.
 */
export function policyParseError(what: string, err: unknown): CocoError {
  const e = asCocoError(err);
  const location = locationOf(e);
  return new CocoError('KBS_POLICY_PARSE', `${what} does not compile: ${e.message}`, { kind: 'input', cause: e, ...(location ? { detail: location } : {}) });
}

export function errorResponse(err: unknown, fallback: ErrorVariant): { status: number; body: ErrorBody; error: CocoError; variant: ErrorVariant } {
  const e = asCocoError(err);
  const variant = variantOf(e, fallback);
  const location = e.code === 'KBS_POLICY_PARSE' ? locationOf(e) : undefined;
  return { status: statusOf(variant, e), body: { type: ERROR_TYPE_PREFIX + variant, detail: bounded(e.message), ...(location ? { location } : {}) }, error: e, variant };
}

export function kbsError(code: string, message: string, kind: CocoError['kind'] = 'input', detail?: unknown): CocoError {
  return new CocoError(code, message, { kind, detail });
}
