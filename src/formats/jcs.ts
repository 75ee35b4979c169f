/**
 * JSON Canonicalization Scheme (RFC 8785). The KBS protocol binds runtime data by hashing the JCS form of
 * `{additional-evidence, nonce, tee-pubkey}` (specs/kbs-protocol.md), so this must match serde_jcs exactly:
 * object keys sorted by UTF-16 code units, ECMAScript number serialization, minimal string escaping.
 */
import { CocoError } from '../errors.js';

export function canonicalize(value: unknown): string {
  return serialize(value, 0);
}

const MAX_DEPTH = 512;

function serialize(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new CocoError('FORMAT_JSON_DEPTH', 'JSON nesting too deep to canonicalize', { kind: 'limit' });
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CocoError('FORMAT_JSON_NUMBER', 'JCS cannot represent NaN or Infinity', { kind: 'input' });
      // ECMAScript Number.prototype.toString is exactly RFC 8785 §3.2.2.3; -0 serializes as 0.
      return Object.is(value, -0) ? '0' : String(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => serialize(v, depth + 1)).join(',')}]`;
      const obj = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 prescribes.
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${serialize(obj[k], depth + 1)}`).join(',')}}`;
    }
    default:
      throw new CocoError('FORMAT_JSON_TYPE', `JCS cannot represent a ${typeof value}`, { kind: 'input' });
  }
}
