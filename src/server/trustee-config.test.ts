import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { CocoError } from '../errors.js';
import { isRecord } from '../formats/json.js';
import { configFromToml, loadConfigFile } from './config.js';
import { fromTrusteeLayout } from './trustee-config.js';
import { vectorPath } from '../test-support/vectors.js';

const DIR = vectorPath('trustee', 'config');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.toml')).sort();

/**
 * Rewrites what cocokit refuses into what the refusal message tells the user to use instead, so the rest of
 * a refused file is proven to load too.
 */
function followAdvice(text: string): string {
  const doc = parseToml(text) as Record<string, unknown>;
  const as = doc.attestation_service;
  if (isRecord(as) && (as.type === 'coco_as_grpc' || as.type === 'intel_ta')) doc.attestation_service = { type: 'coco_as_builtin', ...(as.timeout === undefined ? {} : { timeout: as.timeout }) };
  const rvps = isRecord(doc.attestation_service) ? doc.attestation_service.rvps_config : undefined;
  if (isRecord(rvps) && rvps.type === 'GrpcRemote') {
    rvps.type = 'BuiltIn';
    delete rvps.address;
  }
  if (Array.isArray(doc.plugins)) doc.plugins = doc.plugins.filter((p) => isRecord(p) && p.name === 'resource');
  return stringifyToml(doc);
}

test('the 28 Trustee kbs-config files are all present', () => {
  assert.equal(FILES.length, 28);
});

test('every Trustee kbs-config loads or is refused for a named unsupported feature, never for an unknown key', () => {
  const loaded: string[] = [];
  const refused = new Map<string, string>();
  for (const f of FILES) {
    try {
      loadConfigFile(`${DIR}/${f}`);
      loaded.push(f);
    } catch (e) {
      assert.ok(e instanceof CocoError, `${f}: ${String(e)}`);
      assert.doesNotMatch(e.message, /unknown key/, f);
      assert.equal(e.kind, 'unsupported', `${f}: ${e.message}`);
      // The message names the key and what to use instead.
      const key = (e.detail as { key: string }).key;
      assert.ok(e.message.includes(key), `${f}: ${e.message}`);
      assert.match(e.message, /\buse\b|remove it|store them|serve the extra/, f);
      refused.set(f, key);
    }
  }
  assert.deepEqual(loaded, [
    'config__kbs-config.toml',
    'config__kubernetes__base__kbs-config.toml',
    'test__config__kbs.toml',
    'test__config__resource-kbs.toml',
    'test_data__configs__coco-as-builtin-2.toml',
    'test_data__configs__coco-as-builtin-3.toml',
  ]);
  // Every refusal is one of the features cocokit does not have: a remote or Intel TA attestation service,
  // a remote RVPS, or a plugin other than the resource plugin.
  assert.deepEqual([...new Set(refused.values())].sort(), ['attestation_service.rvps_config.type', 'attestation_service.type', 'plugins[0].name']);
  assert.equal(refused.get('config__kbs-config-intel-trust-authority.toml'), 'attestation_service.type');
  assert.equal(refused.get('test__config__external-plugin.toml'), 'plugins[0].name');
});

test('a refused Trustee config loads once the refusal\'s advice is followed, so every other key in it is understood', () => {
  for (const f of FILES) {
    const text = readFileSync(`${DIR}/${f}`, 'utf8');
    let c;
    try {
      c = configFromToml(followAdvice(text));
    } catch (e) {
      assert.fail(`${f}: ${(e as Error).message}`);
    }
    assert.ok(c.http_server.sockets.length > 0, f);
  }
});

