/**
 * `cocokit measure tdx`: MRTD of a TDVF / td-shim firmware image (specs/tdx-initdata.md §4.1), as the TDX
 * module computes it while the VMM adds and extends the firmware pages, and RTMR1/RTMR2 of a direct kernel
 * boot (§4.3). RTMR0 (VMM ACPI tables, memory layout) is not predicted.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { TDVF_SECTION_TYPES, directBootRtmrs, parseTdvfSections, tdvfMrtd, type PageAddOrder } from '../measure/tdx/index.js';
import type { CliIO } from './io.js';

interface TdxFlags {
  firmware?: string;
  pageAddOrder: PageAddOrder;
  kernel?: string;
  initrd?: string;
  append: string;
  separatorInRtmr1: boolean;
  json?: boolean;
}

function readFile(io: CliIO, file: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(resolve(io.cwd, file)));
  } catch (e) {
    throw new CocoError('CLI_FILE', `cannot read ${what} ${file}: ${(e as Error).message}`, { kind: 'usage', cause: e });
  }
}

function measureTdx(f: TdxFlags, io: CliIO): void {
  if (!f.firmware && !f.kernel) throw new CocoError('CLI_USAGE', 'give --firmware (MRTD) and/or --kernel with --initrd (RTMR1, RTMR2)', { kind: 'usage' });
  if (f.kernel && !f.initrd) throw new CocoError('CLI_USAGE', '--kernel needs --initrd (direct boot)', { kind: 'usage' });
  const fw = f.firmware ? readFile(io, f.firmware, 'firmware') : undefined;
  const mrtd = fw ? toHex(tdvfMrtd(fw, f.pageAddOrder)) : undefined;
  const rtmrs = f.kernel && f.initrd ? directBootRtmrs(readFile(io, f.kernel, 'kernel'), readFile(io, f.initrd, 'initrd'), f.append, { separatorInRtmr1: f.separatorInRtmr1 }) : undefined;
  if (!f.json) {
    if (!rtmrs) io.stdout(`${mrtd}\n`);
    else io.stdout(`${mrtd ? `MRTD: ${mrtd}\n` : ''}RTMR1: ${toHex(rtmrs.rtmr1)}\nRTMR2: ${toHex(rtmrs.rtmr2)}\n`);
    return;
  }
  const rt = rtmrs ? { rtmr_1: toHex(rtmrs.rtmr1), rtmr_2: toHex(rtmrs.rtmr2) } : {};
  if (!fw) {
    io.stdout(`${JSON.stringify(rt)}\n`);
    return;
  }
  const sections = parseTdvfSections(fw).map((s) => ({
    type: TDVF_SECTION_TYPES[s.type] ?? `unknown(${s.type})`,
    data_offset: s.dataOffset,
    raw_data_size: s.rawDataSize,
    memory_address: `0x${s.memoryAddress.toString(16)}`,
    memory_data_size: `0x${s.memoryDataSize.toString(16)}`,
    attributes: s.attributes,
  }));
  io.stdout(`${JSON.stringify({ mr_td: mrtd, ...rt, page_add_order: f.pageAddOrder, sections })}\n`);
}

export function register(measure: Command, io: CliIO): void {
  measure
    .command('tdx')
    .description('MRTD of a TDX firmware image (TDVF/OVMF or td-shim metadata) and RTMR1/RTMR2 of a direct kernel boot: the "mr_td", "rtmr_1", "rtmr_2" reference values')
    .option('--firmware <FILE>', 'firmware image (e.g. OVMF.fd built for TDX)')
    .addOption(new Option('--page-add-order <order>', 'single-pass (upstream KVM: add then extend each page) or two-pass (add a section, then extend it)').choices(['single-pass', 'two-pass']).default('single-pass'))
    .option('--kernel <FILE>', 'kernel image of a direct boot (measured as is, as OVMF >= 2025.05 does)')
    .option('--initrd <FILE>', 'initrd of a direct boot')
    .option('--append <CMDLINE>', 'kernel command line of a direct boot', '')
    .option('--no-separator-in-rtmr1', 'the OVMF build logs the EV_SEPARATOR in RTMR0, not RTMR1')
    .option('--json', 'print the values (and the firmware sections) as JSON')
    .action((flags: TdxFlags) => measureTdx(flags, io));
}
