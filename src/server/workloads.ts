/**
 * Per-workload registration on the KBS (issue "Per-workload registration", specs/keybroker.md §7):
 *
 * - admin API, scoped to the namespace the admin token names (claim `namespace`):
 *   `POST /kbs/v0/workloads` → `{workload_id, version}`, `GET /kbs/v0/workloads`, `GET|PUT|DELETE
 *   /kbs/v0/workloads/<id>` (GET never returns secrets; PUT needs the `version` it replaces);
 * - guest API: `GET /kbs/v0/workload-resource/<name>` after the normal `/auth` + `/attest`: the workload is
 *   identified from the verified evidence (HOST_DATA[0..16], the session's `extra-params.workload_id`, or the
 *   init-data `workload_id`, as the registration allows), appraised with that registration's policy, and only
 *   that workload's secret is returned, as a JWE to the TEE key of the token;
 * - the keybroker and reference-kbs dialects (compat/), off unless enabled in `[workloads.*]`.
 *
 * Workload secrets live in the store as resources `<namespace>/workload/<workload id>/<name>`. A workload
 * namespace is never `default`, so Trustee's `GET /kbs/v0/resource/<repo>/<type>/<tag>` (default namespace)
 * can never reach them.
 */
import { randomUUID } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CocoError, asCocoError } from '../errors.js';
import { isRecord, parseJson } from '../formats/json.js';
import { encryptToTeeKey } from '../formats/jwe.js';
import { parseTeePubKey } from '../formats/jwk.js';
import type { AttestationService } from '../attestation/service.js';
import {
  WORKLOAD_REPOSITORY,
  checkResourceName,
  defaultPolicy,
  envelope,
  DEFAULT_IDENTIFICATION,
  appraiseRegistration,
  editedPolicy,
  identifyWorkload,
  isUuid,
  queriesPolicyText,
  validateQueries,
  parseRegistrationBody,
  specOf,
  uuidFromHostData,
  validatePolicy,
  workloadIdFromExtraParams,
  type Appraisal,
  type IdentityHint,
  type WorkloadSpec,
} from '../attestation/workload.js';
import { DEFAULT_NAMESPACE, type JsonValue, type SessionRecord, type Store, type StoreTransaction, type WorkloadRecord } from '../store/store.js';
import { canonicalize } from '../formats/jcs.js';
import { AdminAuthorizer } from './admin-auth.js';
import { ERROR_TYPE_PREFIX } from './errors.js';
import { bounded, echo, ECHO_CHARS } from './echo.js';
import { NEXT_CURSOR_HEADER, pageQuery } from './page-query.js';
import { teePubkeyFromClaims, type AttestationTokenVerifier } from './token-verifier.js';
import { keybrokerRoutes } from './compat/keybroker.js';
import type { DecisionLog, DecisionType } from './decisions.js';
import { referenceKbsRoutes } from './compat/reference-kbs.js';
import { adminActorName, explainReferenceValue } from './reference-values.js';

// ---------------------------------------------------------------------------------------------------------
// Configuration: `[workloads.keybroker]` and `[workloads.reference_kbs]`

export interface CompatConfig {
  /** Off by default: these dialects carry no token and wrap secrets in RSA-PKCS#1 v1.5 (§8). */
  enabled: boolean;
  /** Mount point; the dialects reuse `/kbs/v0/auth` and `/kbs/v0/attest`, so they cannot share the root. */
  prefix: string;
  /** The namespace their registrations (and secrets) live in. */
  namespace: string;
  /**
   * buildah and rvp_cli send no credentials. Unless this is set, their registration route needs an admin
   * Bearer token like the native API.
   */
  unauthenticated_registration: boolean;
  /** When non-empty, registration is accepted only from these networks (CIDR). */
  registration_cidrs: string[];
}

export interface WorkloadsConfig {
  keybroker: CompatConfig;
  reference_kbs: CompatConfig;
  /**
   * Offline VCEK cache (Trustee layout, filled by `cocokit snp fetch-vcek`) for the compat dialects, whose
   * evidence carries no VCEK.
   */
  vcek_cache_dir?: string;
}

export const DEFAULT_WORKLOAD_NAMESPACE = 'workloads';

export function defaultWorkloadsConfig(): WorkloadsConfig {
  const base = { enabled: false, unauthenticated_registration: false, registration_cidrs: [] as string[] };
  return {
    keybroker: { ...base, prefix: '/keybroker', namespace: 'keybroker' },
    reference_kbs: { ...base, prefix: '/reference-kbs', namespace: 'reference-kbs', registration_cidrs: [] },
  };
}

