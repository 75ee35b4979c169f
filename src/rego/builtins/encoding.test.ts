import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { arbValue, call, callNoCrash, expectCall, expectError, j, s } from './test-support/harness.js';
import { builtins } from './encoding.js';
import { BuiltinError } from './registry.js';
import { RObject, obj } from '../value.js';

test('base64 encode/decode/is_valid as in opa-conformance/base64builtins', () => {
  expectCall('base64.encode', ['hello'], 'aGVsbG8=');
  expectCall('base64.encode', ['subjects?_d'], 'c3ViamVjdHM/X2Q=');
  expectCall('base64.decode', ['c3ViamVjdHM/X2Q='], 'subjects?_d');
  expectCall('base64.is_valid', ['aGVsbG8='], true);
  expectCall('base64.is_valid', ["{'not':'base64'}"], false);
});

test('decoded bytes that are not UTF-8 count one code point per bad byte, like Go (aggregates/count with invalid utf-8)', () => {
  const decoded = call('base64.decode', ['2E84ZuPUd7zfvCZSNEchVpDEIj6PL7JfLpIqyxVG16k='])!;
  expectCall('count', [decoded], 30);
});

test('base64 errors carry Go byte offsets', () => {
  expectError('base64.decode', ['aGVsbG8'], 'illegal base64 data at input byte 4', 'eval_builtin_error');
  expectError('base64.decode', ['aGVs*G8='], 'illegal base64 data at input byte 4');
  expectCall('base64url.decode', ['aGVsbG8'], 'hello');
  expectCall('base64url.encode_no_pad', ['hello?'], 'aGVsbG8_');
  expectCall('base64url.encode', ['hello'], 'aGVsbG8=');
});

test('hex and urlquery follow Go encoding/hex and net/url', () => {
  expectCall('hex.encode', ['lorem'], '6c6f72656d');
  expectCall('hex.decode', ['6c6f72656d'], 'lorem');
  expectError('hex.decode', ['zz'], "encoding/hex: invalid byte: U+007A 'z'");
  expectError('hex.decode', ['abc'], 'encoding/hex: odd length hex string');
  expectCall('urlquery.encode', ['a b&c=d/é'], 'a+b%26c%3Dd%2F%C3%A9');
  expectCall('urlquery.decode', ['a+b%26c'], 'a b&c');
  expectError('urlquery.decode', ['%zz'], 'invalid URL escape "%zz"');
  expectCall('urlquery.encode_object', [j('{"b": ["x", "y"], "a": "1 2"}')], 'a=1+2&b=x&b=y');
  expectCall('urlquery.encode_object', [obj({ a: s('x') })], 'a=x');
  expectCall('urlquery.decode_object', ['a=1&b=x&b=y'], j('{"a": ["1"], "b": ["x", "y"]}'));
});

test('json.marshal escapes like Go; marshal_with_options pretty-prints like MarshalIndent', () => {
  expectCall('json.marshal', [j('{"b": [1, "<&>"], "a": null}')], '{"a":null,"b":[1,"\\u003c\\u0026\\u003e"]}');
  expectCall('json.marshal', [s(2, 1)], '[1,2]');
  expectCall('json.marshal_with_options', [j('{"a": [1]}'), j('{"indent": "  "}')], '{\n  "a": [\n    1\n  ]\n}');
  expectCall('json.marshal_with_options', [j('{"a": 1}'), j('{"prefix": "> ", "pretty": true}')], '> {\n> \t"a": 1\n> }');
  expectCall('json.marshal_with_options', [j('{"a": 1}'), j('{"indent": "  ", "pretty": false}')], '{"a":1}');
  expectError('json.marshal_with_options', [1, j('{"x": 1}')], 'object contained unknown key x');
  expectCall('json.unmarshal', ['{"a": [1, 18446744073709551617]}'], j('{"a": [1, 18446744073709551617]}'));
  expectError('json.unmarshal', ['{"a"'], 'json.unmarshal:');
  expectCall('json.is_valid', ['[1]'], true);
  expectCall('json.is_valid', ['[1'], false);
});

