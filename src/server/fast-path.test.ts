/**
 * The protocol routes answered on node:http directly (app.ts `plain.path`) against the same routes through
 * fastify (`app.inject`): for every request of a table of good and bad input, and for random bodies, both
 * give the same status, body and headers, and the plain path takes exactly the requests it is meant to.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fc from 'fast-check';
import { readVectorJson } from '../test-support/vectors.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { generateTeeKeyPair } from '../formats/jwk.js';
import { decryptWithTeeKey, parseFlattenedJwe } from '../formats/jwe.js';
import { primaryRuntimeData, runtimeDataDigest } from '../formats/runtime-data.js';
import { utf8 } from '../formats/bytes.js';
import { startKbs, type Harness } from './test-harness.js';

const R = readVectorJson('trustee', 'generated', 'rcar-sample-0.4.0.json');
const ERR = 'https://github.com/confidential-containers/kbs/errors/';
const SECRET = 'fast-path-secret-7Hq2';
const authBody = (o: Record<string, unknown> = {}) => JSON.stringify({ ...R.auth_request_body, ...o });

let h: Harness;
// Connections are kept open, as guests keep them: an answer says `connection: close` only when the server closes.
const agent = new http.Agent({ keepAlive: true });
before(async () => {
  h = await startKbs((c) => {
    c.http_server.payload_request_size = 4096 / (1024 * 1024);
  });
  await new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem }).setResource('default/key/one', utf8.encode(SECRET));
});
after(async () => {
  agent.destroy();
  await h.stop();
});

interface Res {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Raw HTTP over loopback: the URL, headers and body reach the server as written here (a body with its length unless chunked). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer, chunked = false): Promise<Res> {
  const u = new URL(h.url);
  if (body !== undefined && !chunked) headers = { 'content-length': String(Buffer.byteLength(body)), ...headers };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    if (body !== undefined && chunked) {
      const b = Buffer.from(body);
      req.write(b.subarray(0, b.length >> 1));
      req.write(b.subarray(b.length >> 1));
    } else if (body !== undefined) req.write(body);
    req.end();
  });
}

async function viaFastify(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Res> {
  const r = await h.kbs.app.inject({ method: method as any, url: path, headers, ...(body === undefined ? {} : { payload: body }) });
  return { status: r.statusCode, body: r.body, headers: r.headers as Res['headers'] };
}

/** What must be equal on both paths: status, body (a fresh nonce or token by its shape), and the headers the app sets. */
function comparable(r: Res, method: string): unknown {
  // node:http sends no body in answer to HEAD; inject hands back what the handler wrote.
  let body: unknown = method === 'HEAD' ? undefined : r.body;
  try {
    const j = JSON.parse(body as string);
    body = r.status === 200 && j && typeof j === 'object' && !Array.isArray(j) ? Object.keys(j) : j;
  } catch {}
  const cookie = r.headers['set-cookie'];
  return {
    status: r.status,
    body,
    type: r.headers['content-type'],
    length: r.status === 200 ? undefined : r.headers['content-length'],
    retryAfter: r.headers['retry-after'],
    cookie: cookie === undefined ? undefined : String(cookie).replace(/=[0-9a-f]{32}; Expires=.*$/, '=<id>; Expires=<date>'),
    close: r.headers.connection === 'close' ? 'close' : undefined,
  };
}

/** Sends a request both ways; returns the plain-path answer and whether the plain path took it. */
async function both(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer, chunked = false): Promise<{ res: Res; fast: boolean }> {
  const withLength = body === undefined || chunked ? headers : { 'content-length': String(Buffer.byteLength(body)), ...headers };
  const before = h.kbs.fastPathRequests();
  const res = await raw(method, path, withLength, body, chunked);
  const fast = h.kbs.fastPathRequests() - before === 1;
  const ref = await viaFastify(method, path, withLength, body);
  assert.deepEqual(comparable(res, method), comparable(ref, method), `${method} ${path} ${String(body).slice(0, 80)}`);
  return { res, fast };
}

function assertError(r: Res, status: number, variant: string): void {
  assert.equal(r.status, status, r.body);
  assert.equal(JSON.parse(r.body).type, ERR + variant, r.body);
}

