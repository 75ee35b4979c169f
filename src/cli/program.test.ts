import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommanderError } from 'commander';
import { buildProgram, GROUPS, run, VERSION, type CommandGroup } from './program.js';
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

test('top-level help lists every group with its description without loading any group', async () => {
  const loaded: string[] = [];
  const spies: Record<string, CommandGroup> = Object.fromEntries(
    Object.entries(GROUPS).map(([name, g]) => [name, { description: g.description, load: async () => (loaded.push(name), g.load()) }]),
  );
  for (const argv of [['--help'], ['-h'], [], ['help'], ['--version'], ['no-such-group']]) {
    const io = bufferIO();
    const program = await buildProgram(io, argv, spies);
    await program.parseAsync(argv, { from: 'user' }).catch((e) => assert.ok(e instanceof CommanderError, String(e)));
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
      // Without arguments commander prints the same help on stderr.
      const help = io.out() + io.err();
      for (const [name, g] of Object.entries(GROUPS)) assert.ok(help.includes(`  ${name}`) && help.replace(/\s+/g, ' ').includes(g.description.split(' ').slice(0, 4).join(' ')), `${name} missing from help`);
    }
  }
  assert.deepEqual(loaded, []);
  await buildProgram(bufferIO(), ['help', 'pcr'], spies);
  await buildProgram(bufferIO(), ['verity', '--help'], spies);
  assert.deepEqual(loaded, ['pcr', 'verity'], 'a named group, and only it, is loaded');
});

test('each group description printed by top-level help is the one the loaded group registers', async () => {
  const root = await buildProgram(bufferIO());
  assert.deepEqual(
    root.commands.filter((c) => c.name() !== 'help').map((c) => [c.name(), c.description()]),
    Object.entries(GROUPS).map(([name, g]) => [name, g.description]),
  );
});
