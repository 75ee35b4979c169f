import { test } from 'node:test';
import assert from 'node:assert/strict';
import { obj } from '../value.js';
import { Engine } from '../index.js';
import { call, expectCall, expectError, j, s, testContext } from './test-support/harness.js';

test('digests and HMACs match the published test vectors (FIPS 180, RFC 1321, RFC 4231)', () => {
  expectCall('crypto.md5', [''], 'd41d8cd98f00b204e9800998ecf8427e');
  expectCall('crypto.sha1', [''], 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
  expectCall('crypto.sha256', ['abc'], 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  expectCall('crypto.hmac.sha256', ['what do ya want for nothing?', 'Jefe'], '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  expectCall('crypto.hmac.equal', ['abc', 'abc'], true);
  expectCall('crypto.hmac.equal', ['abc', 'abd'], false);
});

test('semver.compare follows SemVer 2.0.0 precedence', () => {
  expectCall('semver.compare', ['1.0.0-alpha', '1.0.0'], -1);
  expectCall('semver.compare', ['1.0.0-alpha.1', '1.0.0-alpha.beta'], -1);
  expectCall('semver.compare', ['1.0.0-beta.11', '1.0.0-beta.2'], 1);
  expectCall('semver.compare', ['2.0.0', '1.9.9'], 1);
  expectCall('semver.compare', ['1.0.0+build.1', '1.0.0'], 0);
  expectError('semver.compare', ['v1.0.0', '1.0.0'], 'semver.compare: operand 1: string "v1.0.0" is not a valid SemVer');
});

test('units.parse and parse_bytes use SI and binary multipliers exactly', () => {
  expectCall('units.parse', ['10K'], 10000);
  expectCall('units.parse', ['1Ki'], 1024);
  expectCall('units.parse', ['200m'], 0.2);
  expectCall('units.parse', ['1.5M'], 1500000);
  expectError('units.parse', ['K'], 'units.parse: no amount provided');
  expectCall('units.parse_bytes', ['1KB'], 1000);
  expectCall('units.parse_bytes', ['1KiB'], 1024);
  expectCall('units.parse_bytes', ['1.5GiB'], 1610612736);
  expectCall('units.parse_bytes', ['"1.1K"'], 1100);
  expectError('units.parse_bytes', ['1 KB'], 'spaces not allowed in resource strings');
  expectError('units.parse_bytes', ['1XB'], 'byte unit xb not recognized');
});

test('walk yields every [path, value] pre-order; graph reachability follows edges', () => {
  expectCall('walk', [j('{"a": [1]}')], j('[[[], {"a": [1]}], [["a"], [1]], [["a", 0], 1]]'));
  const g = j('{"a": ["b"], "b": ["c"], "c": [], "d": ["a"]}');
  expectCall('graph.reachable', [g, s('a')], s('a', 'b', 'c'));
  expectCall('graph.reachable', [g, ['d']], s('a', 'b', 'c', 'd'));
  expectCall('graph.reachable_paths', [j('{"a": ["b"], "b": ["c"], "c": []}'), ['a']], s(j('["a", "b", "c"]')));
  expectCall('graph.reachable_paths', [j('{"a": ["b"], "b": ["a"]}'), ['a']], s(j('["a", "b"]')));
});

test('uuid.rfc4122 draws a version-4 UUID from the injected randomness; uuid.parse reads it back', () => {
  const u = call('uuid.rfc4122', ['k']) as string;
  assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expectCall('uuid.parse', [u], j('{"variant": "RFC4122", "version": 4}'));
  expectCall('uuid.parse', ['not-a-uuid'], undefined);
  // uuid.parse makes a bad string undefined, not an error; only a non-string operand is a type error.
  for (const bad of ['', 'xyz', '{6ba7b810-9dad-11d1-80b4-00c04fd430c8', '6ba7b810-9dad-11d1-80b4-00c04fd430cz', 'urn:uuid:6ba7b8109dad11d180b400c04fd430c8']) {
    expectCall('uuid.parse', [bad], undefined);
  }
  expectError('uuid.parse', [1], 'uuid.parse: operand 1 must be string but got number', 'eval_type_error');
  // uuid.rfc4122's argument is only a key: any value is accepted at run time, as OPA hashes it.
  assert.match(call('uuid.rfc4122', [1]) as string, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('http.send validates the request and then refuses network access; opa.runtime exposes the host env', () => {
  expectError('http.send', [j('{"bad_key": 1, "method": "get", "url": "http://x"}')], 'invalid request parameters(s): {"bad_key"}', 'eval_type_error');
  expectError('http.send', [j('{"method": "get"}')], 'missing required request parameters(s): {"url"}', 'eval_type_error');
  // No host is allowed: OPA's text for a host that allow_net does not list (the host without its port).
  expectError('http.send', [j('{"method": "get", "url": "http://x"}')], 'http.send: unallowed host: x', 'eval_builtin_error');
  expectError('http.send', [j('{"method": "get", "url": "https://u:p@example.com:8443/a?b"}')], 'http.send: unallowed host: example.com', 'eval_builtin_error');
  expectError('http.send', [j('{"method": "get", "url": "http://x", "raise_error": "no"}')], 'http.send: invalid value for raise_error field', 'eval_builtin_error');
  // raise_error false: a response object with status 0 and the full topdown error text at the call's location.
  expectCall('http.send', [j('{"method": "get", "url": "http://127.0.0.1:1/", "raise_error": false}')], j(
    '{"status_code": 0, "error": {"code": "eval_http_send_internal_error", "message": "p.rego:3: eval_builtin_error: http.send: unallowed host: 127.0.0.1"}}',
  ), testContext({ location: 'p.rego:3' }));
  expectCall('http.send', [j('{"method": "get", "raise_error": false}')], j(
    '{"status_code": 0, "error": {"code": "eval_http_send_internal_error", "message": "eval_type_error: http.send: missing required request parameters(s): {\\"url\\"}"}}',
  ));
  const engine = new Engine();
  engine.addPolicy('p.rego', 'package p\n\nr := http.send({"method": "get", "url": "http://example.com", "raise_error": false})\n');
  assert.deepEqual(engine.evalRule('data.p.r'), {
    error: { code: 'eval_http_send_internal_error', message: 'p.rego:3: eval_builtin_error: http.send: unallowed host: example.com' },
    status_code: 0,
  });
  expectCall('opa.runtime', [], obj({}));
  expectCall('opa.runtime', [], obj({ env: obj({ A: 'b' }) }), testContext({ env: { A: 'b' } }));
});
