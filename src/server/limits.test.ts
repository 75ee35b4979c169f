import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { readVectorJson } from '../test-support/vectors.js';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient, signAdminToken } from '../client/admin-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { utf8 } from '../formats/bytes.js';
import { defaultConfig } from './config.js';
import { clientKey } from './auth-limiter.js';
import { startKbs, type Harness } from './test-harness.js';

const R = readVectorJson('trustee', 'generated', 'rcar-sample-0.4.0.json');
const ERR = 'https://github.com/confidential-containers/kbs/errors/';
const authBody = (o: Record<string, unknown> = {}) => JSON.stringify({ ...R.auth_request_body, ...o });

let h: Harness;
before(async () => {
  h = await startKbs((c) => {
    c.http_server.auth_rate_per_sec = 2;
    c.http_server.auth_burst = 3;
    c.http_server.max_pending_sessions = 1000;
    c.http_server.header_timeout_secs = 1;
    c.http_server.request_timeout_secs = 2;
  });
});
after(async () => {
  await h.stop();
});

let nextAddress = 1;
/** A fresh client address per test, so one test's bucket never leaks into the next. */
const freshAddress = () => `10.0.${Math.floor(nextAddress / 250)}.${(nextAddress++ % 250) + 1}`;

async function auth(remoteAddress: string, body = authBody()) {
  const r = await h.kbs.app.inject({ method: 'POST', url: '/kbs/v0/auth', payload: body, remoteAddress, headers: { 'content-type': 'application/json' } });
  return { status: r.statusCode, retryAfter: r.headers['retry-after'], json: JSON.parse(r.body || 'null'), cookie: /kbs-session-id=([0-9a-f]+)/.exec(String(r.headers['set-cookie'] ?? ''))?.[1] };
}

// ---- bounded echoes ------------------------------------------------------------------------------------

test('a megabyte auth version or tee is echoed in 64 characters at most, in the answer and in the log', async () => {
  const addr = freshAddress();
  for (const body of [authBody({ version: 'v'.repeat(1_000_000) }), authBody({ tee: 't'.repeat(1_000_000) })]) {
    const logBefore = h.logs.join('').length;
    const r = await auth(addr, body);
    h.clock.now = new Date(h.clock.now.getTime() + 1000);
    assert.equal(r.status, 401);
    assert.match(r.json.detail, /…/);
    assert.ok(r.json.detail.length < 64 + 200, `detail is ${r.json.detail.length} characters`);
    const logged = h.logs.join('').length - logBefore;
    assert.ok(logged > 0 && logged < 2048, `the log grew by ${logged} characters`);
  }
});

test('an admin token with a huge role claim or a long path is echoed bounded', async () => {
  const role = 'r'.repeat(100_000);
  const token = await signAdminToken(h.adminKeyPem, role);
  const r = await h.kbs.app.inject({ method: 'GET', url: '/kbs/v0/resources', headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.statusCode, 401);
  const detail = JSON.parse(r.body).detail as string;
  assert.match(detail, /may not access/);
  assert.ok(detail.length < 400, `detail is ${detail.length} characters`);
  const bad = await h.kbs.app.inject({ method: 'GET', url: `/kbs/v0/${'p'.repeat(3000)}!` });
  assert.equal(bad.statusCode, 404);
  assert.ok(JSON.parse(bad.body).detail.length < 400);
});

// ---- metrics --------------------------------------------------------------------------------------------

test('resource writes and reads add no metric label per path', async () => {
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  for (let i = 0; i < 25; i++) await admin.setResource(`metrics/key/unique-tag-${i}`, utf8.encode(`v${i}`));
  const c = new KbsClient(h.url, new SampleAttester());
  assert.equal(utf8.decode(await c.getResource('metrics/key/unique-tag-7')), 'v7');
  const text = await (await fetch(`${h.url}/metrics`)).text();
  assert.doesNotMatch(text, /unique-tag|resource_path/);
  assert.match(text, /^kbs_resource_writes_total (\d+)$/m);
  assert.ok(Number(/^kbs_resource_writes_total (\d+)$/m.exec(text)![1]) >= 25);
  assert.match(text, /^kbs_resource_reads_total [1-9]\d*$/m);
  // Every series of every metric: a fixed handful, whatever was written.
  const series = text.split('\n').filter((l) => l && !l.startsWith('#'));
  assert.ok(series.length < 80, `${series.length} series`);
});

// ---- auth admission ------------------------------------------------------------------------------------

test('a client past its auth burst is answered 429 with Retry-After; other clients are not, and the bucket refills', async () => {
  const a = freshAddress();
  const b = freshAddress();
  for (let i = 0; i < 3; i++) assert.equal((await auth(a)).status, 200);
  const refused = await auth(a);
  assert.equal(refused.status, 429);
  assert.equal(refused.retryAfter, '1');
  assert.equal(refused.json.type, `${ERR}TooManyRequests`);
  assert.equal((await auth(b)).status, 200);
  // 2 tokens per second: after one second two more requests pass, the third does not.
  h.clock.now = new Date(h.clock.now.getTime() + 1000);
  assert.equal((await auth(a)).status, 200);
  assert.equal((await auth(a)).status, 200);
  assert.equal((await auth(a)).status, 429);
  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  assert.match(metrics, /^kbs_auth_rate_limited_total [1-9]/m);
});

test('the compat dialects\' auth routes share the same per-client bucket', async () => {
  const compat = await startKbs((c) => {
    c.http_server.auth_burst = 2;
    c.workloads.keybroker.enabled = true;
  });
  try {
    const body = JSON.stringify({ version: '0.4.0', tee: 'snp', 'extra-params': '' });
    const post = (url: string) => compat.kbs.app.inject({ method: 'POST', url, payload: body, remoteAddress: '10.9.9.9', headers: { 'content-type': 'application/json' } });
    assert.equal((await post('/keybroker/kbs/v0/auth')).statusCode, 200);
    assert.equal((await post('/kbs/v0/auth')).statusCode, 200);
    const refused = await post('/keybroker/kbs/v0/auth');
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers['retry-after'], '1');
    // Another spelling of the same route is the same route.
    assert.equal((await post('/keybroker/kbs/v0/%61uth')).statusCode, 429);
  } finally {
    await compat.stop();
  }
});

