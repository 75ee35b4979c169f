/**
 * How an admin command reaches the KBS and who it is there: the URL, the admin key that signs the Bearer
 * token and its role, the CA of an https:// KBS, and how long to wait for an answer. `kbs config`,
 * `kbs workload` and `rv import` declare these flags from this one list and read them with one parser, so
 * the three take the same flags, print the same help and refuse a bad value with the same error.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import type { CliIO } from './io.js';
import { addOptions, type OptionSpec, type OptionValues } from './options.js';

/** The longest `--timeout`: an hour (a larger value is a typo rather than a wish). */
export const MAX_TIMEOUT_SECONDS = 3600;

export const ADMIN_CONNECTION_OPTIONS = [
  ['--url <url>', 'KBS URL, http:// or https:// (also before the subcommand: cocokit kbs --url URL …)'],
  ['--auth-private-key <file>', 'admin private key PEM (Ed25519 or P-256) that signs the Bearer token'],
  ['--role <role>', 'role claim of the admin token', 'admin'],
  ['--cert-file <pem>', 'CA certificate (PEM) of an https:// KBS'],
  ['--timeout <seconds>', `seconds to wait for each answer of the KBS (default 60, at most ${MAX_TIMEOUT_SECONDS})`],
] as const satisfies readonly OptionSpec[];

/** The namespace (tenant) a workload admin token names: `kbs workload`, and `rv import --workload`. */
export const NAMESPACE_OPTIONS = [['--namespace <ns>', 'namespace (tenant) the admin token names, for workload registrations', 'workloads']] as const satisfies readonly OptionSpec[];

export type AdminConnectionFlags = OptionValues<typeof ADMIN_CONNECTION_OPTIONS>;
export type NamespaceFlags = OptionValues<typeof NAMESPACE_OPTIONS>;

/** What the admin clients (`KbsAdminClient`, `WorkloadAdminClient`) take, checked. */
export interface AdminConnection {
  url: string;
  role: string;
  privateKeyPem?: string;
  ca?: string;
  timeoutMs?: number;
}

export function addAdminConnectionOptions(cmd: Command): Command {
  return addOptions(cmd, ADMIN_CONNECTION_OPTIONS);
}

const NAMES = ['url', 'authPrivateKey', 'role', 'certFile', 'timeout'] as const satisfies readonly (keyof AdminConnectionFlags)[];

/**
 * The connection flags of `cmd`, each taken from the nearest command that has it set: the subcommand, its
 * group, or `kbs` itself (Trustee's kbs-client takes `--url` and `--cert-file` before the subcommand).
 */
export function adminConnectionFlags(cmd: Command): AdminConnectionFlags {
  const out: Record<string, unknown> = {};
  for (const name of NAMES) {
    for (let c: Command | null = cmd; c; c = c.parent) {
      const v = (c.opts() as Record<string, unknown>)[name];
      if (v !== undefined) {
        out[name] = v;
        break;
      }
    }
  }
  return { role: 'admin', ...out } as AdminConnectionFlags;
}

function usage(message: string): CocoError {
  return new CocoError('CLI_USAGE', message, { kind: 'usage' });
}

function readText(io: CliIO, file: string, what: string): string {
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (e) {
    throw new CocoError('CLI_FILE', `cannot read ${what} ${file}: ${(e as Error).message}`, { kind: 'file', cause: e });
  }
}

/** `--timeout`: seconds, a decimal number above zero and at most an hour. */
export function timeoutMs(text: string): number {
  const s = /^[0-9]{1,4}(\.[0-9]{1,3})?$/.test(text) ? Number(text) : NaN;
  if (!(s > 0 && s <= MAX_TIMEOUT_SECONDS)) throw usage(`--timeout ${JSON.stringify(text)} is not a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}`);
  return Math.round(s * 1000);
}

function kbsUrl(text: string | undefined): string {
  if (text === undefined) throw usage("required option '--url <url>' not specified (before or after the subcommand)");
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw usage(`--url ${JSON.stringify(text)} is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw usage(`--url ${JSON.stringify(text)}: a KBS answers http:// or https://, not ${u.protocol}`);
  if (u.username !== '' || u.password !== '') throw usage('--url must not carry a user name or password: the admin key authenticates');
  if (u.search !== '' || u.hash !== '') throw usage(`--url ${JSON.stringify(text)}: a KBS URL has no query or fragment`);
  return text.replace(/\/+$/, '');
}

function adminKey(pem: string, file: string): string {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new CocoError('CLI_ADMIN_KEY', `--auth-private-key ${file} is not a PEM private key`, { kind: 'input' });
  }
  const ok = key.asymmetricKeyType === 'ed25519' || (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1');
  if (!ok) throw new CocoError('CLI_ADMIN_KEY', `--auth-private-key ${file} is a ${key.asymmetricKeyType} key: an admin key is Ed25519 or EC P-256`, { kind: 'input' });
  return pem;
}

function caCertificate(pem: string, file: string): string {
  const first = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(pem);
  try {
    if (first === null) throw new Error('no PEM certificate');
    new X509Certificate(first[0]);
  } catch {
    throw new CocoError('CLI_CA', `--cert-file ${file} holds no PEM certificate`, { kind: 'input' });
  }
  return pem;
}

/**
 * The checked connection: every value is refused here, before any request, with a usage error (exit 1)
 * for a bad URL, timeout or role, a file error (exit 11) for a key or CA that cannot be read, and an input
 * error (exit 4) for a key or CA file that holds no key or certificate.
 */
export function parseAdminConnection(io: CliIO, f: AdminConnectionFlags): AdminConnection {
  const url = kbsUrl(f.url);
  const timeout = f.timeout === undefined ? undefined : timeoutMs(f.timeout);
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(f.role)) throw usage(`--role ${JSON.stringify(f.role)}: a role is 1 to 64 letters, digits, '_', '.', ':' or '-'`);
  const privateKeyPem = f.authPrivateKey === undefined ? undefined : adminKey(readText(io, f.authPrivateKey, 'admin private key'), f.authPrivateKey);
  const ca = f.certFile === undefined ? undefined : caCertificate(readText(io, f.certFile, 'CA certificate'), f.certFile);
  return { url, role: f.role, ...(privateKeyPem ? { privateKeyPem } : {}), ...(ca ? { ca } : {}), ...(timeout ? { timeoutMs: timeout } : {}) };
}

/** {@link parseAdminConnection} of the flags `cmd` and the commands above it were given. */
export function adminConnection(cmd: Command, io: CliIO): AdminConnection {
  return parseAdminConnection(io, adminConnectionFlags(cmd));
}
