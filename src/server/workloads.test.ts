import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { fromBase64, fromHex, toHex } from '../formats/bytes.js';
import { decryptWithTeeKey } from '../formats/jwe.js';
import { generateTeeKeyPair } from '../formats/jwk.js';
import { primaryRuntimeData, regularize, runtimeDataDigest } from '../formats/runtime-data.js';
import { VerifierRegistry } from '../attestation/verifiers.js';
import { freshnessHash, hostDataForUuid } from '../attestation/workload.js';
import { policyEvaluators } from '../policy/index.js';
import { createSnpVerifier, createTestRoot, evidenceToJson, parseReport, vcekCachePaths, type TestChip, type TestRoot } from '../tee/snp/index.js';
import { readVector, readVectorJson, toolMissing, vectorPath } from '../test-support/vectors.js';
import { bufferIO } from '../cli/io.js';
import { run } from '../cli/program.js';
import { signAdminToken } from '../client/admin-client.js';
import { buildahRegistrationBody } from '../client/krun-registration.js';
import { configFromToml, defaultConfig } from './config.js';
import { openKbs, type Kbs } from './kbs.js';
import { cidrMatcher, workloadsConfigFromToml } from './workloads.js';
import { listDecisions } from './decision-routes.js';
import { verifyDecisionChain, type Decision } from './decisions.js';
import { explainReferenceValue } from './reference-values.js';
import { safeKeyPair } from '../formats/keygen.js';

const P = (f: string) => ['keybroker', 'protocol', f];
const ids = readVectorJson(...P('freshness_and_ids.json'));
const vectorPem = readVector(...P('tee_rsa2048_private.pem')).toString();
const M = readVectorJson('keybroker', 'protocol', 'keybroker_rvp_register_request.json').reference_values.measurement as string;
const OTHER_M = 'ab'.repeat(48);

let root: TestRoot;
let chip: TestChip;
let kbs: Kbs;
let url: string;
let dir: string;
let adminPem: string;

function opensslDecrypt(hex: string): string {
  const d = mkdtempSync(join(tmpdir(), 'cocokit-wl-'));
  try {
    writeFileSync(join(d, 'k.pem'), vectorPem);
    writeFileSync(join(d, 'c.bin'), Buffer.from(hex, 'hex'));
    return execFileSync('openssl', ['pkeyutl', '-decrypt', '-inkey', join(d, 'k.pem'), '-pkeyopt', 'rsa_padding_mode:pkcs1', '-in', join(d, 'c.bin')]).toString();
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

before(async () => {
  root = createTestRoot();
  chip = root.createChip();
  dir = mkdtempSync(join(tmpdir(), 'cocokit-workloads-'));
  // The compat dialects carry no VCEK; the KBS reads it from its offline cache ([workloads] vcek_cache_dir).
  const cache = join(dir, 'vcek-cache');
  const path = vcekCachePaths(cache, 'milan', chip.chipId, { ...chip.tcb, raw: 0n })[0];
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, chip.vcek.raw);
  const { privateKey, publicKey } = safeKeyPair('ed25519');
  adminPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  writeFileSync(join(dir, 'admin.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
  const config = defaultConfig();
  config.storage_backend.data_dir = join(dir, 'data');
  config.admin.identity_providers = [{ public_key_uri: join(dir, 'admin.pub.pem') }];
  config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/.*$' }];
  // The fuzz tests open many sessions from one address; admission control has its own suite (limits.test.ts).
  config.http_server.auth_burst = 1_000_000;
  config.workloads = workloadsConfigFromToml({
    vcek_cache_dir: cache,
    keybroker: { enabled: true, unauthenticated_registration: true, registration_cidrs: ['127.0.0.0/8', '::1/128'] },
    reference_kbs: { enabled: true, unauthenticated_registration: true, registration_cidrs: ['127.0.0.0/8', '::1/128'] },
  });
  kbs = await openKbs({ config, ...policyEvaluators(), verifiers: new VerifierRegistry([createSnpVerifier({ roots: root.roots })]) });
  url = await kbs.listen(0, '127.0.0.1');
});

after(async () => {
  await kbs?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function http(method: string, path: string, opts: { body?: unknown; raw?: string; token?: string; cookie?: string; ns?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined || opts.raw !== undefined) headers['content-type'] = 'application/json';
  if (opts.ns !== undefined) headers.authorization = `Bearer ${await signAdminToken(adminPem, 'admin', 300, new Date(), { namespace: opts.ns })}`;
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.cookie) headers.cookie = opts.cookie;
  const res = await fetch(url + path, { method, headers, body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)) });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers, json: () => JSON.parse(text), cookie: res.headers.get('set-cookie')?.split(';')[0] };
}

/** The certificate table of an extended report, as CoCo attesters send it. */
const vcekTable = () => [{ type: 'VCEK' as const, data: new Uint8Array(chip.vcek.raw) }];

// ---- native ------------------------------------------------------------------------------------------

async function registerNative(ns: string, body: Record<string, unknown>): Promise<string> {
  const r = await http('POST', '/kbs/v0/workloads', { ns, body });
  assert.equal(r.status, 201, r.text);
  return r.json().workload_id;
}

/** The Trustee handshake with SNP evidence from the test root; returns the session cookie and TEE key. */
async function attestNative(fields: { measurement?: string; hostData?: Uint8Array }, extraParams: unknown = '') {
  const auth = await http('POST', '/kbs/v0/auth', { body: { version: '0.4.0', tee: 'snp', 'extra-params': extraParams } });
  assert.equal(auth.status, 200, auth.text);
  const nonce = auth.json().nonce;
  const tee = generateTeeKeyPair('ec-p256');
  const rd = primaryRuntimeData(nonce, tee.publicJwk, '');
  const report = root.signReport(chip, {
    reportData: regularize(runtimeDataDigest(rd, 'sha384'), 64),
    measurement: fromHex(fields.measurement ?? M),
    ...(fields.hostData ? { hostData: fields.hostData } : {}),
  });
  const body = { 'runtime-data': { nonce, 'tee-pubkey': tee.publicJwk }, 'tee-evidence': { primary_evidence: evidenceToJson(parseReport(report), vcekTable()), additional_evidence: '' } };
  const at = await http('POST', '/kbs/v0/attest', { body, cookie: auth.cookie });
  assert.equal(at.status, 200, at.text);
  return { cookie: auth.cookie!, tee, body };
}

test('native: register → attest with SNP evidence → passphrase, identified by HOST_DATA', async () => {
  const id = await registerNative('tenant-a', { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: 'native-secret' } });
  const s = await attestNative({ hostData: hostDataForUuid(id) });
  const r = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: s.cookie });
  assert.equal(r.status, 200, r.text);
  assert.equal(new TextDecoder().decode(decryptWithTeeKey(r.json(), s.tee.privateKey)), 'native-secret');
});

