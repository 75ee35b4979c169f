import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { Engine } from './index.js';
import { floatOp, parseDecimal } from './bigfloat.js';
import { BigNum, type Value, compare, equal, keyOf, numFromText, parseJsonValue, toJsonText } from './value.js';

// Numbers as OPA holds them: decimal texts of any size (opa:v1/ast/term.go `Number`), compared as exact
// rationals, with arithmetic that is exact on integers and otherwise runs on Go's big.Float at its default
// 64-bit mantissa, the result written back as the shortest text of that precision
// (opa:v1/topdown/arithmetic.go, opa:v1/topdown/builtins/builtins.go FloatToNumber). The expected texts of the
// float path below were computed independently at 64-bit binary precision (round to nearest even, then the
// shortest decimal that reads back to the same value).

/** The value of `p` in a module `package t` with the given body, and its JSON output text. */
function value(body: string): Value | undefined {
  const e = new Engine();
  e.addPolicy('t.rego', `package t\n${body}\n`);
  return e.evalRuleValue('data.t.p');
}

function json(body: string): string {
  const v = value(body);
  assert.ok(v !== undefined, `${body}: undefined`);
  return toJsonText(v);
}

test('huge integers stay exact through arithmetic, comparison and output', () => {
  assert.equal(json('p := 18446744073709551617 * 18446744073709551617'), '340282366920938463500268095579187314689');
  assert.equal(json('p := 1e400 * 10 - 10 * 1e400'), '0');
  assert.equal(json('p := (1e400 + 1) - 1e400'), '1');
  assert.equal(json('p := 1e400 == 1e400'), 'true');
  assert.equal(json('p := 1e400 == 10 * 1e399'), 'true');
  assert.equal(json('p := 1e400 > 1e399'), 'true');
  assert.equal(json('p := -1e400 < -1.5'), 'true');
  assert.equal(json('p := 1e400 > 1.7976931348623157e308'), 'true');
  // A literal beyond double range prints as written, like OPA's json.Number.
  assert.equal(json('p := [1e400, -2e308]'), '[1e400,-2e308]');
});

test('a huge number plus a fraction takes the float path: a result, not undefined or null', () => {
  // 10^400 + 0.5 rounds to 10^400 at 64 bits; OPA prints it as an integer.
  assert.equal(json('p := (1e400 + 0.5) == 1e400'), 'true');
  assert.equal(json('p := (1e400 + 0.5) - 1e400'), '0');
  assert.equal(json('p := 1e400 + 0.5 > 1e399'), 'true');
  assert.equal(json('p := 1e400 / 3'), '3333333333333333333400000000000000000000' + '0'.repeat(360));
  assert.equal(json('p := 1e400 / 1e399'), '10');
  assert.equal(json('p := 1 / 1e-400 == 1e400'), 'true');
  assert.equal(json('p := 1e-400 * 3'), '3e-400');
  assert.equal(json('p := 1.5e-300 * 1e-300'), '1.5e-600');
  assert.equal(json('p := 1e-400 + 1'), '1');
});

test('division is exact for dividing integers and otherwise a 64-bit quotient', () => {
  assert.equal(json('p := 10 / 5'), '2');
  assert.equal(json('p := 7 / 2'), '3.5');
  assert.equal(json('p := 10 / 4'), '2.5');
  assert.equal(json('p := [1 / 8, 1 / 5, -3 / 4, 0 / 5]'), '[0.125,0.2,-0.75,0]');
  assert.equal(json('p := 1 / 3'), '0.33333333333333333334');
  assert.equal(json('p := 2 / 3'), '0.6666666666666666667');
  assert.equal(json('p := 1 / 7'), '0.14285714285714285714');
  assert.equal(json('p := -10 / 3'), '-3.3333333333333333333');
  assert.equal(json('p := (1 / 3) * 3'), '1');
  assert.equal(json('p := 1 / 3 == 0.33333333333333333334'), 'true');
  assert.equal(json('p := 1 / 3 == 0.3333333333333333'), 'false');
  assert.equal(json('p := 1 / 3 > 0.3333333333333333'), 'true');
  // Big integers divide on the float path too (opa:v1/topdown/arithmetic.go opDivide): 2^64 + 1 is read at 64 bits.
  assert.equal(json('p := 18446744073709551617 / 2'), '9223372036854775808');
  assert.equal(json('p := 0.1 + 0.2'), '0.3');
});

