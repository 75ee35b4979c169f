import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse as parseToml } from 'smol-toml';
import { vectorPath } from '../test-support/vectors.js';
import { CocoError } from '../errors.js';
import { AgentPolicy } from './agent.js';

// A small agent policy in the style of genpolicy's rules.rego (specs/rego.md §3.4–3.5): defaults from §3.5's
// table, state kept in data.pstate through `ops`, policy_data as a constant rule at the end.
const AGENT_RULES = `package agent_policy

default AllowRequestsFailingPolicy := false
default CreateContainerRequest := false
default ExecProcessRequest := false
default RemoveContainerRequest := true
default ResizeVolumeRequest := false

CreateContainerRequest := {"ops": ops, "allowed": true} if {
	i_oci := input.OCI
	sandbox_name := i_oci.Annotations["io.kubernetes.cri.sandbox-name"]
	some idx, p_container in policy_data.containers
	p_container.image == i_oci.Annotations["io.kubernetes.cri.image-name"]
	p_container.Args == i_oci.Process.Args
	ops_sandbox := state_ops("sandbox_name", sandbox_name)
	ops := array.concat(ops_sandbox, [{"op": "add", "path": get_state_path(input.container_id), "value": idx}])
}

ExecProcessRequest if {
	print("ExecProcessRequest: Args =", input.process.Args)
	some cmd in policy_data.request_defaults.ExecProcessRequest.allowed_commands
	input.process.Args == cmd
}

ExecProcessRequest if {
	idx := get_state()[input.container_id]
	some cmd in policy_data.containers[idx].exec_commands
	input.process.Args == cmd
}

RemoveContainerRequest := {"ops": ops, "allowed": true} if {
	_ = get_state()[input.container_id]
	ops := [{"op": "remove", "path": get_state_path(input.container_id)}]
}

# Contrived: claims a volume and removes its reservation, which fails when none was made.
ResizeVolumeRequest := {"ops": ops, "allowed": true} if {
	ops := [
		{"op": "add", "path": "/pstate/resized", "value": input.volume_guest_path},
		{"op": "remove", "path": get_state_path(input.volume_guest_path)},
	]
}

get_state() := data.pstate

get_state_path(key) := concat("/", ["/pstate", replace(replace(key, "~", "~0"), "/", "~1")])

state_ops(key, value) := [] if {
	get_state()[key] == value
}

state_ops(key, value) := [{"op": "add", "path": get_state_path(key), "value": value}] if {
	not get_state()[key]
}

policy_data := {
	"containers": [
		{"image": "pause", "Args": ["/pause"], "exec_commands": []},
		{"image": "busybox", "Args": ["sleep", "3600"], "exec_commands": [["echo", "ready"]]},
	],
	"request_defaults": {"ExecProcessRequest": {"allowed_commands": [["/bin/date"]]}},
}
`;

const ID1 = 'a'.repeat(64);
const ID2 = 'b'.repeat(64);

function create(id: string, image: string, args: string[], sandbox = 'web-0'): unknown {
  return {
    container_id: id,
    exec_id: id,
    string_user: null,
    OCI: { Annotations: { 'io.kubernetes.cri.sandbox-name': sandbox, 'io.kubernetes.cri.image-name': image }, Process: { Args: args } },
  };
}

const exec = (id: string, args: string[]): unknown => ({ container_id: id, exec_id: 'e1', string_user: null, process: { Args: args } });

test('state persists across requests: create adds pstate, exec reads it, remove deletes it', () => {
  const p = new AgentPolicy(AGENT_RULES);
  assert.equal(p.allowFailures, false);
  assert.deepEqual(p.data(), { pstate: {} });

  const c1 = p.evaluate('CreateContainerRequest', create(ID1, 'pause', ['/pause']));
  assert.equal(c1.allowed, true);
  assert.deepEqual(c1.ops, [
    { op: 'add', path: '/pstate/sandbox_name', value: 'web-0' },
    { op: 'add', path: `/pstate/${ID1}`, value: 0 },
  ]);
  const c2 = p.evaluate('CreateContainerRequest', create(ID2, 'busybox', ['sleep', '3600']));
  assert.deepEqual(c2.ops, [{ op: 'add', path: `/pstate/${ID2}`, value: 1 }], 'the sandbox name is already stored');
  assert.deepEqual(p.state(), { sandbox_name: 'web-0', [ID1]: 0, [ID2]: 1 });

  // The probe command of policy container 1 is allowed only in the container created from it.
  assert.equal(p.evaluate('ExecProcessRequest', exec(ID2, ['echo', 'ready'])).allowed, true);
  const denied = p.evaluate('ExecProcessRequest', exec(ID1, ['echo', 'ready']));
  assert.equal(denied.allowed, false);
  assert.equal(denied.prints.length, 1);
  assert.match(denied.prints[0]!, /^agent_policy:\d+: ExecProcessRequest: Args = /);
  assert.equal(denied.reason, `ExecProcessRequest is blocked by policy: ${denied.prints.join(' ')}`);
  assert.equal(p.evaluate('ExecProcessRequest', exec(ID1, ['/bin/date'])).allowed, true);

  const r = p.evaluate('RemoveContainerRequest', { container_id: ID2, timeout: 0 });
  assert.deepEqual([r.allowed, r.ops], [true, [{ op: 'remove', path: `/pstate/${ID2}` }]]);
  assert.deepEqual(p.state(), { sandbox_name: 'web-0', [ID1]: 0 });
  assert.equal(p.evaluate('ExecProcessRequest', exec(ID2, ['echo', 'ready'])).allowed, false, 'a removed container has no state');
  // RemoveContainerRequest defaults to true: removing an unknown container is allowed and changes nothing.
  const again = p.evaluate('RemoveContainerRequest', { container_id: ID2, timeout: 0 });
  assert.deepEqual([again.allowed, again.ops], [true, []]);
});