test('native: wrong measurement, unregistered HOST_DATA and nothing to identify are denied with the reason', async () => {
  const id = await registerNative('tenant-a', { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: 'x' } });
  const wrong = await attestNative({ measurement: OTHER_M, hostData: hostDataForUuid(id) });
  let r = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: wrong.cookie });
  assert.equal(r.status, 401);
  assert.match(r.json().detail, new RegExp(`measurement: claim "${OTHER_M}", reference "${M}"`));
  const unknown = await attestNative({ hostData: hostDataForUuid(randomUUID()) });
  r = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: unknown.cookie });
  assert.equal(r.status, 401);
  assert.match(r.json().detail, /is not registered/);
  const none = await attestNative({});
  r = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: none.cookie });
  assert.match(r.json().detail, /names no workload/);
  r = await http('GET', '/kbs/v0/workload-resource/passphrase');
  assert.equal(r.status, 401);
});

test('native: a session attested for workload A never reads workload B, and a deleted workload gets nothing', async () => {
  const a = await registerNative('tenant-a', { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: 'secret-a' } });
  const b = await registerNative('tenant-a', { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: 'secret-b', only_b: 'b' } });
  const s = await attestNative({ hostData: hostDataForUuid(a) });
  let r = await http('GET', `/kbs/v0/workload-resource/passphrase?workload_id=${b}`, { cookie: s.cookie });
  assert.equal(r.status, 403);
  assert.match(r.json().detail, new RegExp(`attested for workload ${a}, not ${b}`));
  r = await http('GET', '/kbs/v0/workload-resource/only_b', { cookie: s.cookie });
  assert.equal(r.status, 404);
  // The Trustee resource route reads the default namespace only: the workload secret is out of its reach.
  r = await http('GET', `/kbs/v0/resource/workload/${a}/passphrase`, { cookie: s.cookie });
  assert.notEqual(r.status, 200);
  // extra-params naming B is ignored: B does not allow extra_params identification; HOST_DATA names A.
  const mixed = await attestNative({ hostData: hostDataForUuid(a) }, JSON.stringify({ workload_id: b }));
  r = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: mixed.cookie });
  assert.equal(new TextDecoder().decode(decryptWithTeeKey(r.json(), mixed.tee.privateKey)), 'secret-a');
  assert.equal((await http('DELETE', `/kbs/v0/workloads/${a}`, { ns: 'tenant-a' })).status, 200);
  r = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: s.cookie });
  assert.equal(r.status, 401);
  assert.match(r.json().detail, /not registered/);
});

test('native: extra_params identification only when the registration allows it', async () => {
  const id = await registerNative('tenant-a', { tee: 'snp', reference_values: { measurement: M }, identify: ['extra_params'], resources: { passphrase: 'by-extra' } });
  const s = await attestNative({}, JSON.stringify({ workload_id: id }));
  const r = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: s.cookie });
  assert.equal(new TextDecoder().decode(decryptWithTeeKey(r.json(), s.tee.privateKey)), 'by-extra');
  const hostOnly = await registerNative('tenant-a', { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: 'no' } });
  const t = await attestNative({}, { workload_id: hostOnly });
  const d = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: t.cookie });
  assert.equal(d.status, 401);
  assert.match(d.json().detail, /does not allow identification by extra_params/);
});

test('native: a replayed attestation (old nonce) is refused with the reason', async () => {
  const id = await registerNative('tenant-a', { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: 'x' } });
  const s = await attestNative({ hostData: hostDataForUuid(id) });
  const fresh = await http('POST', '/kbs/v0/auth', { body: { version: '0.4.0', tee: 'snp', 'extra-params': '' } });
  const r = await http('POST', '/kbs/v0/attest', { body: s.body, cookie: fresh.cookie });
  assert.equal(r.status, 401);
  assert.match(r.json().detail, /nonce/);
});

test('native admin API: namespaced, GET never returns secrets, versioned updates, custom Rego policy', async () => {
  const id = await registerNative('tenant-a', { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: 'never-shown' } });
  let r = await http('GET', `/kbs/v0/workloads/${id}`, { ns: 'tenant-a' });
  assert.equal(r.status, 200);
  assert.doesNotMatch(r.text, /never-shown/);
  assert.deepEqual(r.json().resources, ['passphrase']);
  assert.equal(r.json().version, 1);
  assert.match(r.json().policy, /input\["measurement"\] == data\["measurement"\]/);
  assert.equal((await http('GET', `/kbs/v0/workloads/${id}`, { ns: 'tenant-b' })).status, 404);
  assert.ok(!(await http('GET', '/kbs/v0/workloads', { ns: 'tenant-b' })).json().some((w: { workload_id: string }) => w.workload_id === id));
  assert.ok((await http('GET', '/kbs/v0/workloads', { ns: 'tenant-a' })).json().some((w: { workload_id: string }) => w.workload_id === id));
  assert.equal((await http('DELETE', `/kbs/v0/workloads/${id}`, { ns: 'tenant-b' })).status, 404);
  assert.equal((await http('GET', '/kbs/v0/workloads', { ns: 'default' })).status, 403);
  assert.equal((await http('GET', '/kbs/v0/workloads')).status, 401);
  // Update: a custom policy that also requires a debug-disabled guest.
  const policy = 'package workload\n\ndefault allow := false\n\nallow if {\n\tinput.measurement == data.measurement\n\tinput.policy_debug_allowed == false\n}\n';
  r = await http('PUT', `/kbs/v0/workloads/${id}`, { ns: 'tenant-a', body: { tee: 'snp', reference_values: { measurement: M }, policy, version: 1 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().version, 2);
  r = await http('PUT', `/kbs/v0/workloads/${id}`, { ns: 'tenant-a', body: { tee: 'snp', reference_values: { measurement: M }, version: 1 } });
  assert.equal(r.status, 409);
  const s = await attestNative({ hostData: hostDataForUuid(id) });
  r = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: s.cookie });
  assert.equal(new TextDecoder().decode(decryptWithTeeKey(r.json(), s.tee.privateKey)), 'never-shown');
  r = await http('POST', '/kbs/v0/workloads', { ns: 'tenant-a', body: { tee: 'snp', reference_values: { measurement: M }, resources: {}, policy: 'package nope\nallow := true' } });
  assert.equal(r.status, 400);
  r = await http('POST', '/kbs/v0/workloads', { ns: 'tenant-a', body: { tee: 'tdx', reference_values: { measurement: M }, resources: {} } });
  assert.equal(r.status, 501);
});

