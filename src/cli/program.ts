/**
 * The `cocokit` command tree. Each command group lives in its own file and exports `register(program, io)`;
 * a command is a library call plus formatting, nothing more.
 */
import { Command, CommanderError } from 'commander';
import { CocoError, asCocoError } from '../errors.js';
import type { CliIO } from './io.js';

export type Register = (program: Command, io: CliIO) => void | Promise<void>;

/**
 * Command groups by name, in help order; each file exports `register`. Only the group named on the command
 * line is loaded (a group may pull in a server or a worker pool), so `cocokit verity …` pays for verity alone;
 * `--help` and unknown names load them all.
 */
const GROUPS: Record<string, () => Promise<{ register: Register }>> = {
  // `kbs workload …` lives in its own file and attaches to the kbs command.
  kbs: async () => ({
    register: async (program, io) => {
      await (await import('./kbs.js')).register(program, io);
      await (await import('./workload.js')).register(program, io);
    },
  }),
  krun: () => import('./krun.js'),
  snp: () => import('./snp.js'),
  policy: () => import('./policy.js'),
  measure: async () => ({ register: (await import('./measure.js')).registerMeasure }),
  verity: () => import('./verity.js'),
  initdata: () => import('./initdata.js'),
  pcr: () => import('./pcr.js'),
  tpm: () => import('./tpm.js'),
  azure: () => import('./azure.js'),
};

export async function buildProgram(io: CliIO, argv: readonly string[] = []): Promise<Command> {
  const program = new Command('cocokit')
    .description('Confidential Containers attestation: KBS, TEE verifiers, reference values, Rego policy')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  const first = argv.find((a) => !a.startsWith('-'));
  const versionOnly = first === undefined && argv.some((a) => a === '--version' || a === '-V');
  const names = versionOnly ? [] : first !== undefined && first in GROUPS ? [first] : Object.keys(GROUPS);
  for (const name of names) await (await GROUPS[name]()).register(program, io);
  return program;
}

export const VERSION = '0.1.0';

/**
 * Runs the CLI with `argv` (without `node` and the script) and returns the exit code. Failures are printed
 * as `error[CODE]: message`; the exit code comes from the CocoError's kind (see src/errors.ts).
 */
export async function run(argv: string[], io: CliIO): Promise<number> {
  const program = await buildProgram(io, argv);
  for (const cmd of allCommands(program)) cmd.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  io.exitCode = undefined;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return io.exitCode ?? 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 1;
    }
    const err = e instanceof CocoError ? e : asCocoError(e);
    io.stderr(`error[${err.code}]: ${err.message}\n`);
    return err.exitCode;
  }
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}
