/**
 * Admin API of the decision log (decisions.ts):
 *
 * - `GET /kbs/v0/decisions?type=&tee=&verdict=&resource=&workload=&since=&until=&limit=&cursor=` — newest
 *   first, one bounded page per request; `x-next-cursor` names the next page.
 * - `GET /kbs/v0/decisions/<id>` — one record with its checks, claims and trace, and `explain`: for a release
 *   the resource policy's full explain trace (the body that allowed, or each body that failed and where),
 *   computed now by evaluating the policy version the record names by hash on the record's claims and
 *   request; for an attestation the attestation policy's, from the policy and reference-value set versions
 *   it names (decision-recompute.ts); and `parameter_search`: for a denied SNP measurement registered from
 *   artifacts, `{claim: {hint, flag, registered, reported} | {note}}` — the launch parameter change that
 *   reproduces the reported measurement, searched now from the registration's search states
 *   (decision-search.ts). The record itself is returned as stored, chain fields included.
 * - `POST /kbs/v0/decisions/<id>/dry-run` `{"kind":"resource"|"attestation","policy":"<rego>","resource":"a/b/c"?}`
 *   — the verdict a candidate policy would give on that record's claims (an attestation policy with the
 *   reference-value set the record names, when it is kept; `reference_value_set` says which). Nothing is stored,
 *   nothing is logged. Reference values the verdict relies on whose stated `expires` has passed are listed in
 *   `expired_reference_values` (an attestation consulting one is denied, and so is the dry-run's); with
 *   `"expiring_before": "<RFC 3339>"`, those that are still valid but expire before it in
 *   `expiring_reference_values`. The same on the evidence dry-run below.
 * - `POST /kbs/v0/dry-run` `{"tee":"snp","evidence":…,"kind":…,"policy":"<rego>","resource":"a/b/c"?}` — the same
 *   on uploaded evidence: verifier checks → claims → candidate policy (a candidate resource policy is given the
 *   claims the stored attestation policy yields) → verdict and trace. Reads only.
 *
 * The log spans every tenant, so only an admin identity bound to all namespaces may read it.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { statusOf, trustVectorFrom } from '../attestation/ear.js';
import { expiredReferenceValueError, type AttestationService } from '../attestation/service.js';
import { CocoError } from '../errors.js';
import { isRecord, parseJson } from '../formats/json.js';
import type { AttestationPolicyEvaluator, ResourcePolicyEvaluator } from '../policy/types.js';
import type { Store } from '../store/store.js';
import type { AdminAuthorizer } from './admin-auth.js';
import { DECISION_KIND, decisionFromEvent, redactClaims, type Decision } from './decisions.js';
import { explainAttestation, redactionReport } from './decision-recompute.js';
import { DecisionSearch, decisionParameterSearch } from './decision-search.js';
import { keptPolicyVersion, keptReferenceValueSet } from './decision-versions.js';
import { echo } from './echo.js';
import { errorResponse, kbsError, policyParseError } from './errors.js';
import { provenanceExpiry } from './reference-values.js';
import { NEXT_CURSOR_HEADER } from './page-query.js';

export interface DecisionRoutesOptions {
  store: Store;
  attestation: AttestationService;
  admin: AdminAuthorizer;
  attestationPolicy: AttestationPolicyEvaluator;
  resourcePolicy: ResourcePolicyEvaluator;
  /** Resolves once the decisions queued so far are written (decisions.ts), so a listing shows every one of them. */
  decisionsWritten?: () => Promise<void>;
  /** The KBS's clock: which reference values a dry-run finds expired. */
  clock?: () => Date;
  /** The launch-parameter search of denied SNP measurements (decision-search.ts); one per server by default. */
  parameterSearch?: DecisionSearch;
}

/** Rows one listing request reads at most while filtering, so a selective filter cannot scan the whole log. */
const SCAN_ROWS = 5000;
const MAX_PAGE = 500;