test('fuzzed registration bodies on all three front doors give 4xx errors, never 500', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.jsonValue(), fc.record({ tee: fc.jsonValue(), reference_values: fc.jsonValue(), resources: fc.jsonValue(), query: fc.jsonValue(), queries: fc.jsonValue(), identify: fc.jsonValue() }, { requiredKeys: [] })), async (body) => {
      for (const [path, ns] of [['/kbs/v0/workloads', 'tenant-f'], ['/keybroker/rvp/register', undefined], ['/reference-kbs/kbs/v0/register_workload', undefined]] as const) {
        const r = await http('POST', path, { raw: JSON.stringify(body), ...(ns ? { ns } : {}) });
        assert.ok(r.status < 500, `${path}: ${r.status} ${r.text}`);
      }
    }),
    { numRuns: 40 },
  );
  const r = await http('POST', '/kbs/v0/workloads', { ns: 'tenant-f', raw: '{"tee":' });
  assert.equal(r.status, 400);
  // Updates too, including a keybroker registration edited natively (queries, identify, policy fields).
  const kb = uuidOf(fromBase64((await keybrokerRegister()).text));
  const native = await registerNative('tenant-f', { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: 'f' } });
  await fc.assert(
    fc.asyncProperty(
      fc.record({ tee: fc.constant('snp'), reference_values: fc.oneof(fc.jsonValue(), fc.constant({ measurement: M, run: 'fuzzed' })), version: fc.oneof(fc.constant(1), fc.jsonValue()), queries: fc.jsonValue(), policy: fc.jsonValue(), identify: fc.jsonValue() }, { requiredKeys: ['tee'] }),
      async (body) => {
        for (const [id, ns] of [[kb, 'keybroker'], [native, 'tenant-f']]) {
          const u = await http('PUT', `/kbs/v0/workloads/${id}`, { ns, body });
          assert.ok(u.status < 500, `PUT ${ns}: ${u.status} ${u.text}`);
        }
      },
    ),
    { numRuns: 30 },
  );
});

// ---- keybroker ---------------------------------------------------------------------------------------

