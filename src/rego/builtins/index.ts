/**
 * Every built-in namespace the engine knows. To add a namespace, import its `builtins` list and append it to
 * `NAMESPACES` (see registry.ts for how a builtin is declared).
 */
import { buildTable, type BuiltinDef } from './registry.js';
import { builtins as operators } from './operators.js';

export const NAMESPACES: ReadonlyArray<readonly BuiltinDef[]> = [
  operators,
];

/** name → definition, built once at load. */
export const BUILTINS: ReadonlyMap<string, BuiltinDef> = buildTable(NAMESPACES);
