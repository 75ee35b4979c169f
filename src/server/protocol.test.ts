import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { SignJWT } from 'jose';
import fc from 'fast-check';
import { readVectorJson } from '../test-support/vectors.js';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient, signAdminToken } from '../client/admin-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { generateTeeKeyPair, generateEcKeyPair } from '../formats/jwk.js';
import { primaryRuntimeData, runtimeDataDigest } from '../formats/runtime-data.js';
import { utf8, toBase64 } from '../formats/bytes.js';
import { startKbs, type Harness } from './test-harness.js';
import { safeKeyPair } from '../formats/keygen.js';

const R = readVectorJson('trustee', 'generated', 'rcar-sample-0.4.0.json');
const ERR = 'https://github.com/confidential-containers/kbs/errors/';
let h: Harness;
const SECRET = 'plaintext-secret-Zq8u2';

before(async () => {
  h = await startKbs();
  await new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem }).setResource('default/key/one', utf8.encode(SECRET));
});
after(async () => {
  await h.stop();
});

interface Res {
  status: number;
  body: string;
  json: any;
  cookie?: string;
}

async function call(method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}): Promise<Res> {
  const r = await h.kbs.app.inject({ method: method as any, url: path, payload: body as any, headers: { 'content-type': 'application/json', ...headers } });
  let json: any;
  try {
    json = JSON.parse(r.body);
  } catch {}
  const sc = r.headers['set-cookie'];
  const cookie = /kbs-session-id=([0-9a-f]+)/.exec(Array.isArray(sc) ? sc.join(';') : (sc ?? ''))?.[1];
  return { status: r.statusCode, body: r.body, json, cookie };
}

