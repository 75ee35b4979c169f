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
import { builtins as regex } from './regex.js';
import { builtins as glob } from './glob.js';
import { builtins as net } from './net.js';
import { builtins as uuid } from './uuid.js';
import { builtins as semver } from './semver.js';
import { builtins as crypto } from './crypto.js';
import { builtins as units } from './units.js';
import { builtins as graphs } from './graphs.js';
import { builtins as misc } from './misc.js';
import { builtins as time } from './time.js';
import { builtins as jwt } from './jwt.js';
import { builtins as uri } from './uri.js';
import { builtins as x509 } from './x509.js';
import { builtins as globs } from './globs.js';
import { builtins as jsonschema } from './jsonschema.js';
import { builtins as template } from './template.js';
import { builtins as aws } from './aws.js';
import { builtins as rego } from './rego.js';
import { builtins as graphql } from './graphql.js';

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
  regex,
  glob,
  net,
  uuid,
  semver,
  crypto,
  units,
  graphs,
  misc,
  time,
  jwt,
  uri,
  x509,
  globs,
  jsonschema,
  template,
  aws,
  rego,
  graphql,
];

/** name → definition, built once at load. */
export const BUILTINS: ReadonlyMap<string, BuiltinDef> = buildTable(NAMESPACES);