export interface DecisionFilter {
  type?: string;
  tee?: string;
  verdict?: string;
  resource?: string;
  workload?: string;
  since?: Date;
  until?: Date;
}

function send(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).header('content-type', 'application/json').header('cache-control', 'no-store').send(JSON.stringify(body));
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const r = errorResponse(err, 'PluginInternalError');
  return send(reply, r.status, r.body);
}

async function requireGlobalAdmin(admin: AdminAuthorizer, req: FastifyRequest): Promise<void> {
  const id = await admin.authorize(req.headers.authorization, req.url);
  if (id && id.namespaces !== '*') throw new CocoError('KBS_ADMIN_NAMESPACE', `role ${echo(id.role)} is bound to namespaces; the decision log spans all of them`, { kind: 'forbidden' });
}

function queryString(q: Record<string, unknown>, key: string, max = 512): string | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw kbsError('KBS_QUERY', `${key} must be a non-empty string of at most ${max} characters`);
  return v;
}

function queryTime(q: Record<string, unknown>, key: string): Date | undefined {
  const v = queryString(q, key, 64);
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (!/^\d{4}-\d\d-\d\d/.test(v) || Number.isNaN(d.getTime())) throw kbsError('KBS_QUERY', `${key} must be an ISO 8601 time, got ${echo(v)}`);
  return d;
}

/** The listing's query parameters, validated. */
export function decisionQuery(q: Record<string, unknown>): { filter: DecisionFilter; limit: number; beforeId?: number } {
  const filter: DecisionFilter = {};
  const type = queryString(q, 'type');
  if (type !== undefined && type !== 'attestation' && type !== 'release') throw kbsError('KBS_QUERY', 'type must be attestation or release');
  if (type) filter.type = type;
  const verdict = queryString(q, 'verdict');
  if (verdict !== undefined && !['allow', 'deny', 'error'].includes(verdict)) throw kbsError('KBS_QUERY', 'verdict must be allow, deny or error');
  if (verdict) filter.verdict = verdict;
  for (const k of ['tee', 'resource', 'workload'] as const) {
    const v = queryString(q, k);
    if (v !== undefined) filter[k] = v;
  }
  const since = queryTime(q, 'since');
  const until = queryTime(q, 'until');
  if (since) filter.since = since;
  if (until) filter.until = until;
  let limit = 50;
  const l = queryString(q, 'limit', 8);
  if (l !== undefined) {
    if (!/^[1-9][0-9]{0,5}$/.test(l)) throw kbsError('KBS_QUERY', 'limit must be a positive integer');
    limit = Math.min(Number(l), MAX_PAGE);
  }
  const c = queryString(q, 'cursor', 20);
  let beforeId: number | undefined;
  if (c !== undefined) {
    if (!/^[1-9][0-9]{0,15}$/.test(c)) throw kbsError('KBS_QUERY', 'cursor is not one this server handed out');
    beforeId = Number(c);
  }
  return { filter, limit, ...(beforeId === undefined ? {} : { beforeId }) };
}

function matches(d: Decision, f: DecisionFilter): boolean {
  if (f.type && d.type !== f.type) return false;
  if (f.tee && d.tee !== f.tee) return false;
  if (f.resource && d.resource !== f.resource) return false;
  if (f.workload && d.workload !== f.workload) return false;
  if (f.until && new Date(d.time) >= f.until) return false;
  return true;
}

/**
 * One page of decisions, newest first (keyset paging on the record id). Filters the store cannot apply are
 * applied while reading at most `SCAN_ROWS` rows; `next` is then where the scan stopped, so a client keeps
 * paging until `next` is absent.
 */
