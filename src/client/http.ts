/**
 * HTTP plumbing of the guest and admin clients: bounded requests, and KBS error bodies
 * (`{"type":…/<Variant>,"detail":…}`, specs/kbs-protocol.md §1.10) turned into CocoErrors that keep the detail.
 */
import { CocoError, type ErrorKind } from '../errors.js';

export const USER_AGENT = 'cocokit-kbs-client/0.1.0';
const MAX_RESPONSE = 64 * 1024 * 1024;

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

export async function request(url: string, init: RequestInit & { timeoutMs?: number }): Promise<HttpResponse> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), init.timeoutMs ?? 60_000);
  try {
    const res = await fetch(url, { ...init, signal: ctl.signal, headers: { 'user-agent': USER_AGENT, ...(init.headers as Record<string, string>) } });
    const buf = new Uint8Array(await res.arrayBuffer());
    if (buf.length > MAX_RESPONSE) throw new CocoError('KBS_CLIENT_RESPONSE', `response from ${url} larger than ${MAX_RESPONSE} bytes`, { kind: 'limit' });
    return { status: res.status, headers: res.headers, body: buf };
  } catch (e) {
    if (e instanceof CocoError) throw e;
    throw new CocoError('KBS_CLIENT_CONNECT', `cannot reach ${url}: ${(e as Error).message}`, { kind: 'unavailable', cause: e });
  } finally {
    clearTimeout(timer);
  }
}

/** The variant name of a KBS error body, or undefined. */
export function errorVariant(body: Uint8Array): { variant?: string; detail?: string } {
  try {
    const v = JSON.parse(new TextDecoder().decode(body)) as { type?: unknown; detail?: unknown };
    const variant = typeof v.type === 'string' ? v.type.slice(v.type.lastIndexOf('/') + 1) : undefined;
    return { variant, detail: typeof v.detail === 'string' ? v.detail : undefined };
  } catch {
    return {};
  }
}

export function httpError(what: string, res: HttpResponse): CocoError {
  const { variant, detail } = errorVariant(res.body);
  const kind: ErrorKind =
    variant === 'PolicyDeny' ? 'policy'
    : res.status === 404 ? 'notfound'
    : res.status === 413 ? 'limit'
    : res.status === 401 || res.status === 403 ? 'auth'
    : res.status >= 500 ? 'unavailable'
    : 'input';
  const text = detail ?? new TextDecoder().decode(res.body.subarray(0, 500));
  return new CocoError(`KBS_CLIENT_${(variant ?? `HTTP_${res.status}`).replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`, `${what} failed (HTTP ${res.status}${variant ? ` ${variant}` : ''}): ${text}`, {
    kind,
    detail: { status: res.status, variant, detail },
  });
}