test('yaml marshal/unmarshal use go-yaml v2 conventions', () => {
  expectCall('yaml.marshal', [j('{"b": ["x", {"c": null}], "a": "yes"}')], 'a: "yes"\nb:\n- x\n- c: null\n');
  expectCall('yaml.unmarshal', ['a: 1\nb: [x, true]\n'], j('{"a": 1, "b": ["x", true]}'));
  expectCall('yaml.unmarshal', ['a: 2001-12-14\nb: 1:20\nc: yes\nd: 0777\n'], j('{"a": "2001-12-14", "b": "1:20", "c": true, "d": 511}'));
  expectCall('yaml.is_valid', ['a: [1'], false);
  expectCall('yaml.is_valid', ['a: 1'], true);
  expectError('yaml.unmarshal', ['a: [1'], "yaml.unmarshal: yaml: line 1: did not find expected ',' or ']'");
});

test("yaml.unmarshal words malformed input as go-yaml v2 does (scanner lines 1-based, parser lines go-yaml's 0-based)", () => {
  // OPA: yaml.YAMLToJSON (sigs.k8s.io/yaml over go-yaml v2) returns go-yaml's error unwrapped; topdown prefixes
  // the builtin's name. go-yaml's parser.fail leaves out `line N:` when the line it would print is 0.
  const cases: Array<[string, string]> = [
    // unclosed flow collections: the parser meets STREAM-END, or a value indicator whose key spans lines
    ['a: [1', "yaml: line 1: did not find expected ',' or ']'"],
    ['a: [1\n', "yaml: line 1: did not find expected ',' or ']'"],
    ['a: {b: 1', "yaml: line 1: did not find expected ',' or '}'"],
    ['x: 1\na: [1,\n  2\n', "yaml: line 3: did not find expected ',' or ']'"],
    ['x: 1\na: [1, 2\nb: 3\n', "yaml: line 2: did not find expected ',' or ']'"],
    ['a: {b: 1\nc: 2', "yaml: line 1: did not find expected ',' or '}'"],
    // a root flow collection left open: the parser meets STREAM-END
    ['[1, 2', "yaml: line 1: did not find expected ',' or ']'"],
    ['{a: 1', "yaml: line 1: did not find expected ',' or '}'"],
    ['[1,\n2\n', "yaml: line 2: did not find expected ',' or ']'"],
    // the quoted scalar scanner: escapes go-yaml does not know, \x \u \U without hex digits
    ['a: "\\q"', 'yaml: found unknown escape character'],
    ['x: 1\na: "\\q"', 'yaml: line 2: found unknown escape character'],
    ['a: "ab\\xZZ"', 'yaml: did not find expected hexdecimal number'],
    ['x: 1\na: "\\u12G4"', 'yaml: line 2: did not find expected hexdecimal number'],
    // anchors, aliases and verbatim tags without a name or end
    ['a: & 1', 'yaml: did not find expected alphabetic or numeric character'],
    ['a: *', 'yaml: did not find expected alphabetic or numeric character'],
    ['x: 1\nb: &', 'yaml: line 2: did not find expected alphabetic or numeric character'],
    ['a: !<x 1', "yaml: did not find the expected '>'"],
    // unclosed quotes: a scanner error at the end of the stream
    ['a: "abc', 'yaml: found unexpected end of stream'],
    ['a: "abc\n', 'yaml: line 2: found unexpected end of stream'],
    ["a: 'abc\nb: 1\n", 'yaml: line 3: found unexpected end of stream'],
    // mapping values not allowed
    ['a: b: c', 'yaml: mapping values are not allowed in this context'],
    ['x: 1\na: b: c', 'yaml: line 2: mapping values are not allowed in this context'],
    ['a: 1\n  b: 2', 'yaml: line 2: mapping values are not allowed in this context'],
    ['a:\n  b: 1\n   c: 2', 'yaml: line 3: mapping values are not allowed in this context'],
    // bad indentation
    ['a:\n  b: 1\n c: 2', 'yaml: line 2: did not find expected key'],
    ['a: 1\n- b', 'yaml: line 1: did not find expected key'],
    ['- a\nb: 1', "yaml: line 1: did not find expected '-' indicator"],
    ['- a\n- b\nc: 1', "yaml: line 2: did not find expected '-' indicator"],
    ['a:\n  - b\n  c: 1', "yaml: line 2: did not find expected '-' indicator"],
    // tabs where go-yaml's scanner looks for a token
    ['a:\n\tb: 1', 'yaml: line 2: found character that cannot start any token'],
    ['key:\tvalue', 'yaml: found character that cannot start any token'],
    ['a: 1\nkey: \tvalue', 'yaml: line 2: found character that cannot start any token'],
    ['- \tb', 'yaml: found character that cannot start any token'],
    ['a: |\n  x\ty\n\tz: 1\n', 'yaml: line 3: found character that cannot start any token'],
    ['x: 1\n\ty: 2', 'yaml: line 2: mapping values are not allowed in this context'],
    // reserved indicators, stray closers, aliases
    ['a: @b', 'yaml: found character that cannot start any token'],
    ['a: 1\nb: `c', 'yaml: line 2: found character that cannot start any token'],
    ['[1, 2]]', 'yaml: did not find expected <document start>'],
    ['a: ]', 'yaml: did not find expected node content'],
    ['a: 1\nb: }', 'yaml: line 1: did not find expected node content'],
    ['a: *x', "yaml: unknown anchor 'x' referenced"],
    // escapes across the lines of a double-quoted scalar: the line of the escape itself
    ['a: "one\n  two \\q"\n', 'yaml: line 2: found unknown escape character'],
    ['a: "one\n\n  two \\x4"\n', 'yaml: line 3: did not find expected hexdecimal number'],
    ['a: "one\\\n\n  \\q"\n', 'yaml: line 3: found unknown escape character'],
    ['k:\n  - "a\n    \\z"\n', 'yaml: line 3: found unknown escape character'],
    // \u / \U escapes for no character: surrogates, beyond U+10FFFF
    ['a: "x\\uD800"', 'yaml: found invalid Unicode character escape code'],
    ['a: "x\\U00110000"', 'yaml: found invalid Unicode character escape code'],
    ['a: 1\nb: "x\n  \\udfff"', 'yaml: line 3: found invalid Unicode character escape code'],
    // a named tag handle no %TAG directive declares (a parser error: go-yaml's 0-based line of the tag)
    ['a: !e!x 1', 'yaml: found undefined tag handle'],
    ['a: 1\nb: 2\nc: !e!x 1', 'yaml: line 2: found undefined tag handle'],
    ['- !e!x [1]', 'yaml: found undefined tag handle'],
    // go-yaml's escape set has no `\/`; a document marker at column 0 ends no quoted scalar
    ['a: "x\\/y"', 'yaml: found unknown escape character'],
    ['a: "one\n---\ntwo"', 'yaml: line 2: found unexpected document indicator'],
    ['a: "one\n... two"', 'yaml: line 2: found unexpected document indicator'],
    // an alias inside the node its anchor names, also when the anchor was defined before (go-yaml registers
    // an anchor as its node starts, so the redefinition is the one referenced)
    ['a: &x\n  b: *x\n', "yaml: anchor 'x' value contains itself"],
    ['a: &x [1, *x]', "yaml: anchor 'x' value contains itself"],
    ['a: &x 1\nb: &x {k: *x}', "yaml: anchor 'x' value contains itself"],
    ['a: &x [*x]\nb: *y', "yaml: unknown anchor 'y' referenced"], // the parser's error comes first
  ];
  for (const [text, want] of cases) {
    assert.throws(
      () => call('yaml.unmarshal', [text]),
      (e: unknown) => {
        assert.equal((e as Error).message, `yaml.unmarshal: ${want}`, JSON.stringify(text));
        return true;
      },
    );
    expectCall('yaml.is_valid', [text], false);
  }
});

