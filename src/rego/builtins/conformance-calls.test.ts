import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conformanceCalls, runConformanceCalls } from './test-support/harness.js';

// Every conformance category whose cases are mostly single builtin calls: those cases run here directly,
// without the evaluator, so a builtin regression shows up in this file first.
const CATEGORIES = [
  'aggregates', 'array', 'base64builtins', 'bitsnegate', 'bitsshiftleft', 'bitsxor', 'cryptohmacequal',
  'cryptohmacsha1', 'cryptohmacsha512', 'cryptosha256', 'jsonfilter', 'numbersrange', 'objectfilter', 'objectkeys',
  'objectunion', 'replacen', 'semverisvalid', 'sprintf', 'strings', 'trim', 'trimprefix', 'trimspace',
  'typenamebuiltin', 'union', 'netcidrcontainsmatches', 'netcidrintersects', 'netcidrmerge',
  'uribuiltins', 'time', 'uuid', 'semverisvalid', 'functionerrors',
];

for (const cat of CATEGORIES) {
  test(`single-call cases of opa-conformance/${cat}`, () => {
    const calls = conformanceCalls(cat);
    assert.ok(runConformanceCalls(calls) >= 0);
  });
}