/** Raw HTTP over loopback, so the path reaches the server byte for byte (no client-side normalisation). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Res> {
  const u = new URL(h.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode!, body: text, json });
      });
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

const authBody = (o: Record<string, unknown> = {}) => JSON.stringify({ ...R.auth_request_body, ...o });

async function authed(): Promise<{ cookie: string; nonce: string }> {
  const r = await call('POST', '/kbs/v0/auth', authBody());
  assert.equal(r.status, 200, r.body);
  return { cookie: r.cookie!, nonce: r.json.nonce };
}

async function attestBody(nonce: string, key = generateTeeKeyPair('ec-p256'), evidenceNonce = nonce) {
  const ev = await new SampleAttester().getEvidence(runtimeDataDigest(primaryRuntimeData(evidenceNonce, key.publicJwk, '')));
  return JSON.stringify({ 'init-data': null, 'runtime-data': { nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: ev, additional_evidence: '' } });
}

function assertError(r: Res, status: number, variant: string, detail?: RegExp): void {
  assert.equal(r.status, status, r.body);
  assert.equal(r.json?.type, ERR + variant, r.body);
  assert.equal(typeof r.json?.detail, 'string');
  if (detail) assert.match(r.json.detail, detail);
}

test('auth answers a 32-byte padded base64 nonce, extra-params "" and a bare Expires cookie', async () => {
  const r = await h.kbs.app.inject({ method: 'POST', url: '/kbs/v0/auth', payload: authBody(), headers: { 'content-type': 'application/json' } });
  assert.equal(r.statusCode, 200);
  const body = JSON.parse(r.body);
  assert.deepEqual(Object.keys(body), Object.keys(R.challenge_response_body));
  assert.equal(body['extra-params'], '');
  assert.equal(Buffer.from(body.nonce, 'base64').length, 32);
  assert.equal(body.nonce.length, 44);
  assert.match(String(r.headers['set-cookie']), /^kbs-session-id=[0-9a-f]{32}; Expires=[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
});

test('a protocol version other than 0.4.0 is refused with Trustee\'s detail', async () => {
  assertError(await call('POST', '/kbs/v0/auth', authBody({ version: '0.3.0' })), 401, 'AttestationError', /Version Mismatch: expect =0\.4\.0 while the request is 0\.3\.0/);
});

test('a TEE the KBS does not enable is refused at auth', async () => {
  assertError(await call('POST', '/kbs/v0/auth', authBody({ tee: 'cca' })), 401, 'AttestationError', /not enabled/);
  assertError(await call('POST', '/kbs/v0/auth', authBody({ tee: 'nope' })), 401, 'AttestationError', /unknown tee/);
});

test('attest with the wrong nonce is refused', async () => {
  const s = await authed();
  const other = Buffer.alloc(32, 7).toString('base64');
  assertError(await call('POST', '/kbs/v0/attest', await attestBody(other), { cookie: `kbs-session-id=${s.cookie}` }), 401, 'AttestationError', /nonce does not match/);
});

test('evidence bound to another key is refused with the failed check, and the nonce cannot be reused', async () => {
  const s = await authed();
  const key = generateTeeKeyPair('ec-p256');
  const other = generateTeeKeyPair('ec-p256');
  const ev = await new SampleAttester().getEvidence(runtimeDataDigest(primaryRuntimeData(s.nonce, other.publicJwk, '')));
  const body = JSON.stringify({ 'runtime-data': { nonce: s.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: ev, additional_evidence: '' } });
  const cookie = { cookie: `kbs-session-id=${s.cookie}` };
  assertError(await call('POST', '/kbs/v0/attest', body, cookie), 401, 'AttestationError', /failed check "report-data"/);
  // A second attempt with correct evidence on the same challenge: the nonce was consumed.
  assertError(await call('POST', '/kbs/v0/attest', await attestBody(s.nonce, key), cookie), 401, 'AttestationError', /already used/);
});

test('an attempt presenting the challenge spends it even when the rest of its body is refused', async () => {
  const s = await authed();
  const key = generateTeeKeyPair('ec-p256');
  const cookie = { cookie: `kbs-session-id=${s.cookie}` };
  const broken = JSON.stringify({ 'runtime-data': { nonce: s.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': 'no object' });
  assertError(await call('POST', '/kbs/v0/attest', broken, cookie), 401, 'AttestationError', /tee-evidence/);
  assertError(await call('POST', '/kbs/v0/attest', await attestBody(s.nonce, key), cookie), 401, 'AttestationError', /already used/);
  // A body that is no JSON object presents no challenge: the session's stays unspent.
  const t = await authed();
  const other = { cookie: `kbs-session-id=${t.cookie}` };
  assertError(await call('POST', '/kbs/v0/attest', '[1]', other), 401, 'AttestationError', /must be a JSON object/);
  assert.equal((await call('POST', '/kbs/v0/attest', await attestBody(t.nonce), other)).status, 200);
  // The session is still checked before the body: an unknown session with a broken body is an unknown session.
  assertError(await call('POST', '/kbs/v0/attest', '[1]', { cookie: 'kbs-session-id=00000000000000000000000000000000' }), 401, 'AttestationError', /not found or expired/);
});

test('attest without a cookie, with an unknown cookie, or after the session expired is refused', async () => {
  const s = await authed();
  assertError(await call('POST', '/kbs/v0/attest', await attestBody(s.nonce)), 401, 'AttestationError', /without a kbs-session-id cookie/);
  assertError(await call('POST', '/kbs/v0/attest', await attestBody(s.nonce), { cookie: 'kbs-session-id=00000000000000000000000000000000' }), 401, 'AttestationError', /not found or expired/);
  const saved = h.clock.now;
  try {
    h.clock.now = new Date(saved.getTime() + 5 * 60_000 + 1000);
    assertError(await call('POST', '/kbs/v0/attest', await attestBody(s.nonce), { cookie: `kbs-session-id=${s.cookie}` }), 401, 'AttestationError', /not found or expired/);
  } finally {
    h.clock.now = saved;
  }
});

test('attest is idempotent on an attested session and the token also works as a Bearer token', async () => {
  const s = await authed();
  const key = generateTeeKeyPair('ec-p256');
  const body = await attestBody(s.nonce, key);
  const cookie = { cookie: `kbs-session-id=${s.cookie}` };
  const a = await call('POST', '/kbs/v0/attest', body, cookie);
  assert.equal(a.status, 200, a.body);
  assert.equal(a.cookie, s.cookie);
  const b = await call('POST', '/kbs/v0/attest', body, cookie);
  assert.equal(b.json.token, a.json.token);
  const header = JSON.parse(Buffer.from(a.json.token.split('.')[0], 'base64url').toString());
  assert.deepEqual(Object.keys(header), ['typ', 'alg', 'jwk']);
  assert.equal(header.alg, 'ES256');
  const claims = JSON.parse(Buffer.from(a.json.token.split('.')[1], 'base64url').toString());
  assert.deepEqual(Object.keys(claims), Object.keys(readVectorJson('trustee', 'generated', 'ear-token-synthetic.json').claims));
  assert.deepEqual(claims.submods.cpu0['ear.veraison.annotated-evidence'].runtime_data_claims['tee-pubkey'], key.publicJwk);
  const viaBearer = await call('GET', '/kbs/v0/resource/default/key/one', undefined, { authorization: `Bearer ${a.json.token}` });
  assert.equal(viaBearer.status, 200, viaBearer.body);
  assert.deepEqual(Object.keys(viaBearer.json), ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag']);
  // The token expires after duration_min (5) + 60 s leeway.
  const saved = h.clock.now;
  try {
    h.clock.now = new Date(saved.getTime() + 7 * 60_000);
    assertError(await call('GET', '/kbs/v0/resource/default/key/one', undefined, { authorization: `Bearer ${a.json.token}` }), 401, 'TokenVerifierError', /expired/);
  } finally {
    h.clock.now = saved;
  }
});

test('a resource request without a session or token, or with a forged token, is refused', async () => {
  assertError(await call('GET', '/kbs/v0/resource/default/key/one'), 401, 'TokenNotFound');
  const s = await authed();
  assertError(await call('GET', '/kbs/v0/resource/default/key/one', undefined, { cookie: `kbs-session-id=${s.cookie}` }), 401, 'TokenNotFound', /not attested/);
  const forger = generateEcKeyPair('P-256');
  const jwk = forger.publicKey.export({ format: 'jwk' });
  const forged = await new SignJWT({ submods: {}, exp: Math.floor(Date.now() / 1000) + 300 })
    .setProtectedHeader({ typ: 'JWT', alg: 'ES256', jwk: { ...jwk, alg: 'ES256' } as any })
    .sign(forger.privateKey);
  assertError(await call('GET', '/kbs/v0/resource/default/key/one', undefined, { authorization: `Bearer ${forged}` }), 401, 'TokenVerifierError', /not a trusted signer/);
  const ear = readVectorJson('trustee', 'generated', 'ear-token-synthetic.json');
  assertError(await call('GET', '/kbs/v0/resource/default/key/one', undefined, { authorization: `Bearer ${ear.token}` }), 401, 'TokenVerifierError');
});

test('path traversal and encoded slashes never reach storage', async () => {
  const token = `Bearer ${await signAdminToken(h.adminKeyPem)}`;
  for (const p of ['/kbs/v0/resource/../../../etc/passwd', '/kbs/v0/resource/default/key/..', '/kbs/v0/resource/default%2Fkey/one/x', '/kbs/v0/resource/default/key/one%2F..%2F..', '/kbs/v0/resource/.hidden/key/one', '/kbs/v0/resource/default/key', '/kbs/v0/resource/a/b/c/d', '/kbs/v0/resource/default//one']) {
    assertError(await raw('GET', p), 404, 'InvalidRequestPath');
    assertError(await raw('POST', p, { authorization: token, 'content-type': 'application/octet-stream' }, 'x'), 404, 'InvalidRequestPath');
  }
  assertError(await raw('GET', '/kbs/v0/nosuchplugin/x'), 404, 'PluginNotFound');
  assert.deepEqual((await new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem }).listResources()).map((r) => r.path), ['default/key/one']);
});

test('an oversize body is refused with 413 before any parsing', async () => {
  const big = 'x'.repeat(2 * 1024 * 1024 + 1);
  assertError(await raw('POST', '/kbs/v0/auth', { 'content-type': 'application/json', 'content-length': String(big.length) }, big), 413, 'PayloadTooLarge');
});

test('malformed JSON of every message is a Trustee error with a detail, never a crash', async () => {
  const s = await authed();
  const admin = { authorization: `Bearer ${await signAdminToken(h.adminKeyPem)}` };
  const cases: Array<[string, Record<string, string>]> = [
    ['/kbs/v0/auth', {}],
    ['/kbs/v0/attest', { cookie: `kbs-session-id=${s.cookie}` }],
    ['/kbs/v0/attestation-policy', admin],
    ['/kbs/v0/resource-policy', admin],
    ['/kbs/v0/reference-value', admin],
  ];
  for (const [path, headers] of cases) {
    for (const body of ['{', '[]', '"x"', '{"version":', 'null', '{}', '\u0000']) {
      const r = await call('POST', path, body, headers);
      assert.equal(r.status, 401, `${path} ${body} → ${r.body}`);
      assert.ok(r.json?.type?.startsWith(ERR) && r.json.detail, r.body);
    }
  }
});

test('fuzzed request bodies on every endpoint yield Trustee errors, never 500', async () => {
  // Its own KBS: fuzzed uploads may replace the policies the other tests rely on.
  const main = h;
  h = await startKbs();
  try {
    await fuzz();
  } finally {
    await h.stop();
    h = main;
  }
});

async function fuzz(): Promise<void> {
  const admin = { authorization: `Bearer ${await signAdminToken(h.adminKeyPem)}` };
  const s = await authed();
  const endpoints: Array<[string, string, Record<string, string>]> = [
    ['POST', '/kbs/v0/auth', {}],
    ['POST', '/kbs/v0/attest', { cookie: `kbs-session-id=${s.cookie}` }],
    ['POST', '/kbs/v0/attestation-policy', admin],
    ['POST', '/kbs/v0/resource-policy', admin],
    ['POST', '/kbs/v0/reference-value', admin],
  ];
  const bodies = fc.oneof(
    fc.json(),
    fc.string(),
    fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b).toString('latin1')),
    fc.record({ version: fc.oneof(fc.constant('0.4.0'), fc.string()), tee: fc.oneof(fc.constant('sample'), fc.string()), 'extra-params': fc.jsonValue() }).map((o) => JSON.stringify(o)),
    fc.record({ 'runtime-data': fc.record({ nonce: fc.string(), 'tee-pubkey': fc.jsonValue() }), 'tee-evidence': fc.record({ primary_evidence: fc.jsonValue(), additional_evidence: fc.oneof(fc.string(), fc.json()) }), 'init-data': fc.option(fc.record({ format: fc.constant('toml'), body: fc.string() })) }).map((o) => JSON.stringify(o)),
    fc.record({ policy: fc.string(), policy_id: fc.string(), type: fc.string() }).map((o) => JSON.stringify(o)),
    fc.record({ version: fc.constant('0.1.0'), type: fc.constant('sample'), payload: fc.oneof(fc.string(), fc.json().map((j) => toBase64(utf8.encode(j)))) }).map((o) => JSON.stringify(o)),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...endpoints), bodies, async ([m, p, hd], body) => {
      const r = await call(m, p, body, hd);
      if (r.status === 200) return;
      assert.ok([401, 404, 413].includes(r.status), `${p} ${JSON.stringify(body)} → ${r.status} ${r.body}`);
      assert.ok(r.json?.type?.startsWith(ERR), r.body);
    }),
    { numRuns: 300 },
  );
}

test('admin calls without a token, with a wrong role, an expired or a foreign token are refused', async () => {
  const path = '/kbs/v0/resource/default/key/admin-test';
  assertError(await call('POST', path, 'v', { 'content-type': 'application/octet-stream' }), 401, 'AdminAuthAccess', /without an Authorization/);
  const wrongRole = await signAdminToken(h.adminKeyPem, 'reader');
  assertError(await call('POST', path, 'v', { authorization: `Bearer ${wrongRole}` }), 401, 'AdminAuthAccess', /role "reader" may not access/);
  const expired = await signAdminToken(h.adminKeyPem, 'admin', 60, new Date(Date.now() - 3600_000));
  assertError(await call('POST', path, 'v', { authorization: `Bearer ${expired}` }), 401, 'AdminAuthAccess', /expired/);
  const foreign = safeKeyPair('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  assertError(await call('POST', path, 'v', { authorization: `Bearer ${await signAdminToken(foreign)}` }), 401, 'AdminAuthAccess', /rejected/);
  const noRole = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA' }).setExpirationTime('5m').sign(
    (await import('node:crypto')).createPrivateKey(h.adminKeyPem),
  );
  assertError(await call('POST', path, 'v', { authorization: `Bearer ${noRole}` }), 401, 'AdminAuthAccess', /role/);
  assertError(await call('GET', '/kbs/v0/resources'), 401, 'AdminAuthAccess');
});

test('the admin listing gives paths and sizes, never values', async () => {
  const r = await call('GET', '/kbs/v0/resources', undefined, { authorization: `Bearer ${await signAdminToken(h.adminKeyPem)}` });
  assert.equal(r.status, 200);
  assert.ok(!r.body.includes(SECRET));
  assert.deepEqual(r.json.find((x: any) => x.path === 'default/key/one').size, SECRET.length);
});

test('healthz, metrics with Trustee names, and logs free of secrets, nonces and tokens', async () => {
  const c = new KbsClient(h.url, new SampleAttester());
  assert.equal(await c.getResourceText('default/key/one'), SECRET);
  const { token, cookie } = await c.attest();
  assert.equal((await raw('GET', '/healthz')).status, 200);
  assert.equal((await raw('POST', '/metrics')).status, 405);
  const m = (await raw('GET', '/metrics')).body;
  for (const name of ['kbs_http_requests_total', 'kbs_auth_requests_total', 'kbs_attestation_successes_total{tee_type="sample"}', 'kbs_resource_reads_total ', 'kbs_policy_evaluations_total', 'kbs_build_info', 'kbs_http_request_duration_seconds_bucket']) {
    assert.ok(m.includes(name), name);
  }
  const logs = h.logs.join('');
  assert.ok(logs.length > 0);
  for (const s of [SECRET, token, cookie, token.split('.')[2]]) assert.ok(!logs.includes(s), 'log leaks a secret value');
});

test('admin deletes a resource; fetching it afterwards names the missing path', async () => {
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  await admin.setResource('default/key/gone', utf8.encode('x'));
  await admin.deleteResource('default/key/gone');
  await assert.rejects(admin.deleteResource('default/key/gone'), /does not exist/);
  await assert.rejects(new KbsClient(h.url, new SampleAttester(), { maxAttempts: 1 }).getResource('default/key/gone'), /PluginInternalError.*default\/key\/gone does not exist/);
});

test('reference values with slashes in their id are stored and read back; unknown ids are errors', async () => {
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  await admin.setReferenceValues({ 'rvps:///ns/snp_launch_measurement:v1': ['ab'] });
  assert.deepEqual(await admin.getReferenceValue('rvps:///ns/snp_launch_measurement:v1'), ['ab']);
  await assert.rejects(admin.getReferenceValue('nope'), /RvpsError/);
  const bad = await call('POST', '/kbs/v0/reference-value', JSON.stringify({ version: '0.2.0', type: 'sample', payload: '' }), { authorization: `Bearer ${await signAdminToken(h.adminKeyPem)}` });
  assertError(bad, 401, 'RvpsError', /version must be "0.1.0"/);
});

test('SNP evidence whose report_data is not the runtime-data digest is refused with the failed check', async () => {
  const r = await call('POST', '/kbs/v0/auth', authBody({ tee: 'snp' }));
  assert.equal(r.status, 200, r.body);
  const key = generateTeeKeyPair('ec-p256');
  const evidence = readVectorJson('trustee', 'snp', 'evidence-e2e.json');
  const body = JSON.stringify({ 'runtime-data': { nonce: r.json.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: evidence, additional_evidence: '' } });
  const a = await call('POST', '/kbs/v0/attest', body, { cookie: `kbs-session-id=${r.cookie}` });
  assertError(a, 401, 'AttestationError', /snp evidence failed check "report-data"/);
});

test('the audit log records attestations and resource decisions without secrets, nonces, session ids or tokens', async () => {
  const c = new KbsClient(h.url, new SampleAttester());
  const { token, cookie } = await c.attest();
  assert.equal(await c.getResourceText('default/key/one'), SECRET);
  const events = await h.kbs.store.audit.list({ limit: 1000 });
  assert.ok(events.some((e) => e.kind === 'kbs.attest' && e.outcome === 'ok'));
  assert.ok(events.some((e) => e.kind === 'kbs.attest' && e.outcome === 'denied' && JSON.stringify(e.detail).includes('report-data')));
  assert.ok(events.some((e) => e.kind === 'kbs.resource.get' && e.subject === 'default/key/one' && e.outcome === 'ok'));
  const all = JSON.stringify(events);
  for (const s of [SECRET, token, cookie]) assert.ok(!all.includes(s));
});

test('attest with an RSA TEE key that cannot be encrypted to is refused at attestation, never a 500 later', async () => {
  const ok = readVectorJson('trustee', 'generated', 'jwe-resource-responses.json').rsa_oaep_256.tee_pubkey_jwk;
  const n = Buffer.from(ok.n, 'base64url');
  n[n.length - 1] &= 0xfe;
  const s = await authed();
  const key = { privateKey: undefined as never, publicJwk: { ...ok, n: n.toString('base64url') } };
  const r = await call('POST', '/kbs/v0/attest', await attestBody(s.nonce, key), { cookie: `kbs-session-id=${s.cookie}` });
  assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${r.body}`);
  assert.match(r.body, /modulus is even/);
  const get = await call('GET', '/kbs/v0/resource/default/key/one', undefined, { cookie: `kbs-session-id=${s.cookie}` });
  assert.ok(get.status >= 400 && get.status < 500, `${get.status} ${get.body}`);
});