test('tiny and long decimals are numbers of their own, not rounded to doubles', () => {
  assert.equal(json('p := 1e-400'), '1e-400');
  assert.equal(json('p := 1e-400 > 0'), 'true');
  assert.equal(json('p := 1e-400 < 1e-399'), 'true');
  assert.equal(json('p := 1e-400 == 0.1e-399'), 'true');
  assert.equal(json('p := 0.10000000000000000001 == 0.1'), 'false');
  assert.equal(json('p := 0.10000000000000000001 > 0.1'), 'true');
  assert.equal(json('p := 0.10000000000000000001 + 0'), '0.10000000000000000001');
  assert.equal(json('p := to_number("0.10000000000000000001")'), '0.10000000000000000001');
  assert.equal(json('p := to_number("1e-400") > 0'), 'true');
  // From JSON input as well.
  const fromInput = new Engine();
  fromInput.addPolicy('t.rego', 'package t\np := input.x > 0\nq := input.x\n');
  fromInput.setInputValue(parseJsonValue('{"x": 1e-400}'));
  assert.equal(fromInput.evalRuleValue('data.t.p'), true);
  assert.equal(toJsonText(fromInput.evalRuleValue('data.t.q')!), '1e-400');
});

test('set members and object keys: equal huge or tiny numbers are one key whatever their text', () => {
  assert.equal(json('p := count({1e400, 10 * 1e399, 1e-400, 0.1e-399, 0.00001e-395})'), '2');
  assert.equal(json('p := {1e400: "big", 1e-400: "tiny"}[10 * 1e399]'), '"big"');
  assert.equal(json('p := {1e400: "big", 1e-400: "tiny"}[0.1e-399]'), '"tiny"');
  assert.equal(json('p := {1e-400, 1} - {0.1e-399}'), '[1]');
  assert.equal(json('p := {1 / 3: 1}[0.33333333333333333334]'), '1');
  assert.equal(json('p := 1e-400 in [0.1e-399]'), 'true');
});

test('order: sort, max and min place huge and tiny numbers exactly', () => {
  assert.equal(json('p := sort([1e400, 1e-400, 0.5, -1e400, 0, 1 / 3])'), '[-1e400,0,1e-400,0.33333333333333333334,0.5,1e400]');
  assert.equal(json('p := max([1e-400, 0])'), '1e-400');
  assert.equal(json('p := min([1e-400, -1e-400, 0])'), '-1e-400');
  assert.equal(json('p := max({1e400, 1e399 * 11})'), '11' + '0'.repeat(399));
  assert.equal(json('p := 0.33333333333333333334 < 0.33333333333333333335'), 'true');
});

test('round, ceil, floor and abs of numbers beyond doubles', () => {
  assert.equal(json('p := round(0.10000000000000000001)'), '0');
  assert.equal(json('p := ceil(0.10000000000000000001)'), '1');
  assert.equal(json('p := floor(-0.10000000000000000001)'), '-1');
  assert.equal(json('p := ceil(1e-400)'), '1');
  assert.equal(json('p := floor(1e-400)'), '0');
  assert.equal(json('p := round(2 / 3)'), '1');
  assert.equal(json('p := abs(-1e-400)'), '1e-400');
  assert.equal(json('p := abs(-1 / 3)'), '0.33333333333333333334');
  // An integer outside the int32 window is rounded on the float path: 10^400 read at 64 bits is the binary
  // integer 1000000000000000000028188068394751...; OPA returns that integer exactly.
  assert.equal(json('p := round(1e400) == 1e400'), 'false');
  assert.ok(json('p := round(1e400)').startsWith('100000000000000000002818806839475'));
  assert.equal(json('p := round(1e400) == ceil(1e400)'), 'true');
  assert.equal(json('p := round(9007199254740993)'), '9007199254740993');
  assert.equal(json('p := round(2.5)'), '3');
  assert.equal(json('p := round(-2.5)'), '-3');
});

