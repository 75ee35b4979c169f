/**
 * KBS load benchmark: starts a KBS (`cocokit kbs serve`, SQLite by default, PostgreSQL with --postgres-url or
 * --postgres, both one after the other with --stores sqlite,postgres),
 * runs N concurrent guests for a fixed time after a warm-up, and prints per case and concurrency the flows/s,
 * p50/p99 latency, errors, the server's CPU per flow (user + system of the whole server process tree, read
 * from /proc), the cryptography floor measured in the same run, and the ratio CPU / floor.
 *
 *   npx tsx bench/kbs/run.ts [--cases sample,snp,bearer] [--concurrency 1,8,64] [--c256] [--seconds 8]
 *                            [--warmup 2] [--postgres-url postgres://…] [--postgres] [--stores sqlite,postgres]
 *                            [--no-transport] [--paced-ms 1] [--workers N] [--json] [--cpu-prof <dir>] [--src] [--no-build]
 *
 * PostgreSQL without --postgres-url: a throwaway cluster is started for the run (initdb in a temporary
 * directory, Unix socket only — the helper the store's tests use) and its server processes' CPU is read too:
 * `pg-ms` is the PostgreSQL server's CPU per flow, so KBS + PostgreSQL is `cpu-ms/flow` + `pg-ms`. Goals on
 * the store are judged on the KBS process's CPU (`cpu-ms/flow`); with both stores the run ends with a table of
 * PostgreSQL over SQLite per case and concurrency.
 *
 * The server is what users run: `npm run build` first, then `node dist/cli/main.js kbs serve` (`--no-build`
 * reuses an existing dist/; `--src` runs src/ through tsx instead, which adds the loader's cost to the figures).
 *
 * Cases (one "flow" each):
 *   sample  /auth → /attest (sample TEE evidence) → GET resource with the session cookie
 *   snp     the same with SNP evidence signed under a generated test root the server is configured to trust
 *   bearer  GET resource with `Authorization: Bearer <attestation token>` (the token fetched once per guest)
 * and, as a reference (not a goal), what HTTP alone costs on this machine at each concurrency:
 *   transport  the sample flow's three requests, sent by the same generator to a bare node:http server in a
 *              process of its own that answers with the bodies and cookie one real sample flow received from
 *              the KBS, and does nothing else (no crypto, no store). Run first, once per run; `--no-transport`
 *              leaves it out. It has no floor: its floor-ms is 0 and its ratio is null (`-` in the table).
 *   paced      the same bare server, answering each request only after a timer of `--paced-ms` (default 1 ms,
 *              about what the KBS takes per request at concurrency 1): what HTTP alone costs the server when each
 *              answer has to wake a client that went to sleep waiting, and the server sleeps between requests.
 *              Its CPU per flow holds no work of the server's but reading requests and writing answers.
 *              Run after transport, with it (`--no-transport` leaves both out).
 *
 * The floor is what no implementation can avoid per flow, timed on this process's CPU with node:crypto:
 *   sample = ES256 sign (token) + ECDH-ES+A256KW JWE (an ephemeral P-256 key held by an ECDH object, the cheapest
 *            form node:crypto offers; ECDH, Concat-KDF, AES-KW, GCM)
 *   snp    = sample + one ECDSA P-384 verify (report signature; the VCEK chain is verified once and cached)
 *   bearer = ES256 verify (token) + JWE
 * The load generator runs beside the server on the same cores, so flows/s depends on the machine's other load;
 * CPU per flow and its ratio to the floor do not. Not part of `npm test`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  createCipheriv,
  createECDH,
  createHash,
  generateKeyPair as generateKeyPairCb,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KbsAdminClient } from '../../src/client/admin-client.js';
import { toBase64 } from '../../src/formats/bytes.js';
import { decryptWithTeeKey, parseFlattenedJwe } from '../../src/formats/jwe.js';
import { generateEcKey, generateEcKeyPair } from '../../src/formats/jwk.js';
import { primaryRuntimeData, regularize, runtimeDataDigest } from '../../src/formats/runtime-data.js';
import { evidenceToJson } from '../../src/tee/snp/evidence.js';
import { parseReport, SIGNED_LENGTH } from '../../src/tee/snp/format.js';
import { reportSignatureP1363 } from '../../src/tee/snp/verify.js';
import { createTestRoot, type TestChip, type TestRoot } from '../../src/tee/snp/test-root.js';
import { startPostgres, type PostgresCluster } from '../../src/test-support/postgres.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const CASES = opt('cases', 'sample,snp,bearer').split(',') as CaseName[];
const CASE_NAMES: readonly CaseName[] = ['sample', 'snp', 'bearer', 'transport', 'paced', 'bare-sample', 'bare-snp', 'bare-bearer'];
for (const c of CASES) if (!CASE_NAMES.includes(c)) throw new Error(`--cases: unknown case ${c}`);
// The references run first: a reader compares every case with what HTTP alone, and HTTP with the floor's
// cryptography and nothing else, cost at the same concurrency.
if (!args.includes('--no-transport')) {
  for (const ref of ['bare-bearer', 'bare-snp', 'bare-sample', 'paced', 'transport'] as const) {
    const of = ref.startsWith('bare-') ? ref.slice(5) : undefined;
    if (!CASES.includes(ref) && (of === undefined || CASES.includes(of as CaseName))) CASES.unshift(ref);
  }
}
const CONC = opt('concurrency', '1,8,64').split(',').map(Number);
if (args.includes('--c256') && !CONC.includes(256)) CONC.push(256);
const SECONDS = Number(opt('seconds', '8'));
const WARMUP = Number(opt('warmup', '2'));
const PACED_MS = Number(opt('paced-ms', '1'));
if (!(PACED_MS >= 0)) throw new Error('--paced-ms: a number of milliseconds');
const PG_URL = opt('postgres-url', '');
const STORES = opt('stores', PG_URL !== '' || args.includes('--postgres') ? 'postgres' : 'sqlite').split(',') as StoreName[];
for (const st of STORES) if (st !== 'sqlite' && st !== 'postgres') throw new Error(`--stores: unknown store ${st}`);
const WORKERS = opt('workers', '');
const JSON_OUT = args.includes('--json');
/** Writes a V8 CPU profile of the server here (node --cpu-prof) for finding what is not cryptography. */
const CPU_PROF = opt('cpu-prof', '');
const FROM_SRC = args.includes('--src');
const BUILD = !FROM_SRC && !args.includes('--no-build');
const REQUEST_TIMEOUT_MS = 30_000;
const RESOURCE = 'default/bench/secret';
const SECRET = randomBytes(32);

