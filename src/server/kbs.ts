/**
 * Assembles a KBS from its configuration: the store (SQLite in the data directory by default), the token
 * signer (persisted in the store's encrypted key-value area so tokens verify across restarts and replicas),
 * the verifier registry, the policies (the built-in defaults installed when none is stored) and the HTTP app.
 */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import pino, { type Logger } from 'pino';
import { CocoError } from '../errors.js';
import { toBase64, utf8 } from '../formats/bytes.js';
import { pemCertificates } from '../formats/pem.js';
import { AttestationService } from '../attestation/service.js';
import { TokenSigner } from '../attestation/signer.js';
import { defaultVerifiers, type VerifierRegistry } from '../attestation/verifiers.js';
import { builtinResourcePolicy, defaultAttestationPolicy } from '../policy/builtin.js';
import type { AttestationPolicyEvaluator, ResourcePolicyEvaluator } from '../policy/types.js';
import { MemorySessionStore, withMemorySessions } from '../store/memory-sessions.js';
import { startAuditRetention } from '../store/open.js';
import { withReadCache } from '../store/read-cache.js';
import { ReferenceValueSets, pruneDecisionVersions } from './decision-versions.js';
import { openSqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import { AdminAuthorizer } from './admin-auth.js';
import { buildKbsApp, RESOURCE_POLICY_ID, type KbsApp, type KbsTls, type RecordedEvidenceReplay } from './app.js';
import { listenAddress, type KbsConfig, type SnpTrustedRoot } from './config.js';
import { amdRoots, rootsFromPem, type RootSet } from '../tee/snp/certs.js';
import type { TdxRoot } from '../tee/tdx/verify.js';
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
  /** Library only (no configuration key sets it): see server/app.ts `RecordedEvidenceReplay`. */
  recordedEvidence?: RecordedEvidenceReplay;
  logger?: Logger;
  /**
   * Where sessions live: `memory` (this process only) or `store` (shared with every process on the store).
   * Default: `memory` for a store opened here on SQLite by a process that is not a `--workers` worker, `store`
   * otherwise (PostgreSQL replicas, workers, a store handed in). With `memory` this process is taken to be the
   * store's only writer, and policies and reference values are also read once and kept until it writes them.
   */
  sessions?: 'memory' | 'store';
}

