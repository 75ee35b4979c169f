/**
 * The KBS HTTP service (Fastify): protocol 0.4.0 (`/auth`, `/attest`, resource GET), the admin API, `/healthz`
 * and `/metrics` (specs/kbs-protocol.md §1.1). Everything under `/kbs/v0/` goes through one dispatcher that
 * routes on the raw URL, as Trustee's `api_server.rs` does, so path validation sees the bytes the client sent.
 */
import { randomUUID } from 'node:crypto';
import { randomBytesPooled } from '../formats/random.js';
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import Fastify, { errorCodes, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import { CocoError } from '../errors.js';
import { fromBase64, fromBase64Url, utf8 } from '../formats/bytes.js';
import { isRecord, parseJson } from '../formats/json.js';
import { encryptToTeeKey } from '../formats/jwe.js';
import { parseTeePubKey } from '../formats/jwk.js';
import type { AttestationService } from '../attestation/service.js';
import { parseInitDataMessage } from '../attestation/init-data.js';
import type { ResourcePolicyEvaluator } from '../policy/types.js';
import type { AttestationPolicyEvaluator } from '../policy/types.js';
import type { JsonValue, SessionRecord, Store } from '../store/store.js';
import type { AdminAuthorizer } from './admin-auth.js';
import { AuthLimiter, type AuthLimits } from './auth-limiter.js';
import { bounded, echo, ECHO_CHARS } from './echo.js';
import { errorResponse, kbsError, policyParseError, type ErrorVariant } from './errors.js';
import { KbsMetrics } from './metrics.js';
import { loadRego, regoLoaded } from '../rego/lazy.js';
import { NEXT_CURSOR_HEADER, pageQuery } from './page-query.js';
import { parseKbsUrl, resourcePath, type KbsRoute } from './resource-path.js';
import { sessionTokenClaims, teePubkeyFromClaims, type AttestationTokenVerifier } from './token-verifier.js';
import { workloadRoutes, type WorkloadsConfig } from './workloads.js';
import { DecisionLog } from './decisions.js';
import { defaultAttestationPolicy } from '../policy/builtin.js';
import { decisionRoutes } from './decision-routes.js';
import { consoleRoutes } from './console.js';
import { adminActorName, describeReferenceValue, explainMismatches, referenceValueNote, registerReferenceValues } from './reference-values.js';

export const PROTOCOL_VERSION = '0.4.0';
export const SESSION_COOKIE = 'kbs-session-id';
export const RESOURCE_POLICY_ID = 'resource-policy';

/** kbs-types `Tee` values (specs/kbs-protocol.md §1.3); anything else is not a KBS request. */
export const KNOWN_TEES = [
  'az-snp-vtpm', 'az-tdx-vtpm', 'nvidia', 'nvidia-dpu', 'sgx', 'snp', 'tdx', 'cca', 'csv', 'se', 'hygondcu', 'tpm', 'sample', 'sampledevice',
];

/** HTTPS material and the `http_server.tls_*` settings, in node:tls terms. */
export interface KbsTls {
  key: string;
  cert: string;
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  ciphers?: string;
  ecdhCurve?: string;
}

export interface KbsAppOptions {
  store: Store;
  attestation: AttestationService;
  attestationPolicy: AttestationPolicyEvaluator;
  resourcePolicy: ResourcePolicyEvaluator;
  tokenVerifier: AttestationTokenVerifier;
  admin: AdminAuthorizer;
  /** Session lifetime in minutes (`attestation_service.timeout`). */
  sessionMinutes: number;
  /** Request body limit in bytes. */
  bodyLimit: number;
  /** PEM key and certificate chain (and TLS profile settings); plain HTTP when absent. */
  tls?: KbsTls;
  extraTeekeyPaths?: string[];
  clock?: () => Date;
  /** 32 random bytes for each challenge nonce (injected for tests). */
  randomNonce?: () => Uint8Array;
  /**
   * Replays recorded evidence (published test vectors) through the whole HTTP path. Library option only: no
   * configuration key and no request can set it. See {@link RecordedEvidenceReplay}.
   */
  recordedEvidence?: RecordedEvidenceReplay;
  logger?: Logger;
  metrics?: KbsMetrics;
  version?: string;
  /** Per-workload registration and the keybroker / reference-kbs dialects (`[workloads]`). */
  workloads?: WorkloadsConfig;
  /** Admission control of `POST /kbs/v0/auth` (`[http_server]` auth_rate_per_sec, auth_burst, max_pending_sessions); none when absent. */
  authLimits?: AuthLimits;
  /** Seconds a client has for its request headers and for its whole request (`[http_server]`); Node's defaults when absent. */
  timeouts?: { headerSecs: number; requestSecs: number };
  /** Bytes of evidence a decision record keeps a copy of (its digest is always kept); decisions.ts default when absent. */
  decisionEvidenceBytes?: number;
  /** The store backend's name, shown on the console's overview (`sqlite`, `postgres`, …). */
  storeKind?: string;
}

/**
 * Recorded evidence was produced for a challenge of its own, and binds that challenge's bytes as its report
 * data rather than the digest of this KBS's runtime data (`{nonce, tee-pubkey}`, specs/kbs-protocol.md §1.5).
 * With this replay on, each `/auth` issues `challenge()` as its nonce and the evidence of the session must bind
 * exactly those bytes. Everything else is unchanged: the session's nonce must be echoed, a challenge is still
 * consumed by its first attestation (a second session issued the same challenge is refused), and the secret is
 * still encrypted to the session's `tee-pubkey` — which the recorded evidence does not bind, which is why this
 * never belongs in a deployment.
 */
export interface RecordedEvidenceReplay {
  /** The challenge bytes for the next `/auth`: the report data the recorded evidence binds. */
  challenge: () => Uint8Array;
}

export interface KbsApp {
  app: FastifyInstance;
  metrics: KbsMetrics;
  /** The decision log this app writes (decisions.ts). */
  decisions: DecisionLog;
  /** Requests answered by the plain node:http path rather than through fastify (see `plain.path` in buildKbsApp). */
  fastPathRequests: () => number;
}

/** A protocol request as its route sees it, whether it came through fastify or the plain node:http path. */
interface ProtocolRequest {
  method: string;
  /** The raw URL, query string included. */
  url: string;
  headers: IncomingHttpHeaders;
  ip: string;
  /** The body bytes; anything else (no body) is refused as a missing body. */
  body: unknown;
}

/** A protocol answer, written in one go: status, headers and the body text. */
interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A JSON answer; the media type carries the charset fastify's reply adds to a JSON type without one. */
const json = (status: number, body: string, headers?: Record<string, string>): Answer => ({ status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body });

function sessionCookie(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === SESSION_COOKIE) return v.join('=');
  }
  return undefined;
}

