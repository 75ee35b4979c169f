/** Test helper: OCI image layouts the suite builds itself (image-spec image-layout.md). */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageConfig } from '../policy/genpolicy/generate.js';
import type { BuiltImage } from './oci-registry.js';

/** Writes an OCI image layout holding one image (config + empty layer list) named `ref`; returns the config digest. */
export function writeLayout(dir: string, ref: string, config: ImageConfig): string {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (obj: unknown): { digest: string; size: number } => {
    const bytes = Buffer.from(JSON.stringify(obj));
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const cfg = put({ architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } });
  const manifest = put({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers: [] });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': ref } }] }));
  return cfg.digest;
}

/** Writes an OCI image layout holding a built image (its manifest, config and gzip layer blobs) named `ref`. */
export function writeBuiltLayout(dir: string, ref: string, image: BuiltImage): void {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  for (const b of [image.manifest, image.config, ...image.layers.map((l) => l.blob)]) writeFileSync(join(blobs, b.digest.slice('sha256:'.length)), b.bytes);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: image.mediaType, digest: image.manifest.digest, size: image.manifest.size, annotations: { 'org.opencontainers.image.ref.name': ref } }] }),
  );
}