async function session(): Promise<{ cookie: string; nonce: string }> {
  const r = await raw('POST', '/kbs/v0/auth', { 'content-type': 'application/json' }, authBody());
  assert.equal(r.status, 200, r.body);
  return { cookie: /kbs-session-id=([0-9a-f]{32})/.exec(String(r.headers['set-cookie']))![1], nonce: JSON.parse(r.body).nonce };
}

const JSON_TYPE = { 'content-type': 'application/json' };

test('a whole flow runs on the plain path and releases the secret to the attested key', async () => {
  const before = h.kbs.fastPathRequests();
  const s = await session();
  assert.equal(h.kbs.fastPathRequests() - before, 1, 'auth');
  const key = generateTeeKeyPair('ec-p256');
  const ev = await new SampleAttester().getEvidence(runtimeDataDigest(primaryRuntimeData(s.nonce, key.publicJwk, '')));
  const body = JSON.stringify({ 'runtime-data': { nonce: s.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: ev, additional_evidence: '' } });
  const cookie = { cookie: `kbs-session-id=${s.cookie}` };
  const att = await raw('POST', '/kbs/v0/attest', { ...JSON_TYPE, ...cookie }, body);
  assert.equal(att.status, 200, att.body);
  assert.equal(h.kbs.fastPathRequests() - before, 2, 'attest');
  assert.equal(att.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(Number(att.headers['content-length']), Buffer.byteLength(att.body));
  const token = JSON.parse(att.body).token as string;
  for (const auth of [cookie, { authorization: `Bearer ${token}` }]) {
    const r = await raw('GET', '/kbs/v0/resource/default/key/one', auth);
    assert.equal(r.status, 200, r.body);
    assert.equal(utf8.decode(decryptWithTeeKey(parseFlattenedJwe(JSON.parse(r.body)), key.privateKey)), SECRET);
  }
  assert.equal(h.kbs.fastPathRequests() - before, 4);
  // The same metrics as through fastify: every request counted, none left active.
  const m = await raw('GET', '/metrics');
  assert.match(m.body, /^kbs_http_active_connections 0$/m);
  assert.match(m.body, /^kbs_attestation_successes_total\{tee_type="sample"\} [1-9]/m);
  assert.ok(Number(/^kbs_http_requests_total (\d+)$/m.exec(m.body)?.[1]) >= 4);
});

test('bad auth and attest requests are answered as fastify answers them', async () => {
  const s = await session();
  const cookie = { cookie: `kbs-session-id=${s.cookie}` };
  const cases: Array<[string, Record<string, string>, string | Buffer | undefined, number, string, boolean]> = [
    // url, headers, body, status, variant, taken by the plain path
    ['/kbs/v0/auth', JSON_TYPE, authBody().slice(0, 30), 401, 'AttestationError', true],
    ['/kbs/v0/auth', JSON_TYPE, authBody({ version: 4 }), 401, 'AttestationError', true],
    ['/kbs/v0/auth', JSON_TYPE, authBody({ tee: ['sample'] }), 401, 'AttestationError', true],
    ['/kbs/v0/auth', JSON_TYPE, '[1,2]', 401, 'AttestationError', true],
    ['/kbs/v0/auth', JSON_TYPE, '', 401, 'AttestationError', true],
    ['/kbs/v0/auth', {}, '', 401, 'AttestationError', true],
    ['/kbs/v0/auth', { 'content-type': 'text/plain' }, '{"version":', 401, 'AttestationError', true],
    ['/kbs/v0/auth', JSON_TYPE, Buffer.from([0xff, 0xfe, 0x00, 0x7b]), 401, 'AttestationError', true],
    ['/kbs/v0/auth', JSON_TYPE, authBody({ pad: 'x'.repeat(5000) }), 413, 'PayloadTooLarge', false],
    ['/kbs/v0/auth?x=1', JSON_TYPE, authBody().slice(0, 10), 401, 'AttestationError', false],
    ['/kbs/v0/attest', JSON_TYPE, '{}', 401, 'AttestationError', true],
    ['/kbs/v0/attest', { ...JSON_TYPE, cookie: 'kbs-session-id=00112233445566778899aabbccddeeff' }, '{}', 401, 'AttestationError', true],
    ['/kbs/v0/attest', { ...JSON_TYPE, ...cookie }, '{"runtime-data":', 401, 'AttestationError', true],
    ['/kbs/v0/attest', { ...JSON_TYPE, ...cookie }, JSON.stringify({ 'runtime-data': 'nonce', 'tee-evidence': {} }), 401, 'AttestationError', true],
    ['/kbs/v0/attest', { ...JSON_TYPE, ...cookie }, JSON.stringify({ 'runtime-data': { nonce: 1, 'tee-pubkey': {} } }), 401, 'AttestationError', true],
    ['/kbs/v0/attest', { ...JSON_TYPE, ...cookie }, 'x'.repeat(5000), 413, 'PayloadTooLarge', false],
    ['/kbs/v0/attest/', { ...JSON_TYPE, ...cookie }, '{}', 404, 'PluginNotFound', false],
  ];
  for (const [url, headers, body, status, variant, fast] of cases) {
    const r = await both('POST', url, headers, body);
    assertError(r.res, status, variant);
    assert.equal(r.fast, fast, `${url} ${String(body).slice(0, 40)}: plain path ${r.fast}`);
  }
  // A chunked body goes through fastify's reader; the answer is the same as to the announced one.
  const chunked = await both('POST', '/kbs/v0/auth', { ...JSON_TYPE, 'transfer-encoding': 'chunked' }, authBody().slice(0, 30), true);
  assertError(chunked.res, 401, 'AttestationError');
  assert.equal(chunked.fast, false);
  // The session survives every refused attestation: the nonce was never consumed by a malformed body.
  const ok = await both('POST', '/kbs/v0/auth', { 'content-type': 'text/plain' }, authBody());
  assert.equal(ok.res.status, 200);
  assert.equal(ok.fast, true);
});

test('bad resource requests, other methods and paths are answered as fastify answers them', async () => {
  const cases: Array<[string, string, Record<string, string>, number, string | undefined, boolean]> = [
    ['GET', '/kbs/v0/resource/default/key/one', {}, 401, 'TokenNotFound', true],
    ['GET', '/kbs/v0/resource/default/key/one', { cookie: 'kbs-session-id=nope' }, 401, 'TokenNotFound', true],
    ['GET', '/kbs/v0/resource/default/key/one', { authorization: 'Bearer eyJ.eyJ.x' }, 401, 'TokenVerifierError', true],
    ['GET', '/kbs/v0/resource/default/key/one?x=1&y=2', {}, 401, 'TokenNotFound', true],
    ['GET', '/kbs/v0/resource/default/key', {}, 404, 'InvalidRequestPath', true],
    ['GET', '/kbs/v0/resource/default//one', {}, 404, 'InvalidRequestPath', true],
    ['GET', '/kbs/v0/resource/', {}, 404, 'InvalidRequestPath', true],
    ['GET', `/kbs/v0/resource/${'a'.repeat(300)}/key/one`, {}, 401, 'TokenNotFound', true],
    ['GET', `/kbs/v0/resource/${'a'.repeat(9000)}/key/one`, {}, 404, 'InvalidRequestPath', true],
    ['GET', '/kbs/v0/resource/default%2Fkey/one/x', {}, 404, 'InvalidRequestPath', false],
    ['GET', '/kbs/v0/resource/default/key/%6Fne', {}, 404, 'InvalidRequestPath', false],
    ['GET', '/kbs/v0/resource/default/key/one?x=%zz', {}, 401, 'TokenNotFound', false],
    ['HEAD', '/kbs/v0/resource/default/key/one', {}, 401, undefined, false],
    ['GET', '/kbs/v0/auth', {}, 405, 'MethodNotAllowed', false],
    ['PUT', '/kbs/v0/attest', {}, 405, 'MethodNotAllowed', false],
    ['GET', '/kbs/v0/nope', {}, 404, 'PluginNotFound', false],
    ['GET', '/kbs/v1/resource/default/key/one', {}, 404, undefined, false],
  ];
  for (const [method, url, headers, status, variant, fast] of cases) {
    const r = await both(method, url, headers);
    if (variant) assertError(r.res, status, variant);
    else assert.equal(r.res.status, status, `${method} ${url}`);
    assert.equal(r.fast, fast, `${method} ${url.slice(0, 60)}: plain path ${r.fast}`);
  }
  // Dot segments reach the server as sent (fastify's inject would resolve them first): refused by the segment rule.
  const before = h.kbs.fastPathRequests();
  const dots = await raw('GET', '/kbs/v0/resource/default/../one');
  assertError(dots, 404, 'InvalidRequestPath');
  assert.match(JSON.parse(dots.body).detail, /invalid resource path segment "\.\."/);
  assert.equal(h.kbs.fastPathRequests() - before, 1);
});

test('random auth and attest bodies get the same Trustee errors on both paths, never a 500', async () => {
  const s = await session();
  const cookie = { cookie: `kbs-session-id=${s.cookie}` };
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('/kbs/v0/auth', '/kbs/v0/attest'), fc.uint8Array({ maxLength: 600 }), async (url, bytes) => {
      const r = await both('POST', url, { ...JSON_TYPE, ...cookie }, Buffer.from(bytes));
      assert.equal(r.fast, true);
      assert.equal(r.res.status, 401, r.res.body);
      assert.match(JSON.parse(r.res.body).type, /^https:\/\/github\.com\/confidential-containers\/kbs\/errors\//);
    }),
    { numRuns: 60 },
  );
});

