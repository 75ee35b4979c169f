/**
 * A policy for every pod template of a multi-document Kubernetes YAML: policy_data generated from each pod
 * spec (generate.ts), cocokit's agent rules over it, wrapped in an init-data document and set as the pod
 * template's `io.katacontainers.config.hypervisor.cc_init_data` annotation (gzip + base64 of the TOML, as
 * `cocokit initdata annotate` writes it).
 */
import { gzipSync } from 'node:zlib';
import { Document, parseAllDocuments, stringify as stringifyYaml } from 'yaml';
import { stringify as stringifyToml } from 'smol-toml';
import { CocoError } from '../../errors.js';
import { INITDATA_ANNOTATION, encodeInitDataAnnotation, parseInitData, type InitData } from '../../measure/initdata.js';
import { agentPolicyText } from '../agent-rules.js';
import { generatePolicyData, podTemplates, unsupportedFields, type ImageConfig } from './generate.js';
import { readLayoutImage } from './oci-layout.js';

type Json = Record<string, any>;

/** Kubernetes' limit on the total size of an object's annotations (256 KiB). */
export const DEFAULT_MAX_ANNOTATION_BYTES = 256 * 1024;

export interface ImageSource {
  /** Resolves the image a pod names to its config; throws a CocoError when it cannot. */
  (ref: string): ImageConfig;
}

/**
 * Images from local copies: `oci:DIR[:NAME]` references, and registry references mapped to such a copy.
 * A reference that pins a digest (`…@sha256:…`) must name the copy's manifest, unless `verifyDigest` is false.
 */
export function localImages(map: Map<string, string>, baseDir: string, verifyDigest = true): ImageSource {
  return (ref: string) => {
    const local = map.get(ref) ?? ref;
    const m = /^oci:([^:]+)(?::(.+))?$/.exec(local);
    if (!m) throw new CocoError('GENPOLICY_IMAGE', `no local copy of ${ref} (map it with --image-map ${ref}=oci:DIR)`, { kind: 'input' });
    const dir = m[1]!.startsWith('/') ? m[1]! : `${baseDir}/${m[1]}`;
    const img = readLayoutImage(dir, m[2]);
    const pinned = /@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1];
    if (verifyDigest && pinned !== undefined && pinned !== img.manifestDigest) {
      throw new CocoError('GENPOLICY_IMAGE_DIGEST', `${ref} pins ${pinned} but the local copy ${local} is ${img.manifestDigest}`, { kind: 'input' });
    }
    return img.config;
  };
}

export interface GeneratedPod {
  kind: string;
  name: string;
  policyData: Json;
  policy: string;
  initData: string;
  annotation: string;
  /** Sizes in bytes: the policy text, the init-data document, the annotation value. */
  sizes: { policy: number; initData: number; annotation: number };
}

export interface GenerateOptions {
  settings: Json;
  images: ImageSource;
  maxAnnotationBytes?: number;
  /** More YAML texts whose ConfigMaps and Secrets the pods may refer to (not part of the output). */
  configYaml?: string[];
  /** Generate even when a pod uses fields the generator does not derive (they are left out of the policy). */
  silentUnsupportedFields?: boolean;
  /** Only pods whose runtimeClassName starts with one of these get a policy (all pods when absent or empty). */
  runtimeClassNames?: string[];
  /** A user init-data document (TOML): its version, algorithm and other data entries are kept, policy.rego set. */
  initData?: string;
  /**
   * Name repeated parts of policy_data as shared fragments (default false). Without them policy_data is one
   * JSON document, which an attestation service reading the policy's JSON (Trustee's `agent_policy_claims`)
   * can parse.
   */
  policyFragments?: boolean;
}

/** Parses a user init-data document for `initdata-path`, refusing one that already holds a policy. */
export function parseUserInitData(text: string): InitData {
  const doc = parseInitData(new TextEncoder().encode(text), 'toml');
  if (doc.data['policy.rego'] !== undefined) {
    throw new CocoError('GENPOLICY_INITDATA', 'the init-data document already has a data."policy.rego" entry; the generated policy would replace it', { kind: 'input' });
  }
  return doc;
}

/**
 * The pause image the policy needs, when the guest does not pull images (its layers become the pause
 * container's storages): `cluster_config.pause_container_image` of the settings.
 */
export function pauseImageRef(settings: Json): string | undefined {
  const cc = settings?.cluster_config;
  if (cc?.guest_pull !== false) return undefined;
  if (typeof cc.pause_container_image !== 'string' || cc.pause_container_image === '') {
    throw new CocoError('GENPOLICY_SETTINGS', 'guest pull is off but the settings name no cluster_config.pause_container_image', { kind: 'input' });
  }
  return cc.pause_container_image;
}

function configMapsOf(docs: Json[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const d of docs) {
    if ((d?.kind === 'ConfigMap' || d?.kind === 'Secret') && typeof d.metadata?.name === 'string') {
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(d.data ?? {})) data[k] = d.kind === 'Secret' ? Buffer.from(String(v), 'base64').toString('utf8') : String(v);
      for (const [k, v] of Object.entries(d.stringData ?? {})) data[k] = String(v);
      out.set(d.metadata.name, data);
    }
  }
  return out;
}

