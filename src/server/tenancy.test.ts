/**
 * Tenancy is bound to the admin identity: two tenants, each holding its own admin key bound to its own
 * namespaces in the KBS config, and one identity provider whose roles are bound by the ACLs. Holding one
 * tenant's key and naming another tenant's namespace in the token reaches nothing, on any route.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fromBase64, fromHex, toHex } from '../formats/bytes.js';
import { generateTeeKeyPair } from '../formats/jwk.js';
import { primaryRuntimeData, regularize, runtimeDataDigest } from '../formats/runtime-data.js';
import { VerifierRegistry } from '../attestation/verifiers.js';
import { freshnessHash, hostDataForUuid } from '../attestation/workload.js';
import { policyEvaluators } from '../policy/index.js';
import { createSnpVerifier, createTestRoot, evidenceToJson, parseReport, vcekCachePaths, type TestChip, type TestRoot } from '../tee/snp/index.js';
import { readVectorJson } from '../test-support/vectors.js';
import { signAdminToken } from '../client/admin-client.js';
import { configFromToml } from './config.js';
import { openKbs, type Kbs } from './kbs.js';
import { safeKeyPair } from '../formats/keygen.js';

const ids = readVectorJson('keybroker', 'protocol', 'freshness_and_ids.json');
const M_A = 'a1'.repeat(48);
const M_B = 'b2'.repeat(48);

let root: TestRoot;
let chip: TestChip;
let kbs: Kbs;
let url: string;
let dir: string;
const keys: Record<'a' | 'b' | 'idp', string> = { a: '', b: '', idp: '' };

before(async () => {
  root = createTestRoot();
  chip = root.createChip();
  dir = mkdtempSync(join(tmpdir(), 'cocokit-tenancy-'));
  const cache = join(dir, 'vcek-cache');
  const path = vcekCachePaths(cache, 'milan', chip.chipId, { ...chip.tcb, raw: 0n })[0];
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, chip.vcek.raw);
  for (const k of ['a', 'b', 'idp'] as const) {
    const { privateKey, publicKey } = safeKeyPair('ed25519');
    keys[k] = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    writeFileSync(join(dir, `${k}.pub.pem`), publicKey.export({ format: 'pem', type: 'spki' }));
  }
  // Tenant A's key acts in ns-a only; tenant B's key in ns-b and both compat dialects' namespaces. The third
  // provider is an IdP minting role tokens: the role decides the namespace (ACL binding).
  const config = configFromToml(`
[http_server]
insecure_http = true
[admin]
authorization_mode = "AuthenticatedAuthorization"
[[admin.authentication.bearer_jwt.identity_providers]]
public_key_uri = ${JSON.stringify(join(dir, 'a.pub.pem'))}
namespaces = ["ns-a"]
[[admin.authentication.bearer_jwt.identity_providers]]
public_key_uri = ${JSON.stringify(join(dir, 'b.pub.pem'))}
namespaces = ["ns-b", "kb-b", "rk-b"]
[[admin.authentication.bearer_jwt.identity_providers]]
public_key_uri = ${JSON.stringify(join(dir, 'idp.pub.pem'))}
[[admin.authorization.regex_acl.acls]]
role = "tenant-a"
allowed_endpoints = "^/.*$"
[[admin.authorization.regex_acl.acls]]
role = "tenant-b"
allowed_endpoints = "^/.*$"
[[admin.authorization.regex_acl.acls]]
role = "role-c"
allowed_endpoints = "^/kbs/v0/workloads.*$"
namespaces = ["ns-c"]
[storage_backend]
data_dir = ${JSON.stringify(join(dir, 'data'))}
[workloads]
vcek_cache_dir = ${JSON.stringify(cache)}
[workloads.keybroker]
enabled = true
namespace = "kb-b"
[workloads.reference_kbs]
enabled = true
namespace = "rk-b"
`);
  kbs = await openKbs({ config, ...policyEvaluators(), verifiers: new VerifierRegistry([createSnpVerifier({ roots: root.roots })]) });
  url = await kbs.listen(0, '127.0.0.1');
});

after(async () => {
  await kbs?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Who = { key: 'a' | 'b' | 'idp'; role: string; ns?: string };
const A = (ns?: string): Who => ({ key: 'a', role: 'tenant-a', ...(ns ? { ns } : {}) });
const B = (ns?: string): Who => ({ key: 'b', role: 'tenant-b', ...(ns ? { ns } : {}) });

async function http(method: string, path: string, opts: { body?: unknown; as?: Who; cookie?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.as) headers.authorization = `Bearer ${await signAdminToken(keys[opts.as.key], opts.as.role, 300, new Date(), opts.as.ns ? { namespace: opts.as.ns } : {})}`;
  if (opts.cookie) headers.cookie = opts.cookie;
  const res = await fetch(url + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text), cookie: res.headers.get('set-cookie')?.split(';')[0] };
}

/** The native handshake with SNP evidence of measurement `m`, naming `extraParams`. */
async function nativeGuest(m: string, opts: { hostData?: Uint8Array; extraParams?: unknown } = {}) {
  const auth = await http('POST', '/kbs/v0/auth', { body: { version: '0.4.0', tee: 'snp', 'extra-params': opts.extraParams ?? '' } });
  const nonce = auth.json().nonce;
  const tee = generateTeeKeyPair('ec-p256');
  const report = root.signReport(chip, {
    reportData: regularize(runtimeDataDigest(primaryRuntimeData(nonce, tee.publicJwk, ''), 'sha384'), 64),
    measurement: fromHex(m),
    ...(opts.hostData ? { hostData: opts.hostData } : {}),
  });
  const body = { 'runtime-data': { nonce, 'tee-pubkey': tee.publicJwk }, 'tee-evidence': { primary_evidence: evidenceToJson(parseReport(report), [{ type: 'VCEK', data: new Uint8Array(chip.vcek.raw) }]), additional_evidence: '' } };
  const at = await http('POST', '/kbs/v0/attest', { body, cookie: auth.cookie });
  assert.equal(at.status, 200, at.text);
  return auth.cookie!;
}

