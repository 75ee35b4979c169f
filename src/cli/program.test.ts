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

test('every command and subcommand prints its help', async () => {
  const { buildProgram } = await import('./program.js');
  const root = await buildProgram(bufferIO());
  const paths: string[][] = [];
  const walk = (cmd: typeof root, path: string[]): void => {
    for (const sub of cmd.commands) {
      if (sub.name() === 'help') continue;
      paths.push([...path, sub.name()]);
      walk(sub, [...path, sub.name()]);
    }
  };
  walk(root, []);
  assert.ok(paths.length > 20, `only ${paths.length} commands found`);
  for (const path of paths) {
    const io = bufferIO();
    assert.equal(await run([...path, '--help'], io), 0, `${path.join(' ')} --help: ${io.err()}`);
    assert.match(io.out(), new RegExp(`Usage: cocokit ${path.join(' ')}`));
  }
});
