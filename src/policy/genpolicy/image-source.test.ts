import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { TestRegistry, buildImage } from '../../test-support/oci-registry.js';
import { buildTar } from '../../test-support/tar-build.js';
import { writeLayout } from '../../test-support/oci-layout.js';
import { vectorPath } from '../../test-support/vectors.js';
import { run } from '../../cli/program.js';
import { bufferIO } from '../../cli/io.js';
import { extractPolicyData } from '../agent-rules.js';
import { readDockerArchive } from './docker-archive.js';
import { imageRefsOf, parseImageMap, resolveImages } from './image-source.js';
import { LayerCache, layerVerity } from './layers.js';

const tmp = mkdtempSync(join(tmpdir(), 'cocokit-imgsrc-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const GENPOLICY = vectorPath('rego', 'kata', 'genpolicy');

const TAR = buildTar([{ path: 'app/', type: 'dir' }, { path: 'app/run', content: Buffer.alloc(9000, 'r'), mode: 0o755 }]);
const PAUSE_TAR = buildTar([{ path: 'pause', content: Buffer.alloc(5000, 'p'), mode: 0o755 }]);
const PAUSE = buildImage({ User: '65535:65535', Entrypoint: ['/pause'] }, [PAUSE_TAR]);
const IMAGE = buildImage({ Env: ['PATH=/bin', 'FROM=archive'], Entrypoint: ['/app/run'], WorkingDir: '/app' }, [TAR]);

/** A `docker save` archive of IMAGE tagged `tags` (legacy layout: <hex>.json, <id>/layer.tar). */
function dockerSave(path: string, tags: string[], configName?: string): void {
  const hex = IMAGE.config.digest.slice(7);
  const name = configName ?? `${hex}.json`;
  writeFileSync(
    path,
    buildTar([
      { path: 'manifest.json', content: JSON.stringify([{ Config: name, RepoTags: tags, Layers: ['abc/layer.tar'] }]) },
      { path: name, content: IMAGE.config.bytes },
      { path: 'abc/', type: 'dir' },
      { path: 'abc/layer.tar', content: TAR },
    ]),
  );
}

test('docker-archive: the image by tag, by index or alone; its config checked against the digest in its name', () => {
  const p = join(tmp, 'save.tar');
  dockerSave(p, ['registry.example/app:1', 'nginx:latest']);
  for (const ref of [undefined, 'registry.example/app:1', 'docker.io/library/nginx', '@0']) {
    const img = readDockerArchive(p, ref);
    assert.equal(img.configDigest, IMAGE.config.digest);
    assert.deepEqual((img.config.config as { Env: string[] }).Env, ['PATH=/bin', 'FROM=archive']);
    assert.equal(img.layers.length, 1);
  }
  assert.throws(() => readDockerArchive(p, 'other:1'), (e: unknown) => e instanceof CocoError && e.code === 'DOCKER_ARCHIVE' && /no single image tagged/.test(e.message));
  const wrong = join(tmp, 'wrong.tar');
  dockerSave(wrong, ['x:1'], `${'0'.repeat(64)}.json`);
  assert.throws(() => readDockerArchive(wrong), (e: unknown) => e instanceof CocoError && /does not match the digest its name carries/.test(e.message));
  const junk = join(tmp, 'junk.tar');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), (b) => {
      writeFileSync(junk, b);
      try {
        readDockerArchive(junk);
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
      }
    }),
    { numRuns: 60 },
  );
});

test('--image-map as pairs or a JSON file; pinned digests must name the local copy unless checks are off', async () => {
  writeLayout(join(tmp, 'layout'), '1', { Env: ['FROM=layout'] });
  dockerSave(join(tmp, 'save2.tar'), ['a:1']);
  const file = join(tmp, 'map.json');
  const pinned = `registry.example/app@${IMAGE.config.digest}`;
  writeFileSync(file, JSON.stringify({ 'registry.example/app:1': 'docker-archive:save2.tar', [pinned]: 'docker-archive:save2.tar', 'registry.example/other:2': 'oci:layout:1' }));
  const map = parseImageMap(['map.json', 'x/y:3=oci:layout:1'], tmp);
  assert.equal(map.get('registry.example/app:1'), `docker-archive:${join(tmp, 'save2.tar')}`);
  assert.equal(map.get('x/y:3'), `oci:${join(tmp, 'layout')}:1`);
  const got = await resolveImages(['registry.example/app:1', pinned, 'registry.example/other:2'], { map, baseDir: tmp });
  assert.deepEqual(got.get(pinned)!.config.Env, ['PATH=/bin', 'FROM=archive']);
  assert.deepEqual(got.get('registry.example/other:2')!.config.Env, ['FROM=layout']);
  const wrongPin = `registry.example/app@sha256:${'1'.repeat(64)}`;
  map.set(wrongPin, `docker-archive:${join(tmp, 'save2.tar')}`);
  await assert.rejects(resolveImages([wrongPin], { map, baseDir: tmp }), (e: unknown) => e instanceof CocoError && e.code === 'GENPOLICY_IMAGE_DIGEST');
  assert.equal((await resolveImages([wrongPin], { map, baseDir: tmp, verifyDigest: false })).get(wrongPin)!.configDigest, IMAGE.config.digest);
  await assert.rejects(resolveImages(['nothing:1'], { map, baseDir: tmp }), (e: unknown) => e instanceof CocoError && /no local copy and no registry access/.test(e.message));
  for (const bad of [['nonsense'], ['a=b'], ['missing.json']]) assert.throws(() => parseImageMap(bad, tmp), (e: unknown) => e instanceof CocoError);
  writeFileSync(join(tmp, 'bad.json'), '{"a": 3}');
  assert.throws(() => parseImageMap(['bad.json'], tmp), (e: unknown) => e instanceof CocoError && e.code === 'GENPOLICY_IMAGE_MAP');
});

