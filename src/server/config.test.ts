import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CocoError } from '../errors.js';
import { readVectorJson } from '../test-support/vectors.js';
import { applyEnv, configFromToml, defaultConfig, listenAddress } from './config.js';

test('a Trustee-style kbs-config maps onto the same options', () => {
  const c = configFromToml(`
[http_server]
sockets = ["0.0.0.0:9090"]
insecure_http = true
payload_request_size = 4

[admin]
authorization_mode = "AuthenticatedAuthorization"
[[admin.authentication.bearer_jwt.identity_providers]]
issuer = "TrusteeInDocker"
public_key_uri = "file:///etc/kbs/admin.pub"
[[admin.authorization.regex_acl.acls]]
role = "admin"
allowed_endpoints = "^/kbs/v0/.+$"

[attestation_token]
insecure_header_jwk = true

[attestation_service]
type = "coco_as_builtin"
timeout = 10
[attestation_service.attestation_token_broker]
type = "Ear"
duration_min = 7
[attestation_service.attestation_token_broker.signer]
key_path = "/etc/kbs/as.key"

[storage_backend]
data_dir = "/var/lib/kbs"

[[plugins]]
name = "resource"
type = "LocalFs"
`);
  assert.equal(c.http_server.payload_request_size, 4);
  assert.deepEqual(listenAddress(c), { host: '0.0.0.0', port: 9090 });
  assert.equal(c.admin.identity_providers[0].issuer, 'TrusteeInDocker');
  assert.equal(c.admin.acls[0].role, 'admin');
  assert.equal(c.attestation_token.insecure_header_jwk, true);
  assert.equal(c.attestation_service.timeout, 10);
  assert.equal(c.attestation_service.attestation_token_broker.duration_min, 7);
  assert.equal(c.attestation_service.attestation_token_broker.signer?.key_path, '/etc/kbs/as.key');
  assert.equal(c.attestation_service.allow_sample_tee, false);
  assert.equal(c.storage_backend.data_dir, '/var/lib/kbs');
});

