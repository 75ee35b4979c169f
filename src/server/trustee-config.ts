/**
 * Trustee's kbs-config layout (specs/kbs-protocol.md §2.2) rewritten onto cocokit's own keys, so a Trustee
 * user's file loads unmodified. Each Trustee form is either mapped (the same behaviour exists here), noted
 * (accepted, with nothing to configure here) or refused with an `unsupported` error naming the key and what
 * to use instead. Refusing is the rule wherever ignoring a key would change what the KBS trusts or where its
 * secrets live; a key cocokit does not know at all stays an unknown key for config.ts to reject.
 *
 * The rewrite runs before config.ts validates the document, which then sees only cocokit keys.
 */
import { CocoError } from '../errors.js';
import { isRecord } from '../formats/json.js';

export interface TrusteeMapping {
  /** The document in cocokit's layout. */
  doc: Record<string, unknown>;
  /** What was mapped or accepted without effect, for the start banner and `--explain`. */
  notices: string[];
}

function refuse(key: string, what: string, instead: string): never {
  throw new CocoError('KBS_CONFIG_UNSUPPORTED', `kbs config: ${key}: ${what} is not supported by cocokit; ${instead}`, { kind: 'unsupported', detail: { key } });
}

function table(v: unknown, where: string): Record<string, unknown> {
  if (!isRecord(v)) throw new CocoError('KBS_CONFIG', `kbs config: [${where}] must be a table`, { kind: 'input' });
  return v;
}

function str(v: unknown, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new CocoError('KBS_CONFIG', `kbs config: ${where} must be a string`, { kind: 'input' });
  return v;
}

/** Trustee spells storage types `LocalFs`, `local_fs`, `localfs` alike (serde aliases). */
function storageKind(v: string): string {
  return v.toLowerCase().replace(/_/g, '');
}

const ADMIN_MODES = ['InsecureAllowAll', 'DenyAll', 'AuthenticatedAuthorization'];

function mapAdmin(a: Record<string, unknown>, notices: string[]): Record<string, unknown> {
  const out = { ...a };
  // Trustee's older spelling of the mode (`[admin] type = "DenyAll"`), still in its docs and test configs.
  if (out.type !== undefined) {
    const t = str(out.type, 'admin.type');
    if (t === 'Simple') refuse('admin.type', '"Simple" admin personas', 'use authorization_mode = "AuthenticatedAuthorization" with [admin.authentication.bearer_jwt] identity_providers and [admin.authorization.regex_acl] acls (admin tokens carry a role claim)');
    if (!ADMIN_MODES.includes(t!)) throw new CocoError('KBS_CONFIG', `kbs config: admin.type "${t}" is not one of ${ADMIN_MODES.join(', ')}`, { kind: 'input' });
    if (out.authorization_mode !== undefined && out.authorization_mode !== t) {
      throw new CocoError('KBS_CONFIG', `kbs config: admin.type "${t}" contradicts admin.authorization_mode "${String(out.authorization_mode)}"`, { kind: 'input' });
    }
    out.authorization_mode = t;
    delete out.type;
  }
  // Trustee ≤ 0.10: `insecure_api = true` opened the admin API without tokens.
  if (out.insecure_api !== undefined) {
    if (typeof out.insecure_api !== 'boolean') throw new CocoError('KBS_CONFIG', 'kbs config: admin.insecure_api must be a boolean', { kind: 'input' });
    if (out.insecure_api) {
      out.authorization_mode ??= 'InsecureAllowAll';
      notices.push('admin.insecure_api = true is read as authorization_mode = "InsecureAllowAll"');
    }
    delete out.insecure_api;
  }
  if (out.personas !== undefined) {
    refuse('admin.personas', 'admin personas (role-less tokens per persona key)', 'list each key under [admin.authentication.bearer_jwt] identity_providers and grant its role in [admin.authorization.regex_acl] acls');
  }
  if (out.auth_public_key !== undefined) {
    refuse('admin.auth_public_key', 'a single role-less admin key', 'set identity_providers = [{ public_key_uri = "…" }] under [admin.authentication.bearer_jwt] and acls under [admin.authorization.regex_acl]');
  }
  // An empty `[admin.authentication.bearer_jwt]` / `[admin.authorization.regex_acl]` is how Trustee's test
  // configs declare the mode with nothing configured yet.
  return out;
}