function configError(msg: string): never {
  throw new CocoError('KBS_CONFIG', `kbs config: ${msg}`, { kind: 'input' });
}

function parseCidr(c: string): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(c);
  if (!m) configError(`"${c}" is not a CIDR (address/prefix)`);
  const [, address, p] = m!;
  const prefix = Number(p);
  if (isIPv4(address) && prefix <= 32) return { address, prefix, type: 'ipv4' };
  if (isIPv6(address) && prefix <= 128) return { address, prefix, type: 'ipv6' };
  return configError(`"${c}" is not a CIDR (address/prefix)`);
}

/** Validates the `[workloads]` table of the KBS config (unknown keys are errors, as everywhere in it). */
export function workloadsConfigFromToml(t: unknown): WorkloadsConfig {
  const c = defaultWorkloadsConfig();
  if (!isRecord(t)) configError('[workloads] must be a table');
  for (const [name, v] of Object.entries(t)) {
    if (name === 'vcek_cache_dir') {
      if (typeof v !== 'string' || v === '') configError('workloads.vcek_cache_dir must be a directory path');
      c.vcek_cache_dir = v as string;
      continue;
    }
    if (name !== 'keybroker' && name !== 'reference_kbs') configError(`unknown key "${name}" in [workloads] (known: keybroker, reference_kbs, vcek_cache_dir)`);
    if (!isRecord(v)) configError(`[workloads.${name}] must be a table`);
    const out = c[name];
    for (const [k, x] of Object.entries(v)) {
      const where = `workloads.${name}.${k}`;
      if (k === 'enabled' || k === 'unauthenticated_registration') {
        if (typeof x !== 'boolean') configError(`${where} must be a boolean`);
        out[k] = x;
      } else if (k === 'prefix') {
        if (typeof x !== 'string' || !/^(\/[A-Za-z0-9_.-]+)+$/.test(x) || x.startsWith('/kbs')) configError(`${where} must be a path like "/keybroker" outside /kbs`);
        out.prefix = x;
      } else if (k === 'namespace') {
        if (typeof x !== 'string' || !/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/.test(x) || x === DEFAULT_NAMESPACE) configError(`${where} must be a namespace name other than "default"`);
        out.namespace = x;
      } else if (k === 'registration_cidrs') {
        if (!Array.isArray(x) || !x.every((s) => typeof s === 'string')) configError(`${where} must be an array of CIDR strings`);
        for (const s of x as string[]) parseCidr(s);
        out.registration_cidrs = x as string[];
      } else configError(`unknown key "${k}" in [workloads.${name}] (known: enabled, prefix, namespace, unauthenticated_registration, registration_cidrs)`);
    }
  }
  if (c.keybroker.enabled && c.reference_kbs.enabled && c.keybroker.prefix === c.reference_kbs.prefix) configError('workloads.keybroker.prefix and workloads.reference_kbs.prefix must differ');
  return c;
}

// ---------------------------------------------------------------------------------------------------------
// Shared by the native and compat routes

export interface WorkloadRoutesOptions {
  store: Store;
  attestation: AttestationService;
  tokenVerifier: AttestationTokenVerifier;
  admin: AdminAuthorizer;
  sessionMinutes: number;
  extraTeekeyPaths?: string[];
  clock?: () => Date;
  workloads?: WorkloadsConfig;
  /** Where every appraisal and release of a workload is recorded (decisions.ts); none in unit setups. */
  decisions?: DecisionLog;
}

export interface WorkloadContext {
  store: Store;
  attestation: AttestationService;
  admin: AdminAuthorizer;
  sessionMinutes: number;
  clock: () => Date;
  vcekCacheDir?: string;
  decisions?: DecisionLog;
}

/** Which registration, at which version, a verdict compared the claims with: the decision's reference values. */
export function registrationVersion(rec: Pick<WorkloadRecord, 'id' | 'version' | 'updatedAt'>): Record<string, string> {
  return { [`workload/${rec.id}`]: `version ${rec.version}, updated ${rec.updatedAt.toISOString()}` };
}

/**
 * Records one workload decision; the registration (when identified) supplies the reference-value version and
 * the policy hash. An error is recorded with its code and message; a write failure never reaches the guest.
 */
