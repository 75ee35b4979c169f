/**
 * Assembles a KBS from its configuration: the store (SQLite in the data directory by default), the token
 * signer (persisted in the store's encrypted key-value area so tokens verify across restarts and replicas),
 * the verifier registry, the policies (Trustee's defaults installed when none is stored) and the HTTP app.
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { CocoError } from '../errors.js';
import { utf8 } from '../formats/bytes.js';
import { AttestationService } from '../attestation/service.js';
import { TokenSigner } from '../attestation/signer.js';
import { defaultVerifiers, type VerifierRegistry } from '../attestation/verifiers.js';
import { DEFAULT_ATTESTATION_POLICIES, RESOURCE_POLICY_ALLOW_ALL, RESOURCE_POLICY_DEFAULT } from '../policy/defaults.js';
import type { AttestationPolicyEvaluator, ResourcePolicyEvaluator } from '../policy/types.js';
import { openPostgresStore, openSqliteStore, type Store } from '../store/index.js';
import { AdminAuthorizer } from './admin-auth.js';
import { buildKbsApp, RESOURCE_POLICY_ID, type KbsApp } from './app.js';
import { listenAddress, type KbsConfig, type SnpTrustedRoot } from './config.js';
import { amdRoots, rootsFromPem, type RootSet } from '../tee/snp/certs.js';
import { AttestationTokenVerifier } from './token-verifier.js';

export const SIGNER_KV_KEY = 'attestation-service/token-signer.pem';

export interface KbsOptions {
  config: KbsConfig;
  attestationPolicy: AttestationPolicyEvaluator;
  resourcePolicy: ResourcePolicyEvaluator;
  /** An already opened store (tests, embedding); otherwise opened from `config.storage_backend`. */
  store?: Store;
  verifiers?: VerifierRegistry;
  clock?: () => Date;
  randomNonce?: () => Uint8Array;
  logger?: Logger;
}

