import { test } from 'node:test';
import fc from 'fast-check';
import { arbValue, callNoCrash, expectCall, expectError, j } from './test-support/harness.js';

test('render_template substitutes fields (OPA documentation example) and follows text/template', () => {
  expectCall('strings.render_template', ['{{.test}}', j('{"test": "hello world"}')], 'hello world');
  expectCall('strings.render_template', ['{{range $i, $n := .names}}{{if $i}}, {{end}}hi {{$n}}{{end}}', j('{"names": ["a", "b"]}')], 'hi a, hi b');
  expectCall('strings.render_template', ['{{if eq .x 1}}one{{else if eq .x 2}}two{{else}}many{{end}}', j('{"x": 2}')], 'two');
  expectCall('strings.render_template', ['{{if eq .x 1}}one{{else if eq .x 2}}two{{else}}many{{end}}', j('{"x": 3}')], 'many');
  expectCall('strings.render_template', ['{{with .a}}{{.b}}{{end}}|{{len .l}}|{{index .l 1}}', j('{"a": {"b": "B"}, "l": [1, 2]}')], 'B|2|2');
  expectCall('strings.render_template', ['{{printf "%05d-%s" .n .s}} {{.m}} {{.l}}', j('{"n": 42, "s": "x", "m": {"b": 1, "a": [true]}, "l": [1, "a"]}')], '00042-x map[a:[true] b:1] [1 a]');
  expectCall('strings.render_template', ['a  {{- .x -}}  b {{/* note */}}c', j('{"x": "X"}')], 'aXb c');
  expectCall('strings.render_template', ['{{$v := .x}}{{$v}}{{$v = "y"}}{{$v}}{{.x | html}}', j('{"x": "<b>"}')], '<b>y&lt;b&gt;');
});

test('render_template renders a key the variables lack as <undefined> (OPA rendertemplate/missingkey cases)', () => {
  expectCall('strings.render_template', ['{{.testvarnotprovided}}', j('{"test": "hello world"}')], '<undefined>');
  expectCall('strings.render_template', ['test {{.foo}} {{.bar}} {{.baz}}', j('{"baz": 1}')], 'test <undefined> <undefined> 1');
  expectCall('strings.render_template', ['{{.a.b.c}}|{{.a.x}}|{{.n}}', j('{"a": {"b": {}}, "n": null}')], '<undefined>|<undefined>|<no value>');
  expectCall('strings.render_template', ['{{if .nope}}yes{{else}}no{{end}}{{with .nope}}w{{end}}', j('{}')], 'no');
  expectCall('strings.render_template', ['{{printf "%s!" .nope}}', j('{}')], '<undefined>!');
  expectCall('strings.render_template', ['{{.toString}}', j('{}')], '<undefined>');
});

test('render_template errors: bad syntax, unsupported actions', () => {
  expectError('strings.render_template', ['{{.x', j('{}')], 'unclosed action');
  expectError('strings.render_template', ['{{if .x}}a', j('{"x": 1}')], 'unexpected EOF');
  expectError('strings.render_template', ['{{template "t"}}', j('{}')], 'not supported');
  expectError('strings.render_template', ['{{nofunc 1}}', j('{}')], 'function "nofunc" not defined');
});

test('render_template never fails with anything but a BuiltinError', () => {
  const tplish = fc.string({ unit: fc.constantFrom('{{', '}}', '.', 'a', ' ', 'if', 'end', 'else', 'range', '$x', ':=', '|', 'len', '"', '(', ')', '-', '1'), maxLength: 12 });
  fc.assert(
    fc.property(tplish, arbValue(), (t, v) => {
      callNoCrash('strings.render_template', [t, j('{"a": [1, {"b": 2}], "x": "s"}')]);
      callNoCrash('strings.render_template', [t, v]);
    }),
    { numRuns: 3000 },
  );
});
