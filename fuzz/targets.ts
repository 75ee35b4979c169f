/**
 * Fuzz targets: one per parser and per server entry point. Each names the real vectors its inputs are mutated
 * from and runs one input through the code under test. The contract (ARCHITECTURE.md): the code returns, or
 * throws a CocoError whose kind is not `internal`; the server answers anything but 500.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoError } from '../src/errors.js';
import { VECTORS } from '../src/test-support/vectors.js';
import { parseReport } from '../src/tee/snp/format.js';
import { evidenceFromJson } from '../src/tee/snp/evidence.js';
import { parsePe } from '../src/formats/pe.js';
import { ukiSections } from '../src/measure/uki.js';
import { readVeritySuperblock, writeVeritySuperblock } from '../src/measure/verity.js';
import { parseKrunFooter, parseWorkloadConfig } from '../src/formats/krun-footer.js';
import { decodeInitDataAnnotation, initDataDigest, parseInitData, sniffInitDataFormat } from '../src/measure/initdata.js';
import { canonicalize } from '../src/formats/jcs.js';
import { parseJson } from '../src/formats/json.js';
import { configFromToml } from '../src/server/config.js';
import { Engine } from '../src/rego/index.js';
import { applyJsonPatch } from '../src/rego/json-patch.js';
import { parseOvmf } from '../src/measure/snp-launch/ovmf.js';
import { snpLaunchDigest } from '../src/measure/snp-launch/digest.js';
import { parseTeePubKey } from '../src/formats/jwk.js';
import { encryptToTeeKey } from '../src/formats/jwe.js';
import { parsePemCertificates, verifyJwkEndorsement } from '../src/server/jwk-endorsement.js';
import { utf8 } from '../src/formats/bytes.js';

export interface Target {
  /** Real vectors the mutations start from (read lazily, in the child). */
  seeds(): Uint8Array[];
  /** Longest input generated. */
  maxLen: number;
  /** Prepares shared state once per child process (a server, trust anchors). */
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  run(input: Uint8Array): unknown;
}

const v = (...p: string[]) => new Uint8Array(readFileSync(join(VECTORS, ...p)));
const dir = (d: string[], filter: (f: string) => boolean) =>
  readdirSync(join(VECTORS, ...d))
    .filter(filter)
    .sort()
    .map((f) => v(...d, f));
const text = (b: Uint8Array) => utf8.decode(b);
const json = (b: Uint8Array) => parseJson(b, 'fuzz input');

const trustAt = new Date('2027-01-01T00:00:00Z');
let trust: ReturnType<typeof parsePemCertificates> = [];

