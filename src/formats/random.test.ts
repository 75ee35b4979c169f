import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { randomBytesPooled } from './random.js';

test('pooled random bytes: the asked length, never the same bytes twice, earlier values untouched by refills', () => {
  const held: Buffer[] = [];
  const copies: Buffer[] = [];
  // Enough draws to go through the pool many times over.
  for (let i = 0; i < 3000; i++) {
    const n = [12, 32, 1, 0, 255, 256][i % 6];
    const b = randomBytesPooled(n);
    assert.equal(b.length, n);
    held.push(b);
    copies.push(Buffer.from(b));
  }
  for (let i = 0; i < held.length; i++) assert.ok(held[i].equals(copies[i]), `value ${i} was overwritten`);
  const seen = new Set<string>();
  for (const b of copies) {
    if (b.length < 12) continue;
    const hex = b.toString('hex');
    assert.ok(!seen.has(hex), 'a value was handed out twice');
    seen.add(hex);
  }
  // Views never overlap: within one pool buffer, the ranges handed out are disjoint.
  const ranges = held.filter((b) => b.length > 0).map((b) => ({ buf: b.buffer, start: b.byteOffset, end: b.byteOffset + b.length }));
  const byBuffer = new Map<ArrayBufferLike, { start: number; end: number }[]>();
  for (const r of ranges) byBuffer.set(r.buf, [...(byBuffer.get(r.buf) ?? []), r]);
  for (const rs of byBuffer.values()) {
    rs.sort((a, b) => a.start - b.start);
    for (let i = 1; i < rs.length; i++) assert.ok(rs[i].start >= rs[i - 1].end, 'two values share bytes');
  }
});

test('pooled random bytes: larger requests come straight from the CSPRNG, bad counts are refused', () => {
  const big = randomBytesPooled(5000);
  assert.equal(big.length, 5000);
  assert.ok(!big.equals(Buffer.alloc(5000)));
  for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 60]) assert.throws(() => randomBytesPooled(bad), RangeError);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1024 }), (n) => randomBytesPooled(n).length === n),
  );
});

test('pooled random bytes look uniform (byte frequencies of 256 KiB within a wide bound)', () => {
  const counts = new Array<number>(256).fill(0);
  for (let i = 0; i < 8192; i++) for (const x of randomBytesPooled(32)) counts[x]++;
  // 1024 expected per value; a stuck or zeroed pool would put everything in a few buckets.
  for (const c of counts) assert.ok(c > 800 && c < 1250, `byte frequency ${c}`);
});