test('unknown keys, wrong types, unanchored ACLs and other AS types are rejected with the key named', () => {
  for (const [toml, re] of [
    ['[http_server]\nsocket = ["x"]', /unknown key "socket"/],
    ['[admin]\nauthorization_mode = "AllowAll"', /authorization_mode/],
    ['[attestation_service]\ntimeout = "5"', /timeout must be a number/],
    ['[attestation_service]\ntype = "coco_as_grpc"', /not supported/],
    ['[[admin.authorization.regex_acl.acls]]\nrole = "a"\nallowed_endpoints = "/kbs/v0/.*"', /must start with \^\//],
    ['[storage_backend]\nstorage_type = "postgres"', /postgres_url is required/],
    ['[http_server\n', /not valid TOML/],
    ['[[plugins]]\nname = "nebula-ca"', /nebula-ca.*not supported/],
  ] as const) {
    assert.throws(() => configFromToml(toml), (e: unknown) => e instanceof CocoError && re.test(e.message), toml);
  }
});

test('the SNP offline VCEK store maps to the verifier cache; network sources and other RVPS types are refused', () => {
  const c = configFromToml('[attestation_service.rvps_config]\ntype = "BuiltIn"\n[[attestation_service.verifier_config.snp_verifier.vcek_sources]]\ntype = "OfflineStore"\npath = "/var/cache/vcek"\n');
  assert.equal(c.attestation_service.snp_vcek_cache, '/var/cache/vcek');
  assert.throws(() => configFromToml('[[attestation_service.verifier_config.snp_verifier.vcek_sources]]\ntype = "KDS"\n'), /OfflineStore/);
  assert.throws(() => configFromToml('[attestation_service.rvps_config]\ntype = "GrpcRemote"\n'), /BuiltIn/);
});

test('tpm_verifier trusted_aks take SHA-256 fingerprints or base64 SPKI keys (as cocokit tpm ak prints them)', () => {
  const ak = readVectorJson('trustee', 'tpm', 'tpm_evidence.json').ak_public as string;
  const fp = createHash('sha256').update(Buffer.from(ak, 'base64')).digest('hex');
  const c = configFromToml(`[attestation_service.verifier_config.tpm_verifier]\ntrusted_aks = ["${ak}", "${'AB'.repeat(32)}"]\n`);
  assert.deepEqual(c.attestation_service.tpm_trusted_aks, [fp, 'ab'.repeat(32)]);
  assert.throws(() => configFromToml('[attestation_service.verifier_config.tpm_verifier]\ntrusted_aks = ["bm90IGEga2V5"]\n'), /trusted_aks\[0\] is neither/);
  assert.throws(() => configFromToml('[attestation_service.verifier_config.tpm_verifier]\ntrusted_aks = "x"\n'), (e: unknown) => e instanceof CocoError);
  // Trustee's own tpm_verifier options are accepted and named, without effect.
  const other = configFromToml('[attestation_service.verifier_config.tpm_verifier]\nsome_trustee_option = 1\n');
  assert.ok(other.notices?.some((n) => /tpm_verifier\.some_trustee_option is accepted without effect/.test(n)));
});

test('environment variables override single options', () => {
  const c = applyEnv(defaultConfig(), { COCOKIT_KBS_SOCKET: '127.0.0.1:7000', COCOKIT_KBS_DATA_DIR: '/d', COCOKIT_KBS_PAYLOAD_MIB: '0.5', COCOKIT_KBS_POSTGRES_URL: 'postgresql://x/y' });
  assert.deepEqual(listenAddress(c), { host: '127.0.0.1', port: 7000 });
  assert.equal(c.storage_backend.data_dir, '/d');
  assert.equal(c.http_server.payload_request_size, 0.5);
  assert.equal(c.storage_backend.storage_type, 'postgres');
  assert.throws(() => applyEnv(defaultConfig(), { COCOKIT_KBS_PAYLOAD_MIB: 'lots' }), CocoError);
});

test('identity providers and ACL entries bind namespaces; malformed bindings are refused', () => {
  const c = configFromToml(`
[admin]
[[admin.authentication.bearer_jwt.identity_providers]]
public_key_uri = "/etc/kbs/tenant-a.pub"
namespaces = ["ns-a"]
[[admin.authorization.regex_acl.acls]]
role = "tenant"
allowed_endpoints = "^/kbs/v0/workloads.*$"
namespaces = ["*"]
[[admin.authorization.regex_acl.acls]]
role = "registrar"
allowed_endpoints = "^/keybroker/rvp/register$"
`);
  assert.deepEqual(c.admin.identity_providers[0].namespaces, ['ns-a']);
  assert.deepEqual(c.admin.acls[0].namespaces, ['*']);
  const provider = (ns: string) => `[[admin.authentication.bearer_jwt.identity_providers]]\npublic_key_uri = "/k.pub"\nnamespaces = ${ns}\n`;
  for (const bad of ['[]', '["*", "ns-a"]', '["../x"]', '"ns-a"', '[1]']) assert.throws(() => configFromToml(provider(bad)), /namespaces/, bad);
  assert.throws(() => configFromToml('[[admin.authorization.regex_acl.acls]]\nrole = "r"\nallowed_endpoints = "/kbs/v0/.*"\n'), /must start with \^\//);
});

test('limits are read from [http_server], [admin.authentication.bearer_jwt] and [audit], and nonsense is refused', () => {
  const c = configFromToml(`
[http_server]
insecure_http = true
header_timeout_secs = 5
request_timeout_secs = 20
auth_rate_per_sec = 2.5
auth_burst = 8
max_pending_sessions = 100
[admin.authentication.bearer_jwt]
max_token_lifetime_secs = 900
max_clock_skew_secs = 0
[audit]
max_age_days = 7
max_rows = 5000
prune_interval_secs = 60
`);
  assert.deepEqual(
    [c.http_server.header_timeout_secs, c.http_server.request_timeout_secs, c.http_server.auth_rate_per_sec, c.http_server.auth_burst, c.http_server.max_pending_sessions],
    [5, 20, 2.5, 8, 100],
  );
  assert.deepEqual([c.admin.max_token_lifetime_secs, c.admin.max_clock_skew_secs], [900, 0]);
  assert.deepEqual(c.audit, { max_age_days: 7, max_rows: 5000, prune_interval_secs: 60 });
  const d = defaultConfig();
  assert.equal(d.admin.max_token_lifetime_secs, 3600);
  assert.ok(d.audit.max_rows > 0 && d.audit.max_age_days > 0);
  for (const [toml, re] of [
    ['[http_server]\nheader_timeout_secs = 0', /header_timeout_secs must be positive/],
    ['[http_server]\nheader_timeout_secs = 40\nrequest_timeout_secs = 30', /must not exceed/],
    ['[http_server]\nauth_burst = 0.5', /auth_burst must be a positive integer/],
    ['[http_server]\nmax_pending_sessions = "many"', /max_pending_sessions must be a number/],
    ['[admin.authentication.bearer_jwt]\nmax_token_lifetime_secs = 0', /max_token_lifetime_secs must be positive/],
    ['[audit]\nmax_rows = -1', /max_rows/],
    ['[audit]\nkeep = true', /unknown key "keep" in \[audit\]/],
  ] as const) {
    assert.throws(() => configFromToml(toml), (e: unknown) => e instanceof CocoError && re.test(e.message), toml);
  }
});

test('http_server.worker_count is kept (1–256 worker processes) and anything else is refused', () => {
  assert.equal(configFromToml('[http_server]\nworker_count = 4\n').http_server.worker_count, 4);
  assert.equal(configFromToml('[http_server]\n').http_server.worker_count, undefined);
  for (const bad of ['0', '-1', '1.5', '257', '"2"']) {
    assert.throws(() => configFromToml(`[http_server]\nworker_count = ${bad}\n`), (e: CocoError) => e.code === 'KBS_CONFIG' && e.kind === 'input', bad);
  }
});
