/**
 * `time.*` built-ins (opa:v1/topdown/time.go) with Go `time` package semantics: reference-layout parsing
 * and formatting (`2006-01-02T15:04:05Z07:00`, the named layouts OPA accepts), Go's ParseError texts,
 * `time.ParseDuration`, `AddDate` normalisation, and IANA time zones (resolved through `Intl`, which carries
 * the tz database in Node). Instants are int64 nanoseconds since the Unix epoch; results outside that range
 * give OPA's `time outside of valid range`, and non-integral or oversized inputs `timestamp too big`.
 * `time.now_ns` is the query's injected clock (`ctx.now()`), constant within a query.
 */
import { type Value, isInteger, isNumber, normNum, toBigInt } from '../value.js';
import { type BuiltinDef, argInteger, argString, builtinError, typeError } from './registry.js';

const NS_PER_S = 1_000_000_000n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const LONG_MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Layout names OPA maps to Go's constants (acceptedTimeFormats). */
const NAMED_LAYOUTS: Record<string, string> = {
  ANSIC: 'Mon Jan _2 15:04:05 2006',
  UnixDate: 'Mon Jan _2 15:04:05 MST 2006',
  RubyDate: 'Mon Jan 02 15:04:05 -0700 2006',
  RFC822: '02 Jan 06 15:04 MST',
  RFC822Z: '02 Jan 06 15:04 -0700',
  RFC850: 'Monday, 02-Jan-06 15:04:05 MST',
  RFC1123: 'Mon, 02 Jan 2006 15:04:05 MST',
  RFC1123Z: 'Mon, 02 Jan 2006 15:04:05 -0700',
  RFC3339: '2006-01-02T15:04:05Z07:00',
  RFC3339Nano: '2006-01-02T15:04:05.999999999Z07:00',
};

class TimeError extends Error {}

// --- civil calendar (proleptic Gregorian, any year) ---------------------------------------------------

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

function daysFromCivil(y0: bigint, m: number, d: bigint): bigint {
  const y = m <= 2 ? y0 - 1n : y0;
  const era = floorDiv(y, 400n);
  const yoe = y - era * 400n;
  const mp = BigInt((m + 9) % 12);
  const doy = (153n * mp + 2n) / 5n + d - 1n;
  const doe = yoe * 365n + yoe / 4n - yoe / 100n + doy;
  return era * 146097n + doe - 719468n;
}

function civilFromDays(z0: bigint): { y: bigint; m: number; d: number } {
  const z = z0 + 719468n;
  const era = floorDiv(z, 146097n);
  const doe = z - era * 146097n;
  const yoe = (doe - doe / 1460n + doe / 36524n - doe / 146096n) / 365n;
  const doy = doe - (365n * yoe + yoe / 4n - yoe / 100n);
  const mp = (5n * doy + 2n) / 153n;
  const d = Number(doy - (153n * mp + 2n) / 5n + 1n);
  const m = Number(mp < 10n ? mp + 3n : mp - 9n);
  return { y: yoe + era * 400n + (m <= 2 ? 1n : 0n), m, d };
}

function isLeap(y: bigint): boolean {
  return (y % 4n === 0n && y % 100n !== 0n) || y % 400n === 0n;
}

function daysIn(m: number, y: bigint): number {
  if (m === 2) return isLeap(y) ? 29 : 28;
  return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;
}

// --- zones ----------------------------------------------------------------------------------------------

export interface Zone {
  name: string;
  /** Offset east of UTC in seconds at the given instant (ns). */
  offset(ns: bigint): number;
  /** Abbreviation at the instant (`MST` layout element). */
  abbrev(ns: bigint): string;
}

export const UTC: Zone = { name: 'UTC', offset: () => 0, abbrev: () => 'UTC' };

const ZONES = new Map<string, Zone>();

function numericAbbrev(off: number): string {
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  const hh = String(Math.floor(a / 3600)).padStart(2, '0');
  const mm = Math.floor((a % 3600) / 60);
  return mm === 0 ? `${sign}${hh}` : `${sign}${hh}${String(mm).padStart(2, '0')}`;
}

function intlZone(name: string): Zone {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: name,
    hourCycle: 'h23',
    era: 'short',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  // tzdata abbreviations (Go's `MST` element) live in CLDR under different English locales: CET in en-GB,
  // IST in en-IN, AEST in en-AU, SAST in en-ZA …; zones without one print their numeric offset, as tzdata does.
  const abbrs = ['en-US', 'en-GB', 'en-IN', 'en-AU', 'en-ZA', 'en-NZ', 'en-CA', 'en-IE'].map(
    (loc) => new Intl.DateTimeFormat(loc, { timeZone: name, timeZoneName: 'short' }),
  );
  const offset = (ns: bigint): number => {
    const ms = Number(floorDiv(ns, 1_000_000n));
    const parts = Object.fromEntries(fmt.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
    let y = BigInt(parts.year!);
    if (parts.era === 'BC' || parts.era === 'B') y = 1n - y;
    const days = daysFromCivil(y, Number(parts.month), BigInt(parts.day!));
    const localS = days * 86400n + BigInt(Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second));
    const utcS = floorDiv(BigInt(ms), 1000n);
    return Number(localS - utcS);
  };
  return {
    name,
    offset,
    abbrev: (ns) => {
      const d = new Date(Number(floorDiv(ns, 1_000_000n)));
      const off = offset(ns);
      for (const f of abbrs) {
        const p = f.formatToParts(d).find((x) => x.type === 'timeZoneName')?.value ?? '';
        if (/^[A-Z]{3,5}$/.test(p) && (p !== 'GMT' || off === 0)) return p === 'GMT' && /^(Etc\/)?(UTC|UCT|Universal|Zulu)$/.test(name) ? 'UTC' : p;
      }
      return numericAbbrev(off);
    },
  };
}