export async function recordWorkloadDecision(
  ctx: WorkloadContext,
  req: FastifyRequest,
  d: { type: DecisionType; tee: string; dialect: string; record?: WorkloadRecord; resource?: string; evidence?: unknown; claims?: unknown; appraisal?: Appraisal; explanations?: Record<string, string>; error?: unknown },
): Promise<void> {
  if (!ctx.decisions) return;
  const err = d.error === undefined ? undefined : asCocoError(d.error);
  await ctx.decisions.record({
    type: d.type,
    client: req.ip,
    tee: d.tee,
    ...(d.evidence === undefined ? {} : { evidence: d.evidence }),
    ...(d.claims === undefined ? {} : { claims: d.claims }),
    ...(d.record ? { workload: d.record.id, policyId: `workload/${d.record.id}`, policyText: d.record.policy, referenceValues: registrationVersion(d.record) } : {}),
    ...(d.resource === undefined ? {} : { resource: d.resource }),
    ...(d.explanations && Object.keys(d.explanations).length > 0 ? { explanations: d.explanations } : {}),
    verdict: err ? (err.kind === 'internal' ? 'error' : 'deny') : 'allow',
    ...(err ? { code: err.code, reason: bounded(err.message) } : d.appraisal ? { reason: d.appraisal.reason } : {}),
    trace: { dialect: d.dialect, ...(d.appraisal ? { rule: d.appraisal.reason, ...d.appraisal.trace } : {}) },
  });
}

export function workloadError(code: string, message: string, kind: CocoError['kind'] = 'input'): CocoError {
  return new CocoError(code, message, { kind });
}

/** Native error body: Trustee's `{type, detail}` plus the code, with the status of the error's kind. */
function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = asCocoError(err);
  const variant = e.kind === 'policy' || e.kind === 'expectation' ? 'PolicyDeny' : e.kind === 'auth' || e.kind === 'forbidden' ? 'AdminAuthAccess' : 'PluginInternalError';
  return reply.code(e.status).header('content-type', 'application/json').send(JSON.stringify({ type: ERROR_TYPE_PREFIX + variant, detail: bounded(e.message), code: e.code }));
}

/** The JSON body of a request; the compat dialects also insist on a JSON content type, as actix and Rocket do. */
export function jsonRequestBody(req: FastifyRequest, what: string, requireJsonType = false): unknown {
  if (requireJsonType && !/^application\/json\b/i.test(String(req.headers['content-type'] ?? ''))) {
    throw workloadError('WORKLOAD_CONTENT_TYPE', `${what}: Content-Type must be application/json`);
  }
  const body = req.body;
  if (!(body instanceof Buffer) || body.length === 0) throw workloadError('WORKLOAD_BODY', `${what}: request body is empty`);
  return parseJson(body, what, 1024 * 1024);
}

