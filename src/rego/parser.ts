/**
 * Rego parser for both syntax versions (specs/rego.md §2.1–2.6), chosen per module: Rego v1 (keywords `if`,
 * `contains`, `in`, `every` always on; `if` required before bodies) and Rego v0 (keywords only after
 * `import future.keywords…`, or all of v1 after `import rego.v1`). Operator precedence follows OPA/regorus:
 * `:=`/`=` < `in` < comparison < `|` < `&` < `+ -` < `* / %` < unary minus < terms.
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { tokenize, parseError, type Comment, type Token } from './lexer.js';
import type { Annotations, Expr, Import, Literal, Loc, Module, RegoVersion, Rule, RuleHead, Term, TermOf, With } from './ast.js';
import { parseLiteral } from './value.js';

export interface ParseOptions {
  version: RegoVersion;
  /** Enables the experimental `future.keywords.and` / `.or` imports (capability `experimental_keywords`). */
  experimental?: boolean;
}

/** Bounds nesting so hostile input cannot exhaust the stack. */
const MAX_DEPTH = 400;

const COMPARE: Record<string, string> = { '==': 'equal', '!=': 'neq', '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte' };
const ADD: Record<string, string> = { '+': 'plus', '-': 'minus' };
const MUL: Record<string, string> = { '*': 'mul', '/': 'div', '%': 'rem' };

class Parser {
  private i = 0;
  private kwIf: boolean;
  private kwIn: boolean;
  private kwContains: boolean;
  private kwEvery: boolean;
  private kwAnd = false;
  private kwOr = false;
  private kwNot = false;
  /** Newlines end an expression (inside bodies, outside brackets). */
  private nlSig = false;
  /** `|` ends the expression (first element of a possible comprehension). */
  private noBar = false;
  private depth = 0;
  private lastBracket = false;
  /** `in` ends the term (the element patterns of `some … in` / `every … in`). */
  private noIn = false;
  regoV1Import = false;

  constructor(
    private readonly toks: Token[],
    readonly file: string,
    readonly src: string,
    readonly opts: ParseOptions,
  ) {
    const v1 = opts.version === 'v1';
    this.kwIf = this.kwIn = this.kwContains = this.kwEvery = v1;
  }

  // ----------------------------------------------------------------------------------------- token helpers

  private get tok(): Token {
    return this.toks[this.i]!;
  }