/** time.LoadLocation through Intl (error text as Go's). */
export function loadZone(name: string): Zone {
  if (name === '' || name === 'UTC') return UTC;
  // Go refuses names that could leave the zoneinfo tree before looking them up.
  if (name.includes('..') || name.startsWith('/') || name.startsWith('\\')) throw new TimeError('time: invalid location name');
  const key = name === 'Local' ? Intl.DateTimeFormat().resolvedOptions().timeZone : name;
  let z = ZONES.get(key);
  if (!z) {
    try {
      // Zone names are case-sensitive for Go (a tzdata file name); ICU matches them in any case.
      const resolved = new Intl.DateTimeFormat('en-US', { timeZone: key }).resolvedOptions().timeZone;
      if (resolved !== key && resolved.toLowerCase() === key.toLowerCase()) throw new TimeError(`unknown time zone ${name}`);
      z = intlZone(key);
      z.offset(0n);
    } catch {
      throw new TimeError(`unknown time zone ${name}`);
    }
    if (name === 'Local') z = { ...z, name: 'Local' };
    ZONES.set(key, z);
  }
  return z;
}

// --- broken-down time ------------------------------------------------------------------------------------

interface Fields {
  year: bigint;
  month: number;
  day: number;
  hour: number;
  min: number;
  sec: number;
  nsec: number;
  wday: number;
  yday: number;
  offset: number;
  abbrev: string;
}

function fieldsOf(ns: bigint, zone: Zone): Fields {
  const offset = zone.offset(ns);
  const local = floorDiv(ns, NS_PER_S) + BigInt(offset);
  const nsec = Number(ns - floorDiv(ns, NS_PER_S) * NS_PER_S);
  const days = floorDiv(local, 86400n);
  const sod = Number(local - days * 86400n);
  const { y, m, d } = civilFromDays(days);
  const wday = Number(((days % 7n) + 11n) % 7n); // 1970-01-01 was a Thursday (4)
  const yday = Number(days - daysFromCivil(y, 1, 1n)) + 1;
  return {
    year: y,
    month: m,
    day: d,
    hour: Math.floor(sod / 3600),
    min: Math.floor((sod % 3600) / 60),
    sec: sod % 60,
    nsec,
    wday,
    yday,
    offset,
    abbrev: zone.abbrev(ns),
  };
}

/**
 * time.Date: normalises month/day/hour/… overflow and resolves the wall clock in `zone` (for a zone with
 * transitions, the offset in effect at the candidate instant, as Go does).
 */
function dateToNs(year: bigint, month: bigint, day: bigint, hour: bigint, min: bigint, sec: bigint, nsec: bigint, zone: Zone): bigint {
  // Normalise month into [1, 12] carrying into the year.
  const m0 = month - 1n;
  const y = year + floorDiv(m0, 12n);
  const m = Number(m0 - floorDiv(m0, 12n) * 12n) + 1;
  const days = daysFromCivil(y, m, 1n) + day - 1n;
  const wall = ((days * 86400n + hour * 3600n + min * 60n + sec) * NS_PER_S) + nsec;
  // Go: unix = wall - offset(wall - offset guess); use the offset at (wall - offset at wall).
  let off = BigInt(zone.offset(wall));
  let t = wall - off * NS_PER_S;
  const off2 = BigInt(zone.offset(t));
  if (off2 !== off) {
    const t2 = wall - off2 * NS_PER_S;
    if (BigInt(zone.offset(t2)) === off2) t = t2;
    off = off2;
  }
  return t;
}

// --- layouts -----------------------------------------------------------------------------------------------

type Std =
  | 'LongMonth' | 'Month' | 'NumMonth' | 'ZeroMonth' | 'LongWeekDay' | 'WeekDay' | 'Day' | 'UnderDay' | 'ZeroDay'
  | 'UnderYearDay' | 'ZeroYearDay' | 'Hour' | 'Hour12' | 'ZeroHour12' | 'Minute' | 'ZeroMinute' | 'Second'
  | 'ZeroSecond' | 'LongYear' | 'Year' | 'PM' | 'pm' | 'TZ' | 'ISO8601TZ' | 'ISO8601SecondsTZ' | 'ISO8601ShortTZ'
  | 'ISO8601ColonTZ' | 'ISO8601ColonSecondsTZ' | 'NumTZ' | 'NumSecondsTz' | 'NumShortTZ' | 'NumColonTZ'
  | 'NumColonSecondsTZ' | 'Frac0' | 'Frac9';

