/**
 * `cocokit initdata digest|bind|annotate|decode|claims`: CoCo init-data documents, their digest, the
 * evidence values they bind to, and the Kata pod annotation (specs/tdx-initdata.md §6).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { CocoError } from '../errors.js';
import { fromHex, toBase64, toHex } from '../formats/bytes.js';
import {
  DEFAULT_MAX_INITDATA_BYTES,
  INITDATA_ANNOTATION,
  INITDATA_TEES,
  bindInitData,
  decodeInitDataAnnotation,
  encodeInitDataAnnotation,
  initDataClaims,
  initDataDigest,
  parseInitData,
  readInitDataImage,
  sniffInitDataFormat,
  type InitDataFormat,
  type InitDataTee,
} from '../measure/initdata.js';
import type { CliIO } from './io.js';

function readInput(io: CliIO, path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(resolve(io.cwd, path)));
  } catch (e) {
    throw new CocoError('CLI_READ', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { kind: 'notfound', cause: e });
  }
}

interface SourceOptions {
  format: 'auto' | InitDataFormat;
  annotation?: boolean;
  image?: boolean;
  maxSize: number;
}

/** The document bytes: the file itself, or decoded from an annotation value / init-data block image. */
function documentBytes(io: CliIO, file: string, o: SourceOptions): Uint8Array {
  const raw = readInput(io, file);
  if (o.annotation && o.image) throw new CocoError('CLI_USAGE', '--annotation and --image are exclusive', { kind: 'usage' });
  if (o.annotation) return decodeInitDataAnnotation(Buffer.from(raw).toString('latin1'), o.maxSize);
  if (o.image) return readInitDataImage(raw, o.maxSize);
  return raw;
}

function formatOf(bytes: Uint8Array, o: SourceOptions): InitDataFormat {
  return o.format === 'auto' ? sniffInitDataFormat(bytes) : o.format;
}

function parseSize(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new CocoError('CLI_USAGE', `--max-size must be a positive integer, got ${v}`, { kind: 'usage' });
  return n;
}

function sourceOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--format <format>', 'document encoding').choices(['auto', 'toml', 'json']).default('auto'))
    .option('--annotation', 'FILE holds a Kata annotation value (base64 of gzip) instead of the document')
    .option('--image', 'FILE is a Kata init-data block device image')
    .option('--max-size <bytes>', 'largest decompressed document accepted', parseSize, DEFAULT_MAX_INITDATA_BYTES);
}

