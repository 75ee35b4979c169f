import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import fc from 'fast-check';
import { vectorPath } from '../../test-support/vectors.js';
import { writeLayout } from '../../test-support/oci-layout.js';
import { CocoError } from '../../errors.js';
import { agentPolicyText, agentRulesText, extractPolicyData } from '../agent-rules.js';
import { AGENT_POLICY_MODULE } from '../agent.js';
import { Engine } from '../../rego/index.js';
import { generatePolicyData, podTemplates, type ImageConfig } from './generate.js';
import { applyDropIns, loadSettings } from './settings.js';
import { readLayoutImage } from './oci-layout.js';
import { generateForYaml, localImages, type GeneratedPod } from './pod.js';
import { usersFiles } from './image-source.js';
import { INITDATA_ANNOTATION, decodeInitDataAnnotation, parseInitData } from '../../measure/initdata.js';

type Json = Record<string, any>;

const GENPOLICY = vectorPath('rego', 'kata', 'genpolicy');
const SETTINGS = loadSettings(join(GENPOLICY, 'genpolicy-settings.json'));

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

// --- Whole documents: every workload kind gets its pod template annotated -----------------------------------

const WORKLOADS = `apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {GREETING: hello, MODE: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret}
data: {TOKEN: c2VjcmV0}
---
${['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicationController']
  .map(
    (kind) => `apiVersion: apps/v1
kind: ${kind}
metadata: {name: ${kind.toLowerCase()}-app}
spec:
  template:
    metadata: {labels: {app: x}}
    spec:
      runtimeClassName: kata-cc
      containers:
        - name: app
          image: registry.example/app:1
          envFrom: [{configMapRef: {name: app-config}}]
          env:
            - {name: TOKEN, valueFrom: {secretKeyRef: {name: app-secret, key: TOKEN}}}
          readinessProbe: {exec: {command: [cat, /tmp/ready]}}
`,
  )
  .join('---\n')}---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: job, image: registry.example/app:1, command: [/bin/run]}]
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: listed, namespace: team-a}
    spec:
      containers: [{name: one, image: registry.example/app:1}]
`;

const APP: ImageConfig = { Env: ['PATH=/bin'], Entrypoint: ['/app'], Cmd: ['--serve'], User: '1000:1000', WorkingDir: '/srv' };
const appDir = join(tmp, 'app');
writeLayout(appDir, '1', APP);

test('generate: every workload kind, CronJob and List items get the init-data annotation; ConfigMaps and Secrets feed env', () => {
  const { yaml, pods } = generateForYaml(WORKLOADS, { settings: SETTINGS, images: localImages(new Map([['registry.example/app:1', `oci:${appDir}:1`]]), tmp) });
  assert.deepEqual(
    pods.map((p) => p.kind),
    ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicationController', 'CronJob', 'Pod'],
  );
  const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Json);
  const annotated = (o: Json): string | undefined => o?.metadata?.annotations?.[INITDATA_ANNOTATION];
  assert.equal(annotated(docs[2].spec.template), pods[0]!.annotation);
  assert.equal(annotated(docs[8].spec.jobTemplate.spec.template), pods[6]!.annotation);
  assert.equal(annotated(docs[9].items[0]), pods[7]!.annotation);
  // The annotation decodes to an init-data document whose policy is cocokit's rules over the policy_data.
  const toml = new TextDecoder().decode(decodeInitDataAnnotation(pods[0]!.annotation));
  const initData = parseInitData(new TextEncoder().encode(toml));
  assert.equal(initData.data['policy.rego'], pods[0]!.policy);
  assert.deepEqual(extractPolicyData(pods[0]!.policy), JSON.parse(JSON.stringify(pods[0]!.policyData)));
  const app = pods[0]!.policyData.containers[1].OCI.Process;
  assert.deepEqual(app.Args, ['/app', '--serve']);
  assert.deepEqual(app.Env, ['PATH=/bin', 'HOSTNAME=$(host-name)', 'GREETING=hello', 'MODE=fast', 'TOKEN=secret']);
  assert.equal(app.Cwd, '/srv');
  assert.equal(app.User.UID, 1000);
  assert.deepEqual(pods[0]!.policyData.containers[1].exec_commands, [['cat', '/tmp/ready']]);
  assert.deepEqual(pods[6]!.policyData.containers[1].OCI.Process.Args, ['/bin/run'], 'a command alone drops the image cmd');
  assert.equal(pods[7]!.policyData.containers[1].OCI.Annotations['io.kubernetes.cri.sandbox-namespace'], 'team-a');
  assert.match(pods[0]!.policyData.containers[0].OCI.Annotations['io.kubernetes.cri.sandbox-name'], /\$\(generated-name\)/);
  for (const p of pods) assert.ok(p.sizes.annotation > 0 && p.sizes.annotation < p.sizes.policy, 'gzip makes the annotation smaller than the policy');
});

