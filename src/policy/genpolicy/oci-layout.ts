/**
 * Image configs read offline from an OCI image layout directory (image-spec image-layout.md: oci-layout,
 * index.json, blobs/<alg>/<hex>), the way skopeo's `oci:DIR[:REF]` names one. Every blob read is checked
 * against its digest.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CocoError } from '../../errors.js';
import type { ImageConfig } from './generate.js';

const MAX_JSON_BLOB = 4 * 1024 * 1024;
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const REF_ANNOTATION = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture?: string; os?: string };
}

function bad(msg: string, cause?: unknown): CocoError {
  return new CocoError('OCI_LAYOUT', msg, { kind: 'input', cause });
}

function readBlob(dir: string, d: Descriptor, limit = MAX_JSON_BLOB): Buffer {
  const m = /^(sha256|sha512):([0-9a-f]+)$/.exec(typeof d?.digest === 'string' ? d.digest : '');
  if (!m || m[2]!.length !== (m[1] === 'sha256' ? 64 : 128)) throw bad(`bad descriptor digest ${JSON.stringify(d?.digest)}`);
  if (!Number.isSafeInteger(d.size) || d.size < 0 || d.size > limit) throw bad(`descriptor ${d.digest}: size ${JSON.stringify(d.size)} is not accepted (limit ${limit})`);
  const path = join(dir, 'blobs', m[1]!, m[2]!);
  let bytes: Buffer;
  try {
    if (statSync(path).size !== d.size) throw bad(`blob ${d.digest}: size differs from its descriptor`);
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof CocoError) throw e;
    throw bad(`blob ${d.digest} is missing: ${(e as Error).message}`, e);
  }
  if (createHash(m[1]!).update(bytes).digest('hex') !== m[2]) throw bad(`blob ${d.digest}: content does not match its digest`);
  return bytes;
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw bad(`${what} is not JSON: ${(e as Error).message}`, e);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

export interface LayoutImage {
  manifestDigest: string;
  /** Digests of the indexes walked to reach the manifest (outermost first). */
  indexDigests: string[];
  configDigest: string;
  config: ImageConfig;
  /** The config's rootfs.diff_ids. */
  diffIds: string[];
  /** The manifest's layer descriptors. */
  layers: Descriptor[];
}

/** A blob of the layout at `dir`, checked against its descriptor (layers: up to `limit` bytes). */
export function readLayoutBlob(dir: string, d: Descriptor, limit: number): Buffer {
  return readBlob(dir, d, limit);
}

/**
 * The image `ref` (the org.opencontainers.image.ref.name annotation; the only manifest when omitted) of the
 * layout at `dir`, for `platform` when the entry is an index.
 */
export function readLayoutImage(dir: string, ref?: string, platform = { os: 'linux', architecture: 'amd64' }): LayoutImage {
  let index: Record<string, unknown>;
  try {
    index = parseJson(readFileSync(join(dir, 'index.json')), 'index.json');
  } catch (e) {
    if (e instanceof CocoError) throw e;
    throw bad(`${dir} is not an OCI image layout: ${(e as Error).message}`, e);
  }
  const manifests = Array.isArray(index.manifests) ? (index.manifests as Descriptor[]) : [];
  const candidates = ref === undefined ? manifests : manifests.filter((d) => d?.annotations?.[REF_ANNOTATION] === ref);
  if (candidates.length !== 1) throw bad(ref === undefined ? `${dir}: index.json lists ${candidates.length} images; name one` : `${dir}: no single image named ${JSON.stringify(ref)}`);
  let desc = candidates[0]!;
  const indexDigests: string[] = [];
  for (let depth = 0; INDEX_TYPES.has(desc.mediaType); depth++) {
    if (depth > 2) throw bad('nested indexes are too deep');
    const inner = parseJson(readBlob(dir, desc), `index ${desc.digest}`);
    indexDigests.push(desc.digest);
    const list = Array.isArray(inner.manifests) ? (inner.manifests as Descriptor[]) : [];
    const match = list.find((d) => d?.platform?.os === platform.os && d?.platform?.architecture === platform.architecture);
    if (!match) throw bad(`index ${desc.digest} has no manifest for ${platform.os}/${platform.architecture}`);
    desc = match;
  }
  const manifest = parseJson(readBlob(dir, desc), `manifest ${desc.digest}`);
  const configDesc = manifest.config as Descriptor | undefined;
  if (!configDesc || typeof configDesc !== 'object') throw bad(`manifest ${desc.digest} has no config`);
  const config = parseJson(readBlob(dir, configDesc), `config ${configDesc.digest}`);
  const c = (config.config ?? {}) as Record<string, unknown>;
  const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined);
  const rootfs = (config.rootfs ?? {}) as Record<string, unknown>;
  const layers = Array.isArray(manifest.layers) ? (manifest.layers as Descriptor[]) : [];
  return {
    manifestDigest: desc.digest,
    indexDigests,
    diffIds: strings(rootfs.diff_ids) ?? [],
    layers,
    configDigest: configDesc.digest,
    config: {
      User: typeof c.User === 'string' ? c.User : undefined,
      Env: strings(c.Env),
      Entrypoint: strings(c.Entrypoint),
      Cmd: strings(c.Cmd),
      WorkingDir: typeof c.WorkingDir === 'string' ? c.WorkingDir : undefined,
    },
  };
}
