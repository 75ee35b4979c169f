/**
 * cocokit's Kata agent rules (agent-rules/*.rego beside this module, package `agent_policy`, Rego v1) and the
 * policy a pod gets: the rules followed by `policy_data := <JSON>` (specs/rego.md §3.4–3.6). The build copies
 * the .rego files next to the compiled module (scripts/copy-assets.mjs), so the same relative path works from
 * the sources and from the installed package.
 */
import { readFileSync } from 'node:fs';
import { CocoError } from '../errors.js';
import { fragmentJson, readPolicyDataDocument } from './policy-fragments.js';

/** The rule files, in the order they are joined. */
export const AGENT_RULE_FILES = ['00-requests.rego', '10-create-container.rego', '20-process.rego', '30-mounts-storages.rego', '40-exec.rego'] as const;

let rulesCache: string | undefined;

/**
 * The rules as one module text: the agent loads a single policy document (§3.4), so the files are joined
 * with the package clause kept once.
 */
export function agentRulesText(): string {
  if (rulesCache === undefined) {
    const parts = AGENT_RULE_FILES.map((name, i) => {
      const text = readFileSync(new URL(`./agent-rules/${name}`, import.meta.url), 'utf8');
      return i === 0 ? text : text.replace(/^package agent_policy\s*$/m, '');
    });
    rulesCache = parts.join('\n');
  }
  return rulesCache;
}

/**
 * A complete agent policy: cocokit's rules over this `policy_data`, written as compact JSON (the annotation
 * carries it gzipped; `cocokit policy diff` or any JSON tool shows it indented). Objects and arrays the
 * document repeats (containers' mounts, env, capability sets, storages …) are written once each as
 * `policy_fragment_N := <JSON>` before it and named where they occur, unless `fragments` is false; the value
 * `policy_data` takes is the same either way.
 */
export function agentPolicyText(policyData: unknown, options: { fragments?: boolean } = {}): string {
  if (policyData === null || typeof policyData !== 'object' || Array.isArray(policyData)) {
    throw new CocoError('AGENT_POLICY_DATA', 'policy_data must be a JSON object', { kind: 'input' });
  }
  if (options.fragments === false) return `${agentRulesText()}\npolicy_data := ${JSON.stringify(policyData)}\n`;
  const { fragments, body } = fragmentJson(policyData);
  return `${agentRulesText()}\n${fragments.map(([name, text]) => `${name} := ${text}\n`).join('')}policy_data := ${body}\n`;
}

/**
 * Reads the `policy_data := {...}` document a generated policy ends with (genpolicy writes it as JSON after
 * the rules; cocokit may name shared fragments defined before it, which are substituted).
 */
export function extractPolicyData(policyText: string): Record<string, unknown> {
  const value = readPolicyDataDocument(policyText);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CocoError('AGENT_POLICY_DATA', 'policy_data must be a JSON object', { kind: 'input' });
  }
  return value as Record<string, unknown>;
}

/**
 * The upgrade step from the older genpolicy schema to the one cocokit's rules read:
 *
 * - `common.svc_name` became `common.svc_name_downward_env`, and the env regexes name it so;
 * - `request_defaults.ExecProcessRequest.commands` (command lines) became `allowed_commands`; command lines are
 *   kept as strings, which the rules compare with the arguments joined by spaces (an argument vector cannot be
 *   recovered from a line whose arguments contain spaces);
 * - network requests were allowed without settings; the current settings' request defaults for
 *   UpdateInterfaceRequest / UpdateRoutesRequest / AddARPNeighborsRequest are filled in when absent;
 * - a container user with no `AdditionalGids` is the older generator's (the current one always lists the primary
 *   group there), which derived neither the additional groups nor a primary group the runtime keeps (its rules
 *   compared the uid only: the pause image ran with gid 0 whatever its config said): its `GID` and
 *   `AdditionalGids` are dropped, so that the rules compare the uid alone there too;
 * - UpdateEphemeralMountsRequest was allowed by the older rules unless the settings said otherwise; an
 *   absent setting becomes `true`;
 * - with `sharedFs` (a policy generated for a configuration whose container images are pulled on the host
 *   and shared with the guest over virtio-fs, and whose rules did not check storages): the image-layer
 *   storages (the tar layers and their overlay) are dropped from each container, since no such storage is
 *   sent; `sandbox.storages` becomes `sharedFs.sandboxStorages` when the policy has none; and emptyDir
 *   ("local") volumes live under the shared sandbox rootfs (`$(sandbox-id)/rootfs/local/`, as the current
 *   settings say) rather than `$(sandbox-id)/local/`.
 *
 * The input is not modified.
 */
