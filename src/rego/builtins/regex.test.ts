import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { callNoCrash, conformanceCalls, expectCall, expectError, j, runConformanceCalls } from './test-support/harness.js';
import { builtins as regexBuiltins } from './regex.js';
import { builtins as globBuiltins } from './glob.js';
import { builtins as globsBuiltins } from './globs.js';

test('regex builtins pass the single-call cases of the conformance categories', () => {
  let n = 0;
  for (const cat of ['regexmatch', 'regexreplace', 'regexfindallstringsubmatch']) n += runConformanceCalls(conformanceCalls(cat));
  assert.ok(n >= 15, `ran ${n}`);
});

test('glob.match passes the single-call cases of opa-conformance/globmatch', () => {
  const n = runConformanceCalls(conformanceCalls('globmatch'));
  assert.ok(n >= 25, `ran ${n}`);
});

test("glob.match: malformed patterns fail with gobwas/glob's lexer and parser texts; what it tolerates matches", () => {
  // gobwas/glob v0.2.3: a lexer error replaces every token of its item; parserRange checks lo/hi/chars.
  const errors: Array<[string, string]> = [
    ['[a', 'unexpected end of input'],
    ['[a-', 'unexpected end of input'],
    ['[a-]', 'unexpected end of input'],
    ['x[a-b', 'unexpected end of input'],
    ['[a-bc]', 'expected close range character'],
    ['[]', 'could not parse range'],
    ['[!]', 'could not parse range'],
    ['[z-a]', "hi character 'a' should be greater than lo 'z'"],
    ['[a-]]', "hi character ']' should be greater than lo 'a'"],
  ];
  for (const [pattern, text] of errors) {
    expectError('glob.match', [pattern, [], 'a'], `glob.match: ${text}`, 'eval_builtin_error');
  }
  expectCall('glob.match', ['a\\', [], 'a'], true); // a trailing backslash escapes nothing
  expectCall('glob.match', ['{a,b', [], 'b'], true); // alternatives left open end with the pattern
  expectCall('glob.match', ['}', [], '}'], true);
  expectCall('glob.match', ['[\\]]', [], ']'], true);
  expectCall('glob.match', ['[[:alpha:]]', [], 'a]'], true); // no POSIX classes: a list `[:alph` then `]`
  expectCall('glob.match', ['[[:alpha:]]', [], 'a'], false);
  expectError('glob.match', ['a', ['ab'], 'a'], 'glob.match: operand 2 must be array of runes but got array containing string', 'eval_type_error');
  expectError('glob.match', ['a', [1], 'a'], 'glob.match: operand 2 must be array of strings but got array containing number', 'eval_type_error');
  expectError('glob.match', ['a', 'x', 'a'], 'glob.match: operand 2 must be one of {array, null} but got string', 'eval_type_error');
});

test('glob.match stays fast where a backtracking matcher explodes', () => {
  const t0 = performance.now();
  expectCall('glob.match', ['*a*a*a*a*a*a*b', [], 'a'.repeat(120)], false);
  expectCall('glob.match', ['**a**a**a**a**a**a**a**b', null, 'a'.repeat(5000)], false);
  expectCall('glob.match', ['{*a,*b}{*a,*b}{*a,*b}{*a,*b}c', null, 'ab'.repeat(2000)], false);
  expectCall('glob.match', ['*a*a*a*a*a*a*b', [], 'a'.repeat(120) + 'b'], true);
  assert.ok(performance.now() - t0 < 2000, `took ${performance.now() - t0} ms`);
  expectCall('glob.match', ['*.{com,org}', [], 'www.example.com'], false);
  expectCall('glob.match', ['*.{com,org}', [], 'example.com'], true);
  expectCall('glob.match', ['**.{com,org}', [], 'www.example.org'], true);
  expectCall('glob.match', ['a?[!x-z][b-c]\\*', null, 'a.yc*'], false);
  expectCall('glob.match', ['a?[!x-z][b-c]\\*', null, 'a.wc*'], true);
});