async function keybrokerAttest(hostData: Uint8Array, measurement = M) {
  const auth = await http('POST', '/keybroker/kbs/v0/auth', { raw: readVector(...P('keybroker_auth_request.json')).toString() });
  assert.equal(auth.status, 200, auth.text);
  const nonce = auth.json().nonce as string;
  assert.match(nonce, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(auth.cookie, `kbs-session-id=${nonce}`);
  const report = root.signReport(chip, { reportData: freshnessHash(nonce, ids['k-mod_base64'], ids['k-exp_base64']), measurement: fromHex(measurement), hostData });
  const body = readVectorJson(...P('keybroker_attest_request.json'));
  body['tee-evidence'] = JSON.stringify({ report: toHex(report), gen: 'milan' });
  const at = await http('POST', '/keybroker/kbs/v0/attest', { body, cookie: auth.cookie });
  return { at, cookie: auth.cookie!, body };
}

test('keybroker: /rvp/register raw-text HOST_DATA, handshake, enforced query, RSA-PKCS#1 resource', { skip: toolMissing('openssl') }, async () => {
  const reqText = readVector(...P('keybroker_rvp_register_request.json')).toString();
  const reg = await http('POST', '/keybroker/rvp/register', { raw: reqText });
  assert.equal(reg.status, 200, reg.text);
  assert.match(reg.text, /^[A-Za-z0-9+/]{22}A{21}=$/);
  // Identical content is refused, and so is the same registration with another secret: the answer is the
  // same whatever the secret value, so it confirms no guess (keybroker answered a correct guess with the id).
  const dup = await http('POST', '/keybroker/rvp/register', { raw: reqText });
  const guess = await http('POST', '/keybroker/rvp/register', { raw: reqText.replace(ids.passphrase_plaintext, 'wrong-guess') });
  assert.equal(dup.status, 400);
  assert.equal(dup.text, guess.text);
  assert.match(dup.text, /registration with these queries, reference values and resource names exists/);
  assert.doesNotMatch(dup.text, /[0-9a-f]{8}-[0-9a-f]{4}/);
  const hostData = fromBase64(reg.text);
  const ok = await keybrokerAttest(hostData);
  assert.equal(ok.at.status, 200, ok.at.text);
  assert.equal(ok.at.text, '');
  const r = await http('GET', '/keybroker/kbs/v0/resource/passphrase', { cookie: ok.cookie });
  assert.equal(r.status, 200, r.text);
  const resp = r.json();
  assert.deepEqual(Object.keys(resp), ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag']);
  assert.equal(opensslDecrypt(resp.ciphertext), ids.passphrase_plaintext);
  // Replaying the attestation on the same session is refused.
  const again = await http('POST', '/keybroker/kbs/v0/attest', { body: ok.body, cookie: ok.cookie });
  assert.equal(again.status, 400);
  assert.match(again.text, /^keybroker error: .*already attested/);
});

const uuidOf = (hostData: Uint8Array): string => [...hostData.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join('').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');

/** The vector registration made distinct by an extra reference value no query reads. */
async function keybrokerRegister(secret = `kb-${randomUUID()}`) {
  const body = readVectorJson(...P('keybroker_rvp_register_request.json'));
  body.reference_values.run = randomUUID();
  body.resources.passphrase = secret;
  const reg = await http('POST', '/keybroker/rvp/register', { body });
  assert.equal(reg.status, 200, reg.text);
  return reg;
}

test('keybroker: a false query, unknown HOST_DATA and a missing cookie are denied (keybroker would release)', async () => {
  const reg = await keybrokerRegister();
  const wrong = await keybrokerAttest(fromBase64(reg.text), OTHER_M);
  assert.equal(wrong.at.status, 400);
  assert.match(wrong.at.text, /keybroker error: .*query "data\.measurement == input\.measurement" is false/);
  assert.equal((await http('GET', '/keybroker/kbs/v0/resource/passphrase', { cookie: wrong.cookie })).status, 400);
  const unknown = await keybrokerAttest(hostDataForUuid(randomUUID()));
  assert.match(unknown.at.text, /not registered/);
  assert.match((await http('GET', '/keybroker/kbs/v0/resource/passphrase')).text, /no kbs-session-id cookie/);
  const wrongType = await fetch(`${url}/keybroker/kbs/v0/auth`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
  assert.equal(wrongType.status, 400);
});

// ---- reference-kbs (buildah + krun) ------------------------------------------------------------------

async function krunAttest(workloadId: string, opts: { measurement?: string; policy?: bigint } = {}) {
  const authBody = readVector(...P('krun_auth_request.json')).toString().replace(ids.workload_id, workloadId);
  const auth = await http('POST', '/reference-kbs/kbs/v0/auth', { raw: authBody });
  if (auth.status !== 200) return { auth };
  const nonce = auth.json().nonce as string;
  assert.match(nonce, /^[0-9a-f]{32}$/);
  const cookie = `session_id=${nonce}`;
  assert.equal(auth.cookie, cookie);
  const report = root.signReport(chip, {
    reportData: freshnessHash(nonce, ids['k-mod_base64'], ids['k-exp_base64']),
    measurement: fromHex(opts.measurement ?? M),
    ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
  });
  const body = readVectorJson(...P('krun_attest_request.json'));
  // The guest init sends the report in upper-case hex.
  body['tee-evidence'] = JSON.stringify({ gen: 'milan', report: toHex(report).toUpperCase(), cert_chain: '[]' });
  const at = await http('POST', '/reference-kbs/kbs/v0/attest', { body, cookie });
  return { auth, at, cookie, body };
}

test('reference-kbs: buildah registration, krun handshake, empty attest body, hex key of the own workload only', { skip: toolMissing('openssl') }, async () => {
  const reg = await http('POST', '/reference-kbs/kbs/v0/register_workload', { raw: readVector(...P('refkbs_register_workload_request.json')).toString() });
  assert.equal(reg.status, 200, reg.text);
  assert.equal(reg.text, '');
  const other = { workload_id: 'other-workload', launch_measurement: M, passphrase: 'other-pass', tee_config: '{"flags":{"bits":15},"minfw":{"major":0,"minor":0}}' };
  assert.equal((await http('POST', '/reference-kbs/kbs/v0/register_workload', { body: other })).status, 200);
  const s = await krunAttest(ids.workload_id);
  assert.equal(s.at!.status, 200, s.at!.text);
  assert.equal(s.at!.text, '');
  const key = await http('GET', `/reference-kbs/kbs/v0/key/${ids.workload_id}`, { cookie: s.cookie });
  assert.equal(key.status, 200, key.text);
  assert.match(key.text, /^"[0-9a-f]{512}"$/);
  assert.equal(opensslDecrypt(key.json()), ids.passphrase_plaintext);
  const foreign = await http('GET', '/reference-kbs/kbs/v0/key/other-workload', { cookie: s.cookie });
  assert.equal(foreign.status, 403);
  assert.match(foreign.text, /attested for workload/);
  const replay = await http('POST', '/reference-kbs/kbs/v0/attest', { body: s.body, cookie: s.cookie });
  assert.notEqual(replay.text, '');
});

test('reference-kbs: wrong measurement, debug policy, unregistered id and a re-registration are denied with the reason', async () => {
  const wid = `wl-${randomUUID()}`;
  const reg = { workload_id: wid, launch_measurement: M, passphrase: 'p', tee_config: '{"flags":{"bits":15},"minfw":{"major":0,"minor":0}}' };
  assert.equal((await http('POST', '/reference-kbs/kbs/v0/register_workload', { body: reg })).status, 200);
  const wrong = await krunAttest(wid, { measurement: OTHER_M });
  assert.equal(wrong.at!.status, 400);
  assert.match(wrong.at!.text, /WORKLOAD_POLICY_DENY: .*measurement: claim/);
  assert.equal((await http('GET', `/reference-kbs/kbs/v0/key/${wid}`, { cookie: wrong.cookie })).status, 401);
  const debug = await krunAttest(wid, { policy: 0x30000n | (1n << 19n) });
  assert.match(debug.at!.text, /policy_debug_allowed: claim true/);
  const unknown = await krunAttest('never-registered');
  assert.equal(unknown.auth.status, 400);
  assert.match(unknown.auth.text, /No TEE config found/);
  // Unauthenticated registration may only create: overwriting an existing workload needs an admin token.
  const good = await krunAttest(wid);
  assert.equal(good.at!.text, '');
  const takeover = await http('POST', '/reference-kbs/kbs/v0/register_workload', { body: { ...reg, passphrase: 'rotated', launch_measurement: OTHER_M } });
  assert.equal(takeover.status, 409);
  assert.match(takeover.text, /already registered; replacing it needs an admin token/);
  assert.equal((await http('GET', `/reference-kbs/kbs/v0/key/${wid}`, { cookie: good.cookie })).status, 200);
  // A session attested before a re-registration (by an admin) gets nothing after it.
  assert.equal((await http('POST', '/reference-kbs/kbs/v0/register_workload', { body: { ...reg, passphrase: 'rotated' }, ns: 'reference-kbs' })).status, 200);
  const stale = await http('GET', `/reference-kbs/kbs/v0/key/${wid}`, { cookie: good.cookie });
  assert.equal(stale.status, 401);
  assert.match(stale.text, /re-registered/);
  // A native workload's id cannot be taken over through the unauthenticated route.
  const nativeId = await registerNative('tenant-a', { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: 'n' } });
  assert.equal((await http('POST', '/reference-kbs/kbs/v0/register_workload', { body: { ...reg, workload_id: nativeId } })).status, 409);
});

test('cocokit krun inspect and register: the footer vector registers like buildah and then attests', async () => {
  const io = bufferIO();
  const disk = join(dir, 'disk.img');
  writeFileSync(disk, readVector('keybroker', 'footer', 'disk_img_with_footer_example.bin'));
  assert.equal(await run(['krun', 'inspect', disk, '--json'], io), 0);
  const info = JSON.parse(io.out());
  const human = bufferIO();
  assert.equal(await run(['krun', 'inspect', disk], human), 0);
  assert.match(human.out(), new RegExp(`workload_id: +${ids.workload_id}`));
  assert.match(human.out(), /tee_data: +\{"gen":"milan"\} \(gen milan\)/);
  assert.equal(info.config.workload_id, ids.workload_id);
  assert.equal(info.config_offset, readVectorJson('keybroker', 'footer', 'footer_layout.json').config_offset);
  const pass = join(dir, 'pass');
  writeFileSync(pass, 'from-cli\n');
  const io2 = bufferIO();
  // The vector workload exists already: replacing it takes an admin token.
  const tokenFile = join(dir, 'krun-token');
  writeFileSync(tokenFile, await signAdminToken(adminPem, 'admin', 300, new Date(), { namespace: 'reference-kbs' }));
  assert.equal(await run(['krun', 'register', disk, '--url', `${url}/reference-kbs`, '--passphrase-file', pass, '--measurement', M, '--auth-token', tokenFile], io2), 0, io2.err());
  const s = await krunAttest(ids.workload_id);
  assert.equal(s.at!.text, '');
  const key = await http('GET', `/reference-kbs/kbs/v0/key/${ids.workload_id}`, { cookie: s.cookie });
  assert.equal(key.status, 200);
  if (!toolMissing('openssl')) assert.equal(opensslDecrypt(key.json()), 'from-cli');
  const bad = join(dir, 'bad.img');
  writeFileSync(bad, Buffer.alloc(4096));
  const io3 = bufferIO();
  assert.equal(await run(['krun', 'inspect', bad], io3), 4);
  assert.match(io3.err(), /KRUN_FOOTER/);
});

test('cocokit kbs workload register, list, show and delete', async () => {
  const keyFile = join(dir, 'admin.pem');
  writeFileSync(keyFile, adminPem);
  const base = ['kbs', 'workload', '--url', url, '--auth-private-key', keyFile, '--namespace', 'tenant-cli'];
  const io = bufferIO();
  assert.equal(await run([...base, 'register', '--tee', 'snp', '--reference-value', `measurement=${M}`, '--resource', 'passphrase=cli-secret'], io), 0, io.err());
  const id = io.out().trim();
  assert.match(id, /^[0-9a-f-]{36}$/);
  const list = bufferIO();
  assert.equal(await run([...base, 'list'], list), 0);
  assert.equal(JSON.parse(list.out())[0].workload_id, id);
  const show = bufferIO();
  assert.equal(await run([...base, 'show', id], show), 0);
  assert.doesNotMatch(show.out(), /cli-secret/);
  assert.equal(JSON.parse(show.out()).reference_values.measurement, M);
  assert.equal(await run([...base, 'delete', id], bufferIO()), 0);
  const gone = bufferIO();
  assert.equal(await run([...base, 'show', id], gone), 8);
  // Bad local input is a clear error before anything is sent.
  writeFileSync(join(dir, 'rv.json'), '{"measurement": ');
  const bad = bufferIO();
  assert.equal(await run([...base, 'register', '--tee', 'snp', '--reference-values-file', join(dir, 'rv.json')], bad), 4);
  assert.match(bad.err(), /FORMAT_JSON.*reference values file/);
  const noKey = bufferIO();
  assert.equal(await run(['kbs', 'workload', '--url', url, '--auth-private-key', join(dir, 'missing.pem'), 'list'], noKey), 11);
  assert.match(noKey.err(), /^error\[CLI_FILE\]: cannot read admin private key /);
});

test('compat registration needs the explicit setting or an admin token, and honours the CIDR allow-list', async () => {
  assert.throws(() => workloadsConfigFromToml({ reference_kbs: { namespace: 'default' } }), /other than "default"/);
  assert.throws(() => workloadsConfigFromToml({ reference_kbs: { registration_cidrs: ['10.0.0.0/33'] } }), /CIDR/);
  assert.throws(() => workloadsConfigFromToml({ keybroker: { prefix: '/kbs' } }), /outside \/kbs/);
  assert.throws(() => workloadsConfigFromToml({ reference_kbs: { enabeld: true } }), /unknown key/);
  const m = cidrMatcher(['10.0.0.0/8', 'fd00::/8']);
  assert.equal(m('10.1.2.3'), true);
  assert.equal(m('::ffff:10.1.2.3'), true);
  assert.equal(m('11.0.0.1'), false);
  assert.equal(m('fd12::1'), true);
  assert.equal(m('127.0.0.1'), false);
  assert.equal(cidrMatcher([])('127.0.0.1'), true);
  // A second KBS on the same store: registration off unless authenticated, and only from 10/8.
  const config = defaultConfig();
  config.storage_backend.data_dir = join(dir, 'data2');
  config.admin.identity_providers = [{ public_key_uri: join(dir, 'admin.pub.pem') }];
  config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/.*$' }];
  // The fuzz tests open many sessions from one address; admission control has its own suite (limits.test.ts).
  config.http_server.auth_burst = 1_000_000;
  config.workloads = workloadsConfigFromToml({ reference_kbs: { enabled: true }, keybroker: { enabled: true, unauthenticated_registration: true, registration_cidrs: ['10.0.0.0/8'] } });
  const k2 = await openKbs({ config, ...policyEvaluators(), verifiers: new VerifierRegistry([createSnpVerifier({ roots: root.roots })]) });
  try {
    const u2 = await k2.listen(0, '127.0.0.1');
    const body = readVector(...P('refkbs_register_workload_request.json')).toString();
    let r = await fetch(`${u2}/reference-kbs/kbs/v0/register_workload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(r.status, 401);
    r = await fetch(`${u2}/reference-kbs/kbs/v0/register_workload`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await signAdminToken(adminPem, 'admin', 300, new Date(), { namespace: 'x' })}` },
      body,
    });
    assert.equal(r.status, 200);
    r = await fetch(`${u2}/keybroker/rvp/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: readVector(...P('keybroker_rvp_register_request.json')) });
    assert.equal(r.status, 400);
    assert.match(await r.text(), /not in registration_cidrs/);
  } finally {
    await k2.close();
  }
  // With the dialects off (the default) their routes do not exist.
  const k3 = await openKbs({ config: { ...defaultConfig(), storage_backend: { storage_type: 'sqlite', data_dir: join(dir, 'data3') }, admin: { ...defaultConfig().admin, authorization_mode: 'DenyAll' } }, ...policyEvaluators() });
  try {
    const u3 = await k3.listen(0, '127.0.0.1');
    assert.equal((await fetch(`${u3}/reference-kbs/kbs/v0/register_workload`, { method: 'POST', body: '{}' })).status, 404);
    assert.equal((await fetch(`${u3}/keybroker/rvp/register`, { method: 'POST', body: '{}' })).status, 404);
  } finally {
    await k3.close();
  }
});

// ---- more front-door details -------------------------------------------------------------------------

test('native: a workload named by an init-data field is identified when the registration allows init_data', async () => {
  const id = await registerNative('tenant-a', { tee: 'snp', reference_values: { measurement: M }, identify: ['init_data'], resources: { passphrase: 'by-init-data' } });
  const toml = `version = "0.1.0"\nalgorithm = "sha256"\n\n[data]\nworkload_id = "${id}"\n`;
  const auth = await http('POST', '/kbs/v0/auth', { body: { version: '0.4.0', tee: 'snp', 'extra-params': '' } });
  const nonce = auth.json().nonce;
  const tee = generateTeeKeyPair('ec-p256');
  const rd = primaryRuntimeData(nonce, tee.publicJwk, '');
  // HOST_DATA carries the init-data digest (kbs-protocol.md §1.6), so the registration is named by the TOML.
  const report = root.signReport(chip, { reportData: regularize(runtimeDataDigest(rd, 'sha384'), 64), measurement: fromHex(M), hostData: createHash('sha256').update(toml).digest() });
  const body = {
    'runtime-data': { nonce, 'tee-pubkey': tee.publicJwk },
    'tee-evidence': { primary_evidence: evidenceToJson(parseReport(report), vcekTable()), additional_evidence: '' },
    'init-data': { format: 'toml', body: toml },
  };
  const at = await http('POST', '/kbs/v0/attest', { body, cookie: auth.cookie });
  assert.equal(at.status, 200, at.text);
  const r = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: auth.cookie });
  assert.equal(r.status, 200, r.text);
  assert.equal(new TextDecoder().decode(decryptWithTeeKey(r.json(), tee.privateKey)), 'by-init-data');
});

test('the vector attestation bodies are accepted on the wire: they fail only at evidence verification', async () => {
  // Both synthetic reports are version 2 and unsigned (PROVENANCE.md); the body shapes must still pass.
  const kbAuth = await http('POST', '/keybroker/kbs/v0/auth', { raw: readVector(...P('keybroker_auth_request.json')).toString() });
  assert.deepEqual(Object.keys(kbAuth.json()), Object.keys(readVectorJson(...P('keybroker_auth_response.json'))));
  assert.equal(kbAuth.json()['extra-params'], '');
  const kb = await http('POST', '/keybroker/kbs/v0/attest', { raw: readVector(...P('keybroker_attest_request.json')).toString(), cookie: kbAuth.cookie });
  assert.equal(kb.status, 400);
  assert.match(kb.text, /keybroker error: .*(VCEK|report version|SIGNING_KEY|signature|REPORT_DATA)/);
  assert.doesNotMatch(kb.text, /must be/);
  await http('POST', '/reference-kbs/kbs/v0/register_workload', { raw: readVector(...P('refkbs_register_workload_request.json')).toString() });
  const rkAuth = await http('POST', '/reference-kbs/kbs/v0/auth', { raw: readVector(...P('krun_auth_request.json')).toString() });
  assert.deepEqual(Object.keys(rkAuth.json()), Object.keys(readVectorJson(...P('refkbs_auth_response.json'))));
  const rk = await http('POST', '/reference-kbs/kbs/v0/attest', { raw: readVector(...P('krun_attest_request.json')).toString(), cookie: rkAuth.cookie });
  assert.equal(rk.status, 400);
  assert.match(rk.text, /WORKLOAD_(KEY_BINDING|EVIDENCE_CHECK)|SNP_/);
  assert.doesNotMatch(rk.text, /must be/);
});

test('compat registrations deleted through the admin API give nothing to sessions attested before', async () => {
  const reg = await keybrokerRegister();
  const hostData = fromBase64(reg.text);
  const s = await keybrokerAttest(hostData);
  assert.equal(s.at.text, '');
  const uuid = uuidOf(hostData);
  assert.equal((await http('DELETE', `/kbs/v0/workloads/${uuid}`, { ns: 'keybroker' })).status, 200);
  const r = await http('GET', '/keybroker/kbs/v0/resource/passphrase', { cookie: s.cookie });
  assert.match(r.text, /no longer exists/);
  const wid = `del-${randomUUID()}`;
  await http('POST', '/reference-kbs/kbs/v0/register_workload', { body: { workload_id: wid, launch_measurement: M, passphrase: 'p', tee_config: '{}' } });
  const k = await krunAttest(wid);
  assert.equal(k.at!.text, '');
  assert.equal((await http('DELETE', `/kbs/v0/workloads/${wid}`, { ns: 'reference-kbs' })).status, 200);
  assert.equal((await http('GET', `/reference-kbs/kbs/v0/key/${wid}`, { cookie: k.cookie })).status, 404);
  assert.match((await krunAttest(wid)).auth.text, /No TEE config found/);
});

test('krun register computes the launch measurement from the footer like buildah, byte-identical body', async () => {
  const c = readVectorJson('keybroker', 'footer', 'krun-sev.json');
  assert.equal(buildahRegistrationBody(c.workload_id, M, ids.passphrase_plaintext, 'snp'), readVector(...P('refkbs_register_workload_request.json')).toString());
  const disk = join(dir, 'disk2.img');
  writeFileSync(disk, readVector('keybroker', 'footer', 'disk_img_with_footer_example.bin'));
  const pass = join(dir, 'pass2');
  writeFileSync(pass, ids.passphrase_plaintext);
  const io = bufferIO();
  // The footer says cpus 2, ram 512: with the synthetic libkrunfw bundles this is the vector SNP digest.
  const tokenFile = join(dir, 'krun-token2');
  writeFileSync(tokenFile, await signAdminToken(adminPem, 'admin', 300, new Date(), { namespace: 'reference-kbs' }));
  assert.equal(await run(['krun', 'register', disk, '--url', `${url}/reference-kbs/`, '--passphrase-file', pass, '--firmware', vectorPath('keybroker', 'measurement'), '--auth-token', tokenFile], io), 0, io.err());
  assert.match(io.out(), new RegExp(`measurement ${M}`));
  const s = await krunAttest(ids.workload_id);
  assert.equal(s.at!.text, '');
});

test('the [workloads] section of the KBS config file enables the dialects', () => {
  const c = configFromToml('[workloads.reference_kbs]\nenabled = true\nunauthenticated_registration = true\nregistration_cidrs = ["192.168.0.0/16"]\nprefix = "/refkbs"\n');
  assert.equal(c.workloads.reference_kbs.enabled, true);
  assert.equal(c.workloads.reference_kbs.prefix, '/refkbs');
  assert.equal(c.workloads.keybroker.enabled, false);
  assert.equal(defaultConfig().workloads.reference_kbs.enabled, false);
  assert.throws(() => configFromToml('[workloads.other]\nenabled = true\n'), /unknown key "other"/);
  assert.equal(configFromToml('[workloads]\nvcek_cache_dir = "/var/cache/vcek"\n').workloads.vcek_cache_dir, '/var/cache/vcek');
});

test('fuzzed handshake bodies and flipped report bytes on both dialects are refused, never 500, never released', async () => {
  const kbAuth = await http('POST', '/keybroker/kbs/v0/auth', { raw: readVector(...P('keybroker_auth_request.json')).toString() });
  await http('POST', '/reference-kbs/kbs/v0/register_workload', { raw: readVector(...P('refkbs_register_workload_request.json')).toString() });
  const rkAuth = await http('POST', '/reference-kbs/kbs/v0/auth', { raw: readVector(...P('krun_auth_request.json')).toString() });
  const shaped = fc.record(
    { 'tee-pubkey': fc.oneof(fc.jsonValue(), fc.record({ kty: fc.string(), alg: fc.string(), n: fc.string(), e: fc.string(), 'k-mod': fc.string(), 'k-exp': fc.string() })), 'tee-evidence': fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v))) },
    { requiredKeys: [] },
  );
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.jsonValue(), shaped), async (body) => {
      for (const [path, cookie] of [
        ['/keybroker/kbs/v0/auth', undefined],
        ['/keybroker/kbs/v0/attest', kbAuth.cookie],
        ['/reference-kbs/kbs/v0/auth', undefined],
        ['/reference-kbs/kbs/v0/attest', rkAuth.cookie],
      ] as const) {
        const r = await http('POST', path, { raw: JSON.stringify(body), ...(cookie ? { cookie } : {}) });
        assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status} ${r.text}`);
      }
    }),
    { numRuns: 25 },
  );
  // A genuine report with one byte flipped anywhere in the signed part or the signature never attests.
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 0x2a0 + 144 - 1 }), fc.integer({ min: 1, max: 255 }), async (i, x) => {
      const auth = await http('POST', '/reference-kbs/kbs/v0/auth', { raw: readVector(...P('krun_auth_request.json')).toString() });
      const nonce = auth.json().nonce;
      const report = root.signReport(chip, { reportData: freshnessHash(nonce, ids['k-mod_base64'], ids['k-exp_base64']), measurement: fromHex(M) });
      report[i] ^= x;
      const body = readVectorJson(...P('krun_attest_request.json'));
      body['tee-evidence'] = JSON.stringify({ gen: 'milan', report: toHex(report), cert_chain: '[]' });
      const r = await http('POST', '/reference-kbs/kbs/v0/attest', { body, cookie: auth.cookie });
      assert.ok(r.status >= 400 && r.status < 500 && r.text !== '', `byte ${i}: ${r.status} ${r.text}`);
    }),
    { numRuns: 25 },
  );
});

