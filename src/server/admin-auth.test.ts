import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { signAdminToken } from '../client/admin-client.js';
import { AdminAuthorizer } from './admin-auth.js';
import { generateEcKeyPair } from '../formats/jwk.js';
import { safeKeyPair } from '../formats/keygen.js';

const dir = mkdtempSync(join(tmpdir(), 'cocokit-admin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function keyPair(kind: 'ed25519' | 'es256') {
  const kp = kind === 'ed25519' ? safeKeyPair('ed25519') : generateEcKeyPair('P-256');
  const pub = join(dir, `${kind}-${Math.random()}.pem`);
  writeFileSync(pub, kp.publicKey.export({ format: 'pem', type: 'spki' }));
  return { pub, pem: kp.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), key: kp.privateKey };
}

const ACLS = [
  { role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' },
  { role: 'reader', allowed_endpoints: '^/kbs/v0/resource-policy$' },
];

test('EdDSA and ES256 admin tokens are accepted from their configured providers', async () => {
  const ed = keyPair('ed25519');
  const ec = keyPair('es256');
  const a = new AdminAuthorizer('AuthenticatedAuthorization', [{ public_key_uri: ed.pub }, { public_key_uri: `file://${ec.pub}` }], ACLS);
  assert.equal((await a.authorize(`Bearer ${await signAdminToken(ed.pem)}`, '/kbs/v0/resources'))?.role, 'admin');
  assert.equal((await a.authorize(`Bearer ${await signAdminToken(ec.pem)}`, '/kbs/v0/resources'))?.role, 'admin');
});

test('ACLs are per role and match the full URI including the query', async () => {
  const ed = keyPair('ed25519');
  const a = new AdminAuthorizer('AuthenticatedAuthorization', [{ public_key_uri: ed.pub }], ACLS);
  const reader = `Bearer ${await signAdminToken(ed.pem, 'reader')}`;
  await a.authorize(reader, '/kbs/v0/resource-policy');
  await assert.rejects(a.authorize(reader, '/kbs/v0/resource-policy?x=1'), /may not access/);
  await assert.rejects(a.authorize(reader, '/kbs/v0/resource/a/b/c'), /may not access/);
});

test('issuer and audience are enforced when configured', async () => {
  const ed = keyPair('ed25519');
  const a = new AdminAuthorizer('AuthenticatedAuthorization', [{ public_key_uri: ed.pub, issuer: 'TrusteeInDocker', audience: 'KBS' }], ACLS);
  await assert.rejects(a.authorize(`Bearer ${await signAdminToken(ed.pem)}`, '/kbs/v0/resources'), /iss/);
  const good = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' }).setIssuer('TrusteeInDocker').setAudience(['KBS']).setExpirationTime('5m').sign(ed.key);
  assert.equal((await a.authorize(`Bearer ${good}`, '/kbs/v0/resources'))?.role, 'admin');
  const noExp = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'EdDSA' }).setIssuer('TrusteeInDocker').setAudience('KBS').sign(ed.key);
  await assert.rejects(a.authorize(`Bearer ${noExp}`, '/kbs/v0/resources'), /exp/);
});

test('DenyAll refuses everything, InsecureAllowAll allows without a token, and a provider is required otherwise', async () => {
  await assert.rejects(new AdminAuthorizer('DenyAll', [], []).authorize(undefined, '/kbs/v0/resources'), /DenyAll/);
  assert.equal(await new AdminAuthorizer('InsecureAllowAll', [], []).authorize(undefined, '/kbs/v0/resources'), undefined);
  assert.throws(() => new AdminAuthorizer('AuthenticatedAuthorization', [], ACLS), /identity provider/);
});