function mapAttestationService(s: Record<string, unknown>, notices: string[]): Record<string, unknown> {
  const type = str(s.type, 'attestation_service.type');
  if (type === 'coco_as_grpc') {
    refuse('attestation_service.type', `"coco_as_grpc" (a remote CoCo AS${typeof s.as_addr === 'string' ? ` at as_addr ${s.as_addr}` : ''})`, 'cocokit verifies evidence in-process: use type = "coco_as_builtin" (drop as_addr and pool_size)');
  }
  if (type === 'intel_ta') {
    refuse('attestation_service.type', '"intel_ta" (Intel Trust Authority)', 'use type = "coco_as_builtin", which verifies evidence in-process (drop base_url, api_key, certs_file, policy_ids, allow_unmatched_policy)');
  }
  const out = { ...s };
  if (out.rvps_config !== undefined) {
    const r = { ...table(out.rvps_config, 'attestation_service.rvps_config') };
    const rt = str(r.type, 'attestation_service.rvps_config.type');
    if (rt === 'GrpcRemote') {
      refuse('attestation_service.rvps_config.type', `"GrpcRemote" (a remote RVPS${typeof r.address === 'string' ? ` at ${r.address}` : ''})`, 'use type = "BuiltIn": reference values live in the KBS store (cocokit kbs config set-reference-value)');
    }
    // The built-in RVPS keeps reference values in the KBS store whatever `storage_type` says, and
    // provenance extractors do not exist here: reference values are registered already extracted.
    if (r.storage_type !== undefined) notices.push('attestation_service.rvps_config.storage_type is accepted: reference values live in the KBS store');
    if (r.extractors !== undefined) notices.push('attestation_service.rvps_config.extractors is accepted without effect: reference values are registered as plain values');
    delete r.storage_type;
    delete r.extractors;
    out.rvps_config = r;
  }
  if (out.verifier_config !== undefined) {
    const v = { ...table(out.verifier_config, 'attestation_service.verifier_config') };
    if (v.dcap_verifier !== undefined) {
      mapDcapVerifier(table(v.dcap_verifier, 'attestation_service.verifier_config.dcap_verifier'), v.tdx_verifier, notices);
      delete v.dcap_verifier;
    }
    // Configuration of a verifier cocokit does not have cannot weaken anything: that TEE's evidence is
    // refused at attestation (no verifier registered), so the table is accepted and named at start.
    for (const k of Object.keys(v)) {
      if (k === 'tpm_verifier') {
        // cocokit reads `trusted_aks` only; Trustee's own TPM verifier options have no effect here.
        const t = { ...table(v[k], 'attestation_service.verifier_config.tpm_verifier') };
        for (const key of Object.keys(t)) {
          if (key === 'trusted_aks') continue;
          notices.push(`attestation_service.verifier_config.tpm_verifier.${key} is accepted without effect: cocokit's tpm verifier reads trusted_aks only`);
          delete t[key];
        }
        v[k] = t;
        continue;
      }
      if (k.endsWith('_verifier') && !(VERIFIER_TABLES as readonly string[]).includes(k)) {
        notices.push(`attestation_service.verifier_config.${k} is accepted without effect: cocokit has no such verifier and refuses that TEE's evidence`);
        delete v[k];
      }
    }
    out.verifier_config = v;
  }
  return out;
}

/**
 * Trustee's `[attestation_service.verifier_config.dcap_verifier]` is Intel's QCNL configuration: where the
 * DCAP library fetches collateral during verification. cocokit never fetches at attestation time: TDX
 * collateral comes from `tdx_verifier.collateral_cache`, filled beforehand by `cocokit tdx fetch-collateral`,
 * which takes the same service and TCB update type as flags. So the table is accepted and its values are
 * turned into that command; nothing it says can loosen verification (without collateral a quote fails).
 */
function mapDcapVerifier(d: Record<string, unknown>, tdx: unknown, notices: string[]): void {
  const where = 'attestation_service.verifier_config.dcap_verifier';
  for (const k of Object.keys(d)) {
    if (k !== 'collateral_service' && k !== 'use_secure_cert' && k !== 'tcb_update_type') throw new CocoError('KBS_CONFIG', `kbs config: ${where}: unknown key "${k}"`, { kind: 'input' });
  }
  const service = str(d.collateral_service, `${where}.collateral_service`);
  const update = str(d.tcb_update_type, `${where}.tcb_update_type`);
  if (update !== undefined && update !== 'early' && update !== 'standard') throw new CocoError('KBS_CONFIG', `kbs config: ${where}.tcb_update_type must be "early" or "standard"`, { kind: 'input' });
  if (d.use_secure_cert !== undefined && typeof d.use_secure_cert !== 'boolean') throw new CocoError('KBS_CONFIG', `kbs config: ${where}.use_secure_cert must be a boolean`, { kind: 'input' });
  // QCNL names the SGX certification root of the service; fetch-collateral takes the service's base URL.
  const base = service?.replace(/\/(sgx|tdx)\/certification\/v\d+\/?$/, '').replace(/\/$/, '');
  const cache = isRecord(tdx) && typeof tdx.collateral_cache === 'string' ? tdx.collateral_cache : 'DIR';
  const command = `cocokit tdx fetch-collateral QUOTE --cache ${cache}${base ? ` --pcs-url ${base}` : ''}${update ? ` --update ${update}` : ''}`;
  notices.push(`${where} is not contacted at attestation: TDX collateral is read from tdx_verifier.collateral_cache; fill it with \`${command}\``);
  if (cache === 'DIR') notices.push(`${where}: set [attestation_service.verifier_config.tdx_verifier] collateral_cache, or every TDX quote fails its collateral check`);
  if (d.use_secure_cert !== undefined) notices.push(`${where}.use_secure_cert is accepted without effect: nothing is fetched at attestation`);
}