test('yaml.unmarshal: anchors redefined, tags and multi-line double-quoted scalars as go-yaml v2 reads them', () => {
  // An alias refers to the latest anchor of its name defined before it.
  expectCall('yaml.unmarshal', ['a: &x 1\nb: *x\nc: &x 2\nd: *x\n'], j('{"a": 1, "b": 1, "c": 2, "d": 2}'));
  expectCall('yaml.unmarshal', ['- &a [1]\n- &a {b: 2}\n- *a\n'], j('[[1], {"b": 2}, {"b": 2}]'));
  // A tag handle declared by %TAG, and a local tag, leave the scalar a string.
  expectCall('yaml.unmarshal', ['%TAG !e! tag:example.com,2000:\n---\na: !e!x bar\n'], j('{"a": "bar"}'));
  expectCall('yaml.unmarshal', ['a: !local bar\nb: !!str 1\n'], j('{"a": "bar", "b": "1"}'));
  // Only the first document is read: an undefined handle or a bad escape after it goes unseen.
  expectCall('yaml.unmarshal', ['a: 1\n---\nb: !e!x 1\nc: "\\q"\n'], j('{"a": 1}'));
  // Continuation lines at any indentation; a line break folds to a space, empty lines stay line feeds.
  expectCall('yaml.unmarshal', ['a: "x\ny"\n'], j('{"a": "x y"}'));
  expectCall('yaml.unmarshal', ['a:\n  b: "x\n y"\n'], j('{"a": {"b": "x y"}}'));
  expectCall('yaml.unmarshal', ['a: "x  \n\n\n  y"\n'], j('{"a": "x\\n\\ny"}'));
  // An escaped line break joins without a space, and the empty lines after it are kept as line feeds.
  expectCall('yaml.unmarshal', ['a: "x\\\n   y"\n'], j('{"a": "xy"}'));
  expectCall('yaml.unmarshal', ['"a\\\n\n  b"\n'], 'a\nb');
  expectCall('yaml.unmarshal', ['a: "x\\\r\n y"\n'], j('{"a": "xy"}'));
  // Escaped blanks survive the folding: `\ ` and `\t` at a line's start, an escaped tab.
  expectCall('yaml.unmarshal', ['a: "x\\ty\\\n\\  z"\n'], j('{"a": "x\\ty  z"}'));
  expectCall('yaml.unmarshal', ['a: "one\n  \\\t two"\n'], j('{"a": "one \\t two"}'));
  // go-yaml's escapes: `\'` is one of them; \N \_ \L \P \e \0 \a and code points.
  expectCall('yaml.unmarshal', ['a: "it\\\'s"'], j('{"a": "it\'s"}'));
  expectCall('yaml.unmarshal', ['a: "\\x41\\u263A\\U0001F600\\N\\_\\L\\P\\e\\0\\a"'], j('{"a": "A\\u263a\\ud83d\\ude00\\u0085\\u00a0\\u2028\\u2029\\u001b\\u0000\\u0007"}'));
  // Quoted keys and scalars inside flow collections over several lines.
  expectCall('yaml.unmarshal', ['["a\nb", "c\\\nd"]\n'], j('["a b", "cd"]'));
  expectCall('yaml.unmarshal', ['"k\\x41": "v\n w"\n'], j('{"kA": "v w"}'));
  // A line number after a rewritten scalar is still the line in the text.
  expectError('yaml.unmarshal', ['a: "x\ny"\nb: [1'], "yaml.unmarshal: yaml: line 3: did not find expected ',' or ']'");
  // Single-quoted scalars fold the same way, at any indentation, `''` a quote and `\\` no escape.
  expectCall('yaml.unmarshal', ["a: 'x\ny'\n"], j('{"a": "x y"}'));
  expectCall('yaml.unmarshal', ["a: 'it''s\n\n ok \\q'\n"], j('{"a": "it\'s\\nok \\\\q"}'));
  expectCall('yaml.unmarshal', ["['a\nb', 'c''d']\n"], j('["a b", "c\'d"]'));
  expectError('yaml.unmarshal', ["a: 'x\n---\ny'\n"], 'yaml.unmarshal: yaml: line 2: found unexpected document indicator');
  for (const t of ['a: "x\ny"\n', 'a: "it\\\'s"', '"a\\\n\n  b"\n', "a: 'x\ny'", 'a: &x 1\nb: &x 2\nc: *x\n']) expectCall('yaml.is_valid', [t], true);
});

