/**
 * `providers.aws.sign_req` (opa:v1/topdown/providers.go, internal/providers/aws/signing_v4.go): AWS
 * Signature Version 4 over a request object, at the given time (ns). The request is validated like
 * `http.send`'s; the result is the request with its headers replaced by the signed set (original headers,
 * `Authorization`, `host`, `x-amz-date`, and for s3/glacier `x-amz-content-sha256`, plus
 * `x-amz-security-token` for session credentials). No network is involved.
 */
import { createHash, createHmac } from 'node:crypto';
import { type Value, RObject, RSet, isNumber, isObject, toRegoString } from '../value.js';
import { type BuiltinDef, BuiltinError, argObject, builtinError, typeError } from './registry.js';
import { goJsonMarshal } from './encoding.js';
import { validateHttpRequest } from './misc.js';
import { formatTime, UTC } from './time.js';
import { parseUrl } from './uri.js';

const NAME = 'providers.aws.sign_req';
const REQUIRED = ['aws_access_key', 'aws_region', 'aws_secret_access_key', 'aws_service'];
const IGNORED = new Set(['authorization', 'user-agent', 'x-amzn-trace-id']);

const sha256hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const hmac = (key: Buffer | string, msg: string): Buffer => createHmac('sha256', key).update(msg, 'utf8').digest();

function str(v: Value | undefined): string {
  return typeof v === 'string' ? v : '';
}

/** Host (with port) and the escaped path and raw query, as url.URL gives them. */
function urlParts(u: string): { host: string; path: string; query: string } {
  try {
    parseUrl(u);
  } catch (e) {
    throw builtinError(NAME, `parse ${JSON.stringify(u)}: ${(e as Error).message}`);
  }
  const noFrag = u.split('#')[0]!;
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?]*)([^?]*)(?:\?(.*))?$/.exec(noFrag);
  if (!m) return { host: '', path: noFrag.split('?')[0]!, query: noFrag.includes('?') ? noFrag.slice(noFrag.indexOf('?') + 1) : '' };
  const authority = m[1]!;
  return { host: authority.slice(authority.lastIndexOf('@') + 1), path: m[2]!, query: m[3] ?? '' };
}

function signReq(a: Value[]): Value {
  const req = argObject(NAME, a, 0);
  // OPA names the config object and the timestamp "operand 1" in their type errors (it passes position 1
  // for both: opa:v1/topdown/providers.go builtinAWSSigV4SignReq, ObjectOperand(operands[1], 1) and
  // NumberOperand(operands[2], 1)); the messages match it.
  if (!isObject(a[1]!)) throw typeError(NAME, 1, 'object', a[1]!);
  const cfg = a[1];
  const missing = REQUIRED.filter((k) => cfg.getStr(k) === undefined);
  if (missing.length > 0) {
    throw new BuiltinError('eval_type_error', `${NAME}: operand 2 missing required AWS config parameters(s): ${toRegoString(toSet(missing))}`);
  }
  const invalid = REQUIRED.filter((k) => typeof cfg.getStr(k) !== 'string');
  if (invalid.length > 0) {
    throw new BuiltinError('eval_type_error', `${NAME}: operand 2 invalid values for required AWS config parameters(s): ${toRegoString(toSet(invalid))}`);
  }
  const t = a[2]!;
  if (!isNumber(t)) throw typeError(NAME, 1, 'number', t);
  const ns = typeof t === 'bigint' ? t : typeof t === 'number' && Number.isInteger(t) ? BigInt(t) : undefined;
  if (ns === undefined || ns < -(2n ** 63n) || ns >= 2n ** 63n) {
    throw new BuiltinError('eval_type_error', `${NAME}: operand 3 could not convert time_ns value into a unix timestamp`);
  }
  validateHttpRequest(NAME, req);
  const url = req.getStr('url');
  const method = req.getStr('method');
  const bad: string[] = [];
  if (typeof url !== 'string') bad.push('url');
  if (typeof method !== 'string') bad.push('method');
  if (bad.length > 0) throw new BuiltinError('eval_type_error', `${NAME}: operand 1 invalid values for required request parameters(s): ${toRegoString(toSet(bad))}`);
  const headersV = req.getStr('headers');
  if (headersV !== undefined && !isObject(headersV)) throw typeError(NAME, 0, 'object', headersV);
  const headers = new Map<string, string>();
  if (headersV) for (const [k, v] of headersV.entries()) headers.set(str(k), str(v));
  const rawBody = req.getStr('raw_body');
  const body = req.getStr('body');
  const bodyBytes = Buffer.from(rawBody !== undefined ? str(rawBody) : body !== undefined ? goJsonMarshal(body) : '', 'utf8');
  const dps = cfg.getStr('disable_payload_signing');
  if (dps !== undefined && typeof dps !== 'boolean') throw new BuiltinError('eval_type_error', `${NAME}: operand 2 invalid value for 'disable_payload_signing' in AWS config`);

  const service = str(cfg.getStr('aws_service'));
  const region = str(cfg.getStr('aws_region'));
  const session = str(cfg.getStr('aws_session_token'));
  const { host, path, query } = urlParts(url as string);
  const bodyHash = dps === true ? 'UNSIGNED-PAYLOAD' : sha256hex(bodyBytes);
  const amzDate = formatTime(ns, UTC, '20060102T150405Z');
  const date = amzDate.slice(0, 8);
  const awsHeaders = new Map<string, string>([['host', host], ['x-amz-date', amzDate]]);
  if (service === 's3' || service === 'glacier') awsHeaders.set('x-amz-content-sha256', bodyHash);
  if (session !== '') awsHeaders.set('x-amz-security-token', session);
  const toSign = new Map<string, string>(awsHeaders);
  for (const [k, v] of headers) if (!IGNORED.has(k.toLowerCase())) toSign.set(k.toLowerCase(), v);
  const keys = [...toSign.keys()].sort();
  const canonical = `${method as string}\n${path}\n${query}\n${keys.map((k) => `${k}:${toSign.get(k)!}\n`).join('')}\n${keys.join(';')}\n${bodyHash}`;
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256hex(canonical)}`;
  let key = hmac(`AWS4${str(cfg.getStr('aws_secret_access_key'))}`, date);
  key = hmac(key, region);
  key = hmac(key, service);
  key = hmac(key, 'aws4_request');
  const signature = hmac(key, stringToSign).toString('hex');
  const out = new RObject();
  for (const [k, v] of headers) out.set(k, v);
  out.set('Authorization', `AWS4-HMAC-SHA256 Credential=${str(cfg.getStr('aws_access_key'))}/${scope},SignedHeaders=${keys.join(';')},Signature=${signature}`);
  for (const [k, v] of awsHeaders) out.set(k, v);
  return req.copy().set('headers', out);
}

function toSet(xs: string[]): RSet {
  return RSet.from(xs);
}

export const builtins: BuiltinDef[] = [{ name: NAME, arity: 3, fn: signReq }];
