/**
 * The Rego abstract syntax tree (specs/rego.md §2.2–2.6). Every node carries its source location; infix
 * operators are already calls of their builtins (`a + b` → `plus(a, b)`), as in OPA's AST.
 */
import type { Value } from './value.js';

export interface Loc {
  file: string;
  row: number;
  col: number;
}

export type Term =
  | { type: 'scalar'; value: Value; loc: Loc }
  | { type: 'var'; name: string; loc: Loc }
  | { type: 'ref'; head: Term; path: Term[]; loc: Loc }
  | { type: 'array'; items: Term[]; loc: Loc }
  | { type: 'set'; items: Term[]; loc: Loc }
  | { type: 'object'; entries: Array<[Term, Term]>; loc: Loc }
  | { type: 'arraycompr'; term: Term; body: Literal[]; loc: Loc }
  | { type: 'setcompr'; term: Term; body: Literal[]; loc: Loc }
  | { type: 'objectcompr'; key: Term; value: Term; body: Literal[]; loc: Loc }
  /** `name` is the dotted function name as written (`strings.replace_n`, `data.lib.f`, `f`). */
  | { type: 'call'; name: string; args: Term[]; loc: Loc }
  /** `$"a {x} b"`: string parts and expressions alternate, starting and ending with a string part. */
  | { type: 'template'; parts: Array<string | Term>; loc: Loc };

export type TermOf<T extends Term['type']> = Extract<Term, { type: T }>;

export type Expr =
  | { kind: 'term'; term: Term }
  | { kind: 'unify'; a: Term; b: Term }
  | { kind: 'assign'; a: Term; b: Term }
  /** `some x, y` */
  | { kind: 'some'; vars: TermOf<'var'>[] }
  /** `some v in xs`, `some k, v in xs` (key absent for the one-variable form) */
  | { kind: 'somein'; key: Term | undefined; value: Term; coll: Term }
  | { kind: 'every'; key: Term | undefined; value: Term; domain: Term; body: Literal[] }
  /**
   * experimental `a or b` / `a and b` (future.keywords.or/and): each operand is a literal or a `{ … }` group;
   * the literal succeeds at most once and binds nothing.
   */
  | { kind: 'logic'; op: 'and' | 'or'; a: Literal[]; b: Literal[] };

export interface With {
  target: Term;
  value: Term;
  loc: Loc;
}

export interface Literal {
  negated: boolean;
  expr: Expr;
  with: With[];
  loc: Loc;
  /** `not { … }` body (future.keywords.not) */
  notBody?: Literal[];
  /** A parenthesised or braced group operand of `and`/`or`. */
  group?: boolean;
  /** The literal's source text, from its first token to its last (set for the literals of a body or query). */
  text?: string;
}

export interface Import {
  /** `data.x.y`, `input.x`, `future.keywords.in`, `rego.v1` */
  path: Term;
  alias: string | undefined;
  loc: Loc;
}

export interface RuleHead {
  /** The rule's ref as written (`p`, `a.b[x].c`); for functions the function name ref. */
  ref: Term[];
  /** `p(x, y)` arguments, present only for functions. */
  args: Term[] | undefined;
  /** `p contains x`, or v0 `p[x]` with no value. */
  key: Term | undefined;
  /** Value term; undefined means `true`. */
  value: Term | undefined;
  /** `p := v` (vs `p = v`). */
  assign: boolean;
  contains: boolean;
}

export interface Rule {
  head: RuleHead;
  body: Literal[];
  /** The body was written (`{…}` or `if`), as opposed to a bodyless rule like `p := 1`. */
  hasBody: boolean;
  isDefault: boolean;
  elseChain: Array<{ value: Term | undefined; body: Literal[]; loc: Loc }>;
  loc: Loc;
  /** The rule's source text (for explanations). */
  text: string;
  /** `# METADATA` annotations attached to this rule (scope `rule` or `document`). */
  annotations?: Annotations;
}

/** A parsed `# METADATA` block (specs/rego.md §2.3): YAML fields plus the effective `scope`. */
export type Annotations = Record<string, unknown> & { scope: string };

export type RegoVersion = 'v0' | 'v1';

export interface Module {
  file: string;
  package: string[];
  packageLoc: Loc;
  imports: Import[];
  rules: Rule[];
  version: RegoVersion;
  /** `import rego.v1` in a v0 module */
  regoV1: boolean;
  /** source text lines, for error texts and explanations */
  source: string;
  /** `# METADATA` annotations on the package (scope `package` or `subpackages`). */
  annotations?: Annotations;
}

/** Renders a ref path back to dotted text (`data.a["b-c"].d`). */
export function refText(head: string, path: Value[]): string {
  let s = head;
  for (const p of path) {
    s += typeof p === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? '.' + p : '[' + JSON.stringify(p) + ']';
  }
  return s;
}