export async function listDecisions(store: Store, filter: DecisionFilter, limit: number, beforeId?: number): Promise<{ items: Decision[]; next?: string }> {
  const items: Decision[] = [];
  let cursor = beforeId;
  let scanned = 0;
  for (;;) {
    const batch = Math.min(1000, SCAN_ROWS - scanned);
    const page = await store.audit.list({
      kind: DECISION_KIND,
      limit: batch,
      ...(filter.verdict ? { outcome: filter.verdict } : {}),
      ...(filter.since ? { since: filter.since } : {}),
      ...(cursor === undefined ? {} : { beforeId: cursor }),
    });
    for (const ev of page) {
      scanned++;
      cursor = ev.id;
      const d = decisionFromEvent(ev);
      if (d && matches(d, filter)) items.push(d);
      if (items.length === limit) return { items, ...(ev.id > 1 ? { next: String(ev.id) } : {}) };
    }
    if (page.length < batch) return { items };
    if (scanned >= SCAN_ROWS) return { items, next: String(cursor) };
    // Guests' requests are served between pages of a long scan.
    await nextTurn();
  }
}

async function getDecision(store: Store, idText: string): Promise<Decision> {
  if (!/^[1-9][0-9]{0,15}$/.test(idText)) throw kbsError('KBS_DECISION_NOT_FOUND', `decision ${echo(idText)} does not exist`, 'notfound');
  const id = Number(idText);
  const [ev] = await store.audit.list({ kind: DECISION_KIND, beforeId: id + 1, limit: 1 });
  const d = ev && ev.id === id ? decisionFromEvent(ev) : undefined;
  if (!d) throw kbsError('KBS_DECISION_NOT_FOUND', `decision ${id} does not exist`, 'notfound');
  return d;
}

/**
 * The explain trace of a release's deciding policy, recomputed from the record: the policy version it names
 * by hash, its (redacted) claims, resource path and query. Off the request path: releases record only what
 * this needs. Undefined for a record that is not a release or names no policy.
 */
export async function explainDecision(o: Pick<DecisionRoutesOptions, 'store' | 'resourcePolicy' | 'attestationPolicy'>, d: Decision): Promise<Record<string, unknown> | undefined> {
  if (d.type === 'attestation') return explainAttestation(o, d);
  if (d.type !== 'release' || !d.policy_hash || !d.resource) return undefined;
  const base = { policy_id: d.policy_id, policy_hash: d.policy_hash };
  const kept = await keptPolicyVersion(o.store, d.policy_hash);
  if (kept.state === 'missing') return { ...base, available: false, note: 'the text of this policy version is not kept; the trace is the one recorded' };
  if (kept.state === 'altered') return { ...base, available: false, note: 'the text of this policy version is kept altered: it does not hash to its name; the trace is the one recorded' };
  const text = kept.text;
  if (!isRecord(d.claims) || !o.resourcePolicy.explain) return { ...base, available: false, note: 'the record holds no claims to evaluate the policy on' };
  const query = isRecord(d.query) ? Object.fromEntries(Object.entries(d.query).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};
  try {
    const r = await o.resourcePolicy.explain(text, d.claims, { plugin: 'resource', 'resource-path': d.resource.split('/'), query });
    const verdict = r.allow ? 'allow' : 'deny';
    return {
      ...base,
      available: true,
      verdict,
      reason: r.reason,
      ...(r.explanation ? { explanation: redactClaims(r.explanation) } : {}),
      // Claims are stored redacted: a policy that read a redacted value can come out differently now.
      redaction: redactionReport(text, d.claims),
      ...(verdict !== d.verdict ? { note: `re-evaluated on the recorded (redacted) claims the policy says ${verdict}; the recorded verdict is ${d.verdict}` } : {}),
    };
  } catch (e) {
    return { ...base, available: false, note: `the policy could not be evaluated again: ${(e as Error).message}` };
  }
}

/** The annotated evidence an attestation policy was given, from a record's EAR claims (verbose tokens). */
function annotatedEvidence(d: Decision): unknown {
  const claims = d.claims;
  const sub = isRecord(claims) && isRecord(claims.submods) ? Object.values(claims.submods)[0] : undefined;
  const ae = isRecord(sub) ? sub['ear.veraison.annotated-evidence'] : undefined;
  if (!isRecord(ae)) throw kbsError('KBS_DRY_RUN', `decision ${d.id} holds no annotated evidence to evaluate an attestation policy on`);
  return ae;
}

