/**
 * A KBS config for end-to-end tests with a generated TDX test root (tee/tdx/test-root.ts), the TDX twin of
 * test-root-kbs.ts: the root in `dir/root`, its collateral (issued a day ago) in the offline cache
 * `dir/collateral`, an admin key pair in `dir` (admin.pem, admin.pub.pem), SQLite in `dir/data`, and a TDX
 * verifier that trusts the root and reads the cache. `admin` scopes the admin role: the endpoints it may call
 * and, when given, the workload namespaces its tokens act in.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configFromToml, type KbsConfig } from '../server/config.js';
import { collateralCachePath, serializeCollateralBundle } from '../tee/tdx/collateral.js';
import { createTdxTestRoot, writeTdxTestRoot, type TdxTestRoot } from '../tee/tdx/test-root.js';
import { safeKeyPair } from '../formats/keygen.js';

export interface TdxTestKbs {
  root: TdxTestRoot;
  config: KbsConfig;
  /** The admin private key (PKCS#8 PEM), also in `dir/admin.pem`. */
  adminKeyPem: string;
}

export function writeTdxTestKbsConfig(dir: string, admin: { allowedEndpoints: string; namespaces?: string[] }): TdxTestKbs {
  const root = createTdxTestRoot();
  writeTdxTestRoot(join(dir, 'root'), root);
  const cache = join(dir, 'collateral');
  mkdirSync(join(cache, 'tdx'), { recursive: true });
  writeFileSync(collateralCachePath(cache, root.platform.fmspc, 'platform'), serializeCollateralBundle(root.collateral({ issued: new Date(Date.now() - 86_400_000) })));
  const { privateKey, publicKey } = safeKeyPair('ed25519');
  const adminKeyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  writeFileSync(join(dir, 'admin.pem'), adminKeyPem);
  writeFileSync(join(dir, 'admin.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
  const namespaces = admin.namespaces ? `namespaces = ${JSON.stringify(admin.namespaces)}\n` : '';
  const config = configFromToml(`
[http_server]
insecure_http = true
[[admin.authentication.bearer_jwt.identity_providers]]
public_key_uri = ${JSON.stringify(join(dir, 'admin.pub.pem'))}
${namespaces}[[admin.authorization.regex_acl.acls]]
role = "admin"
allowed_endpoints = ${JSON.stringify(admin.allowedEndpoints)}
[attestation_service.verifier_config.tdx_verifier]
collateral_cache = ${JSON.stringify(cache)}
trusted_root = ${JSON.stringify(join(dir, 'root', 'root.pem'))}
[storage_backend]
data_dir = ${JSON.stringify(join(dir, 'data'))}
`);
  return { root, config, adminKeyPem };
}