test('a token may narrow the namespaces its provider and role are bound to, never widen them', async () => {
  const bound = keyPair('ed25519');
  const free = keyPair('ed25519');
  const acls = [
    { role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' },
    { role: 'tenant', allowed_endpoints: '^/kbs/v0/workloads$', namespaces: ['ns-t'] },
    { role: 'tenant', allowed_endpoints: '^/kbs/v0/workloads.*$', namespaces: ['ns-u'] },
  ];
  const a = new AdminAuthorizer('AuthenticatedAuthorization', [{ public_key_uri: bound.pub, namespaces: ['ns-a', 'ns-t'] }, { public_key_uri: free.pub }], acls);
  const ns = async (pem: string, role: string, claims: Record<string, unknown>, uri = '/kbs/v0/workloads') =>
    AdminAuthorizer.namespaceFor((await a.authorize(`Bearer ${await signAdminToken(pem, role, 300, new Date(), claims)}`, uri))!);
  assert.equal(await ns(bound.pem, 'admin', { namespace: 'ns-a' }), 'ns-a');
  await assert.rejects(ns(bound.pem, 'admin', { namespace: 'ns-b' }), /may not act in namespace "ns-b"/);
  await assert.rejects(ns(bound.pem, 'admin', {}), /names no "namespace"/);
  // Provider binding ∩ role binding: the matching ACL entries grant ns-t and ns-u, the key ns-a and ns-t.
  assert.equal(await ns(bound.pem, 'tenant', {}), 'ns-t');
  await assert.rejects(ns(bound.pem, 'tenant', { namespace: 'ns-u' }), /may not act/);
  // An unbound provider with an unbound role: any namespace the token names (the single-operator default).
  assert.equal(await ns(free.pem, 'admin', { namespace: 'anything' }), 'anything');
  await assert.rejects(ns(free.pem, 'tenant', { namespace: 'ns-a' }), /may not act/);
  assert.equal(await ns(free.pem, 'tenant', { namespace: 'ns-u' }), 'ns-u');
  // Only the entries matching this URI count: /kbs/v0/workloads/x matches the ns-u entry alone.
  assert.equal(await ns(free.pem, 'tenant', {}, '/kbs/v0/workloads/x'), 'ns-u');
  await assert.rejects(ns(free.pem, 'admin', { namespace: 7 }), /must be a string/);
  AdminAuthorizer.requireNamespace(undefined, 'x');
  assert.throws(() => AdminAuthorizer.requireNamespace({ role: 'r', namespaces: new Set(['a']) }, 'b'), /may not act in namespace "b"/);
});

test('an admin token living longer than the configured maximum, or issued in the future, is refused', async () => {
  const ed = keyPair('ed25519');
  const now = new Date('2026-01-01T00:00:00Z');
  const a = new AdminAuthorizer('AuthenticatedAuthorization', [{ public_key_uri: ed.pub }], ACLS, () => now);
  const ok = (t: string) => a.authorize(`Bearer ${t}`, '/kbs/v0/resources');
  const sign = (claims: { iat?: number; exp: number }) => {
    const j = new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'EdDSA' }).setExpirationTime(claims.exp);
    return (claims.iat === undefined ? j : j.setIssuedAt(claims.iat)).sign(ed.key);
  };
  const t = now.getTime() / 1000;
  // Within the default hour, and a few seconds of clock skew, is fine.
  assert.equal((await ok(await signAdminToken(ed.pem, 'admin', 3600, now)))?.role, 'admin');
  assert.equal((await ok(await sign({ iat: t + 30, exp: t + 330 })))?.role, 'admin');
  // Ten years ahead: by lifetime, by iat and, without iat, by exp alone.
  const decade = 10 * 365 * 86400;
  await assert.rejects(ok(await signAdminToken(ed.pem, 'admin', decade, now)), /lifetime/);
  await assert.rejects(ok(await sign({ iat: t + decade, exp: t + decade + 60 })), /iat.*future/);
  await assert.rejects(ok(await sign({ exp: t + decade })), /"exp" lies more than 3600 s ahead/);
  await assert.rejects(ok(await sign({ iat: t - decade, exp: t + decade })), /lifetime/);
  await assert.rejects(ok(await sign({ iat: t + 120, exp: t + 300 })), /iat.*future/);
  // The bounds come from configuration.
  const strict = new AdminAuthorizer('AuthenticatedAuthorization', [{ public_key_uri: ed.pub }], ACLS, () => now, { maxLifetimeSecs: 300, maxClockSkewSecs: 0 });
  await assert.rejects(strict.authorize(`Bearer ${await signAdminToken(ed.pem, 'admin', 301, now)}`, '/kbs/v0/resources'), /lifetime/);
  await strict.authorize(`Bearer ${await signAdminToken(ed.pem, 'admin', 300, now)}`, '/kbs/v0/resources');
});