type FlowName = 'sample' | 'snp' | 'bearer';
type CaseName = FlowName | 'transport' | 'paced' | `bare-${FlowName}`;
/** The reference rows of HTTP alone: no floor. */
const isReference = (c: CaseName): c is 'transport' | 'paced' => c === 'transport' || c === 'paced';
/** The reference rows of the bare server: a flow's HTTP and cryptography and nothing else, under that flow's floor. */
const isBare = (c: CaseName): c is `bare-${FlowName}` => c.startsWith('bare-');
/** The flow a case runs (the transport references run the sample flow's requests). */
const flowOf = (c: CaseName): FlowName => (isBare(c) ? (c.slice(5) as FlowName) : isReference(c) ? 'sample' : c);
type StoreName = 'sqlite' | 'postgres';

// ---- server ------------------------------------------------------------------------------------------------

const CLK_TCK = 100;

/**
 * CPU seconds of `pid` and every process below it: utime + stime of the live ones, plus cutime + cstime, the
 * CPU of their children that have exited since (PostgreSQL backends come and go with the pool's connections).
 */
function treeCpuSeconds(pid: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // fields after "(comm)": state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
      stats.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {
      // raced with an exiting process
    }
  }
  const inTree = (p: number): boolean => {
    for (let q = p, hops = 0; q > 1 && hops < 64; q = stats.get(q)?.ppid ?? 0, hops++) if (q === pid) return true;
    return false;
  };
  let ticks = 0;
  for (const [p, s] of stats) if (inTree(p)) ticks += s.ticks;
  return ticks / CLK_TCK;
}

