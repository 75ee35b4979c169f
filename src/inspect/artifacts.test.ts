import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { readVector, readVectorJson, toolMissing, vectorPath } from '../test-support/vectors.js';
import { generateData, tempDir, verityCases, veritysetup, writeData } from '../measure/test-support/verity.js';
import { bufferIO } from '../cli/io.js';
import { run } from '../cli/program.js';
import { inspect } from './inspect.js';
import { agentPolicyText } from '../policy/agent-rules.js';
import type { Inspection } from './types.js';

const field = (r: Inspection, name: string) => {
  const f = r.fields.find((x) => x.name === name);
  assert.ok(f, `no field ${name} in ${r.fields.map((x) => x.name).join(' ')}`);
  return f;
};
const isInput = (e: unknown) => e instanceof CocoError && e.kind !== 'internal';
const enc = (s: string) => new TextEncoder().encode(s);

/** Any byte change or cut is a clear CocoError or still an inspection — never a crash or hang. */
function fuzz(good: Uint8Array, runs = 150): void {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.integer({ min: 0, max: good.length - 1 }).map((n) => good.subarray(0, n)),
        fc.tuple(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const c = good.slice();
          c[i] ^= x;
          return c;
        }),
        fc.uint8Array({ maxLength: 600 }).map((b) => Uint8Array.from([...good.subarray(0, 48), ...b])),
      ),
      (bytes) => {
        try {
          inspect(bytes);
        } catch (e) {
          assert.ok(isInput(e), String(e));
        }
      },
    ),
    { numRuns: runs },
  );
}

// ───────────────────────────── init-data ─────────────────────────────

const digests = readVectorJson<Record<string, any>>('initdata', 'expected-digests.json');

for (const [file, x] of Object.entries(digests)) {
  if (!x.initdata_digest_hex) continue;
  test(`init-data ${file}: version, algorithm, entries, digest and every TEE binding as the vector says`, () => {
    const r = inspect(new Uint8Array(readVector('initdata', file)));
    assert.equal(r.format, 'init-data');
    assert.equal(r.form, file.endsWith('.json') ? 'json' : 'toml');
    assert.equal(field(r, 'version').value, x.version);
    assert.equal(field(r, 'algorithm').value, x.algorithm);
    assert.deepEqual(r.fields.filter((f) => f.name.startsWith('data.')).map((f) => f.name.slice(5)), x.data_keys);
    assert.equal(field(r, 'digest').value, x.initdata_digest_hex);
    assert.equal(field(r, 'binding.snp.HOST_DATA').value, x.snp_hostdata_hex);
    assert.equal(field(r, 'binding.tdx.MRCONFIGID').value, x.tdx_mrconfigid_hex);
    assert.equal(field(r, 'binding.cca.RPV').value, x.cca_rpv_hex);
    if (x.tpm_pcr8_sha256_after_single_extend_from_zero_hex) assert.equal(field(r, 'binding.tpm.PCR8').value, x.tpm_pcr8_sha256_after_single_extend_from_zero_hex);
    else assert.match(field(r, 'binding.tpm').meaning, /cannot be bound to PCR 8/);
  });
}

test('the Kata annotation and the init-data block image decode to the document they carry', () => {
  const x = digests['kata-doc-allow-all-except-exec.toml'];
  const r = inspect(new Uint8Array(readVector('initdata', x.annotation_file)));
  assert.equal(r.form, 'annotation');
  assert.equal(field(r, 'digest').value, x.initdata_digest_hex);
  const rego = field(r, 'data.policy.rego');
  // The embedded policy is summarised: the Kata "allow all except exec" policy blocks one request by default.
  assert.equal(rego.flags!.blocked_by_default, 1);
  const doc = readVector('initdata', 'kata-default-initdata.toml');
  const gz = gzipSync(doc);
  const img = Buffer.alloc(512);
  img.write('initdata', 0, 'latin1');
  img.writeBigUInt64LE(BigInt(gz.length), 8);
  gz.copy(img, 16);
  const fromImage = inspect(new Uint8Array(img));
  assert.equal(fromImage.form, 'image');
  assert.equal(field(fromImage, 'digest').value, digests['kata-default-initdata.toml'].initdata_digest_hex);
  // Kata's own test image carries "some content", which is not an init-data document: a clear input error.
  assert.throws(() => inspect(new Uint8Array(readVector('initdata', 'kata-agent-testdata-initdata.img'))), (e) => e instanceof CocoError && e.code === 'INITDATA_TOML');
});

