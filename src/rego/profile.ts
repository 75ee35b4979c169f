/**
 * `--profile`: per source expression, how often it was evaluated (`num_eval`), how often evaluation came back
 * to it for another solution (`num_redo`), how many evaluated expressions share its location
 * (`num_gen_expr`) and the time spent in it, excluding the expressions nested in the rules it calls
 * (`total_time_ns`) — the fields of opa's profiler (opa:v1/profiler ExprStats). An expression here is one
 * compiled literal; opa splits nested calls (`x = a + b * c`) into several generated expressions at the same
 * location, which this engine evaluates as one.
 */
import type { CLit } from './compiled.js';

export interface ExprStats {
  total_time_ns: number;
  num_eval: number;
  num_redo: number;
  num_gen_expr: number;
  location: { file: string; row: number; col: number };
}

export const PROFILE_SORTS = ['total_time_ns', 'total_time_ns_asc', 'num_eval', 'num_eval_asc', 'num_redo', 'num_redo_asc', 'num_gen_expr', 'num_gen_expr_asc', 'file', 'file_asc', 'line', 'line_asc'] as const;
export type ProfileSort = (typeof PROFILE_SORTS)[number];

interface Entry {
  time: bigint;
  evals: number;
  redos: number;
  lits: Set<CLit>;
  file: string;
  row: number;
  col: number;
}

export class Profiler {
  /** Keyed by file and row, as opa reports one line per expression location. */
  private readonly entries = new Map<string, Entry>();
  private readonly active: Entry[] = [];
  private last = process.hrtime.bigint();

  private entry(l: CLit): Entry {
    const key = `${l.loc.file}\u0000${l.loc.row}`;
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = { time: 0n, evals: 0, redos: 0, lits: new Set(), file: l.loc.file, row: l.loc.row, col: l.loc.col }));
    if (l.loc.col < e.col) e.col = l.loc.col;
    return e;
  }

  /** Charges the time since the last event to the expression being evaluated. */
  private charge(): void {
    const now = process.hrtime.bigint();
    const top = this.active[this.active.length - 1];
    if (top) top.time += now - this.last;
    this.last = now;
  }

  /** Evaluates literal `l` through `run`; `run` reaches the rest of the body through `redo`. */
  literal(l: CLit, run: () => boolean): boolean {
    this.charge();
    const e = this.entry(l);
    e.evals++;
    e.lits.add(l);
    this.active.push(e);
    try {
      return run();
    } finally {
      this.charge();
      this.active.pop();
    }
  }

  /** The continuation after literal `l` produced a solution; coming back to `l` afterwards is a redo. */
  redo(l: CLit, k: () => boolean): boolean {
    this.charge();
    const e = this.active.pop()!;
    try {
      return k();
    } finally {
      this.charge();
      this.active.push(e);
      e.redos++;
      void l;
    }
  }

  /** The statistics, sorted by `criteria` (first decides, the rest break ties) and cut to `limit` entries. */
  report(criteria: ProfileSort[] = ['total_time_ns'], limit = 10): ExprStats[] {
    const all = [...this.entries.values()].map((e) => ({
      total_time_ns: Number(e.time),
      num_eval: e.evals,
      num_redo: e.redos,
      num_gen_expr: e.lits.size,
      location: { file: e.file, row: e.row, col: e.col },
    }));
    const key = (s: ExprStats, c: ProfileSort): number | string => {
      const base = c.replace(/_asc$/, '');
      if (base === 'file') return s.location.file;
      if (base === 'line') return s.location.row;
      return s[base as 'total_time_ns' | 'num_eval' | 'num_redo' | 'num_gen_expr'];
    };
    all.sort((a, b) => {
      for (const c of criteria) {
        const x = key(a, c);
        const y = key(b, c);
        if (x === y) continue;
        const asc = x < y ? -1 : 1;
        return c.endsWith('_asc') ? asc : -asc;
      }
      return a.location.file < b.location.file ? -1 : a.location.file > b.location.file ? 1 : a.location.row - b.location.row;
    });
    return limit > 0 ? all.slice(0, limit) : all;
  }
}

/** Go's time.Duration String form (`20.291µs`, `1.5ms`, `0s`), as opa's profile table shows times. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns < 1000) return `${ns}ns`;
  const trim = (x: number, unit: string): string => `${String(Number(x.toFixed(9))).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '')}${unit}`;
  if (ns < 1e6) return trim(ns / 1e3, 'µs');
  if (ns < 1e9) return trim(ns / 1e6, 'ms');
  return trim(ns / 1e9, 's');
}
