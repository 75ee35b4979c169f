import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { run } from './program.js';
import { bufferIO } from './io.js';
import { VECTORS } from '../test-support/vectors.js';
import { CocoError } from '../errors.js';
import { parsePcrRead } from '../measure/pcr.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';

// Seed 004 shows `tpm2_pcrread sha256:0,…,11` on a reference machine and on an Azure CVM, then the PCRs
// both agree on (`grep -F -x -f pcr_reference.txt pcr_cloud.txt`).
const seedDir = resolve(VECTORS, '..', 'seeds');
const seed = readFileSync(join(seedDir, readdirSync(seedDir).find((f) => f.startsWith('004_')) as string), 'utf8').split('\n');

function blockAfter(prefix: string, nth: number): string[] {
  const starts = seed.map((l, i) => (l.startsWith(prefix) ? i : -1)).filter((i) => i >= 0);
  const out: string[] = [];
  for (let i = starts[nth] + 1; i < seed.length && seed[i].trim() !== ''; i++) out.push(seed[i]);
  return out;
}
const reference = blockAfter('$ tpm2_pcrread', 0);
const cloud = blockAfter('$ tpm2_pcrread', 1);
const agreed = blockAfter('$ grep -F -x -f', 0);

const dir = mkdtempSync(join(tmpdir(), 'cocokit-pcr-'));
function file(name: string, lines: string[]): string {
  writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
  return name;
}

function cli(...argv: string[]): Promise<CliRun> {
  return runCli(['pcr', ...argv], { cwd: dir });
}

test('the seed holds two 12-PCR readings and the 4 PCRs they share', () => {
  assert.equal(reference.length, 12);
  assert.equal(cloud.length, 12);
  assert.equal(agreed.length, 4);
});

test('pcr common prints the PCRs the seed finds common, in tpm2_pcrread format', async () => {
  const r = await cli('common', file('ref.txt', reference), file('cloud.txt', cloud));
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split('\n').filter(Boolean);
  assert.equal(lines[0], '  sha256:');
  assert.deepEqual(lines.slice(1).map((l) => l.trim()), agreed.map((l) => l.trim()));
  assert.equal(r.err, '# sha256: 4 of 12 PCRs agree; differ: 0 1 2 4 5 6 7 10\n');
  // The output is itself tpm2_pcrread output: common(out, reference) = out.
  writeFileSync(join(dir, 'common.txt'), r.out);
  const again = await cli('common', 'common.txt', 'ref.txt');
  assert.equal(again.out, r.out);
});

test('reads the tpm2-tools layout with bank headers, and --json/--rvps give the values', async () => {
  const withHeaders = ['  sha1:', '  sha256:', ...reference.map((l) => `    ${l.trim()}`)];
  const r = await cli('common', file('ref-headers.txt', withHeaders), 'cloud.txt', '--json');
  assert.equal(r.code, 0, r.err);
  const json = JSON.parse(r.out) as Record<string, Record<string, string>>;
  const want = Object.fromEntries(agreed.map((l) => /(\d+)\s*:\s*0x(\w+)/.exec(l) as RegExpExecArray).map((m) => [m[1], m[2].toLowerCase()]));
  assert.deepEqual(json, { sha256: want });
  const rv = JSON.parse((await cli('common', 'ref.txt', 'cloud.txt', '--rvps')).out) as Record<string, string[]>;
  assert.deepEqual(rv.tpm_pcr11, [want['11']]);
  assert.deepEqual(Object.keys(rv), ['tpm_pcr03', 'tpm_pcr08', 'tpm_pcr09', 'tpm_pcr11']);
});

const BAD: Array<[string, string[], RegExp]> = [
  ['a line that is not a PCR', ['  sha256:', '    0 : 0x' + '00'.repeat(32), 'hello'], /line 3/],
  ['a PCR above 23', ['  24: 0x' + '00'.repeat(32)], /PCR 24/],
  ['a value of the wrong size for its bank', ['  sha256:', '    0 : 0x' + '00'.repeat(20)], /20 bytes/],
  ['a repeated PCR', ['  0 : 0x' + '00'.repeat(32), '  0 : 0x' + '11'.repeat(32)], /twice/],
  ['an odd number of hex digits', ['  0 : 0x' + '0'.repeat(63)], /whole number of bytes/],
  ['no values at all', ['  sha256:'], /no PCR values/],
];
for (const [what, lines, re] of BAD) {
  test(`pcr common rejects ${what}`, async () => {
    const r = await cli('common', file(`bad-${what.replace(/\W+/g, '-')}.txt`, lines), 'cloud.txt');
    assert.equal(r.code, 4);
    assert.match(r.err, /PCR_FORMAT/);
    assert.match(r.err, re);
  });
}

test('fuzz: the tpm2_pcrread parser gives banks or a CocoError', () => {
  const piece = fc.oneof(fc.constantFrom('  sha256:\n', '  sha1:\n', '0 : 0x', '11: 0x', '\n', ' ', ':'), fc.stringMatching(/^[0-9a-fA-F]{0,70}$/), fc.string({ maxLength: 10 }));
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), (parts) => {
      try {
        parsePcrRead(parts.join(''));
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
      }
    }),
    { numRuns: 1000 },
  );
});

test('pcr common reads event logs (replayed), serialized PCR files and vTPM evidence as readings', async () => {
  const tpm = (p: string) => join(VECTORS, 'tpm', p);
  // The synthetic log replays to the values the swtpm quoted in q01 (sha256 PCRs 0–7, 11, 12).
  const io = bufferIO();
  assert.equal(await run(['pcr', 'common', tpm('eventlog.bin'), tpm('quotes/q01.pcrs'), '--json'], io), 0, io.err());
  const common = JSON.parse(io.out());
  assert.deepEqual(Object.keys(common.sha256).map(Number), [0, 1, 2, 3, 4, 5, 6, 7, 11, 12]);
  assert.match(io.err(), /sha256: 10 of 10 PCRs agree/);
  // Azure evidence v0 and v1 come from the same VM boot: all 24 PCRs agree; v2 is another VM.
  const az = (f: string) => join(VECTORS, 'azure', 'trustee', 'az-snp-vtpm', f);
  const same = bufferIO();
  assert.equal(await run(['pcr', 'common', az('evidence-v0.json'), az('evidence-v1.json'), '--rvps'], same), 0, same.err());
  assert.equal(Object.keys(JSON.parse(same.out())).length, 24);
  const other = bufferIO();
  assert.equal(await run(['pcr', 'common', az('evidence-v1.json'), join(VECTORS, 'trustee', 'tpm', 'tpm_evidence.json')], other), 0, other.err());
  assert.match(other.err(), /sha256: \d+ of 24 PCRs agree; differ:/);
  const bad = bufferIO();
  assert.equal(await run(['pcr', 'common', tpm('quotes/q01.sig'), tpm('quotes/q01.pcrs')], bad), 4);
  assert.match(bad.err(), /error\[EVENTLOG_FORMAT\]/);
});
