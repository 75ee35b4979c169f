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
    ['[[admin.authorization.regex_acl.acls]]\nrole = "a"\nallowed_endpoints = "/kbs/v0/.*"', /must start with \^\/kbs/],
    ['[storage_backend]\nstorage_type = "postgres"', /postgres_url is required/],
    ['[http_server\n', /not valid TOML/],
    ['[[plugins]]\nname = "nebula-ca"', /not available/],
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
});

test('environment variables override single options', () => {
  const c = applyEnv(defaultConfig(), { COCOKIT_KBS_SOCKET: '127.0.0.1:7000', COCOKIT_KBS_DATA_DIR: '/d', COCOKIT_KBS_PAYLOAD_MIB: '0.5', COCOKIT_KBS_POSTGRES_URL: 'postgresql://x/y' });
  assert.deepEqual(listenAddress(c), { host: '127.0.0.1', port: 7000 });
  assert.equal(c.storage_backend.data_dir, '/d');
  assert.equal(c.http_server.payload_request_size, 0.5);
  assert.equal(c.storage_backend.storage_type, 'postgres');
  assert.throws(() => applyEnv(defaultConfig(), { COCOKIT_KBS_PAYLOAD_MIB: 'lots' }), CocoError);
});
