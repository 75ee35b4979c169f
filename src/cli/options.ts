/**
 * Option lists written once, as data: each entry is commander's flags, the help text and, when it has one,
 * the default. An array default makes the option repeatable (each use appends to the list). `addOptions`
 * adds a list to a command in its order; `OptionValues<typeof LIST>` is the type of the values commander
 * parses from it (`--vcpu-type <type>` → `vcpuType?: string`, `--dry-run` → `dryRun?: boolean`; an option
 * with a default is always present).
 */
import type { Command } from 'commander';

export type OptionSpec = readonly [flags: string, description: string, defaultValue?: string | readonly string[]];

export function addOptions(cmd: Command, list: readonly OptionSpec[]): Command {
  for (const [flags, description, defaultValue] of list) {
    if (Array.isArray(defaultValue)) cmd.option(flags, description, (v: string, acc: string[]) => [...acc, v], [...defaultValue]);
    else if (defaultValue !== undefined) cmd.option(flags, description, defaultValue as string);
    else cmd.option(flags, description);
  }
  return cmd;
}

type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;
type OptionName<F extends string> = F extends `--${infer N} <${string}>` ? Camel<N> : F extends `--${infer N}` ? Camel<N> : never;
type OptionValue<E extends OptionSpec> = E[2] extends readonly string[] ? string[] : E[0] extends `${string} <${string}>` ? string : boolean;

export type OptionValues<L extends readonly OptionSpec[]> = {
  [E in L[number] as E[2] extends undefined ? never : OptionName<E[0]>]: OptionValue<E>;
} & {
  [E in L[number] as E[2] extends undefined ? OptionName<E[0]> : never]?: OptionValue<E>;
};
