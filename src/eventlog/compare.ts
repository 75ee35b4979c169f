/**
 * Replayed registers against the values a TPM quoted (or an RTMR a TD report holds), naming the first event
 * that breaks each mismatching chain (specs/measured-boot.md §3.5 step 5, §3.7).
 */
import { bytesEqual, toHex } from '../formats/bytes.js';
import { hashAlgorithmByName, type HashAlgorithm } from './algorithms.js';
import { checkEventDigests } from './digest-rules.js';
import type { EventLog, LogEvent } from './parse.js';
import { pcClientInitialValues, type RegisterBanks, type ReplayResult } from './replay.js';

export interface DivergentEvent {
  seq: number;
  index: number;
  typeName: string;
  reason: string;
}

export interface RegisterComparison {
  bank: string;
  register: number;
  ok: boolean;
  expected: Uint8Array;
  /** The replayed value (the initial value when no event extends the register). */
  replayed: Uint8Array;
  /** The events extended into this register, by `seq`. */
  events: number[];
  /** For a mismatch: the first event that breaks the chain, when the log shows which one. */
  firstDivergent?: DivergentEvent;
}

export interface ReplayComparison {
  ok: boolean;
  registers: RegisterComparison[];
  /** The earliest divergent event over all mismatching registers. */
  firstDivergent?: DivergentEvent & { bank: string; register: number };
}

export interface CompareOptions {
  /** Initial value of a register no event extends (default: PC Client values, see `pcClientInitialValues`). */
  initial?: (register: number, alg: HashAlgorithm) => Uint8Array;
}

function divergent(event: LogEvent, reason: string): DivergentEvent {
  return { seq: event.seq, index: event.index, typeName: event.typeName, reason };
}

/**
 * Compares `replay` with `expected` (bank → register → value) for every register in `expected`.
 * A mismatch names its first divergent event when one of two things shows it: the expected value equals the
 * chain's value part-way (the events after that point were logged but are not in the register), or an event's
 * digest does not hash its own data (see `digest-rules.ts`). Otherwise `firstDivergent` is absent: the
 * register holds extends the log does not record, or an event whose digest the log alone cannot check.
 * Banks in `expected` the replay does not have are compared against nothing and fail.
 */
export function compareReplay(log: EventLog, replay: ReplayResult, expected: RegisterBanks, options: CompareOptions = {}): ReplayComparison {
  const initialOf = options.initial ?? pcClientInitialValues(log);
  const bySeq = new Map(log.events.map((e) => [e.seq, e]));
  const registers: RegisterComparison[] = [];
  for (const [bank, values] of expected) {
    const alg = hashAlgorithmByName(bank);
    const replayed = replay.banks.get(bank);
    for (const [register, want] of [...values].sort((a, b) => a[0] - b[0])) {
      const chain = replay.chains.get(bank)?.get(register) ?? [];
      const start = replay.initial.get(bank)?.get(register) ?? (alg !== undefined ? initialOf(register, alg) : new Uint8Array(want.length));
      const got = replayed?.get(register) ?? start;
      const ok = replayed !== undefined && bytesEqual(got, want);
      const cmp: RegisterComparison = { bank, register, ok, expected: want, replayed: got, events: chain.map((s) => s.seq) };
      if (!ok && replayed !== undefined) {
        const prefix = bytesEqual(start, want) ? -1 : chain.findIndex((s) => bytesEqual(s.value, want));
        if (prefix < chain.length - 1 && (prefix >= 0 || bytesEqual(start, want))) {
          const next = bySeq.get(chain[prefix + 1].seq) as LogEvent;
          cmp.firstDivergent = divergent(next, `${bank} PCR ${register} equals the chain before this event: this and later events are logged but not extended`);
        } else {
          for (const step of chain) {
            const event = bySeq.get(step.seq) as LogEvent;
            const rule = checkEventDigests(event);
            if (rule.ok === false) {
              cmp.firstDivergent = divergent(event, `${rule.badBanks.join(', ')} digest does not hash the event data`);
              break;
            }
          }
        }
      }
      registers.push(cmp);
    }
  }
  let firstDivergent: ReplayComparison['firstDivergent'];
  for (const r of registers) {
    if (r.firstDivergent !== undefined && (firstDivergent === undefined || r.firstDivergent.seq < firstDivergent.seq)) {
      firstDivergent = { ...r.firstDivergent, bank: r.bank, register: r.register };
    }
  }
  return { ok: registers.every((r) => r.ok), registers, ...(firstDivergent === undefined ? {} : { firstDivergent }) };
}

export interface LogDifference {
  /** Position in both logs of the first record that differs (or where the shorter log ends). */
  seq: number;
  field: 'index' | 'type' | 'digests' | 'data' | 'missing';
  detail: string;
}

/**
 * The first record at which two logs differ (seed 004: a reference VM's log against a cloud VM's), or
 * undefined when they hold the same records.
 */
export function firstLogDifference(a: EventLog, b: EventLog): LogDifference | undefined {
  const n = Math.min(a.events.length, b.events.length);
  for (let i = 0; i < n; i++) {
    const x = a.events[i];
    const y = b.events[i];
    if (x.index !== y.index) return { seq: i, field: 'index', detail: `PCR ${x.index} vs ${y.index}` };
    if (x.type !== y.type) return { seq: i, field: 'type', detail: `${x.typeName} vs ${y.typeName}` };
    const dx = x.digests.map((d) => `${d.name}:${toHex(d.digest)}`).join(',');
    const dy = y.digests.map((d) => `${d.name}:${toHex(d.digest)}`).join(',');
    if (dx !== dy) return { seq: i, field: 'digests', detail: `${x.typeName} in PCR ${x.index} has different digests` };
    if (!bytesEqual(x.data, y.data)) return { seq: i, field: 'data', detail: `${x.typeName} in PCR ${x.index} has different event data` };
  }
  if (a.events.length !== b.events.length) return { seq: n, field: 'missing', detail: `one log ends after ${n} records, the other has ${Math.max(a.events.length, b.events.length)}` };
  return undefined;
}
