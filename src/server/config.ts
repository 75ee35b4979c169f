/**
 * KBS configuration: a TOML file mirroring Trustee's kbs-config (specs/kbs-protocol.md §2.2) where options
 * mean the same, plus environment overrides. Options cocokit adds are marked as such. Unknown sections or
 * keys are rejected so a typo never silently weakens a deployment (Trustee rejects unknown `[admin]` fields).
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { CocoError } from '../errors.js';
import { isRecord } from '../formats/json.js';
import { PRODUCTS, type SnpProduct } from '../tee/snp/format.js';
import { fromTrusteeLayout, VERIFIER_TABLES } from './trustee-config.js';
import { defaultWorkloadsConfig, workloadsConfigFromToml, type WorkloadsConfig } from './workloads.js';

/** One `trusted_roots` entry: the product whose AMD roots it replaces and the PEM bundle file. */
export interface SnpTrustedRoot {
  product: SnpProduct;
  pem: string;
}

export type AdminMode = 'InsecureAllowAll' | 'DenyAll' | 'AuthenticatedAuthorization';

export interface IdentityProvider {
  issuer?: string;
  audience?: string;
  /** PEM public key file (path or file:// URI). */
  public_key_uri?: string;
  /** JWKS file (path or file:// URI). */
  jwk_set_uri?: string;
  /**
   * cocokit: the workload namespaces a token verified by this provider may act in (`["*"]` or absent: any).
   * A token's `namespace` claim can only pick one of them, never add to them.
   */
  namespaces?: string[];
}

export interface AclEntry {
  role: string;
  allowed_endpoints: string;
  /** cocokit: the workload namespaces this role may act in through these endpoints (`["*"]` or absent: any). */
  namespaces?: string[];
}

/** A namespace binding as the config may write it: names, or `"*"` alone for every namespace. */
function checkNamespaces(v: unknown, where: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0 || !v.every((n) => typeof n === 'string' && (n === '*' || /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/.test(n)))) {
    fail(`${where}.namespaces must be a non-empty array of namespace names, or ["*"]`);
  }
  if (v.includes('*') && v.length > 1) fail(`${where}.namespaces: "*" stands alone`);
  return v as string[];
}

