/**
 * HTTP plumbing of the guest and admin clients: bounded requests, and KBS error bodies
 * (`{"type":…/<Variant>,"detail":…}`, specs/kbs-protocol.md §1.10) turned into CocoErrors that keep the detail.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { CocoError, networkCause, type ErrorKind } from '../errors.js';

export const USER_AGENT = 'cocokit-kbs-client/0.1.0';
const MAX_RESPONSE = 64 * 1024 * 1024;

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

export interface RequestOptions {
  method: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  timeoutMs?: number;
  /** PEM CA certificate(s) trusted for an https:// KBS, in addition to the system store (`--cert-file`). */
  ca?: string;
}

/** One HTTP(S) exchange with node:http/https (so a private CA can be passed), the response bounded in size. */
export function request(url: string, init: RequestOptions): Promise<HttpResponse> {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    return Promise.reject(new CocoError('KBS_CLIENT_URL', `invalid KBS URL ${url}`, { kind: 'usage', cause: e }));
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return Promise.reject(new CocoError('KBS_CLIENT_URL', `KBS URL must be http or https: ${url}`, { kind: 'usage' }));
  const mod = u.protocol === 'https:' ? https : http;
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? Buffer.from(init.body) : Buffer.from(init.body);
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: init.method,
        headers: { 'user-agent': USER_AGENT, ...(body ? { 'content-length': String(body.length) } : {}), ...init.headers },
        timeout: init.timeoutMs ?? 60_000,
        ...(init.ca && u.protocol === 'https:' ? { ca: [...tls.rootCertificates, init.ca] } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE) {
            req.destroy(new CocoError('KBS_CLIENT_RESPONSE', `response from ${url} larger than ${MAX_RESPONSE} bytes`, { kind: 'limit' }));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) for (const x of v) headers.append(k, x);
            else if (v !== undefined) headers.set(k, v);
          }
          resolve({ status: res.statusCode ?? 0, headers, body: new Uint8Array(Buffer.concat(chunks)) });
        });
        res.on('error', (e) => reject(wrap(url, e)));
      },
    );
    req.on('timeout', () => req.destroy(new CocoError('KBS_CLIENT_TIMEOUT', `no answer from ${url} within ${init.timeoutMs ?? 60_000} ms`, { kind: 'unreachable' })));
    req.on('error', (e) => reject(wrap(url, e)));
    req.end(body);
  });
}

function wrap(url: string, e: unknown): CocoError {
  if (e instanceof CocoError) return e;
  return new CocoError('KBS_CLIENT_CONNECT', `cannot reach ${url}: ${networkCause(e)}`, { kind: 'unreachable', cause: e });
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
  // The kind (and so the CLI exit code) follows what failed, read from the Trustee error variant; the
  // HTTP status alone cannot tell, since Trustee answers 401 for nearly every failure (§1.10).
  const kind: ErrorKind =
    res.status >= 500 ? 'server'
    : variant === 'PolicyDeny' ? 'policy'
    : variant === 'AttestationError' || variant === 'AdminAuthAccess' || variant === 'TokenNotFound' || variant === 'TokenVerifierError' ? 'auth'
    : variant === 'PayloadTooLarge' || res.status === 413 ? 'limit'
    : variant === 'ParsePolicyError' || variant === 'SerdeError' || variant === 'JweError' ? 'input'
    : res.status === 404 ? 'notfound'
    : res.status === 409 ? 'conflict'
    : res.status === 401 || res.status === 403 ? 'auth'
    : 'input';
  const text = detail ?? new TextDecoder().decode(res.body.subarray(0, 500));
  return new CocoError(`KBS_CLIENT_${(variant ?? `HTTP_${res.status}`).replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`, `${what} failed (HTTP ${res.status}${variant ? ` ${variant}` : ''}): ${text}`, {
    kind,
    detail: { status: res.status, variant, detail },
  });
}
