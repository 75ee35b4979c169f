/**
 * KBS configurations on fresh databases of a test file's PostgreSQL cluster (`postgresForFile`): a throwaway
 * directory for the KEK and the admin public key, the sample TEE allowed, and an admin key that may call every
 * admin endpoint. Replicas opened on one configuration share the database, the KEK and the admin key.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { safeKeyPair } from '../formats/keygen.js';
import { defaultConfig, type KbsConfig } from '../server/config.js';
import { postgresForFile } from './postgres.js';

export interface PostgresKbsConfig {
  config: KbsConfig;
  /** The directory holding the KEK and admin key files; tests may add their own (trusted roots). */
  dir: string;
  adminKeyPem: string;
}

export function postgresKbsForFile(prefix: string): { skip: false | string; kbsConfig(database: string): Promise<PostgresKbsConfig> } {
  const pg = postgresForFile();
  let dir: string | undefined;
  if (pg.skip === false) {
    before(() => {
      dir = mkdtempSync(join(tmpdir(), `cocokit-${prefix}-`));
    });
    after(() => {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });
  }
  return {
    skip: pg.skip,
    async kbsConfig(database) {
      if (dir === undefined) throw new Error('the PostgreSQL test directory of this file is not there');
      const url = await pg.cluster().createDatabase(database);
      writeFileSync(join(dir, 'kek'), randomBytes(32).toString('hex'));
      const { privateKey, publicKey } = safeKeyPair('ed25519');
      writeFileSync(join(dir, 'admin.pub'), publicKey.export({ format: 'pem', type: 'spki' }));
      const config = defaultConfig();
      config.storage_backend = { storage_type: 'postgres', postgres_url: url, data_dir: dir, kek_file: join(dir, 'kek') };
      config.attestation_service.allow_sample_tee = true;
      config.admin.identity_providers = [{ public_key_uri: join(dir, 'admin.pub') }];
      config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' }];
      return { config, dir, adminKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
    },
  };
}