test('a container from another sandbox is denied by the stored sandbox name, without ops', () => {
  const p = new AgentPolicy(AGENT_RULES);
  p.evaluate('CreateContainerRequest', create(ID1, 'pause', ['/pause']));
  const d = p.evaluate('CreateContainerRequest', create(ID2, 'busybox', ['sleep', '3600'], 'other-0'));
  assert.deepEqual([d.allowed, d.ops, d.reason], [false, [], 'CreateContainerRequest is blocked by policy: ']);
  assert.deepEqual(p.state(), { sandbox_name: 'web-0', [ID1]: 0 });
});

test('a patch that fails leaves the state unchanged and is reported as REGO_JSON_PATCH', () => {
  const p = new AgentPolicy(AGENT_RULES);
  p.evaluate('CreateContainerRequest', create(ID1, 'pause', ['/pause']));
  const before = p.state();
  assert.throws(
    () => p.evaluate('ResizeVolumeRequest', { volume_guest_path: '/no/such', size: 1 }),
    (e: unknown) =>
      e instanceof CocoError &&
      e.code === 'REGO_JSON_PATCH' &&
      e.message.startsWith('ResizeVolumeRequest: state not updated:') &&
      e.message.includes('operation 1') &&
      e.message.includes('/pstate/~1no~1such'),
  );
  assert.deepEqual(p.state(), before);
  // The pointer escapes of a real key work: the same op succeeds once the reservation exists.
  p.evaluate('CreateContainerRequest', create('/no/such', 'pause', ['/pause']));
  assert.equal(p.evaluate('ResizeVolumeRequest', { volume_guest_path: '/no/such' }).allowed, true);
  assert.deepEqual(p.state(), { sandbox_name: 'web-0', [ID1]: 0, resized: '/no/such' });
});

test('an undefined request is an error unless AllowRequestsFailingPolicy', () => {
  const p = new AgentPolicy(AGENT_RULES);
  assert.throws(() => p.evaluate('StatsContainerRequest', { container_id: ID1 }), (e: unknown) => e instanceof CocoError && e.code === 'AGENT_POLICY_UNDEFINED');
  const lax = new AgentPolicy(AGENT_RULES.replace('default AllowRequestsFailingPolicy := false', 'default AllowRequestsFailingPolicy := true'));
  assert.equal(lax.allowFailures, true);
  const s = lax.evaluate('StatsContainerRequest', { container_id: ID1 });
  assert.equal(s.allowed, true);
  assert.ok(s.warning);
  const e = lax.evaluate('ExecProcessRequest', exec(ID1, ['rm', '-rf', '/']));
  assert.equal(e.allowed, true);
  assert.ok(e.warning?.startsWith('ExecProcessRequest is blocked by policy: '));
  assert.equal(e.reason, 'allowed');
});

test('AllowRequestsFailingPolicy is evaluated with input {} at load time', () => {
  const p = new AgentPolicy(AGENT_RULES.replace('default AllowRequestsFailingPolicy := false', 'AllowRequestsFailingPolicy if count(input) == 0'));
  assert.equal(p.allowFailures, true);
  const missing = new AgentPolicy(AGENT_RULES.replace('default AllowRequestsFailingPolicy := false', ''));
  assert.equal(missing.allowFailures, false);
});

test('results that are neither boolean nor {allowed, ops} are CocoErrors', () => {
  const p = new AgentPolicy(
    AGENT_RULES +
      '\nGetMetricsRequest := "yes"\nListRoutesRequest := {"ops": []}\nListInterfacesRequest := {"allowed": true, "ops": {"op": "add"}}\nGetIPTablesRequest := {"allowed": true, "ops": [{"op": "add", "path": "", "value": 1}]}\n',
  );
  for (const ep of ['GetMetricsRequest', 'ListRoutesRequest', 'ListInterfacesRequest']) {
    assert.throws(() => p.evaluate(ep, {}), (e: unknown) => e instanceof CocoError && e.code === 'AGENT_POLICY_RESULT', ep);
  }
  assert.throws(() => p.evaluate('GetIPTablesRequest', {}), (e: unknown) => e instanceof CocoError && e.code === 'REGO_DATA');
  assert.deepEqual(p.data(), { pstate: {} });
});