test('sum and product: exact on integers, float path otherwise; range needs integers', () => {
  assert.equal(json('p := sum([18446744073709551617, 1])'), '18446744073709551618');
  assert.equal(json('p := sum([0.1, 0.2])'), '0.3');
  assert.equal(json('p := sum([0.1, 0.7])'), '0.8');
  assert.equal(json('p := sum([1e400, 0.5]) == 1e400'), 'true');
  assert.equal(json('p := sum([1e-400, 1e-400])'), '2e-400');
  // product's accumulator starts as big.NewFloat(1), which carries 53 bits: float64 results.
  assert.equal(json('p := product([0.1, 3])'), '0.30000000000000004');
  assert.equal(json('p := product([1e-400, 2])'), '2e-400');
  const e = new Engine({ strict: true });
  e.addPolicy('t.rego', 'package t\np := numbers.range(1e-400, 2)\n');
  assert.throws(() => e.evalRuleValue('data.t.p'), /numbers.range: operand 1 must be integer number but got floating-point number/);
});

test('JSON text of big numbers: exact parser, output and round trip', () => {
  const v = parseJsonValue('[1e-400, 0.10000000000000000001, 1e400, 12345678901234567890123, 4.5e+34]');
  // Each number keeps its JSON text, as OPA's json.Number does.
  assert.equal(toJsonText(v), '[1e-400,0.10000000000000000001,1e400,12345678901234567890123,4.5e+34]');
  assert.ok(equal(parseJsonValue(toJsonText(v)), v));
  // A double's own text does not become a BigNum: one representation per value.
  assert.equal(typeof numFromText('0.5'), 'number');
  assert.equal(typeof numFromText('1.5e300'), 'bigint');
  assert.ok(numFromText('1e-400') instanceof BigNum);
  assert.equal(keyOf(numFromText('1e-400')), keyOf(numFromText('0.0001e-396')));
});

// OPA decodes JSON (input, data, json.unmarshal) with UseNumber: a number is its text, json.Number
// (opa:v1/util/json.go), so `1.0` prints as `1.0` and is no integer where OPA reads one from the text, while
// comparison and keys go by value.
test('numbers from JSON text keep their text: 1.0, 1e3, 12345678901234567890', () => {
  const e = new Engine({ strict: true });
  e.addPolicy('t.rego', 'package t\nx := input.x\ny := input.y\nz := input.z\neq := input.x == 1\nidx := [10, 20][input.x]\nkey := {1: "one"}[input.x]\nsum := input.x + 1\nm := json.marshal(input)\n');
  e.setInputValue(parseJsonValue('{"x": 1.0, "y": 12345678901234567890, "z": 1e3}'));
  assert.equal(toJsonText(e.evalRuleValue('data.t.x')!), '1.0');
  assert.equal(toJsonText(e.evalRuleValue('data.t.y')!), '12345678901234567890');
  assert.equal(toJsonText(e.evalRuleValue('data.t.z')!), '1e3');
  assert.equal(e.evalRuleValue('data.t.eq'), true);
  assert.equal(e.evalRuleValue('data.t.idx'), undefined);
  assert.equal(e.evalRuleValue('data.t.key'), 'one');
  assert.equal(toJsonText(e.evalRuleValue('data.t.sum')!), '2');
  assert.equal(e.evalRuleValue('data.t.m'), '{"x":1.0,"y":12345678901234567890,"z":1e3}');
  assert.equal(json('p := json.unmarshal("[1.50, 2]")'), '[1.50,2]');
});

