/**
 * The CoCo TDX evidence JSON (specs/tdx-initdata.md §2.4 item 1; guest-components `TdxEvidence`):
 * `{"cc_eventlog": <base64 or null>, "quote": <base64 quote>}`. Unknown members are ignored, as serde does.
 */
import { CocoError } from '../../errors.js';
import { fromBase64, toBase64 } from '../../formats/bytes.js';
import { isRecord } from '../../formats/json.js';
import { MAX_QUOTE_SIZE } from './format.js';

export interface TdxEvidence {
  quote: Uint8Array;
  /** The CCEL log area (plus the AA event log), when the attester sent one. */
  ccEventLog: Uint8Array | null;
}

/** The CCEL log area is 64 KiB–several MiB on real TDs; beyond this the evidence is refused. */
export const MAX_EVENT_LOG_SIZE = 8 * 1024 * 1024;

function bad(message: string): never {
  throw new CocoError('TDX_EVIDENCE', `TDX evidence: ${message}`, { kind: 'input' });
}

export function evidenceFromJson(v: unknown): TdxEvidence {
  if (!isRecord(v)) bad('must be a JSON object');
  if (typeof v.quote !== 'string') bad('"quote" must be a base64 string');
  if (v.quote.length > (MAX_QUOTE_SIZE * 4) / 3 + 4) throw new CocoError('TDX_EVIDENCE', 'TDX evidence: quote is too large', { kind: 'limit' });
  const log = v.cc_eventlog;
  if (log !== undefined && log !== null && typeof log !== 'string') bad('"cc_eventlog" must be a base64 string or null');
  if (typeof log === 'string' && log.length > (MAX_EVENT_LOG_SIZE * 4) / 3 + 4) throw new CocoError('TDX_EVIDENCE', 'TDX evidence: cc_eventlog is too large', { kind: 'limit' });
  return {
    quote: fromBase64(v.quote, 'TDX evidence quote'),
    ccEventLog: typeof log === 'string' && log.length > 0 ? fromBase64(log, 'TDX evidence cc_eventlog') : null,
  };
}

export function evidenceToJson(e: TdxEvidence): { cc_eventlog: string | null; quote: string } {
  return { cc_eventlog: e.ccEventLog ? toBase64(e.ccEventLog) : null, quote: toBase64(e.quote) };
}
