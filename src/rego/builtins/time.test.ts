import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BuiltinError } from './registry.js';
import { arbValue, call, callNoCrash, expectCall, expectError, j } from './test-support/harness.js';
import { builtins } from './time.js';
import { type Value } from '../value.js';

// Values from opa-conformance/v1/time and Go's time package documentation.

test('parse_rfc3339_ns and parse_ns cover the int64 range exactly', () => {
  expectCall('time.parse_rfc3339_ns', ['2017-06-02T19:00:00-07:00'], 1496455200000000000);
  expectCall('time.parse_rfc3339_ns', ['1677-09-21T00:12:43.145224192-00:00'], j('-9223372036854775808'));
  expectCall('time.parse_rfc3339_ns', ['2262-04-11T23:47:16.854775807-00:00'], j('9223372036854775807'));
  expectError('time.parse_rfc3339_ns', ['2262-04-11T23:47:16.854775808-00:00'], 'time outside of valid range', 'eval_builtin_error');
  expectError('time.parse_ns', ['2006-01-02T15:04:05Z07:00', '1677-09-21T00:12:43.145224191-00:00'], 'time outside of valid range');
  expectCall('time.parse_ns', ['RFC822Z', '02 Jun 17 19:00 -0700'], 1496455200000000000);
  expectCall('time.parse_ns', ['2006-01-02', '2020-02-29'], 1582934400000000000);
});

test('parse errors carry Go ParseError texts', () => {
  expectError('time.parse_ns', ['2006-01-02', '2020-13-01'], 'parsing time "2020-13-01": month out of range');
  expectError('time.parse_ns', ['2006-01-02', '2020-02-30'], 'parsing time "2020-02-30": day out of range');
  expectError('time.parse_ns', ['2006-01-02', '2020/02/03'], 'parsing time "2020/02/03" as "2006-01-02": cannot parse "/02/03" as "-"');
  expectError('time.parse_ns', ['2006-01-02', '2020-02-03x'], 'extra text: "x"');
});

test('parse_duration_ns is Go\'s time.ParseDuration, as OPA calls it: its units only, its texts and arithmetic', () => {
  expectCall('time.parse_duration_ns', ['100ms'], 100000000);
  expectCall('time.parse_duration_ns', ['1h30m'], 5400000000000);
  expectCall('time.parse_duration_ns', ['-1.5h'], -5400000000000);
  expectCall('time.parse_duration_ns', ['1\u00b5s'], 1000);
  expectCall('time.parse_duration_ns', ['1\u03bcs'], 1000);
  expectCall('time.parse_duration_ns', ['1us'], 1000);
  expectCall('time.parse_duration_ns', ['.5s'], 500000000);
  expectCall('time.parse_duration_ns', ['1.s'], 1000000000);
  expectCall('time.parse_duration_ns', ['+0'], 0);
  expectCall('time.parse_duration_ns', ['-0'], 0);
  expectCall('time.parse_duration_ns', ['1.004s'], 1004000000);
  expectCall('time.parse_duration_ns', ['100.00100s'], 100001000000);
  // Fractions are scaled in float64 as Go does: these are Go's own test values.
  expectCall('time.parse_duration_ns', ['0.3333333333333333333h'], 1200000000000);
  expectCall('time.parse_duration_ns', ['0.830103483285477580700h'], 2988372539827);
  expectCall('time.parse_duration_ns', ['9223372036854775807ns'], j('9223372036854775807'));
  expectCall('time.parse_duration_ns', ['9223372036854775.807us'], j('9223372036854775807'));
  expectCall('time.parse_duration_ns', ['9223372036s854ms775us807ns'], j('9223372036854775807'));
  expectCall('time.parse_duration_ns', ['-9223372036854775808ns'], j('-9223372036854775808'));
  expectCall('time.parse_duration_ns', ['-9223372036854775.808us'], j('-9223372036854775808'));
  // Go sums in uint64: two parts of 2^63 wrap to 0, which it then accepts.
  expectCall('time.parse_duration_ns', ['9223372036854775808ns9223372036854775808ns'], 0);
  // OPA's day, week and 365-day year units, alone, with fractions and beside Go's.
  expectCall('time.parse_duration_ns', ['1d'], 86400000000000);
  expectCall('time.parse_duration_ns', ['2w'], 1209600000000000);
  expectCall('time.parse_duration_ns', ['1y'], 31536000000000000);
  expectCall('time.parse_duration_ns', ['1d2h'], 93600000000000);
  expectCall('time.parse_duration_ns', ['1.5d'], 129600000000000);
  expectCall('time.parse_duration_ns', ['-1y1w1d1h1m1s'], -32230861000000000);
  expectError('time.parse_duration_ns', ['293y'], 'time.parse_duration_ns: time: invalid duration "293y"');
  expectError('time.parse_duration_ns', ['1D'], 'time: unknown unit "D" in duration "1D"');
  expectError('time.parse_duration_ns', ['1dd'], 'time: unknown unit "dd" in duration "1dd"');
  expectError('time.parse_duration_ns', ['1'], 'time: missing unit in duration "1"');
  expectError('time.parse_duration_ns', ['1.5.5s'], 'time: missing unit in duration "1.5.5s"');
  expectError('time.parse_duration_ns', ['1x'], 'time: unknown unit "x" in duration "1x"');
  expectError('time.parse_duration_ns', ['1S'], 'time: unknown unit "S" in duration "1S"');
  for (const bad of ['', '-', '+', 's', '.', '-.', '.s', '+.s', 'x1s', '9223372036854775808ns', '9223372036854775.808us', '9223372036854ms775us808ns', '-9223372036854775809ns', '99999999999999999999ns']) {
    expectError('time.parse_duration_ns', [bad], `time.parse_duration_ns: time: invalid duration ${JSON.stringify(bad)}`);
  }
});

