/**
 * sprintf as OPA runs it (opa:v1/topdown/strings.go builtinSprintf hands int, *big.Int, float64 or string
 * operands to Go's fmt.Sprintf). Each expected text is worked out from Go's fmt/print.go, fmt/format.go,
 * strconv's ftoa/quote and math/big's Int.Format, not taken from this engine's output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Value } from '../value.js';
import { call, expectCall, j } from './test-support/harness.js';
import { goQuote, goQuoteBytes } from './sprintf.js';

const BIG = '123456789012345678901234';

function table(rows: Array<[string, Value[], string]>): void {
  for (const [format, args, want] of rows) expectCall('sprintf', [format, args], want);
}

test('sprintf: %e, %f and %g round the exact decimal value, an exact half to even (strconv)', () => {
  table([
    ['%.0f', [2.5], '2'],
    ['%.0f', [3.5], '4'],
    ['%.0f', [0.5], '0'],
    ['%.1f', [0.25], '0.2'],
    ['%.1f', [0.35], '0.3'], // the double is 0.34999…
    ['%.2f', [0.125], '0.12'],
    ['%.2f', [0.375], '0.38'],
    ['%.2f', [0.0009], '0.00'],
    ['%.2f', [0.006], '0.01'],
    ['%.2e', [1.125], '1.12e+00'],
    ['%.0e', [2.5], '2e+00'],
    ['%.1g', [0.25], '0.2'],
    ['%+.1e', [15.5], '+1.6e+01'],
    ['%.3v', [3.14159], '3.14'],
    ['%10.3e|', [1234.5678], ' 1.235e+03|'],
    ['%-10.2f|', [3.14159], '3.14      |'],
    ['%08.3f', [-1.5], '-001.500'],
    ['% f', [1.5], ' 1.500000'],
    ['%.20f', [0.1], '0.10000000000000000555'],
    ['%.3g', [1234.5], '1.23e+03'],
    ['%g', [1.5e-7], '1.5e-07'],
  ]);
});

test('sprintf: %b, and the # flag on floats keeps a decimal point and trailing zeros', () => {
  table([
    ['%b', [-2.5], '-5629499534213120p-51'],
    ['%b', [0.5], '4503599627370496p-53'],
    ['%#g', [1.5], '1.50000'],
    ['%#g', [123456.5], '123456.5'],
    ['%#.0f', [2.5], '2.'],
    ['%#.0e', [2.5], '2.e+00'],
    ['%#v', [1.5], '1.5'], // %#v is Go syntax, not the # flag
  ]);
});

test('sprintf: %+v and %#v move the flags aside for ints, floats and strings, not for a big.Int', () => {
  table([
    ['%+v', [5], '5'],
    ['%+d', [5], '+5'],
    ['% v', [5], ' 5'],
    ['%+v', [1.5], '1.5'],
    ['%+v', ['a'], 'a'],
    ['%#v', ['a\tb'], '"a\\tb"'],
    ['%#v', [5], '5'],
    ['%+v', [j(BIG)], '+' + BIG],
    ['%+d', [j(BIG)], '+' + BIG],
    ['%#x', [j(BIG)], '0x1a249b1f10a06c96aff2'],
    ['%30d|', [j(BIG)], '      ' + BIG + '|'],
    ['%030d', [j(BIG)], '000000' + BIG],
  ]);
});

test('sprintf: a verb that does not fit prints %!verb(type=value) with the value under the same flags', () => {
  table([
    ['%5z', [3], '%!z(int=    3)'],
    ['%-4z|', [3], '%!z(int=3   )|'],
    ['%05s', [5], '%!s(int=00005)'],
    ['%+s', [5], '%!s(int=+5)'],
    ['%.1d', ['abc'], '%!d(string=a)'],
    ['%d', [1.5], '%!d(float64=1.5)'],
    ['%6d', [1.5], '%!d(float64=   1.5)'],
    ['%t', [5], '%!t(int=5)'],
    ['%c', [j(BIG)], `%!c(big.Int=${BIG})`],
    ['%f', [j(BIG)], `%!f(big.Int=${BIG})`],
    ['%d %d', [j(BIG)], `${BIG} %!d(MISSING)`],
    ['%d', [1, j(BIG)], `1%!(EXTRA *big.Int=${BIG})`],
  ]);
});

test('sprintf: integers — precision, zero padding and prefixes in Go order', () => {
  table([
    ['%#08x', [255], '0x000000ff'],
    ['%#.3o', [8], '010'],
    ['%#o', [8], '010'],
    ['%O', [8], '0o10'],
    ['%#O', [8], '0o010'],
    ['%.0d', [0], ''],
    ['%5.0d|', [0], '     |'],
    ['%+.0d', [0], ''],
    ['%08.3d', [5], '     005'],
    ['%+05d', [5], '+0005'],
    ['%x', [-255], '-ff'],
    ['%#X', [255], '0XFF'],
    ['%b', [5], '101'],
    ['%#b', [5], '0b101'],
  ]);
});

test('sprintf: %c, %q and %U of an int', () => {
  table([
    ['%c', [-1], '\ufffd'],
    ['%c', [0xd800], '\ufffd'],
    ['%c', [0x110000], '\ufffd'],
    ['%05c', [65], '0000A'],
    ['%q', [10], "'\\n'"],
    ['%q', [39], "'\\''"],
    ['%q', [34], "'\"'"],
    ['%q', [0], "'\\x00'"],
    ['%q', [0x85], "'\\u0085'"],
    ['%q', [0x1f600], "'\u{1f600}'"],
    ['%+q', [0xe9], "'\\u00e9'"],
    ['%+q', [0x1f600], "'\\U0001f600'"],
    ['%U', [-1], 'U+FFFFFFFFFFFFFFFF'],
    ['%#U', [65], "U+0041 'A'"],
    ['%#U', [10], 'U+000A'],
    ['%.6U', [65], 'U+000041'],
    ['%08U', [65], '  U+0041'],
  ]);
});

test('sprintf: strings — zero padding, quoting as strconv does, hex of bytes', () => {
  table([
    ['%05s', ['ab'], '000ab'],
    ['%-05s|', ['ab'], 'ab   |'],
    ['%06q', ['a'], '000"a"'],
    ['%q', ['\u00a0'], '"\\u00a0"'],
    ['%q', ['\u0007\u007f'], '"\\a\\x7f"'],
    ['%q', ["it's"], '"it\'s"'],
    ['%+q', ['\u00e9'], '"\\u00e9"'],
    ['%#q', ['a\tb'], '`a\tb`'],
    ['%#q', ['a`b'], '"a`b"'],
    ['%#q', ['\ufeff'], '"\\ufeff"'],
    ['%4x|', [''], '    |'],
    ['% x', ['ab'], '61 62'],
    ['%# x', ['ab'], '0x61 0x62'],
    ['%#X', ['ab'], '0X6162'],
    ['%05x', ['ab'], '06162'],
    ['%.1x', ['ab'], '61'],
    ['%6.2T|', ['x'], '    st|'],
  ]);
});

test('sprintf: widths, precisions and argument indexes past 1e6 overflow as fmt parsenum does', () => {
  table([
    ['%100000000d', [5], '%!(NOVERB)%!(EXTRA int=5)'],
    ['%.100000000f', [1.5], '%!(NOVERB)%!(EXTRA float64=1.5)'],
    ['%[100000000]d', [5], '%!d(BADINDEX)'],
    ['%[1]d', [5], '5'],
    ['%*d', [2000000, 5], '%!(BADWIDTH)5'],
    ['%.*d', [-1, 5], '%!(BADPREC)5'],
  ]);
});

test('sprintf on random formats and operands: a string, never a throw', () => {
  const operand = fc.oneof(
    fc.integer({ min: -1000, max: 0x110010 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 4 }),
    fc.constant(j(BIG)),
    fc.boolean(),
  );
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom('%', '-', '+', '#', ' ', '0', '1', '9', '.', '*', '[', ']', 'd', 'v', 's', 'q', 'x', 'X', 'e', 'f', 'g', 'b', 'c', 'U', 'T', 'O', 'z', 'a'), maxLength: 10 }),
      fc.array(operand, { maxLength: 3 }),
      (format, args) => {
        assert.equal(typeof call('sprintf', [format, args as Value[]]), 'string');
      },
    ),
    { numRuns: 3000 },
  );
});

test('goQuoteBytes quotes raw bytes as strconv.Quote does', () => {
  const q = (...b: number[]): string => goQuoteBytes(Uint8Array.from(b));
  assert.equal(q(0x25, 0xe2, 0x82), '"%\\xe2\\x82"');
  // Overlong forms, an encoded surrogate and a value past U+10FFFF are bytes, not runes.
  assert.equal(q(0xc0, 0xaf), '"\\xc0\\xaf"');
  assert.equal(q(0xe0, 0x80, 0xaf), '"\\xe0\\x80\\xaf"');
  assert.equal(q(0xed, 0xa0, 0x80), '"\\xed\\xa0\\x80"');
  assert.equal(q(0xf4, 0x90, 0x80, 0x80), '"\\xf4\\x90\\x80\\x80"');
  assert.equal(q(0x01, 0x22, 0x5c, 0x0a), '"\\x01\\"\\\\\\n"');
  // Well-formed UTF-8 quotes exactly as the string does.
  fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => goQuoteBytes(Buffer.from(s, 'utf8')) === goQuote(s)));
});