async function keybrokerGuest(hostData: Uint8Array, m: string) {
  const auth = await http('POST', '/keybroker/kbs/v0/auth', { body: { version: '0.1.0', tee: 'snp', 'extra-params': '' } });
  const nonce = auth.json().nonce as string;
  const report = root.signReport(chip, { reportData: freshnessHash(nonce, ids['k-mod_base64'], ids['k-exp_base64']), measurement: fromHex(m), hostData });
  const body = { 'tee-pubkey': { kty: 'RSA', alg: 'RSA1_5', n: ids['k-mod_base64'], e: ids['k-exp_base64'] }, 'tee-evidence': JSON.stringify({ report: toHex(report), gen: 'milan' }) };
  const at = await http('POST', '/keybroker/kbs/v0/attest', { body, cookie: auth.cookie });
  return { at, resource: await http('GET', '/keybroker/kbs/v0/resource/passphrase', { cookie: auth.cookie }) };
}

async function krunGuest(workloadId: string, m: string) {
  const auth = await http('POST', '/reference-kbs/kbs/v0/auth', { body: { version: '0.0.0', tee: 'snp', 'extra-params': JSON.stringify({ workload_id: workloadId }) } });
  const nonce = auth.json().nonce as string;
  const report = root.signReport(chip, { reportData: freshnessHash(nonce, ids['k-mod_base64'], ids['k-exp_base64']), measurement: fromHex(m) });
  const body = { 'tee-pubkey': { alg: 'RSA', 'k-mod': ids['k-mod_base64'], 'k-exp': ids['k-exp_base64'] }, 'tee-evidence': JSON.stringify({ gen: 'milan', report: toHex(report), cert_chain: '[]' }) };
  const at = await http('POST', '/reference-kbs/kbs/v0/attest', { body, cookie: auth.cookie });
  return { at, key: await http('GET', `/reference-kbs/kbs/v0/key/${workloadId}`, { cookie: auth.cookie }) };
}

test("tenant A's key naming ns-b lists, reads, edits, deletes and registers nothing of tenant B's, and A's guest gets nothing of B's", async () => {
  const reg = await http('POST', '/kbs/v0/workloads', { as: B('ns-b'), body: { tee: 'snp', reference_values: { measurement: M_B }, resources: { passphrase: 'secret-b' } } });
  assert.equal(reg.status, 201, reg.text);
  const wb = reg.json().workload_id as string;
  // The attack: A signs a token naming B's namespace.
  const list = await http('GET', '/kbs/v0/workloads', { as: A('ns-b') });
  assert.equal(list.status, 403);
  assert.match(list.json().detail, /role "tenant-a" may not act in namespace "ns-b"/);
  assert.doesNotMatch(list.text, new RegExp(wb));
  assert.equal((await http('GET', `/kbs/v0/workloads/${wb}`, { as: A('ns-b') })).status, 403);
  // The edit that would let A's guest in: identification by the guest-chosen id and A's measurement.
  const takeover = { tee: 'snp', reference_values: { measurement: M_A }, identify: ['extra_params'], version: 1 };
  assert.equal((await http('PUT', `/kbs/v0/workloads/${wb}`, { as: A('ns-b'), body: takeover })).status, 403);
  assert.equal((await http('DELETE', `/kbs/v0/workloads/${wb}`, { as: A('ns-b') })).status, 403);
  assert.equal((await http('POST', '/kbs/v0/workloads', { as: A('ns-b'), body: { tee: 'snp', reference_values: { measurement: M_A }, resources: {} } })).status, 403);
  // In its own namespace A does not see B's workload at all.
  for (const [method, body] of [['GET', undefined], ['PUT', takeover], ['DELETE', undefined]] as const) {
    assert.equal((await http(method, `/kbs/v0/workloads/${wb}`, { as: A(), body })).status, 404, `${method} in ns-a`);
  }
  assert.deepEqual((await http('GET', '/kbs/v0/workloads', { as: A() })).json(), []);
  // B's registration is untouched, and A's guest naming B's workload id gets nothing.
  const kept = (await http('GET', `/kbs/v0/workloads/${wb}`, { as: B('ns-b') })).json();
  assert.equal(kept.version, 1);
  assert.deepEqual(kept.reference_values, { measurement: M_B });
  const cookie = await nativeGuest(M_A, { extraParams: JSON.stringify({ workload_id: wb }) });
  const fetched = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie });
  assert.equal(fetched.status, 401);
  assert.match(fetched.json().detail, /does not allow identification by extra_params/);
  const viaHostData = await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: await nativeGuest(M_A, { hostData: hostDataForUuid(wb) }) });
  assert.equal(viaHostData.status, 401);
  assert.match(viaHostData.json().detail, /measurement: claim/);
  // B's own guest is still served.
  assert.equal((await http('GET', '/kbs/v0/workload-resource/passphrase', { cookie: await nativeGuest(M_B, { hostData: hostDataForUuid(wb) }) })).status, 200);
});

