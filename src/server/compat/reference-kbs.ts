/**
 * The reference-kbs dialect (virtee/reference-kbs, specs/keybroker.md §2, §5.2): what `buildah mkcw`
 * registers with and the libkrun guest init attests to. Mounted under its prefix:
 *
 * - `POST /kbs/v0/register_workload` `{workload_id, launch_measurement, tee_config, passphrase}` → empty 200
 *   (re-registration replaces, as reference-kbs' `REPLACE INTO` — but only a registration made here, and
 *   only for an admin: unauthenticated registration may create, never overwrite);
 * - `POST /kbs/v0/auth` kbs-types 0.2.0 Request with `extra-params` = JSON text `{"workload_id"}` → cookie
 *   `session_id=<32 hex>`, `{"nonce":"<same>","extra-params":""}`;
 * - `POST /kbs/v0/attest` `{tee-pubkey:{alg,k-mod,k-exp}, tee-evidence:"{gen,report,cert_chain}"}`:
 *   REPORT_DATA = SHA-512(nonce ‖ k-mod ‖ k-exp as received), the SNP chain and signature, then the
 *   registration's policy (launch measurement, and — beyond reference-kbs — the debug policy bit clear).
 *   Empty 200 body on success: krun judges success by the empty body alone;
 * - `GET /kbs/v0/key/<workload_id>` → JSON string of hex RSA-PKCS#1 v1.5(passphrase). Unlike reference-kbs
 *   (§2.4), only the session's own workload id is served.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CocoError, asCocoError } from '../../errors.js';
import { isRecord, parseJson } from '../../formats/json.js';
import { bounded, echo, ECHO_CHARS } from '../echo.js';
import {
  appraiseRegistration,
  checkGeneration,
  defaultPolicy,
  envelope,
  freshnessHash,
  identifyWorkload,
  parseRefKbsRegistration,
  rsaPkcs1Hex,
  rsaPublicKey,
  specOf,
  verifyRawSnpReport,
  workloadIdFromExtraParams,
  type Appraisal,
  type WorkloadSpec,
} from '../../attestation/workload.js';
import type { JsonValue, SessionRecord, WorkloadRecord } from '../../store/index.js';
import {
  authorizeCompatRegistration,
  bodyString as str,
  cidrMatcher,
  compatSession,
  identicalWarning,
  identicalWorkloads,
  jsonRequestBody,
  recordWorkloadDecision,
  replaceSecrets,
  resourceKey,
  registrationDenial,
  registrationExplanations,
  workloadError,
  type CompatConfig,
  type WorkloadContext,
} from '../workloads.js';

const COOKIE = 'session_id';
export const PASSPHRASE_RESOURCE = 'passphrase';

/** reference-kbs answers errors with a status and a short text; the code rides along in a header. */
function fail(reply: FastifyReply, e: unknown, status?: number): FastifyReply {
  const err = asCocoError(e);
  return reply
    .code(status ?? (err.kind === 'auth' ? 401 : err.kind === 'forbidden' ? 403 : err.kind === 'notfound' ? 404 : err.kind === 'conflict' ? 409 : err.kind === 'internal' ? 500 : 400))
    .header('content-type', 'text/plain; charset=utf-8')
    .header('x-cocokit-error', err.code)
    .send(`${err.code}: ${bounded(err.message)}`);
}

interface RefSessionData {
  dialect: 'reference-kbs';
  workloadId: string;
  workloadVersion?: number;
  kMod?: string;
  kExp?: string;
}

function session(ctx: WorkloadContext, req: FastifyRequest): Promise<{ s: SessionRecord; d: RefSessionData }> {
  return compatSession<RefSessionData>(ctx, req, COOKIE, 'reference-kbs');
}