test('yaml.unmarshal of many under-indented double-quoted scalars stays linear and reads each one', () => {
  const n = 3000;
  const text = Array.from({ length: n }, (_, i) => `k${i}: "a${i}\nb"`).join('\n') + '\nlast: [1,\n';
  const t0 = Date.now();
  // The unclosed flow sequence after them is still found, on its line.
  expectError('yaml.unmarshal', [text], `yaml.unmarshal: yaml: line ${2 * n + 1}: did not find expected ',' or ']'`);
  const ok = Array.from({ length: n }, (_, i) => `k${i}: "a${i}\nb"`).join('\n') + '\n';
  const v = call('yaml.unmarshal', [ok]) as RObject;
  assert.equal(v.get('k0'), 'a0 b');
  assert.equal(v.get(`k${n - 1}`), `a${n - 1} b`);
  assert.ok(Date.now() - t0 < 8000, `took ${Date.now() - t0} ms`);
});

test('yaml.unmarshal of many multi-line quoted scalars stays linear: each rewritten scalar finds its column locally', () => {
  // 30000 scalars over 600 KB: finding each opening quote's column by searching back to the text's start (for
  // a kind of line break the text does not hold) made this quadratic, about ten seconds.
  const n = 30000;
  const text = Array.from({ length: n }, (_, i) => `k${i}: "a${i}\n  b"`).join('\n') + '\n';
  const t0 = Date.now();
  const v = call('yaml.unmarshal', [text]) as RObject;
  const took = Date.now() - t0;
  assert.equal(v.get('k0'), 'a0 b');
  assert.equal(v.get(`k${n - 1}`), `a${n - 1} b`);
  assert.ok(took < 5000, `took ${took} ms`);
  // Columns still come out right after CRLF line breaks and on the first line.
  expectCall('yaml.unmarshal', ['x: 1\r\nw: "a\r\n  b"\r\nz: \'c\r\n  d\'\n'], j('{"x": 1, "w": "a b", "z": "c d"}'));
  expectCall('yaml.unmarshal', ['"a\n b"\n'], 'a b');
});

