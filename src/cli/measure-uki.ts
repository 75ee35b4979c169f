/**
 * `cocokit measure uki calculate`: PCR 11 of a Unified Kernel Image, a drop-in for
 * `systemd-measure calculate` (same flags, same output), plus `--uki FILE` to read the sections from a
 * built UKI.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { CocoError } from '../errors.js';
import {
  fileContent,
  formatPcr11Json,
  formatPcr11Text,
  predictPcr11Parallel,
  ukiSections,
  type SectionContent,
  type SystemdRules,
  type UkiSection,
} from '../measure/uki.js';
import type { CliIO } from './io.js';

/** systemd-measure's section options, in its help order; each maps to the PE section of the same name. */
const SECTION_OPTIONS: Array<[string, string]> = [
  ['linux', 'Linux kernel image file'],
  ['osrel', 'os-release file'],
  ['cmdline', 'file with kernel command line'],
  ['initrd', 'initrd image file'],
  ['ucode', 'microcode image file'],
  ['splash', 'splash bitmap file'],
  ['dtb', 'Devicetree file'],
  ['uname', "'uname -r' file"],
  ['sbat', 'SBAT file'],
  ['pcrpkey', 'public key for PCR signatures'],
];

const collect = (v: string, prev: string[]): string[] => [...prev, v];

interface CalculateOptions extends Partial<Record<string, unknown>> {
  bank: string[];
  phase: string[];
  json?: string;
  j?: boolean;
  uki?: string;
  systemd: SystemdRules;
}

export function register(measure: Command, io: CliIO): void {
  const uki = measure.command('uki').description('PCR 11 of a Unified Kernel Image (systemd-measure parity)');
  const calculate = uki
    .command('calculate')
    .description('calculate expected PCR 11 values, as `systemd-measure calculate`')
    .option('--bank <digest>', 'TPM bank (sha1, sha256, sha384, sha512, …); repeatable', collect, [])
    .option('--phase <phase>', 'boot phase, e.g. enter-initrd:leave-initrd, or ":" for sections only; repeatable', collect, [])
    .option('--json <mode>', 'output as JSON: short, pretty or off')
    .option('-j', 'same as --json=pretty on a terminal, --json=short otherwise')
    .option('--uki <file>', 'read the sections from a built UKI (PE) instead of section files')
    .addOption(
      new Option('--systemd <rules>', "whose rules to follow: 252 (Debian bookworm's stub and systemd-measure) or current upstream")
        .choices(['252', 'current'])
        .default('252'),
    );
  for (const [name, what] of SECTION_OPTIONS) calculate.option(`--${name} <path>`, `path to ${what} → .${name}`);

  calculate.action(async (o: CalculateOptions) => {
    const format = jsonMode(o, io);
    const sections: Partial<Record<UkiSection, SectionContent>> = {};
    const given = SECTION_OPTIONS.filter(([name]) => typeof o[name] === 'string');
    if (o.uki !== undefined) {
      if (given.length > 0) {
        throw new CocoError('CLI_USAGE', `--uki cannot be combined with --${given.map(([n]) => n).join(', --')}`, { kind: 'usage' });
      }
      const path = resolve(io.cwd, o.uki);
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(readFileSync(path));
      } catch (e) {
        throw new CocoError('UKI_OPEN', `Failed to open '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { kind: 'file', cause: e });
      }
      const found = ukiSections(bytes, o.systemd, path);
      Object.assign(sections, found.sections);
      const major = /systemd-stub (\d+)/.exec(found.stub ?? '')?.[1];
      if (o.systemd === '252' && major !== undefined && major !== '252') {
        io.stderr(`# UKI stub is systemd-stub ${major}; measured with systemd 252 rules (see --systemd=current)\n`);
      }
    } else {
      for (const [name] of given) {
        sections[`.${name}` as UkiSection] = fileContent(resolve(io.cwd, o[name] as string), name === 'linux' && o.systemd === 'current');
      }
    }
    const prediction = await predictPcr11Parallel({ sections, banks: o.bank, phases: o.phase });
    if (format === 'off') {
      for (const line of formatPcr11Text(prediction)) {
        if (line.stderr !== undefined) io.stderr(line.stderr);
        io.stdout(line.stdout);
      }
    } else {
      io.stdout(formatPcr11Json(prediction, format));
    }
  });
}

function jsonMode(o: CalculateOptions, io: CliIO): 'off' | 'short' | 'pretty' {
  // systemd-measure applies switches in order; with both given, the later one wins. Commander keeps no
  // order, so --json=… (explicit) takes precedence over -j.
  if (o.json !== undefined) {
    if (o.json === 'short' || o.json === 'pretty' || o.json === 'off') return o.json;
    throw new CocoError('CLI_USAGE', `Unknown argument to --json= switch: ${o.json}`, { kind: 'usage' });
  }
  if (o.j) return io.isTTY ? 'pretty' : 'short';
  return 'off';
}