// The same for data, and wherever a JSON number meets the value semantics: OPA's ast.Number is the json.Number
// text (opa:v1/util/json.go decodes with UseNumber), compared and hashed by value, so a set or an object key
// holds `1.0` and `1` once (the first one in), sorting orders by value, and the text is what is printed,
// also for a number used as an object key.
test('numbers from JSON data keep their text; sets, keys, order and arithmetic go by value', () => {
  const e = new Engine({ strict: true });
  e.addPolicy(
    't.rego',
    [
      'package t',
      'd := data.cfg.d',
      'x := input.x',
      'set := {input.x, 1}',
      'n := count({input.x, 1, 1.00})',
      'keyed := {input.y: "hundred"}',
      'lookup := {100: "h"}[input.y]',
      'member := input.y in {100}',
      'sorted := sort([input.y, 5, input.x, data.cfg.d])',
      'top := max([input.y, 99])',
      'ge := data.cfg.e >= 2000',
      'sum := data.cfg.e + 0',
      'half := input.w * 2',
      'neg := input.n',
      'same := input.n == 0',
    ].join('\n'),
  );
  e.addData(parseJsonValue('{"cfg": {"d": 2.50, "e": 2E+3}}'));
  e.setInputValue(parseJsonValue('{"x": 1.0, "y": 1e2, "w": 1.50, "n": -0.0}'));
  const out = (rule: string) => toJsonText(e.evalRuleValue(`data.t.${rule}`)!);
  assert.equal(out('d'), '2.50');
  assert.equal(out('x'), '1.0');
  assert.equal(out('set'), '[1.0]');
  assert.equal(out('n'), '1');
  assert.equal(out('keyed'), '{"1e2":"hundred"}');
  assert.equal(out('lookup'), '"h"');
  assert.equal(out('member'), 'true');
  assert.equal(out('sorted'), '[1.0,2.50,5,1e2]');
  assert.equal(out('top'), '1e2');
  assert.equal(out('ge'), 'true');
  assert.equal(out('sum'), '2000');
  assert.equal(out('half'), '3');
  assert.equal(out('neg'), '-0.0');
  assert.equal(out('same'), 'true');
  // A JSON text round-trips with every number's text.
  const doc = '{"a":[1.0,1e2,2E+3,-0.0,0.50,1E-7,12345678901234567890.5]}';
  assert.equal(toJsonText(parseJsonValue(doc)), doc);
});

// Input and data handed over as JS values are taken by value: a bigint is the exact integer, a JS number the
// number of its shortest round-trip text (what Go's encoding/json writes for the same float64), and a number no
// JSON text holds (1e400 is Infinity once a JS number) is refused rather than becoming null.
test('JS input and data: bigints exact, doubles by their shortest text, infinities refused', () => {
  const e = new Engine({ strict: true });
  e.addPolicy('t.rego', 'package t\na := input.a\nb := input.b\nsum := input.a + 1\ns := sprintf("%v %d", [input.a, input.a])\nd := data.d + 0\nabove := input.a > 12345678901234567889\n');
  e.addData({ d: 98765432109876543210n });
  e.setInput({ a: 12345678901234567890n, b: Number('12345678901234567890') });
  assert.equal(toJsonText(e.evalRuleValue('data.t.a')!), '12345678901234567890');
  assert.equal(e.evalRule('data.t.a'), 12345678901234567890n);
  assert.equal(toJsonText(e.evalRuleValue('data.t.b')!), '12345678901234567000');
  assert.equal(e.evalRule('data.t.sum'), 12345678901234567891n);
  assert.equal(e.evalRule('data.t.s'), '12345678901234567890 12345678901234567890');
  assert.equal(e.evalRule('data.t.d'), 98765432109876543210n);
  assert.equal(e.evalRule('data.t.above'), true);
  const prepared = e.prepare();
  assert.equal(prepared.evalRule('data.t.sum', { input: { a: 2n ** 70n } }), 2n ** 70n + 1n);
  // 1e400 as JSON text keeps its text; as a JS number it is Infinity, which no JSON holds.
  e.setInputValue(parseJsonValue('{"a": 1e400}'));
  assert.equal(toJsonText(e.evalRuleValue('data.t.a')!), '1e400');
  assert.equal(e.evalRule('data.t.above'), true);
  for (const bad of [Number('1e400'), -Infinity, Number.NaN]) {
    assert.throws(() => e.setInput({ a: [bad] }), (err: unknown) => err instanceof CocoError && err.code === 'REGO_VALUE' && /JSON has no such number/.test(err.message));
    assert.throws(() => prepared.evalRule('data.t.a', { input: { a: bad } }), CocoError);
    assert.throws(() => e.addData({ x: { y: bad } }), CocoError);
  }
});