test('yaml.unmarshal of one-line quoted scalars without escapes: the text between the quotes, \'\' a quote in single quotes', () => {
  const unit = fc.constantFrom('a', ' ', '#', ':', ',', '[', '}', '&', '*', '!', '|', '>', '%', '@', '`', '-', '?', '\u00e9', '\u{1F600}', '\u00a0', '\ufeff', '/');
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 12 }), fc.string({ unit, maxLength: 6 }), fc.constantFrom('k: ', '- ', '[', '{k: '), (body, more, lead) => {
      const close = lead === '[' ? ']' : lead === '{k: ' ? '}' : '';
      const dq = call('yaml.unmarshal', [`${lead}"${body}"${close}\n`]);
      const sq = call('yaml.unmarshal', [`${lead}'${body}''${more}'${close}\n`]);
      const value = (v: unknown): unknown => (v instanceof RObject ? v.get('k') : Array.isArray(v) ? v[0] : v);
      assert.equal(value(dq), body);
      assert.equal(value(sq), `${body}'${more}`);
    }),
    { numRuns: 300 },
  );
});

test('yaml.unmarshal of random quoted scalars: a string or a go-yaml scanner error, never a crash', () => {
  const unit = fc.constantFrom('a', ' ', '\t', '\n', '\r\n', '\\', '"', "'", '/', 'x', 'u', '0', 'D', '8', '-', '.', '\u00e9');
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 16 }), fc.constantFrom('a: ', '- ', '', '[', 'k:\n  - '), fc.constantFrom('"', "'"), (body, lead, q) => {
      const text = `${lead}${q}${body}${q}${lead === '[' ? ']' : ''}\n`;
      for (const name of ['yaml.unmarshal', 'yaml.is_valid']) {
        try {
          call(name, [text]);
        } catch (e) {
          assert.ok(e instanceof BuiltinError, `${JSON.stringify(text)}: ${String(e)}`);
          assert.match(e.message, /^yaml\.(unmarshal|is_valid): yaml: /);
        }
      }
    }),
    { numRuns: 1500 },
  );
});

test('yaml.unmarshal accepts what go-yaml v2 accepts: repeated keys (last wins), tabs inside scalars and after values', () => {
  expectCall('yaml.unmarshal', ['a: 1\na: 2'], j('{"a": 2}'));
  expectCall('yaml.unmarshal', ['a: "x\ty"\nb: c\t# note\nc: |\n  d\te\n'], j('{"a": "x\\ty", "b": "c", "c": "d\\te\\n"}'));
  expectCall('yaml.unmarshal', ['a: b\n  \tc'], j('{"a": "b c"}'));
  expectCall('yaml.unmarshal', ['a: 1\n\t\nb: 2'], j('{"a": 1, "b": 2}'));
  expectCall('yaml.unmarshal', ['a: [1,\n  2]\n'], j('{"a": [1, 2]}'));
  expectCall('yaml.unmarshal', ['a: 1\n---\nb: ['], j('{"a": 1}'));
  expectCall('yaml.is_valid', ['a: 1\na: 2'], true);
  // A redefined anchor: each alias refers to the definition before it (go-yaml keeps the latest).
  expectCall('yaml.unmarshal', ['a: &x 1\nb: *x\nc: &x 2\nd: *x\n'], j('{"a": 1, "b": 1, "c": 2, "d": 2}'));
  // An escaped line break joins the lines; the whitespace before it stays, the indentation after it goes.
  expectCall('yaml.unmarshal', ['a: "one \\\n    two\\tthree\n  four"\n'], j('{"a": "one two\\tthree four"}'));
  // Declared handles and the primary and secondary handles resolve; a scalar with a tag go-yaml's resolve
  // does not know stays its text. \u escapes of characters are fine.
  expectCall('yaml.unmarshal', ['%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\nb: !!str 2\nc: !local 3\nd: "\\u00e9\\U0001F600"\n'], j('{"a": "1", "b": "2", "c": "3", "d": "é😀"}'));
});

