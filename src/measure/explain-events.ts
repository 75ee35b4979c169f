/**
 * Why a PCR or RTMR does not match a reference value computed from artifacts: the artifacts predict the
 * register's events one by one (a UKI's sections then systemd's boot phases into PCR 11; a direct boot's
 * kernel, actions, load options and initrd into RTMR1/RTMR2), the evidence's event log says what was
 * measured, and the first event whose digest differs — or that one side has and the other lacks — names
 * what changed ("PCR 11 event 2 (.linux section) differs: expected sha256 …, measured …").
 *
 * The predicted events travel in the reference value's provenance (`events`), so whoever holds the
 * provenance — the KBS at appraisal time — can explain without the artifacts.
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { parseEventLog, type EventLog } from '../eventlog/index.js';
import { DEFAULT_PHASES, UKI_SECTIONS, type SectionContent, type UkiSection } from './uki.js';
import { rtmr1Events, rtmr2Events } from './tdx/rtmr.js';

/** One event the artifacts predict in a register. */
export interface PredictedEvent {
  /** What the event measures: `.linux section`, `phase ready`, `kernel (Authenticode)`, … */
  description: string;
  /** Lower-case hex digest in the register's bank. */
  digest: string;
}

/** The register a reference value stands for, and the events the artifacts put in it. */
export interface PredictedRegister {
  /** `PCR 11`, `RTMR1`, … */
  register: string;
  bank: 'sha256' | 'sha384';
  events: PredictedEvent[];
}

/** The first event in which the measured log departs from the prediction. */
export interface EventMismatch {
  register: string;
  /** 1-based position among the register's events. */
  event: number;
  description: string;
  bank: string;
  /** Undefined when the log has an event the prediction does not. */
  expected?: string;
  /** Undefined when the log ends before the predicted event. */
  measured?: string;
  message: string;
}

const digestHex = (bank: string, data: Uint8Array | string): string => createHash(bank).update(data).digest('hex');

/**
 * PCR 11 as a UKI's stub and systemd-pcrphase extend it (SHA-256 bank, the rules of `predictPcr11`): for
 * each measured section, its NUL-terminated name then its content; then the words of `phase`.
 */
export function ukiPcr11Events(sections: Partial<Record<UkiSection, SectionContent>>, phase = DEFAULT_PHASES[DEFAULT_PHASES.length - 1]): PredictedRegister {
  const events: PredictedEvent[] = [];
  for (const name of UKI_SECTIONS) {
    const content = sections[name];
    if (content === undefined) continue;
    const h = createHash('sha256');
    const length = content.feed((chunk) => h.update(chunk));
    // Empty sections are skipped, name event included, as the stub does.
    if (length === 0) continue;
    events.push({ description: `${name} section name`, digest: digestHex('sha256', Buffer.from(`${name}\0`, 'latin1')) });
    events.push({ description: `${name} section`, digest: h.digest('hex') });
  }
  for (const word of phase.split(':')) if (word !== '') events.push({ description: `phase ${word}`, digest: digestHex('sha256', word) });
  return { register: 'PCR 11', bank: 'sha256', events };
}

/** RTMR1 of a direct boot from the kernel's Authenticode SHA-384 (the events of `rtmr1Events`). */
export function directBootRtmr1Events(kernelDigest: Uint8Array, separatorInRtmr1 = true): PredictedRegister {
  const digests = rtmr1Events(kernelDigest, { separatorInRtmr1 });
  const names = ['kernel (Authenticode)', '"Calling EFI Application from Boot Option"', ...(separatorInRtmr1 ? ['separator'] : []), '"Exit Boot Services Invocation"', '"Exit Boot Services Returned with Success"'];
  return { register: 'RTMR1', bank: 'sha384', events: digests.map((d, i) => ({ description: names[i], digest: toHex(d) })) };
}

/** RTMR2 of a direct boot: the load options (command line) and the initrd. */
export function directBootRtmr2Events(cmdline: string, initrd: Uint8Array): PredictedRegister {
  const [opts, rd] = rtmr2Events(cmdline, initrd);
  return {
    register: 'RTMR2',
    bank: 'sha384',
    events: [
      { description: 'load options (kernel command line)', digest: toHex(opts) },
      { description: 'initrd', digest: toHex(rd) },
    ],
  };
}

