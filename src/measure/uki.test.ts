import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { readVectorJson, vectorPath } from '../test-support/vectors.js';
import { fileContent, normalizeBanks, normalizePhases, predictPcr11, predictPcr11Parallel, ukiSections, type Pcr11Prediction, type UkiSection } from './uki.js';

interface Case {
  id: string;
  sections: Record<string, { text: string } | { generator: string; seed?: string; size: number }>;
  banks?: string[];
  phases?: string[];
  expected: Record<string, Record<string, string>>;
}
interface PeCase {
  id: string;
  pe_file: string;
  expected: Record<string, Record<string, string>>;
}
const vectors = readVectorJson<{ cases: Case[]; pe_cases: PeCase[] }>('uki', 'cases.json');

function payload(p: Case['sections'][string]): Buffer {
  if ('text' in p) return Buffer.from(p.text, 'utf8');
  if (p.generator === 'zero') return Buffer.alloc(p.size);
  const parts: Buffer[] = [];
  for (let k = 0; parts.length * 32 < p.size; k++) {
    const ctr = Buffer.alloc(4);
    ctr.writeUInt32BE(k);
    parts.push(createHash('sha256').update(p.seed as string).update(ctr).digest());
  }
  return Buffer.concat(parts).subarray(0, p.size);
}

function asExpected(p: Pcr11Prediction): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const v of p.values) (out[v.bank] ??= {})[v.phase === '' ? ':' : v.phase] = toHex(v.hash);
  return out;
}

test('banks are canonicalised, sorted and de-duplicated; phases normalised and sorted', () => {
  assert.deepEqual(normalizeBanks(['SHA512', 'sha-256', 'sha256', 'SHA2-384', 'sha1']), ['sha1', 'sha256', 'sha384', 'sha512']);
  assert.deepEqual(normalizePhases(['enter-initrd', '::', 'b::a:', '']), ['', 'b:a', 'enter-initrd']);
  assert.throws(() => normalizeBanks(['nope']), (e: unknown) => e instanceof CocoError && e.code === 'UKI_BANK');
});

test('the parallel predictor equals the vectors for every case, on 2 and 4 threads', async () => {
  for (const c of vectors.cases) {
    const dir = mkdtempSync(join(tmpdir(), `cocokit-uki-par-${c.id}-`));
    const sections: Partial<Record<UkiSection, ReturnType<typeof fileContent>>> = {};
    for (const [name, p] of Object.entries(c.sections)) {
      writeFileSync(join(dir, name), payload(p));
      sections[`.${name}` as UkiSection] = fileContent(join(dir, name));
    }
    const req = { sections, banks: c.banks ?? [], phases: c.phases ?? [] };
    for (const threads of [2, 4]) {
      const got = await predictPcr11Parallel(req, { threads, minBytes: 0 });
      assert.deepEqual(asExpected(got), c.expected, `${c.id} on ${threads} threads`);
    }
    assert.deepEqual(asExpected(predictPcr11(req)), c.expected, c.id);
  }
});

test('the parallel predictor reads UKI sections from the file, with truncation and zero fill', async () => {
  for (const c of vectors.pe_cases) {
    const path = vectorPath('uki', c.pe_file);
    const { sections } = ukiSections(new Uint8Array(readFileSync(path)), '252', path);
    assert.deepEqual(asExpected(await predictPcr11Parallel({ sections }, { threads: 2, minBytes: 0 })), c.expected, c.id);
  }
});

test('the parallel predictor reports a missing file like systemd-measure', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-uki-par-missing-'));
  writeFileSync(join(dir, 'linux'), 'kernel');
  const req = { sections: { '.linux': fileContent(join(dir, 'linux')), '.initrd': fileContent(join(dir, 'gone')) } };
  await assert.rejects(predictPcr11Parallel(req, { threads: 2, minBytes: 0 }), (e: unknown) => e instanceof CocoError && e.code === 'UKI_OPEN' && /No such file or directory/.test(e.message));
});