test('generate: a digest-pinned image must be the local copy; an unknown image or a missing ConfigMap is an input error', () => {
  const pinned = `registry.example/app@sha256:${'0'.repeat(64)}`;
  const pod = `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: "${pinned}"}]\n`;
  const isInput = (e: unknown): boolean => e instanceof CocoError && e.kind === 'input';
  assert.throws(() => generateForYaml(pod, { settings: SETTINGS, images: localImages(new Map([[pinned, `oci:${appDir}:1`]]), tmp) }), /pins sha256:0{64} but the local copy/);
  const lenient = generateForYaml(pod, { settings: SETTINGS, images: localImages(new Map([[pinned, `oci:${appDir}:1`]]), tmp, false) });
  assert.equal(lenient.pods.length, 1);
  assert.throws(() => generateForYaml(pod, { settings: SETTINGS, images: localImages(new Map(), tmp) }), isInput);
  const missing = `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: "oci:${appDir}:1", envFrom: [{configMapRef: {name: nope}}]}]\n`;
  assert.throws(() => generateForYaml(missing, { settings: SETTINGS, images: localImages(new Map(), tmp) }), /envFrom names "nope"/);
});

test('generate: over --max-annotation-bytes fails and names the biggest contributors', () => {
  const pod = `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: big, image: "oci:${appDir}:1", env: [{name: BLOB, value: "${'x'.repeat(3000)}"}]}]\n`;
  assert.throws(
    () => generateForYaml(pod, { settings: SETTINGS, images: localImages(new Map(), tmp), maxAnnotationBytes: 2000 }),
    (e: unknown) => e instanceof CocoError && e.kind === 'input' && /over the limit of 2000; biggest contributors: containers\[1\] big: \d+ bytes/.test(e.message),
  );
});

test('generate: malformed or hostile YAML is an input error, never a crash', () => {
  for (const text of ['kind: Pod\nspec: [1]\n', 'a: &a [*a, *a]\nb: [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n', ': : :\n  - x', 'kind: Deployment\nspec: {template: {}}\n']) {
    try {
      generateForYaml(text, { settings: SETTINGS, images: localImages(new Map(), tmp) });
    } catch (e) {
      assert.ok(e instanceof CocoError && e.kind === 'input', `${JSON.stringify(text)}: ${String(e)}`);
    }
  }
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      try {
        generateForYaml(s, { settings: SETTINGS, images: localImages(new Map(), tmp) });
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind === 'input', String(e));
      }
    }),
    { numRuns: 200 },
  );
});

// --- Volumes and security contexts --------------------------------------------------------------------------

const VOLUMES_POD = `apiVersion: v1
kind: Pod
metadata: {name: vols}
spec:
  securityContext: {runAsUser: 2000, runAsGroup: 3000, fsGroup: 4000, supplementalGroups: [5000, 3000]}
  volumes:
    - {name: scratch, emptyDir: {}}
    - {name: cache, emptyDir: {medium: Memory}}
    - {name: settings, configMap: {name: app-config}}
    - {name: creds, secret: {secretName: app-secret}}
    - {name: token, projected: {sources: [{serviceAccountToken: {path: token}}]}}
    - {name: podinfo, downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}}
    - {name: serial, hostPath: {path: /dev/ttyS0}}
    - {name: results, hostPath: {path: /tmp/results}}
    - {name: shared, hostPath: {path: /mnt/shared}}
    - {name: data, persistentVolumeClaim: {claimName: data-claim}}
  containers:
    - name: app
      image: "oci:app:1"
      terminationMessagePath: /tmp/term
      securityContext: {runAsUser: 1001, capabilities: {drop: [NET_RAW], add: [NET_ADMIN]}}
      volumeMounts:
        - {name: scratch, mountPath: /scratch}
        - {name: scratch, mountPath: /scratch-logs, subPath: logs.d}
        - {name: cache, mountPath: /cache}
        - {name: settings, mountPath: /etc/app.d, readOnly: true}
        - {name: creds, mountPath: /etc/creds}
        - {name: token, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}
        - {name: podinfo, mountPath: /etc/podinfo}
        - {name: serial, mountPath: /dev/ttyS0}
        - {name: results, mountPath: /results, readOnly: true}
        - {name: shared, mountPath: /shared, mountPropagation: Bidirectional}
        - {name: data, mountPath: /data}
    - {name: all, image: "oci:app:1", securityContext: {privileged: true, capabilities: {add: [SYS_ADMIN]}}}
    - {name: none, image: "oci:app:1", securityContext: {capabilities: {drop: [ALL]}}}
    - {name: same, image: "oci:app:1", securityContext: {capabilities: {drop: [KILL], add: [KILL]}}}
`;