test('random decimals: one representation, a total order consistent with equality and keys, no crash', () => {
  const decimal = fc
    .tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.integer({ min: -500, max: 500 }))
    .map(([neg, m, e]) => `${neg ? '-' : ''}${m}e${e}`);
  fc.assert(
    fc.property(decimal, decimal, (a, b) => {
      const x = numFromText(a);
      const y = numFromText(b);
      const c = compare(x, y);
      assert.equal(c, -compare(y, x));
      assert.equal(c === 0, equal(x, y));
      assert.equal(c === 0, keyOf(x) === keyOf(y));
      // The float path always answers with a number text.
      for (const op of ['+', '-', '*'] as const) assert.ok(parseDecimal(floatOp(parseDecimal(a)!, parseDecimal(b)!, op)));
      if (!equal(y, 0)) assert.ok(parseDecimal(floatOp(parseDecimal(a)!, parseDecimal(b)!, '/')));
    }),
    { numRuns: 300 },
  );
  for (const bad of ['', '-', '1e', '.', 'e5', '1.2.3', '0x10', 'NaN', '1e+-3']) assert.equal(parseDecimal(bad), undefined, bad);
});

// A float-path result OPA writes with big.Float's Text('g', -1) (opa:v1/topdown/builtins FloatToNumber): the
// shortest digits, in exponent form once the decimal exponent is below -4 or at least 6 (Go's `%g` with the
// shortest precision decides on 6), the exponent with two digits at least; integral results in `%f` form. A
// literal keeps its own text.
test('float-path results print in Go %g form; literals keep theirs', () => {
  const cases: [string, string][] = [
    ['p := 2469135 / 2', '1.2345675e+06'],
    ['p := 1234567.5 * 1', '1.2345675e+06'],
    ['p := 1234567.5 + 0', '1.2345675e+06'],
    ['p := -1234567.5 - 0', '-1.2345675e+06'],
    ['p := 0.00001 * 1', '1e-05'],
    ['p := -0.00001 * 1', '-1e-05'],
    ['p := 1e-7 * 3', '3e-07'],
    ['p := 0.0001 * 1', '0.0001'],
    ['p := 999999.5 * 1', '999999.5'],
    ['p := 1 / 8', '0.125'],
    ['p := 1 / 1024', '0.0009765625'],
    ['p := 1 / 32768', '3.0517578125e-05'],
    ['p := sum([1234567.25, 0.25])', '1.2345675e+06'],
    ['p := product([1234567.5, 1])', '1.2345675e+06'],
    ['p := abs(-1234567.5)', '1.2345675e+06'],
    ['p := (2469135 / 2) * 2', '2469135'],
    ['p := 1 / 3 * 10000000', '3.3333333333333333335e+06'],
    ['p := 1234567.5', '1234567.5'],
    ['p := 0.00001', '0.00001'],
    ['p := json.marshal([2469135 / 2, 3 / 100000])', '"[1.2345675e+06,3e-05]"'],
    ['p := sprintf("%v %v", [2469135 / 2, 3 / 100000])', '"1.2345675e+06 3e-05"'],
  ];
  for (const [body, want] of cases) assert.equal(json(body), want, body);
});

test('a float-path result equals, orders and keys like the same number written as a literal', () => {
  assert.equal(value('p := 2469135 / 2 == 1234567.5'), true);
  assert.equal(value('p := 2469135 / 2 < 1234567.6'), true);
  assert.equal(json('p := count({2469135 / 2, 1234567.5, 0.00001 * 1, 0.00001})'), '2');
  assert.equal(json('p := {1234567.5: "a"}[2469135 / 2]'), '"a"');
  assert.equal(json('p := [x | x := [1234567.5][_]; x == 2469135 / 2]'), '[1234567.5]');
  assert.equal(json('p := floor(2469135 / 2)'), '1234567');
  assert.equal(json('p := to_number(json.marshal(2469135 / 2)) + 0.5'), '1234568');
  assert.equal(json('p := format_int(2469135 / 2, 10)'), '"1234567"');
});

