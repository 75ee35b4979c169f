/**
 * The setting of the CLI tests that attest SNP guests under a `cocokit snp test-root` chip: a scratch directory
 * with the test root and a KBS config (test-root-kbs.ts), the KBS started as `kbs serve` starts it, the CLI run
 * in that directory, and a guest that fetches its workload resource through the simulated TSM with a given
 * launch. The KBS is closed and the directory removed after the file's tests.
 */
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { utf8 } from '../formats/bytes.js';
import { loadTestChip, signTestReport } from '../tee/snp/test-root.js';
import { tsmSimulator } from '../tee/snp/tsm-sim.js';
import { bufferIO } from '../cli/io.js';
import { register } from '../cli/kbs.js';
import { startServe } from '../cli/kbs-serve.js';
import { runCli, type CliRun } from './cli-run.js';
import { writeTestRootKbsConfig } from './test-root-kbs.js';

export interface TestRootSetting {
  dir: string;
  url: string;
  kbs: Awaited<ReturnType<typeof startServe>>['kbs'];
  chip: ReturnType<typeof loadTestChip>;
  cli(argv: string[]): Promise<CliRun>;
  guest(launch: { hostData: Uint8Array; measurement: Uint8Array }): Promise<string>;
}

export async function startTestRootSetting(prefix: string): Promise<TestRootSetting> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const cli = (argv: string[]): Promise<CliRun> => runCli(argv, { cwd: dir });
  assert.equal((await cli(['snp', 'test-root', '--out', 'root', '--product', 'milan'])).code, 0);
  const chip = loadTestChip(join(dir, 'root'));
  writeTestRootKbsConfig(dir);
  const { kbs, url } = await startServe({ config: 'kbs.toml' }, bufferIO({ COCOKIT_LOG_LEVEL: 'silent' }, dir));
  after(async () => {
    // A test may have closed it already (to restart the KBS on the same data); a second close is harmless.
    await kbs.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  let tsmN = 0;
  const guest = async (launch: { hostData: Uint8Array; measurement: Uint8Array }): Promise<string> => {
    const io = bufferIO({}, dir);
    const program = new Command('cocokit').exitOverride();
    register(program, io, { tsmFs: tsmSimulator({ signReport: signTestReport }, chip, { launch }) });
    const tsm = join(dir, `tsm-${tsmN++}`);
    mkdirSync(tsm);
    await program.parseAsync(['kbs', 'get-workload-resource', '--url', url, '--tsm-path', tsm], { from: 'user' });
    return utf8.decode(io.bytes());
  };
  return { dir, url, kbs, chip, cli, guest };
}