export function upgradePolicyData(
  old: Record<string, unknown>,
  options: { networkDefaults?: Record<string, unknown>; sharedFs?: { sandboxStorages: unknown[] } } = {},
): Record<string, unknown> {
  const networkDefaults = options.networkDefaults ?? NETWORK_DEFAULTS;
  const pd = structuredClone(old) as Record<string, any>;
  const common = (pd.common ??= {});
  if (common.svc_name !== undefined && common.svc_name_downward_env === undefined) {
    common.svc_name_downward_env = common.svc_name;
    delete common.svc_name;
  }
  const rd = (pd.request_defaults ??= {});
  const envRegex = rd.CreateContainerRequest?.allow_env_regex;
  if (Array.isArray(envRegex)) {
    rd.CreateContainerRequest.allow_env_regex = envRegex.map((r: unknown) => (typeof r === 'string' ? r.split('$(svc_name)').join('$(svc_name_downward_env)') : r));
  }
  const exec = rd.ExecProcessRequest;
  if (exec && typeof exec === 'object' && exec.allowed_commands === undefined && Array.isArray(exec.commands)) {
    exec.allowed_commands = exec.commands;
    delete exec.commands;
  }
  for (const [k, v] of Object.entries(networkDefaults)) rd[k] ??= structuredClone(v);
  rd.UpdateEphemeralMountsRequest ??= true;
  for (const c of Array.isArray(pd.containers) ? pd.containers : []) {
    const user = c?.OCI?.Process?.User;
    if (user && typeof user === 'object' && !(Array.isArray(user.AdditionalGids) && user.AdditionalGids.length > 0)) {
      delete user.GID;
      delete user.AdditionalGids;
    }
  }
  if (options.sharedFs) {
    for (const c of Array.isArray(pd.containers) ? pd.containers : []) {
      if (!Array.isArray(c?.storages)) continue;
      c.storages = c.storages
        .filter((s: any) => !(s?.driver === 'overlayfs' || (s?.driver === 'blk' && s?.fstype === 'tar')))
        .map((s: any) => (s?.driver === 'local' && typeof s.mount_point === 'string' ? { ...s, mount_point: s.mount_point.replace('$(sandbox-id)/local/', '$(sandbox-id)/rootfs/local/') } : s));
    }
    pd.sandbox ??= { storages: structuredClone(options.sharedFs.sandboxStorages) };
  }
  return pd;
}

/** genpolicy-settings.json's request defaults for the network requests (the values its current settings ship). */
export const NETWORK_DEFAULTS: Record<string, unknown> = {
  UpdateInterfaceRequest: { allow_raw_flags: 128, forbidden_names: ['lo'], forbidden_hw_addrs: ['00:00:00:00:00:00'] },
  UpdateRoutesRequest: { forbidden_device_names: ['lo'], forbidden_source_regex: ['^(?:0{0,4}:){0,7}0{0,3}1$', '^127\\.(?:[0-9]{1,3}\\.){2}[0-9]{1,3}$'] },
  AddARPNeighborsRequest: { forbidden_device_names: ['lo'], forbidden_cidrs_regex: ['^127\\.(?:[0-9]{1,3}\\.){2}[0-9]{1,3}$'], allowed_states: [2, 128] },
};
