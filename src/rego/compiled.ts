/**
 * The compiled form the evaluator runs: names resolved (locals → frame slots, rule names and imports →
 * `data` refs, calls → builtins or user functions), bodies reordered for safety, rules grouped in a tree by
 * the ground prefix of their path (specs/rego.md §2.7, §2.16).
 */
import type { Loc } from './ast.js';
import type { Locals } from './opa-locals.js';
import type { BuiltinDef } from './builtins/registry.js';
import type { Value } from './value.js';

export type CTerm =
  | { t: 'const'; v: Value }
  | { t: 'var'; slot: number; name: string; loc?: Loc }
  | { t: 'root'; root: 'data' | 'input' }
  | { t: 'ref'; head: CTerm; path: CTerm[]; loc: Loc }
  | { t: 'array'; items: CTerm[] }
  | { t: 'set'; items: CTerm[] }
  | { t: 'object'; entries: Array<[CTerm, CTerm]> }
  | { t: 'arraycompr'; term: CTerm; body: CLit[]; scope: number }
  | { t: 'setcompr'; term: CTerm; body: CLit[]; scope: number }
  | { t: 'objectcompr'; key: CTerm; value: CTerm; body: CLit[]; scope: number }
  /** `out` is the output argument of the `f(x, y)` form (y receives the result). */
  | { t: 'call'; fn: FnRef; args: CTerm[]; out: CTerm | undefined; loc: Loc }
  | { t: 'template'; parts: Array<string | CTerm>; loc: Loc }
  | { t: 'print'; args: CTerm[]; loc: Loc };

export type FnRef =
  | { kind: 'builtin'; name: string; def: BuiltinDef }
  | { kind: 'user'; name: string; node: RuleNode };

export type CExpr =
  /** `objects`: the two objects of a unification folded away (different keys: never true). */
  | { k: 'term'; term: CTerm; objects?: [CTerm, CTerm] }
  /** `objects`: the two objects of a unification rewritten as one of their values, for the type check. */
  | { k: 'unify'; a: CTerm; b: CTerm; objects?: [CTerm, CTerm] }
  | { k: 'somein'; key: CTerm | undefined; value: CTerm; coll: CTerm }
  | { k: 'every'; key: CTerm | undefined; value: CTerm; domain: CTerm; body: CLit[]; scope: number }
  | { k: 'logic'; op: 'and' | 'or'; a: CLit[]; b: CLit[]; scopeA: number; scopeB: number }
  | { k: 'true' };

export type WithTarget =
  | { kind: 'input'; path: Value[] }
  | { kind: 'data'; path: Value[] }
  /** `node`: the replaced function when it is a user function. */
  | { kind: 'fn'; name: string; node?: RuleNode };

export type WithValue = { kind: 'term'; term: CTerm } | { kind: 'fn'; fn: FnRef };

export interface CWith {
  target: WithTarget;
  value: WithValue;
  loc: Loc;
}

export interface CLit {
  negated: boolean;
  expr: CExpr;
  withs: CWith[];
  notBody: CLit[] | undefined;
  notScope: number;
  loc: Loc;
  /** Source text of the literal (query results, explanations). */
  text: string;
}

export type RuleKind = 'complete' | 'multi' | 'object' | 'func';

export interface CElse {
  value: CTerm;
  body: CLit[];
  loc: Loc;
}

export interface CRule {
  kind: RuleKind;
  node: RuleNode;
  /** The dynamic part of the head ref after the node's path (object and multi rules). */
  rest: CTerm[];
  /** Set member (multi rules). */
  key: CTerm | undefined;
  value: CTerm;
  params: CTerm[] | undefined;
  body: CLit[];
  elseChain: CElse[];
  nslots: number;
  isDefault: boolean;
  loc: Loc;
  text: string;
}

/** One node of the `data` tree of rules: the path, its rules and child nodes. */
export class RuleNode {
  readonly children = new Map<string, RuleNode>();
  readonly rules: CRule[] = [];
  readonly funcs: CRule[] = [];
  defaultRule: CRule | undefined;
  defaultFunc: CRule | undefined;
  /** Arity of the functions at this node. */
  arity = -1;
  /** Some rule (of any kind) is defined exactly at this node. */
  declared = false;
  /** Evaluation shape, computed on first use: only complete definitions and no children. */
  simple: boolean | undefined;
  /**
   * Computed on first use: every rule here gives one constant value (OPA's index "early exit"), so evaluation
   * stops at the first body that succeeds.
   */
  earlyExit: boolean | undefined;

  constructor(
    readonly key: Value,
    readonly path: Value[],
    readonly name: string,
  ) {}

  get hasRules(): boolean {
    return this.rules.length > 0 || this.defaultRule !== undefined;
  }

  get isFunction(): boolean {
    return this.arity >= 0;
  }
}

export interface CQuery {
  body: CLit[];
  nslots: number;
  /** Query variables shown in results: name → slot. */
  vars: Array<[string, number]>;
  /** The names OPA's query compiler gives the variables it generates (`__localq0__`, …; opa-locals.ts). */
  names?: Locals;
}