interface Server {
  child: ChildProcess;
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** What the KBS answered to one sample flow: the transport reference answers the same bytes. */
interface Replies {
  auth: string;
  cookie: string;
  attest: string;
  resource: string;
}

/**
 * The transport reference server: node:http and nothing else. Each request's body is read in full, then the
 * recorded reply of its route goes out with the same status, content type and (for /auth) Set-Cookie as the
 * KBS's, in one `end()` call — at once, or after a timer of the milliseconds given as its second argument.
 */
const TRANSPORT_SERVER = `
const http = require('node:http');
const r = JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8'));
const delay = Number(process.argv[2] ?? 0);
const json = (body, extra) => ({ 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...extra });
const server = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    let body;
    let headers;
    if (req.method === 'POST' && req.url === '/kbs/v0/auth') { body = r.auth; headers = json(body, { 'set-cookie': r.cookie }); }
    else if (req.method === 'POST' && req.url === '/kbs/v0/attest') { body = r.attest; headers = json(body); }
    else if (req.method === 'GET' && req.url.startsWith('/kbs/v0/resource/')) { body = r.resource; headers = json(body); }
    else { res.writeHead(404).end(); return; }
    if (delay > 0) setTimeout(() => res.writeHead(200, headers).end(body), delay);
    else res.writeHead(200, headers).end(body);
  });
});
server.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

async function startTransportServer(dir: string, replies: Replies, delayMs = 0): Promise<Omit<Server, 'dataDir'>> {
  const file = join(dir, 'transport-replies.json');
  writeFileSync(file, JSON.stringify(replies));
  return spawnListening(['-e', TRANSPORT_SERVER, file, String(delayMs)]);
}

/**
 * The bare reference server: node:http with the protocol's cryptography and nothing else — what any KBS must
 * spend per flow on this machine, whatever else it does. /auth draws a nonce and keeps it in a Map; /attest reads
 * the JSON body, checks the nonce and that the evidence's report data binds it and the TEE key (a SHA-384), for
 * SNP rebuilds the signed report from its JSON and verifies its P-384 signature with the VCEK's key (one key
 * object per certificate, as the KBS keeps them), and signs an ES256 token; a resource GET finds the TEE key by
 * cookie or by verifying the Bearer token, and encrypts the secret to it with the project's ECDH-ES JWE. No
 * policy, no store, no audit or decision records, no logs, no limits, no error handling beyond a 400.
 * Arguments: the directory of the project's modules, their extension, the secret in hex.
 */
const BARE_SERVER = `
import http from 'node:http';
import { generateKeyPair, randomBytes, sign, verify, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
const [base, ext, secretHex] = process.argv.slice(2);
const { encryptToTeeKey } = await import(base + '/formats/jwe' + ext);
const { parseTeePubKey } = await import(base + '/formats/jwk' + ext);
const { primaryRuntimeData, regularize, runtimeDataDigest } = await import(base + '/formats/runtime-data' + ext);
const snp = await import(base + '/tee/snp/index' + ext);
const secret = Buffer.from(secretHex, 'hex');
const { privateKey, publicKey } = await promisify(generateKeyPair)('ec', { namedCurve: 'prime256v1' });
const sessions = new Map();
const vcekKeys = new Map();
const b64u = (b) => Buffer.from(b).toString('base64url');
const HEADER = b64u(JSON.stringify({ alg: 'ES256', typ: 'JWT' }));
const signToken = (claims) => {
  const signed = HEADER + '.' + b64u(JSON.stringify(claims));
  return signed + '.' + b64u(sign('sha256', Buffer.from(signed), { key: privateKey, dsaEncoding: 'ieee-p1363' }));
};
const tokenClaims = (token) => {
  const [h, p, sig] = token.split('.');
  if (!verify('sha256', Buffer.from(h + '.' + p), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'))) throw new Error('token');
  return JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
};
const sessionOf = (req) => sessions.get(/kbs-session-id=([^;,\\s]+)/.exec(req.headers.cookie ?? '')?.[1]);
const json = (res, body, extra) => res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...extra }).end(body);
function attest(s, body) {
  const rd = body['runtime-data'];
  if (!s || s.nonce === undefined || rd.nonce !== s.nonce) throw new Error('nonce');
  s.nonce = undefined;
  const jwk = rd['tee-pubkey'];
  parseTeePubKey(jwk);
  const bound = runtimeDataDigest(primaryRuntimeData(rd.nonce, jwk, ''), 'sha384');
  const evidence = body['tee-evidence'].primary_evidence;
  if (s.tee === 'snp') {
    const ev = snp.evidenceFromJson(evidence);
    if (!Buffer.from(ev.report.reportData).equals(regularize(bound, 64))) throw new Error('report data');
    const der = ev.certChain.find((c) => c.type === 'VCEK').data;
    const id = Buffer.from(der).toString('base64');
    let key = vcekKeys.get(id);
    if (key === undefined) vcekKeys.set(id, (key = new X509Certificate(der).publicKey));
    const signed = snp.serializeReport(ev.report).subarray(0, snp.SIGNED_LENGTH);
    if (!verify('sha384', signed, { key, dsaEncoding: 'ieee-p1363' }, snp.reportSignatureP1363(ev.report))) throw new Error('signature');
  } else if (evidence.report_data !== Buffer.from(bound).toString('base64')) throw new Error('report data');
  s.jwk = jwk;
  const now = Math.floor(Date.now() / 1000);
  return signToken({ iat: now, exp: now + 300, tee: s.tee, 'tee-pubkey': jwk });
}
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    try {
      if (req.method === 'POST' && req.url === '/kbs/v0/auth') {
        const { tee } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const id = randomBytes(16).toString('hex');
        const nonce = randomBytes(32).toString('base64');
        sessions.set(id, { tee, nonce });
        json(res, JSON.stringify({ nonce, 'extra-params': '' }), { 'set-cookie': 'kbs-session-id=' + id });
      } else if (req.method === 'POST' && req.url === '/kbs/v0/attest') {
        json(res, JSON.stringify({ token: attest(sessionOf(req), JSON.parse(Buffer.concat(chunks).toString('utf8'))) }));
      } else if (req.method === 'GET' && req.url.startsWith('/kbs/v0/resource/')) {
        const bearer = /^Bearer\\s+(\\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
        const jwk = bearer ? tokenClaims(bearer)['tee-pubkey'] : sessionOf(req).jwk;
        json(res, JSON.stringify(encryptToTeeKey(secret, parseTeePubKey(jwk))));
      } else res.writeHead(404).end();
    } catch (e) {
      res.writeHead(400).end(String(e));
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

async function startBareServer(dir: string): Promise<Omit<Server, 'dataDir'>> {
  const file = join(dir, 'bare-server.mjs');
  writeFileSync(file, BARE_SERVER);
  const base = join(repo, FROM_SRC ? 'src' : 'dist');
  return spawnListening([...(FROM_SRC ? ['--import', 'tsx'] : []), file, base, FROM_SRC ? '.ts' : '.js', SECRET.toString('hex')]);
}

/** The PostgreSQL server the KBS uses: its URL, and the postmaster's pid when this run started it. */
interface Pg {
  url: string;
  pid?: number;
}

async function startServer(dir: string, rootsPem: string, pg: Pg | undefined): Promise<Server> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, 'data');
  const kekFile = join(dir, 'kek');
  writeFileSync(kekFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  const toml = [
    '[http_server]',
    `sockets = ["127.0.0.1:${port}"]`,
    'insecure_http = true',
    // Every simulated guest comes from 127.0.0.1: the per-address auth rate limit would count them as one client.
    'auth_rate_per_sec = 1000000',
    'auth_burst = 1000000',
    ...(WORKERS ? [`worker_count = ${Number(WORKERS)}`] : []),
    '[attestation_service]',
    'allow_sample_tee = true',
    '[attestation_service.verifier_config.snp_verifier]',
    `trusted_roots = [{ product = "genoa", pem = "${rootsPem}" }]`,
    '[storage_backend]',
    pg ? 'storage_type = "postgres"' : 'storage_type = "sqlite"',
    `data_dir = "${dataDir}"`,
    `kek_file = "${kekFile}"`,
    ...(pg ? [`postgres_url = "${pg.url}"`] : []),
  ].join('\n');
  const cfg = join(dir, 'kbs.toml');
  writeFileSync(cfg, toml + '\n');
  const entry = FROM_SRC ? ['--import', 'tsx', join(repo, 'src/cli/main.ts')] : [join(repo, 'dist/cli/main.js')];
  return { ...(await spawnListening([...entry, 'kbs', 'serve', '--config', cfg])), dataDir };
}

/** Starts `node <argv>` (with --cpu-prof when asked) and waits for the "listening on <url>" line it prints. */
async function spawnListening(argv: string[]): Promise<Omit<Server, 'dataDir'>> {
  const child = spawn(process.execPath, [...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : []), ...argv], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 1e6) err = err.slice(-1e5);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start:\n${out}\n${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}):\n${out}\n${err}`)));
  });
  return {
    child,
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

// ---- HTTP --------------------------------------------------------------------------------------------------

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function call(agent: Agent, url: string, method: string, headers: Record<string, string>, body?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${url}: no answer in ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// ---- guests ------------------------------------------------------------------------------------------------

const generateKeyPair = promisify(generateKeyPairCb);

interface Guest {
  privateKey: KeyObject;
  jwk: { kty: 'EC'; crv: 'P-256'; alg: 'ECDH-ES+A256KW'; x: string; y: string };
  token?: string;
  checked: boolean;
}

async function newGuest(): Promise<Guest> {
  // Async keygen: the synchronous EC keygen followed by a JWK export can deadlock Node 20 under GC pressure.
  const { privateKey, publicKey } = await generateKeyPair('ec', { namedCurve: 'prime256v1' });
  const j = publicKey.export({ format: 'jwk' });
  return { privateKey, jwk: { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', x: j.x!, y: j.y! }, checked: false };
}

class FlowError extends Error {}

function expectStatus(what: string, r: Res): void {
  if (r.status !== 200) throw new FlowError(`${what}: HTTP ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
}

interface Ctx {
  agent: Agent;
  url: string;
  root: TestRoot;
  chip: TestChip;
}

/** auth → attest → GET resource with the cookie; returns the token. */
async function attestFlow(ctx: Ctx, g: Guest, tee: 'sample' | 'snp', fetchResource: boolean): Promise<string> {
  const a = await call(ctx.agent, `${ctx.url}/kbs/v0/auth`, 'POST', { 'content-type': 'application/json' }, JSON.stringify({ version: '0.4.0', tee, 'extra-params': '' }));
  expectStatus('auth', a);
  const cookie = /kbs-session-id=([^;,\s]+)/.exec(String(a.headers['set-cookie'] ?? ''))?.[1];
  if (!cookie) throw new FlowError('auth: no session cookie');
  const nonce = (JSON.parse(a.body.toString('utf8')) as { nonce: string }).nonce;
  const rd = runtimeDataDigest(primaryRuntimeData(nonce, g.jwk, ''), 'sha384');
  const evidence =
    tee === 'sample'
      ? { svn: '1', report_data: toBase64(rd) }
      : evidenceToJson(parseReport(ctx.root.signReport(ctx.chip, { reportData: regularize(rd, 64) })), [{ type: 'VCEK', data: new Uint8Array(ctx.chip.vcek.raw) }]);
  const body = JSON.stringify({ 'init-data': null, 'runtime-data': { nonce, 'tee-pubkey': g.jwk }, 'tee-evidence': { primary_evidence: evidence, additional_evidence: '' } });
  const t = await call(ctx.agent, `${ctx.url}/kbs/v0/attest`, 'POST', { 'content-type': 'application/json', cookie: `kbs-session-id=${cookie}` }, body);
  expectStatus('attest', t);
  const token = (JSON.parse(t.body.toString('utf8')) as { token: string }).token;
  if (fetchResource) await getResource(ctx, g, { cookie: `kbs-session-id=${cookie}` });
  return token;
}

/** One sample flow against the KBS, recording its replies for the transport reference. */
async function recordReplies(ctx: Ctx): Promise<Replies> {
  const g = await newGuest();
  const a = await call(ctx.agent, `${ctx.url}/kbs/v0/auth`, 'POST', { 'content-type': 'application/json' }, JSON.stringify({ version: '0.4.0', tee: 'sample', 'extra-params': '' }));
  expectStatus('auth', a);
  const cookie = String(a.headers['set-cookie'] ?? '');
  const id = /kbs-session-id=([^;,\s]+)/.exec(cookie)?.[1];
  if (!id) throw new FlowError('auth: no session cookie');
  const nonce = (JSON.parse(a.body.toString('utf8')) as { nonce: string }).nonce;
  const rd = runtimeDataDigest(primaryRuntimeData(nonce, g.jwk, ''), 'sha384');
  const evidence = { svn: '1', report_data: toBase64(rd) };
  const body = JSON.stringify({ 'init-data': null, 'runtime-data': { nonce, 'tee-pubkey': g.jwk }, 'tee-evidence': { primary_evidence: evidence, additional_evidence: '' } });
  const t = await call(ctx.agent, `${ctx.url}/kbs/v0/attest`, 'POST', { 'content-type': 'application/json', cookie: `kbs-session-id=${id}` }, body);
  expectStatus('attest', t);
  const r = await call(ctx.agent, `${ctx.url}/kbs/v0/resource/${RESOURCE}`, 'GET', { cookie: `kbs-session-id=${id}` });
  expectStatus('resource', r);
  return { auth: a.body.toString('utf8'), cookie, attest: t.body.toString('utf8'), resource: r.body.toString('utf8') };
}

async function getResource(ctx: Ctx, g: Guest, headers: Record<string, string>): Promise<void> {
  const r = await call(ctx.agent, `${ctx.url}/kbs/v0/resource/${RESOURCE}`, 'GET', headers);
  expectStatus('resource', r);
  const jwe = parseFlattenedJwe(JSON.parse(r.body.toString('utf8')));
  // Decrypting costs the generator CPU the server does not spend: check the first answer of every guest.
  if (!g.checked) {
    if (!Buffer.from(decryptWithTeeKey(jwe, g.privateKey)).equals(SECRET)) throw new FlowError('resource: decrypted value differs from the stored secret');
    g.checked = true;
  }
}

interface CaseResult {
  case: CaseName;
  store: string;
  concurrency: number;
  flows: number;
  seconds: number;
  flowsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError?: string;
  serverCpuMsPerFlow: number;
  /** The PostgreSQL server's CPU per flow (its postmaster and backends), when this run started it. */
  postgresCpuMsPerFlow?: number;
  serverCores: number;
  /** CPU cores the load generator (this process) used meanwhile: near 1, it and not the server is the limit. */
  generatorCores: number;
  floorMs: number;
  /** Server CPU per flow over the floor; null for the transport reference, which has no floor. */
  ratio: number | null;
  hung: boolean;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function runCase(ctx: Ctx, server: Pick<Server, 'child'>, pg: Pg | undefined, name: CaseName, concurrency: number, floors: Record<CaseName, number>): Promise<CaseResult> {
  const guests = await Promise.all(Array.from({ length: concurrency }, () => newGuest()));
  // The recorded resource was encrypted to another key: the transport reference checks no decryption.
  if (isReference(name)) for (const g of guests) g.checked = true;
  const kind = flowOf(name);
  if (kind === 'bearer') for (const g of guests) g.token = await attestFlow(ctx, g, 'sample', false);
  const flow = (g: Guest): Promise<unknown> => (kind === 'bearer' ? getResource(ctx, g, { authorization: `Bearer ${g.token}` }) : attestFlow(ctx, g, kind, true));

  let measuring = false;
  let stop = false;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const loop = async (g: Guest): Promise<void> => {
    while (!stop) {
      const t0 = performance.now();
      try {
        await flow(g);
        if (measuring) latencies.push(performance.now() - t0);
      } catch (e) {
        if (measuring) {
          errors++;
          firstError ??= (e as Error).message;
        }
      }
    }
  };
  const loops = guests.map(loop);
  await sleep(WARMUP * 1000);
  measuring = true;
  const pgPid = pg?.pid;
  const cpu0 = treeCpuSeconds(server.child.pid!);
  const pg0 = pgPid === undefined ? 0 : treeCpuSeconds(pgPid);
  const gen0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const cpu1 = treeCpuSeconds(server.child.pid!);
  const pg1 = pgPid === undefined ? 0 : treeCpuSeconds(pgPid);
  const gen = process.cpuUsage(gen0);
  const elapsed = (performance.now() - t0) / 1000;
  const flows = latencies.length;
  measuring = false;
  stop = true;
  // A flow in flight finishes (or times out); a server that stopped answering shows up as a hang.
  const hung = await Promise.race([Promise.all(loops).then(() => false), sleep(REQUEST_TIMEOUT_MS + 5000).then(() => true)]);
  latencies.sort((a, b) => a - b);
  const cpuMs = ((cpu1 - cpu0) * 1000) / Math.max(1, flows);
  return {
    case: name,
    store: isReference(name) || isBare(name) ? 'none' : pg ? 'postgres' : 'sqlite',
    concurrency,
    flows,
    seconds: round(elapsed, 2),
    flowsPerSecond: round(flows / elapsed, 1),
    p50Ms: round(quantile(latencies, 0.5), 2),
    p99Ms: round(quantile(latencies, 0.99), 2),
    errors,
    ...(firstError ? { firstError } : {}),
    serverCpuMsPerFlow: round(cpuMs, 3),
    ...(pgPid === undefined ? {} : { postgresCpuMsPerFlow: round(((pg1 - pg0) * 1000) / Math.max(1, flows), 3) }),
    serverCores: round((cpu1 - cpu0) / elapsed, 2),
    generatorCores: round((gen.user + gen.system) / 1e6 / elapsed, 2),
    floorMs: round(floors[name], 3),
    ratio: floors[name] > 0 ? round(cpuMs / floors[name], 2) : null,
    hung,
  };
}

// ---- the crypto floor --------------------------------------------------------------------------------------

/** CPU milliseconds per call of `fn` on this process (user + system), after a warm-up. */
function cpuMsPerOp(fn: () => unknown, ms = 600): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const c0 = process.cpuUsage();
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) fn();
    n += 20;
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

function measureFloor(chip: TestChip, root: TestRoot): { parts: Record<string, number>; floors: Record<CaseName, number> } {
  const es = generateEcKeyPair('P-256');
  const claims = Buffer.from('x'.repeat(900));
  const sig = sign('sha256', claims, { key: es.privateKey, dsaEncoding: 'ieee-p1363' });
  const tee = generateEcKey('P-256');
  const teePoint = Buffer.concat([Buffer.from([4]), Buffer.from(tee.x, 'base64url'), Buffer.from(tee.y, 'base64url')]);
  const report = root.signReport(chip, { reportData: new Uint8Array(64) });
  const signed = report.subarray(0, SIGNED_LENGTH);
  const p1363 = reportSignatureP1363(parseReport(report))!;
  const vcekKey = chip.vcek.publicKey;
  if (!verify('sha384', signed, { key: vcekKey, dsaEncoding: 'ieee-p1363' }, p1363)) throw new Error('floor: the test report signature does not verify');
  const jwe = (): void => {
    // The cheapest way Node offers: an ECDH object's fresh key and its public point, no key objects.
    const eph = createECDH('prime256v1');
    eph.generateKeys();
    const z = eph.computeSecret(teePoint);
    const kek = createHash('sha256').update(z).digest();
    const cek = randomBytes(32);
    const kw = createCipheriv('id-aes256-wrap', kek, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
    Buffer.concat([kw.update(cek), kw.final()]);
    const g = createCipheriv('aes-256-gcm', cek, randomBytes(12));
    g.setAAD(Buffer.from('header'));
    Buffer.concat([g.update(SECRET), g.final()]);
    g.getAuthTag();
  };
  const parts = {
    es256Sign: cpuMsPerOp(() => sign('sha256', claims, { key: es.privateKey, dsaEncoding: 'ieee-p1363' })),
    es256Verify: cpuMsPerOp(() => verify('sha256', claims, { key: es.publicKey, dsaEncoding: 'ieee-p1363' }, sig)),
    p384Verify: cpuMsPerOp(() => verify('sha384', signed, { key: vcekKey, dsaEncoding: 'ieee-p1363' }, p1363)),
    jwe: cpuMsPerOp(jwe),
  };
  const sample = parts.es256Sign + parts.jwe;
  const bearer = parts.es256Verify + parts.jwe;
  const snp = sample + parts.p384Verify;
  return { parts, floors: { sample, snp, bearer, transport: 0, paced: 0, 'bare-sample': sample, 'bare-snp': snp, 'bare-bearer': bearer } };
}

// ---- main --------------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

function resultLine(r: CaseResult): string {
  const pgCol = r.postgresCpuMsPerFlow === undefined ? '' : ` ${r.postgresCpuMsPerFlow.toFixed(3).padStart(7)}`;
  return (
    `${r.case.padEnd(11)} ${String(r.concurrency).padStart(4)} ${r.flowsPerSecond.toFixed(1).padStart(8)} ${r.p50Ms.toFixed(2).padStart(8)} ${r.p99Ms.toFixed(2).padStart(8)} ` +
    `${String(r.errors).padStart(7)} ${r.serverCpuMsPerFlow.toFixed(3).padStart(12)}${pgCol} ${r.serverCores.toFixed(2).padStart(6)} ${r.generatorCores.toFixed(2).padStart(10)} ` +
    `${r.floorMs.toFixed(3).padStart(9)} ${(r.ratio === null ? '-' : r.ratio.toFixed(2)).padStart(6)}${r.hung ? '  HUNG' : ''}${r.firstError ? `  first error: ${r.firstError}` : ''}`
  );
}

/** PostgreSQL over SQLite per case and concurrency: KBS CPU alone (the goal) and KBS + PostgreSQL server. */
function comparison(results: CaseResult[]): string[] {
  const lines = ['# PostgreSQL / SQLite, server CPU per flow (goal: KBS process <= 1.5x)', 'case    conc  sqlite-ms  pg-kbs-ms  kbs-ratio  pg-kbs+pg-ms  kbs+pg-ratio'];
  for (const p of results.filter((r) => r.store === 'postgres')) {
    const q = results.find((r) => r.store === 'sqlite' && r.case === p.case && r.concurrency === p.concurrency);
    if (q === undefined) continue;
    const both = p.postgresCpuMsPerFlow === undefined ? undefined : p.serverCpuMsPerFlow + p.postgresCpuMsPerFlow;
    lines.push(
      `${p.case.padEnd(7)} ${String(p.concurrency).padStart(4)} ${q.serverCpuMsPerFlow.toFixed(3).padStart(10)} ${p.serverCpuMsPerFlow.toFixed(3).padStart(10)} ` +
        `${(p.serverCpuMsPerFlow / q.serverCpuMsPerFlow).toFixed(2).padStart(10)} ${both === undefined ? '         n/a' : both.toFixed(3).padStart(13)} ` +
        `${both === undefined ? '         n/a' : (both / q.serverCpuMsPerFlow).toFixed(2).padStart(13)}`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  if (BUILD) execFileSync('npm', ['run', 'build', '--silent'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  else if (!FROM_SRC && !existsSync(join(repo, 'dist/cli/main.js'))) throw new Error('dist/cli/main.js is missing: run `npm run build` (or drop --no-build)');
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-bench-kbs-'));
  let cluster: PostgresCluster | undefined;
  const results: CaseResult[] = [];
  try {
    const root = createTestRoot({ product: 'genoa', rsaBits: 4096 });
    const chip = root.createChip();
    const rootsPem = join(dir, 'roots.pem');
    writeFileSync(rootsPem, root.ark.toString() + root.ask.toString());
    const { parts, floors } = measureFloor(chip, root);
    const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
    if (!JSON_OUT) {
      console.log(`# machine: ${machine}; node ${process.version}${WORKERS ? `; ${WORKERS} workers` : ''}; server ${FROM_SRC ? 'src via tsx' : 'dist'}`);
      console.log(`# floor (ms CPU): ${Object.entries(parts).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
    }
    for (const [i, store] of STORES.entries()) {
      let pg: Pg | undefined;
      if (store === 'postgres') {
        if (PG_URL !== '') pg = { url: PG_URL };
        else {
          cluster ??= await startPostgres();
          const pidLine = readFileSync(join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0];
          pg = { url: await cluster.createDatabase(`bench_${i}`), pid: Number(pidLine) };
        }
      }
      const server = await startServer(join(dir, String(i)), rootsPem, pg);
      try {
        const admin = new KbsAdminClient(server.url, { privateKeyPem: readFileSync(join(server.dataDir, 'admin-key.pem'), 'utf8') });
        await admin.setResource(RESOURCE, SECRET);
        await admin.setReferenceValues({ launch_digest: ['abcde'], svn: ['1'], major_version: 1, minimum_minor_version: 0 });
        if (!JSON_OUT) {
          console.log(`# store ${store}${pg ? (pg.pid === undefined ? ' (external server, its CPU not measured)' : ' (throwaway local cluster; pg-ms = its CPU per flow)') : ''}`);
          console.log(`case        conc  flows/s    p50ms    p99ms  errors  cpu-ms/flow${pg?.pid === undefined ? '' : '   pg-ms'}  cores  gen-cores  floor-ms  ratio`);
        }
        const agent = new Agent({ keepAlive: true, maxSockets: 512 });
        const ctx: Ctx = { agent, url: server.url, root, chip };
        // The transport reference does not depend on the store: it runs with the first one.
        const replies = i === 0 && CASES.some(isReference) ? await recordReplies(ctx) : undefined;
        const refs = new Map<CaseName, Omit<Server, 'dataDir'>>();
        try {
          if (replies && CASES.includes('transport')) refs.set('transport', await startTransportServer(dir, replies));
          if (replies && CASES.includes('paced')) refs.set('paced', await startTransportServer(dir, replies, PACED_MS));
          // One bare server for its three rows: each row's CPU is read from the process over that row alone.
          if (i === 0 && CASES.some(isBare)) {
            const bare = await startBareServer(dir);
            for (const name of CASES.filter(isBare)) refs.set(name, bare);
          }
          for (const name of CASES) {
            const ref = refs.get(name);
            if ((isReference(name) || isBare(name)) && ref === undefined) continue;
            for (const c of CONC) {
              const r = ref ? await runCase({ ...ctx, url: ref.url }, ref, undefined, name, c, floors) : await runCase(ctx, server, pg, name, c, floors);
              results.push(r);
              if (!JSON_OUT) console.log(resultLine(r));
              if (r.hung) throw new Error(`the server stopped answering during ${name} at concurrency ${c} (${store})`);
            }
          }
        } finally {
          agent.destroy();
          for (const ref of new Set(refs.values())) await ref.stop();
        }
      } finally {
        await server.stop();
      }
    }
    if (!JSON_OUT && STORES.length > 1) for (const l of comparison(results)) console.log(l);
    if (JSON_OUT) console.log(JSON.stringify({ machine, node: process.version, floorPartsMs: parts, results }, null, 2));
  } finally {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
