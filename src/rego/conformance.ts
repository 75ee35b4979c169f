/**
 * Runs OPA's YAML conformance suite ("topdown test cases", specs/rego.md §1) against this engine, following
 * the reference algorithm of opa:v1/topdown/exported_test.go (§1.3): one engine per case, modules named
 * `test-<i>.rego`, Rego version from the directory (`v0/` → v0), strict builtin errors from `strict_error`,
 * results compared as *sets* of binding rows after JSON conversion, errors by code and message substring.
 *
 * Works on any directory of that layout: `<dir>/<category>/*.yaml` (v1) and `<dir>/v0/<category>/*.yaml`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CocoError } from '../errors.js';
import type { RegoVersion } from './ast.js';
import { Engine } from './index.js';
import { type Value, RObject, compare, fromJson, keyOf, toJs } from './value.js';

export interface ConformanceCase {
  note: string;
  query: string;
  modules?: string[];
  data?: unknown;
  input?: unknown;
  input_term?: string;
  want_result?: Array<Record<string, unknown>>;
  want_error_code?: string;
  want_error?: string;
  strict_error?: boolean;
  sort_bindings?: boolean;
  ignore_generated_vars?: boolean;
  experimental_keywords?: boolean;
  env?: Record<string, string>;
}

export interface CaseOutcome {
  note: string;
  category: string;
  file: string;
  passed: boolean;
  reason?: string;
}

export interface ConformanceReport {
  total: number;
  passed: number;
  failed: number;
  categories: Record<string, { total: number; passed: number }>;
  failures: CaseOutcome[];
}

export interface SuiteEntry {
  c: ConformanceCase;
  category: string;
  file: string;
  version: RegoVersion;
  /** Set when the file or case could not be read as a test case; the entry then counts as a failure. */
  loadError?: string;
}

/**
 * Loads every case below `dir` with its category and Rego version. A file that is not valid YAML, or a case
 * that is not shaped like one, becomes a failing entry instead of stopping the run: any copy of the suite,
 * newer or damaged, is run to the end.
 */
export function loadSuite(dir: string): SuiteEntry[] {
  const out: SuiteEntry[] = [];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new CocoError('REGO_CONFORMANCE_DIR', `${dir}: ${(e as Error).message}`, { kind: 'usage' });
  }
  const broken = (file: string, category: string, version: RegoVersion, note: string, why: string): void => {
    out.push({ c: { note, query: '' }, category, file, version, loadError: why });
  };
  const walk = (d: string, version: RegoVersion, prefix: string): void => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch (e) {
      broken(relative(dir, d), prefix.replace(/\/$/, '') || 'root', version, relative(dir, d), `cannot read directory: ${(e as Error).message}`);
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      let isDir: boolean;
      try {
        isDir = statSync(p).isDirectory();
      } catch {
        continue; // a dangling link
      }
      if (isDir) {
        if (name === 'v0' && prefix === '') walk(p, 'v0', 'v0/');
        else if (name === 'v1' && prefix === '') walk(p, 'v1', '');
        else walk(p, version, prefix === '' || prefix === 'v0/' ? prefix + name + '/' : prefix);
        continue;
      }
      if (!name.endsWith('.yaml') && !name.endsWith('.yml')) continue;
      const category = prefix.replace(/\/$/, '') || 'root';
      const file = relative(dir, p);
      let doc: unknown;
      try {
        doc = parseYaml(readFileSync(p, 'utf8'), { intAsBigInt: true });
      } catch (e) {
        broken(file, category, version, file, `not a YAML test file: ${(e as Error).message}`);
        continue;
      }
      if (doc === null || doc === undefined) continue;
      const cases = (doc as { cases?: unknown }).cases;
      if (cases === undefined) continue;
      if (!Array.isArray(cases)) {
        broken(file, category, version, file, '"cases" is not a list');
        continue;
      }
      cases.forEach((c: unknown, i) => {
        const note = c !== null && typeof c === 'object' && typeof (c as { note?: unknown }).note === 'string' ? (c as { note: string }).note : `${file}#${i}`;
        if (c === null || typeof c !== 'object' || typeof (c as { query?: unknown }).query !== 'string') broken(file, category, version, note, 'case without a string "query"');
        else out.push({ c: { ...(c as ConformanceCase), note }, category, file, version });
      });
    }
  };
  walk(dir, 'v1', '');
  return out;
}

/** JSON round trip as OPA's runner does (`ast.JSON`): sets → sorted arrays, non-string keys → JSON text. */
function jsonRound(v: Value): Value {
  return fromJson(toJs(v));
}

function sortArray(v: Value): Value {
  return Array.isArray(v) ? [...v].sort(compare) : v;
}