/** `Set-Cookie` exactly as Trustee writes it: name=value and `Expires` only (§1.3). */
function sessionCookieHeader(s: SessionRecord): Record<string, string> {
  return { 'set-cookie': `${SESSION_COOKIE}=${s.id}; Expires=${s.expiresAt.toUTCString()}` };
}

/** The TEE a token's claims were issued for: the first EAR submodule's annotated-evidence key. */
function teeOfClaims(claims: Record<string, unknown>): string {
  const sub = isRecord(claims.submods) ? Object.values(claims.submods)[0] : undefined;
  const ae = isRecord(sub) ? sub['ear.veraison.annotated-evidence'] : undefined;
  return isRecord(ae) ? (Object.keys(ae)[0] ?? 'unknown') : 'unknown';
}

function send(reply: FastifyReply, a: Answer): FastifyReply {
  return reply.code(a.status).headers(a.headers).send(a.body);
}

function jsonBody(body: unknown, what: string): Record<string, unknown> {
  if (!(body instanceof Buffer) || body.length === 0) throw kbsError('KBS_BODY_MISSING', `${what}: request body is empty`);
  const v = parseJson(body, what);
  if (!isRecord(v)) throw kbsError('KBS_BODY_SHAPE', `${what}: body must be a JSON object`);
  return v;
}

function field<T>(obj: Record<string, unknown>, key: string, what: string, test: (v: unknown) => v is T, want: string): T {
  const v = obj[key];
  if (!test(v)) throw kbsError('KBS_BODY_SHAPE', `${what}: "${key}" must be ${want}`);
  return v;
}
const isString = (v: unknown): v is string => typeof v === 'string';
const hasKeys = (o: object): boolean => {
  for (const _k in o) return true;
  return false;
};

/** The path of a request as logged: no query string, and no more of it than a log line should hold. */
function logPath(req: { url: string }): string {
  return bounded(req.url.split('?')[0], 256);
}

/**
 * The URLs the plain node:http path takes: the three protocol routes, spelt with characters that need no
 * decoding (anything else, percent-encoding included, goes through fastify's router as before).
 */
const FAST_RESOURCE_URL = /^\/kbs\/v0\/resource\/[A-Za-z0-9_./-]*(?:\?[A-Za-z0-9_.=&-]*)?$/;
const DECIMAL = /^\d{1,15}$/;