export function register(program: Command, io: CliIO): void {
  const group = program.command('initdata').description('CoCo init-data: digest, TEE binding, Kata annotation');

  sourceOptions(
    group
      .command('digest')
      .description(
        'digest of the exact document bytes with the algorithm the document declares: sha256, sha384 or sha512, ' +
          'lower-case as Kata and Trustee require (IANA names such as sha-384, upper case and sm3 are rejected); ' +
          'version must be "0.1.0" and [data] a table of strings',
      )
      .argument('<file>', 'init-data document (TOML)'),
  )
    .addOption(new Option('--encoding <enc>', 'digest encoding').choices(['hex', 'base64']).default('hex'))
    .option('--json', 'print algorithm, digest and data keys as JSON')
    .action((file: string, o: SourceOptions & { encoding: 'hex' | 'base64'; json?: boolean }) => {
      const bytes = documentBytes(io, file, o);
      const { algorithm, digest, initData } = initDataDigest(bytes, formatOf(bytes, o));
      if (o.json) {
        const out = { version: initData.version, algorithm, digest: toHex(digest), digest_base64: toBase64(digest), bytes: bytes.length, data_keys: Object.keys(initData.data) };
        io.stdout(`${JSON.stringify(out, null, 2)}\n`);
      } else {
        io.stdout(`${o.encoding === 'hex' ? toHex(digest) : toBase64(digest)}\n`);
      }
    });

  sourceOptions(
    group
      .command('bind')
      .description('the evidence value a TEE carries for this init-data: SNP HOST_DATA, TDX MRCONFIGID, CCA RPV, TPM PCR 8')
      .argument('[file]', 'init-data document (TOML)'),
  )
    .addOption(new Option('--tee <tee>', 'TEE whose evidence field to compute').choices([...INITDATA_TEES]).makeOptionMandatory())
    .option('--digest <hex>', 'bind this init-data digest instead of hashing a document')
    .addOption(new Option('--encoding <enc>', 'output encoding').choices(['hex', 'base64']).default('hex'))
    .option('--json', 'print tee, field and value as JSON')
    .action((file: string | undefined, o: SourceOptions & { tee: InitDataTee; digest?: string; encoding: 'hex' | 'base64'; json?: boolean }) => {
      let digest: Uint8Array;
      if (o.digest !== undefined) {
        if (file !== undefined) throw new CocoError('CLI_USAGE', 'give either a document or --digest, not both', { kind: 'usage' });
        digest = fromHex(o.digest, '--digest');
        if (![32, 48, 64].includes(digest.length)) {
          throw new CocoError('CLI_USAGE', `--digest must be a sha256, sha384 or sha512 digest (32, 48 or 64 bytes), got ${digest.length}`, { kind: 'usage' });
        }
      } else {
        if (file === undefined) throw new CocoError('CLI_USAGE', 'give an init-data document or --digest', { kind: 'usage' });
        const bytes = documentBytes(io, file, o);
        digest = initDataDigest(bytes, formatOf(bytes, o)).digest;
      }
      const b = bindInitData(digest, o.tee);
      if (o.json) {
        io.stdout(`${JSON.stringify({ tee: b.tee, field: b.field, hex: toHex(b.value), base64: toBase64(b.value) }, null, 2)}\n`);
      } else {
        io.stdout(`${o.encoding === 'hex' ? toHex(b.value) : toBase64(b.value)}\n`);
      }
    });

  group
    .command('annotate')
    .description(`the Kata pod annotation value (${INITDATA_ANNOTATION}): base64 of gzip of the document`)
    .argument('<file>', 'init-data document (TOML)')
    .addOption(new Option('--format <format>', 'document encoding').choices(['auto', 'toml', 'json']).default('auto'))
    .option('--yaml', 'print the annotation as a YAML `key: value` line for a pod spec')
    .action((file: string, o: { format: 'auto' | InitDataFormat; yaml?: boolean }) => {
      const bytes = readInput(io, file);
      // Validate first: a document the guest would refuse is better caught before the pod is scheduled.
      parseInitData(bytes, o.format === 'auto' ? sniffInitDataFormat(bytes) : o.format);
      const value = encodeInitDataAnnotation(bytes);
      io.stdout(o.yaml ? `${INITDATA_ANNOTATION}: "${value}"\n` : `${value}\n`);
    });

  group
    .command('decode')
    .description('the exact document bytes from a Kata annotation value (or, with --image, an init-data block image)')
    .argument('[file]', 'file holding the annotation value')
    .option('--value <b64>', 'the annotation value itself')
    .option('--image', 'FILE is a Kata init-data block device image')
    .option('--check', 'also validate the decoded document')
    .option('--max-size <bytes>', 'largest decompressed document accepted', parseSize, DEFAULT_MAX_INITDATA_BYTES)
    .action((file: string | undefined, o: { value?: string; image?: boolean; check?: boolean; maxSize: number }) => {
      if ((file === undefined) === (o.value === undefined)) {
        throw new CocoError('CLI_USAGE', 'give either a file or --value', { kind: 'usage' });
      }
      let bytes: Uint8Array;
      if (o.value !== undefined) {
        if (o.image) throw new CocoError('CLI_USAGE', '--image needs a file', { kind: 'usage' });
        bytes = decodeInitDataAnnotation(o.value, o.maxSize);
      } else {
        const raw = readInput(io, file as string);
        bytes = o.image ? readInitDataImage(raw, o.maxSize) : decodeInitDataAnnotation(Buffer.from(raw).toString('latin1'), o.maxSize);
      }
      if (o.check) parseInitData(bytes, sniffInitDataFormat(bytes));
      io.stdoutBytes(bytes);
    });

  sourceOptions(
    group
      .command('claims')
      .description("Trustee's init_data_claims for the document (aa.toml/cdh.toml as JSON, agent_policy_claims from policy.rego)")
      .argument('<file>', 'init-data document (TOML)'),
  ).action((file: string, o: SourceOptions) => {
    const bytes = documentBytes(io, file, o);
    io.stdout(`${JSON.stringify(initDataClaims(parseInitData(bytes, formatOf(bytes, o))), null, 2)}\n`);
  });
}
