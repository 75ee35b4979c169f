/**
 * The decision explainer (`Engine.explain`, kept with attestation and resource decisions): for a rule that came
 * out undefined or false, which bodies (and `else` branches) were tried and, for each failed body, the first
 * expression that failed with the values of its variables and operands at that point. Built on the
 * evaluator's Tracer hook, so normal evaluation pays nothing for it. `cocokit policy eval --explain` prints
 * opa's trace events instead (trace.ts).
 */
import type { CLit, CRule, CTerm } from './compiled.js';
import type { Tracer } from './evaluator.js';
import { printTerm, type TermStyle } from './trace.js';
import { type Value, toJs, toRegoString } from './value.js';

/** One body's outcome in an explanation. */
export interface BodyExplanation {
  rule: string;
  location: { file: string; row: number };
  /** 0 for the rule body, n for the n-th `else` branch. */
  branch: number;
  succeeded: boolean;
  /**
   * The first literal that failed (for failed bodies): its text, the values of the variables it mentions,
   * and the value of each operand (`"<undefined>"` when the operand itself is undefined).
   */
  failed?: { text: string; location: { file: string; row: number }; bindings: Record<string, unknown>; operands: Record<string, unknown> };
}

export interface Explanation {
  query: string;
  value: unknown;
  defined: boolean;
  bodies: BodyExplanation[];
}

interface Frame {
  rule: CRule | undefined;
  branch: number;
  lits: CLit[];
  furthest: number;
  frame: Array<Value | undefined> | undefined;
}

export class ExplainTracer implements Tracer {
  private readonly stack: Frame[] = [];
  private readonly out: BodyExplanation[] = [];
  /** Set by the engine: evaluates an operand in a saved frame. */
  peek: ((t: CTerm, frame: Array<Value | undefined>) => Value | undefined) | undefined;
  /**
   * True while an operand is evaluated for the account: a call of a user function in it runs bodies too,
   * which are not part of the evaluation explained (and whose failures would be peeked at in turn).
   */
  private peeking = false;

  enterBody(rule: CRule | undefined, branch: number, lits: CLit[]): void {
    if (this.peeking) return;
    this.stack.push({ rule, branch, lits, furthest: -1, frame: undefined });
  }

  reached(lits: CLit[], index: number, frame: Array<Value | undefined>): void {
    if (this.peeking) return;
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const s = this.stack[i]!;
      if (s.lits === lits) {
        if (index > s.furthest) {
          s.furthest = index;
          s.frame = frame.slice();
        }
        return;
      }
    }
  }

  exitBody(lits: CLit[], succeeded: boolean): void {
    if (this.peeking) return;
    const s = this.stack.pop();
    if (!s || s.lits !== lits || !s.rule) return;
    const e: BodyExplanation = { rule: s.rule.node.name, location: { file: s.rule.loc.file, row: s.rule.loc.row }, branch: s.branch, succeeded };
    if (!succeeded && s.furthest >= 0 && s.furthest < lits.length) {
      const lit = lits[s.furthest]!;
      const bindings: Record<string, unknown> = {};
      for (const [slot, name] of slotNamesOf(lit)) {
        const v = s.frame?.[slot];
        if (v !== undefined && !name.startsWith('_')) bindings[name] = toJs(v);
      }
      const operands: Record<string, unknown> = {};
      if (this.peek && s.frame) {
        this.peeking = true;
        try {
          for (const t of operandsOf(lit)) {
            if (t.t === 'const' || t.t === 'var') continue;
            const v = this.peek(t, s.frame);
            operands[termText(t)] = v === undefined ? '<undefined>' : toJs(v);
          }
        } finally {
          this.peeking = false;
        }
      }
      e.failed = { text: lit.text, location: { file: lit.loc.file, row: lit.loc.row }, bindings, operands };
    }
    this.out.push(e);
  }

  result(): BodyExplanation[] {
    return this.out;
  }
}

/** The terms worth showing for a failed literal: a call's arguments, both sides of `=`, or the term itself. */
function operandsOf(l: CLit): CTerm[] {
  const e = l.expr;
  switch (e.k) {
    case 'term': {
      if (e.term.t !== 'call') return [e.term];
      // One level of nested calls too: `count(data.x) == 3` shows `count(data.x)` and `data.x`.
      const nested = e.term.args.flatMap((a) => (a.t === 'call' ? a.args : []));
      return [e.term, ...e.term.args, ...nested];
    }
    case 'unify':
      return [e.a, e.b];
    case 'somein':
      return [e.coll];
    case 'every':
      return [e.domain];
    default:
      return [];
  }
}

/** The named variables a literal mentions, by frame slot (comprehension bodies and called rules left out). */
export function slotNamesOf(lit: CLit): Map<number, string> {
  const out = new Map<number, string>();
  const seen = new Set<object>();
  const walk = (x: unknown): void => {
    if (x === null || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    const o = x as Record<string, unknown>;
    if (o['t'] === 'var' && typeof o['slot'] === 'number') out.set(o['slot'], String(o['name']));
    if (o['t'] === 'arraycompr' || o['t'] === 'setcompr' || o['t'] === 'objectcompr') return;
    for (const [k, v] of Object.entries(o)) {
      // A call's function reference leads into the called rule (and, for a recursive reference, round again).
      if (k === 'fn' && o['t'] === 'call') continue;
      if (typeof v === 'object') walk(v);
    }
  };
  walk(lit.expr);
  return out;
}

const INFIX: Record<string, string> = { equal: '==', neq: '!=', lt: '<', lte: '<=', gt: '>', gte: '>=', plus: '+', minus: '-', mul: '*', div: '/', rem: '%', and: '&', or: '|' };

const REGO_STYLE: TermStyle = {
  value: (v) => toRegoString(v),
  call: (name, args, text) => {
    const op = INFIX[name];
    if (op && args.length === 2) return `${text(args[0]!)} ${op} ${text(args[1]!)}`;
    if (name === 'internal.member_2') return `${text(args[0]!)} in ${text(args[1]!)}`;
    return `${name}(${args.map(text).join(', ')})`;
  },
  body: () => '…',
  template: () => '$"…"',
};

/** Compiled term back to Rego-like text, for explanations: operators infix, comprehension bodies elided. */
export function termText(t: CTerm): string {
  return printTerm(t, REGO_STYLE);
}
