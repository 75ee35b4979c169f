import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { vectorPath } from '../test-support/vectors.js';
import { CocoError } from '../errors.js';
import { AGENT_POLICY_MODULE, AgentPolicy } from './agent.js';
import { Engine } from '../rego/index.js';
import { AGENT_RULE_FILES, agentPolicyText, agentRulesText, extractPolicyData, upgradePolicyData } from './agent-rules.js';

// regorus' Kata vectors: 12 genpolicy-generated policies (older rules and schema) with the kata-agent requests
// recorded from real pods and the results regorus/the agent gave (PROVENANCE.md in the folder).
const KATA = vectorPath('rego', 'kata');
const CASES_DIR = `${KATA}/regorus-kata-tests`;
const CASES = readdirSync(CASES_DIR).sort();

// The sandbox storages of a shared-fs (non-CoCo) configuration, from genpolicy's own drop-in.
const NON_COCO_DROPIN = JSON.parse(readFileSync(`${KATA}/genpolicy/drop-in-examples/10-non-coco-drop-in.json`, 'utf8')) as { path: string; value: unknown }[];
const SHARED_FS_SANDBOX_STORAGES = NON_COCO_DROPIN.find((op) => op.path === '/sandbox/storages')!.value as unknown[];

interface Case {
  name: string;
  policyData: Record<string, unknown>;
  requests: { endpoint: string; input: Record<string, unknown>; expected: unknown }[];
}

function loadCase(name: string): Case {
  const text = readFileSync(`${CASES_DIR}/${name}/policy.rego`, 'utf8');
  // The policies generated for the shared-fs configuration are the ones whose rules left storages unchecked
  // (the call is commented out): their requests carry no image-layer storages.
  const sharedFs = /^\s*#\s*allow_storages\(/m.test(text) ? { sandboxStorages: SHARED_FS_SANDBOX_STORAGES } : undefined;
  const policyData = upgradePolicyData(extractPolicyData(text), { sharedFs });
  const outputs = JSON.parse(readFileSync(`${CASES_DIR}/${name}/outputs.json`, 'utf8')) as unknown[];
  const lines = readFileSync(`${CASES_DIR}/${name}/inputs.txt`, 'utf8').split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, outputs.length, `${name}: one output per request`);
  const requests = lines.map((line, i) => {
    const [endpoint, input] = JSON.parse(line.trim().replace('"ep":', '').replace(/,$/, '')) as [string, Record<string, unknown>];
    return { endpoint, input, expected: outputs[i] };
  });
  return { name, policyData, requests };
}

const cases = CASES.map(loadCase);

test('the rules are one Rego v1 module made of the shipped files', () => {
  const text = agentRulesText();
  assert.equal(text.match(/^package agent_policy$/gm)?.length, 1);
  for (const name of AGENT_RULE_FILES) assert.ok(readFileSync(new URL(`./agent-rules/${name}`, import.meta.url), 'utf8').startsWith('#'), name);
  // A policy made of the rules alone compiles and keeps the request table's defaults.
  const p = new AgentPolicy(agentPolicyText({ containers: [], common: {}, request_defaults: {} }));
  assert.equal(p.allowFailures, false);
  assert.equal(p.evaluate('GuestDetailsRequest', {}).allowed, true);
  assert.equal(p.evaluate('SetPolicyRequest', {}).allowed, false);
  assert.equal(p.evaluate('CreateContainerRequest', { OCI: { Annotations: {}, Linux: { Seccomp: null }, Hooks: null } }).allowed, false);
});

test('cocokit rules decide all 442 recorded kata-agent requests as recorded, over each policy\'s upgraded policy_data', () => {
  let total = 0;
  for (const c of cases) {
    const policy = new AgentPolicy(agentPolicyText(c.policyData));
    for (const [i, r] of c.requests.entries()) {
      total++;
      const got = r.endpoint === 'AllowRequestsFailingPolicy' ? policy.allowFailures : policy.evaluate(r.endpoint, r.input).allowed;
      assert.equal(got, r.expected, `${c.name} request ${i} (${r.endpoint})`);
    }
  }
  assert.equal(total, 442);
});