test('clients are keyed by IPv4 address and by IPv6 /64', () => {
  assert.equal(clientKey('192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('2001:db8:0:1::5'), clientKey('2001:0db8:0000:0001:ffff:1:2:3'));
  assert.notEqual(clientKey('2001:db8:0:1::5'), clientKey('2001:db8:0:2::5'));
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
});

test('sessions awaiting attestation are capped; attesting or expiring frees a slot', async () => {
  const capped = await startKbs((c) => {
    c.http_server.max_pending_sessions = 3;
  });
  try {
    const call = async (cookie?: string, body = authBody()) =>
      capped.kbs.app.inject({ method: 'POST', url: '/kbs/v0/auth', payload: body, remoteAddress: freshAddress(), headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) } });
    const first = await call();
    assert.equal(first.statusCode, 200);
    assert.equal((await call()).statusCode, 200);
    assert.equal((await call()).statusCode, 200);
    const full = await call();
    assert.equal(full.statusCode, 429);
    assert.equal(full.headers['retry-after'], String(5 * 60), 'the oldest pending session expires in the session timeout');
    assert.match(JSON.parse(full.body).detail, /await attestation/);
    // A real guest cannot get in either while the cap holds …
    await assert.rejects(new KbsClient(capped.url, new SampleAttester()).attest(), /429|too many/i);
    // … until the sessions expire.
    capped.clock.now = new Date(capped.clock.now.getTime() + 5 * 60_000 + 1000);
    const { token } = await new KbsClient(capped.url, new SampleAttester()).attest();
    assert.ok(token);
    // That session attested, so it does not count: three more fit, the fourth does not.
    for (let i = 0; i < 3; i++) assert.equal((await call()).statusCode, 200);
    assert.equal((await call()).statusCode, 429);
  } finally {
    await capped.stop();
  }
});

/** One POST /kbs/v0/auth over loopback from `localAddress`, on a keep-alive agent. */
function rawAuth(agent: http.Agent, localAddress: string): Promise<{ status: number; retryAfter?: string }> {
  const u = new URL(h.url);
  const body = authBody();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method: 'POST', path: '/kbs/v0/auth', agent, localAddress, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('a normal guest is served while another address floods /auth over real sockets', async () => {
  await new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem }).setResource('flood/key/guest', utf8.encode('still served'));
  // The flooder comes from 127.0.0.2 (all of 127/8 is loopback), the guest from 127.0.0.1.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const statuses: number[] = [];
  let retryAfterMissing = 0;
  let flooding = true;
  const flood = (async () => {
    const loops = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 100 && flooding; i++) {
        const r = await rawAuth(agent, '127.0.0.2');
        statuses.push(r.status);
        if (r.status === 429 && !r.retryAfter) retryAfterMissing++;
      }
    });
    await Promise.all(loops);
  })();
  try {
    // The guest starts once the flood has used up its burst.
    while (statuses.length < 20) await new Promise((r) => setTimeout(r, 5));
    const guest = new KbsClient(h.url, new SampleAttester());
    assert.equal(await guest.getResourceText('flood/key/guest'), 'still served');
  } finally {
    flooding = false;
    await flood;
    agent.destroy();
  }
  // The test clock stands still, so the flooder got exactly its burst and nothing more.
  assert.equal(statuses.filter((s) => s === 200).length, 3);
  assert.ok(statuses.filter((s) => s === 429).length >= 17);
  assert.deepEqual([...new Set(statuses)].sort(), [200, 429]);
  assert.equal(retryAfterMissing, 0);
  // Hundreds of refusals, one summary line (the clock stands still).
  assert.ok(h.logs.filter((l) => l.includes('auth requests refused')).length <= 2);
});

