/**
 * The shared memory of the level-0 pass (verity-level0.ts, verity-worker.ts): a counter from which every
 * hashing thread claims the next run of data blocks, and a ring of `ringRuns` run slots the digests are
 * written into in place. A run may only be hashed once the run `ringRuns` before it has been consumed, which
 * bounds memory whatever the image size.
 */

/** Int32 indices into the state array; `done + slot` holds (run + 1) of the last run finished in a slot. */
export const STATE = { next: 0, consumed: 1, stop: 2, done: 3 } as const;

export interface Level0Shared {
  /** Int32Array(STATE.done + ringRuns) over a SharedArrayBuffer. */
  state: SharedArrayBuffer;
  /** ringRuns · runBlocks · digestSize bytes. */
  digests: SharedArrayBuffer;
  ringRuns: number;
  runBlocks: number;
  blocks: number;
  digestSize: number;
}

/**
 * Claims the next run, or returns −1 when there is none left or the pass was stopped. A thread that may
 * block (`wait`, the workers) claims unconditionally and then waits for its ring slot to be consumed; the
 * consuming thread never waits on itself, so it only claims a run whose slot is already free.
 */
export function claimRun(state: Int32Array, s: Level0Shared, wait: boolean): number {
  const total = Math.ceil(s.blocks / s.runBlocks);
  if (!wait) {
    for (;;) {
      const next = Atomics.load(state, STATE.next);
      if (next >= total || Atomics.load(state, STATE.stop) !== 0 || next - Atomics.load(state, STATE.consumed) >= s.ringRuns) return -1;
      if (Atomics.compareExchange(state, STATE.next, next, next + 1) === next) return next;
    }
  }
  if (Atomics.load(state, STATE.stop) !== 0) return -1;
  const run = Atomics.add(state, STATE.next, 1);
  if (run >= total) return -1;
  for (;;) {
    const consumed = Atomics.load(state, STATE.consumed);
    if (Atomics.load(state, STATE.stop) !== 0) return -1;
    if (run - consumed < s.ringRuns) return run;
    Atomics.wait(state, STATE.consumed, consumed);
  }
}
