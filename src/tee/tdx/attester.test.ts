import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { toHex } from '../../formats/bytes.js';
import { TdxAttester } from './attester.js';
import { evidenceFromJson } from './evidence.js';
import { parseQuote } from './format.js';
import { createTdxTestRoot } from './test-root.js';
import { tdxTsmSimulator } from './tsm-sim.js';

const dir = mkdtempSync(join(tmpdir(), 'tdx-att-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const root = createTdxTestRoot();

test('the configfs-tsm attester writes REPORTDATA, returns the quote and the CCEL log as CoCo evidence', async () => {
  const tsm = mkdtempSync(join(dir, 'tsm-'));
  const ccel = join(dir, 'ccel.bin');
  writeFileSync(ccel, new Uint8Array([1, 2, 3]));
  const a = new TdxAttester({ tsmPath: tsm, ccelPath: ccel, fs: tdxTsmSimulator(root, { launch: { mrTd: new Uint8Array(48).fill(5) } }) });
  const ev = evidenceFromJson(await a.getEvidence(new Uint8Array(48).fill(0xab)));
  const q = parseQuote(ev.quote);
  assert.equal(toHex(q.body.reportData), 'ab'.repeat(48) + '00'.repeat(16));
  assert.equal(toHex(q.body.mrTd), '05'.repeat(48));
  assert.deepEqual(ev.ccEventLog, new Uint8Array([1, 2, 3]));
});

test('the attester refuses another provider, oversize report data and a missing configfs-tsm', async () => {
  const tsm = mkdtempSync(join(dir, 'tsm-'));
  const sev = new TdxAttester({ tsmPath: tsm, fs: tdxTsmSimulator(root, { provider: 'sev_guest' }) });
  await assert.rejects(sev.getEvidence(new Uint8Array(32)), /not tdx_guest/);
  const ok = new TdxAttester({ tsmPath: tsm, fs: tdxTsmSimulator(root) });
  await assert.rejects(ok.getEvidence(new Uint8Array(65)), (e: unknown) => e instanceof CocoError && e.kind === 'usage');
  await assert.rejects(new TdxAttester({ tsmPath: join(dir, 'absent') }).getEvidence(new Uint8Array(32)), (e: unknown) => e instanceof CocoError && e.kind === 'unavailable');
});

test('evidence JSON of the wrong shape gives CocoErrors, never crashes', () => {
  for (const bad of [null, 1, 'x', [], {}, { quote: 5 }, { quote: '!!' }, { quote: 'AAAA', cc_eventlog: 3 }]) {
    assert.throws(() => evidenceFromJson(bad), (e: unknown) => e instanceof CocoError && e.kind === 'input', JSON.stringify(bad));
  }
  assert.throws(() => evidenceFromJson({ quote: 'A'.repeat(200_000) }), (e: unknown) => e instanceof CocoError && e.kind === 'limit');
  fc.assert(
    fc.property(fc.anything(), (v) => {
      try {
        evidenceFromJson(v);
      } catch (e) {
        assert.ok(e instanceof CocoError && e.kind !== 'internal', String(e));
      }
    }),
    { numRuns: 300 },
  );
});

test("without configfs-tsm, /dev/tdx_guest is used through go-tdx-guest's attest tool; its failures are unavailable errors", async () => {
  const d = mkdtempSync(join(dir, 'dev-'));
  writeFileSync(join(d, 'tdx_guest'), '');
  const reportData = new Uint8Array(64).fill(0x5a);
  writeFileSync(join(d, 'quote.bin'), root.signQuote({ reportData }));
  writeFileSync(join(d, 'other.bin'), root.signQuote({ reportData: new Uint8Array(64) }));
  // A stand-in for the tool with its command line: it records its arguments and writes the quote to -out.
  const tool = (quote: string): string => {
    const p = join(d, `attest-${quote}`);
    writeFileSync(p, `#!/bin/sh\necho "$@" > ${d}/args\nwhile [ $# -gt 0 ]; do [ "$1" = -out ] && cp ${d}/${quote} "$2"; shift; done\n`, { mode: 0o755 });
    return p;
  };
  const a = new TdxAttester({ tsmPath: join(d, 'no-tsm'), devicePath: join(d, 'tdx_guest'), attestTool: tool('quote.bin'), ccelPath: join(d, 'no-ccel') });
  assert.equal(a.available(), true);
  const ev = evidenceFromJson(await a.getEvidence(reportData));
  assert.equal(toHex(parseQuote(ev.quote).body.reportData), '5a'.repeat(64));
  assert.equal(ev.ccEventLog, null);
  const { readFileSync } = await import('node:fs');
  assert.match(readFileSync(join(d, 'args'), 'utf8'), new RegExp(`^-inform hex -in ${'5a'.repeat(64)} -outform bin -out \\S+quote\\.bin\\n$`));
  const unavailable = (e: unknown): boolean => e instanceof CocoError && e.kind === 'unavailable';
  // A quote for other REPORTDATA, a missing tool, and a guest with neither interface.
  await assert.rejects(new TdxAttester({ tsmPath: join(d, 'no-tsm'), devicePath: join(d, 'tdx_guest'), attestTool: tool('other.bin') }).getEvidence(reportData), unavailable);
  await assert.rejects(new TdxAttester({ tsmPath: join(d, 'no-tsm'), devicePath: join(d, 'tdx_guest'), attestTool: join(d, 'no-such-tool') }).getEvidence(reportData), unavailable);
  const none = new TdxAttester({ tsmPath: join(d, 'no-tsm'), devicePath: join(d, 'no-device') });
  assert.equal(none.available(), false);
  await assert.rejects(none.getEvidence(reportData), /not a TDX guest/);
});
