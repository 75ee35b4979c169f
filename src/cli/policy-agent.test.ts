import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './program.js';
import { bufferIO } from './io.js';

// genpolicy-style state handling (specs/rego.md §3.4–3.5): CreateContainerRequest stores the container's
// policy index in data.pstate, ExecProcessRequest reads it, RemoveContainerRequest (default true) removes it.
const POLICY = `package agent_policy

default AllowRequestsFailingPolicy := false
default CreateContainerRequest := false
default ExecProcessRequest := false
default RemoveContainerRequest := true

CreateContainerRequest := {"ops": [{"op": "add", "path": concat("/", ["/pstate", input.container_id]), "value": idx}], "allowed": true} if {
	some idx, c in policy_data.containers
	c.Args == input.OCI.Process.Args
}

ExecProcessRequest if {
	print("exec", input.process.Args, "in", input.container_id)
	idx := data.pstate[input.container_id]
	input.process.Args in policy_data.containers[idx].exec_commands
}

RemoveContainerRequest := {"ops": [{"op": "remove", "path": concat("/", ["/pstate", input.container_id])}], "allowed": true} if {
	_ = data.pstate[input.container_id]
}

policy_data := {"containers": [{"Args": ["/pause"], "exec_commands": []}, {"Args": ["sh"], "exec_commands": [["echo", "ok"]]}]}
`;

function withFiles(files: Record<string, string>, f: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-agent-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return f(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const FILES = {
  'policy.rego': POLICY,
  'create.json': JSON.stringify({ container_id: 'c1', OCI: { Process: { Args: ['sh'] } } }),
  'exec-ok.json': JSON.stringify({ container_id: 'c1', process: { Args: ['echo', 'ok'] } }),
  'exec-bad.json': JSON.stringify({ container_id: 'c1', process: { Args: ['cat', '/etc/shadow'] } }),
  'remove.json': JSON.stringify({ container_id: 'c1', timeout: 0 }),
  'broken.json': '{"container_id": ',
};

test('policy agent evaluates requests in order with state carried across them', async () => {
  await withFiles(FILES, async (dir) => {
    const io = bufferIO({}, dir);
    const args = ['policy', 'agent', '-d', 'policy.rego'];
    for (const r of ['CreateContainerRequest=create.json', 'ExecProcessRequest=exec-ok.json', 'RemoveContainerRequest=remove.json', 'ExecProcessRequest=exec-ok.json']) args.push('--request', r);
    assert.equal(await run(args, io), 6, 'a denial exits with the policy status');
    const lines = io.out().trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[0], '1 CreateContainerRequest: allowed (1 state op)');
    assert.equal(lines[1], '2 ExecProcessRequest: allowed');
    assert.equal(lines[2], '3 RemoveContainerRequest: allowed (1 state op)');
    assert.match(lines[3]!, /^4 ExecProcessRequest: denied: ExecProcessRequest is blocked by policy: agent_policy:\d+: exec \["echo", "ok"\] in c1$/);
  });
});

test('policy agent --json reports decisions, errors and the final state', async () => {
  await withFiles(FILES, async (dir) => {
    const io = bufferIO({}, dir);
    const code = await run(
      ['policy', 'agent', '-d', 'policy.rego', '--json', '--request', 'CreateContainerRequest=create.json', '--request', 'ExecProcessRequest=broken.json', '--request', 'ExecProcessRequest=exec-bad.json'],
      io,
    );
    assert.equal(code, 4, 'the first error (bad input JSON) decides the exit status');
    const out = JSON.parse(io.out()) as {
      allowFailures: boolean;
      decisions: Array<{ endpoint: string; allowed: boolean; ops?: unknown[]; reason?: string; prints?: string[]; error?: { code: string } }>;
      state: unknown;
    };
    assert.equal(out.allowFailures, false);
    assert.deepEqual(out.decisions[0]!.ops, [{ op: 'add', path: '/pstate/c1', value: 1 }]);
    assert.equal(out.decisions[1]!.error?.code, 'AGENT_POLICY_INPUT');
    assert.equal(out.decisions[2]!.allowed, false);
    assert.equal(out.decisions[2]!.reason, `ExecProcessRequest is blocked by policy: ${out.decisions[2]!.prints!.join(' ')}`);
    assert.deepEqual(out.state, { c1: 1 });
  });
});

test("policy agent reads the agent's policy.jsonl request log", async () => {
  const log = [
    { kind: 'CreateContainerRequest', request: { container_id: 'c9', OCI: { Process: { Args: ['/pause'] } } } },
    { kind: 'RemoveContainerRequest', request: { container_id: 'c9', timeout: 0 } },
    { kind: 'GetMetricsRequest', request: {} },
  ]
    .map((x) => JSON.stringify(x))
    .join('\n');
  await withFiles({ ...FILES, 'policy.jsonl': log + '\n', 'bad.jsonl': '{"kind": 1}\n' }, async (dir) => {
    const io = bufferIO({}, dir);
    assert.equal(await run(['policy', 'agent', '-d', 'policy.rego', '--requests', 'policy.jsonl'], io), 4);
    const lines = io.out().trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['1 CreateContainerRequest: allowed (1 state op)', '2 RemoveContainerRequest: allowed (1 state op)']);
    assert.match(lines[2]!, /^3 GetMetricsRequest: error: AGENT_POLICY_UNDEFINED: /);
    const bad = bufferIO({}, dir);
    assert.equal(await run(['policy', 'agent', '-d', 'policy.rego', '--requests', 'bad.jsonl'], bad), 4);
    assert.match(bad.err(), /CLI_AGENT_REQUESTS|bad\.jsonl:1/);
    const usage = bufferIO({}, dir);
    assert.equal(await run(['policy', 'agent', '-d', 'policy.rego', '--request', 'create.json'], usage), 1);
  });
});
