/**
 * Every built-in namespace the engine knows. To add a namespace, import its `builtins` list and append it to
 * `NAMESPACES` (see registry.ts for how a builtin is declared).
 */
import { buildTable, type BuiltinDef } from './registry.js';
import { builtins as operators } from './operators.js';
import { builtins as strings } from './strings.js';
import { builtins as aggregates } from './aggregates.js';
import { builtins as arrays } from './arrays.js';
import { builtins as sets } from './sets.js';
import { builtins as objects } from './objects.js';
import { builtins as types } from './types.js';
import { builtins as numbers } from './numbers.js';
import { builtins as bits } from './bits.js';
import { builtins as encoding } from './encoding.js';

export const NAMESPACES: ReadonlyArray<readonly BuiltinDef[]> = [
  operators,
  strings,
  aggregates,
  arrays,
  sets,
  objects,
  types,
  numbers,
  bits,
  encoding,
];

/** name → definition, built once at load. */
export const BUILTINS: ReadonlyMap<string, BuiltinDef> = buildTable(NAMESPACES);
