/**
 * `cocokit measure tdx`: MRTD of a TDVF / td-shim firmware image (specs/tdx-initdata.md §4.1), as the TDX
 * module computes it while the VMM adds and extends the firmware pages. RTMR prediction is not offered yet.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { TDVF_SECTION_TYPES, parseTdvfSections, tdvfMrtd, type PageAddOrder } from '../measure/tdx/index.js';
import type { CliIO } from './io.js';

interface TdxFlags {
  firmware: string;
  pageAddOrder: PageAddOrder;
  json?: boolean;
}

function measureTdx(f: TdxFlags, io: CliIO): void {
  let fw: Uint8Array;
  try {
    fw = new Uint8Array(readFileSync(resolve(io.cwd, f.firmware)));
  } catch (e) {
    throw new CocoError('CLI_FILE', `cannot read firmware ${f.firmware}: ${(e as Error).message}`, { kind: 'usage', cause: e });
  }
  const mrtd = toHex(tdvfMrtd(fw, f.pageAddOrder));
  if (!f.json) {
    io.stdout(`${mrtd}\n`);
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
  io.stdout(`${JSON.stringify({ mr_td: mrtd, page_add_order: f.pageAddOrder, sections })}\n`);
}

export function register(measure: Command, io: CliIO): void {
  measure
    .command('tdx')
    .description('MRTD of a TDX firmware image (TDVF/OVMF or td-shim metadata); the value for the "mr_td" reference value')
    .requiredOption('--firmware <FILE>', 'firmware image (e.g. OVMF.fd built for TDX)')
    .addOption(new Option('--page-add-order <order>', 'single-pass (upstream KVM: add then extend each page) or two-pass (add a section, then extend it)').choices(['single-pass', 'two-pass']).default('single-pass'))
    .option('--json', 'print the MRTD with the firmware sections')
    .action((flags: TdxFlags) => measureTdx(flags, io));
}