test('native: a host_data reference value is compared with the HOST_DATA of the evidence', async () => {
  const hd = 'c0ffee'.padEnd(64, '0');
  const id = await registerNative('tenant-a', { tee: 'snp', reference_values: { measurement: M, host_data: hd }, identify: ['extra_params'], resources: { passphrase: 'hd' } });
  const good = await attestNative({ hostData: fromHex(hd) }, JSON.stringify({ workload_id: id }));
  assert.equal((await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: good.cookie })).status, 200);
  const wrong = 'ee'.repeat(32);
  const bad = await attestNative({ hostData: fromHex(wrong) }, JSON.stringify({ workload_id: id }));
  const r = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: bad.cookie });
  assert.equal(r.status, 401);
  assert.match(r.json().detail, new RegExp(`host_data: claim "${wrong}", reference "${hd}"`));
});

test('a keybroker registration edited through the native PUT keeps its queries: another measurement is still refused', async () => {
  const reg = await keybrokerRegister('queries-kept');
  const hostData = fromBase64(reg.text);
  const id = uuidOf(hostData);
  const before = (await http('GET', `/kbs/v0/workloads/${id}`, { ns: 'keybroker' })).json();
  assert.deepEqual(before.queries, ['data.measurement == input.measurement']);
  // The PUT names neither policy nor queries: what the registration had stays.
  const put = await http('PUT', `/kbs/v0/workloads/${id}`, { ns: 'keybroker', body: { tee: 'snp', reference_values: before.reference_values, version: before.version } });
  assert.equal(put.status, 200, put.text);
  const after = (await http('GET', `/kbs/v0/workloads/${id}`, { ns: 'keybroker' })).json();
  assert.deepEqual(after.queries, before.queries);
  assert.deepEqual(after.identify, before.identify);
  const wrong = await keybrokerAttest(hostData, OTHER_M);
  assert.equal(wrong.at.status, 400);
  assert.match(wrong.at.text, /query "data\.measurement == input\.measurement" is false/);
  assert.equal((await http('GET', '/keybroker/kbs/v0/resource/passphrase', { cookie: wrong.cookie })).status, 400);
  assert.equal((await keybrokerAttest(hostData)).at.status, 200);
  // An empty query list is refused on both doors: it would decide nothing.
  const empty = await http('PUT', `/kbs/v0/workloads/${id}`, { ns: 'keybroker', body: { tee: 'snp', reference_values: before.reference_values, queries: [], version: after.version } });
  assert.equal(empty.status, 400);
  const kbEmpty = await http('POST', '/keybroker/rvp/register', { body: { query: [], reference_values: { measurement: M, run: randomUUID() }, resources: { passphrase: 'x' } } });
  assert.equal(kbEmpty.status, 400);
  assert.match(kbEmpty.text, /at least one query/);
});