interface Chunk {
  prefix: string;
  std?: Std;
  /** The layout text of the element. */
  text: string;
  /** Fractional seconds: digits and separator. */
  digits?: number;
  sep?: string;
  suffix: string;
}

function startsWithLower(s: string): boolean {
  return s.length > 0 && s[0]! >= 'a' && s[0]! <= 'z';
}

/** Go's nextStdChunk. */
function nextChunk(layout: string): Chunk {
  const at = (i: number, std: Std, len: number, extra: Partial<Chunk> = {}): Chunk => ({
    prefix: layout.slice(0, i),
    std,
    text: layout.slice(i, i + len),
    suffix: layout.slice(i + len),
    ...extra,
  });
  for (let i = 0; i < layout.length; i++) {
    const c = layout[i]!;
    const r = layout.slice(i);
    switch (c) {
      case 'J':
        if (r.startsWith('Jan')) {
          if (r.startsWith('January')) return at(i, 'LongMonth', 7);
          if (!startsWithLower(r.slice(3))) return at(i, 'Month', 3);
        }
        break;
      case 'M':
        if (r.startsWith('Mon')) {
          if (r.startsWith('Monday')) return at(i, 'LongWeekDay', 6);
          if (!startsWithLower(r.slice(3))) return at(i, 'WeekDay', 3);
        }
        if (r.startsWith('MST')) return at(i, 'TZ', 3);
        break;
      case '0':
        if (r.length >= 2 && r[1]! >= '1' && r[1]! <= '6') {
          const map: Std[] = ['ZeroMonth', 'ZeroDay', 'ZeroHour12', 'ZeroMinute', 'ZeroSecond', 'Year'];
          return at(i, map[Number(r[1]) - 1]!, 2);
        }
        if (r.startsWith('002')) return at(i, 'ZeroYearDay', 3);
        break;
      case '1':
        if (r.startsWith('15')) return at(i, 'Hour', 2);
        return at(i, 'NumMonth', 1);
      case '2':
        if (r.startsWith('2006')) return at(i, 'LongYear', 4);
        return at(i, 'Day', 1);
      case '_':
        if (r.length >= 2 && r[1] === '2') {
          if (r.startsWith('_2006')) return { prefix: layout.slice(0, i + 1), std: 'LongYear', text: '2006', suffix: layout.slice(i + 5) };
          return at(i, 'UnderDay', 2);
        }
        if (r.startsWith('__2')) return at(i, 'UnderYearDay', 3);
        break;
      case '3':
        return at(i, 'Hour12', 1);
      case '4':
        return at(i, 'Minute', 1);
      case '5':
        return at(i, 'Second', 1);
      case 'P':
        if (r.startsWith('PM')) return at(i, 'PM', 2);
        break;
      case 'p':
        if (r.startsWith('pm')) return at(i, 'pm', 2);
        break;
      case '-':
        if (r.startsWith('-070000')) return at(i, 'NumSecondsTz', 7);
        if (r.startsWith('-07:00:00')) return at(i, 'NumColonSecondsTZ', 9);
        if (r.startsWith('-0700')) return at(i, 'NumTZ', 5);
        if (r.startsWith('-07:00')) return at(i, 'NumColonTZ', 6);
        if (r.startsWith('-07')) return at(i, 'NumShortTZ', 3);
        break;
      case 'Z':
        if (r.startsWith('Z070000')) return at(i, 'ISO8601SecondsTZ', 7);
        if (r.startsWith('Z07:00:00')) return at(i, 'ISO8601ColonSecondsTZ', 9);
        if (r.startsWith('Z0700')) return at(i, 'ISO8601TZ', 5);
        if (r.startsWith('Z07:00')) return at(i, 'ISO8601ColonTZ', 6);
        if (r.startsWith('Z07')) return at(i, 'ISO8601ShortTZ', 3);
        break;
      case '.':
      case ',':
        if (r.length > 1 && (r[1] === '0' || r[1] === '9')) {
          const ch = r[1]!;
          let j = 1;
          while (j < r.length && r[j] === ch) j++;
          if (!(j < r.length && r[j]! >= '0' && r[j]! <= '9')) {
            return at(i, ch === '0' ? 'Frac0' : 'Frac9', j, { digits: j - 1, sep: c });
          }
        }
        break;
    }
  }
  return { prefix: layout, text: '', suffix: '' };
}

function pad(n: number | bigint, w: number): string {
  const neg = n < 0;
  const s = String(neg ? -n : n).padStart(w, '0');
  return neg ? '-' + s : s;
}

function fmtTZ(off: number, std: Std): string {
  const iso = std.startsWith('ISO8601');
  if (iso && off === 0) return 'Z';
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  const hh = pad(Math.floor(a / 3600), 2);
  const mm = pad(Math.floor((a % 3600) / 60), 2);
  const ss = pad(a % 60, 2);
  switch (std) {
    case 'NumShortTZ':
    case 'ISO8601ShortTZ':
      return sign + hh;
    case 'NumTZ':
    case 'ISO8601TZ':
      return sign + hh + mm;
    case 'NumColonTZ':
    case 'ISO8601ColonTZ':
      return `${sign}${hh}:${mm}`;
    case 'NumSecondsTz':
    case 'ISO8601SecondsTZ':
      return sign + hh + mm + ss;
    default:
      return `${sign}${hh}:${mm}:${ss}`;
  }
}

