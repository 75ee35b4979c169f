/**
 * `cocokit policy eval`, with `opa eval`'s habits (OPA cmd/eval.go, internal/presentation):
 * - `-d [x.y:]PATH` and `-b PATH` load files, directories and bundles as opa's loader does (policy/opa-loader.ts).
 * - `--format json|values|bindings|raw|pretty`: json is `{"result": [...]}` (`{}` when undefined); values one
 *   JSON array of expression values per result; bindings one JSON object per result; raw each result's
 *   values on a line, strings unquoted; pretty the single value, or a table of bindings and values.
 * - Exit codes as opa: 2 when evaluation or loading fails, 1 for `--fail` on an undefined result or
 *   `--fail-defined` on a defined one, else 0.
 * - `--explain=fails|full|notes`: the evaluation's trace as opa's tracer reports it (rego/trace.ts): every event
 *   (full), the chain of queries leading to each failed expression (fails) or to each `trace(...)` note (notes).
 *   Pretty output prints it before the result (PrettyTraceWithLocation's text), JSON output carries it as
 *   `explanation` (the Go encoding of opa's events); values, bindings and raw output leave it out, as opa does.
 * - `--v0-compatible` (or `--v0`) parses modules and the query as Rego v0; `--stdin` reads the query and
 *   `--stdin-input` (`-I`) the input from standard input. A query may hold several expressions (`;` or
 *   newlines); each gets its own entry in `expressions`.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import { BigNum, EXPLAIN_MODES, Engine, type ExplainMode, type ExprStats, PROFILE_SORTS, type ProfileSort, Profiler, type TraceEvent, filterTrace, goDuration, numText, prettyTrace, traceJson } from '../rego/index.js';
import { compileErrors, loadAsOpa, parseInput, readText } from '../policy/opa-loader.js';
import type { CliIO } from './io.js';

const FORMATS = ['json', 'values', 'bindings', 'raw', 'pretty'] as const;

interface EvalOptions {
  data: string[];
  bundle: string[];
  input?: string;
  stdin: boolean;
  stdinInput: boolean;
  format: string;
  fail: boolean;
  failDefined: boolean;
  explain?: string;
  profile?: boolean;
  profileSort?: string[];
  profileLimit?: string;
  metrics?: boolean;
  v0: boolean;
  v0Compatible: boolean;
  strict: boolean;
  strictBuiltinErrors: boolean;
}

function usage(message: string): CocoError {
  return new CocoError('CLI_USAGE', message, { kind: 'usage' });
}

function stringify(v: unknown, indent?: number): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `__big__${numText(x)}` : x instanceof BigNum ? `__big__${x.text}` : x), indent).replace(/"__big__(-?[0-9][0-9.eE+-]*)"/g, '$1');
}


/** The OPA error code in an engine message (`rego_parse_error`, `eval_conflict_error`, …), if it names one. */
function opaCode(e: CocoError): string | undefined {
  return /\b(rego_[a-z_]+_error|eval_[a-z_]+_error)\b/.exec(e.message)?.[1];
}

function errorJson(e: CocoError): unknown {
  const listed = compileErrors(e);
  if (listed) {
    return {
      errors: listed.map((x) => ({ message: x.message, ...(x.code ? { code: x.code } : {}), ...(x.file || x.row ? { location: { file: x.file, row: x.row, col: x.col || 1 } } : {}) })),
    };
  }
  const loc = /^([^:\s]+):(\d+)(?::(\d+))?:/.exec(e.message);
  const code = opaCode(e);
  return {
    errors: [
      {
        message: e.message.replace(/^[^:\s]+:\d+(?::\d+)?:\s*/, '').replace(/^(rego|eval)_[a-z_]+_error:\s*/, ''),
        ...(code ? { code } : {}),
        ...(loc ? { location: { file: loc[1], row: Number(loc[2]), col: Number(loc[3] ?? 1) } } : {}),
      },
    ],
  };
}

type Result = ReturnType<Engine['evalQuery']>['result'];

function renderCell(v: unknown): string {
  return stringify(v);
}

/**
 * opa's result table (internal/presentation generateResultKeys): a column per variable bound in the first
 * result, sorted by name, then one per expression of the first result whose value is not a boolean (every
 * expression when nothing is bound), in query order.
 */
function table(rows: Result): string {
  const first = rows[0];
  const bindingKeys = first ? Object.keys(first.bindings).sort() : [];
  const exprIdx = (first?.expressions ?? []).flatMap((x, i) => (typeof x.value !== 'boolean' || bindingKeys.length === 0 ? [i] : []));
  const keys = [...bindingKeys, ...exprIdx.map((i) => first!.expressions[i]!.text)];
  const body = rows.map((r) => [...bindingKeys.map((k) => (k in r.bindings ? renderCell(r.bindings[k]) : 'null')), ...exprIdx.map((i) => renderCell(r.expressions[i]?.value ?? null))]);
  const widths = keys.map((k, i) => Math.max(k.length, ...body.map((b) => b[i]!.length)));
  const line = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const row = (cells: string[]) => '|' + cells.map((c, i) => ` ${c.padEnd(widths[i]!)} `).join('|') + '|';
  return [line, row(keys), line, ...body.map(row), line].join('\n') + '\n';
}