test('layer root hashes come out the same from a registry, a docker archive and the cache', async () => {
  const reg = new TestRegistry();
  await reg.start();
  try {
    reg.push('team/app', '1', IMAGE);
    const expected = (await layerVerity(TAR, IMAGE.layers[0]!.diffId)).verity_hash;
    const ref = `${reg.host}/team/app:1`;
    const fromRegistry = await resolveImages([ref], { baseDir: tmp, registry: { insecureRegistries: [reg.host], env: {}, home: tmp }, layers: { cache: new LayerCache() } });
    assert.deepEqual(fromRegistry.get(ref)!.config.layers, [{ diff_id: IMAGE.layers[0]!.diffId, verity_hash: expected }]);
    dockerSave(join(tmp, 'save3.tar'), ['a:1']);
    const fromArchive = await resolveImages(['docker-archive:save3.tar'], { baseDir: tmp, layers: { cache: new LayerCache() } });
    assert.deepEqual(fromArchive.get('docker-archive:save3.tar')!.config.layers, [{ diff_id: IMAGE.layers[0]!.diffId, verity_hash: expected }]);
  } finally {
    await reg.stop();
  }
});

test('policy generate from a loopback registry with guest pull off: layer storages, the cache file, and a cached re-generation well under a second', async () => {
  const reg = new TestRegistry({ scheme: 'bearer', username: 'u', password: 'p' });
  await reg.start();
  try {
    reg.push('team/app', '1', IMAGE);
    const dir = join(tmp, 'cli');
    mkdirSync(join(dir, 'settings', 'genpolicy-settings.d'), { recursive: true });
    cpSync(join(GENPOLICY, 'genpolicy-settings.json'), join(dir, 'settings', 'genpolicy-settings.json'));
    // The pause image comes from the same registry: with guest pull off its layers are the pause container's storages.
    reg.push('pause', '3.6', PAUSE);
    writeFileSync(
      join(dir, 'settings', 'genpolicy-settings.d', '50-host-pull.json'),
      JSON.stringify([
        { op: 'replace', path: '/cluster_config/guest_pull', value: false },
        { op: 'replace', path: '/cluster_config/pause_container_image', value: `${reg.host}/pause:3.6` },
      ]),
    );
    mkdirSync(join(dir, '.docker'));
    writeFileSync(join(dir, '.docker', 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('u:p').toString('base64') } } }));
    const pod = `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: app, image: "${reg.host}/team/app:1"}]\n`;
    assert.deepEqual(imageRefsOf(pod), [`${reg.host}/team/app:1`]);
    writeFileSync(join(dir, 'pod.yaml'), pod);
    const args = ['policy', 'generate', '-y', 'pod.yaml', '-j', 'settings', '--insecure-registry', reg.host, '-u', '-r'];
    const env = { HOME: dir };
    const first = bufferIO(env, dir);
    assert.equal(await run(args, first), 0, first.err());
    const pd = extractPolicyData(first.out()) as { containers: Array<{ storages: Array<{ driver: string; options: string[] }> }> };
    const expected = (await layerVerity(TAR, IMAGE.layers[0]!.diffId)).verity_hash;
    const overlay = pd.containers[1]!.storages.find((s) => s.driver === 'overlayfs')!;
    assert.equal(overlay.options[1], expected);
    assert.deepEqual(pd.containers[1]!.storages[0]!.options, ['$(hash0)']);
    const pauseHash = (await layerVerity(PAUSE_TAR, PAUSE.layers[0]!.diffId)).verity_hash;
    assert.equal(pd.containers[0]!.storages.find((s) => s.driver === 'overlayfs')!.options[1], pauseHash);
    const cache = JSON.parse(readFileSync(join(dir, 'layers-cache.json'), 'utf8'));
    assert.deepEqual(
      cache.map((r: { diff_id: string; verity_hash: string }) => [r.diff_id, r.verity_hash]).sort(),
      [
        [IMAGE.layers[0]!.diffId, expected],
        [PAUSE.layers[0]!.diffId, pauseHash],
      ].sort(),
    );
    // Regenerating: the layer comes from the cache (no blob request), fast.
    const again = bufferIO(env, dir);
    const t0 = performance.now();
    assert.equal(await run(args, again), 0, again.err());
    const ms = performance.now() - t0;
    assert.equal(again.out(), first.out());
    assert.equal(reg.log.filter((l) => l.endsWith(`/blobs/${IMAGE.layers[0]!.blob.digest}`)).length, 1);
    assert.ok(ms < 1000, `cached regeneration took ${ms.toFixed(0)} ms`);
    // Without credentials the registry refuses, and the error names the image.
    const anon = bufferIO({ HOME: tmp }, dir);
    assert.notEqual(await run(args, anon), 0);
    assert.match(anon.err(), /team\/app:1: .*401/);
  } finally {
    await reg.stop();
  }
});
