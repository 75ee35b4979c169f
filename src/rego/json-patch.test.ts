import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { applyJsonPatch, encodePointerToken, parsePointer } from './json-patch.js';

function rejects(doc: unknown, ops: unknown, index: number, path: string): CocoError {
  const before = JSON.stringify(doc);
  let err: unknown;
  try {
    applyJsonPatch(doc, ops);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CocoError, `expected a CocoError, got ${String(err)}`);
  assert.equal(err.code, 'REGO_JSON_PATCH');
  assert.deepEqual(err.detail, { index, op: (ops as Array<{ op?: string }>)[index]?.op ?? '?', path });
  assert.ok(err.message.includes(`operation ${index}`) && err.message.includes(path), err.message);
  assert.equal(JSON.stringify(doc), before, 'a failed patch must leave the document unchanged');
  return err;
}

// RFC 6902 Appendix A, transcribed from the RFC's text (document, patch, result).
const APPENDIX: Array<[string, unknown, unknown[], unknown]> = [
  ['A.1 adding an object member', { foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }], { baz: 'qux', foo: 'bar' }],
  ['A.2 adding an array element', { foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }], { foo: ['bar', 'qux', 'baz'] }],
  ['A.3 removing an object member', { baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }], { foo: 'bar' }],
  ['A.4 removing an array element', { foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }], { foo: ['bar', 'baz'] }],
  ['A.5 replacing a value', { baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }], { baz: 'boo', foo: 'bar' }],
  [
    'A.6 moving a value',
    { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
    [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
    { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
  ],
  ['A.7 moving an array element', { foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }], { foo: ['all', 'cows', 'eat', 'grass'] }],
  [
    'A.8 testing a value: success',
    { baz: 'qux', foo: ['a', 2, 'c'] },
    [
      { op: 'test', path: '/baz', value: 'qux' },
      { op: 'test', path: '/foo/1', value: 2 },
    ],
    { baz: 'qux', foo: ['a', 2, 'c'] },
  ],
  ['A.10 adding a nested member object', { foo: 'bar' }, [{ op: 'add', path: '/child', value: { grandchild: {} } }], { foo: 'bar', child: { grandchild: {} } }],
  ['A.11 ignoring unrecognized elements', { foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }], { foo: 'bar', baz: 'qux' }],
  ['A.14 ~ escape ordering', { '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: 10 }], { '/': 9, '~1': 10 }],
  ['A.16 adding an array value', { foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }], { foo: ['bar', ['abc', 'def']] }],
];

for (const [name, doc, ops, want] of APPENDIX) {
  test(`RFC 6902 appendix ${name}`, () => {
    const before = JSON.stringify(doc);
    assert.deepEqual(applyJsonPatch(doc, ops), want);
    assert.equal(JSON.stringify(doc), before, 'the input document is not mutated');
  });
}

test('RFC 6902 appendix A.9 testing a value: error', () => {
  rejects({ baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }], 0, '/baz');
});

test('RFC 6902 appendix A.12 adding to a nonexistent target', () => {
  rejects({ foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }], 0, '/baz/bat');
});

