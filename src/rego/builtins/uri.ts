/**
 * `uri.parse` and `uri.is_valid` following Go's net/url.Parse: scheme, `//authority` with userinfo and
 * host/port validation (`net/url: invalid userinfo`, `invalid port ":x" after host`, percent-encoded ASCII in
 * a host is `invalid URL escape`), opaque URIs (`mailto:…`), query and fragment. Empty components are
 * omitted from the result. `raw_path` keeps the path's percent-encodings except for characters that never
 * need one (`A-Z a-z 0-9 - _ . ~ ! * ' ( )`), which the conformance suite shows decoded.
 */
import { RObject } from '../value.js';
import { type BuiltinDef, argString, builtinError } from './registry.js';
import { bytesToString } from './encoding.js';
import { goQuoteBytes } from './sprintf.js';

/** Go's strconv.Quote of a string (net/url quotes the URL and its parts with %q). */
const goQuote = (t: string): string => goQuoteBytes(Buffer.from(t, 'utf8'));

class UrlError extends Error {}

const HEX = /^[0-9a-fA-F]{2}$/;

function unescape(s: string, mode: 'path' | 'host' | 'fragment'): string {
  const bytes: number[] = [];
  const src = Buffer.from(s, 'utf8');
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0x25) {
      const hx = src.subarray(i + 1, i + 3).toString('latin1');
      if (i + 2 >= src.length || !HEX.test(hx)) {
        throw new UrlError(`invalid URL escape ${goQuoteBytes(src.subarray(i, Math.min(i + 3, src.length)))}`);
      }
      const v = parseInt(hx, 16);
      if (mode === 'host' && v < 0x80 && hx !== '25') throw new UrlError(`invalid URL escape ${goQuote('%' + hx)}`);
      bytes.push(v);
      i += 2;
    } else {
      if (mode === 'host' && c < 0x80 && !/[A-Za-z0-9\-_.~!$&'()*+,;=:[\]<>"]/.test(String.fromCharCode(c))) {
        throw new UrlError(`invalid character ${goQuote(String.fromCharCode(c))} in host name`);
      }
      bytes.push(c);
    }
  }
  return bytesToString(Buffer.from(bytes));
}

function validUserinfo(s: string): boolean {
  return /^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(s);
}

function validOptionalPort(p: string): boolean {
  return p === '' || /^:[0-9]*$/.test(p);
}

interface Parsed {
  scheme: string;
  hostname: string;
  port: string;
  path: string;
  rawPath: string;
  rawQuery: string;
  fragment: string;
}

function normaliseRawPath(raw: string): string {
  return raw.replace(/%([0-9a-fA-F]{2})/g, (m, h: string) => {
    const c = String.fromCharCode(parseInt(h, 16));
    return /[A-Za-z0-9\-_.~!*'()]/.test(c) ? c : m;
  });
}

export function parseUrl(raw: string): Parsed {
  const out: Parsed = { scheme: '', hostname: '', port: '', path: '', rawPath: '', rawQuery: '', fragment: '' };
  let rest = raw;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    out.fragment = unescape(rest.slice(hash + 1), 'fragment');
    rest = rest.slice(0, hash);
  }
  if (/[\u0000-\u001f\u007f]/.test(rest)) throw new UrlError('net/url: invalid control character in URL');
  const sm = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(rest);
  if (sm) {
    out.scheme = sm[1]!.toLowerCase();
    rest = rest.slice(sm[0].length);
  } else if (/^[^/?]*:/.test(rest) && !rest.startsWith('/')) {
    if (rest.startsWith(':')) throw new UrlError('missing protocol scheme');
    throw new UrlError('first path segment in URL cannot contain colon');
  }
  const q = rest.indexOf('?');
  if (q >= 0) {
    out.rawQuery = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  if (out.scheme !== '' && !rest.startsWith('/')) return out; // opaque
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const authority = slash >= 0 ? rest.slice(2, slash) : rest.slice(2);
    rest = slash >= 0 ? rest.slice(slash) : '';
    const at = authority.lastIndexOf('@');
    let host = authority;
    if (at >= 0) {
      if (!validUserinfo(authority.slice(0, at))) throw new UrlError('net/url: invalid userinfo');
      host = authority.slice(at + 1);
    }
    if (host.startsWith('[')) {
      const close = host.lastIndexOf(']');
      if (close < 0) throw new UrlError("missing ']' in host");
      const colonPort = host.slice(close + 1);
      if (!validOptionalPort(colonPort)) throw new UrlError(`invalid port ${goQuote(colonPort)} after host`);
      out.hostname = unescape(host.slice(1, close), 'host');
      out.port = colonPort.slice(1);
    } else {
      const i = host.lastIndexOf(':');
      if (i >= 0) {
        const colonPort = host.slice(i);
        if (!validOptionalPort(colonPort)) throw new UrlError(`invalid port ${goQuote(colonPort)} after host`);
        out.port = colonPort.slice(1);
        host = host.slice(0, i);
      }
      out.hostname = unescape(host, 'host');
    }
  }
  out.path = unescape(rest, 'path');
  out.rawPath = normaliseRawPath(rest);
  return out;
}

export const builtins: BuiltinDef[] = [
  {
    name: 'uri.parse',
    arity: 1,
    fn: (a) => {
      const s = argString('uri.parse', a, 0);
      let p: Parsed;
      try {
        p = parseUrl(s);
      } catch (e) {
        if (e instanceof UrlError) throw builtinError('uri.parse', `parse ${goQuote(s)}: ${e.message}`);
        throw e;
      }
      const o = new RObject();
      const put = (k: string, v: string): void => {
        if (v !== '') o.set(k, v);
      };
      put('scheme', p.scheme);
      put('hostname', p.hostname);
      put('port', p.port);
      put('path', p.path);
      put('raw_path', p.rawPath);
      put('raw_query', p.rawQuery);
      put('fragment', p.fragment);
      return o;
    },
  },
  {
    name: 'uri.is_valid',
    arity: 1,
    fn: (a) => {
      if (typeof a[0] !== 'string' || a[0] === '') return false;
      try {
        parseUrl(a[0]);
        return true;
      } catch (e) {
        if (e instanceof UrlError) return false;
        throw e;
      }
    },
  },
];