/** `[storage_backend]` with Trustee's `storage_type` and `backends.*` tables → cocokit's store options. */
function mapStorage(s: Record<string, unknown>, notices: string[]): Record<string, unknown> {
  const type = str(s.storage_type, 'storage_backend.storage_type');
  const backends = s.backends === undefined ? {} : table(s.backends, 'storage_backend.backends');
  const out: Record<string, unknown> = { ...s };
  delete out.backends;
  if (type === undefined || type === 'sqlite' || type === 'postgres') {
    if (Object.keys(backends).length > 0) notices.push('storage_backend.backends is accepted without effect: storage_type is cocokit\'s own');
    return out;
  }
  const kind = storageKind(type);
  const backend = (name: string): Record<string, unknown> => (backends[name] === undefined ? {} : table(backends[name], `storage_backend.backends.${name}`));
  if (kind === 'localfs' || kind === 'localjson') {
    // Trustee keeps plain files there; cocokit keeps the same data in an encrypted SQLite store in that directory.
    const name = kind === 'localfs' ? 'local_fs' : 'local_json';
    const b = backend(name);
    const dir = str(kind === 'localfs' ? b.dir_path : b.file_dir_path, `storage_backend.backends.${name}.${kind === 'localfs' ? 'dir_path' : 'file_dir_path'}`);
    out.storage_type = 'sqlite';
    if (dir !== undefined) out.data_dir = dir;
    notices.push(`storage_backend.storage_type "${type}" is served by the encrypted SQLite store${dir ? ` in ${dir}` : ''}`);
    return out;
  }
  if (kind === 'memory') {
    // Trustee's default: nothing survives a restart. cocokit keeps the same promise with a fresh data
    // directory per start.
    out.storage_type = 'sqlite';
    out.ephemeral = true;
    notices.push(`storage_backend.storage_type "${type}": a fresh SQLite store per start (nothing survives a restart)`);
    return out;
  }
  if (kind === 'postgres') {
    const b = backend('postgres');
    const field = (k: string, d: string): string => {
      const v = b[k];
      if (v === undefined) return d;
      if (typeof v !== 'string' && typeof v !== 'number') throw new CocoError('KBS_CONFIG', `kbs config: storage_backend.backends.postgres.${k} must be a string`, { kind: 'input' });
      return String(v);
    };
    const user = encodeURIComponent(field('username', 'postgres'));
    const pw = b.password === undefined ? '' : `:${encodeURIComponent(field('password', ''))}`;
    out.storage_type = 'postgres';
    out.postgres_url = `postgresql://${user}${pw}@${field('host', 'localhost')}:${field('port', '5432')}/${encodeURIComponent(field('db', 'postgres'))}`;
    if (b.table !== undefined) notices.push('storage_backend.backends.postgres.table is accepted without effect: cocokit uses its own schema');
    return out;
  }
  return refuse('storage_backend.storage_type', `"${type}"`, 'use "LocalFs" (or cocokit\'s "sqlite") for one node, "Postgres" (or "postgres" with postgres_url) for replicas');
}

