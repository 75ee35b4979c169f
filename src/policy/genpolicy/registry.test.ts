import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { TestRegistry, blobOf, buildImage, buildIndex } from '../../test-support/oci-registry.js';
import { buildTar } from '../../test-support/tar-build.js';
import { RegistryClient, authFiles, lookupCredentials, parseChallenge, parseImageRef } from './registry.js';

const tmp = mkdtempSync(join(tmpdir(), 'cocokit-registry-'));
const noAuth = { env: {}, home: join(tmp, 'nohome') };

const AMD = buildImage({ Env: ['PATH=/bin', 'ARCH=amd64'], Cmd: ['/bin/app'], User: '1000' }, [buildTar([{ path: 'bin/', type: 'dir' }, { path: 'bin/app', content: 'amd64 app', mode: 0o755 }])]);
const ARM = buildImage({ Env: ['PATH=/bin', 'ARCH=arm64'], Cmd: ['/bin/app'] }, [buildTar([{ path: 'bin/app', content: 'arm64 app' }])], { architecture: 'arm64' });
const INDEX = buildIndex([
  { image: ARM, architecture: 'arm64' },
  { image: AMD, architecture: 'amd64' },
]);
const DOCKER = buildImage({ Entrypoint: ['/entry'], WorkingDir: '/w' }, [], { docker: true });

const open = new TestRegistry();
const bearer = new TestRegistry({ scheme: 'bearer', username: 'alice', password: 's3cret' });
const basic = new TestRegistry({ scheme: 'basic', username: 'bob', password: 'pw' });

test.before(async () => {
  for (const r of [open, bearer, basic]) {
    await r.start();
    r.pushIndex('team/app', 'v1', INDEX, [AMD, ARM]);
    r.push('team/single', 'latest', AMD);
    r.push('docker/img', '1.0', DOCKER);
  }
});
test.after(async () => {
  await Promise.all([open.stop(), bearer.stop(), basic.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

function client(r: TestRegistry, extra: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}): RegistryClient {
  return new RegistryClient({ insecureRegistries: [r.host], ...noAuth, ...extra });
}

async function rejects(p: Promise<unknown>, code: string, kind: string, text: RegExp): Promise<CocoError> {
  const e = await p.then(
    () => assert.fail('expected a CocoError'),
    (x: unknown) => x,
  );
  assert.ok(e instanceof CocoError, `not a CocoError: ${String(e)}`);
  assert.equal(e.code, code);
  assert.equal(e.kind, kind);
  assert.match(e.message, text);
  return e;
}

test('references resolve like container runtimes name them', () => {
  assert.deepEqual(parseImageRef('nginx'), { text: 'nginx', registry: 'docker.io', host: 'registry-1.docker.io', repository: 'library/nginx', tag: 'latest', digest: undefined });
  assert.deepEqual(parseImageRef('bitnami/redis:7'), { text: 'bitnami/redis:7', registry: 'docker.io', host: 'registry-1.docker.io', repository: 'bitnami/redis', tag: '7', digest: undefined });
  const d = `sha256:${'ab'.repeat(32)}`;
  assert.deepEqual(parseImageRef(`localhost:5000/a/b@${d}`), { text: `localhost:5000/a/b@${d}`, registry: 'localhost:5000', host: 'localhost:5000', repository: 'a/b', tag: undefined, digest: d });
  assert.equal(parseImageRef('quay.io/prometheus/busybox:latest').host, 'quay.io');
  assert.equal(parseImageRef(`mcr.microsoft.com/oss/kubernetes/pause:3.6@${d}`).tag, '3.6');
  for (const badRef of ['', 'UPPER/case', 'a@sha256:12', 'a:b:c/d', 'x:', 'a//b']) assert.throws(() => parseImageRef(badRef), (e: unknown) => e instanceof CocoError && e.code === 'REGISTRY');
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      try {
        parseImageRef(s);
      } catch (e) {
        if (!(e instanceof CocoError)) throw e;
      }
    }),
  );
});

test('WWW-Authenticate challenges parse into scheme and parameters', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' },
  });
  assert.deepEqual(parseChallenge('Basic realm="x y"'), { scheme: 'basic', params: { realm: 'x y' } });
});

test('a tag reference names an index: the linux/amd64 manifest and its config are fetched and checked', async () => {
  const img = await client(open).fetchImage(`${open.host}/team/app:v1`);
  assert.equal(img.manifestDigest, AMD.manifest.digest);
  assert.equal(img.configDigest, AMD.config.digest);
  assert.deepEqual((img.config.config as { Env: string[] }).Env, ['PATH=/bin', 'ARCH=amd64']);
  assert.deepEqual(
    img.layers.map((l) => l.digest),
    AMD.layers.map((l) => l.blob.digest),
  );
  const layer = await client(open).fetchBlob(`${open.host}/team/app:v1`, img.layers[0]!);
  assert.deepEqual(Buffer.from(layer), AMD.layers[0]!.blob.bytes);
});

