/**
 * How a Rego built-in function is declared, and how it reports failure (specs/rego.md §2.10, §2.13).
 *
 * Adding a namespace:
 * 1. Create `src/rego/builtins/<namespace>.ts` (one OPA namespace per file: `strings.ts`, `time.ts`, …) that
 *    exports `export const builtins: BuiltinDef[] = [ … ]`, each entry `{ name: 'strings.replace_n', arity: 2,
 *    fn: (args, ctx) => … }` with arguments already evaluated to `Value`s (see ../value.ts).
 * 2. Append one import and one array element to `src/rego/builtins/index.ts` (`NAMESPACES`). That table is the
 *    only place the engine reads; nothing else needs wiring.
 *
 * Failure semantics (OPA topdown): an implementation throws `BuiltinError` — `typeError(...)` for an operand
 * of the wrong type (code `eval_type_error`, message `<name>: operand <i> must be <type> but got <type>`) and
 * `builtinError(...)` for any other failure (`eval_builtin_error`, message `<name>: <text>`). The evaluator
 * turns a BuiltinError into an *undefined* call in the default mode and into a halting runtime error when
 * strict built-in errors are on. Returning `undefined` makes the call undefined without an error (e.g. a
 * lookup that finds nothing). Any other exception is an engine bug (`eval_internal_error`).
 *
 * Output-argument form (`count(x, n)`), `with` replacement of builtins, memoisation of nondeterministic
 * builtins per query and argument-count checks are all done by the engine from `arity` and `nondeterministic`.
 */
import { CocoError } from '../../errors.js';
import {
  type RObject,
  type RSet,
  type Value,
  type TypeName,
  type Num,
  BigNum,
  isInteger,
  isNumber,
  isObject,
  isSet,
  toDouble,
  typeName,
} from '../value.js';

export type BuiltinErrorCode = 'eval_type_error' | 'eval_builtin_error' | 'eval_internal_error';

/** A built-in's failure; the engine adds the call's location and decides whether it halts (strict mode). */
export class BuiltinError extends Error {
  constructor(
    readonly code: BuiltinErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BuiltinError';
  }
}

/** What an implementation may use from the running query. */
export interface BuiltinContext {
  /** Strict built-in errors are on (errors halt instead of making the call undefined). */
  readonly strict: boolean;
  /** The query's time in ns since the Unix epoch; one value for the whole query (`time.now_ns`). */
  now(): bigint;
  /** Uniform random number in [0, 1) from the engine's injected source (`rand.intn`, `uuid.rfc4122`). */
  random(): number;
  /** Per-query scratch space for builtins that need memoisation beyond the engine's ND cache. */
  readonly cache: Map<string, unknown>;
  /** Environment for `opa.runtime()`; empty unless the host provides one. */
  readonly env: Readonly<Record<string, string>>;
  /** Results of asynchronous host builtins already awaited for this evaluation (see Engine.addAsyncBuiltin). */
  readonly resolved?: ReadonlyMap<string, Value | undefined>;
  /** The current call's location as OPA prints it (`file:row`), for texts that embed it (`http.send`). */
  location?: string;
}