// A number literal keeps its source text (opa:v1/ast/parser.go parseNumber stores the literal as written):
// `12.0` prints as `12.0`, is not an integer where OPA wants one (`Number.Int` parses the text), and takes the
// float path in arithmetic. sprintf (opa:v1/topdown/strings.go) passes a number to Go's fmt as an int64 or a
// big.Int when its text parses as one, else as the float64 it reads as, else as its text — so `1e21` is
// `1e+21` under `%v` and `%d` of `12.0` is `%!d(float64=12)`. format_int prints an integer exactly (the
// suite's bignum case) and truncates a fraction, one no double holds read into a 64-bit big.Float
// (builtins.NumberToFloat, big.Float.Int): 2.99999999999999999999 is 3 at 64 bits.
test('number literals keep their text: output, sprintf, keys, arithmetic and format_int', () => {
  const cases: [string, string][] = [
    ['p := 12.0', '12.0'],
    ['p := 1.50', '1.50'],
    ['p := 1e21', '1e21'],
    ['p := -1E3', '-1E3'],
    ['p := 12', '12'],
    ['p := 1.5', '1.5'],
    ['p := json.marshal([12.0, 1e21, 1.50, 7])', '"[12.0,1e21,1.50,7]"'],
    ['p := sprintf("%v", [12.0])', '"12"'],
    ['p := sprintf("%v %v %v", [1e21, 1.5e300, -1e21])', '"1e+21 1.5e+300 -1e+21"'],
    ['p := sprintf("%v", [2e308])', '"2e308"'],
    ['p := sprintf("%v", [123456789012345678901234567890])', '"123456789012345678901234567890"'],
    ['p := sprintf("%d", [12.0])', '"%!d(float64=12)"'],
    ['p := sprintf("%d", [1e21])', '"%!d(float64=1e+21)"'],
    ['p := sprintf("%d", [12])', '"12"'],
    ['p := sprintf("%.2f", [12.0])', '"12.00"'],
    ['p := 12.0 + 1', '13'],
    ['p := 1e21 + 1', '1000000000000000000000'],
    ['p := 1e21 * 2', '2000000000000000000000'],
    ['p := 12.0 == 12', 'true'],
    ['p := {12.0: "a"}[12]', '"a"'],
    ['p := count({12.0, 12, 1e1 + 2})', '1'],
    ['p := format_int(12.0, 10)', '"12"'],
    ['p := format_int(-12.9, 10)', '"-12"'],
    ['p := format_int(1e21, 10)', '"1000000000000000000000"'],
    ['p := format_int(0.10000000000000000001e1, 10)', '"1"'],
    ['p := format_int(2.99999999999999999999, 10)', '"3"'],
  ];
  for (const [body, want] of cases) assert.equal(json(body), want, body);
  // An array index must be an integer's text (ast.Array.Get parses it): `[1, 2][1.0]` is undefined. Written
  // as a literal OPA's type checker already refuses it (types.Select parses the index the same way).
  assert.equal(value('p := x[1.0] if { x := json.unmarshal("[1, 2]") }'), undefined);
  assert.equal(value('p := x[1] if { x := json.unmarshal("[1, 2]") }'), 2);
  assert.throws(() => value('p := [1, 2][1.0]'), /rego_type_error: undefined ref: __local0__\[1\.0\]/);
  assert.equal(value('p := [1, 2][1]'), 2);
});

test('format_int matches the base by its text: 16.0 is not a base', () => {
  const e = new Engine({ strict: true });
  e.addPolicy('t.rego', 'package t\np := format_int(255, 16.0)\n');
  assert.throws(() => e.evalRuleValue('data.t.p'), /format_int: operand 2 must be one of \{2, 8, 10, 16\}/);
  assert.equal(json('p := format_int(255, 8 * 2)'), '"ff"');
});