const sharedFs = applyDropIns(structuredClone(SETTINGS), [{ name: 'x', patch: [{ op: 'replace', path: '/cluster_config/emptydir_type', value: 'shared-fs' }] }]) as Json;

function volumePod(settings: Json, yaml = VOLUMES_POD): Json {
  return generateForYaml(yaml, { settings, images: localImages(new Map(), tmp) }).pods[0]!.policyData;
}

test('volumes: each volume type becomes the mount (and storage) the runtime sends for it', () => {
  const app = volumePod(sharedFs).containers[1];
  const byDest = (d: string): Json => (app.OCI.Mounts as Json[]).find((m) => m.destination === d)!;
  const bind = (src: string, opts: string[]): Json => ({ source: src, type_: 'bind', options: opts });
  const expected: [string, Json][] = [
    ['/scratch', { source: '^$(cpath)/$(sandbox-id)/rootfs/local/scratch$', type_: 'local', options: ['rbind', 'rprivate', 'rw'] }],
    ['/scratch-logs', { source: '^$(cpath)/$(sandbox-id)/rootfs/local/scratch/logs\\.d$', type_: 'local', options: ['rbind', 'rprivate', 'rw'] }],
    ['/cache', { source: '^/run/kata-containers/sandbox/ephemeral/cache$', type_: 'bind', options: ['rbind', 'rprivate', 'rw'] }],
    ['/etc/app.d', bind('$(sfprefix)app\\.d$', ['rbind', 'rprivate', 'ro'])],
    ['/etc/creds', bind('$(sfprefix)creds$', ['rbind', 'rprivate', 'ro'])],
    ['/var/run/secrets/kubernetes.io/serviceaccount', bind('$(sfprefix)serviceaccount$', ['rbind', 'rprivate', 'ro'])],
    ['/etc/podinfo', bind('$(sfprefix)podinfo$', ['rbind', 'rprivate', 'ro'])],
    ['/dev/ttyS0', bind('/dev/ttyS0', ['rbind', 'rprivate', 'rw'])],
    ['/results', bind('$(sfprefix)results$', ['rbind', 'rprivate', 'ro'])],
    ['/shared', bind('$(sfprefix)shared$', ['rbind', 'rshared', 'rw'])],
    ['/data', bind('$(sfprefix)data$', ['rbind', 'rprivate', 'rw'])],
    ['/tmp/term', bind('$(sfprefix)termination-log$', ['rbind', 'rprivate', 'rw'])],
  ];
  for (const [dest, m] of expected) assert.deepEqual(byDest(dest), { destination: dest, ...m }, dest);
  assert.equal(byDest('/dev/termination-log'), undefined, 'the termination log moves to terminationMessagePath');
  assert.equal((app.OCI.Mounts as Json[]).filter((m) => m.destination === '/var/run/secrets/kubernetes.io/serviceaccount').length, 1, 'the projected token replaces the default mount');
  // Storages: the emptyDir root (with the pod's fsGroup) and the in-memory emptyDir; the subPath mount reuses the root's.
  assert.deepEqual(app.storages, [
    { driver: 'local', driver_options: [], source: 'local', fstype: 'local', options: ['mode=0777', 'fsgid=4000'], mount_point: '^$(cpath)/$(sandbox-id)/rootfs/local/scratch$', fs_group: null, shared: false },
    { driver: 'ephemeral', driver_options: [], source: 'tmpfs', fstype: 'tmpfs', options: ['fsgid=4000'], mount_point: '^/run/kata-containers/sandbox/ephemeral/cache$', fs_group: null, shared: false },
  ]);
});