export interface Kbs extends KbsApp {
  store: Store;
  signer: TokenSigner;
  config: KbsConfig;
  /** True when the sample TEE (no hardware root of trust) is enabled. */
  developmentMode: boolean;
  /** `file (product)` of every configured SNP root that replaces AMD's (`trusted_roots`); empty by default. */
  nonAmdSnpRoots: string[];
  /** Listens on the configured socket (or `port` when given; 0 = any free port) and returns the URL. */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

export async function openStore(config: KbsConfig, clock?: () => Date): Promise<Store> {
  const sb = config.storage_backend;
  const kek = sb.kek_file ? { file: sb.kek_file } : undefined;
  if (sb.storage_type === 'postgres') {
    if (!kek) throw new CocoError('KBS_CONFIG', 'the postgres store needs storage_backend.kek_file (shared by every replica)', { kind: 'usage' });
    return openPostgresStore({ connectionString: sb.postgres_url!, kek, ...(clock ? { now: clock } : {}) });
  }
  return openSqliteStore({ dataDir: sb.data_dir, ...(kek ? { kek } : {}), ...(clock ? { now: clock } : {}) });
}

async function loadSigner(config: KbsConfig, store: Store): Promise<TokenSigner> {
  const s = config.attestation_service.attestation_token_broker.signer;
  if (s?.key_path) {
    const x5c = s.cert_path ? pemCertsToX5c(readFileSync(s.cert_path, 'utf8')) : undefined;
    return TokenSigner.fromPem(readFileSync(s.key_path, 'utf8'), x5c);
  }
  // Trustee generates an ephemeral key per start; keeping one in the encrypted KV area lets tokens survive a
  // restart and be verified by every replica sharing the store (§2.2).
  const stored = await store.kv.putIfAbsent(SIGNER_KV_KEY, utf8.encode(TokenSigner.generate().pem()));
  return TokenSigner.fromPem(utf8.decode(stored));
}

/** Trustee serves HTTPS unless `insecure_http = true`; without a key and certificate it refuses to start (§2.2). */
function loadTls(config: KbsConfig): { key: string; cert: string } | undefined {
  const h = config.http_server;
  if (h.insecure_http) return undefined;
  if (!h.private_key || !h.certificate) {
    throw new CocoError('KBS_CONFIG', 'http_server: HTTPS needs private_key and certificate (or set insecure_http = true)', { kind: 'usage' });
  }
  try {
    return { key: readFileSync(h.private_key, 'utf8'), cert: readFileSync(h.certificate, 'utf8') };
  } catch (e) {
    throw new CocoError('KBS_CONFIG', `cannot read the TLS key or certificate: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

function pemCertsToX5c(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => m[1].replace(/\s+/g, ''));
}

/**
 * The SNP trust anchors: AMD's shipped roots, with the products named in `trusted_roots` replaced by the
 * configured PEM bundles. Undefined (AMD only) when nothing is configured. A missing or malformed file stops
 * the start: a KBS must never come up trusting something other than what its operator wrote.
 */
export function loadSnpRoots(entries: readonly SnpTrustedRoot[] | undefined): RootSet | undefined {
  if (!entries?.length) return undefined;
  const set: Record<string, unknown> = { ...amdRoots() };
  for (const e of entries) {
    let text: string;
    try {
      text = readFileSync(e.pem, 'utf8');
    } catch (err) {
      throw new CocoError('KBS_CONFIG', `snp_verifier.trusted_roots: cannot read ${e.pem} (${e.product}): ${(err as Error).message}`, { kind: 'input', cause: err });
    }
    try {
      set[e.product] = rootsFromPem(e.product, text, 'configured (not AMD)')[e.product];
    } catch (err) {
      throw new CocoError('KBS_CONFIG', `snp_verifier.trusted_roots: ${e.pem} (${e.product}) is not a usable root bundle: ${(err as Error).message}`, { kind: 'input', cause: err });
    }
  }
  return Object.assign(set, { label: 'configured' }) as RootSet;
}

export async function openKbs(o: KbsOptions): Promise<Kbs> {
  const config = o.config;
  const clock = o.clock ?? (() => new Date());
  const log = o.logger ?? pino({ level: 'silent' });
  const store = o.store ?? (await openStore(config, clock));
  try {
    const developmentMode = config.attestation_service.allow_sample_tee;
    const trusted = config.attestation_service.snp_trusted_roots ?? [];
    const roots = loadSnpRoots(trusted);
    const nonAmdSnpRoots = trusted.map((t) => `${t.pem} (${t.product})`);
    const verifiers = o.verifiers ?? defaultVerifiers({
        sample: developmentMode,
        snp: { cacheDir: config.attestation_service.snp_vcek_cache, roots },
        tpm: { trustedAks: config.attestation_service.tpm_trusted_aks ?? [] },
      });
    if (nonAmdSnpRoots.length) {
      log.warn({ snp_trusted_roots: trusted }, `NON-AMD SNP ROOTS TRUSTED: ${nonAmdSnpRoots.join(', ')} replace the genuine AMD roots; reports signed under them do not come from AMD hardware`);
    }
    if (developmentMode) log.warn({ tees: verifiers.tees() }, 'development mode: the sample TEE is enabled and has no hardware root of trust');
    const signer = await loadSigner(config, store);

    // Install Trustee's default resource policy when none is stored (§1.9). In development mode the sample TEE
    // would be denied by it, so allow_all is installed instead, and the start-up banner says so.
    if (!(await store.policies.get('resource', RESOURCE_POLICY_ID))) {
      await store.policies.put('resource', RESOURCE_POLICY_ID, developmentMode ? RESOURCE_POLICY_ALLOW_ALL : RESOURCE_POLICY_DEFAULT);
    }

    const broker = config.attestation_service.attestation_token_broker;
    const attestation = new AttestationService({
      verifiers,
      policy: o.attestationPolicy,
      policyText: async (id) => (await store.policies.get('attestation', id))?.text ?? DEFAULT_ATTESTATION_POLICIES[id],
      referenceValues: async () => Object.fromEntries((await store.referenceValues.list()).map((r) => [r.name, r.value])),
      signer,
      clock,
      broker: {
        durationMin: broker.duration_min,
        issuer: broker.issuer_name,
        developer: broker.developer_name,
        profile: broker.profile_name,
        verbose: broker.verbose_token,
        ...(broker.build_name ? { build: broker.build_name } : {}),
      },
    });
    const tokenVerifier = new AttestationTokenVerifier({
      ownSigner: signer.jwk,
      insecureHeaderJwk: config.attestation_token.insecure_header_jwk,
      trustedJwkSets: config.attestation_token.trusted_jwk_sets,
      trustedCertsPaths: config.attestation_token.trusted_certs_paths,
      clock,
    });
    const admin = new AdminAuthorizer(config.admin.authorization_mode, config.admin.identity_providers, config.admin.acls, clock);
    const built = await buildKbsApp({
      tls: loadTls(config),
      store,
      attestation,
      attestationPolicy: o.attestationPolicy,
      resourcePolicy: o.resourcePolicy,
      tokenVerifier,
      admin,
      sessionMinutes: config.attestation_service.timeout,
      bodyLimit: Math.floor(config.http_server.payload_request_size * 1024 * 1024),
      extraTeekeyPaths: config.attestation_token.extra_teekey_paths,
      clock,
      randomNonce: o.randomNonce,
      workloads: config.workloads,
      logger: log,
    });
    const sweep = setInterval(() => void store.sweepExpired().catch(() => undefined), 60_000);
    sweep.unref();
    let closed = false;
    return {
      ...built,
      store,
      signer,
      config,
      developmentMode,
      nonAmdSnpRoots,
      async listen(port?: number, host?: string) {
        const addr = listenAddress(config);
        const url = await built.app.listen({ port: port ?? addr.port, host: host ?? addr.host });
        return url.replace('[::1]', 'localhost');
      },
      async close() {
        if (closed) return;
        closed = true;
        clearInterval(sweep);
        await built.app.close();
        if (!o.store) await store.close();
      },
    };
  } catch (e) {
    if (!o.store) await store.close();
    throw e;
  }
}

export function dataDirFile(config: KbsConfig, name: string): string {
  return join(config.storage_backend.data_dir, name);
}
