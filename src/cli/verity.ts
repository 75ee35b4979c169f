/**
 * `cocokit verity format|verify|dump`: dm-verity hash trees with veritysetup's flags and report
 * (specs/measured-boot.md §1). A drop-in for `veritysetup format|verify|dump` on image files.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { check, type Check } from '../formats/check.js';
import type { VerityParams, VerityRunOptions } from '../measure/verity.js';
import { defaultThreads, prestartWorkers, releasePrestarted } from '../measure/verity-level0.js';
import type { CliIO } from './io.js';
import { cliError } from './exit-codes.js';

/**
 * The tree code is loaded when a command runs, not with the group: `format` first starts its hashing workers,
 * whose boot then overlaps the loading (the data size is all the thread count needs).
 */
const treeCode = () => import('../measure/verity.js');

/** The page size the kernel's dm-verity needs data blocks to fit in (x86-64, arm64 with 4K pages). */
const PAGE_SIZE = 4096;

function integer(name: string): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
      throw new CocoError('VERITY_USAGE', `--${name} expects a non-negative integer, got ${JSON.stringify(v)}`, { kind: 'usage' });
    }
    return Number(v);
  };
}

/** veritysetup's `--salt`: hex, or `-` for no salt (§1.1). */
function parseSalt(v: string): Uint8Array {
  if (v === '-') return new Uint8Array(0);
  if (v.length === 0 || v.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(v)) {
    throw new CocoError('VERITY_SALT', `Invalid salt string specified: ${JSON.stringify(v)} is not hex (use - for no salt).`, { kind: 'usage' });
  }
  if (v.length / 2 > 256) throw new CocoError('VERITY_SALT', `Invalid salt string specified: ${v.length / 2} bytes exceeds 256.`, { kind: 'usage' });
  return fromHex(v, 'salt');
}

interface TreeFlags {
  hash?: string;
  format?: number;
  dataBlockSize?: number;
  hashBlockSize?: number;
  salt?: Uint8Array;
  hashOffset?: number;
  dataBlocks?: number;
  superblock: boolean;
  rootHashFile?: string;
  threads?: number;
  json?: boolean;
}

/**
 * veritysetup's exit codes (cryptsetup `translate_errno`), kept by the drop-in so scripts that branch on them
 * work unchanged: 1 wrong parameters or wrong root hash, 2 corruption found, 4 device missing or unreadable.
 * Only a bug in cocokit leaves the table (70).
 */
export function veritysetupExitCode(e: CocoError): number {
  if (e.code === 'VERITY_CORRUPTED') return 2;
  if (e.kind === 'file' || (e.code === 'VERITY_IO' && e.kind === 'unavailable')) return 4;
  if (e.kind === 'internal') return 70;
  return 1;
}

/** veritysetup's common flags: accepted everywhere, as its scripts pass them. */
function commonOptions(cmd: Command): Command {
  return cmd
    .option('-v, --verbose', 'on failure, also print the error detail')
    .option('-q, --batch-mode', 'do not ask for confirmation (cocokit never asks)')
    .option('--debug', 'same as --verbose')
    .option('--fec-device <path>', 'forward error correction device: not supported (refused)')
    .option('--fec-roots <bytes>', 'FEC parity bytes: not supported (refused)')
    .option('--fec-offset <bytes>', 'FEC offset: not supported (refused)');
}

interface CommonFlags {
  verbose?: boolean;
  debug?: boolean;
  fecDevice?: string;
  fecRoots?: string;
  fecOffset?: string;
}

/** Runs a verity command with veritysetup's exit codes and error lines. */
function verityAction<A extends unknown[]>(io: CliIO, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const flags = args.find((a): a is CommonFlags => typeof a === 'object' && a !== null && !(a instanceof Command)) ?? {};
    try {
      if (flags.fecDevice !== undefined || flags.fecRoots !== undefined || flags.fecOffset !== undefined) {
        throw new CocoError('VERITY_FEC', 'forward error correction (--fec-device, --fec-roots, --fec-offset) is not supported by cocokit verity; use veritysetup for FEC images', { kind: 'unsupported' });
      }
      await fn(...args);
    } catch (e) {
      const err = cliError(e);
      io.stderr(`error[${err.code}]: ${err.message}\n`);
      if ((flags.verbose || flags.debug) && err.detail !== undefined) io.stderr(`detail: ${JSON.stringify(err.detail)}\n`);
      io.exitCode = veritysetupExitCode(err);
    }
  };
}

