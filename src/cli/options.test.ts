/**
 * Option lists as data: commander parses what `addOptions` added (defaults, repeatable lists, switches), in
 * the list's order in the help, and `OptionValues` types the parsed values by the flags' own names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { addOptions, type OptionSpec, type OptionValues } from './options.js';

const LIST = [
  ['--vcpu-type <type>', 'a value'],
  ['--vmm-type <type>', 'a value with a default', 'QEMU'],
  ['--trusted-key <pem>', 'repeatable', []],
  ['--dry-run', 'a switch'],
] as const satisfies readonly OptionSpec[];

type Values = OptionValues<typeof LIST>;
// Compile-time checks: these assignments fail to typecheck if the derived names or types drift.
const _full: Values = { vcpuType: 'EPYC', vmmType: 'ec2', trustedKey: ['a'], dryRun: true };
const _least: Values = { vmmType: 'QEMU', trustedKey: [] };
// @ts-expect-error an option with a default is always present
const _missing: Values = { trustedKey: [] };
// @ts-expect-error a switch is a boolean
const _wrong: Values = { vmmType: 'QEMU', trustedKey: [], dryRun: 'yes' };

function parse(argv: string[]): Values {
  const cmd = addOptions(new Command('t').exitOverride().configureOutput({ writeErr: () => undefined }), LIST);
  cmd.parse(argv, { from: 'user' });
  return cmd.opts() as Values;
}

test('defaults apply when a flag is absent; a repeatable flag collects every use; a switch is true when given', () => {
  assert.deepEqual(parse([]), { vmmType: 'QEMU', trustedKey: [] });
  assert.deepEqual(parse(['--vcpu-type', 'EPYC-Milan', '--vmm-type', 'gce', '--trusted-key', 'a.pem', '--trusted-key', 'b.pem', '--dry-run']), {
    vcpuType: 'EPYC-Milan',
    vmmType: 'gce',
    trustedKey: ['a.pem', 'b.pem'],
    dryRun: true,
  });
  // The default list is not shared between parses.
  assert.deepEqual(parse([]).trustedKey, []);
});

test('the help lists the options in the list order with their defaults', () => {
  const help = addOptions(new Command('t'), LIST).helpInformation();
  const flags = help.split('\n').map((l) => /^\s+(--[\w-]+)/.exec(l)?.[1]).filter((f) => f !== undefined);
  assert.deepEqual(flags, ['--vcpu-type', '--vmm-type', '--trusted-key', '--dry-run']);
  assert.match(help, /a value with a default \(default: "QEMU"\)/);
  assert.match(help, /repeatable \(default: \[\]\)/);
});

test('a value flag without its value is a commander error, not a crash', () => {
  assert.throws(() => parse(['--vmm-type']), (e: unknown) => (e as { code?: string }).code === 'commander.optionMissingArgument');
  assert.throws(() => parse(['--unknown']), (e: unknown) => (e as { code?: string }).code === 'commander.unknownOption');
});
