/**
 * Argument checks at the Store edge: callers are typed, but values arrive from HTTP bodies and CLI flags, so
 * every argument is checked at run time and a wrong type or size is a CocoError, never a driver exception.
 */
import { CocoError } from '../errors.js';
import { DEFAULT_NAMESPACE, LIMITS, POLICY_KINDS, type JsonValue, type PolicyKind, type ResourceKey, type SessionRecord } from './store.js';

/** Trustee's resource path segment (TR `plugins/implementations/resource/backend.rs`). */
const SEGMENT_RE = /^[A-Za-z0-9_-]+[A-Za-z0-9_.-]*$/;

function bad(what: string, why: string): CocoError {
  return new CocoError('STORE_ARGUMENT', `${what} ${why}`, { kind: 'input' });
}

export function checkString(v: unknown, what: string, maxChars: number = LIMITS.idChars, allowEmpty = false): string {
  if (typeof v !== 'string') throw bad(what, `must be a string, got ${v === null ? 'null' : typeof v}`);
  if (v.length === 0 && !allowEmpty) throw bad(what, 'must not be empty');
  if (v.length > maxChars) throw new CocoError('STORE_TOO_LARGE', `${what} is longer than ${maxChars} characters`, { kind: 'limit' });
  // PostgreSQL text cannot hold NUL; refuse it on both backends so they behave alike.
  if (v.includes('\u0000')) throw bad(what, 'must not contain NUL characters');
  return v;
}

/**
 * Whether `v` could be a challenge nonce a store records (`NonceStore.consume` would take it); a wrong type is
 * still an input error. A string it could never record is no challenge any session holds.
 */
export function spendableNonce(v: unknown): v is string {
  if (typeof v !== 'string') checkString(v, 'nonce');
  return typeof v === 'string' && v.length > 0 && v.length <= LIMITS.jsonChars && !v.includes('\u0000');
}

export function checkSegment(v: unknown, what: string): string {
  const s = checkString(v, what, 256);
  if (!SEGMENT_RE.test(s)) throw bad(what, `"${s}" must match [A-Za-z0-9_-]+[A-Za-z0-9_.-]*`);
  return s;
}

export function checkNamespace(v: unknown): string {
  return v === undefined ? DEFAULT_NAMESPACE : checkSegment(v, 'namespace');
}

export interface CheckedResourceKey {
  namespace: string;
  repository: string;
  type: string;
  tag: string;
}

export function checkResourceKey(key: ResourceKey): CheckedResourceKey {
  if (typeof key !== 'object' || key === null) throw bad('resource key', 'must be an object');
  return {
    namespace: checkNamespace(key.namespace),
    repository: checkSegment(key.repository, 'resource repository'),
    type: checkSegment(key.type, 'resource type'),
    tag: checkSegment(key.tag, 'resource tag'),
  };
}

export function checkBytes(v: unknown, what: string, maxBytes: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw bad(what, 'must be a Uint8Array');
  if (v.length > maxBytes) throw new CocoError('STORE_TOO_LARGE', `${what} is ${v.length} bytes, more than ${maxBytes}`, { kind: 'limit' });
  return v;
}

export function checkDate(v: unknown, what: string): Date {
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw bad(what, 'must be a valid Date');
  return v;
}

export function checkPolicyKind(v: unknown): PolicyKind {
  if (typeof v !== 'string' || !(POLICY_KINDS as readonly string[]).includes(v)) {
    throw bad('policy kind', `must be one of ${POLICY_KINDS.join(', ')}`);
  }
  return v as PolicyKind;
}

/** Serializes a JSON value, refusing what JSON cannot carry faithfully (undefined, functions, NaN, cycles). */
export function toJsonText(v: unknown, what: string, maxChars: number = LIMITS.jsonChars): string {
  checkJsonValue(v, what, 0);
  const text = JSON.stringify(v);
  if (text.length > maxChars) throw new CocoError('STORE_TOO_LARGE', `${what} is ${text.length} characters of JSON, more than ${maxChars}`, { kind: 'limit' });
  return text;
}

function checkJsonValue(v: unknown, what: string, depth: number): asserts v is JsonValue {
  if (depth > 64) throw new CocoError('STORE_TOO_LARGE', `${what} is nested deeper than 64 levels`, { kind: 'limit' });
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw bad(what, 'contains a non-finite number');
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) checkJsonValue(x, what, depth + 1);
    return;
  }
  // Only plain objects: a Date, Map or class instance would not come back from JSON as it went in.
  const proto: unknown = typeof v === 'object' ? Object.getPrototypeOf(v) : undefined;
  if (proto === Object.prototype || proto === null) {
    for (const x of Object.values(v as object)) checkJsonValue(x, what, depth + 1);
    return;
  }
  throw bad(what, `is not JSON (found ${typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v})`);
}

export function checkLimit(v: unknown, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw bad('limit', 'must be a positive integer');
  return Math.min(v, max);
}

/** A session as the stores keep it: everything but the id, times as milliseconds. */
export interface SessionBody {
  tee: string;
  nonce: string;
  state: 'authed' | 'attested';
  teePubkey?: JsonValue;
  token?: string;
  data?: JsonValue;
  createdAt: number;
  expiresAt: number;
}

/** Checks a session a caller hands to a store: its id, its body and the body's JSON text. */
export function checkSession(s: SessionRecord): { id: string; body: SessionBody; text: string } {
  if (typeof s !== 'object' || s === null) throw new CocoError('STORE_ARGUMENT', 'session must be an object', { kind: 'input' });
  const id = checkString(s.id, 'session id');
  if (s.state !== 'authed' && s.state !== 'attested') {
    throw new CocoError('STORE_ARGUMENT', 'session state must be "authed" or "attested"', { kind: 'input' });
  }
  const body: SessionBody = {
    tee: checkString(s.tee, 'session tee'),
    nonce: checkString(s.nonce, 'session nonce', LIMITS.jsonChars),
    state: s.state,
    createdAt: checkDate(s.createdAt, 'session createdAt').getTime(),
    expiresAt: checkDate(s.expiresAt, 'session expiresAt').getTime(),
  };
  if (s.teePubkey !== undefined) body.teePubkey = s.teePubkey;
  if (s.token !== undefined) body.token = checkString(s.token, 'session token', LIMITS.jsonChars);
  if (s.data !== undefined) body.data = s.data;
  return { id, body, text: toJsonText(body, 'session') };
}

/** The session record a stored body stands for. */
export function sessionFromBody(id: string, b: SessionBody): SessionRecord {
  const out: SessionRecord = { id, tee: b.tee, nonce: b.nonce, state: b.state, createdAt: new Date(b.createdAt), expiresAt: new Date(b.expiresAt) };
  if (b.teePubkey !== undefined) out.teePubkey = b.teePubkey;
  if (b.token !== undefined) out.token = b.token;
  if (b.data !== undefined) out.data = b.data;
  return out;
}

/** Freezes a JSON value in place, all the way down, so a copy shared by every reader cannot be changed. */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