function mapPlugins(list: unknown[], notices: string[]): unknown[] {
  const kept: unknown[] = [];
  for (const [i, raw] of list.entries()) {
    const p = table(raw, `plugins[${i}]`);
    const name = str(p.name, `plugins[${i}].name`);
    const where = `plugins[${i}].name`;
    if (name === 'external') refuse(where, '"external" (gRPC plugin backends)', 'serve the extra endpoints beside the KBS; cocokit serves the resource plugin only');
    if (name === 'sample') refuse(where, '"sample" (Trustee\'s example plugin)', 'remove it; cocokit serves the resource plugin only');
    if (name === 'nebula-ca') refuse(where, '"nebula-ca"', 'issue Nebula certificates outside the KBS and store them as resources');
    if (name === 'pkcs11') refuse(where, '"pkcs11"', 'store the secrets as resources (encrypted at rest under the store\'s key-encryption key)');
    if (name !== 'resource') {
      kept.push(p);
      continue;
    }
    const backendType = str(p.storage_backend_type ?? p.type, `plugins[${i}].storage_backend_type`);
    if (backendType !== undefined && !['kvstorage', 'LocalFs', 'LocalJson', 'Memory'].includes(backendType)) {
      refuse(`plugins[${i}].storage_backend_type`, `"${backendType}"`, 'use "kvstorage": resources live in the KBS store, encrypted at rest');
    }
    if (p.dir_path !== undefined || p.file_dir_path !== undefined) notices.push(`plugins[${i}]: the resource directory is the store's ([storage_backend])`);
    kept.push({ ...p, ...(p.storage_backend_type === undefined ? {} : { storage_backend_type: 'kvstorage' }) });
  }
  return kept;
}

/** TLS profiles (Mozilla's server-side TLS levels, Trustee `http_server.tls_profile`). */
const TLS_PROFILES: Record<string, { min: '1.2' | '1.3' }> = { old: { min: '1.2' }, intermediate: { min: '1.2' }, modern: { min: '1.3' }, custom: { min: '1.2' } };

function mapHttpServer(h: Record<string, unknown>): Record<string, unknown> {
  const out = { ...h };
  const profile = str(out.tls_profile, 'http_server.tls_profile');
  if (profile !== undefined && !TLS_PROFILES[profile]) {
    throw new CocoError('KBS_CONFIG', `kbs config: http_server.tls_profile "${profile}" is not one of ${Object.keys(TLS_PROFILES).join(', ')}`, { kind: 'input' });
  }
  for (const k of ['tls_min_version', 'tls_max_version']) {
    const v = str(out[k], `http_server.${k}`);
    if (v !== undefined && v !== '1.2' && v !== '1.3') throw new CocoError('KBS_CONFIG', `kbs config: http_server.${k} must be "1.2" or "1.3"`, { kind: 'input' });
  }
  if (out.tls_min_version === undefined && profile) out.tls_min_version = TLS_PROFILES[profile].min;
  if (profile === 'modern') out.tls_max_version ??= '1.3';
  delete out.tls_profile;
  return out;
}

/**
 * Rewrites a parsed kbs-config from Trustee's layout into cocokit's. Throws `unsupported` for a feature
 * cocokit does not have, naming the key and the alternative.
 */
/** The `[attestation_service.verifier_config.*]` tables cocokit reads (config.ts checks their keys). */
export const VERIFIER_TABLES = ['snp_verifier', 'tdx_verifier', 'tpm_verifier'] as const;

export function fromTrusteeLayout(input: Record<string, unknown>): TrusteeMapping {
  const notices: string[] = [];
  const doc: Record<string, unknown> = { ...input };
  // Trustee can keep attestation sessions in another backend than the rest; cocokit keeps them in the one
  // store it has (sessions are short-lived and swept), so every value means the same here.
  if (doc.session_storage_type !== undefined) {
    str(doc.session_storage_type, 'session_storage_type');
    notices.push('session_storage_type is accepted: sessions live in the KBS store');
    delete doc.session_storage_type;
  }
  if (doc.policy_engine !== undefined) {
    const pe = table(doc.policy_engine, 'policy_engine');
    const path = str(pe.policy_path, 'policy_engine.policy_path');
    for (const k of Object.keys(pe)) if (k !== 'policy_path') throw new CocoError('KBS_CONFIG', `kbs config: unknown key "${k}" in [policy_engine] (known: policy_path)`, { kind: 'input' });
    delete doc.policy_engine;
    if (path !== undefined) doc.resource_policy_file = path;
  }
  if (doc.http_server !== undefined) doc.http_server = mapHttpServer(table(doc.http_server, 'http_server'));
  if (doc.admin !== undefined) doc.admin = mapAdmin(table(doc.admin, 'admin'), notices);
  if (doc.attestation_service !== undefined) doc.attestation_service = mapAttestationService(table(doc.attestation_service, 'attestation_service'), notices);
  if (doc.storage_backend !== undefined) doc.storage_backend = mapStorage(table(doc.storage_backend, 'storage_backend'), notices);
  if (doc.plugins !== undefined) {
    if (!Array.isArray(doc.plugins)) throw new CocoError('KBS_CONFIG', 'kbs config: plugins must be an array of tables ([[plugins]])', { kind: 'input' });
    doc.plugins = mapPlugins(doc.plugins, notices);
  }
  return { doc, notices };
}
