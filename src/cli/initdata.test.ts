import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readVector, readVectorJson, vectorPath } from '../test-support/vectors.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';

interface Expected {
  algorithm?: string;
  initdata_digest_hex?: string;
  initdata_digest_base64?: string;
  tdx_mrconfigid_hex?: string;
  snp_hostdata_hex?: string;
  cca_rpv_hex?: string;
  tpm_pcr8_sha256_after_single_extend_from_zero_hex?: string;
  annotation_file?: string;
  sha384_without_final_newline_hex?: string;
}
const expected = readVectorJson<Record<string, Expected>>('initdata', 'expected-digests.json');
const documents = Object.entries(expected).filter(([, e]) => e.initdata_digest_hex !== undefined);
const dir = vectorPath('initdata');
const tmp = mkdtempSync(join(tmpdir(), 'cocokit-initdata-'));

function cli(...argv: string[]): Promise<CliRun> {
  return runCli(['initdata', ...argv], { cwd: dir });
}

function tmpFile(name: string, content: string | Uint8Array): string {
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
}

test('the vector set has every document', () => {
  assert.equal(documents.length, 8);
});

for (const [file, e] of documents) {
  test(`digest of ${file} matches expected-digests.json (hex and base64)`, async () => {
    const hex = await cli('digest', file);
    assert.equal(hex.code, 0, hex.err);
    assert.equal(hex.out, `${e.initdata_digest_hex}\n`);
    const b64 = await cli('digest', file, '--encoding', 'base64');
    assert.equal(b64.out, `${e.initdata_digest_base64}\n`);
    const json = JSON.parse((await cli('digest', file, '--json')).out) as { algorithm: string; digest: string };
    assert.equal(json.algorithm, e.algorithm);
    assert.equal(json.digest, e.initdata_digest_hex);
  });

  test(`bind of ${file}: SNP HOST_DATA, TDX MRCONFIGID, CCA RPV, TPM PCR 8`, async () => {
    assert.equal((await cli('bind', file, '--tee', 'snp')).out, `${e.snp_hostdata_hex}\n`);
    assert.equal((await cli('bind', file, '--tee', 'tdx')).out, `${e.tdx_mrconfigid_hex}\n`);
    assert.equal((await cli('bind', file, '--tee', 'cca')).out, `${e.cca_rpv_hex}\n`);
    const tpm = await cli('bind', file, '--tee', 'tpm');
    if (e.tpm_pcr8_sha256_after_single_extend_from_zero_hex !== undefined) {
      assert.equal(tpm.out, `${e.tpm_pcr8_sha256_after_single_extend_from_zero_hex}\n`);
    } else {
      assert.equal(tpm.code, 4);
      assert.match(tpm.err, /error\[INITDATA_DIGEST_SIZE\].*sha256/);
    }
  });

  if (e.annotation_file !== undefined) {
    const annotation = e.annotation_file;
    test(`the annotation ${annotation} decodes to exactly ${file}`, async () => {
      const r = await cli('decode', annotation, '--check');
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(Buffer.from(r.bytes), readVector('initdata', file));
      assert.equal((await cli('digest', '--annotation', annotation)).out, `${e.initdata_digest_hex}\n`);
    });
  }

  test(`annotate then decode gives back ${file} byte for byte`, async () => {
    const a = await cli('annotate', file);
    assert.equal(a.code, 0, a.err);
    const d = await cli('decode', '--value', a.out.trim());
    assert.deepEqual(Buffer.from(d.bytes), readVector('initdata', file));
  });
}

test('bind accepts a digest directly', async () => {
  const e = expected['trustee-kbs-doc-example.toml'];
  const r = await cli('bind', '--digest', e.initdata_digest_hex!, '--tee', 'tdx');
  assert.equal(r.out, `${e.tdx_mrconfigid_hex}\n`);
});

test("the CAA doc's published digest is the SHA-384 of its document without the final newline", async () => {
  const bytes = readVector('initdata', 'caa-doc-initdata.toml');
  const p = tmpFile('caa-no-newline.toml', bytes.subarray(0, bytes.length - 1));
  const r = await cli('digest', p);
  assert.equal(r.out, `${expected['caa-doc-initdata.toml'].sha384_without_final_newline_hex}\n`);
});

test('the CAA pod annotation that lacks one base64 pad still decodes', async () => {
  const value = readFileSync(join(dir, 'caa-doc-initdata.annotation.txt'), 'latin1').trim();
  assert.ok(value.endsWith('='));
  const r = await cli('decode', '--value', value.replace(/=$/, ''));
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(Buffer.from(r.bytes), readVector('initdata', 'caa-doc-initdata.toml'));
});

test('the Kata agent test image decodes to its payload', async () => {
  const e = readVectorJson<Record<string, { decompressed_payload_utf8: string }>>('initdata', 'expected-digests.json');
  const r = await cli('decode', '--image', 'kata-agent-testdata-initdata.img');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, e['kata-agent-testdata-initdata.img'].decompressed_payload_utf8);
  // The payload is not an init-data document, and digest says so.
  const d = await cli('digest', '--image', 'kata-agent-testdata-initdata.img');
  assert.equal(d.code, 4);
  assert.match(d.err, /INITDATA_/);
});