test('the auth limiter answers 429 with retry-after on the plain path and counts its pending sessions', async () => {
  const l = await startKbs((c) => {
    c.http_server.auth_rate_per_sec = 1;
    c.http_server.auth_burst = 2;
    c.http_server.max_pending_sessions = 2;
  });
  try {
    const u = new URL(l.url);
    const post = () =>
      new Promise<Res>((resolve, reject) => {
        const body = authBody();
        const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/kbs/v0/auth', headers: { ...JSON_TYPE, 'content-length': String(body.length) }, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), headers: res.headers }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const before = l.kbs.fastPathRequests();
    const answers = [await post(), await post(), await post()];
    // The bucket held two tokens.
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 429]);
    assertError(answers[2], 429, 'TooManyRequests');
    assert.match(JSON.parse(answers[2].body).detail, /too many auth requests from this client/);
    assert.equal(answers[2].headers['retry-after'], '1');
    // Five seconds later the bucket is full again, but the two sessions opened on the plain path fill the pending cap.
    l.clock.now = new Date(l.clock.now.getTime() + 5000);
    const fourth = await post();
    assertError(fourth, 429, 'TooManyRequests');
    assert.match(JSON.parse(fourth.body).detail, /too many sessions await attestation/);
    assert.equal(fourth.headers['retry-after'], String(l.kbs.config.attestation_service.timeout * 60 - 5));
    assert.equal(l.kbs.fastPathRequests() - before, 4);
    const m = await l.kbs.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(m.body, /^kbs_auth_rate_limited_total 2$/m);
  } finally {
    await l.stop();
  }
});

test('the plain path observes each request in the same histograms: one duration, its body and answer sizes', async () => {
  const read = async () => {
    const text = (await viaFastify('GET', '/metrics')).body;
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    return { count: value('kbs_http_request_duration_seconds_count'), requests: value('kbs_http_requests_total'), sent: value('kbs_http_request_size_bytes_sum'), answered: value('kbs_http_response_size_bytes_sum') };
  };
  const before = await read();
  const body = authBody({ tee: 'nope' });
  const fast = h.kbs.fastPathRequests();
  const r = await raw('POST', '/kbs/v0/auth', JSON_TYPE, body);
  assertError(r, 401, 'AttestationError');
  assert.equal(h.kbs.fastPathRequests() - fast, 1);
  const after = await read();
  assert.equal(after.count - before.count, 1);
  assert.equal(after.requests - before.requests, 1);
  assert.equal(after.sent - before.sent, Buffer.byteLength(body));
  assert.equal(after.answered - before.answered, Number(r.headers['content-length']));
});
