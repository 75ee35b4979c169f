import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vectorPath } from '../../test-support/vectors.js';
import { writeBuiltLayout, writeLayout } from '../../test-support/oci-layout.js';
import { buildImage } from '../../test-support/oci-registry.js';
import { buildTar } from '../../test-support/tar-build.js';
import { AgentPolicy } from '../agent.js';
import { agentPolicyText } from '../agent-rules.js';
import { applyDropIns, loadSettings } from './settings.js';
import { generateForYaml, localImages } from './pod.js';
import { resolveImages } from './image-source.js';
import { LayerCache } from './layers.js';

// For pods the suite generates, cocokit's rules and genpolicy's current rules.rego (from the vectors, over the
// same policy_data) must decide alike: requests built the way kata-agent receives them are allowed by both,
// and mutations that must be denied are denied by both.

type Json = Record<string, any>;

const GENPOLICY = vectorPath('rego', 'kata', 'genpolicy');
const SETTINGS = loadSettings(join(GENPOLICY, 'genpolicy-settings.json'));
const GENPOLICY_RULES = readFileSync(join(GENPOLICY, 'rules.rego'), 'utf8');

const tmp = mkdtempSync(join(tmpdir(), 'cocokit-agree-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
writeLayout(join(tmp, 'app'), '1', { Env: ['PATH=/usr/bin:/bin'], Entrypoint: ['/app'], Cmd: ['--serve'], User: '1000:1000', WorkingDir: '/srv' });

const POD = `apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop}
spec:
  containers:
    - name: web
      image: registry.example/app:1
      env:
        - {name: MODE, value: fast}
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
      readinessProbe: {exec: {command: [cat, /tmp/ready]}}
    - name: sidecar
      image: registry.example/app:1
      command: [/bin/sh, -c, 'echo $(MODE)']
      env: [{name: MODE, value: slow}]
`;

const SANDBOX_ID = 'a1'.repeat(32);
const hex64 = (n: number): string => n.toString(16).padStart(2, '0').repeat(32);

/** A path the runtime would choose for a policy source or mount-point pattern. */
function instantiate(pattern: string, bundle: string, cpath: string): string {
  const s = pattern
    .replace('$(sfprefix)', `${cpath}/${bundle}-0123456789abcdef-`)
    .replace('$(cpath)', cpath)
    .replace('$(sandbox-id)', SANDBOX_ID)
    .replace(/^\^/, '')
    .replace(/\$$/, '');
  return s.replace(/\\(.)/g, '$1');
}

/** Turns a policy container into the CreateContainerRequest the agent would receive for it. */
function createRequest(pd: Json, idx: number, name: string, namespace: string): Json {
  const c = pd.containers[idx];
  const bundle = idx === 0 ? SANDBOX_ID : hex64(idx + 16);
  const common = pd.common;
  const cpath = '/run/kata-containers/shared/containers';
  const expand = (s: string): string => s.replace('$(root_path)', common.root_path).replace('$(bundle-id)', bundle).replace('$(cpath)', cpath);
  const annotations: Json = {};
  for (const [k, v] of Object.entries(c.OCI.Annotations as Record<string, string>)) {
    if (k === 'io.kubernetes.cri.sandbox-name') annotations[k] = name;
    else if (k === 'io.kubernetes.cri.sandbox-namespace') annotations[k] = namespace;
    else if (k === 'io.kubernetes.cri.sandbox-id') annotations[k] = SANDBOX_ID;
    else if (k === 'io.kubernetes.cri.sandbox-log-directory') annotations[k] = `/var/log/pods/${namespace}_${name}_12345678-1234-1234-1234-123456789abc`;
    else if (k === 'nerdctl/network-namespace') annotations[k] = '/var/run/netns/cni-12345678-1234-1234-1234-123456789abc';
    else annotations[k] = expand(v);
  }
  const caps = (set: string[]): string[] => (set[0] === '$(default_caps)' ? common.default_caps : set[0] === '$(privileged_caps)' ? common.privileged_caps : set);
  const p = c.OCI.Process;
  const env = (p.Env as string[]).map((e) =>
    e.replace('$(sandbox-name)', name).replace('$(sandbox-namespace)', namespace).replace('$(pod-ip)', '10.0.0.7').replace('$(host-name)', name),
  );
  // The storages of the pod's volumes as the runtime sends them: guest-made volumes at the paths the policy's
  // patterns describe, block-device emptyDirs on a virtio-blk device the runtime attached, mounted at the
  // padded base64url of its PCI path.
  const volumeStorages = (c.storages as Json[]).map((st, n): Json =>
    st.driver === ''
      ? { ...st, driver: 'blk', source: `0${n + 1}/00`, mount_point: `${common.spath}/${Buffer.from(`0${n + 1}/00`).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}` }
      : { ...st, source: instantiate(st.source, bundle, cpath), mount_point: instantiate(st.mount_point, bundle, cpath) },
  );
  const blockMounts = (c.OCI.Mounts as Json[]).filter((m) => m.source === '').map((m) => m.destination as string);
  const blockFor = (dest: string): string => volumeStorages.filter((st) => st.driver === 'blk')[blockMounts.indexOf(dest)]!.mount_point;
  const mounts = (c.OCI.Mounts as Json[]).map((m) => ({ ...m, source: m.source === '' ? blockFor(m.destination) : instantiate(m.source, bundle, cpath) }));
  return structuredClone({
    container_id: bundle,
    exec_id: bundle,
    string_user: null,
    devices: [],
    storages: idx === 0 ? [] : [{ driver: 'image_guest_pull', driver_options: [], source: 'registry.example/app:1', fstype: 'overlay', options: [], mount_point: expand('$(root_path)'), fs_group: null, shared: false }, ...volumeStorages],
    sandbox_pidns: false,
    shared_mounts: [],
    OCI: {
      Version: c.OCI.Version,
      Process: {
        Terminal: p.Terminal,
        ConsoleSize: null,
        User: { ...p.User, Username: '' },
        Args: (p.Args as string[]).map((a) => a.replace('$(sandbox-name)', name)),
        Env: env,
        Cwd: p.Cwd,
        Capabilities: Object.fromEntries(Object.entries(p.Capabilities as Record<string, string[]>).map(([k, v]) => [k, caps(v)])),
        Rlimits: [],
        NoNewPrivileges: p.NoNewPrivileges,
        ApparmorProfile: '',
        OOMScoreAdj: 1000,
        SelinuxLabel: '',
      },
      Root: { Path: expand(c.OCI.Root.Path), Readonly: c.OCI.Root.Readonly },
      Hostname: '',
      Mounts: mounts,
      Hooks: null,
      Annotations: annotations,
      Linux: {
        UIDMappings: [],
        GIDMappings: [],
        Sysctl: c.OCI.Linux.Sysctl,
        Resources: { Devices: [], Memory: null, CPU: null, Pids: null, BlockIO: null, HugepageLimits: [], Network: null },
        CgroupsPath: '',
        Namespaces: c.OCI.Linux.Namespaces,
        Devices: [],
        Seccomp: null,
        RootfsPropagation: '',
        MaskedPaths: c.OCI.Linux.MaskedPaths,
        ReadonlyPaths: c.OCI.Linux.ReadonlyPaths,
        MountLabel: '',
        IntelRdt: null,
      },
      Solaris: null,
      Windows: null,
    },
  });
}

const { pods } = generateForYaml(POD, { settings: SETTINGS, images: localImages(new Map([['registry.example/app:1', `oci:${join(tmp, 'app')}:1`]]), tmp) });
const pd = pods[0]!.policyData;
const cocokitPolicy = (): AgentPolicy => new AgentPolicy(pods[0]!.policy);
const genpolicyPolicy = (): AgentPolicy => new AgentPolicy(`${GENPOLICY_RULES}\npolicy_data := ${JSON.stringify(pd)}\n`);

interface Step {
  endpoint: string;
  input: Json;
}

function corpus(): Step[] {
  const steps: Step[] = [
    { endpoint: 'CreateSandboxRequest', input: { hostname: '', dns: [], storages: pd.sandbox.storages, sandbox_pidns: false, sandbox_id: SANDBOX_ID, guest_hook_path: '', kernel_modules: [] } },
  ];
  for (let i = 0; i < pd.containers.length; i++) steps.push({ endpoint: 'CreateContainerRequest', input: createRequest(pd, i, 'web-0', 'shop') });
  steps.push({ endpoint: 'ExecProcessRequest', input: { container_id: hex64(17), exec_id: 'e1', string_user: null, process: { ...steps[2]!.input.OCI.Process, Capabilities: null, Args: ['cat', '/tmp/ready'] } } });
  return steps;
}

function decideAll(policy: AgentPolicy, steps: Step[]): boolean[] {
  return steps.map((s) => policy.evaluate(s.endpoint, s.input).allowed);
}

test('the generated pod\'s requests are allowed by cocokit\'s rules and by genpolicy\'s rules alike', () => {
  const steps = corpus();
  const ours = decideAll(cocokitPolicy(), steps);
  const theirs = decideAll(genpolicyPolicy(), steps);
  assert.deepEqual(ours, theirs, JSON.stringify({ ours, theirs }));
  assert.deepEqual(ours, steps.map(() => true));
});

const MUTATIONS: [string, (i: Json) => void, RegExp][] = [
  ['an extra env variable', (i) => i.OCI.Process.Env.push('LD_PRELOAD=/x.so'), /OCI\.Process\.Env: LD_PRELOAD/],
  ['a changed env value', (i) => (i.OCI.Process.Env[2] = 'MODE=slow'), /OCI\.Process\.Env: MODE=slow/],
  ['an extra mount', (i) => i.OCI.Mounts.push({ destination: '/host', source: '/', type_: 'bind', options: ['rbind', 'rw'] }), /OCI\.Mounts/],
  ['changed args', (i) => (i.OCI.Process.Args = ['/bin/sh']), /OCI\.Process\.Args/],
  ['an added capability', (i) => i.OCI.Process.Capabilities.Permitted.push('CAP_SYS_ADMIN'), /Capabilities\.Permitted/],
  ['privileged capabilities', (i) => {
    for (const k of ['Bounding', 'Effective', 'Permitted']) i.OCI.Process.Capabilities[k] = pd.common.privileged_caps;
  }, /Capabilities/],
  ['a shared mount', (i) => (i.shared_mounts = [{ src_ctr: 'a', src_path: '/', dst_ctr: 'b', dst_path: '/x' }]), /shared_mounts/],
];

for (const [what, mutate, explanation] of MUTATIONS) {
  test(`both rule sets deny the web container with ${what}; cocokit says which field`, () => {
    const steps = corpus().slice(0, 2);
    const web = createRequest(pd, 1, 'web-0', 'shop');
    mutate(web);
    for (const [who, p] of [['cocokit', cocokitPolicy()], ['genpolicy', genpolicyPolicy()]] as const) {
      for (const s of steps) assert.equal(p.evaluate(s.endpoint, s.input).allowed, true, `${who}: ${s.endpoint}`);
      const d = p.evaluate('CreateContainerRequest', web);
      assert.equal(d.allowed, false, `${who} allowed it`);
      if (who === 'cocokit') assert.match(d.reason, explanation);
    }
  });
}

// Where the rule sets differ on purpose: genpolicy's rules do not compare the image-name annotation (with
// guest pull the guest fetches whatever the runtime names); cocokit's rules hold the container to the image
// the policy was generated for.
test('another image: cocokit denies it and names the field; genpolicy\'s rules allow it', () => {
  const steps = corpus().slice(0, 2);
  const web = createRequest(pd, 1, 'web-0', 'shop');
  web.OCI.Annotations['io.kubernetes.cri.image-name'] = 'registry.example/evil:1';
  const ours = cocokitPolicy();
  const theirs = genpolicyPolicy();
  decideAll(ours, steps);
  decideAll(theirs, steps);
  const d = ours.evaluate('CreateContainerRequest', web);
  assert.equal(d.allowed, false);
  assert.match(d.reason, /io\.kubernetes\.cri\.image-name\]: policy registry\.example\/app:1, request registry\.example\/evil:1/);
  assert.equal(theirs.evaluate('CreateContainerRequest', web).allowed, true);
});

test('both rule sets deny exec of a command the pod does not list', () => {
  const steps = corpus();
  const exec = structuredClone(steps[steps.length - 1]!);
  exec.input.process.Args = ['/bin/sh', '-c', 'id'];
  for (const p of [cocokitPolicy(), genpolicyPolicy()]) {
    decideAll(p, steps.slice(0, -1));
    assert.equal(p.evaluate(exec.endpoint, exec.input).allowed, false);
    assert.equal(p.evaluate(steps[steps.length - 1]!.endpoint, steps[steps.length - 1]!.input).allowed, true);
  }
});

// --- A 20-container pod, whose policy names shared fragments ---------------------------------------------

const BIG_POD = `apiVersion: v1
kind: Pod
metadata: {name: big-0, namespace: shop}
spec:
  volumes: [{name: conf, configMap: {name: conf}}, {name: scratch, emptyDir: {}}]
  containers:
${Array.from({ length: 20 }, (_, i) =>
  i % 2 === 0
    ? `    - {name: w${i}, image: registry.example/app:1, env: [{name: MODE, value: fast}, {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}], volumeMounts: [{name: conf, mountPath: /conf}]}`
    : `    - {name: s${i}, image: registry.example/app:1, command: [/bin/sh, -c, 'echo ${i}'], env: [{name: MODE, value: slow}], volumeMounts: [{name: scratch, mountPath: /scratch}, {name: conf, mountPath: /conf}]}`,
).join('\n')}
`;

test('a 20-container pod: requests and mutations decide alike under the policy with fragments, without them, and under genpolicy\'s rules', () => {
  const big = generateForYaml(BIG_POD, { settings: SETTINGS, images: localImages(new Map([['registry.example/app:1', `oci:${join(tmp, 'app')}:1`]]), tmp), policyFragments: true }).pods[0]!;
  const bpd = big.policyData;
  assert.equal(bpd.containers.length, 21);
  const plain = agentPolicyText(bpd, { fragments: false });
  assert.match(big.policy, /^policy_fragment_1 := /m);
  assert.ok(big.policy.length < 0.6 * plain.length, `${plain.length} -> ${big.policy.length}`);
  const policies: [string, () => AgentPolicy][] = [
    ['cocokit with fragments', () => new AgentPolicy(big.policy)],
    ['cocokit without', () => new AgentPolicy(plain)],
    ['genpolicy', () => new AgentPolicy(`${GENPOLICY_RULES}\npolicy_data := ${JSON.stringify(bpd)}\n`)],
  ];
  const sandbox: Step = { endpoint: 'CreateSandboxRequest', input: { hostname: '', dns: [], storages: bpd.sandbox.storages, sandbox_pidns: false, sandbox_id: SANDBOX_ID, guest_hook_path: '', kernel_modules: [] } };
  const steps = [sandbox, ...bpd.containers.map((_: unknown, i: number): Step => ({ endpoint: 'CreateContainerRequest', input: createRequest(bpd, i, 'big-0', 'shop') }))];
  const mutations: [string, (i: Json) => void][] = [
    ['extra env', (i) => i.OCI.Process.Env.push('LD_PRELOAD=/x.so')],
    ['extra mount', (i) => i.OCI.Mounts.push({ destination: '/host', source: '/', type_: 'bind', options: ['rbind', 'rw'] })],
    ['changed args', (i) => (i.OCI.Process.Args = ['/bin/sh'])],
    ['added capability', (i) => i.OCI.Process.Capabilities.Permitted.push('CAP_SYS_ADMIN')],
    ['another container\'s env', (i) => (i.OCI.Process.Env = i.OCI.Process.Env.map((e: string) => (e === 'MODE=fast' ? 'MODE=slow' : e === 'MODE=slow' ? 'MODE=fast' : e)))],
  ];
  // Sandbox and pause container, then every mutation (a denial records nothing), then the other containers.
  const decisions = policies.map(([, make]) => {
    const p = make();
    const allowed = decideAll(p, steps.slice(0, 2));
    const denied: boolean[] = [];
    for (const idx of [1, 2, 10, 19, 20]) {
      for (const [, mutate] of mutations) {
        const r = createRequest(bpd, idx, 'big-0', 'shop');
        mutate(r);
        denied.push(p.evaluate('CreateContainerRequest', r).allowed);
      }
    }
    allowed.push(...decideAll(p, steps.slice(2)));
    return { allowed, denied };
  });
  assert.deepEqual(decisions[0]!.allowed, steps.map(() => true));
  assert.deepEqual(decisions[0]!.denied, decisions[0]!.denied.map(() => false));
  for (const [i, [who]] of policies.entries()) assert.deepEqual(decisions[i], decisions[0], who);
});

// --- Volumes and security contexts -----------------------------------------------------------------------

const VOLUME_POD = `apiVersion: v1
kind: Pod
metadata: {name: vols, namespace: shop}
spec:
  securityContext: {runAsUser: 2000, runAsGroup: 3000, fsGroup: 4000, supplementalGroups: [5000]}
  volumes:
    - {name: scratch, emptyDir: {}}
    - {name: cache, emptyDir: {medium: Memory}}
    - {name: settings, configMap: {name: app-config}}
    - {name: creds, secret: {secretName: app-secret}}
    - name: token
      projected:
        sources:
          - serviceAccountToken: {path: token, expirationSeconds: 3600}
          - downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
    - {name: podinfo, downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}}
    - {name: serial, hostPath: {path: /dev/ttyS0}}
    - {name: results, hostPath: {path: /tmp/results}}
    - {name: data, persistentVolumeClaim: {claimName: data-claim}}
  containers:
    - name: app
      image: registry.example/app:1
      securityContext:
        runAsUser: 1001
        capabilities: {drop: [NET_RAW, MKNOD], add: [NET_ADMIN]}
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
      volumeMounts:
        - {name: scratch, mountPath: /scratch}
        - {name: scratch, mountPath: /scratch-logs, subPath: logs}
        - {name: cache, mountPath: /cache}
        - {name: settings, mountPath: /etc/app, readOnly: true}
        - {name: creds, mountPath: /etc/creds, readOnly: true}
        - {name: token, mountPath: /var/run/secrets/tokens}
        - {name: podinfo, mountPath: /etc/podinfo}
        - {name: serial, mountPath: /dev/ttyS0}
        - {name: results, mountPath: /results, readOnly: true}
        - {name: data, mountPath: /data}
    - name: admin
      image: registry.example/app:1
      securityContext: {privileged: true}
    - name: minimal
      image: registry.example/app:1
      securityContext: {capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}
`;

function generateWith(settings: Json, yaml: string): Json {
  return generateForYaml(yaml, { settings, images: localImages(new Map([['registry.example/app:1', `oci:${join(tmp, 'app')}:1`]]), tmp) }).pods[0]!;
}

const SHARED_FS_SETTINGS = applyDropIns(structuredClone(SETTINGS), [{ name: 'shared-fs', patch: [{ op: 'replace', path: '/cluster_config/emptydir_type', value: 'shared-fs' }] }]);

for (const [label, settings] of [
  ['block-encrypted emptyDir (the default settings)', SETTINGS],
  ['shared-fs emptyDir', SHARED_FS_SETTINGS],
] as const) {
  // A subPath of a block-device emptyDir is left out: the policy can only name the device's own mount point.
  const pod = generateWith(settings, settings === SETTINGS ? VOLUME_POD.replace(/^.*subPath: logs.*\n/m, '') : VOLUME_POD);
  const vpd = pod.policyData;
  const ours = (): AgentPolicy => new AgentPolicy(pod.policy);
  const theirs = (): AgentPolicy => new AgentPolicy(`${GENPOLICY_RULES}\npolicy_data := ${JSON.stringify(vpd)}\n`);
  const steps = (): Step[] => [
    { endpoint: 'CreateSandboxRequest', input: { hostname: '', dns: [], storages: vpd.sandbox.storages, sandbox_pidns: false, sandbox_id: SANDBOX_ID, guest_hook_path: '', kernel_modules: [] } },
    ...vpd.containers.map((_: unknown, i: number) => ({ endpoint: 'CreateContainerRequest', input: createRequest(vpd, i, 'vols', 'shop') })),
  ];

  test(`${label}: every volume type and security context is allowed by both rule sets`, () => {
    const s = steps();
    for (const [who, p] of [['cocokit', ours()], ['genpolicy', theirs()]] as const) {
      for (const st of s) {
        const d = p.evaluate(st.endpoint, st.input);
        assert.equal(d.allowed, true, `${who}: ${st.endpoint} ${st.input.OCI?.Annotations?.['io.kubernetes.cri.container-name'] ?? ''}: ${d.reason}`);
      }
    }
  });

  const VOLUME_MUTATIONS: [string, (i: Json) => void, RegExp][] = [
    ['a read-only volume mounted read-write', (i) => (mountAt(i, '/etc/app').options = ['rbind', 'rprivate', 'rw']), /OCI\.Mounts.*\/etc\/app/],
    ['another shared file behind a configMap mount', (i) => (mountAt(i, '/etc/app').source = mountAt(i, '/etc/app').source.replace(/app$/, 'creds')), /OCI\.Mounts.*\/etc\/app/],
    ['a host device other than the hostPath volume\'s', (i) => (mountAt(i, '/dev/ttyS0').source = '/dev/mem'), /OCI\.Mounts.*\/dev\/ttyS0/],
    ['an emptyDir mount from another volume\'s directory', (i) => (mountAt(i, '/scratch').source = mountAt(i, '/cache').source), /OCI\.Mounts.*\/scratch/],
    ['a volume storage dropped', (i) => i.storages.pop(), /storages: policy has \d+, request \d+/],
    ['a volume storage with other options', (i) => (i.storages[1].options = [...i.storages[1].options, 'exec']), /storages: no policy storage allows/],
    ['a volume mounted somewhere else', (i) => (mountAt(i, '/data').destination = '/etc'), /OCI\.Mounts/],
    ['a capability the pod did not add', (i) => i.OCI.Process.Capabilities.Effective.push('CAP_SYS_ADMIN'), /Capabilities\.Effective/],
    ['a dropped capability back', (i) => i.OCI.Process.Capabilities.Bounding.push('CAP_NET_RAW'), /Capabilities\.Bounding/],
    ['another user', (i) => (i.OCI.Process.User.UID = 0), /OCI\.Process\.User\.UID: policy 1001, request 0/],
    ['another runAsGroup', (i) => (i.OCI.Process.User.GID = 3001), /OCI\.Process\.User\.GID: policy 3000, request 3001/],
    ['an additional group the pod did not give', (i) => i.OCI.Process.User.AdditionalGids.push(0), /OCI\.Process\.User\.AdditionalGids: policy \[3000, 4000, 5000\], request \[0, 3000, 4000, 5000\]/],
    ['the fsGroup left out', (i) => (i.OCI.Process.User.AdditionalGids = [3000, 5000]), /OCI\.Process\.User\.AdditionalGids/],
    ['privilege escalation allowed', (i) => (i.OCI.Process.NoNewPrivileges = false), /NoNewPrivileges/],
    ['a writable root filesystem', (i) => (i.OCI.Root.Readonly = false), /OCI\.Root\.Readonly/],
  ];
  for (const [what, mutate, explanation] of VOLUME_MUTATIONS) {
    test(`${label}: both rule sets deny the app container with ${what}; cocokit says which field`, () => {
      for (const [who, p] of [['cocokit', ours()], ['genpolicy', theirs()]] as const) {
        const s = steps();
        for (const st of s.slice(0, 2)) assert.equal(p.evaluate(st.endpoint, st.input).allowed, true, `${who}: ${st.endpoint}`);
        const app = s[2]!.input;
        mutate(app);
        const d = p.evaluate('CreateContainerRequest', app);
        assert.equal(d.allowed, false, `${who} allowed it`);
        if (who === 'cocokit') assert.match(d.reason, explanation);
      }
    });
  }
}

function mountAt(i: Json, destination: string): Json {
  const m = (i.OCI.Mounts as Json[]).find((x) => x.destination === destination);
  assert.ok(m, `no mount at ${destination}`);
  return m;
}

test('block-encrypted emptyDir: a mount from a path no block storage is mounted at is denied by both rule sets', () => {
  const pod = generateWith(SETTINGS, VOLUME_POD.replace(/^.*subPath: logs.*\n/m, ''));
  for (const [who, p] of [['cocokit', new AgentPolicy(pod.policy)], ['genpolicy', new AgentPolicy(`${GENPOLICY_RULES}\npolicy_data := ${JSON.stringify(pod.policyData)}\n`)]] as const) {
    p.evaluate('CreateSandboxRequest', { hostname: '', dns: [], storages: pod.policyData.sandbox.storages, sandbox_pidns: false, sandbox_id: SANDBOX_ID, guest_hook_path: '', kernel_modules: [] });
    assert.equal(p.evaluate('CreateContainerRequest', createRequest(pod.policyData, 0, 'vols', 'shop')).allowed, true, who);
    const app = createRequest(pod.policyData, 1, 'vols', 'shop');
    mountAt(app, '/scratch').source = '/run/kata-containers/sandbox/storage/other';
    const d = p.evaluate('CreateContainerRequest', app);
    assert.equal(d.allowed, false, `${who} allowed it`);
    if (who === 'cocokit') assert.match(d.reason, /OCI\.Mounts: no policy mount allows .*\/scratch/);
  }
});

// --- CopyFile, network and exec requests -------------------------------------------------------------------

const BUNDLE = hex64(17);
const SHARED = `/run/kata-containers/shared/containers/${BUNDLE}-0123456789abcdef`;
const copy = (path: string, file_type: string, symlink_target = ''): Json => ({ path, file_size: 10, file_mode: 0o100644, dir_mode: 0o40755, uid: 0, gid: 0, offset: 0, data: [], file_type, symlink_target });
const iface = (over: Json): Json => ({ interface: { device: '', name: 'eth0', IPAddresses: [{ family: 0, address: '10.0.0.7', mask: '24' }], mtu: 1500, hwAddr: '0a:58:0a:00:00:07', pciPath: '', type: '', raw_flags: 0, ...over } });
const routes = (...rs: Json[]): Json => ({ routes: { Routes: rs.map((r) => ({ dest: '', gateway: '10.0.0.1', device: 'eth0', source: '', scope: 0, family: 0, flags: 0, ...r })) } });
const neighbor = (over: Json): Json => ({ neighbors: { ARPNeighbors: [{ toIPAddress: { family: 0, address: '10.0.0.1', mask: '' }, device: 'eth0', lladdr: '0a:58:0a:00:00:01', state: 128, flags: 0, ...over }] } });

// [what, endpoint, input, whether kata-agent's request must be allowed]
const REQUESTS: [string, string, Json, boolean][] = [
  ['a regular file into the shared directory', 'CopyFileRequest', copy(`${SHARED}-hosts`, 'Regular'), true],
  ['a directory of a projected volume', 'CopyFileRequest', copy(`${SHARED}-serviceaccount`, 'Directory'), true],
  ['a relative symlink inside a volume', 'CopyFileRequest', copy(`${SHARED}-serviceaccount/token`, 'Symlink', '..data/token'), true],
  ['a file outside the shared directory', 'CopyFileRequest', copy('/etc/passwd', 'Regular'), false],
  ['a path climbing out with ..', 'CopyFileRequest', copy(`${SHARED}-hosts/../../../../etc/passwd`, 'Regular'), false],
  ['a symlink at the top of the shared directory', 'CopyFileRequest', copy(`${SHARED}-token`, 'Symlink', 'x'), false],
  ['a symlink to an absolute path', 'CopyFileRequest', copy(`${SHARED}-serviceaccount/token`, 'Symlink', '/etc/shadow'), false],
  ['a symlink climbing out', 'CopyFileRequest', copy(`${SHARED}-serviceaccount/token`, 'Symlink', '../../../etc/shadow'), false],
  ['a file type other than file, directory or link', 'CopyFileRequest', copy(`${SHARED}-hosts`, 'Fifo'), false],
  ['the pod interface', 'UpdateInterfaceRequest', iface({}), true],
  ['the pod interface with IFF_NOARP', 'UpdateInterfaceRequest', iface({ raw_flags: 128 }), true],
  ['the loopback interface', 'UpdateInterfaceRequest', iface({ name: 'lo' }), false],
  ['an interface flag other than IFF_NOARP', 'UpdateInterfaceRequest', iface({ raw_flags: 129 }), false],
  ['an all-zero hardware address', 'UpdateInterfaceRequest', iface({ hwAddr: '00:00:00:00:00:00' }), false],
  ['the pod routes', 'UpdateRoutesRequest', routes({}, { dest: '10.0.0.0/24', gateway: '', source: '10.0.0.7', scope: 253 }), true],
  ['a route through the loopback device', 'UpdateRoutesRequest', routes({}, { device: 'lo' }), false],
  ['a route from an IPv4 loopback source', 'UpdateRoutesRequest', routes({ source: '127.0.0.1' }), false],
  ['a route from the IPv6 loopback source', 'UpdateRoutesRequest', routes({ source: '::1' }), false],
  ['the gateway neighbor', 'AddARPNeighborsRequest', neighbor({}), true],
  ['a permanent proxy neighbor', 'AddARPNeighborsRequest', neighbor({ flags: 8 }), true],
  ['a loopback neighbor', 'AddARPNeighborsRequest', neighbor({ toIPAddress: { family: 0, address: '127.0.0.5', mask: '' } }), false],
  ['a neighbor on the loopback device', 'AddARPNeighborsRequest', neighbor({ device: 'lo' }), false],
  ['a neighbor in a state not allowed', 'AddARPNeighborsRequest', neighbor({ state: 4 }), false],
  ['a neighbor with a flag not allowed', 'AddARPNeighborsRequest', neighbor({ flags: 1 }), false],
  ['a neighbor with a prefix mask', 'AddARPNeighborsRequest', neighbor({ toIPAddress: { family: 0, address: '10.0.0.1', mask: '24' } }), false],
];

test('CopyFile and network requests of the generated pod: both rule sets decide each as kata-agent\'s policy must', () => {
  const ours = cocokitPolicy();
  const theirs = genpolicyPolicy();
  decideAll(ours, corpus());
  decideAll(theirs, corpus());
  const wrong: string[] = [];
  for (const [what, endpoint, input, allowed] of REQUESTS) {
    const a = ours.evaluate(endpoint, input).allowed;
    const b = theirs.evaluate(endpoint, input).allowed;
    if (a !== allowed || b !== allowed) wrong.push(`${what}: cocokit ${a}, genpolicy ${b}, want ${allowed}`);
  }
  assert.deepEqual(wrong, []);
});

test('exec: a probe command runs as its container; another command, a capability or another user is denied by both', () => {
  const steps = corpus();
  const probe = steps[steps.length - 1]!;
  const variants: [string, (p: Json) => void, boolean][] = [
    ['the readiness probe', () => {}, true],
    ['the probe with capabilities', (p) => (p.process.Capabilities = { Ambient: [], Bounding: ['CAP_SYS_ADMIN'], Effective: [], Inheritable: [], Permitted: [] }), false],
    ['the probe as root', (p) => (p.process.User.UID = 0), false],
    ['the probe in the root group', (p) => (p.process.User.GID = 0), false],
    ['the probe in another directory', (p) => (p.process.Cwd = '/'), false],
    ['the probe with an extra env variable', (p) => p.process.Env.push('LD_PRELOAD=/x.so'), false],
    ['another command', (p) => (p.process.Args = ['cat', '/etc/shadow']), false],
  ];
  for (const p of [cocokitPolicy(), genpolicyPolicy()]) {
    decideAll(p, steps.slice(0, -1));
    for (const [what, mutate, allowed] of variants) {
      const input = structuredClone(probe.input);
      mutate(input);
      assert.equal(p.evaluate('ExecProcessRequest', input).allowed, allowed, what);
    }
  }
});

// --- Guest pull off: image layers as dm-verity protected tar devices ----------------------------------------
//
// The layer storages (one read-only tar block device per layer, its root hash pinned, and the overlay over
// them) of an application container and of the pause container. genpolicy's current rules.rego no longer
// knows tar layers (it dropped that mode, so it denies every such request); the oracle for these storages is
// the tarfs-era genpolicy rules shipped inside regorus' generated policies, whose allow_storages is evaluated
// on the same policy storages and request storages.

const HOST_PULL = applyDropIns(structuredClone(SETTINGS), [{ name: 'host-pull', patch: [{ op: 'replace', path: '/cluster_config/guest_pull', value: false }] }]);
const PAUSE_REF = (HOST_PULL as Json).cluster_config.pause_container_image as string;
const TARFS_RULES = ((): string => {
  const text = readFileSync(vectorPath('rego', 'kata', 'regorus-kata-tests', 'pod-many-layers', 'policy.rego'), 'utf8');
  return text.slice(0, /^policy_data\s*:?=/m.exec(text)!.index);
})();

const LAYER_POD = `apiVersion: v1
kind: Pod
metadata: {name: layered, namespace: shop}
spec:
  containers:
    - {name: web, image: registry.example/layered:1}
`;

const layered = (async () => {
  const base = buildTar([
    { path: 'etc/', type: 'dir' },
    { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n' },
    { path: 'etc/group', content: 'root:x:0:\napp:x:1001:app\nstaff:x:50:app\nvideo:x:44:root,app\n' },
  ]);
  const app = buildTar([{ path: 'srv/', type: 'dir' }, { path: 'srv/app', content: Buffer.alloc(6000, 'a'), mode: 0o755 }]);
  writeBuiltLayout(join(tmp, 'layered'), '1', buildImage({ User: 'app', Entrypoint: ['/srv/app'], Env: ['PATH=/bin'] }, [base, app]));
  writeBuiltLayout(join(tmp, 'pause'), '1', buildImage({ User: '65535:65535', Entrypoint: ['/pause'] }, [buildTar([{ path: 'pause', content: Buffer.alloc(3000, 'p'), mode: 0o755 }])]));
  const map = new Map([
    ['registry.example/layered:1', `oci:${join(tmp, 'layered')}:1`],
    [PAUSE_REF, `oci:${join(tmp, 'pause')}:1`],
  ]);
  const resolved = await resolveImages([...map.keys()], { map, baseDir: tmp, layers: { cache: new LayerCache() } });
  const pod = generateForYaml(LAYER_POD, { settings: HOST_PULL, images: (ref) => resolved.get(ref)!.config }).pods[0]!;
  return { pod, hashes: { app: resolved.get('registry.example/layered:1')!.config.layers!.map((l) => l.verity_hash), pause: resolved.get(PAUSE_REF)!.config.layers!.map((l) => l.verity_hash) } };
})();

/** The layer storages the runtime sends for policy container `idx` (tardev snapshotter, virtio-blk devices). */
function layerRequestStorages(pd: Json, idx: number, bundle: string): Json[] {
  const overlay = (pd.containers[idx].storages as Json[]).find((s) => s.driver === 'overlayfs')!;
  const ids = (overlay.options[0] as string).split(':');
  const hashes = (overlay.options[1] as string).split(':');
  const layerOpts = (h: string): string[] => ['ro', 'io.katacontainers.fs-opt.block_device=file', 'io.katacontainers.fs-opt.is-layer', `io.katacontainers.fs-opt.root-hash=${h}`];
  return [
    ...ids.map((id, k) => ({ driver: 'blk', driver_options: [], source: `0001:00:0${k + 1}.0`, fstype: 'tar', options: layerOpts(hashes[k]!), mount_point: `/run/kata-containers/sandbox/layers/${id}`, fs_group: null })),
    {
      driver: 'overlayfs',
      driver_options: [],
      source: 'none',
      fstype: 'fuse3.kata-overlay',
      options: [
        'io.katacontainers.fs-opt.layer-src-prefix=/var/lib/containerd/io.containerd.snapshotter.v1.tardev/layers',
        ...ids.map((id, k) => `io.katacontainers.fs-opt.layer=${Buffer.from(`${id},tar,${layerOpts(hashes[k]!).join(',')}`).toString('base64')}`),
        'io.katacontainers.fs-opt.overlay-rw',
        `lowerdir=${ids.join(':')}`,
      ],
      mount_point: (pd.common.root_path as string).replace('$(bundle-id)', bundle),
      fs_group: null,
    },
  ];
}

function layeredRequest(pd: Json, idx: number): Json {
  const r = createRequest(pd, idx, 'layered', 'shop');
  r.storages = layerRequestStorages(pd, idx, r.container_id);
  return r;
}

/** The tarfs-era genpolicy rules' verdict on a request's storages against policy container `idx`'s. */
function tarfsStoragesAllowed(pd: Json, idx: number, request: Json): boolean {
  const p = new AgentPolicy(`${TARFS_RULES}\npolicy_data := ${JSON.stringify(pd)}\n\ndefault StoragesCheck = false\nStoragesCheck {\n    allow_storages(input.p, input.i, input.bundle_id, input.sandbox_id)\n}\n`, { regoVersion: 'v0' });
  return p.evaluate('StoragesCheck', { p: pd.containers[idx].storages, i: request.storages, bundle_id: request.container_id, sandbox_id: SANDBOX_ID }).allowed;
}

const sandboxStep = (pd: Json): Step => ({ endpoint: 'CreateSandboxRequest', input: { hostname: '', dns: [], storages: pd.sandbox.storages, sandbox_pidns: false, sandbox_id: SANDBOX_ID, guest_hook_path: '', kernel_modules: [] } });

test('guest pull off: the pause and app containers\' layer storages pin each layer\'s root hash, and both are allowed', async () => {
  const { pod, hashes } = await layered;
  const pd = pod.policyData;
  // The pause container's storages are the pause image's layer and overlay; the app's its two layers and overlay.
  assert.deepEqual(pd.containers[0].storages.map((s: Json) => s.driver), ['blk', 'overlayfs']);
  assert.equal(pd.containers[0].storages[1].options[1], hashes.pause.join(':'));
  assert.deepEqual(pd.containers[1].storages.map((s: Json) => s.driver), ['blk', 'blk', 'overlayfs']);
  assert.equal(pd.containers[1].storages[2].options[1], [...hashes.app].reverse().join(':'));
  // The image's User is a name: uid and primary group from its /etc/passwd, the groups /etc/group makes it a
  // member of (not the one named after it) among the additional groups.
  assert.deepEqual(pd.containers[1].OCI.Process.User, { UID: 1000, GID: 1001, AdditionalGids: [44, 50, 1001], Username: '' });
  const ours = new AgentPolicy(pod.policy);
  const theirs = new AgentPolicy(`${GENPOLICY_RULES}\npolicy_data := ${JSON.stringify(pd)}\n`);
  for (const p of [ours, theirs]) assert.equal(p.evaluate('CreateSandboxRequest', sandboxStep(pd).input).allowed, true);
  for (const idx of [0, 1]) {
    const req = layeredRequest(pd, idx);
    const d = ours.evaluate('CreateContainerRequest', req);
    assert.equal(d.allowed, true, `cocokit, container ${idx}: ${d.reason}`);
    assert.equal(tarfsStoragesAllowed(pd, idx, req), true, `tarfs-era rules, container ${idx}`);
    // genpolicy's current rules have no tar-layer storages any more.
    assert.equal(theirs.evaluate('CreateContainerRequest', req).allowed, false);
  }
});

const LAYER_MUTATIONS: [string, number, (s: Json[], pd: Json, bundle: string) => void, RegExp][] = [
  ['a layer device with another root hash', 1, (s) => (s[0]!.options[3] = `io.katacontainers.fs-opt.root-hash=${'0'.repeat(64)}`), /storages: no policy storage allows .*root-hash=0{64}/],
  ['an overlay naming another root hash for a layer', 1, (s) => (s[2]!.options[1] = `io.katacontainers.fs-opt.layer=${Buffer.from(`${'1'.repeat(64)},tar,ro`).toString('base64')}`), /storages: no policy storage allows .*overlayfs/],
  ['a layer left out', 1, (s) => s.splice(1, 1), /storages: policy has 3, request 2/],
  ['an extra layer', 1, (s) => s.unshift({ ...s[0]!, source: '0001:00:09.0', options: [...s[0]!.options.slice(0, 3), `io.katacontainers.fs-opt.root-hash=${'2'.repeat(64)}`], mount_point: `/run/kata-containers/sandbox/layers/${'3'.repeat(64)}` }), /storages: policy has 3, request 4/],
  ['the layers in another order', 1, (s) => (s[2]!.options[4] = `lowerdir=${s[2]!.options[4].slice('lowerdir='.length).split(':').reverse().join(':')}`), /storages: no policy storage allows .*lowerdir/],
  ['the pause container on the app image\'s layers', 0, (s, pd, bundle) => s.splice(0, s.length, ...layerRequestStorages(pd, 1, bundle)), /storages: policy has 2, request 3/],
];

for (const [what, idx, mutate, explanation] of LAYER_MUTATIONS) {
  test(`guest pull off: ${what} is denied by cocokit (naming the storages) and by the tarfs-era rules`, async () => {
    const { pod } = await layered;
    const pd = pod.policyData;
    const req = layeredRequest(pd, idx);
    mutate(req.storages, pd, req.container_id);
    const ours = new AgentPolicy(pod.policy);
    ours.evaluate('CreateSandboxRequest', sandboxStep(pd).input);
    const d = ours.evaluate('CreateContainerRequest', req);
    assert.equal(d.allowed, false, 'cocokit allowed it');
    assert.match(d.reason, explanation);
    assert.equal(tarfsStoragesAllowed(pd, idx, req), false, 'the tarfs-era rules allowed it');
  });
}

// --- Where cocokit's generator differs from genpolicy's on purpose -----------------------------------------
//
// A persistentVolumeClaim mounted readOnly: the runtime sends the mount read-only, and the policy says "ro"
// (genpolicy writes "rw" for every claim, which would deny that request and allow a writable one). Names in
// source patterns are regex-escaped: genpolicy's unescaped "app.conf" also matches another shared file
// "appXconf", and a "+" in a name keeps its pattern from matching the name at all.

const DEVIATIONS_POD = `apiVersion: v1
kind: Pod
metadata: {name: devs, namespace: shop}
spec:
  volumes:
    - {name: data, persistentVolumeClaim: {claimName: data-claim}}
    - {name: settings, configMap: {name: app-config}}
  containers:
    - name: app
      image: registry.example/app:1
      volumeMounts:
        - {name: data, mountPath: /srv/data+1, readOnly: true}
        - {name: settings, mountPath: /etc/app.conf}
`;

test('a readOnly claim is mounted "ro" and names are escaped in patterns: both rule sets allow what the runtime sends and deny the rest', () => {
  const pod = generateWith(SETTINGS, DEVIATIONS_POD);
  const dpd = pod.policyData;
  const app = dpd.containers[1];
  assert.deepEqual(mountAtPolicy(app, '/srv/data+1'), { destination: '/srv/data+1', source: '$(sfprefix)data\\+1$', type_: 'bind', options: ['rbind', 'rprivate', 'ro'] });
  assert.equal(mountAtPolicy(app, '/etc/app.conf').source, '$(sfprefix)app\\.conf$');
  const ours = (): AgentPolicy => new AgentPolicy(pod.policy);
  const theirs = (pd: Json = dpd): AgentPolicy => new AgentPolicy(`${GENPOLICY_RULES}\npolicy_data := ${JSON.stringify(pd)}\n`);
  const decide = (p: AgentPolicy, mutate: (i: Json) => void = () => {}): { allowed: boolean; reason: string } => {
    p.evaluate('CreateSandboxRequest', sandboxStep(dpd).input);
    assert.equal(p.evaluate('CreateContainerRequest', createRequest(dpd, 0, 'devs', 'shop')).allowed, true);
    const req = createRequest(dpd, 1, 'devs', 'shop');
    mutate(req);
    return p.evaluate('CreateContainerRequest', req);
  };
  for (const p of [ours(), theirs()]) assert.equal(decide(p).allowed, true);
  const writable = (i: Json): void => void (mountAt(i, '/srv/data+1').options = ['rbind', 'rprivate', 'rw']);
  const otherFile = (i: Json): void => void (mountAt(i, '/etc/app.conf').source = mountAt(i, '/etc/app.conf').source.replace(/app\.conf$/, 'appXconf'));
  for (const [what, mutate] of [['the claim mounted read-write', writable], ['another shared file', otherFile]] as const) {
    const d = decide(ours(), mutate);
    assert.equal(d.allowed, false, `cocokit allowed ${what}`);
    assert.match(d.reason, /OCI\.Mounts: no policy mount allows/);
    assert.equal(decide(theirs(), mutate).allowed, false, `genpolicy's rules allowed ${what}`);
  }
  // The patterns genpolicy itself would write: "rw" for the claim, the names unescaped.
  const unescaped = structuredClone(dpd);
  mountAtPolicy(unescaped.containers[1], '/srv/data+1').options = ['rbind', 'rprivate', 'rw'];
  mountAtPolicy(unescaped.containers[1], '/srv/data+1').source = '$(sfprefix)data+1$';
  mountAtPolicy(unescaped.containers[1], '/etc/app.conf').source = '$(sfprefix)app.conf$';
  assert.equal(decide(theirs(unescaped)).allowed, false, 'the read-only claim the runtime sends, which genpolicy\'s data denies');
  assert.equal(decide(theirs(unescaped), writable).allowed, false, 'its "+" pattern matches no "data+1"');
  const looseOnly = structuredClone(dpd);
  mountAtPolicy(looseOnly.containers[1], '/etc/app.conf').source = '$(sfprefix)app.conf$';
  assert.equal(decide(theirs(looseOnly), otherFile).allowed, true, 'its unescaped "." lets another file through');
});

function mountAtPolicy(c: Json, destination: string): Json {
  const m = (c.OCI.Mounts as Json[]).find((x) => x.destination === destination);
  assert.ok(m, `no policy mount at ${destination}`);
  return m;
}
