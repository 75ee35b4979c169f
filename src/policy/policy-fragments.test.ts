import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { Engine } from '../rego/index.js';
import { FRAGMENT_PREFIX, MAX_DEPTH, fragmentJson, readPolicyDataDocument } from './policy-fragments.js';

type Json = Record<string, unknown>;

const isInput = (re?: RegExp) => (e: unknown): boolean => e instanceof CocoError && e.kind === 'input' && e.code === 'AGENT_POLICY_DATA' && (re === undefined || re.test(e.message));

function render(value: unknown, minBytes?: number): string {
  const { fragments, body } = fragmentJson(value, minBytes);
  return `package p\n${fragments.map(([n, t]) => `${n} := ${t}\n`).join('')}policy_data := ${body}\n`;
}

/** What cocokit's Rego engine makes of data.p.policy_data in a rendered module. */
function regoValue(text: string): unknown {
  const e = new Engine({ strict: false });
  e.addPolicy('p', text, { regoVersion: 'v1' });
  const rows = e.evalQuery('data.p.policy_data').result;
  assert.equal(rows.length, 1);
  return rows[0]!.expressions[0]!.value;
}

const mount = (d: string): Json => ({ destination: d, source: `${d}-source`, type_: 'bind', options: ['rbind', 'rprivate', 'ro'] });
const container = (i: number): Json => ({ name: `c${i}`, mounts: [mount('/proc'), mount('/dev'), mount(`/data/${i % 2}`)], caps: { Bounding: ['CAP_CHOWN', 'CAP_KILL'], Effective: ['CAP_CHOWN', 'CAP_KILL'] } });

test('repeated objects and arrays are written once, largest first, and read back and evaluated as the same value', () => {
  const data = { containers: Array.from({ length: 6 }, (_, i) => container(i)), common: { x: 1 } };
  const text = render(data);
  const defs = [...text.matchAll(/^(policy_fragment_\d+) := (.*)$/gm)];
  // The mount list of even and of odd containers each become one fragment; the mounts and capability set
  // shared across both kinds become fragments named inside them and in each container.
  assert.ok(defs.length >= 3, text);
  assert.deepEqual(defs.map((d) => d[1]), defs.map((_, i) => `${FRAGMENT_PREFIX}${i + 1}`), 'numbered in order of definition');
  for (const [i, d] of defs.entries()) {
    for (const later of d[2]!.matchAll(/policy_fragment_(\d+)/g)) assert.ok(Number(later[1]) <= i, `${d[1]} names only fragments defined before it`);
  }
  assert.ok(!text.includes('"/proc-source"', text.indexOf('policy_data :=')), 'no repeated mount is left inline');
  assert.equal(text.match(/"\/proc-source"/g)?.length, 1, 'the /proc mount is written once');
  assert.deepEqual(readPolicyDataDocument(text), data);
  assert.deepEqual(regoValue(text), data);
  assert.equal(render(data), text, 'deterministic');
  // Values under the size threshold stay inline; nothing repeated means no fragment.
  assert.ok(!render({ a: [1, 2], b: [1, 2] }).includes(FRAGMENT_PREFIX));
  assert.ok(!render({ a: { k: 'x'.repeat(80) }, b: { k: 'y'.repeat(80) } }).includes(FRAGMENT_PREFIX));
  assert.ok(render({ a: { k: 'x'.repeat(80) }, b: { k: 'x'.repeat(80) } }).includes(`${FRAGMENT_PREFIX}1 := {"k":`));
});

test('any JSON object round-trips through fragments, for the reader and for the Rego engine', () => {
  const unit = fc.oneof(fc.constantFrom('ab', 'c', '"q"', '\\', 'é', '\u0001', '__proto__'), fc.string({ maxLength: 4 }));
  const leaf = fc.oneof(unit, fc.integer({ min: -1e6, max: 1e6 }), fc.boolean(), fc.constant(null), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }));
  const tree = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(unit, tie('node'), { maxKeys: 4 })),
  })).node;
  // Repetition is what fragments are for: objects built from a few shared subtrees.
  const doc = fc.tuple(fc.array(tree, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 12 })).map(([parts, picks]) => ({ parts, picked: picks.map((p) => parts[p % parts.length]) }));
  fc.assert(
    fc.property(doc, fc.integer({ min: 2, max: 80 }), (value, minBytes) => {
      const plain = JSON.parse(JSON.stringify(value)) as unknown;
      const text = render(value, minBytes);
      assert.deepEqual(readPolicyDataDocument(text), plain);
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(doc, (value) => {
      const text = render(value, 8);
      assert.deepEqual(JSON.stringify(regoValue(text)), JSON.stringify(regoValue(`package p\npolicy_data := ${JSON.stringify(value)}\n`)));
    }),
    { numRuns: 40 },
  );
});