test('RFC 6902 appendix A.15 comparing strings and numbers', () => {
  rejects({ '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: '10' }], 0, '/~01');
});

test('RFC 6901 section 5 pointers resolve to the values the RFC lists', () => {
  const doc = { foo: ['bar', 'baz'], '': 0, 'a/b': 1, 'c%d': 2, 'e^f': 3, 'g|h': 4, 'i\\j': 5, 'k"l': 6, ' ': 7, 'm~n': 8 };
  const cases: Array<[string, unknown]> = [
    ['', doc],
    ['/foo', ['bar', 'baz']],
    ['/foo/0', 'bar'],
    ['/', 0],
    ['/a~1b', 1],
    ['/c%d', 2],
    ['/e^f', 3],
    ['/g|h', 4],
    ['/i\\j', 5],
    ['/k"l', 6],
    ['/ ', 7],
    ['/m~0n', 8],
  ];
  for (const [ptr, v] of cases) assert.deepEqual(applyJsonPatch(doc, [{ op: 'test', path: ptr, value: v }]), doc, ptr);
  assert.deepEqual(parsePointer('/a~1b/m~0n/~01'), ['a/b', 'm~n', '~1']);
});

test('a patch is atomic: a later failing op discards the earlier ones', () => {
  const doc = { pstate: { a: 1 } };
  const ops = [
    { op: 'add', path: '/pstate/b', value: 2 },
    { op: 'remove', path: '/pstate/a' },
    { op: 'remove', path: '/pstate/missing' },
  ];
  rejects(doc, ops, 2, '/pstate/missing');
  assert.deepEqual(doc, { pstate: { a: 1 } });
});

test('array indices: leading zeros, out of range and "-" outside add are errors', () => {
  const doc = { a: [1, 2] };
  rejects(doc, [{ op: 'add', path: '/a/01', value: 0 }], 0, '/a/01');
  rejects(doc, [{ op: 'add', path: '/a/3', value: 0 }], 0, '/a/3');
  rejects(doc, [{ op: 'remove', path: '/a/-' }], 0, '/a/-');
  rejects(doc, [{ op: 'replace', path: '/a/2', value: 0 }], 0, '/a/2');
  assert.deepEqual(applyJsonPatch(doc, [{ op: 'add', path: '/a/2', value: 3 }]), { a: [1, 2, 3] });
});

test('malformed operations name their index', () => {
  const doc = { x: 1 };
  rejects(doc, [{ op: 'test', path: '/x', value: 1 }, { op: 'frobnicate', path: '/x' }], 1, '/x');
  rejects(doc, [{ op: 'add', path: '/y' }], 0, '/y');
  rejects(doc, [{ op: 'add', path: 'y', value: 1 }], 0, 'y');
  rejects(doc, [{ op: 'add', path: '/~2', value: 1 }], 0, '/~2');
  rejects(doc, [{ op: 'move', path: '/x/y' }], 0, '/x/y');
  rejects(doc, [{ op: 'remove', path: '' }], 0, '');
  rejects(doc, [{ path: '/x' }], 0, '/x');
  rejects(doc, ['remove'], 0, '?');
  assert.throws(() => applyJsonPatch(doc, { op: 'remove', path: '/x' }), (e: unknown) => e instanceof CocoError && e.code === 'REGO_JSON_PATCH');
});

test('move into its own child fails; move onto itself is a no-op', () => {
  const doc = { a: { b: 1 } };
  rejects(doc, [{ op: 'move', from: '/a', path: '/a/c' }], 0, '/a/c');
  assert.deepEqual(applyJsonPatch(doc, [{ op: 'move', from: '/a', path: '/a' }]), doc);
  rejects(doc, [{ op: 'move', from: '/z', path: '/z' }], 0, '/z');
});

test('copy does not alias: changing the copy leaves the source intact', () => {
  const out = applyJsonPatch({ a: { b: 1 } }, [
    { op: 'copy', from: '/a', path: '/c' },
    { op: 'replace', path: '/c/b', value: 2 },
  ]);
  assert.deepEqual(out, { a: { b: 1 }, c: { b: 2 } });
});

test('replacing the root and adding a __proto__ member keep plain JSON semantics', () => {
  assert.deepEqual(applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: [1] }]), [1]);
  const out = applyJsonPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.deepEqual(Object.keys(out), ['__proto__']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('numbers compare by value, including exact big integers', () => {
  assert.deepEqual(applyJsonPatch({ n: 12345678901234567890n }, [{ op: 'test', path: '/n', value: 12345678901234567890n }]), { n: 12345678901234567890n });
  assert.deepEqual(applyJsonPatch({ n: 1 }, [{ op: 'test', path: '/n', value: 1n }]), { n: 1 });
  rejects({ n: 1 }, [{ op: 'test', path: '/n', value: true }], 0, '/n');
});

test('non-JSON targets and values are CocoErrors', () => {
  assert.throws(() => applyJsonPatch({ f: () => 1 }, []), (e: unknown) => e instanceof CocoError && e.code === 'REGO_JSON_PATCH');
  rejects({}, [{ op: 'add', path: '/x', value: Number.NaN }], 0, '/x');
  rejects({}, [{ op: 'add', path: '/x', value: new Date(0) }], 0, '/x');
});

// Random documents and patches whose paths are drawn mostly from the document's own pointers.
const key = fc.oneof(fc.constantFrom('a', 'b', 'pstate', '~', '/', '-', '0', '1', '__proto__'), fc.string({ maxLength: 3 }));
const json = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.boolean(), fc.integer(), fc.string({ maxLength: 4 }), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(key, tie('v'), { maxKeys: 3 })),
})).v;

function pointers(v: unknown, prefix = ''): string[] {
  const out = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...pointers(x, `${prefix}/${i}`)));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...pointers(x, `${prefix}/${encodePointerToken(k)}`));
  return out;
}

