/**
 * `crypto.x509.*` and `crypto.parse_private_keys` (opa:v1/topdown/crypto.go).
 *
 * OPA returns Go's `x509.Certificate` / `x509.CertificateRequest` structs marshalled to JSON, so the result
 * objects here carry Go's field names and encodings: byte slices as base64, big integers as numbers, times as
 * RFC 3339, absent slices as null, names as `pkix.Name` with `Names` (type OID + value). The DER is walked by
 * a small ASN.1 reader for the fields Go decodes (subject/issuer, validity, serial, key and signature
 * algorithms, SANs, key usage, extended key usage, basic constraints, key identifiers, AIA, CRL
 * distribution points, policy identifiers); signature checks and key handling use node:crypto.
 * Policy OIDs (`Policies`, `PolicyMappings`) are written as x509.OID's text, dotted decimal.
 */
import { type KeyObject, X509Certificate, createECDH, createPrivateKey, createPublicKey } from 'node:crypto';
import { type Value, RObject, fromJson, isInteger, isNumber, isSet, normNum, toBigInt } from '../value.js';
import { type BuiltinContext, type BuiltinDef, argObject, argString, builtinError, typeError } from './registry.js';
import { goBase64Decode } from './encoding.js';
import { SHAPES, type Shape, unmarshal } from './goasn1.js';
import { formatTime, UTC } from './time.js';
import { ipString, parseIP } from './net.js';
import { goPemDecode } from './gopem.js';

/** A failure of Go's x509 or encoding/asn1 parsing, with Go's text. */
export class Asn1Error extends Error {}

interface Node {
  tag: number;
  /** Whole TLV. */
  raw: Buffer;
  /** Content octets. */
  body: Buffer;
  constructed: boolean;
  cls: number;
}

function readNode(buf: Buffer, off: number): [Node, number] {
  if (off + 2 > buf.length) throw new Asn1Error('asn1: syntax error: data truncated');
  const tag = buf[off]!;
  if ((tag & 0x1f) === 0x1f) throw new Asn1Error('asn1: structure error: high-tag-number form not supported');
  let len = buf[off + 1]!;
  let hdr = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Asn1Error('asn1: structure error: length too large');
    if (off + 2 + n > buf.length) throw new Asn1Error('asn1: syntax error: data truncated');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[off + 2 + i]!;
    hdr += n;
  }
  const end = off + hdr + len;
  if (end > buf.length) throw new Asn1Error('asn1: syntax error: data truncated');
  return [{ tag, raw: buf.subarray(off, end), body: buf.subarray(off + hdr, end), constructed: (tag & 0x20) !== 0, cls: tag >> 6 }, end];
}

function children(n: Node): Node[] {
  const out: Node[] = [];
  let off = 0;
  while (off < n.body.length) {
    const [c, next] = readNode(n.body, off);
    out.push(c);
    off = next;
  }
  return out;
}

function parseDer(buf: Buffer): Node {
  const [n, end] = readNode(buf, 0);
  if (end !== buf.length) throw new Asn1Error('x509: trailing data');
  return n;
}

function oid(n: Node): number[] {
  const b = n.body;
  if (b.length === 0) throw new Asn1Error('asn1: structure error: zero length OBJECT IDENTIFIER');
  const out: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if (!(b[i]! & 0x80)) {
      if (out.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        out.push(first, v - first * 40);
      } else out.push(v);
      v = 0;
    }
  }
  return out;
}

function bigInt(n: Node): bigint {
  const b = n.body;
  if (b.length === 0) return 0n;
  let v = BigInt('0x' + b.toString('hex'));
  if (b[0]! & 0x80) v -= 1n << BigInt(b.length * 8);
  return v;
}

function str(n: Node): string {
  switch (n.tag) {
    case 0x1e: {
      // BMPString: UTF-16BE
      const b = Buffer.from(n.body);
      return b.swap16().toString('utf16le');
    }
    default:
      return n.body.toString(n.tag === 0x0c ? 'utf8' : 'latin1');
  }
}

/**
 * A UTCTime / GeneralizedTime read as cryptobyte does: Go's time.Parse with `060102150405Z0700` (UTCTime, or
 * `0601021504Z0700` without seconds) or `20060102150405.999999999Z0700`, and the text must be what formatting
 * the parsed time with the same layout gives back (no `+0000`, no trailing zeros in the fraction). Undefined
 * when Go refuses the text. Two-digit years from 50 are the 1900s.
 */
function asn1Time(tag: number, text: string): { ns: bigint; offset: number } | undefined {
  const m =
    tag === 0x17
      ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?()(Z|[+-]\d{4})$/.exec(text)
      : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d{0,9}))?(Z|[+-]\d{4})$/.exec(text);
  if (!m) return undefined;
  let year = Number(m[1]);
  if (tag === 0x17) year += year >= 50 ? 1900 : 2000;
  const [month, day, hour, min] = [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])];
  const sec = Number(m[6] ?? '0');
  const frac = m[7] ?? '';
  if (tag === 0x18 && text.includes('.') && (frac === '' || frac.endsWith('0'))) return undefined;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const dim = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (dim === undefined || day < 1 || day > dim || hour > 23 || min > 59 || sec > 59) return undefined;
  let offset = 0;
  const z = m[8]!;
  if (z !== 'Z') {
    const oh = Number(z.slice(1, 3));
    const om = Number(z.slice(3, 5));
    if (oh > 24 || om > 59 || oh * 60 + om === 0) return undefined;
    offset = (z[0] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  // Days since the epoch of a proleptic Gregorian date.
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const days = era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
  const secs = BigInt(days) * 86400n + BigInt(hour * 3600 + min * 60 + sec - offset);
  return { ns: secs * 1_000_000_000n + BigInt(frac.padEnd(9, '0') || '0'), offset };
}

/** A certificate time as Go's time.Time marshals to JSON (RFC 3339 with the zone the text gave). */
function time(n: Node): string {
  const t = asn1Time(n.tag, n.body.toString('latin1'));
  if (!t) throw new Asn1Error(n.tag === 0x17 ? 'x509: malformed UTCTime' : 'x509: malformed GeneralizedTime');
  const zone = t.offset === 0 ? UTC : { name: '', offset: () => t.offset, abbrev: () => '' };
  return formatTime(t.ns, zone, '2006-01-02T15:04:05.999999999Z07:00');
}

const b64 = (b: Buffer): string => b.toString('base64');

// --- pkix.Name -------------------------------------------------------------------------------------------

const NAME_FIELDS: Record<string, string> = {
  '2.5.4.6': 'Country',
  '2.5.4.10': 'Organization',
  '2.5.4.11': 'OrganizationalUnit',
  '2.5.4.7': 'Locality',
  '2.5.4.8': 'Province',
  '2.5.4.9': 'StreetAddress',
  '2.5.4.17': 'PostalCode',
};

function pkixName(n: Node): RObject {
  const lists: Record<string, Value[]> = {};
  let serial = '';
  let cn = '';
  const names: Value[] = [];
  for (const rdn of children(n)) {
    for (const atv of children(rdn)) {
      const [t, v] = children(atv) as [Node, Node];
      const type = oid(t);
      const value = str(v);
      names.push(fromJson({ Type: type, Value: value }));
      const key = type.join('.');
      if (NAME_FIELDS[key]) (lists[NAME_FIELDS[key]!] ??= []).push(value);
      else if (key === '2.5.4.3') cn = value;
      else if (key === '2.5.4.5') serial = value;
    }
  }
  const o = new RObject();
  for (const f of ['Country', 'Organization', 'OrganizationalUnit', 'Locality', 'Province', 'StreetAddress', 'PostalCode']) {
    o.set(f, lists[f] ?? null);
  }
  o.set('SerialNumber', serial);
  o.set('CommonName', cn);
  o.set('Names', names);
  o.set('ExtraNames', null);
  return o;
}

// --- algorithms (Go's x509.SignatureAlgorithm / PublicKeyAlgorithm numbering) ---------------------------------

const SIG_ALGS: Record<string, number> = {
  '1.2.840.113549.1.1.2': 1, // MD2WithRSA
  '1.2.840.113549.1.1.4': 2, // MD5WithRSA
  '1.2.840.113549.1.1.5': 3, // SHA1WithRSA
  '1.2.840.113549.1.1.11': 4,
  '1.2.840.113549.1.1.12': 5,
  '1.2.840.113549.1.1.13': 6,
  '1.2.840.10040.4.3': 7, // DSAWithSHA1
  '2.16.840.1.101.3.4.3.2': 8,
  '1.2.840.10045.4.1': 9, // ECDSAWithSHA1
  '1.2.840.10045.4.3.2': 10,
  '1.2.840.10045.4.3.3': 11,
  '1.2.840.10045.4.3.4': 12,
  '1.3.101.112': 16, // PureEd25519
};

const PSS_BY_HASH: Record<string, number> = { '2.16.840.1.101.3.4.2.1': 13, '2.16.840.1.101.3.4.2.2': 14, '2.16.840.1.101.3.4.2.3': 15 };

function sigAlg(n: Node): number {
  const [o, params] = children(n);
  const id = oid(o!).join('.');
  if (id === '1.2.840.113549.1.1.10' && params) {
    // RSASSA-PSS: the hash is in the parameters.
    const hashSeq = children(params).find((c) => c.tag === 0xa0);
    const hash = hashSeq ? oid(children(children(hashSeq)[0]!)[0]!).join('.') : '';
    return PSS_BY_HASH[hash] ?? 0;
  }
  return SIG_ALGS[id] ?? 0;
}

function publicKeyAlgorithm(spki: Node): number {
  const id = oid(children(children(spki)[0]!)[0]!).join('.');
  return { '1.2.840.113549.1.1.1': 1, '1.2.840.10040.4.1': 2, '1.2.840.10045.2.1': 3, '1.3.101.112': 4 }[id] ?? 0;
}

/** Go's JSON of the parsed public key: RSA {N, E}, ECDSA {Curve, X, Y}, Ed25519 bytes. */
function publicKeyJson(key: KeyObject): Value {
  const jwk = key.export({ format: 'jwk' }) as Record<string, string>;
  const big = (s: string): Value => normNum(BigInt('0x' + (Buffer.from(s, 'base64url').toString('hex') || '0')));
  if (jwk.kty === 'RSA') return fromJson({ N: big(jwk.n!), E: big(jwk.e!) });
  if (jwk.kty === 'EC') {
    const o = new RObject();
    o.set('Curve', fromJson({}));
    o.set('X', big(jwk.x!));
    o.set('Y', big(jwk.y!));
    return o;
  }
  if (jwk.kty === 'OKP') return Buffer.from(jwk.x!, 'base64url').toString('base64');
  return null;
}

// --- extensions ------------------------------------------------------------------------------------------------

const EXT_KEY_USAGE: Record<string, number> = {
  '2.5.29.37.0': 0,
  '1.3.6.1.5.5.7.3.1': 1,
  '1.3.6.1.5.5.7.3.2': 2,
  '1.3.6.1.5.5.7.3.3': 3,
  '1.3.6.1.5.5.7.3.4': 4,
  '1.3.6.1.5.5.7.3.5': 5,
  '1.3.6.1.5.5.7.3.6': 6,
  '1.3.6.1.5.5.7.3.7': 7,
  '1.3.6.1.5.5.7.3.8': 8,
  '1.3.6.1.5.5.7.3.9': 9,
  '1.3.6.1.4.1.311.10.3.3': 10,
  '2.16.840.1.113730.4.1': 11,
  '1.3.6.1.4.1.311.2.1.22': 12,
  '1.3.6.1.4.1.311.61.1.1': 13,
};

/** Go's url.PathUnescape-style decoding; undefined for a malformed escape (Go's url.Parse then fails). */
function unescapeUrl(s: string): string | undefined {
  if (/%(?![0-9a-fA-F]{2})/.test(s)) return undefined;
  try {
    return Buffer.from(s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  } catch {
    return undefined;
  }
}

/** Go's shouldEscape for paths: what url.URL.EscapedPath would percent-encode. */
function escapeUrlPath(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9\-_.~$&+,/:;=@]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0'))).join('');
}

/**
 * A URI SAN as Go's x509 package keeps it, a *url.URL, in its JSON form (encoding/json of net/url.URL):
 * userinfo marshals as `{}` (its fields are unexported), path and fragment are decoded with their raw forms
 * kept only when the default encoding would differ. Undefined when Go's url.Parse would refuse the text.
 */
function urlJson(u: string): { json: Value; text: string } | undefined {
  let rest = u;
  let fragment = '';
  let rawFragment = '';
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    const f = rest.slice(hash + 1);
    const d = unescapeUrl(f);
    if (d === undefined) return undefined;
    fragment = d;
    rawFragment = escapeUrlPath(d) === f ? '' : f;
    rest = rest.slice(0, hash);
  }
  let scheme = '';
  const sm = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(rest);
  if (sm) {
    scheme = sm[1]!.toLowerCase();
    rest = rest.slice(sm[0].length);
  }
  let rawQuery = '';
  let forceQuery = false;
  const q = rest.indexOf('?');
  if (q >= 0) {
    rawQuery = rest.slice(q + 1);
    forceQuery = rawQuery === '';
    rest = rest.slice(0, q);
  }
  let opaque = '';
  let user: Value = null;
  let userText: string | undefined;
  let host = '';
  if (scheme !== '' && !rest.startsWith('/')) {
    opaque = rest;
    rest = '';
  } else if (rest.startsWith('//')) {
    const end = rest.indexOf('/', 2);
    const authority = end < 0 ? rest.slice(2) : rest.slice(2, end);
    rest = end < 0 ? '' : rest.slice(end);
    const at = authority.lastIndexOf('@');
    if (at >= 0) {
      user = new RObject();
      const info = authority.slice(0, at);
      const colon = info.indexOf(':');
      const name = unescapeUrl(colon < 0 ? info : info.slice(0, colon));
      const password = colon < 0 ? undefined : unescapeUrl(info.slice(colon + 1));
      if (name === undefined || (colon >= 0 && password === undefined)) return undefined;
      userText = escapeUrl(name, USERINFO_SAFE) + (password === undefined ? '' : ':' + escapeUrl(password, USERINFO_SAFE));
    }
    host = at >= 0 ? authority.slice(at + 1) : authority;
  }
  const path = unescapeUrl(rest);
  if (path === undefined) return undefined;
  const rawPath = escapeUrlPath(path) === rest ? '' : rest;
  const o = fromJson({ Scheme: scheme, Opaque: opaque, User: null, Host: host, Path: path, RawPath: rawPath, OmitHost: false, ForceQuery: forceQuery, RawQuery: rawQuery, Fragment: fragment, RawFragment: rawFragment }) as RObject;
  o.set('User', user);
  // url.URL.String(): the path and fragment in their raw forms when those are valid encodings of them, else
  // escaped; `//` before an authority or a rooted path under a scheme.
  let text = scheme !== '' ? scheme + ':' : '';
  if (opaque !== '') text += opaque;
  else {
    if ((scheme !== '' || host !== '' || userText !== undefined) && (host !== '' || path !== '' || userText !== undefined)) text += '//';
    if (userText !== undefined) text += userText + '@';
    text += host.includes('%') ? host : escapeUrl(host, HOST_SAFE);
    const escapedPath = rawPath !== '' && validEncoded(rawPath, PATH_SAFE) ? rawPath : path === '*' ? '*' : escapeUrl(path, PATH_SAFE);
    if (escapedPath !== '' && escapedPath[0] !== '/' && host !== '') text += '/';
    if (text === '' && escapedPath.split('/')[0]!.includes(':')) text += './';
    text += escapedPath;
  }
  if (forceQuery || rawQuery !== '') text += '?' + rawQuery;
  if (fragment !== '') text += '#' + (rawFragment !== '' && validEncoded(rawFragment, FRAGMENT_SAFE) ? rawFragment : escapeUrl(fragment, FRAGMENT_SAFE));
  return { json: o, text };
}