test('Trustee storage backends map onto the encrypted store: LocalFs and LocalJson directories, Memory per start, Postgres URL', () => {
  const fs = loadConfigFile(`${DIR}/config__kbs-config.toml`);
  assert.deepEqual(fs.storage_backend, { storage_type: 'sqlite', data_dir: '/opt/confidential-containers/storage' });
  const json = loadConfigFile(`${DIR}/test_data__configs__coco-as-builtin-3.toml`);
  assert.equal(json.storage_backend.data_dir, '/opt/confidential-containers/trustee');
  const mem = loadConfigFile(`${DIR}/test_data__configs__coco-as-builtin-2.toml`);
  assert.equal(mem.storage_backend.ephemeral, true);
  assert.ok(mem.notices?.some((n) => n.startsWith('session_storage_type')));
  const pg = configFromToml('[storage_backend]\nstorage_type = "Postgres"\n[storage_backend.backends.postgres]\ndb = "kbs"\nusername = "trustee"\npassword = "p@ss"\nhost = "db"\nport = 6432\n');
  assert.equal(pg.storage_backend.storage_type, 'postgres');
  assert.equal(pg.storage_backend.postgres_url, 'postgresql://trustee:p%40ss@db:6432/kbs');
  assert.throws(() => configFromToml('[storage_backend]\nstorage_type = "Redis"\n'), (e: CocoError) => e.kind === 'unsupported' && /storage_backend\.storage_type/.test(e.message));
});

test('Trustee admin forms: type, insecure_api and the mapped modes; personas are refused with the alternative', () => {
  const ext = parseToml(readFileSync(`${DIR}/test__test_data__configs__external-plugin-test.toml`, 'utf8')) as Record<string, unknown>;
  assert.equal(fromTrusteeLayout({ admin: ext.admin }).doc.admin && (fromTrusteeLayout({ admin: ext.admin }).doc.admin as Record<string, unknown>).authorization_mode, 'InsecureAllowAll');
  assert.equal(configFromToml('[admin]\ntype = "DenyAll"\n').admin.authorization_mode, 'DenyAll');
  assert.equal(configFromToml('[admin]\ninsecure_api = true\n').admin.authorization_mode, 'InsecureAllowAll');
  assert.throws(() => configFromToml('[admin]\ntype = "DenyAll"\nauthorization_mode = "InsecureAllowAll"\n'), /contradicts/);
  assert.throws(
    () => configFromToml('[admin]\ntype = "Simple"\n[[admin.personas]]\nid = "admin"\npublic_key_path = "/k.pub"\n'),
    (e: CocoError) => e.kind === 'unsupported' && /identity_providers/.test(e.message),
  );
  assert.throws(() => configFromToml('[[admin.personas]]\nid = "admin"\npublic_key_path = "/k.pub"\n'), (e: CocoError) => e.kind === 'unsupported' && /admin\.personas/.test(e.message));
});

