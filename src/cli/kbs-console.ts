/**
 * `cocokit kbs console-token`: a short-lived admin token for the web console (server/console.ts). It is an
 * ordinary admin JWT signed with the admin private key, so the console gets no access the admin API would
 * not give that key, and a copied token stops working within minutes.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import type { CliIO } from './io.js';

export const CONSOLE_TOKEN_DEFAULT_MINUTES = 15;

export function registerConsoleToken(kbs: Command, io: CliIO): void {
  kbs
    .command('console-token')
    .description(`print a short-lived admin token to paste into the web console at /console (default ${CONSOLE_TOKEN_DEFAULT_MINUTES} minutes)`)
    .requiredOption('--auth-private-key <file>', 'admin private key (PEM)')
    .option('--minutes <n>', 'lifetime in minutes (1..60)', String(CONSOLE_TOKEN_DEFAULT_MINUTES))
    .option('--role <role>', 'role claim (as in the admin ACLs)', 'admin')
    .action(async (f: { authPrivateKey: string; minutes: string; role: string }) => {
      if (!/^[1-9][0-9]?$/.test(f.minutes) || Number(f.minutes) > 60) throw new CocoError('CLI_USAGE', '--minutes must be 1..60', { kind: 'usage' });
      const pem = readFileSync(resolve(io.cwd, f.authPrivateKey), 'utf8');
      const { signAdminToken } = await import('../client/admin-client.js');
      io.stdout(`${await signAdminToken(pem, f.role, Number(f.minutes) * 60)}\n`);
    });
}
