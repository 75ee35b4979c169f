/** Type predicates and `type_name` (opa:v1/topdown/type.go, typename.go). */
import { type TypeName, typeName } from '../value.js';
import { type BuiltinDef } from './registry.js';

function is(name: string, t: TypeName): BuiltinDef {
  // OPA returns false (not undefined) for another type, so `x := is_string(1)` binds false.
  return { name, arity: 1, fn: (a) => typeName(a[0]!) === t };
}

export const builtins: BuiltinDef[] = [
  is('is_number', 'number'),
  is('is_string', 'string'),
  is('is_boolean', 'boolean'),
  is('is_array', 'array'),
  is('is_set', 'set'),
  is('is_object', 'object'),
  is('is_null', 'null'),
  { name: 'type_name', arity: 1, fn: (a) => typeName(a[0]!) },
];
