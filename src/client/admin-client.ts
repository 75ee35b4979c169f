/**
 * The admin client, named after Trustee's `kbs-client config …` subcommands (specs/kbs-protocol.md §1.1, §2.1):
 * it signs a short-lived Bearer JWT with the admin private key (EdDSA for Ed25519, ES256 for P-256) carrying a
 * `role` claim, and calls the admin endpoints.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { CocoError } from '../errors.js';
import { toBase64, toBase64Url, utf8 } from '../formats/bytes.js';
import { parseJson } from '../formats/json.js';
import { httpError, request, type HttpResponse } from './http.js';

export interface ResourceListing {
  path: string;
  size: number;
  updated: string;
}
import { normalizeResourcePath } from './kbs-client.js';

export interface AdminClientOptions {
  /** PEM private key (Ed25519 or EC P-256); without it requests carry no token (InsecureAllowAll servers). */
  privateKeyPem?: string;
  role?: string;
  /** Token lifetime in seconds (default 300). */
  ttlSeconds?: number;
  timeoutMs?: number;
  /** PEM CA certificate for an https:// KBS. */
  ca?: string;
}

export function adminKeyAlg(key: KeyObject): 'EdDSA' | 'ES256' {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new CocoError('KBS_CLIENT_KEY', `admin key must be Ed25519 or EC P-256, got ${key.asymmetricKeyType}`, { kind: 'usage' });
}

/** A Trustee-style admin token: `{"iss","sub","aud","role","iat","exp"}`. */
/**
 * A short-lived admin Bearer JWT. `claims` adds members beside `role` (the workload API reads `namespace`).
 * @throws CocoError KBS_CLIENT_KEY when the PEM is not a private key
 */
export async function signAdminToken(
  privateKeyPem: string,
  role = 'admin',
  ttlSeconds = 300,
  now = new Date(),
  claims: Record<string, unknown> = {},
): Promise<string> {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (e) {
    throw new CocoError('KBS_CLIENT_KEY', `admin private key is not a PEM private key: ${(e as Error).message}`, { kind: 'usage', cause: e });
  }
  const alg = adminKeyAlg(key);
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({ ...claims, role })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuer('cocokit')
    .setSubject('admin')
    .setAudience(['KBS'])
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .sign(key);
}

export class KbsAdminClient {
  readonly url: string;
  private readonly opts: AdminClientOptions;

  constructor(url: string, opts: AdminClientOptions = {}) {
    this.url = url.replace(/\/+$/, '');
    this.opts = opts;
  }

  private async call(method: string, path: string, body?: Uint8Array | string, contentType = 'application/json'): Promise<Uint8Array> {
    return (await this.exchange(method, path, body, contentType)).body;
  }