test("tenant A's key reaches neither compat dialect's namespace: no registration, overwrite, listing or deletion", async () => {
  const kbBody = { query: ['data.measurement == input.measurement'], reference_values: { measurement: M_B }, resources: { passphrase: 'kb-secret-b' } };
  assert.equal((await http('POST', '/keybroker/rvp/register', { as: A('kb-b'), body: kbBody })).status, 400);
  assert.match((await http('POST', '/keybroker/rvp/register', { as: A(), body: kbBody })).text, /may not act in namespace "kb-b"/);
  const kb = await http('POST', '/keybroker/rvp/register', { as: B(), body: kbBody });
  assert.equal(kb.status, 200, kb.text);
  const hostData = fromBase64(kb.text);
  const wid = `rk-${randomUUID()}`;
  const rkBody = { workload_id: wid, launch_measurement: M_B, passphrase: 'rk-secret-b', tee_config: '{}' };
  const rkA = await http('POST', '/reference-kbs/kbs/v0/register_workload', { as: A(), body: rkBody });
  assert.equal(rkA.status, 403);
  assert.equal((await http('POST', '/reference-kbs/kbs/v0/register_workload', { as: B(), body: rkBody })).status, 200);
  // A cannot overwrite B's reference-kbs workload with its own measurement and passphrase …
  assert.equal((await http('POST', '/reference-kbs/kbs/v0/register_workload', { as: A('rk-b'), body: { ...rkBody, launch_measurement: M_A, passphrase: 'mine' } })).status, 403);
  // … nor reach either namespace through the native admin API.
  for (const ns of ['kb-b', 'rk-b']) {
    assert.equal((await http('GET', '/kbs/v0/workloads', { as: A(ns) })).status, 403);
    assert.equal((await http('DELETE', `/kbs/v0/workloads/${wid}`, { as: A(ns) })).status, 403);
    assert.equal((await http('PUT', `/kbs/v0/workloads/${wid}`, { as: A(ns), body: { tee: 'snp', reference_values: { measurement: M_A }, version: 1 } })).status, 403);
  }
  // A's guests (A's measurement) get neither secret; B's guests get theirs.
  const kbA = await keybrokerGuest(hostData, M_A);
  assert.match(kbA.at.text, /query .* is false/);
  assert.equal(kbA.resource.status, 400);
  assert.equal((await keybrokerGuest(hostData, M_B)).resource.status, 200);
  const rkGuestA = await krunGuest(wid, M_A);
  assert.match(rkGuestA.at.text, /WORKLOAD_POLICY_DENY/);
  assert.equal(rkGuestA.key.status, 401);
  assert.equal((await krunGuest(wid, M_B)).key.status, 200);
});

test('a role bound by its ACL acts in its namespaces only, and a token without a namespace claim gets the only one bound', async () => {
  const c = (ns?: string): Who => ({ key: 'idp', role: 'role-c', ...(ns ? { ns } : {}) });
  assert.equal((await http('GET', '/kbs/v0/workloads', { as: c('ns-b') })).status, 403);
  const reg = await http('POST', '/kbs/v0/workloads', { as: c(), body: { tee: 'snp', reference_values: { measurement: M_A }, resources: { passphrase: 'c' } } });
  assert.equal(reg.status, 201, reg.text);
  assert.equal((await http('GET', `/kbs/v0/workloads/${reg.json().workload_id}`, { as: c('ns-c') })).json().namespace, 'ns-c');
  // B's key is bound to three namespaces: its token must say which one.
  const none = await http('GET', '/kbs/v0/workloads', { as: B() });
  assert.equal(none.status, 403);
  assert.match(none.json().detail, /names no "namespace"/);
  // A claim that is not a string is refused too.
  const odd = await signAdminToken(keys.a, 'tenant-a', 300, new Date(), { namespace: ['ns-a', 'ns-b'] });
  assert.equal((await fetch(`${url}/kbs/v0/workloads`, { headers: { authorization: `Bearer ${odd}` } })).status, 403);
});
