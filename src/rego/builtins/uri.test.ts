import { test } from 'node:test';
import fc from 'fast-check';
import { callNoCrash, expectCall, expectError, j } from './test-support/harness.js';

// The conformance cases of opa-conformance/uribuiltins run in conformance-calls.test.ts; these pin Go
// net/url behaviour around them.

test('uri.parse splits scheme, authority, path, query and fragment like net/url', () => {
  expectCall('uri.parse', ['https://user:pw@example.com:8443/a%20b?x=1&y=2#f%20g'], j('{"scheme": "https", "hostname": "example.com", "port": "8443", "path": "/a b", "raw_path": "/a%20b", "raw_query": "x=1&y=2", "fragment": "f g"}'));
  expectCall('uri.parse', ['/relative/only'], j('{"path": "/relative/only", "raw_path": "/relative/only"}'));
  expectCall('uri.parse', ['HTTP://EXAMPLE.com'], j('{"scheme": "http", "hostname": "EXAMPLE.com"}'));
  expectError('uri.parse', ['http://[::1/'], "missing ']' in host");
  expectError('uri.parse', ['1http:x'], 'first path segment in URL cannot contain colon');
  expectCall('uri.is_valid', ['http://exa mple.com/'], false);
});

test('uri.parse quotes the URL and its bad parts as Go\'s strconv.Quote does', () => {
  // net/url's errors format the URL and the offending text with %q: control characters as \x01 or \a, a
  // character cut by the three-byte escape window as its bytes.
  expectError('uri.parse', ['http://a\u0001b/'], 'uri.parse: parse "http://a\\x01b/": net/url: invalid control character in URL');
  expectError('uri.parse', ['http://h:p\u0007/'], 'uri.parse: parse "http://h:p\\a/": net/url: invalid control character in URL');
  expectError('uri.parse', ['http://x/%€'], 'uri.parse: parse "http://x/%€": invalid URL escape "%\\xe2\\x82"');
  expectError('uri.parse', ['http://x/%e2%8'], 'uri.parse: parse "http://x/%e2%8": invalid URL escape "%8"');
  expectError('uri.parse', ['http://%41b/'], 'uri.parse: parse "http://%41b/": invalid URL escape "%41"');
});

test('uri builtins never fail with anything but a BuiltinError', () => {
  const urlish = fc.string({ unit: fc.constantFrom('h', ':', '/', '?', '#', '%', '2', 'f', '@', '[', ']', '.', ' ', 'é'), maxLength: 24 });
  fc.assert(
    fc.property(urlish, (u) => {
      callNoCrash('uri.parse', [u]);
      callNoCrash('uri.is_valid', [u]);
    }),
    { numRuns: 3000 },
  );
});
