import { test } from 'node:test';
import fc from 'fast-check';
import { arbValue, call, callNoCrash, expectCall, expectError, j, s } from './test-support/harness.js';
import { builtins } from './strings.js';
import assert from 'node:assert/strict';
import { type Num, type Value, equal, numText, obj } from '../value.js';

// Expected values are those of opa-conformance/v1/strings, replacen, trim*, sprintf.

test('sprintf follows Go fmt for strings, padded ints, hex, floats, booleans and composites', () => {
  expectCall('sprintf', ['hi', []], 'hi');
  expectCall('sprintf', ['hi %s', ['there']], 'hi there');
  expectCall('sprintf', ['hi %02d', [5]], 'hi 05');
  expectCall('sprintf', ['hi %02X.%02X', [127, 1]], 'hi 7F.01');
  expectCall('sprintf', ['hi %.2f', [3.1415]], 'hi 3.14');
  expectCall('sprintf', ['hi %s', [true]], 'hi true');
  expectCall('sprintf', ['hi %v', [j('["there", 5, 3.14]')]], 'hi ["there", 5, 3.14]');
  expectCall('sprintf', ['%s', [j('123456789123456789123')]], '123456789123456789123');
  expectCall('sprintf', ['%s', [j('1208925819614629174706175')]], '1208925819614629174706175');
});

test('sprintf reproduces Go fmt annotations for wrong, missing and extra arguments', () => {
  expectCall('sprintf', ['%d', ['x']], '%!d(string=x)');
  expectCall('sprintf', ['%s', [5]], '%!s(int=5)');
  expectCall('sprintf', ['%d %d', [1]], '1 %!d(MISSING)');
  expectCall('sprintf', ['%d', [1, 'a']], '1%!(EXTRA string=a)');
  // Integral numbers are Go ints even when written as floats (OPA converts via Int64 first).
  expectCall('sprintf', ['%v %g', [1.5e10, 100000]], '15000000000 %!g(int=100000)');
  expectCall('sprintf', ['%v %v %e %g %g', [2.5e-7, 0.00001, 1234.5678, 123456.5, 1234567.5]], '2.5e-07 1e-05 1.234568e+03 123456.5 1.2345675e+06');
  expectCall('sprintf', ['%-5d|%5s|%+d|%x|%q', [42, 'ab', 3, 'hi', 'a"b']], '42   |   ab|+3|6869|"a\\"b"');
  expectCall('sprintf', ['%v', [obj({ a: s(1, 2) })]], '{"a": {1, 2}}');
});

