/**
 * `glob.match` and `regex.globs_match` against the lexers OPA builds them on: gobwas/glob (syntax/lexer and
 * syntax/ast/parser) and yashtewari/glob-intersection (tokenize.go). Each row is derived by walking the
 * library's lexer by hand over the pattern, not from this engine's output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Value } from '../value.js';
import { Engine } from '../index.js';
import { CocoError } from '../../errors.js';
import { BuiltinError, BuiltinPanic } from './registry.js';
import { call, expectCall, expectError } from './test-support/harness.js';

const E = 'eval_builtin_error';

test('glob.match: a NUL reads as the end of input, U+FFFD as a rune that cannot be read', () => {
  // gobwas's end-of-input rune is 0: at the start of an item a NUL ends the pattern, inside a text item it is
  // consumed and dropped, inside `[…]` it is an unexpected end.
  expectCall('glob.match', ['a\u0000b', [], 'ab'], true);
  expectCall('glob.match', ['a\u0000b', [], 'a\u0000b'], false);
  expectCall('glob.match', ['\u0000b', [], ''], true);
  expectCall('glob.match', ['\u0000b', [], 'b'], false);
  expectCall('glob.match', ['*\u0000b', [], 'xyz'], true);
  expectCall('glob.match', ['a\\\u0000b', [], 'ab'], true); // an escaped NUL is dropped as well
  expectCall('glob.match', ['[a\u0000]', [], 'a'], true); // the list's text ends at the NUL, then `]` closes it
  expectCall('glob.match', ['\u0000\ufffd', [], ''], true); // the pattern ended before the bad rune
  expectError('glob.match', ['[\u0000]', [], 'a'], 'glob.match: unexpected end of input', E);
  expectError('glob.match', ['[a-\u0000]', [], 'a'], 'glob.match: unexpected end of input', E);
  // utf8.RuneError on decoding: the lexer records `could not read rune`; inside `[…]` the range's own
  // end-of-input error replaces it.
  for (const p of ['\ufffd', 'a\ufffd', '*\ufffd', '{a,\ufffd}', '?\ufffd', 'a\ud800']) {
    expectError('glob.match', [p, [], 'a'], 'glob.match: could not read rune', E);
  }
  for (const p of ['[\ufffd]', '[a\ufffd]', '[!\ufffd]', '[a-\ufffd]']) {
    expectError('glob.match', [p, [], 'a'], 'glob.match: unexpected end of input', E);
  }
});

test('glob.match: lexer and parser errors, and what the lexer tolerates', () => {
  const errors: Array<[string, string]> = [
    ['[', 'unexpected end of input'],
    ['[!', 'unexpected end of input'],
    ['[\\', 'unexpected end of input'],
    ['a[b-', 'unexpected end of input'],
    ['[ab', 'unexpected end of input'],
    ['[a-bc]', 'expected close range character'],
    ['[!]a]', 'could not parse range'],
    ['[!]]', 'could not parse range'],
    ['{a,[]}', 'could not parse range'],
    ['[b-a]', "hi character 'a' should be greater than lo 'b'"],
  ];
  for (const [pattern, text] of errors) expectError('glob.match', [pattern, [], 'a'], `glob.match: ${text}`, E);
  // A list's text runs to the `]`: `[ab-c]` is the list a, b, -, c.
  expectCall('glob.match', ['[ab-c]', [], '-'], true);
  // `[!!]`: the first `!` negates, the second is the list's text.
  expectCall('glob.match', ['[!!]', [], '!'], false);
  expectCall('glob.match', ['[!!]', [], 'a'], true);
  // `[a-b]]` is the range, then the text `]`.
  expectCall('glob.match', ['[a-b]]', [], 'b]'], true);
  // `]` as the range's lo, `-` as a list's text once escaped.
  expectCall('glob.match', ['[]-a]', [], '^'], true);
  expectCall('glob.match', ['[\\-a]', [], '-'], false); // `\` is the lo of a range `\`..`a`, and `-` is below it
  expectCall('glob.match', ['[\\-a]', [], '_'], true);
  // `{` left open ends with the pattern; `,` and `}` outside alternatives are text; empty alternatives match "".
  expectCall('glob.match', ['{a', [], 'a'], true);
  expectCall('glob.match', ['x{a,b', [], 'xb'], true);
  expectCall('glob.match', ['a,b}', [], 'a,b}'], true);
  expectCall('glob.match', ['{,}', [], ''], true);
  expectCall('glob.match', ['{a,,b}', [], ''], true);
  expectCall('glob.match', ['{a,{b,{c,d}}}', [], 'd'], true);
  expectCall('glob.match', ['{a,{b,{c,d}}}', [], 'e'], false);
  expectCall('glob.match', ['{a\\,b}', [], 'a,b'], true);
  // `***` is super then any; `[!x]` matches a delimiter, `?` does not.
  expectCall('glob.match', ['***', [], 'a.b'], true);
  expectCall('glob.match', ['[!x]', [], '.'], true);
  expectCall('glob.match', ['?', [], '.'], false);
  expectCall('glob.match', ['?', null, '.'], true);
  expectCall('glob.match', ['*', ['/'], 'a.b'], true);
  expectCall('glob.match', ['*', ['/'], 'a/b'], false);
  expectCall('glob.match', ['a*', ['\u00e9'], 'ab\u00e9'], false);
});

// Rows below are traced by hand through gobwas/glob v0.2.3's compiler (compiler/compiler.go) and matchers
// (match/*.go): which matchers a pattern becomes, then what each does with the UTF-8 bytes of the text.
test('glob.match on multi-byte text: a fixed-length row cuts each part one byte past its last rune start', () => {
  // `?b` is a row of `?` and `b`: `?` gets the first byte of `é` alone (U+FFFD, not a delimiter, so it
  // passes), then `b` gets the second byte of `é`.
  expectCall('glob.match', ['?b', [], 'ab'], true);
  expectCall('glob.match', ['?b', [], '\u00e9b'], false);
  // The last part of a row gets one byte too, and `?` takes U+FFFD: a trailing `?` still matches…
  expectCall('glob.match', ['b?', [], 'b\u00e9'], true);
  expectCall('glob.match', ['b[!x]', [], 'b\u00e9'], true);
  // …while a list or range looking for the rune itself sees U+FFFD instead.
  expectCall('glob.match', ['b[\u00e9x]', [], 'b\u00e9'], false);
  expectCall('glob.match', ['b[\u00e0-\u00ff]', [], 'b\u00e9'], false);
  // Literal text split from the rest of a row fails on its own multi-byte rune: `[é]` is the text `é`.
  expectCall('glob.match', ['\u00e9?', [], '\u00e9a'], false);
  expectCall('glob.match', ['[\u00e9]b', [], '\u00e9b'], false);
  expectCall('glob.match', ['[\u00e9x]b', [], '\u00e9b'], false);
  expectCall('glob.match', ['{\u00e9,x}?', [], '\u00e9a'], false);
  expectCall('glob.match', ['{\u00e9,x}?', [], 'xa'], true);
  // The row first counts the text in runes: `a?b` is three runes long like `aéb`, and still fails inside.
  expectCall('glob.match', ['a?b', ['x'], 'a\u00e9b'], false);
  expectCall('glob.match', ['a?b', ['x'], 'acb'], true);
  // One part alone is matched whole, so a lone `?`, list or range takes a multi-byte rune.
  expectCall('glob.match', ['?', ['.'], '\u00e9'], true);
  expectCall('glob.match', ['?', ['\u00e9'], '\u00e9'], false);
  expectCall('glob.match', ['[\u00e0-\u00ff]', [], '\u00e9'], true);
  expectCall('glob.match', ['[!\u00e9]', [], '\u00e9'], false);
  expectCall('glob.match', ['a?', ['.'], 'a\u00e9'], true);
  // Without delimiters the row is the same; with `é` as the delimiter, a row's trailing `?` reads U+FFFD, no
  // delimiter, so it takes `é` — while a lone `?` reads `é` whole and refuses it.
  expectCall('glob.match', ['?b', null, '\u00e9b'], false);
  expectCall('glob.match', ['*a?', null, 'a\u00e9'], false);
  expectCall('glob.match', ['*\u00e9', null, 'a\u00e9'], true);
  expectCall('glob.match', ['a?', ['\u00e9'], 'a\u00e9'], true);
  expectCall('glob.match', ['a?', ['\u00e9'], 'ab'], true);
});

test('glob.match on multi-byte text: a row found inside a longer text reports its length in runes as bytes', () => {
  // `*a?` is a tree: the row `a?` found at 0, the text after it starting 2 bytes in, i.e. inside `é`.
  expectCall('glob.match', ['*a?', ['.'], 'a\u00e9'], false);
  expectCall('glob.match', ['*a?', ['.'], 'xab'], true);
  expectCall('glob.match', ['*a?', ['.'], '\u00e9ax'], true);
});

test('glob.match on multi-byte text: runs of `?` and `*`, prefixes, suffixes and delimiters count runes', () => {
  // `??` glues into "at least and at most 2 runes, no delimiter", counted in runes.
  expectCall('glob.match', ['??', ['.'], '\u00e9\u00e9'], true);
  expectCall('glob.match', ['???', ['.'], '\u00e9\u00e9'], false);
  expectCall('glob.match', ['*?b', ['.'], '\u00e9b'], true);
  expectCall('glob.match', ['*?b', ['.'], '.b'], false);
  expectCall('glob.match', ['\u00e9*', null, '\u00e9a'], true);
  expectCall('glob.match', ['\u00e9*', ['.'], '\u00e9a.'], false);
  expectCall('glob.match', ['*\u00e9', ['.'], 'a\u00e9'], true);
  expectCall('glob.match', ['*', ['\u00e9'], 'a\u00e9b'], false);
  expectCall('glob.match', ['*b', ['\u00e9'], 'a\u00e9b'], false);
  expectCall('glob.match', ['*b', ['\u00e9'], 'aab'], true);
  expectCall('glob.match', ['\u00e9\u00e8', [], '\u00e9\u00e8'], true); // one text: compared whole
  expectCall('glob.match', ['{\u00e9,x}', [], '\u00e9'], true);
});

test('glob.match keeps gobwas quirks that show on ASCII text', () => {
  // Prefix and suffix around `**` may overlap.
  expectCall('glob.match', ['a**a', [], 'a'], true);
  expectCall('glob.match', ['ab*ba', null, 'aba'], true);
  expectCall('glob.match', ['ab*ba', [], 'aba'], false); // `*` with a delimiter is a tree, which checks
  // A tree never matches an empty string: `{a,}{a,}a` fails on `a`, `*{` matches nothing at all.
  expectCall('glob.match', ['{a,}{a,}a', [], 'a'], false);
  expectCall('glob.match', ['{a,}{a,}a', [], 'aaa'], true);
  expectCall('glob.match', ['*{', null, 'x'], false);
  // `?`, `[!…]` alone read U+FFFD from an empty text.
  expectCall('glob.match', ['?', [], ''], true);
  expectCall('glob.match', ['[!a]', [], ''], true);
  expectCall('glob.match', ['[a-z]', [], ''], false);
  // With several delimiters a run of `?`/`*` refuses only the delimiters written together.
  expectCall('glob.match', ['?*', ['.', ','], '.b.a'], true);
  expectCall('glob.match', ['?*', ['.', ','], 'a.,b'], false);
  expectCall('glob.match', ['*', ['.', ','], 'a.b'], false); // `*` alone tests each delimiter
  // Adjacent `[!…]` lists of several characters glue the same way: their characters joined, as one substring.
  expectCall('glob.match', ['[!ab][!ab]', [], 'ba'], true);
  expectCall('glob.match', ['[!ab][!ab]', [], 'ab'], false);
  expectCall('glob.match', ['[!ab]', [], 'a'], false);
  // Alternatives whose first branch has no fixed length take the second's: `{a*b,cd}` counts as 2 runes,
  // so with `x`/`y` around it the whole is a 4-rune row.
  expectCall('glob.match', ['x{a*b,cd}y', [], 'xaqqby'], false);
  expectCall('glob.match', ['x{cd,a*b}y', [], 'xaqqby'], true);
  expectCall('glob.match', ['x{a*b,cd}y', [], 'xcdy'], true);
  // A row holding an empty alternative slices past the end of the text, where Go panics; the text is the Go
  // runtime's, bounds included, and the error is an internal one (see below: it halts evaluation).
  const P = 'eval_internal_error';
  expectError('glob.match', ['a{,}', [], 'a'], 'glob.match: runtime error: slice bounds out of range [:2] with length 1', P);
  expectError('glob.match', ['?{}', ['.'], 'b'], 'glob.match: runtime error: slice bounds out of range [:2] with length 1', P);
  expectError('glob.match', ['ab{,}', [], 'ab'], 'glob.match: runtime error: slice bounds out of range [:3] with length 2', P);
  expectCall('glob.match', ['a{,}', [], 'b'], false);
  // gobwas's LastIndexAnyRunes with a multi-byte delimiter found after the start of the text shrinks its copy
  // by an index into the whole: `sub[2:]` of a 1-byte rest.
  expectError('glob.match', ['{*x}*', ['\u00e9'], 'a\u00e9xa'], 'glob.match: runtime error: slice bounds out of range [2:1]', P);
  expectError('glob.match', ['*{*b,', ['\u00e9'], 'ba\u00e9b\u00e9a'], 'glob.match: runtime error: slice bounds out of range [2:1]', P);
});

test('glob.match: nested stars stay fast', () => {
  const t0 = Date.now();
  expectCall('glob.match', ['*a*a*a*a*a*a*a*a*b', ['.'], 'a'.repeat(300) + '.b'], false);
  expectCall('glob.match', ['**a**a**a**a**a**a**a**a**c', ['.'], 'a'.repeat(300) + 'b'], false);
  expectCall('glob.match', ['*?*?*?*?*?*?*?*?c', ['.'], 'a'.repeat(300) + '.b'], false);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
});

/** Anchored regular expression for a glob without alternatives, read as the glob syntax describes it. */
function globRegex(tokens: string[], delims: string[]): RegExp {
  const not = delims.length === 0 ? '[^]' : `[^${delims.map((d) => '\\' + d).join('')}]`;
  const re = tokens
    .map((t) => {
      if (t === '*') return `${not}*`;
      if (t === '**') return '[^]*';
      if (t === '?') return not;
      if (t.startsWith('[')) return t.replace(/^\[!/, '[^').replace(/\\/g, '\\\\');
      return t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${re}$`, 'u');
}

test('glob.match on ASCII text answers as the glob syntax says, outside the quirks above', () => {
  // No alternatives, at most one delimiter, no `**`, negated lists of one character, non-empty texts: the
  // cases where gobwas's matchers are exact. Literal text is escaped for the glob lexer.
  const token = fc.oneof(
    fc.constantFrom('a', 'b', 'c', '.', '/', '-', '!', ']', ',', '}'),
    fc.constantFrom('*', '?'),
    fc.constantFrom('[ab]', '[!b]', '[a-c]', '[!a-c]', '[.]', '[!.]', '[/b]'),
  );
  fc.assert(
    fc.property(
      fc.array(token, { maxLength: 7 }),
      fc.string({ unit: fc.constantFrom('a', 'b', 'c', '.', '/', '-'), minLength: 1, maxLength: 8 }),
      fc.constantFrom<string[]>([], ['/'], ['-']),
      (tokens, text, delims) => {
        const pattern = tokens.map((t) => (t.length === 1 && '*?[]{},\\!-'.includes(t) && t !== '*' && t !== '?' ? `\\${t}` : t)).join('');
        // `**` appears only where two `*` tokens meet; count it as the super-star it lexes to.
        const lexed: string[] = [];
        for (const t of tokens) {
          if (t === '*' && lexed[lexed.length - 1] === '*') lexed[lexed.length - 1] = '**';
          else lexed.push(t);
        }
        fc.pre(!lexed.includes('**'));
        const want = globRegex(lexed, delims.length === 0 ? ['.'] : delims).test(text);
        assert.equal(call('glob.match', [pattern, delims, text]), want, `${pattern} ${JSON.stringify(delims)} ${text}`);
      },
    ),
    { numRuns: 3000 },
  );
});

test('regex.globs_match: tokenizer errors carry the input, the rune position and the reason', () => {
  const bad = (input: string, pos: number, reason: string): [string, string] => [
    input,
    `regex.globs_match: input:${input}, pos:${pos}, ${reason}: the input provided is invalid`,
  ];
  const rows: Array<[string, string]> = [
    bad(']', 1, "set-close ']' with no preceding '['"),
    bad('*', 1, "flag '*' must be preceded by a non-flag"),
    bad('+a', 1, "flag '+' must be preceded by a non-flag"),
    bad('a*+', 3, "flag '+' must be preceded by a non-flag"),
    bad('a**', 3, "flag '*' must be preceded by a non-flag"),
    bad('\\', 0, 'input ends with a \\ (escape) character'),
    bad('a\\', 1, 'input ends with a \\ (escape) character'),
    bad('[a\\', 2, 'input ends with a \\ (escape) character'),
    bad('[', 1, 'found [ without matching ]'),
    bad('[ab', 3, 'found [ without matching ]'),
    bad('[-a]', 2, "range character '-' must be preceded by a Unicode character"),
    bad('[a-c-e]', 5, "range character '-' must be preceded by a Unicode character"),
    // The library wants two more runes after `-`: the hi and the `]`.
    bad('[a-]', 3, "range character '-' must be followed by a Unicode character"),
    bad('[a-b', 3, "range character '-' must be followed by a Unicode character"),
    bad('[a--]x', 4, "range character '-' cannot be followed by a special symbol"),
    bad('[a-]]', 4, "range character '-' cannot be followed by a special symbol"),
    bad('[z-a]', 4, "range is out of order: 'a' comes before 'z' in Unicode"),
    bad('[a-\\]]', 5, "range is out of order: ']' comes before 'a' in Unicode"),
    bad('\u00e9\u00e9]', 3, "set-close ']' with no preceding '['"), // positions count runes
  ];
  for (const [input, message] of rows) expectError('regex.globs_match', [input, 'x'], message, E);
  // The first glob is tokenized first.
  expectError('regex.globs_match', ['*', ']'], 'regex.globs_match: input:*, pos:1, flag', E);
  expectError('regex.globs_match', ['a', ']'], 'regex.globs_match: input:], pos:1,', E);
  // Escaped specials are characters: `\-` in a set, `\]`, `\*`, `\.`.
  expectCall('regex.globs_match', ['[\\-a]', '-'], true);
  expectCall('regex.globs_match', ['\\*\\.', '\\*.'], true);
  expectCall('regex.globs_match', ['\\*\\.', '\\*a'], false);
  expectCall('regex.globs_match', ['\\.', 'a'], false);
  expectCall('regex.globs_match', ['[.]', 'a'], false);
  expectCall('regex.globs_match', ['[a-c]+', 'c'], true);
});

test('regex.globs_match: the samples glob-intersection tests itself with', () => {
  // non_empty_test.go of github.com/yashtewari/glob-intersection.
  const nonEmpty: Record<string, string[]> = {
    abcd: ['abcd', '....', '[a-d]*'],
    pqrs: ['.qrs', 'p.rs', 'pq.s', 'pqr.'],
    '.*': ['asdklfj', 'jasdfh', 'asdhfajfh', 'asdflkasdfjl'],
    'd*': ['[abcd][abcd]', 'd[a-z]+', '.....', '[d]*'],
    '[a-p]+': ['[p-z]+', 'apapapaapapapap', '.*', 'abcdefgh*'],
    'abcd[a-c]z+': ['abcd[b-d][yz]*', 'abcdazzzz', 'abcdbzzz', 'abcdcz'],
    '.*\\\\': ['.*'],
    '.a.a': ['b.b.', 'c.c.', 'd.d.', 'e.e.'],
  };
  const empty: Record<string, string[]> = {
    abcd: ['lsdfhda', 'abcdla', 'asdlfk', 'ksdfj'],
    '[a-d]+': ['xyz', 'p+', '[e-f]+'],
    '[0-9]*': ['[a-z]', '\\*'],
    'mamama.*': ['dadada.*', 'nanana.*'],
    '.*mamama': ['.*dadada', '.*nanana'],
    '.xyz.': ['paaap', '.*pqr.*'],
  };
  for (const [lhs, rhss] of Object.entries(nonEmpty)) for (const rhs of rhss) expectCall('regex.globs_match', [lhs, rhs], true);
  for (const [lhs, rhss] of Object.entries(empty)) for (const rhs of rhss) expectCall('regex.globs_match', [lhs, rhs], false);
});

test("regex.globs_match answers as the library's greedy walk does, also where an exact intersection differs", () => {
  // NonEmpty trims the globs, then a flagged token gobbles the other glob's tokens while they match.
  expectCall('regex.globs_match', ['a*b*c', 'c'], false); // `a*` meets `c` first and gives up; "c" is in both
  expectCall('regex.globs_match', ['.*', ''], false); // only non-empty strings count
  expectCall('regex.globs_match', ['', ''], true);
  expectCall('regex.globs_match', ['a+a+', 'a'], true); // Simplify merges `a+a+` into `a+`
  expectCall('regex.globs_match', ['a*ab', 'aab'], true);
  expectCall('regex.globs_match', ['a*b', 'a*'], false);
  expectCall('regex.globs_match', ['.*a', 'b*a*'], true);
  expectCall('regex.globs_match', ['[]', '.'], true); // a dot meets even an empty set
  expectCall('regex.globs_match', ['[]', 'a'], false);
  // Every step is memoised: many stars against a long glob stay fast.
  const t0 = Date.now();
  expectCall('regex.globs_match', ['.*'.repeat(40) + 'b', 'a'.repeat(300)], false);
  expectCall('regex.globs_match', ['a*'.repeat(40) + 'b', 'a*'.repeat(40) + 'c'], false);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
});

const GLOB_UNITS = ['a', 'b', '.', '*', '?', '[', ']', '!', '-', '{', '}', ',', '\\', '\u0000', '\ufffd', '\u00e9'];
const GLOB_ERRORS = [
  'could not read rune',
  'unexpected end of input',
  'expected close range character',
  'could not parse range',
  'unexpected end',
];

test('glob.match on random patterns: a boolean or one of the lexer and parser errors', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom(...GLOB_UNITS), maxLength: 12 }),
      fc.string({ unit: fc.constantFrom('a', 'b', '.', ',', '\u00e9'), maxLength: 8 }),
      fc.constantFrom<Value>(null, [], ['.'], [','], ['a']),
      (pattern, text, delims) => {
        let out: unknown;
        try {
          out = call('glob.match', [pattern, delims, text]);
        } catch (e) {
          assert.ok(e instanceof BuiltinError, String(e));
          const text = e.message.replace(/^glob\.match: /, '');
          if (e instanceof BuiltinPanic) {
            assert.match(text, /^runtime error: slice bounds out of range (\[:\d+\] with length \d+|\[\d+:\d+\])$/);
            return;
          }
          assert.equal(e.code, E);
          assert.ok(GLOB_ERRORS.includes(text) || /^hi character '.+' should be greater than lo '.+'$/su.test(text), e.message);
          return;
        }
        assert.equal(typeof out, 'boolean');
      },
    ),
    { numRuns: 2000 },
  );
});

test('regex.globs_match on random globs: a boolean or a tokenizer error naming the input', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom('a', 'b', '.', '*', '+', '[', ']', '-', '\\', '\u00e9'), maxLength: 10 }),
      fc.string({ unit: fc.constantFrom('a', 'b', '.', '*', '+', '[', ']', '-', '\\'), maxLength: 10 }),
      (x, y) => {
        let out: unknown;
        try {
          out = call('regex.globs_match', [x, y]);
        } catch (e) {
          assert.ok(e instanceof BuiltinError, String(e));
          assert.match(e.message, /^regex\.globs_match: input:.*, pos:\d+, .+: the input provided is invalid$/su);
          return;
        }
        assert.equal(typeof out, 'boolean');
      },
    ),
    { numRuns: 2000 },
  );
});

test('glob.match: a pattern on which gobwas panics halts evaluation, strict or not, with the panic as an internal error', () => {
  // OPA recovers no builtin panic: its evaluation dies. Here the query fails with an error, so a negation or a
  // default cannot turn the panic into a decision.
  for (const strict of [false, true]) {
    const engine = new Engine({ strict });
    engine.addPolicy('p.rego', 'package p\ndefault allow := false\nallow if not glob.match(input.pattern, [], input.name)\n');
    engine.setInput({ pattern: 'a{,}', name: 'a' });
    assert.throws(
      () => engine.evalRule('data.p.allow'),
      (e: unknown) =>
        e instanceof CocoError &&
        e.message === 'p.rego:3: eval_internal_error: glob.match: runtime error: slice bounds out of range [:2] with length 1' &&
        (e.detail as { opaCode?: string }).opaCode === 'eval_internal_error',
    );
    // The same pattern on a text where gobwas does not panic answers as usual.
    engine.setInput({ pattern: 'a{,}', name: 'b' });
    assert.equal(engine.evalRule('data.p.allow'), true);
  }
  // An ordinary builtin error stays what it was: undefined outside strict mode.
  const lax = new Engine();
  lax.addPolicy('q.rego', 'package q\ndefault bad := "undefined"\nbad := glob.match("[", [], "a")\n');
  assert.equal(lax.evalRule('data.q.bad'), 'undefined');
});
