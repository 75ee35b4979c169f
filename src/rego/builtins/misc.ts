/**
 * Runtime and compatibility built-ins: `opa.runtime`, `trace`, `http.send` (request validation only: there is
 * no network at verification time, so every host is refused as OPA refuses one `allow_net` does not list), `time.now_ns` lives in time.ts;
 * and the Rego v0 deprecated `any`, `all`, `cast_*`, `set_diff` (opa:v1/topdown/{runtime,trace,http,casts}.go).
 */
import { type Value, RObject, RSet, isObject, isSet, obj, toRegoString } from '../value.js';
import { type BuiltinContext, type BuiltinDef, BuiltinError, argArrayOrSet, argObject, argSet, argString, builtinError, typeError, typeErrorOneOf } from './registry.js';

/** opa:v1/topdown/http.go allowedKeyNames. */
const HTTP_KEYS = new Set([
  'method', 'url', 'body', 'enable_redirect', 'force_json_decode', 'force_yaml_decode', 'headers', 'raw_body',
  'tls_use_system_certs', 'tls_ca_cert', 'tls_ca_cert_file', 'tls_ca_cert_env_variable', 'tls_client_cert',
  'tls_client_cert_file', 'tls_client_cert_env_variable', 'tls_client_key', 'tls_client_key_file',
  'tls_client_key_env_variable', 'tls_insecure_skip_verify', 'tls_server_name', 'timeout', 'cache', 'force_cache',
  'force_cache_duration_seconds', 'raise_error', 'caching_mode', 'max_retry_attempts', 'cache_ignored_headers',
]);

/** opa:v1/topdown/http.go validateHTTPRequestOperand: unknown and missing request keys are type errors. */
export function validateHttpRequest(name: string, req: RObject): void {
  const invalid = new RSet();
  for (const k of req.keys()) if (typeof k !== 'string' || !HTTP_KEYS.has(k)) invalid.add(k);
  if (invalid.size > 0) {
    throw new BuiltinError('eval_type_error', `${name}: invalid request parameters(s): ${toRegoString(invalid)}`);
  }
  const missing = new RSet();
  for (const k of ['method', 'url']) if (req.getStr(k) === undefined) missing.add(k);
  if (missing.size > 0) {
    throw new BuiltinError('eval_type_error', `${name}: missing required request parameters(s): ${toRegoString(missing)}`);
  }
}

/**
 * There is no network during evaluation: every host is refused as OPA refuses one its capabilities' `allow_net`
 * does not list (`unallowed host: …`). With `raise_error: false` OPA answers with a response object instead,
 * `status_code` 0 and the error (code `eval_http_send_internal_error`, message the full topdown error text).
 */
function httpSend(a: Value[], ctx: BuiltinContext): Value {
  const name = 'http.send';
  const req = argObject(name, a, 0);
  const re = req.getStr('raise_error');
  if (re !== undefined && typeof re !== 'boolean') throw builtinError(name, 'invalid value for raise_error field');
  const raise = re !== false;
  let err: BuiltinError;
  try {
    validateHttpRequest(name, req);
    const url = req.getStr('url');
    err = builtinError(name, `unallowed host: ${urlHost(typeof url === 'string' ? url : '')}`);
  } catch (e) {
    if (!(e instanceof BuiltinError)) throw e;
    err = e;
  }
  if (raise) throw err;
  const full = `${ctx.location ? ctx.location + ': ' : ''}${err.code}: ${err.message}`;
  return obj({ status_code: 0, error: obj({ code: 'eval_http_send_internal_error', message: full }) });
}

/** The host part of a URL as OPA's verifyURLHost takes it: url.Parse's Host, cut at the first `:`. */
function urlHost(raw: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(raw);
  if (!m) return '';
  const authority = m[1]!.replace(/^.*@/, '');
  return authority.split(':')[0]!;
}

function cast(name: string, f: (v: Value) => Value | undefined, expected: string): BuiltinDef {
  return {
    name,
    arity: 1,
    deprecated: true,
    fn: (a) => {
      const r = f(a[0]!);
      if (r === undefined) throw typeError(name, 1, expected, a[0]!);
      return r;
    },
  };
}

export const builtins: BuiltinDef[] = [
  {
    name: 'opa.runtime',
    arity: 0,
    nondeterministic: true,
    fn: (_a, ctx) => {
      // OPA returns an empty object when the host supplied no runtime information.
      const o = new RObject();
      const entries = Object.entries(ctx.env);
      if (entries.length === 0) return o;
      const env = new RObject();
      for (const [k, v] of entries) env.set(k, v);
      o.set('env', env);
      return o;
    },
  },
  // The engine records trace notes itself when tracing is on; the builtin only validates and succeeds.
  { name: 'trace', arity: 1, fn: (a) => (argString('trace', a, 0), true) },
  { name: 'http.send', arity: 1, nondeterministic: true, fn: httpSend },
  // OPA's test harness registers `test.sleep`; the query clock is fixed per query, so it need not wait.
  { name: 'test.sleep', arity: 1, fn: (a) => (argString('test.sleep', a, 0), true) },
  {
    name: 'any',
    arity: 1,
    deprecated: true,
    fn: (a) => argArrayOrSet('any', a, 0).some((x) => x === true),
  },
  {
    name: 'all',
    arity: 1,
    deprecated: true,
    fn: (a) => argArrayOrSet('all', a, 0).every((x) => x === true),
  },
  {
    name: 'cast_array',
    arity: 1,
    deprecated: true,
    fn: (a) => {
      const v = a[0]!;
      if (Array.isArray(v)) return v;
      if (isSet(v)) return [...v.values()];
      throw typeErrorOneOf('cast_array', 1, ['array', 'set'], v);
    },
  },
  {
    name: 'cast_set',
    arity: 1,
    deprecated: true,
    fn: (a) => {
      const v = a[0]!;
      if (Array.isArray(v)) return RSet.from(v);
      if (isSet(v)) return v;
      throw typeErrorOneOf('cast_set', 1, ['array', 'set'], v);
    },
  },
  cast('cast_string', (v) => (typeof v === 'string' ? v : undefined), 'string'),
  cast('cast_boolean', (v) => (typeof v === 'boolean' ? v : undefined), 'boolean'),
  cast('cast_null', (v) => (v === null ? null : undefined), 'null'),
  cast('cast_object', (v) => (isObject(v) ? v : undefined), 'object'),
  {
    name: 'set_diff',
    arity: 2,
    deprecated: true,
    fn: (a) => {
      const x = argSet('set_diff', a, 0);
      const y = argSet('set_diff', a, 1);
      const out = new RSet();
      for (const v of x.unorderedValues()) if (!y.has(v)) out.add(v);
      return out;
    },
  },
];