test('volumes: emptyDir on an encrypted block device by default; configMap storages when the settings enable them', () => {
  const app = volumePod(SETTINGS).containers[1];
  assert.deepEqual(app.storages[0], { driver: '', driver_options: ['encryption_key=ephemeral', 'create_filesystem'], source: '', fstype: 'ext4', options: [], mount_point: '$(spath)/$(b64_device_id)', fs_group: null, shared: true });
  assert.deepEqual((app.OCI.Mounts as Json[]).find((m) => m.destination === '/scratch'), { destination: '/scratch', source: '', type_: 'bind', options: ['rbind', 'rprivate', 'rw'] });
  const withStorages = applyDropIns(structuredClone(sharedFs), [{ name: 'y', patch: [{ op: 'replace', path: '/kata_config/enable_configmap_secret_storages', value: true }] }]) as Json;
  const cm = (volumePod(withStorages).containers[1].storages as Json[]).filter((s) => s.fstype === 'bind');
  assert.deepEqual(cm.map((s) => s.mount_point), ['$(sfprefix)app\\.d$', '$(sfprefix)creds$']);
});

test('securityContext: user and groups from pod and container, capabilities added and dropped, privileged', () => {
  const pd = volumePod(sharedFs);
  const [, app, all, none, same] = pd.containers;
  assert.deepEqual(app.OCI.Process.User, { UID: 1001, GID: 3000, AdditionalGids: [3000, 4000, 5000], Username: '' });
  assert.equal(all.OCI.Process.User.UID, 2000, 'the pod runAsUser applies when the container sets none');
  const defaults = (SETTINGS as Json).common.default_caps as string[];
  const appCaps = [...defaults.filter((c) => c !== 'CAP_NET_RAW'), 'CAP_NET_ADMIN'];
  assert.deepEqual(app.OCI.Process.Capabilities, { Ambient: [], Bounding: appCaps, Effective: appCaps, Inheritable: [], Permitted: appCaps });
  assert.deepEqual(all.OCI.Process.Capabilities.Bounding, ['$(privileged_caps)'], 'privileged: every capability');
  assert.deepEqual(all.OCI.Linux.MaskedPaths, []);
  assert.deepEqual(none.OCI.Process.Capabilities.Permitted, []);
  assert.deepEqual(same.OCI.Process.Capabilities.Effective, ['$(default_caps)'], 'a set equal to the defaults is written as the placeholder');
});

test('volumes and securityContext: a missing volume, an unsupported volume type or a wrongly typed field is an input error naming it', () => {
  const cases: [string, RegExp][] = [
    [VOLUMES_POD.replace('{name: data, persistentVolumeClaim: {claimName: data-claim}}', '{name: other, emptyDir: {}}'), /volumeMount \/data names volume "data", which the pod does not define/],
    [VOLUMES_POD.replace('persistentVolumeClaim: {claimName: data-claim}', 'iscsi: {targetPortal: x}'), /volume data: unsupported volume type iscsi/],
    [VOLUMES_POD.replace('runAsUser: 1001', 'runAsUser: root'), /securityContext\.runAsUser must be an id/],
    [VOLUMES_POD.replace('add: [NET_ADMIN]', 'add: NET_ADMIN'), /capabilities\.add must be a list/],
    [VOLUMES_POD.replace('supplementalGroups: [5000, 3000]', 'supplementalGroups: [-1]'), /supplementalGroups must be an id/],
    [VOLUMES_POD.replace('mountPath: /data}', 'mountPath: data}'), /mountPath must be an absolute path/],
    [VOLUMES_POD.replace('{name: scratch, mountPath: /scratch}', '{name: 7, mountPath: /scratch}'), /volumeMounts\[0\]\.name must be a non-empty string/],
  ];
  for (const [yaml, msg] of cases) {
    assert.throws(() => volumePod(sharedFs, yaml), (e: unknown) => e instanceof CocoError && e.kind === 'input' && msg.test(e.message), String(msg));
  }
});

