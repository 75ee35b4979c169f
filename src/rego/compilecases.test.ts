import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { vectorPath } from '../test-support/vectors.js';
import { CocoError } from '../errors.js';
import { Engine } from './index.js';
import type { CompileError } from './compiler.js';

interface WantError {
  module?: string;
  code: string;
  row: number;
  col?: number;
  message: string;
}

interface CompileCase {
  note: string;
  modules: string[];
  rego_version?: string;
  want_errors: WantError[];
  exhaustive?: boolean;
}

const ROOT = vectorPath('rego', 'opa-compilecases');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.yaml') ? [p] : [];
  });
}

// OPA's compiler-diagnostic corpus (opa:v1/test/compilecases): every expected error must be reported with its
// code, row, column (when non-zero) and message; `exhaustive` cases must report nothing else.
for (const file of files(ROOT)) {
  const dirVersion = relative(ROOT, file).startsWith('v0') ? 'v0' : 'v1';
  const { cases } = parseYaml(readFileSync(file, 'utf8')) as { cases: CompileCase[] };
  for (const c of cases) {
    test(`compile diagnostics: ${c.note}`, () => {
      const version = (c.rego_version ?? dirVersion).startsWith('v0') ? 'v0' : 'v1';
      const e = new Engine();
      c.modules.forEach((m, i) => e.addPolicy(`test-${i}.rego`, m, { regoVersion: version }));
      let errors: CompileError[] = [];
      try {
        e.prepare();
      } catch (err) {
        assert.ok(err instanceof CocoError, String(err));
        errors = (err.detail as { errors: CompileError[] }).errors;
      }
      for (const w of c.want_errors) {
        const hit = errors.find(
          (g) => g.code === w.code && g.row === w.row && (!w.col || g.col === w.col) && g.message === w.message && g.file === (w.module ?? 'test-0.rego'),
        );
        assert.ok(hit, `missing ${JSON.stringify(w)}; got ${JSON.stringify(errors)}`);
      }
      if (c.exhaustive) assert.equal(errors.length, c.want_errors.length, JSON.stringify(errors));
    });
  }
}
