/**
 * cocokit's own built-in policies, kept as `.rego` files beside this module (attestation/*.rego,
 * resource/*.rego) and read on first use. The build copies them next to the compiled module
 * (scripts/copy-assets.mjs), so the same relative path works from the sources and from the installed package.
 */
import { readFileSync } from 'node:fs';

/** Attestation policy ids the attestation service falls back to when none is stored (§3.3). */
export const DEFAULT_ATTESTATION_POLICY_IDS = ['default_cpu', 'default_gpu', 'default_switch', 'default_ppcie'] as const;
export type DefaultAttestationPolicyId = (typeof DEFAULT_ATTESTATION_POLICY_IDS)[number];

/** Built-in resource policies (§1.9): `default` for a configured KBS, `allow_all` in development mode. */
export const BUILTIN_RESOURCE_POLICIES = ['default', 'allow_all', 'deny_all', 'affirming'] as const;
export type BuiltinResourcePolicy = (typeof BUILTIN_RESOURCE_POLICIES)[number];

const cache = new Map<string, string>();

function load(dir: string, name: string): string {
  const key = `${dir}/${name}`;
  let text = cache.get(key);
  if (text === undefined) {
    text = readFileSync(new URL(`./${dir}/${name}.rego`, import.meta.url), 'utf8');
    cache.set(key, text);
  }
  return text;
}

/** The built-in attestation policy with this id, or undefined for an id that is not built in. */
export function defaultAttestationPolicy(id: string): string | undefined {
  return (DEFAULT_ATTESTATION_POLICY_IDS as readonly string[]).includes(id) ? load('attestation', id) : undefined;
}

export function builtinResourcePolicy(name: BuiltinResourcePolicy): string {
  return load('resource', name);
}

/** The built-in policies' file paths, relative to this module (what the build must ship). */
export function builtinPolicyFiles(): string[] {
  return [...DEFAULT_ATTESTATION_POLICY_IDS.map((id) => `attestation/${id}.rego`), ...BUILTIN_RESOURCE_POLICIES.map((n) => `resource/${n}.rego`)];
}