// ---- slow clients ---------------------------------------------------------------------------------------

/** Opens a socket, sends `head`, then one more byte of `drip` every 200 ms; resolves with what the server answered and when it closed. */
function slowClient(head: string, drip: string, giveUpMs: number): Promise<{ closedAfterMs: number; answer: string }> {
  const u = new URL(h.url);
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const chunks: Buffer[] = [];
    const s = net.connect({ host: u.hostname, port: Number(u.port) }, () => head && s.write(head));
    let i = 0;
    const dripper = setInterval(() => {
      if (drip && !s.destroyed && s.writable) s.write(drip[i++ % drip.length]);
    }, 200);
    const giveUp = setTimeout(() => {
      s.destroy();
    }, giveUpMs);
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(dripper);
      clearTimeout(giveUp);
      resolve({ closedAfterMs: Date.now() - start, answer: Buffer.concat(chunks).toString() });
    });
    s.on('timeout', reject);
  });
}

test('the defaults cut slow clients off well before Node\'s 60 s', () => {
  const d = defaultConfig().http_server;
  assert.ok(d.header_timeout_secs <= 10 && d.request_timeout_secs <= 30 && d.header_timeout_secs <= d.request_timeout_secs);
});

test('a client trickling its headers is answered 408 and disconnected after header_timeout_secs', async () => {
  const r = await slowClient('GET /healthz HTTP/1.1\r\nHost: kbs\r\n', 'X-Slow: a\r\n', 6000);
  assert.ok(r.closedAfterMs >= 900 && r.closedAfterMs < 3000, `closed after ${r.closedAfterMs} ms`);
  assert.match(r.answer, /^HTTP\/1\.1 408/);
});

test('a client that connects and never sends a byte is answered 408 and disconnected after header_timeout_secs', async () => {
  const r = await slowClient('', '', 6000);
  assert.ok(r.closedAfterMs >= 900 && r.closedAfterMs < 3000, `closed after ${r.closedAfterMs} ms`);
  assert.match(r.answer, /^HTTP\/1\.1 408/);
});

test('a client trickling its body is answered 408 and disconnected after request_timeout_secs', async () => {
  const r = await slowClient('POST /kbs/v0/auth HTTP/1.1\r\nHost: kbs\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{', ' ', 8000);
  assert.ok(r.closedAfterMs >= 1900 && r.closedAfterMs < 4500, `closed after ${r.closedAfterMs} ms`);
  assert.match(r.answer, /^HTTP\/1\.1 408/);
});

// ---- audit retention ------------------------------------------------------------------------------------

test('the server prunes its audit log in the background to [audit] max_rows', async () => {
  const small = await startKbs((c) => {
    c.audit.max_rows = 3;
    c.audit.prune_interval_secs = 0.2;
  });
  try {
    const admin = new KbsAdminClient(small.url, { privateKeyPem: small.adminKeyPem });
    for (let i = 0; i < 8; i++) await admin.setResource(`audit/key/k${i}`, utf8.encode('v'));
    const deadline = Date.now() + 5000;
    let left = await small.kbs.store.audit.list({ limit: 100 });
    while (left.length > 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      left = await small.kbs.store.audit.list({ limit: 100 });
    }
    assert.deepEqual(left.map((e) => e.subject), ['audit/key/k7', 'audit/key/k6', 'audit/key/k5']);
    assert.match(small.logs.join(''), /audit log pruned/);
  } finally {
    await small.stop();
  }
});

test('the server prunes audit events older than [audit] max_age_days', async () => {
  const aged = await startKbs((c) => {
    c.audit.max_age_days = 1;
    c.audit.prune_interval_secs = 0.2;
  });
  try {
    await aged.kbs.store.audit.append({ kind: 'k', subject: 'old', outcome: 'ok', time: new Date(aged.clock.now.getTime() - 2 * 86_400_000) });
    await aged.kbs.store.audit.append({ kind: 'k', subject: 'recent', outcome: 'ok', time: new Date(aged.clock.now.getTime() - 3_600_000) });
    const deadline = Date.now() + 5000;
    while ((await aged.kbs.store.audit.list({ subject: 'old' })).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual((await aged.kbs.store.audit.list()).map((e) => e.subject), ['recent']);
  } finally {
    await aged.stop();
  }
});
