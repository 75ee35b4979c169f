import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
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