export interface KbsConfig {
  http_server: {
    sockets: string[];
    insecure_http: boolean;
    private_key?: string;
    certificate?: string;
    /** Request body limit in MiB (Trustee default 2). */
    payload_request_size: number;
    /** cocokit: seconds a client has to send the request headers (Node's own default is 60). */
    header_timeout_secs: number;
    /** cocokit: seconds a client has to send the whole request, body included. */
    request_timeout_secs: number;
    /** cocokit: `POST /kbs/v0/auth` requests per second each client address may make, on average. */
    auth_rate_per_sec: number;
    /** cocokit: how many `POST /kbs/v0/auth` requests a client address may make at once before the rate applies. */
    auth_burst: number;
    /** cocokit: sessions this server holds that have not attested yet; further `auth` requests wait (429). */
    max_pending_sessions: number;
    /** Trustee `tls_profile` / `tls_min_version` / `tls_max_version`: "1.2" or "1.3" (default 1.2 to 1.3). */
    tls_min_version?: '1.2' | '1.3';
    tls_max_version?: '1.2' | '1.3';
    /** Colon-separated OpenSSL cipher list (TLS 1.2 and 1.3 names). */
    tls_ciphers?: string;
    /** Colon-separated key-exchange groups; groups this OpenSSL lacks are dropped with a warning at start. */
    tls_groups?: string;
    /**
     * Trustee: HTTP worker count. cocokit: worker processes of `kbs serve` sharing the listening socket and
     * the store (SQLite in WAL mode, or PostgreSQL), so the request path uses every core; default 1.
     */
    worker_count?: number;
  };
  admin: {
    authorization_mode: AdminMode;
    identity_providers: IdentityProvider[];
    acls: AclEntry[];
    /** cocokit (`[admin.authentication.bearer_jwt]`): longest admin token lifetime in seconds. */
    max_token_lifetime_secs: number;
    /** cocokit (`[admin.authentication.bearer_jwt]`): how far an admin token's `iat` may lie in the future. */
    max_clock_skew_secs: number;
  };
  attestation_token: {
    trusted_jwk_sets: string[];
    trusted_certs_paths: string[];
    extra_teekey_paths: string[];
    insecure_header_jwk: boolean;
  };
  attestation_service: {
    type: 'coco_as_builtin';
    /** Session timeout in minutes. */
    timeout: number;
    /** cocokit: accept the `sample`/`sampledevice` TEEs (no hardware root of trust). Off unless opted in. */
    allow_sample_tee: boolean;
    /** `[attestation_service.verifier_config.snp_verifier] vcek_sources = [{type = "OfflineStore", path}]`. */
    snp_vcek_cache?: string;
    /**
     * cocokit: `[attestation_service.verifier_config.snp_verifier] trusted_roots = [{ product = "milan",
     * pem = "roots.pem" }]` — a PEM bundle (ARK + ASK, optionally ASVK) that REPLACES the genuine AMD roots
     * for that product, e.g. a root made by `cocokit snp test-root`. For tests and labs only: reports signed
     * under it are not from AMD hardware. Never set by default; the KBS warns at start when it is.
     */
    snp_trusted_roots?: SnpTrustedRoot[];
    /**
     * cocokit: `[attestation_service.verifier_config.tdx_verifier] collateral_cache = "DIR"` — the offline TDX
     * collateral cache (`<DIR>/tdx/<fmspc>-<ca>.collateral.json`, filled by `cocokit tdx fetch-collateral`).
     */
    tdx_collateral_cache?: string;
    /**
     * cocokit: `tdx_verifier.trusted_root = "root.pem"` — a root certificate that REPLACES the Intel SGX Root
     * CA, e.g. one made by `cocokit tdx test-root`. For tests and labs only; the KBS warns at start when set.
     */
    tdx_trusted_root?: string;
    /** cocokit: `tdx_verifier.allow_expired_collateral` — report expiry as a claim instead of failing (Intel QvE). */
    tdx_allow_expired_collateral?: boolean;
    /**
     * cocokit: `[attestation_service.verifier_config.tpm_verifier] trusted_aks = [...]` — the AKs the `tpm`
     * verifier anchors, as SHA-256 fingerprints (hex) of their DER SPKI; given as such or as the std-base64
     * SPKI `cocokit tpm ak` prints. Unlisted AKs are reported with `ak_anchored: false`.
     */
    tpm_trusted_aks?: string[];
    attestation_token_broker: {
      duration_min: number;
      issuer_name: string;
      developer_name: string;
      build_name?: string;
      profile_name: string;
      verbose_token: boolean;
      signer?: { key_path?: string; cert_path?: string };
    };
  };
  storage_backend: {
    /** cocokit: `sqlite` (embedded, default) or `postgres`. */
    storage_type: 'sqlite' | 'postgres';
    /** cocokit: data directory of the SQLite store and its key-encryption key. */
    data_dir: string;
    /** cocokit: PostgreSQL connection string. */
    postgres_url?: string;
    /** cocokit: key-encryption key file (64 hex chars or base64); default `<data_dir>/kek`. */
    kek_file?: string;
    /** Trustee `storage_type = "Memory"`: a fresh data directory per start, so nothing survives a restart. */
    ephemeral?: boolean;
  };
  /** Trustee `[policy_engine] policy_path`: a resource policy file installed at every start. */
  resource_policy_file?: string;
  /** What loading a Trustee layout mapped or accepted without effect (shown at start). */
  notices?: string[];
  /** cocokit: per-workload registration, keybroker and reference-kbs dialects (off unless enabled). */
  workloads: WorkloadsConfig;
  /** cocokit: retention of the audit log, pruned in the background. */
  audit: AuditRetentionConfig;
}

/** `[audit]` (cocokit): audit rows older than `max_age_days`, or beyond the newest `max_rows`, are deleted. */
export interface AuditRetentionConfig {
  /** Days an audit row is kept; 0 keeps rows regardless of age. */
  max_age_days: number;
  /** Rows kept at most (the newest); 0 keeps any number. */
  max_rows: number;
  /** Seconds between two prunes. */
  prune_interval_secs: number;
}

export const DEFAULT_DATA_DIR = '.kbs-data';

