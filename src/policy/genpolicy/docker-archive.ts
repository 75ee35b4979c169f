/**
 * Images from a `docker save` archive, the way skopeo's `docker-archive:PATH[:NAME:TAG|:@INDEX]` names one:
 * a tar holding `manifest.json` (`[{Config, RepoTags, Layers}]`), the config JSON and the layer tars (as
 * `<id>/layer.tar` and `<hex>.json`, or as `blobs/sha256/<hex>` in the OCI-style archives newer Docker
 * writes). The config is checked against the digest its name carries; the layers are read in place.
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../../errors.js';
import { withTarFile, type ReadAt, type TarEntry, tarEntries } from '../../formats/tar.js';

const MAX_JSON = 8 * 1024 * 1024;

export interface ArchiveImage {
  configDigest: string;
  config: Record<string, unknown>;
  /** Digests of manifests in the archive (OCI-style archives) whose config is this one. */
  manifestDigests: string[];
  /** Layer tars, in order, as offsets into the archive file. */
  layers: Array<{ name: string; offset: number; size: number }>;
  /** The archive path, for reading the layers. */
  path: string;
}

function bad(path: string, msg: string, cause?: unknown): CocoError {
  return new CocoError('DOCKER_ARCHIVE', `docker-archive:${path}: ${msg}`, { kind: 'input', cause });
}

function norm(p: string): string {
  return p.replace(/^(\.\/)+/, '');
}

function json(path: string, what: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw bad(path, `${what} is not JSON: ${(e as Error).message}`, e);
  }
}

/** A repo tag as the archive stores it against the name asked for (docker.io and library/ optional). */
function sameName(stored: string, asked: string): boolean {
  const canon = (s: string): string => {
    let r = s.replace(/^(docker\.io|index\.docker\.io)\//, '');
    if (!r.includes('/')) r = `library/${r}`;
    if (!/:[\w][\w.-]*$/.test(r.split('/').pop()!)) r = `${r}:latest`;
    return r;
  };
  return canon(stored) === canon(asked);
}

/** The image `ref` (a repo tag, `@N` for the N-th image; the only image when omitted) of the archive at `path`. */
export function readDockerArchive(path: string, ref?: string): ArchiveImage {
  return withTarFile(
    path,
    (read: ReadAt, size: number) => {
      const entries = new Map<string, TarEntry>();
      for (const e of tarEntries(read, size, `docker-archive:${path}`)) entries.set(norm(Buffer.from(e.path).toString('utf8')), e);
      const file = (name: string, what: string): Uint8Array => {
        const e = entries.get(norm(name));
        if (!e || (e.type !== '0' && e.type !== '\0')) throw bad(path, `${what} ${JSON.stringify(name)} is not in the archive`);
        if (e.size > MAX_JSON) throw bad(path, `${what} ${name} is ${e.size} bytes, over the limit of ${MAX_JSON}`);
        return read(e.dataOffset, e.size);
      };
      const list = json(path, 'manifest.json', file('manifest.json', 'manifest'));
      if (!Array.isArray(list) || list.length === 0) throw bad(path, 'manifest.json must be a non-empty array');
      let chosen: Record<string, unknown> | undefined;
      if (ref === undefined) {
        if (list.length !== 1) throw bad(path, `the archive holds ${list.length} images; name one (docker-archive:${path}:NAME:TAG or :@INDEX)`);
        chosen = list[0] as Record<string, unknown>;
      } else if (/^@\d+$/.test(ref)) {
        chosen = list[Number(ref.slice(1))] as Record<string, unknown> | undefined;
        if (!chosen) throw bad(path, `no image ${ref} (the archive holds ${list.length})`);
      } else {
        const matches = list.filter((m) => Array.isArray((m as Record<string, unknown>)?.RepoTags) && ((m as Record<string, unknown>).RepoTags as unknown[]).some((t) => typeof t === 'string' && sameName(t, ref)));
        if (matches.length !== 1) throw bad(path, `no single image tagged ${JSON.stringify(ref)}`);
        chosen = matches[0] as Record<string, unknown>;
      }
      if (!chosen || typeof chosen !== 'object' || typeof chosen.Config !== 'string' || !Array.isArray(chosen.Layers) || !chosen.Layers.every((l) => typeof l === 'string')) {
        throw bad(path, 'manifest.json entry needs a Config name and a Layers list');
      }
      const configBytes = file(chosen.Config, 'config');
      const configDigest = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
      const named = /(?:^|\/)(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(norm(chosen.Config))?.[1];
      if (named !== undefined && `sha256:${named}` !== configDigest) throw bad(path, `config ${chosen.Config} does not match the digest its name carries (it is ${configDigest})`);
      const config = json(path, `config ${chosen.Config}`, configBytes);
      if (config === null || typeof config !== 'object' || Array.isArray(config)) throw bad(path, `config ${chosen.Config} must be a JSON object`);
      const layers = (chosen.Layers as string[]).map((name) => {
        const e = entries.get(norm(name));
        if (!e || (e.type !== '0' && e.type !== '\0')) throw bad(path, `layer ${JSON.stringify(name)} is not in the archive`);
        return { name, offset: e.dataOffset, size: e.size };
      });
      // OCI-style archives also carry the image manifests: the ones naming this config pin it too.
      const manifestDigests: string[] = [];
      for (const [name, e] of entries) {
        const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(name);
        if (!m || e.size > MAX_JSON || e.size === 0 || (e.type !== '0' && e.type !== '\0')) continue;
        const head = read(e.dataOffset, 1)[0];
        if (head !== 0x7b) continue;
        let v: unknown;
        try {
          v = JSON.parse(Buffer.from(read(e.dataOffset, e.size)).toString('utf8'));
        } catch {
          continue;
        }
        if ((v as { config?: { digest?: unknown } })?.config?.digest === configDigest && createHash('sha256').update(read(e.dataOffset, e.size)).digest('hex') === m[1]) manifestDigests.push(`sha256:${m[1]}`);
      }
      return { configDigest, config: config as Record<string, unknown>, manifestDigests, layers, path };
    },
    `docker-archive:${path}`,
  );
}

/** The bytes of one layer of an archive image. */
export function readArchiveLayer(img: ArchiveImage, index: number): Uint8Array {
  const l = img.layers[index]!;
  return withTarFile(img.path, (read) => Buffer.from(read(l.offset, l.size)), `docker-archive:${img.path}`);
}
