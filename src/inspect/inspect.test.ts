import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { readVector, readVectorJson } from '../test-support/vectors.js';
import { bufferIO } from '../cli/io.js';
import { run } from '../cli/program.js';
import { vectorPath } from '../test-support/vectors.js';
import { inspect, INSPECT_MAX_BYTES } from './inspect.js';

const index = readVectorJson<{ vectors: any[] }>('snp', 'reports', 'index.json');
const good = index.vectors.filter((v) => !v.negative);
const field = (r: ReturnType<typeof inspect>, name: string) => r.fields.find((f) => f.name === name)!;

for (const v of good) {
  test(`annotates every field of ${v.id} and verifies it with its VCEK`, () => {
    const r = inspect(new Uint8Array(readVector('snp', v.report)), { endorsement: new Uint8Array(readVector('snp', v.endorsement_cert)), now: new Date(v.suggested_verification_time) });
    assert.equal(r.format, 'snp-report');
    const m = field(r, 'MEASUREMENT');
    assert.deepEqual([m.offset, m.size, m.value], [0x90, 48, v.fields.measurement]);
    assert.equal(field(r, 'REPORT_DATA').value, v.fields.report_data);
    assert.equal(field(r, 'POLICY').value, v.fields.policy);
    assert.equal(field(r, 'POLICY').flags!.debug, (BigInt(v.fields.policy) & (1n << 19n)) !== 0n);
    assert.equal(field(r, 'KEY_INFO').flags!.signing_key, v.signer.toLowerCase());
    assert.ok(r.fields.every((f) => f.meaning.length > 0));
    const failed = r.checks.filter((c) => !c.ok);
    // chip-id is not checked for VLEK-signed reports; every other expectation of the vector must hold.
    assert.deepEqual(failed, []);
    assert.ok(r.checks.some((c) => c.id === 'signature') && r.checks.some((c) => c.id === 'chain'));
  });
}

test('a tampered report shows its fields and a failing signature check', () => {
  const v = index.vectors.find((x) => x.id === 'neg-gsg-milan-v2-tampered');
  const base = index.vectors.find((x) => x.id === 'gsg-milan-v2');
  const r = inspect(new Uint8Array(readVector('snp', v.report)), { endorsement: new Uint8Array(readVector('snp', v.endorsement_cert)), now: new Date(base.suggested_verification_time) });
  assert.equal(r.checks.find((c) => c.id === 'signature')?.ok, false);
  assert.equal(r.checks.filter((c) => c.id === 'chain').every((c) => c.ok), true);
});

test('the hex and Azure HCL forms give the same fields, HCL offsets after its 0x20-byte header', () => {
  const v = index.vectors.find((x) => x.id === 'azure-milan-v2');
  const raw = readVector('snp', v.report);
  const fromRaw = inspect(new Uint8Array(raw));
  const fromHex = inspect(new TextEncoder().encode(raw.toString('hex') + '\n'));
  assert.equal(fromHex.form, 'hex');
  assert.deepEqual(fromHex.fields, fromRaw.fields);
  const hcl = inspect(new Uint8Array(readVector('snp', 'reports', 'azure-milan-v2.hcl-report.bin')));
  assert.equal(hcl.form, 'hcl');
  assert.equal(field(hcl, 'MEASUREMENT').value, v.fields.measurement);
  assert.equal(field(hcl, 'MEASUREMENT').offset, 0x90 + 0x20);
  // Without a VCEK there is nothing to verify against; the inspector says so instead of failing.
  assert.deepEqual(fromRaw.checks, []);
  assert.match(fromRaw.notes[0], /^not verified: /);
});

test('an EAR token shows its header, claims and each submodule\'s trust vector', () => {
  const t = readVectorJson('trustee', 'generated', 'ear-token-synthetic.json');
  const r = inspect(new TextEncoder().encode(t.token));
  assert.equal(r.format, 'ear-token');
  assert.equal(r.fields.find((f) => f.name === 'header.alg')?.value, t.header.alg);
  const [sub, s] = Object.entries(t.claims.submods as Record<string, any>)[0];
  const tv = r.fields.find((f) => f.name === `submods.${sub}.ear.trustworthiness-vector`)!;
  assert.deepEqual(tv.flags, s['ear.trustworthiness-vector']);
  assert.match(r.title, new RegExp(`${sub}: ${s['ear.status']}`));
});

test('truncated, oversized, flipped and random input is an input error, never a crash', () => {
  const raw = new Uint8Array(readVector('snp', good[0].report));
  const isInput = (e: unknown) => e instanceof CocoError && e.kind !== 'internal';
  assert.throws(() => inspect(raw.subarray(0, 1000)), isInput);
  assert.throws(() => inspect(new Uint8Array(INSPECT_MAX_BYTES + 1)), (e) => e instanceof CocoError && e.kind === 'limit');
  assert.throws(() => inspect(new TextEncoder().encode('eyJhbGciOi.eyJ.x')), isInput);
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: raw.length - 1 }).map((i) => { const c = raw.slice(); c[i] ^= 0xff; return c; })), (bytes) => {
      try {
        inspect(bytes);
      } catch (e) {
        assert.ok(isInput(e), String(e));
      }
    }),
    { numRuns: 300 },
  );
});

test('cocokit inspect prints the annotated fields and the checks, and exits 2 when one fails', async () => {
  const v = index.vectors.find((x) => x.id === 'azure-milan-v3');
  const io = bufferIO();
  assert.equal(await run(['inspect', vectorPath('snp', v.report), '--vcek', vectorPath('snp', v.endorsement_cert), '--at', v.suggested_verification_time], io), 0, io.err());
  assert.match(io.out(), new RegExp(`0x090  48  MEASUREMENT +${v.fields.measurement}`));
  assert.match(io.out(), /^ok {3}signature: /m);
  assert.match(io.out(), /debug=false/);
  const neg = index.vectors.find((x) => x.id === 'neg-gsg-milan-v2-tampered');
  const io2 = bufferIO();
  assert.equal(await run(['inspect', vectorPath('snp', neg.report), '--vcek', vectorPath('snp', neg.endorsement_cert), '--at', '2022-09-25T00:55:28Z'], io2), 2);
  assert.match(io2.out(), /^FAIL signature: /m);
});
