/**
 * `cocokit krun …`: buildah confidential-workload images (specs/keybroker.md §3).
 *
 * - `inspect DISK.img`: the `KRUN` footer and its embedded krun-sev.json (§3.3–3.4);
 * - `register DISK.img --url … --passphrase-file …`: `POST <url>/kbs/v0/register_workload` exactly as buildah
 *   `SendRegistrationRequest` does (§3.6), with the launch measurement given or computed like
 *   `cocokit measure krun` from the footer's cpus and ram_mib.
 */
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { readKrunFooterFile, teeDataGeneration, type KrunFooter } from '../formats/krun-footer.js';
import { findLibkrunfw, krunMeasurements, libraryDirs, readLibkrunfw, type KrunFirmware } from '../measure/krun/index.js';
import { registerKrunWorkload } from '../client/krun-registration.js';
import type { CliIO } from './io.js';

function readInput(io: CliIO, file: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(resolve(io.cwd, file)));
  } catch (e) {
    throw new CocoError('KRUN_INPUT_FILE', `cannot read ${what} '${file}': ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

function inspect(io: CliIO, disk: string, json: boolean): KrunFooter {
  const f = readKrunFooterFile(resolve(io.cwd, disk));
  if (json) {
    io.stdout(`${JSON.stringify({ config: f.config, config_offset: f.configOffset, config_length: f.configBytes.length, image_size: f.imageSize })}\n`);
  } else {
    const c = f.config;
    const gen = teeDataGeneration(c);
    io.stdout(
      [
        `tee:             ${c.tee}`,
        `tee_data:        ${c.tee_data}${gen ? ` (gen ${gen})` : ''}`,
        `workload_id:     ${c.workload_id}`,
        `cpus:            ${c.cpus}`,
        `ram_mib:         ${c.ram_mib}`,
        `attestation_url: ${c.attestation_url || '(none)'}`,
        `footer:          ${f.configBytes.length}-byte config at offset ${f.configOffset} of ${f.imageSize}`,
      ].join('\n') + '\n',
    );
  }
  return f;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The firmware as `cocokit measure krun --firmware` takes it: a bundle directory or the libkrunfw-sev library. */
function firmware(io: CliIO, path: string | undefined): KrunFirmware {
  const p = path === undefined ? undefined : resolve(io.cwd, path);
  if (p !== undefined && isDirectory(p)) {
    return { qboot: readInput(io, join(p, 'qboot.bin'), 'qboot'), kernel: readInput(io, join(p, 'kernel.bin'), 'kernel'), initrd: readInput(io, join(p, 'initrd.bin'), 'initrd'), kernelLoadAddr: 0x100_0000 };
  }
  const library = findLibkrunfw(path?.includes('/') ? p : path, libraryDirs(io.env.LD_LIBRARY_PATH));
  return readLibkrunfw(readInput(io, library, 'libkrunfw-sev'));
}

interface RegisterFlags {
  url?: string;
  passphraseFile: string;
  measurement?: string;
  firmware?: string;
  type?: 'snp' | 'sev' | 'sev_no_es';
  authToken?: string;
}

async function registerDisk(io: CliIO, disk: string, f: RegisterFlags): Promise<void> {
  const footer = readKrunFooterFile(resolve(io.cwd, disk));
  const c = footer.config;
  const type = f.type ?? (c.tee === 'snp' ? 'snp' : c.tee === 'sev' ? 'sev' : undefined);
  if (!type) throw new CocoError('KRUN_TEE', `footer tee ${JSON.stringify(c.tee)} is not snp or sev`, { kind: 'input' });
  const base = f.url ?? c.attestation_url;
  if (!base) throw new CocoError('KRUN_USAGE', 'the footer has no attestation_url; give --url', { kind: 'usage' });
  let measurement = f.measurement?.toLowerCase();
  if (measurement === undefined) {
    const m = krunMeasurements({ ...firmware(io, f.firmware), cpus: c.cpus, ramMib: c.ram_mib });
    measurement = toHex(type === 'snp' ? m.snp : type === 'sev' ? m.sevEs : m.sev);
  }
  if (!/^([0-9a-f]{96}|[0-9a-f]{64})$/.test(measurement)) throw new CocoError('KRUN_USAGE', '--measurement must be 96 or 64 hex characters', { kind: 'usage' });
  // A passphrase file written by `echo` ends in one newline that is not part of the passphrase.
  const passphrase = new TextDecoder().decode(readInput(io, f.passphraseFile, 'passphrase file')).replace(/\r?\n$/, '');
  if (passphrase.length === 0) throw new CocoError('KRUN_USAGE', 'the passphrase file is empty', { kind: 'usage' });
  const authToken = f.authToken ? new TextDecoder().decode(readInput(io, f.authToken, 'token file')).trim() : undefined;
  const url = await registerKrunWorkload({ baseUrl: base, workloadId: c.workload_id, measurement, passphrase, type, authToken });
  io.stdout(`registered workload ${c.workload_id} (${type}, measurement ${measurement}) at ${url}\n`);
}

export function register(program: Command, io: CliIO): void {
  const krun = program.command('krun').description('buildah confidential-workload images for libkrun (KRUN footer, registration)');
  krun
    .command('inspect')
    .description('read the KRUN footer and the embedded krun-sev.json of a disk.img')
    .argument('<disk>', 'disk.img of a buildah mkcw image')
    .option('--json', 'machine-readable output')
    .action((disk: string, flags: { json?: boolean }) => void inspect(io, disk, flags.json ?? false));
  krun
    .command('register')
    .description('register the image with a KBS the way buildah does (POST /kbs/v0/register_workload)')
    .argument('<disk>', 'disk.img of a buildah mkcw image')
    .option('--url <url>', 'KBS base URL (default: the footer attestation_url)')
    .requiredOption('--passphrase-file <file>', 'the LUKS passphrase of disk.img')
    .option('--measurement <hex>', 'launch measurement (default: computed from the footer cpus and ram_mib)')
    .option('--firmware <path>', 'libkrunfw-sev library or bundle directory for the computed measurement')
    .addOption(new Option('--type <type>', 'buildah TEE type (default: from the footer)').choices(['snp', 'sev', 'sev_no_es']))
    .option('--auth-token <file>', 'admin Bearer token, when the KBS does not take unauthenticated registrations')
    .action(async (disk: string, flags: RegisterFlags) => registerDisk(io, disk, flags));
}