test('size: shared fragments keep a 20-container pod\'s policy text small, with the same policy_data', () => {
  const pod = (n: number): string =>
    `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes: [{name: v, configMap: {name: x}}]\n  containers:\n${Array.from({ length: n }, (_, i) => `    - {name: c${i}, image: "oci:app:1", env: [{name: A, value: b}], volumeMounts: [{name: v, mountPath: /v}]}`).join('\n')}\n`;
  const gen = (n: number): GeneratedPod => generateForYaml(pod(n), { settings: SETTINGS, images: localImages(new Map(), tmp), policyFragments: true }).pods[0]!;
  const one = gen(1);
  const twenty = gen(20);
  const plain = agentPolicyText(twenty.policyData, { fragments: false });
  const rules = agentRulesText().length;
  // Without fragments each container adds its whole expected spec to the text; with them, a container
  // alike to another adds little more than its name and the fragments' names.
  assert.ok(twenty.policy.length < 0.6 * plain.length, `policy text ${plain.length} -> ${twenty.policy.length}`);
  assert.ok(twenty.policy.length - rules < 0.35 * (plain.length - rules), `policy_data text ${plain.length - rules} -> ${twenty.policy.length - rules}`);
  assert.ok(twenty.policy.length < 1.5 * one.policy.length, `policy ${one.policy.length} -> ${twenty.policy.length}`);
  assert.equal(twenty.sizes.policy, twenty.policy.length);
  assert.match(twenty.policy, /^policy_fragment_1 := /m);
  // The document reads back, and cocokit's Rego engine evaluates it, as the generated policy_data.
  const expected = JSON.parse(JSON.stringify(twenty.policyData)) as Json;
  assert.deepEqual(extractPolicyData(twenty.policy), expected);
  const engine = new Engine({ strict: false });
  engine.addPolicy(AGENT_POLICY_MODULE, twenty.policy, { regoVersion: 'v1' });
  assert.deepEqual(engine.evalQuery(`data.${AGENT_POLICY_MODULE}.policy_data`).result[0]!.expressions[0]!.value, expected);
  // gzip in the annotation shares repeats either way.
  assert.ok(twenty.sizes.annotation < 1.25 * one.sizes.annotation, `annotation ${one.sizes.annotation} -> ${twenty.sizes.annotation}`);
  assert.ok(twenty.sizes.annotation < 32 * 1024, `annotation ${twenty.sizes.annotation} bytes`);
});

// --- Image users --------------------------------------------------------------------------------------------

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nweb:x:33:33::/var/www:/bin/false\nbroken line\n';
const GROUP = 'root:x:0:\napp:x:1001:app\nstaff:x:50:app,web\nvideo:x:44:web\nwww:x:82:\n';
const HOST_PULL = applyDropIns(structuredClone(SETTINGS), [{ name: 'host-pull', patch: [{ op: 'replace', path: '/cluster_config/guest_pull', value: false }] }]);

function userOf(image: ImageConfig, opts: { settings?: Json; securityContext?: Json; podSecurityContext?: Json } = {}): Json {
  const template = podTemplates({
    kind: 'Pod',
    metadata: { name: 'u' },
    spec: { securityContext: opts.podSecurityContext, containers: [{ name: 'c', image: 'img', securityContext: opts.securityContext }] },
  })[0]!;
  return generatePolicyData({ template, settings: opts.settings ?? HOST_PULL, images: new Map([['img', image]]) }).containers[1].OCI.Process.User;
}

test('image users: names and groups resolve in the image\'s /etc/passwd and /etc/group as the runtime does', () => {
  const withFiles = (User: string | undefined): ImageConfig => ({ User, passwd: PASSWD, group: GROUP });
  const cases: [string | undefined, Json][] = [
    [undefined, { UID: 0, GID: 0, AdditionalGids: [0] }],
    ['', { UID: 0, GID: 0, AdditionalGids: [0] }],
    ['app', { UID: 1000, GID: 1001, AdditionalGids: [50, 1001] }],
    ['web', { UID: 33, GID: 33, AdditionalGids: [33, 44, 50] }],
    ['app:www', { UID: 1000, GID: 82, AdditionalGids: [50, 82] }],
    ['app:7', { UID: 1000, GID: 7, AdditionalGids: [7, 50] }],
    ['33', { UID: 33, GID: 33, AdditionalGids: [33, 44, 50] }],
    ['33:0', { UID: 33, GID: 0, AdditionalGids: [0, 44, 50] }],
    ['4242', { UID: 4242, GID: 0, AdditionalGids: [0] }],
  ];
  for (const [user, want] of cases) assert.deepEqual(userOf(withFiles(user)), { ...want, Username: '' }, String(user));
  // A runAsUser takes its primary group from /etc/passwd; runAsGroup wins over it.
  assert.deepEqual(userOf(withFiles('app'), { securityContext: { runAsUser: 33 } }), { UID: 33, GID: 33, AdditionalGids: [33, 44, 50], Username: '' });
  assert.deepEqual(userOf(withFiles('app'), { securityContext: { runAsUser: 33, runAsGroup: 9 } }), { UID: 33, GID: 9, AdditionalGids: [9, 44, 50], Username: '' });
  assert.deepEqual(userOf(withFiles('app'), { podSecurityContext: { runAsUser: 4242 } }), { UID: 4242, GID: 1001, AdditionalGids: [1001], Username: '' });
});