function parseDocs(text: string): Json[] {
  const values: Json[] = [];
  for (const d of parseAllDocuments(text)) {
    if (!(d instanceof Document)) continue;
    if (d.errors.length > 0) throw new CocoError('GENPOLICY_YAML', `YAML: ${d.errors[0]!.message}`, { kind: 'input' });
    try {
      values.push(d.toJS({ maxAliasCount: 100 }) as Json);
    } catch (e) {
      throw new CocoError('GENPOLICY_YAML', `YAML: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
  }
  return values;
}

export function initDataToml(policy: string, base?: InitData): string {
  return stringifyToml({ version: base?.version ?? '0.1.0', algorithm: base?.algorithm ?? 'sha256', data: { ...(base?.data ?? {}), 'policy.rego': policy } });
}

/** Generates and sets the init-data annotation of every pod template in `yamlText`; returns the new YAML. */
export function generateForYaml(yamlText: string, opts: GenerateOptions): { yaml: string; pods: GeneratedPod[] } {
  const values = parseDocs(yamlText);
  const configMaps = configMapsOf([...values, ...(opts.configYaml ?? []).flatMap(parseDocs)]);
  const pods: GeneratedPod[] = [];

  const max = opts.maxAnnotationBytes ?? DEFAULT_MAX_ANNOTATION_BYTES;
  const base = opts.initData === undefined ? undefined : parseUserInitData(opts.initData);
  const classes = opts.runtimeClassNames ?? [];
  values.forEach((value, i) => {
    for (const t of podTemplates(value)) {
      const rc = t.spec.runtimeClassName;
      if (classes.length > 0 && !(typeof rc === 'string' && classes.some((c) => rc.startsWith(c)))) continue;
      if (opts.silentUnsupportedFields !== true) {
        const unsupported = unsupportedFields(t.spec);
        if (unsupported.length > 0) {
          throw new CocoError(
            'GENPOLICY_UNSUPPORTED',
            `${t.kind} ${String(t.metadata.name ?? `document ${i + 1}`)}: unsupported field${unsupported.length > 1 ? 's' : ''} ${unsupported.join(', ')} (the policy would not describe ${unsupported.length > 1 ? 'them' : 'it'}; -s/--silent-unsupported-fields generates without)`,
            { kind: 'input' },
          );
        }
      }
      const containers = [...(t.spec.initContainers ?? []), ...(t.spec.containers ?? [])] as Json[];
      const images = new Map<string, ImageConfig>();
      for (const c of containers) if (typeof c?.image === 'string' && !images.has(c.image)) images.set(c.image, opts.images(c.image));
      let policyData: Json;
      try {
        const pauseImage = pauseImageRef(opts.settings);
        policyData = generatePolicyData({ template: t, settings: opts.settings, images, configMaps, pauseImage: pauseImage === undefined ? undefined : opts.images(pauseImage) });
      } catch (e) {
        // A field of the wrong type deep in a pod spec (a string where a list belongs …) surfaces here.
        if (e instanceof CocoError || !(e instanceof TypeError)) throw e;
        throw new CocoError('GENPOLICY_INPUT', `${t.kind} ${String(t.metadata.name)}: malformed pod spec: ${e.message}`, { kind: 'input', cause: e });
      }
      const policy = agentPolicyText(policyData, { fragments: opts.policyFragments === true });
      const initData = initDataToml(policy, base);
      const annotation = encodeInitDataAnnotation(new TextEncoder().encode(initData));
      const existing = Object.entries((t.annotate.metadata?.annotations ?? {}) as Record<string, string>).filter(([k]) => k !== INITDATA_ANNOTATION);
      const total = annotation.length + INITDATA_ANNOTATION.length + existing.reduce((n, [k, v]) => n + k.length + String(v).length, 0);
      const name = String(t.metadata.name ?? `document ${i + 1}`);
      if (total > max) {
        const biggest = (policyData.containers as Json[])
          .map((c, idx) => ({ idx, name: c.OCI.Annotations['io.kubernetes.cri.container-name'] ?? '(pause)', bytes: JSON.stringify(c).length }))
          .sort((a, b) => b.bytes - a.bytes)
          .slice(0, 3)
          .map((c) => `containers[${c.idx}] ${c.name}: ${c.bytes} bytes of policy_data`);
        throw new CocoError('GENPOLICY_TOO_BIG', `${t.kind} ${name}: the annotations would take ${total} bytes, over the limit of ${max}; biggest contributors: ${biggest.join('; ')}`, {
          kind: 'input',
        });
      }
      t.annotate.metadata ??= {};
      t.annotate.metadata.annotations = { ...(t.annotate.metadata.annotations ?? {}), [INITDATA_ANNOTATION]: annotation };
      pods.push({ kind: t.kind, name, policyData, policy, initData, annotation, sizes: { policy: policy.length, initData: initData.length, annotation: annotation.length } });
    }
  });
  return { yaml: values.map((v) => stringifyYaml(v, { lineWidth: 0 })).join('---\n'), pods };
}

/** gzip size of a text (what the annotation carries before base64). */
export function gzippedSize(text: string): number {
  return gzipSync(Buffer.from(text)).length;
}