test("sprintf: Go fmt's explicit argument indexes, widths and precisions from arguments, %T, %x of floats and strings", () => {
  // Go fmt (doPrintf, argNumber, intFromArg, fmtSbx, strconv 'x' format); OPA hands every argument to fmt.Sprintf.
  const cases: Array<[string, Value[], string]> = [
    ['%[2]d %[1]d', [1, 2], '2 1'],
    ['%[1]d %d', [1, 2], '1 2'],
    ['%s %[1]s', ['a'], 'a a'],
    ['%[3]*.[2]*[1]f', [12.5, 2, 6], ' 12.50'],
    ['%d %d %[1]d', [1], '1 %!d(MISSING) 1'],
    ['%[1]d', [1, 2], '1'], // reordered: no EXTRA report
    ['%[5]d', [1, 2], '%!d(BADINDEX)'],
    ['%[0]d', [1], '%!d(BADINDEX)'],
    ['%[x]d', [1], '%!d(BADINDEX)'],
    ['%[1]2d', [1], '%!d(BADINDEX)'],
    ['%*d', [5, 3], '    3'],
    ['%*d', [-5, 3], '3    '],
    ['%*d', ['a', 3], '%!(BADWIDTH)3'],
    ['%*d', [2000000, 3], '%!(BADWIDTH)3'],
    ['%.*f', [2, 3.14159], '3.14'],
    ['%.*d', [-1, 3], '%!(BADPREC)3'],
    ['%', [], '%!(NOVERB)'],
    ['%5.', [], '%!.(MISSING)'],
    ['%!', [1], '%!!(int=1)'],
    ['%z', [1], '%!z(int=1)'],
    ['%e %f', [1, 1], '%!e(int=1) %!f(int=1)'],
    ['%d %s', [1.5, 1.5], '%!d(float64=1.5) %!s(float64=1.5)'],
    ['%d %t', [true, true], '%!d(string=true) %!t(string=true)'],
    ['%c %c', [65, 'a'], 'A %!c(string=a)'],
    ['%q %U', [65, 65], "'A' U+0041"],
    ['%p', [1], '%!p(int=1)'],
    ['%T %T %T %T', [1, 'a', 1.5, j('123456789012345678901234567890')], 'int string float64 *big.Int'],
    ['%7T|', [true], ' string|'],
    ['%x %X %x', [1.5, -2.5, 0.1], '0x1.8p+00 -0X1.4P+01 0x1.999999999999ap-04'],
    ['%.1x %.0x %x', [1.96875, 1.5, 5e-324], '0x1.0p+01 0x1p+01 0x1p-1074'],
    ['%#x|% x|% #x|%X', ['hi', 'hi', 'hi', 'hi'], '0x6869|68 69|0x68 0x69|6869'],
    ['%#v %v', ['a', 'a'], '"a" a'],
    ['%b %o %O %#o %x', [5, 8, 8, 8, -255], '101 10 0o10 010 -ff'],
    ['%08.3f|%+d|%-5d|%.2s|%5s', [-3.14159, 5, 3, 'abc', 'ab'], '-003.142|+5|3    |ab|   ab'],
    ['%d%%', [5], '5%'],
  ];
  for (const [format, args, want] of cases) expectCall('sprintf', [format, args], want);
});

test("string builtins' errors carry OPA's texts", () => {
  expectError('indexof', ['abc', ''], 'indexof: empty search character', 'eval_builtin_error');
  expectError('indexof_n', ['abc', ''], 'indexof_n: empty search character', 'eval_builtin_error');
  expectError('strings.reverse', [1], 'strings.reverse: operand 1 must be string but got number', 'eval_type_error');
  expectError('substring', ['abc', -1, 1], 'substring: negative offset', 'eval_builtin_error');
  expectError('substring', ['abc', 1.5, 1], 'substring: operand 2 must be integer number but got floating-point number', 'eval_type_error');
  expectError('format_int', [10, 3], 'format_int: operand 2 must be one of {2, 8, 10, 16}', 'eval_type_error');
  expectError('concat', [',', [1]], 'concat: operand 2 must be array of strings but got array containing number', 'eval_type_error');
  expectError('concat', [',', j('{"a": 1}')], 'concat: operand 2 must be one of {set, array} but got object', 'eval_type_error');
  expectError('strings.any_prefix_match', [1, 'a'], 'strings.any_prefix_match: operand 1 must be one of {string, set, array} but got number');
  expectError('strings.any_suffix_match', ['a', s(1)], 'strings.any_suffix_match: operand 2 must be set of strings but got set containing number');
  expectError('strings.replace_n', [j('{"a": 1}'), 'x'], 'strings.replace_n: operand 1 non-string value found in pattern object', 'eval_type_error');
  expectError('strings.replace_n', [j('{"a": "b"}'), 1], 'strings.replace_n: operand 2 must be string but got number', 'eval_type_error');
  expectError('sprintf', ['%d', j('{}')], 'sprintf: operand 2 must be array but got object', 'eval_type_error');
  expectError('replace', ['a', 'b', 1], 'replace: operand 3 must be string but got number', 'eval_type_error');
});

test('format_int truncates toward zero and prints big integers exactly in every base', () => {
  expectCall('format_int', [15.5, 16], 'f');
  const big = j('18446744073709551617');
  const neg = j('-18446744073709551617');
  expectCall('format_int', [big, 16], '10000000000000001');
  expectCall('format_int', [big, 10], '18446744073709551617');
  expectCall('format_int', [big, 8], '2000000000000000000001');
  expectCall('format_int', [big, 2], '1' + '0'.repeat(63) + '1');
  expectCall('format_int', [neg, 16], '-10000000000000001');
  expectCall('format_int', [-15.9, 16], '-f');
  expectError('format_int', [4.1, 199], 'operand 2 must be one of {2, 8, 10, 16}', 'eval_type_error');
});