/** opa's pretty tables: upper-case centred headers, left-aligned cells. */
function prettyTable(header: string[], rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const centre = (h: string, w: number): string => {
    const left = Math.ceil((w - h.length) / 2);
    return ' '.repeat(left) + h + ' '.repeat(w - h.length - left);
  };
  const head = '|' + header.map((h, i) => ` ${centre(h.toUpperCase(), widths[i]!)} `).join('|') + '|';
  const body = rows.map((r) => '|' + r.map((c, i) => ` ${c.padEnd(widths[i]!)} `).join('|') + '|');
  return [line, head, line, ...body, line].join('\n') + '\n';
}

function metricsTable(m: Record<string, number>): string {
  return prettyTable(['metric', 'value'], Object.keys(m).sort().map((k) => [k, String(m[k])]));
}

/** A location as opa's Location.String prints it: `file:row`, or `row:col` for the query. */
function locationText(l: ExprStats['location']): string {
  return l.file !== '' ? `${l.file}:${l.row}` : `${l.row}:${l.col}`;
}

function profileTable(p: ExprStats[]): string {
  return prettyTable(
    ['time', 'num eval', 'num redo', 'num gen expr', 'location'],
    p.map((s) => [goDuration(s.total_time_ns), String(s.num_eval), String(s.num_redo), String(s.num_gen_expr), locationText(s.location)]),
  );
}

/** The result as Go encodes rego.Result: `bindings` is `omitempty`, so a row without bindings has none. */
function goResult(result: Result): Array<Omit<Result[number], 'bindings'> & { bindings?: Result[number]['bindings'] }> {
  return result.map((r) => (Object.keys(r.bindings).length > 0 ? r : { expressions: r.expressions }));
}

function render(format: string, result: Result): string {
  switch (format) {
    case 'values':
      return result.map((r) => stringify(r.expressions.map((x) => x.value), 2) + '\n').join('');
    case 'bindings':
      return result.map((r) => stringify(r.bindings, 2) + '\n').join('');
    case 'raw':
      return result.map((r) => r.expressions.map((x) => (typeof x.value === 'string' ? x.value : stringify(x.value))).join(' ') + '\n').join('');
    case 'pretty': {
      if (result.length === 0) return 'undefined\n';
      const only = result[0]!;
      if (result.length === 1 && Object.keys(only.bindings).length === 0 && (only.expressions.length === 1 || only.expressions.every((x) => typeof x.value === 'boolean'))) {
        return stringify(only.expressions[0]!.value, 2) + '\n';
      }
      return table(result);
    }
    default:
      return stringify(result.length > 0 ? { result: goResult(result) } : {}, 2) + '\n';
  }
}

function explainMode(v: string | undefined): ExplainMode {
  if (v === undefined) return 'off';
  if (!(EXPLAIN_MODES as readonly string[]).includes(v)) throw usage(`--explain: want one of ${EXPLAIN_MODES.join(', ')}, got ${JSON.stringify(v)}`);
  return v as ExplainMode;
}

