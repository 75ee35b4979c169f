/**
 * Syntax errors worded as Go's encoding/json reports them, for builtins that decode JSON the way OPA does
 * (`util.UnmarshalJSON`: a json.Decoder reads the first value, then one more token is looked at).
 *
 * The scanner follows Go's state machine over UTF-8 bytes: every message is `invalid character 'c' <context>`,
 * an input ending inside a value is `unexpected EOF` and an empty one `EOF`. After the first value OPA accepts
 * the end of input or a `null` token; any other token is `error: invalid character '<token>' after top-level
 * value` (the token printed with Go's `%s`), and a character that cannot start a token is the decoder's own
 * syntax error.
 */

const MAX_DEPTH = 10000;

/** Go's quoteChar: the byte as a rune, quoted like strconv.Quote but in single quotes. */
function quoteChar(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === 0x22) return "'\"'";
  const named: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 0x5c: '\\\\' };
  if (named[c] !== undefined) return `'${named[c]}'`;
  if (c < 0x20 || c === 0x7f) return `'\\x${c.toString(16).padStart(2, '0')}'`;
  // Bytes from 0x80 are runes U+0080..U+00FF: C1 controls, NBSP and the soft hyphen are not printable.
  if ((c >= 0x80 && c <= 0xa0) || c === 0xad) return `'\\u${c.toString(16).padStart(4, '0')}'`;
  return `'${String.fromCharCode(c)}'`;
}

class GoSyntax extends Error {}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

class Scanner {
  i: number;
  constructor(
    private readonly b: Uint8Array,
    start: number,
  ) {
    this.i = start;
  }

  private err(context: string): never {
    if (this.i >= this.b.length) throw new GoSyntax('unexpected EOF');
    throw new GoSyntax(`invalid character ${quoteChar(this.b[this.i]!)} ${context}`);
  }

  private peek(): number {
    return this.i < this.b.length ? this.b[this.i]! : -1;
  }

  private skip(): void {
    while (this.i < this.b.length && isSpace(this.b[this.i]!)) this.i++;
  }

