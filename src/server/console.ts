/**
 * The operator's console at `/console`: static pages (assets/console, shipped in the package, no CDN) that
 * call the admin API from the same origin with an admin token the operator pastes in (`cocokit kbs
 * console-token` signs a short-lived one with the admin key). The console holds no privilege of its own: every
 * call it makes is an ordinary admin API call, authorised as any other. Off when the admin API is off.
 *
 * `POST /kbs/v0/inspect` runs the evidence inspector (src/inspect) on an uploaded artifact for the console's
 * inspector page, marking each measurement against the server's reference values; it is admin-authenticated
 * like the rest of the admin API and changes nothing.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DEFAULT_ATTESTATION_POLICY_IDS } from '../policy/builtin.js';
import type { Store } from '../store/store.js';
import type { AdminAuthorizer } from './admin-auth.js';
import type { AttestationService } from '../attestation/service.js';
import { errorResponse, kbsError } from './errors.js';

/** No inline script or style, nothing from another origin, no framing (the console handles admin tokens). */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ASSETS: Record<string, string> = { '': 'index.html', 'app.js': 'app.js', 'app.css': 'app.css' };
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

export interface ConsoleOptions {
  admin: AdminAuthorizer;
  /** Where the reference values the inspector compares measurements with are kept. */
  store?: Pick<Store, 'referenceValues' | 'policies'>;
  attestation: AttestationService;
  storeKind?: string;
}

function assetDir(): URL {
  // src/server and dist/server are both two levels below the package root, where assets/ sits.
  return new URL('../../assets/console/', import.meta.url);
}

export function consoleRoutes(o: ConsoleOptions) {
  return async (app: FastifyInstance): Promise<void> => {
    if (o.admin.mode === 'DenyAll') return;
    const files = new Map<string, Buffer>();
    for (const [route, file] of Object.entries(ASSETS)) files.set(route, readFileSync(new URL(file, assetDir())));
    const serve = (reply: FastifyReply, route: string) => {
      const file = ASSETS[route];
      return reply
        .code(200)
        .header('content-type', TYPES[file.split('.').pop()!])
        .header('content-security-policy', CONSOLE_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .send(files.get(route));
    };
    app.get('/console', async (_req, reply) => serve(reply, ''));
    app.get('/console/', async (_req, reply) => serve(reply, ''));
    app.get('/console/app.js', async (_req, reply) => serve(reply, 'app.js'));
    app.get('/console/app.css', async (_req, reply) => serve(reply, 'app.css'));
    // Browsers ask for it on every page; an empty answer keeps 404s out of their consoles.
    app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());

    // The facts that no other admin route states: the store backend, the enabled TEEs, and the attestation
    // policy ids in force (stored ones and the built-in defaults, which Trustee's listing leaves out).
    app.get('/kbs/v0/status', async (req, reply) => {
      try {
        await o.admin.authorize(req.headers.authorization, req.url);
        const stored = o.store ? (await o.store.policies.list('attestation')).map((p) => p.id) : [];
        const attestationPolicies = [...new Set([...DEFAULT_ATTESTATION_POLICY_IDS, ...stored])].sort();
        const body = { store: o.storeKind ?? 'unknown', tees: o.attestation.verifiers.tees(), attestation_policies: attestationPolicies };
        return reply.code(200).header('content-type', 'application/json').header('cache-control', 'no-store').send(JSON.stringify(body));
      } catch (e) {
        const r = errorResponse(e, 'PluginInternalError');
        return reply.code(r.status).header('content-type', 'application/json').send(JSON.stringify(r.body));
      }
    });

    app.post('/kbs/v0/inspect', async (req, reply) => {
      try {
        await o.admin.authorize(req.headers.authorization, req.url);
        if (!(req.body instanceof Buffer) || req.body.length === 0) throw kbsError('KBS_BODY_MISSING', 'inspect: request body is empty');
        const referenceValues = o.store ? Object.fromEntries((await o.store.referenceValues.list()).map((rv) => [rv.name, rv.value])) : undefined;
        // The inspector knows every evidence format: loaded by the first inspection, not at server start.
        const { inspect } = await import('../inspect/inspect.js');
        const r = inspect(new Uint8Array(req.body), referenceValues ? { referenceValues } : {});
        return reply.code(200).header('content-type', 'application/json').header('cache-control', 'no-store').send(JSON.stringify(r));
      } catch (e) {
        const r = errorResponse(e, 'PluginInternalError');
        return reply.code(r.status).header('content-type', 'application/json').send(JSON.stringify(r.body));
      }
    });
  };
}