test('parse_duration_ns on random text: a number of nanoseconds within int64 or one of Go\'s three errors', () => {
  const unit = fc.constantFrom('0', '1', '9', '.', '-', '+', 'n', 's', 'u', 'm', 'h', 'd', '\u00b5', ' ');
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 14 }), (text) => {
      let out: unknown;
      try {
        out = call('time.parse_duration_ns', [text]);
      } catch (e) {
        assert.ok(e instanceof BuiltinError, String(e));
        assert.match(e.message, /^time\.parse_duration_ns: time: (invalid duration|missing unit in duration|unknown unit "[^"]*" in duration) "/);
        return;
      }
      const n = typeof out === 'number' ? BigInt(out) : BigInt(String(out));
      assert.ok(n >= -(2n ** 63n) && n < 2n ** 63n, String(out));
    }),
    { numRuns: 1000 },
  );
});

test('date, clock and weekday in UTC and IANA zones', () => {
  expectCall('time.date', [1517814000000000000], j('[2018, 2, 5]'));
  expectCall('time.date', [[1517814000000000000, 'America/Los_Angeles']], j('[2018, 2, 4]'));
  expectCall('time.date', [1582977600000000000], j('[2020, 2, 29]'));
  expectCall('time.clock', [[1517832000000000000, 'America/New_York']], j('[7, 0, 0]'));
  expectCall('time.weekday', [1518350400000000000], 'Sunday');
  expectError('time.date', [j('1582977600000000000000')], 'timestamp too big');
  expectError('time.date', [[0, 'Mars/Olympus']], 'unknown time zone Mars/Olympus');
});

test('format with zones, layouts and named layouts', () => {
  expectCall('time.format', [j('1670006453141828752')], '2022-12-02T18:40:53.141828752Z');
  expectCall('time.format', [[j('1670006453141828752'), 'Asia/Kolkata', 'Mon Jan 02 15:04:05 -0700 2006']], 'Sat Dec 03 00:10:53 +0530 2022');
  expectCall('time.format', [[j('1670006453141828752'), 'Asia/Kolkata', 'RFC1123Z']], 'Sat, 03 Dec 2022 00:10:53 +0530');
  expectCall('time.format', [[0, 'UTC', '3:04PM Jan _2 .000 ,999']], '12:00AM Jan  1 .000 ');
  // Zone abbreviations as Go prints them from tzdata.
  expectCall('time.format', [[1705276800000000000, 'Europe/Berlin', 'MST -0700']], 'CET +0100');
  expectCall('time.format', [[1705276800000000000, 'Europe/London', 'MST']], 'GMT');
  expectCall('time.format', [[1705276800000000000, 'America/Sao_Paulo', 'MST']], '-03');
  expectCall('time.format', [[1705276800000000000, 'America/New_York', 'RFC1123']], 'Sun, 14 Jan 2024 19:00:00 EST');
});