  private peek(k = 1): Token {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)]!;
  }

  private next(): Token {
    const t = this.toks[this.i]!;
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }

  private loc(t: Token = this.tok): Loc {
    return { file: this.file, row: t.row, col: t.col };
  }

  private fail(message: string, t: Token = this.tok): never {
    throw parseError(this.file, t.row, t.col, message);
  }

  private unexpected(what = ''): never {
    const t = this.tok;
    const desc = t.kind === 'eof' ? 'eof token' : t.kind === 'ident' ? 'ident token' : t.kind === 'punct' ? `${t.text} token` : `${t.kind} token`;
    return this.fail(`unexpected ${desc}${what ? ': ' + what : ''}`);
  }

  private isP(text: string, t: Token = this.tok): boolean {
    return t.kind === 'punct' && t.text === text;
  }

  private acceptP(text: string): boolean {
    if (this.isP(text)) {
      this.next();
      return true;
    }
    return false;
  }

  private expectP(text: string): Token {
    if (!this.isP(text)) this.unexpected(`expected ${text}`);
    return this.next();
  }

  private isIdent(text: string, t: Token = this.tok): boolean {
    return t.kind === 'ident' && t.text === text;
  }

  private isKw(kw: string, t: Token = this.tok): boolean {
    if (t.kind !== 'ident' || t.text !== kw) return false;
    switch (kw) {
      case 'if':
        return this.kwIf;
      case 'in':
        return this.kwIn && !this.noIn;
      case 'contains':
        return this.kwContains;
      case 'every':
        return this.kwEvery;
      case 'and':
        return this.kwAnd;
      case 'or':
        return this.kwOr;
      default:
        return true;
    }
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) this.fail('nesting too deep');
  }

  private leave(): void {
    this.depth--;
  }

  /** Runs `f` with bracket-context flags (newlines insignificant, `|` allowed) and restores them. */
  private bracketed<T>(f: () => T): T {
    const nl = this.nlSig;
    const nb = this.noBar;
    const ni = this.noIn;
    this.nlSig = false;
    this.noBar = false;
    this.noIn = false;
    try {
      return f();
    } finally {
      this.nlSig = nl;
      this.noBar = nb;
      this.noIn = ni;
    }
  }

  // ----------------------------------------------------------------------------------------- module

  parseModule(): Module {
    if (!this.isIdent('package')) this.fail(this.tok.kind === 'eof' ? 'empty module' : 'package expected');
    const pkgTok = this.next();
    const pkgRef = this.parseRefText();
    const pkg = pkgRef.map((p) => p.value);
    if (pkgRef.length === 0) this.fail('package expected', pkgTok);
    const imports: Import[] = [];
    while (this.isIdent('import')) imports.push(this.parseImport());
    const rules: Rule[] = [];
    while (this.tok.kind !== 'eof') {
      if (this.isIdent('import')) this.fail('imports must appear before rules');
      if (this.isIdent('package')) this.fail('unexpected package keyword');
      rules.push(...this.parseRule());
    }
    return {
      file: this.file,
      package: pkg,
      packageLoc: this.loc(pkgTok),
      imports,
      rules,
      version: this.opts.version,
      regoV1: this.regoV1Import,
      source: this.src,
    };
  }

  /** `a.b["c"].d` of plain names/strings (package and import paths). */
  private parseRefText(): Array<{ value: string; loc: Loc }> {
    const out: Array<{ value: string; loc: Loc }> = [];
    if (this.tok.kind !== 'ident') this.unexpected('expected ident');
    out.push({ value: this.tok.text, loc: this.loc() });
    this.next();
    for (;;) {
      if (this.isP('.') && !this.tok.nl) {
        this.next();
        if (this.tok.kind !== 'ident') this.unexpected('expected ident');
        out.push({ value: this.tok.text, loc: this.loc() });
        this.next();
      } else if (this.isP('[') && !this.tok.nl) {
        this.next();
        const k = this.tok.kind as string;
        if (k !== 'string' && k !== 'rawstring') this.unexpected('expected string');
        out.push({ value: this.tok.text, loc: this.loc() });
        this.next();
        this.expectP(']');
      } else break;
    }
    return out;
  }

  private parseImport(): Import {
    const t = this.next();
    const parts = this.parseRefText();
    const names = parts.map((p) => p.value);
    let alias: string | undefined;
    if (this.isIdent('as') && !this.tok.nl) {
      this.next();
      if (this.tok.kind !== 'ident') this.unexpected('expected ident');
      alias = this.next().text;
    }
    const root = names[0];
    if (root !== 'data' && root !== 'input' && root !== 'future' && root !== 'rego') {
      this.fail(`invalid import path: path must begin with input or data`, t);
    }
    if (root === 'future') {
      if (names[1] !== 'keywords' || names.length > 3) this.fail(`invalid import ${names.join('.')}`, t);
      const kw = names[2];
      const all = kw === undefined;
      const known = ['in', 'every', 'contains', 'if', 'not', 'and', 'or'];
      if (!all && !known.includes(kw)) this.fail(`unexpected keyword, must be one of [contains every if in]`, t);
      // Importing `every` imports `in` as well, as OPA's parser does: `every x in xs` cannot be written without it.
      if (all || kw === 'in' || kw === 'every') this.kwIn = true;
      if (all || kw === 'every') this.kwEvery = true;
      if (all || kw === 'contains') this.kwContains = true;
      if (all || kw === 'if') this.kwIf = true;
      if (kw === 'not') this.kwNot = true;
      if (kw === 'and' || kw === 'or') {
        if (!this.opts.experimental) this.fail(`unexpected keyword, must be one of [contains every if in]`, t);
        if (kw === 'and') this.kwAnd = true;
        else this.kwOr = true;
      }
    }
    if (root === 'rego') {
      if (names.length !== 2 || names[1] !== 'v1') this.fail(`invalid import ${names.join('.')}, must be rego.v1`, t);
      this.kwIn = this.kwEvery = this.kwContains = this.kwIf = true;
      this.regoV1Import = true;
    }
    const loc = this.loc(t);
    const path: Term = {
      type: 'ref',
      head: { type: 'var', name: root!, loc: parts[0]!.loc },
      path: parts.slice(1).map((p) => ({ type: 'scalar', value: p.value, loc: p.loc })),
      loc,
    };
    return { path, alias, loc };
  }

  // ----------------------------------------------------------------------------------------- rules

  private parseRule(): Rule[] {
    const start = this.tok;
    const loc = this.loc(start);
    let isDefault = false;
    if (this.isIdent('default')) {
      isDefault = true;
      this.next();
    }
    if (this.tok.kind !== 'ident') this.unexpected('expected ident');
    const ref = this.parseRuleRef();
    let args: Term[] | undefined;
    if (this.isP('(') && !this.tok.nl) {
      this.next();
      args = this.bracketed(() => this.parseTermList(')'));
    }
    const head: RuleHead = { ref, args, key: undefined, value: undefined, assign: false, contains: false };
    if (isDefault) {
      if (this.isP(':=') || this.isP('=')) {
        head.assign = this.next().text === ':=';
        head.value = this.parseTermNoNl();
      } else this.unexpected('expected := or =');
      return [{ head, body: [], hasBody: false, isDefault, elseChain: [], loc, text: this.textFrom(start) }];
    }
    if (this.isKw('contains')) {
      this.next();
      head.contains = true;
      head.key = this.parseTermNoNl();
    }
    if (!head.contains && (this.isP(':=') || this.isP('='))) {
      head.assign = this.next().text === ':=';
      head.value = this.parseTermNoNl();
    }
    // v0 `p[x] { … }` / `p[x]`: a partial set rule whose key is the bracketed last ref segment.
    if (this.opts.version === 'v0' && !this.regoV1Import && !head.contains && head.value === undefined && args === undefined && ref.length === 2 && this.lastBracket && !this.isKw('if')) {
      head.key = ref.pop();
      head.contains = true;
    }
    const bodies: Literal[][] = [];
    let hasBody = false;
    if (this.isKw('if')) {
      this.next();
      hasBody = true;
      bodies.push(this.parseIfBody());
    } else if (this.isP('{') && !(this.tok.nl && this.opts.version === 'v1')) {
      if (this.opts.version === 'v1' || this.regoV1Import) this.fail('`if` keyword is required before rule body');
      hasBody = true;
      bodies.push(this.parseBraceBody());
    }
    if (this.opts.version === 'v1' || this.regoV1Import) {
      if (!hasBody && head.value === undefined && !head.contains && args === undefined && ref.length === 1) {
        this.fail(`rule must have value assignment and/or body declaration`, start);
      }
    }
    // v0 allows several bodies: `p { a } { b }` (logical OR).
    while (this.isP('{') && !this.tok.nl && this.opts.version === 'v0') bodies.push(this.parseBraceBody());
    const elseChain: Rule['elseChain'] = [];
    while (this.isIdent('else')) {
      const et = this.next();
      let value: Term | undefined;
      if (this.isP(':=') || this.isP('=')) {
        this.next();
        value = this.parseTermNoNl();
      }
      let body: Literal[] = [];
      if (this.isKw('if')) {
        this.next();
        body = this.parseIfBody();
      } else if (this.isP('{') && !this.tok.nl) {
        if (this.opts.version === 'v1' || this.regoV1Import) this.fail('`if` keyword is required before rule body');
        body = this.parseBraceBody();
      }
      elseChain.push({ value, body, loc: this.loc(et) });
    }
    const text = this.textFrom(start);
    if (bodies.length === 0) return [{ head, body: [], hasBody, isDefault, elseChain, loc, text }];
    return bodies.map((body, k) => ({ head: k === 0 ? head : { ...head }, body, hasBody, isDefault, elseChain: k === 0 ? elseChain : [], loc, text }));
  }

  private textFrom(start: Token): string {
    return this.src.slice(start.pos, this.tok.kind === 'eof' ? this.src.length : this.tokEnd(this.toks[this.i - 1]!)).trim();
  }

  /** Offset just past a token in the source (a string token's text is its decoded value, not its source). */
  private tokEnd(t: Token): number {
    if (t.kind === 'string') {
      let i = t.pos + 1;
      while (i < this.src.length && this.src[i] !== '"') i += this.src[i] === '\\' ? 2 : 1;
      return Math.min(i + 1, this.src.length);
    }
    if (t.kind === 'rawstring') {
      const close = this.src.indexOf('`', t.pos + 1);
      return close < 0 ? this.src.length : close + 1;
    }
    if (t.kind === 'template' && t.raw !== undefined) return t.pos + t.raw.length + 3;
    return t.pos + Math.max(1, t.text.length);
  }

  /** A rule head ref: `p`, `p.q`, `p[x]`, `a.b[c].d`. Keywords are allowed after a dot. */
  private parseRuleRef(): Term[] {
    const t = this.next();
    this.lastBracket = false;
    const out: Term[] = [{ type: 'var', name: t.text, loc: this.loc(t) }];
    for (;;) {
      if (this.isP('.') && !this.tok.nl) {
        this.next();
        if (this.tok.kind !== 'ident') this.unexpected('expected ident');
        const s = this.next();
        out.push({ type: 'scalar', value: s.text, loc: this.loc(s) });
        this.lastBracket = false;
      } else if (this.isP('[') && !this.tok.nl) {
        this.next();
        out.push(this.bracketed(() => this.parseExprTerm()));
        this.expectP(']');
        this.lastBracket = true;
      } else break;
    }
    return out;
  }

  private parseTermNoNl(): Term {
    const nl = this.nlSig;
    this.nlSig = true;
    try {
      return this.parseExprTerm();
    } finally {
      this.nlSig = nl;
    }
  }

  // ----------------------------------------------------------------------------------------- bodies

  /** After `if`: a `{ … }` body, or else a single literal (which may itself start with `{`). */
  private parseIfBody(): Literal[] {
    if (this.isP('{')) {
      const save = this.i;
      try {
        return this.parseBraceBody();
      } catch (e) {
        this.i = save;
        try {
          return [this.parseLiteralNl()];
        } catch {
          throw e;
        }
      }
    }
    return [this.parseLiteralNl()];
  }

  private parseBraceBody(): Literal[] {
    this.expectP('{');
    const body = this.parseLiterals('}');
    this.expectP('}');
    return body;
  }

  /** Literals separated by `;` or newlines, up to (not including) `end` (a punct) or eof. */
  parseLiterals(end: string | null): Literal[] {
    const nl = this.nlSig;
    const nb = this.noBar;
    this.nlSig = true;
    this.noBar = false;
    this.enter();
    try {
      const out: Literal[] = [];
      for (;;) {
        while (this.acceptP(';'));
        if (end !== null ? this.isP(end) : this.tok.kind === 'eof') break;
        if ((this.tok.kind as string) === 'eof') this.unexpected();
        const before = this.i;
        const first = this.tok;
        const lit = this.parseLiteral();
        if (this.i === before) this.unexpected();
        lit.text = this.textFrom(first);
        out.push(lit);
        if (this.isP(';')) continue;
        if (end !== null ? this.isP(end) : this.tok.kind === 'eof') break;
        if (!this.tok.nl) this.unexpected();
      }
      if (out.length === 0 && end !== null) this.fail('found empty body');
      return out;
    } finally {
      this.leave();
      this.nlSig = nl;
      this.noBar = nb;
    }
  }

  private parseLiteralNl(): Literal {
    const nl = this.nlSig;
    this.nlSig = true;
    try {
      return this.parseLiteral();
    } finally {
      this.nlSig = nl;
    }
  }

  parseLiteral(): Literal {
    let lit = this.parseLogicAnd(false);
    while (this.isKw('or') && !(this.tok.nl && this.nlSig)) {
      const loc = lit.loc;
      this.next();
      const b = this.parseLogicAnd(true);
      lit = { negated: false, expr: { kind: 'logic', op: 'or', a: [lit], b: [b] }, with: hoistWiths(b), loc };
    }
    return lit;
  }

  private parseLogicAnd(right: boolean): Literal {
    let lit = this.parseOperand(right);
    while (this.isKw('and') && !(this.tok.nl && this.nlSig)) {
      const loc = lit.loc;
      this.next();
      const b = this.parseOperand(true);
      lit = { negated: false, expr: { kind: 'logic', op: 'and', a: [lit], b: [b] }, with: hoistWiths(b), loc };
    }
    return lit;
  }

  private logicOn(): boolean {
    return this.kwAnd || this.kwOr;
  }

  private followedByLogic(): boolean {
    return (this.isKw('and') || this.isKw('or')) && !(this.tok.nl && this.nlSig);
  }

  /**
   * With logic operators on, an operand may be a `{ body }` group or a parenthesised literal `(a or b)`;
   * both are tried and abandoned (backtracking) when the text turns out to be an ordinary expression.
   */
  private tryGroup(right: boolean): Literal | undefined {
    if (!this.logicOn() || !(this.isP('{') || this.isP('('))) return undefined;
    const save = this.i;
    const loc = this.loc();
    try {
      if (this.isP('{')) {
        const body = this.parseBraceBody();
        if (right || this.followedByLogic()) {
          return { negated: false, expr: { kind: 'logic', op: 'and', a: body, b: [] }, with: this.parseWiths(), loc, group: true };
        }
      } else {
        this.next();
        const lit = this.bracketed(() => {
          this.nlSig = true;
          return this.parseLiteral();
        });
        this.expectP(')');
        if (lit.expr.kind === 'logic' || lit.with.length > 0 || this.followedByLogic()) {
          return { negated: false, expr: { kind: 'logic', op: 'and', a: [lit], b: [] }, with: this.parseWiths(), loc, group: true };
        }
      }
    } catch {
      // not a group
    }
    this.i = save;
    return undefined;
  }

  private parseOperand(right: boolean): Literal {
    return this.tryGroup(right) ?? this.parseSimpleLiteral();
  }

  private parseSimpleLiteral(): Literal {
    const t = this.tok;
    const loc = this.loc(t);
    this.enter();
    try {
      if (this.isIdent('some') && this.peek().kind !== 'punct' || (this.isIdent('some') && (this.isP('[', this.peek()) || this.isP('{', this.peek())))) {
        return { negated: false, expr: this.parseSome(), with: this.parseWiths(), loc };
      }
      if (this.isKw('every')) {
        return { negated: false, expr: this.parseEvery(), with: this.parseWiths(), loc };
      }
      let negated = false;
      if (this.isIdent('not')) {
        this.next();
        negated = true;
        if (this.kwNot && this.isP('{')) {
          const body = this.parseBraceBody();
          return { negated: true, expr: { kind: 'term', term: { type: 'scalar', value: true, loc } }, with: this.parseWiths(), loc, notBody: body };
        }
        const group = this.tryGroup(true);
        if (group) return { negated: true, expr: { kind: 'term', term: { type: 'scalar', value: true, loc } }, with: [], loc, notBody: [group] };
      }
      const expr = this.parseExpr();
      return { negated, expr, with: this.parseWiths(), loc };
    } finally {
      this.leave();
    }
  }

  private parseWiths(): With[] {
    const out: With[] = [];
    while (this.isIdent('with')) {
      const t = this.next();
      const target = this.parsePostfix();
      if (!this.isIdent('as')) this.unexpected('expected as');
      this.next();
      const value = this.parseInTerm();
      out.push({ target, value, loc: this.loc(t) });
    }
    return out;
  }

  private parseSome(): Expr {
    this.next();
    const first = this.parseCompareNoIn();
    if (this.isP(',')) {
      const items: Term[] = [first];
      while (this.acceptP(',')) items.push(this.parseCompareNoIn());
      if (this.isKw('in')) {
        if (items.length !== 2) this.fail('unexpected , token');
        this.next();
        const coll = this.parseCompare();
        return { kind: 'somein', key: items[0], value: items[1]!, coll };
      }
      return { kind: 'some', vars: items.map((v) => this.asVar(v)) };
    }
    if (this.isKw('in')) {
      this.next();
      const coll = this.parseCompare();
      return { kind: 'somein', key: undefined, value: first, coll };
    }
    return { kind: 'some', vars: [this.asVar(first)] };
  }

  private asVar(t: Term): TermOf<'var'> {
    if (t.type !== 'var') throw parseError(this.file, t.loc.row, t.loc.col, `expected var`);
    return t;
  }

  private parseEvery(): Expr {
    this.next();
    const first = this.parseCompareNoIn();
    let key: Term | undefined;
    let value = first;
    if (this.acceptP(',')) {
      key = first;
      value = this.parseCompareNoIn();
    }
    // `every` implies its own `in` (OPA accepts `import future.keywords.every` alone).
    if (!this.isIdent('in')) this.unexpected('expected in');
    this.next();
    const domain = this.parseCompare();
    const body = this.parseBraceBody();
    return { kind: 'every', key, value, domain, body };
  }

  // ----------------------------------------------------------------------------------------- expressions

  parseExpr(): Expr {
    const a = this.parseInTerm(true);
    if (this.isP(':=') && !(this.tok.nl && this.nlSig)) {
      this.next();
      return { kind: 'assign', a, b: this.parseInTerm(true) };
    }
    if (this.isP('=') && !(this.tok.nl && this.nlSig)) {
      this.next();
      return { kind: 'unify', a, b: this.parseInTerm(true) };
    }
    return { kind: 'term', term: a };
  }

  /** A term-valued expression (rule heads, arguments): everything but `=`/`:=`. */
  parseExprTerm(): Term {
    return this.parseInTerm();
  }

  private stopNl(): boolean {
    return this.tok.nl && this.nlSig;
  }

  /** `x in c`; with `allowComma`, also `k, v in c` (literal level and inside parentheses). */
  private parseInTerm(allowComma = false): Term {
    let a = this.parseCompare();
    if (allowComma && this.kwIn && this.isP(',')) {
      this.next();
      const v = this.parseCompareNoIn();
      if (!this.isKw('in')) this.unexpected('expected in');
      this.next();
      const coll = this.parseCompare();
      a = { type: 'call', name: 'internal.member_3', args: [a, v, coll], loc: a.loc };
    }
    while (this.isKw('in') && !this.stopNl()) {
      this.next();
      const b = this.parseCompare();
      a = { type: 'call', name: 'internal.member_2', args: [a, b], loc: a.loc };
    }
    return a;
  }

  private parseCompareNoIn(): Term {
    const kw = this.noIn;
    this.noIn = true;
    try {
      return this.parseCompare();
    } finally {
      this.noIn = kw;
    }
  }

  private parseCompare(): Term {
    let a = this.parseBar();
    while (this.tok.kind === 'punct' && COMPARE[this.tok.text] && !this.stopNl()) {
      const op = COMPARE[this.next().text]!;
      const b = this.parseBar();
      a = { type: 'call', name: op, args: [a, b], loc: a.loc };
    }
    return a;
  }

  private parseBar(): Term {
    let a = this.parseAmp();
    while (this.isP('|') && !this.noBar && !this.stopNl()) {
      this.next();
      const b = this.parseAmp();
      a = { type: 'call', name: 'or', args: [a, b], loc: a.loc };
    }
    return a;
  }

  private parseAmp(): Term {
    let a = this.parseAdd();
    while (this.isP('&') && !this.stopNl()) {
      this.next();
      const b = this.parseAdd();
      a = { type: 'call', name: 'and', args: [a, b], loc: a.loc };
    }
    return a;
  }

  private parseAdd(): Term {
    let a = this.parseMul();
    while (this.tok.kind === 'punct' && ADD[this.tok.text] && !this.stopNl()) {
      const op = ADD[this.next().text]!;
      const b = this.parseMul();
      a = { type: 'call', name: op, args: [a, b], loc: a.loc };
    }
    return a;
  }

  private parseMul(): Term {
    let a = this.parseUnary();
    while (this.tok.kind === 'punct' && MUL[this.tok.text] && !this.stopNl()) {
      const op = MUL[this.next().text]!;
      const b = this.parseUnary();
      a = { type: 'call', name: op, args: [a, b], loc: a.loc };
    }
    return a;
  }

  private parseUnary(): Term {
    if (this.isP('-')) {
      const t = this.next();
      if (this.tok.kind === 'number' && this.tok.pos === t.pos + 1) {
        const n = this.next();
        const value = parseLiteral('-' + n.text);
        if (value === undefined) this.fail('invalid number', n);
        return this.parsePostfixFrom({ type: 'scalar', value, loc: this.loc(t) });
      }
      this.enter();
      try {
        const x = this.parseUnary();
        return { type: 'call', name: 'minus', args: [{ type: 'scalar', value: 0, loc: this.loc(t) }, x], loc: this.loc(t) };
      } finally {
        this.leave();
      }
    }
    return this.parsePostfix();
  }

  // ----------------------------------------------------------------------------------------- terms

  private parsePostfix(): Term {
    this.enter();
    try {
      return this.parsePostfixFrom(this.parsePrimary());
    } finally {
      this.leave();
    }
  }

  private parsePostfixFrom(base: Term): Term {
    let t = base;
    // Once this loop has made the ref, later segments are appended in place: copying the path per segment
    // made `x.x.x…` quadratic in its length.
    let owned = false;
    for (;;) {
      const tok = this.tok;
      if (tok.nl) break;
      if (this.isP('.')) {
        this.next();
        if (this.tok.kind !== 'ident' || this.tok.nl) this.unexpected('expected ident');
        const s = this.next();
        t = appendRef(t, { type: 'scalar', value: s.text, loc: this.loc(s) }, owned);
        owned = true;
      } else if (this.isP('[')) {
        this.next();
        const key = this.bracketed(() => this.parseInTerm());
        this.expectP(']');
        t = appendRef(t, key, owned);
        owned = true;
      } else if (this.isP('(')) {
        const name = callName(t);
        if (name === undefined) break;
        this.next();
        const args = this.bracketed(() => this.parseTermList(')'));
        if (name === 'set' && args.length === 0) t = { type: 'set', items: [], loc: t.loc };
        else t = { type: 'call', name, args, loc: t.loc };
        owned = false;
      } else break;
    }
    return t;
  }

  private parseTermList(end: string): Term[] {
    const out: Term[] = [];
    while (!this.isP(end)) {
      out.push(this.parseInTerm());
      if (!this.acceptP(',')) break;
    }
    this.expectP(end);
    return out;
  }

  private parsePrimary(): Term {
    const t = this.tok;
    const loc = this.loc(t);
    switch (t.kind) {
      case 'number': {
        this.next();
        const value = parseLiteral(t.text);
        if (value === undefined) this.fail('invalid number', t);
        return { type: 'scalar', value, loc };
      }
      case 'string':
      case 'rawstring':
        this.next();
        return { type: 'scalar', value: t.text, loc };
      case 'template':
        this.next();
        return this.parseTemplate(t);
      case 'ident':
        this.next();
        if (t.text === 'true') return { type: 'scalar', value: true, loc };
        if (t.text === 'false') return { type: 'scalar', value: false, loc };
        if (t.text === 'null') return { type: 'scalar', value: null, loc };
        if (['import', 'package', 'else', 'with', 'as', 'default', 'not', 'some'].includes(t.text) || (t.text === 'if' && this.kwIf) || (t.text === 'contains' && this.kwContains && !this.isP('(')) || (t.text === 'every' && this.kwEvery) || (t.text === 'in' && this.kwIn)) {
          this.i--;
          this.unexpected();
        }
        return { type: 'var', name: t.text, loc };
      case 'punct':
        if (t.text === '(') {
          this.next();
          const inner = this.bracketed(() => this.parseInTerm(true));
          this.expectP(')');
          return inner;
        }
        if (t.text === '[') return this.parseArray();
        if (t.text === '{') return this.parseBrace();
        return this.unexpected();
      default:
        return this.unexpected();
    }
  }

  private parseArray(): Term {
    const loc = this.loc();
    this.next();
    return this.bracketed(() => {
      if (this.acceptP(']')) return { type: 'array', items: [], loc } as Term;
      this.noBar = true;
      const first = this.parseInTerm();
      this.noBar = false;
      if (this.acceptP('|')) {
        const body = this.parseLiterals(']');
        this.expectP(']');
        return { type: 'arraycompr', term: first, body, loc } as Term;
      }
      const items = [first];
      while (this.acceptP(',')) {
        if (this.isP(']')) break;
        items.push(this.parseInTerm());
      }
      this.expectP(']');
      return { type: 'array', items, loc } as Term;
    });
  }

  private parseBrace(): Term {
    const loc = this.loc();
    this.next();
    return this.bracketed(() => {
      if (this.acceptP('}')) return { type: 'object', entries: [], loc } as Term;
      this.noBar = true;
      const first = this.parseInTerm();
      if (this.acceptP(':')) {
        const v = this.parseInTerm();
        this.noBar = false;
        if (this.acceptP('|')) {
          const body = this.parseLiterals('}');
          this.expectP('}');
          return { type: 'objectcompr', key: first, value: v, body, loc } as Term;
        }
        const entries: Array<[Term, Term]> = [[first, v]];
        while (this.acceptP(',')) {
          if (this.isP('}')) break;
          const k = this.parseInTerm();
          this.expectP(':');
          entries.push([k, this.parseInTerm()]);
        }
        this.expectP('}');
        return { type: 'object', entries, loc } as Term;
      }
      this.noBar = false;
      if (this.acceptP('|')) {
        const body = this.parseLiterals('}');
        this.expectP('}');
        return { type: 'setcompr', term: first, body, loc } as Term;
      }
      const items = [first];
      while (this.acceptP(',')) {
        if (this.isP('}')) break;
        items.push(this.parseInTerm());
      }
      this.expectP('}');
      return { type: 'set', items, loc } as Term;
    });
  }

  /** `$"a {expr} b"`: `\{` escapes a brace; expressions are parsed with this module's keywords. */
  private parseTemplate(t: Token): Term {
    const raw = t.raw ?? '';
    const loc = this.loc(t);
    const parts: Array<string | Term> = [];
    let buf = '';
    let i = 0;
    while (i < raw.length) {
      const c = raw[i]!;
      if (c === '\\' && t.text === '"') {
        if (raw[i + 1] === '{' || raw[i + 1] === '}') {
          buf += raw[i + 1];
          i += 2;
          continue;
        }
        const m = /^\\(u[0-9a-fA-F]{4}|.)/.exec(raw.slice(i));
        if (!m) this.fail('illegal escape in template string', t);
        try {
          buf += JSON.parse('"' + m[0] + '"') as string;
        } catch {
          this.fail('illegal escape in template string', t);
        }
        i += m[0].length;
        continue;
      }
      if (c === '{') {
        let depth = 1;
        let j = i + 1;
        while (j < raw.length && depth > 0) {
          if (raw[j] === '{') depth++;
          else if (raw[j] === '}') depth--;
          else if (raw[j] === '"') {
            j++;
            while (j < raw.length && raw[j] !== '"') j += raw[j] === '\\' ? 2 : 1;
          }
          if (depth > 0) j++;
        }
        if (depth !== 0) this.fail('unterminated template expression', t);
        const exprSrc = raw.slice(i + 1, j);
        const sub = new Parser(tokenize(exprSrc, this.file), this.file, exprSrc, this.opts);
        sub.kwIf = this.kwIf;
        sub.kwIn = this.kwIn;
        sub.kwContains = this.kwContains;
        sub.kwEvery = this.kwEvery;
        const term = sub.bracketed(() => sub.parseInTerm());
        if (sub.tok.kind !== 'eof') sub.unexpected();
        parts.push(buf, shiftLoc(term, loc));
        buf = '';
        i = j + 1;
        continue;
      }
      buf += c;
      i++;
    }
    parts.push(buf);
    return { type: 'template', parts, loc };
  }

  atEof(): boolean {
    return this.tok.kind === 'eof';
  }

  expectEof(): void {
    if (this.tok.kind !== 'eof') this.unexpected();
  }
}