test('init-data reference values mark the SNP and TDX bindings', () => {
  const x = digests['trustee-kbs-doc-simple.toml'];
  const r = inspect(new Uint8Array(readVector('initdata', 'trustee-kbs-doc-simple.toml')), { referenceValues: { host_data: [x.snp_hostdata_hex], mr_config_id: '00'.repeat(48) } });
  assert.equal(field(r, 'binding.snp.HOST_DATA').reference?.status, 'matched');
  assert.equal(field(r, 'binding.tdx.MRCONFIGID').reference?.status, 'not-matched');
});

test('bad init-data is an input error: wrong algorithm, broken TOML, bad annotation, flipped bytes', () => {
  assert.throws(() => inspect(enc('version = "0.1.0"\nalgorithm = "md5"\n[data]\n')), (e) => e instanceof CocoError && e.code === 'INITDATA_ALGORITHM');
  assert.throws(() => inspect(enc('version = "0.1.0"\nalgorithm = \n')), isInput);
  assert.throws(() => inspect(enc('H4sIAAAAAAAAA!!!')), isInput);
  assert.throws(() => inspect(enc('H4sIAAAAAAAAAwMAAAAAAAAAAAA=')), isInput);
  fuzz(new Uint8Array(readVector('initdata', 'caa-doc-initdata.toml')));
});

// ───────────────────────────── agent policy ─────────────────────────────

test('a genpolicy agent policy: containers with their images, request defaults, defaults, size and digest', () => {
  const bytes = new Uint8Array(readVector('rego', 'kata', 'genpolicy', 'samples', 'pod-one-container.decoded-policy.rego'));
  const r = inspect(bytes);
  assert.equal(r.format, 'agent-policy');
  const text = Buffer.from(bytes).toString('utf8');
  const data = JSON.parse(text.slice(text.indexOf('policy_data := ') + 'policy_data := '.length));
  const containers = r.fields.filter((f) => f.name.startsWith('containers['));
  assert.equal(containers.length, data.containers.length);
  data.containers.forEach((c: any, i: number) => {
    const image = c.OCI.Annotations['io.kubernetes.cri.image-name'] ?? '(pause container)';
    assert.equal(containers[i].value, image);
    assert.equal(containers[i].flags!.args, c.OCI.Process.Args.join(' '));
    assert.equal(containers[i].flags!.env, c.OCI.Process.Env.length);
  });
  assert.deepEqual(
    r.fields.filter((f) => f.name.startsWith('request_defaults.')).map((f) => f.name.slice('request_defaults.'.length)),
    Object.keys(data.request_defaults),
  );
  assert.equal(field(r, 'request_defaults.CreateContainerRequest').flags!.allow_env_regex, data.request_defaults.CreateContainerRequest.allow_env_regex.length);
  assert.equal(field(r, 'size').value, `${bytes.length} bytes`);
  assert.equal(field(r, 'sha256').value, createHash('sha256').update(bytes).digest('hex'));
  const defaults = [...text.matchAll(/^default (\w+Request) := (true|false)$/gm)];
  assert.ok(defaults.length > 20);
  for (const [, name, v] of defaults) assert.equal(field(r, `default.${name}`).value, v === 'true' ? 'allowed' : 'blocked');
  assert.deepEqual(r.checks.map((c) => [c.id, c.ok]), [['rego-load', true], ['allow-failing-requests', true]]);
});