test('RE2 syntax that JS spells differently is translated', () => {
  expectCall('regex.match', ['(?i)^abc$', 'ABC'], true);
  expectCall('regex.match', ['a(?i:b)c', 'aBc'], true);
  expectCall('regex.match', ['a(?i:b)c', 'aBC'], false);
  expectCall('regex.match', ['(?s)a.b', 'a\nb'], true);
  expectCall('regex.match', ['a.b', 'a\nb'], false);
  expectCall('regex.match', ['a.b', 'a\rb'], true);
  expectCall('regex.match', ['(?m)^b$', 'a\nb\nc'], true);
  expectCall('regex.match', ['^b$', 'a\nb\nc'], false);
  expectCall('regex.match', ['\\Aab\\z', 'ab'], true);
  expectCall('regex.match', ['^[[:alpha:]]+[[:^alpha:]]$', 'abc1'], true);
  expectCall('regex.match', ['^\\pL+\\p{Greek}$', 'abγ'], true);
  expectCall('regex.match', ['^\\Qa.b\\E$', 'a.b'], true);
  expectCall('regex.match', ['^\\Qa.b\\E$', 'axb'], false);
  expectCall('regex.match', ['^a{2}}$', 'aa}'], true);
  expectCall('regex.match', ['^[]a]+$', ']a]'], true);
  expectCall('regex.match', ['^\\x{263a}\\x41$', '☺A'], true);
  expectCall('regex.match', ['^\\s$', '\u000b'], false);
  expectCall('regex.find_all_string_submatch_n', ['(?P<first>a)(b)?', 'a ab', -1], j('[["a","a",""],["ab","a","b"]]'));
  expectCall('regex.find_n', ['a+?', 'aaa', 2], j('["a","a"]'));
  expectCall('regex.find_n', ['(?U)a+', 'aaa', -1], j('["a","a","a"]'));
});

test('regex.replace expands Go templates: $1x is the group named "1x"', () => {
  expectCall('regex.replace', ['foo', '(foo)', '$1$1'], 'foofoo');
  expectCall('regex.replace', ['foo', '(foo)', '$1x'], '');
  expectCall('regex.replace', ['foo', '(foo)', '${1}x'], 'foox');
  expectCall('regex.replace', ['foo', '(?P<w>o+)', '[$w]'], 'f[oo]');
  expectCall('regex.replace', ['abc', 'x*', '-'], '-a-b-c-');
  expectCall('regex.replace', ['a$b', '\\$', '$$'], 'a$b');
});

test('regex.split and empty matches follow Go', () => {
  expectCall('regex.split', ['a', 'banana'], j('["b","n","n",""]'));
  expectCall('regex.split', ['x*', 'abc'], j('["a","b","c"]'));
  expectCall('regex.split', ['a', ''], j('[""]'));
  expectCall('regex.find_n', ['', 'ab', -1], j('["","",""]'));
});

test('what RE2 rejects is invalid here too, with Go error texts', () => {
  for (const p of ['(?=a)', '(?<=a)b', '(a)\\1', 'a**', '[z-a]', '(', ')', '[', 'a{1001}', '\\Z', '\\C', '\\k']) {
    expectCall('regex.is_valid', [p], false);
  }
  for (const p of ['a*?', '[[:word:]]', '(?P<n>x)', 'a{2,}', '\\pN', '\\141', '\\0']) expectCall('regex.is_valid', [p], true);
  expectError('regex.match', ['[', 'x'], 'error parsing regexp: missing closing ]: `[`', 'eval_builtin_error');
  expectError('regex.match', ['a**', 'x'], 'invalid nested repetition operator: `**`');
  expectError('regex.match', ['*', 'x'], 'missing argument to repetition operator: `*`');
});

test("regex builtins word bad patterns as Go's regexp/syntax does (error code, then the offending fragment)", () => {
  const cases: Array<[string, string]> = [
    ['[z-a]', 'invalid character class range: `z-a`'],
    ['[[:foo:]]', 'invalid character class range: `[:foo:]`'],
    ['\\pX', 'invalid character class range: `\\pX`'],
    ['\\q', 'invalid escape sequence: `\\q`'],
    ['\\8', 'invalid escape sequence: `\\8`'],
    ['\\C', 'invalid escape sequence: `\\C`'],
    ['\\x{110000}', 'invalid escape sequence: `\\x{110000}`'],
    ['a\\', 'trailing backslash at end of expression: ``'],
    ['(?P<>a)', 'invalid named capture: `(?P<>`'],
    ['(?<a b>x)', 'invalid named capture: `(?<a b>`'],
    ['(?<=a)', 'invalid named capture: `(?<=a)`'],
    ['(?=a)', 'invalid or unsupported Perl syntax: `(?=`'],
    ['(?P=n)', 'invalid or unsupported Perl syntax: `(?P`'],
    ['(?z)', 'invalid or unsupported Perl syntax: `(?z`'],
    ['(?i', 'invalid or unsupported Perl syntax: `(?i`'],
    ['(?im', 'invalid or unsupported Perl syntax: `(?im`'],
    ['(?i-:a)', 'invalid or unsupported Perl syntax: `(?i-:`'],
    ['(?-)', 'invalid or unsupported Perl syntax: `(?-)`'],
    ['(?--i)', 'invalid or unsupported Perl syntax: `(?--`'],
    ['a**', 'invalid nested repetition operator: `**`'],
    ['a++', 'invalid nested repetition operator: `++`'],
    ['x{2}{3}', 'invalid nested repetition operator: `{2}{3}`'],
    ['a{1001}', 'invalid repeat count: `{1001}`'],
    ['x{1,1001}', 'invalid repeat count: `{1,1001}`'],
    ['a{2,1}', 'invalid repeat count: `{2,1}`'],
    ['*a', 'missing argument to repetition operator: `*`'],
    ['??', 'missing argument to repetition operator: `??`'],
    ['|*', 'missing argument to repetition operator: `*`'],
    ['(*)', 'missing argument to repetition operator: `*`'],
    ['[a', 'missing closing ]: `[a`'],
    ['(a', 'missing closing ): `(a`'],
    ['a)', 'unexpected ): `a)`'],
  ];
  for (const [pattern, text] of cases) {
    expectError('regex.match', [pattern, 'x'], `regex.match: error parsing regexp: ${text}`, 'eval_builtin_error');
    expectCall('regex.is_valid', [pattern], false);
  }
  // Valid in RE2 though a JS RegExp would refuse them: quantified empty-width assertions, empty flag groups,
  // a capture name used twice (it names the leftmost group).
  for (const p of ['\\b*x', '^*a', '\\A*a', '(?)a', '(?i-s:a)', '(?P<n>a)(?P<n>b)', '(?<n>a)']) expectCall('regex.is_valid', [p], true);
  expectCall('regex.match', ['\\b*x$', 'x'], true);
  expectCall('regex.replace', ['ab', '(?P<n>a)(?P<n>b)', '[${n}]'], '[a]');
});

