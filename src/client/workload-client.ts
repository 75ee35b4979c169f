/**
 * Admin client of the per-workload registration API (`/kbs/v0/workloads`): the Bearer token is the admin
 * token of `KbsAdminClient` plus the `namespace` claim the API is scoped by. Without a key (an
 * InsecureAllowAll KBS) the namespace travels as a query parameter.
 */
import { CocoError } from '../errors.js';
import { parseJson } from '../formats/json.js';
import { signAdminToken, type AdminClientOptions } from './admin-client.js';
import { httpError, request } from './http.js';

export interface WorkloadClientOptions extends AdminClientOptions {
  /** The namespace (tenant) to act in. */
  namespace: string;
}

/** The registration body of `POST /kbs/v0/workloads`. */
export interface WorkloadRegistration {
  tee: string;
  reference_values: Record<string, unknown>;
  resources: Record<string, string>;
  policy?: string;
  /** keybroker-style queries that must all be true, instead of `policy`. */
  queries?: string[];
  identify?: string[];
  workload_id?: string;
  /** Where reference values came from, by claim: `{algorithm, parameters, inputs, expires?}`. */
  provenance?: Record<string, unknown>;
}

export class WorkloadAdminClient {
  readonly url: string;
  private readonly opts: WorkloadClientOptions;

  constructor(url: string, opts: WorkloadClientOptions) {
    this.url = url.replace(/\/+$/, '');
    this.opts = opts;
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    return (await this.exchange(method, path, body)).body;
  }

  private async exchange(method: string, path: string, body?: unknown): Promise<{ body: unknown; next?: string }> {
    const o = this.opts;
    const headers: Record<string, string> = {};
    if (o.privateKeyPem) headers.authorization = `Bearer ${await signAdminToken(o.privateKeyPem, o.role, o.ttlSeconds, new Date(), { namespace: o.namespace })}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const query = o.privateKeyPem ? '' : `${path.includes('?') ? '&' : '?'}namespace=${encodeURIComponent(o.namespace)}`;
    const res = await request(`${this.url}/kbs/v0/workloads${path}${query}`, {
      method,
      headers,
      timeoutMs: o.timeoutMs,
      ca: o.ca,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (res.status < 200 || res.status > 299) throw httpError(`${method} /kbs/v0/workloads${path.split('?')[0]}`, res);
    const next = res.headers.get('x-next-cursor') ?? undefined;
    return { body: res.body.length > 0 ? parseJson(res.body, `answer to ${method} /kbs/v0/workloads${path.split('?')[0]}`) : undefined, ...(next ? { next } : {}) };
  }

  /** Registers a workload; the KBS answers its id (and version). */
  async register(reg: WorkloadRegistration): Promise<{ workload_id: string; version?: number; warnings?: string[] }> {
    return (await this.call('POST', '', reg)) as { workload_id: string; version?: number; warnings?: string[] };
  }

  /** Replaces a registration; `version` is the one last read (what the body leaves out is kept). */
  async update(id: string, reg: Partial<WorkloadRegistration> & { tee: string; reference_values: Record<string, unknown>; version: number }): Promise<{ workload_id: string; version?: number }> {
    return (await this.call('PUT', `/${encodeURIComponent(id)}`, reg)) as { workload_id: string; version?: number };
  }

  /** The namespace's workloads, without secrets; fetched page by page. */
  async list(): Promise<unknown[]> {
    const out: unknown[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listPage({ limit: 1000, ...(cursor ? { cursor } : {}) });
      out.push(...page.items);
      cursor = page.next;
    } while (cursor);
    return out;
  }

  /** One page of the namespace's workloads (the KBS caps `limit` at 1000); `next` is absent on the last page. */
  async listPage(page: { limit?: number; cursor?: string } = {}): Promise<{ items: unknown[]; next?: string }> {
    const q = new URLSearchParams();
    if (page.limit !== undefined) q.set('limit', String(page.limit));
    if (page.cursor !== undefined) q.set('cursor', page.cursor);
    const r = await this.exchange('GET', q.size ? `?${q}` : '');
    if (!Array.isArray(r.body)) throw new CocoError('KBS_CLIENT_PROTOCOL', 'workload list is not a JSON array', { kind: 'input' });
    return r.next ? { items: r.body, next: r.next } : { items: r.body };
  }

  /** One workload: reference values, policy, secret names, version. */
  async show(id: string): Promise<unknown> {
    return this.call('GET', `/${encodeURIComponent(id)}`);
  }

  /** Deletes the workload and its secrets. */
  async delete(id: string): Promise<void> {
    await this.call('DELETE', `/${encodeURIComponent(id)}`);
  }
}