test('an agent policy naming shared policy_data fragments shows the same containers as the policy written plainly', () => {
  const text = readVector('rego', 'kata', 'genpolicy', 'samples', 'pod-one-container.decoded-policy.rego').toString('utf8');
  const data = JSON.parse(text.slice(text.indexOf('policy_data := ') + 'policy_data := '.length)) as Record<string, unknown>;
  const named = agentPolicyText(data);
  assert.match(named, /^policy_fragment_1 := /m);
  const fields = (t: string): unknown => inspect(new TextEncoder().encode(t)).fields.filter((f) => f.name.startsWith('containers[') || f.name.startsWith('request_defaults.'));
  const plain = fields(agentPolicyText(data, { fragments: false }));
  assert.ok((plain as unknown[]).length > 2);
  assert.deepEqual(fields(named), plain);
});

test('Kata\'s built-in allow-all policy has no container list; a policy with a syntax error fails rego-load', () => {
  const r = inspect(new Uint8Array(readVector('rego', 'kata', 'kata-opa', 'allow-all.rego')));
  assert.equal(r.format, 'agent-policy');
  assert.ok(r.fields.every((f) => !f.name.startsWith('containers[')));
  assert.ok(r.notes.some((n) => n.startsWith('no policy_data')));
  assert.equal(r.checks.find((c) => c.id === 'rego-load')?.ok, true);
  const broken = inspect(enc('package agent_policy\n\ndefault CreateContainerRequest := \n'));
  assert.equal(broken.checks.find((c) => c.id === 'rego-load')?.ok, false);
});

// ───────────────────────────── dm-verity ─────────────────────────────

const cases = verityCases().filter((c) => !c.params.no_superblock && c.params.hash_offset === 0 && !c.params.same_device).slice(0, 4);
for (const c of cases) {
  test(`dm-verity ${c.id}: the superblock veritysetup wrote, and the root hash from its top hash block`, { skip: toolMissing('veritysetup') }, async () => {
    const t = tempDir();
    try {
      writeData(t.dir, 'data.img', generateData(c.data));
      const res = veritysetup(c.veritysetup_argv, t.dir);
      assert.equal(res.status, 0, res.stderr);
      const hash = new Uint8Array(readFileSync(join(t.dir, c.expected.hash_device_file)));
      assert.equal(createHash('sha256').update(hash).digest('hex'), c.expected.hash_device_sha256);
      const r = inspect(hash);
      assert.equal(r.format, 'verity-superblock');
      const o = bufferIO();
      await run(['inspect', join(t.dir, c.expected.hash_device_file)], o);
      assert.match(o.out(), new RegExp(`^dm-verity hash device: ${c.params.hash}, ${c.expected.data_blocks} × ${c.params.data_block_size}-byte data blocks`), o.err());
      assert.equal(field(r, 'ALGORITHM').value, c.params.hash);
      assert.equal(field(r, 'HASH_TYPE').value, String(c.params.format));
      assert.equal(field(r, 'DATA_BLOCK_SIZE').value, String(c.params.data_block_size));
      assert.equal(field(r, 'HASH_BLOCK_SIZE').value, String(c.params.hash_block_size));
      assert.equal(field(r, 'DATA_BLOCKS').value, String(c.expected.data_blocks));
      assert.equal(field(r, 'HASH_BLOCKS').value, String(c.expected.hash_blocks));
      assert.equal(field(r, 'HASH_DEVICE_SIZE').value, String(c.expected.hash_device_size));
      if (c.params.salt_source !== 'random') assert.equal(field(r, 'SALT').value, c.params.salt);
      if (c.params.uuid) assert.equal(field(r, 'UUID').value, c.params.uuid);
      if (c.expected.data_blocks > 1) {
        assert.equal(field(r, 'ROOT_HASH').value, c.expected.root_hash);
        // The superblock alone: the top hash block is not there, so no root hash is claimed.
        assert.equal(inspect(hash.subarray(0, 512)).fields.some((f) => f.name === 'ROOT_HASH'), false);
      } else {
        assert.ok(r.notes.some((n) => n.startsWith('root hash not computed: with one data block')));
      }
      const bad = hash.slice();
      bad[64] = 0xff; // data block size 4351: not a power of two
      assert.throws(() => inspect(bad), (e) => e instanceof CocoError && e.code === 'VERITY_BLOCK_SIZE');
      fuzz(hash.subarray(0, 4096), 100);
    } finally {
      t.cleanup();
    }
  });
}

