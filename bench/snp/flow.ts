/**
 * What SNP evidence adds to a KBS flow, in-process: the server side of auth → attest → resource GET (through
 * fastify's inject, so no sockets or HTTP parsing) with SNP evidence under a generated test root and with
 * sample evidence, in interleaved rounds, beside one bare ECDSA-P384 verify of a report — the one
 * cryptographic operation SNP adds. Only the server's work is timed (process CPU around each inject and the
 * decision-log flush); the guest's report signing and JSON are not.
 *
 *   npx tsx bench/snp/flow.ts [rounds] [flows-per-round]
 *
 * Prints per-flow CPU (p10 and median of the rounds) for each TEE, SNP minus sample, and that difference over
 * the P-384 verify: 1.00 would mean SNP costs the server exactly its signature check.
 */
import { generateKeyPair as generateKeyPairCb, randomBytes, verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { defaultVerifiers } from '../../src/attestation/verifiers.js';
import { toBase64 } from '../../src/formats/bytes.js';
import { primaryRuntimeData, regularize, runtimeDataDigest } from '../../src/formats/runtime-data.js';
import { policyEvaluators } from '../../src/policy/index.js';
import { defaultConfig } from '../../src/server/config.js';
import { openKbs } from '../../src/server/kbs.js';
import { evidenceToJson } from '../../src/tee/snp/evidence.js';
import { parseReport, SIGNED_LENGTH } from '../../src/tee/snp/format.js';
import { createTestRoot } from '../../src/tee/snp/test-root.js';
import { reportSignatureP1363 } from '../../src/tee/snp/verify.js';

const rounds = Number(process.argv[2] ?? 15);
const perRound = Number(process.argv[3] ?? 40);

const root = createTestRoot({ product: 'genoa' });
const chip = root.createChip();
const dataDir = mkdtempSync(join(tmpdir(), 'cocokit-snp-flow-'));
const config = defaultConfig();
config.storage_backend.data_dir = dataDir;
config.attestation_service.allow_sample_tee = true;
config.admin.authorization_mode = 'DenyAll';
config.http_server.auth_burst = 1e9;
config.http_server.auth_rate_per_sec = 1e9;
// Logged at info, as `kbs serve` does, into /dev/null.
const logger = pino({ level: 'info' }, pino.destination('/dev/null'));
const kbs = await openKbs({ config, ...policyEvaluators(), logger, verifiers: defaultVerifiers({ sample: true, snp: { roots: root.roots } }) });
await kbs.store.resources.put({ repository: 'default', type: 'bench', tag: 'secret' }, new Uint8Array(randomBytes(32)));

const { publicKey } = await promisify(generateKeyPairCb)('ec', { namedCurve: 'prime256v1' });
const j = publicKey.export({ format: 'jwk' });
const jwk = { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', x: j.x, y: j.y };

let serverMicros = 0;
async function server<T>(fn: () => Promise<T>): Promise<T> {
  const c = process.cpuUsage();
  const r = await fn();
  const d = process.cpuUsage(c);
  serverMicros += d.user + d.system;
  return r;
}

async function flow(tee: 'snp' | 'sample'): Promise<void> {
  const a = await server(() =>
    kbs.app.inject({ method: 'POST', url: '/kbs/v0/auth', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ version: '0.4.0', tee, 'extra-params': '' }) }),
  );
  if (a.statusCode !== 200) throw new Error(`auth: ${a.body}`);
  const cookie = /kbs-session-id=([^;,\s]+)/.exec(String(a.headers['set-cookie']))![1];
  const nonce = (JSON.parse(a.body) as { nonce: string }).nonce;
  const rd = runtimeDataDigest(primaryRuntimeData(nonce, jwk, ''), 'sha384');
  const evidence =
    tee === 'sample'
      ? { svn: '1', report_data: toBase64(rd) }
      : evidenceToJson(parseReport(root.signReport(chip, { reportData: regularize(rd, 64) })), [{ type: 'VCEK', data: new Uint8Array(chip.vcek.raw) }]);
  const payload = JSON.stringify({ 'init-data': null, 'runtime-data': { nonce, 'tee-pubkey': jwk }, 'tee-evidence': { primary_evidence: evidence, additional_evidence: '' } });
  const headers = { 'content-type': 'application/json', cookie: `kbs-session-id=${cookie}` };
  const t = await server(() => kbs.app.inject({ method: 'POST', url: '/kbs/v0/attest', headers, payload }));
  if (t.statusCode !== 200) throw new Error(`attest: ${t.body}`);
  const r = await server(() => kbs.app.inject({ method: 'GET', url: '/kbs/v0/resource/default/bench/secret', headers: { cookie: headers.cookie } }));
  if (r.statusCode !== 200) throw new Error(`resource: ${r.body}`);
  await server(() => kbs.decisions.flush());
}

// The floor SNP adds: one report signature check with a parsed VCEK.
const raw = root.signReport(chip, { reportData: new Uint8Array(64) });
const signed = raw.subarray(0, SIGNED_LENGTH);
const sig = reportSignatureP1363(parseReport(raw))!;
const vcek = new X509Certificate(chip.vcek.raw).publicKey;
function p384(): void {
  const c = process.cpuUsage();
  for (let i = 0; i < perRound; i++) if (!verify('sha384', signed, { key: vcek, dsaEncoding: 'ieee-p1363' }, sig)) throw new Error('test report does not verify');
  const d = process.cpuUsage(c);
  serverMicros += d.user + d.system;
}

const tees = ['snp', 'sample'] as const;
const perFlow: Record<'snp' | 'sample' | 'p384', number[]> = { snp: [], sample: [], p384: [] };
for (const tee of tees) for (let i = 0; i < 30; i++) await flow(tee);
for (let r = 0; r < rounds; r++) {
  for (const tee of tees) {
    serverMicros = 0;
    for (let i = 0; i < perRound; i++) await flow(tee);
    perFlow[tee].push(serverMicros / perRound / 1000);
  }
  serverMicros = 0;
  p384();
  perFlow.p384.push(serverMicros / perRound / 1000);
}
await kbs.close();
rmSync(dataDir, { recursive: true, force: true });

const q = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
for (const k of ['snp', 'sample', 'p384'] as const) console.log(`${k.padEnd(8)} ms/flow p10 ${q(perFlow[k], 0.1).toFixed(3)}  median ${q(perFlow[k], 0.5).toFixed(3)}`);
// Per round, so that load on a shared machine moves both terms together.
const added = perFlow.snp.map((s, i) => s - perFlow.sample[i]);
const ratio = added.map((a, i) => a / perFlow.p384[i]);
console.log(`snp - sample: median ${q(added, 0.5).toFixed(3)} ms; over one P-384 verify: median ${q(ratio, 0.5).toFixed(2)}, p10 ${q(ratio, 0.1).toFixed(2)}`);