test('bad request JSON and bad endpoint names are CocoErrors', () => {
  const p = new AgentPolicy(AGENT_RULES);
  for (const text of ['', '{', '{"container_id": }', 'nul', '[1,]']) {
    assert.throws(() => p.evaluateJson('RemoveContainerRequest', text), (e: unknown) => e instanceof CocoError && e.code === 'AGENT_POLICY_INPUT', text);
  }
  assert.equal(p.evaluateJson('RemoveContainerRequest', '{"container_id": "x", "timeout": 0}').allowed, true);
  for (const ep of ['', 'data.x', 'a b', 'X[1]']) assert.throws(() => p.evaluate(ep, {}), (e: unknown) => e instanceof CocoError && e.code === 'AGENT_POLICY_ENDPOINT', ep);
  assert.throws(() => new AgentPolicy('package agent_policy\nx := '), (e: unknown) => e instanceof CocoError);
});

test('fuzz: random request inputs give a decision or a CocoError, and a denial never changes state', () => {
  const p = new AgentPolicy(AGENT_RULES);
  p.evaluate('CreateContainerRequest', create(ID1, 'pause', ['/pause']));
  const eps = fc.constantFrom('CreateContainerRequest', 'ExecProcessRequest', 'RemoveContainerRequest', 'ResizeVolumeRequest', 'StatsContainerRequest');
  const input = fc.oneof(
    fc.jsonValue(),
    fc.record({ container_id: fc.oneof(fc.constant(ID1), fc.string({ maxLength: 5 })), process: fc.record({ Args: fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }) }) }),
    fc.constantFrom(create(ID2, 'busybox', ['sleep', '3600']), create(ID2, 'busybox', ['sleep', '3600'], 'x')),
  );
  fc.assert(
    fc.property(eps, input, fc.boolean(), (ep, inp, asText) => {
      const before = JSON.stringify(p.data());
      try {
        const d = asText ? p.evaluateJson(ep, JSON.stringify(inp)) : p.evaluate(ep, inp);
        assert.equal(typeof d.allowed, 'boolean');
        if (!d.allowed) assert.equal(JSON.stringify(p.data()), before);
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
        assert.equal(JSON.stringify(p.data()), before);
      }
    }),
    { numRuns: 300 },
  );
  assert.ok(typeof (p.state() as Record<string, unknown>).sandbox_name === 'string');
});

// --- The agent policies carried by the init-data vectors (kata docs, CAA docs) ----------------------------

function vectorPolicy(file: string): string {
  const doc = parseToml(readFileSync(vectorPath('initdata', file), 'utf8')) as { data: Record<string, string> };
  return doc.data['policy.rego']!;
}

/** `default X := true|false` declarations of endpoints that have no rule body besides the default. */
function defaultOnly(text: string): Array<[string, boolean]> {
  const out: Array<[string, boolean]> = [];
  for (const m of text.matchAll(/^default ([A-Za-z]+) := (true|false)$/gm)) {
    const body = new RegExp(`^${m[1]}\\s*(:=|=|if|\\{)`, 'm');
    if (!body.test(text)) out.push([m[1]!, m[2] === 'true']);
  }
  return out;
}

for (const file of ['kata-doc-allow-all-except-exec.toml', 'caa-doc-initdata.toml', 'trustee-init-data-with-policy.toml']) {
  test(`vector policy ${file}: endpoints with only a default get that default`, () => {
    const text = vectorPolicy(file);
    const p = new AgentPolicy(text);
    const eps = defaultOnly(text);
    assert.ok(eps.length >= 15, `${eps.length} default-only endpoints`);
    for (const [ep, want] of eps) {
      if (ep === 'AllowRequestsFailingPolicy') {
        assert.equal(p.allowFailures, want);
        continue;
      }
      const d = p.evaluate(ep, {});
      assert.equal(d.allowed, want, ep);
      assert.deepEqual(d.ops, []);
      if (!want) assert.equal(d.reason, `${ep} is blocked by policy: ${d.prints.join(' ')}`);
    }
    assert.deepEqual(p.state(), {});
  });
}

test('kata docs policy allows everything except ExecProcessRequest', () => {
  const p = new AgentPolicy(vectorPolicy('kata-doc-allow-all-except-exec.toml'));
  assert.deepEqual(p.evaluate('ExecProcessRequest', exec(ID1, ['sh'])), {
    endpoint: 'ExecProcessRequest',
    allowed: false,
    prints: [],
    ops: [],
    reason: 'ExecProcessRequest is blocked by policy: ',
  });
  assert.equal(p.evaluate('CreateContainerRequest', create(ID1, 'pause', ['/pause'])).allowed, true);
});