test('Trustee TLS profiles map onto TLS versions; custom ciphers and groups pass through', () => {
  const text = (f: string): string => followAdvice(readFileSync(`${DIR}/${f}`, 'utf8'));
  const modern = configFromToml(text('test_data__configs__tls-profile-modern.toml'));
  assert.equal(modern.http_server.tls_min_version, '1.3');
  assert.equal(modern.http_server.tls_max_version, '1.3');
  const old = configFromToml(text('test_data__configs__tls-profile-old.toml'));
  assert.equal(old.http_server.tls_min_version, '1.2');
  const pqc = configFromToml(text('test_data__configs__tls-profile-custom-pqc.toml'));
  assert.equal(pqc.http_server.tls_groups, 'X25519MLKEM768:X25519:secp256r1');
  assert.equal(pqc.http_server.tls_ciphers, 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256');
  assert.throws(() => configFromToml('[http_server]\ntls_profile = "paranoid"\n'), /tls_profile/);
  assert.throws(() => configFromToml('[http_server]\ntls_min_version = "1.1"\n'), /tls_min_version/);
});

test('policy_engine.policy_path becomes the resource policy file; other policy_engine keys are unknown', () => {
  assert.equal(configFromToml('[policy_engine]\npolicy_path = "/etc/kbs/policy.rego"\n').resource_policy_file, '/etc/kbs/policy.rego');
  assert.throws(() => configFromToml('[policy_engine]\npolicy_dir = "/x"\n'), /unknown key "policy_dir"/);
});

test('resource backends other than the KV store are refused naming the key and kvstorage', () => {
  for (const backend of ['Vault', 'Aliyun', 'Aws']) {
    assert.throws(
      () => configFromToml(`[[plugins]]\nname = "resource"\nstorage_backend_type = "${backend}"\n`),
      (e: unknown) => e instanceof CocoError && e.kind === 'unsupported' && /plugins\[0\]\.storage_backend_type/.test(e.message) && /"kvstorage"/.test(e.message),
    );
  }
  assert.throws(() => configFromToml('[storage_backend]\nstorage_type = "Vault"\n'), (e: unknown) => e instanceof CocoError && e.kind === 'unsupported');
});

test('a typo is still an unknown key, Trustee layout or not', () => {
  assert.throws(() => configFromToml('[storage_backend]\nstorage_type = "LocalFs"\n[storage_backend.backends.local_fs]\ndir_path = "/x"\n[[plugins]]\nname = "resource"\nstorage_backend_typ = "kvstorage"\n'), /unknown key "storage_backend_typ"/);
  assert.throws(() => configFromToml('session_storage = "memory"\n'), /unknown key "session_storage"/);
});

test('random and mistyped Trustee-layout documents fail as input or unsupported errors, never crash', () => {
  const value = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant([]), fc.dictionary(fc.string({ maxLength: 8 }), fc.string(), { maxKeys: 3 }));
  const section = fc.dictionary(
    fc.constantFrom('type', 'storage_type', 'backends', 'as_addr', 'rvps_config', 'verifier_config', 'tls_profile', 'tls_min_version', 'personas', 'insecure_api', 'policy_path', 'name', 'storage_backend_type'),
    value,
    { maxKeys: 4 },
  );
  const doc = fc.dictionary(
    fc.constantFrom('http_server', 'admin', 'attestation_service', 'storage_backend', 'policy_engine', 'session_storage_type', 'plugins'),
    fc.oneof(section, fc.array(section, { maxLength: 2 }), value),
    { maxKeys: 4 },
  );
  fc.assert(
    fc.property(doc, (d) => {
      let text: string;
      try {
        text = stringifyToml(d);
      } catch {
        return;
      }
      try {
        configFromToml(text);
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
        assert.ok(e.kind === 'input' || e.kind === 'unsupported', `${e.kind}: ${e.message}`);
      }
    }),
    { numRuns: 300 },
  );
});

test("Trustee's dcap_verifier (QCNL) is turned into the fetch-collateral command for the offline TDX cache", () => {
  const c = configFromToml(
    '[attestation_service]\ntype = "coco_as_builtin"\n[attestation_service.verifier_config.tdx_verifier]\ncollateral_cache = "/var/lib/kbs/collateral"\n' +
      '[attestation_service.verifier_config.dcap_verifier]\ncollateral_service = "https://pccs.example:8081/sgx/certification/v4/"\nuse_secure_cert = false\ntcb_update_type = "standard"\n',
  );
  assert.equal(c.attestation_service.tdx_collateral_cache, '/var/lib/kbs/collateral');
  assert.ok(
    c.notices?.some((n) => n.includes('cocokit tdx fetch-collateral QUOTE --cache /var/lib/kbs/collateral --pcs-url https://pccs.example:8081 --update standard')),
    JSON.stringify(c.notices),
  );
  assert.ok(c.notices?.some((n) => n.includes('use_secure_cert is accepted without effect')));
  const noCache = configFromToml('[attestation_service]\ntype = "coco_as_builtin"\n[attestation_service.verifier_config.dcap_verifier]\ncollateral_service = "https://api.trustedservices.intel.com/sgx/certification/v4/"\n');
  assert.ok(noCache.notices?.some((n) => n.includes('--pcs-url https://api.trustedservices.intel.com')));
  assert.ok(noCache.notices?.some((n) => n.includes('every TDX quote fails its collateral check')));
  assert.equal(noCache.attestation_service.tdx_collateral_cache, undefined);
  for (const bad of ['tcb_update_type = "late"', 'use_secure_cert = "yes"', 'collateral_service = 5', 'pccs_url = "x"']) {
    assert.throws(
      () => configFromToml(`[attestation_service]\ntype = "coco_as_builtin"\n[attestation_service.verifier_config.dcap_verifier]\n${bad}\n`),
      (e: unknown) => e instanceof CocoError && e.kind === 'input' && /dcap_verifier/.test(e.message),
      bad,
    );
  }
});
