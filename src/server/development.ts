/**
 * The development KBS: what `cocokit kbs serve` runs without a config file and what a library user gets from
 * `openDevelopmentKbs()`. The sample TEE is on (no hardware root of trust), Trustee's `allow_all` resource
 * policy is installed, a demo secret and the reference values that make the sample TEE affirming under
 * the default_cpu policy are stored, and the admin API trusts an Ed25519 key kept in the data directory.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { CocoError } from '../errors.js';
import { utf8 } from '../formats/bytes.js';
import { generateEcKeyPair } from '../formats/jwk.js';
import { policyEvaluators } from '../policy/evaluators.js';
import { defaultConfig, DEFAULT_DATA_DIR, type KbsConfig } from './config.js';
import { openKbs, type Kbs } from './kbs.js';
import { safeKeyPair } from '../formats/keygen.js';

export const DEMO_RESOURCE = 'default/demo/secret';
export const DEMO_SECRET = 'Hello from cocokit! This secret was released by the KBS after a sample-TEE attestation.\n';
/** Reference values that make the sample TEE "affirming" under the default_cpu policy (§3.4). */
export const SAMPLE_REFERENCE_VALUES = { launch_digest: ['abcde'], svn: ['1'], major_version: 1, minimum_minor_version: 0 };
export const ADMIN_KEY_FILE = 'admin-key.pem';
export const ADMIN_PUBKEY_FILE = 'admin-key.pub.pem';

/** Writes an admin key pair (`admin-key.pem` 0600, `admin-key.pub.pem`) into `dir`; never overwrites a key. */
export function writeAdminKeyPair(dir: string, alg: 'ed25519' | 'es256'): { privatePath: string; publicPath: string } {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new CocoError('KBS_DATA_DIR', `cannot create ${dir}: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  // Neither key comes from a bare generateKeyPairSync, whose keys can hang Node 20 on export (formats/keygen.ts).
  const kp = alg === 'ed25519' ? safeKeyPair('ed25519') : generateEcKeyPair('P-256');
  const privatePath = join(dir, ADMIN_KEY_FILE);
  const publicPath = join(dir, ADMIN_PUBKEY_FILE);
  if (existsSync(privatePath)) throw new CocoError('KBS_KEYGEN_EXISTS', `${privatePath} already exists; not overwriting an admin key`, { kind: 'conflict' });
  try {
    writeFileSync(privatePath, kp.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
    writeFileSync(publicPath, kp.publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644 });
  } catch (e) {
    throw new CocoError('KBS_DATA_DIR', `cannot write the admin key into ${dir}: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  return { privatePath, publicPath };
}

/**
 * Secure by default: a config that asks for authenticated admin access but names no identity provider gets
 * an Ed25519 admin key in its data directory (made once) and the `admin` role over `/kbs/v0/`, instead of
 * an open admin API. Returns the private key path when it did so.
 */
export function ensureAdminKey(config: KbsConfig): string | undefined {
  if (config.admin.authorization_mode !== 'AuthenticatedAuthorization' || config.admin.identity_providers.length > 0) return undefined;
  const dir = config.storage_backend.data_dir;
  const adminKey = join(dir, ADMIN_KEY_FILE);
  if (!existsSync(adminKey)) writeAdminKeyPair(dir, 'ed25519');
  config.admin.identity_providers = [{ public_key_uri: join(dir, ADMIN_PUBKEY_FILE) }];
  if (config.admin.acls.length === 0) config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' }];
  return adminKey;
}

/** The development configuration: defaults plus the sample TEE, with the store in `dataDir`. */
export function developmentConfig(dataDir: string = DEFAULT_DATA_DIR): KbsConfig {
  const config = defaultConfig();
  config.attestation_service.allow_sample_tee = true;
  config.storage_backend.data_dir = resolve(dataDir);
  return config;
}

/** Stores the demo secret and the sample TEE's reference values unless they are already there. */
export async function seedDevelopmentData(kbs: Kbs): Promise<void> {
  const demo = { repository: 'default', type: 'demo', tag: 'secret' };
  if (!(await kbs.store.resources.get(demo))) await kbs.store.resources.put(demo, utf8.encode(DEMO_SECRET));
  for (const [name, value] of Object.entries(SAMPLE_REFERENCE_VALUES)) {
    if (!(await kbs.store.referenceValues.get(name))) await kbs.store.referenceValues.set(name, value);
  }
}

export interface DevelopmentKbsOptions {
  /** Store and admin key directory (default `./.kbs-data`). */
  dataDir?: string;
  /** A configuration to start from (default: `developmentConfig(dataDir)`); the sample TEE is switched on. */
  config?: KbsConfig;
  logger?: Logger;
}

export interface DevelopmentKbs {
  kbs: Kbs;
  /** The admin private key (PEM file) that signs admin tokens with role `admin`. */
  adminKeyPath?: string;
}

/**
 * Opens a development KBS (not yet listening: call `kbs.listen(port?)`): sample TEE, `allow_all` resource
 * policy, demo secret at `default/demo/secret`, admin key in the data directory. For tests, labs and demos:
 * the sample TEE has no hardware root of trust.
 */
export async function openDevelopmentKbs(opts: DevelopmentKbsOptions = {}): Promise<DevelopmentKbs> {
  const config = opts.config ?? developmentConfig(opts.dataDir);
  config.attestation_service.allow_sample_tee = true;
  const adminKeyPath = ensureAdminKey(config);
  const kbs = await openKbs({ config, ...policyEvaluators(), ...(opts.logger ? { logger: opts.logger } : {}) });
  try {
    await seedDevelopmentData(kbs);
  } catch (e) {
    await kbs.close();
    throw e;
  }
  return { kbs, ...(adminKeyPath ? { adminKeyPath } : {}) };
}
