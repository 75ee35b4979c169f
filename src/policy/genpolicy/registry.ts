/**
 * An OCI distribution client for the generator (distribution-spec: GET /v2/<name>/manifests/<ref> and
 * /v2/<name>/blobs/<digest>): resolves an image reference the way container runtimes name images, picks the
 * platform out of an index or manifest list, and fetches the manifest, the config blob and, when asked, the
 * layers. Every manifest and blob is checked against its digest and size; every body is bounded; every request
 * has a timeout. Authentication answers a 401's `WWW-Authenticate` challenge: Bearer (a token from the realm,
 * anonymous or with Basic credentials) or Basic, with credentials from the container auth files.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CocoError, type ErrorKind } from '../../errors.js';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

const ACCEPT = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ');
const INDEX_TYPES = new Set<string>([MEDIA.ociIndex, MEDIA.dockerList]);

/** A parsed image reference. */
export interface ImageRef {
  /** As the pod names it. */
  text: string;
  /** Registry host[:port] as named (docker.io for Docker Hub). */
  registry: string;
  /** Host[:port] the requests go to (registry-1.docker.io for Docker Hub). */
  host: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const DIGEST_RE = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;
const REPO_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;

function refError(ref: string, msg: string, cause?: unknown, kind: ErrorKind = 'input'): CocoError {
  return new CocoError('REGISTRY', `${ref}: ${msg}`, { kind, cause, detail: { image: ref } });
}

/**
 * `[host[:port]/]repo[:tag][@digest]`. The first component names a registry when it holds a "." or ":" or is
 * "localhost"; otherwise the image is on Docker Hub, whose one-component names live under `library/`.
 */
export function parseImageRef(text: string): ImageRef {
  if (typeof text !== 'string' || text.length === 0 || text.length > 4096) throw refError(String(text).slice(0, 80), 'not an image reference');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw refError(text, `bad digest ${JSON.stringify(digest)}`);
  }
  let registry = 'docker.io';
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      if (!/^(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+(?::\d{1,5})?$/.test(first)) throw refError(text, `bad registry host ${JSON.stringify(first)}`);
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw refError(text, `bad tag ${JSON.stringify(tag)}`);
  }
  let repository = rest;
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (!REPO_RE.test(repository)) throw refError(text, `bad repository name ${JSON.stringify(repository)}`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const host = registry === 'docker.io' || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
  return { text, registry, host, repository, tag, digest };
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
}

export interface RemoteImage {
  ref: ImageRef;
  manifestDigest: string;
  manifest: Record<string, unknown>;
  configDigest: string;
  /** The config blob, parsed. */
  config: Record<string, unknown>;
  layers: Descriptor[];
}

/** Credentials for a registry host. */
export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  platform?: Platform;
  /** Hosts ([host[:port]]) reached over plain http. */
  insecureRegistries?: string[];
  /** Per-request timeout in milliseconds (default 30 s). */
  timeoutMs?: number;
  maxManifestBytes?: number;
  maxConfigBytes?: number;
  maxLayerBytes?: number;
  /** Environment for locating the auth files (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Home directory for ~/.docker/config.json (default os.homedir()). */
  home?: string;
}

const DEFAULTS = { timeoutMs: 30_000, maxManifestBytes: 4 * 1024 * 1024, maxConfigBytes: 8 * 1024 * 1024, maxLayerBytes: 1024 * 1024 * 1024 };

/** The auth files in the order they are consulted. */
export function authFiles(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(join(env.DOCKER_CONFIG ?? join(home, '.docker'), 'config.json'));
  return files;
}

