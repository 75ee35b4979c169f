/**
 * `[attestation_service.verifier_config.snp_verifier] trusted_roots`: a KBS started from a TOML config trusts
 * a generated SNP root only when the config names it, says so loudly, and refuses bad root files at start.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { KbsClient } from '../client/kbs-client.js';
import { utf8 } from '../formats/bytes.js';
import { policyEvaluators } from '../policy/index.js';
import { SnpAttester } from '../tee/snp/attester.js';
import { vcekCachePaths } from '../tee/snp/certs.js';
import { encodeTcb, layoutOf } from '../tee/snp/format.js';
import { createTestRoot, writeTestRoot } from '../tee/snp/test-root.js';
import { tsmSimulator } from '../tee/snp/tsm-sim.js';
import { bufferIO } from '../cli/io.js';
import { startServe } from '../cli/kbs-serve.js';
import { configFromToml } from './config.js';
import { openKbs, type Kbs } from './kbs.js';

const dir = mkdtempSync(join(tmpdir(), 'kbs-snp-roots-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const root = createTestRoot({ product: 'milan' });
const chip = root.createChip({ notBefore: new Date(Date.now() - 86_400_000) });
const files = writeTestRoot(join(dir, 'root'), root, chip);
const SECRET = 'released only under the configured root';

const toml = (extra: string): string => `
[http_server]
insecure_http = true
sockets = ["127.0.0.1:0"]
[admin]
authorization_mode = "DenyAll"
[storage_backend]
data_dir = ${JSON.stringify(mkdtempSync(join(dir, 'data-')))}
${extra}`;
const trustedRoots = (pem: string, product = 'milan'): string =>
  `[attestation_service.verifier_config.snp_verifier]\ntrusted_roots = [{ product = "${product}", pem = ${JSON.stringify(pem)} }]\n`;

async function open(text: string): Promise<{ kbs: Kbs; url: string; logs: string[] }> {
  const logs: string[] = [];
  const sink = new Writable({ write: (c, _e, cb) => void (logs.push(c.toString()), cb()) });
  const kbs = await openKbs({ config: configFromToml(text), ...policyEvaluators(), logger: pino({ level: 'info' }, sink) });
  await kbs.store.resources.put({ repository: 'default', type: 'key', tag: 'snp' }, utf8.encode(SECRET));
  // The guest's launch measurement (all zero in the simulator) and the chip's TCB as reference values: an
  // unrecognised guest is appraised contraindicated, which the default resource policy refuses.
  for (const [name, value] of Object.entries({
    snp_launch_measurement: ['00'.repeat(48)],
    snp_bootloader: [chip.tcb.bootloader],
    snp_microcode: [chip.tcb.microcode],
    snp_snp_svn: [chip.tcb.snp],
    snp_tee_svn: [chip.tcb.tee],
  })) {
    await kbs.store.referenceValues.set(name, value);
  }
  return { kbs, url: await kbs.listen(), logs };
}

function guest(url: string, certTable = true): KbsClient {
  const tsm = mkdtempSync(join(dir, 'tsm-'));
  return new KbsClient(url, new SnpAttester({ tsmPath: tsm, fs: tsmSimulator(root, chip, { certTable }) }), { maxAttempts: 1 });
}

test('a KBS configured with trusted_roots releases a secret to SNP evidence signed under that root, and warns', async () => {
  const { kbs, url, logs } = await open(toml(trustedRoots(files.roots)));
  try {
    assert.deepEqual(kbs.nonAmdSnpRoots, [`${files.roots} (milan)`]);
    assert.equal(await guest(url).getResourceText('default/key/snp'), SECRET);
    const warn = logs.map((l) => JSON.parse(l)).find((l) => l.level === 40 && /NON-AMD SNP ROOTS TRUSTED/.test(l.msg));
    assert.ok(warn, 'a pino warning names the non-AMD roots');
    assert.deepEqual(warn.snp_trusted_roots, [{ product: 'milan', pem: files.roots }]);
  } finally {
    await kbs.close();
  }
});

test('the same guest is refused by a KBS without trusted_roots, with the chain check in the detail', async () => {
  const { kbs, url, logs } = await open(toml(''));
  try {
    assert.deepEqual(kbs.nonAmdSnpRoots, []);
    await assert.rejects(guest(url).getResource('default/key/snp'), /failed check "chain"/);
    assert.ok(!logs.some((l) => /NON-AMD/.test(l)));
  } finally {
    await kbs.close();
  }
});

test('trusted_roots for another product leaves Milan on the genuine AMD roots', async () => {
  const genoa = createTestRoot({ product: 'genoa' });
  const g = writeTestRoot(join(dir, 'genoa'), genoa, genoa.createChip());
  const { kbs, url } = await open(toml(trustedRoots(g.roots, 'genoa')));
  try {
    await assert.rejects(guest(url).getResource('default/key/snp'), /failed check "chain"/);
  } finally {
    await kbs.close();
  }
});

test('a missing or malformed root PEM stops the KBS at start with a KBS_CONFIG error naming the file', async () => {
  const missing = join(dir, 'no-such-roots.pem');
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  const onlyArk = join(dir, 'only-ark.pem');
  writeFileSync(onlyArk, root.ark.toString());
  const truncated = join(dir, 'truncated.pem');
  writeFileSync(truncated, root.ark.toString().slice(0, 300) + '\n-----END CERTIFICATE-----\n');
  const genoaRoot = createTestRoot({ product: 'genoa' });
  const otherProduct = join(dir, 'genoa-roots.pem');
  writeFileSync(otherProduct, genoaRoot.ark.toString() + genoaRoot.ask.toString());
  const foreignAsk = join(dir, 'foreign-ask.pem');
  writeFileSync(foreignAsk, root.ark.toString() + createTestRoot({ product: 'milan' }).ask.toString());
  for (const [pem, why] of [
    [otherProduct, /ARK-Genoa, not ARK-Milan/],
    [foreignAsk, /SEV-Milan is not signed by ARK-Milan/],
    [missing, /cannot read/],
    [garbage, /no PEM certificate/],
    [onlyArk, /need an ARK and an ASK/],
    [truncated, /not an X\.509 certificate/],
  ] as const) {
    await assert.rejects(
      open(toml(trustedRoots(pem))),
      (e: unknown) => e instanceof CocoError && e.code === 'KBS_CONFIG' && e.message.includes(pem) && why.test(e.message),
      pem,
    );
  }
});

test('trusted_roots entries are validated and unknown keys stay rejected', () => {
  const section = '[attestation_service.verifier_config.snp_verifier]\n';
  assert.equal(configFromToml('').attestation_service.snp_trusted_roots, undefined, 'never set by default');
  assert.throws(() => configFromToml(`${section}trusted_roots = [{ product = "rome", pem = "r.pem" }]\n`), /product must be one of milan, genoa, turin/);
  assert.throws(() => configFromToml(`${section}trusted_roots = [{ product = "milan" }]\n`), /pem must name a PEM file/);
  assert.throws(() => configFromToml(`${section}trusted_roots = [{ product = "milan", pem = "a" }, { product = "milan", pem = "b" }]\n`), /given twice/);
  assert.throws(() => configFromToml(`${section}trusted_roots = [{ product = "milan", pem = "a", key = "k" }]\n`), /unknown key "key"/);
  assert.throws(() => configFromToml(`${section}trusted_root = [{ product = "milan", pem = "a" }]\n`), /unknown key "trusted_root"/);
  assert.throws(() => configFromToml(`${section}trusted_roots = "roots.pem"\n`), /trusted_roots must be a table\[\]/);
});

test('trusted_roots with an OfflineStore VCEK cache: evidence without a certificate table verifies from the cache', async () => {
  const cache = join(dir, 'vcek-cache');
  const [, generic] = vcekCachePaths(cache, 'milan', chip.chipId, { ...chip.tcb, raw: encodeTcb(chip.tcb, layoutOf('milan')) });
  mkdirSync(join(generic, '..'), { recursive: true });
  writeFileSync(generic, chip.vcek.raw);
  const config = `${trustedRoots(files.roots)}[[attestation_service.verifier_config.snp_verifier.vcek_sources]]\ntype = "OfflineStore"\npath = ${JSON.stringify(cache)}\n`;
  const { kbs, url } = await open(toml(config));
  try {
    assert.equal(kbs.config.attestation_service.snp_vcek_cache, cache);
    assert.equal(await guest(url, false).getResourceText('default/key/snp'), SECRET);
  } finally {
    await kbs.close();
  }
  // Without the cache the same certificate-less evidence has no VCEK to verify against.
  const bare = await open(toml(trustedRoots(files.roots)));
  try {
    await assert.rejects(guest(bare.url, false).getResource('default/key/snp'), /VCEK|vcek|certificate/);
  } finally {
    await bare.kbs.close();
  }
});

test('the start banner says loudly that non-AMD SNP roots are trusted', async () => {
  const cfg = join(dir, 'kbs.toml');
  writeFileSync(cfg, toml(trustedRoots(files.roots)));
  const io = bufferIO({ COCOKIT_LOG_LEVEL: 'silent' }, dir);
  const { kbs } = await startServe({ config: cfg }, io);
  await kbs.close();
  assert.match(io.out(), /WARNING: NON-AMD SNP ROOTS ARE TRUSTED/);
  assert.ok(io.out().includes(`${files.roots} (milan)`));
  const plain = join(dir, 'plain.toml');
  writeFileSync(plain, toml(''));
  const io2 = bufferIO({ COCOKIT_LOG_LEVEL: 'silent' }, dir);
  await (await startServe({ config: plain }, io2)).kbs.close();
  assert.doesNotMatch(io2.out(), /NON-AMD/);
});

test('random snp_verifier sections give a KBS_CONFIG error or a config, never a crash', () => {
  const section = '[attestation_service.verifier_config.snp_verifier]\n';
  const value = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constantFrom('"milan"', '"turin"', '[]', '{}', '[{}]', '[{ product = "milan", pem = 1 }]'));
  fc.assert(
    fc.property(fc.constantFrom('trusted_roots', 'vcek_sources', 'product', 'pem'), value, (key, v) => {
      try {
        const c = configFromToml(`${section}${key} = ${typeof v === 'string' && !/^[[{"]/.test(v) ? JSON.stringify(v) : String(v)}\n`);
        for (const r of c.attestation_service.snp_trusted_roots ?? []) assert.ok(['milan', 'genoa', 'turin'].includes(r.product) && typeof r.pem === 'string');
      } catch (e) {
        assert.ok(e instanceof CocoError && e.code === 'KBS_CONFIG', String(e));
      }
    }),
    { numRuns: 300 },
  );
});