/** Runs one case; never throws. */
export function runCase(c: ConformanceCase, version: RegoVersion): { passed: boolean; reason?: string } {
  let rows: Array<Map<string, Value>>;
  if (c.modules !== undefined && c.modules !== null && !(Array.isArray(c.modules) && c.modules.every((m) => typeof m === 'string'))) {
    return { passed: false, reason: '"modules" is not a list of strings' };
  }
  try {
    const engine = new Engine({ strict: c.strict_error ?? false, experimental: c.experimental_keywords ?? false, printing: false, env: c.env, maxSteps: 20_000_000 });
    (c.modules ?? []).forEach((m, i) => engine.addPolicy(`test-${i}.rego`, m, { regoVersion: version }));
    if (c.data !== undefined && c.data !== null) engine.addData(c.data);
    if (c.input_term !== undefined) {
      const t = new Engine().queryRows(`__input__ = ${c.input_term}`, version);
      engine.setInputValue(t[0]?.get('__input__'));
    } else if (c.input !== undefined) engine.setInput(c.input);
    rows = engine.queryRows(c.query, version);
  } catch (e) {
    const err = e instanceof CocoError ? e : undefined;
    const msg = e instanceof Error ? e.message : String(e);
    if (c.want_error_code === undefined && c.want_error === undefined) return { passed: false, reason: `unexpected error: ${msg}` };
    if (c.want_error_code !== undefined) {
      // An evaluation error carries one code; a failed compile lists its errors, any of which may have the code.
      const detail = err?.detail as { opaCode?: string; errors?: Array<{ code?: unknown }> } | undefined;
      const codes = detail?.opaCode !== undefined ? [detail.opaCode] : Array.isArray(detail?.errors) ? detail.errors.map((x) => x.code) : [];
      if (!codes.includes(c.want_error_code)) return { passed: false, reason: `want error code ${c.want_error_code}, got: ${msg}` };
    }
    if (c.want_error !== undefined && !msg.includes(c.want_error)) return { passed: false, reason: `want error containing ${JSON.stringify(c.want_error)}, got: ${msg}` };
    return { passed: true };
  }
  if (c.want_error_code !== undefined || c.want_error !== undefined) {
    if (c.want_result === undefined) return { passed: false, reason: `want error ${c.want_error_code ?? c.want_error}, got ${rows.length} result(s)` };
  }
  if (c.want_result === undefined) return { passed: false, reason: 'case has no expectation' };
  if (!Array.isArray(c.want_result)) return { passed: false, reason: '"want_result" is not a list' };
  try {
    return compareRows(c, rows);
  } catch (e) {
    return { passed: false, reason: `cannot compare results: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function compareRows(c: ConformanceCase, rows: Array<Map<string, Value>>): { passed: boolean; reason?: string } {
  const actual = new Map<string, Value>();
  for (const row of rows) {
    const o = new RObject();
    for (const [name, v] of row) {
      if (c.ignore_generated_vars && name.startsWith('__localq')) continue;
      let x = jsonRound(v);
      if (c.sort_bindings) x = sortArray(x);
      o.set(name, x);
    }
    actual.set(keyOf(o), o);
  }
  const expected = new Map<string, Value>();
  for (const row of c.want_result!) {
    const o = fromJson(row);
    let r = o;
    if (c.sort_bindings && o instanceof RObject) {
      r = new RObject();
      for (const [k, v] of o.entries()) (r as RObject).set(k, sortArray(v));
    }
    expected.set(keyOf(r), r);
  }
  const same = actual.size === expected.size && [...expected.keys()].every((k) => actual.has(k));
  if (!same) {
    const show = (m: Map<string, Value>): string => JSON.stringify([...m.values()].map((v) => toJs(v)), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    return { passed: false, reason: `want ${show(expected).slice(0, 300)}, got ${show(actual).slice(0, 300)}` };
  }
  return { passed: true };
}

/**
 * Why a known gap exists, by category (the file of exceptions records this next to the runner's message).
 * Categories not listed here have no known gap: a failure there is a regression.
 */
export const KNOWN_GAPS: Record<string, string> = {};

export function knownGap(category: string): string | undefined {
  return KNOWN_GAPS[category.replace(/^v0\//, '')];
}

export function runSuite(dir: string, filter?: (note: string, category: string) => boolean): ConformanceReport {
  const report: ConformanceReport = { total: 0, passed: 0, failed: 0, categories: {}, failures: [] };
  for (const { c, category, file, version, loadError } of loadSuite(dir)) {
    if (filter && !filter(c.note, category)) continue;
    const r = loadError === undefined ? runCase(c, version) : { passed: false, reason: loadError };
    report.total++;
    const cat = (report.categories[category] ??= { total: 0, passed: 0 });
    cat.total++;
    if (r.passed) {
      report.passed++;
      cat.passed++;
    } else {
      report.failed++;
      report.failures.push({ note: c.note, category, file, passed: false, reason: r.reason });
    }
  }
  return report;
}
