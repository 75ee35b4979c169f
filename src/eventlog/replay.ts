/**
 * Replaying an event log into measurement registers: `R[alg] = H_alg(R[alg] ‖ digest)` for every event that
 * is extended (specs/measured-boot.md §3.7 "Replay"). The register an event extends is a caller's choice, so
 * the same replay serves TPM PCRs (index = PCR) and TDX RTMRs from a CCEL (index 1…4 → RTMR 0…3).
 *
 * Alongside the final values it keeps every register's chain (the value after each event), so a comparison
 * can say where a chain stops matching (`compare.ts`).
 */
import { CocoError } from '../errors.js';
import { digestWith, hashAlgorithmById, hashAlgorithmByName, type HashAlgorithm } from './algorithms.js';
import { EV_EFI_HCRTM_EVENT, EV_NO_ACTION } from './event-types.js';
import type { EventLog, LogEvent } from './parse.js';

/** bank name → register → value; the same shape as `measure/pcr.ts`'s `PcrBanks`. */
export type RegisterBanks = Map<string, Map<number, Uint8Array>>;

export interface ChainStep {
  /** The event (its `seq` in the log). */
  seq: number;
  /** The digest extended. */
  digest: Uint8Array;
  /** The register's value after the extend. */
  value: Uint8Array;
}

export interface ReplayOptions {
  /** Banks to replay, by TPM_ALG_ID or bank name; default: every bank of the log Node can hash. */
  banks?: readonly (number | string)[];
  /**
   * The register an event extends, or undefined to leave the event out (default: the log's index, for
   * indices 0…23 — a PC Client TPM's PCRs).
   */
  register?: (event: LogEvent) => number | undefined;
  /** A register's value before the first extend (default: `pcClientInitialValues(log)`). */
  initial?: (register: number, alg: HashAlgorithm) => Uint8Array;
  /** Events to extend (default: every event except EV_NO_ACTION, which PFP §10.4.1 says is never extended). */
  extends?: (event: LogEvent) => boolean;
}

export interface ReplayResult {
  /** Final value of every register some event extended, per bank. */
  banks: RegisterBanks;
  /** Each register's chain of extends, per bank. */
  chains: Map<string, Map<number, ChainStep[]>>;
  /** Initial value each replayed register started from, per bank. */
  initial: RegisterBanks;
  /** Banks present in the log that were not replayed because Node cannot compute their hash. */
  skippedBanks: string[];
}

/**
 * PC Client initial PCR values (PFP §3.3.3, specs/measured-boot.md §3.7): PCRs 17–22 start all-ones, the rest
 * zero; PCR 0 ends in the startup locality when a `StartupLocality` EV_NO_ACTION event says so, and in 4
 * when an H-CRTM event is logged.
 */
export function pcClientInitialValues(log: EventLog): (register: number, alg: HashAlgorithm) => Uint8Array {
  let pcr0Last = 0;
  for (const e of log.events) {
    if (e.index !== 0) continue;
    if (e.type === EV_EFI_HCRTM_EVENT) {
      pcr0Last = 4;
      break;
    }
    if (e.type === EV_NO_ACTION && e.data.length === 17 && Buffer.from(e.data.subarray(0, 16)).toString('latin1') === 'StartupLocality\0') {
      pcr0Last = e.data[16];
    }
  }
  return (register, alg) => {
    const v = new Uint8Array(alg.size);
    if (register >= 17 && register <= 22) v.fill(0xff);
    else if (register === 0) v[alg.size - 1] = pcr0Last;
    return v;
  };
}

/** Every register starts at zero (TDX RTMRs, and the "from all-zero" replay some tools print). */
export function zeroInitialValues(_register: number, alg: HashAlgorithm): Uint8Array {
  return new Uint8Array(alg.size);
}

function pcrIndex(event: LogEvent): number | undefined {
  return event.index <= 23 ? event.index : undefined;
}

/**
 * Replays `log` per bank.
 * @throws CocoError EVENTLOG_BANK (kind `usage`): a requested bank is unknown, missing from the log, or not
 *   computable here
 */
export function replayEventLog(log: EventLog, options: ReplayOptions = {}): ReplayResult {
  const logAlgs = log.format === 'crypto-agile' ? (log.specId?.algorithms ?? []).map((a) => a.alg) : [0x0004];
  let algs: HashAlgorithm[];
  const skippedBanks: string[] = [];
  if (options.banks !== undefined) {
    algs = options.banks.map((b) => {
      const a = typeof b === 'number' ? hashAlgorithmById(b) : hashAlgorithmByName(b);
      if (a === undefined || a.node === undefined) throw new CocoError('EVENTLOG_BANK', `bank ${String(b)} cannot be replayed here`, { kind: 'usage' });
      if (!logAlgs.includes(a.id)) throw new CocoError('EVENTLOG_BANK', `the event log has no ${a.name} bank`, { kind: 'usage', detail: { bank: a.name } });
      return a;
    });
  } else {
    algs = [];
    for (const id of logAlgs) {
      const a = hashAlgorithmById(id);
      if (a?.node !== undefined) algs.push(a);
      else skippedBanks.push(a?.name ?? `0x${id.toString(16).padStart(4, '0')}`);
    }
  }
  const registerOf = options.register ?? pcrIndex;
  const initialOf = options.initial ?? pcClientInitialValues(log);
  const isExtended = options.extends ?? ((e: LogEvent) => e.type !== EV_NO_ACTION);

  const banks: RegisterBanks = new Map();
  const chains = new Map<string, Map<number, ChainStep[]>>();
  const initial: RegisterBanks = new Map();
  for (const a of algs) {
    banks.set(a.name, new Map());
    chains.set(a.name, new Map());
    initial.set(a.name, new Map());
  }
  // The Spec ID header is the first record of a crypto-agile log, in SHA-1 format: not an event to extend.
  const body = log.format === 'crypto-agile' ? log.events.slice(1) : log.events;
  for (const event of body) {
    if (!isExtended(event)) continue;
    const reg = registerOf(event);
    if (reg === undefined) continue;
    for (const a of algs) {
      const d = event.digests.find((x) => x.alg === a.id);
      if (d === undefined) continue;
      const values = banks.get(a.name) as Map<number, Uint8Array>;
      let current = values.get(reg);
      if (current === undefined) {
        current = initialOf(reg, a);
        (initial.get(a.name) as Map<number, Uint8Array>).set(reg, current);
      }
      const next = digestWith(a, current, d.digest);
      values.set(reg, next);
      const chainMap = chains.get(a.name) as Map<number, ChainStep[]>;
      let chain = chainMap.get(reg);
      if (chain === undefined) chainMap.set(reg, (chain = []));
      chain.push({ seq: event.seq, digest: d.digest, value: next });
    }
  }
  for (const [name, m] of banks) banks.set(name, new Map([...m].sort((x, y) => x[0] - y[0])));
  return { banks, chains, initial, skippedBanks };
}
