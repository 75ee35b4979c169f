/**
 * Deterministic fuzz inputs: input `index` of a campaign with seed `seed` is always the same bytes, so any
 * finding is reproduced from (target, seed, index) alone. Half the inputs mutate a real vector of the
 * target, a quarter are random bytes, a quarter splice two vectors or repeat a chunk (structure-sized).
 */

/** A small, fast PRNG (mulberry32) seeded by mixing (seed, index). */
export function rng(seed: number, index: number): () => number {
  let s = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x30, 0x39, 0x22, 0x5b, 0x7b, 0x5d, 0x7d, 0x2c, 0x3a, 0x0a];
const INTERESTING32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffff000, 0x1000, 0x10000];

function cat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function mutate(r: () => number, base: Uint8Array, maxLen: number): Uint8Array {
  const pick = (n: number) => Math.floor(r() * n);
  let b: Uint8Array = Uint8Array.from(base);
  const rounds = 1 + pick(8);
  for (let k = 0; k < rounds; k++) {
    switch (pick(9)) {
      case 0: // flip a bit
        if (b.length) b[pick(b.length)] ^= 1 << pick(8);
        break;
      case 1: // set an interesting byte
        if (b.length) b[pick(b.length)] = INTERESTING[pick(INTERESTING.length)]!;
        break;
      case 2: // write an interesting 32-bit little-endian value (sizes, offsets, counts)
        if (b.length >= 4) new DataView(b.buffer, b.byteOffset).setUint32(pick(b.length - 3), INTERESTING32[pick(INTERESTING32.length)]!, true);
        break;
      case 3: // truncate
        b = b.subarray(0, pick(b.length + 1));
        break;
      case 4: {
        // delete a range
        const at = pick(b.length + 1);
        const n = pick(Math.min(64, b.length - at) + 1);
        b = cat(b.subarray(0, at), b.subarray(at + n));
        break;
      }
      case 5: {
        // duplicate a chunk many times (deep nesting, long references, big counts)
        const at = pick(b.length + 1);
        const chunk = b.subarray(at, at + 1 + pick(16));
        const times = 1 + pick(r() < 0.2 ? 4000 : 16);
        const reps: Uint8Array[] = [];
        for (let i = 0; i < times && i * chunk.length < maxLen; i++) reps.push(chunk);
        b = cat(b.subarray(0, at), ...reps, b.subarray(at));
        break;
      }
      case 6: // random byte
        if (b.length) b[pick(b.length)] = pick(256);
        break;
      case 7: {
        // insert random bytes
        const at = pick(b.length + 1);
        const ins = Array.from({ length: 1 + pick(8) }, () => pick(256));
        b = cat(b.subarray(0, at), ins, b.subarray(at));
        break;
      }
      default: {
        // copy a range over another place
        if (b.length < 2) break;
        const from = pick(b.length);
        const to = pick(b.length);
        const n = pick(Math.min(32, b.length - Math.max(from, to)) + 1);
        b.copyWithin(to, from, from + n);
      }
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}

export function makeInput(seed: number, index: number, seeds: readonly Uint8Array[], maxLen: number): Uint8Array {
  const r = rng(seed, index);
  const kind = r();
  if (seeds.length === 0 || kind < 0.25) {
    const n = Math.floor(r() * Math.min(maxLen, r() < 0.9 ? 512 : maxLen));
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
    return out;
  }
  const base = seeds[Math.floor(r() * seeds.length)]!;
  if (kind < 0.35 && seeds.length > 1) {
    const other = seeds[Math.floor(r() * seeds.length)]!;
    const cut = Math.floor(r() * base.length);
    const from = Math.floor(r() * other.length);
    return mutate(r, cat(base.subarray(0, cut), other.subarray(from)).subarray(0, maxLen), maxLen);
  }
  return mutate(r, base, maxLen);
}