/** Time.Format. */
export function formatTime(ns: bigint, zone: Zone, layout0: string): string {
  const f = fieldsOf(ns, zone);
  let out = '';
  let layout = layout0;
  for (;;) {
    const ch = nextChunk(layout);
    out += ch.prefix;
    if (!ch.std) break;
    layout = ch.suffix;
    switch (ch.std) {
      case 'Year':
        out += pad(((f.year % 100n) + 100n) % 100n, 2);
        break;
      case 'LongYear':
        out += pad(f.year, 4);
        break;
      case 'Month':
        out += LONG_MONTHS[f.month - 1]!.slice(0, 3);
        break;
      case 'LongMonth':
        out += LONG_MONTHS[f.month - 1]!;
        break;
      case 'NumMonth':
        out += String(f.month);
        break;
      case 'ZeroMonth':
        out += pad(f.month, 2);
        break;
      case 'WeekDay':
        out += LONG_DAYS[f.wday]!.slice(0, 3);
        break;
      case 'LongWeekDay':
        out += LONG_DAYS[f.wday]!;
        break;
      case 'Day':
        out += String(f.day);
        break;
      case 'UnderDay':
        out += f.day < 10 ? ' ' + f.day : String(f.day);
        break;
      case 'ZeroDay':
        out += pad(f.day, 2);
        break;
      case 'UnderYearDay':
        out += String(f.yday).padStart(3, ' ');
        break;
      case 'ZeroYearDay':
        out += pad(f.yday, 3);
        break;
      case 'Hour':
        out += pad(f.hour, 2);
        break;
      case 'Hour12':
        out += String(f.hour % 12 === 0 ? 12 : f.hour % 12);
        break;
      case 'ZeroHour12':
        out += pad(f.hour % 12 === 0 ? 12 : f.hour % 12, 2);
        break;
      case 'Minute':
        out += String(f.min);
        break;
      case 'ZeroMinute':
        out += pad(f.min, 2);
        break;
      case 'Second':
        out += String(f.sec);
        break;
      case 'ZeroSecond':
        out += pad(f.sec, 2);
        break;
      case 'PM':
        out += f.hour >= 12 ? 'PM' : 'AM';
        break;
      case 'pm':
        out += f.hour >= 12 ? 'pm' : 'am';
        break;
      case 'TZ':
        out += f.abbrev !== '' ? f.abbrev : fmtTZ(f.offset, 'NumTZ');
        break;
      case 'Frac0':
        out += ch.sep! + pad(f.nsec, 9).slice(0, ch.digits!);
        break;
      case 'Frac9': {
        const d = pad(f.nsec, 9).slice(0, ch.digits!).replace(/0+$/, '');
        if (d !== '') out += ch.sep! + d;
        break;
      }
      default:
        out += fmtTZ(f.offset, ch.std);
    }
  }
  return out;
}

/** The time package's quote: `"` and a backslash escaped, each byte of a rune outside printable ASCII as `\xNN`. */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c >= 0x80) for (const b of Buffer.from(ch, 'utf8')) out += '\\x' + b.toString(16).padStart(2, '0');
    else out += ch === '"' || ch === '\\' ? '\\' + ch : ch;
  }
  return out + '"';
}

class ParseFail extends Error {}