// ───────────────────────────── UKI ─────────────────────────────

const uki = readVectorJson<{ pe_cases: any[] }>('uki', 'cases.json');
for (const c of uki.pe_cases) {
  test(`UKI ${c.id}: sections with their SHA-256 and the PCR 11 systemd-measure predicted`, () => {
    const bytes = new Uint8Array(readVector('uki', c.pe_file));
    assert.equal(createHash('sha256').update(bytes).digest('hex'), c.pe_sha256);
    const r = inspect(bytes);
    assert.equal(r.format, 'uki');
    for (const s of c.pe_sections) {
      const content = s.content.text !== undefined ? Buffer.from(s.content.text, 'utf8') : generateData({ generator: s.content.generator, seed: s.content.seed ?? null, size: s.content.size });
      const f = field(r, s.name);
      assert.equal(f.value, createHash('sha256').update(content).digest('hex'), s.name);
      assert.equal(f.flags!.virtual_size, content.length);
      if (s.content.text !== undefined && ['.cmdline', '.osrel', '.sbat'].includes(s.name)) assert.equal(f.flags!.text, s.content.text.trim());
    }
    for (const bank of ['sha256', 'sha384']) {
      for (const [phase, v] of Object.entries(c.expected[bank] as Record<string, string>)) assert.equal(field(r, `PCR11.${bank}.${phase}`).value, v, `${bank} ${phase}`);
    }
  });
}

test('a PE without .linux is not a UKI; a truncated or flipped UKI is an input error', () => {
  const bytes = new Uint8Array(readVector('uki', uki.pe_cases[0].pe_file));
  const noLinux = bytes.slice();
  const at = Buffer.from(noLinux).indexOf('.linux');
  noLinux.set(enc('.linuy'), at);
  assert.throws(() => inspect(noLinux), (e) => e instanceof CocoError && e.code === 'UKI_NOT_UKI');
  fuzz(bytes, 150);
});

// ───────────────────────────── TPM quotes and event logs ─────────────────────────────

const tpm = readVectorJson<{ cases: any[]; tpm_pcrs: Record<string, Record<string, string>> }>('tpm', 'cases.json');

for (const c of tpm.cases) {
  test(`TPM quote ${c.id}: TPMS_ATTEST fields as tpm2_print decodes them; signature check as tpm2_checkquote says`, () => {
    const attest = new Uint8Array(readVector('tpm', c.files.attest));
    const d = c.decoded_attest_after_tamper ?? c.decoded_attest;
    const r = inspect(attest, { signature: new Uint8Array(readVector('tpm', c.files.signature_tss)), key: new Uint8Array(readVector('tpm', c.ak_files.tpm2b_public)) });
    assert.equal(r.format, 'tpm-quote');
    assert.equal(field(r, 'MAGIC').value, d.magic);
    assert.equal(field(r, 'TYPE').value, d.type);
    assert.equal(field(r, 'QUALIFIED_SIGNER').value, d.qualified_signer);
    assert.equal(field(r, 'EXTRA_DATA').value, d.extra_data);
    assert.equal(field(r, 'CLOCK').value, String(d.clock_info.clock));
    assert.equal(field(r, 'RESET_COUNT').value, String(d.clock_info.reset_count));
    assert.equal(field(r, 'SAFE').value, String(d.clock_info.safe === 1));
    assert.equal(field(r, 'FIRMWARE_VERSION').value, d.firmware_version);
    assert.equal(field(r, 'PCR_SELECT').value, d.pcr_select.map((s: any) => `${s.hash}:${s.pcrs.join(',')}`).join(' '));
    assert.equal(field(r, 'PCR_DIGEST').value, d.pcr_digest);
    assert.equal(field(r, 'EXTRA_DATA').offset, 6 + 2 + d.qualified_signer.length / 2);
    assert.equal(r.checks.find((k) => k.id === 'signature')?.ok, c.oracle_checks.signature);
    // As a TPM2B_ATTEST (size first) the same fields sit two bytes later.
    const t2b = new Uint8Array(attest.length + 2);
    t2b.set([attest.length >> 8, attest.length & 0xff]);
    t2b.set(attest, 2);
    const r2 = inspect(t2b);
    assert.equal(r2.form, 'TPM2B_ATTEST');
    assert.equal(field(r2, 'PCR_DIGEST').offset, field(r, 'PCR_DIGEST').offset! + 2);
    assert.ok(r2.notes.some((n) => n.startsWith('signature not checked')));
  });
}

