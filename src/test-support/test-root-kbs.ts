/**
 * A KBS config for end-to-end tests with a `cocokit snp test-root` chip: an admin key pair in `dir`
 * (admin.pem, admin.pub.pem) bound to namespace tenant-x, an auditor key pair (auditor.pem, auditor.pub.pem)
 * whose `role = "auditor"` tokens read the decision log of every namespace, SQLite in `dir/kbs-data`, and the test root in
 * `dir/root` trusted for Milan. `extra` is appended to `dir/kbs.toml` (compat dialects, caches).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { safeKeyPair } from '../formats/keygen.js';

export function writeTestRootKbsConfig(dir: string, extra = ''): void {
  const admin = safeKeyPair('ed25519');
  writeFileSync(join(dir, 'admin.pem'), admin.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  writeFileSync(join(dir, 'admin.pub.pem'), admin.publicKey.export({ format: 'pem', type: 'spki' }));
  const auditor = safeKeyPair('ed25519');
  writeFileSync(join(dir, 'auditor.pem'), auditor.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  writeFileSync(join(dir, 'auditor.pub.pem'), auditor.publicKey.export({ format: 'pem', type: 'spki' }));
  writeFileSync(
    join(dir, 'kbs.toml'),
    `[http_server]
insecure_http = true
sockets = ["127.0.0.1:0"]
[[admin.authentication.bearer_jwt.identity_providers]]
public_key_uri = ${JSON.stringify(join(dir, 'admin.pub.pem'))}
namespaces = ["tenant-x"]
[[admin.authentication.bearer_jwt.identity_providers]]
public_key_uri = ${JSON.stringify(join(dir, 'auditor.pub.pem'))}
[[admin.authorization.regex_acl.acls]]
role = "admin"
allowed_endpoints = "^/kbs/v0/workloads.*$"
[[admin.authorization.regex_acl.acls]]
role = "auditor"
allowed_endpoints = "^/kbs/v0/decisions.*$"
[storage_backend]
data_dir = ${JSON.stringify(join(dir, 'kbs-data'))}
[attestation_service.verifier_config.snp_verifier]
trusted_roots = [{ product = "milan", pem = ${JSON.stringify(join(dir, 'root', 'roots.pem'))} }]
${extra}`,
  );
}
