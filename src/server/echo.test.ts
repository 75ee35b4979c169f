import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bounded, echo, ECHO_CHARS, MESSAGE_CHARS } from './echo.js';
import { clientKey } from './auth-limiter.js';

test('echo quotes short strings as JSON and cuts long ones to 64 characters plus "…"', () => {
  assert.equal(echo('snp'), '"snp"');
  assert.equal(echo('x'.repeat(64)), `"${'x'.repeat(64)}"`);
  assert.equal(echo('x'.repeat(1_000_000)), `"${'x'.repeat(64)}"…`);
  assert.equal(echo(42), '42');
  assert.equal(echo(undefined), 'undefined');
  assert.equal(echo({ a: 'b'.repeat(100) }), `${JSON.stringify({ a: 'b'.repeat(100) }).slice(0, 64)}…`);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(echo(cyclic), 'object');
});

test('any value echoes in bounded size, and any text is bounded to the message size', () => {
  fc.assert(
    fc.property(fc.anything(), (v) => {
      // A JSON escape takes at most 6 characters per input character, plus quotes and the ellipsis.
      assert.ok(echo(v).length <= ECHO_CHARS * 6 + 3);
    }),
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 5000 }), (s) => {
      const b = bounded(s);
      assert.ok(b.length <= MESSAGE_CHARS + 40);
      assert.equal(b === s, s.length <= MESSAGE_CHARS);
    }),
  );
});

test('any client address string gives a bucket key without throwing, IPv6 keys never longer than a /64', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), (a) => {
      const k = clientKey(a);
      assert.equal(typeof k, 'string');
      if (a.includes(':') && !/^::ffff:\d/i.test(a)) assert.ok(k.endsWith('::/64'));
    }),
  );
});