test('encoding builtins never fail with anything but a BuiltinError', () => {
  fc.assert(
    fc.property(fc.constantFrom(...builtins), fc.array(fc.oneof(arbValue(), fc.string()), { minLength: 2, maxLength: 2 }), (def, args) => {
      callNoCrash(def.name, args.slice(0, def.arity));
    }),
    { numRuns: 1000 },
  );
});

test("json.unmarshal reports syntax errors in Go encoding/json's words, reading the input as OPA's decoder does", () => {
  // OPA: util.UnmarshalJSON decodes the first value with a json.Decoder, then looks at one more token.
  const cases: Array<[string, string]> = [
    ['', 'EOF'],
    ['  \n', 'EOF'],
    ['{', 'unexpected EOF'],
    ['"abc', 'unexpected EOF'],
    ['tru', 'unexpected EOF'],
    ['1.', 'unexpected EOF'],
    ['x', "invalid character 'x' looking for beginning of value"],
    ["'a'", "invalid character '\\'' looking for beginning of value"],
    ['é', "invalid character 'Ã' looking for beginning of value"],
    ['[1,]', "invalid character ']' looking for beginning of value"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":1 "b":2}', 'invalid character \'"\' after object key:value pair'],
    ['{"a":1,}', "invalid character '}' looking for beginning of object key string"],
    ['{1:2}', "invalid character '1' looking for beginning of object key string"],
    ['[1 2]', "invalid character '2' after array element"],
    ['"a\tb"', "invalid character '\\t' in string literal"],
    ['"\\x"', "invalid character 'x' in string escape code"],
    ['"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"],
    ['-a', "invalid character 'a' in numeric literal"],
    ['1.e5', "invalid character 'e' after decimal point in numeric literal"],
    ['1e+x', "invalid character 'x' in exponent of numeric literal"],
    ['trUe', "invalid character 'U' in literal true (expecting 'u')"],
    ['nulL', "invalid character 'L' in literal null (expecting 'l')"],
    // After the first value: one more token is read.
    ['1x', "invalid character 'x' looking for beginning of value"],
    ['1 }', "invalid character '}' looking for beginning of value"],
    ['1 2', "error: invalid character '2' after top-level value"],
    ['01', "error: invalid character '1' after top-level value"],
    ['[1] [2]', "error: invalid character '[' after top-level value"],
    ['1 "a\\u0041"', "error: invalid character 'aA' after top-level value"],
    ['1 true', "error: invalid character '%!s(bool=true)' after top-level value"],
  ];
  for (const [text, want] of cases) {
    assert.throws(
      () => call('json.unmarshal', [text]),
      (e: unknown) => e instanceof Error && e.message === `json.unmarshal: ${want}`,
      `json.unmarshal(${JSON.stringify(text)})`,
    );
  }
  // A trailing null token is the one OPA lets through: the first value is the result.
  expectCall('json.unmarshal', ['{"a": [1]} null'], j('{"a": [1]}'));
  expectCall('json.unmarshal', ['1 null 2'], 1);
  expectCall('json.is_valid', ['1 null'], false);
  fc.assert(fc.property(fc.string(), (t) => callNoCrash('json.unmarshal', [t])));
});

test('json.unmarshal of nesting beyond the engine limit is a builtin error', () => {
  expectError('json.unmarshal', ['['.repeat(20000) + ']'.repeat(20000)], 'json.unmarshal: exceeded max depth');
  // Within Go's limit: a value, or this engine's own nesting limit as a builtin error, never a crash.
  callNoCrash('json.unmarshal', ['['.repeat(9999) + ']'.repeat(9999)]);
  callNoCrash('json.unmarshal', ['{"a":'.repeat(9999) + '1' + '}'.repeat(9999) + ' null']);
});
