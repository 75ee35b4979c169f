/**
 * The inspector's view of a Kata agent policy (the Rego genpolicy writes, with its `policy_data := {…}`
 * document): the default decision of every agent request, each container the policy admits (image,
 * command, environment, mounts), the request defaults, its size and digest, and whether the project's Rego
 * engine loads it as the agent would (policy/agent.ts).
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../errors.js';
import { check, type Check } from '../formats/check.js';
import { isRecord } from '../formats/json.js';
import { agentPolicyData } from '../measure/initdata.js';
import { readPolicyDataDocument } from '../policy/policy-fragments.js';
import { AgentPolicy } from '../policy/agent.js';
import type { InspectedField, Inspection } from './types.js';

/** Agent policies are tens of KiB; a megabyte is far past any generated one. */
export const MAX_AGENT_POLICY_BYTES = 1024 * 1024;

export function looksLikeAgentPolicy(text: string): boolean {
  return /^\s*package\s+agent_policy\b/m.test(text.slice(0, 8192)) || (/^\s*package\s+\w+/m.test(text.slice(0, 8192)) && /^policy_data\s*:?=/m.test(text));
}

const DEFAULT_RULE = /^default\s+([A-Za-z_][A-Za-z0-9_]*)\s*:?=\s*(true|false)\s*$/gm;

function defaults(text: string): Array<[string, boolean]> {
  return [...text.matchAll(DEFAULT_RULE)].map((m) => [m[1], m[2] === 'true']);
}

/** policy_data as the agent's engine sees it: plain JSON or naming shared `policy_fragment_N` constants. */
function policyData(text: string): Record<string, unknown> | undefined {
  try {
    const v = readPolicyDataDocument(text);
    return isRecord(v) ? v : undefined;
  } catch (e) {
    if (!(e instanceof CocoError)) throw e;
    return agentPolicyData(text);
  }
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const rec = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {});

function image(c: Record<string, unknown>): string {
  const a = rec(rec(c.OCI).Annotations);
  const name = a['io.kubernetes.cri.image-name'];
  if (typeof name === 'string') return name;
  return a['io.kubernetes.cri.container-type'] === 'sandbox' ? '(pause container)' : '(any)';
}

/** The few facts of an agent policy worth showing next to an init-data entry. */
export function agentPolicySummary(text: string): Record<string, string | number> {
  const data = policyData(text);
  const containers = list(data?.containers).filter(isRecord);
  return {
    containers: containers.length,
    images: containers.map(image).join(', '),
    allowed_by_default: defaults(text).filter(([, v]) => v).length,
    blocked_by_default: defaults(text).filter(([, v]) => !v).length,
  };
}

export function inspectAgentPolicy(bytes: Uint8Array): Inspection {
  if (bytes.length > MAX_AGENT_POLICY_BYTES) throw new CocoError('INSPECT_SIZE', `agent policy is ${bytes.length} bytes, more than ${MAX_AGENT_POLICY_BYTES}`, { kind: 'limit' });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CocoError('INSPECT_POLICY', 'agent policy is not UTF-8 text', { kind: 'input' });
  }
  const pkg = /^\s*package\s+([\w.]+)/m.exec(text)?.[1] ?? '(none)';
  const fields: InspectedField[] = [
    { name: 'package', value: pkg, meaning: 'Rego package; the Kata agent queries data.agent_policy.<Request>' },
    { name: 'size', value: `${bytes.length} bytes`, meaning: 'size of the policy text (the init-data or SetPolicy payload)' },
    { name: 'sha256', value: createHash('sha256').update(bytes).digest('hex'), meaning: 'SHA-256 of the policy text', references: ['agent_policy_sha256'] },
    { name: 'sha384', value: createHash('sha384').update(bytes).digest('hex'), meaning: 'SHA-384 of the policy text' },
  ];
  for (const [name, allowed] of defaults(text)) {
    fields.push({ name: `default.${name}`, value: allowed ? 'allowed' : 'blocked', meaning: allowed ? 'allowed unless a rule says otherwise' : 'blocked unless a rule allows it' });
  }
  const data = policyData(text);
  const notes: string[] = [];
  if (!data) notes.push('no policy_data document: the policy carries no container list (a hand-written or default policy)');
  else {
    const containers = list(data.containers);
    containers.forEach((c, i) => {
      const cr = rec(c);
      const oci = rec(cr.OCI);
      const proc = rec(oci.Process);
      const a = rec(oci.Annotations);
      const flags: Record<string, string | number | boolean> = {
        name: String(a['io.kubernetes.cri.container-name'] ?? a['io.kubernetes.cri.container-type'] ?? ''),
        args: list(proc.Args).map(String).join(' '),
        env: list(proc.Env).length,
        mounts: list(oci.Mounts).length,
        storages: list(cr.storages).length,
        exec_commands: list(cr.exec_commands).length,
        read_only_root: rec(oci.Root).Readonly === true,
      };
      fields.push({ name: `containers[${i}]`, value: image(cr), meaning: 'a container the policy admits: image, command and settings CreateContainerRequest must match', flags });
    });
    for (const [name, v] of Object.entries(rec(data.request_defaults))) {
      const r = rec(v);
      const flags: Record<string, string | number | boolean> = {};
      for (const [k, x] of Object.entries(r)) flags[k] = Array.isArray(x) ? x.length : typeof x === 'object' ? JSON.stringify(x) : (x as string | number | boolean);
      const shown = Object.entries(flags).map(([k, x]) => `${k}=${x}`).join(' ');
      fields.push({ name: `request_defaults.${name}`, value: shown || JSON.stringify(v), meaning: 'settings the rules apply to this request (list lengths shown)', flags });
    }
    const common = rec(data.common);
    if (Object.keys(common).length) fields.push({ name: 'common', value: Object.keys(common).join(', '), meaning: 'shared settings (paths, regexes, default capabilities)' });
    const sandbox = rec(data.sandbox);
    if (Object.keys(sandbox).length) fields.push({ name: 'sandbox', value: `${list(sandbox.storages).length} storages`, meaning: 'sandbox-wide settings' });
  }
  const checks: Check[] = [];
  let loaded: AgentPolicy | undefined;
  try {
    loaded = new AgentPolicy(text);
    checks.push(check('rego-load', true, 'the policy parses and compiles as Rego v1, as the agent loads it'));
  } catch (e) {
    if (!(e instanceof CocoError)) throw e;
    try {
      // Older genpolicy output is Rego v0; the agent of that era loaded it so.
      loaded = new AgentPolicy(text, { regoVersion: 'v0' });
      checks.push(check('rego-load', true, `the policy compiles as Rego v0 only (older genpolicy syntax); as Rego v1: ${e.message}`));
    } catch {
      checks.push(check('rego-load', false, `the policy does not compile: ${e.message}`));
    }
  }
  if (loaded) {
    checks.push(check('allow-failing-requests', !loaded.allowFailures, loaded.allowFailures ? 'AllowRequestsFailingPolicy is true: every denied or undefined request is let through' : 'AllowRequestsFailingPolicy is false: denials are enforced'));
  }
  return {
    format: 'agent-policy',
    form: 'rego',
    title: `Kata agent policy (package ${pkg}), ${data ? `${list(data.containers).length} containers` : 'no policy_data'}, ${bytes.length} bytes`,
    fields,
    checks,
    notes,
  };
}
