/**
 * Real software TPMs for tests: `swtpm socket` on a Unix socket in a temporary directory, optionally
 * manufactured first by `swtpm_setup` with EK certificates from a local CA private to the test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Swtpm {
  dir: string;
  /** TCTI string for cocokit (`swtpm:path=…`). */
  tcti: string;
  /** PEM files of the local CA that issued the EK certificates (with `ekCerts`). */
  caRoot?: string;
  caIssuer?: string;
  stop(): Promise<void>;
}

export interface SwtpmOptions {
  /** Run swtpm_setup with EK certificates (RSA 2048 at 0x01c00002, ECC P-384 at 0x01c00016); ~4 s. */
  ekCerts?: boolean;
  /** PCR banks to allocate (with `ekCerts`; otherwise swtpm's default sha1+sha256). */
  banks?: string;
}

export async function startSwtpm(opts: SwtpmOptions = {}): Promise<Swtpm> {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-swtpm-'));
  const state = join(dir, 'state');
  mkdirSync(state);
  let caRoot: string | undefined;
  let caIssuer: string | undefined;
  if (opts.ekCerts) {
    const ca = join(dir, 'ca');
    mkdirSync(ca);
    writeFileSync(join(dir, 'localca.conf'), `statedir = ${ca}\nsigningkey = ${ca}/signkey.pem\nissuercert = ${ca}/issuercert.pem\ncertserial = ${ca}/certserial\n`);
    writeFileSync(join(dir, 'localca.options'), '--platform-manufacturer cocokit\n--platform-version 2.1\n--platform-model test\n');
    writeFileSync(
      join(dir, 'setup.conf'),
      `create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = ${dir}/localca.conf\ncreate_certs_tool_options = ${dir}/localca.options\nactive_pcr_banks = ${opts.banks ?? 'sha1,sha256,sha384'}\n`,
    );
    const r = spawnSync('swtpm_setup', ['--tpm2', '--tpmstate', state, '--create-ek-cert', '--config', join(dir, 'setup.conf'), '--pcr-banks', opts.banks ?? 'sha1,sha256,sha384', '--overwrite'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`swtpm_setup failed: ${r.stderr}${r.stdout}`);
    caRoot = join(ca, 'swtpm-localca-rootca-cert.pem');
    caIssuer = join(ca, 'issuercert.pem');
  }
  const sock = join(dir, 'tpm.sock');
  const proc: ChildProcess = spawn(
    'swtpm',
    ['socket', '--tpm2', '--tpmstate', `dir=${state}`, '--server', `type=unixio,path=${sock}`, '--ctrl', `type=unixio,path=${join(dir, 'ctrl.sock')}`, '--flags', 'not-need-init,startup-clear'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr?.on('data', (d) => (stderr += String(d)));
  for (let i = 0; i < 200 && !existsSync(sock); i++) {
    if (proc.exitCode !== null) break;
    await sleep(25);
  }
  if (!existsSync(sock)) {
    proc.kill();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`swtpm did not start: ${stderr}`);
  }
  return {
    dir,
    tcti: `swtpm:path=${sock}`,
    ...(caRoot ? { caRoot, caIssuer } : {}),
    async stop() {
      if (proc.exitCode === null) {
        const done = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await done;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The contents of a PEM file as one string (for X509Certificate). */
export function readPem(path: string): string {
  return readFileSync(path, 'utf8');
}