export async function buildKbsApp(o: KbsAppOptions): Promise<KbsApp> {
  const clock = o.clock ?? (() => new Date());
  const log = o.logger ?? pino({ level: 'silent' });
  const metrics = o.metrics ?? new KbsMetrics(o.version ?? '0.1.0');
  if (o.recordedEvidence) log.warn('RECORDED EVIDENCE REPLAY: challenges are fixed and evidence does not bind the session key; for test vectors only');
  // Node checks header and request deadlines only every `connectionsCheckingInterval` (30 s by default), so a
  // slow client would keep its socket far past the configured timeout; check often enough to honour it.
  const serverTimeouts = o.timeouts
    ? {
        headersTimeout: Math.round(o.timeouts.headerSecs * 1000),
        requestTimeout: Math.round(o.timeouts.requestSecs * 1000),
        connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.round((o.timeouts.headerSecs * 1000) / 4))),
      }
    : {};
  // The protocol routes every guest calls are answered on node:http directly (`plain.path` below) and the rest
  // by fastify; the server is made here as fastify would make it, with the same settings and TLS.
  const plain: { path?: (req: IncomingMessage, res: ServerResponse) => boolean } = {};
  const serverFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void, opts: Record<string, any>): Server => {
    const serve = (req: IncomingMessage, res: ServerResponse): void => {
      if (!plain.path?.(req, res)) handler(req, res);
    };
    const server = (opts.https ? createHttpsServer(opts.https, serve) : createHttpServer(opts.http as ServerOptions, serve)) as Server;
    server.keepAliveTimeout = opts.keepAliveTimeout;
    server.requestTimeout = opts.requestTimeout;
    server.setTimeout(opts.connectionTimeout);
    if (opts.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
    return server;
  };
  const app = Fastify({
    serverFactory,
    // Under TLS the header deadline starts after the handshake, which Node otherwise allows 120 s.
    ...(o.tls
      ? { https: { minVersion: 'TLSv1.2' as const, ...o.tls, ...serverTimeouts, ...(o.timeouts ? { handshakeTimeout: serverTimeouts.headersTimeout } : {}) } }
      : { http: serverTimeouts }),
    ...(o.timeouts ? { requestTimeout: serverTimeouts.requestTimeout } : {}),
    loggerInstance: log as unknown as FastifyBaseLogger,
    bodyLimit: o.bodyLimit,
    // Request ids are not needed and the default request log would include the query string only.
    disableRequestLogging: true,
    // `req.log` is the app's logger itself: a child logger bound to a request id cost every request an
    // allocation that no line of its own used.
    childLoggerFactory: (logger) => logger,
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // The hooks that run on every request take fastify's callback form: an async hook costs each request a
  // promise and its settling for work that never waits.
  app.addHook('onRequest', (req, _reply, done) => {
    (req as any).kbsStart = process.hrtime.bigint();
    if (req.url.startsWith('/kbs/')) metrics.activeConnections.inc();
    done();
  });

  // The Rego engine is loaded on demand (a server answers /healthz before it has parsed it): every route but
  // the health and metrics ones waits for it, so the policy and workload code below may use it synchronously.
  app.addHook('onRequest', (req, _reply, done) => {
    if (regoLoaded() || req.url === '/healthz' || req.url === '/metrics') return done();
    loadRego().then(() => done(), done);
  });

  // Admission control of every route that opens a session (the native `/kbs/v0/auth` and the compat
  // dialects' under their prefixes), before the body is read. A session is counted as pending from the
  // auth answer that sets its cookie until the attest answer for that cookie.
  const limiter = o.authLimits ? new AuthLimiter(o.authLimits, () => clock().getTime()) : undefined;
  if (limiter) {
    // By the route that matched, not the raw URL, so a percent-encoded spelling of a compat route is caught too;
    // the native dispatcher matches `/kbs/v0/*` and routes on the raw path, exactly.
    const endpoint = (req: FastifyRequest): string | undefined => {
      if (req.method !== 'POST') return undefined;
      const pattern = req.routeOptions.url ?? '';
      return /\/kbs\/v0\/(auth|attest)$/.exec(pattern === '/kbs/v0/*' ? req.url.split('?')[0] : pattern)?.[1];
    };
    app.addHook('onRequest', (req, reply, done) => {
      if (endpoint(req) !== 'auth') return done();
      const refusal = refuseAuth(req.ip);
      if (!refusal) return done();
      // Answered here: the request goes no further (done is not called).
      void send(reply, refusal);
    });
    app.addHook('onSend', (req, reply, payload, done) => {
      const which = endpoint(req);
      if (which) settle(which, reply.statusCode, reply.getHeader('set-cookie'), req.headers.cookie);
      done(null, payload);
    });
  }
  // A flood must not become a flood of warnings too: refusals are counted and summarised every 10 s.
  const refused = { rate: 0, pending: 0, loggedAtMs: 0 };
  /** The 429 answer to an auth request the limiter does not admit, or undefined when admitted (a token is taken). */
  function refuseAuth(ip: string): Answer | undefined {
    if (!limiter) return undefined;
    const admission = limiter.admit(ip);
    if (admission.ok) return undefined;
    metrics.authRequests.inc();
    metrics.authRateLimited.inc();
    refused[admission.reason]++;
    const nowMs = clock().getTime();
    if (nowMs - refused.loggedAtMs >= 10_000) {
      log.warn({ event: 'auth.admission', rate: refused.rate, pending: refused.pending }, 'auth requests refused (429) since the last report');
      Object.assign(refused, { rate: 0, pending: 0, loggedAtMs: nowMs });
    }
    const err =
      admission.reason === 'rate'
        ? kbsError('KBS_AUTH_RATE', `too many auth requests from this client; retry after ${admission.retryAfterSecs} s`, 'limit')
        : kbsError('KBS_AUTH_PENDING', `too many sessions await attestation; retry after ${admission.retryAfterSecs} s`, 'limit');
    const r = errorResponse(err, 'AttestationError');
    return json(r.status, JSON.stringify(r.body), { 'retry-after': String(admission.retryAfterSecs) });
  }
  /** Pending-session bookkeeping once an auth or attest request is answered: opened by its cookie, settled by the attest. */
  function settle(which: string, status: number, setCookie: unknown, cookie: string | undefined): void {
    if (!limiter || status !== 200) return;
    if (which === 'auth') {
      const id = /^[^=;]+=([^;]*)/.exec(String(setCookie ?? ''))?.[1];
      if (id) limiter.opened(id, clock().getTime() + o.sessionMinutes * 60_000);
    } else {
      for (const part of (cookie ?? '').split(';')) limiter.settled(part.slice(part.indexOf('=') + 1).trim());
    }
  }

  /** The per-request metrics and debug line of a `/kbs/` request, once it is answered. */
  function answered(method: string, url: string, startNs: bigint, requestLength: string | undefined, status: number, responseLength: unknown): void {
    metrics.activeConnections.dec();
    metrics.httpRequests.inc();
    metrics.httpDuration.observe(Number(process.hrtime.bigint() - startNs) / 1e9);
    metrics.requestSize.observe(Number(requestLength ?? 0));
    metrics.responseSize.observe(Number(responseLength ?? 0));
    // Method, path and status only: never query strings, headers, cookies, bodies, nonces or tokens. At debug:
    // at info a flow logs its outcomes only (an attestation, a release, a refusal at warn), one line each, since
    // a line per request cost a flow more than its SQL did.
    if (log.isLevelEnabled('debug')) log.debug({ method, path: logPath({ url }), status }, 'request');
  }
  app.addHook('onResponse', (req, reply, done) => {
    if (!req.url.startsWith('/kbs/')) return done();
    answered(req.method, req.url, (req as any).kbsStart, req.headers['content-length'], reply.statusCode, reply.getHeader('content-length'));
    done();
  });

  /** The answer to an error no route caught (fastify's own: body limit, body read, content length). */
  function errorAnswer(err: unknown, req: { url: string }): Answer {
    let e: unknown = err;
    const code = (err as { code?: string }).code;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = kbsError('KBS_BODY_LIMIT', `request body larger than ${o.bodyLimit} bytes`, 'limit');
    else if (typeof code === 'string' && code.startsWith('FST_')) e = kbsError('KBS_SERDE', (err as Error).message);
    const r = errorResponse(e, 'AttestationError');
    if (r.status === 500) log.error({ code: r.error.code, path: logPath(req) }, r.body.detail);
    return json(r.status, JSON.stringify(r.body));
  }
  app.setErrorHandler((err, req, reply) => void send(reply, errorAnswer(err, req)));

  /** Audit events never carry session ids, nonces, tokens or secret values; a failing audit write is logged, not fatal. */
  async function audit(kind: string, subject: string, outcome: string, detail?: unknown): Promise<void> {
    try {
      await o.store.audit.append({ kind, subject, outcome, ...(detail === undefined ? {} : { detail: JSON.parse(JSON.stringify(detail)) as JsonValue }) });
    } catch (e) {
      log.error({ kind, code: (e as { code?: string }).code }, 'audit write failed');
    }
  }

  // Records are written in batches off the request path; closing the app writes what is still queued.
  const decisions = new DecisionLog(o.store, { logger: log, clock, ...(o.decisionEvidenceBytes === undefined ? {} : { evidenceMaxBytes: o.decisionEvidenceBytes }) });
  app.addHook('onClose', () => decisions.close());

  /** The error answer of a route, logged at warn (code and path, never the request's content). */
  function failure(req: { url: string }, err: unknown, fallback: ErrorVariant): Answer {
    const r = errorResponse(err, fallback);
    log.warn({ path: logPath(req), code: r.error.code, variant: r.variant, status: r.status }, r.body.detail);
    return json(r.status, JSON.stringify(r.body));
  }
  async function fail(reply: FastifyReply, req: FastifyRequest, err: unknown, fallback: ErrorVariant): Promise<FastifyReply> {
    return send(reply, failure(req, err, fallback));
  }

  app.get('/healthz', async (_req, reply) => reply.code(200).send(''));
  app.get('/metrics', async (_req, reply) => reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.route({ method: ['POST', 'PUT', 'DELETE', 'PATCH'], url: '/metrics', handler: async (_req, reply) => reply.code(405).send('') });

  // ---- protocol ---------------------------------------------------------------------------------------

  async function auth(req: ProtocolRequest): Promise<Answer> {
    metrics.authRequests.inc();
    try {
      const body = jsonBody(req.body, 'auth request');
      const version = field(body, 'version', 'auth request', isString, 'a string');
      if (version !== PROTOCOL_VERSION) {
        // Trustee's exact wording (§1.2), so existing tooling recognises it.
        throw kbsError('KBS_VERSION_MISMATCH', `Attestation error: RCAR handshake Auth failed: KBS Client Protocol Version Mismatch: expect =${PROTOCOL_VERSION} while the request is ${bounded(version, ECHO_CHARS)}`);
      }
      const tee = field(body, 'tee', 'auth request', isString, 'a string');
      if (!KNOWN_TEES.includes(tee)) throw kbsError('KBS_TEE_UNKNOWN', `auth request: unknown tee ${echo(tee)}`);
      if (!o.attestation.verifiers.has(tee)) throw kbsError('KBS_TEE_DISABLED', `tee "${tee}" is not enabled on this KBS (enabled: ${o.attestation.verifiers.tees().join(', ') || 'none'})`, 'unsupported');
      if (!('extra-params' in body)) throw kbsError('KBS_BODY_SHAPE', 'auth request: "extra-params" is missing');
      const now = clock();
      const nonce = Buffer.from(o.recordedEvidence ? o.recordedEvidence.challenge() : o.randomNonce ? o.randomNonce() : randomBytesPooled(32)).toString('base64');
      const session: SessionRecord = {
        id: randomUUID().replace(/-/g, ''),
        tee,
        nonce,
        state: 'authed',
        data: { 'extra-params': body['extra-params'] as JsonValue },
        createdAt: now,
        expiresAt: new Date(now.getTime() + o.sessionMinutes * 60_000),
      };
      await o.store.sessions.put(session);
      metrics.authSuccesses.inc();
      // `extra-params` is the JSON string "" for every TEE but `se` (§1.3, §7.1).
      return json(200, JSON.stringify({ nonce, 'extra-params': '' }), sessionCookieHeader(session));
    } catch (e) {
      metrics.authErrors.inc();
      return failure(req, e, 'AttestationError');
    }
  }

  async function attest(req: ProtocolRequest): Promise<Answer> {
    metrics.attestationRequests.inc();
    let tee = 'unknown';
    let evidence: unknown;
    try {
      const id = sessionCookie(req.headers);
      if (!id) throw kbsError('KBS_SESSION_MISSING', `attest request without a ${SESSION_COOKIE} cookie; call /kbs/v0/auth first`, 'auth');
      // The body is read first, its errors reported after the session's: the challenge it presents is spent by
      // this attempt in the session read's own round trip (single use: a nonce is consumed by the first attempt,
      // successful or not).
      let body: Record<string, unknown> | undefined;
      let bodyError: unknown;
      try {
        body = jsonBody(req.body, 'attestation');
      } catch (e) {
        bodyError = e;
      }
      const presented = (body?.['runtime-data'] as { nonce?: unknown } | undefined)?.nonce;
      const { session, fresh } = typeof presented === 'string' ? await o.store.sessions.attempt(id, presented) : { session: await o.store.sessions.get(id), fresh: false };
      if (!session) throw kbsError('KBS_SESSION_UNKNOWN', 'session not found or expired; call /kbs/v0/auth again', 'auth');
      tee = session.tee;
      if (session.state === 'attested' && session.token) {
        // Idempotent retry: an attested session answers with the token it already has (§1.4 step 2).
        return json(200, JSON.stringify({ token: session.token }), sessionCookieHeader(session));
      }
      if (body === undefined) throw bodyError;
      const rd = field(body, 'runtime-data', 'attestation', isRecord, 'an object {nonce, tee-pubkey}');
      const nonce = field(rd, 'nonce', 'attestation runtime-data', isString, 'a string');
      const teePubkey = parseTeePubKey(rd['tee-pubkey']);
      const ev = field(body, 'tee-evidence', 'attestation', isRecord, 'an object {primary_evidence, additional_evidence}');
      if (!('primary_evidence' in ev)) throw kbsError('KBS_BODY_SHAPE', 'attestation tee-evidence: "primary_evidence" is missing');
      evidence = ev.primary_evidence;
      const additional = ev.additional_evidence ?? '';
      if (typeof additional !== 'string') throw kbsError('KBS_BODY_SHAPE', 'attestation tee-evidence: "additional_evidence" must be a string');
      const initData = parseInitDataMessage(body['init-data']);
      if (nonce !== session.nonce) throw kbsError('KBS_NONCE_MISMATCH', 'runtime-data nonce does not match the challenge of this session', 'auth');
      if (!fresh) {
        throw kbsError('KBS_NONCE_REUSED', 'this challenge nonce was already used; call /kbs/v0/auth for a new one', 'auth');
      }
      const result = await o.attestation.evaluate({
        tee: session.tee,
        evidence: ev.primary_evidence,
        nonce,
        teePubkey: teePubkey as unknown as JsonValue,
        additionalEvidence: additional,
        initData,
        policyIds: ['default'],
        ...(o.recordedEvidence ? { expectedReportData: fromBase64(nonce) } : {}),
      });
      const statuses = result.appraisals.map((a) => `${a.submod}:${a.status}`);
      // The policies the service evaluated (the stored one, else the built-in default), per appraisal; the
      // record's policy_* name the one that appraised the primary evidence.
      const policyId = result.primaryPolicy.id;
      const policyText = result.primaryPolicy.text;
      // Which reference values the policy compared with, at which update: their names and times, never values.
      const referenceValues: Record<string, string> = {};
      const consulted = await Promise.all(result.referenceValuesConsulted.slice(0, 64).map((name) => o.store.referenceValues.get(name)));
      result.referenceValuesConsulted.slice(0, 64).forEach((name, i) => (referenceValues[name] = referenceValueNote(consulted[i])));
      const teeClaims = result.appraisals[0]?.annotatedEvidence[tee];
      const explanations = explainMismatches(tee, evidence, consulted, isRecord(teeClaims) ? teeClaims : undefined);
      await decisions.submit({
        type: 'attestation',
        client: req.ip,
        tee,
        evidence,
        referenceValues,
        ...(result.referenceValueSet ? { referenceValueSet: result.referenceValueSet } : {}),
        explanations,
        checks: result.verified.map((v) => ({ tee: v.tee, checks: v.checks })),
        claims: result.claims,
        ...(policyId === undefined ? {} : { policyId }),
        ...(policyText === undefined ? {} : { policyText }),
        appraisalPolicies: result.policies,
        token: result.token,
        verdict: 'allow',
        trace: result.appraisals.map((a) => ({ submod: a.submod, status: a.status, trust_vector: a.trustVector })),
      });
      // The attested session is stored in the turn the decision is queued and the audit row written: on a store
      // shared by workers or replicas all three are committed together (one round trip to PostgreSQL). Should
      // storing the session fail, the allow record and the audit row stand (the evidence was appraised and the
      // token signed) and the error that the guest is answered with is recorded after them.
      await Promise.all([
        o.store.sessions.put({ ...session, state: 'attested', token: result.token, teePubkey: teePubkey as unknown as JsonValue }),
        audit('kbs.attest', tee, 'ok', { statuses }),
      ]);
      metrics.attestationSuccesses.labels(tee).inc();
      log.info({ event: 'attest', tee, statuses }, 'attestation succeeded');
      return json(200, JSON.stringify({ token: result.token }), sessionCookieHeader(session));
    } catch (e) {
      if (e instanceof CocoError && (e.code.startsWith('AS_') || e.code.startsWith('SAMPLE_') || e.code.startsWith('JWK_'))) metrics.attestationFailures.labels(tee).inc();
      else metrics.attestationErrors.inc();
      if (e instanceof CocoError) {
        const checks = (e.detail as { checks?: unknown } | undefined)?.checks;
        await decisions.submit({ type: 'attestation', client: req.ip, tee, evidence, ...(checks ? { checks } : {}), verdict: 'deny', code: e.code, reason: bounded(e.message) });
        await audit('kbs.attest', tee, 'denied', { code: e.code, reason: bounded(e.message), ...(checks ? { checks } : {}) });
      }
      return failure(req, e, 'AttestationError');
    }
  }

  /** The verified claims of the caller: attested session cookie first, else the Bearer token (§1.7). */
  async function callerClaims(req: ProtocolRequest): Promise<Record<string, unknown>> {
    let token: string | undefined;
    const id = sessionCookie(req.headers);
    if (id) {
      const s = await o.store.sessions.get(id);
      if (s?.state === 'attested' && s.token) return sessionTokenClaims(s.token, clock()) as Record<string, unknown>;
    }
    if (!token) {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      if (m) token = m[1];
    }
    if (!token) {
      throw kbsError('KBS_TOKEN_MISSING', id ? 'session is unknown, expired or not attested, and no Bearer token was given' : `no attested ${SESSION_COOKIE} cookie and no Authorization: Bearer token`, 'auth');
    }
    return (await o.tokenVerifier.verify(token)) as Record<string, unknown>;
  }

  async function getResource(req: ProtocolRequest, route: KbsRoute): Promise<Answer> {
    try {
      const path = resourcePath(route.path);
      const claims = await callerClaims(req);
      const teeKey = parseTeePubKey(teePubkeyFromClaims(claims, o.extraTeekeyPaths));
      const policy = await o.store.policies.get('resource', RESOURCE_POLICY_ID);
      if (!policy) throw kbsError('KBS_POLICY_DENY', 'no resource policy is installed', 'policy');
      metrics.policyEvaluations.inc();
      const release = { type: 'release' as const, client: req.ip, tee: teeOfClaims(claims), claims, policyId: RESOURCE_POLICY_ID, policyText: policy.text, resource: path.join('/'), ...(hasKeys(route.query) ? { query: route.query } : {}) };
      let decision;
      try {
        decision = await o.resourcePolicy.evaluate(policy.text, claims, { plugin: 'resource', 'resource-path': path, query: route.query });
      } catch (e) {
        metrics.policyErrors.inc();
        throw e;
      }
      if (!decision.allow) {
        metrics.policyViolations.inc();
        await decisions.submit({ ...release, verdict: 'deny', code: 'KBS_POLICY_DENY', reason: decision.reason, trace: { rule: decision.reason, ...(decision.explanation ? { explanation: decision.explanation } : {}) } });
        await audit('kbs.resource.get', path.join('/'), 'denied', { reason: decision.reason });
        throw kbsError('KBS_POLICY_DENY', `resource policy denied ${path.join('/')}: ${decision.reason}`, 'policy');
      }
      metrics.policyApprovals.inc();
      const [repository, type, tag] = path;
      const value = await o.store.resources.get({ repository, type, tag });
      if (value === undefined) throw kbsError('KBS_RESOURCE_NOT_FOUND', `resource ${path.join('/')} does not exist`, 'notfound');
      metrics.resourceReads.inc();
      await decisions.submit({ ...release, verdict: 'allow', reason: decision.reason, trace: { rule: decision.reason } });
      await audit('kbs.resource.get', path.join('/'), 'ok');
      const jwe = encryptToTeeKey(value, teeKey);
      log.info({ event: 'release', tee: release.tee, path: logPath(req) }, 'resource released');
      return json(200, JSON.stringify(jwe));
    } catch (e) {
      return failure(req, e, 'PluginInternalError');
    }
  }

  // ---- admin ------------------------------------------------------------------------------------------

  async function admin(req: FastifyRequest, reply: FastifyReply, route: KbsRoute): Promise<FastifyReply> {
    let who: string;
    try {
      who = adminActorName(await o.admin.authorize(req.headers.authorization, req.url));
    } catch (e) {
      return fail(reply, req, e, 'AdminAuthAccess');
    }
    const m = req.method;
    try {
      switch (route.plugin) {
        case 'resource': {
          const [repository, type, tag] = resourcePath(route.path);
          const key = `${repository}/${type}/${tag}`;
          if (m === 'POST') {
            const body = req.body instanceof Buffer ? req.body : Buffer.alloc(0);
            await o.store.resources.put({ repository, type, tag }, new Uint8Array(body));
            metrics.resourceWrites.inc();
            await o.store.audit.append({ kind: 'admin.resource.put', subject: key, outcome: 'ok', detail: { size: body.length } });
            return reply.code(200).send('');
          }
          if (m === 'DELETE') {
            const deleted = await o.store.resources.delete({ repository, type, tag });
            if (!deleted) throw kbsError('KBS_RESOURCE_NOT_FOUND', `resource ${key} does not exist`, 'notfound');
            metrics.resourceWrites.inc();
            await o.store.audit.append({ kind: 'admin.resource.delete', subject: key, outcome: 'ok' });
            return reply.code(200).send('');
          }
          break;
        }
        case 'resources':
          if (m === 'GET' && route.path.length === 0) {
            // One bounded page per request (the body stays Trustee's plain array); `x-next-cursor` says more follow.
            const page = await o.store.resources.page({}, pageQuery(route.query));
            if (page.next) reply.header(NEXT_CURSOR_HEADER, page.next);
            return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(page.items.map((r) => ({ path: `${r.repository}/${r.type}/${r.tag}`, size: r.size, updated: r.updatedAt.toISOString() }))));
          }
          break;
        case 'attestation-policy':
          // cocokit: GET /kbs/v0/attestation-policy/<id> answers the text in force: the stored policy, else
          // the built-in default of that id.
          if (m === 'GET' && route.path.length === 1) {
            const id = decodeURIComponent(route.path[0]);
            const text = (await o.store.policies.get('attestation', id))?.text ?? defaultAttestationPolicy(id);
            if (text === undefined) throw kbsError('KBS_POLICY_NOT_FOUND', `attestation policy ${echo(id)} does not exist`, 'notfound');
            return reply.code(200).header('content-type', 'text/plain; charset=utf-8').send(text);
          }
          if (route.path.length !== 0) break;
          if (m === 'POST') {
            const body = jsonBody(req.body, 'attestation policy');
            const id = body.policy_id ?? 'default_cpu';
            if (typeof id !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(id)) throw kbsError('KBS_SERDE', 'attestation policy: "policy_id" must match [A-Za-z0-9_.-]{1,128}');
            const text = decodePolicy(body);
            await o.attestationPolicy.validate(text).catch((e) => {
              throw policyParseError(`attestation policy ${id}`, e);
            });
            await o.store.policies.put('attestation', id, text);
            await o.store.audit.append({ kind: 'admin.attestation-policy.put', subject: id, outcome: 'ok' });
            return reply.code(200).send('');
          }
          if (m === 'GET') {
            const list = await o.store.policies.list('attestation');
            return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(list.map((p) => p.id)));
          }
          break;
        case 'resource-policy':
          // cocokit: GET /kbs/v0/resource-policy/<id> answers the policy text, which Trustee's GET (ids
          // only) no longer gives; Trustee's kbs-client habit is to print the policy.
          if (m === 'GET' && route.path.length === 1) {
            const p = await o.store.policies.get('resource', decodeURIComponent(route.path[0]));
            if (!p) throw kbsError('KBS_POLICY_NOT_FOUND', `resource policy ${JSON.stringify(route.path[0])} does not exist`, 'notfound');
            return reply.code(200).header('content-type', 'text/plain; charset=utf-8').send(p.text);
          }
          if (route.path.length !== 0) break;
          if (m === 'POST') {
            const text = decodePolicy(jsonBody(req.body, 'resource policy'));
            await o.resourcePolicy.validate(text).catch((e) => {
              throw policyParseError('resource policy', e);
            });
            await o.store.policies.put('resource', RESOURCE_POLICY_ID, text);
            await o.store.audit.append({ kind: 'admin.resource-policy.put', subject: RESOURCE_POLICY_ID, outcome: 'ok' });
            return reply.code(200).send('');
          }
          if (m === 'GET') {
            // Ids only, as Trustee's current code returns (§1.1).
            const list = await o.store.policies.list('resource');
            return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(list.map((p) => p.id)));
          }
          break;
        case 'reference-value':
          if (m === 'POST' && route.path.length === 0) {
            const n = await registerReferenceValues(o.store, jsonBody(req.body, 'reference value message'), clock(), who);
            await o.store.audit.append({ kind: 'admin.reference-value.put', subject: n.join(','), outcome: 'ok' });
            return reply.code(200).send('');
          }
          if (m === 'GET') {
            // cocokit: `?detail=true` answers the records (value, update and expiration times, provenance)
            // instead of Trustee's bare values.
            const detail = route.query.detail === 'true';
            if (route.query.detail !== undefined && !detail && route.query.detail !== 'false') throw kbsError('KBS_SERDE', `reference value query: detail must be true or false, got ${echo(route.query.detail)}`);
            if (route.path.length === 0) {
              const list = await o.store.referenceValues.list();
              const body = detail ? list.map(describeReferenceValue) : Object.fromEntries(list.map((r) => [r.name, r.value]));
              return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(body));
            }
            const id = route.path.map((s) => decodeURIComponent(s)).join('/');
            const rv = await o.store.referenceValues.get(id);
            if (!rv) throw kbsError('KBS_RVPS_NOT_FOUND', `reference value ${echo(id)} does not exist`, 'notfound');
            return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(detail ? describeReferenceValue(rv) : rv.value));
          }
          break;
      }
      throw kbsError('KBS_METHOD', `${m} is not supported on /kbs/v0/${route.plugin}`);
    } catch (e) {
      return fail(reply, req, e, 'PluginInternalError');
    }
  }

  const ADMIN_PLUGINS = new Set(['resources', 'attestation-policy', 'resource-policy', 'reference-value']);

  await app.register(workloadRoutes({ ...o, decisions }));
  await app.register(decisionRoutes({ ...o, decisionsWritten: () => decisions.flush() }));
  await app.register(consoleRoutes(o));

  const protocolRequest = (req: FastifyRequest): ProtocolRequest => ({ method: req.method, url: req.url, headers: req.headers, ip: req.ip, body: req.body });

  app.all('/kbs/v0/*', async (req, reply) => {
    let route: KbsRoute;
    try {
      route = parseKbsUrl(req.url);
    } catch (e) {
      return fail(reply, req, e, 'InvalidRequestPath');
    }
    if (route.plugin === 'auth' && route.path.length === 0) {
      return req.method === 'POST' ? send(reply, await auth(protocolRequest(req))) : fail(reply, req, kbsError('KBS_METHOD', `${req.method} /kbs/v0/auth: use POST`), 'AttestationError');
    }
    if (route.plugin === 'attest' && route.path.length === 0) {
      return req.method === 'POST' ? send(reply, await attest(protocolRequest(req))) : fail(reply, req, kbsError('KBS_METHOD', `${req.method} /kbs/v0/attest: use POST`), 'AttestationError');
    }
    if (route.plugin === 'resource') {
      // The resource plugin splits on the method: GET = attested client, POST/DELETE = admin (§1.1).
      if (req.method === 'GET') return send(reply, await getResource(protocolRequest(req), route));
      return admin(req, reply, route);
    }
    if (ADMIN_PLUGINS.has(route.plugin)) return admin(req, reply, route);
    return fail(reply, req, kbsError('KBS_PLUGIN_NOT_FOUND', `no plugin "${route.plugin}"`), 'PluginNotFound');
  });

  /** A resource GET as the dispatcher above answers it. */
  async function resourceAnswer(req: ProtocolRequest): Promise<Answer> {
    let route: KbsRoute;
    try {
      route = parseKbsUrl(req.url);
    } catch (e) {
      return failure(req, e, 'InvalidRequestPath');
    }
    return getResource(req, route);
  }

  // While the app closes every request goes through fastify, which answers them as a closing server does.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  let fastRequests = 0;

  /**
   * `POST /kbs/v0/auth`, `POST /kbs/v0/attest` and `GET /kbs/v0/resource/…` on node:http, past fastify's
   * router, hooks and reply: the same route functions, admission limiter, metrics, logging and answers, each
   * written with one `writeHead` and `end`. It takes only requests it answers exactly as fastify would — a
   * body of announced length within the limit, a URL that needs no decoding, the policy engine loaded, the
   * app not closing — and leaves every other request to fastify (returns false before touching it).
   */
  plain.path = (req, res) => {
    if (closing || !regoLoaded()) return false;
    const url = req.url ?? '';
    const method = req.method ?? '';
    const length = req.headers['content-length'];
    let which: 'auth' | 'attest' | 'resource';
    if (method === 'POST') {
      if (url === '/kbs/v0/auth') which = 'auth';
      else if (url === '/kbs/v0/attest') which = 'attest';
      else return false;
      // Chunked, unannounced and oversized bodies are left to fastify's body reader (413, `connection: close`).
      if (req.headers['transfer-encoding'] !== undefined || length === undefined || !DECIMAL.test(length) || Number(length) > o.bodyLimit) return false;
    } else if (method === 'GET' && FAST_RESOURCE_URL.test(url)) which = 'resource';
    else return false;

    fastRequests++;
    const startNs = process.hrtime.bigint();
    metrics.activeConnections.inc();
    const ip = req.socket.remoteAddress ?? '';
    let written = false;
    const write = (a: Answer, close = false): void => {
      if (written) return;
      written = true;
      const size = Buffer.byteLength(a.body);
      // A body that could not be read leaves the connection unusable: it is closed after the answer.
      res.writeHead(a.status, close ? { ...a.headers, 'content-length': size, connection: 'close' } : { ...a.headers, 'content-length': size });
      res.end(a.body);
      if (which !== 'resource') settle(which, a.status, a.headers['set-cookie'], req.headers.cookie);
      answered(method, url, startNs, length, a.status, size);
    };
    const run = (body: unknown): void => {
      const pr: ProtocolRequest = { method, url, headers: req.headers, ip, body };
      (which === 'auth' ? auth(pr) : which === 'attest' ? attest(pr) : resourceAnswer(pr)).then(write, (e: unknown) => write(errorAnswer(e, pr)));
    };
    if (which === 'resource') {
      run(undefined);
      return true;
    }
    if (which === 'auth') {
      const refusal = refuseAuth(ip);
      if (refusal) {
        write(refusal);
        return true;
      }
    }
    // As fastify reads it: no content type and a zero length is no body; anything else is read whole.
    if (req.headers['content-type'] === undefined && length === '0') {
      run(undefined);
      return true;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (received !== Number(length)) write(errorAnswer(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH(), { url }), true);
      else run(Buffer.concat(chunks, received));
    });
    req.on('error', (e) => write(errorAnswer(e, { url }), true));
    return true;
  };

  return { app, metrics, decisions, fastPathRequests: () => fastRequests };
}

/** `policy` is base64url without padding (§1.1); standard base64 is accepted too, as older clients sent it. */
function decodePolicy(body: Record<string, unknown>): string {
  const p = body.policy;
  if (typeof p !== 'string' || p.length === 0) throw kbsError('KBS_SERDE', '"policy" must be a non-empty base64url string');
  let bytes: Uint8Array;
  try {
    bytes = /[+/]/.test(p) ? fromBase64(p, 'policy') : fromBase64Url(p, 'policy');
  } catch (e) {
    throw kbsError('KBS_SERDE', (e as Error).message);
  }
  return utf8.decode(bytes);
}