test('each recorded pod\'s policy names its shared fragments, and cocokit\'s Rego engine evaluates policy_data as the document', () => {
  let named = 0;
  for (const c of cases) {
    const text = agentPolicyText(c.policyData);
    if (/^policy_fragment_1 := /m.test(text)) named++;
    assert.ok(text.length <= agentPolicyText(c.policyData, { fragments: false }).length, c.name);
    // configured as AgentPolicy configures it: generated policies read policy_data fields they lack
    const engine = new Engine({ strict: false, refChecks: false });
    engine.addData({ pstate: {} });
    engine.addPolicy(AGENT_POLICY_MODULE, text, { regoVersion: 'v1' });
    assert.deepEqual(engine.evalQuery(`data.${AGENT_POLICY_MODULE}.policy_data`).result[0]!.expressions[0]!.value, JSON.parse(JSON.stringify(c.policyData)), c.name);
    assert.deepEqual(extractPolicyData(text), JSON.parse(JSON.stringify(c.policyData)), c.name);
  }
  assert.equal(named, cases.length, 'every recorded pod repeats some part of its policy_data');
});

// --- Mutations of recorded requests that must be denied, each explained -----------------------------------

type Json = Record<string, any>;

/** Replays a case up to (not including) request `upTo`, so state recorded by earlier requests is in place. */
function replay(c: Case, upTo: number): AgentPolicy {
  const policy = new AgentPolicy(agentPolicyText(c.policyData));
  for (const r of c.requests.slice(0, upTo)) if (r.endpoint !== 'AllowRequestsFailingPolicy') policy.evaluate(r.endpoint, r.input);
  return policy;
}

const web = cases.find((c) => c.name === 'web')!;
const appCreate = web.requests.findIndex((r) => r.endpoint === 'CreateContainerRequest' && (r.input as Json).OCI.Annotations['io.kubernetes.cri.container-type'] === 'container');

function mutated(mutate: (input: Json) => void): { allowed: boolean; reason: string } {
  const policy = replay(web, appCreate);
  const input = structuredClone(web.requests[appCreate]!.input) as Json;
  mutate(input);
  const d = policy.evaluate('CreateContainerRequest', input);
  return { allowed: d.allowed, reason: d.reason };
}

test('the recorded application container is allowed before mutation', () => {
  assert.ok(appCreate > 0);
  assert.equal(mutated(() => {}).allowed, true);
});