test('concat joins arrays and sets; indexof and substring count code points', () => {
  expectCall('concat', ['/', ['', 'foo', 'bar', '0', 'baz']], '/foo/bar/0/baz');
  expectCall('concat', [',', s('1', '2', '3')], '1,2,3');
  expectCall('indexof', ['abcabcabcdefgh', 'cde'], 8);
  expectCall('indexof', ['abcdefgh', 'xyz'], -1);
  expectCall('indexof', ['μx', 'x'], 1);
  expectCall('indexof', ['skön var våren', 'vår'], 9);
  expectCall('indexof', ['🍧🍨🧁🍰🍮', '🍮'], 4);
  expectCall('indexof_n', ['dogcatdogcat', 'cat'], j('[3, 9]'));
  expectCall('indexof_n', ['😇😀😇😀😇😀', '😀'], j('[1, 3, 5]'));
  expectCall('substring', ['abcdefgh', 2, 3], 'cde');
  expectCall('substring', ['åäö', 0, 2], 'åä');
  expectCall('substring', ['aåäö', 2, -1], 'äö');
  expectCall('substring', ['abcdefghåäö', 2, 10000], 'cdefghåäö');
  expectCall('substring', ['åäö', 4, -1], '');
  expectError('substring', ['åäö', -1, -1], 'negative offset', 'eval_builtin_error');
});

test('split, split_n, replace, replace_n and count follow Go strings semantics', () => {
  expectCall('split', ['test', ''], j('["t","e","s","t"]'));
  expectCall('split', ['', ''], j('[]'));
  expectCall('split', ['', '.'], j('[""]'));
  expectCall('strings.split_n', ['a.b.c.d', '.', 2], j('["a","b"]'));
  expectCall('strings.split_n', ['a.b.c.d', '.', 0], j('[]'));
  expectCall('strings.split_n', ['a.b.c.d', '.', -2], j('["c","d"]'));
  expectCall('strings.split_n', ['a.b.c.d', '.', -10], j('["a","b","c","d"]'));
  expectCall('strings.split_n', ['abc', '', -2], j('["b","c"]'));
  expectError('strings.split_n', ['a.b.c', '.', 1.5], 'strings.split_n: operand 3 must be integer number but got floating-point number', 'eval_type_error');
  expectCall('replace', ['foo...bar', '..', ',,'], 'foo,,.bar');
  expectCall('strings.replace_n', [j('{"<": "&lt;", ">": "&gt;"}'), 'This is <b>HTML</b>!'], 'This is &lt;b&gt;HTML&lt;/b&gt;!');
  expectCall('strings.replace_n', [j('{"f": "x", "foo": "xxx"}'), 'foobar'], 'xoobar');
  expectError('strings.replace_n', [j('{"foo": 1}'), 'foo'], 'strings.replace_n: operand 1 non-string value found in pattern object', 'eval_type_error');
  expectError('strings.replace_n', [j('{"foo": "baz"}'), 1], 'strings.replace_n: operand 2 must be string but got number');
  expectCall('strings.count', ['cheese', 'e'], 3);
  expectCall('strings.count', ['dummy', ''], 6);
  expectCall('strings.count', ['', ''], 1);
  expectCall('strings.count', ['11111', '11'], 2);
});

test('trim family, case mapping and reverse', () => {
  expectCall('trim', ['...foo.bar...', '.fr'], 'oo.ba');
  expectCall('trim', ['¡¡¡foo, bar!!!', '!¡'], 'foo, bar');
  expectCall('trim_prefix', ['¡¡¡foo, bar!!!', '¡¡¡foo'], ', bar!!!');
  expectCall('trim_space', [' \t\n foo, bar \n\t\r\n'], 'foo, bar');
  expectCall('lower', ['AbCdEf'], 'abcdef');
  expectCall('upper', ['AbCdEf'], 'ABCDEF');
  expectCall('strings.reverse', ['bar'], 'rab');
  expectCall('strings.reverse', ['1😀𝛾'], '𝛾😀1');
  expectError('strings.reverse', [1], 'reverse: operand 1 must be string but got number', 'eval_type_error');
});

