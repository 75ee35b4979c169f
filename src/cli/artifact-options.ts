/**
 * The build-artifact flags (`--from-artifacts`, `--ovmf`, `--kernel`, …) shared by the commands that compute
 * reference values. Declared apart from from-artifacts.ts, which reads and measures them, so that commands
 * carrying these flags register (and print their help) without loading the measurement code.
 */
import type { Command } from 'commander';
import { addOptions, type OptionSpec, type OptionValues } from './options.js';

/** The artifact flags, in help order. */
export const ARTIFACT_OPTIONS = [
  ['--from-artifacts', 'compute the reference values from build artifacts (the flags below)'],
  ['--ovmf <file>', 'OVMF firmware image'],
  ['--kernel <file>', 'kernel (measured through the SEV hashes table)'],
  ['--initrd <file>', 'initrd'],
  ['--append <cmdline>', 'kernel command line'],
  ['--vcpus <n>', 'number of vCPUs'],
  ['--vcpu-type <type>', 'QEMU vCPU model, e.g. EPYC-Milan'],
  ['--vmm-type <type>', 'QEMU, ec2 or gce', 'QEMU'],
  ['--guest-features <value>', 'SEV_FEATURES of the VMSAs', '0x1'],
  ['--init-data <file>', 'init-data document (TOML or JSON): host_data, mr_config_id and (sha256 documents) tpm_pcr08'],
  ['--rootfs <image>', 'rootfs image: its dm-verity root hash becomes rootfs_root_hash'],
  ['--verity-hash-device <file>', 'the rootfs hash device (its superblock gives salt and tree parameters)'],
  ['--verity-salt <hex>', 'without a hash device: the verity salt (- for none), sha256 4K/4K tree'],
  ['--uki <file>', 'unified kernel image: tpm_pcr11'],
  ['--krun-firmware <path>', 'libkrunfw-sev library or a directory of qboot.bin, kernel.bin, initrd.bin: measurement of a libkrun guest'],
  ['--cpus <n>', 'libkrun vCPUs'],
  ['--ram-mib <n>', 'libkrun guest RAM in MiB'],
  ['--tdx-firmware <file>', 'TDX firmware: mr_td (with --kernel, --initrd, --append: rtmr_1, rtmr_2)'],
  ['--tdx-page-add-order <order>', 'single-pass or two-pass', 'single-pass'],
] as const satisfies readonly OptionSpec[];

export type ArtifactFlags = OptionValues<typeof ARTIFACT_OPTIONS>;

export function addArtifactOptions(cmd: Command): Command {
  return addOptions(cmd, ARTIFACT_OPTIONS);
}
