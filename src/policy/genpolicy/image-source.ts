/**
 * Where the generator gets each image a pod names: a local copy (`oci:DIR[:NAME]`, an OCI image layout;
 * `docker-archive:PATH[:NAME:TAG|:@N]`, a `docker save` archive), either named directly by the pod or mapped
 * from the registry reference with `--image-map REF=SOURCE` or a JSON file of such pairs; otherwise the
 * registry. A reference that pins a digest must name the local copy (its index, manifest or config digest)
 * unless digest checks are turned off. When the guest does not pull images itself, every layer's dm-verity
 * root hash is computed (or taken from the layer cache) for the policy's storages.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Document, parseAllDocuments } from 'yaml';
import { CocoError } from '../../errors.js';
import { readArchiveLayer, readDockerArchive } from './docker-archive.js';
import { podTemplates, type ImageConfig } from './generate.js';
import { computeLayers, type LayerCache, type LayerRecord, type LayerSource } from './layers.js';
import { readLayoutBlob, readLayoutImage } from './oci-layout.js';
import { RegistryClient, type RegistryOptions } from './registry.js';

const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

export interface ImageSourceOptions {
  /** Registry reference → local source. */
  map?: Map<string, string>;
  /** Relative local paths resolve from here. */
  baseDir: string;
  /** Check a pinned digest against the local copy (default true). */
  verifyDigest?: boolean;
  /** For references resolved from a registry; absent means no registry access. */
  registry?: RegistryOptions;
  /** Compute layer root hashes (guest pull off), cached here. */
  layers?: { cache: LayerCache; concurrency?: number };
  /** Largest layer read (default 1 GiB). */
  maxLayerBytes?: number;
}

export interface ResolvedImage {
  /** Where the image came from: the local source or the registry reference. */
  source: string;
  configDigest: string;
  config: ImageConfig;
}

function sourceError(ref: string, msg: string, kind: 'input' | 'usage' = 'input'): CocoError {
  return new CocoError('GENPOLICY_IMAGE', `${ref}: ${msg}`, { kind, detail: { image: ref } });
}

function configOf(raw: Record<string, unknown>): ImageConfig {
  const c = (raw.config ?? {}) as Record<string, unknown>;
  const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined);
  return {
    User: typeof c.User === 'string' ? c.User : undefined,
    Env: strings(c.Env),
    Entrypoint: strings(c.Entrypoint),
    Cmd: strings(c.Cmd),
    WorkingDir: typeof c.WorkingDir === 'string' ? c.WorkingDir : undefined,
  };
}

function diffIdsOf(raw: Record<string, unknown>): string[] {
  const ids = (raw.rootfs as { diff_ids?: unknown } | undefined)?.diff_ids;
  return Array.isArray(ids) && ids.every((x) => typeof x === 'string') ? (ids as string[]) : [];
}

/**
 * `--image-map` values: `REF=SOURCE` pairs, or the path of a JSON file holding `{"REF": "SOURCE", …}`
 * (relative sources in the file resolve from the file's directory).
 */
export function parseImageMap(values: string[], baseDir: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const v of values) {
    const eq = v.indexOf('=');
    const looksLikeFile = v.endsWith('.json') && (eq < 0 || existsSync(resolve(baseDir, v)));
    if (looksLikeFile) {
      const file = resolve(baseDir, v);
      let obj: unknown;
      try {
        obj = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        throw new CocoError('GENPOLICY_IMAGE_MAP', `--image-map ${v}: ${(e as Error).message}`, { kind: (e as NodeJS.ErrnoException).code ? 'file' : 'input', cause: e });
      }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new CocoError('GENPOLICY_IMAGE_MAP', `--image-map ${v}: expected a JSON object of "REF": "oci:DIR" / "docker-archive:PATH" pairs`, { kind: 'input' });
      const dir = resolve(file, '..');
      for (const [ref, src] of Object.entries(obj)) {
        if (typeof src !== 'string' || !/^(oci|docker-archive):./.test(src)) throw new CocoError('GENPOLICY_IMAGE_MAP', `--image-map ${v}: ${JSON.stringify(ref)} maps to ${JSON.stringify(src)}, not an oci: or docker-archive: source`, { kind: 'input' });
        map.set(ref, anchor(src, dir));
      }
      continue;
    }
    if (eq <= 0 || !/^(oci|docker-archive):./.test(v.slice(eq + 1))) {
      throw new CocoError('CLI_USAGE', `--image-map wants REF=oci:DIR[:NAME], REF=docker-archive:PATH[:NAME:TAG] or a .json file, got ${JSON.stringify(v)}`, { kind: 'usage' });
    }
    map.set(v.slice(0, eq), anchor(v.slice(eq + 1), baseDir));
  }
  return map;
}

/** A local source with its path made absolute. */
function anchor(src: string, dir: string): string {
  const m = /^(oci|docker-archive):([^:]+)(:.*)?$/.exec(src);
  if (!m) return src;
  return `${m[1]}:${isAbsolute(m[2]!) ? m[2] : resolve(dir, m[2]!)}${m[3] ?? ''}`;
}

/** Every image reference the pod templates of a Kubernetes YAML name (containers and init containers). */
export function imageRefsOf(yamlText: string): string[] {
  const refs = new Set<string>();
  for (const d of parseAllDocuments(yamlText)) {
    if (!(d instanceof Document) || d.errors.length > 0) continue;
    let value: unknown;
    try {
      value = d.toJS({ maxAliasCount: 100 });
    } catch {
      continue;
    }
    let templates: ReturnType<typeof podTemplates> = [];
    try {
      templates = podTemplates(structuredClone(value));
    } catch {
      continue; // generation reports malformed documents itself
    }
    for (const t of templates) {
      for (const c of [...(Array.isArray(t.spec.initContainers) ? t.spec.initContainers : []), ...(Array.isArray(t.spec.containers) ? t.spec.containers : [])]) {
        if (typeof c?.image === 'string') refs.add(c.image);
      }
    }
  }
  return [...refs];
}

