/**
 * `cocokit measure tdx`: MRTD of a TDVF / td-shim firmware image (specs/tdx-initdata.md §4.1), as the TDX
 * module computes it while the VMM adds and extends the firmware pages, RTMR0 of a direct boot from the
 * firmware, memory size and the VMM's ACPI blobs, and RTMR1/RTMR2 of a direct kernel boot (§4.3).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { TDVF_SECTION_TYPES, directBootRtmrs, parseTdvfSections, replayRtmr, rtmr0EventsFromFiles, tdvfMrtd, type PageAddOrder } from '../measure/tdx/index.js';
import type { CliIO } from './io.js';

interface TdxFlags {
  firmware?: string;
  pageAddOrder: PageAddOrder;
  kernel?: string;
  initrd?: string;
  append: string;
  separatorInRtmr1: boolean;
  memory: string;
  acpiTables?: string;
  acpiRsdp?: string;
  acpiLoader?: string;
  patchKernel?: boolean;
  json?: boolean;
}

/** "2G", "2048M", "512K" or a byte count, as QEMU's -m takes it (binary units). */
export function parseMemorySize(s: string): bigint {
  const m = /^(\d{1,15})([KMGT]?)i?B?$/i.exec(s.trim());
  if (!m) throw new CocoError('CLI_USAGE', `--memory ${JSON.stringify(s)} is not a size (e.g. 2G, 4096M)`, { kind: 'usage' });
  const shift = { '': 0n, K: 10n, M: 20n, G: 30n, T: 40n }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  const v = BigInt(m[1]) << shift;
  if (v === 0n) throw new CocoError('CLI_USAGE', '--memory must be positive', { kind: 'usage' });
  return v;
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
  const acpi = [f.acpiLoader, f.acpiRsdp, f.acpiTables];
  const acpiGiven = acpi.filter((a) => a !== undefined).length;
  if (acpiGiven !== 0 && (acpiGiven !== 3 || !f.firmware)) {
    throw new CocoError('CLI_USAGE', 'RTMR0 needs --firmware with all of --acpi-loader, --acpi-rsdp and --acpi-tables', { kind: 'usage' });
  }
  const memorySize = parseMemorySize(f.memory);
  const fw = f.firmware ? readFile(io, f.firmware, 'firmware') : undefined;
  const mrtd = fw ? toHex(tdvfMrtd(fw, f.pageAddOrder)) : undefined;
  const rtmr0 =
    fw && acpiGiven === 3
      ? toHex(
          replayRtmr(
            rtmr0EventsFromFiles(
              { firmware: fw, memorySize, acpiLoader: readFile(io, f.acpiLoader ?? '', 'ACPI table-loader'), acpiRsdp: readFile(io, f.acpiRsdp ?? '', 'ACPI RSDP'), acpiTables: readFile(io, f.acpiTables ?? '', 'ACPI tables') },
              { separatorInRtmr1: f.separatorInRtmr1 },
            ),
          ),
        )
      : undefined;
  const rtmrs =
    f.kernel && f.initrd
      ? directBootRtmrs(readFile(io, f.kernel, 'kernel'), readFile(io, f.initrd, 'initrd'), f.append, { separatorInRtmr1: f.separatorInRtmr1, patchKernel: f.patchKernel ? { memorySize } : undefined })
      : undefined;
  if (!f.json) {
    if (!rtmrs && !rtmr0) io.stdout(`${mrtd}\n`);
    else io.stdout(`${mrtd ? `MRTD: ${mrtd}\n` : ''}${rtmr0 ? `RTMR0: ${rtmr0}\n` : ''}${rtmrs ? `RTMR1: ${toHex(rtmrs.rtmr1)}\nRTMR2: ${toHex(rtmrs.rtmr2)}\n` : ''}`);
    return;
  }
  const rt = { ...(rtmr0 ? { rtmr_0: rtmr0 } : {}), ...(rtmrs ? { rtmr_1: toHex(rtmrs.rtmr1), rtmr_2: toHex(rtmrs.rtmr2) } : {}) };
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
    .description('MRTD of a TDX firmware image (TDVF/OVMF or td-shim metadata) and RTMR0-2 of a direct kernel boot: the "mr_td", "rtmr_0", "rtmr_1", "rtmr_2" reference values')
    .option('--firmware <FILE>', 'firmware image (e.g. OVMF.fd built for TDX)')
    .addOption(new Option('--page-add-order <order>', 'single-pass (upstream KVM: add then extend each page) or two-pass (add a section, then extend it)').choices(['single-pass', 'two-pass']).default('single-pass'))
    .option('--memory <SIZE>', 'guest memory (QEMU -m; shapes the TD HOB in RTMR0 and the --patch-kernel initrd address)', '2G')
    .option('--acpi-loader <FILE>', 'RTMR0: the fw_cfg file etc/table-loader of the VMM')
    .option('--acpi-rsdp <FILE>', 'RTMR0: the fw_cfg file etc/acpi/rsdp')
    .option('--acpi-tables <FILE>', 'RTMR0: the fw_cfg file etc/acpi/tables')
    .option('--kernel <FILE>', 'kernel image of a direct boot (measured as is, as OVMF >= 2025.05 does)')
    .option('--patch-kernel', "measure the kernel with QEMU's setup-header fields written in (OVMF 2025.02)")
    .option('--initrd <FILE>', 'initrd of a direct boot')
    .option('--append <CMDLINE>', 'kernel command line of a direct boot', '')
    .option('--no-separator-in-rtmr1', 'the OVMF build logs the EV_SEPARATOR in RTMR0, not RTMR1')
    .option('--json', 'print the values (and the firmware sections) as JSON')
    .action((flags: TdxFlags) => measureTdx(flags, io));
}