test('Trustee TPM evidence: quote, AK, PCRs and the signature and PCR digest checks', () => {
  const r = inspect(new Uint8Array(readVector('trustee', 'tpm', 'tpm_evidence.json')));
  const ev = readVectorJson('trustee', 'tpm', 'tpm_evidence.json');
  assert.equal(r.format, 'tpm-quote');
  assert.equal(r.form, 'json');
  assert.equal(field(r, 'ak_public').value, ev.ak_public);
  ev.tpm_quote.pcrs.forEach((p: string, i: number) => assert.equal(field(r, `PCR${i}.sha256`).value, p.toLowerCase()));
  assert.deepEqual(
    r.checks.filter((c) => ['signature', 'pcr-digest'].includes(c.id)).map((c) => [c.id, c.ok]),
    [
      ['signature', true],
      ['pcr-digest', true],
    ],
  );
  const tampered = { ...ev, tpm_quote: { ...ev.tpm_quote, pcrs: ev.tpm_quote.pcrs.map((p: string, i: number) => (i === 0 ? 'ff'.repeat(32) : p)) } };
  assert.equal(inspect(enc(JSON.stringify(tampered))).checks.find((c) => c.id === 'pcr-digest')?.ok, false);
  assert.throws(() => inspect(enc(JSON.stringify({ ...ev, ak_public: 'AAAA' }))), isInput);
  assert.throws(() => inspect(enc(JSON.stringify({ ...ev, tpm_quote: { ...ev.tpm_quote, pcrs: [1] } }))), isInput);
});

test('a TPM event log: every event, digest checks, and the replayed PCRs equal the TPM\'s', () => {
  const bytes = new Uint8Array(readVector('tpm', 'eventlog.bin'));
  const r = inspect(bytes);
  assert.equal(r.format, 'tpm-eventlog');
  const events = readVectorJson('tpm', 'eventlog.json').events as any[];
  const listed = r.fields.filter((f) => f.name.startsWith('event['));
  assert.equal(listed.length, events.length);
  events.forEach((e, i) => {
    assert.match(listed[i].value, new RegExp(`→ PCR${e.pcr}$`));
    assert.equal(listed[i].flags!.sha256, e.digests.sha256);
  });
  for (const [bank, pcrs] of Object.entries(tpm.tpm_pcrs)) {
    for (const [i, v] of Object.entries(pcrs)) {
      const f = r.fields.find((x) => x.name === `PCR${i}.${bank}`);
      // PCRs no event extended are not listed; the TPM's are then their initial value.
      if (f) assert.equal(f.value, v, `PCR${i} ${bank}`);
      else assert.ok(/^(0+|f+)$/.test(v), `PCR${i} ${bank} is ${v} but not replayed`);
    }
  }
  assert.ok(r.checks.every((c) => c.ok));
  const log = readVectorJson('tpm', 'eventlogs', 'expected.json').logs['event-sd-boot-fedora37.bin'];
  const fedora = inspect(new Uint8Array(readVector('tpm', 'eventlogs', 'event-sd-boot-fedora37.bin')));
  assert.equal(fedora.fields.filter((f) => f.name.startsWith('event[')).length, log.records_including_header - 1);
  for (const [i, v] of Object.entries(log.expected_replay.sha256 as Record<string, string>)) assert.equal(field(fedora, `PCR${i}.sha256`).value, v);
});