/** time.Parse (default location UTC), returning ns since the epoch. */
export function parseTime(layout0: string, value0: string): bigint {
  const perr = (layoutElem: string, valueElem: string, message = ''): ParseFail =>
    new ParseFail(
      message === ''
        ? `parsing time ${goQuote(value0)} as ${goQuote(layout0)}: cannot parse ${goQuote(valueElem)} as ${goQuote(layoutElem)}`
        : `parsing time ${goQuote(value0)}${message}`,
    );
  let layout = layout0;
  let value = value0;
  let year = 0n;
  let month = -1;
  let day = -1;
  let yday = -1;
  let hour = 0;
  let min = 0;
  let sec = 0;
  let nsec = 0;
  let pmSet = false;
  let amSet = false;
  let zoneOffset: number | undefined;
  let zoneName: string | undefined;
  let utc = false;

  const isDigit = (s: string, i: number): boolean => i < s.length && s[i]! >= '0' && s[i]! <= '9';
  const getnum = (s: string, fixed: boolean): [number, string] | undefined => {
    if (!isDigit(s, 0)) return undefined;
    if (!isDigit(s, 1)) {
      if (fixed) return undefined;
      return [Number(s[0]), s.slice(1)];
    }
    return [Number(s.slice(0, 2)), s.slice(2)];
  };
  const getnum3 = (s: string, fixed: boolean): [number, string] | undefined => {
    let n = 0;
    let i = 0;
    for (; i < 3 && isDigit(s, i); i++) n = n * 10 + Number(s[i]);
    if (i === 0 || (fixed && i !== 3)) return undefined;
    return [n, s.slice(i)];
  };
  const skip = (v0: string, prefix0: string): string | undefined => {
    let v = v0;
    let p = prefix0;
    while (p.length > 0) {
      if (p[0] === ' ') {
        if (v.length > 0 && v[0] !== ' ') return undefined;
        p = p.replace(/^ +/, '');
        v = v.replace(/^ +/, '');
        continue;
      }
      if (v.length === 0 || v[0] !== p[0]) return undefined;
      p = p.slice(1);
      v = v.slice(1);
    }
    return v;
  };
  const lookup = (tab: string[], v: string): [number, string] | undefined => {
    for (let i = 0; i < tab.length; i++) {
      if (v.length >= tab[i]!.length && v.slice(0, tab[i]!.length).toLowerCase() === tab[i]!.toLowerCase()) return [i, v.slice(tab[i]!.length)];
    }
    return undefined;
  };
  const parseNanos = (v: string, n: number): number | 'range' | undefined => {
    if (v[0] !== '.' && v[0] !== ',') return undefined;
    let digits = v.slice(1, n);
    if (!/^[0-9]*$/.test(digits)) return undefined;
    if (digits.length > 9) digits = digits.slice(0, 9);
    return Number(digits.padEnd(9, '0'));
  };

  for (;;) {
    const ch = nextChunk(layout);
    const stdstr = ch.text;
    const after = skip(value, ch.prefix);
    if (after === undefined) throw perr(ch.prefix, value);
    value = after;
    if (!ch.std) {
      if (value.length !== 0) throw perr('', value, `: extra text: ${goQuote(value)}`);
      break;
    }
    layout = ch.suffix;
    const hold = value;
    let rangeErr = '';
    let bad = false;
    switch (ch.std) {
      case 'Year': {
        if (value.length < 2 || !isDigit(value, 0) || !isDigit(value, 1)) {
          bad = true;
          break;
        }
        const p = Number(value.slice(0, 2));
        value = value.slice(2);
        year = BigInt(p >= 69 ? 1900 + p : 2000 + p);
        break;
      }
      case 'LongYear':
        if (value.length < 4 || !/^[0-9]{4}/.test(value)) {
          bad = true;
          break;
        }
        year = BigInt(value.slice(0, 4));
        value = value.slice(4);
        break;
      case 'Month':
      case 'LongMonth': {
        const tab = ch.std === 'Month' ? LONG_MONTHS.map((m) => m.slice(0, 3)) : LONG_MONTHS;
        const r = lookup(tab, value);
        if (!r) bad = true;
        else [month, value] = [r[0] + 1, r[1]];
        break;
      }
      case 'NumMonth':
      case 'ZeroMonth': {
        const r = getnum(value, ch.std === 'ZeroMonth');
        if (!r) bad = true;
        else {
          [month, value] = r;
          if (month <= 0 || month > 12) rangeErr = 'month';
        }
        break;
      }
      case 'WeekDay':
      case 'LongWeekDay': {
        const tab = ch.std === 'WeekDay' ? LONG_DAYS.map((d) => d.slice(0, 3)) : LONG_DAYS;
        const r = lookup(tab, value);
        if (!r) bad = true;
        else value = r[1];
        break;
      }
      case 'Day':
      case 'UnderDay':
      case 'ZeroDay': {
        if (ch.std === 'UnderDay' && value.length > 0 && value[0] === ' ') value = value.slice(1);
        const r = getnum(value, ch.std === 'ZeroDay');
        if (!r) bad = true;
        else [day, value] = r;
        break;
      }
      case 'UnderYearDay':
      case 'ZeroYearDay': {
        for (let i = 0; i < 2; i++) if (ch.std === 'UnderYearDay' && value.length > 0 && value[0] === ' ') value = value.slice(1);
        const r = getnum3(value, ch.std === 'ZeroYearDay');
        if (!r) bad = true;
        else {
          [yday, value] = r;
          if (yday < 1 || yday > 366) rangeErr = 'day-of-year';
        }
        break;
      }
      case 'Hour': {
        const r = getnum(value, false);
        if (!r) bad = true;
        else {
          [hour, value] = r;
          if (hour < 0 || hour >= 24) rangeErr = 'hour';
        }
        break;
      }
      case 'Hour12':
      case 'ZeroHour12': {
        const r = getnum(value, ch.std === 'ZeroHour12');
        if (!r) bad = true;
        else {
          [hour, value] = r;
          if (hour < 0 || hour > 12) rangeErr = 'hour';
        }
        break;
      }
      case 'Minute':
      case 'ZeroMinute': {
        const r = getnum(value, ch.std === 'ZeroMinute');
        if (!r) bad = true;
        else {
          [min, value] = r;
          if (min < 0 || min >= 60) rangeErr = 'minute';
        }
        break;
      }
      case 'Second':
      case 'ZeroSecond': {
        const r = getnum(value, ch.std === 'ZeroSecond');
        if (!r) {
          bad = true;
          break;
        }
        [sec, value] = r;
        if (sec < 0 || sec >= 60) {
          rangeErr = 'second';
          break;
        }
        // A fractional second in the value but not in the layout is still accepted.
        if (value.length >= 2 && (value[0] === '.' || value[0] === ',') && isDigit(value, 1)) {
          const next = nextChunk(layout).std;
          if (next === 'Frac0' || next === 'Frac9') break;
          let n = 2;
          while (n < value.length && isDigit(value, n)) n++;
          const ns = parseNanos(value, n);
          if (ns === undefined || ns === 'range') bad = true;
          else nsec = ns;
          value = value.slice(n);
        }
        break;
      }
      case 'PM':
      case 'pm': {
        if (value.length < 2) {
          bad = true;
          break;
        }
        const p = value.slice(0, 2);
        value = value.slice(2);
        const want = ch.std === 'PM' ? ['PM', 'AM'] : ['pm', 'am'];
        if (p === want[0]) pmSet = true;
        else if (p === want[1]) amSet = true;
        else bad = true;
        break;
      }
      case 'TZ': {
        if (value.startsWith('UTC')) {
          utc = true;
          value = value.slice(3);
          break;
        }
        const m = /^(?:[A-Z]{3,5}|(?:GMT|UTC)[+-]\d{1,2})/.exec(value);
        if (!m) {
          bad = true;
          break;
        }
        zoneName = m[0];
        value = value.slice(m[0].length);
        break;
      }
      case 'Frac0': {
        const n = 1 + ch.digits!;
        if (value.length < n) {
          bad = true;
          break;
        }
        const ns = parseNanos(value, n);
        if (ns === undefined || ns === 'range') bad = true;
        else nsec = ns;
        value = value.slice(n);
        break;
      }
      case 'Frac9': {
        if (value.length < 2 || (value[0] !== '.' && value[0] !== ',') || !isDigit(value, 1)) break;
        let i = 0;
        while (i + 1 < value.length && isDigit(value, i + 1)) i++;
        const ns = parseNanos(value, 1 + i);
        if (ns === undefined || ns === 'range') bad = true;
        else nsec = ns;
        value = value.slice(1 + i);
        break;
      }
      default: {
        // Numeric zone offsets; the ISO 8601 forms also accept `Z`.
        if (ch.std.startsWith('ISO8601') && value.length >= 1 && value[0] === 'Z') {
          value = value.slice(1);
          utc = true;
          break;
        }
        let sign: string;
        let hh: string;
        let mm = '00';
        let ss = '00';
        const v = value;
        const kind = ch.std.replace('ISO8601', 'Num').replace('NumSecondsTZ', 'NumSecondsTz');
        if (kind === 'NumColonTZ') {
          if (v.length < 6 || v[3] !== ':') {
            bad = true;
            break;
          }
          [sign, hh, mm, value] = [v[0]!, v.slice(1, 3), v.slice(4, 6), v.slice(6)];
        } else if (kind === 'NumShortTZ') {
          if (v.length < 3) {
            bad = true;
            break;
          }
          [sign, hh, value] = [v[0]!, v.slice(1, 3), v.slice(3)];
        } else if (kind === 'NumColonSecondsTZ') {
          if (v.length < 9 || v[3] !== ':' || v[6] !== ':') {
            bad = true;
            break;
          }
          [sign, hh, mm, ss, value] = [v[0]!, v.slice(1, 3), v.slice(4, 6), v.slice(7, 9), v.slice(9)];
        } else if (kind === 'NumSecondsTz') {
          if (v.length < 7) {
            bad = true;
            break;
          }
          [sign, hh, mm, ss, value] = [v[0]!, v.slice(1, 3), v.slice(3, 5), v.slice(5, 7), v.slice(7)];
        } else {
          if (v.length < 5) {
            bad = true;
            break;
          }
          [sign, hh, mm, value] = [v[0]!, v.slice(1, 3), v.slice(3, 5), v.slice(5)];
        }
        const h = getnum(hh, true);
        const mi = getnum(mm, true);
        const s = getnum(ss, true);
        if (!h || !mi || !s || (sign !== '+' && sign !== '-')) {
          bad = true;
          break;
        }
        if (h[0] > 24) rangeErr = 'time zone offset hour';
        if (mi[0] > 60) rangeErr = 'time zone offset minute';
        if (s[0] > 60) rangeErr = 'time zone offset second';
        const off = (h[0] * 60 + mi[0]) * 60 + s[0];
        zoneOffset = sign === '-' ? -off : off;
      }
    }
    if (rangeErr !== '') throw perr(stdstr, hold, `: ${rangeErr} out of range`);
    if (bad) throw perr(stdstr, hold);
  }
  if (pmSet && hour < 12) hour += 12;
  else if (amSet && hour === 12) hour = 0;
  if (yday >= 0) {
    let m = 0;
    let d = 0;
    if (isLeap(year) && yday === 60) {
      m = 2;
      d = 29;
    } else {
      let yd = yday;
      if (isLeap(year) && yd > 60) yd--;
      // Day 366 of a common year: the range check above allowed it, the calendar does not.
      if (yd > 365) throw perr('', value, ': day-of-year out of range');
      m = 1;
      while (m <= 12 && yd > daysIn(m, 1n)) yd -= daysIn(m++, 1n);
      d = yd;
    }
    if (month >= 0 && month !== m) throw perr('', value, ': day-of-year does not match month');
    if (day >= 0 && day !== d) throw perr('', value, ': day-of-year does not match day');
    month = m;
    day = d;
  } else {
    if (month < 0) month = 1;
    if (day < 0) day = 1;
  }
  if (day < 1 || day > daysIn(month, year)) throw perr('', value, ': day out of range');
  const wall = dateToNs(year, BigInt(month), BigInt(day), BigInt(hour), BigInt(min), BigInt(sec), BigInt(nsec), UTC);
  if (utc) return wall;
  if (zoneOffset !== undefined) return wall - BigInt(zoneOffset) * NS_PER_S;
  if (zoneName !== undefined) {
    // A GMT±h / UTC±h abbreviation carries its offset; other abbreviations resolve to offset 0 like Go
    // does for abbreviations unknown to the local zone.
    const m = /^(?:GMT|UTC)([+-]\d{1,2})$/.exec(zoneName);
    if (m) return wall - BigInt(Number(m[1]) * 3600) * NS_PER_S;
  }
  return wall;
}