test('a native PUT keeps a custom policy and the identification it leaves out', async () => {
  const policy = 'package workload\n\ndefault allow := false\n\nallow if {\n\tinput.measurement == data.measurement\n\tinput.policy_debug_allowed == false\n}\n';
  const id = await registerNative('tenant-put', { tee: 'snp', reference_values: { measurement: M }, identify: ['host_data'], policy, resources: { passphrase: 'p' } });
  const r = await http('PUT', `/kbs/v0/workloads/${id}`, { ns: 'tenant-put', body: { tee: 'snp', reference_values: { measurement: OTHER_M }, version: 1 } });
  assert.equal(r.status, 200, r.text);
  const got = (await http('GET', `/kbs/v0/workloads/${id}`, { ns: 'tenant-put' })).json();
  assert.equal(got.policy, policy);
  assert.deepEqual(got.identify, ['host_data']);
});

test('keybroker registrations keep no digest of their secret values at rest', async () => {
  const secret = `digest-${randomUUID()}`;
  const body = readVectorJson(...P('keybroker_rvp_register_request.json'));
  body.reference_values.run = randomUUID();
  body.resources.passphrase = secret;
  assert.equal((await http('POST', '/keybroker/rvp/register', { body })).status, 200);
  // keybroker's own key: SHA-256 over queries, reference value keys and values, resource keys and values.
  const digest = createHash('sha256').update(body.query[0]).update('measurement').update('run').update(JSON.stringify(M)).update(JSON.stringify(body.reference_values.run)).update('passphrase').update(JSON.stringify(secret)).digest();
  const files = readdirSync(join(dir, 'data')).map((f) => join(dir, 'data', f));
  for (const f of files) {
    const bytes = readFileSync(f);
    assert.ok(!bytes.includes(Buffer.from(digest.toString('hex'))) && !bytes.includes(digest), `${f} holds a digest over the secret`);
  }
});

