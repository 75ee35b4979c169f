/**
 * `cocokit policy eval`, with `opa eval`'s habits (OPA cmd/eval.go, internal/presentation):
 * - `-d [x.y:]PATH` loads a file or, for a directory, every `.rego`, `.json`, `.yaml`/`.yml` below it; a data file
 *   is rooted at its directory's path relative to PATH (`-d dir` with `dir/a/b/x.json` → `data.a.b`).
 *   With a prefix (`-d x.y:PATH`) the data read from PATH is rooted under `data.x.y`. Two data files that set
 *   one key (unless both values are objects) are a merge error; a root document must be an object; a file
 *   named directly whose extension is none of these is tried as Rego, then JSON, then YAML. Files are named
 *   in messages and locations by the path as given (`-d dir` → `dir/a/b/x.json`). A `*.tar.gz` file found by `-d`
 *   (or named by it) is read as a bundle archive, as opa's loader does: its data rooted where the archive lies,
 *   its manifest at `data.system.bundle.manifest`, failures as `bundle PATH: …` in opa's words.
 *   `-b DIR` loads a bundle directory, `-b FILE.tar.gz` a bundle archive: `.rego` files and only data files named
 *   `data.json`/`data.yaml`; an archive's `.manifest` roots bound its packages and data.
 * - `--format json|values|bindings|raw|pretty`: json is `{"result": [...]}` (`{}` when undefined); values one
 *   JSON array of expression values per result; bindings one JSON object per result; raw each result's
 *   values on a line, strings unquoted; pretty the single value, or a table of bindings and values.
 * - Exit codes as opa: 2 when evaluation or loading fails, 1 for `--fail` on an undefined result or
 *   `--fail-defined` on a defined one, else 0.
 * - `--explain=fails|full|notes`: the evaluation's trace as opa's tracer reports it (rego/trace.ts): every event
 *   (full), the chain of queries leading to each failed expression (fails) or to each `trace(...)` note (notes).
 *   Pretty output prints it before the result (PrettyTraceWithLocation's text), JSON output carries it as
 *   `explanation` (the Go encoding of opa's events); values, bindings and raw output leave it out, as opa does.
 * - `--v0-compatible` (or `--v0`) parses modules and the query as Rego v0; `--stdin` reads the query and
 *   `--stdin-input` (`-I`) the input from standard input. A query may hold several expressions (`;` or
 *   newlines); each gets its own entry in `expressions`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { Lexer, parseDocument, visit } from 'yaml';
import { CocoError } from '../errors.js';
import { BigNum, EXPLAIN_MODES, Engine, type ExplainMode, type ExprStats, PROFILE_SORTS, type ProfileSort, Profiler, type TraceEvent, filterTrace, fromJson, goDuration, numText, parseJsonValue, parseModule, prettyTrace, toJs, traceJson } from '../rego/index.js';
import type { CompileError } from '../rego/compiler.js';
import { RObject } from '../rego/value.js';
import { GO_YAML_V2, goYamlQuoted } from '../rego/builtins/goyaml.js';
import { TarballError, type TarEntry, readBundleTarball } from '../policy/bundle-archive.js';
import { compileGlob } from '../rego/builtins/glob.js';
import { firstValueText, goJsonError } from '../rego/builtins/gojson.js';
import type { CliIO } from './io.js';

const FORMATS = ['json', 'values', 'bindings', 'raw', 'pretty'] as const;

interface EvalOptions {
  data: string[];
  bundle: string[];
  input?: string;
  stdin: boolean;
  stdinInput: boolean;
  format: string;
  fail: boolean;
  failDefined: boolean;
  explain?: string;
  profile?: boolean;
  profileSort?: string[];
  profileLimit?: string;
  metrics?: boolean;
  v0: boolean;
  v0Compatible: boolean;
  strict: boolean;
  strictBuiltinErrors: boolean;
}

function usage(message: string): CocoError {
  return new CocoError('CLI_USAGE', message, { kind: 'usage' });
}

function stringify(v: unknown, indent?: number): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `__big__${numText(x)}` : x instanceof BigNum ? `__big__${x.text}` : x), indent).replace(/"__big__(-?[0-9][0-9.eE+-]*)"/g, '$1');
}

/**
 * A YAML document read as opa reads one (sigs.k8s.io/yaml over go-yaml v2, then JSON): YAML 1.1 scalars
 * (`yes` is true, `0777` is 511), integers exact, timestamps as strings, a plain scalar written as a float
 * beyond double range (`1e400`) is the string it is written as (go-yaml resolves a float that does not parse to
 * a string), and an infinity or NaN (`.inf`) has no JSON form, so it is an error.
 */
function parseYaml(text: string): unknown {
  // Quoted scalars by go-yaml's scanner, as yaml.unmarshal reads them.
  const dq = goYamlQuoted(text, () => new Lexer());
  const doc = parseDocument(dq.text, GO_YAML_V2);
  const problem = doc.errors[0];
  if (dq.error && (!problem || problem.pos[0] >= dq.error.at) && dq.error.at <= doc.range[2]) throw new Error(dq.error.message);
  if (problem) throw problem;
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'number' || Number.isFinite(node.value)) return;
      if (node.type === 'PLAIN' && /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(node.source ?? '')) node.value = node.source;
      else throw new CocoError('REGO_DATA', `json: unsupported value: ${Number.isNaN(node.value) ? 'NaN' : node.value > 0 ? '+Inf' : '-Inf'}`, { kind: 'input' });
    },
  });
  return doc.toJS({ maxAliasCount: 1000 }) as unknown;
}