/**
 * Go's time.ParseDuration as OPA 1.20's time.parse_duration_ns reads durations: Go's units `ns`, `us`, `µs`
 * (U+00B5), `μs` (U+03BC), `ms`, `s`, `m`, `h`, and OPA's `d` (24h), `w` (7d) and `y` (365d); Go's texts, and
 * its arithmetic: integers in uint64 with its overflow checks, a fraction's digits kept while they fit and
 * scaled in float64, and the running sum held in uint64 (a sum past 2^64 wraps, as in Go).
 */
export function parseDuration(s0: string): bigint {
  const invalid = (): never => {
    throw new TimeError(`time: invalid duration ${goQuote(s0)}`);
  };
  const TWO63 = 1n << 63n;
  const UNITS: Record<string, bigint> = {
    ns: 1n,
    us: 1000n,
    '\u00b5s': 1000n,
    '\u03bcs': 1000n,
    ms: 1_000_000n,
    s: NS_PER_S,
    m: 60n * NS_PER_S,
    h: 3600n * NS_PER_S,
    d: 86400n * NS_PER_S,
    w: 7n * 86400n * NS_PER_S,
    y: 365n * 86400n * NS_PER_S,
  };
  const digit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
  let s = s0;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') invalid();
  let d = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || digit(s[0]))) invalid();
    // The integer part (leadingInt): overflow past 2^63 is an invalid duration.
    let i = 0;
    let v = 0n;
    for (; digit(s[i]); i++) {
      if (v > TWO63 / 10n) invalid();
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > TWO63) invalid();
    }
    const pre = i > 0;
    s = s.slice(i);
    // The fraction (leadingFraction): digits past what fits are read and ignored.
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s[0] === '.') {
      s = s.slice(1);
      let overflow = false;
      let j = 0;
      for (; digit(s[j]); j++) {
        if (overflow) continue;
        if (f > (TWO63 - 1n) / 10n) {
          overflow = true;
          continue;
        }
        const y = f * 10n + BigInt(s.charCodeAt(j) - 48);
        if (y > TWO63) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) invalid();
    let k = 0;
    while (k < s.length && s[k] !== '.' && !digit(s[k])) k++;
    if (k === 0) throw new TimeError(`time: missing unit in duration ${goQuote(s0)}`);
    const u = s.slice(0, k);
    s = s.slice(k);
    const unit = UNITS[u];
    if (unit === undefined) throw new TimeError(`time: unknown unit ${goQuote(u)} in duration ${goQuote(s0)}`);
    if (v > TWO63 / unit) invalid();
    v *= unit;
    if (f > 0n) {
      // float64(f) * (float64(unit) / scale), converted back to uint64 by truncation.
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > TWO63) invalid();
    }
    d = (d + v) % (1n << 64n);
    if (d > TWO63) invalid();
  }
  if (neg) return d === TWO63 ? -TWO63 : -d;
  if (d > TWO63 - 1n) invalid();
  return d;
}