function treeOptions(cmd: Command): Command {
  return commonOptions(cmd)
    .option('--hash <algorithm>', 'hash algorithm (sha256, sha1, sha512, …)')
    .option('--format <type>', 'hash type: 1 = normal, 0 = Chrome OS', integer('format'))
    .option('--data-block-size <bytes>', 'data block size', integer('data-block-size'))
    .option('--hash-block-size <bytes>', 'hash block size', integer('hash-block-size'))
    .option('--salt <hex>', 'salt as hex, or - for none', parseSalt)
    .option('--hash-offset <bytes>', 'start of the hash area on the hash device (multiple of 512)', integer('hash-offset'))
    .option('--data-blocks <n>', 'number of data blocks to protect', integer('data-blocks'))
    .option('--no-superblock', 'do not use (or write) a superblock on the hash device')
    .option('--root-hash-file <file>', 'file holding the root hash as hex');
}

/** A progress bar on stderr, only when output goes to a terminal (cli-progress is loaded only then). */
async function withProgress(io: CliIO, label: string): Promise<{ run: VerityRunOptions; stop: () => void }> {
  if (!io.isTTY) return { run: {}, stop: () => {} };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {percentage}% | {value}/{total} blocks | {eta}s`, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    run: {
      onProgress: (done, total) => {
        if (!started) {
          bar.start(total, 0);
          started = true;
        }
        bar.update(done);
      },
    },
    stop: () => started && bar.stop(),
  };
}

function readRootHashFile(path: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new CocoError('VERITY_IO', `Invalid root hash file ${path}: ${(e as Error).message}`, { kind: 'unavailable', cause: e });
  }
  if (!/^[0-9a-fA-F]+$/.test(text) || text.length % 2 !== 0) throw new CocoError('VERITY_ROOT_HASH_FORMAT', `Invalid root hash file ${path}.`, { kind: 'usage' });
  return fromHex(text);
}

export function register(program: Command, io: CliIO): void {
  const verity = program.command('verity').description('dm-verity hash trees (veritysetup format|verify|dump)');
  const path = (p: string): string => resolve(io.cwd, p);

  treeOptions(verity.command('format').argument('<data>', 'data image').argument('<hash>', 'hash device (created if missing)'))
    .description('build the hash tree of DATA into HASH and print the root hash')
    .option('--uuid <uuid>', 'UUID stored in the superblock (default: random)')
    .option('--threads <n>', 'hashing threads, this one included (default: one per core, at most one per 16 MiB)', integer('threads'))
    .option('--json', 'print the parameters as JSON')
    .action(verityAction(io, async (data: string, hash: string, f: TreeFlags & { uuid?: string }) => {
      let dataBytes = 0;
      try {
        dataBytes = statSync(path(data)).size;
      } catch {
        // verityFormat reports a missing or unreadable image.
      }
      prestartWorkers(f.threads ?? defaultThreads(dataBytes));
      const { verityFormat, verityReport } = await treeCode();
      if ((f.dataBlockSize ?? 4096) > PAGE_SIZE) {
        io.stderr(`WARNING: Kernel cannot activate device if data block size exceeds page size (${PAGE_SIZE}).\n`);
      }
      const progress = await withProgress(io, 'hashing');
      let r;
      try {
        r = await verityFormat({
          data: path(data),
          hash: path(hash),
          hashAlgorithm: f.hash,
          hashType: f.format,
          dataBlockSize: f.dataBlockSize,
          hashBlockSize: f.hashBlockSize,
          salt: f.salt,
          uuid: f.uuid,
          hashOffset: f.hashOffset,
          dataBlocks: f.dataBlocks,
          superblock: f.superblock,
          threads: f.threads,
          ...progress.run,
        });
      } finally {
        progress.stop();
        releasePrestarted();
      }
      if (f.rootHashFile) writeFileSync(path(f.rootHashFile), toHex(r.rootHash), { mode: 0o600 });
      // veritysetup echoes the UUID as it was given; dump shows the stored bytes' canonical form.
      const shown = { ...r, uuid: f.uuid ?? r.uuid };
      if (f.json) io.stdout(JSON.stringify(jsonOf(shown, r.rootHash), null, 2) + '\n');
      else io.stdout(verityReport(hash, shown, r, r.rootHash));
    }));

  treeOptions(verity.command('verify').argument('<data>', 'data image').argument('<hash>', 'hash device').argument('[root]', 'expected root hash (hex)'))
    .description('check DATA and HASH against the root hash; report the first corrupted block')
    .option('--threads <n>', 'hashing threads', integer('threads'))
    .option('--json', 'print the result as JSON')
    .action(verityAction(io, async (data: string, hash: string, root: string | undefined, f: TreeFlags) => {
      if ((root === undefined) === (f.rootHashFile === undefined)) {
        throw new CocoError('VERITY_USAGE', 'give the root hash either as an argument or with --root-hash-file', { kind: 'usage' });
      }
      const rootHash = root !== undefined ? fromHexStrict(root) : readRootHashFile(path(f.rootHashFile!));
      const { verityVerify } = await treeCode();
      const progress = await withProgress(io, 'verifying');
      let r;
      try {
        r = await verityVerify({
          data: path(data),
          hash: path(hash),
          rootHash,
          hashOffset: f.hashOffset,
          noSuperblock: f.superblock
            ? undefined
            : { hashAlgorithm: f.hash, hashType: f.format as 0 | 1 | undefined, dataBlockSize: f.dataBlockSize, hashBlockSize: f.hashBlockSize, dataBlocks: f.dataBlocks, salt: f.salt },
          threads: f.threads,
          ...progress.run,
        });
      } catch (e) {
        // With --json a failed verification is still a JSON answer (with the failure's detail), and the exit
        // code says how it failed.
        if (!f.json || !(e instanceof CocoError) || e.kind !== 'expectation') throw e;
        io.stdout(JSON.stringify({ verified: false, checks: failedChecks(e), error: e.toJSON() }, null, 2) + '\n');
        io.stderr(`error[${e.code}]: ${e.message}\n`);
        io.exitCode = veritysetupExitCode(e);
        return;
      } finally {
        progress.stop();
      }
      if (f.json) io.stdout(JSON.stringify({ verified: true, ...jsonOf(r, r.rootHash), checks: r.checks }, null, 2) + '\n');
      else io.stdout(`Root hash ${toHex(r.rootHash)} verified: ${r.dataBlocks} data blocks, ${r.hashBlocks} hash blocks.\n`);
    }));

  commonOptions(verity.command('dump'))
    .argument('<hash>', 'hash device')
    .description('print the superblock of a hash device')
    .option('--hash-offset <bytes>', 'superblock position on the hash device', integer('hash-offset'))
    .option('--json', 'print the superblock as JSON')
    .action(verityAction(io, async (hash: string, f: { hashOffset?: number; json?: boolean }) => {
      const { readVeritySuperblockFile, verityGeometry, verityReport } = await treeCode();
      const sb = readVeritySuperblockFile(path(hash), f.hashOffset ?? 0);
      const p: VerityParams = { ...sb, hashAlgorithm: sb.algorithm, hashOffset: f.hashOffset ?? 0, superblock: true };
      const geo = verityGeometry(p);
      if (f.json) io.stdout(JSON.stringify(jsonOf({ ...p, ...geo }), null, 2) + '\n');
      else io.stdout(verityReport(hash, p, geo));
    }));
}

/** The `checks` of a failed verification: which of the two checks failed, with the failure's detail. */
function failedChecks(e: CocoError): Check[] {
  if (e.code === 'VERITY_ROOT_HASH') {
    return [
      check('verity.tree', true, 'every data and hash block matches the digest stored above it'),
      check('verity.root-hash', false, e.message, e.detail as Record<string, unknown>),
    ];
  }
  return [check('verity.tree', false, e.message, e.detail as Record<string, unknown>)];
}

function fromHexStrict(text: string): Uint8Array {
  if (!/^[0-9a-fA-F]+$/.test(text) || text.length % 2 !== 0) {
    throw new CocoError('VERITY_ROOT_HASH_FORMAT', `Invalid root hash string specified: ${JSON.stringify(text)}.`, { kind: 'usage' });
  }
  return fromHex(text);
}

function jsonOf(r: VerityParams & { hashBlocks: number; hashDeviceSize: number }, rootHash?: Uint8Array): Record<string, unknown> {
  return {
    ...(rootHash ? { rootHash: toHex(rootHash) } : {}),
    uuid: r.superblock ? (r.uuid ?? null) : null,
    hashType: r.hashType,
    hashAlgorithm: r.hashAlgorithm,
    dataBlocks: r.dataBlocks,
    dataBlockSize: r.dataBlockSize,
    hashBlocks: r.hashBlocks,
    hashBlockSize: r.hashBlockSize,
    salt: toHex(r.salt),
    hashOffset: r.hashOffset,
    superblock: r.superblock,
    hashDeviceSize: r.hashDeviceSize,
  };
}
