/**
 * The `cocokit` command tree. Each command group lives in its own file and exports `register(program, io)`;
 * a command is a library call plus formatting, nothing more.
 */
import { Command, CommanderError } from 'commander';
import { cliError } from './exit-codes.js';
import type { CliIO } from './io.js';

export type Register = (program: Command, io: CliIO) => void | Promise<void>;

export interface CommandGroup {
  /** The group's one-line description, as its `register` sets it (top-level help prints it without loading). */
  description: string;
  load: () => Promise<{ register: Register }>;
}

/**
 * Command groups by name, in help order; each file exports `register`. Only the group named on the command
 * line is loaded (a group may pull in a server, a policy engine or a worker pool), so `cocokit verity …` pays
 * for verity alone, and top-level help loads none: it is printed from the names and descriptions here.
 * `cocokit kbs serve …` registers the server's command alone (kbs-command.ts).
 */
export const GROUPS: Record<string, CommandGroup> = {
  // `kbs workload …` lives in its own file and attaches to the kbs command.
  kbs: {
    description: 'Key Broker Service (Trustee KBS protocol 0.4.0): server, guest client, admin client',
    load: async () => ({
      register: async (program, io) => {
        await (await import('./kbs.js')).register(program, io);
        await (await import('./workload.js')).register(program, io);
      },
    }),
  },
  krun: { description: 'buildah confidential-workload images for libkrun (KRUN footer, registration)', load: () => import('./krun.js') },
  snp: { description: 'AMD SEV-SNP attestation reports: show, verify, fetch VCEKs, test roots and synthetic reports', load: () => import('./snp.js') },
  tdx: { description: 'Intel TDX DCAP quotes: show, verify, fetch collateral, test roots and synthetic quotes', load: () => import('./tdx.js') },
  policy: { description: 'evaluate Rego policies and run the OPA conformance suite', load: () => import('./policy.js') },
  measure: { description: 'compute reference values from build artifacts', load: async () => ({ register: (await import('./measure.js')).registerMeasure }) },
  verity: { description: 'dm-verity hash trees (veritysetup format|verify|dump)', load: () => import('./verity.js') },
  initdata: { description: 'CoCo init-data: digest, TEE binding, Kata annotation', load: () => import('./initdata.js') },
  rv: { description: 'reference values: import signed statements of expected measurements', load: () => import('./rv.js') },
  pcr: { description: 'TPM PCR readings', load: () => import('./pcr.js') },
  tpm: { description: 'TPM 2.0 quotes and event logs', load: () => import('./tpm.js') },
  azure: { description: 'Azure confidential VMs (SEV-SNP or TDX under a paravisor vTPM)', load: () => import('./azure.js') },
  inspect: { description: 'annotate every field of attestation evidence or a launch artifact, and verify it where possible', load: () => import('./inspect.js') },
};

/**
 * The command tree for `argv`: the group it names (also `help <group>`), or — when it names none — a
 * placeholder per group carrying its name and description, enough for top-level help, `--version` and
 * "unknown command" suggestions. Without `argv`, every group is loaded (the whole tree, for tests and docs).
 */
export async function buildProgram(io: CliIO, argv?: readonly string[], groups: Record<string, CommandGroup> = GROUPS): Promise<Command> {
  const program = new Command('cocokit')
    .description('Confidential Containers attestation: KBS, TEE verifiers, reference values, Rego policy')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  const words = (argv ?? []).filter((a) => !a.startsWith('-'));
  const named = words[0] === 'help' ? words[1] : words[0];
  if (argv === undefined) {
    for (const g of Object.values(groups)) await (await g.load()).register(program, io);
  } else if (groups === GROUPS && argv[0] === 'kbs' && argv[1] === 'serve') {
    // Starting a server: the `kbs` command with `serve` alone, not the client and admin commands beside it.
    (await import('./kbs-command.js')).registerServeOnly(program, io);
  } else if (named !== undefined && Object.hasOwn(groups, named)) {
    await (await groups[named].load()).register(program, io);
  } else {
    for (const [name, g] of Object.entries(groups)) program.command(name).description(g.description);
  }
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
    const err = cliError(e);
    io.stderr(`error[${err.code}]: ${err.message}\n`);
    return err.exitCode;
  }
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}