interface Found {
  source: string;
  configDigest: string;
  raw: Record<string, unknown>;
  layers: LayerSource[];
}

function pinnedDigest(ref: string): string | undefined {
  return /@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1];
}

/**
 * Resolves each reference to its image config (with its layers' root hashes when asked), images in
 * parallel, layers computed together so that a layer shared by several images is computed once.
 */
export async function resolveImages(refs: string[], o: ImageSourceOptions): Promise<Map<string, ResolvedImage & { config: ImageConfig }>> {
  const verify = o.verifyDigest ?? true;
  const limit = o.maxLayerBytes ?? 1024 * 1024 * 1024;
  let client: RegistryClient | undefined;
  const found = await Promise.all(
    refs.map(async (ref): Promise<Found> => {
      const local = o.map?.get(ref) ?? (/^(oci|docker-archive):/.test(ref) ? anchor(ref, o.baseDir) : undefined);
      const pinned = pinnedDigest(ref);
      const checkPin = (digests: string[], source: string): void => {
        if (verify && pinned !== undefined && !digests.includes(pinned)) {
          throw new CocoError('GENPOLICY_IMAGE_DIGEST', `${ref} pins ${pinned} but the local copy ${source} is ${digests.join(' / ')} (--no-verify-digest accepts it)`, { kind: 'input', detail: { image: ref } });
        }
      };
      if (local?.startsWith('oci:')) {
        const m = /^oci:([^:]+)(?::(.+))?$/.exec(local)!;
        const dir = m[1]!;
        const img = readLayoutImage(dir, m[2]);
        checkPin([...img.indexDigests, img.manifestDigest, img.configDigest], local);
        const raw = { config: img.config, rootfs: { diff_ids: img.diffIds } };
        const layers = img.layers.filter((d) => LAYER_TYPES.has(d.mediaType));
        return { source: local, configDigest: img.configDigest, raw, layers: layerSources(ref, layers.map((d) => d.digest), img.diffIds, (i) => readLayoutBlob(dir, layers[i]!, limit)) };
      }
      if (local?.startsWith('docker-archive:')) {
        const rest = local.slice('docker-archive:'.length);
        const colon = rest.indexOf(':');
        const path = colon < 0 ? rest : rest.slice(0, colon);
        const img = readDockerArchive(path, colon < 0 ? undefined : rest.slice(colon + 1));
        checkPin([...img.manifestDigests, img.configDigest], local);
        return {
          source: local,
          configDigest: img.configDigest,
          raw: img.config,
          layers: layerSources(
            ref,
            img.layers.map((l) => l.name),
            diffIdsOf(img.config),
            (i) => readArchiveLayer(img, i),
          ),
        };
      }
      if (!o.registry) throw sourceError(ref, `no local copy and no registry access (map it with --image-map ${ref}=oci:DIR)`);
      client ??= new RegistryClient({ maxLayerBytes: limit, ...o.registry });
      const c = client;
      const img = await c.fetchImage(ref);
      const layers = img.layers.filter((d) => {
        if (/zstd/.test(d.mediaType)) throw sourceError(ref, `layer ${d.digest} is ${d.mediaType}; zstd layers are not supported`);
        return LAYER_TYPES.has(d.mediaType);
      });
      return {
        source: ref,
        configDigest: img.configDigest,
        raw: img.config,
        layers: layerSources(
          ref,
          layers.map((d) => d.digest),
          diffIdsOf(img.config),
          (i) => c.fetchBlob(ref, layers[i]!, limit),
        ),
      };
    }),
  );
  const out = new Map<string, ResolvedImage & { config: ImageConfig }>();
  let records: LayerRecord[] = [];
  const offsets: number[] = [];
  if (o.layers) {
    const all: LayerSource[] = [];
    for (const f of found) {
      offsets.push(all.length);
      all.push(...f.layers);
    }
    records = await computeLayers(all, o.layers.cache, o.layers.concurrency);
  }
  found.forEach((f, i) => {
    const config = configOf(f.raw);
    if (o.layers) {
      const mine = records.slice(offsets[i], offsets[i]! + f.layers.length);
      config.layers = mine.map((r) => ({ diff_id: r.diff_id, verity_hash: r.verity_hash }));
      Object.assign(config, usersFiles(mine));
    }
    out.set(refs[i]!, { source: f.source, configDigest: f.configDigest, config });
  });
  return out;
}

/** The /etc/passwd and /etc/group the layers (bottom first) leave: the topmost one wins, a whiteout deletes. */
export function usersFiles(layers: Array<Pick<LayerRecord, 'passwd' | 'group'>>): { passwd: string; group: string } {
  let passwd = '';
  let group = '';
  for (const l of layers) {
    if (l.passwd === 'WHITEOUT') passwd = '';
    else if (l.passwd !== '') passwd = l.passwd;
    if (l.group === 'WHITEOUT') group = '';
    else if (l.group !== '') group = l.group;
  }
  return { passwd, group };
}

function layerSources(ref: string, names: string[], diffIds: string[], fetch: (i: number) => Uint8Array | Promise<Uint8Array>): LayerSource[] {
  if (names.length !== diffIds.length) throw sourceError(ref, `the manifest lists ${names.length} layers but the config ${diffIds.length} diff_ids`);
  return diffIds.map((diffId, i) => ({ diffId, fetch: async () => fetch(i) }));
}