export function defaultConfig(): KbsConfig {
  return {
    http_server: {
      sockets: ['127.0.0.1:8080'],
      insecure_http: true,
      payload_request_size: 2,
      header_timeout_secs: 10,
      request_timeout_secs: 30,
      auth_rate_per_sec: 10,
      auth_burst: 50,
      max_pending_sessions: 10_000,
    },
    admin: { authorization_mode: 'AuthenticatedAuthorization', identity_providers: [], acls: [], max_token_lifetime_secs: 3600, max_clock_skew_secs: 60 },
    attestation_token: { trusted_jwk_sets: [], trusted_certs_paths: [], extra_teekey_paths: [], insecure_header_jwk: false },
    attestation_service: {
      type: 'coco_as_builtin',
      timeout: 5,
      allow_sample_tee: false,
      attestation_token_broker: {
        duration_min: 5,
        issuer_name: 'CoCo-Attestation-Service',
        developer_name: 'https://confidentialcontainers.org',
        profile_name: 'tag:github.com,2024:confidential-containers/Trustee',
        verbose_token: true,
      },
    },
    storage_backend: { storage_type: 'sqlite', data_dir: DEFAULT_DATA_DIR },
    workloads: defaultWorkloadsConfig(),
    audit: { max_age_days: 90, max_rows: 100_000, prune_interval_secs: 300 },
  };
}

function fail(msg: string): never {
  throw new CocoError('KBS_CONFIG', `kbs config: ${msg}`, { kind: 'input' });
}

type Shape = Record<string, 'string' | 'number' | 'boolean' | 'string[]' | 'table' | 'table[]'>;

function checkTable(t: unknown, where: string, shape: Shape): Record<string, unknown> {
  if (!isRecord(t)) fail(`[${where}] must be a table`);
  for (const [k, v] of Object.entries(t)) {
    const want = shape[k];
    if (!want) fail(`unknown key "${k}" in [${where}] (known: ${Object.keys(shape).join(', ')})`);
    const ok =
      want === 'string[]' ? Array.isArray(v) && v.every((x) => typeof x === 'string')
      : want === 'table' ? isRecord(v)
      : want === 'table[]' ? Array.isArray(v) && v.every(isRecord)
      : typeof v === want;
    if (!ok) fail(`${where}.${k} must be a ${want}`);
  }
  return t;
}