test('any_prefix_match / any_suffix_match accept strings, arrays and sets and type-check elements', () => {
  expectCall('strings.any_prefix_match', ['foo/bar', 'foo'], true);
  expectCall('strings.any_prefix_match', [['a', 'foo/bar'], s('x', 'foo')], true);
  expectCall('strings.any_suffix_match', ['foo/bar', ['baz', 'qux']], false);
  expectError('strings.any_prefix_match', [[1], 'a'], 'strings.any_prefix_match: operand 1 must be array of strings but got array containing number');
  expectError('strings.any_suffix_match', ['a', 1], 'strings.any_suffix_match: operand 2 must be one of {string, set, array} but got number');
});

test('to_number parses Go float syntax and rejects the rest', () => {
  expectCall('to_number', ['10'], 10);
  expectCall('to_number', ['-1.5e3'], -1500);
  expectCall('to_number', [null], 0);
  expectCall('to_number', [true], 1);
  expectError('to_number', ['0x10'], 'invalid syntax');
});

test('to_number reads what strconv.ParseFloat reads: hex floats with a p exponent, underscores between digits', () => {
  // strconv.ParseFloat's syntax (Go's floating-point literals): OPA keeps the string as the number.
  expectCall('to_number', ['0x1p4'], 16);
  expectCall('to_number', ['0X1.8P1'], 3);
  expectCall('to_number', ['-0x_1p-2'], -0.25);
  expectCall('to_number', ['0x1p-1074'], 5e-324);
  expectCall('to_number', ['1_000'], 1000);
  expectCall('to_number', ['1_0e1_0'], 1e11);
  expectCall('to_number', ['1E+5'], 100000);
  expectCall('to_number', ['.5'], 0.5);
  expectCall('to_number', ['5.'], 5);
  expectCall('to_number', ['+2.50'], 2.5);
  for (const bad of ['0x1e', '0x', '0x.p1', '1__0', '_1', '1_', '1_.5', '0x1p', '1e', '1e+', '.', '', ' 1', '1 ', '0b101', '1e_5']) {
    expectError('to_number', [bad], `to_number: strconv.ParseFloat: parsing ${JSON.stringify(bad)}: invalid syntax`);
  }
  expectError('to_number', ['0x1p2000'], 'to_number: strconv.ParseFloat: parsing "0x1p2000": value out of range');
  expectError('to_number', ['1e400'], 'to_number: strconv.ParseFloat: parsing "1e400": value out of range');
});

test('to_number keeps a decimal string as the number it writes, as OPA returns ast.Number of the string', () => {
  for (const [text, printed] of [['1.0', '1.0'], ['1.50', '1.50'], ['-0.0', '-0.0'], ['1e2', '1e2'], ['+2.50', '2.50'], ['10', '10'], ['0.1', '0.1']] as const) {
    const n = call('to_number', [text]) as Num;
    assert.equal(numText(n), printed, text);
  }
  // Equal by value all the same.
  assert.ok(equal(call('to_number', ['1.0'])!, 1));
  assert.ok(equal(call('to_number', ['1e2'])!, 100));
});

test('to_number refuses infinities and NaN with OPA\'s type error, whatever their case and signs', () => {
  for (const s of ['nan', 'NaN', 'inf', '-Inf', '+infinity', 'INFINITY', '+-inf']) {
    expectError('to_number', [s], 'to_number: operand 1 must be valid number string but got string', 'eval_type_error');
  }
  expectError('to_number', ['infinite'], 'to_number: strconv.ParseFloat: parsing "infinite": invalid syntax');
});

test('string builtins never fail with anything but a BuiltinError', () => {
  fc.assert(
    fc.property(fc.constantFrom(...builtins), fc.array(arbValue(), { minLength: 3, maxLength: 3 }), (def, args) => {
      callNoCrash(def.name, args.slice(0, def.arity));
    }),
    { numRuns: 400 },
  );
});