/** A dry-run body's `expiring_before`: an RFC 3339 time, or absent. */
function expiringBefore(body: Record<string, unknown>): Date | undefined {
  const v = body.expiring_before;
  if (v === undefined) return undefined;
  const t = typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw kbsError('KBS_DRY_RUN', `"expiring_before" must be an RFC 3339 time (2027-01-31T00:00:00Z), got ${echo(v)}`);
  return new Date(t);
}

/**
 * The expiry of the reference values a verdict relies on, as of `now`: `expired_reference_values` (an
 * attestation consulting them is denied), and with `before`, `expiring_reference_values` — those still valid
 * now whose stated `expires` comes before it. Names of no RVPS record (a workload registration) are skipped.
 */
async function referenceValueExpiry(store: Store, names: readonly string[], now: Date, before?: Date): Promise<Record<string, Record<string, string>>> {
  const expired: Record<string, string> = {};
  const expiring: Record<string, string> = {};
  for (const name of names.slice(0, 256)) {
    const rec = await store.referenceValues.get(name);
    const at = rec ? provenanceExpiry(rec) : undefined;
    if (at === undefined) continue;
    if (at.getTime() <= now.getTime()) expired[name] = at.toISOString();
    else if (before !== undefined && at.getTime() < before.getTime()) expiring[name] = at.toISOString();
  }
  return {
    ...(Object.keys(expired).length > 0 ? { expired_reference_values: expired } : {}),
    ...(Object.keys(expiring).length > 0 ? { expiring_reference_values: expiring } : {}),
  };
}

/** The reason an attestation gives for expired values, as a dry-run verdict's. */
function expiredReason(expired: Record<string, string> | undefined): string | undefined {
  if (expired === undefined) return undefined;
  return expiredReferenceValueError(Object.fromEntries(Object.entries(expired).map(([k, v]) => [k, new Date(v)])))?.message;
}

/** Evaluates a candidate policy against a stored decision; reads only. */
export async function dryRun(o: DecisionRoutesOptions, d: Decision, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const kind = body.kind;
  const policy = body.policy;
  if (kind !== 'resource' && kind !== 'attestation') throw kbsError('KBS_DRY_RUN', '"kind" must be "resource" or "attestation"');
  if (typeof policy !== 'string' || policy.length === 0) throw kbsError('KBS_DRY_RUN', '"policy" must be the Rego text of the candidate policy');
  const before = expiringBefore(body);
  const now = (o.clock ?? (() => new Date()))();
  const was = { verdict: d.verdict, ...(d.reason ? { reason: d.reason } : {}) };
  if (kind === 'resource') {
    const path = body.resource ?? d.resource;
    if (typeof path !== 'string' || !/^[^/]+\/[^/]+\/[^/]+$/.test(path)) throw kbsError('KBS_DRY_RUN', '"resource" must be a repository/type/tag path (the record names none)');
    if (!isRecord(d.claims)) throw kbsError('KBS_DRY_RUN', `decision ${d.id} holds no claims`);
    await compiles(o.resourcePolicy, 'resource', policy);
    const r = await o.resourcePolicy.evaluate(policy, d.claims, { plugin: 'resource', 'resource-path': path.split('/'), query: {} });
    // The claims came from an attestation that compared these values: flagged, the verdict left to the policy.
    const expiry = await referenceValueExpiry(o.store, Object.keys(d.reference_values ?? {}), now, before);
    return { decision: d.id, kind, was, verdict: r.allow ? 'allow' : 'deny', trace: resourceTrace(r), ...expiry };
  }
  const input = annotatedEvidence(d);
  await compiles(o.attestationPolicy, 'attestation', policy);
  // The reference values the decision was made with, when the record names a set still kept; else today's.
  const recorded = d.rv_set_hash ? await keptReferenceValueSet(o.store, d.rv_set_hash) : undefined;
  const rvs: Record<string, unknown> = recorded?.state === 'kept' ? recorded.values : Object.fromEntries((await o.store.referenceValues.list()).map((r) => [r.name, r.value]));
  const referenceValueSet = recorded?.state === 'kept' ? `recorded set ${d.rv_set_hash}` : 'current';
  const consulted = new Set<string>();
  const out = await o.attestationPolicy.evaluate(policy, d.policy_id ?? 'default_cpu', input, (id) => {
    consulted.add(id);
    return Object.prototype.hasOwnProperty.call(rvs, id) ? rvs[id] : null;
  });
  const expiry = await referenceValueExpiry(o.store, [...consulted], now, before);
  const expired = expiredReason(expiry.expired_reference_values);
  const used = { reference_values: [...consulted], reference_value_set: referenceValueSet };
  // An attestation consulting an expired value is denied (AS_REFERENCE_VALUE_EXPIRED); the dry-run says so.
  if (expired !== undefined) return { decision: d.id, kind, was, verdict: 'deny', reason: expired, ...used, ...expiry };
  // The attestation service issues a token whatever the status; the resource policy decides on it (§3.3).
  const tv = trustVectorFrom(out.trustClaims, d.policy_id ?? 'default_cpu');
  return { decision: d.id, kind, was, verdict: 'allow', status: statusOf(tv), trace: { trust_vector: tv }, ...used, ...expiry };
}

