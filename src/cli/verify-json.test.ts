import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitCodeOf } from '../errors.js';
import { readVectorJson, vectorPath } from '../test-support/vectors.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';

/**
 * Every TEE's `--json` command answers a failure before any verdict with the same object,
 * `{ valid: false, checks: [], error: { code, kind, message[, detail] } }`, and the exit code of the error's kind.
 */
const snp = readVectorJson<{ vectors: any[] }>('snp', 'reports', 'index.json').vectors.find((v) => v.id === 'gsg-milan-v2');
const tdx = readVectorJson<any>('tdx', 'trustee-v4-mrconfigid.expected.json');
const tpm = (readVectorJson<{ cases: any[] }>('tpm', 'cases.json').cases).find((c) => c.valid);

const TEES: { tee: string; evidence: string; argv: (file: string) => string[] }[] = [
  { tee: 'snp', evidence: vectorPath('snp', snp.report), argv: (p) => ['snp', 'verify', p, '--vcek', vectorPath('snp', snp.endorsement_cert), '--json'] },
  { tee: 'tdx', evidence: vectorPath('tdx', 'trustee-v4-mrconfigid.quote.bin'), argv: (p) => ['tdx', 'verify', p, '--collateral', vectorPath('tdx', tdx.collateral_file), '--at', tdx.verification_time, '--json'] },
  {
    tee: 'tpm',
    evidence: vectorPath('tpm', tpm.files.attest),
    argv: (p) => ['tpm', 'checkquote', '-u', vectorPath('tpm', tpm.ak_files.tpm2b_public), '-m', p, '-s', vectorPath('tpm', tpm.files.signature_tss), '-q', tpm.nonce, '--json'],
  },
  { tee: 'azure', evidence: vectorPath('azure', 'trustee', 'az-snp-vtpm', 'hcl-report.bin'), argv: (p) => ['azure', 'show', p, '--json'] },
];

/** The failure line's shape, checked against what the command printed on stderr and the exit code it gave. */
function failure(r: CliRun, what: string): { code: string; kind: string } {
  assert.ok(r.json, `${what}: no JSON last line in ${JSON.stringify(r.out)}`);
  assert.deepEqual(Object.keys(r.json).sort(), ['checks', 'error', 'valid'], what);
  assert.equal(r.json.valid, false, what);
  assert.deepEqual(r.json.checks, [], what);
  const { code, kind, message, ...rest } = r.json.error;
  assert.deepEqual(Object.keys(rest).filter((k) => k !== 'detail'), [], what);
  assert.equal(typeof code, 'string', what);
  assert.equal(typeof message, 'string', what);
  assert.ok(message.length > 0, what);
  assert.equal(r.code, exitCodeOf(kind), `${what}: exit code of kind ${kind}`);
  assert.equal(r.err, `error[${code}]: ${message}\n`, what);
  return { code, kind };
}

test('a truncated or flipped evidence file gets one JSON failure shape and exit 4 from every TEE', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-verify-json-'));
  try {
    const seen: Record<string, Record<string, string>> = {};
    for (const t of TEES) {
      const bytes = readFileSync(t.evidence);
      // The whole file verifies (or decodes) first: the failures below come from the damage alone.
      const whole = await runCli(t.argv(t.evidence));
      assert.equal(whole.code, 0, `${t.tee}: ${whole.out}${whole.err}`);
      assert.equal(whole.json.error, undefined);
      const truncated = join(dir, `${t.tee}.truncated`);
      writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
      const flipped = join(dir, `${t.tee}.flipped`);
      const f = Buffer.from(bytes);
      // Byte 0 is the version (SNP, TDX) or the magic (TPMS_ATTEST, HCL report): flipping it makes the file no evidence.
      f[0] ^= 0xff;
      writeFileSync(flipped, f);
      seen[t.tee] = {};
      for (const [what, file] of [['truncated', truncated], ['flipped', flipped]]) {
        const e = failure(await runCli(t.argv(file)), `${t.tee} ${what}`);
        assert.equal(e.kind, 'input', `${t.tee} ${what}`);
        assert.equal(exitCodeOf('input'), 4);
        seen[t.tee][what] = e.code;
      }
    }
    assert.deepEqual(seen, {
      snp: { truncated: 'SNP_REPORT_FORM', flipped: 'SNP_REPORT_VERSION' },
      tdx: { truncated: 'TDX_QUOTE_TRUNCATED', flipped: 'TDX_QUOTE_VERSION' },
      tpm: { truncated: 'TPM_FORMAT', flipped: 'TPM_FORMAT' },
      azure: { truncated: 'HCL_REPORT', flipped: 'HCL_REPORT' },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing evidence file gets the same JSON failure and exit 11 from every TEE', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-verify-json-'));
  try {
    for (const t of TEES) {
      const e = failure(await runCli(t.argv(join(dir, 'absent.bin'))), `${t.tee} missing`);
      assert.deepEqual(e, { code: 'CLI_FILE', kind: 'file' }, t.tee);
      assert.equal(exitCodeOf('file'), 11);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad option value with --json is a usage failure (exit 1) in the same shape', async () => {
  const snpBad = failure(await runCli([...TEES[0].argv(TEES[0].evidence), '--at', 'yesterday']), 'snp --at');
  const tdxBad = failure(await runCli([...TEES[1].argv(TEES[1].evidence), '--mrtd', 'zz']), 'tdx --mrtd');
  const tpmBad = failure(await runCli([...TEES[2].argv(TEES[2].evidence), '-g', 'md4']), 'tpm -g');
  for (const e of [snpBad, tdxBad, tpmBad]) assert.equal(e.kind, 'usage');
  assert.equal(exitCodeOf('usage'), 1);
});

test('without --json a failure is the plain error line, with no JSON on stdout', async () => {
  for (const t of TEES) {
    const r = await runCli(t.argv(join(tmpdir(), 'cocokit-absent-evidence.bin')).filter((a) => a !== '--json'));
    assert.equal(r.code, 11, t.tee);
    assert.equal(r.out, '', t.tee);
    assert.match(r.err, /^error\[CLI_FILE\]: cannot read /, t.tee);
  }
});