test('registration warns when another workload of the namespace has the same reference values', async () => {
  const ns = `twins-${randomUUID().slice(0, 8)}`;
  const first = await http('POST', '/kbs/v0/workloads', { ns, body: { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: '1' } } });
  assert.equal(first.json().warnings, undefined);
  const second = await http('POST', '/kbs/v0/workloads', { ns, body: { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: '2' } } });
  assert.equal(second.status, 201);
  assert.match(second.json().warnings[0], new RegExp(`identical to workload\\(s\\) ${first.json().workload_id}`));
  const other = await http('POST', '/kbs/v0/workloads', { ns, body: { tee: 'snp', reference_values: { measurement: OTHER_M }, resources: { passphrase: '3' } } });
  assert.equal(other.json().warnings, undefined);
  const rk = await http('POST', '/reference-kbs/kbs/v0/register_workload', { body: { workload_id: `twin-${randomUUID()}`, launch_measurement: M, passphrase: 'p', tee_config: '{}' } });
  assert.equal(rk.status, 200);
  const rk2 = await http('POST', '/reference-kbs/kbs/v0/register_workload', { body: { workload_id: `twin-${randomUUID()}`, launch_measurement: M, passphrase: 'p', tee_config: '{}' } });
  assert.match(rk2.headers.get('x-cocokit-warning') ?? '', /identical to workload/);
});

// ---- decision records --------------------------------------------------------------------------------

/** The decision records of one workload, oldest first. */
async function workloadDecisions(workloadId: string): Promise<Decision[]> {
  const page = await listDecisions(kbs.store, { workload: workloadId }, 100);
  return page.items.reverse();
}

