import { test } from 'node:test';
import fc from 'fast-check';
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

test('net builtins never fail with anything but a BuiltinError', () => {
  const ipish = fc.string({ unit: fc.constantFrom('1', '0', '2', '5', '.', ':', '/', 'a', 'f', 'x'), maxLength: 20 });
  fc.assert(
    fc.property(fc.constantFrom(...builtins.filter((b) => b.name !== 'net.cidr_expand')), fc.oneof(ipish, arbValue()), fc.oneof(ipish, arbValue()), (def, x, y) => {
      callNoCrash(def.name, [x, y].slice(0, def.arity));
    }),
    { numRuns: 2000 },
  );
});