// Bytes net/url's shouldEscape leaves alone besides the unreserved ALPHA / DIGIT / - _ . ~, by encoding mode.
const PATH_SAFE = '$&+,/:;=@';
const FRAGMENT_SAFE = '$&+,/:;=?@!()*';
const USERINFO_SAFE = '$&+,;=';
const HOST_SAFE = "!$&'()*+,;=:[]<>\"";

/** net/url's escape: each byte of the UTF-8 text that is neither unreserved nor in `safe` as %XX. */
function escapeUrl(s: string, safe: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && (/[A-Za-z0-9\-_.~]/.test(c) || safe.includes(c)) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** net/url's validEncoded: only bytes escape would keep, `%`, and the sub-delimiters and brackets it allows. */
function validEncoded(s: string, safe: string): boolean {
  for (const c of s) {
    if ("!$&'()*+,;=:@[]%".includes(c)) continue;
    if (escapeUrl(c, safe) !== c) return false;
  }
  return true;
}

interface Sans {
  dns: Value[];
  email: Value[];
  ip: Value[];
  uri: Value[];
  /** The URIs as url.URL.String() writes them. */
  uriText: string[];
}

function parseSans(n: Node, s: Sans): void {
  for (const g of children(n)) {
    const text = g.body.toString('latin1');
    switch (g.tag & 0x1f) {
      case 1:
        s.email.push(text);
        break;
      case 2:
        s.dns.push(text);
        break;
      case 6:
        {
          // Go's x509 parses each URI SAN with url.Parse and refuses the certificate when it cannot.
          const u = urlJson(text);
          if (u === undefined) throw new Asn1Error(`x509: cannot parse URI ${JSON.stringify(text)}: invalid URL escape`);
          s.uri.push(u.json);
          s.uriText.push(u.text);
        }
        break;
      case 7:
        if (g.body.length === 4 || g.body.length === 16) s.ip.push(ipString(new Uint8Array(g.body)));
        break;
    }
  }
}

/** The extensions Go's processExtensions reads (RFC 5280 ids under 2.5.29, and authority info access). */
const HANDLED_EXTENSIONS = new Set(['14', '15', '17', '19', '30', '31', '32', '33', '35', '36', '37', '54'].map((n) => `2.5.29.${n}`).concat('1.3.6.1.5.5.7.1.1'));

interface Subtrees {
  dns: Value[];
  ip: Value[];
  email: Value[];
  uri: Value[];
}
const emptySubtrees = (): Subtrees => ({ dns: [], ip: [], email: [], uri: [] });

interface NameConstraintFields {
  critical: boolean;
  permitted: Subtrees;
  excluded: Subtrees;
}

/**
 * Go's parseNameConstraintsExtension on a value cbExtensionValue accepted: the DNS, IP (a net.IPNet: IP text
 * and base64 mask), email and URI-domain constraints of each side, `PermittedDNSDomainsCritical` from the
 * extension's critical flag; true when a subtree has a name form Go does not read.
 */
function nameConstraints(value: Buffer, critical: boolean, out: NameConstraintFields): boolean {
  let unhandledForm = false;
  const top = cbRead({ b: value, off: 0, end: value.length }, 0x30)!;
  for (const [tag, side] of [[0xa0, out.permitted], [0xa1, out.excluded]] as const) {
    if (cbPeek(top) !== tag) continue;
    const sub = cbRead(top, tag)!;
    while (sub.off < sub.end) {
      const el = cbReadAny(cbRead(sub, 0x30)!)!;
      const data = el.c.b.subarray(el.c.off, el.c.end);
      switch (el.tag) {
        case 0x82:
          side.dns.push(data.toString('latin1'));
          break;
        case 0x81:
          side.email.push(data.toString('latin1'));
          break;
        case 0x86:
          side.uri.push(data.toString('latin1'));
          break;
        case 0x87: {
          const half = data.length / 2;
          const ipNet = new RObject();
          ipNet.set('IP', ipString(new Uint8Array(data.subarray(0, half))));
          ipNet.set('Mask', b64(data.subarray(half)));
          side.ip.push(ipNet);
          break;
        }
        default:
          unhandledForm = true;
      }
    }
  }
  out.critical = critical;
  return unhandledForm;
}

/** Sets the extension fields of `o`; returns the URI SANs as url.URL.String() texts (null when none). */
function applyExtensions(o: RObject, exts: Node[] | undefined, sansOnly = false): string[] | null {
  const list: Value[] = [];
  const sans: Sans = { dns: [], email: [], ip: [], uri: [], uriText: [] };
  let keyUsage = 0;
  const extKeyUsage: Value[] = [];
  const unknownEku: Value[] = [];
  let bcValid = false;
  let isCA = false;
  let maxPathLen = -1;
  let maxPathLenZero = false;
  let ski: string | null = null;
  let aki: string | null = null;
  const ocsp: Value[] = [];
  const issuers: Value[] = [];
  const crl: Value[] = [];
  const policies: Value[] = [];
  const policyTexts: Value[] = [];
  const policyMappings: Value[] = [];
  const nc: NameConstraintFields = { critical: false, permitted: emptySubtrees(), excluded: emptySubtrees() };
  const ints = { InhibitAnyPolicy: 0n, InhibitPolicyMapping: 0n, RequireExplicitPolicy: 0n };
  const zeros = { InhibitAnyPolicyZero: false, InhibitPolicyMappingZero: false, RequireExplicitPolicyZero: false };
  const unhandled: Value[] = [];
  for (const e of exts ?? []) {
    const parts = children(e);
    const id = oid(parts[0]!);
    let critical = false;
    let valueNode = parts[1]!;
    if (valueNode.tag === 0x01) {
      critical = valueNode.body[0] !== 0;
      valueNode = parts[2]!;
    }
    list.push(fromJson({ Id: id, Critical: critical, Value: b64(valueNode.body) }));
    // Go reads the first element of the value and ignores what follows it.
    const inner = valueNode.body.length > 0 ? readNode(valueNode.body, 0)[0] : undefined;
    const key = id.join('.');
    // A certificate request's extensions are listed, and only its SAN is read (Go's parseCSRExtensions).
    if (sansOnly && key !== '2.5.29.17') continue;
    // Go's processExtensions: these are the extensions it reads; any other marked critical is unhandled, and
    // so is a critical SAN extension with no name Go reads or name constraints with a form it does not.
    const handled = HANDLED_EXTENSIONS.has(key);
    if (!inner) {
      if (critical && !handled) unhandled.push(id);
      continue;
    }
    switch (key) {
      case '2.5.29.17':
        parseSans(inner, sans);
        if (critical && sans.dns.length + sans.email.length + sans.ip.length + sans.uri.length === 0) unhandled.push(id);
        break;
      case '2.5.29.30':
        if (nameConstraints(valueNode.body, critical, nc) && critical) unhandled.push(id);
        break;
      case '2.5.29.33':
        for (const m of children(inner)) {
          const [issuerPolicy, subjectPolicy] = children(m) as [Node, Node];
          policyMappings.push(fromJson({ IssuerDomainPolicy: oid(issuerPolicy).join('.'), SubjectDomainPolicy: oid(subjectPolicy).join('.') }));
        }
        break;
      case '2.5.29.36':
        for (const c of children(inner)) {
          const v = intContent({ b: c.body, off: 0, end: c.body.length }) ?? 0n;
          if (c.tag === 0x80) [ints.RequireExplicitPolicy, zeros.RequireExplicitPolicyZero] = [v, v === 0n];
          else if (c.tag === 0x81) [ints.InhibitPolicyMapping, zeros.InhibitPolicyMappingZero] = [v, v === 0n];
        }
        break;
      case '2.5.29.54': {
        const v = bigInt(inner);
        [ints.InhibitAnyPolicy, zeros.InhibitAnyPolicyZero] = [v, v === 0n];
        break;
      }
      case '2.5.29.15': {
        // BIT STRING: first byte is the unused-bit count; Go reverses bit order into KeyUsage flags.
        const bits = inner.body.subarray(1);
        for (let i = 0; i < 9; i++) {
          const byte = bits[i >> 3];
          if (byte !== undefined && byte & (0x80 >> (i & 7))) keyUsage |= 1 << i;
        }
        break;
      }
      case '2.5.29.37':
        for (const c of children(inner)) {
          const k = oid(c).join('.');
          if (EXT_KEY_USAGE[k] !== undefined) extKeyUsage.push(EXT_KEY_USAGE[k]!);
          else unknownEku.push(oid(c));
        }
        break;
      case '2.5.29.19': {
        bcValid = true;
        for (const c of children(inner)) {
          if (c.tag === 0x01) isCA = c.body[0] !== 0;
          else if (c.tag === 0x02) {
            maxPathLen = Number(bigInt(c));
            maxPathLenZero = maxPathLen === 0;
          }
        }
        break;
      }
      case '2.5.29.14':
        ski = b64(inner.body);
        break;
      case '2.5.29.35':
        for (const c of children(inner)) if (c.tag === 0x80) aki = b64(c.body);
        break;
      case '1.3.6.1.5.5.7.1.1':
        for (const ad of children(inner)) {
          const [m, loc] = children(ad) as [Node, Node];
          const k = oid(m).join('.');
          if ((loc.tag & 0x1f) !== 6) continue;
          if (k === '1.3.6.1.5.5.7.48.1') ocsp.push(loc.body.toString('latin1'));
          else if (k === '1.3.6.1.5.5.7.48.2') issuers.push(loc.body.toString('latin1'));
        }
        break;
      case '2.5.29.31':
        for (const dp of children(inner)) {
          for (const f of children(dp)) {
            if (f.tag !== 0xa0) continue;
            for (const full of children(f)) {
              if (full.tag !== 0xa0) continue;
              for (const g of children(full)) if ((g.tag & 0x1f) === 6) crl.push(g.body.toString('latin1'));
            }
          }
        }
        break;
      case '2.5.29.32':
        for (const p of children(inner)) {
          policies.push(oid(children(p)[0]!));
          policyTexts.push(oid(children(p)[0]!).join('.'));
        }
        break;
      default:
        if (critical && !handled) unhandled.push(id);
    }
  }
  const orNull = (xs: Value[]): Value => (xs.length > 0 ? xs : null);
  o.set('KeyUsage', keyUsage);
  o.set('Extensions', orNull(list));
  o.set('ExtraExtensions', null);
  o.set('UnhandledCriticalExtensions', orNull(unhandled));
  o.set('ExtKeyUsage', orNull(extKeyUsage));
  o.set('UnknownExtKeyUsage', orNull(unknownEku));
  o.set('BasicConstraintsValid', bcValid);
  o.set('IsCA', isCA);
  o.set('MaxPathLen', bcValid ? maxPathLen : 0);
  o.set('MaxPathLenZero', maxPathLenZero);
  o.set('SubjectKeyId', ski);
  o.set('AuthorityKeyId', aki);
  o.set('OCSPServer', orNull(ocsp));
  o.set('IssuingCertificateURL', orNull(issuers));
  o.set('DNSNames', orNull(sans.dns));
  o.set('EmailAddresses', orNull(sans.email));
  o.set('IPAddresses', orNull(sans.ip));
  o.set('URIs', orNull(sans.uri));
  o.set('PermittedDNSDomainsCritical', nc.critical);
  for (const [side, t] of [['Permitted', nc.permitted], ['Excluded', nc.excluded]] as const) {
    o.set(`${side}DNSDomains`, orNull(t.dns));
    o.set(`${side}IPRanges`, orNull(t.ip));
    o.set(`${side}EmailAddresses`, orNull(t.email));
    o.set(`${side}URIDomains`, orNull(t.uri));
  }
  o.set('CRLDistributionPoints', orNull(crl));
  // Go makes PolicyIdentifiers a non-nil slice whenever the policies extension is present (Policies stays nil
  // when it lists none).
  const hasPolicies = (exts ?? []).some((e) => oid(children(e)[0]!).join('.') === '2.5.29.32');
  o.set('PolicyIdentifiers', hasPolicies ? policies : null);
  o.set('Policies', orNull(policyTexts));
  for (const [k, v] of Object.entries(ints)) o.set(k, normNum(v));
  for (const [k, v] of Object.entries(zeros)) o.set(k, v);
  o.set('PolicyMappings', orNull(policyMappings));
  return sans.uriText.length > 0 ? sans.uriText : null;
}

// --- the structure checks of Go's certificate parser --------------------------------------------------------
// crypto/x509 parseCertificate reads a certificate with cryptobyte, stage by stage, and names the first
// stage that fails ("x509: malformed tbs certificate", "x509: malformed serial number", …). These checks run
// those stages, with cryptobyte's DER rules (short-form lengths below 128, no leading zero length octets, no
// indefinite length, at most 4 length octets, minimal integers), before the certificate's fields are read.

interface Cursor {
  b: Buffer;
  off: number;
  end: number;
}

/** cryptobyte ReadASN1 of one element with `tag`; the cursor advances past it. Undefined when it fails. */
function cbRead(s: Cursor, tag: number): Cursor | undefined {
  if (s.end - s.off < 2) return undefined;
  const t = s.b[s.off]!;
  if ((t & 0x1f) === 0x1f || t !== tag) return undefined;
  const l0 = s.b[s.off + 1]!;
  let len: number;
  let hdr = 2;
  if ((l0 & 0x80) === 0) len = l0;
  else {
    const n = l0 & 0x7f;
    if (n === 0 || n > 4 || s.end - s.off < 2 + n) return undefined;
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + s.b[s.off + 2 + k]!;
    if (len < 128 || s.b[s.off + 2]! === 0) return undefined;
    hdr += n;
  }
  if (len > s.end - s.off - hdr) return undefined;
  const out = { b: s.b, off: s.off + hdr, end: s.off + hdr + len };
  s.off = out.end;
  return out;
}

function cbPeek(s: Cursor): number | undefined {
  return s.end - s.off >= 1 ? s.b[s.off]! : undefined;
}

/** cryptobyte ReadASN1Integer: a minimal two's-complement INTEGER. */
function cbInteger(s: Cursor): bigint | undefined {
  const c = cbRead(s, 0x02);
  return c ? intContent(c) : undefined;
}

/** The contents of an INTEGER as cryptobyte accepts them (non-empty, minimal). */
function intContent(c: Cursor): bigint | undefined {
  const n = c.end - c.off;
  if (n === 0) return undefined;
  const b0 = c.b[c.off]!;
  if (n > 1) {
    const b1 = c.b[c.off + 1]!;
    if ((b0 === 0 && (b1 & 0x80) === 0) || (b0 === 0xff && (b1 & 0x80) === 0x80)) return undefined;
  }
  let v = 0n;
  for (let k = c.off; k < c.end; k++) v = (v << 8n) | BigInt(c.b[k]!);
  return b0 & 0x80 ? v - (1n << BigInt(8 * n)) : v;
}

const isInt64 = (n: bigint | undefined): boolean => n !== undefined && n >= -(2n ** 63n) && n < 2n ** 63n;

/** cryptobyte ReadAnyASN1Element: any tag (low-tag-number form); undefined when the element is malformed. */
function cbReadAny(s: Cursor): { tag: number; c: Cursor } | undefined {
  const tag = cbPeek(s);
  if (tag === undefined) return undefined;
  const c = cbRead(s, tag);
  return c ? { tag, c } : undefined;
}

function cbText(c: Cursor): string {
  return c.b.toString('latin1', c.off, c.end);
}

/** cryptobyte ReadASN1ObjectIdentifier: minimal base-128 components below 2^31. */
function cbOid(s: Cursor): boolean {
  const o = cbRead(s, 0x06);
  return o !== undefined && oidContentOk(o);
}

function oidContentOk(o: Cursor): boolean {
  if (o.end === o.off) return false;
  let k = o.off;
  while (k < o.end) {
    let v = 0;
    for (let i = 0; ; i++) {
      if (k >= o.end || i === 5 || v >= 1 << 24) return false;
      const byte = o.b[k++]!;
      if (i === 0 && byte === 0x80) return false;
      v = v * 128 + (byte & 0x7f);
      if ((byte & 0x80) === 0) break;
    }
  }
  return true;
}

/** cryptobyte ReadASN1Boolean: one octet, 0x00 or 0xff. */
function cbBool(s: Cursor): boolean | undefined {
  const c = cbRead(s, 0x01);
  if (!c || c.end - c.off !== 1) return undefined;
  const v = c.b[c.off]!;
  return v === 0 ? false : v === 0xff ? true : undefined;
}

/** cryptobyte ReadASN1BitString; the right-aligned bits' bytes. */
function cbBitString(s: Cursor): Buffer | undefined {
  const bits = cbRead(s, 0x03);
  return bits ? bitsContent(bits) : undefined;
}

function bitsContent(bits: Cursor): Buffer | undefined {
  if (bits.end === bits.off) return undefined;
  const pad = bits.b[bits.off]!;
  if (pad > 7 || (bits.end - bits.off === 1 && pad !== 0) || (pad > 0 && (bits.b[bits.end - 1]! & ((1 << pad) - 1)) !== 0)) return undefined;
  return bits.b.subarray(bits.off + 1, bits.end);
}

/** x509 parseAI: an OBJECT IDENTIFIER, then optional parameters of any tag; returns the parameters' TLV. */
function cbAlgorithm(c: Cursor): Buffer {
  if (!cbOid(c)) throw new Asn1Error('x509: malformed OID');
  if (c.off === c.end) return Buffer.alloc(0);
  const start = c.off;
  if (!cbReadAny(c)) throw new Asn1Error('x509: malformed parameters');
  return c.b.subarray(start, c.off);
}

/** x509 readASN1Time: a UTCTime or GeneralizedTime Go's time.Parse accepts and prints back the same. */
function cbTime(c: Cursor): void {
  const t = cbPeek(c);
  if (t !== 0x17 && t !== 0x18) throw new Asn1Error('x509: unsupported time format');
  const e = cbRead(c, t);
  if (!e || !asn1Time(t, cbText(e))) throw new Asn1Error(t === 0x17 ? 'x509: malformed UTCTime' : 'x509: malformed GeneralizedTime');
}

const isIA5 = (b: Buffer): boolean => b.every((x) => x < 0x80);

/** x509 parseASN1String for the string types a name's attribute value may have; its error text or undefined. */
function asn1StringError(tag: number, v: Buffer): string | undefined {
  switch (tag) {
    case 0x13:
      return v.every((b) => /[a-zA-Z0-9'()+,\-./ :=?*&]/.test(String.fromCharCode(b))) ? undefined : 'invalid PrintableString';
    case 0x0c:
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(v);
        return undefined;
      } catch {
        return 'invalid UTF-8 string';
      }
    case 0x1e: {
      if (v.length % 2 !== 0) return 'invalid BMPString';
      for (let i = 0; i < v.length; i += 2) {
        const p = v.readUInt16BE(i);
        if (p === 0xfffe || p === 0xffff || (p >= 0xfdd0 && p <= 0xfdef) || (p >= 0xd800 && p <= 0xdfff)) return 'invalid BMPString';
      }
      return undefined;
    }
    case 0x16:
      return isIA5(v) ? undefined : 'invalid IA5String';
    case 0x12:
      return v.every((b) => (b >= 0x30 && b <= 0x39) || b === 0x20) ? undefined : 'invalid NumericString';
    default:
      return undefined;
  }
}

/** x509 readASN1Any: an attribute value; its error text or undefined. */
function asn1AnyError(s: Cursor): string | undefined {
  const el = cbReadAny(s);
  if (!el) return 'invalid ASN.1 element';
  const { tag, c } = el;
  switch (tag) {
    case 0x14:
    case 0x13:
    case 0x0c:
    case 0x1e:
    case 0x16:
    case 0x12:
      return asn1StringError(tag, c.b.subarray(c.off, c.end));
    case 0x02:
      return isInt64(intContent(c)) ? undefined : 'invalid ASN.1 integer';
    case 0x03:
      return bitsContent(c) ? undefined : 'invalid ASN.1 BIT STRING';
    case 0x06:
      return oidContentOk(c) ? undefined : 'invalid ASN.1 OBJECT IDENTIFIER';
    case 0x17:
    case 0x18:
      return asn1Time(tag, cbText(c)) ? undefined : tag === 0x17 ? 'x509: malformed UTCTime' : 'x509: malformed GeneralizedTime';
    case 0x01: {
      const v = c.b.subarray(c.off, c.end);
      return v.length === 1 && (v[0] === 0 || v[0] === 0xff) ? undefined : 'invalid ASN.1 BOOLEAN';
    }
    default:
      return undefined;
  }
}

/** x509 parseName: a SEQUENCE of SETs of SEQUENCE { type OID, value }. */
function cbName(seq: Cursor): void {
  while (seq.off < seq.end) {
    const set = cbRead(seq, 0x31);
    if (!set) throw new Asn1Error('x509: invalid RDNSequence');
    while (set.off < set.end) {
      const atav = cbRead(set, 0x30);
      if (!atav) throw new Asn1Error('x509: invalid RDNSequence: invalid attribute');
      if (!cbOid(atav)) throw new Asn1Error('x509: invalid RDNSequence: invalid attribute type');
      const err = asn1AnyError(atav);
      if (err !== undefined) throw new Asn1Error(`x509: invalid RDNSequence: invalid attribute value: ${err}`);
    }
  }
}

const OID_DER = {
  rsa: '2a864886f70d010101',
  ecdsa: '2a8648ce3d0201',
  ed25519: '2b6570',
  dsa: '2a8648ce380401',
  x25519: '2b656e',
};
const CURVES: Record<string, number> = { '2b81040021': 28, '2a8648ce3d030107': 32, '2b81040022': 48, '2b81040023': 66 };

/** x509 parsePublicKey for the algorithms Go knows (RSA, ECDSA, Ed25519, DSA); others are left unparsed. */
function cbPublicKey(algOid: string, params: Buffer, data: Buffer): void {
  const whole = (b: Buffer): Cursor => ({ b, off: 0, end: b.length });
  switch (algOid) {
    case OID_DER.rsa: {
      if (!params.equals(Buffer.from([0x05, 0x00]))) throw new Asn1Error('x509: RSA key missing NULL parameters');
      const seq = cbRead(whole(data), 0x30);
      if (!seq) throw new Asn1Error('x509: invalid RSA public key');
      const n = cbInteger(seq);
      if (n === undefined) throw new Asn1Error('x509: invalid RSA modulus');
      const e = cbInteger(seq);
      if (e === undefined || !isInt64(e)) throw new Asn1Error('x509: invalid RSA public exponent');
      if (n <= 0n) throw new Asn1Error('x509: RSA modulus is not a positive number');
      if (e <= 0n) throw new Asn1Error('x509: RSA public exponent is not a positive number');
      return;
    }
    case OID_DER.ecdsa: {
      const p = whole(params);
      const o = cbRead({ ...p }, 0x06);
      if (!cbOid(p) || !o) throw new Asn1Error('x509: invalid ECDSA parameters');
      const size = CURVES[o.b.toString('hex', o.off, o.end)];
      if (size === undefined) throw new Asn1Error('x509: unsupported elliptic curve');
      // elliptic.Unmarshal: an uncompressed point on the curve.
      let onCurve = data.length === 1 + 2 * size && data[0] === 4;
      if (onCurve) {
        try {
          createPublicKey({ key: { kty: 'EC', crv: { 28: 'P-224', 32: 'P-256', 48: 'P-384', 66: 'P-521' }[size]!, x: data.subarray(1, 1 + size).toString('base64url'), y: data.subarray(1 + size).toString('base64url') }, format: 'jwk' });
        } catch {
          onCurve = false;
        }
      }
      if (!onCurve) throw new Asn1Error('x509: failed to unmarshal elliptic curve point');
      return;
    }
    case OID_DER.ed25519:
      if (params.length !== 0) throw new Asn1Error('x509: Ed25519 key encoded with illegal parameters');
      if (data.length !== 32) throw new Asn1Error('x509: wrong Ed25519 public key size');
      return;
    case OID_DER.dsa: {
      const y = cbInteger(whole(data));
      if (y === undefined) throw new Asn1Error('x509: invalid DSA public key');
      const seq = cbRead(whole(params), 0x30);
      const pqg = seq ? [cbInteger(seq), cbInteger(seq), cbInteger(seq)] : [undefined];
      if (pqg.some((v) => v === undefined)) throw new Asn1Error('x509: invalid DSA parameters');
      if (y <= 0n || pqg.some((v) => v! <= 0n)) throw new Asn1Error('x509: zero or negative DSA parameter');
      return;
    }
  }
}

/** net.IP.To4 of 16 bytes: ::ffff:a.b.c.d. */
const isV4MappedV6 = (ip: Buffer): boolean => ip.length === 16 && ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;

const ATEXT = /[0-9a-zA-Z!#$%&'*+\-/=?^_`{|}~.]/;

/**
 * Go's parseRFC2821Mailbox: a quoted or dot-atom local part (backslash escapes allowed in both), `@`, then a
 * domain; the local part (unescaped) and the domain, or undefined.
 */
function rfc2821Mailbox(input: string): { local: string; domain: string } | undefined {
  if (input.length === 0) return undefined;
  let local = '';
  let i = 0;
  const code = (k: number): number => input.charCodeAt(k);
  if (input[0] === '"') {
    i = 1;
    for (;;) {
      if (i >= input.length) return undefined;
      const c = code(i++);
      if (c === 0x22) break;
      if (c === 0x5c) {
        if (i >= input.length) return undefined;
        const n = code(i);
        if (n === 11 || n === 12 || (n >= 1 && n <= 9) || (n >= 14 && n <= 127)) {
          local += input[i++];
          continue;
        }
        return undefined;
      }
      if (c === 11 || c === 12 || c === 32 || c === 33 || c === 127 || (c >= 1 && c <= 8) || (c >= 14 && c <= 31) || (c >= 35 && c <= 91) || (c >= 93 && c <= 126)) {
        local += input[i - 1];
        continue;
      }
      return undefined;
    }
  } else {
    while (i < input.length) {
      let c = input[i]!;
      if (c === '\\') {
        i++;
        if (i >= input.length) return undefined;
        c = input[i]!;
      } else if (!ATEXT.test(c)) break;
      local += c;
      i++;
    }
    if (local.length === 0 || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return undefined;
  }
  if (input[i] !== '@') return undefined;
  const domain = input.slice(i + 1);
  return domainValid(domain, false) ? { local, domain } : undefined;
}

/** Go's domainNameValid (and the older reverse-label check): no empty label, no trailing dot, printable ASCII. */
function domainValid(s: string, constraint: boolean): boolean {
  if (s.length === 0) return true;
  if (s.endsWith('.')) return false;
  const d = constraint && s.startsWith('.') ? s.slice(1) : s;
  return d.split('.').every((l) => l.length > 0 && [...l].every((ch) => ch.charCodeAt(0) >= 33 && ch.charCodeAt(0) <= 126));
}

/** x509 processExtensions: the structure of each extension Go decodes, with its error texts. */
function cbExtensionValue(id: string, critical: boolean, value: Buffer): void {
  const v = (): Cursor => ({ b: value, off: 0, end: value.length });
  const fail = (text: string): never => {
    throw new Asn1Error(`x509: ${text}`);
  };
  switch (id) {
    case '2.5.29.15':
      if (!cbBitString(v())) fail('invalid key usage');
      return;
    case '2.5.29.19': {
      const seq = cbRead(v(), 0x30);
      if (!seq) return fail('invalid basic constraints');
      if (cbPeek(seq) === 0x01 && cbBool(seq) === undefined) fail('invalid basic constraints');
      if (cbPeek(seq) === 0x02) {
        const n = cbInteger(seq);
        if (n === undefined || n < 0n || n >= 2n ** 63n) fail('invalid basic constraints');
      }
      return;
    }
    case '2.5.29.17': {
      const seq = cbRead(v(), 0x30);
      if (!seq) return fail('invalid subject alternative names');
      while (seq.off < seq.end) {
        const el = cbReadAny(seq);
        if (!el) return fail('invalid subject alternative name');
        const data = el.c.b.subarray(el.c.off, el.c.end);
        const text = data.toString('latin1');
        switch (el.tag ^ 0x80) {
          case 1:
            if (!isIA5(data)) fail('SAN rfc822Name is malformed');
            break;
          case 2:
            if (!isIA5(data)) fail('SAN dNSName is malformed');
            break;
          case 6: {
            if (!isIA5(data)) fail('SAN uniformResourceIdentifier is malformed');
            const u = urlJson(text);
            if (u === undefined) fail(`cannot parse URI ${JSON.stringify(text)}: invalid URL escape`);
            const host = (u!.json as RObject).getStr('Host') as string;
            if (host.length > 0 && !domainValid(host, false)) fail(`cannot parse URI ${JSON.stringify(text)}: invalid domain`);
            break;
          }
          case 7:
            if (data.length !== 4 && data.length !== 16) fail(`cannot parse IP address of length ${data.length}`);
            break;
        }
      }
      return;
    }
    case '2.5.29.30': {
      const outer = v();
      const top = cbRead(outer, 0x30);
      const permitted = top && cbPeek(top) === 0xa0 ? cbRead(top, 0xa0) : undefined;
      const badPermitted = top !== undefined && permitted === undefined && cbPeek(top) === 0xa0;
      const excluded = top && !badPermitted && cbPeek(top) === 0xa1 ? cbRead(top, 0xa1) : undefined;
      const badExcluded = top !== undefined && excluded === undefined && cbPeek(top) === 0xa1;
      if (!top || outer.off !== outer.end || badPermitted || badExcluded || top.off !== top.end) fail('invalid NameConstraints extension');
      if (!permitted && !excluded) fail('empty name constraints extension');
      if ((permitted && permitted.off === permitted.end) || (excluded && excluded.off === excluded.end)) fail('empty name constraints subtree sequence');
      for (const sub of [permitted, excluded]) {
        while (sub && sub.off < sub.end) {
          const seq = cbRead(sub, 0x30);
          const el = seq ? cbReadAny(seq) : undefined;
          if (!el) return fail('invalid NameConstraints extension');
          const data = el.c.b.subarray(el.c.off, el.c.end);
          const text = data.toString('latin1');
          if (el.tag === 0x82 || el.tag === 0x81 || el.tag === 0x86) {
            if (!isIA5(data)) fail('invalid constraint value: IA5String contains invalid character');
            if (el.tag === 0x82 && !domainValid(text, true)) fail(`failed to parse dnsName constraint ${JSON.stringify(text)}`);
            if (el.tag === 0x81 && !(text.includes('@') ? rfc2821Mailbox(text) !== undefined : domainValid(text, true))) {
              fail(`failed to parse rfc822Name constraint ${JSON.stringify(text)}`);
            }
            if (el.tag === 0x86 && parseIP(text) !== undefined) fail(`failed to parse URI constraint ${JSON.stringify(text)}: cannot be IP address`);
            if (el.tag === 0x86 && !domainValid(text, true)) fail(`failed to parse URI constraint ${JSON.stringify(text)}`);
          } else if (el.tag === 0x87) {
            if (data.length !== 8 && data.length !== 32) fail(`IP constraint contained value of length ${data.length}`);
            const mask = data.subarray(data.length / 2);
            let zero = false;
            for (const b of mask) {
              if (zero ? b !== 0 : ![0x00, 0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe, 0xff].includes(b)) fail(`IP constraint contained invalid mask ${mask.toString('hex')}`);
              if (b !== 0xff) zero = true;
            }
            if (data.length === 32 && isV4MappedV6(data.subarray(0, 16))) fail('IP constraint contained IPv4-mapped IPv6 address');
          }
        }
      }
      return;
    }
    case '2.5.29.31': {
      const seq = cbRead(v(), 0x30);
      if (!seq) return fail('invalid CRL distribution points');
      while (seq.off < seq.end) {
        const dp = cbRead(seq, 0x30);
        if (!dp) return fail('invalid CRL distribution point');
        if (cbPeek(dp) !== 0xa0) continue;
        const name = cbRead(dp, 0xa0);
        const full = name ? cbRead(name, 0xa0) : undefined;
        if (!full) return fail('invalid CRL distribution point');
        while (full.off < full.end && cbPeek(full) === 0x86) if (!cbRead(full, 0x86)) fail('invalid CRL distribution point');
      }
      return;
    }
    case '2.5.29.35': {
      if (critical) fail('authority key identifier incorrectly marked critical');
      const seq = cbRead(v(), 0x30);
      if (!seq || (cbPeek(seq) === 0x80 && !cbRead(seq, 0x80))) fail('invalid authority key identifier');
      return;
    }
    case '2.5.29.36': {
      const seq = cbRead(v(), 0x30);
      if (!seq) return fail('invalid policy constraints extension');
      for (const tag of [0x80, 0x81]) {
        if (cbPeek(seq) !== tag) continue;
        const c = cbRead(seq, tag);
        if (!c || !isInt64(intContent(c))) fail('invalid policy constraints extension');
      }
      return;
    }
    case '2.5.29.37': {
      const seq = cbRead(v(), 0x30);
      if (!seq) return fail('invalid extended key usages');
      while (seq.off < seq.end) if (!cbOid(seq)) fail('invalid extended key usages');
      return;
    }
    case '2.5.29.14':
      if (critical) fail('subject key identifier incorrectly marked critical');
      if (!cbRead(v(), 0x04)) fail('invalid subject key identifier');
      return;
    case '2.5.29.32': {
      const seq = cbRead(v(), 0x30);
      if (!seq) return fail('invalid certificate policies');
      const seen = new Set<string>();
      while (seq.off < seq.end) {
        const cp = cbRead(seq, 0x30);
        const o = cp ? cbRead({ ...cp }, 0x06) : undefined;
        if (!cp || !o || !cbOid(cp)) return fail('invalid certificate policies');
        const key = o.b.toString('hex', o.off, o.end);
        if (seen.has(key)) fail('invalid certificate policies');
        seen.add(key);
      }
      return;
    }
    case '2.5.29.33': {
      const seq = cbRead(v(), 0x30);
      if (!seq) return fail('invalid policy mappings extension');
      while (seq.off < seq.end) {
        const m = cbRead(seq, 0x30);
        if (!m || !cbRead(m, 0x06) || !cbRead(m, 0x06)) fail('invalid policy mappings extension');
      }
      return;
    }
    case '2.5.29.54':
      if (!isInt64(cbInteger(v()))) fail('invalid inhibit any policy extension');
      return;
    case '1.3.6.1.5.5.7.1.1': {
      if (critical) fail('authority info access incorrectly marked critical');
      const seq = cbRead(v(), 0x30);
      if (!seq) return fail('invalid authority info access');
      while (seq.off < seq.end) {
        const ad = cbRead(seq, 0x30);
        if (!ad || !cbOid(ad)) return fail('invalid authority info access');
        if (cbPeek(ad) === 0x86 && !cbRead(ad, 0x86)) fail('invalid authority info access');
      }
      return;
    }
  }
}

/** The dotted text of an OBJECT IDENTIFIER cbOid accepted. */
function oidText(c: Cursor): string {
  return oid({ tag: 6, raw: c.b.subarray(c.off, c.end), body: c.b.subarray(c.off, c.end), constructed: false, cls: 0 }).join('.');
}

/**
 * Go's parseCertificate stages on the certificate starting at `off` (the first element of what is left, as
 * x509.ParseCertificates reads a concatenation), to the signature; returns where it ends.
 */
function checkCertificate(der: Buffer, off: number): number {
  const input: Cursor = { b: der, off, end: der.length };
  const outer = cbRead(input, 0x30);
  if (!outer) throw new Asn1Error('x509: malformed certificate');
  const tbs = cbRead(outer, 0x30);
  if (!tbs) throw new Asn1Error('x509: malformed tbs certificate');
  let version = 0n;
  if (cbPeek(tbs) === 0xa0) {
    const v = cbRead(tbs, 0xa0);
    const n = v ? cbInteger(v) : undefined;
    if (!v || n === undefined || v.off !== v.end || !isInt64(n)) throw new Asn1Error('x509: malformed version');
    version = n;
  }
  // Go reads versions 0 to 3 and then refuses a v4 (3) as invalid.
  if (version < 0n || version > 3n) throw new Asn1Error('x509: malformed version');
  if (version + 1n > 3n) throw new Asn1Error('x509: invalid version');
  const serial = cbInteger(tbs);
  if (serial === undefined) throw new Asn1Error('x509: malformed serial number');
  if (serial < 0n) throw new Asn1Error('x509: negative serial number');
  const sigAI = cbRead(tbs, 0x30);
  if (!sigAI) throw new Asn1Error('x509: malformed signature algorithm identifier');
  const outerAI = cbRead(outer, 0x30);
  if (!outerAI) throw new Asn1Error('x509: malformed algorithm identifier');
  if (!der.subarray(sigAI.off, sigAI.end).equals(der.subarray(outerAI.off, outerAI.end))) {
    throw new Asn1Error("x509: inner and outer signature algorithm identifiers don't match");
  }
  cbAlgorithm({ ...sigAI });
  const issuer = cbRead(tbs, 0x30);
  if (!issuer) throw new Asn1Error('x509: malformed issuer');
  cbName(issuer);
  const validity = cbRead(tbs, 0x30);
  if (!validity) throw new Asn1Error('x509: malformed validity');
  cbTime(validity);
  cbTime(validity);
  // Go reports a subject it cannot read with the issuer's text.
  const subject = cbRead(tbs, 0x30);
  if (!subject) throw new Asn1Error('x509: malformed issuer');
  cbName(subject);
  const spkiEl = cbRead(tbs, 0x30);
  if (!spkiEl) throw new Asn1Error('x509: malformed spki');
  const pkAI = cbRead(spkiEl, 0x30);
  if (!pkAI) throw new Asn1Error('x509: malformed public key algorithm identifier');
  const algOid = cbRead({ ...pkAI }, 0x06);
  const params = cbAlgorithm(pkAI);
  const key = cbBitString(spkiEl);
  if (!key) throw new Asn1Error('x509: malformed subjectPublicKey');
  cbPublicKey(algOid!.b.toString('hex', algOid!.off, algOid!.end), params, key);
  if (version >= 1n) {
    if (cbPeek(tbs) === 0x81 && !cbRead(tbs, 0x81)) throw new Asn1Error('x509: malformed issuerUniqueID');
    if (cbPeek(tbs) === 0x82 && !cbRead(tbs, 0x82)) throw new Asn1Error('x509: malformed subjectUniqueID');
    if (version === 2n && cbPeek(tbs) === 0xa3) {
      const wrap = cbRead(tbs, 0xa3);
      const exts = wrap ? cbRead(wrap, 0x30) : undefined;
      if (!exts) throw new Asn1Error('x509: malformed extensions');
      const seen = new Set<string>();
      const list: Array<[string, boolean, Buffer]> = [];
      while (exts.off < exts.end) {
        const ext = cbRead(exts, 0x30);
        if (!ext) throw new Asn1Error('x509: malformed extension');
        const idEl = cbRead({ ...ext }, 0x06);
        if (!cbOid(ext)) throw new Asn1Error('x509: malformed extension OID field');
        let critical = false;
        if (cbPeek(ext) === 0x01) {
          const c = cbBool(ext);
          if (c === undefined) throw new Asn1Error('x509: malformed extension critical field');
          critical = c;
        }
        const value = cbRead(ext, 0x04);
        if (!value) throw new Asn1Error('x509: malformed extension value field');
        const id = oidText(idEl!);
        if (seen.has(id)) throw new Asn1Error(`x509: certificate contains duplicate extension with OID ${JSON.stringify(id)}`);
        seen.add(id);
        list.push([id, critical, value.b.subarray(value.off, value.end)]);
      }
      for (const [id, critical, value] of list) cbExtensionValue(id, critical, value);
    }
  }
  if (!cbBitString(outer)) throw new Asn1Error('x509: malformed signature');
  return outer.end;
}

// --- the keys of io.jwt.* `cert` constraints ----------------------------------------------------------------

/**
 * x509.ParseCertificate for a certificate's public key: the parser's stages with their texts, then
 * `x509: trailing data` when bytes follow the certificate. The key is null when Go leaves it nil, for a
 * public-key algorithm it does not parse (RSA-PSS, Ed448, …).
 */
export function goCertificatePublicKey(der: Buffer): KeyObject | null {
  const end = checkCertificate(der, 0);
  if (end !== der.length) throw new Asn1Error('x509: trailing data');
  const cert = parseCertificate(der);
  return cert.json.getStr('PublicKeyAlgorithm') === 0 ? null : cert.x509.publicKey;
}

const PKIX_SHAPE: Shape = {
  k: 'struct',
  name: 'publicKeyInfo',
  fields: [{ shape: { k: 'struct', name: 'AlgorithmIdentifier', fields: [{ shape: { k: 'oid' } }, { shape: { k: 'raw' }, optional: true }] } }, { shape: { k: 'bits' } }],
};
const PKCS1_PUBLIC_SHAPE: Shape = { k: 'struct', name: 'pkcs1PublicKey', fields: [{ shape: { k: 'bigint' } }, { shape: { k: 'int' } }] };

/**
 * x509.ParsePKIXPublicKey: encoding/asn1 into Go's publicKeyInfo (a PKCS #1 key gets Go's hint), no trailing
 * data, then parsePublicKey for RSA, ECDSA, Ed25519, X25519 and DSA with its texts; any other algorithm is
 * `x509: unknown public key algorithm`.
 */
export function goPkixPublicKey(der: Buffer): KeyObject {
  const r = unmarshal(der, PKIX_SHAPE);
  if (r.error !== undefined) {
    if (unmarshal(der, PKCS1_PUBLIC_SHAPE).error === undefined) {
      throw new Asn1Error('x509: failed to parse public key (use ParsePKCS1PublicKey instead for this key format)');
    }
    throw new Asn1Error(r.error);
  }
  if (r.rest !== 0) throw new Asn1Error('x509: trailing data after ASN.1 of public-key');
  const spki = cbRead({ b: der, off: 0, end: der.length }, 0x30)!;
  const pkAI = cbRead(spki, 0x30)!;
  const algOid = cbRead({ ...pkAI }, 0x06)!;
  const hex = algOid.b.toString('hex', algOid.off, algOid.end);
  cbRead(pkAI, 0x06);
  const params = pkAI.off < pkAI.end ? pkAI.b.subarray(pkAI.off, pkAI.end) : Buffer.alloc(0);
  const bits = cbRead(spki, 0x03)!;
  const data = bits.b.subarray(bits.off + 1, bits.end);
  if (hex === OID_DER.x25519) {
    if (params.length !== 0) throw new Asn1Error('x509: X25519 key encoded with illegal parameters');
    if (data.length !== 32) throw new Asn1Error('crypto/ecdh: invalid public key');
  } else if (!Object.values(OID_DER).includes(hex)) {
    throw new Asn1Error('x509: unknown public key algorithm');
  } else cbPublicKey(hex, params, data);
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (e) {
    throw new Asn1Error(`x509: ${(e as Error).message}`);
  }
}

// --- certificates ------------------------------------------------------------------------------------------------

interface Cert {
  /** x509.Certificate as encoding/json writes it. */
  json: RObject;
  x509: X509Certificate;
  /** The URI SANs as url.URL.String() texts, null when there are none (Go's nil slice). */
  uriStrings: string[] | null;
}

/**
 * OPA's extendedCert (parse_certificates, parse_and_verify_certificates): the certificate's fields and
 * `URIStrings`, the URI SANs as strings.
 */
function extendedCert(c: Cert): RObject {
  const o = new RObject();
  for (const [k, v] of c.json.entries()) o.set(k, v);
  o.set('URIStrings', c.uriStrings);
  return o;
}

function parseCertificate(der: Buffer): Cert {
  const root = parseDer(der);
  const [tbs, sigAlgNode, sig] = children(root) as [Node, Node, Node];
  if (!tbs || !sigAlgNode || !sig) throw new Asn1Error('asn1: structure error: sequence truncated');
  const f = children(tbs);
  let i = 0;
  let version = 1;
  if (f[0]!.tag === 0xa0) {
    version = Number(bigInt(children(f[0]!)[0]!)) + 1;
    i++;
  }
  const serial = f[i++]!;
  i++; // inner signature algorithm
  const issuer = f[i++]!;
  const validity = f[i++]!;
  const subject = f[i++]!;
  const spki = f[i++]!;
  let exts: Node[] | undefined;
  for (; i < f.length; i++) if (f[i]!.tag === 0xa3) exts = children(children(f[i]!)[0]!);
  const [notBefore, notAfter] = children(validity) as [Node, Node];
  let x: X509Certificate;
  try {
    x = new X509Certificate(der);
  } catch (e) {
    throw new Asn1Error(`x509: ${(e as Error).message}`);
  }
  const o = new RObject();
  o.set('Raw', b64(root.raw));
  o.set('RawTBSCertificate', b64(tbs.raw));
  o.set('RawSubjectPublicKeyInfo', b64(spki.raw));
  o.set('RawSubject', b64(subject.raw));
  o.set('RawIssuer', b64(issuer.raw));
  o.set('Signature', b64(sig.body.subarray(1)));
  o.set('SignatureAlgorithm', sigAlg(sigAlgNode));
  o.set('PublicKeyAlgorithm', publicKeyAlgorithm(spki));
  o.set('PublicKey', publicKeyJson(x.publicKey));
  o.set('Version', version);
  o.set('SerialNumber', normNum(bigInt(serial)));
  o.set('Issuer', pkixName(issuer));
  o.set('Subject', pkixName(subject));
  o.set('NotBefore', time(notBefore));
  o.set('NotAfter', time(notAfter));
  const uriStrings = applyExtensions(o, exts);
  return { json: o, x509: x, uriStrings };
}

interface PemBlock {
  type: string;
  der: Buffer;
}

/** The blocks Go's pem.Decode finds one after another in `text`, until it finds no more. */
function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  let rest = text;
  while (rest.length > 0) {
    const found = goPemDecode(rest);
    if (!found) break;
    out.push({ type: found.block.type, der: found.block.bytes });
    rest = found.rest;
  }
  return out;
}

/** getX509CertsFromString: PEM, base64 of PEM, or base64 of (concatenated) DER. */
function certsFromString(name: string, s: string): Cert[] {
  try {
    let text: string | undefined;
    let der: Buffer | undefined;
    if (s.startsWith('-----BEGIN')) text = s;
    else {
      const raw = goBase64Decode(s, 'std', true);
      if (raw.subarray(0, 10).toString('latin1') === '-----BEGIN') text = raw.toString('latin1');
      else der = raw;
    }
    // OPA joins the certificate blocks' DER and reads it with x509.ParseCertificates: one certificate after
    // another, so bytes after the last one are a certificate that is malformed.
    // A block of another type is refused (getX509CertsFromPem).
    if (text !== undefined) {
      der = Buffer.concat(
        pemBlocks(text).map((b) => {
          if (b.type !== 'CERTIFICATE') throw new Asn1Error(`PEM block type is '${b.type}', expected CERTIFICATE`);
          return b.der;
        }),
      );
    }
    const out: Cert[] = [];
    let off = 0;
    while (off < der!.length) {
      const next = checkCertificate(der!, off);
      out.push(parseCertificate(Buffer.from(der!.subarray(off, next))));
      off = next;
    }
    return out;
  } catch (e) {
    throw builtinError(name, (e as Error).message);
  }
}

// --- chain verification ------------------------------------------------------------------------------------

interface VerifyOpts {
  time: bigint;
  dnsName?: string;
  keyUsages?: number[];
  /** Go's MaxConstraintComparisions; 0 (or absent) is its default, 250000. */
  maxComparisons?: number;
}

/**
 * OPA's contract (topdown/crypto.go verifyX509CertificateChain): the first certificate is the trust anchor,
 * the last the leaf, the ones between a pool of intermediates in any order. Like Go's x509 Verify, a chain
 * is built from the leaf up through intermediates (CA, in validity, signature checked) to the anchor, and
 * returned leaf first; intermediates the chain does not use are left out. Undefined when no chain exists.
 */
const extensionId = (e: Value): string => ((e as RObject).getStr('Id') as Value[]).map(String).join('.');

function extensionOf(c: Cert, id: string): RObject | undefined {
  const exts = c.json.getStr('Extensions');
  return Array.isArray(exts) ? (exts.find((e) => extensionId(e) === id) as RObject | undefined) : undefined;
}

/** Go's domainToReverseLabels: the labels last first, or undefined for a name it refuses. */
function reverseLabels(domain: string): string[] | undefined {
  if (domain.length === 0) return [];
  const labels = domain.split('.').reverse();
  if (labels[0] === '' || labels.some((l) => l.length === 0 || [...l].some((ch) => ch.charCodeAt(0) < 33 || ch.charCodeAt(0) > 126))) return undefined;
  return labels;
}

/** matchDomainConstraint; an undefined result is Go's error (the certificate is then refused). */
function matchDomain(domain: string, constraint: string): boolean | undefined {
  if (constraint.length === 0) return true;
  const d = reverseLabels(domain);
  const sub = constraint.startsWith('.');
  const c = reverseLabels(sub ? constraint.slice(1) : constraint);
  if (!d || !c) return undefined;
  if (d.length < c.length || (sub && d.length === c.length)) return false;
  return c.every((l, i) => l.toLowerCase() === d[i]!.toLowerCase());
}

const MAX_CONSTRAINT_COMPARISONS = 250000;

/**
 * Go's check of one certificate's SAN names against a CA's name constraints (isValid, checkNameConstraints):
 * no excluded constraint may match a name, and where a name form has permitted constraints one must match.
 * A name Go cannot read, or a constraint comparison that errs, refuses the certificate.
 */
function sanPermitted(c: Cert, ca: Cert, count: { n: number; limit: number }): boolean {
  const san = extensionOf(c, '2.5.29.17');
  if (!san) return true;
  const list = (k: string): Value[] => {
    const v = ca.json.getStr(k);
    return Array.isArray(v) ? v : [];
  };
  const check = (excluded: Value[], permitted: Value[], match: (constraint: Value) => boolean | undefined): boolean => {
    count.n += excluded.length;
    if (count.n > count.limit) return false;
    for (const x of excluded) if (match(x) !== false) return false;
    count.n += permitted.length;
    if (count.n > count.limit) return false;
    if (permitted.length === 0) return true;
    for (const x of permitted) {
      const m = match(x);
      if (m === undefined) return false;
      if (m) return true;
    }
    return false;
  };
  const value = Buffer.from(san.getStr('Value') as string, 'base64');
  const seq = cbRead({ b: value, off: 0, end: value.length }, 0x30);
  if (!seq) return false;
  while (seq.off < seq.end) {
    const el = cbReadAny(seq);
    if (!el) return false;
    const data = el.c.b.subarray(el.c.off, el.c.end);
    const text = data.toString('latin1');
    let ok = true;
    switch (el.tag) {
      case 0x81: {
        const mailbox = rfc2821Mailbox(text);
        if (!mailbox) return false;
        ok = check(list('ExcludedEmailAddresses'), list('PermittedEmailAddresses'), (x) => {
          const constraint = x as string;
          if (!constraint.includes('@')) return matchDomain(mailbox.domain, constraint);
          const want = rfc2821Mailbox(constraint);
          return want === undefined ? undefined : want.local === mailbox.local && want.domain.toLowerCase() === mailbox.domain.toLowerCase();
        });
        break;
      }
      case 0x82:
        if (!reverseLabels(text)) return false;
        ok = check(list('ExcludedDNSDomains'), list('PermittedDNSDomains'), (x) => matchDomain(text, x as string));
        break;
      case 0x86: {
        const u = urlJson(text);
        if (!u) return false;
        ok = check(list('ExcludedURIDomains'), list('PermittedURIDomains'), (x) => {
          let host = (u.json as RObject).getStr('Host') as string;
          if (host.length === 0) return undefined;
          if (host.includes(':') && !host.endsWith(']')) {
            const at = host.lastIndexOf(':');
            host = host.slice(0, at);
            if (host.includes(':')) return undefined;
          }
          if ((host.startsWith('[') && host.endsWith(']')) || parseIP(host) !== undefined) return undefined;
          return matchDomain(host, x as string);
        });
        break;
      }
      case 0x87:
        if (data.length !== 4 && data.length !== 16) return false;
        ok = check(list('ExcludedIPRanges'), list('PermittedIPRanges'), (x) => {
          const ip = parseIP((x as RObject).getStr('IP') as string);
          const mask = Buffer.from((x as RObject).getStr('Mask') as string, 'base64');
          if (!ip || ip.length !== data.length) return false;
          return data.every((b, i) => (b & mask[i]!) === (ip[i]! & mask[i]!));
        });
        break;
    }
    if (!ok) return false;
  }
  return true;
}

const lowerAscii = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** Go's validHostname: labels of letters, digits, `_` and inner `-`; a pattern may start with a `*` label. */
function validHostname(host: string, isPattern: boolean): boolean {
  const h = isPattern ? host : host.replace(/\.$/, '');
  if (h.length === 0) return false;
  return h.split('.').every((part, i) => part.length > 0 && ((isPattern && i === 0 && part === '*') || /^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(part)));
}

/**
 * Go's Certificate.VerifyHostname: an IP address (brackets allowed) against the IP SANs only; a name against
 * the DNS SANs, with a whole left-most `*` label and a trailing dot only when both are valid hostnames, an exact
 * case-insensitive match otherwise. The subject's common name is never used.
 */
function verifyHostname(c: Cert, host: string): boolean {
  const candidateIP = host.length >= 3 && host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const ip = parseIP(candidateIP);
  const sans = (k: string): string[] => {
    const v = c.json.getStr(k);
    return Array.isArray(v) ? (v as string[]) : [];
  };
  if (ip) {
    return sans('IPAddresses').some((a) => {
      const b = parseIP(a);
      return b !== undefined && b.length === ip.length && b.every((x, i) => x === ip[i]);
    });
  }
  const name = lowerAscii(host);
  const validName = validHostname(name, false);
  return sans('DNSNames').some((pattern) => {
    if (validName && validHostname(pattern, true)) {
      const p = lowerAscii(pattern).split('.');
      const h = name.replace(/\.$/, '').split('.');
      return p.length > 0 && h.length === p.length && h.join('.').length > 0 && p.every((part, i) => (i === 0 && part === '*') || part === h[i]);
    }
    return pattern !== '' && pattern !== '.' && name !== '' && name !== '.' && lowerAscii(pattern) === name;
  });
}

function verifyChain(certs: Cert[], opts: VerifyOpts): Cert[] | undefined {
  if (certs.length < 2) return undefined;
  const ms = Number(opts.time / 1_000_000n);
  const valid = (c: Cert): boolean => ms >= Date.parse(c.x509.validFrom) && ms <= Date.parse(c.x509.validTo);
  // CheckSignatureFrom: Go does not check MD2, MD5, SHA-1 or DSA signatures when it builds chains.
  const weak = new Set([1, 2, 3, 7, 8, 9]);
  const issuedBy = (child: Cert, parent: Cert): boolean =>
    !weak.has(child.json.getStr('SignatureAlgorithm') as number) && child.x509.checkIssued(parent.x509) && child.x509.verify(parent.x509.publicKey);
  // Go's isValid for every certificate of a chain: no critical extension it did not handle; for a CA placed
  // above `path`, a path length constraint (when set) no smaller than the intermediates below it.
  const handled = (c: Cert): boolean => c.json.getStr('UnhandledCriticalExtensions') === null;
  const pathLenOk = (ca: Cert, path: Cert[]): boolean => {
    const max = ca.json.getStr('MaxPathLen');
    return ca.json.getStr('BasicConstraintsValid') !== true || typeof max !== 'number' || max < 0 || path.length - 1 <= max;
  };
  const anchor = certs[0]!;
  const intermediates = certs.slice(1, -1);
  const leaf = certs[certs.length - 1]!;
  if (!valid(leaf) || !valid(anchor) || !handled(leaf) || !handled(anchor)) return undefined;
  // Go's default limit on intermediates in a chain.
  const MAX_DEPTH = 10;
  // Go's isValid on usages (ServerAuth asked for when none are given): every certificate of the chain that
  // names usages (known or not) must name any usage or one of those asked for.
  const requested = opts.keyUsages && opts.keyUsages.length > 0 ? opts.keyUsages : [1];
  const usagesOk = (chain: Cert[]): boolean =>
    requested.includes(0) ||
    chain.every((c) => {
      const eku = c.json.getStr('ExtKeyUsage');
      if (!Array.isArray(eku) && !Array.isArray(c.json.getStr('UnknownExtKeyUsage'))) return true;
      return Array.isArray(eku) && eku.some((u) => u === 0 || requested.includes(u as number));
    });
  // Name constraints of a CA placed above `path` apply to the names of the leaf and of the CA itself; the
  // comparisons are counted afresh for each CA.
  const limit = opts.maxComparisons || MAX_CONSTRAINT_COMPARISONS;
  const namesOk = (ca: Cert, path: Cert[]): boolean => {
    if (!extensionOf(ca, '2.5.29.30')) return true;
    const count = { n: 0, limit };
    return [path[0]!, ca].every((c) => sanPermitted(c, ca, count));
  };
  const extend = (path: Cert[]): Cert[] | undefined => {
    const top = path[path.length - 1]!;
    if (top.x509.raw.equals(anchor.x509.raw)) return usagesOk(path) ? path : undefined;
    if (issuedBy(top, anchor) && pathLenOk(anchor, path) && namesOk(anchor, path) && usagesOk([...path, anchor])) return [...path, anchor];
    if (path.length > MAX_DEPTH) return undefined;
    for (const c of intermediates) {
      if (path.includes(c) || !valid(c) || !handled(c) || c.json.getStr('IsCA') !== true || !pathLenOk(c, path) || !issuedBy(top, c) || !namesOk(c, path)) continue;
      const found = extend([...path, c]);
      if (found) return found;
    }
    return undefined;
  };
  const chain = extend([leaf]);
  if (!chain) return undefined;
  if (opts.dnsName !== undefined && opts.dnsName.length > 0 && !verifyHostname(leaf, opts.dnsName)) return undefined;
  return chain;
}

const KEY_USAGE_NAMES: Record<string, number> = {
  KeyUsageAny: 0,
  KeyUsageServerAuth: 1,
  KeyUsageClientAuth: 2,
  KeyUsageCodeSigning: 3,
  KeyUsageEmailProtection: 4,
  KeyUsageIPSECEndSystem: 5,
  KeyUsageIPSECTunnel: 6,
  KeyUsageIPSECUser: 7,
  KeyUsageTimeStamping: 8,
  KeyUsageOCSPSigning: 9,
  KeyUsageMicrosoftServerGatedCrypto: 10,
  KeyUsageNetscapeServerGatedCrypto: 11,
  KeyUsageMicrosoftCommercialCodeSigning: 12,
  KeyUsageMicrosoftKernelCodeSigning: 13,
};

/**
 * OPA's extractVerifyOpts: keys that are not strings are passed over, the values' types checked with its texts
 * (`'CurrentTime' should be a valid int64 number`), KeyUsages an array or a set whose strings must be names
 * OPA knows (the unknown ones listed Go-style, `[a b]`), and any other key is `invalid key option`.
 */
function verifyOptions(name: string, o: RObject, ctx: BuiltinContext): VerifyOpts {
  const opts: VerifyOpts = { time: ctx.now() };
  const fail = (text: string): never => {
    throw builtinError(name, text);
  };
  for (const [k, v] of o.entries()) {
    if (typeof k !== 'string') continue;
    switch (k) {
      case 'DNSName':
        if (typeof v !== 'string') fail("'DNSName' should be a string");
        opts.dnsName = (v as string).replace(/^"+|"+$/g, '');
        break;
      case 'CurrentTime':
        if (!isNumber(v)) fail("'CurrentTime' should be a number");
        if (!isInteger(v) || toBigInt(v as number | bigint) < -(2n ** 63n) || toBigInt(v as number | bigint) >= 2n ** 63n) fail("'CurrentTime' should be a valid int64 number");
        opts.time = toBigInt(v as number | bigint);
        break;
      case 'MaxConstraintComparisons':
        if (!isNumber(v)) fail("'MaxConstraintComparisons' should be a number");
        if (!isInteger(v) || toBigInt(v as number | bigint) < -(2n ** 63n) || toBigInt(v as number | bigint) >= 2n ** 63n) fail("'MaxConstraintComparisons' should be a valid number");
        opts.maxComparisons = Number(toBigInt(v as number | bigint));
        break;
      case 'KeyUsages': {
        const items = Array.isArray(v) ? v : isSet(v) ? [...v.values()] : fail("'KeyUsages' should be an Array or Set");
        const invalid: string[] = [];
        opts.keyUsages = [];
        for (const x of items) {
          if (typeof x !== 'string') continue;
          const u = x.replace(/^"+|"+$/g, '');
          const n = KEY_USAGE_NAMES[u];
          if (n === undefined) invalid.push(u);
          else opts.keyUsages.push(n);
        }
        if (invalid.length > 0) fail(`invalid entries for 'KeyUsages' found: [${invalid.join(' ')}]`);
        break;
      }
      default:
        fail('invalid key option');
    }
  }
  return opts;
}

// --- CSR -------------------------------------------------------------------------------------------------------

/** Go's encoding/pem Decode of the first block in `bytes` (type and DER), or undefined. */
function pemDecode(bytes: Buffer): PemBlock | undefined {
  return pemBlocks(bytes.toString('latin1'))[0];
}

/**
 * OPA's builtinCryptoX509ParseCertificateRequest: text not starting with the CSR's PEM header must be base64;
 * a PEM block of another type is refused; then x509.ParseCertificateRequest (encoding/asn1 into Go's structs,
 * the public key, the subject, the requested extensions), each failure with Go's text.
 */
function parseCsr(name: string, s: string): Value {
  try {
    let bytes: Buffer = Buffer.from(s, 'utf8');
    if (!s.startsWith('-----BEGIN CERTIFICATE REQUEST-----')) bytes = goBase64Decode(s, 'std', true);
    const block = pemDecode(bytes);
    if (block && block.type !== 'CERTIFICATE REQUEST') throw new Asn1Error('invalid PEM-encoded certificate signing request');
    const der = block ? block.der : bytes;
    const top = unmarshal(der, SHAPES.certificateRequest);
    if (top.error !== undefined) throw new Asn1Error(top.error);
    if (top.rest !== 0) throw new Asn1Error('asn1: syntax error: trailing data');
    const root = readNode(der, 0)[0];
    const [info] = children(root) as [Node];
    const [, subjectNode, spkiNode, attrsNode] = children(info) as [Node, Node, Node, Node];
    // The public key of an algorithm Go knows, read as for certificates.
    const spki: Cursor = { b: spkiNode.raw, off: 0, end: spkiNode.raw.length };
    const spkiSeq = cbRead(spki, 0x30)!;
    const pkAI = cbRead(spkiSeq, 0x30)!;
    const algOid = cbRead({ ...pkAI }, 0x06)!;
    const params = cbAlgorithm(pkAI);
    cbPublicKey(algOid.b.toString('hex', algOid.off, algOid.end), params, cbBitString(spkiSeq) ?? Buffer.alloc(0));
    const subject = unmarshal(subjectNode.raw, SHAPES.rdnSequence);
    if (subject.error !== undefined) throw new Asn1Error(subject.error);
    // parseCSRExtensions: attributes that do not parse are ignored; an extension request must parse.
    const seen = new Set<string>();
    for (const attr of children(attrsNode)) {
      const a = unmarshal(attr.raw, SHAPES.pkcs10Attribute);
      if (a.error !== undefined || a.rest !== 0) continue;
      const [id, values] = children(attr) as [Node, Node];
      const first = children(values)[0];
      if (!first || oid(id).join('.') !== '1.2.840.113549.1.9.14') continue;
      const exts = unmarshal(first.raw, SHAPES.extensions);
      if (exts.error !== undefined) throw new Asn1Error(exts.error);
      for (const e of children(readNode(first.raw, 0)[0])) {
        const [eid, ...rest] = children(e) as [Node, ...Node[]];
        const key = oid(eid).join('.');
        if (seen.has(key)) throw new Asn1Error('x509: certificate request contains duplicate requested extensions');
        seen.add(key);
        const value = rest[rest.length - 1]!.body;
        if (key === '2.5.29.17') cbExtensionValue(key, false, value);
      }
    }
    const [, alg, sig] = children(root) as [Node, Node, Node];
    const [ver, subjectRaw, spkiRaw, attrs] = children(info) as [Node, Node, Node, Node | undefined];
    let key: KeyObject | undefined;
    try {
      key = createPublicKey({ key: spkiRaw.raw, format: 'der', type: 'spki' });
    } catch {
      key = undefined;
    }
    const o = new RObject();
    o.set('Raw', b64(root.raw));
    o.set('RawTBSCertificateRequest', b64(info.raw));
    o.set('RawSubjectPublicKeyInfo', b64(spkiRaw.raw));
    o.set('RawSubject', b64(subjectRaw.raw));
    o.set('Version', Number(bigInt(ver)));
    o.set('Signature', b64(sig.body.subarray(1)));
    o.set('SignatureAlgorithm', sigAlg(alg));
    o.set('PublicKeyAlgorithm', publicKeyAlgorithm(spkiRaw));
    o.set('PublicKey', key ? publicKeyJson(key) : null);
    o.set('Subject', pkixName(subjectRaw));
    let exts: Node[] | undefined;
    const attributes: Value[] = [];
    if (attrs) {
      for (const a of children(attrs)) {
        const parsed = unmarshal(a.raw, SHAPES.pkcs10Attribute);
        if (parsed.error !== undefined || parsed.rest !== 0) continue;
        const [t, vals] = children(a) as [Node, Node];
        const id = oid(t);
        if (id.join('.') === '1.2.840.113549.1.9.14') exts = children(children(vals)[0]!);
        attributes.push(fromJson({ Type: id, Value: null }));
      }
    }
    o.set('Attributes', attributes.length > 0 ? attributes : null);
    const tmp = new RObject();
    applyExtensions(tmp, exts, true);
    o.set('Extensions', tmp.getStr('Extensions')!);
    o.set('ExtraExtensions', null);
    for (const k of ['DNSNames', 'EmailAddresses', 'IPAddresses', 'URIs']) o.set(k, tmp.getStr(k)!);
    return o;
  } catch (e) {
    throw builtinError(name, (e as Error).message);
  }
}

// --- private keys ------------------------------------------------------------------------------------------------

// Go's x509 private-key parsers: encoding/asn1 into Go's structs, a hint when the bytes are another of the
// three formats, then the checks of the key's values. Each returns the DER format node:crypto reads.

const parses = (der: Buffer, shape: keyof typeof SHAPES): boolean => unmarshal(der, shape === 'pkcs1PrivateKey' ? SHAPES.pkcs1PrivateKey : SHAPES[shape]).error === undefined;
const USE = (f: string) => new Asn1Error(`x509: failed to parse private key (use ${f} instead for this key format)`);

/** x509.ParsePKCS1PrivateKey. */
function goPkcs1(der: Buffer): 'pkcs1' {
  const r = unmarshal(der, SHAPES.pkcs1PrivateKey);
  if (r.error === undefined && r.rest > 0) throw new Asn1Error('asn1: syntax error: trailing data');
  if (r.error !== undefined) {
    if (parses(der, 'ecPrivateKey')) throw USE('ParseECPrivateKey');
    if (parses(der, 'pkcs8')) throw USE('ParsePKCS8PrivateKey');
    throw new Asn1Error(r.error);
  }
  const [version, n, , d, p, q] = children(readNode(der, 0)[0]).map(bigInt);
  if (version! > 1n) throw new Asn1Error('x509: unsupported private key version');
  if ([n, d, p, q].some((v) => v! <= 0n)) throw new Asn1Error('x509: private key contains zero or negative value');
  return 'pkcs1';
}

const CURVE_OIDS = new Set(['1.3.132.0.33', '1.2.840.10045.3.1.7', '1.3.132.0.34', '1.3.132.0.35']);

/** x509.ParseECPrivateKey (parseECPrivateKey), `curve` given when a PKCS #8 wrapping names it. */
function goEc(der: Buffer, curve?: string): 'sec1' {
  const r = unmarshal(der, SHAPES.ecPrivateKey);
  if (r.error !== undefined) {
    if (parses(der, 'pkcs8')) throw USE('ParsePKCS8PrivateKey');
    if (parses(der, 'pkcs1PrivateKey')) throw USE('ParsePKCS1PrivateKey');
    throw new Asn1Error(`x509: failed to parse EC private key: ${r.error}`);
  }
  const [version, , ...rest] = children(readNode(der, 0)[0]);
  const v = bigInt(version!);
  if (v !== 1n) throw new Asn1Error(`x509: unknown EC private key version ${v}`);
  const named = rest.find((n) => n.tag === 0xa0);
  const id = curve ?? (named ? oid(children(named)[0]!).join('.') : '');
  if (!CURVE_OIDS.has(id)) throw new Asn1Error('x509: unknown elliptic curve');
  return 'sec1';
}

/** x509.ParsePKCS8PrivateKey. */
function goPkcs8(der: Buffer): 'pkcs8' {
  const r = unmarshal(der, SHAPES.pkcs8);
  if (r.error !== undefined) {
    if (parses(der, 'ecPrivateKey')) throw USE('ParseECPrivateKey');
    if (parses(der, 'pkcs1PrivateKey')) throw USE('ParsePKCS1PrivateKey');
    throw new Asn1Error(r.error);
  }
  const [, algo, key] = children(readNode(der, 0)[0]) as [Node, Node, Node];
  const [algOid, params] = children(algo) as [Node, Node | undefined];
  const alg = oid(algOid).join('.');
  const embedded = (kind: string, f: () => void): void => {
    try {
      f();
    } catch (e) {
      throw new Asn1Error(`x509: failed to parse ${kind} private key embedded in PKCS#8: ${(e as Error).message}`);
    }
  };
  switch (alg) {
    case '1.2.840.113549.1.1.1':
      embedded('RSA', () => goPkcs1(key.body));
      break;
    case '1.2.840.10045.2.1': {
      let curve: string | undefined;
      if (params && unmarshal(params.raw, { k: 'oid' }).error === undefined) curve = oid(params).join('.');
      embedded('EC', () => goEc(key.body, curve));
      break;
    }
    case '1.3.101.112': {
      if (params) throw new Asn1Error('x509: invalid Ed25519 private key parameters');
      const seed = unmarshal(key.body, { k: 'bytes' });
      if (seed.error !== undefined) throw new Asn1Error(`x509: invalid Ed25519 private key: ${seed.error}`);
      const len = readNode(key.body, 0)[0].body.length;
      if (len !== 32) throw new Asn1Error(`x509: invalid Ed25519 private key length: ${len}`);
      break;
    }
    case '1.3.101.110': {
      if (params) throw new Asn1Error('x509: invalid X25519 private key parameters');
      const scalar = unmarshal(key.body, { k: 'bytes' });
      if (scalar.error !== undefined) throw new Asn1Error(`x509: invalid X25519 private key: ${scalar.error}`);
      if (readNode(key.body, 0)[0].body.length !== 32) throw new Asn1Error('crypto/ecdh: invalid private key size');
      break;
    }
    default:
      throw new Asn1Error(`x509: PKCS#8 wrapping contained private key with unknown algorithm: ${alg}`);
  }
  return 'pkcs8';
}

/**
 * A private key as Go's x509 parsers return it, rendered as encoding/json writes the Go value (what OPA hands
 * to ast.InterfaceToValue), with the public part tls.X509KeyPair compares against the leaf certificate:
 * - *rsa.PrivateKey: the embedded PublicKey's `N` and `E`, then `D`, `Primes` and `Precomputed` (`Dp`, `Dq`,
 *   `Qinv` and `CRTValues`, the empty list for two primes; for more, Dp/Dq/Qinv are recomputed from D and each
 *   further prime r_i gets `Exp` = D mod (r_i − 1), `R` = the product of the primes before it and `Coeff` =
 *   R⁻¹ mod r_i, as crypto/rsa's legacy precomputation does);
 * - *ecdsa.PrivateKey: the embedded `Curve` (crypto/elliptic's curves have no exported fields: `{}`), `X` and
 *   `Y` computed as D·G from the private scalar (the public key a SEC 1 structure may carry is not read) and `D`;
 * - ed25519.PrivateKey: a byte slice, so the base64 of seed ‖ public key;
 * - *ecdh.PrivateKey (X25519 in PKCS #8): no exported fields, `{}`.
 * Big integers are JSON numbers, kept exact.
 */
interface GoPrivateKey {
  json: Value;
  kind: 'RSA' | 'EC' | 'Ed25519' | 'X25519';
  /** The public values tls.X509KeyPair compares: RSA `N`, EC curve OID with X and Y, Ed25519 the key bytes. */
  pub: string;
}

const EC_CURVES: Record<string, { node: string; size: number }> = {
  '1.3.132.0.33': { node: 'secp224r1', size: 28 },
  '1.2.840.10045.3.1.7': { node: 'prime256v1', size: 32 },
  '1.3.132.0.34': { node: 'secp384r1', size: 48 },
  '1.3.132.0.35': { node: 'secp521r1', size: 66 },
};

const num = (v: bigint): Value => normNum(v);

function modInverse(a: bigint, m: bigint): bigint | undefined {
  let [r0, r1] = [((a % m) + m) % m, m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return r0 === 1n ? ((s0 % m) + m) % m : undefined;
}

function goRsaKey(der: Buffer): GoPrivateKey {
  const f = children(readNode(der, 0)[0]);
  const [, n, e, d, p, q, dp, dq, qinv] = f.slice(0, 9).map(bigInt) as bigint[];
  const more = f[9] ? children(f[9]).map((info) => bigInt(children(info)[0]!)) : [];
  const primes = [p!, q!, ...more];
  const D = d!;
  const crt: Value[] = [];
  let pre: [bigint, bigint, bigint];
  if (primes.length === 2) pre = [dp!, dq!, qinv!];
  else {
    const inv = modInverse(q!, p!);
    if (inv === undefined || primes.some((x) => x <= 1n)) throw new Asn1Error('x509: failed to parse private key');
    pre = [D % (p! - 1n), D % (q! - 1n), inv];
    let r = p! * q!;
    for (const prime of more) {
      const coeff = modInverse(r, prime);
      if (coeff === undefined) throw new Asn1Error('x509: failed to parse private key');
      const v = new RObject();
      v.set('Exp', num(D % (prime - 1n)));
      v.set('Coeff', num(coeff));
      v.set('R', num(r));
      crt.push(v);
      r *= prime;
    }
  }
  const precomputed = new RObject();
  precomputed.set('Dp', num(pre[0]));
  precomputed.set('Dq', num(pre[1]));
  precomputed.set('Qinv', num(pre[2]));
  precomputed.set('CRTValues', crt);
  const o = new RObject();
  o.set('N', num(n!));
  o.set('E', num(e!));
  o.set('D', num(D));
  o.set('Primes', primes.map(num));
  o.set('Precomputed', precomputed);
  return { json: o, kind: 'RSA', pub: `${n!.toString(16)}:${e!.toString(16)}` };
}

function goEcKey(der: Buffer, curveOid?: string): GoPrivateKey {
  const [, priv, ...rest] = children(readNode(der, 0)[0]) as [Node, Node, ...Node[]];
  const named = rest.find((x) => x.tag === 0xa0);
  const id = curveOid ?? (named ? oid(children(named)[0]!).join('.') : '');
  const curve = EC_CURVES[id];
  if (!curve) throw new Asn1Error('x509: unknown elliptic curve');
  // parseECPrivateKey: leading zero bytes beyond the curve's size are dropped, the scalar left-padded to it.
  let k = priv.body;
  while (k.length > curve.size) {
    if (k[0] !== 0) throw new Asn1Error('x509: invalid private key length');
    k = k.subarray(1);
  }
  const scalar = Buffer.concat([Buffer.alloc(curve.size - k.length), k]);
  let point: Buffer;
  try {
    const ecdh = createECDH(curve.node);
    ecdh.setPrivateKey(scalar);
    point = ecdh.getPublicKey();
  } catch {
    // A zero scalar or one not below the curve's order.
    throw new Asn1Error('x509: invalid elliptic curve private key value');
  }
  const X = BigInt('0x' + point.toString('hex', 1, 1 + curve.size));
  const Y = BigInt('0x' + point.toString('hex', 1 + curve.size));
  const o = new RObject();
  o.set('Curve', new RObject());
  o.set('X', num(X));
  o.set('Y', num(Y));
  o.set('D', num(BigInt('0x' + (scalar.toString('hex') || '0'))));
  return { json: o, kind: 'EC', pub: `${id}:${X.toString(16)}:${Y.toString(16)}` };
}

/** PKCS #1, SEC 1 or PKCS #8 DER that the matching go* check accepted, as the Go value its parser returns. */
function goKeyOf(der: Buffer, fmt: 'pkcs1' | 'sec1' | 'pkcs8'): GoPrivateKey {
  if (fmt === 'pkcs1') return goRsaKey(der);
  if (fmt === 'sec1') return goEcKey(der);
  const [, algo, key] = children(readNode(der, 0)[0]) as [Node, Node, Node];
  const [algOid, params] = children(algo) as [Node, Node | undefined];
  switch (oid(algOid).join('.')) {
    case '1.2.840.113549.1.1.1':
      return goRsaKey(key.body);
    case '1.2.840.10045.2.1':
      return goEcKey(key.body, params && unmarshal(params.raw, { k: 'oid' }).error === undefined ? oid(params).join('.') : undefined);
    case '1.3.101.112': {
      const seed = readNode(key.body, 0)[0].body;
      // ed25519.NewKeyFromSeed: the public key derived from the seed, the key the 64 bytes seed ‖ public.
      const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
      const x = Buffer.from((createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }) as { x: string }).x, 'base64url');
      return { json: Buffer.concat([seed, x]).toString('base64'), kind: 'Ed25519', pub: x.toString('hex') };
    }
    default:
      return { json: new RObject(), kind: 'X25519', pub: '' };
  }
}

/** A private-key PEM block read as Go does for its type (errors with Go's texts): the Go value and its DER. */
function goPrivateKey(b: PemBlock): GoPrivateKey & { der: Buffer; fmt: 'pkcs1' | 'sec1' | 'pkcs8' } {
  const fmt = b.type === 'RSA PRIVATE KEY' ? goPkcs1(b.der) : b.type === 'EC PRIVATE KEY' ? goEc(b.der) : goPkcs8(b.der);
  try {
    // Values Go's checks refuse and this reading does not (inconsistent RSA values and the like).
    createPrivateKey({ key: b.der, format: 'der', type: fmt as 'pkcs1' });
  } catch {
    throw new Asn1Error('x509: failed to parse private key');
  }
  return { ...goKeyOf(b.der, fmt), der: b.der, fmt };
}

/**
 * OPA's jwk.New of a parsed key (parse_rsa_private_key): RSA and ECDSA keys become JWKs; Go's other key types
 * are refused with the Go type's name.
 */
function keyJwk(k: ReturnType<typeof goPrivateKey>): Value {
  if (k.kind === 'Ed25519') throw new Asn1Error('invalid key type ed25519.PrivateKey');
  if (k.kind === 'X25519') throw new Asn1Error('invalid key type *ecdh.PrivateKey');
  return fromJson(createPrivateKey({ key: k.der, format: 'der', type: k.fmt as 'pkcs1' }).export({ format: 'jwk' }));
}

/**
 * crypto/tls parsePrivateKey: PKCS #1, then PKCS #8 (RSA, ECDSA, Ed25519; another key type there is refused),
 * then SEC 1.
 */
function tlsPrivateKey(der: Buffer): GoPrivateKey {
  for (const [fmt, check] of [['pkcs1', goPkcs1], ['pkcs8', goPkcs8], ['sec1', goEc]] as const) {
    try {
      check(der);
    } catch {
      continue;
    }
    let key: GoPrivateKey;
    try {
      createPrivateKey({ key: der, format: 'der', type: fmt as 'pkcs1' });
      key = goKeyOf(der, fmt);
    } catch {
      break;
    }
    if (key.kind === 'X25519') throw new Asn1Error('tls: found unknown private key type in PKCS#8 wrapping');
    return key;
  }
  throw new Asn1Error('tls: failed to parse private key');
}

/** Base64 text decoded as Go's StdEncoding.DecodeString does, its error worded as Go words it. */
function goBase64Text(name: string, s: string): string {
  try {
    return goBase64Decode(s, 'std', true).toString('latin1');
  } catch (e) {
    throw builtinError(name, (e as Error).message);
  }
}

/** getPrivateKeysFromPEMData: base64 input decoded when it decodes, then each private-key PEM block in order. */
function privateKeys(name: string, s: string): Array<ReturnType<typeof goPrivateKey>> {
  try {
    return pemBlocks(keyText(s))
      .filter((b) => b.type === 'RSA PRIVATE KEY' || b.type === 'PRIVATE KEY' || b.type === 'EC PRIVATE KEY')
      .map(goPrivateKey);
  } catch (e) {
    throw builtinError(name, (e as Error).message);
  }
}

function keyText(s: string): string {
  try {
    return goBase64Decode(s, 'std', true).toString('latin1');
  } catch {
    return s;
  }
}

/** crypto/tls X509KeyPair's search for blocks: those of the wanted type and the types it skipped. */
function tlsBlocks(pem: string, want: (type: string) => boolean): { found: PemBlock[]; skipped: string[] } {
  const found: PemBlock[] = [];
  const skipped: string[] = [];
  for (const b of pemBlocks(pem)) {
    if (want(b.type)) found.push(b);
    else skipped.push(b.type);
  }
  return { found, skipped };
}

export const builtins: BuiltinDef[] = [
  {
    name: 'crypto.x509.parse_certificates',
    arity: 1,
    fn: (a) => {
      // No certificate at all (empty input, PEM text without blocks) is Go's nil slice: null, as OPA documents.
      const certs = certsFromString('crypto.x509.parse_certificates', argString('crypto.x509.parse_certificates', a, 0));
      return certs.length === 0 ? null : certs.map(extendedCert);
    },
  },
  {
    name: 'crypto.x509.parse_and_verify_certificates',
    arity: 1,
    fn: (a, ctx) => {
      const name = 'crypto.x509.parse_and_verify_certificates';
      const s = argString(name, a, 0);
      let certs: Cert[];
      try {
        certs = certsFromString(name, s);
      } catch {
        return [false, []];
      }
      // OPA passes empty options: Go then asks for ServerAuth.
      const chain = verifyChain(certs, { time: ctx.now() });
      return chain ? [true, chain.map(extendedCert)] : [false, []];
    },
  },
  {
    name: 'crypto.x509.parse_and_verify_certificates_with_options',
    arity: 2,
    fn: (a, ctx) => {
      const name = 'crypto.x509.parse_and_verify_certificates_with_options';
      const s = argString(name, a, 0);
      const options = argObject(name, a, 1);
      // OPA reads the certificates first: input that does not parse is [false, []] whatever the options.
      let certs: Cert[];
      try {
        certs = certsFromString(name, s);
      } catch {
        return [false, []];
      }
      const chain = verifyChain(certs, verifyOptions(name, options, ctx));
      return chain ? [true, chain.map((c) => c.json)] : [false, []];
    },
  },
  {
    name: 'crypto.x509.parse_certificate_request',
    arity: 1,
    fn: (a) => parseCsr('crypto.x509.parse_certificate_request', argString('crypto.x509.parse_certificate_request', a, 0)),
  },
  {
    name: 'crypto.x509.parse_keypair',
    arity: 2,
    fn: (a) => {
      const name = 'crypto.x509.parse_keypair';
      // getTLSx509KeyPairFromString: input not starting with `-----BEGIN ` must be base64 (OPA checks the key
      // operand's type as operand 1 too).
      const certIn = argString(name, a, 0);
      const keyIn = a[1]!;
      if (typeof keyIn !== 'string') throw typeError(name, 1, 'string', keyIn);
      const certPem = certIn.startsWith('-----BEGIN ') ? certIn : goBase64Text(name, certIn);
      const keyPem = keyIn.startsWith('-----BEGIN ') ? keyIn : goBase64Text(name, keyIn);
      // Decoded bytes that are not PEM are taken for DER: a CERTIFICATE and a PRIVATE KEY block. Then
      // tls.X509KeyPair: the certificate blocks, the first private-key block, the leaf parsed, the key parsed
      // and matched with the leaf's public key, each failure with its text.
      const certBlocks = certPem.startsWith('-----BEGIN ') ? tlsBlocks(certPem, (t) => t === 'CERTIFICATE') : { found: [{ type: 'CERTIFICATE', der: Buffer.from(certPem, 'latin1') }], skipped: [] };
      const fail = (text: string): never => {
        throw builtinError(name, text);
      };
      if (certBlocks.found.length === 0) {
        const sk = certBlocks.skipped;
        if (sk.length === 0) fail('tls: failed to find any PEM data in certificate input');
        if (sk.length === 1 && sk[0]!.endsWith('PRIVATE KEY')) fail('tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched');
        fail(`tls: failed to find "CERTIFICATE" PEM block in certificate input after skipping PEM blocks of the following types: [${sk.join(' ')}]`);
      }
      const keyBlocks: PemBlock[] = keyPem.startsWith('-----BEGIN') ? pemBlocks(keyPem) : [{ type: 'PRIVATE KEY', der: Buffer.from(keyPem, 'latin1') }];
      const keyAt = keyBlocks.findIndex((b) => b.type === 'PRIVATE KEY' || b.type.endsWith(' PRIVATE KEY'));
      if (keyAt < 0) {
        const sk = keyBlocks.map((b) => b.type);
        if (sk.length === 0) fail('tls: failed to find any PEM data in key input');
        if (sk.length === 1 && sk[0] === 'CERTIFICATE') fail('tls: found a certificate rather than a key in the PEM for the private key');
        fail(`tls: failed to find PEM block with type ending in "PRIVATE KEY" in key input after skipping PEM blocks of the following types: [${sk.join(' ')}]`);
      }
      const certs = certBlocks.found;
      let leafCert: Cert;
      try {
        // x509.ParseCertificate: one certificate, nothing after it.
        const der = certs[0]!.der;
        if (checkCertificate(der, 0) !== der.length) throw new Asn1Error('x509: trailing data');
        leafCert = parseCertificate(der);
      } catch (e) {
        return fail((e as Error).message);
      }
      let key: GoPrivateKey;
      try {
        key = tlsPrivateKey(keyBlocks[keyAt]!.der);
      } catch (e) {
        return fail((e as Error).message);
      }
      const pub = leafCert.x509.publicKey.export({ format: 'jwk' }) as Record<string, string>;
      const big = (s: string): string => BigInt('0x' + (Buffer.from(s, 'base64url').toString('hex') || '0')).toString(16);
      let leafPub: string;
      if (pub.kty === 'RSA') leafPub = `${big(pub.n!)}:${big(pub.e!)}`;
      else if (pub.kty === 'EC') leafPub = `:${big(pub.x!)}:${big(pub.y!)}`;
      else if (pub.kty === 'OKP' && pub.crv === 'Ed25519') leafPub = Buffer.from(pub.x!, 'base64url').toString('hex');
      else return fail('tls: unknown public key algorithm');
      const leafKind = pub.kty === 'OKP' ? 'Ed25519' : pub.kty;
      if (leafKind !== key.kind) fail('tls: private key type does not match public key type');
      // Go compares N (not E) for RSA, and X and Y for ECDSA (a key on another curve has other coordinates).
      const comparable = (s: string): string => (key.kind === 'RSA' ? s.split(':')[0]! : key.kind === 'EC' ? s.split(':').slice(1).join(':') : s);
      if (comparable(leafPub) !== comparable(key.pub)) fail('tls: private key does not match public key');
      // tls.Certificate as encoding/json writes it: the DER chain as base64 strings, the Go private key, the
      // three optional fields X509KeyPair leaves nil, and the parsed leaf (x509.Certificate).
      const o = new RObject();
      o.set('Certificate', certs.map((c) => b64(c.der)));
      o.set('PrivateKey', key.json);
      o.set('SupportedSignatureAlgorithms', null);
      o.set('OCSPStaple', null);
      o.set('SignedCertificateTimestamps', null);
      o.set('Leaf', leafCert.json);
      return o;
    },
  },
  {
    name: 'crypto.x509.parse_rsa_private_key',
    arity: 1,
    fn: (a) => {
      // OPA's builtinCryptoJWKFromPrivateKey: empty input is an error, text that is not PEM must be base64,
      // no private-key block at all is null, every private-key block must parse, and the first key found
      // (RSA, PKCS #8 or EC) is the JWK.
      const name = 'crypto.x509.parse_rsa_private_key';
      let text = argString(name, a, 0);
      if (text === '') throw builtinError(name, 'input PEM data was empty');
      if (!text.startsWith('-----BEGIN')) text = goBase64Text(name, text);
      const first = privateKeys(name, text)[0];
      if (!first) return null;
      try {
        return keyJwk(first);
      } catch (e) {
        throw builtinError(name, (e as Error).message);
      }
    },
  },
  {
    name: 'crypto.parse_private_keys',
    arity: 1,
    fn: (a) => {
      // OPA's builtinCryptoParsePrivateKeys: empty input is null; a private-key block that does not parse
      // fails the call with Go's text.
      const s = argString('crypto.parse_private_keys', a, 0);
      if (s === '') return null;
      // json.Marshal of the []crypto.PrivateKey: each key as encoding/json writes the Go value.
      return privateKeys('crypto.parse_private_keys', s).map((k) => k.json);
    },
  },
];