test('every workload verdict on the three doors is a decision record: registration version, trace, no secret or nonce', async () => {
  // Native: one release allowed, one denied on the measurement.
  const secret = `native-${randomUUID()}`;
  const id = await registerNative('tenant-d', { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: secret } });
  const ok = await attestNative({ hostData: hostDataForUuid(id) });
  assert.equal((await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: ok.cookie })).status, 200);
  const bad = await attestNative({ measurement: OTHER_M, hostData: hostDataForUuid(id) });
  assert.equal((await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: bad.cookie })).status, 401);
  const rec = (await kbs.store.workloads.get(id))!;
  const native = await workloadDecisions(id);
  assert.deepEqual(native.map((d) => `${d.type}:${d.verdict}:${d.resource}`), [`release:allow:workload/${id}/passphrase`, `release:deny:workload/${id}/passphrase`]);
  for (const d of native) {
    assert.deepEqual(d.reference_values, { [`workload/${id}`]: `version 1, updated ${rec.updatedAt.toISOString()}` });
    assert.equal(d.policy_id, `workload/${id}`);
    assert.equal(d.policy_hash, createHash('sha256').update(rec.policy).digest('hex'));
    assert.equal(d.tee, 'snp');
  }
  // The trace is the explainer's: the deny names the failing literal with the claim it compared.
  const denied = native[1]!;
  assert.equal(denied.code, 'WORKLOAD_POLICY_DENY');
  const bodies = (denied.trace as { explanation: { bodies: Array<{ succeeded: boolean; failed?: { text: string; bindings: Record<string, unknown>; operands: Record<string, unknown> } }> } }).explanation.bodies;
  assert.equal(bodies[0]!.succeeded, false);
  assert.equal(bodies[0]!.failed!.text, 'input["measurement"] == data["measurement"]');
  assert.deepEqual(bodies[0]!.failed!.operands, { 'input.measurement': OTHER_M, 'data.measurement': M, 'input.measurement == data.measurement': false });
  assert.equal((native[0]!.trace as { explanation: { value: unknown } }).explanation.value, true);

  // keybroker: the attestation (queries as the trace) and the release.
  const kb = await keybrokerRegister();
  const kbId = uuidOf(fromBase64(kb.text));
  const at = await keybrokerAttest(fromBase64(kb.text));
  assert.equal(at.at.status, 200, at.at.text);
  assert.equal((await http('GET', '/keybroker/kbs/v0/resource/passphrase', { cookie: at.cookie })).status, 200);
  const wrong = await keybrokerAttest(fromBase64(kb.text), OTHER_M);
  assert.equal(wrong.at.status, 400);
  const kbd = await workloadDecisions(kbId);
  assert.deepEqual(kbd.map((d) => `${d.type}:${d.verdict}`), ['attestation:allow', 'release:allow', 'attestation:deny']);
  assert.deepEqual((kbd[0]!.trace as { queries: unknown }).queries, [{ query: 'data.measurement == input.measurement', result: 'true' }]);
  assert.deepEqual((kbd[2]!.trace as { queries: unknown }).queries, [{ query: 'data.measurement == input.measurement', result: 'false' }]);
  assert.match(kbd[0]!.evidence_digest!, /^[0-9a-f]{64}$/);
  assert.match(Object.values(kbd[0]!.reference_values!)[0]!, /^version 1, updated /);

  // reference-kbs: attestation denied on the measurement, then allowed, then the key released.
  const wid = `wl-${randomUUID()}`;
  const reg = { workload_id: wid, launch_measurement: M, passphrase: `pass-${randomUUID()}`, tee_config: '{"flags":{"bits":15},"minfw":{"major":0,"minor":0}}' };
  assert.equal((await http('POST', '/reference-kbs/kbs/v0/register_workload', { body: reg })).status, 200);
  assert.equal((await krunAttest(wid, { measurement: OTHER_M })).at!.status, 400);
  const good = await krunAttest(wid);
  assert.equal(good.at!.text, '');
  assert.equal((await http('GET', `/reference-kbs/kbs/v0/key/${wid}`, { cookie: good.cookie })).status, 200);
  const rk = await workloadDecisions(wid);
  assert.deepEqual(rk.map((d) => `${d.type}:${d.verdict}:${d.resource ?? ''}`), ['attestation:deny:', 'attestation:allow:', `release:allow:workload/${wid}/passphrase`]);
  assert.equal((rk[0]!.trace as { dialect: string }).dialect, 'reference-kbs');

  // Never a secret, a session nonce or a cookie; and the chain still verifies.
  const all = JSON.stringify([...native, ...kbd, ...rk]);
  for (const s of [secret, reg.passphrase, ids.passphrase_plaintext, at.cookie.split('=')[1]!, good.cookie!.split('=')[1]!]) assert.ok(!all.includes(s), s);
  assert.equal((await verifyDecisionChain(kbs.store)).ok, true);
});

test('a denial on the native and keybroker doors explains the measurement from its provenance, in the words of an RVPS value', async () => {
  const provenance = { algorithm: 'snp-launch-digest', parameters: { vcpus: 4, vcpuType: 'EPYC-Milan' }, inputs: { ovmf: createHash('sha256').update(readVector('snp', 'ovmf', 'OVMF.fd')).digest('hex') } };
  const sentence = `registered measurement computed by snp-launch-digest with {"vcpus":4,"vcpuType":"EPYC-Milan"} from {"ovmf":"${provenance.inputs.ovmf}"}; explain with: cocokit kbs workload explain --from-artifacts … --reported ${OTHER_M}`;
  // The same sentence the RVPS path puts in an attestation's decision record for that provenance.
  assert.equal(explainReferenceValue('measurement', [M], provenance, { tee: 'snp', claims: { measurement: OTHER_M } }), sentence);
  assert.equal(explainReferenceValue('measurement', [M], provenance, { tee: 'snp', claims: { measurement: M } }), undefined);

  const id = await registerNative('tenant-e', { tee: 'snp', reference_values: { measurement: M }, resources: { passphrase: 'x' }, provenance: { measurement: provenance } });
  const bad = await attestNative({ measurement: OTHER_M, hostData: hostDataForUuid(id) });
  const r = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: bad.cookie });
  assert.equal(r.status, 401);
  assert.ok(String(r.json().detail).endsWith(`; measurement: ${sentence}`), r.json().detail);
  const [denied] = (await workloadDecisions(id)).slice(-1);
  assert.deepEqual(denied!.explanations, { measurement: sentence });
  // Another reason to deny (the measurement matches): nothing to explain.
  const ok = await attestNative({ hostData: hostDataForUuid(id) });
  assert.equal((await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: ok.cookie })).status, 200);
  assert.equal((await workloadDecisions(id)).at(-1)!.explanations, undefined);

  // A keybroker registration given provenance through the native API: its denial explains alike.
  const reg = await keybrokerRegister();
  const hostData = fromBase64(reg.text);
  const kbId = uuidOf(hostData);
  const current = (await http('GET', `/kbs/v0/workloads/${kbId}`, { ns: 'keybroker' })).json();
  const put = await http('PUT', `/kbs/v0/workloads/${kbId}`, { ns: 'keybroker', body: { tee: 'snp', reference_values: current.reference_values, version: current.version, provenance: { measurement: provenance } } });
  assert.equal(put.status, 200, put.text);
  const wrong = await keybrokerAttest(hostData, OTHER_M);
  assert.equal(wrong.at.status, 400);
  assert.ok(wrong.at.text.includes(`; measurement: ${sentence}`), wrong.at.text);
  assert.deepEqual((await workloadDecisions(kbId)).at(-1)!.explanations, { measurement: sentence });
});
