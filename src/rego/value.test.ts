import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RSet, compare, equal, keyOf, obj, parseJsonValue, parseNumber, toJsonText, toRegoString, numAdd, numMul, set } from './value.js';
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