// --- operands ----------------------------------------------------------------------------------------------

interface TzTime {
  ns: bigint;
  zone: Zone;
  layout: string;
}

const TZ_EXPECTED = 'either number (ns) or [number (ns), string (tz)]';

function tzTime(name: string, v: Value): TzTime {
  let n: Value;
  let zone = UTC;
  let layout = '';
  if (Array.isArray(v)) {
    if (v.length === 0) throw typeError(name, 1, TZ_EXPECTED, v);
    n = v[0]!;
    if (!isNumber(n)) throw typeError(name, 1, 'number', n);
    if (v.length > 1) {
      const tz = v[1]!;
      if (typeof tz !== 'string') throw typeError(name, 1, 'string', tz);
      try {
        zone = loadZone(tz);
      } catch (e) {
        if (e instanceof TimeError) throw builtinError(name, e.message);
        throw e;
      }
    }
    if (v.length > 2) {
      const l = v[2]!;
      if (typeof l !== 'string') throw typeError(name, 1, 'string', l);
      layout = l;
    }
  } else if (isNumber(v)) n = v;
  else throw typeError(name, 1, TZ_EXPECTED, v);
  if (!isInteger(n as number | bigint)) throw builtinError(name, 'timestamp too big');
  const ns = toBigInt(n as number | bigint);
  if (ns < INT64_MIN || ns > INT64_MAX) throw builtinError(name, 'timestamp too big');
  return { ns, zone, layout };
}

