import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, VERSION } from './program.js';
import { bufferIO } from './io.js';

test('prints its version', async () => {
  const io = bufferIO();
  assert.equal(await run(['--version'], io), 0);
  assert.equal(io.out().trim(), VERSION);
});

test('an unknown command exits 1 with a message', async () => {
  const io = bufferIO();
  assert.equal(await run(['no-such-command'], io), 1);
  assert.match(io.err(), /unknown command/);
});

test('top-level help lists every command group, and a named group loads on its own', async () => {
  const io = bufferIO();
  assert.equal(await run(['--help'], io), 0);
  for (const group of ['kbs', 'krun', 'snp', 'policy', 'measure', 'verity', 'initdata', 'pcr']) assert.match(io.out(), new RegExp(`^  ${group}\\b`, 'm'));
  const one = bufferIO();
  assert.equal(await run(['pcr', '--help'], one), 0);
  assert.match(one.out(), /Usage: cocokit pcr/);
});