export function referenceKbsRoutes(ctx: WorkloadContext, cfg: CompatConfig) {
  const allowed = cidrMatcher(cfg.registration_cidrs);
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/kbs/v0/', async (_req, reply) => reply.code(401).send(''));

    app.post('/kbs/v0/register_workload', async (req, reply) => {
      try {
        const { admin } = await authorizeCompatRegistration(ctx, cfg, allowed, req);
        const r = parseRefKbsRegistration(jsonRequestBody(req, 'register_workload', true));
        const tee = r.launch_measurement.length === 96 ? 'snp' : 'sev';
        if (tee !== 'snp') throw workloadError('WORKLOAD_TEE', 'only SNP workloads (96-hex launch_measurement) are supported; SEV pre-attestation is not', 'unsupported');
        const existing = await ctx.store.workloads.get(r.workload_id);
        if (existing && (existing.namespace !== cfg.namespace || specOf(existing).dialect !== 'reference-kbs')) {
          throw workloadError('WORKLOAD_EXISTS', `workload ${r.workload_id} exists and was not registered through register_workload`, 'conflict');
        }
        // Otherwise anyone allowed to register could take over a running workload's passphrase and policy.
        if (existing && !admin) throw workloadError('WORKLOAD_EXISTS', `workload ${r.workload_id} is already registered; replacing it needs an admin token`, 'conflict');
        // Beyond reference-kbs: a debuggable guest never gets the passphrase. buildah's tee_config "bits" are an
        // SEV policy leftover with no SNP meaning (§3.6), so they are kept but not interpreted.
        const referenceValues: Record<string, JsonValue> = { measurement: r.launch_measurement.toLowerCase(), policy_debug_allowed: false };
        const spec: WorkloadSpec = { referenceValues, identify: ['extra_params'], dialect: 'reference-kbs' };
        const warnings = identicalWarning(await identicalWorkloads(ctx.store, cfg.namespace, referenceValues, r.workload_id));
        // One transaction: a crash never leaves a registration without its passphrase or its audit row.
        await ctx.store
          .transaction(async (tx) => {
            const rec = await tx.workloads.put(
              { id: r.workload_id, namespace: cfg.namespace, tee, referenceValues: envelope(spec), policy: defaultPolicy(referenceValues) },
              existing?.version ?? 0,
            );
            await replaceSecrets(tx, rec, { [PASSPHRASE_RESOURCE]: new TextEncoder().encode(r.passphrase) });
            await tx.audit.append({ kind: 'reference-kbs.register', subject: rec.id, outcome: 'ok', detail: { namespace: cfg.namespace, tee_config: r.tee_config, version: rec.version } });
          })
          .catch((e) => {
            if (e instanceof CocoError && e.code === 'STORE_CONFLICT') throw workloadError('WORKLOAD_EXISTS', `workload ${r.workload_id} was registered concurrently; retry`, 'conflict');
            throw e;
          });
        for (const w of warnings) req.log.warn({ workload: r.workload_id, namespace: cfg.namespace }, w);
        if (warnings.length) reply.header('x-cocokit-warning', warnings[0]);
        return reply.code(200).send('');
      } catch (e) {
        return fail(reply, e);
      }
    });

    app.post('/kbs/v0/auth', async (req, reply) => {
      try {
        const body = jsonRequestBody(req, 'auth request', true);
        if (!isRecord(body)) throw workloadError('WORKLOAD_BODY', 'auth request must be an object');
        str(body, 'version', 'auth request');
        const tee = str(body, 'tee', 'auth request');
        const extra = str(body, 'extra-params', 'auth request');
        if (tee !== 'snp') throw workloadError('WORKLOAD_TEE', `tee ${echo(tee)} is not supported (snp)`, 'unsupported');
        const wid = workloadIdFromExtraParams(extra);
        if (!wid) throw workloadError('WORKLOAD_BODY', 'extra-params must be the JSON text of {"workload_id": "<id>"}');
        const rec = await ctx.store.workloads.get(wid);
        // reference-kbs' wording when no configs row exists (§2.2).
        if (!rec || rec.namespace !== cfg.namespace || specOf(rec).dialect !== 'reference-kbs') throw workloadError('WORKLOAD_UNKNOWN', `No TEE config found for workload ${echo(wid)}`, 'input');
        const id = randomUUID().replace(/-/g, '');
        const now = ctx.clock();
        const data: RefSessionData = { dialect: 'reference-kbs', workloadId: wid };
        await ctx.store.sessions.put({ id, tee, nonce: id, state: 'authed', data: { ...data }, createdAt: now, expiresAt: new Date(now.getTime() + ctx.sessionMinutes * 60_000) });
        return reply.code(200).header('set-cookie', `${COOKIE}=${id}; Path=/`).header('content-type', 'application/json').send(JSON.stringify({ nonce: id, 'extra-params': '' }));
      } catch (e) {
        return fail(reply, e);
      }
    });

    app.post('/kbs/v0/attest', async (req, reply) => {
      let subject = 'unknown';
      const seen: { record?: WorkloadRecord; evidence?: unknown; claims?: unknown; appraisal?: Appraisal; explanations?: Record<string, string> } = {};
      try {
        const { s, d } = await session(ctx, req);
        subject = d.workloadId;
        if (s.state === 'attested') throw workloadError('WORKLOAD_NONCE_REUSED', 'this session is already attested; call /kbs/v0/auth for a new nonce', 'auth');
        const body = jsonRequestBody(req, 'attestation', true);
        if (!isRecord(body) || !isRecord(body['tee-pubkey'])) throw workloadError('WORKLOAD_BODY', 'attestation: "tee-pubkey" must be an object {alg, k-mod, k-exp}');
        const pk = body['tee-pubkey'];
        str(pk, 'alg', 'tee-pubkey');
        const kMod = str(pk, 'k-mod', 'tee-pubkey');
        const kExp = str(pk, 'k-exp', 'tee-pubkey');
        const ev = parseJson(str(body, 'tee-evidence', 'attestation'), 'tee-evidence');
        if (!isRecord(ev)) throw workloadError('WORKLOAD_BODY', 'tee-evidence must be the JSON text of {report, cert_chain, gen}');
        const reportHex = str(ev, 'report', 'tee-evidence');
        seen.evidence = reportHex;
        str(ev, 'cert_chain', 'tee-evidence');
        const gen = checkGeneration(ev.gen);
        rsaPublicKey(kMod, kExp); // a malformed key fails before the nonce is spent
        if (!(await ctx.store.nonces.consume(s.nonce, s.expiresAt))) throw workloadError('WORKLOAD_NONCE_REUSED', 'this nonce was already used; call /kbs/v0/auth again', 'auth');
        // reference-kbs hashes the strings exactly as received (§2.3 step 1).
        const expected = freshnessHash(s.nonce, kMod, kExp);
        const { claims } = await verifyRawSnpReport(ctx.attestation.verifiers.get('snp'), reportHex, expected, ctx.clock(), { vcekCacheDir: ctx.vcekCacheDir, gen });
        seen.claims = claims;
        const { record, spec } = await identifyWorkload([{ source: 'extra_params', id: d.workloadId }], (id) => ctx.store.workloads.get(id));
        seen.record = record;
        if (spec.dialect !== 'reference-kbs' || record.namespace !== cfg.namespace) throw workloadError('WORKLOAD_DIALECT', `workload ${record.id} was not registered through register_workload`, 'forbidden');
        const verdict = appraiseRegistration(record, spec, claims);
        seen.appraisal = verdict;
        if (!verdict.allow) {
          seen.explanations = registrationExplanations(spec, 'snp', claims);
          throw registrationDenial(`workload ${record.id}`, verdict, seen.explanations);
        }
        const data: RefSessionData = { ...d, workloadVersion: record.version, kMod, kExp };
        await ctx.store.sessions.put({ ...s, state: 'attested', teePubkey: { kty: 'RSA', n: kMod, e: kExp }, data: { ...data } });
        await ctx.store.audit.append({ kind: 'reference-kbs.attest', subject: record.id, outcome: 'ok' });
        await recordWorkloadDecision(ctx, req, { type: 'attestation', tee: 'snp', dialect: 'reference-kbs', ...seen });
        return reply.code(200).send('');
      } catch (e) {
        await ctx.store.audit.append({ kind: 'reference-kbs.attest', subject, outcome: 'denied', detail: { reason: asCocoError(e).message.slice(0, 500) } }).catch(() => undefined);
        await recordWorkloadDecision(ctx, req, { type: 'attestation', tee: 'snp', dialect: 'reference-kbs', ...seen, error: e });
        return fail(reply, e, asCocoError(e).kind === 'auth' ? 401 : 400);
      }
    });

    app.get('/kbs/v0/key/:id', async (req, reply) => {
      let seen: { record?: WorkloadRecord; resource?: string } | undefined;
      try {
        const { s, d } = await session(ctx, req);
        seen = {};
        if (s.state !== 'attested' || !d.kMod || !d.kExp) throw workloadError('WORKLOAD_NOT_ATTESTED', 'session is not attested', 'auth');
        const asked = (req.params as { id: string }).id;
        if (asked !== d.workloadId) throw workloadError('WORKLOAD_MISMATCH', `this session is attested for workload ${d.workloadId}, not ${bounded(String(asked), ECHO_CHARS)}`, 'forbidden');
        const rec = await ctx.store.workloads.get(d.workloadId);
        if (!rec) throw workloadError('WORKLOAD_UNKNOWN', `workload ${d.workloadId} no longer exists`, 'notfound');
        seen = { record: rec, resource: `workload/${rec.id}/${PASSPHRASE_RESOURCE}` };
        if (rec.version !== d.workloadVersion) throw workloadError('WORKLOAD_CHANGED', `workload ${d.workloadId} was re-registered since this session attested; attest again`, 'auth');
        const value = await ctx.store.resources.get(resourceKey(rec, PASSPHRASE_RESOURCE));
        if (value === undefined) throw workloadError('WORKLOAD_RESOURCE_NOT_FOUND', `workload ${rec.id} has no passphrase`, 'notfound');
        const hex = rsaPkcs1Hex(rsaPublicKey(d.kMod, d.kExp), value);
        await ctx.store.audit.append({ kind: 'reference-kbs.key', subject: rec.id, outcome: 'ok' });
        await recordWorkloadDecision(ctx, req, { type: 'release', tee: 'snp', dialect: 'reference-kbs', ...seen });
        return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(hex));
      } catch (e) {
        if (seen) await recordWorkloadDecision(ctx, req, { type: 'release', tee: 'snp', dialect: 'reference-kbs', ...seen, error: e });
        return fail(reply, e);
      }
    });
  };
}
