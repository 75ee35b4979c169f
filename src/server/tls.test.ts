import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { toolMissing } from '../test-support/vectors.js';
import { configFromToml } from './config.js';
import { startKbs } from './test-harness.js';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { utf8 } from '../formats/bytes.js';

test('a config file serves HTTPS unless insecure_http is set, and refuses to start without a key and certificate', () => {
  const c = configFromToml('[storage_backend]\ndata_dir = "/tmp/x"\n');
  assert.equal(c.http_server.insecure_http, false);
});

test('the KBS serves the protocol over TLS with the configured key and certificate', { skip: toolMissing('openssl') }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-tls-'));
  try {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    await assert.rejects(
      startKbs((c) => {
        c.http_server.insecure_http = false;
      }),
      /HTTPS needs private_key and certificate/,
    );
    const h = await startKbs((c) => {
      c.http_server.insecure_http = false;
      c.http_server.private_key = join(dir, 'key.pem');
      c.http_server.certificate = join(dir, 'cert.pem');
    });
    try {
      assert.match(h.url, /^https:/);
      const ca = readFileSync(join(dir, 'cert.pem'));
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.request(`${h.url}/kbs/v0/auth`, { method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (m) => {
          let body = '';
          m.on('data', (d) => (body += d));
          m.on('end', () => resolve({ status: m.statusCode!, body }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ version: '0.4.0', tee: 'sample', 'extra-params': '' }));
      });
      assert.equal(res.status, 200, res.body);
      assert.equal(Buffer.from(JSON.parse(res.body).nonce, 'base64').length, 32);
      // The guest and admin clients trust the KBS through an explicit CA (`--cert-file`).
      const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem, ca: ca.toString() });
      await admin.setResource('default/key/tls', utf8.encode('over tls'));
      assert.equal(await new KbsClient(h.url, new SampleAttester(), { ca: ca.toString() }).getResourceText('default/key/tls'), 'over tls');
      await assert.rejects(new KbsClient(h.url, new SampleAttester()).attest(), /KBS_CLIENT_CONNECT|self-signed|certificate/);
    } finally {
      await h.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Trustee TLS profiles are enforced: modern refuses a TLS 1.2 client, custom groups drop what OpenSSL lacks', { skip: toolMissing('openssl') }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-tls-'));
  try {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const ca = readFileSync(join(dir, 'cert.pem'));
    const hello = (url: string, maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = https.request(`${url}/kbs/v0/auth`, { method: 'POST', ca, maxVersion, headers: { 'content-type': 'application/json' } }, (m) => {
          m.resume();
          m.on('end', () => resolve(m.statusCode!));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ version: '0.4.0', tee: 'sample', 'extra-params': '' }));
      });
    const tlsConfig = (extra: string) => {
      const t = configFromToml(`[http_server]\nprivate_key = ${JSON.stringify(join(dir, 'key.pem'))}\ncertificate = ${JSON.stringify(join(dir, 'cert.pem'))}\n${extra}`);
      return (c: typeof t) => void Object.assign(c.http_server, t.http_server, { sockets: c.http_server.sockets });
    };
    const modern = await startKbs(tlsConfig('tls_profile = "modern"\n'));
    try {
      assert.equal(await hello(modern.url, 'TLSv1.3'), 200);
      await assert.rejects(hello(modern.url, 'TLSv1.2'), /version|alert|protocol/i);
    } finally {
      await modern.stop();
    }
    const custom = await startKbs(tlsConfig('tls_profile = "custom"\ntls_min_version = "1.2"\ntls_groups = "NoSuchGroup:X25519:secp256r1"\n'));
    try {
      assert.equal(await hello(custom.url, 'TLSv1.2'), 200);
    } finally {
      await custom.stop();
    }
    await assert.rejects(startKbs(tlsConfig('tls_groups = "NoSuchGroup"\n')), /none of these groups/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Resolves with the milliseconds until the server closed `socket` (or `giveUpMs`, when it did not). */
function closedAfter(socket: net.Socket, giveUpMs: number): Promise<number> {
  const start = Date.now();
  return new Promise((resolve) => {
    const t = setTimeout(() => socket.destroy(), giveUpMs);
    socket.on('error', () => {});
    // Read what the server sends (a 408), or the stream never ends and never closes.
    socket.resume();
    socket.on('close', () => {
      clearTimeout(t);
      resolve(Date.now() - start);
    });
  });
}

test('over TLS, a client that never finishes its handshake or trickles its headers is cut off after header_timeout_secs', { skip: toolMissing('openssl') }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-tls-slow-'));
  try {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const h = await startKbs((c) => {
      c.http_server.insecure_http = false;
      c.http_server.private_key = join(dir, 'key.pem');
      c.http_server.certificate = join(dir, 'cert.pem');
      c.http_server.header_timeout_secs = 1;
      c.http_server.request_timeout_secs = 2;
    });
    try {
      const port = Number(new URL(h.url).port);
      // A TCP connection that never says a word (no ClientHello).
      const silent = net.connect({ host: '127.0.0.1', port });
      const silentMs = await closedAfter(silent, 6000);
      assert.ok(silentMs >= 900 && silentMs < 3000, `silent client closed after ${silentMs} ms`);
      // A TLS client that completes the handshake, then sends a header line every 200 ms.
      const slow = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(join(dir, 'cert.pem')) }, () => slow.write('GET /healthz HTTP/1.1\r\nHost: kbs\r\n'));
      const drip = setInterval(() => slow.writable && slow.write('X-Slow: a\r\n'), 200);
      const slowMs = await closedAfter(slow, 6000);
      clearInterval(drip);
      assert.ok(slowMs >= 900 && slowMs < 3000, `slow TLS client closed after ${slowMs} ms`);
    } finally {
      await h.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