function parseDoc(text: string, file: string): unknown {
  if (/\.ya?ml$/i.test(file)) {
    try {
      return parseYaml(text) ?? {};
    } catch (e) {
      throw new CocoError('REGO_DATA', `${file}: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
  }
  try {
    return parseJsonValue(text);
  } catch (e) {
    if (!(e instanceof CocoError)) throw e;
    throw new CocoError(e.code, `${file}: ${e.message}`, { kind: 'input', cause: e });
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new CocoError('CLI_FILE', `cannot read ${file}: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

/**
 * The input document: JSON, or YAML (opa unmarshals input of either kind whatever the file is called). A failure
 * is opa's `unable to parse input: …`, naming the file.
 */
function parseInput(text: string, name: string): unknown {
  try {
    return parseJsonValue(text);
  } catch (e) {
    if (!(e instanceof CocoError)) throw e;
    try {
      return parseYaml(text);
    } catch (y) {
      // YAML that parses but holds a value JSON cannot: that is the error; otherwise the JSON reader's.
      if (y instanceof CocoError) throw new CocoError(y.code, `unable to parse input: ${name}: ${y.message}`, { kind: 'input', cause: y });
      throw new CocoError(e.code, `unable to parse input: ${name}: ${e.message}`, { kind: 'input', cause: e });
    }
  }
}

/**
 * The objects-within-objects of the data loaded so far by `-d`, to refuse what opa's loader refuses when it
 * merges one file's document into the others (opa:v1/util merge.InterfaceMaps): a key two files both set,
 * unless both values are objects, whose keys are then compared in turn.
 */
type Shape = Map<string, Shape> | 'value';

function shapeOf(v: unknown): Shape {
  if (v instanceof RObject) {
    const m = new Map<string, Shape>();
    for (const [k, x] of v.entries()) m.set(typeof k === 'string' ? k : JSON.stringify(k), shapeOf(x));
    return m;
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof BigNum)) {
    return new Map(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, shapeOf(x)]));
  }
  return 'value';
}

function conflicts(a: Shape, b: Shape): boolean {
  if (a === 'value' || b === 'value') return true;
  for (const [k, x] of b) {
    const y = a.get(k);
    if (y !== undefined && conflicts(y, x)) return true;
  }
  return false;
}

function mergeShape(a: Map<string, Shape>, b: Map<string, Shape>): void {
  for (const [k, x] of b) {
    const y = a.get(k);
    if (y instanceof Map && x instanceof Map) mergeShape(y, x);
    else a.set(k, x);
  }
}

/** Wraps `doc` under the path segments of the directory it was found in. */
function rooted(segments: string[], doc: unknown): unknown {
  return segments.reduceRight<unknown>((acc, k) => ({ [k]: acc }), doc);
}

/**
 * opa's loader path prefix: `x.y:file.json` roots the data read from the path under `data.x.y` (a `:` with nothing
 * before it is part of the path).
 */
export function splitPrefix(arg: string): { prefix: string[]; path: string } {
  const i = arg.indexOf(':');
  // A URL (`file:///x`) is not a prefix: its first `:` begins `://`.
  if (i <= 0 || arg.indexOf('://') === i) return { prefix: [], path: arg.replace(/^file:\/\//, '') };
  return { prefix: arg.slice(0, i).split('.'), path: arg.slice(i + 1).replace(/^file:\/\//, '') };
}

/**
 * Bundle roots as opa's bundle package compares them (opa:v1/bundle/bundle.go RootPathsContain /
 * RootPathsOverlap): `/`-separated segments, where the empty root holds everything.
 */
function rootContains(root: string[], other: string[]): boolean {
  if (root.length === 1 && root[0] === '') return true;
  if (root.length > other.length) return false;
  return root.every((x, i) => other[i] === x);
}

function rootsContain(roots: string[], path: string): boolean {
  const segments = path.split('/');
  return roots.some((r) => rootContains(r.split('/'), segments));
}

function bundleError(message: string): CocoError {
  return new CocoError('BUNDLE_FORMAT', message, { kind: 'input' });
}

/**
 * The first JSON value of a `.manifest`, read as opa's json.Decoder reads it: what follows that value is not
 * looked at, and a text with no value or a broken one fails with Go's words (`EOF`, `unexpected EOF`,
 * `invalid character 'x' looking for beginning of value`).
 */
function manifestJson(data: Buffer): unknown {
  const text = data.toString('utf8');
  const goError = goJsonError(text);
  let first: string | undefined;
  if (goError !== 'EOF') {
    try {
      first = firstValueText(text);
    } catch {
      first = undefined;
    }
  }
  if (first === undefined) throw bundleError(`bundle load failed on manifest decode: ${goError ?? 'EOF'}`);
  return JSON.parse(first) as unknown;
}

/** The manifest's `roots`, as opa decodes `.manifest` into its Manifest (absent: the one empty root). */
function manifestRoots(data: Buffer): string[] {
  const m = manifestJson(data);
  const goType = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'boolean' ? 'bool' : typeof v);
  if (m === null) return [''];
  if (typeof m !== 'object' || Array.isArray(m)) {
    throw bundleError(`bundle load failed on manifest decode: json: cannot unmarshal ${goType(m)} into Go value of type bundle.Manifest`);
  }
  const roots = (m as { roots?: unknown }).roots;
  if (roots === undefined || roots === null) return [''];
  if (!Array.isArray(roots)) {
    throw bundleError(`bundle load failed on manifest decode: json: cannot unmarshal ${goType(roots)} into Go struct field Manifest.roots of type []string`);
  }
  const bad = roots.find((r) => typeof r !== 'string');
  if (bad !== undefined) {
    throw bundleError(`bundle load failed on manifest decode: json: cannot unmarshal ${goType(bad)} into Go struct field Manifest.roots of type string`);
  }
  // Standardised as opa does: no leading or trailing slash.
  return (roots as string[]).map((r) => r.replace(/^\/+|\/+$/g, ''));
}

/**
 * The checks opa makes when it activates a bundle (opa:v1/bundle/bundle.go validateAndInjectDefaults), with its
 * messages: no two roots overlap, every module's package lies under a root, and every piece of data does — a
 * walk of the bundle's data that descends into objects only while a root lies deeper.
 */
function checkRoots(roots: string[], modules: Array<{ pkg: string | undefined; path: string }>, data: Record<string, unknown>): void {
  const shown = `[${roots.join(' ')}]`;
  for (let i = 0; i < roots.length - 1; i++) {
    for (let j = i + 1; j < roots.length; j++) {
      const a = roots[i]!.split('/');
      const b = roots[j]!.split('/');
      if (rootContains(a, b) || rootContains(b, a)) throw bundleError(`manifest has overlapped roots: '${roots[i]}' and '${roots[j]}'`);
    }
  }
  for (const m of modules) {
    if (m.pkg === undefined || !rootsContain(roots, m.pkg.split('.').join('/'))) {
      throw bundleError(`manifest roots ${shown} do not permit 'package ${m.pkg ?? ''}' in module '${m.path}'`);
    }
  }
  const walk = (node: unknown, path: string): void => {
    if (rootsContain(roots, path)) return;
    if (node !== null && typeof node === 'object' && !Array.isArray(node) && roots.some((r) => rootContains(path.split('/'), r.split('/')))) {
      for (const k of Object.keys(node as object).sort()) walk((node as Record<string, unknown>)[k], path === '' ? k : `${path}/${k}`);
      return;
    }
    throw bundleError(`manifest roots ${shown} do not permit data at path '/${path}' (hint: check bundle directory structure)`);
  };
  walk(data, '');
}

/** Deep merge of plain objects (a bundle's data files into one document). */
function mergeInto(into: Record<string, unknown>, doc: unknown): void {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return;
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    const cur = into[k];
    if (cur !== null && typeof cur === 'object' && !Array.isArray(cur) && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      mergeInto(cur as Record<string, unknown>, v);
    } else Object.defineProperty(into, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
}

/** A bundle archive's files, read as opa's tarball loader reads them, with its texts for a damaged one. */
function archiveFiles(file: string, shown: string, fail: (message: string, cause: unknown) => CocoError): TarEntry[] {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new CocoError('CLI_FILE', `cannot read ${shown}: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  try {
    return readBundleTarball(buf);
  } catch (e) {
    if (e instanceof TarballError) throw fail(`bundle read failed: ${e.message}`, e);
    throw e;
  }
}

/**
 * `-b bundle.tar.gz`: the archive `opa build` writes. `.rego` files anywhere, data only from files named
 * `data.json`/`data.yaml` (rooted at their directory), and the `.manifest`'s `roots` bound where packages and
 * data may live, as opa checks when it activates a bundle.
 */
function loadBundleArchive(engine: Engine, file: string, version: 'v0' | 'v1', shown = file): void {
  const files = archiveFiles(file, shown, (message, cause) => new CocoError('BUNDLE_FORMAT', `bundle ${shown}: ${message}`, { kind: 'input', cause }));
  const entries = files.map((e) => ({ parts: e.path.split('/').filter((x) => x !== '' && x !== '.'), data: e.data }));
  const manifest = entries.find((e) => e.parts.length === 1 && e.parts[0] === '.manifest');
  const roots = manifest ? manifestRoots(manifest.data) : [''];
  const modules: Array<{ pkg: string | undefined; path: string; where: string; text: string }> = [];
  const docs: Array<{ segments: string[]; doc: unknown }> = [];
  const data: Record<string, unknown> = {};
  for (const e of entries) {
    const name = e.parts[e.parts.length - 1] ?? '';
    const where = `${shown}/${e.parts.join('/')}`;
    if (name.endsWith('.rego')) {
      const text = e.data.toString('utf8');
      modules.push({ pkg: /^\s*package\s+([\w.]+)/m.exec(text)?.[1], path: '/' + e.parts.join('/'), where, text });
    } else if (/^data\.(json|ya?ml)$/i.test(name)) {
      const segments = e.parts.slice(0, -1);
      const doc = parseDoc(e.data.toString('utf8'), where);
      if (segments.length === 0 && (doc === null || typeof doc !== 'object' || Array.isArray(doc))) {
        throw new CocoError('REGO_DATA', `${where}: a data file at the root must hold an object`, { kind: 'input' });
      }
      docs.push({ segments, doc });
      mergeInto(data, rooted(segments, toJs(fromJson(doc))));
    }
  }
  checkRoots(roots, modules, data);
  for (const m of modules) engine.addPolicy(m.where, m.text, { regoVersion: version });
  for (const d of docs) engine.addData(rooted(d.segments, d.doc));
}

/** A package path as opa prints `package …`: identifiers joined by dots, other segments bracketed and quoted. */
function packageText(pkg: string[]): string {
  return pkg.map((x, i) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(x) ? (i === 0 ? x : `.${x}`) : `[${JSON.stringify(x)}]`)).join('');
}

/**
 * The manifest fields opa decodes from every `*.manifest` file of an archive, one after another (a later file's
 * fields replace an earlier one's), with its messages for a field of the wrong type.
 */
function decodeManifest(into: Record<string, unknown>, data: Buffer): void {
  manifestRoots(data);
  const m = manifestJson(data) as Record<string, unknown> | null;
  if (m === null) return;
  const goType = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'boolean' ? 'bool' : typeof v);
  const want = (field: string, ok: (v: unknown) => boolean, goField: string, goWant: string): void => {
    const v = m[field];
    if (v !== undefined && v !== null && !ok(v)) throw bundleError(`bundle load failed on manifest decode: json: cannot unmarshal ${goType(v)} into Go struct field Manifest.${goField} of type ${goWant}`);
  };
  want('revision', (v) => typeof v === 'string', 'revision', 'string');
  // Go names the number it could not hold in an int (`number 1.5`).
  const rv = m.rego_version;
  if (typeof rv === 'number' && !Number.isSafeInteger(rv)) {
    const literal = /"rego_version"\s*:\s*(-?[0-9][0-9.eE+-]*)/.exec(data.toString('utf8'))?.[1] ?? String(rv);
    throw bundleError(`bundle load failed on manifest decode: json: cannot unmarshal number ${literal} into Go struct field Manifest.rego_version of type int`);
  }
  want('rego_version', (v) => typeof v === 'number', 'rego_version', 'int');
  want('metadata', (v) => typeof v === 'object' && !Array.isArray(v), 'metadata', 'map[string]interface {}');
  want('file_rego_versions', (v) => typeof v === 'object' && !Array.isArray(v), 'file_rego_versions', 'map[string]int');
  const frv = m.file_rego_versions;
  if (frv !== null && typeof frv === 'object') {
    for (const v of Object.values(frv as Record<string, unknown>)) {
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
        throw bundleError(`bundle load failed on manifest decode: json: cannot unmarshal ${typeof v === 'number' ? `number ${String(v)}` : goType(v)} into Go struct field Manifest.file_rego_versions of type int`);
      }
    }
  }
  for (const k of ['revision', 'roots', 'wasm', 'rego_version', 'file_rego_versions', 'metadata']) {
    if (k in m) into[k] = m[k];
  }
}

/**
 * A `*.tar.gz` file met by `-d` (in a directory, or named itself): opa's loader reads it as a bundle (opa:v1/loader
 * loadKnownTypes → bundle reader with the manifest included in data). Modules are named by their path in the
 * archive as stored; data comes only from files named `data.json`, `data.yaml` or `data.yml`, rooted at their
 * directory inside the archive (leading `/` and `.` dropped, as opa does); the `.manifest` roots bound packages
 * and data; the manifest itself is put at `data.system.bundle.manifest`. Every failure names the archive:
 * `bundle PATH: …`, with opa's texts.
 */
interface BundleModule {
  name: string;
  text: string;
  version: 'v0' | 'v1';
}

function readTarballBundle(file: string, shown: string, version: 'v0' | 'v1'): { modules: BundleModule[]; data: Record<string, unknown> } {
  const fail = (message: string, cause?: unknown): CocoError => {
    const text = `bundle ${shown}: ${message}`;
    return new CocoError('BUNDLE_FORMAT', text, { kind: 'input', cause, detail: { errors: [{ code: '', message: text, file: '', row: 0, col: 0 }] } });
  };
  const entries = archiveFiles(file, shown, fail);
  const manifest: Record<string, unknown> = {};
  const data: Record<string, unknown> = {};
  const sources: Array<{ name: string; text: string }> = [];
  for (const e of entries) {
    const path = e.path;
    // Signature files are skipped when verification is (opa's loader never verifies `-d` bundles).
    if (path.endsWith('signatures.json')) continue;
    const base = posix.basename(path);
    if (path.endsWith('.rego')) sources.push({ name: path, text: e.data.toString('utf8') });
    else if (base === 'policy.wasm' || base === 'plan.json') continue;
    else if (base === 'data.json' || base === 'data.yaml' || base === 'data.yml') {
      const text = e.data.toString('utf8');
      // data.json goes through util.UnmarshalJSON: Go's texts, and a `null` token after the value accepted.
      const goError = base === 'data.json' ? goJsonError(text) : undefined;
      if (goError !== undefined) throw fail(`bundle load failed on ${path}: ${goError}`);
      let doc: unknown;
      try {
        doc = base === 'data.json' ? toJs(parseJsonValue(firstValueText(text))) : parseYaml(text);
      } catch (err) {
        if (err instanceof Error) throw fail(`bundle load failed on ${path}: ${err.message}`, err);
        throw err;
      }
      // The directory the file is in, cleaned, without leading slashes and dots (opa getNormalizedPath).
      const dir = posix.dirname(posix.normalize(path)).replace(/^[/.]+/, '');
      const key = dir === '' ? [] : dir.split('/');
      insertBundleData(data, key, doc, (why) => fail(`bundle load failed on ${path}: ${why}`));
    } else if (path.endsWith('.manifest')) {
      try {
        decodeManifest(manifest, e.data);
      } catch (err) {
        if (err instanceof CocoError) throw fail(err.message, err);
        throw err;
      }
    }
  }
  // The bundle's Rego version (opa bundle.RegoVersion: 0 or 1, else the one asked for), then each file's: the
  // first `file_rego_versions` glob its path in the archive matches, else the manifest's `rego_version`.
  const regoVersion = manifest.rego_version === 0 ? 'v0' : manifest.rego_version === 1 ? 'v1' : version;
  const globs = Object.entries((manifest.file_rego_versions ?? {}) as Record<string, number>).map(([pattern, v]) => {
    const g = compileGlob(pattern);
    if ('error' in g) throw fail(`failed to compile glob pattern ${pattern}: ${g.error}`);
    return { match: g.match, v };
  });
  const fileVersion = (path: string): 'v0' | 'v1' => {
    let v: unknown = manifest.rego_version;
    for (const g of globs) {
      let hit: boolean;
      try {
        hit = g.match(path);
      } catch (err) {
        throw fail(`file_rego_versions pattern on ${path}: ${(err as Error).message}`, err);
      }
      if (hit) {
        v = g.v;
        break;
      }
    }
    if (v === undefined || v === null) return regoVersion;
    if (v === 0) return 'v0';
    if (v === 1) return 'v1';
    throw fail(`unknown bundle rego-version ${String(v)} for file '${path}'`);
  };
  const modules: Array<{ pkg: string | undefined; path: string }> = [];
  const versions = new Map<string, 'v0' | 'v1'>();
  for (const s of sources) {
    const v = fileVersion(s.name);
    versions.set(s.name, v);
    try {
      const m = parseModule(s.text, s.name, { version: v });
      modules.push({ pkg: packageText(m.package), path: s.name });
    } catch (err) {
      if (err instanceof CocoError) throw fail(`1 error occurred: ${err.message}`, err);
      throw err;
    }
  }
  const rawRoots = Array.isArray(manifest.roots) ? (manifest.roots as string[]) : [''];
  const roots = rawRoots.map((r) => r.replace(/^\/+|\/+$/g, ''));
  try {
    checkRoots(roots, modules, data);
  } catch (err) {
    if (err instanceof CocoError) throw fail(err.message, err);
    throw err;
  }
  // The manifest as opa marshals it: revision always, roots (standardised) always, the rest when set.
  const shownManifest: Record<string, unknown> = { revision: typeof manifest.revision === 'string' ? manifest.revision : '', roots };
  for (const k of ['wasm', 'rego_version', 'file_rego_versions', 'metadata']) {
    const v = manifest[k];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && Object.keys(v).length === 0)) shownManifest[k] = v;
  }
  insertBundleData(data, ['system', 'bundle', 'manifest'], shownManifest, (why) => fail(`bundle load failed on /system/bundle/manifest/revision: ${why}`));
  return { modules: sources.map((s) => ({ ...s, version: versions.get(s.name) ?? regoVersion })), data };
}

/**
 * opa's bundle insertData: `doc` placed at `key` and merged into the bundle's data; a document at the root must
 * be an object, and a key both set (unless both values are objects) is refused.
 */
function insertBundleData(into: Record<string, unknown>, key: string[], doc: unknown, fail: (why: string) => CocoError): void {
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof BigNum);
  if (key.length === 0 && !isObj(doc)) throw fail('root value must be object');
  const tree = rooted(key, doc);
  if (conflicts(shapeOf(into), shapeOf(tree))) throw fail(`failed to insert data file from path ${key.join('/')}`);
  mergeInto(into, tree);
}

/**
 * Loads one `-d`/`-b` argument into the engine, as opa's loader does. `shown` is the path as given, which names
 * files in messages (`dir/a/x.json`, as opa joins it); `root` is where it is on disk. `shape` holds what earlier
 * `-d` data files set, so that two files setting one key is the loader's merge error.
 */
function load(
  engine: Engine,
  root: string,
  shown: string,
  opts: { bundle: boolean; version: 'v0' | 'v1'; prefix?: string[]; shape?: Map<string, Shape>; errors?: CocoError[]; bundleModules?: Map<string, BundleModule> },
): void {
  const prefix = opts.prefix ?? [];
  // With `errors`, a file that fails is recorded and loading goes on, as opa's loader gathers its errors.
  const each = (f: () => void): void => {
    try {
      f();
    } catch (e) {
      if (!opts.errors || !(e instanceof CocoError) || e.kind === 'usage') throw e;
      opts.errors.push(e);
    }
  };
  let st;
  try {
    st = statSync(root);
  } catch (e) {
    const err = new CocoError('CLI_FILE', `cannot read ${shown}: ${(e as Error).message}`, { kind: 'input', cause: e });
    if (!opts.errors) throw err;
    opts.errors.push(err);
    return;
  }
  const addDoc = (name: string, doc: unknown, segments: string[]): void => {
    segments = [...prefix, ...segments];
    if (segments.length === 0 && (doc === null || typeof doc !== 'object' || Array.isArray(doc) || doc instanceof BigNum)) {
      throw new CocoError('REGO_DATA', `${name}: document must be of type object`, { kind: 'input' });
    }
    if (opts.shape) {
      const shape = shapeOf(rooted(segments, doc));
      if (conflicts(opts.shape, shape)) throw new CocoError('REGO_DATA', `${name}: merge error`, { kind: 'input' });
      mergeShape(opts.shape, shape as Map<string, Shape>);
    }
    engine.addData(rooted(segments, doc));
  };
  const addFile = (file: string, name: string, segments: string[], top: boolean): void => {
    const base = file.split(sep).pop()!;
    if (!opts.bundle && base.endsWith('.tar.gz') && !/\.(json|rego|ya?ml)$/.test(base)) {
      const b = readTarballBundle(file, name, opts.version);
      // opa's loader keeps modules by their path in the archive: a later archive's module of the same path
      // replaces an earlier one's (the caller adds them once every `-d` is read).
      for (const m of b.modules) {
        if (opts.bundleModules) opts.bundleModules.set(m.name, m);
        else engine.addPolicy(m.name, m.text, { regoVersion: m.version });
      }
      addDoc(name, b.data, segments);
    } else if (base.endsWith('.rego')) engine.addPolicy(name, readText(file), { regoVersion: opts.version });
    else if (/\.(json|ya?ml)$/i.test(base)) {
      if (opts.bundle && !/^data\.(json|ya?ml)$/i.test(base)) return;
      addDoc(name, parseDoc(readText(file), name), segments);
    } else if (top && !opts.bundle) addAnyType(file, name);
  };
  // A file named on the command line whose extension says nothing is tried as Rego, then JSON, then YAML
  // (opa:v1/loader loadFileForAnyType); inside a directory such files are skipped.
  const addAnyType = (file: string, name: string): void => {
    const text = readText(file);
    try {
      engine.addPolicy(name, text, { regoVersion: opts.version });
      return;
    } catch (e) {
      if (!(e instanceof CocoError) || !/rego_parse_error/.test(e.message)) throw e;
    }
    let doc: unknown;
    try {
      doc = parseJsonValue(text);
    } catch {
      try {
        doc = parseYaml(text);
      } catch {
        throw new CocoError('REGO_DATA', `${name}: can't recognize file type`, { kind: 'input' });
      }
    }
    addDoc(name, doc ?? null, []);
  };
  if (opts.bundle && !st.isDirectory()) {
    loadBundleArchive(engine, root, opts.version, shown);
    return;
  }
  if (!st.isDirectory()) {
    each(() => addFile(root, shown, [], true));
    return;
  }
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const rel = relative(root, p);
      if (statSync(p).isDirectory()) walk(p);
      else each(() => addFile(p, join(shown, rel), relative(root, dir).split(sep).filter((s) => s !== ''), false));
    }
  };
  walk(root);
}

/**
 * Several files that failed to load, reported one by one as opa reports its loader's errors: each parse error
 * with its code and position, each other failure by its message.
 */
function loadErrors(errors: CocoError[]): CocoError {
  const list: CompileError[] = errors.flatMap((e) => {
    const listed = compileErrors(e);
    if (listed) return listed;
    const d = e.detail as { opaCode?: string; message?: string; file?: string; row?: number; col?: number } | undefined;
    if (d?.opaCode) return [{ code: d.opaCode, message: d.message ?? e.message, file: d.file ?? '', row: d.row ?? 0, col: d.col ?? 0 }];
    return [{ code: '', message: e.message, file: '', row: 0, col: 0 }];
  });
  const text = list.map((x) => (x.code ? `${x.file || x.row ? `${x.file}:${x.row}: ` : ''}${x.code}: ${x.message}` : x.message)).join('\n');
  return new CocoError(errors[0]!.code, `${list.length} errors occurred:\n${text}`, { kind: 'input', detail: { errors: list } });
}

/** The OPA error code in an engine message (`rego_parse_error`, `eval_conflict_error`, …), if it names one. */
function opaCode(e: CocoError): string | undefined {
  return /\b(rego_[a-z_]+_error|eval_[a-z_]+_error)\b/.exec(e.message)?.[1];
}

/** The errors a compile failure lists one by one (rego/compiler.ts), as opa lists them. */
function compileErrors(e: CocoError): CompileError[] | undefined {
  const list = (e.detail as { errors?: unknown } | undefined)?.errors;
  return Array.isArray(list) && list.length > 0 ? (list as CompileError[]) : undefined;
}

function errorJson(e: CocoError): unknown {
  const listed = compileErrors(e);
  if (listed) {
    return {
      errors: listed.map((x) => ({ message: x.message, ...(x.code ? { code: x.code } : {}), ...(x.file || x.row ? { location: { file: x.file, row: x.row, col: x.col || 1 } } : {}) })),
    };
  }
  const loc = /^([^:\s]+):(\d+)(?::(\d+))?:/.exec(e.message);
  const code = opaCode(e);
  return {
    errors: [
      {
        message: e.message.replace(/^[^:\s]+:\d+(?::\d+)?:\s*/, '').replace(/^(rego|eval)_[a-z_]+_error:\s*/, ''),
        ...(code ? { code } : {}),
        ...(loc ? { location: { file: loc[1], row: Number(loc[2]), col: Number(loc[3] ?? 1) } } : {}),
      },
    ],
  };
}

type Result = ReturnType<Engine['evalQuery']>['result'];

function renderCell(v: unknown): string {
  return stringify(v);
}

/**
 * opa's result table (internal/presentation generateResultKeys): a column per variable bound in the first
 * result, sorted by name, then one per expression of the first result whose value is not a boolean (every
 * expression when nothing is bound), in query order.
 */
function table(rows: Result): string {
  const first = rows[0];
  const bindingKeys = first ? Object.keys(first.bindings).sort() : [];
  const exprIdx = (first?.expressions ?? []).flatMap((x, i) => (typeof x.value !== 'boolean' || bindingKeys.length === 0 ? [i] : []));
  const keys = [...bindingKeys, ...exprIdx.map((i) => first!.expressions[i]!.text)];
  const body = rows.map((r) => [...bindingKeys.map((k) => (k in r.bindings ? renderCell(r.bindings[k]) : 'null')), ...exprIdx.map((i) => renderCell(r.expressions[i]?.value ?? null))]);
  const widths = keys.map((k, i) => Math.max(k.length, ...body.map((b) => b[i]!.length)));
  const line = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const row = (cells: string[]) => '|' + cells.map((c, i) => ` ${c.padEnd(widths[i]!)} `).join('|') + '|';
  return [line, row(keys), line, ...body.map(row), line].join('\n') + '\n';
}

/** opa's pretty tables: upper-case centred headers, left-aligned cells. */
function prettyTable(header: string[], rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const centre = (h: string, w: number): string => {
    const left = Math.ceil((w - h.length) / 2);
    return ' '.repeat(left) + h + ' '.repeat(w - h.length - left);
  };
  const head = '|' + header.map((h, i) => ` ${centre(h.toUpperCase(), widths[i]!)} `).join('|') + '|';
  const body = rows.map((r) => '|' + r.map((c, i) => ` ${c.padEnd(widths[i]!)} `).join('|') + '|');
  return [line, head, line, ...body, line].join('\n') + '\n';
}

function metricsTable(m: Record<string, number>): string {
  return prettyTable(['metric', 'value'], Object.keys(m).sort().map((k) => [k, String(m[k])]));
}

/** A location as opa's Location.String prints it: `file:row`, or `row:col` for the query. */
function locationText(l: ExprStats['location']): string {
  return l.file !== '' ? `${l.file}:${l.row}` : `${l.row}:${l.col}`;
}

function profileTable(p: ExprStats[]): string {
  return prettyTable(
    ['time', 'num eval', 'num redo', 'num gen expr', 'location'],
    p.map((s) => [goDuration(s.total_time_ns), String(s.num_eval), String(s.num_redo), String(s.num_gen_expr), locationText(s.location)]),
  );
}

/** The result as Go encodes rego.Result: `bindings` is `omitempty`, so a row without bindings has none. */
function goResult(result: Result): Array<Omit<Result[number], 'bindings'> & { bindings?: Result[number]['bindings'] }> {
  return result.map((r) => (Object.keys(r.bindings).length > 0 ? r : { expressions: r.expressions }));
}

function render(format: string, result: Result): string {
  switch (format) {
    case 'values':
      return result.map((r) => stringify(r.expressions.map((x) => x.value), 2) + '\n').join('');
    case 'bindings':
      return result.map((r) => stringify(r.bindings, 2) + '\n').join('');
    case 'raw':
      return result.map((r) => r.expressions.map((x) => (typeof x.value === 'string' ? x.value : stringify(x.value))).join(' ') + '\n').join('');
    case 'pretty': {
      if (result.length === 0) return 'undefined\n';
      const only = result[0]!;
      if (result.length === 1 && Object.keys(only.bindings).length === 0 && (only.expressions.length === 1 || only.expressions.every((x) => typeof x.value === 'boolean'))) {
        return stringify(only.expressions[0]!.value, 2) + '\n';
      }
      return table(result);
    }
    default:
      return stringify(result.length > 0 ? { result: goResult(result) } : {}, 2) + '\n';
  }
}

function explainMode(v: string | undefined): ExplainMode {
  if (v === undefined) return 'off';
  if (!(EXPLAIN_MODES as readonly string[]).includes(v)) throw usage(`--explain: want one of ${EXPLAIN_MODES.join(', ')}, got ${JSON.stringify(v)}`);
  return v as ExplainMode;
}

/** Runs one `policy eval`; returns the exit status opa would give. */
export function runEval(io: CliIO, queryArg: string | undefined, opts: EvalOptions): number {
  if (!(FORMATS as readonly string[]).includes(opts.format)) throw usage(`--format: want one of ${FORMATS.join(', ')}, got ${JSON.stringify(opts.format)}`);
  if (opts.fail && opts.failDefined) throw usage('specify --fail or --fail-defined but not both');
  if (opts.stdin && queryArg !== undefined) throw usage('specify query argument or --stdin but not both');
  if (!opts.stdin && queryArg === undefined) throw usage('specify query argument or --stdin');
  if (opts.stdin && opts.stdinInput) throw usage('specify --stdin or --stdin-input but not both');
  if (opts.stdinInput && opts.input !== undefined) throw usage('specify --stdin-input or --input but not both');
  const mode = explainMode(opts.explain);
  const sorts = (opts.profileSort ?? []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter((x) => x !== '');
  for (const x of sorts) if (!(PROFILE_SORTS as readonly string[]).includes(x)) throw usage(`--profile-sort: want ${PROFILE_SORTS.join(', ')}, got ${JSON.stringify(x)}`);
  const limit = opts.profileLimit === undefined ? 10 : Number(opts.profileLimit);
  if (!Number.isSafeInteger(limit)) throw usage(`--profile-limit: want an integer, got ${JSON.stringify(opts.profileLimit)}`);
  const profiler = opts.profile || sorts.length > 0 ? new Profiler() : undefined;
  const metrics: Record<string, number> | undefined = opts.metrics || profiler ? {} : undefined;
  const readStdin = (): string => {
    if (!io.readStdin) throw usage('standard input is not available');
    return io.readStdin();
  };
  const query = opts.stdin ? readStdin() : queryArg!;
  const version = opts.v0 || opts.v0Compatible ? 'v0' : 'v1';

  const engine = new Engine({ strict: opts.strict || opts.strictBuiltinErrors, strictCompile: opts.strict });
  const events: TraceEvent[] | undefined = mode === 'off' ? undefined : [];
  // opa prints the trace before the result (or the error) in pretty output and carries it in JSON output.
  const explanation = (): TraceEvent[] => (events && mode !== 'off' ? filterTrace(events, mode) : []);
  let result: Result;
  try {
    const loadStart = process.hrtime.bigint();
    const shape = new Map<string, Shape>();
    const errors: CocoError[] = [];
    const bundleModules = new Map<string, BundleModule>();
    for (const d of opts.data) {
      const { prefix, path } = splitPrefix(d);
      load(engine, resolve(io.cwd, path), path, { bundle: false, version, prefix, shape, errors, bundleModules });
    }
    for (const m of bundleModules.values()) engine.addPolicy(m.name, m.text, { regoVersion: m.version });
    if (errors.length === 1) throw errors[0]!;
    if (errors.length > 1) throw loadErrors(errors);
    for (const b of opts.bundle) load(engine, resolve(io.cwd, b), b, { bundle: true, version });
    if (opts.stdinInput) engine.setInput(parseInput(readStdin(), '<stdin>'));
    else if (opts.input) engine.setInput(parseInput(readText(resolve(io.cwd, opts.input)), opts.input));
    const evalStart = process.hrtime.bigint();
    if (metrics) metrics.timer_rego_load_files_ns = Number(evalStart - loadStart);
    try {
      result = engine.evalQuery(query, version, profiler, events).result;
      if (metrics) metrics.timer_rego_query_eval_ns = Number(process.hrtime.bigint() - evalStart);
    } finally {
      for (const p of engine.takePrints()) io.stderr(p + '\n');
    }
  } catch (e) {
    if (!(e instanceof CocoError) || e.kind === 'usage') throw e;
    const trace = explanation();
    if (opts.format === 'json') io.stdout(stringify(trace.length > 0 ? { ...(errorJson(e) as object), explanation: traceJson(trace) } : errorJson(e), 2) + '\n');
    else {
      if (opts.format === 'pretty' && trace.length > 0) io.stdout(prettyTrace(trace));
      io.stderr(`${(compileErrors(e)?.length ?? 1) > 1 ? '' : '1 error occurred: '}${e.message}\n`);
    }
    return 2;
  }

  const trace = explanation();
  if (opts.format === 'pretty' && trace.length > 0) io.stdout(prettyTrace(trace));
  // The query's expressions have no file in opa's locations.
  const profile = profiler
    ?.report(sorts.length > 0 ? (sorts as ProfileSort[]) : undefined, limit)
    .map((x) => (x.location.file === 'query' ? { ...x, location: { ...x.location, file: '' } } : x));
  if (opts.format === 'json' && (metrics || profile || trace.length > 0)) {
    const explained = trace.length > 0 ? { explanation: traceJson(trace) } : {};
    io.stdout(stringify({ ...(result.length > 0 ? { result: goResult(result) } : {}), ...explained, ...(metrics ? { metrics } : {}), ...(profile ? { profile } : {}) }, 2) + '\n');
  } else {
    io.stdout(render(opts.format, result));
    if (opts.format === 'pretty' && metrics) io.stdout(metricsTable(metrics));
    if (opts.format === 'pretty' && profile) io.stdout(profileTable(profile));
  }

  const defined = result.length > 0;
  return (opts.fail && !defined) || (opts.failDefined && defined) ? 1 : 0;
}

export function registerEval(policy: Command, io: CliIO): void {
  policy
    .command('eval')
    .description('evaluate a Rego query, as opa eval (formats, --fail/--fail-defined, --explain, directories)')
    .argument('[query]', 'Rego query, e.g. data.policy.allow (several expressions separated by ; or newlines)')
    .option('-d, --data <path>', '.rego, .json, .yaml or bundle .tar.gz file, or a directory loaded recursively; x.y:PATH roots its data under data.x.y (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-b, --bundle <path>', 'bundle directory or .tar.gz archive: .rego files and data.json/data.yaml data (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-i, --input <file>', 'input document (JSON or YAML)')
    .option('-I, --stdin-input', 'read the input document from standard input', false)
    .option('--stdin', 'read the query from standard input', false)
    .option('-f, --format <format>', `output format: ${FORMATS.join(', ')}`, 'json')
    .option('--fail', 'exit 1 when the result is undefined (errors exit 2)', false)
    .option('--fail-defined', 'exit 1 when the result is defined (errors exit 2)', false)
    .option('--explain <mode>', `print the evaluation's trace as opa does: ${EXPLAIN_MODES.join(', ')}`)
    .option('--v0-compatible', 'parse modules and query as Rego v0', false)
    .option('--v0', 'same as --v0-compatible', false)
    .option('-S, --strict', 'strict compiler checks (and strict builtin errors)', false)
    .option('--strict-builtin-errors', 'a failing builtin halts evaluation', false)
    .option('--profile', 'report per-expression evaluation counts and times (with metrics)', false)
    .option('--profile-sort <criteria>', `sort the profile by ${PROFILE_SORTS.join(', ')} (repeatable or comma-separated)`, (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--profile-limit <n>', 'number of profile entries to show (0: all)', '10')
    .option('--metrics', 'report evaluation timers', false)
    .action((query: string | undefined, opts: EvalOptions) => {
      const code = runEval(io, query, opts);
      if (code !== 0) io.exitCode = code;
    });
}
