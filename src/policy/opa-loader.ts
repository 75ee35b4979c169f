/**
 * Policies, data and bundles read as `opa eval` reads its `-d` and `-b` arguments (opa:v1/loader, bundle.go),
 * for `cocokit policy eval` and for a library user who loads an OPA layout:
 * - a directory gives every `.rego`, `.json`, `.yaml`/`.yml` below it; a data file is rooted at its directory's
 *   path relative to the argument (`-d dir` with `dir/a/b/x.json` → `data.a.b`), under `data.x.y` with an
 *   `x.y:PATH` prefix. Two data files that set one key (unless both values are objects) are a merge error; a
 *   root document must be an object; a file named directly whose extension is none of these is tried as Rego,
 *   then JSON, then YAML. Files are named in messages and locations by the path as given.
 * - a `*.tar.gz` found or named by `-d` is read as a bundle archive, as opa's loader does: its data rooted where
 *   the archive lies, its manifest at `data.system.bundle.manifest`, failures as `bundle PATH: …` in opa's words.
 * - a `-b` bundle (directory or archive) gives its `.rego` files and only data files named `data.json` /
 *   `data.yaml`; an archive's `.manifest` roots bound its packages and data.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative, resolve, sep } from 'node:path';
import { Lexer, parseDocument, visit } from 'yaml';
import { CocoError } from '../errors.js';
import { BigNum, type Engine, fromJson, parseJsonValue, parseModule, toJs } from '../rego/index.js';
import type { CompileError } from '../rego/compiler.js';
import { RObject } from '../rego/value.js';
import { GO_YAML_V2, goYamlQuoted } from '../rego/builtins/goyaml.js';
import { TarballError, type TarEntry, readBundleTarball } from './bundle-archive.js';
import { compileGlob } from '../rego/builtins/glob.js';
import { firstValueText, goJsonError } from '../rego/builtins/gojson.js';

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

export function readText(file: string): string {
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
export function parseInput(text: string, name: string): unknown {
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

/** The errors a compile failure lists one by one (rego/compiler.ts), as opa lists them. */
export function compileErrors(e: CocoError): CompileError[] | undefined {
  const list = (e.detail as { errors?: unknown } | undefined)?.errors;
  return Array.isArray(list) && list.length > 0 ? (list as CompileError[]) : undefined;
}

/**
 * Loads `opa eval`'s `-d` and `-b` arguments into `engine`, as opa's loader does: every `-d` path (a file, a
 * directory or a bundle archive, `x.y:PATH` rooting its data under `data.x.y`) is read before a failure is
 * reported, several failures together in one error; bundle archives' modules are added once all are read (a
 * later archive's module of the same path replaces an earlier one's); then each `-b` bundle. Paths are resolved
 * against `cwd` and named in messages as given.
 */
export function loadAsOpa(engine: Engine, o: { data: readonly string[]; bundles: readonly string[]; cwd: string; version: 'v0' | 'v1' }): void {
  const shape = new Map<string, Shape>();
  const errors: CocoError[] = [];
  const bundleModules = new Map<string, BundleModule>();
  for (const d of o.data) {
    const { prefix, path } = splitPrefix(d);
    load(engine, resolve(o.cwd, path), path, { bundle: false, version: o.version, prefix, shape, errors, bundleModules });
  }
  for (const m of bundleModules.values()) engine.addPolicy(m.name, m.text, { regoVersion: m.version });
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) throw loadErrors(errors);
  for (const b of o.bundles) load(engine, resolve(o.cwd, b), b, { bundle: true, version: o.version });
}
