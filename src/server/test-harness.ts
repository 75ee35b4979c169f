/**
 * Test harness: a KBS on 127.0.0.1 with a fresh SQLite data directory, an injectable clock, an admin key pair
 * and the real policy engine. Every server it starts is closed by `stop()`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Writable } from 'node:stream';
import { defaultConfig, type KbsConfig } from './config.js';
import { openKbs, type Kbs } from './kbs.js';
import type { RecordedEvidenceReplay } from './app.js';
import { policyEvaluators } from '../policy/index.js';
import type { VerifierRegistry } from '../attestation/verifiers.js';
import { safeKeyPair } from '../formats/keygen.js';

export interface Harness {
  kbs: Kbs;
  url: string;
  dataDir: string;
  adminKeyPem: string;
  clock: { now: Date };
  logs: string[];
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startKbs(tweak: (c: KbsConfig) => void = () => {}, opts: { dataDir?: string; verifiers?: VerifierRegistry; recordedEvidence?: RecordedEvidenceReplay } = {}): Promise<Harness> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'cocokit-kbs-'));
  const { privateKey, publicKey } = safeKeyPair('ed25519');
  const pubPath = join(dataDir, 'admin.pub.pem');
  writeFileSync(pubPath, publicKey.export({ format: 'pem', type: 'spki' }));
  const config = defaultConfig();
  config.storage_backend.data_dir = dataDir;
  config.attestation_service.allow_sample_tee = true;
  config.admin.identity_providers = [{ public_key_uri: pubPath }];
  config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' }];
  // The test clock stands still unless a test moves it, so no auth bucket would ever refill: suites that are
  // not about admission control get room for every request they make (limits.test.ts tightens these).
  config.http_server.auth_burst = 1_000_000;
  tweak(config);
  const clock = { now: new Date() };
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const open = async () => openKbs({ config, ...policyEvaluators(), clock: () => clock.now, logger: pino({ level: 'info' }, sink), verifiers: opts.verifiers, ...(opts.recordedEvidence ? { recordedEvidence: opts.recordedEvidence } : {}) });
  let first: Kbs;
  try {
    first = await open();
  } catch (e) {
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const h: Harness = {
    kbs: first,
    url: '',
    dataDir,
    adminKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    clock,
    logs,
    async restart() {
      await h.kbs.close();
      h.kbs = await open();
      h.url = await h.kbs.listen(0, '127.0.0.1');
    },
    async stop() {
      await h.kbs.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  h.url = await h.kbs.listen(0, '127.0.0.1');
  return h;
}