export function cookie(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

export function resourceKey(rec: Pick<WorkloadRecord, 'id' | 'namespace'>, name: string) {
  return { namespace: rec.namespace, repository: WORKLOAD_REPOSITORY, type: rec.id, tag: name };
}

export async function secretNames(store: Pick<Store, 'resources'>, rec: Pick<WorkloadRecord, 'id' | 'namespace'>): Promise<string[]> {
  return (await store.resources.list({ namespace: rec.namespace, repository: WORKLOAD_REPOSITORY, type: rec.id })).filter((r) => r.type === rec.id).map((r) => r.tag);
}

/** Replaces the workload's secrets with `resources` (inside the caller's transaction). */
export async function replaceSecrets(tx: StoreTransaction, rec: Pick<WorkloadRecord, 'id' | 'namespace'>, resources: Record<string, Uint8Array>): Promise<void> {
  for (const name of await secretNames(tx, rec)) if (!(name in resources)) await tx.resources.delete(resourceKey(rec, name));
  for (const [name, value] of Object.entries(resources)) await tx.resources.put(resourceKey(rec, name), value);
}

export async function deleteWorkload(tx: StoreTransaction, rec: WorkloadRecord): Promise<void> {
  await tx.workloads.delete(rec.id);
  for (const name of await secretNames(tx, rec)) await tx.resources.delete(resourceKey(rec, name));
}

/**
 * Other workloads of the namespace whose reference values equal these. Appraisal cannot tell such workloads
 * apart: whoever launches the same image with another one's HOST_DATA, or names its id, is judged by the same
 * values — so registration warns (README "Reference values must tell workloads apart").
 */
export async function identicalWorkloads(store: Pick<Store, 'workloads'>, namespace: string, referenceValues: Record<string, JsonValue>, exceptId?: string): Promise<string[]> {
  const mine = canonicalize(referenceValues);
  const out: string[] = [];
  for (const rec of await store.workloads.list(namespace)) {
    if (rec.id === exceptId) continue;
    let theirs: string;
    try {
      theirs = canonicalize(specOf(rec).referenceValues);
    } catch {
      continue;
    }
    if (theirs === mine) out.push(rec.id);
  }
  return out;
}

export function identicalWarning(ids: string[]): string[] {
  if (ids.length === 0) return [];
  const shown = ids.slice(0, 5).join(', ') + (ids.length > 5 ? ` and ${ids.length - 5} more` : '');
  return [`reference values identical to workload(s) ${shown} in this namespace: the evidence of one also satisfies the other, so only the identifying HOST_DATA, init-data or extra-params tells them apart`];
}

/** `registration_cidrs` as a matcher; an empty list allows every address. */
export function cidrMatcher(cidrs: string[]): (ip: string) => boolean {
  if (cidrs.length === 0) return () => true;
  const list = new BlockList();
  for (const c of cidrs) {
    const { address, prefix, type } = parseCidr(c);
    list.addSubnet(address, prefix, type);
  }
  return (ip) => {
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
    if (v4) return list.check(v4, 'ipv4');
    return isIPv4(ip) ? list.check(ip, 'ipv4') : isIPv6(ip) ? list.check(ip, 'ipv6') : false;
  };
}

/**
 * Who may register through a compat route: the caller's address must be in `registration_cidrs`, and unless
 * `unauthenticated_registration` is set, the request needs an admin token like the native API, whose
 * identity may act in the dialect's namespace. With the setting, a request that carries a token is still
 * checked as one. Returns whether the caller is an authorized admin (only an admin may replace a
 * registration, specs/keybroker.md §2.1: reference-kbs' `REPLACE INTO` let anyone overwrite any workload).
 */
export async function authorizeCompatRegistration(ctx: WorkloadContext, cfg: CompatConfig, allowed: (ip: string) => boolean, req: FastifyRequest): Promise<{ admin: boolean }> {
  if (!allowed(req.ip)) throw workloadError('WORKLOAD_REGISTRATION_ADDRESS', `registration from ${req.ip} is not in registration_cidrs`, 'forbidden');
  if (cfg.unauthenticated_registration && req.headers.authorization === undefined) return { admin: ctx.admin.mode === 'InsecureAllowAll' };
  AdminAuthorizer.requireNamespace(await ctx.admin.authorize(req.headers.authorization, req.url), cfg.namespace);
  return { admin: true };
}

/**
 * The session a compat dialect stored under its own cookie name; absent, expired or another dialect's
 * session is an `auth` error.
 */
export async function compatSession<D extends { dialect: string }>(
  ctx: WorkloadContext,
  req: FastifyRequest,
  cookieName: string,
  dialect: D['dialect'],
): Promise<{ s: SessionRecord; d: D }> {
  const id = cookie(req, cookieName);
  if (!id) throw workloadError('WORKLOAD_SESSION_MISSING', `no ${cookieName} cookie`, 'auth');
  const s = await ctx.store.sessions.get(id);
  const d = s?.data as unknown as D | undefined;
  if (!s || !isRecord(d) || d.dialect !== dialect) throw workloadError('WORKLOAD_SESSION_UNKNOWN', 'unknown or expired session', 'auth');
  return { s, d };
}

/** A required string member of a compat request body. */
export function bodyString(o: Record<string, unknown>, k: string, what: string): string {
  if (typeof o[k] !== 'string') throw workloadError('WORKLOAD_BODY', `${what}: "${k}" must be a string`);
  return o[k] as string;
}

// ---------------------------------------------------------------------------------------------------------
// Native routes

/**
 * The namespace an admin request acts in: bound by the admin identity's configured namespaces, chosen among
 * them by the token's `namespace` claim (query `namespace` without auth).
 */
async function adminNamespace(ctx: WorkloadContext, req: FastifyRequest): Promise<string> {
  return (await adminActor(ctx, req)).ns;
}

/** The namespace, and who acts in it as provenance names them: the token's role and subject, or the open door. */
async function adminActor(ctx: WorkloadContext, req: FastifyRequest): Promise<{ ns: string; who: string }> {
  const identity = await ctx.admin.authorize(req.headers.authorization, req.url);
  const who = adminActorName(identity);
  return { ns: namespaceOf(identity, req), who };
}

function namespaceOf(identity: Awaited<ReturnType<WorkloadContext['admin']['authorize']>>, req: FastifyRequest): string {
  let ns: unknown;
  if (identity === undefined) {
    ns = (req.query as Record<string, unknown> | undefined)?.namespace ?? DEFAULT_WORKLOAD_NAMESPACE;
  } else {
    ns = AdminAuthorizer.namespaceFor(identity);
  }
  if (typeof ns !== 'string' || !/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/.test(ns)) throw workloadError('WORKLOAD_NAMESPACE', `namespace ${echo(ns)} is not a valid name`, 'forbidden');
  if (ns === DEFAULT_NAMESPACE) throw workloadError('WORKLOAD_NAMESPACE', 'workloads cannot live in the "default" namespace (it holds the Trustee resource repository)', 'forbidden');
  return ns;
}

/** Provenance as stored: what the client stated, plus who registered it, when, and at which workload version. */
function stampProvenance(p: Record<string, Record<string, JsonValue>>, who: string, version: number): Record<string, JsonValue> {
  const at = new Date().toISOString();
  return Object.fromEntries(Object.entries(p).map(([claim, e]) => [claim, { ...e, registered_by: who, registered_at: at, version }]));
}

/**
 * An update's provenance: what the body states, else the stored record of every reference value the update
 * leaves unchanged (a changed value no longer comes from the recorded artifacts).
 */
function updatedProvenance(current: WorkloadSpec, body: { referenceValues: Record<string, JsonValue>; provenance?: Record<string, Record<string, JsonValue>> }, who: string, version: number): Record<string, JsonValue> | undefined {
  const kept: Record<string, JsonValue> = {};
  for (const [claim, e] of Object.entries(current.provenance ?? {})) {
    if (claim in body.referenceValues && canonicalize(body.referenceValues[claim]) === canonicalize(current.referenceValues[claim])) kept[claim] = e;
  }
  const out = { ...kept, ...(body.provenance ? stampProvenance(body.provenance, who, version) : {}) };
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The first reference value whose recorded provenance has expired, as a denial reason. */
function expiredProvenance(spec: WorkloadSpec, now: Date): string | undefined {
  for (const [claim, e] of Object.entries(spec.provenance ?? {})) {
    const exp = isRecord(e) && typeof e.expires === 'string' ? Date.parse(e.expires) : NaN;
    if (!Number.isNaN(exp) && exp <= now.getTime()) return `reference value ${claim} expired at ${new Date(exp).toISOString()}`;
  }
  return undefined;
}

/**
 * For a denial: why each reference value of the registration that the evidence does not match differs, from
 * its provenance — the first differing event of a PCR or RTMR, the registered computation of an SNP
 * measurement and the command that searches the parameters next to it (the artifacts stay with the
 * operator) — in the words an RVPS value's explanation uses (`explainReferenceValue`).
 */
export function registrationExplanations(spec: WorkloadSpec, tee: string, claims: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [claim, provenance] of Object.entries(spec.provenance ?? {})) {
    if (!(claim in spec.referenceValues)) continue;
    const why = explainReferenceValue(claim, spec.referenceValues[claim], provenance, { tee, claims }, claims[claim]);
    if (why !== undefined) out[claim] = why;
  }
  return out;
}

/** A registration's policy denial, its explanations appended to the reason (the decision record keeps them apart). */
export function registrationDenial(what: string, verdict: Appraisal, explanations: Record<string, string>): CocoError {
  const why = Object.entries(explanations).map(([k, v]) => `; ${k}: ${v}`).join('');
  return workloadError('WORKLOAD_POLICY_DENY', `${what}: ${verdict.reason}${why}`, 'policy');
}

async function ownWorkload(ctx: WorkloadContext, ns: string, id: string): Promise<WorkloadRecord> {
  const rec = await ctx.store.workloads.get(id);
  // Another namespace's workload is reported exactly like a missing one.
  if (!rec || rec.namespace !== ns) throw workloadError('WORKLOAD_NOT_FOUND', `workload ${id} does not exist in namespace ${ns}`, 'notfound');
  return rec;
}

async function describeWorkload(store: Store, rec: WorkloadRecord): Promise<Record<string, unknown>> {
  const spec = specOf(rec);
  return {
    workload_id: rec.id,
    namespace: rec.namespace,
    tee: rec.tee,
    dialect: spec.dialect,
    identify: spec.identify,
    reference_values: spec.referenceValues,
    ...(spec.provenance ? { provenance: spec.provenance } : {}),
    ...(spec.queries ? { queries: spec.queries } : { policy: rec.policy }),
    resources: await secretNames(store, rec),
    version: rec.version,
    created: rec.createdAt.toISOString(),
    updated: rec.updatedAt.toISOString(),
  };
}

/** The guest's verified claims: the attested session's token, else a Bearer token (as the resource route). */
async function guestClaims(o: WorkloadRoutesOptions, req: FastifyRequest): Promise<{ claims: Record<string, unknown>; extraParams: unknown }> {
  let token: string | undefined;
  let extraParams: unknown;
  const id = cookie(req, 'kbs-session-id');
  if (id) {
    const s = await o.store.sessions.get(id);
    if (s?.state === 'attested' && s.token) {
      token = s.token;
      extraParams = isRecord(s.data) ? s.data['extra-params'] : undefined;
    }
  }
  token ??= /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (!token) throw workloadError('WORKLOAD_TOKEN_MISSING', 'no attested kbs-session-id cookie and no Bearer attestation token', 'auth');
  return { claims: (await o.tokenVerifier.verify(token)) as Record<string, unknown>, extraParams };
}

function annotatedEvidence(claims: Record<string, unknown>): Record<string, unknown> {
  const sub = isRecord(claims.submods) ? claims.submods.cpu0 : undefined;
  const ae = isRecord(sub) ? sub['ear.veraison.annotated-evidence'] : undefined;
  if (!isRecord(ae)) throw workloadError('WORKLOAD_CLAIMS', 'the attestation token carries no annotated evidence (verbose_token must be on for workload resources)', 'policy');
  return ae;
}

export function native(o: WorkloadRoutesOptions, ctx: WorkloadContext) {
  return async (app: FastifyInstance): Promise<void> => {
    const audit = (kind: string, subject: string, outcome: string, detail?: Record<string, string>) =>
      ctx.store.audit.append({ kind, subject, outcome, ...(detail ? { detail } : {}) });

    app.post('/kbs/v0/workloads', async (req, reply) => {
      try {
        const { ns, who } = await adminActor(ctx, req);
        const body = parseRegistrationBody(jsonRequestBody(req, 'workload registration'), 'create');
        if (!ctx.attestation.verifiers.has(body.tee)) throw workloadError('WORKLOAD_TEE', `tee ${echo(body.tee)} is not enabled on this KBS`, 'unsupported');
        if (body.queries) validateQueries(body.queries);
        const policy = body.queries ? queriesPolicyText(body.queries) : (body.policy ?? defaultPolicy(body.referenceValues));
        if (!body.queries) validatePolicy(policy);
        const id = body.workloadId ?? randomUUID();
        const spec: WorkloadSpec = {
          referenceValues: body.referenceValues,
          identify: body.identify ?? [...DEFAULT_IDENTIFICATION],
          dialect: 'native',
          ...(body.queries ? { queries: body.queries } : {}),
          ...(body.provenance ? { provenance: stampProvenance(body.provenance, who, 1) } : {}),
        };
        const warnings = identicalWarning(await identicalWorkloads(ctx.store, ns, body.referenceValues));
        // One transaction: a crash never leaves a registration without its secrets or its audit row.
        const rec = await ctx.store
          .transaction(async (tx) => {
            const rec = await tx.workloads.put({ id, namespace: ns, tee: body.tee, referenceValues: envelope(spec), policy }, 0);
            await replaceSecrets(tx, rec, body.resources ?? {});
            await tx.audit.append({ kind: 'admin.workload.create', subject: id, outcome: 'ok', detail: { namespace: ns, ...(warnings.length ? { warning: 'identical reference values' } : {}) } });
            return rec;
          })
          .catch((e) => {
            if (e instanceof CocoError && e.code === 'STORE_CONFLICT') throw workloadError('WORKLOAD_EXISTS', `workload ${id} already exists`, 'conflict');
            throw e;
          });
        for (const w of warnings) req.log.warn({ workload: id, namespace: ns }, w);
        return reply.code(201).header('content-type', 'application/json').send(JSON.stringify({ workload_id: id, version: rec.version, ...(warnings.length ? { warnings } : {}) }));
      } catch (e) {
        return sendError(reply, e);
      }
    });

    app.get('/kbs/v0/workloads', async (req, reply) => {
      try {
        const ns = await adminNamespace(ctx, req);
        // One bounded page per request; `x-next-cursor` names the next one (`?cursor=…&limit=…`).
        const q = Object.fromEntries(Object.entries((req.query ?? {}) as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
        const page = await ctx.store.workloads.page(ns, pageQuery(q));
        if (page.next) reply.header(NEXT_CURSOR_HEADER, page.next);
        const out = [];
        for (const rec of page.items) out.push(await describeWorkload(ctx.store, rec));
        return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(out));
      } catch (e) {
        return sendError(reply, e);
      }
    });

    app.get('/kbs/v0/workloads/:id', async (req, reply) => {
      try {
        const ns = await adminNamespace(ctx, req);
        const rec = await ownWorkload(ctx, ns, (req.params as { id: string }).id);
        return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(await describeWorkload(ctx.store, rec)));
      } catch (e) {
        return sendError(reply, e);
      }
    });

    app.put('/kbs/v0/workloads/:id', async (req, reply) => {
      try {
        const { ns, who } = await adminActor(ctx, req);
        const id = (req.params as { id: string }).id;
        const current = await ownWorkload(ctx, ns, id);
        const body = parseRegistrationBody(jsonRequestBody(req, 'workload update'), 'update');
        if (body.workloadId !== undefined && body.workloadId !== id) throw workloadError('WORKLOAD_BODY', 'workload_id in the body differs from the path');
        if (body.tee !== current.tee) throw workloadError('WORKLOAD_BODY', `tee cannot change (${current.tee} → ${echo(body.tee)}); register a new workload`);
        const currentSpec = specOf(current);
        // What the body leaves out is kept: a PUT through this door never loosens what another door stored.
        const identify = body.identify ?? currentSpec.identify;
        if (identify.includes('host_data') && !isUuid(id)) throw workloadError('WORKLOAD_BODY', 'host_data identification needs a UUID workload id');
        if (body.queries) validateQueries(body.queries);
        const { policy, queries } = editedPolicy({ spec: currentSpec, policy: current.policy }, body);
        if (!queries) validatePolicy(policy);
        const provenance = updatedProvenance(currentSpec, body, who, current.version + 1);
        const spec: WorkloadSpec = { referenceValues: body.referenceValues, identify, dialect: currentSpec.dialect, ...(queries ? { queries } : {}), ...(provenance ? { provenance } : {}) };
        const warnings = identicalWarning(await identicalWorkloads(ctx.store, ns, body.referenceValues, id));
        const rec = await ctx.store
          .transaction(async (tx) => {
            const rec = await tx.workloads.put({ id, namespace: ns, tee: body.tee, referenceValues: envelope(spec), policy }, body.version);
            if (body.resources) await replaceSecrets(tx, rec, body.resources);
            await tx.audit.append({ kind: 'admin.workload.update', subject: id, outcome: 'ok', detail: { namespace: ns, version: String(rec.version) } });
            return rec;
          })
          .catch((e) => {
            if (e instanceof CocoError && e.code === 'STORE_CONFLICT') throw workloadError('WORKLOAD_VERSION', `workload ${id} is not at version ${body.version} any more; GET it and retry`, 'conflict');
            throw e;
          });
        for (const w of warnings) req.log.warn({ workload: id, namespace: ns }, w);
        return reply.code(200).header('content-type', 'application/json').send(JSON.stringify({ workload_id: id, version: rec.version, ...(warnings.length ? { warnings } : {}) }));
      } catch (e) {
        return sendError(reply, e);
      }
    });

    app.delete('/kbs/v0/workloads/:id', async (req, reply) => {
      try {
        const ns = await adminNamespace(ctx, req);
        const rec = await ownWorkload(ctx, ns, (req.params as { id: string }).id);
        await ctx.store.transaction(async (tx) => {
          await deleteWorkload(tx, rec);
          await tx.audit.append({ kind: 'admin.workload.delete', subject: rec.id, outcome: 'ok', detail: { namespace: ns } });
        });
        return reply.code(200).send('');
      } catch (e) {
        return sendError(reply, e);
      }
    });

    app.get('/kbs/v0/workload-resource/:name', async (req, reply) => {
      let subject = 'unknown';
      // What the decision record says, filled in as the request gets that far.
      const seen: { tee: string; record?: WorkloadRecord; resource?: string; claims?: unknown; appraisal?: Appraisal; explanations?: Record<string, string> } = { tee: 'unknown' };
      try {
        const name = checkResourceName((req.params as { name: string }).name);
        const { claims, extraParams } = await guestClaims(o, req);
        seen.claims = claims;
        const ae = annotatedEvidence(claims);
        const tee = ['snp', 'tdx', 'sample', 'az-snp-vtpm', 'az-tdx-vtpm', 'cca', 'sgx', 'se', 'csv'].find((t) => isRecord(ae[t]));
        if (tee) seen.tee = tee;
        if (!tee) throw workloadError('WORKLOAD_CLAIMS', 'the attestation token names no TEE claims', 'policy');
        const teeClaims = ae[tee] as Record<string, unknown>;
        // SNP's HOST_DATA is the `init_data` claim of Trustee's SNP verifier (kbs-protocol.md §3.2).
        // The attestation service lifts it to the top of the annotated evidence (kbs-protocol.md §3.3).
        const hd = tee === 'snp' ? (teeClaims.init_data ?? ae.init_data) : undefined;
        const hostData = typeof hd === 'string' ? hd : undefined;
        const hints: IdentityHint[] = [];
        if (hostData && /^[0-9a-f]{64}$/.test(hostData) && !/^0+$/.test(hostData)) hints.push({ source: 'host_data', id: uuidFromHostData(Buffer.from(hostData, 'hex')) });
        const fromExtra = workloadIdFromExtraParams(extraParams);
        if (fromExtra) hints.push({ source: 'extra_params', id: fromExtra });
        const idc = isRecord(ae.init_data_claims) ? ae.init_data_claims.workload_id : undefined;
        if (typeof idc === 'string') hints.push({ source: 'init_data', id: idc });
        const asked = (req.query as Record<string, unknown> | undefined)?.workload_id;
        const { record, spec, source } = await identifyWorkload(hints, (id) => ctx.store.workloads.get(id));
        subject = record.id;
        seen.record = record;
        seen.resource = `workload/${record.id}/${name}`;
        if (asked !== undefined && asked !== record.id) throw workloadError('WORKLOAD_MISMATCH', `this session is attested for workload ${record.id}, not ${bounded(String(asked), ECHO_CHARS)}`, 'forbidden');
        if (spec.dialect !== 'native') throw workloadError('WORKLOAD_DIALECT', `workload ${record.id} was registered through ${spec.dialect}; use that route`, 'forbidden');
        if (record.tee !== tee) throw workloadError('WORKLOAD_TEE', `workload ${record.id} is registered for ${record.tee}, the evidence is ${tee}`, 'policy');
        // TDX measurements live in the quote body (`quote.body.mr_td`, …): a registration names them directly.
        const quote = tee === 'tdx' && isRecord(teeClaims.quote) && isRecord(teeClaims.quote.body) ? teeClaims.quote.body : {};
        const input = { ...quote, ...teeClaims, ...(hostData ? { host_data: hostData } : {}), tee };
        const expired = expiredProvenance(spec, ctx.clock());
        if (expired) throw workloadError('WORKLOAD_RV_EXPIRED', `workload ${record.id}: ${expired}`, 'policy');
        const verdict = appraiseRegistration(record, spec, input);
        seen.appraisal = verdict;
        if (!verdict.allow) {
          seen.explanations = registrationExplanations(spec, tee, input);
          throw registrationDenial(`workload ${record.id} policy denied`, verdict, seen.explanations);
        }
        const value = await ctx.store.resources.get(resourceKey(record, name));
        if (value === undefined) throw workloadError('WORKLOAD_RESOURCE_NOT_FOUND', `workload ${record.id} has no resource ${name}`, 'notfound');
        const teeKey = parseTeePubKey(teePubkeyFromClaims(claims, o.extraTeekeyPaths));
        await audit('kbs.workload.resource', `${record.id}/${name}`, 'ok', { identified_by: source });
        await recordWorkloadDecision(ctx, req, { type: 'release', dialect: 'native', ...seen });
        return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(encryptToTeeKey(value, teeKey)));
      } catch (e) {
        await audit('kbs.workload.resource', subject, 'denied', { reason: asCocoError(e).message.slice(0, 500) }).catch(() => undefined);
        await recordWorkloadDecision(ctx, req, { type: 'release', dialect: 'native', ...seen, error: e });
        return sendError(reply, e);
      }
    });
  };
}

/** The fastify plugin: native routes always, compat dialects when enabled. */
export function workloadRoutes(o: WorkloadRoutesOptions) {
  const cfg = o.workloads ?? defaultWorkloadsConfig();
  const ctx: WorkloadContext = {
    store: o.store,
    attestation: o.attestation,
    admin: o.admin,
    sessionMinutes: o.sessionMinutes,
    clock: o.clock ?? (() => new Date()),
    vcekCacheDir: cfg.vcek_cache_dir,
    ...(o.decisions ? { decisions: o.decisions } : {}),
  };
  return async (app: FastifyInstance): Promise<void> => {
    await native(o, ctx)(app);
    if (cfg.keybroker.enabled) await app.register(keybrokerRoutes(ctx, cfg.keybroker), { prefix: cfg.keybroker.prefix });
    if (cfg.reference_kbs.enabled) await app.register(referenceKbsRoutes(ctx, cfg.reference_kbs), { prefix: cfg.reference_kbs.prefix });
  };
}