test('fuzz: random patches return a value or throw a CocoError, and never mutate the input', () => {
  fc.assert(
    fc.property(json, fc.array(fc.record({ op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', 'bogus'), p: fc.nat(), f: fc.nat(), value: json, raw: fc.oneof(fc.string({ maxLength: 6 }), fc.constant('/-')) }), { maxLength: 5 }), (doc, specs) => {
      const ptrs = pointers(doc);
      const ops = specs.map((s, i) => ({
        op: s.op,
        path: i % 4 === 3 ? s.raw : ptrs[s.p % ptrs.length]! + (s.p % 5 === 0 ? '/-' : ''),
        from: ptrs[s.f % ptrs.length]!,
        value: s.value,
      }));
      const before = JSON.stringify(doc);
      try {
        const out = applyJsonPatch(doc, ops);
        JSON.stringify(out);
      } catch (e) {
        assert.ok(e instanceof CocoError && e.code === 'REGO_JSON_PATCH', String(e));
      }
      assert.equal(JSON.stringify(doc), before);
    }),
    { numRuns: 400 },
  );
});

test('fuzz: arbitrary values as patches never crash', () => {
  fc.assert(
    fc.property(fc.anything(), fc.anything(), (doc, ops) => {
      try {
        applyJsonPatch(doc, ops);
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
      }
    }),
    { numRuns: 300 },
  );
});

test('Engine.patchData patches the whole data document and keeps the prepared form', async () => {
  const { Engine } = await import('./index.js');
  const engine = new Engine();
  engine.addPolicy('p.rego', 'package p\nn := count(data.pstate)\nv := data.pstate[input.k]');
  engine.addData({ pstate: {} });
  const prepared = engine.prepare();
  assert.equal(engine.evalRule('data.p.n'), 0);
  engine.patchData([{ op: 'add', path: '/pstate/c1', value: 3 }]);
  assert.equal(engine.prepare(), prepared, 'patching data does not recompile');
  engine.setInput({ k: 'c1' });
  assert.equal(engine.evalRule('data.p.v'), 3);
  assert.throws(() => engine.patchData([{ op: 'remove', path: '/pstate/c1' }, { op: 'remove', path: '/pstate/c1' }]), (e: unknown) => e instanceof CocoError && e.code === 'REGO_JSON_PATCH');
  assert.deepEqual(engine.dataJson(), { pstate: { c1: 3 } });
  assert.throws(() => engine.patchData([{ op: 'replace', path: '', value: [] }]), (e: unknown) => e instanceof CocoError && e.code === 'REGO_DATA');
  assert.equal(engine.evalRule('data.p.n'), 1);
  prepared.patchData([{ op: 'remove', path: '/pstate/c1' }]);
  assert.equal(prepared.evalRule('data.p.n'), 0);
});

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

test('a deeply nested op value is a limit CocoError, not a stack overflow', () => {
  for (const op of [
    { op: 'add', path: '/b', value: nested(5000) },
    { op: 'replace', path: '/a', value: nested(100_000) },
    { op: 'test', path: '/a', value: nested(100_000) },
  ]) {
    assert.throws(
      () => applyJsonPatch({ a: 1 }, [op]),
      (e: unknown) => e instanceof CocoError && e.code === 'REGO_JSON_PATCH' && (e.kind === 'limit' || e.kind === 'input'),
      op.op,
    );
  }
  assert.throws(() => applyJsonPatch(nested(5000), []), (e: unknown) => e instanceof CocoError && e.kind === 'limit');
  assert.throws(() => applyJsonPatch({ a: nested(5000) }, [{ op: 'add', path: '/b', value: 1 }]), (e: unknown) => e instanceof CocoError && e.kind === 'limit');
});

test('repeated copies of the root are bounded in work and size', () => {
  const ops = Array.from({ length: 30 }, (_, i) => ({ op: 'copy', from: '', path: `/k${i}` }));
  const t0 = performance.now();
  assert.throws(
    () => applyJsonPatch({ a: 'x' }, ops),
    (e: unknown) => e instanceof CocoError && e.kind === 'limit' && /more than/.test(e.message),
  );
  assert.ok(performance.now() - t0 < 10_000, `took ${performance.now() - t0} ms`);
  // A few doublings stay within the bound and give the exact document.
  const small = applyJsonPatch({ a: 'x' }, ops.slice(0, 2)) as Record<string, unknown>;
  assert.deepEqual(small, { a: 'x', k0: { a: 'x' }, k1: { a: 'x', k0: { a: 'x' } } });
});