/** `a and b with input as x`: a `with` after an ungrouped last operand applies to the whole expression. */
function hoistWiths(b: Literal): With[] {
  if (b.group || b.with.length === 0) return [];
  const w = b.with;
  b.with = [];
  return w;
}

function shiftLoc(t: Term, loc: Loc): Term {
  return { ...t, loc };
}

function appendRef(t: Term, seg: Term, inPlace = false): Term {
  if (t.type === 'ref' && inPlace) {
    t.path.push(seg);
    return t;
  }
  if (t.type === 'ref') return { type: 'ref', head: t.head, path: [...t.path, seg], loc: t.loc };
  return { type: 'ref', head: t, path: [seg], loc: t.loc };
}

/** The dotted name of a term that can be called (`f`, `a.b.c`), or undefined. */
function callName(t: Term): string | undefined {
  if (t.type === 'var') return t.name;
  if (t.type === 'ref' && t.head.type === 'var') {
    let s = t.head.name;
    for (const p of t.path) {
      if (p.type !== 'scalar' || typeof p.value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p.value)) return undefined;
      s += '.' + p.value;
    }
    return s;
  }
  return undefined;
}

/** Parses one module. Throws REGO_PARSE (CocoError) with `file:row: rego_parse_error: …`. */
export function parseModule(src: string, file: string, opts: ParseOptions): Module {
  const comments: Comment[] = [];
  const p = new Parser(tokenize(src, file, comments), file, src, opts);
  const m = p.parseModule();
  if (comments.some((c) => c.text.trim() === 'METADATA')) attachAnnotations(m, comments);
  return m;
}