test('the platform is configurable', async () => {
  const img = await client(open, { platform: { os: 'linux', architecture: 'arm64' } }).fetchImage(`${open.host}/team/app:v1`);
  assert.equal(img.manifestDigest, ARM.manifest.digest);
  assert.deepEqual((img.config.config as { Env: string[] }).Env, ['PATH=/bin', 'ARCH=arm64']);
  await rejects(client(open, { platform: { os: 'linux', architecture: 's390x' } }).fetchImage(`${open.host}/team/app:v1`), 'REGISTRY', 'input', /has no manifest for linux\/s390x/);
});

test('digest references: an index digest, a manifest digest, a Docker v2 manifest', async () => {
  const byIndex = await client(open).fetchImage(`${open.host}/team/app@${INDEX.digest}`);
  assert.equal(byIndex.configDigest, AMD.config.digest);
  const byManifest = await client(open).fetchImage(`${open.host}/team/single@${AMD.manifest.digest}`);
  assert.equal(byManifest.manifestDigest, AMD.manifest.digest);
  const docker = await client(open).fetchImage(`${open.host}/docker/img:1.0`);
  assert.deepEqual((docker.config.config as { Entrypoint: string[] }).Entrypoint, ['/entry']);
  assert.equal(docker.layers.length, 0);
});

test('content that does not match its digest is refused (manifest by digest, config blob, layer blob)', async () => {
  const r = new TestRegistry();
  await r.start();
  try {
    const other = blobOf('{"schemaVersion":2}');
    r.putManifest('x/y', AMD.manifest.digest, other.bytes, 'application/vnd.oci.image.manifest.v1+json');
    await rejects(client(r).fetchImage(`${r.host}/x/y@${AMD.manifest.digest}`), 'REGISTRY', 'input', /content does not match its digest/);
    // The manifest is right but the config blob stored under its digest is not.
    r.putManifest('x/y', 'cfg', AMD.manifest.bytes, AMD.mediaType);
    const tampered = Buffer.from(AMD.config.bytes);
    tampered[tampered.length - 2] ^= 1;
    r.blobs.set(AMD.config.digest, tampered);
    await rejects(client(r).fetchImage(`${r.host}/x/y:cfg`), 'REGISTRY', 'input', /blob: content does not match its digest/);
    const layer = Buffer.from(AMD.layers[0]!.blob.bytes);
    layer[20] ^= 0xff;
    r.blobs.set(AMD.layers[0]!.blob.digest, layer);
    await rejects(client(r).fetchBlob(`${r.host}/x/y:cfg`, { mediaType: 'x', digest: AMD.layers[0]!.blob.digest, size: layer.length }), 'REGISTRY', 'input', /does not match its digest/);
    // A registry whose Docker-Content-Digest header disagrees with the body.
    const res = await fetch(`http://${r.host}/v2/x/y/manifests/cfg`);
    assert.equal(res.headers.get('docker-content-digest'), AMD.manifest.digest);
  } finally {
    await r.stop();
  }
});

test('bearer-token auth with credentials from a docker config file', async () => {
  const home = join(tmp, 'home-bearer');
  mkdirSync(join(home, '.docker'), { recursive: true });
  writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [bearer.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }));
  const before = bearer.log.filter((l) => l.endsWith('/token')).length;
  const img = await client(bearer, { env: {}, home }).fetchImage(`${bearer.host}/team/app:v1`);
  assert.equal(img.configDigest, AMD.config.digest);
  // One token answers the challenge and is reused for the index, the manifest and the config.
  assert.equal(bearer.log.filter((l) => l.endsWith('/token')).length, before + 1);
});

test('REGISTRY_AUTH_FILE and $XDG_RUNTIME_DIR/containers/auth.json come before ~/.docker/config.json', async () => {
  const file = join(tmp, 'auth.json');
  writeFileSync(file, JSON.stringify({ auths: { [bearer.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }));
  const home = join(tmp, 'home-wrong');
  mkdirSync(join(home, '.docker'), { recursive: true });
  writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [bearer.host]: { auth: Buffer.from('alice:wrong').toString('base64') } } }));
  assert.deepEqual(authFiles({ REGISTRY_AUTH_FILE: file, XDG_RUNTIME_DIR: '/run/user/1' }, home), [file, '/run/user/1/containers/auth.json', join(home, '.docker', 'config.json')]);
  assert.deepEqual(lookupCredentials(bearer.host, authFiles({ REGISTRY_AUTH_FILE: file }, home)), { username: 'alice', password: 's3cret' });
  const img = await client(bearer, { env: { REGISTRY_AUTH_FILE: file }, home }).fetchImage(`${bearer.host}/team/single:latest`);
  assert.equal(img.manifestDigest, AMD.manifest.digest);
  const xdg = join(tmp, 'xdg');
  mkdirSync(join(xdg, 'containers'), { recursive: true });
  writeFileSync(join(xdg, 'containers', 'auth.json'), JSON.stringify({ auths: { [`https://${bearer.host}`]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }));
  assert.equal((await client(bearer, { env: { XDG_RUNTIME_DIR: xdg }, home }).fetchImage(`${bearer.host}/team/single:latest`)).manifestDigest, AMD.manifest.digest);
  // Wrong credentials: the token endpoint refuses them.
  await rejects(client(bearer, { env: {}, home }).fetchImage(`${bearer.host}/team/single:latest`), 'REGISTRY', 'auth', /token endpoint .*HTTP 401 \(credentials refused\)/);
  // A malformed auth file is named.
  const broken = join(tmp, 'broken.json');
  writeFileSync(broken, '{not json');
  await rejects(client(bearer, { env: { REGISTRY_AUTH_FILE: broken }, home }).fetchImage(`${bearer.host}/team/single:latest`), 'REGISTRY_AUTH_FILE', 'input', /broken\.json is not JSON/);
});