test('a TDX CCEL log replays into the RTMRs the quote carries, and the RTMR reference values match', () => {
  const x = readVectorJson('tdx', 'gotdx-cos113-ccel.ccel-replay.expected.json');
  const q = readVectorJson('tdx', 'gotdx-cos113-ccel.expected.json');
  const r = inspect(new Uint8Array(readVector('tdx', 'gotdx-cos113-ccel.ccel-data.bin')), { referenceValues: { rtmr_1: q.body.rtmr1, rtmr_2: ['00'] } });
  assert.equal(r.format, 'ccel-eventlog');
  assert.equal(r.fields.filter((f) => f.name.startsWith('event[')).length, x.event_count_excluding_specid_header);
  Object.values(x.replayed_sha384_registers as Record<string, string>).forEach((v, i) => assert.equal(field(r, `RTMR${i}`).value, v));
  assert.equal(field(r, 'RTMR1').reference?.status, 'matched');
  assert.equal(field(r, 'RTMR2').reference?.status, 'not-matched');
  assert.equal(field(r, 'RTMR0').reference?.status, 'no-reference');
});

test('truncated, flipped and random TPM quotes and event logs are input errors, never a crash', () => {
  fuzz(new Uint8Array(readVector('tpm', 'quotes', 'q02.attest')), 150);
  fuzz(new Uint8Array(readVector('tpm', 'eventlog.bin')), 150);
  fuzz(new Uint8Array(readVector('tdx', 'trustee-ovmf-directboot.ccel-data.bin')).subarray(0, 8192), 100);
});

test('cocokit inspect verifies a TPM quote with --signature and --ak, and reads every artifact kind', async () => {
  const c = tpm.cases.find((x) => x.id === 't01')!;
  const io = bufferIO();
  assert.equal(await run(['inspect', vectorPath('tpm', c.files.attest), '--signature', vectorPath('tpm', c.files.signature_tss), '--ak', vectorPath('tpm', c.ak_files.pem)], io), 2);
  assert.match(io.out(), /^FAIL signature: /m);
  const io2 = bufferIO();
  assert.notEqual(await run(['inspect', vectorPath('tpm', c.files.attest), '--signature', vectorPath('tpm', c.files.signature_tss)], io2), 0);
  assert.match(io2.err(), /--signature and --ak go together/);
  for (const [p, title] of [
    [vectorPath('initdata', 'caa-doc-initdata.annotation.txt'), /^CoCo init-data 0\.1\.0/],
    [vectorPath('uki', uki.pe_cases[0].pe_file), /^Unified Kernel Image/],
    [vectorPath('rego', 'kata', 'kata-opa', 'allow-all.rego'), /^Kata agent policy/],
    [vectorPath('tdx', 'trustee-ovmf-directboot.ccel-data.bin'), /^TDX CC event log/],
    [vectorPath('initdata', 'kata-default-initdata.toml'), /^CoCo init-data 0\.1\.0 \(sha256\)/],
    [vectorPath('trustee', 'tpm', 'tpm_evidence.json'), /^TPM TPM_ST_ATTEST_QUOTE over sha256:/],
    [vectorPath('tpm', 'eventlog.bin'), /^TCG PC Client event log, crypto-agile, 26 records/],
  ] as const) {
    const o = bufferIO();
    await run(['inspect', p], o);
    assert.match(o.out(), title, o.err());
  }
  // An EAR token, as a file holding the compact JWS.
  const t = tempDir();
  try {
    const ear = readVectorJson<{ token: string }>('trustee', 'generated', 'ear-token-synthetic.json');
    writeData(t.dir, 'token.jwt', enc(ear.token));
    const o = bufferIO();
    await run(['inspect', join(t.dir, 'token.jwt')], o);
    assert.match(o.out(), /^EAR attestation token \(cpu0: contraindicated\)/, o.err());
  } finally {
    t.cleanup();
  }
});