const MUTATIONS: [string, (i: Json) => void, RegExp][] = [
  ['another image', (i) => (i.OCI.Annotations['io.kubernetes.cri.image-name'] = 'docker.io/library/evil:latest'), /io\.kubernetes\.cri\.image-name\]: policy mcr\.microsoft\.com.*request docker\.io\/library\/evil:latest/],
  ['an extra env variable', (i) => i.OCI.Process.Env.push('LD_PRELOAD=/tmp/x.so'), /OCI\.Process\.Env: LD_PRELOAD=\/tmp\/x\.so is not allowed/],
  ['a changed env value', (i) => (i.OCI.Process.Env[0] = `${i.OCI.Process.Env[0]}:/tmp`), /OCI\.Process\.Env: PATH=.*:\/tmp is not allowed/],
  ['changed args', (i) => (i.OCI.Process.Args = ['/bin/sh', '-c', 'id']), /OCI\.Process\.Args\[2\]: policy .*, request id"/],
  ['an extra argument', (i) => i.OCI.Process.Args.push('--debug'), /OCI\.Process\.Args: policy \[.*\], request \[.*--debug/],
  ['a changed argument', (i) => (i.OCI.Process.Args[0] = '/bin/evil'), /OCI\.Process\.Args\[0\]: policy .*, request \/bin\/evil/],
  ['an added capability', (i) => i.OCI.Process.Capabilities.Bounding.push('CAP_SYS_ADMIN'), /OCI\.Process\.Capabilities\.Bounding: policy \[.*\], request \[.*CAP_SYS_ADMIN.{0,3}\]/],
  ['privileged capabilities', (i) => (i.OCI.Process.Capabilities.Effective = [...i.OCI.Process.Capabilities.Effective, 'CAP_SYS_MODULE', 'CAP_NET_ADMIN']), /Capabilities\.Effective/],
  ['an extra mount', (i) => i.OCI.Mounts.push({ destination: '/host', source: '/', type_: 'bind', options: ['rbind', 'rw'] }), /OCI\.Mounts: no policy mount allows \{.*destination.{0,5}: .{0,2}\/host/],
  ['a different user', (i) => (i.OCI.Process.User.UID = 4242), /OCI\.Process\.User\.UID: policy \d+, request 4242/],
  ['a shared mount', (i) => (i.shared_mounts = [{ src_ctr: 'x', src_path: '/', dst_ctr: 'y', dst_path: '/host' }]), /shared_mounts must be empty/],
  ['a user name to resolve', (i) => (i.string_user = { uid: '0', gid: '0', additionalGids: [] }), /string_user must be null/],
  ['another sandbox name', (i) => (i.OCI.Annotations['io.kubernetes.cri.sandbox-name'] = 'other-pod'), /sandbox_name: the sandbox's is .*, request other-pod/],
  ['a hook', (i) => (i.OCI.Hooks = { Prestart: [{ Path: '/bin/sh' }] }), /OCI\.Hooks must be null/],
  ['another working directory', (i) => (i.OCI.Process.Cwd = '/tmp'), /OCI\.Process\.Cwd: policy \/.*, request \/tmp/],
  ['an unexpected annotation', (i) => (i.OCI.Annotations['io.katacontainers.config.hypervisor.kernel_params'] = 'init=/bin/sh'), /unexpected key io\.katacontainers\.config\.hypervisor\.kernel_params/],
  ['a layer with another root hash', (i) => {
    const s = i.storages.find((x: Json) => x.driver === 'blk');
    s.options[3] = `io.katacontainers.fs-opt.root-hash=${'0'.repeat(64)}`;
  }, /storages: no policy storage allows \{.*root-hash=0{64}/],
  ['a writable root for a read-only container', (i) => (i.OCI.Root.Readonly = !i.OCI.Root.Readonly), /OCI\.Root\.Readonly: policy (true|false), request (true|false)/],
];

for (const [what, mutate, explanation] of MUTATIONS) {
  test(`CreateContainerRequest with ${what} is denied, and the denial names the field`, () => {
    const d = mutated(mutate);
    assert.equal(d.allowed, false);
    assert.match(d.reason, /^CreateContainerRequest is blocked by policy: /);
    assert.match(d.reason, explanation);
  });
}

const exec = cases.find((c) => c.name === 'pod-exec')!;
const execAt = exec.requests.findIndex((r) => r.endpoint === 'ExecProcessRequest');

test('ExecProcessRequest: a listed command runs in its container; an unlisted one, or one in an unknown container, is denied', () => {
  const policy = replay(exec, execAt);
  const input = structuredClone(exec.requests[execAt]!.input) as Json;
  assert.equal(policy.evaluate('ExecProcessRequest', input).allowed, true);
  const other = structuredClone(input);
  other.process.Args = ['/bin/sh', '-c', 'cat /etc/shadow'];
  const d = policy.evaluate('ExecProcessRequest', other);
  assert.equal(d.allowed, false);
  assert.match(d.reason, /ExecProcessRequest: command \["\/bin\/sh", "-c", "cat \/etc\/shadow"\]/);
  const elsewhere = structuredClone(input);
  elsewhere.container_id = 'f'.repeat(64);
  assert.equal(policy.evaluate('ExecProcessRequest', elsewhere).allowed, false);
  // Without the CreateContainerRequest that recorded the container, its commands are unknown.
  assert.equal(replay(exec, 0).evaluate('ExecProcessRequest', input).allowed, false);
});

test('CopyFileRequest: paths outside the shared directory, traversal and absolute symlink targets are denied', () => {
  const c = cases.find((x) => x.name === 'pod-cm1')!;
  const at = c.requests.findIndex((r) => r.endpoint === 'CopyFileRequest');
  const policy = replay(c, at);
  const input = structuredClone(c.requests[at]!.input) as Json;
  assert.equal(policy.evaluate('CopyFileRequest', input).allowed, true);
  for (const change of [
    (i: Json) => (i.path = '/etc/passwd'),
    (i: Json) => (i.path = `${i.path}/../../../../etc/passwd`),
    (i: Json) => (i.path = `${i.path}/..`),
    (i: Json) => (i.symlink_src = '/etc/shadow'),
    (i: Json) => (i.symlink_src = '../../x'),
  ]) {
    const m = structuredClone(input);
    change(m);
    assert.equal(policy.evaluate('CopyFileRequest', m).allowed, false, JSON.stringify(m).slice(0, 200));
  }
});

test('CreateSandboxRequest: guest hooks, kernel modules, a shared PID namespace and unlisted storages are denied', () => {
  const c = cases.find((x) => x.name === 'web')!;
  const r = c.requests.find((x) => x.endpoint === 'CreateSandboxRequest')!;
  const policy = new AgentPolicy(agentPolicyText(c.policyData));
  assert.equal(policy.evaluate('CreateSandboxRequest', r.input).allowed, true);
  const changes: ((i: Json) => void)[] = [
    (i) => (i.guest_hook_path = '/usr/share/oci/hooks'),
    (i) => (i.kernel_modules = [{ name: 'evil', parameters: [] }]),
    (i) => (i.sandbox_pidns = true),
    (i) => i.storages.push({ driver: 'virtio-fs', driver_options: [], source: 'kataShared', fstype: 'virtiofs', options: [], mount_point: '/run/kata-containers/shared/containers/', fs_group: null }),
  ];
  for (const change of changes) {
    const m = structuredClone(r.input) as Json;
    change(m);
    assert.equal(policy.evaluate('CreateSandboxRequest', m).allowed, false);
  }
  const m = structuredClone(r.input) as Json;
  changes[3]!(m);
  assert.match(policy.evaluate('CreateSandboxRequest', m).reason, /storages not in policy_data\.sandbox\.storages: \[\{.*"driver": "virtio-fs"/);
});

test('network requests: the loopback device, zero hardware address, extra flags and loopback route sources are denied', () => {
  const c = cases.find((x) => x.name === 'web')!;
  const iface = c.requests.find((x) => x.endpoint === 'UpdateInterfaceRequest')!.input as Json;
  const routes = c.requests.find((x) => x.endpoint === 'UpdateRoutesRequest')!.input as Json;
  const policy = new AgentPolicy(agentPolicyText(c.policyData));
  assert.equal(policy.evaluate('UpdateInterfaceRequest', iface).allowed, true);
  assert.equal(policy.evaluate('UpdateRoutesRequest', routes).allowed, true);
  for (const change of [(i: Json) => (i.interface.name = 'lo'), (i: Json) => (i.interface.hwAddr = '00:00:00:00:00:00'), (i: Json) => (i.interface.raw_flags = 1)]) {
    const m = structuredClone(iface);
    change(m);
    assert.equal(policy.evaluate('UpdateInterfaceRequest', m).allowed, false);
  }
  const m = structuredClone(routes);
  m.routes.Routes.push({ dest: '', gateway: '', device: 'eth0', source: '127.0.0.1', scope: 0, family: 0, flags: 0 });
  assert.equal(policy.evaluate('UpdateRoutesRequest', m).allowed, false);
});

test('upgradePolicyData leaves its input alone and is idempotent', () => {
  const old = extractPolicyData(readFileSync(`${CASES_DIR}/web/policy.rego`, 'utf8'));
  const before = JSON.stringify(old);
  const once = upgradePolicyData(old);
  assert.equal(JSON.stringify(old), before);
  assert.deepEqual(upgradePolicyData(once), once);
  assert.equal((once.common as Json).svc_name, undefined);
  assert.equal(typeof (once.common as Json).svc_name_downward_env, 'string');
});

test('extractPolicyData and agentPolicyText refuse what is not a policy_data object with an input error', () => {
  for (const text of ['', 'package x', 'policy_data := [1]', 'policy_data := {"a":', 'policy_data := null']) {
    assert.throws(() => extractPolicyData(text), (e: unknown) => e instanceof CocoError && e.kind === 'input');
  }
  for (const v of [null, [], 'x', 1]) assert.throws(() => agentPolicyText(v), (e: unknown) => e instanceof CocoError && e.kind === 'input');
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      try {
        extractPolicyData(`policy_data := ${s}`);
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind === 'input');
      }
    }),
    { numRuns: 200 },
  );
});