export const TARGETS: Record<string, Target> = {
  'snp-report': {
    maxLen: 4096,
    seeds: () => dir(['snp', 'reports'], (f) => f.endsWith('.report.bin')),
    run: (b) => parseReport(b),
  },
  'snp-evidence': {
    maxLen: 16384,
    seeds: () => [v('trustee', 'snp', 'evidence-e2e.json'), v('snp', 'reports', 'coco-e2e-genoa-v3.evidence.json')],
    run: (b) => evidenceFromJson(json(b)),
  },
  pe: {
    maxLen: 1 << 17,
    seeds: () => dir(['uki', 'pe'], (f) => f.endsWith('.efi')).map((b) => b.subarray(0, 1 << 17)),
    run: (b) => {
      parsePe(b);
      return ukiSections(b);
    },
  },
  'verity-superblock': {
    maxLen: 1024,
    seeds: () => [
      writeVeritySuperblock({ hashType: 1, uuid: '0f5c1c2a-7d1e-4c1b-9d59-4ad4b3f8c0d1', algorithm: 'sha256', dataBlockSize: 4096, hashBlockSize: 4096, dataBlocks: 256, salt: new Uint8Array(32).fill(7) }),
      writeVeritySuperblock({ hashType: 0, uuid: '00000000-0000-0000-0000-000000000001', algorithm: 'sha1', dataBlockSize: 512, hashBlockSize: 1024, dataBlocks: 1, salt: new Uint8Array(0) }),
    ],
    run: (b) => readVeritySuperblock(b),
  },
  'krun-footer': {
    maxLen: 8192,
    seeds: () => {
      const img = v('keybroker', 'footer', 'disk_img_with_footer_example.bin');
      return [img.subarray(Math.max(0, img.length - 4096)), v('keybroker', 'footer', 'krun-sev.json')];
    },
    run: (b) => {
      try {
        parseWorkloadConfig(b);
      } catch (e) {
        if (!(e instanceof CocoError)) throw e;
      }
      return parseKrunFooter(b);
    },
  },
  initdata: {
    maxLen: 16384,
    seeds: () => [
      ...dir(['initdata'], (f) => f.endsWith('.toml') || f.endsWith('.json') || f.endsWith('.annotation.txt') || f.endsWith('.img')).map((b) => b.subarray(0, 16384)),
    ],
    run: (b) => {
      // Annotations are base64 of gzip: decoding covers gzip bombs and truncated streams.
      try {
        const raw = decodeInitDataAnnotation(text(b));
        parseInitData(raw, sniffInitDataFormat(raw));
      } catch (e) {
        if (!(e instanceof CocoError)) throw e;
      }
      const fmt = sniffInitDataFormat(b);
      parseInitData(b, fmt);
      return initDataDigest(b, fmt);
    },
  },
  jcs: {
    maxLen: 8192,
    seeds: () => [v('trustee', 'generated', 'rcar-sample-0.4.0.json'), v('trustee', 'generated', 'initdata-and-binding.json')].map((b) => b.subarray(0, 8192)),
    run: (b) => canonicalize(json(b)),
  },
  'config-toml': {
    maxLen: 8192,
    seeds: () => dir(['trustee', 'config'], (f) => f.endsWith('.toml')),
    run: (b) => configFromToml(text(b)),
  },
  rego: {
    maxLen: 8192,
    seeds: () => [
      v('rego', 'trustee', 'as-ear-default', 'ear_default_policy_cpu.rego'),
      utf8.encode('package policy\nimport rego.v1\ndefault allow := false\nallow if {\n  input.a[_] == 2\n  glob.match("*.x", [], input.s)\n  json.unmarshal(input.j).k == 1\n}\nf(x) := y if y := x * 2\n'),
    ],
    run: (b) => {
      const e = new Engine({ maxSteps: 100_000 });
      e.addPolicy('fuzz.rego', text(b));
      e.setInput({ a: [1, 2, { b: 'c' }], s: 'a.x', j: '{"k": 1}' });
      return e.queryRows('x = data');
    },
  },
  'json-patch': {
    maxLen: 4096,
    seeds: () => [
      utf8.encode('[{"op":"add","path":"/b","value":[1,{"c":2}]},{"op":"copy","from":"","path":"/k"},{"op":"move","from":"/a","path":"/m"},{"op":"test","path":"/m","value":1},{"op":"remove","path":"/b/0"},{"op":"replace","path":"","value":{}}]'),
    ],
    run: (b) => applyJsonPatch({ a: 1, pstate: { n: [1, 2, 3] } }, json(b)),
  },
  ovmf: {
    maxLen: 1 << 16,
    seeds: () => [v('snp', 'ovmf', 'ovmf_AmdSev_suffix.bin'), v('snp', 'ovmf', 'ovmf_OvmfX64_suffix.bin')].map((b) => b.subarray(Math.max(0, b.length - (1 << 16)))),
    run: (b) => {
      parseOvmf(b);
      return snpLaunchDigest({ ovmf: b, vcpus: 1, vcpuSig: 0x800f12 });
    },
  },
  'tee-pubkey': {
    maxLen: 2048,
    seeds: () => {
      const j = JSON.parse(text(v('trustee', 'generated', 'jwe-resource-responses.json')));
      return [j.ecdh_es_a256kw_p256.tee_pubkey_jwk, j.rsa_oaep_256.tee_pubkey_jwk, j.rsa1_5_legacy.tee_pubkey_jwk].map((k) => utf8.encode(JSON.stringify(k)));
    },
    run: (b) => encryptToTeeKey(utf8.encode('fuzz'), parseTeePubKey(json(b))),
  },
  x5c: {
    maxLen: 8192,
    seeds: () => dir(['trustee', 'kbs-jwk'], (f) => f.endsWith('-jwk.json')),
    setup: async () => {
      trust = parsePemCertificates(text(v('trustee', 'kbs-jwk', 'scenario01-trust.pem')), 'trust');
    },
    run: (b) => verifyJwkEndorsement(json(b), trust, trustAt),
  },
};

// ---- the HTTP server, through fastify's inject ----------------------------------------------------------

type Inject = (o: { method: string; url: string; payload?: string | Buffer; headers: Record<string, string> }) => Promise<{ statusCode: number; body: string }>;
let server: { inject: Inject; adminToken: string; stop(): Promise<void> } | undefined;

const NATIVE_ROUTES = [
  '/kbs/v0/auth',
  '/kbs/v0/attest',
  '/kbs/v0/resource/default/key/one',
  '/kbs/v0/resource/a/b',
  '/kbs/v0/resource-policy',
  '/kbs/v0/attestation-policy',
  '/kbs/v0/attestation-policy/default_cpu',
  '/kbs/v0/reference-value',
  '/kbs/v0/resources',
  '/kbs/v0/workloads',
  '/kbs/v0/workloads/id',
  '/kbs/v0/workload-resource/name',
  '/kbs/v0/resource-policy/id',
  '/kbs/v0/decisions',
  '/kbs/v0/decisions/1',
  '/kbs/v0/decisions/1/dry-run',
  '/kbs/v0/inspect',
  '/kbs/v0/dry-run',
  '/kbs/v0/status',
  '/console',
  '/console/app.js',
  '/kbs/v0/nope',
  '/healthz',
  '/metrics',
];
const COMPAT_ROUTES = [
  '/keybroker/rvp/register',
  '/keybroker/kbs/v0/auth',
  '/keybroker/kbs/v0/attest',
  '/keybroker/kbs/v0/resource/x',
  '/reference-kbs/kbs/v0/',
  '/reference-kbs/kbs/v0/register_workload',
  '/reference-kbs/kbs/v0/auth',
  '/reference-kbs/kbs/v0/attest',
  '/reference-kbs/kbs/v0/key/x',
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];

