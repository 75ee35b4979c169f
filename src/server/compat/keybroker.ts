/**
 * The keybroker dialect (tylerfanelli/keybroker main, specs/keybroker.md §1), mounted under its prefix:
 *
 * - `POST /rvp/register` `{query[], reference_values{}, resources{}}` → raw text base64(UUID ‖ 16 zero bytes),
 *   the HOST_DATA to launch the guest with. keybroker answered identical content with the same UUID, keyed by
 *   a SHA-256 over the secrets too — an oracle for them. Here a registration whose queries, reference values
 *   and resource names equal an existing one is refused (409) whatever its secret values, and no digest of a
 *   secret is kept;
 * - `POST /kbs/v0/auth` kbs-types 0.5.3 Request → Challenge with nonce = the hyphenated session UUID, cookie
 *   `kbs-session-id`;
 * - `POST /kbs/v0/attest` `{tee-pubkey:{kty,alg,n,e}, tee-evidence:"{report,gen}"}`: SNP chain and signature,
 *   REPORT_DATA = SHA-512(nonce ‖ b64(n) ‖ b64(e)) over the minimal integer encodings, the registration named
 *   by HOST_DATA[0..16], and its queries over keybroker's string claims — **enforced** (keybroker printed
 *   "FALSE" and carried on). Empty 200 on success;
 * - `GET /kbs/v0/resource/<name>` → `{"protected":"","encrypted_key":"","iv":"","ciphertext":<hex>,"tag":""}`
 *   with RSA-PKCS#1 v1.5 of that registration's resource only.
 *
 * Failures answer as keybroker does: HTTP 400, `text/html`, `keybroker error: <message>`.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { asCocoError } from '../../errors.js';
import { isRecord, parseJson } from '../../formats/json.js';
import { bounded, echo } from '../echo.js';
import {
  appraiseRegistration,
  canonicalIntegerBase64,
  checkGeneration,
  envelope,
  freshnessHash,
  identifyWorkload,
  keybrokerClaims,
  keybrokerDuplicateKey,
  queriesPolicyText,
  specOf,
  parseKeybrokerRegistration,
  rsaPkcs1Hex,
  rsaPublicKey,
  rvpRegisterResponse,
  uuidFromHostData,
  validateQueries,
  verifyRawSnpReport,
  type Appraisal,
  type WorkloadSpec,
} from '../../attestation/workload.js';
import type { SessionRecord, WorkloadRecord } from '../../store/index.js';
import {
  authorizeCompatRegistration,
  bodyString as str,
  cidrMatcher,
  compatSession,
  identicalWarning,
  identicalWorkloads,
  jsonRequestBody,
  recordWorkloadDecision,
  secretNames,
  replaceSecrets,
  resourceKey,
  registrationDenial,
  registrationExplanations,
  workloadError,
  type CompatConfig,
  type WorkloadContext,
} from '../workloads.js';

const COOKIE = 'kbs-session-id';

function fail(reply: FastifyReply, e: unknown): FastifyReply {
  const err = asCocoError(e);
  return reply.code(400).header('content-type', 'text/html').header('x-cocokit-error', err.code).send(`keybroker error: ${bounded(err.message)}`);
}

interface KeybrokerSessionData {
  dialect: 'keybroker';
  workloadId?: string;
  workloadVersion?: number;
  n?: string;
  e?: string;
}

function session(ctx: WorkloadContext, req: FastifyRequest): Promise<{ s: SessionRecord; d: KeybrokerSessionData }> {
  return compatSession<KeybrokerSessionData>(ctx, req, COOKIE, 'keybroker');
}

export function keybrokerRoutes(ctx: WorkloadContext, cfg: CompatConfig) {
  const allowed = cidrMatcher(cfg.registration_cidrs);
  return async (app: FastifyInstance): Promise<void> => {
    app.post('/rvp/register', async (req, reply) => {
      try {
        await authorizeCompatRegistration(ctx, cfg, allowed, req);
        const reg = parseKeybrokerRegistration(jsonRequestBody(req, 'rvp registration', true));
        validateQueries(reg.query);
        const spec: WorkloadSpec = { referenceValues: reg.reference_values, identify: ['host_data'], dialect: 'keybroker', queries: reg.query };
        const key = keybrokerDuplicateKey(spec, Object.keys(reg.resources));
        for (const rec of await ctx.store.workloads.list(cfg.namespace)) {
          const other = specOf(rec);
          if (other.dialect === 'keybroker' && keybrokerDuplicateKey(other, await secretNames(ctx.store, rec)) === key) {
            // The same answer whatever the secret values: it confirms nothing about them.
            throw workloadError('WORKLOAD_EXISTS', 'a registration with these queries, reference values and resource names exists; change or delete it through the admin API', 'conflict');
          }
        }
        const warnings = identicalWarning(await identicalWorkloads(ctx.store, cfg.namespace, reg.reference_values));
        const id = randomUUID();
        // One transaction: a crash never leaves a registration without its secrets or its audit row.
        await ctx.store.transaction(async (tx) => {
          const rec = await tx.workloads.put({ id, namespace: cfg.namespace, tee: 'snp', referenceValues: envelope(spec), policy: queriesPolicyText(reg.query) }, 0);
          await replaceSecrets(tx, rec, Object.fromEntries(Object.entries(reg.resources).map(([k, v]) => [k, new TextEncoder().encode(v)])));
          await tx.audit.append({ kind: 'keybroker.register', subject: id, outcome: 'ok', detail: { namespace: cfg.namespace } });
        });
        for (const w of warnings) req.log.warn({ workload: id, namespace: cfg.namespace }, w);
        if (warnings.length) reply.header('x-cocokit-warning', warnings[0]);
        return reply.code(200).header('content-type', 'text/plain').send(rvpRegisterResponse(id));
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
        // kbs-types 0.5.3: extra-params is a string; keybroker ignores its content.
        str(body, 'extra-params', 'auth request');
        if (tee !== 'snp') throw workloadError('WORKLOAD_TEE', `unsupported TEE ${echo(tee)}`, 'unsupported');
        const id = randomUUID();
        const now = ctx.clock();
        const data: KeybrokerSessionData = { dialect: 'keybroker' };
        await ctx.store.sessions.put({ id, tee, nonce: id, state: 'authed', data: { ...data }, createdAt: now, expiresAt: new Date(now.getTime() + ctx.sessionMinutes * 60_000) });
        return reply.code(200).header('set-cookie', `${COOKIE}=${id}`).header('content-type', 'application/json').send(JSON.stringify({ nonce: id, 'extra-params': '' }));
      } catch (e) {
        return fail(reply, e);
      }
    });

    app.post('/kbs/v0/attest', async (req, reply) => {
      let subject = 'unknown';
      const seen: { record?: WorkloadRecord; evidence?: unknown; claims?: unknown; appraisal?: Appraisal; explanations?: Record<string, string> } = {};
      try {
        const { s } = await session(ctx, req);
        subject = s.id;
        if (s.state === 'attested') throw workloadError('WORKLOAD_NONCE_REUSED', 'this session is already attested; call /kbs/v0/auth for a new nonce', 'auth');
        const body = jsonRequestBody(req, 'attestation', true);
        if (!isRecord(body) || !isRecord(body['tee-pubkey'])) throw workloadError('WORKLOAD_BODY', 'attestation: "tee-pubkey" must be an object {kty, alg, n, e}');
        const pk = body['tee-pubkey'];
        for (const k of ['kty', 'alg']) str(pk, k, 'tee-pubkey');
        const n = str(pk, 'n', 'tee-pubkey');
        const e = str(pk, 'e', 'tee-pubkey');
        const ev = parseJson(str(body, 'tee-evidence', 'attestation'), 'tee-evidence');
        if (!isRecord(ev)) throw workloadError('WORKLOAD_BODY', 'tee-evidence must be the JSON text of {report, gen}');
        const reportHex = str(ev, 'report', 'tee-evidence');
        seen.evidence = reportHex;
        const gen = checkGeneration(ev.gen);
        rsaPublicKey(n, e); // a malformed key fails before the nonce is spent
        // A nonce is good for one attempt, successful or not.
        if (!(await ctx.store.nonces.consume(s.nonce, s.expiresAt))) throw workloadError('WORKLOAD_NONCE_REUSED', 'this nonce was already used; call /kbs/v0/auth again', 'auth');
        const expected = freshnessHash(s.nonce, canonicalIntegerBase64(n, 'n'), canonicalIntegerBase64(e, 'e'));
        const verifier = ctx.attestation.verifiers.get('snp');
        const { report } = await verifyRawSnpReport(verifier, reportHex, expected, ctx.clock(), { vcekCacheDir: ctx.vcekCacheDir, gen });
        const claims = keybrokerClaims(report);
        seen.claims = claims;
        const { record, spec } = await identifyWorkload([{ source: 'host_data', id: uuidFromHostData(report.hostData) }], (id) => ctx.store.workloads.get(id));
        seen.record = record;
        if (spec.dialect !== 'keybroker' || record.namespace !== cfg.namespace) throw workloadError('WORKLOAD_DIALECT', `registration ${record.id} was not made through /rvp/register`, 'forbidden');
        const verdict = appraiseRegistration(record, spec, claims);
        seen.appraisal = verdict;
        if (!verdict.allow) {
          seen.explanations = registrationExplanations(spec, 'snp', claims);
          throw registrationDenial(`registration ${record.id}`, verdict, seen.explanations);
        }
        const data: KeybrokerSessionData = { dialect: 'keybroker', workloadId: record.id, workloadVersion: record.version, n, e };
        await ctx.store.sessions.put({ ...s, state: 'attested', teePubkey: { kty: 'RSA', n, e }, data: { ...data } });
        await ctx.store.audit.append({ kind: 'keybroker.attest', subject: record.id, outcome: 'ok' });
        await recordWorkloadDecision(ctx, req, { type: 'attestation', tee: 'snp', dialect: 'keybroker', ...seen });
        return reply.code(200).header('set-cookie', `${COOKIE}=${s.id}`).send('');
      } catch (e) {
        await ctx.store.audit.append({ kind: 'keybroker.attest', subject, outcome: 'denied', detail: { reason: asCocoError(e).message.slice(0, 500) } }).catch(() => undefined);
        await recordWorkloadDecision(ctx, req, { type: 'attestation', tee: 'snp', dialect: 'keybroker', ...seen, error: e });
        return fail(reply, e);
      }
    });

    app.get('/kbs/v0/resource/:name', async (req, reply) => {
      let seen: { record?: WorkloadRecord; resource?: string } | undefined;
      try {
        const { s, d } = await session(ctx, req);
        seen = {};
        if (s.state !== 'attested' || !d.workloadId || !d.n || !d.e) throw workloadError('WORKLOAD_NOT_ATTESTED', 'session is not attested', 'auth');
        const rec = await ctx.store.workloads.get(d.workloadId);
        if (!rec) throw workloadError('WORKLOAD_UNKNOWN', `registration ${d.workloadId} no longer exists`, 'notfound');
        const name = (req.params as { name: string }).name;
        seen = { record: rec, resource: `workload/${rec.id}/${bounded(name, 128)}` };
        if (rec.version !== d.workloadVersion) throw workloadError('WORKLOAD_CHANGED', `registration ${d.workloadId} changed since this session attested; attest again`, 'auth');
        const value = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/.test(name) ? await ctx.store.resources.get(resourceKey(rec, name)) : undefined;
        if (value === undefined) throw workloadError('WORKLOAD_RESOURCE_NOT_FOUND', `resource ${echo(name)} not found`, 'notfound');
        const ciphertext = rsaPkcs1Hex(rsaPublicKey(d.n, d.e), value);
        await ctx.store.audit.append({ kind: 'keybroker.resource', subject: `${rec.id}/${name}`, outcome: 'ok' });
        await recordWorkloadDecision(ctx, req, { type: 'release', tee: 'snp', dialect: 'keybroker', ...seen });
        return reply.code(200).header('content-type', 'application/json').send(JSON.stringify({ protected: '', encrypted_key: '', iv: '', ciphertext, tag: '' }));
      } catch (e) {
        // Only a request on a known session is a decision; one without is a protocol error.
        if (seen) await recordWorkloadDecision(ctx, req, { type: 'release', tee: 'snp', dialect: 'keybroker', ...seen, error: e });
        return fail(reply, e);
      }
    });
  };
}