test('regex.template_match matches literal text around delimited regexes', () => {
  expectCall('regex.template_match', ['urn:foo:{.*}', 'urn:foo:bar:baz', '{', '}'], true);
  expectCall('regex.template_match', ['urn:foo.bar:{[0-9]{2}}', 'urn:foo.bar:42', '{', '}'], true);
  expectCall('regex.template_match', ['urn:foo.bar:{[0-9]{2}}', 'urn:fooXbar:42', '{', '}'], false);
  expectError('regex.template_match', ['urn:{x', 'x', '{', '}'], 'unbalanced braces');
});

test('regex.globs_match decides whether two globs share a string (opa-conformance/globsmatch)', () => {
  expectCall('regex.globs_match', ['a.a.[0-9]+z', '.b.b2359825792*594823z'], true);
  expectCall('regex.globs_match', ['[a-z]+', '[0-9]*'], false);
  expectCall('regex.globs_match', ['[a-z]+\\[[0-9]+\\]', 'foo\\[1\\]'], true);
  expectCall('regex.globs_match', ['[a-z]+\\[[0-9]+\\]', 'foo["bar"]'], false);
  expectCall('regex.globs_match', ['a*b*', 'b+'], true);
  // glob-intersection looks for a non-empty common string: `a*` and the empty glob share only "".
  expectCall('regex.globs_match', ['a*', ''], false);
  expectCall('regex.globs_match', ['a+', ''], false);
  expectError('regex.globs_match', ['pqrs]', '[a-b]+'], "input:pqrs], pos:5, set-close ']' with no preceding '[': the input provided is invalid", 'eval_builtin_error');
  expectError('regex.globs_match', ['*a', 'a'], "flag '*' must be preceded by a non-flag");
});

test('glob.quote_meta escapes glob metacharacters', () => {
  expectCall('glob.quote_meta', ['*.github.com'], '\\*.github.com');
  expectCall('glob.match', ['\\*.github.com', [], '*.github.com'], true);
  expectCall('glob.match', ['api.**.com', ['.'], 'api.cdn.github.com'], true);
});

test('regex and glob builtins never fail with anything but a BuiltinError on arbitrary patterns', () => {
  const defs = [...regexBuiltins, ...globBuiltins, ...globsBuiltins];
  fc.assert(
    fc.property(fc.constantFrom(...defs), fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (def, p, s) => {
      const args = [p, s, def.name.endsWith('_n') ? -1 : s, '}'];
      if (def.name === 'glob.match') callNoCrash(def.name, [p, ['.'], s]);
      else callNoCrash(def.name, args.slice(0, def.arity));
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('a', '(', ')', '[', ']', '{', '}', '*', '+', '?', '\\', '^', '$', '|', ':', '-', 'P', '<', '>', 'i', '1', ','), maxLength: 14 }), (p) => {
      callNoCrash('regex.match', [p, 'a(b)[c]{1}']);
      callNoCrash('glob.match', [p, null, 'a(b)[c]{1}']);
    }),
    { numRuns: 3000 },
  );
});