test('image users: without the image\'s files (guest pull) a name is uid 0; with them an unknown name or group is an error', () => {
  // The guest pulls the image: the host has no /etc/passwd and the runtime starts a named user as uid 0.
  assert.deepEqual(userOf({ User: 'app', passwd: PASSWD, group: GROUP }, { settings: SETTINGS }), { UID: 0, GID: 0, AdditionalGids: [0], Username: '' });
  assert.deepEqual(userOf({ User: 'app:staff' }, { settings: SETTINGS }), { UID: 0, GID: 0, AdditionalGids: [0], Username: '' });
  assert.deepEqual(userOf({ User: '1000:1000' }, { settings: SETTINGS }), { UID: 1000, GID: 1000, AdditionalGids: [1000], Username: '' });
  const err = (re: RegExp) => (e: unknown): boolean => e instanceof CocoError && e.code === 'GENPOLICY_IMAGE_USER' && re.test(e.message);
  assert.throws(() => userOf({ User: 'nobody', passwd: PASSWD, group: GROUP }), err(/image img: User "nobody": no user "nobody" in the image's \/etc\/passwd/));
  assert.throws(() => userOf({ User: 'app:wheel', passwd: PASSWD, group: GROUP }), err(/no group "wheel" in the image's \/etc\/group/));
  // An image without /etc/passwd (or one a layer deleted) has no names.
  assert.throws(() => userOf({ User: 'app', passwd: '', group: '' }), err(/no user "app"/));
  for (const bad of ['a:b:c', ':5']) assert.throws(() => userOf({ User: bad, passwd: PASSWD, group: GROUP }), err(/is not user\[:group\]/));
  for (const bad of ['4294967296', '1:99999999999999999999']) assert.throws(() => userOf({ User: bad }, { settings: SETTINGS }), err(/is not an id from 0 to 4294967295/));
});

test('image users: the topmost layer with /etc/passwd or /etc/group wins; a whiteout deletes it', () => {
  assert.deepEqual(usersFiles([]), { passwd: '', group: '' });
  assert.deepEqual(
    usersFiles([
      { passwd: 'a', group: 'g1' },
      { passwd: '', group: '' },
      { passwd: 'b', group: 'WHITEOUT' },
    ]),
    { passwd: 'b', group: '' },
  );
  assert.deepEqual(
    usersFiles([
      { passwd: 'WHITEOUT', group: 'g1' },
      { passwd: 'c', group: '' },
    ]),
    { passwd: 'c', group: 'g1' },
  );
});

test('image users: arbitrary /etc/passwd, /etc/group and User values give a user or a CocoError, never a crash', () => {
  const text = fc.array(fc.oneof(fc.constantFrom('app', 'root', '0', '1000', ':', '\n', 'x', ',', '::', '-1', '99999999999999999999'), fc.string({ maxLength: 6 })), { maxLength: 20 }).map((a) => a.join(''));
  fc.assert(
    fc.property(fc.option(text, { nil: undefined }), text, text, fc.boolean(), (User, passwd, group, hostPull) => {
      try {
        const u = userOf({ User, passwd, group }, { settings: hostPull ? HOST_PULL : SETTINGS });
        assert.ok(Number.isSafeInteger(u.UID) && Number.isSafeInteger(u.GID) && u.AdditionalGids.includes(u.GID));
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind === 'input', String(e));
      }
    }),
    { numRuns: 300 },
  );
});