test('add_date normalises like Go and diff counts calendar units', () => {
  expectCall('time.add_date', [1585852421593912000, 3, 9, 12], 1705257221593912000);
  expectCall('time.add_date', [1585852421593912000, -1, -1, -1], 1551465221593912000);
  expectError('time.add_date', [0, 2262, 1, 1], 'time outside of valid range');
  expectCall('time.diff', [1580601600000000000, 1583020800000000000], j('[0, 0, 28, 0, 0, 0]'));
  expectCall('time.diff', [61000000000, 0], j('[0, 0, 0, 0, 1, 1]'));
});

test('time builtins never fail with anything but a BuiltinError', () => {
  const layoutish = fc.string({ unit: fc.constantFrom('2006', '01', '02', '15', '04', '05', 'Z07:00', '.999', 'MST', 'Jan', '-', ':', ' ', 'x', '1', '3'), maxLength: 8 });
  fc.assert(
    fc.property(fc.constantFrom(...builtins.filter((b) => b.name !== 'time.now_ns')), fc.oneof(layoutish, arbValue(), fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n })), fc.oneof(layoutish, arbValue()), (def, x, y) => {
      callNoCrash(def.name, [x as never, y, 1, 1].slice(0, def.arity));
    }),
    { numRuns: 2000 },
  );
});

test("time builtins' errors carry OPA's texts (tzTime reports every timestamp operand as operand 1)", () => {
  const EITHER = 'operand 1 must be either number (ns) or [number (ns), string (tz)]';
  const cases: Array<[string, Value[], string, 'eval_type_error' | 'eval_builtin_error']> = [
    ['time.weekday', ['x'], `${EITHER} but got string`, 'eval_type_error'],
    ['time.weekday', [[]], `${EITHER} but got array`, 'eval_type_error'],
    ['time.weekday', [['a']], 'operand 1 must be number but got string', 'eval_type_error'],
    ['time.weekday', [[1, 2]], 'operand 1 must be string but got number', 'eval_type_error'],
    ['time.weekday', [[0, 'Bad/TZ']], 'unknown time zone Bad/TZ', 'eval_builtin_error'],
    ['time.weekday', [1.5], 'timestamp too big', 'eval_builtin_error'],
    ['time.format', [[1, 'UTC', 5]], 'operand 1 must be string but got number', 'eval_type_error'],
    ['time.diff', [1, 'a'], `${EITHER} but got string`, 'eval_type_error'],
    ['time.add_date', [0, 1.5, 0, 0], 'operand 2 must be integer number but got floating-point number', 'eval_type_error'],
    ['time.add_date', [0, 0, 'a', 0], 'operand 3 must be number but got string', 'eval_type_error'],
    ['time.add_date', [0, 300, 0, 0], 'time outside of valid range', 'eval_builtin_error'],
    ['time.add_date', [0, -300, 0, 0], 'time outside of valid range', 'eval_builtin_error'],
    ['time.parse_duration_ns', ['x'], 'time: invalid duration "x"', 'eval_builtin_error'],
    ['time.parse_duration_ns', ['1'], 'time: missing unit in duration "1"', 'eval_builtin_error'],
    ['time.parse_duration_ns', ['1x'], 'time: unknown unit "x" in duration "1x"', 'eval_builtin_error'],
    ['time.parse_duration_ns', ['9999999h'], 'time: invalid duration "9999999h"', 'eval_builtin_error'],
    ['time.parse_ns', ['2006', 'x'], 'parsing time "x" as "2006": cannot parse "x" as "2006"', 'eval_builtin_error'],
    ['time.parse_rfc3339_ns', ['3000-01-01T00:00:00Z'], 'time outside of valid range', 'eval_builtin_error'],
  ];
  for (const [name, args, text, code] of cases) expectError(name, args, `${name}: ${text}`, code);
});