export interface Kbs extends KbsApp {
  store: Store;
  signer: TokenSigner;
  config: KbsConfig;
  /** True when the sample TEE (no hardware root of trust) is enabled. */
  developmentMode: boolean;
  /** `file (product)` of every configured SNP root that replaces AMD's (`trusted_roots`); empty by default. */
  nonAmdSnpRoots: string[];
  /** The configured `tdx_verifier.trusted_root` file that replaces Intel's root, or null (Intel only). */
  nonIntelTdxRoot: string | null;
  /** The reference-value set attestations read now, with its version (kept between writes where it can be). */
  referenceValueSets: ReferenceValueSets;
  /** Listens on the configured socket (or `port` when given; 0 = any free port) and returns the URL. */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

export async function openStore(config: KbsConfig, clock?: () => Date): Promise<Store> {
  const sb = config.storage_backend;
  const kek = sb.kek_file ? { file: sb.kek_file } : undefined;
  if (sb.storage_type === 'postgres') {
    if (!kek) throw new CocoError('KBS_CONFIG', 'the postgres store needs storage_backend.kek_file (shared by every replica)', { kind: 'usage' });
    // Loaded only when configured: the PostgreSQL driver is a sizeable share of the start-up time.
    const { openPostgresStore } = await import('../store/postgres.js');
    return openPostgresStore({ connectionString: sb.postgres_url!, kek, ...(clock ? { now: clock } : {}) });
  }
  // Trustee's Memory backend keeps nothing across restarts: a fresh directory per start keeps that promise.
  const dataDir = sb.ephemeral ? mkdtempSync(join(tmpdir(), 'cocokit-kbs-')) : sb.data_dir;
  return openSqliteStore({ dataDir, ...(kek ? { kek } : {}), ...(clock ? { now: clock } : {}) });
}

async function loadSigner(config: KbsConfig, store: Store): Promise<TokenSigner> {
  const s = config.attestation_service.attestation_token_broker.signer;
  if (s?.key_path) {
    const x5c = s.cert_path ? pemCertificates(readFileSync(s.cert_path, 'utf8')).map(toBase64) : undefined;
    return TokenSigner.fromPem(readFileSync(s.key_path, 'utf8'), x5c);
  }
  // Trustee generates an ephemeral key per start; keeping one in the encrypted KV area lets tokens survive a
  // restart and be verified by every replica sharing the store (§2.2). A key is generated only when none is
  // stored: every later start reads the one it has.
  const stored = (await store.kv.get(SIGNER_KV_KEY)) ?? (await store.kv.putIfAbsent(SIGNER_KV_KEY, utf8.encode(TokenSigner.generate().pem())));
  return TokenSigner.fromPem(utf8.decode(stored));
}

const TLS_VERSION: Record<'1.2' | '1.3', 'TLSv1.2' | 'TLSv1.3'> = { '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' };

/**
 * Key-exchange groups this OpenSSL knows, in the configured order. Trustee drops PQC groups its OpenSSL
 * lacks with a warning rather than refusing to start (kbs/docs/config.md, TLS configuration).
 */
function usableGroups(groups: string, log: Logger): string | undefined {
  const ok = groups.split(':').filter((g) => {
    try {
      createSecureContext({ ecdhCurve: g });
      return true;
    } catch {
      log.warn({ group: g }, `http_server.tls_groups: ${g} is not available in this OpenSSL; dropped`);
      return false;
    }
  });
  if (ok.length === 0) throw new CocoError('KBS_CONFIG', `http_server.tls_groups "${groups}": none of these groups is available in this OpenSSL`, { kind: 'input' });
  return ok.join(':');
}

/** Trustee serves HTTPS unless `insecure_http = true`; without a key and certificate it refuses to start (§2.2). */
function loadTls(config: KbsConfig, log: Logger): KbsTls | undefined {
  const h = config.http_server;
  if (h.insecure_http) return undefined;
  if (!h.private_key || !h.certificate) {
    throw new CocoError('KBS_CONFIG', 'http_server: HTTPS needs private_key and certificate (or set insecure_http = true)', { kind: 'usage' });
  }
  let tls: KbsTls;
  try {
    tls = { key: readFileSync(h.private_key, 'utf8'), cert: readFileSync(h.certificate, 'utf8') };
  } catch (e) {
    throw new CocoError('KBS_CONFIG', `cannot read the TLS key or certificate: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  if (h.tls_min_version) tls.minVersion = TLS_VERSION[h.tls_min_version];
  if (h.tls_max_version) tls.maxVersion = TLS_VERSION[h.tls_max_version];
  if (h.tls_ciphers) tls.ciphers = h.tls_ciphers;
  if (h.tls_groups) tls.ecdhCurve = usableGroups(h.tls_groups, log);
  try {
    createSecureContext(tls);
  } catch (e) {
    throw new CocoError('KBS_CONFIG', `http_server TLS settings are not usable: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  return tls;
}

/** Trustee `[policy_engine] policy_path`: the file is the resource policy at every start. */
function readResourcePolicyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new CocoError('KBS_CONFIG', `policy_engine.policy_path: cannot read ${path}: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
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

/** The configured TDX trust anchor, or undefined (Intel's). A file that cannot be used stops the start. */
export async function loadConfiguredTdxRoot(path: string | undefined): Promise<TdxRoot | undefined> {
  if (!path) return undefined;
  // The TDX verifier loads on the first TDX attestation; only a configured root needs its parser at start.
  const { loadTdxRoot } = await import('../tee/tdx/verify.js');
  try {
    return loadTdxRoot(readFileSync(path, 'utf8'), 'configured (not Intel)');
  } catch (err) {
    throw new CocoError('KBS_CONFIG', `tdx_verifier.trusted_root: ${path} is not a usable root certificate: ${(err as Error).message}`, { kind: 'input', cause: err });
  }
}

export async function openKbs(o: KbsOptions): Promise<Kbs> {
  const config = o.config;
  const clock = o.clock ?? (() => new Date());
  const log = o.logger ?? pino({ level: 'silent' });
  const opened = o.store ?? (await openStore(config, clock));
  // A cluster worker always has an IPC channel to its primary; a process without one need not load the module.
  const clusterWorker = process.channel !== undefined && (await import('node:cluster')).default.isWorker;
  const inProcess = o.sessions ? o.sessions === 'memory' : !o.store && config.storage_backend.storage_type === 'sqlite' && !clusterWorker;
  // Policies and reference values are read once and read again only after a write (store/read-cache.ts): the
  // only process on its store is also its only writer; replicas on PostgreSQL hear of each other's writes.
  // The reference-value set an attestation reads is versioned by hash for its decision record; the one writer
  // of its store, or a replica hearing of every replica's writes, keeps the set and its hash until a reference
  // value is written (server/decision-versions.ts).
  const rvSets = new ReferenceValueSets({ clock, cache: inProcess, ...(opened.changes ? { changes: opened.changes } : {}) });
  const store = rvSets.track(inProcess ? withReadCache(withMemorySessions(opened, new MemorySessionStore({ now: clock }))) : opened.changes ? withReadCache(opened) : opened);
  try {
    const developmentMode = config.attestation_service.allow_sample_tee;
    const trusted = config.attestation_service.snp_trusted_roots ?? [];
    const roots = loadSnpRoots(trusted);
    const nonAmdSnpRoots = trusted.map((t) => `${t.pem} (${t.product})`);
    const asConfig = config.attestation_service;
    const tdxRoot = await loadConfiguredTdxRoot(asConfig.tdx_trusted_root);
    const verifiers =
      o.verifiers ??
      defaultVerifiers({
        sample: developmentMode,
        snp: { cacheDir: asConfig.snp_vcek_cache, roots },
        tdx: { collateralDir: asConfig.tdx_collateral_cache, root: tdxRoot, allowExpiredCollateral: asConfig.tdx_allow_expired_collateral },
        tpm: { trustedAks: asConfig.tpm_trusted_aks ?? [] },
      });
    if (tdxRoot) log.warn({ tdx_trusted_root: asConfig.tdx_trusted_root }, `NON-INTEL TDX ROOT TRUSTED: ${asConfig.tdx_trusted_root} replaces the Intel SGX Root CA; quotes signed under it do not come from Intel hardware`);
    if (nonAmdSnpRoots.length) {
      log.warn({ snp_trusted_roots: trusted }, `NON-AMD SNP ROOTS TRUSTED: ${nonAmdSnpRoots.join(', ')} replace the genuine AMD roots; reports signed under them do not come from AMD hardware`);
    }
    if (developmentMode) log.warn({ tees: verifiers.tees() }, 'development mode: the sample TEE is enabled and has no hardware root of trust');
    const signer = await loadSigner(config, store);

    // Install the default resource policy when none is stored (§1.9). In development mode the sample TEE
    // would be denied by it, so allow_all is installed instead, and the start-up banner says so.
    if (config.resource_policy_file) {
      await store.policies.put('resource', RESOURCE_POLICY_ID, readResourcePolicyFile(config.resource_policy_file));
    } else if (!(await store.policies.get('resource', RESOURCE_POLICY_ID))) {
      await store.policies.put('resource', RESOURCE_POLICY_ID, builtinResourcePolicy(developmentMode ? 'allow_all' : 'default'));
    }

    const broker = config.attestation_service.attestation_token_broker;
    const attestation = new AttestationService({
      verifiers,
      policy: o.attestationPolicy,
      policyText: async (id) => (await store.policies.get('attestation', id))?.text ?? defaultAttestationPolicy(id),
      referenceValueSnapshot: () => rvSets.snapshot(),
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
    const admin = new AdminAuthorizer(config.admin.authorization_mode, config.admin.identity_providers, config.admin.acls, clock, {
      maxLifetimeSecs: config.admin.max_token_lifetime_secs,
      maxClockSkewSecs: config.admin.max_clock_skew_secs,
    });
    const built = await buildKbsApp({
      storeKind: o.store ? 'embedded' : config.storage_backend.storage_type,
      tls: loadTls(config, log),
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
      ...(o.recordedEvidence ? { recordedEvidence: o.recordedEvidence } : {}),
      workloads: config.workloads,
      logger: log,
      authLimits: { ratePerSec: config.http_server.auth_rate_per_sec, burst: config.http_server.auth_burst, maxPending: config.http_server.max_pending_sessions },
      timeouts: { headerSecs: config.http_server.header_timeout_secs, requestSecs: config.http_server.request_timeout_secs },
    });
    const sweep = setInterval(() => void store.sweepExpired().catch(() => undefined), 60_000);
    sweep.unref();
    const retention = startAuditRetention(store, {
      maxAgeMs: config.audit.max_age_days * 86_400_000,
      maxRows: config.audit.max_rows,
      intervalMs: Math.round(config.audit.prune_interval_secs * 1000),
      now: clock,
      onPruned: (deleted) => log.info({ event: 'audit.retention', deleted }, 'audit log pruned'),
      // Policy versions and reference-value sets no remaining decision names go with the records.
      afterPrune: async () => {
        const pruned = await pruneDecisionVersions(store, { referenceValueSet: async () => (await rvSets.snapshot()).version.hash });
        if (pruned.keys.length > 0) log.info({ event: 'audit.retention', policies: pruned.policies, reference_value_sets: pruned.referenceValueSets }, 'decision versions pruned');
      },
      onError: (e) => log.error({ code: (e as { code?: string }).code }, 'audit retention failed'),
    });
    let closed = false;
    return {
      ...built,
      store,
      signer,
      config,
      developmentMode,
      nonAmdSnpRoots,
      nonIntelTdxRoot: asConfig.tdx_trusted_root ?? null,
      referenceValueSets: rvSets,
      async listen(port?: number, host?: string) {
        const addr = listenAddress(config);
        const url = await built.app.listen({ port: port ?? addr.port, host: host ?? addr.host });
        return url.replace('[::1]', 'localhost');
      },
      async close() {
        if (closed) return;
        closed = true;
        clearInterval(sweep);
        retention.stop();
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