/** `auths[host].auth` (base64 of user:password) for `registry` from the first auth file that has it. */
export function lookupCredentials(registry: string, files: string[]): Credentials | undefined {
  const keys = registry === 'docker.io' ? ['docker.io', 'index.docker.io', 'https://index.docker.io/v1/', 'registry-1.docker.io'] : [registry, `https://${registry}`, `http://${registry}`];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    let auths: Record<string, { auth?: unknown }> | undefined;
    try {
      auths = (JSON.parse(text) as { auths?: Record<string, { auth?: unknown }> }).auths;
    } catch (e) {
      throw new CocoError('REGISTRY_AUTH_FILE', `${file} is not JSON: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
    if (!auths || typeof auths !== 'object') continue;
    for (const k of keys) {
      const entry = auths[k] ?? auths[`${k}/`];
      if (typeof entry?.auth !== 'string') continue;
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i <= 0) throw new CocoError('REGISTRY_AUTH_FILE', `${file}: auths["${k}"].auth is not base64 of user:password`, { kind: 'input' });
      return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
    }
  }
  return undefined;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** The first challenge of a `WWW-Authenticate` header (RFC 7235: scheme, then comma-separated key=value). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/gy;
  const rest = m[2]!;
  re.lastIndex = 0;
  let p: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (p = re.exec(rest)) !== null) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

function sha(alg: string, bytes: Uint8Array): string {
  return createHash(alg).update(bytes).digest('hex');
}

function checkDigest(ref: string, what: string, digest: string, bytes: Uint8Array): void {
  const [alg, hex] = digest.split(':');
  if (!DIGEST_RE.test(digest)) throw refError(ref, `${what}: unsupported digest ${JSON.stringify(digest)}`);
  if (sha(alg!, bytes) !== hex) throw refError(ref, `${what}: content does not match its digest ${digest}`);
}

function parseObject(ref: string, what: string, bytes: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw refError(ref, `${what} is not JSON: ${(e as Error).message}`, e);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw refError(ref, `${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function descriptor(ref: string, what: string, d: unknown): Descriptor {
  const o = d as Record<string, unknown> | null;
  if (!o || typeof o !== 'object' || typeof o.digest !== 'string' || !DIGEST_RE.test(o.digest) || !Number.isSafeInteger(o.size) || (o.size as number) < 0 || typeof o.mediaType !== 'string') {
    throw refError(ref, `${what} is not a valid descriptor`);
  }
  return o as unknown as Descriptor;
}

/** A client for one generation run: tokens are kept per host and repository. */
export class RegistryClient {
  private readonly opts: Required<Omit<RegistryOptions, 'env' | 'home' | 'insecureRegistries' | 'platform'>> & { platform: Platform; insecure: Set<string> };
  private readonly files: string[];
  private readonly tokens = new Map<string, string>();

  constructor(o: RegistryOptions = {}) {
    this.opts = {
      timeoutMs: o.timeoutMs ?? DEFAULTS.timeoutMs,
      maxManifestBytes: o.maxManifestBytes ?? DEFAULTS.maxManifestBytes,
      maxConfigBytes: o.maxConfigBytes ?? DEFAULTS.maxConfigBytes,
      maxLayerBytes: o.maxLayerBytes ?? DEFAULTS.maxLayerBytes,
      platform: o.platform ?? { os: 'linux', architecture: 'amd64' },
      insecure: new Set(o.insecureRegistries ?? []),
    };
    this.files = authFiles(o.env ?? process.env, o.home ?? homedir());
  }

  /** The manifest (for the platform), its config, and its layer descriptors. */
  async fetchImage(text: string): Promise<RemoteImage> {
    const ref = parseImageRef(text);
    let { bytes, mediaType } = await this.getManifest(ref, ref.digest ?? ref.tag!);
    let digest = ref.digest ?? `sha256:${sha('sha256', bytes)}`;
    let manifest = parseObject(text, `manifest ${digest}`, bytes);
    mediaType = (typeof manifest.mediaType === 'string' ? manifest.mediaType : undefined) ?? mediaType;
    if (INDEX_TYPES.has(mediaType) || (mediaType === '' && Array.isArray(manifest.manifests))) {
      const list = Array.isArray(manifest.manifests) ? manifest.manifests : [];
      const p = this.opts.platform;
      const match = list
        .map((d, i) => descriptor(text, `index entry ${i}`, d))
        .find((d) => d.platform?.os === p.os && d.platform?.architecture === p.architecture && (p.variant === undefined || d.platform?.variant === p.variant));
      if (!match) throw refError(text, `index ${digest} has no manifest for ${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`);
      ({ bytes, mediaType } = await this.getManifest(ref, match.digest));
      if (bytes.length !== match.size) throw refError(text, `manifest ${match.digest}: ${bytes.length} bytes, its descriptor says ${match.size}`);
      digest = match.digest;
      manifest = parseObject(text, `manifest ${digest}`, bytes);
    }
    const config = descriptor(text, `manifest ${digest} config`, manifest.config);
    if (config.size > this.opts.maxConfigBytes) throw refError(text, `config ${config.digest} is ${config.size} bytes, over the limit of ${this.opts.maxConfigBytes}`, undefined, 'limit');
    const layers = (Array.isArray(manifest.layers) ? manifest.layers : []).map((d, i) => descriptor(text, `manifest ${digest} layer ${i}`, d));
    const configBytes = await this.fetchBlob(text, config, this.opts.maxConfigBytes);
    return { ref, manifestDigest: digest, manifest, configDigest: config.digest, config: parseObject(text, `config ${config.digest}`, configBytes), layers };
  }

  /** A blob, checked against its descriptor's digest and size. */
  async fetchBlob(text: string, d: Descriptor, limit = this.opts.maxLayerBytes): Promise<Uint8Array> {
    const ref = parseImageRef(text);
    if (d.size > limit) throw refError(text, `blob ${d.digest} is ${d.size} bytes, over the limit of ${limit}`, undefined, 'limit');
    const res = await this.request(ref, `/v2/${ref.repository}/blobs/${d.digest}`, undefined, `blob ${d.digest}`);
    const bytes = await this.body(text, res, Math.min(limit, d.size), `blob ${d.digest}`);
    if (bytes.length !== d.size) throw refError(text, `blob ${d.digest}: ${bytes.length} bytes, its descriptor says ${d.size}`);
    checkDigest(text, `blob`, d.digest, bytes);
    return bytes;
  }

  private async getManifest(ref: ImageRef, reference: string): Promise<{ bytes: Uint8Array; mediaType: string }> {
    const res = await this.request(ref, `/v2/${ref.repository}/manifests/${reference}`, ACCEPT, `manifest ${reference}`);
    const bytes = await this.body(ref.text, res, this.opts.maxManifestBytes, `manifest ${reference}`);
    if (DIGEST_RE.test(reference)) checkDigest(ref.text, `manifest`, reference, bytes);
    const header = res.headers.get('docker-content-digest');
    if (header && DIGEST_RE.test(header)) checkDigest(ref.text, `manifest ${reference} (Docker-Content-Digest)`, header, bytes);
    return { bytes, mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim() };
  }

  private base(ref: ImageRef): string {
    return `${this.opts.insecure.has(ref.registry) || this.opts.insecure.has(ref.host) ? 'http' : 'https'}://${ref.host}`;
  }

  private async fetchOnce(ref: ImageRef, url: string, headers: Record<string, string>, what: string): Promise<Response> {
    try {
      return await fetch(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(this.opts.timeoutMs) });
    } catch (e) {
      const err = e as Error & { cause?: Error };
      const why = err.name === 'TimeoutError' ? `no answer within ${this.opts.timeoutMs} ms` : `${err.message}${err.cause?.message ? ` (${err.cause.message})` : ''}`;
      throw refError(ref.text, `${what}: ${url}: ${why}`, e, 'unreachable');
    }
  }

  private async request(ref: ImageRef, path: string, accept: string | undefined, what: string): Promise<Response> {
    const url = `${this.base(ref)}${path}`;
    const headers: Record<string, string> = accept ? { accept } : {};
    const key = `${ref.host}/${ref.repository}`;
    const token = this.tokens.get(key);
    if (token) headers.authorization = token;
    let res = await this.fetchOnce(ref, url, headers, what);
    if (res.status === 401) {
      await res.body?.cancel();
      const auth = await this.authorize(ref, res.headers.get('www-authenticate') ?? '', what);
      this.tokens.set(key, auth);
      res = await this.fetchOnce(ref, url, { ...headers, authorization: auth }, what);
    }
    if (!res.ok) {
      await res.body?.cancel();
      const hint = res.status === 401 ? ' (unauthorized: no or wrong credentials in the auth files)' : res.status === 404 ? ' (not found)' : '';
      throw refError(ref.text, `${what}: HTTP ${res.status}${hint}`, undefined, res.status === 401 ? 'auth' : res.status === 404 ? 'notfound' : res.status >= 500 ? 'server' : 'input');
    }
    return res;
  }

  /** The Authorization header value that answers a challenge. */
  private async authorize(ref: ImageRef, header: string, what: string): Promise<string> {
    const ch = parseChallenge(header);
    const creds = lookupCredentials(ref.registry, this.files);
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;
    if (ch?.scheme === 'basic') {
      if (!basic) throw refError(ref.text, `${what}: HTTP 401 (the registry wants Basic credentials; none in ${this.files.join(', ')})`, undefined, 'auth');
      return basic;
    }
    if (ch?.scheme !== 'bearer' || !ch.params.realm) throw refError(ref.text, `${what}: HTTP 401 with an unusable WWW-Authenticate challenge ${JSON.stringify(header.slice(0, 200))}`);
    let realm: URL;
    try {
      realm = new URL(ch.params.realm);
    } catch (e) {
      throw refError(ref.text, `${what}: token realm ${JSON.stringify(ch.params.realm)} is not a URL`, e);
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && (this.opts.insecure.has(realm.host) || this.opts.insecure.has(ref.registry)))) {
      throw refError(ref.text, `${what}: token realm ${realm.origin} is not https (add it with --insecure-registry)`);
    }
    if (ch.params.service) realm.searchParams.set('service', ch.params.service);
    realm.searchParams.set('scope', ch.params.scope ?? `repository:${ref.repository}:pull`);
    const res = await this.fetchOnce(ref, realm.href, basic ? { authorization: basic } : {}, `token for ${what}`);
    if (!res.ok) {
      await res.body?.cancel();
      throw refError(ref.text, `token endpoint ${realm.origin}${realm.pathname}: HTTP ${res.status}${res.status === 401 ? ' (credentials refused)' : ''}`, undefined, res.status === 401 ? 'auth' : 'unavailable');
    }
    const body = parseObject(ref.text, 'token response', await this.body(ref.text, res, 1024 * 1024, 'token response'));
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw refError(ref.text, 'token response holds no token');
    return `Bearer ${token}`;
  }

  /** The body, refused past `limit` bytes (the declared length is checked first, then the bytes as they come). */
  private async body(ref: string, res: Response, limit: number, what: string): Promise<Uint8Array> {
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      await res.body?.cancel();
      throw refError(ref, `${what} is ${declared} bytes, over the limit of ${limit}`, undefined, 'limit');
    }
    if (!res.body) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
        if (total > limit) {
          await reader.cancel();
          throw refError(ref, `${what} exceeds the limit of ${limit} bytes`, undefined, 'limit');
        }
        chunks.push(value);
      }
    } catch (e) {
      if (e instanceof CocoError) throw e;
      throw refError(ref, `${what}: ${(e as Error).message}`, e, 'unreachable');
    }
    return Buffer.concat(chunks, total);
  }
}
