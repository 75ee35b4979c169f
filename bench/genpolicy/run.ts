/**
 * Policy generation benchmark: time for `cocokit policy generate` (image resolution + policy_data + rules +
 * init-data annotation) of a 1-, 5- and 20-container pod, each container with its own image.
 *
 *   npx tsx bench/genpolicy/run.ts [--runs 5] [--layer-kib 2048] [--json]
 *
 * Cases:
 *   oci-layout     guest pull on (the settings as shipped): each image's config read from an OCI image layout
 *   cached-layers  guest pull off: each image has a layer whose dm-verity root hash comes from a warm layer
 *                  cache (the first, cold run that computes the hashes is reported separately)
 * Images, layers and pods are built by the script in a temporary directory. Prints the median and the
 * fastest of `--runs` runs per case. Not part of `npm test`.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { run } from '../../src/cli/program.js';
import { bufferIO } from '../../src/cli/io.js';
import { vectorPath } from '../../src/test-support/vectors.js';
import { buildTar } from '../../src/test-support/tar-build.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const RUNS = Number(arg('runs', '5'));
const LAYER_KIB = Number(arg('layer-kib', '2048'));
const JSON_OUT = process.argv.includes('--json');

const dir = mkdtempSync(join(tmpdir(), 'cocokit-bench-genpolicy-'));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** An OCI layout with one image (one gzip layer of `LAYER_KIB` KiB of files) named "1". */
function writeImage(path: string, n: number): void {
  const files = Array.from({ length: Math.max(1, LAYER_KIB / 64) }, (_, i) => ({ path: `data/f${i}`, content: Buffer.alloc(64 * 1024, (n * 31 + i) & 0xff) }));
  const tar = buildTar([{ path: 'data/', type: 'dir' }, ...files]);
  const gz = gzipSync(tar, { level: 1 });
  const blobs = join(path, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer): { digest: string; size: number } => {
    writeFileSync(join(blobs, sha(b)), b);
    return { digest: `sha256:${sha(b)}`, size: b.length };
  };
  const layer = put(gz);
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin', `N=${n}`], Cmd: ['/bin/app'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${sha(tar)}`] } })));
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    ),
  );
  writeFileSync(join(path, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(path, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': '1' } }] }));
}

function pod(n: number): string {
  const containers = Array.from({ length: n }, (_, i) => `    - {name: c${i}, image: "registry.example/img${i}:1", env: [{name: IDX, value: "${i}"}]}`).join('\n');
  return `apiVersion: v1\nkind: Pod\nmetadata: {name: bench-${n}}\nspec:\n  containers:\n${containers}\n`;
}

async function generate(sizes: number, settings: string, extra: string[]): Promise<number> {
  const io = bufferIO({}, dir);
  const maps = Array.from({ length: sizes }, (_, i) => ['--image-map', `registry.example/img${i}:1=oci:img${i}:1`]).flat();
  const t0 = performance.now();
  const code = await run(['policy', 'generate', '-y', `pod-${sizes}.yaml`, '-j', settings, '-r', '--offline', ...maps, ...extra], io);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(io.err());
  return ms;
}

const PAUSE_IMAGE = 'mcr.microsoft.com/oss/kubernetes/pause:3.6';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  for (let i = 0; i < 20; i++) writeImage(join(dir, `img${i}`), i);
  writeImage(join(dir, 'pause'), 20);
  for (const n of [1, 5, 20]) writeFileSync(join(dir, `pod-${n}.yaml`), pod(n));
  const shipped = join(vectorPath('rego', 'kata', 'genpolicy'), 'genpolicy-settings.json');
  const hostPull = join(dir, 'settings');
  mkdirSync(join(hostPull, 'genpolicy-settings.d'), { recursive: true });
  cpSync(shipped, join(hostPull, 'genpolicy-settings.json'));
  writeFileSync(join(hostPull, 'genpolicy-settings.d', '50-host-pull.json'), JSON.stringify([{ op: 'replace', path: '/cluster_config/guest_pull', value: false }]));

  const rows: Array<{ case: string; containers: number; medianMs: number; minMs: number; coldMs?: number }> = [];
  for (const n of [1, 5, 20]) {
    await generate(n, shipped, []); // warm-up (module loading, JIT)
    const times: number[] = [];
    for (let r = 0; r < RUNS; r++) times.push(await generate(n, shipped, []));
    rows.push({ case: 'oci-layout', containers: n, medianMs: median(times), minMs: Math.min(...times) });
  }
  for (const n of [1, 5, 20]) {
    // With guest pull off the pause container's storages are the pause image's layers too.
    const extra = [`--layers-cache-file-path=cache-${n}.json`, '--image-map', `${PAUSE_IMAGE}=oci:pause:1`];
    const coldMs = await generate(n, hostPull, extra);
    const times: number[] = [];
    for (let r = 0; r < RUNS; r++) times.push(await generate(n, hostPull, extra));
    rows.push({ case: 'cached-layers', containers: n, medianMs: median(times), minMs: Math.min(...times), coldMs });
  }
  if (JSON_OUT) console.log(JSON.stringify({ runs: RUNS, layerKiB: LAYER_KIB, rows }, null, 2));
  else {
    console.log(`policy generate, ${RUNS} runs per case, one ${LAYER_KIB} KiB layer per image`);
    for (const r of rows) console.log(`${r.case.padEnd(14)} ${String(r.containers).padStart(2)} containers  median ${r.medianMs.toFixed(1)} ms  min ${r.minMs.toFixed(1)} ms${r.coldMs === undefined ? '' : `  (cold, hashing layers: ${r.coldMs.toFixed(0)} ms)`}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
