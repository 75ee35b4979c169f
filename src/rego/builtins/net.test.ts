import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { Engine } from '../index.js';
import { arbValue, callNoCrash, expectCall, expectError, s } from './test-support/harness.js';
import { builtins } from './net.js';

test('cidr_contains takes an IP or a CIDR, including IPv4-mapped IPv6 addresses', () => {
  expectCall('net.cidr_contains', ['10.0.0.0/8', '10.1.2.3'], true);
  expectCall('net.cidr_contains', ['10.0.0.0/8', '::ffff:10.1.2.3'], true);
  expectCall('net.cidr_contains', ['10.0.0.0/8', '10.0.0.0/7'], false);
  expectCall('net.cidr_contains', ['2001:db8::/32', '2001:db8:1::/48'], true);
  expectError('net.cidr_contains', ['10.0.0.0/8', 'nope'], 'not a valid textual representation of an IP address or CIDR: nope');
  expectError('net.cidr_contains', ['10.0.0.0/33', '10.0.0.1'], 'invalid CIDR address: 10.0.0.0/33');
});

test('cidr_expand prints addresses like Go', () => {
  expectCall('net.cidr_expand', ['192.168.1.0/30'], s('192.168.1.0', '192.168.1.1', '192.168.1.2', '192.168.1.3'));
  expectCall('net.cidr_expand', ['2001:db8::/127'], s('2001:db8::', '2001:db8::1'));
  expectCall('net.cidr_expand', ['::ffff:0:0/127'], s('0.0.0.0', '0.0.0.1'));
  expectError('net.cidr_expand', ['10.0.0.0/8'], 'too many addresses');
});

test('cidr_is_valid follows net.ParseCIDR', () => {
  for (const v of ['10.0.0.0/8', '::/0', '2001:db8::1/128', '::ffff:1.2.3.4/120']) expectCall('net.cidr_is_valid', [v], true);
  for (const v of ['10.0.0.0', '10.0.0.01/8', '10.0.0.0/33', '1::2::3/64', 'x/1', '', 1]) expectCall('net.cidr_is_valid', [v], false);
});

test('lookup_ip_addr resolves literals and localhost offline, nothing else', () => {
  expectCall('net.lookup_ip_addr', ['127.0.0.1'], s('127.0.0.1'));
  expectCall('net.lookup_ip_addr', ['localhost'], s('127.0.0.1', '::1'));
  expectError('net.lookup_ip_addr', ['example.com'], 'net.lookup_ip_addr: unallowed host: example.com', 'eval_builtin_error');
});

test('lookup_ip_addr on a name no resolver knows answers at once, without the network: OPA\'s refusal, undefined unless strict', () => {
  // OPA resolves with Go's resolver and returns its error (a builtin error); with no network here, every name
  // but a literal or localhost is refused as with an allow_net listing no host, before any lookup is tried.
  const t0 = Date.now();
  for (const name of ['nonexistent.invalid', 'example.com', 'localhost.', 'a.localhost', '', ' 127.0.0.1', '256.0.0.1']) {
    expectError('net.lookup_ip_addr', [name], `net.lookup_ip_addr: unallowed host: ${name}`, 'eval_builtin_error');
  }
  expectCall('net.lookup_ip_addr', ['::ffff:10.0.0.1'], s('10.0.0.1'));
  expectCall('net.lookup_ip_addr', ['2001:DB8::1'], s('2001:db8::1'));
  const policy = 'package p\ndefault addrs := "none"\naddrs := net.lookup_ip_addr(input.host)\n';
  const lax = new Engine();
  lax.addPolicy('p.rego', policy);
  lax.setInput({ host: 'nonexistent.invalid' });
  assert.equal(lax.evalRule('data.p.addrs'), 'none');
  const strict = new Engine({ strict: true });
  strict.addPolicy('p.rego', policy);
  strict.setInput({ host: 'nonexistent.invalid' });
  assert.throws(
    () => strict.evalRule('data.p.addrs'),
    (e: unknown) => e instanceof CocoError && e.message === 'p.rego:3: eval_builtin_error: net.lookup_ip_addr: unallowed host: nonexistent.invalid',
  );
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
});

test('net builtins never fail with anything but a BuiltinError', () => {
  const ipish = fc.string({ unit: fc.constantFrom('1', '0', '2', '5', '.', ':', '/', 'a', 'f', 'x'), maxLength: 20 });
  fc.assert(
    fc.property(fc.constantFrom(...builtins.filter((b) => b.name !== 'net.cidr_expand')), fc.oneof(ipish, arbValue()), fc.oneof(ipish, arbValue()), (def, x, y) => {
      callNoCrash(def.name, [x, y].slice(0, def.arity));
    }),
    { numRuns: 2000 },
  );
});