test("claims follow Trustee: policy.rego becomes agent_policy_claims, aa.toml/cdh.toml become objects", async () => {
  const withPolicy = JSON.parse((await cli('claims', 'trustee-init-data-with-policy.toml')).out) as Record<string, any>;
  assert.equal(withPolicy['policy.rego'], undefined);
  // The value Trustee's integration test policy (init_data.rs) reads from these claims.
  assert.equal(withPolicy.agent_policy_claims.containers[1].OCI.Process.Args[0], '/opt/bitnami/scripts/nginx/entrypoint.sh');
  const caa = JSON.parse((await cli('claims', 'caa-doc-initdata.toml')).out) as Record<string, any>;
  assert.equal(caa['aa.toml'].token_configs.kbs.url, 'http://127.0.0.1:8080');
  assert.equal(typeof caa['cdh.toml'], 'object');
});

test('annotate --yaml prints the Kata annotation key', async () => {
  const r = await cli('annotate', 'kata-default-initdata.toml', '--yaml');
  assert.match(r.out, /^io\.katacontainers\.config\.hypervisor\.cc_init_data: "[A-Za-z0-9+/]+=*"\n$/);
});

const BAD: Array<[string, string, RegExp]> = [
  ['bad TOML', 'version = "0.1.0"\nalgorithm = sha256\n[data]\n', /INITDATA_TOML.*line 2/],
  ['an IANA algorithm name', 'version = "0.1.0"\nalgorithm = "sha-384"\n[data]\n', /INITDATA_ALGORITHM.*"sha384"/],
  ['an upper-case algorithm name', 'version = "0.1.0"\nalgorithm = "SHA256"\n[data]\n', /INITDATA_ALGORITHM/],
  ['an unknown algorithm', 'version = "0.1.0"\nalgorithm = "md5"\n[data]\n', /INITDATA_ALGORITHM.*"md5"/],
  ['sm3 (Kata refuses it)', 'version = "0.1.0"\nalgorithm = "sm3"\n[data]\n', /INITDATA_ALGORITHM.*sm3/],
  ['no algorithm', 'version = "0.1.0"\n[data]\n', /INITDATA_ALGORITHM.*no "algorithm"/],
  ['another version', 'version = "0.2.0"\nalgorithm = "sha256"\n[data]\n', /INITDATA_VERSION.*"0\.2\.0"/],
  ['no version', 'algorithm = "sha256"\n[data]\n', /INITDATA_VERSION/],
  ['no [data]', 'version = "0.1.0"\nalgorithm = "sha256"\n', /INITDATA_DATA.*no \[data\]/],
  ['a non-string data value', 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\nx = 1\n', /INITDATA_DATA.*"x"/],
  ['a data array', 'version = "0.1.0"\nalgorithm = "sha256"\ndata = ["a"]\n', /INITDATA_DATA/],
];
for (const [what, text, re] of BAD) {
  test(`digest rejects a document with ${what}`, async () => {
    const r = await cli('digest', tmpFile(`bad-${what.replace(/\W+/g, '-')}.toml`, text));
    assert.equal(r.code, 4);
    assert.match(r.err, re);
    assert.equal(r.out, '');
  });
}

test('digest rejects bytes that are not UTF-8', async () => {
  const r = await cli('digest', tmpFile('latin1.toml', Buffer.from('version = "0.1.0"\nalgorithm = "sha256"\n[data]\nk = "\xe9"\n', 'latin1')));
  assert.match(r.err, /INITDATA_UTF8/);
});

test('a missing file is a not-found error', async () => {
  const r = await cli('digest', 'no-such-file.toml');
  assert.equal(r.code, 8);
  assert.match(r.err, /CLI_READ/);
});

test('a gzip bomb is refused with a limit error, not decompressed', async () => {
  const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024)).toString('base64');
  const r = await cli('decode', '--value', bomb);
  assert.equal(r.code, 4);
  assert.match(r.err, /INITDATA_TOO_LARGE/);
  const small = await cli('decode', '--value', gzipSync(Buffer.alloc(2000)).toString('base64'), '--max-size', '1000');
  assert.match(small.err, /INITDATA_TOO_LARGE.*1000/);
});

function truncatedGzip(): string {
  const gz = gzipSync(Buffer.from('version = "0.1.0"\n'));
  return gz.subarray(0, gz.length - 6).toString('base64');
}

test('decode rejects values that are not base64 of gzip', async () => {
  for (const v of ['not base64!', Buffer.from('plain text, not gzip').toString('base64'), truncatedGzip()]) {
    const r = await cli('decode', '--value', v);
    assert.equal(r.code, 4, v);
    assert.match(r.err, /INITDATA_ANNOTATION/);
  }
});