/** The digests a log extended into one register, in order (EV_NO_ACTION events are never extended). */
export function loggedEvents(log: EventLog, index: number, bank: string): Array<{ digest: string; typeName: string }> {
  const out: Array<{ digest: string; typeName: string }> = [];
  for (const e of log.events) {
    if (e.index !== index || e.type === 0x3) continue;
    const d = e.digests.find((x) => x.name === bank);
    if (d) out.push({ digest: toHex(d.digest), typeName: e.typeName });
  }
  return out;
}

/**
 * The first event where `measured` departs from `predicted`; undefined when every event agrees (the register
 * then differs from the reference value for another reason, or not at all).
 */
export function firstEventMismatch(predicted: PredictedRegister, measured: ReadonlyArray<{ digest: string; typeName?: string }>): EventMismatch | undefined {
  const n = Math.max(predicted.events.length, measured.length);
  for (let i = 0; i < n; i++) {
    const p = predicted.events[i];
    const m = measured[i];
    if (p !== undefined && m !== undefined && p.digest === m.digest.toLowerCase()) continue;
    const base = { register: predicted.register, event: i + 1, bank: predicted.bank };
    if (p === undefined) {
      const description = `unexpected ${m!.typeName ?? 'event'}`;
      return { ...base, description, measured: m!.digest, message: `${predicted.register} event ${i + 1} is not predicted by the artifacts: measured ${predicted.bank} ${m!.digest} after the ${predicted.events.length} predicted events` };
    }
    if (m === undefined) {
      return { ...base, description: p.description, expected: p.digest, message: `${predicted.register} event ${i + 1} (${p.description}) is missing from the log: expected ${predicted.bank} ${p.digest}` };
    }
    return { ...base, description: p.description, expected: p.digest, measured: m.digest, message: `${predicted.register} event ${i + 1} (${p.description}) differs: expected ${predicted.bank} ${p.digest}, measured ${m.digest}` };
  }
  return undefined;
}

/** Reads a provenance's `events` record back; undefined when absent or malformed. */
export function predictedRegisterOf(provenance: unknown): PredictedRegister | undefined {
  if (typeof provenance !== 'object' || provenance === null) return undefined;
  const e = (provenance as Record<string, unknown>).events;
  if (typeof e !== 'object' || e === null) return undefined;
  const r = e as Record<string, unknown>;
  if (typeof r.register !== 'string' || (r.bank !== 'sha256' && r.bank !== 'sha384') || !Array.isArray(r.events)) return undefined;
  const events: PredictedEvent[] = [];
  for (const x of r.events) {
    if (typeof x !== 'object' || x === null) return undefined;
    const { description, digest } = x as Record<string, unknown>;
    if (typeof description !== 'string' || typeof digest !== 'string' || !/^[0-9a-f]+$/.test(digest)) return undefined;
    events.push({ description, digest });
  }
  return { register: r.register, bank: r.bank, events };
}

/**
 * The predicted register of a reference value record as the CLI prints it (`kbs config get-reference-value
 * NAME --provenance`: `{name, value, …, provenance}`), or of a bare provenance entry; undefined when neither
 * carries `events`.
 */
export function predictedRegisterOfRecord(doc: unknown): PredictedRegister | undefined {
  const inner = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>).provenance : undefined;
  return predictedRegisterOf(typeof inner === 'object' && inner !== null ? inner : doc);
}

/** Checks a stated `events` provenance member (admin input). */
export function checkPredictedRegister(v: unknown, where: string): PredictedRegister {
  const p = predictedRegisterOf({ events: v });
  if (p === undefined || !/^(PCR \d{1,2}|RTMR[0-3])$/.test(p.register) || p.events.length > 256 || p.events.some((e) => e.digest.length !== (p.bank === 'sha256' ? 64 : 96) || e.description.length > 200)) {
    throw new CocoError('RV_EVENTS', `${where}: "events" must be {register: "PCR n" | "RTMRn", bank: "sha256" | "sha384", events: [{description, digest}] } with at most 256 events of that bank's digest size`, { kind: 'input' });
  }
  return p;
}