/** Merges a parsed TOML document over the defaults, validating every key. */
export function configFromToml(text: string): KbsConfig {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(JSON.stringify(parseToml(text)));
  } catch (e) {
    throw new CocoError('KBS_CONFIG', `kbs config is not valid TOML: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  const mapped = fromTrusteeLayout(doc);
  doc = mapped.doc;
  const c = defaultConfig();
  if (mapped.notices.length) c.notices = mapped.notices;
  // As in Trustee, a config file serves HTTPS unless it says insecure_http = true (§2.2).
  c.http_server.insecure_http = false;
  checkTable(doc, 'root', { http_server: 'table', admin: 'table', attestation_token: 'table', attestation_service: 'table', storage_backend: 'table', plugins: 'table[]', workloads: 'table', audit: 'table', resource_policy_file: 'string' });
  if (typeof doc.resource_policy_file === 'string') c.resource_policy_file = doc.resource_policy_file;
  if (doc.workloads) c.workloads = workloadsConfigFromToml(doc.workloads);
  for (const [i, p] of ((doc.plugins as unknown[] | undefined) ?? []).entries()) {
    const pl = checkTable(p, `plugins[${i}]`, { name: 'string', type: 'string', storage_backend_type: 'string', dir_path: 'string' });
    // The resource plugin is built in and keeps secrets in the (encrypted) store; other plugins do not exist here.
    if (pl.name !== 'resource') fail(`plugins[${i}]: plugin "${pl.name}" is not available (only "resource")`);
    if (pl.storage_backend_type !== undefined && pl.storage_backend_type !== 'kvstorage') fail(`plugins[${i}]: storage_backend_type "${pl.storage_backend_type}" is not supported (kvstorage)`);
  }
  if (doc.http_server) {
    const h = checkTable(doc.http_server, 'http_server', {
      sockets: 'string[]', insecure_http: 'boolean', private_key: 'string', certificate: 'string', payload_request_size: 'number', worker_count: 'number',
      header_timeout_secs: 'number', request_timeout_secs: 'number', auth_rate_per_sec: 'number', auth_burst: 'number', max_pending_sessions: 'number',
      tls_min_version: 'string', tls_max_version: 'string', tls_ciphers: 'string', tls_groups: 'string',
    });
    Object.assign(c.http_server, h);
    if (h.worker_count !== undefined && !(Number.isInteger(h.worker_count) && (h.worker_count as number) >= 1 && (h.worker_count as number) <= 256)) {
      fail('http_server.worker_count must be an integer from 1 to 256');
    }
    if (!(c.http_server.payload_request_size > 0)) fail('http_server.payload_request_size must be positive');
    for (const k of ['header_timeout_secs', 'request_timeout_secs', 'auth_rate_per_sec'] as const) if (!(c.http_server[k] > 0)) fail(`http_server.${k} must be positive`);
    for (const k of ['auth_burst', 'max_pending_sessions'] as const) if (!Number.isInteger(c.http_server[k]) || c.http_server[k] < 1) fail(`http_server.${k} must be a positive integer`);
    if (c.http_server.header_timeout_secs > c.http_server.request_timeout_secs) fail('http_server.header_timeout_secs must not exceed request_timeout_secs');
  }
  if (doc.admin) {
    const a = checkTable(doc.admin, 'admin', { authorization_mode: 'string', authentication: 'table', authorization: 'table' });
    if (a.authorization_mode !== undefined) {
      if (!['InsecureAllowAll', 'DenyAll', 'AuthenticatedAuthorization'].includes(a.authorization_mode as string)) fail(`admin.authorization_mode "${a.authorization_mode}" is not one of InsecureAllowAll, DenyAll, AuthenticatedAuthorization`);
      c.admin.authorization_mode = a.authorization_mode as AdminMode;
    }
    if (a.authentication) {
      const au = checkTable(a.authentication, 'admin.authentication', { bearer_jwt: 'table' });
      const bj = checkTable(au.bearer_jwt ?? {}, 'admin.authentication.bearer_jwt', { identity_providers: 'table[]', max_token_lifetime_secs: 'number', max_clock_skew_secs: 'number' });
      for (const k of ['max_token_lifetime_secs', 'max_clock_skew_secs'] as const) {
        if (bj[k] === undefined) continue;
        if (!((bj[k] as number) >= 0) || (k === 'max_token_lifetime_secs' && bj[k] === 0)) fail(`admin.authentication.bearer_jwt.${k} must be ${k === 'max_clock_skew_secs' ? 'zero or positive' : 'positive'}`);
        c.admin[k] = bj[k] as number;
      }
      c.admin.identity_providers = ((bj.identity_providers as unknown[]) ?? []).map((p, i) => {
        const where = `admin.authentication.bearer_jwt.identity_providers[${i}]`;
        const ip = checkTable(p, where, { issuer: 'string', audience: 'string', public_key_uri: 'string', jwk_set_uri: 'string', namespaces: 'string[]' });
        if (!ip.public_key_uri && !ip.jwk_set_uri) fail(`identity provider ${i} needs public_key_uri or jwk_set_uri`);
        checkNamespaces(ip.namespaces, where);
        return ip as IdentityProvider;
      });
    }
    if (a.authorization) {
      const az = checkTable(a.authorization, 'admin.authorization', { regex_acl: 'table' });
      const ra = checkTable(az.regex_acl ?? {}, 'admin.authorization.regex_acl', { acls: 'table[]' });
      c.admin.acls = ((ra.acls as unknown[]) ?? []).map((e, i) => {
        const acl = checkTable(e, `admin.authorization.regex_acl.acls[${i}]`, { role: 'string', allowed_endpoints: 'string', namespaces: 'string[]' }) as unknown as AclEntry;
        checkNamespaces(acl.namespaces, `admin.authorization.regex_acl.acls[${i}]`);
        if (typeof acl.role !== 'string' || typeof acl.allowed_endpoints !== 'string') fail(`acl ${i} needs role and allowed_endpoints`);
        // Trustee requires anchored expressions over the /kbs namespace (§2.1); the compat dialects' registration
        // routes live under their own prefix ([workloads.*] prefix), so any anchored absolute path is accepted.
        if (!acl.allowed_endpoints.startsWith('^/') || !acl.allowed_endpoints.endsWith('$')) fail(`acl ${i}: allowed_endpoints must start with ^/ and end with $`);
        try {
          new RegExp(acl.allowed_endpoints);
        } catch (err) {
          fail(`acl ${i}: invalid regex: ${(err as Error).message}`);
        }
        return acl;
      });
    }
  }
  if (doc.attestation_token) {
    const t = checkTable(doc.attestation_token, 'attestation_token', { trusted_jwk_sets: 'string[]', trusted_certs_paths: 'string[]', extra_teekey_paths: 'string[]', insecure_header_jwk: 'boolean' });
    Object.assign(c.attestation_token, t);
  }
  if (doc.attestation_service) {
    const s = checkTable(doc.attestation_service, 'attestation_service', {
      type: 'string', timeout: 'number', allow_sample_tee: 'boolean', attestation_token_broker: 'table', rvps_config: 'table', verifier_config: 'table',
    });
    if (s.type !== undefined && s.type !== 'coco_as_builtin') fail(`attestation_service.type "${s.type}" is not supported (only coco_as_builtin)`);
    if (s.timeout !== undefined) {
      if (!((s.timeout as number) > 0)) fail('attestation_service.timeout must be positive');
      c.attestation_service.timeout = s.timeout as number;
    }
    if (s.allow_sample_tee !== undefined) c.attestation_service.allow_sample_tee = s.allow_sample_tee as boolean;
    if (s.rvps_config) {
      const r = checkTable(s.rvps_config, 'attestation_service.rvps_config', { type: 'string', storage: 'table' });
      // The RVPS is built in and keeps its values in the KBS store.
      if (r.type !== undefined && r.type !== 'BuiltIn') fail(`attestation_service.rvps_config.type "${r.type}" is not supported (BuiltIn)`);
    }
    if (s.verifier_config) {
      const v = checkTable(s.verifier_config, 'attestation_service.verifier_config', Object.fromEntries(VERIFIER_TABLES.map((k) => [k, 'table'])));
      if (v.tpm_verifier) {
        const t = checkTable(v.tpm_verifier, 'attestation_service.verifier_config.tpm_verifier', { trusted_aks: 'string[]' });
        c.attestation_service.tpm_trusted_aks = ((t.trusted_aks as string[] | undefined) ?? []).map((ak, i) => {
          if (/^[0-9a-fA-F]{64}$/.test(ak)) return ak.toLowerCase();
          try {
            createPublicKey({ key: Buffer.from(ak, 'base64'), format: 'der', type: 'spki' });
          } catch {
            fail(`attestation_service.verifier_config.tpm_verifier.trusted_aks[${i}] is neither a SHA-256 fingerprint (hex) nor a base64 DER public key`);
          }
          return createHash('sha256').update(Buffer.from(ak, 'base64')).digest('hex');
        });
      }
      if (v.tdx_verifier) {
        const where = 'attestation_service.verifier_config.tdx_verifier';
        const tdx = checkTable(v.tdx_verifier, where, { collateral_cache: 'string', trusted_root: 'string', allow_expired_collateral: 'boolean' });
        if (tdx.collateral_cache !== undefined) {
          if (tdx.collateral_cache === '') fail(`${where}.collateral_cache must name a directory`);
          c.attestation_service.tdx_collateral_cache = tdx.collateral_cache as string;
        }
        if (tdx.trusted_root !== undefined) {
          if (tdx.trusted_root === '') fail(`${where}.trusted_root must name a PEM file`);
          c.attestation_service.tdx_trusted_root = tdx.trusted_root as string;
        }
        if (tdx.allow_expired_collateral !== undefined) c.attestation_service.tdx_allow_expired_collateral = tdx.allow_expired_collateral as boolean;
      }
      if (v.snp_verifier) {
        const snp = checkTable(v.snp_verifier, 'attestation_service.verifier_config.snp_verifier', { vcek_sources: 'table[]', trusted_roots: 'table[]' });
        if (snp.trusted_roots !== undefined) {
          const seen = new Set<string>();
          c.attestation_service.snp_trusted_roots = (snp.trusted_roots as unknown[]).map((r, i) => {
            const where = `attestation_service.verifier_config.snp_verifier.trusted_roots[${i}]`;
            const e = checkTable(r, where, { product: 'string', pem: 'string' });
            if (typeof e.product !== 'string' || !(PRODUCTS as readonly string[]).includes(e.product)) fail(`${where}.product must be one of ${PRODUCTS.join(', ')}`);
            if (typeof e.pem !== 'string' || e.pem === '') fail(`${where}.pem must name a PEM file (ARK and ASK)`);
            if (seen.has(e.product)) fail(`${where}: product "${e.product}" is given twice`);
            seen.add(e.product);
            return { product: e.product as SnpProduct, pem: e.pem };
          });
          if (c.attestation_service.snp_trusted_roots.length === 0) delete c.attestation_service.snp_trusted_roots;
        }
        for (const [i, src] of ((snp.vcek_sources as unknown[]) ?? []).entries()) {
          const e = checkTable(src, `attestation_service.verifier_config.snp_verifier.vcek_sources[${i}]`, { type: 'string', path: 'string', base_url: 'string' });
          // No network at verification time: VCEKs come from the evidence or an offline store.
          if (e.type !== 'OfflineStore') fail(`vcek_sources[${i}]: type "${e.type}" is not supported; use OfflineStore (fill it with: cocokit snp fetch-vcek)`);
          c.attestation_service.snp_vcek_cache = (e.path as string | undefined) ?? '/opt/confidential-containers/attestation-service/snp';
        }
      }
    }
    if (s.attestation_token_broker) {
      const b = checkTable(s.attestation_token_broker, 'attestation_service.attestation_token_broker', {
        type: 'string', duration_min: 'number', issuer_name: 'string', developer_name: 'string', build_name: 'string', profile_name: 'string', verbose_token: 'boolean', signer: 'table', policy_dir: 'string',
      });
      if (b.signer) checkTable(b.signer, 'attestation_service.attestation_token_broker.signer', { key_path: 'string', cert_path: 'string', cert_url: 'string' });
      const { type: _t, policy_dir: _p, ...rest } = b;
      Object.assign(c.attestation_service.attestation_token_broker, rest);
    }
  }
  if (doc.audit) {
    const a = checkTable(doc.audit, 'audit', { max_age_days: 'number', max_rows: 'number', prune_interval_secs: 'number' });
    Object.assign(c.audit, a);
    if (!(c.audit.max_age_days >= 0)) fail('audit.max_age_days must be zero (keep) or positive');
    if (!Number.isInteger(c.audit.max_rows) || c.audit.max_rows < 0) fail('audit.max_rows must be zero (keep) or a positive integer');
    if (!(c.audit.prune_interval_secs >= 1)) fail('audit.prune_interval_secs must be at least 1');
  }
  if (doc.storage_backend) {
    const s = checkTable(doc.storage_backend, 'storage_backend', { storage_type: 'string', data_dir: 'string', postgres_url: 'string', kek_file: 'string', ephemeral: 'boolean' });
    if (s.storage_type !== undefined && s.storage_type !== 'sqlite' && s.storage_type !== 'postgres') fail(`storage_backend.storage_type "${s.storage_type}" is not sqlite or postgres`);
    Object.assign(c.storage_backend, s);
    if (c.storage_backend.storage_type === 'postgres' && !c.storage_backend.postgres_url) fail('storage_backend.postgres_url is required for postgres');
  }
  return c;
}

export function loadConfigFile(path: string): KbsConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CocoError('KBS_CONFIG', `cannot read kbs config ${path}: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  return configFromToml(text);
}

/**
 * Environment overrides (cocokit): `KBS_CONFIG_FILE` names the file (as Trustee), and
 * `COCOKIT_KBS_SOCKET`, `COCOKIT_KBS_DATA_DIR`, `COCOKIT_KBS_POSTGRES_URL`, `COCOKIT_KBS_KEK_FILE`,
 * `COCOKIT_KBS_PAYLOAD_MIB` override single options.
 */
export function applyEnv(c: KbsConfig, env: NodeJS.ProcessEnv): KbsConfig {
  if (env.COCOKIT_KBS_SOCKET) c.http_server.sockets = [env.COCOKIT_KBS_SOCKET];
  if (env.COCOKIT_KBS_DATA_DIR) c.storage_backend.data_dir = env.COCOKIT_KBS_DATA_DIR;
  if (env.COCOKIT_KBS_POSTGRES_URL) {
    c.storage_backend.storage_type = 'postgres';
    c.storage_backend.postgres_url = env.COCOKIT_KBS_POSTGRES_URL;
  }
  if (env.COCOKIT_KBS_KEK_FILE) c.storage_backend.kek_file = env.COCOKIT_KBS_KEK_FILE;
  if (env.COCOKIT_KBS_PAYLOAD_MIB) {
    const n = Number(env.COCOKIT_KBS_PAYLOAD_MIB);
    if (!(n > 0)) fail('COCOKIT_KBS_PAYLOAD_MIB must be a positive number');
    c.http_server.payload_request_size = n;
  }
  return c;
}

/** `host:port` of the first socket. */
export function listenAddress(c: KbsConfig): { host: string; port: number } {
  const s = c.http_server.sockets[0] ?? '127.0.0.1:8080';
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) fail(`http_server.sockets entry "${s}" is not host:port`);
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port };
}