test('unknown names, cycles, duplicates, trailing text and garbled JSON are input errors naming the problem', () => {
  const cases: [string, RegExp][] = [
    ['policy_data := {"a": policy_fragment_1}', /names policy_fragment_1 at offset \d+, which the policy does not define/],
    ['policy_data := {"a": input}', /names input/],
    ['policy_fragment_1 := [policy_fragment_2]\npolicy_data := {"a": policy_fragment_1}', /policy_fragment_1: names policy_fragment_2/],
    ['policy_fragment_1 := [policy_fragment_1]\npolicy_data := {"a": policy_fragment_1}', /policy_fragment_1: refers to itself/],
    ['policy_fragment_1 := [policy_fragment_2]\npolicy_fragment_2 := {"x": policy_fragment_1}\npolicy_data := {}', /refers to itself through policy_fragment_1 -> policy_fragment_2 -> policy_fragment_1/],
    ['policy_fragment_1 := [1]\npolicy_fragment_1 := [2]\npolicy_data := {}', /policy_fragment_1: defined twice/],
    ['policy_fragment_1 := [1] junk\npolicy_data := {}', /policy_fragment_1: unexpected text after the value/],
    ['policy_fragment_1 := [1,\npolicy_data := {}', /policy_fragment_1: expected ',' or '\]'/],
    ['policy_data := {"a": 1} x', /policy_data: unexpected text after the document/],
    ['policy_data := {"a": 1', /expected ',' or '}': the text ends/],
    ['policy_data := {a: 1}', /expected an object key/],
    ['policy_data := {"a" 1}', /expected ':'/],
    ['policy_data := [1 2]', /expected ',' or '\]'/],
    ['policy_data := "\u0001"', /policy_data: (malformed string|expected a value)/],
    ['policy_data := 01', /unexpected text after the document/],
    [`policy_data := ${'['.repeat(MAX_DEPTH + 2)}${']'.repeat(MAX_DEPTH + 2)}`, /nested deeper than/],
    ['policy', /has no "policy_data :=" document/],
  ];
  for (const [text, re] of cases) assert.throws(() => readPolicyDataDocument(text), isInput(re), `${text} -> ${re}`);
  // Doubling fragments would expand to 2^40 values: refused before anything is built.
  const bomb = Array.from({ length: 40 }, (_, i) => `policy_fragment_${i + 1} := [${i === 0 ? '1,1' : `policy_fragment_${i},policy_fragment_${i}`}]`).join('\n');
  assert.throws(() => readPolicyDataDocument(`${bomb}\npolicy_data := {"a": policy_fragment_40}`), isInput(/expands to more than/));
  // Very deep nesting past the limit is refused, not a stack overflow.
  assert.throws(() => readPolicyDataDocument(`policy_data := ${'['.repeat(200_000)}`), isInput(/nested deeper/));
});

test('truncated, bit-flipped and random texts give an input error or a value, never a crash', () => {
  const text = render({ containers: Array.from({ length: 4 }, (_, i) => container(i)) });
  const tryRead = (t: string): void => {
    try {
      readPolicyDataDocument(t);
    } catch (e) {
      assert.ok(isInput()(e), String(e));
    }
  };
  for (let cut = 0; cut < text.length; cut += 7) {
    // Every proper cut of the document ends inside policy_data's value: never read as a value.
    if (cut < text.trimEnd().length && cut > text.indexOf('policy_data :=')) assert.throws(() => readPolicyDataDocument(text.slice(0, cut)), isInput());
    else tryRead(text.slice(0, cut));
  }
  const bytes = Buffer.from(text);
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }), (flips) => {
      const b = Buffer.from(bytes);
      for (const [at, bit] of flips) b[at]! ^= 1 << bit;
      tryRead(b.toString('latin1'));
    }),
    { numRuns: 400 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 200 }), (s, raw) => {
      tryRead(`policy_fragment_1 := ${s}\npolicy_data := {"a": policy_fragment_1}`);
      tryRead(`policy_data := ${s}`);
      tryRead(Buffer.from(raw).toString('latin1'));
    }),
    { numRuns: 300 },
  );
});
