import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CocoError } from '../../errors.js';
import { SnpAttester, type TsmFs } from './attester.js';
import { serializeCertTable } from './format.js';
import { createTestRoot } from './test-root.js';
import { createSnpVerifier } from './verifier.js';

const root = createTestRoot({ product: 'genoa' });
const chip = root.createChip();
const now = new Date('2026-01-01T00:00:00Z');

/**
 * A temp directory that behaves like configfs-tsm for an SNP guest: mkdir creates the attribute files,
 * every attribute write bumps `generation`, and writing `inblob` makes the "firmware" (the test root)
 * produce `outblob` and the host's certificate table in `auxblob`.
 */
function configfsLike(tsm: string, opts: { provider?: string; extraWrite?: boolean; certs?: boolean } = {}): TsmFs {
  const bump = (entry: string): void => {
    const g = Number(readFileSync(join(entry, 'generation'), 'utf8'));
    writeFileSync(join(entry, 'generation'), `${g + 1}\n`);
  };
  return {
    async mkdir(p) {
      await fsp.mkdir(p);
      writeFileSync(join(p, 'provider'), `${opts.provider ?? 'sev_guest'}\n`);
      writeFileSync(join(p, 'generation'), '0\n');
      writeFileSync(join(p, 'privlevel_floor'), '0\n');
    },
    async rmdir(p) {
      await fsp.rm(p, { recursive: true });
    },
    async writeFile(p, data) {
      const entry = dirname(p);
      assert.equal(dirname(entry), tsm);
      await fsp.writeFile(p, data);
      bump(entry);
      if (basename(p) === 'inblob') {
        assert.equal(data.length, 64);
        const vmpl = Number((await fsp.readFile(join(entry, 'privlevel'), 'utf8').catch(() => '0')).trim());
        writeFileSync(join(entry, 'outblob'), root.signReport(chip, { reportData: data, vmpl }));
        if (opts.certs !== false) writeFileSync(join(entry, 'auxblob'), serializeCertTable([{ type: 'VCEK', data: new Uint8Array(chip.vcek.raw) }]));
        if (opts.extraWrite) bump(entry);
      }
    },
    readFile: async (p) => new Uint8Array(await fsp.readFile(p)),
  };
}

function tempTsm(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('attests through configfs-tsm: evidence verifies with the test root and binds the report data', async (t) => {
  const tsm = tempTsm(t);
  const attester = new SnpAttester({ tsmPath: tsm, fs: configfsLike(tsm) });
  assert.ok(attester.available());
  const digest = new Uint8Array(48).fill(0x5a);
  const evidence = await attester.getEvidence(digest);
  assert.deepEqual(readdirSync(tsm), [], 'the report entry is removed afterwards');
  const res = await createSnpVerifier({ roots: root.roots }).verify(evidence, { now, expectedReportData: digest });
  assert.deepEqual(res.checks.filter((c) => !c.ok), []);
  assert.equal(res.claims.report_data, Buffer.from([...digest, ...new Uint8Array(16)]).toString('hex'));
});

test('writes privlevel before inblob and accepts a host without a certificate table', async (t) => {
  const tsm = tempTsm(t);
  const a = await new SnpAttester({ tsmPath: tsm, fs: configfsLike(tsm, { certs: false }), privlevel: 2 }).attest(new Uint8Array(32).fill(1));
  assert.equal(a.report.vmpl, 2);
  assert.equal(a.certTable, null);
});

test('refuses a non-SNP provider, a concurrently used entry and oversized report data', async (t) => {
  const tsm = tempTsm(t);
  await assert.rejects(new SnpAttester({ tsmPath: tsm, fs: configfsLike(tsm, { provider: 'tdx_guest' }) }).attest(new Uint8Array(1)), /not sev_guest/);
  await assert.rejects(new SnpAttester({ tsmPath: tsm, fs: configfsLike(tsm, { extraWrite: true }) }).attest(new Uint8Array(1)), /concurrently/);
  assert.deepEqual(readdirSync(tsm), []);
  await assert.rejects(new SnpAttester({ tsmPath: tsm, fs: configfsLike(tsm) }).attest(new Uint8Array(65)), (e: unknown) => e instanceof CocoError && e.kind === 'usage');
});

test('without configfs-tsm or /dev/sev-guest the attester is unavailable', async (t) => {
  const dir = tempTsm(t);
  const attester = new SnpAttester({ tsmPath: join(dir, 'no-tsm'), devicePath: join(dir, 'no-dev') });
  assert.equal(attester.available(), false);
  await assert.rejects(attester.attest(new Uint8Array(8)), (e: unknown) => e instanceof CocoError && e.kind === 'unavailable');
});

test('the /dev/sev-guest fallback reports a missing snpguest tool as unavailable', async (t) => {
  const dir = tempTsm(t);
  writeFileSync(join(dir, 'sev-guest'), '');
  const attester = new SnpAttester({ tsmPath: join(dir, 'no-tsm'), devicePath: join(dir, 'sev-guest'), snpguest: join(dir, 'no-such-snpguest') });
  await assert.rejects(attester.attest(new Uint8Array(8)), (e: unknown) => e instanceof CocoError && e.code === 'SNP_DEVICE');
});
