/**
 * The default KBS config for end-to-end tests of one TEE: SQLite in `dataDir`, and an admin API that trusts a
 * fresh Ed25519 key for every endpoint. The key pair is written beside the data (admin.pem, admin.pub.pem)
 * for CLI runs that take `--auth-private-key`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig, type KbsConfig } from '../server/config.js';
import { safeKeyPair } from '../formats/keygen.js';

export interface AdminKbsConfig {
  config: KbsConfig;
  adminKeyPem: string;
  adminKeyPath: string;
}

export function adminKbsConfig(dataDir: string): AdminKbsConfig {
  const { privateKey, publicKey } = safeKeyPair('ed25519');
  const adminKeyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const adminKeyPath = join(dataDir, 'admin.pem');
  writeFileSync(adminKeyPath, adminKeyPem);
  writeFileSync(join(dataDir, 'admin.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
  const config = defaultConfig();
  config.storage_backend.data_dir = dataDir;
  config.admin.identity_providers = [{ public_key_uri: join(dataDir, 'admin.pub.pem') }];
  config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' }];
  return { config, adminKeyPem, adminKeyPath };
}