test('401 without credentials: anonymous token refused, Basic challenge with nothing to answer', async () => {
  const e = await rejects(client(bearer).fetchImage(`${bearer.host}/team/app:v1`), 'REGISTRY', 'auth', /HTTP 401/);
  assert.match(e.message, new RegExp(`^${bearer.host.replace(/\./g, '\\.')}/team/app:v1: `));
  await rejects(client(basic).fetchImage(`${basic.host}/team/app:v1`), 'REGISTRY', 'auth', /wants Basic credentials/);
});

test('Basic auth challenge answered from the auth file', async () => {
  const file = join(tmp, 'basic.json');
  writeFileSync(file, JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from('bob:pw').toString('base64') } } }));
  const img = await client(basic, { env: { REGISTRY_AUTH_FILE: file } }).fetchImage(`${basic.host}/team/app:v1`);
  assert.equal(img.configDigest, AMD.config.digest);
  assert.equal(basic.log.filter((l) => l.endsWith('/token')).length, 0);
});

test('plain http is refused unless the registry is listed as insecure', async () => {
  await rejects(new RegistryClient(noAuth).fetchImage(`${open.host}/team/app:v1`), 'REGISTRY', 'unreachable', /https:\/\/127\.0\.0\.1:\d+\/v2\/team\/app\/manifests\/v1/);
});

test('unknown images and unreachable registries fail with the reference named', async () => {
  await rejects(client(open).fetchImage(`${open.host}/team/none:v1`), 'REGISTRY', 'notfound', /team\/none:v1: manifest v1: HTTP 404/);
  await rejects(new RegistryClient({ ...noAuth, insecureRegistries: ['127.0.0.1:9'], timeoutMs: 2000 }).fetchImage('127.0.0.1:9/a:b'), 'REGISTRY', 'unreachable', /127\.0\.0\.1:9\/a:b/);
});

test('oversized manifests and blobs are refused before they are read whole', async () => {
  const r = new TestRegistry();
  await r.start();
  try {
    r.putManifest('big/m', 'v', Buffer.alloc(5 * 1024 * 1024, 0x20), 'application/vnd.oci.image.manifest.v1+json');
    await rejects(client(r).fetchImage(`${r.host}/big/m:v`), 'REGISTRY', 'limit', /over the limit of 4194304/);
    r.push('big/c', 'v', AMD);
    await rejects(client(r, { maxConfigBytes: 10 }).fetchImage(`${r.host}/big/c:v`), 'REGISTRY', 'limit', /config .* over the limit of 10/);
    await rejects(client(r, { maxLayerBytes: 10 }).fetchBlob(`${r.host}/big/c:v`, { mediaType: 'x', digest: AMD.layers[0]!.blob.digest, size: AMD.layers[0]!.blob.size }), 'REGISTRY', 'limit', /over the limit of 10/);
  } finally {
    await r.stop();
  }
});

test('random bytes as a manifest or index: a CocoError, never a crash', async () => {
  const r = new TestRegistry();
  await r.start();
  try {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json'), async (bytes, type) => {
        r.putManifest('fuzz/m', 'v', Buffer.from(bytes), type);
        await client(r)
          .fetchImage(`${r.host}/fuzz/m:v`)
          .then(
            () => assert.fail('random bytes accepted'),
            (e: unknown) => assert.ok(e instanceof CocoError, String(e)),
          );
      }),
      { numRuns: 60 },
    );
    for (const body of ['[]', '{"config":{"digest":"sha256:00","size":1,"mediaType":"x"}}', '{"manifests":[{"digest":1}]}', '{"config":null}']) {
      r.putManifest('fuzz/m', 'v', Buffer.from(body), 'application/vnd.oci.image.manifest.v1+json');
      await rejects(client(r).fetchImage(`${r.host}/fuzz/m:v`), 'REGISTRY', 'input', /fuzz\/m:v: /);
    }
  } finally {
    await r.stop();
  }
});