function resourceTrace(r: { reason: string; explanation?: unknown }): Record<string, unknown> {
  return { reason: r.reason, ...(r.explanation ? { explanation: redactClaims(r.explanation) } : {}) };
}

async function compiles(ev: { validate(text: string): Promise<void> }, kind: string, policy: string): Promise<void> {
  await ev.validate(policy).catch((e) => {
    throw policyParseError(`candidate ${kind} policy`, e);
  });
}

/**
 * A candidate policy on uploaded evidence. Evidence that fails a verifier check is denied before any policy
 * runs, as the attestation service would; the answer then names the failing checks.
 */
export async function evidenceDryRun(o: DecisionRoutesOptions, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { tee, evidence, kind, policy } = body;
  if (typeof tee !== 'string' || !o.attestation.verifiers.has(tee)) throw kbsError('KBS_DRY_RUN', `"tee" must be a TEE enabled on this KBS (${o.attestation.verifiers.tees().join(', ') || 'none'})`);
  if (evidence === undefined || evidence === null || evidence === '') throw kbsError('KBS_DRY_RUN', '"evidence" must be the primary evidence as a guest sends it');
  if (kind !== 'resource' && kind !== 'attestation') throw kbsError('KBS_DRY_RUN', '"kind" must be "resource" or "attestation"');
  if (typeof policy !== 'string' || policy.length === 0) throw kbsError('KBS_DRY_RUN', '"policy" must be the Rego text of the candidate policy');
  const path = body.resource;
  if (kind === 'resource' && (typeof path !== 'string' || !/^[^/]+\/[^/]+\/[^/]+$/.test(path))) throw kbsError('KBS_DRY_RUN', '"resource" must be a repository/type/tag path');
  const before = expiringBefore(body);
  await compiles(kind === 'resource' ? o.resourcePolicy : o.attestationPolicy, kind, policy);
  let a;
  try {
    a = await o.attestation.appraiseEvidence(tee, evidence, kind === 'attestation' ? policy : undefined);
  } catch (e) {
    // Evidence the verifier cannot read at all is the caller's input error, whatever the verifier called it.
    if (e instanceof CocoError && e.kind !== 'internal' && e.kind !== 'notfound') throw kbsError('KBS_DRY_RUN', `evidence: ${e.message}`);
    throw e;
  }
  const expiry = await referenceValueExpiry(o.store, a.referenceValuesConsulted, (o.clock ?? (() => new Date()))(), before);
  const base = { tee, kind, checks: a.checks, policy_id: a.policyId, reference_values: a.referenceValuesConsulted, ...expiry };
  if (a.failed.length > 0 || !a.appraisal || !a.claims) {
    const f = a.failed[0];
    return { ...base, verdict: 'deny', reason: f ? `evidence failed check "${f.id}": ${f.detail}` : 'evidence was not appraised' };
  }
  // Expired at dry-run time: the attestation would be denied before any resource policy ran.
  const expired = expiredReason(expiry.expired_reference_values);
  if (expired !== undefined) return { ...base, verdict: 'deny', reason: expired, status: a.appraisal.status };
  if (kind === 'attestation') {
    return { ...base, verdict: 'allow', status: a.appraisal.status, claims: redactClaims(a.claims), trace: { trust_vector: a.appraisal.trustVector } };
  }
  const r = await o.resourcePolicy.evaluate(policy, a.claims, { plugin: 'resource', 'resource-path': (path as string).split('/'), query: {} });
  return { ...base, verdict: r.allow ? 'allow' : 'deny', status: a.appraisal.status, claims: redactClaims(a.claims), trace: resourceTrace(r) };
}

