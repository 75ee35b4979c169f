/**
 * Builtin error texts checked against OPA's topdown sources, one table per family: the exact message
 * (`<builtin>: <text>`) and code a bad input gives. Families whose texts come from Go's standard library
 * (encoding/hex, encoding/base64, net/url, encoding/json through OPA's util.UnmarshalJSON) carry Go's words.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Value, fromJson } from '../value.js';
import { BuiltinError } from './registry.js';
import { call } from './test-support/harness.js';

type Row = [name: string, args: unknown[], code: BuiltinError['code'], message: string];

function check(rows: Row[]): void {
  for (const [name, args, code, message] of rows) {
    assert.throws(
      () => call(name, args.map((a) => fromJson(a as never) as Value)),
      (e: unknown) => {
        assert.ok(e instanceof BuiltinError, `${name}: ${String(e)}`);
        assert.equal(e.message, message, `${name}(${JSON.stringify(args)})`);
        assert.equal(e.code, code, message);
        return true;
      },
      `${name}(${JSON.stringify(args)}) did not fail`,
    );
  }
}

// opa:v1/topdown/parse_units.go and parse_bytes.go: the texts carry the builtin's name themselves, and topdown
// prefixes it once more.
test('units.parse and units.parse_bytes', () => {
  check([
    ['units.parse', [''], 'eval_builtin_error', 'units.parse: units.parse: no amount provided'],
    ['units.parse', ['K'], 'eval_builtin_error', 'units.parse: units.parse: no amount provided'],
    ['units.parse', ['1 K'], 'eval_builtin_error', 'units.parse: units.parse: spaces not allowed in resource strings'],
    ['units.parse', ['1x'], 'eval_builtin_error', 'units.parse: units.parse: unit x not recognized'],
    ['units.parse', ['1..2'], 'eval_builtin_error', 'units.parse: units.parse: could not parse amount to a number'],
    ['units.parse', ['1e1234567'], 'eval_builtin_error', 'units.parse: units.parse: exponent too large'],
    ['units.parse', [1], 'eval_type_error', 'units.parse: operand 1 must be string but got number'],
    ['units.parse_bytes', [''], 'eval_builtin_error', 'units.parse_bytes: units.parse_bytes: no byte amount provided'],
    ['units.parse_bytes', ['1 KB'], 'eval_builtin_error', 'units.parse_bytes: units.parse_bytes: spaces not allowed in resource strings'],
    ['units.parse_bytes', ['1xB'], 'eval_builtin_error', 'units.parse_bytes: units.parse_bytes: byte unit xb not recognized'],
    ['units.parse_bytes', ['1.2.3'], 'eval_builtin_error', 'units.parse_bytes: units.parse_bytes: could not parse byte amount to a number'],
    ['units.parse_bytes', ['1e1234567'], 'eval_builtin_error', 'units.parse_bytes: units.parse_bytes: exponent too large'],
    ['units.parse', ['1KiB'], 'eval_builtin_error', 'units.parse: units.parse: unit Kib not recognized'],
    ['units.parse', ['1KB'], 'eval_builtin_error', 'units.parse: units.parse: unit Kb not recognized'],
    ['units.parse', ['0x10'], 'eval_builtin_error', 'units.parse: units.parse: unit x10 not recognized'],
    ['units.parse', ['1e+'], 'eval_builtin_error', 'units.parse: units.parse: could not parse amount to a number'],
    ['units.parse', ['e5'], 'eval_builtin_error', 'units.parse: units.parse: could not parse amount to a number'],
    ['units.parse', ['1-'], 'eval_builtin_error', 'units.parse: units.parse: could not parse amount to a number'],
    ['units.parse', ['.'], 'eval_builtin_error', 'units.parse: units.parse: could not parse amount to a number'],
    ['units.parse', ['mi'], 'eval_builtin_error', 'units.parse: units.parse: no amount provided'],
    ['units.parse', ['1e-1234567'], 'eval_builtin_error', 'units.parse: units.parse: exponent too large'],
    // The unit is folded after its first byte: a multi-byte first character leaves invalid UTF-8, printed as U+FFFD.
    ['units.parse', ['1\u00e9'], 'eval_builtin_error', 'units.parse: units.parse: unit \ufffd\ufffd not recognized'],
    ['units.parse', ['1\u20acK'], 'eval_builtin_error', 'units.parse: units.parse: unit \ufffd\ufffd\ufffdk not recognized'],
    ['units.parse', ['1K\u00c9'], 'eval_builtin_error', 'units.parse: units.parse: unit K\u00e9 not recognized'],
    ['units.parse_bytes', ['1\u00c9B'], 'eval_builtin_error', 'units.parse_bytes: units.parse_bytes: byte unit \u00e9b not recognized'],
    // strings.ToLower folds each code point alone: no final sigma.
    ['units.parse_bytes', ['1A\u03a3'], 'eval_builtin_error', 'units.parse_bytes: units.parse_bytes: byte unit a\u03c3 not recognized'],
    ['units.parse_bytes', ['e'], 'eval_builtin_error', 'units.parse_bytes: units.parse_bytes: no byte amount provided'],
    ['units.parse_bytes', ['..KB'], 'eval_builtin_error', 'units.parse_bytes: units.parse_bytes: could not parse byte amount to a number'],
    ['units.parse_bytes', [null], 'eval_type_error', 'units.parse_bytes: operand 1 must be string but got null'],
  ]);
  // Go's unicode.ToLower takes U+0130 to a plain i, so `Ki` with a dotted capital I is kibi.
  assert.equal(call('units.parse', ['1K\u0130']), 1024);
  assert.equal(call('units.parse_bytes', ['1K\u0130B']), 1024);
  assert.equal(call('units.parse', ['1e']), 1_000_000_000_000_000_000n);
});

// opa:v1/topdown/numbers.go: the bounds and step are BigIntOperands, whose type error asks for an `integer`
// (IntOperand's asks for a `number`); a step of zero or less is refused after all three operands are read.
test('numbers.range and numbers.range_step', () => {
  const T = 'eval_type_error';
  check([
    ['numbers.range', ['a', 2], T, 'numbers.range: operand 1 must be integer but got string'],
    ['numbers.range', [1, null], T, 'numbers.range: operand 2 must be integer but got null'],
    ['numbers.range', [1.5, 2], T, 'numbers.range: operand 1 must be integer number but got floating-point number'],
    ['numbers.range', [1, 2.5], T, 'numbers.range: operand 2 must be integer number but got floating-point number'],
    ['numbers.range_step', [1, 2, 'x'], T, 'numbers.range_step: operand 3 must be integer but got string'],
    ['numbers.range_step', [[], 2, 0], T, 'numbers.range_step: operand 1 must be integer but got array'],
    ['numbers.range_step', [1, 5, 1.5], T, 'numbers.range_step: operand 3 must be integer number but got floating-point number'],
    ['numbers.range_step', [1.5, 5, 0], T, 'numbers.range_step: operand 1 must be integer number but got floating-point number'],
    ['numbers.range_step', [1, 5, 0], 'eval_builtin_error', 'numbers.range_step: step must be a positive integer'],
    ['numbers.range_step', [1000, 5, -1], 'eval_builtin_error', 'numbers.range_step: step must be a positive integer'],
    ['rand.intn', [1, 2], T, 'rand.intn: operand 1 must be string but got number'],
    ['rand.intn', ['s', '2'], T, 'rand.intn: operand 2 must be number but got string'],
    ['rand.intn', ['s', 2.5], T, 'rand.intn: operand 2 must be integer number but got floating-point number'],
  ]);
});

// opa:v1/util/json.go unmarshalJSON: a first value, then decoder.Token(); a token is `error: invalid character
// '%s' after top-level value` (fmt's %s of the token: a bool prints as %!s(bool=true)), a syntax error is Go's.
test('json.unmarshal: what follows the first value', () => {
  check([
    ['json.unmarshal', ['01'], 'eval_builtin_error', "json.unmarshal: error: invalid character '1' after top-level value"],
    ['json.unmarshal', ['1 "ab"'], 'eval_builtin_error', "json.unmarshal: error: invalid character 'ab' after top-level value"],
    ['json.unmarshal', ['1 {'], 'eval_builtin_error', "json.unmarshal: error: invalid character '{' after top-level value"],
    ['json.unmarshal', ['1 true'], 'eval_builtin_error', "json.unmarshal: error: invalid character '%!s(bool=true)' after top-level value"],
    ['json.unmarshal', ['1 1.50'], 'eval_builtin_error', "json.unmarshal: error: invalid character '1.50' after top-level value"],
    ['json.unmarshal', ['1 x'], 'eval_builtin_error', "json.unmarshal: invalid character 'x' looking for beginning of value"],
    ['json.unmarshal', ['1 ]'], 'eval_builtin_error', "json.unmarshal: invalid character ']' looking for beginning of value"],
    ['json.unmarshal', ['{'], 'eval_builtin_error', 'json.unmarshal: unexpected EOF'],
    ['json.unmarshal', ['"\\x"'], 'eval_builtin_error', "json.unmarshal: invalid character 'x' in string escape code"],
  ]);
});

// opa:v1/topdown/encoding.go: Go's encoding/hex, encoding/base64 and net/url errors; base64url pads as RFC 7515
// appendix C and refuses a length that padding cannot fix.
test('hex, base64, base64url and urlquery decoding', () => {
  check([
    ['hex.decode', ['zz'], 'eval_builtin_error', "hex.decode: encoding/hex: invalid byte: U+007A 'z'"],
    ['hex.decode', ['abc'], 'eval_builtin_error', 'hex.decode: encoding/hex: odd length hex string'],
    ['base64.decode', ['a==='], 'eval_builtin_error', 'base64.decode: illegal base64 data at input byte 1'],
    // encoding/base64 decodeQuantum: padding short of a quantum, garbage after it, a missing quantum end.
    ['base64.decode', ['YQ=='.repeat(2)], 'eval_builtin_error', 'base64.decode: illegal base64 data at input byte 4'],
    ['base64.decode', ['YQ='], 'eval_builtin_error', 'base64.decode: illegal base64 data at input byte 3'],
    ['base64.decode', ['YQ=x'], 'eval_builtin_error', 'base64.decode: illegal base64 data at input byte 2'],
    ['base64.decode', ['YWJjZA'], 'eval_builtin_error', 'base64.decode: illegal base64 data at input byte 4'],
    ['base64.decode', ['YWJjZ'], 'eval_builtin_error', 'base64.decode: illegal base64 data at input byte 4'],
    ['base64.decode', ['=YWJ'], 'eval_builtin_error', 'base64.decode: illegal base64 data at input byte 0'],
    ['base64url.decode', ['YQ==='], 'eval_builtin_error', 'base64url.decode: illegal base64 data at input byte 4'],
    ['base64url.decode', ['Y/=='], 'eval_builtin_error', 'base64url.decode: illegal base64 data at input byte 1'],
    ['base64url.decode', ['YWJjZ'], 'eval_builtin_error', 'base64url.decode: illegal base64url string: YWJjZ'],
    ['hex.decode', ['g0a'], 'eval_builtin_error', "hex.decode: encoding/hex: invalid byte: U+0067 'g'"],
    // An odd length is reported after checking the last byte.
    ['hex.decode', ['00g'], 'eval_builtin_error', "hex.decode: encoding/hex: invalid byte: U+0067 'g'"],
    ['hex.decode', ['\u00e9'], 'eval_builtin_error', "hex.decode: encoding/hex: invalid byte: U+00C3 '\u00c3'"],
    ['urlquery.decode', ['a%2'], 'eval_builtin_error', 'urlquery.decode: invalid URL escape "%2"'],
    ['urlquery.decode', ['%\u00e90'], 'eval_builtin_error', 'urlquery.decode: invalid URL escape "%\u00e9"'],
    // EscapeError quotes three bytes with strconv.Quote: a character cut short shows as \x bytes, controls as Go escapes.
    ['urlquery.decode', ['%\u20ac'], 'eval_builtin_error', 'urlquery.decode: invalid URL escape "%\\xe2\\x82"'],
    ['urlquery.decode', ['%a\u20ac'], 'eval_builtin_error', 'urlquery.decode: invalid URL escape "%a\\xe2"'],
    ['urlquery.decode', ['%\u0001x'], 'eval_builtin_error', 'urlquery.decode: invalid URL escape "%\\x01x"'],
    ['urlquery.decode', ['%\u00a0'], 'eval_builtin_error', 'urlquery.decode: invalid URL escape "%\\u00a0"'],
    ['urlquery.decode', ['%"x'], 'eval_builtin_error', 'urlquery.decode: invalid URL escape "%\\"x"'],
    ['urlquery.decode_object', ['a=%\u20ac'], 'eval_builtin_error', 'urlquery.decode_object: invalid URL escape "%\\xe2\\x82"'],
    ['urlquery.decode_object', ['a=b&%zz=1'], 'eval_builtin_error', 'urlquery.decode_object: invalid URL escape "%zz"'],
    ['urlquery.decode_object', ['a;=1'], 'eval_builtin_error', 'urlquery.decode_object: invalid semicolon separator in query'],
    ['urlquery.encode_object', [{ a: 1 }], 'eval_type_error', 'urlquery.encode_object: operand 1 values must be string, array[string], or set[string]'],
    ['urlquery.encode_object', [[1]], 'eval_type_error', 'urlquery.encode_object: operand 1 must be object but got array'],
    ['base64url.decode', ['a'], 'eval_builtin_error', 'base64url.decode: illegal base64url string: a'],
    ['urlquery.decode', ['%zz'], 'eval_builtin_error', 'urlquery.decode: invalid URL escape "%zz"'],
  ]);
});

// opa:v1/topdown/semver.go: a type error names the operand; a string OPA's parser refuses is quoted as Go's
// strconv.Quote prints it. semver.is_valid never fails.
test('semver.compare and semver.is_valid', () => {
  check([
    ['semver.compare', ['1.x', '1.0.0'], 'eval_builtin_error', 'semver.compare: operand 1: string "1.x" is not a valid SemVer'],
    ['semver.compare', ['1.0.0', '1.0'], 'eval_builtin_error', 'semver.compare: operand 2: string "1.0" is not a valid SemVer'],
    ['semver.compare', ['1.0.0-a..b', '1.0.0'], 'eval_builtin_error', 'semver.compare: operand 1: string "1.0.0-a..b" is not a valid SemVer'],
    ['semver.compare', ['1.0.0+', '1.0.0+a_b'], 'eval_builtin_error', 'semver.compare: operand 2: string "1.0.0+a_b" is not a valid SemVer'],
    ['semver.compare', ['1.0.0', '1.2.3.4'], 'eval_builtin_error', 'semver.compare: operand 2: string "1.2.3.4" is not a valid SemVer'],
    ['semver.compare', ['9223372036854775808.0.0', '1.0.0'], 'eval_builtin_error', 'semver.compare: operand 1: string "9223372036854775808.0.0" is not a valid SemVer'],
    ['semver.compare', ['1.0.\n', '1.0.0'], 'eval_builtin_error', 'semver.compare: operand 1: string "1.0.\\n" is not a valid SemVer'],
    ['semver.compare', ['1.0.\u0001', '1.0.0'], 'eval_builtin_error', 'semver.compare: operand 1: string "1.0.\\x01" is not a valid SemVer'],
    ['semver.compare', [1, '1.0.0'], 'eval_type_error', 'semver.compare: operand 1 must be string but got number'],
    ['semver.compare', ['1.0.0', null], 'eval_type_error', 'semver.compare: operand 2 must be string but got null'],
  ]);
  // What OPA's parser accepts beyond the SemVer grammar: leading zeros, empty pre-release and metadata parts.
  for (const [v, ok] of [['01.002.0003', true], ['1.0.0-', true], ['1.0.0+', true], ['1.0.0-01', true], ['1.0.0-a-b+c-d', true],
    ['1.0', false], ['1.0.0-a+', true], ['1.0.0-+', true], ['a.b.c', false], ['', false], [' 1.0.0', false]] as const) {
    assert.equal(call('semver.is_valid', [v]), ok, v);
  }
  assert.equal(call('semver.compare', ['01.0.0', '1.0.0']), 0);
  assert.equal(call('semver.compare', ['1.0.0-', '1.0.0']), 0);
  assert.equal(call('semver.is_valid', [1]), false);
});

// opa:v1/topdown/cidr.go: Go's net.ParseCIDR error (`invalid CIDR address: …`); every operand is read as a string
// under position 1 (getNetFromOperand, and net.cidr_contains' second StringOperand call), so a non-string second
// operand is reported as operand 1; net.cidr_contains_matches hands the first element of an array pair to
// net.cidr_contains unchecked.
test('net.cidr_*', () => {
  check([
    ['net.cidr_contains', ['10.0.0.0', '10.0.0.1'], 'eval_builtin_error', 'net.cidr_contains: invalid CIDR address: 10.0.0.0'],
    ['net.cidr_contains', ['10.0.0.0/33', '10.0.0.1'], 'eval_builtin_error', 'net.cidr_contains: invalid CIDR address: 10.0.0.0/33'],
    ['net.cidr_contains', ['10.0.0.0/8', '10.0.0.x'], 'eval_builtin_error', 'net.cidr_contains: not a valid textual representation of an IP address or CIDR: 10.0.0.x'],
    ['net.cidr_contains', ['bad', 1], 'eval_builtin_error', 'net.cidr_contains: invalid CIDR address: bad'],
    ['net.cidr_contains', ['10.0.0.0/8', 1], 'eval_type_error', 'net.cidr_contains: operand 1 must be string but got number'],
    ['net.cidr_contains', [1, '10.0.0.1'], 'eval_type_error', 'net.cidr_contains: operand 1 must be string but got number'],
    ['net.cidr_intersects', ['10.0.0.0/8', '::1/200'], 'eval_builtin_error', 'net.cidr_intersects: invalid CIDR address: ::1/200'],
    ['net.cidr_intersects', ['10.0.0.0/8', []], 'eval_type_error', 'net.cidr_intersects: operand 1 must be string but got array'],
    ['net.cidr_expand', ['10.0.0.1/0x'], 'eval_builtin_error', 'net.cidr_expand: invalid CIDR address: 10.0.0.1/0x'],
    ['net.cidr_expand', ['10.0.0.1/0033'], 'eval_builtin_error', 'net.cidr_expand: invalid CIDR address: 10.0.0.1/0033'],
    ['net.cidr_contains', ['10.0.0.0/8', '010.0.0.1'], 'eval_builtin_error', 'net.cidr_contains: not a valid textual representation of an IP address or CIDR: 010.0.0.1'],
    ['net.cidr_contains', ['10.0.0.0/8', '10.0.0.1/'], 'eval_builtin_error', 'net.cidr_contains: not a valid textual representation of an IP address or CIDR: 10.0.0.1/'],
    ['net.cidr_merge', [[null]], 'eval_builtin_error', 'net.cidr_merge: element must be string'],
    ['net.cidr_expand', [true], 'eval_type_error', 'net.cidr_expand: operand 1 must be string but got boolean'],
    ['net.cidr_merge', [['10.0.0.0/8', 1]], 'eval_builtin_error', 'net.cidr_merge: element must be string'],
    ['net.cidr_merge', [['10.0.0.0/x']], 'eval_builtin_error', 'net.cidr_merge: invalid CIDR address: 10.0.0.0/x'],
    ['net.cidr_merge', [['::1']], 'eval_builtin_error', 'net.cidr_merge: IPv6 invalid: needs prefix length'],
    ['net.cidr_merge', ['10.0.0.0/8'], 'eval_builtin_error', 'net.cidr_merge: operand must be an array'],
    ['net.cidr_merge', [{ a: '10.0.0.0/8' }], 'eval_builtin_error', 'net.cidr_merge: operand must be an array'],
    ['net.cidr_contains_matches', [[1], '10.0.0.1'], 'eval_builtin_error', 'net.cidr_contains_matches: operand 1: element must be string or non-empty array'],
    ['net.cidr_contains_matches', ['10.0.0.0/8', [[]]], 'eval_builtin_error', 'net.cidr_contains_matches: operand 2: element must be string or non-empty array'],
    ['net.cidr_contains_matches', [[[1, 'x']], '10.0.0.1'], 'eval_type_error', 'net.cidr_contains_matches: operand 1 must be string but got number'],
    ['net.cidr_contains_matches', ['10.0.0.0/8', { k: [false] }], 'eval_type_error', 'net.cidr_contains_matches: operand 1 must be string but got boolean'],
    ['net.cidr_contains_matches', ['10.0.0.0', '10.0.0.1'], 'eval_builtin_error', 'net.cidr_contains_matches: invalid CIDR address: 10.0.0.0'],
  ]);
  // net.cidr_is_valid answers false, never an error; net.cidr_contains_matches ignores an operand of another type.
  for (const v of ['10.0.0.0', '10.0.0.0/33', '', 1, null, ['10.0.0.0/8']]) assert.equal(call('net.cidr_is_valid', [fromJson(v as never) as Value]), false);
  assert.equal(call('net.cidr_is_valid', ['::/0']), true);
  // net.ParseCIDR reads the prefix length with dtoi: leading zeros are fine, signs and blanks are not.
  for (const [v, ok] of [['10.0.0.1/0008', true], ['10.0.0.1/00000000000000000032', true], ['::1/0128', true], ['10.0.0.1/033', false],
    ['10.0.0.1/+8', false], ['10.0.0.1/', false], ['10.0.0.1/ 8', false], ['10.0.0.1/99999999999999999999', false],
    ['010.0.0.1/8', false], ['fe80::1%eth0/64', false]] as const) {
    assert.equal(call('net.cidr_is_valid', [v]), ok, v);
  }
  assert.deepEqual(call('net.cidr_expand', ['10.0.0.1/0031']), call('net.cidr_expand', ['10.0.0.0/31']));
  assert.deepEqual(call('net.cidr_contains_matches', [1, '10.0.0.1']), call('net.cidr_contains_matches', [[], []]));
});

// opa:v1/topdown/time.go: Go's time.Parse, time.ParseDuration and time.LoadLocation errors (quoted by the time
// package's own quote: bytes outside printable ASCII as \x escapes); tzTime reads every operand, and each element
// of the [ns, tz, layout] array, under position 1 (so time.diff's second operand is reported as operand 1 too).
test('time.*', () => {
  const RFC3339 = '2006-01-02T15:04:05Z07:00';
  check([
    ['time.parse_rfc3339_ns', ['x'], 'eval_builtin_error', `time.parse_rfc3339_ns: parsing time "x" as "${RFC3339}": cannot parse "x" as "2006"`],
    ['time.parse_rfc3339_ns', ['2006-01-02'], 'eval_builtin_error', `time.parse_rfc3339_ns: parsing time "2006-01-02" as "${RFC3339}": cannot parse "" as "T"`],
    ['time.parse_rfc3339_ns', ['2006-01-02T15:04:05Zx'], 'eval_builtin_error', 'time.parse_rfc3339_ns: parsing time "2006-01-02T15:04:05Zx": extra text: "x"'],
    ['time.parse_rfc3339_ns', ['2006-01-02T25:04:05Z'], 'eval_builtin_error', 'time.parse_rfc3339_ns: parsing time "2006-01-02T25:04:05Z": hour out of range'],
    ['time.parse_rfc3339_ns', ['2006-01-02T15:04:05+25:00'], 'eval_builtin_error', 'time.parse_rfc3339_ns: parsing time "2006-01-02T15:04:05+25:00": time zone offset hour out of range'],
    ['time.parse_rfc3339_ns', ['2006-01-02T15:04:05+01:61'], 'eval_builtin_error', 'time.parse_rfc3339_ns: parsing time "2006-01-02T15:04:05+01:61": time zone offset minute out of range'],
    ['time.parse_rfc3339_ns', ['1000-01-01T00:00:00Z'], 'eval_builtin_error', 'time.parse_rfc3339_ns: time outside of valid range'],
    ['time.parse_rfc3339_ns', [1], 'eval_type_error', 'time.parse_rfc3339_ns: operand 1 must be string but got number'],
    ['time.parse_ns', ['2006-01-02', '2020-13-01'], 'eval_builtin_error', 'time.parse_ns: parsing time "2020-13-01": month out of range'],
    ['time.parse_ns', ['2006-01-02', '2021-02-30'], 'eval_builtin_error', 'time.parse_ns: parsing time "2021-02-30": day out of range'],
    ['time.parse_ns', ['2006-01-02', '2021-é'], 'eval_builtin_error', 'time.parse_ns: parsing time "2021-\\xc3\\xa9" as "2006-01-02": cannot parse "\\xc3\\xa9" as "01"'],
    ['time.parse_ns', ['2006-002', '2021-366'], 'eval_builtin_error', 'time.parse_ns: parsing time "2021-366": day-of-year out of range'],
    ['time.parse_ns', ['2006-002', '2020-367'], 'eval_builtin_error', 'time.parse_ns: parsing time "2020-367": day-of-year out of range'],
    ['time.parse_ns', ['2006-002', '2020-000'], 'eval_builtin_error', 'time.parse_ns: parsing time "2020-000": day-of-year out of range'],
    ['time.parse_ns', ['2006-01-002', '2021-03-032'], 'eval_builtin_error', 'time.parse_ns: parsing time "2021-03-032": day-of-year does not match month'],
    ['time.parse_ns', ['2006-01-02-002', '2021-02-02-032'], 'eval_builtin_error', 'time.parse_ns: parsing time "2021-02-02-032": day-of-year does not match day'],
    ['time.parse_ns', ['2006-01-02', '2021-1-02'], 'eval_builtin_error', 'time.parse_ns: parsing time "2021-1-02" as "2006-01-02": cannot parse "1-02" as "01"'],
    ['time.parse_ns', ['15:04:05.000', '10:00:00.12'], 'eval_builtin_error', 'time.parse_ns: parsing time "10:00:00.12" as "15:04:05.000": cannot parse ".12" as ".000"'],
    ['time.parse_ns', ['2006-01-02', '2021-01-02x'], 'eval_builtin_error', 'time.parse_ns: parsing time "2021-01-02x": extra text: "x"'],
    ['time.parse_ns', ['3:04PM', '3:04XM'], 'eval_builtin_error', 'time.parse_ns: parsing time "3:04XM" as "3:04PM": cannot parse "XM" as "PM"'],
    ['time.parse_ns', ['2006-01-02 MST', '2021-01-02 xyz'], 'eval_builtin_error', 'time.parse_ns: parsing time "2021-01-02 xyz" as "2006-01-02 MST": cannot parse "xyz" as "MST"'],
    ['time.parse_ns', ['2006-01-02 -07:00', '2021-01-02 +0100'], 'eval_builtin_error', 'time.parse_ns: parsing time "2021-01-02 +0100" as "2006-01-02 -07:00": cannot parse "+0100" as "-07:00"'],
    ['time.parse_ns', ['2006-01-02 15:04:05', '2021-01-02 10:60:00'], 'eval_builtin_error', 'time.parse_ns: parsing time "2021-01-02 10:60:00": minute out of range'],
    ['time.parse_ns', ['2006-01-02 15:04:05', '2021-01-02 10:00:60'], 'eval_builtin_error', 'time.parse_ns: parsing time "2021-01-02 10:00:60": second out of range'],
    ['time.parse_ns', ['3', '13'], 'eval_builtin_error', 'time.parse_ns: parsing time "13": hour out of range'],
    ['time.parse_ns', ['2006', '20211'], 'eval_builtin_error', 'time.parse_ns: parsing time "20211": extra text: "1"'],
    ['time.parse_ns', ['', ''], 'eval_builtin_error', 'time.parse_ns: time outside of valid range'],
    ['time.parse_ns', ['2006-01-02', '3000-01-01'], 'eval_builtin_error', 'time.parse_ns: time outside of valid range'],
    ['time.parse_ns', ['Jan 2', 'Foo 2'], 'eval_builtin_error', 'time.parse_ns: parsing time "Foo 2" as "Jan 2": cannot parse "Foo 2" as "Jan"'],
    ['time.parse_ns', ['RFC1123', 'x'], 'eval_builtin_error', 'time.parse_ns: parsing time "x" as "Mon, 02 Jan 2006 15:04:05 MST": cannot parse "x" as "Mon"'],
    ['time.parse_ns', [1, 'x'], 'eval_type_error', 'time.parse_ns: operand 1 must be string but got number'],
    ['time.parse_ns', ['x', []], 'eval_type_error', 'time.parse_ns: operand 2 must be string but got array'],
    ['time.parse_duration_ns', ['x'], 'eval_builtin_error', 'time.parse_duration_ns: time: invalid duration "x"'],
    ['time.parse_duration_ns', [''], 'eval_builtin_error', 'time.parse_duration_ns: time: invalid duration ""'],
    ['time.parse_duration_ns', ['1'], 'eval_builtin_error', 'time.parse_duration_ns: time: missing unit in duration "1"'],
    ['time.parse_duration_ns', ['1x'], 'eval_builtin_error', 'time.parse_duration_ns: time: unknown unit "x" in duration "1x"'],
    ['time.parse_duration_ns', ['1é'], 'eval_builtin_error', 'time.parse_duration_ns: time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'],
    ['time.parse_duration_ns', ['9999999999h'], 'eval_builtin_error', 'time.parse_duration_ns: time: invalid duration "9999999999h"'],
    ['time.parse_duration_ns', [true], 'eval_type_error', 'time.parse_duration_ns: operand 1 must be string but got boolean'],
    ['time.date', [[0, 'Nowhere/City']], 'eval_builtin_error', 'time.date: unknown time zone Nowhere/City'],
    ['time.date', [[0, 'america/new_york']], 'eval_builtin_error', 'time.date: unknown time zone america/new_york'],
    ['time.date', [[0, 'utc']], 'eval_builtin_error', 'time.date: unknown time zone utc'],
    ['time.date', [[0, '../etc/passwd']], 'eval_builtin_error', 'time.date: time: invalid location name'],
    ['time.clock', [[0, '/etc/localtime']], 'eval_builtin_error', 'time.clock: time: invalid location name'],
    // LoadLocation refuses any name holding `..` or starting with a slash or backslash before looking it up.
    ['time.date', [[0, 'a..b']], 'eval_builtin_error', 'time.date: time: invalid location name'],
    ['time.date', [[0, '\\x']], 'eval_builtin_error', 'time.date: time: invalid location name'],
    ['time.date', [[0, 'America/New_York ']], 'eval_builtin_error', 'time.date: unknown time zone America/New_York '],
    ['time.diff', [0, [0, 'Nowhere']], 'eval_builtin_error', 'time.diff: unknown time zone Nowhere'],
    ['time.date', [[0, 'Europe/Paris', 1]], 'eval_type_error', 'time.date: operand 1 must be string but got number'],
    ['time.add_date', [0, 0, 0, 1e10], 'eval_builtin_error', 'time.add_date: time outside of valid range'],
    ['time.weekday', [[0, '+01:00']], 'eval_builtin_error', 'time.weekday: unknown time zone +01:00'],
    ['time.date', [[]], 'eval_type_error', 'time.date: operand 1 must be either number (ns) or [number (ns), string (tz)] but got array'],
    ['time.date', ['0'], 'eval_type_error', 'time.date: operand 1 must be either number (ns) or [number (ns), string (tz)] but got string'],
    ['time.date', [['0']], 'eval_type_error', 'time.date: operand 1 must be number but got string'],
    ['time.clock', [[0, 1]], 'eval_type_error', 'time.clock: operand 1 must be string but got number'],
    ['time.format', [[0, 'UTC', 1]], 'eval_type_error', 'time.format: operand 1 must be string but got number'],
    ['time.date', [1.5], 'eval_builtin_error', 'time.date: timestamp too big'],
    ['time.weekday', [1e19], 'eval_builtin_error', 'time.weekday: timestamp too big'],
    ['time.add_date', [0, 1.5, 0, 0], 'eval_type_error', 'time.add_date: operand 2 must be integer number but got floating-point number'],
    ['time.add_date', [0, 0, '1', 0], 'eval_type_error', 'time.add_date: operand 3 must be number but got string'],
    ['time.add_date', [0, 0, 0, null], 'eval_type_error', 'time.add_date: operand 4 must be number but got null'],
    ['time.add_date', [0, 300, 0, 0], 'eval_builtin_error', 'time.add_date: time outside of valid range'],
    ['time.add_date', [[0, 'Nowhere'], 0, 0, 0], 'eval_builtin_error', 'time.add_date: unknown time zone Nowhere'],
    ['time.diff', [0, 'x'], 'eval_type_error', 'time.diff: operand 1 must be either number (ns) or [number (ns), string (tz)] but got string'],
    ['time.diff', [{}, 0], 'eval_type_error', 'time.diff: operand 1 must be either number (ns) or [number (ns), string (tz)] but got object'],
  ]);
  // Day 366 is the last day of a leap year.
  assert.equal(String(call('time.parse_ns', ['2006-002', '2020-366'])), '1609372800000000000');
  // Go's range tests on a zone offset use `>`: +24:00 parses.
  assert.equal(String(call('time.parse_rfc3339_ns', ['2006-01-02T15:04:05+24:00'])), '1136127845000000000');
});

// opa:v1/topdown/regex.go and regex_template.go: Go's regexp/syntax errors (`error parsing regexp: <code>:
// \`<fragment>\``); regex.template_match compiles each delimited part as ^part$ before the whole, and quotes an
// unbalanced template with %q; regex.find_n's count is an IntOperand.
test('regex.*', () => {
  const E = 'eval_builtin_error';
  check([
    ['regex.match', ['(', 'a'], E, 'regex.match: error parsing regexp: missing closing ): `(`'],
    ['regex.match', ['a)', 'a'], E, 'regex.match: error parsing regexp: unexpected ): `a)`'],
    ['regex.match', ['*', 'a'], E, 'regex.match: error parsing regexp: missing argument to repetition operator: `*`'],
    ['regex.match', ['a**', 'a'], E, 'regex.match: error parsing regexp: invalid nested repetition operator: `**`'],
    ['regex.match', ['\\q', 'a'], E, 'regex.match: error parsing regexp: invalid escape sequence: `\\q`'],
    ['regex.match', ['[a', 'a'], E, 'regex.match: error parsing regexp: missing closing ]: `[a`'],
    ['regex.match', ['[]', 'a'], E, 'regex.match: error parsing regexp: missing closing ]: `[]`'],
    ['regex.match', ['[z-a]', 'a'], E, 'regex.match: error parsing regexp: invalid character class range: `z-a`'],
    ['regex.match', ['[[:foo:]]', 'a'], E, 'regex.match: error parsing regexp: invalid character class range: `[:foo:]`'],
    ['regex.match', ['\\pX', 'a'], E, 'regex.match: error parsing regexp: invalid character class range: `\\pX`'],
    ['regex.match', ['a{1001}', 'a'], E, 'regex.match: error parsing regexp: invalid repeat count: `{1001}`'],
    ['regex.match', ['x{2,1}', 'a'], E, 'regex.match: error parsing regexp: invalid repeat count: `{2,1}`'],
    ['regex.match', ['(?P<>a)', 'a'], E, 'regex.match: error parsing regexp: invalid named capture: `(?P<>`'],
    ['regex.match', ['(?i', 'a'], E, 'regex.match: error parsing regexp: invalid or unsupported Perl syntax: `(?i`'],
    ['regex.match', ['(?z)', 'a'], E, 'regex.match: error parsing regexp: invalid or unsupported Perl syntax: `(?z`'],
    ['regex.match', ['\\', 'a'], E, 'regex.match: error parsing regexp: trailing backslash at end of expression: ``'],
    // repeatIsValid: counted repetitions nested inside one another copy their innermost part at most 1000 times.
    ['regex.match', ['(x{1000}){2}', 'a'], E, 'regex.match: error parsing regexp: invalid repeat count: `{2}`'],
    ['regex.match', ['(a{7}){143}', 'a'], E, 'regex.match: error parsing regexp: invalid repeat count: `{143}`'],
    ['regex.match', ['((a{3}){3}){112}', 'a'], E, 'regex.match: error parsing regexp: invalid repeat count: `{112}`'],
    ['regex.match', ['(?:a{10}|b{200}){6}', 'a'], E, 'regex.match: error parsing regexp: invalid repeat count: `{6}`'],
    ['regex.match', ['(a{10}b{200}){4,6}?', 'a'], E, 'regex.match: error parsing regexp: invalid repeat count: `{4,6}?`'],
    ['regex.match', ['(a{10,}){101,}', 'a'], E, 'regex.match: error parsing regexp: invalid repeat count: `{101,}`'],
    ['regex.match', ['((a{30})*){34}', 'a'], E, 'regex.match: error parsing regexp: invalid repeat count: `{34}`'],
    ['regex.match', ['a{2}{3}', 'a'], E, 'regex.match: error parsing regexp: invalid nested repetition operator: `{2}{3}`'],
    ['regex.match', ['(a{2})*{2}', 'a'], E, 'regex.match: error parsing regexp: invalid nested repetition operator: `*{2}`'],
    ['regex.match', ['\\8', 'a'], E, 'regex.match: error parsing regexp: invalid escape sequence: `\\8`'],
    ['regex.match', ['[a-\\d]', 'a'], E, 'regex.match: error parsing regexp: invalid character class range: `a-\\d`'],
    ['regex.match', ['\\x{110000}', 'a'], E, 'regex.match: error parsing regexp: invalid escape sequence: `\\x{110000}`'],
    ['regex.match', ['(?P<a-b>x)', 'a'], E, 'regex.match: error parsing regexp: invalid named capture: `(?P<a-b>`'],
    ['regex.match', ['(?P=n)', 'a'], E, 'regex.match: error parsing regexp: invalid or unsupported Perl syntax: `(?P`'],
    ['regex.match', ['\\Z', 'a'], E, 'regex.match: error parsing regexp: invalid escape sequence: `\\Z`'],
    ['regex.match', ['('.repeat(1000) + 'a' + ')'.repeat(1000), 'a'], E,
      `regex.match: error parsing regexp: expression nests too deeply: \`${'('.repeat(1000)}a${')'.repeat(1000)}\``],
    ['regex.replace', ['a', '(', 1], 'eval_type_error', 'regex.replace: operand 3 must be string but got number'],
    ['regex.find_all_string_submatch_n', ['a', 'a', 1.5], 'eval_type_error', 'regex.find_all_string_submatch_n: operand 3 must be integer number but got floating-point number'],
    ['regex.match', ['a', 1], 'eval_type_error', 'regex.match: operand 2 must be string but got number'],
    ['regex.split', ['(', 'a'], E, 'regex.split: error parsing regexp: missing closing ): `(`'],
    ['regex.split', [1, 'a'], 'eval_type_error', 'regex.split: operand 1 must be string but got number'],
    ['regex.find_n', ['[', 'a', 1], E, 'regex.find_n: error parsing regexp: missing closing ]: `[`'],
    ['regex.find_n', ['a', 'a', 1.5], 'eval_type_error', 'regex.find_n: operand 3 must be integer number but got floating-point number'],
    ['regex.find_n', ['a', 'a', '1'], 'eval_type_error', 'regex.find_n: operand 3 must be number but got string'],
    ['regex.find_all_string_submatch_n', ['(', 'a', 1], E, 'regex.find_all_string_submatch_n: error parsing regexp: missing closing ): `(`'],
    ['regex.replace', ['a', '+', 'b'], E, 'regex.replace: error parsing regexp: missing argument to repetition operator: `+`'],
    ['regex.template_match', ['{a', 'a', '{', '}'], E, 'regex.template_match: unbalanced braces in "{a"'],
    ['regex.template_match', ['a}', 'a', '{', '}'], E, 'regex.template_match: unbalanced braces in "a}"'],
    ['regex.template_match', ['\u0001{', 'a', '{', '}'], E, 'regex.template_match: unbalanced braces in "\\x01{"'],
    ['regex.template_match', ['x{(}', 'a', '{', '}'], E, 'regex.template_match: error parsing regexp: missing closing ): `^($`'],
    // Each part compiles alone as ^part$; the whole is compiled last, so a part that only breaks the whole fails there.
    ['regex.template_match', ['x{x\\}', 'xx', '{', '}'], E, 'regex.template_match: error parsing regexp: missing closing ): `^x(x\\)$`'],
    // The same character as both delimiters only ever opens.
    ['regex.template_match', ['a|b|', 'a', '|', '|'], E, 'regex.template_match: unbalanced braces in "a|b|"'],
    ['regex.template_match', ['a', 'a', '', ''], E, 'regex.template_match: start delimiter has to be exactly one character long but is 0 long'],
    ['regex.template_match', ['a', 'a', '{{', '}'], E, 'regex.template_match: start delimiter has to be exactly one character long but is 2 long'],
    ['regex.template_match', ['a', 'a', '\u00e9', '}'], E, 'regex.template_match: start delimiter has to be exactly one character long but is 2 long'],
    // OPA prints the start delimiter's length in the end delimiter's message.
    ['regex.template_match', ['a', 'a', '{', ''], E, 'regex.template_match: end delimiter has to be exactly one character long but is 1 long'],
    ['regex.template_match', ['a', 'a', '{', 1], 'eval_type_error', 'regex.template_match: operand 4 must be string but got number'],
    ['regex.globs_match', ['[', 'a'], E, 'regex.globs_match: input:[, pos:1, found [ without matching ]: the input provided is invalid'],
    ['regex.globs_match', ['a', 1], 'eval_type_error', 'regex.globs_match: operand 2 must be string but got number'],
  ]);
  // Within the budget, and a count of zero ends the walk: these compile.
  for (const p of ['(x{500}){2}', '(a{3}){333}', '((a{3}){3}){111}', '((a{1000}){0}){2}', '(a{1}){1000}', '(a{10,}){100,}',
    '(a{10}b{200}){5}?', '[[:alpha:]-z]', '('.repeat(999) + 'a' + ')'.repeat(999)]) {
    assert.equal(call('regex.is_valid', [p]), true, p);
  }
  // Deep nesting never escapes as a stack overflow.
  assert.equal(call('regex.is_valid', ['('.repeat(20000) + 'a' + ')'.repeat(20000)]), false);
  assert.equal(call('regex.is_valid', ['(?:'.repeat(20000) + 'a' + ')'.repeat(20000)]), false);
  assert.equal(call('regex.is_valid', ['(']), false);
  assert.equal(call('regex.is_valid', [1]), false);
});

// opa:v1/topdown/glob.go, strings.go, object.go, crypto.go and tokens.go: operand errors (`operand N must be …`,
// element errors `must be array of <type>s but got array containing <type>`, enum errors) and io.jwt.decode's
// structural texts; a token part is decoded as base64url.decode does (RFC 7515 padding, `illegal base64url
// string` for a length padding cannot fix).
test('glob.match, strings, format_int, object.*, crypto.hmac.*, io.jwt.decode', () => {
  const T = 'eval_type_error';
  const E = 'eval_builtin_error';
  check([
    ['glob.match', [1, [], 'a'], T, 'glob.match: operand 1 must be string but got number'],
    ['glob.match', ['a', 1, 'a'], T, 'glob.match: operand 2 must be one of {array, null} but got number'],
    ['glob.match', ['a', [1], 'a'], T, 'glob.match: operand 2 must be array of strings but got array containing number'],
    ['glob.match', ['a', ['ab'], 'a'], T, 'glob.match: operand 2 must be array of runes but got array containing string'],
    ['glob.match', ['a', [], 1], T, 'glob.match: operand 3 must be string but got number'],
    ['strings.replace_n', [{ a: 1 }, 'x'], T, 'strings.replace_n: operand 1 non-string value found in pattern object'],
    ['strings.replace_n', [[], 'x'], T, 'strings.replace_n: operand 1 must be object but got array'],
    ['strings.replace_n', [{ a: 'b' }, 1], T, 'strings.replace_n: operand 2 must be string but got number'],
    ['sprintf', ['%d', 1], T, 'sprintf: operand 2 must be array but got number'],
    ['sprintf', [1, []], T, 'sprintf: operand 1 must be string but got number'],
    ['format_int', [1, 3], T, 'format_int: operand 2 must be one of {2, 8, 10, 16}'],
    ['format_int', ['1', 10], T, 'format_int: operand 1 must be number but got string'],
    ['format_int', [1, '10'], T, 'format_int: operand 2 must be number but got string'],
    ['object.get', [1, 'a', 0], T, 'object.get: operand 1 must be object but got number'],
    ['object.get', [[], 'a', 0], T, 'object.get: operand 1 must be object but got array'],
    ['object.union_n', [[1]], T, 'object.union_n: operand 1 must be array of objects but got array containing number'],
    ['object.union_n', [[{}, 's']], T, 'object.union_n: operand 1 must be array of objects but got array containing string'],
    ['object.union_n', [{}], T, 'object.union_n: operand 1 must be array but got object'],
    // Merged from the last element back: the last non-object is reported.
    ['object.union_n', [[1, 's']], T, 'object.union_n: operand 1 must be array of objects but got array containing string'],
    ['object.union_n', [[1, {}, null, {}]], T, 'object.union_n: operand 1 must be array of objects but got array containing null'],
    ['object.union', [1, {}], T, 'object.union: operand 1 must be object but got number'],
    ['object.union', [{}, []], T, 'object.union: operand 2 must be object but got array'],
    ['object.remove', [{}, 'a'], T, 'object.remove: operand 2 must be one of {object, set, array} but got string'],
    ['object.remove', [1, 'a'], T, 'object.remove: operand 1 must be object but got number'],
    ['object.filter', [{}, 1], T, 'object.filter: operand 2 must be one of {object, set, array} but got number'],
    ['object.filter', [[], 1], T, 'object.filter: operand 1 must be object but got array'],
    ['object.keys', [[]], T, 'object.keys: operand 1 must be object but got array'],
    ['array.slice', [1, 0, 1], T, 'array.slice: operand 1 must be array but got number'],
    ['array.slice', [[], 1.5, 1], T, 'array.slice: operand 2 must be integer number but got floating-point number'],
    ['array.slice', [[], 0, '1'], T, 'array.slice: operand 3 must be number but got string'],
    ['array.concat', [[], 1], T, 'array.concat: operand 2 must be array but got number'],
    ['array.concat', ['a', []], T, 'array.concat: operand 1 must be array but got string'],
    ['array.reverse', [{}], T, 'array.reverse: operand 1 must be array but got object'],
    ['indexof', ['abc', ''], E, 'indexof: empty search character'],
    ['indexof_n', ['abc', ''], E, 'indexof_n: empty search character'],
    ['indexof', [1, ''], T, 'indexof: operand 1 must be string but got number'],
    ['substring', ['abc', -1, 1], E, 'substring: negative offset'],
    ['substring', ['', -1, 1], E, 'substring: negative offset'],
    ['substring', ['abc', 1.5, 1], T, 'substring: operand 2 must be integer number but got floating-point number'],
    ['substring', [1, -1, 'x'], T, 'substring: operand 1 must be string but got number'],
    ['concat', [1, ['a']], T, 'concat: operand 1 must be string but got number'],
    ['concat', [',', [1]], T, 'concat: operand 2 must be array of strings but got array containing number'],
    ['concat', [',', 'ab'], T, 'concat: operand 2 must be one of {set, array} but got string'],
    ['strings.any_prefix_match', [1, 'a'], T, 'strings.any_prefix_match: operand 1 must be one of {string, set, array} but got number'],
    ['strings.any_suffix_match', ['a', [1]], T, 'strings.any_suffix_match: operand 2 must be array of strings but got array containing number'],
    // The subject string is read before the pattern object's keys and values.
    ['strings.replace_n', [{ a: 1 }, 2], T, 'strings.replace_n: operand 2 must be string but got number'],
    ['trim', ['a', 1], T, 'trim: operand 2 must be string but got number'],
    ['trim_space', [1], T, 'trim_space: operand 1 must be string but got number'],
    ['replace', ['a', 'b', 1], T, 'replace: operand 3 must be string but got number'],
    ['crypto.hmac.sha256', [1, 'k'], T, 'crypto.hmac.sha256: operand 1 must be string but got number'],
    ['crypto.hmac.sha512', ['x', 1], T, 'crypto.hmac.sha512: operand 2 must be string but got number'],
    ['crypto.hmac.equal', [1, 'x'], T, 'crypto.hmac.equal: operand 1 must be string but got number'],
    ['crypto.hmac.equal', ['x', null], T, 'crypto.hmac.equal: operand 2 must be string but got null'],
    ['io.jwt.decode', [1], T, 'io.jwt.decode: operand 1 must be string but got number'],
    ['io.jwt.decode', ['abc'], E, 'io.jwt.decode: encoded JWT had no period separators'],
    ['io.jwt.decode', ['a.b'], E, 'io.jwt.decode: encoded JWT must have 3 sections, found 2'],
    ['io.jwt.decode', ['a.b.c.d'], E, 'io.jwt.decode: encoded JWT must have 3 sections, found 4'],
    ['io.jwt.decode', ['a.e30.'], E, 'io.jwt.decode: JWT header had invalid encoding: illegal base64url string: a'],
    ['io.jwt.decode', ['e30==.e30.'], E, 'io.jwt.decode: JWT header had invalid encoding: illegal base64 data at input byte 4'],
    ['io.jwt.decode', ['!!.e30.'], E, 'io.jwt.decode: JWT header had invalid encoding: illegal base64 data at input byte 0'],
    ['io.jwt.decode', ['e30.abcde.'], E, 'io.jwt.decode: JWT payload had invalid encoding: illegal base64url string: abcde'],
    ['io.jwt.decode', ['e30.e30.x'], E, 'io.jwt.decode: JWT signature had invalid encoding: illegal base64url string: x'],
    ['io.jwt.decode', ['e30.e30.!!'], E, 'io.jwt.decode: JWT signature had invalid encoding: illegal base64 data at input byte 0'],
    // validateJWTHeader and extractJSONObject: json.unmarshal's Go texts; the payload is read before the signature.
    ['io.jwt.decode', ['eyJ4Ijp9.e30.'], E, "io.jwt.decode: bad JWT header: invalid JSON: invalid character '}' looking for beginning of value"],
    ['io.jwt.decode', ['WzFd.e30.'], E, "io.jwt.decode: bad JWT header: decoded JSON type was not an Object"],
    ['io.jwt.decode', ['eyJlbmMiOiJBMTI4R0NNIn0.e30.'], E, "io.jwt.decode: JWT is a JWE object, which is not supported"],
    ['io.jwt.decode', ['e30.WzFd.'], E, "io.jwt.decode: decoded JSON type was not an Object"],
    ['io.jwt.decode', ['e30.ew.'], E, "io.jwt.decode: invalid JSON: unexpected EOF"],
    ['io.jwt.decode', ['e30.WzFd.x'], E, "io.jwt.decode: decoded JSON type was not an Object"],
  ]);
  // A correctly padded part decodes as OPA's base64url.decode does.
  assert.deepEqual(call('io.jwt.decode', ['e30=.e30.AA==']), call('io.jwt.decode', ['e30.e30.AA']));
});