  private async exchange(method: string, path: string, body?: Uint8Array | string, contentType = 'application/json'): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    if (this.opts.privateKeyPem) headers.authorization = `Bearer ${await signAdminToken(this.opts.privateKeyPem, this.opts.role, this.opts.ttlSeconds)}`;
    if (body !== undefined) headers['content-type'] = contentType;
    const res = await request(`${this.url}/kbs/v0/${path}`, { method, headers, body, timeoutMs: this.opts.timeoutMs, ca: this.opts.ca });
    if (res.status !== 200) throw httpError(`${method} /kbs/v0/${path.split('?')[0]}`, res);
    return res;
  }

  async setResource(path: string, value: Uint8Array): Promise<void> {
    await this.call('POST', `resource/${normalizeResourcePath(path)}`, value, 'application/octet-stream');
  }

  async deleteResource(path: string): Promise<void> {
    await this.call('DELETE', `resource/${normalizeResourcePath(path)}`);
  }

  /** Every resource: paths and sizes only, never values; fetched page by page. */
  async listResources(): Promise<ResourceListing[]> {
    const out: ResourceListing[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listResourcesPage({ limit: 1000, ...(cursor ? { cursor } : {}) });
      out.push(...page.items);
      cursor = page.next;
    } while (cursor);
    return out;
  }

  /** One page of the resource listing (the KBS caps `limit` at 1000); `next` is absent on the last page. */
  async listResourcesPage(page: { limit?: number; cursor?: string } = {}): Promise<{ items: ResourceListing[]; next?: string }> {
    const q = new URLSearchParams();
    if (page.limit !== undefined) q.set('limit', String(page.limit));
    if (page.cursor !== undefined) q.set('cursor', page.cursor);
    const res = await this.exchange('GET', `resources${q.size ? `?${q}` : ''}`);
    const items = parseJson(res.body, 'resource list');
    if (!Array.isArray(items)) throw new CocoError('KBS_CLIENT_PROTOCOL', 'resource list is not a JSON array', { kind: 'input' });
    const next = res.headers.get('x-next-cursor');
    return next ? { items: items as ResourceListing[], next } : { items: items as ResourceListing[] };
  }

  async setResourcePolicy(rego: string): Promise<void> {
    await this.call('POST', 'resource-policy', JSON.stringify({ policy: toBase64Url(utf8.encode(rego)) }));
  }

  /** The ids of the stored resource policies (Trustee returns ids, not text). */
  async getResourcePolicy(): Promise<unknown> {
    return parseJson(await this.call('GET', 'resource-policy'), 'resource policy list');
  }

  /** The Rego text of a stored resource policy (cocokit: `GET /kbs/v0/resource-policy/<id>`). */
  async getResourcePolicyText(id = 'resource-policy'): Promise<string> {
    return utf8.decode(await this.call('GET', `resource-policy/${encodeURIComponent(id)}`));
  }

  async setAttestationPolicy(rego: string, policyId = 'default_cpu', type = 'rego'): Promise<void> {
    await this.call('POST', 'attestation-policy', JSON.stringify({ type, policy_id: policyId, policy: toBase64Url(utf8.encode(rego)) }));
  }

  /**
   * Registers `{name: value}` through the RVPS `sample` extractor (§4); `provenance` (cocokit) says where each
   * value came from, `{name: {algorithm, parameters?, inputs?, events?, signer?, …, expires?}}` (server/reference-values.ts), and
   * the KBS stamps it with the admin identity, time and version.
   */
  async setReferenceValues(values: Record<string, unknown>, provenance?: Record<string, Record<string, unknown>>): Promise<void> {
    const payload = toBase64(utf8.encode(JSON.stringify(values)));
    await this.call('POST', 'reference-value', JSON.stringify({ version: '0.1.0', type: 'sample', payload, ...(provenance ? { provenance } : {}) }));
  }

  async getReferenceValue(id: string): Promise<unknown> {
    return parseJson(await this.call('GET', `reference-value/${id.split('/').map(encodeURIComponent).join('/')}`), 'reference value');
  }

  /** One stored record: `{name, value, updated, expiration?, provenance?}`. */
  async getReferenceValueRecord(id: string): Promise<Record<string, unknown>> {
    return parseJson(await this.call('GET', `reference-value/${id.split('/').map(encodeURIComponent).join('/')}?detail=true`), 'reference value') as Record<string, unknown>;
  }

  /** Every stored record, sorted by name. */
  async listReferenceValueRecords(): Promise<Array<Record<string, unknown>>> {
    return parseJson(await this.call('GET', 'reference-value?detail=true'), 'reference value list') as Array<Record<string, unknown>>;
  }

  /** One page of the decision log, newest first (`type`, `tee`, `verdict`, `resource`, `workload`, `limit` filters). */
  async listDecisions(filter: Record<string, string> = {}): Promise<Array<Record<string, unknown>>> {
    const q = new URLSearchParams(filter);
    const items = parseJson(await this.call('GET', `decisions${q.size ? `?${q}` : ''}`), 'decision list');
    if (!Array.isArray(items)) throw new CocoError('KBS_CLIENT_PROTOCOL', 'decision list is not a JSON array', { kind: 'input' });
    return items as Array<Record<string, unknown>>;
  }

  /**
   * One decision record with what the KBS computes when it is read: `explain` (the deciding policy's trace) and
   * `parameter_search` (for a denied SNP measurement registered from artifacts, the launch parameter change that
   * reproduces it).
   */
  async getDecision(id: string): Promise<Record<string, unknown>> {
    if (!/^[1-9][0-9]{0,15}$/.test(id)) throw new CocoError('KBS_CLIENT_USAGE', `a decision id is a positive integer, got ${JSON.stringify(id.slice(0, 40))}`, { kind: 'usage' });
    const d = parseJson(await this.call('GET', `decisions/${id}`), 'decision');
    if (d === null || typeof d !== 'object' || Array.isArray(d)) throw new CocoError('KBS_CLIENT_PROTOCOL', 'decision is not a JSON object', { kind: 'input' });
    return d as Record<string, unknown>;
  }
}