export function decisionRoutes(o: DecisionRoutesOptions) {
  const search = o.parameterSearch ?? new DecisionSearch();
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/kbs/v0/decisions', async (req, reply) => {
      try {
        await requireGlobalAdmin(o.admin, req);
        const { filter, limit, beforeId } = decisionQuery((req.query ?? {}) as Record<string, unknown>);
        await o.decisionsWritten?.();
        const page = await listDecisions(o.store, filter, limit, beforeId);
        if (page.next) reply.header(NEXT_CURSOR_HEADER, page.next);
        return send(reply, 200, page.items);
      } catch (e) {
        return sendError(reply, e);
      }
    });

    app.get('/kbs/v0/decisions/:id', async (req, reply) => {
      try {
        await requireGlobalAdmin(o.admin, req);
        await o.decisionsWritten?.();
        const d = await getDecision(o.store, (req.params as { id: string }).id);
        const explain = await explainDecision(o, d);
        // A denied SNP measurement registered from artifacts: the parameter change that reproduces it.
        const parameterSearch = await decisionParameterSearch(o.store, search, d);
        return send(reply, 200, { ...d, ...(explain ? { explain } : {}), ...(parameterSearch ? { parameter_search: parameterSearch } : {}) });
      } catch (e) {
        return sendError(reply, e);
      }
    });

    app.post('/kbs/v0/dry-run', async (req, reply) => {
      try {
        await requireGlobalAdmin(o.admin, req);
        if (!(req.body instanceof Buffer) || req.body.length === 0) throw kbsError('KBS_BODY_MISSING', 'dry-run: request body is empty');
        const body = parseJson(req.body, 'dry-run request');
        if (!isRecord(body)) throw kbsError('KBS_BODY_SHAPE', 'dry-run: body must be a JSON object');
        return send(reply, 200, await evidenceDryRun(o, body));
      } catch (e) {
        return sendError(reply, e);
      }
    });

    app.post('/kbs/v0/decisions/:id/dry-run', async (req, reply) => {
      try {
        await requireGlobalAdmin(o.admin, req);
        await o.decisionsWritten?.();
        const d = await getDecision(o.store, (req.params as { id: string }).id);
        if (!(req.body instanceof Buffer) || req.body.length === 0) throw kbsError('KBS_BODY_MISSING', 'dry-run: request body is empty');
        const body = parseJson(req.body, 'dry-run request');
        if (!isRecord(body)) throw kbsError('KBS_BODY_SHAPE', 'dry-run: body must be a JSON object');
        return send(reply, 200, await dryRun(o, d, body));
      } catch (e) {
        return sendError(reply, e);
      }
    });
  };
}
