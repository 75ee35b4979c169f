import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Value, MAX_VALUE_DEPTH, RSet, compare, equal, fromJson, keyOf, obj, parseJsonValue, parseNumber, toJs, toJsonText, toRegoString, numAdd, numMul, set } from './value.js';
import { CocoError } from '../errors.js';
import { Engine } from './index.js';
import fc from 'fast-check';

test('orders values across types as OPA does: null < boolean < number < string < array < object < set', () => {
  const ordered = [null, false, true, -1, 0.5, 2, 'A', 'a', 'b', [], [1], [1, 2], [2], obj({}), obj({ a: 1 }), set([]), set([1])];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      assert.equal(Math.sign(compare(ordered[i]!, ordered[j]!)), Math.sign(i - j), `${toRegoString(ordered[i]!)} vs ${toRegoString(ordered[j]!)}`);
    }
  }
});

test('numbers compare numerically so 1 and 1.0 are equal and hash alike', () => {
  assert.ok(equal(parseNumber('1')!, parseNumber('1.0')!));
  assert.equal(keyOf(parseNumber('1')!), keyOf(parseNumber('1.0')!));
  assert.ok(set([1, parseNumber('1.0')!]).size === 1);
});

test('keeps integers beyond 64 bits exact through JSON and arithmetic', () => {
  const v = parseJsonValue('{"n": 18446744073709551617}');
  assert.equal(toJsonText(v), '{"n":18446744073709551617}');
  assert.equal(numAdd(9007199254740991, 2).toString(), '9007199254740993');
  assert.equal(numMul(4294967296, 4294967296).toString(), '18446744073709551616');
});

test('formats values in Rego literal syntax', () => {
  assert.equal(toRegoString(obj({ b: [true, null], a: 1 })), '{"a": 1, "b": [true, null]}');
  assert.equal(toRegoString(new RSet()), 'set()');
  assert.equal(toRegoString(set([2, 1])), '{1, 2}');
});

test('exact JSON parser agrees with JSON.parse on random documents', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (j) => {
      const text = JSON.stringify(j);
      const padded = text.replace(/^/, ' ') + ' '.repeat(0) + '';
      const viaExact = parseJsonValue(`[${padded}, 12345678901234567890]`) as unknown[];
      assert.ok(equal(viaExact[0] as never, parseJsonValue(text)));
    }),
  );
});

test('JSON conversions of values nested deeper than the bound are limit CocoErrors, not stack overflows', () => {
  const depth = 20_000;
  let js: unknown = 1;
  for (let i = 0; i < depth; i++) js = [js];
  let v: Value = 1;
  for (let i = 0; i < depth; i++) v = [v];
  const isLimit = (e: unknown) => e instanceof CocoError && e.kind === 'limit' && /exceeded max depth/.test(e.message);
  assert.throws(() => fromJson(js), isLimit);
  assert.throws(() => toJs(v), isLimit);
  assert.throws(() => toJsonText(v), isLimit);
  assert.throws(() => toRegoString(v), isLimit);
  assert.throws(() => parseJsonValue('['.repeat(depth) + '12345678901234567' + ']'.repeat(depth)), isLimit);
  let ok: Value = 1;
  for (let i = 0; i < MAX_VALUE_DEPTH; i++) ok = [ok];
  assert.equal(toJsonText(fromJson(toJs(ok))), '['.repeat(MAX_VALUE_DEPTH) + '1' + ']'.repeat(MAX_VALUE_DEPTH));
});

test('json.unmarshal of a too-deep document is undefined; a document within the bound round-trips', () => {
  const engine = new Engine();
  engine.addPolicy('p.rego', 'package policy\nx := json.marshal(json.unmarshal(input.s))\n');
  const policy = engine.prepare();
  const prepared = (s: string) => policy.evalRule('data.policy.x', { input: { s } });
  assert.equal(prepared('['.repeat(5000) + ']'.repeat(5000)), undefined);
  assert.equal(prepared('['.repeat(500) + ']'.repeat(500)), '['.repeat(500) + ']'.repeat(500));
});

test('a number beyond double range is held exactly and keeps its literal text', () => {
  const big = parseNumber('2e308')!;
  assert.equal(big, 2n * 10n ** 308n);
  assert.equal(toJsonText(big), '2e308');
  assert.equal(toRegoString(parseNumber('-1.5e400')!), '-1.5e400');
  assert.equal(parseNumber('-1.5e400'), -15n * 10n ** 399n);
  assert.ok(compare(big, 1.7976931348623157e308) > 0);
  assert.ok(compare(parseNumber('-1.5e400')!, -1.7976931348623157e308) < 0);
  // the same text through either JSON path
  assert.equal(toJsonText(parseJsonValue('{"n": 2e308, "m": [3E+309]}')), '{"m":[3E+309],"n":2e308}');
  assert.ok(equal(parseJsonValue('[2e308]'), [big]));
  // equality and hashing are by value, not text
  assert.ok(equal(parseNumber('20e307')!, big));
  assert.equal(keyOf(parseNumber('20e307')!), keyOf(big));
});

test('a number literal with an exponent past the bound stays an overflowed double instead of allocating', () => {
  assert.equal(parseNumber('1e100000000'), Infinity);
  assert.equal(parseNumber('-1e5000'), -Infinity);
});
