/**
 * `cocokit kbs audit verify`: walks the decision log of a KBS's store (the one its config names) and checks
 * the hash chain (server/decisions.ts). Reads only; run it beside a serving KBS or against a backup.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import type { CliIO } from './io.js';

export function registerAudit(kbs: Command, io: CliIO): void {
  const audit = kbs.command('audit').description('the decision log: one hash-chained record per attestation and secret release');
  audit
    .command('verify')
    .description('check that no decision record was edited, removed or reordered (exit 2 when one was)')
    .option('-c, --config <file>', 'KBS config TOML naming the store; also KBS_CONFIG_FILE')
    .option('--data-dir <dir>', 'data directory of the embedded store (default ./.kbs-data)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { config?: string; dataDir?: string; json?: boolean }) => {
      // The server's modules are loaded by the command that uses them, not to register it (`kbs --help`).
      const { applyEnv, defaultConfig, loadConfigFile } = await import('../server/config.js');
      const { verifyDecisionChain } = await import('../server/decisions.js');
      const { openStore } = await import('../server/kbs.js');
      const file = opts.config ?? io.env.KBS_CONFIG_FILE;
      const config = file ? loadConfigFile(isAbsolute(file) ? file : resolve(io.cwd, file)) : defaultConfig();
      applyEnv(config, io.env);
      if (opts.dataDir) config.storage_backend.data_dir = opts.dataDir;
      config.storage_backend.data_dir = resolve(io.cwd, config.storage_backend.data_dir);
      // Opening an embedded store creates it; a mistyped directory must not pass as an empty, valid log.
      if (config.storage_backend.storage_type === 'sqlite' && !existsSync(config.storage_backend.data_dir)) {
        throw new CocoError('CLI_DATA_DIR', `no KBS data directory at ${config.storage_backend.data_dir}`, { kind: 'file' });
      }
      const store = await openStore(config);
      let report;
      try {
        report = await verifyDecisionChain(store);
      } finally {
        await store.close();
      }
      if (opts.json) io.stdout(JSON.stringify(report, null, 2) + '\n');
      else {
        const lines = [`${report.records} decision record(s)${report.records ? `, ids ${report.firstId}..${report.lastId}` : ''}`];
        if (report.truncatedBefore) lines.push('records before the oldest one were removed (audit retention)');
        for (const p of report.problems) lines.push(`record ${p.id}: ${p.problem}`);
        lines.push(report.ok ? 'chain intact' : 'CHAIN BROKEN');
        io.stdout(lines.join('\n') + '\n');
      }
      if (!report.ok) throw new CocoError('AUDIT_CHAIN_BROKEN', `the decision log was tampered with (${report.problems.length} problem(s))`, { kind: 'crypto' });
    });
}