function safeNs(name: string, ns: bigint): Value {
  if (ns < INT64_MIN || ns > INT64_MAX) throw builtinError(name, 'time outside of valid range');
  return normNum(ns);
}

function wrap<T>(name: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof TimeError || e instanceof ParseFail) throw builtinError(name, e.message);
    throw e;
  }
}

function smallInt(name: string, a: Value[], i: number): bigint {
  return toBigInt(argInteger(name, a, i));
}

export const builtins: BuiltinDef[] = [
  { name: 'time.now_ns', arity: 0, nondeterministic: true, fn: (_a, ctx) => normNum(ctx.now()) },
  {
    name: 'time.parse_ns',
    arity: 2,
    fn: (a) => {
      const layout = argString('time.parse_ns', a, 0);
      const value = argString('time.parse_ns', a, 1);
      return safeNs('time.parse_ns', wrap('time.parse_ns', () => parseTime(NAMED_LAYOUTS[layout] ?? layout, value)));
    },
  },
  {
    name: 'time.parse_rfc3339_ns',
    arity: 1,
    fn: (a) => {
      const value = argString('time.parse_rfc3339_ns', a, 0);
      return safeNs('time.parse_rfc3339_ns', wrap('time.parse_rfc3339_ns', () => parseTime(NAMED_LAYOUTS.RFC3339!, value)));
    },
  },
  {
    name: 'time.parse_duration_ns',
    arity: 1,
    fn: (a) => normNum(wrap('time.parse_duration_ns', () => parseDuration(argString('time.parse_duration_ns', a, 0)))),
  },
  {
    name: 'time.format',
    arity: 1,
    fn: (a) => {
      const t = tzTime('time.format', a[0]!);
      const layout = t.layout === '' ? NAMED_LAYOUTS.RFC3339Nano! : (NAMED_LAYOUTS[t.layout] ?? t.layout);
      return formatTime(t.ns, t.zone, layout);
    },
  },
  {
    name: 'time.date',
    arity: 1,
    fn: (a) => {
      const t = tzTime('time.date', a[0]!);
      const f = fieldsOf(t.ns, t.zone);
      return [normNum(f.year), f.month, f.day];
    },
  },
  {
    name: 'time.clock',
    arity: 1,
    fn: (a) => {
      const t = tzTime('time.clock', a[0]!);
      const f = fieldsOf(t.ns, t.zone);
      return [f.hour, f.min, f.sec];
    },
  },
  {
    name: 'time.weekday',
    arity: 1,
    fn: (a) => {
      const t = tzTime('time.weekday', a[0]!);
      return LONG_DAYS[fieldsOf(t.ns, t.zone).wday]!;
    },
  },
  {
    name: 'time.add_date',
    arity: 4,
    fn: (a) => {
      const name = 'time.add_date';
      const t = tzTime(name, a[0]!);
      const years = smallInt(name, a, 1);
      const months = smallInt(name, a, 2);
      const days = smallInt(name, a, 3);
      if (years > 1_000_000n || years < -1_000_000n || months > 12_000_000n || months < -12_000_000n || days > 400_000_000n || days < -400_000_000n) {
        throw builtinError(name, 'time outside of valid range');
      }
      const f = fieldsOf(t.ns, t.zone);
      const ns = dateToNs(
        f.year + years,
        BigInt(f.month) + months,
        BigInt(f.day) + days,
        BigInt(f.hour),
        BigInt(f.min),
        BigInt(f.sec),
        BigInt(f.nsec),
        t.zone,
      );
      return safeNs(name, ns);
    },
  },
  {
    name: 'time.diff',
    arity: 2,
    fn: (a) => {
      const t1 = tzTime('time.diff', a[0]!);
      const t2 = tzTime('time.diff', a[1]!);
      // Both in t1's zone; earlier first (icza/gox algorithm, as OPA).
      const [x, y] = t1.ns <= t2.ns ? [t1.ns, t2.ns] : [t2.ns, t1.ns];
      const f1 = fieldsOf(x, t1.zone);
      const f2 = fieldsOf(y, t1.zone);
      let year = Number(f2.year - f1.year);
      let month = f2.month - f1.month;
      let day = f2.day - f1.day;
      let hour = f2.hour - f1.hour;
      let min = f2.min - f1.min;
      let sec = f2.sec - f1.sec;
      if (sec < 0) {
        sec += 60;
        min--;
      }
      if (min < 0) {
        min += 60;
        hour--;
      }
      if (hour < 0) {
        hour += 24;
        day--;
      }
      if (day < 0) {
        // Days in f1's month: time.Date(y1, M1, 32) normalised.
        day += daysIn(f1.month, f1.year);
        month--;
      }
      if (month < 0) {
        month += 12;
        year--;
      }
      return [year, month, day, hour, min, sec];
    },
  },
];

