/**
 * Test helper: a small OCI distribution server on 127.0.0.1 (distribution-spec pull endpoints: GET/HEAD
 * /v2/, /v2/<name>/manifests/<tag|digest>, /v2/<name>/blobs/<digest>) serving images the suite builds itself,
 * with optional Bearer-token auth (a token endpoint that takes Basic credentials) or Basic auth.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { ImageConfig } from '../policy/genpolicy/generate.js';

export interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
}

export function blobOf(bytes: Buffer | string): Blob {
  const b = Buffer.from(bytes);
  return { digest: `sha256:${createHash('sha256').update(b).digest('hex')}`, size: b.length, bytes: b };
}

export interface BuiltImage {
  manifest: Blob;
  config: Blob;
  /** Compressed layer blobs, with the uncompressed tars (diff_ids). */
  layers: Array<{ blob: Blob; tar: Buffer; diffId: string }>;
  mediaType: string;
}

/** An image: config JSON and gzip layers from the given tars, as an OCI (or Docker v2) manifest. */
export function buildImage(config: ImageConfig, tars: Buffer[] = [], opts: { architecture?: string; docker?: boolean } = {}): BuiltImage {
  const layers = tars.map((tar) => ({ blob: blobOf(gzipSync(tar)), tar, diffId: blobOf(tar).digest }));
  const cfg = blobOf(JSON.stringify({ architecture: opts.architecture ?? 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }));
  const mediaType = opts.docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
  const layerType = opts.docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip';
  const manifest = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: opts.docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', digest: cfg.digest, size: cfg.size },
      layers: layers.map((l) => ({ mediaType: layerType, digest: l.blob.digest, size: l.blob.size })),
    }),
  );
  return { manifest, config: cfg, layers, mediaType };
}

/** An index over per-platform images. */
export function buildIndex(entries: Array<{ image: BuiltImage; os?: string; architecture: string }>): Blob {
  return blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: entries.map((e) => ({ mediaType: e.image.mediaType, digest: e.image.manifest.digest, size: e.image.manifest.size, platform: { os: e.os ?? 'linux', architecture: e.architecture } })),
    }),
  );
}

export interface RegistryAuth {
  scheme: 'bearer' | 'basic';
  username: string;
  password: string;
}

interface Manifest {
  bytes: Buffer;
  mediaType: string;
}

export class TestRegistry {
  private server: Server | undefined;
  readonly manifests = new Map<string, Manifest>();
  readonly blobs = new Map<string, Buffer>();
  private readonly tokens = new Set<string>();
  /** Requests seen, as "METHOD path". */
  readonly log: string[] = [];
  port = 0;

  constructor(private readonly auth?: RegistryAuth) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Stores an image's blobs and manifest under `repo`, reachable by tag and by digest. */
  push(repo: string, tag: string | undefined, image: BuiltImage): void {
    this.blobs.set(image.config.digest, image.config.bytes);
    for (const l of image.layers) this.blobs.set(l.blob.digest, l.blob.bytes);
    this.putManifest(repo, image.manifest.digest, image.manifest.bytes, image.mediaType);
    if (tag) this.putManifest(repo, tag, image.manifest.bytes, image.mediaType);
  }

  pushIndex(repo: string, tag: string | undefined, index: Blob, images: BuiltImage[]): void {
    for (const i of images) this.push(repo, undefined, i);
    this.putManifest(repo, index.digest, index.bytes, 'application/vnd.oci.image.index.v1+json');
    if (tag) this.putManifest(repo, tag, index.bytes, 'application/vnd.oci.image.index.v1+json');
  }

  putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): void {
    this.manifests.set(`${repo}:${reference}`, { bytes, mediaType });
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  }

  private basicOk(header: string | undefined): boolean {
    if (!this.auth || !header?.startsWith('Basic ')) return false;
    return Buffer.from(header.slice(6), 'base64').toString('utf8') === `${this.auth.username}:${this.auth.password}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    this.log.push(`${req.method} ${url.pathname}`);
    if (url.pathname === '/token') {
      if (!this.basicOk(req.headers.authorization)) {
        res.writeHead(401).end();
        return;
      }
      const token = randomBytes(16).toString('hex');
      this.tokens.add(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    if (this.auth) {
      const h = req.headers.authorization;
      const ok = this.auth.scheme === 'basic' ? this.basicOk(h) : h?.startsWith('Bearer ') === true && this.tokens.has(h.slice(7));
      if (!ok) {
        const challenge = this.auth.scheme === 'basic' ? 'Basic realm="test"' : `Bearer realm="http://${this.host}/token",service="test-registry",scope="repository:${url.pathname.split('/').slice(2, -2).join('/')}:pull"`;
        res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
    }
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      res.writeHead(200).end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    if (m[2] === 'manifests') {
      const man = this.manifests.get(`${m[1]}:${m[3]}`);
      if (!man) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
        return;
      }
      const digest = `sha256:${createHash('sha256').update(man.bytes).digest('hex')}`;
      res.writeHead(200, { 'content-type': man.mediaType, 'content-length': man.bytes.length, 'docker-content-digest': digest });
      res.end(req.method === 'HEAD' ? undefined : man.bytes);
      return;
    }
    const blob = this.blobs.get(m[3]!);
    if (!blob) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
    res.end(req.method === 'HEAD' ? undefined : blob);
  }
}