/** The register index of a log for a predicted register: PCR n → n; RTMRn → CC MR n + 1 (CCEL numbering). */
function logIndex(register: string): number {
  const pcr = /^PCR (\d{1,2})$/.exec(register);
  if (pcr) return Number(pcr[1]);
  const rtmr = /^RTMR([0-3])$/.exec(register);
  if (rtmr) return Number(rtmr[1]) + 1;
  throw new CocoError('RV_EVENTS', `unknown register ${JSON.stringify(register)}`, { kind: 'input' });
}

/** The events a TPM event log (`tee` tpm) or a TD's CCEL (`tee` tdx) extended into a predicted register. */
export function measuredEvents(tee: 'tpm' | 'tdx', log: Uint8Array, predicted: Pick<PredictedRegister, 'register' | 'bank'>): Array<{ digest: string; typeName: string }> {
  const parsed = parseEventLog(log, { what: tee === 'tdx' ? 'CCEL log' : 'event log', ...(tee === 'tdx' ? { trailing: 'padding' as const } : {}) });
  return loggedEvents(parsed, logIndex(predicted.register), predicted.bank);
}

/**
 * The same from a TD's `uefi_event_logs` claim (Trustee's shape: `{index, type_name, digests: [{alg, digest}]}`
 * in CCEL numbering), for a holder of the verified claims without the log; undefined when the claim is absent
 * or not of that shape.
 */
export function measuredEventsOfClaims(uefiEventLogs: unknown, predicted: Pick<PredictedRegister, 'register' | 'bank'>): Array<{ digest: string; typeName: string }> | undefined {
  if (!Array.isArray(uefiEventLogs)) return undefined;
  const index = logIndex(predicted.register);
  const alg = predicted.bank === 'sha384' ? 'SHA-384' : 'SHA256';
  const out: Array<{ digest: string; typeName: string }> = [];
  for (const e of uefiEventLogs) {
    if (typeof e !== 'object' || e === null) return undefined;
    const r = e as Record<string, unknown>;
    if (r.index !== index) continue;
    if (!Array.isArray(r.digests)) return undefined;
    const d = (r.digests as unknown[]).find((x): x is { alg: string; digest: string } => typeof x === 'object' && x !== null && (x as { alg?: unknown }).alg === alg && typeof (x as { digest?: unknown }).digest === 'string');
    if (d) out.push({ digest: d.digest.toLowerCase(), typeName: typeof r.type_name === 'string' ? r.type_name : 'event' });
  }
  return out;
}

/** The first event of `measured` that departs from the prediction, with the value `measured` replays to. */
export function explainMeasured(predicted: PredictedRegister, measured: ReadonlyArray<{ digest: string; typeName?: string }>): (EventMismatch & { replayed: string }) | undefined {
  const m = firstEventMismatch(predicted, measured);
  return m === undefined ? undefined : { ...m, replayed: replayDigests(predicted.bank, measured.map((e) => e.digest)) };
}

/**
 * Replays the evidence's event log against the prediction: a TPM event log (`tee` tpm) or a TD's CCEL
 * (`tee` tdx). Undefined when the evidence carries no log or the log agrees with the prediction.
 * @throws CocoError (input) for a malformed log
 */
export function explainEventLog(tee: 'tpm' | 'tdx', log: Uint8Array, predicted: PredictedRegister): (EventMismatch & { replayed: string }) | undefined {
  return explainMeasured(predicted, measuredEvents(tee, log, predicted));
}

/** A register extended with `digests` from zero (PCR 11 and the RTMRs start at zero). */
export function replayDigests(bank: string, digests: readonly string[]): string {
  let v = Buffer.alloc(bank === 'sha256' ? 32 : 48);
  for (const d of digests) v = createHash(bank).update(v).update(Buffer.from(d, 'hex')).digest();
  return v.toString('hex');
}
