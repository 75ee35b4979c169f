/**
 * `cocokit policy …`: the Rego engine from the command line.
 * - `policy eval [-d PATH]… [-i input.json] [--format …] [--fail|--fail-defined] [--explain[=mode]] QUERY`
 *   behaves as `opa eval` (policy-eval.ts); `print` output goes to stderr as `file:row: text`.
 * - `policy conformance DIR [--json]` runs an OPA YAML conformance suite directory (specs/rego.md §1).
 * - `policy agent -d agent-policy.rego [--requests policy.jsonl] [--request Endpoint=input.json …] [--json]`
 *   evaluates a sequence of Kata agent requests the way the agent does (specs/rego.md §3.4), the policy state
 *   (`data.pstate`) carried from one request to the next.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import { knownGap, runSuite } from '../rego/conformance.js';
import { AgentPolicy, type AgentDecision } from '../policy/agent.js';
import { parseJsonValue, toJs } from '../rego/index.js';
import { registerEval } from './policy-eval.js';
import type { CliIO } from './io.js';

function readText(io: CliIO, file: string): string {
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (e) {
    throw new CocoError('CLI_FILE', `cannot read ${file}: ${(e as Error).message}`, { kind: 'usage', cause: e });
  }
}

function json(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `__big__${x}` : x), 2).replace(/"__big__(-?\d+)"/g, '$1');
}

export function register(program: Command, io: CliIO): void {
  const policy = program.command('policy').description('evaluate Rego policies and run the OPA conformance suite');

  registerEval(policy, io);

  policy
    .command('conformance')
    .description('run an OPA YAML conformance suite directory (<dir>/<category>/*.yaml, <dir>/v0/<category>/*.yaml)')
    .argument('<dir>', 'suite directory')
    .option('--json', 'print the summary as JSON (last line)', false)
    .option('--filter <text>', 'only cases whose note or category contains this text')
    .option('--write-exceptions <file>', 'write the pass count and every failing case with its reason to a JSON file')
    .action((dir: string, opts: { json: boolean; filter?: string; writeExceptions?: string }) => {
      const f = opts.filter;
      const report = runSuite(resolve(io.cwd, dir), f ? (note, cat) => note.includes(f) || cat.includes(f) : undefined);
      if (opts.writeExceptions) {
        const doc = {
          passed: report.passed,
          total: report.total,
          failures: report.failures.map((x) => ({ category: x.category, note: x.note, why: knownGap(x.category) ?? 'unexplained', reason: x.reason ?? '' })),
        };
        writeFileSync(resolve(io.cwd, opts.writeExceptions), JSON.stringify(doc, null, 1) + '\n');
      }
      if (!opts.json) {
        for (const fail of report.failures) io.stdout(`FAIL ${fail.category} | ${fail.note} | ${fail.reason ?? ''}\n`);
        for (const [cat, c] of Object.entries(report.categories)) if (c.passed < c.total) io.stdout(`${cat}: ${c.passed}/${c.total}\n`);
        io.stdout(`${report.passed}/${report.total} passed, ${report.failed} failed\n`);
      } else {
        io.stdout(JSON.stringify({ total: report.total, passed: report.passed, failed: report.failed, categories: report.categories }) + '\n');
      }
      if (report.failed > 0) io.exitCode = 1;
    });

  policy
    .command('agent')
    .description("evaluate Kata agent requests in order with the agent's policy semantics (state carried across requests)")
    .requiredOption('-d, --data <file>', 'the agent policy (.rego; package agent_policy)')
    .option('--request <endpoint=file>', 'a request: endpoint name and its JSON input file (repeatable, in order)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--requests <file>', "requests in the agent's policy.jsonl debug format, one {\"kind\", \"request\"} per line (evaluated before any --request)")
    .option('--v0', 'parse the policy as Rego v0', false)
    .option('--json', 'print {"allowFailures", "decisions", "state"} as JSON instead of one line per request', false)
    .action((opts: { data: string; request: string[]; requests?: string; v0: boolean; json: boolean }) => {
      const requests: Array<{ endpoint: string; run: (p: AgentPolicy) => AgentDecision }> = [];
      if (opts.requests) {
        readText(io, opts.requests)
          .split('\n')
          .forEach((line, i) => {
            if (line.trim() === '') return;
            const where = `${opts.requests}:${i + 1}`;
            let v: unknown;
            try {
              v = toJs(parseJsonValue(line));
            } catch (e) {
              throw new CocoError('CLI_AGENT_REQUESTS', `${where}: ${(e as Error).message}`, { kind: 'input', cause: e });
            }
            const rec = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
            const kind = rec.kind;
            const request = rec.request;
            if (typeof kind !== 'string' || request === undefined) {
              throw new CocoError('CLI_AGENT_REQUESTS', `${where}: expected {"kind": "<Endpoint>", "request": {…}}`, { kind: 'input' });
            }
            requests.push({ endpoint: kind, run: (p) => p.evaluate(kind, request) });
          });
      }
      for (const r of opts.request) {
        const eq = r.indexOf('=');
        if (eq <= 0) throw new CocoError('CLI_USAGE', `--request wants Endpoint=input.json, got ${JSON.stringify(r)}`, { kind: 'usage' });
        const endpoint = r.slice(0, eq);
        const text = readText(io, r.slice(eq + 1));
        requests.push({ endpoint, run: (p) => p.evaluateJson(endpoint, text) });
      }
      const agent = new AgentPolicy(readText(io, opts.data), { regoVersion: opts.v0 ? 'v0' : 'v1' });
      const decisions: Array<Partial<AgentDecision> & { endpoint: string; error?: { code: string; message: string } }> = [];
      let errorExit: number | undefined;
      let denied = false;
      requests.forEach(({ endpoint, run }, i) => {
        let line: string;
        try {
          const d = run(agent);
          decisions.push(d);
          if (!d.allowed) denied = true;
          const ops = d.ops.length > 0 ? ` (${d.ops.length} state op${d.ops.length === 1 ? '' : 's'})` : '';
          line = d.allowed ? `allowed${ops}${d.warning ? ` (warning: ${d.warning})` : ''}` : `denied: ${d.reason}`;
        } catch (e) {
          if (!(e instanceof CocoError)) throw e;
          decisions.push({ endpoint, allowed: false, error: { code: e.code, message: e.message } });
          errorExit ??= e.exitCode;
          line = `error: ${e.code}: ${e.message}`;
        }
        if (!opts.json) io.stdout(`${i + 1} ${endpoint}: ${line}\n`);
      });
      if (opts.json) io.stdout(json({ allowFailures: agent.allowFailures, decisions, state: agent.state() }).replace(/\n\s*/g, ' ') + '\n');
      // Exit status: the first error's, else the policy-denial status (6) if any request was denied, else 0.
      const exit = errorExit ?? (denied ? new CocoError('POLICY_AGENT_DENIED', 'denied', { kind: 'policy' }).exitCode : 0);
      if (exit !== 0) io.exitCode = exit;
    });
}