  /** Scans one value starting at a non-space byte (iteratively: nesting is bounded only by Go's limit). */
  value(): 'object' | 'array' | 'string' | 'number' | 'true' | 'false' | 'null' {
    const stack: number[] = []; // 0x7b: in an object, 0x5b: in an array
    let first: ReturnType<Scanner['value']> | undefined;
    for (;;) {
      // At the start of a value.
      const c = this.peek();
      let kind: ReturnType<Scanner['value']> | undefined;
      if (c === 0x7b || c === 0x5b) {
        if (stack.length + 1 > MAX_DEPTH) throw new GoSyntax('exceeded max depth');
        this.i++;
        this.skip();
        const close = c === 0x7b ? 0x7d : 0x5d;
        if (this.peek() === close) {
          this.i++;
          kind = c === 0x7b ? 'object' : 'array';
        } else {
          stack.push(c);
          first ??= c === 0x7b ? 'object' : 'array';
          if (c === 0x7b) this.key();
          continue;
        }
      } else if (c === 0x22) {
        this.string();
        kind = 'string';
      } else if (c === 0x2d || isDigit(c)) {
        this.number();
        kind = 'number';
      } else {
        for (const word of ['true', 'false', 'null'] as const) {
          if (c !== word.charCodeAt(0)) continue;
          this.i++;
          for (let k = 1; k < word.length; k++) {
            if (this.peek() !== word.charCodeAt(k)) this.err(`in literal ${word} (expecting ${quoteChar(word.charCodeAt(k))})`);
            this.i++;
          }
          kind = word;
        }
        if (kind === undefined) this.err('looking for beginning of value');
      }
      first ??= kind;
      // After a value: close containers or move to the next element.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) return first;
        this.skip();
        const d = this.peek();
        if (top === 0x7b) {
          if (d === 0x7d) {
            this.i++;
            stack.pop();
            continue;
          }
          if (d !== 0x2c) this.err('after object key:value pair');
          this.i++;
          this.skip();
          this.key();
        } else {
          if (d === 0x5d) {
            this.i++;
            stack.pop();
            continue;
          }
          if (d !== 0x2c) this.err('after array element');
          this.i++;
          this.skip();
        }
        break;
      }
    }
  }

  /** An object key and its colon, leaving the scanner at the member's value. */
  private key(): void {
    if (this.peek() !== 0x22) this.err('looking for beginning of object key string');
    this.string();
    this.skip();
    if (this.peek() !== 0x3a) this.err('after object key');
    this.i++;
    this.skip();
  }

  private string(): void {
    this.i++;
    for (;;) {
      const c = this.peek();
      if (c === 0x22) {
        this.i++;
        return;
      }
      if (c < 0) this.err('');
      if (c < 0x20) this.err('in string literal');
      this.i++;
      if (c !== 0x5c) continue;
      const e = this.peek();
      if (e === 0x75) {
        this.i++;
        for (let k = 0; k < 4; k++) {
          if (!isHex(this.peek())) this.err('in \\u hexadecimal character escape');
          this.i++;
        }
      } else if (e >= 0 && 'bfnrt\\/"'.includes(String.fromCharCode(e))) this.i++;
      else this.err('in string escape code');
    }
  }

  private number(): void {
    if (this.peek() === 0x2d) {
      this.i++;
      if (!isDigit(this.peek())) this.err('in numeric literal');
    }
    if (this.peek() === 0x30) this.i++;
    else while (isDigit(this.peek())) this.i++;
    if (this.peek() === 0x2e) {
      this.i++;
      if (!isDigit(this.peek())) this.err('after decimal point in numeric literal');
      while (isDigit(this.peek())) this.i++;
    }
    if (this.peek() === 0x65 || this.peek() === 0x45) {
      this.i++;
      if (this.peek() === 0x2b || this.peek() === 0x2d) this.i++;
      if (!isDigit(this.peek())) this.err('in exponent of numeric literal');
      while (isDigit(this.peek())) this.i++;
    }
  }

  /** What follows the first value, as OPA's UnmarshalJSON sees it: undefined when it is accepted. */
  trailing(): string | undefined {
    this.skip();
    const c = this.peek();
    if (c < 0) return undefined;
    if (c === 0x7b || c === 0x5b) return `error: invalid character '${String.fromCharCode(c)}' after top-level value`;
    if (c === 0x7d || c === 0x5d || c === 0x2c || c === 0x3a) this.err('looking for beginning of value');
    const start = this.i;
    const kind = this.value();
    // A number must be followed by a byte that ends it; Go learns that only from the next byte (or EOF).
    if (kind === 'null') return undefined;
    if (kind === 'true' || kind === 'false') return `error: invalid character '%!s(bool=${kind})' after top-level value`;
    const text = new TextDecoder().decode(this.b.subarray(start, this.i));
    const shown = kind === 'string' ? (JSON.parse(text) as string) : text;
    return `error: invalid character '${shown}' after top-level value`;
  }
}

/** A scanner over `text`'s UTF-8 bytes, past the white space before its first token. */
function scanFromFirstToken(text: string): { b: Uint8Array; sc: Scanner } {
  const b = new TextEncoder().encode(text);
  const sc = new Scanner(b, 0);
  while (sc.i < b.length && isSpace(b[sc.i]!)) sc.i++;
  return { b, sc };
}

/**
 * Go's (OPA's) verdict on a JSON text: undefined when OPA's json.unmarshal accepts it, else the error text
 * it reports.
 */
export function goJsonError(text: string): string | undefined {
  const { b, sc } = scanFromFirstToken(text);
  if (sc.i >= b.length) return 'EOF';
  try {
    sc.value();
    return sc.trailing();
  } catch (e) {
    if (e instanceof GoSyntax) return e.message;
    throw e;
  }
}

/** The end (in UTF-16 units) of the first JSON value of a text OPA accepts with trailing `null` (`1 null`). */
export function firstValueText(text: string): string {
  const { b, sc } = scanFromFirstToken(text);
  sc.value();
  return new TextDecoder().decode(b.subarray(0, sc.i));
}

/**
 * encoding/json's checkValid, which json.Valid and json.Unmarshal run before decoding: undefined for one JSON
 * value (whitespace around it allowed), else Go's text (`unexpected end of JSON input`, `invalid character 'x'
 * looking for beginning of value`, `invalid character 'x' after top-level value`, ...).
 */
export function goCheckValid(text: string): string | undefined {
  const { b, sc } = scanFromFirstToken(text);
  if (sc.i >= b.length) return 'unexpected end of JSON input';
  try {
    sc.value();
  } catch (e) {
    if (!(e instanceof GoSyntax)) throw e;
    return e.message === 'unexpected EOF' ? 'unexpected end of JSON input' : e.message;
  }
  while (sc.i < b.length && isSpace(b[sc.i]!)) sc.i++;
  if (sc.i < b.length) return `invalid character ${quoteChar(b[sc.i]!)} after top-level value`;
  return undefined;
}