export interface BuiltinDef {
  /** Full dotted name as called from Rego, e.g. `strings.replace_n`. */
  name: string;
  /** Number of input arguments; `-1` for variadic (only `print`). */
  arity: number;
  /**
   * The implementation. Returns the result, or `undefined` for an undefined call. For a `relation`
   * builtin (`walk`) it returns an array of results, each one a separate solution.
   */
  fn: (args: Value[], ctx: BuiltinContext) => Value | undefined;
  /** Results may differ between calls with equal arguments; the engine memoises them per query. */
  nondeterministic?: boolean;
  /** The builtin yields several results (each element of the returned array). */
  relation?: boolean;
  /** Removed in Rego v1 (`any`, `all`, `re_match`, `set_diff`, `cast_*`, `net.cidr_overlap`). */
  deprecated?: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Errors with OPA's message shapes

export function typeError(name: string, pos: number, expected: string, got: Value): BuiltinError {
  return new BuiltinError('eval_type_error', `${name}: operand ${pos} must be ${expected} but got ${typeName(got)}`);
}

/** `expected` as a list, formatted like OPA: `one of {array, object, set}`. */
export function typeErrorOneOf(name: string, pos: number, expected: string[], got: Value): BuiltinError {
  return typeError(name, pos, `one of {${expected.join(', ')}}`, got);
}

export function builtinError(name: string, message: string): BuiltinError {
  return new BuiltinError('eval_builtin_error', `${name}: ${message}`);
}

/**
 * A Go runtime panic in the library a builtin follows (gobwas/glob slicing past a string's end). OPA recovers
 * no panic in its evaluator or builtins (opa:v1/topdown eval.go, builtins.go), so there the whole evaluation
 * dies with it; here it halts evaluation in every mode, as an `eval_internal_error` with Go's panic text,
 * rather than leaving the call undefined as an ordinary builtin error would (so `not f(x)` cannot succeed).
 */
export class BuiltinPanic extends BuiltinError {
  constructor(name: string, message: string) {
    super('eval_internal_error', `${name}: ${message}`);
    this.name = 'BuiltinPanic';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Operand accessors (argument positions are 1-based in messages, like OPA's `operand 1`)

export function argString(name: string, args: Value[], i: number): string {
  const v = args[i]!;
  if (typeof v !== 'string') throw typeError(name, i + 1, 'string', v);
  return v;
}

/**
 * A number for built-ins that compute on doubles or integers: a `BigNum` (a non-integer no double holds, or a
 * number written otherwise than its value's own text, see ../value.ts) comes as its nearest double, or as the
 * integer it is. Arithmetic that must keep such numbers exactly uses `argNum`.
 */
export function argNumber(name: string, args: Value[], i: number): number | bigint {
  const v = argNum(name, args, i);
  if (v instanceof BigNum) return typeof v.alias === 'bigint' ? v.alias : toDouble(v);
  return v;
}

/** A number in any representation. */
export function argNum(name: string, args: Value[], i: number): Num {
  const v = args[i]!;
  if (!isNumber(v)) throw typeError(name, i + 1, 'number', v);
  return v;
}

/** An integral number; a float gets OPA's `operand 1 must be integer number but got floating-point number`. */
export function argInteger(name: string, args: Value[], i: number): number | bigint {
  const v = argNum(name, args, i);
  if (!isInteger(v)) {
    throw new BuiltinError('eval_type_error', `${name}: operand ${i + 1} must be integer number but got floating-point number`);
  }
  return v;
}

export function argBoolean(name: string, args: Value[], i: number): boolean {
  const v = args[i]!;
  if (typeof v !== 'boolean') throw typeError(name, i + 1, 'boolean', v);
  return v;
}

export function argArray(name: string, args: Value[], i: number): Value[] {
  const v = args[i]!;
  if (!Array.isArray(v)) throw typeError(name, i + 1, 'array', v);
  return v;
}

export function argObject(name: string, args: Value[], i: number): RObject {
  const v = args[i]!;
  if (!isObject(v)) throw typeError(name, i + 1, 'object', v);
  return v;
}

export function argSet(name: string, args: Value[], i: number): RSet {
  const v = args[i]!;
  if (!isSet(v)) throw typeError(name, i + 1, 'set', v);
  return v;
}

/** Elements of an array or set (in Rego order for sets). */
export function argArrayOrSet(name: string, args: Value[], i: number): readonly Value[] {
  const v = args[i]!;
  if (Array.isArray(v)) return v;
  if (isSet(v)) return v.values();
  throw typeErrorOneOf(name, i + 1, ['array', 'set'], v);
}

/** Checks the operand's type against a list of accepted OPA type names. */
export function argOfType(name: string, args: Value[], i: number, accepted: TypeName[]): Value {
  const v = args[i]!;
  if (!accepted.includes(typeName(v))) {
    throw accepted.length === 1 ? typeError(name, i + 1, accepted[0]!, v) : typeErrorOneOf(name, i + 1, accepted, v);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// The table

/** Builds the name → definition table from namespace lists; a duplicate name is a programming error. */
export function buildTable(namespaces: ReadonlyArray<readonly BuiltinDef[]>): Map<string, BuiltinDef> {
  const table = new Map<string, BuiltinDef>();
  for (const ns of namespaces) {
    for (const def of ns) {
      if (table.has(def.name)) {
        throw new CocoError('REGO_BUILTIN_DUPLICATE', `builtin ${def.name} is defined twice`, { kind: 'internal' });
      }
      table.set(def.name, def);
    }
  }
  return table;
}