async function startServer(): Promise<void> {
  const { startKbs } = await import('../src/server/test-harness.js');
  const { workloadsConfigFromToml } = await import('../src/server/workloads.js');
  const { signAdminToken } = await import('../src/client/admin-client.js');
  const cache = mkdtempSync(join(tmpdir(), 'cocokit-fuzz-vcek-'));
  const h = await startKbs((c) => {
    c.admin.acls = [{ role: 'admin', allowed_endpoints: '^/.*$' }];
    c.workloads = workloadsConfigFromToml({
      vcek_cache_dir: cache,
      keybroker: { enabled: true, unauthenticated_registration: true },
      reference_kbs: { enabled: true, unauthenticated_registration: true },
    });
  });
  // Within the KBS's admin token lifetime bound (1 h by default), or every admin request is refused.
  const adminToken = await signAdminToken(h.adminKeyPem, 'admin', 3000);
  const probe = await h.kbs.app.inject({ method: 'GET', url: '/kbs/v0/resources', headers: { authorization: `Bearer ${adminToken}` } });
  if (probe.statusCode !== 200) throw new Error(`the fuzz admin token is refused (HTTP ${probe.statusCode}): admin routes would go untested`);
  server = { inject: (o) => h.kbs.app.inject(o as never) as never, adminToken, stop: () => h.stop() };
}

/**
 * Input layout: byte 0 picks the route (with mutations of the URL when it is odd), byte 1 the method, byte 2
 * the credentials (none, the valid admin token, a garbage Bearer token, a cookie); the rest is the body.
 */
function serverTarget(routes: readonly string[], bodies: () => Uint8Array[]): Target {
  return {
    maxLen: 16384,
    seeds: () => bodies().flatMap((body, i) => [0, 1, 2].map((cred) => Uint8Array.from([(i * 2) % 256, 1, cred, ...body]))),
    setup: startServer,
    teardown: async () => server?.stop(),
    run: async (b) => {
      if (b.length < 3) return undefined;
      let url = routes[(b[0]! >> 1) % routes.length]!;
      const body = Buffer.from(b.subarray(3));
      if (b[0]! & 1) url += encodeURI(body.subarray(0, 16).toString('latin1')).slice(0, 32);
      const headers: Record<string, string> = { 'content-type': b[2]! & 8 ? 'text/plain' : 'application/json' };
      const cred = b[2]! & 3;
      if (cred === 1) headers.authorization = `Bearer ${server!.adminToken}`;
      if (cred === 2) headers.authorization = `Bearer ${body.subarray(0, 64).toString('base64url')}`;
      if (cred === 3) headers.cookie = `kbs-session-id=${body.subarray(0, 16).toString('hex')}`;
      const method = METHODS[b[1]! % METHODS.length]!;
      const r = await server!.inject({ method, url, payload: method === 'GET' ? undefined : body, headers });
      if (r.statusCode >= 500 && r.statusCode !== 501 && r.statusCode !== 503) {
        throw new Error(`HTTP ${r.statusCode} for ${method} ${url}: ${r.body.slice(0, 200)}`);
      }
      return r.statusCode;
    },
  };
}

TARGETS['server'] = serverTarget(NATIVE_ROUTES, () => {
  const r = JSON.parse(text(v('trustee', 'generated', 'rcar-sample-0.4.0.json')));
  return [
    utf8.encode(JSON.stringify(r.auth_request_body)),
    utf8.encode(JSON.stringify(r.attest_request_body)),
    utf8.encode(JSON.stringify({ policy: Buffer.from('package policy\ndefault allow := true\n').toString('base64url') })),
    utf8.encode(JSON.stringify({ version: '0.1.0', type: 'sample', payload: Buffer.from('{"a":[1]}').toString('base64') })),
  ];
});
TARGETS['server-compat'] = serverTarget(COMPAT_ROUTES, () => [
  v('keybroker', 'protocol', 'keybroker_rvp_register_request.json'),
  v('keybroker', 'protocol', 'keybroker_auth_request.json'),
  v('keybroker', 'protocol', 'keybroker_attest_request.json'),
  v('keybroker', 'protocol', 'refkbs_register_workload_request.json'),
  v('keybroker', 'protocol', 'krun_auth_request.json'),
  v('keybroker', 'protocol', 'krun_attest_request.json'),
]);

/** The verdict on one run: undefined when the contract held, else what broke it. */
export function violation(e: unknown): string | undefined {
  if (e instanceof CocoError) return e.kind === 'internal' ? `internal CocoError ${e.code}: ${e.message}` : undefined;
  return e instanceof Error ? `${e.name}: ${e.message}` : `non-Error throw: ${String(e)}`;
}
