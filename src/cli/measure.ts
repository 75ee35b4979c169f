/** `cocokit measure …`: reference values from build artifacts. Each measurement lives in its own file. */
import type { Command } from 'commander';
import type { CliIO } from './io.js';

type SubRegister = (measure: Command, io: CliIO) => void;

/** Subcommand groups of `measure`, one file each (`measure-<what>.ts`). */
const SUBCOMMANDS: Array<() => Promise<{ register: SubRegister }>> = [
  () => import('./measure-uki.js'),
  () => import('./measure-snp.js'),
  () => import('./measure-krun.js'),
  () => import('./measure-tdx.js'),
];

export async function registerMeasure(program: Command, io: CliIO): Promise<void> {
  const measure = program.command('measure').description('compute reference values from build artifacts');
  for (const load of SUBCOMMANDS) (await load()).register(measure, io);
}