/** Runs one `policy eval`; returns the exit status opa would give. */
export function runEval(io: CliIO, queryArg: string | undefined, opts: EvalOptions): number {
  if (!(FORMATS as readonly string[]).includes(opts.format)) throw usage(`--format: want one of ${FORMATS.join(', ')}, got ${JSON.stringify(opts.format)}`);
  if (opts.fail && opts.failDefined) throw usage('specify --fail or --fail-defined but not both');
  if (opts.stdin && queryArg !== undefined) throw usage('specify query argument or --stdin but not both');
  if (!opts.stdin && queryArg === undefined) throw usage('specify query argument or --stdin');
  if (opts.stdin && opts.stdinInput) throw usage('specify --stdin or --stdin-input but not both');
  if (opts.stdinInput && opts.input !== undefined) throw usage('specify --stdin-input or --input but not both');
  const mode = explainMode(opts.explain);
  const sorts = (opts.profileSort ?? []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter((x) => x !== '');
  for (const x of sorts) if (!(PROFILE_SORTS as readonly string[]).includes(x)) throw usage(`--profile-sort: want ${PROFILE_SORTS.join(', ')}, got ${JSON.stringify(x)}`);
  const limit = opts.profileLimit === undefined ? 10 : Number(opts.profileLimit);
  if (!Number.isSafeInteger(limit)) throw usage(`--profile-limit: want an integer, got ${JSON.stringify(opts.profileLimit)}`);
  const profiler = opts.profile || sorts.length > 0 ? new Profiler() : undefined;
  const metrics: Record<string, number> | undefined = opts.metrics || profiler ? {} : undefined;
  const readStdin = (): string => {
    if (!io.readStdin) throw usage('standard input is not available');
    return io.readStdin();
  };
  const query = opts.stdin ? readStdin() : queryArg!;
  const version = opts.v0 || opts.v0Compatible ? 'v0' : 'v1';

  const engine = new Engine({ strict: opts.strict || opts.strictBuiltinErrors, strictCompile: opts.strict });
  const events: TraceEvent[] | undefined = mode === 'off' ? undefined : [];
  // opa prints the trace before the result (or the error) in pretty output and carries it in JSON output.
  const explanation = (): TraceEvent[] => (events && mode !== 'off' ? filterTrace(events, mode) : []);
  let result: Result;
  try {
    const loadStart = process.hrtime.bigint();
    loadAsOpa(engine, { data: opts.data, bundles: opts.bundle, cwd: io.cwd, version });
    if (opts.stdinInput) engine.setInput(parseInput(readStdin(), '<stdin>'));
    else if (opts.input) engine.setInput(parseInput(readText(resolve(io.cwd, opts.input)), opts.input));
    const evalStart = process.hrtime.bigint();
    if (metrics) metrics.timer_rego_load_files_ns = Number(evalStart - loadStart);
    try {
      result = engine.evalQuery(query, version, profiler, events).result;
      if (metrics) metrics.timer_rego_query_eval_ns = Number(process.hrtime.bigint() - evalStart);
    } finally {
      for (const p of engine.takePrints()) io.stderr(p + '\n');
    }
  } catch (e) {
    if (!(e instanceof CocoError) || e.kind === 'usage') throw e;
    const trace = explanation();
    if (opts.format === 'json') io.stdout(stringify(trace.length > 0 ? { ...(errorJson(e) as object), explanation: traceJson(trace) } : errorJson(e), 2) + '\n');
    else {
      if (opts.format === 'pretty' && trace.length > 0) io.stdout(prettyTrace(trace));
      io.stderr(`${(compileErrors(e)?.length ?? 1) > 1 ? '' : '1 error occurred: '}${e.message}\n`);
    }
    return 2;
  }

  const trace = explanation();
  if (opts.format === 'pretty' && trace.length > 0) io.stdout(prettyTrace(trace));
  // The query's expressions have no file in opa's locations.
  const profile = profiler
    ?.report(sorts.length > 0 ? (sorts as ProfileSort[]) : undefined, limit)
    .map((x) => (x.location.file === 'query' ? { ...x, location: { ...x.location, file: '' } } : x));
  if (opts.format === 'json' && (metrics || profile || trace.length > 0)) {
    const explained = trace.length > 0 ? { explanation: traceJson(trace) } : {};
    io.stdout(stringify({ ...(result.length > 0 ? { result: goResult(result) } : {}), ...explained, ...(metrics ? { metrics } : {}), ...(profile ? { profile } : {}) }, 2) + '\n');
  } else {
    io.stdout(render(opts.format, result));
    if (opts.format === 'pretty' && metrics) io.stdout(metricsTable(metrics));
    if (opts.format === 'pretty' && profile) io.stdout(profileTable(profile));
  }

  const defined = result.length > 0;
  return (opts.fail && !defined) || (opts.failDefined && defined) ? 1 : 0;
}

export function registerEval(policy: Command, io: CliIO): void {
  policy
    .command('eval')
    .description('evaluate a Rego query, as opa eval (formats, --fail/--fail-defined, --explain, directories)')
    .argument('[query]', 'Rego query, e.g. data.policy.allow (several expressions separated by ; or newlines)')
    .option('-d, --data <path>', '.rego, .json, .yaml or bundle .tar.gz file, or a directory loaded recursively; x.y:PATH roots its data under data.x.y (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-b, --bundle <path>', 'bundle directory or .tar.gz archive: .rego files and data.json/data.yaml data (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-i, --input <file>', 'input document (JSON or YAML)')
    .option('-I, --stdin-input', 'read the input document from standard input', false)
    .option('--stdin', 'read the query from standard input', false)
    .option('-f, --format <format>', `output format: ${FORMATS.join(', ')}`, 'json')
    .option('--fail', 'exit 1 when the result is undefined (errors exit 2)', false)
    .option('--fail-defined', 'exit 1 when the result is defined (errors exit 2)', false)
    .option('--explain <mode>', `print the evaluation's trace as opa does: ${EXPLAIN_MODES.join(', ')}`)
    .option('--v0-compatible', 'parse modules and query as Rego v0', false)
    .option('--v0', 'same as --v0-compatible', false)
    .option('-S, --strict', 'strict compiler checks (and strict builtin errors)', false)
    .option('--strict-builtin-errors', 'a failing builtin halts evaluation', false)
    .option('--profile', 'report per-expression evaluation counts and times (with metrics)', false)
    .option('--profile-sort <criteria>', `sort the profile by ${PROFILE_SORTS.join(', ')} (repeatable or comma-separated)`, (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--profile-limit <n>', 'number of profile entries to show (0: all)', '10')
    .option('--metrics', 'report evaluation timers', false)
    .action((query: string | undefined, opts: EvalOptions) => {
      const code = runEval(io, query, opts);
      if (code !== 0) io.exitCode = code;
    });
}
