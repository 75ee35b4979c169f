import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { vectorPath } from '../test-support/vectors.js';
import { knownGap, runSuite } from './conformance.js';

interface Exceptions {
  passed: number;
  total: number;
  failures: Array<{ category: string; note: string; reason: string }>;
}

const exceptions = JSON.parse(readFileSync(fileURLToPath(new URL('./conformance-exceptions.json', import.meta.url)), 'utf8')) as Exceptions;

test('passes at least the recorded number of OPA conformance cases, and fails only the listed ones', () => {
  const report = runSuite(vectorPath('rego', 'opa-conformance'));
  assert.equal(report.total, exceptions.total, 'suite size changed');
  const listed = new Set(exceptions.failures.map((f) => `${f.category}\u0000${f.note}`));
  const unlisted = report.failures.filter((f) => !listed.has(`${f.category}\u0000${f.note}`));
  assert.deepEqual(
    unlisted.map((f) => `${f.category} | ${f.note} | ${f.reason}`),
    [],
    'failing cases missing from conformance-exceptions.json',
  );
  assert.ok(report.passed >= exceptions.passed, `passed ${report.passed} < recorded ${exceptions.passed}`);
});

test('every recorded conformance failure has a known cause', () => {
  for (const f of exceptions.failures) assert.ok(knownGap(f.category), `${f.category} | ${f.note}: no known cause`);
});
