/** JSON parsing that turns every failure into a CocoError and bounds the input size. */
import { CocoError } from '../errors.js';

export function parseJson(text: string | Uint8Array, what: string, maxBytes = 16 * 1024 * 1024): unknown {
  const len = typeof text === 'string' ? text.length : text.byteLength;
  if (len > maxBytes) throw new CocoError('FORMAT_TOO_LARGE', `${what} is larger than ${maxBytes} bytes`, { kind: 'limit' });
  const s = typeof text === 'string' ? text : new TextDecoder().decode(text);
  try {
    return JSON.parse(s);
  } catch (e) {
    throw new CocoError('FORMAT_JSON', `${what} is not valid JSON: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a required string field, or throws a CocoError naming the field. */
export function requireString(obj: Record<string, unknown>, key: string, what: string): string {
  const v = obj[key];
  if (typeof v !== 'string') throw new CocoError('FORMAT_FIELD', `${what}: field "${key}" must be a string`, { kind: 'input' });
  return v;
}
