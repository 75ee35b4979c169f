import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import fc from 'fast-check';
import { vectorPath } from '../../test-support/vectors.js';
import { CocoError } from '../../errors.js';
import { extractPolicyData } from '../agent-rules.js';
import { generatePolicyData, podTemplates, type ImageConfig } from './generate.js';
import { loadSettings } from './settings.js';
import { readLayoutImage } from './oci-layout.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const GENPOLICY = vectorPath('rego', 'kata', 'genpolicy');
const SETTINGS = loadSettings(join(GENPOLICY, 'genpolicy-settings.json'));

/** Writes an OCI image layout holding one image (config + empty layer list) named `ref`; returns the config digest. */
export function writeLayout(dir: string, ref: string, config: ImageConfig): string {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (obj: unknown): { digest: string; size: number } => {
    const bytes = Buffer.from(JSON.stringify(obj));
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const cfg = put({ architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } });
  const manifest = put({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers: [] });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': ref } }] }));
  return cfg.digest;
}

const tmp = mkdtempSync(join(tmpdir(), 'cocokit-genpolicy-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

// The sample pod names quay.io/prometheus/busybox:latest; the suite builds an image with a busybox-like config.
const BUSYBOX: ImageConfig = { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] };
const busyboxDir = join(tmp, 'busybox');
const busyboxDigest = writeLayout(busyboxDir, 'latest', BUSYBOX);

function samplePod(): Json {
  const docs = parseAllDocuments(readFileSync(join(GENPOLICY, 'samples', 'pod-one-container.yaml'), 'utf8')).map((d) => d.toJS() as Json);
  return docs[0]!;
}

const SAMPLE_POLICY_DATA = extractPolicyData(readFileSync(join(GENPOLICY, 'samples', 'pod-one-container.decoded-policy.rego'), 'utf8')) as Json;

test('an OCI image layout built by the suite reads back with its digests checked', () => {
  const img = readLayoutImage(busyboxDir, 'latest');
  assert.equal(img.configDigest, busyboxDigest);
  assert.deepEqual(img.config.Env, BUSYBOX.Env);
  assert.deepEqual(img.config.Cmd, ['sh']);
  assert.throws(() => readLayoutImage(busyboxDir, 'other'), (e: unknown) => e instanceof CocoError && e.kind === 'input');
  // A flipped byte in the config blob is caught.
  const broken = join(tmp, 'broken');
  cpSync(busyboxDir, broken, { recursive: true });
  const blob = join(broken, 'blobs', 'sha256', busyboxDigest.slice(7));
  const bytes = readFileSync(blob);
  bytes[5] ^= 1;
  writeFileSync(blob, bytes);
  assert.throws(() => readLayoutImage(broken, 'latest'), /does not match its digest/);
});

test('random index.json contents are refused with an input error', () => {
  const dir = join(tmp, 'fuzz');
  mkdirSync(dir, { recursive: true });
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json()), (s) => {
      writeFileSync(join(dir, 'index.json'), s);
      try {
        readLayoutImage(dir);
        assert.fail('accepted');
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind === 'input', String(e));
      }
    }),
    { numRuns: 100 },
  );
});

test('a settings directory applies genpolicy-settings.d drop-ins in name order', () => {
  const dir = join(tmp, 'settings');
  mkdirSync(join(dir, 'genpolicy-settings.d'), { recursive: true });
  cpSync(join(GENPOLICY, 'genpolicy-settings.json'), join(dir, 'genpolicy-settings.json'));
  cpSync(join(GENPOLICY, 'drop-in-examples', '10-non-coco-drop-in.json'), join(dir, 'genpolicy-settings.d', '10-non-coco-drop-in.json'));
  writeFileSync(join(dir, 'genpolicy-settings.d', '90-local.json'), JSON.stringify([{ op: 'replace', path: '/cluster_config/guest_pull', value: true }]));
  const s = loadSettings(dir) as Json;
  assert.equal(s.cluster_config.emptydir_type, 'shared-fs');
  assert.equal(s.cluster_config.guest_pull, true, '90-local applies after 10-non-coco');
  assert.equal(s.request_defaults.UpdateEphemeralMountsRequest, true);
  writeFileSync(join(dir, 'genpolicy-settings.d', '95-bad.json'), JSON.stringify([{ op: 'replace', path: '/no/such', value: 1 }]));
  assert.throws(() => loadSettings(dir), /settings drop-in 95-bad\.json/);
});

test('the sample pod\'s busybox container: process, mounts, annotations and namespaces as genpolicy generated them', () => {
  const [t] = podTemplates(samplePod());
  const pd = generatePolicyData({ template: t!, settings: SETTINGS, images: new Map([['quay.io/prometheus/busybox:latest', BUSYBOX]]) }) as Json;
  assert.equal(pd.containers.length, 2);
  const [pause, box] = pd.containers;
  const [samplePause, sampleBox] = SAMPLE_POLICY_DATA.containers;
  for (const [field, mine, theirs] of [
    ['Process', box.OCI.Process, sampleBox.OCI.Process],
    ['Linux.Namespaces', box.OCI.Linux.Namespaces, sampleBox.OCI.Linux.Namespaces],
    ['Linux.MaskedPaths', box.OCI.Linux.MaskedPaths, sampleBox.OCI.Linux.MaskedPaths],
    ['Mounts', box.OCI.Mounts, sampleBox.OCI.Mounts],
    ['Root', box.OCI.Root, sampleBox.OCI.Root],
    ['pause Process', pause.OCI.Process, samplePause.OCI.Process],
    ['pause Mounts', pause.OCI.Mounts, samplePause.OCI.Mounts],
    ['pause Linux', pause.OCI.Linux, samplePause.OCI.Linux],
  ] as const) {
    assert.deepEqual(mine, theirs, field);
  }
  // The sample was generated without a namespace by an older generator that left it empty; the current
  // settings say "default".
  const strip = (a: Json): Json => Object.fromEntries(Object.entries(a).filter(([k]) => k !== 'io.kubernetes.cri.sandbox-namespace'));
  assert.deepEqual(strip(box.OCI.Annotations), strip(sampleBox.OCI.Annotations));
  assert.deepEqual(strip(pause.OCI.Annotations), strip(samplePause.OCI.Annotations));
  assert.equal(box.OCI.Annotations['io.kubernetes.cri.sandbox-namespace'], 'default');
  assert.deepEqual(pd.sandbox, SAMPLE_POLICY_DATA.sandbox);
});