/**
 * `# METADATA` blocks: the YAML in the comment lines that follow, attached to the package or rule that starts
 * on the next line (opa:v1/ast/annotations.go). Authors and related resources are normalised as OPA does.
 */
function attachAnnotations(m: Module, comments: Comment[]): void {
  const byRow = new Map(comments.map((c) => [c.row, c]));
  for (const c of comments) {
    if (c.text.trim() !== 'METADATA') continue;
    const lines: string[] = [];
    let row = c.row + 1;
    while (byRow.has(row)) {
      lines.push(byRow.get(row)!.text.replace(/^ /, ''));
      row++;
    }
    let doc: unknown;
    try {
      doc = yaml().parse(lines.join('\n'));
    } catch (e) {
      throw parseError(m.file, c.row, 1, `yaml: ${(e as Error).message.split('\n')[0]}`);
    }
    const fields = (doc && typeof doc === 'object' && !Array.isArray(doc) ? doc : {}) as Record<string, unknown>;
    const target = row; // the statement right after the block
    if (m.packageLoc.row === target) {
      m.annotations = normalise(fields, 'package');
      continue;
    }
    const rule = m.rules.find((r) => r.loc.row === target);
    if (rule) rule.annotations = normalise(fields, 'rule');
  }
}

function normalise(fields: Record<string, unknown>, defaultScope: string): Annotations {
  const out: Record<string, unknown> = { ...fields, scope: typeof fields['scope'] === 'string' ? fields['scope'] : defaultScope };
  if (Array.isArray(fields['authors'])) {
    out['authors'] = fields['authors'].map((a: unknown) => {
      if (typeof a !== 'string') return a;
      const m = /^(.*?)\s*<([^>]+)>\s*$/.exec(a);
      if (m) return m[1] ? { name: m[1], email: m[2] } : { email: m[2] };
      return a.includes('@') && !a.includes(' ') ? { email: a } : { name: a };
    });
  }
  if (Array.isArray(fields['related_resources'])) {
    out['related_resources'] = fields['related_resources'].map((r: unknown) => (typeof r === 'string' ? { ref: r } : r));
  }
  return out as Annotations;
}

/** Parses a query body (literals separated by `;` or newlines). */
export function parseQuery(src: string, opts: ParseOptions, file = 'query'): Literal[] {
  const p = new Parser(tokenize(src, file), file, src, opts);
  if (p.atEof()) throw parseError(file, 1, 1, 'empty query');
  return p.parseLiterals(null);
}

/** Parses one term (e.g. the conformance suite's `input_term`). */
export function parseTerm(src: string, opts: ParseOptions, file = 'term'): Term {
  const p = new Parser(tokenize(src, file), file, src, opts);
  const t = p.parseExprTerm();
  p.expectEof();
  return t;
}

/** The YAML package, loaded by the first call that needs it rather than with the Rego engine. */
let yamlModule: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  return (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml);
}
