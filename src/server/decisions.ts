/**
 * The decision log: one record per attestation and per secret release, saying what was presented (the
 * evidence digest and, size permitting, the evidence), what the verifiers found, which policy decided and
 * why. Records live in the audit log (kind `kbs.decision`, so they take the request path's unsynced writes
 * like the protocol's other events) and are hash-chained: each record's `digest` covers its time, subject,
 * outcome and body including `prev`, the digest of the record before it. Editing, deleting or reordering a
 * record breaks the chain at that point; `verifyDecisionChain` finds where.
 *
 * A record never holds a secret value, a nonce or a token: claims are redacted (`redactClaims`) and a token
 * is named by the digest of its signature only.
 *
 * A record names its deciding policy by id and SHA-256, and an attestation the set of reference values its
 * policy read by SHA-256; the text of every version a record names is kept by that hash (decision-versions.ts),
 * so the decision can be explained again later with exactly the policy and values that made it, after they
 * have changed.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditEvent, ChainKeep, JsonValue, Store } from '../store/store.js';
import { LIMITS } from '../store/store.js';

export const DECISION_KIND = 'kbs.decision';

/** `prev` of the first record ever written. */
export const GENESIS = '0'.repeat(64);

/** Default bound of the evidence copy kept in a record (its digest is always kept). */
export const DEFAULT_EVIDENCE_BYTES = 16 * 1024;

/** A record must fit one audit row (`LIMITS.auditDetailChars`); this leaves room for the chain fields. */
const RECORD_BUDGET = LIMITS.auditDetailChars - 1024;

export type DecisionType = 'attestation' | 'release';
export type Verdict = 'allow' | 'deny' | 'error';

export interface DecisionInput {
  type: DecisionType;
  /** The client's address as the server saw it. */
  client: string;
  tee: string;
  /** `tee-evidence.primary_evidence` as received (attestation only). */
  evidence?: unknown;
  /** Verifier checks, per claim set. */
  checks?: unknown;
  /** Verified claims (attestation: the EAR claims; release: the caller's token claims). Redacted before storing. */
  claims?: unknown;
  policyId?: string;
  /** Text of the deciding policy; only its SHA-256 is kept. */
  policyText?: string;
  /**
   * Attestation: the policy each appraisal was made by, by submodule (`cpu0`, `gpu0`, …): its id and text,
   * of which only the SHA-256 is kept in the record (and the text by that hash, decision-versions.ts).
   */
  appraisalPolicies?: Record<string, { id: string; text: string }>;
  /** Names and update times of the reference values consulted. */
  referenceValues?: Record<string, string>;
  /**
   * The set of reference values the attestation policy could consult (decision-versions.ts): its hash is
   * kept in the record, its text by that hash.
   */
  referenceValueSet?: { hash: string; text: string };
  /**
   * Why a consulted reference value computed from artifacts does not match: its name → the first event of the
   * evidence's log that differs from what the artifacts predict.
   */
  explanations?: Record<string, string>;
  /** The EAR token issued or presented; only the digest of its signature is kept. */
  token?: string;
  verdict: Verdict;
  /** Error code of a denial. */
  code?: string;
  /** Why, in the words the client was told. */
  reason?: string;
  /** How the deciding policy reached its verdict (rule, appraisal statuses). */
  trace?: unknown;
  /** Resource path of a release. */
  resource?: string;
  /** Query parameters of a release request (the resource policy's `data.query`), when there were any. */
  query?: Record<string, string>;
  workload?: string;
}

/** The stored body of a record (the audit event's `detail`). */
export interface DecisionBody {
  v: 1;
  type: DecisionType;
  client: string;
  tee: string;
  resource?: string;
  query?: JsonValue;
  workload?: string;
  evidence_digest?: string;
  evidence_bytes?: number;
  /** The evidence as text (`evidenceText`), within the configured bound; the SHA-256 of this text is `evidence_digest`. */
  evidence_text?: string;
  /** The evidence as a JSON value: records written before `evidence_text`. */
  evidence?: JsonValue;
  checks?: JsonValue;
  claims?: JsonValue;
  policy_id?: string;
  policy_hash?: string;
  /** The attestation policy of each appraisal by submodule: id and SHA-256 (`policy_*` name the first one's). */
  appraisal_policies?: Record<string, { id: string; hash: string }>;
  reference_values?: Record<string, string>;
  /** SHA-256 of the reference-value set the attestation policy read (decision-versions.ts). */
  rv_set_hash?: string;
  explanations?: Record<string, string>;
  token_id?: string;
  verdict: Verdict;
  code?: string;
  reason?: string;
  trace?: JsonValue;
  /** Parts left out to keep the record within one audit row. */
  omitted?: string[];
  prev: string;
  digest: string;
}

export interface Decision extends DecisionBody {
  id: number;
  time: string;
}

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Digests of the policy texts seen lately: every record names its policy by hash, and the texts are few. */
const policyHashes = new Map<string, string>();

function policyHash(text: string): string {
  let h = policyHashes.get(text);
  if (h === undefined) {
    if (policyHashes.size >= 64) policyHashes.clear();
    policyHashes.set(text, (h = sha256(text)));
  }
  return h;
}

export const POLICY_VERSION_PREFIX = 'policy-version/';
export const RV_SET_PREFIX = 'rv-set/';

/** Key-value key under which the text of the policy version with SHA-256 `hash` is kept. */
export const policyVersionKey = (hash: string): string => POLICY_VERSION_PREFIX + hash;
/** Key-value key under which the canonical JSON of the reference-value set with SHA-256 `hash` is kept. */
export const rvSetKey = (hash: string): string => RV_SET_PREFIX + hash;

/** JSON with object keys sorted at every level, so a digest does not depend on how a backend reorders keys. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) {
    // An array of scalars (evidence bytes are thousands of numbers) has no keys to sort: JSON.stringify writes
    // it as the element-wise form would, holes and undefined as null.
    if (v.every((x) => x === null || typeof x !== 'object')) return JSON.stringify(v);
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i ? ',' : '') + canonicalJson(v[i]);
    return out + ']';
  }
  const o = v as Record<string, unknown>;
  let out = '{';
  for (const k of Object.keys(o).sort()) {
    const x = o[k];
    if (x === undefined) continue;
    out += (out.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + canonicalJson(x);
  }
  return out + '}';
}

/** The digest a record must carry: over its time, subject, outcome and body without `digest`. */
export function recordDigest(timeMs: number, subject: string, outcome: string, body: Omit<DecisionBody, 'digest'> & { digest?: string }): string {
  const { digest: _omit, ...rest } = body;
  return sha256(canonicalJson({ time: timeMs, subject, outcome, body: rest }));
}

/** Keys whose values are nonces, tokens or secrets wherever they appear in claims. */
const REDACTED_KEY = /nonce|token|secret|password|private|challenge/i;

/** A copy of `v` with nonce-, token- and secret-named values replaced, so claims can be logged. */
export function redactClaims(v: unknown, depth = 0): JsonValue {
  if (depth > 32) return '[too deep]';
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map((x) => redactClaims(x, depth + 1));
  if (typeof v === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x === undefined) continue;
      const value = REDACTED_KEY.test(k) ? '[redacted]' : redactClaims(x, depth + 1);
      // A claim named "__proto__" is kept as a member, as redactedJson writes it (assignment would set the prototype).
      if (k === '__proto__') Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
      else out[k] = value;
    }
    return out;
  }
  return null;
}

function toJson(v: unknown): JsonValue {
  return v === undefined ? null : (JSON.parse(JSON.stringify(v) ?? 'null') as JsonValue);
}

/** Nesting beyond which `jsonCanonical` refuses a value, as JSON.stringify refuses a cycle. */
const MAX_JSON_DEPTH = 4096;

/** The canonical JSON of member `key` holding `value`; undefined when JSON.stringify would leave it out. */
function jsonMember(value: unknown, key: string, depth: number): string | undefined {
  let v = value;
  if (v !== null && (typeof v === 'object' || typeof v === 'bigint') && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    v = (v as { toJSON: (k: string) => unknown }).toJSON(key);
  }
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint': // JSON.stringify throws for it, as toJson did
      return JSON.stringify(v);
    case 'object':
      break;
    default:
      return undefined;
  }
  if (v instanceof Number || v instanceof String || v instanceof Boolean) return JSON.stringify(v);
  if (depth > MAX_JSON_DEPTH) throw new TypeError('value is nested too deeply (or cyclic) to be written as JSON');
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i ? ',' : '') + (jsonMember(v[i], String(i), depth + 1) ?? 'null');
    return out + ']';
  }
  const o = v as Record<string, unknown>;
  let out = '{';
  for (const k of Object.keys(o).sort()) {
    const x = jsonMember(o[k], k, depth + 1);
    if (x !== undefined) out += (out.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + x;
  }
  return out + '}';
}

/**
 * `canonicalJson` of the value JSON.stringify would write, in one walk instead of a JSON round trip: `toJSON`
 * called, undefined, functions and symbols left out of objects and null in arrays, boxed primitives unwrapped,
 * a BigInt refused; keys sorted at every level. Verifier checks (dozens per SNP report) are written this way.
 */
export function jsonCanonical(v: unknown): string {
  return jsonMember(v, '', 0) ?? 'null';
}

/** A JWS is named by the digest of its signature part: unique per token, and useless to replay. */
export function tokenId(token: string): string {
  return sha256(token.split('.').pop() ?? token).slice(0, 32);
}

function subjectOf(b: { type: DecisionType; tee: string; resource?: string }): string {
  return b.type === 'release' ? `release:${b.resource ?? ''}` : `attestation:${b.tee}`;
}

/** The parts a record too large for one row drops, largest first, under the name `omitted` gives them. */
const DROPPABLE: ReadonlyArray<readonly [string, string]> = [
  ['evidence_text', 'evidence'],
  ['claims', 'claims'],
  ['trace', 'trace'],
  ['checks', 'checks'],
];

/**
 * The evidence as the text a record keeps and digests: a string as it is, any other JSON value as its JSON
 * text (one serialization; a record never holds the evidence as a value, thousands of byte numbers to walk).
 */
export function evidenceText(evidence: unknown): string {
  return typeof evidence === 'string' ? evidence : (JSON.stringify(evidence) ?? 'null');
}

/**
 * The text a member named `k` starts with in redacted JSON: `"k":`, followed by `"[redacted]"` when the name
 * is redacted. Claim names repeat from record to record, so the texts are kept (up to a bound).
 */
const memberStarts = new Map<string, string>();
const MEMBER_STARTS_MAX = 4096;

function memberStart(k: string): string {
  let t = memberStarts.get(k);
  if (t === undefined) {
    t = `${JSON.stringify(k)}:${REDACTED_KEY.test(k) ? '"[redacted]"' : ''}`;
    if (memberStarts.size < MEMBER_STARTS_MAX) memberStarts.set(k, t);
  }
  return t;
}

/** `canonicalJson(redactClaims(v))` in one walk, without the redacted copy. */
export function redactedJson(v: unknown, depth = 0): string {
  if (depth > 32) return '"[too deep]"';
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i ? ',' : '') + redactedJson(v[i], depth + 1);
    return out + ']';
  }
  if (typeof v !== 'object') return 'null';
  const o = v as Record<string, unknown>;
  let out = '{';
  for (const k of Object.keys(o).sort()) {
    const x = o[k];
    if (x === undefined) continue;
    const start = memberStart(k);
    out += (out.length > 1 ? ',' : '') + (start.endsWith(':') ? start + redactedJson(x, depth + 1) : start);
  }
  return out + '}';
}

/**
 * The canonical JSON text of each field of the record body for `input` (without chain fields), bounded to
 * one audit row. Each field is serialized once, from the input: its text serves the size bound, the digest
 * and the stored row.
 */
function bodyTexts(input: DecisionInput, evidenceMaxBytes: number): Map<string, string> {
  const texts = new Map<string, string>();
  const put = (k: string, v: unknown): void => {
    if (v !== undefined) texts.set(k, canonicalJson(v));
  };
  put('v', 1);
  put('type', input.type);
  put('client', input.client);
  put('tee', input.tee);
  put('verdict', input.verdict);
  put('resource', input.resource);
  if (input.query !== undefined) texts.set('query', redactedJson(input.query));
  put('workload', input.workload);
  const omitted: string[] = [];
  if (input.evidence !== undefined) {
    const text = evidenceText(input.evidence);
    const bytes = Buffer.byteLength(text);
    put('evidence_digest', sha256(text));
    put('evidence_bytes', bytes);
    if (bytes <= evidenceMaxBytes) put('evidence_text', text);
    else omitted.push('evidence');
  }
  if (input.checks !== undefined) texts.set('checks', jsonCanonical(input.checks));
  if (input.claims !== undefined) texts.set('claims', redactedJson(input.claims));
  put('policy_id', input.policyId);
  if (input.policyText !== undefined) put('policy_hash', policyHash(input.policyText));
  if (input.appraisalPolicies !== undefined) {
    put('appraisal_policies', Object.fromEntries(Object.entries(input.appraisalPolicies).map(([submod, p]) => [submod, { id: p.id, hash: policyHash(p.text) }])));
  }
  put('reference_values', input.referenceValues);
  put('rv_set_hash', input.referenceValueSet?.hash);
  if (input.explanations !== undefined && Object.keys(input.explanations).length > 0) put('explanations', input.explanations);
  if (input.token !== undefined) put('token_id', tokenId(input.token));
  put('code', input.code);
  put('reason', input.reason?.slice(0, 4096));
  // Traces hold the values a policy compared (claims among them): redacted like the claims.
  if (input.trace !== undefined) texts.set('trace', redactedJson(toJson(input.trace)));
  let size = 2;
  for (const [k, t] of texts) size += k.length + t.length + 4;
  // Largest first, until the record fits one row; what was dropped is named.
  const omittedSize = (): number => JSON.stringify(omitted).length + 12;
  for (const [key, part] of DROPPABLE) {
    if (size + omittedSize() <= RECORD_BUDGET) break;
    const t = texts.get(key);
    if (t !== undefined) {
      texts.delete(key);
      size -= key.length + t.length + 4;
      omitted.push(part);
    }
  }
  if (omitted.length) texts.set('omitted', JSON.stringify(omitted));
  return texts;
}

/** The canonical JSON of an object whose members' canonical texts are `texts`. */
function joinTexts(texts: Map<string, string>): string {
  let out = '{';
  for (const k of [...texts.keys()].sort()) out += (out.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + texts.get(k)!;
  return out + '}';
}

/** The record body (without chain fields) for `input`, bounded to one audit row. */
export function decisionBody(input: DecisionInput, evidenceMaxBytes: number): Omit<DecisionBody, 'prev' | 'digest'> {
  return JSON.parse(joinTexts(bodyTexts(input, evidenceMaxBytes))) as Omit<DecisionBody, 'prev' | 'digest'>;
}

/**
 * A record as it is chained after `prev`: its digest, subject and outcome, and the audit detail text. The
 * digest is `recordDigest`'s (canonical JSON of time, subject, outcome and body), assembled from the fields'
 * texts instead of walking a body again; the detail is the body's canonical JSON with `digest` last.
 */
export function encodeRecord(input: DecisionInput, evidenceMaxBytes: number, timeMs: number, prev: string): { digest: string; subject: string; outcome: Verdict; detail: string } {
  const texts = bodyTexts(input, evidenceMaxBytes);
  texts.set('prev', JSON.stringify(prev));
  const body = joinTexts(texts);
  const subject = subjectOf(input);
  const digest = sha256(`{"body":${body},"outcome":${canonicalJson(input.verdict)},"subject":${JSON.stringify(subject)},"time":${canonicalJson(timeMs)}}`);
  return { digest, subject, outcome: input.verdict, detail: `${body.slice(0, -1)},"digest":"${digest}"}` };
}

export interface DecisionLogOptions {
  evidenceMaxBytes?: number;
  logger?: Logger;
  clock?: () => Date;
  /** Records waiting to be written beyond which `submit` asks its caller to wait (default `DEFAULT_QUEUE_BOUND`). */
  queueBound?: number;
}

/** Records written per transaction. */
const BATCH = 64;

/** Default bound of the queue of records not yet written. */
export const DEFAULT_QUEUE_BOUND = 4096;

interface Pending {
  input: DecisionInput;
  time: number;
  resolve: (d: Decision | undefined) => void;
  /** False for a record nobody waits for (`submit`): it is not read back from its text. */
  wanted: boolean;
  /** Set while a batch is built: the detail text written, for the resolver. */
  detail?: string;
}

/**
 * Appends decision records in chain order, off the request path: `record` queues a record and the queue is
 * written in batches, each in one store transaction that reads the chain's head and appends after it under
 * the database's write lock (`AuditLog.appendChain`), so several processes or replicas writing one database
 * keep one chain. A record's time is taken when it is queued; its body, digest and link are made when its
 * batch is written. `close` writes what is still queued.
 */
export class DecisionLog {
  readonly #store: Store;
  readonly #evidenceMax: number;
  readonly #log?: Logger;
  readonly #clock: () => Date;
  readonly #bound: number;
  #queue: Pending[] = [];
  #writing: Promise<void> | undefined;
  #drained: (() => void)[] = [];

  constructor(store: Store, o: DecisionLogOptions = {}) {
    this.#store = store;
    this.#evidenceMax = o.evidenceMaxBytes ?? DEFAULT_EVIDENCE_BYTES;
    this.#log = o.logger;
    this.#clock = o.clock ?? (() => new Date());
    this.#bound = o.queueBound ?? DEFAULT_QUEUE_BOUND;
  }

  /**
   * Queues one record; resolves once it is written, with the record, or with undefined when the write failed
   * (which is logged, never thrown at the request).
   */
  record(input: DecisionInput): Promise<Decision | undefined> {
    return new Promise((resolve) => this.#enqueue(input, resolve, true));
  }

  #enqueue(input: DecisionInput, resolve: (d: Decision | undefined) => void, wanted: boolean): void {
    this.#queue.push({ input, time: Math.floor(this.#clock().getTime()), resolve, wanted });
    this.#writing ??= this.#drain();
  }

  /**
   * Queues one record for a request that does not wait for it: undefined while the queue is within its bound,
   * else a promise that resolves once the queue is back under it (the caller waits, so a store slower than the
   * request rate slows the requests instead of growing the queue without end).
   */
  submit(input: DecisionInput): Promise<void> | undefined {
    this.#enqueue(input, () => {}, false);
    if (this.#queue.length <= this.#bound) return undefined;
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** Records queued and not yet written. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves once every record queued so far is written (or failed). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Writes what is queued; for shutdown. */
  close(): Promise<void> {
    return this.flush();
  }

  async #drain(): Promise<void> {
    try {
      // A tick first, so the records of the requests in flight go into one batch.
      await new Promise<void>((r) => setImmediate(r));
      while (this.#queue.length) {
        const batch = this.#queue.splice(0, BATCH);
        await this.#write(batch);
        if (this.#queue.length <= this.#bound && this.#drained.length) for (const wake of this.#drained.splice(0)) wake();
      }
    } finally {
      this.#writing = undefined;
      for (const wake of this.#drained.splice(0)) wake();
    }
  }

  /**
   * The text of each policy version and reference-value set the batch's records name, one row per version,
   * written with the records in their transaction when it is not there: version retention deletes under the
   * same lock (decision-versions.ts), so a record never commits naming a version it has deleted.
   */
  static #versions(batch: Pending[]): ChainKeep | undefined {
    const wanted = new Map<string, string>();
    for (const p of batch) {
      const { policyText, referenceValueSet, appraisalPolicies } = p.input;
      if (policyText !== undefined) wanted.set(policyVersionKey(policyHash(policyText)), policyText);
      for (const a of Object.values(appraisalPolicies ?? {})) wanted.set(policyVersionKey(policyHash(a.text)), a.text);
      if (referenceValueSet !== undefined) wanted.set(rvSetKey(referenceValueSet.hash), referenceValueSet.text);
    }
    if (wanted.size === 0) return undefined;
    return { keys: [...wanted.keys()], value: (key) => Buffer.from(wanted.get(key) ?? '', 'utf8') };
  }

  async #write(batch: Pending[]): Promise<void> {
    let ids: number[];
    try {
      ids = await this.#store.audit.appendChain(DECISION_KIND, (head) => {
        let prev = headDigest(head);
        return batch.map((p) => {
          const { digest, subject, outcome, detail } = encodeRecord(p.input, this.#evidenceMax, p.time, prev);
          p.detail = detail;
          prev = digest;
          // What the next batch's link reads of this record, so it need not parse the record back.
          return { time: new Date(p.time), subject, outcome, detail, head: { v: 1, digest } };
        });
      }, DecisionLog.#versions(batch));
    } catch (e) {
      this.#log?.error({ code: (e as { code?: string }).code, records: batch.length }, 'decision record write failed');
      for (const p of batch) p.resolve(undefined);
      return;
    }
    batch.forEach((p, i) => p.resolve(p.wanted ? { ...(JSON.parse(p.detail!) as DecisionBody), id: ids[i], time: new Date(p.time).toISOString() } : undefined));
  }
}

/** The digest of the chain head an audit detail holds; the genesis value when there is none. */
function headDigest(head: JsonValue | null): string {
  if (head === null || typeof head !== 'object' || Array.isArray(head)) return GENESIS;
  return typeof head.digest === 'string' && head.v === 1 ? head.digest : GENESIS;
}

/** The decision an audit event holds, or undefined when it is not one. */
export function decisionFromEvent(ev: AuditEvent): Decision | undefined {
  const d = ev.detail;
  if (ev.kind !== DECISION_KIND || d === null || typeof d !== 'object' || Array.isArray(d)) return undefined;
  if (typeof d.digest !== 'string' || typeof d.prev !== 'string' || d.v !== 1) return undefined;
  return { ...(d as unknown as DecisionBody), id: ev.id, time: ev.time.toISOString() };
}

export interface ChainProblem {
  id: number;
  problem: string;
}

export interface ChainReport {
  ok: boolean;
  records: number;
  /** Id of the oldest record kept and whether records before it were removed (by retention, or by hand). */
  firstId?: number;
  lastId?: number;
  truncatedBefore: boolean;
  problems: ChainProblem[];
}

/** Rows read per query while walking the chain. */
const VERIFY_PAGE = 1000;

/**
 * Walks the decision records newest to oldest and checks that each one's digest is what its content hashes
 * to and is the `prev` of the record after it. The oldest record kept may point at a record that retention
 * removed; that is reported as `truncatedBefore`, not as a problem. Removing the newest records leaves no
 * trace in the log itself.
 */
export async function verifyDecisionChain(store: Store, maxProblems = 100): Promise<ChainReport> {
  const report: ChainReport = { ok: true, records: 0, truncatedBefore: false, problems: [] };
  const problem = (id: number, text: string) => {
    report.ok = false;
    if (report.problems.length < maxProblems) report.problems.push({ id, problem: text });
  };
  let expectNext: { digest: string; id: number } | undefined;
  let oldest: Decision | undefined;
  let beforeId: number | undefined;
  for (;;) {
    const page = await store.audit.list({ kind: DECISION_KIND, limit: VERIFY_PAGE, ...(beforeId === undefined ? {} : { beforeId }) });
    for (const ev of page) {
      report.records++;
      report.lastId ??= ev.id;
      const d = decisionFromEvent(ev);
      if (!d) {
        problem(ev.id, 'not a decision record (fields missing or of the wrong type)');
        expectNext = undefined;
        continue;
      }
      const { id: _id, time: _time, ...body } = d;
      if (recordDigest(ev.time.getTime(), ev.subject, ev.outcome, body) !== d.digest) problem(ev.id, 'content does not match its digest (edited)');
      if (expectNext && expectNext.digest !== d.digest) {
        problem(expectNext.id, `does not follow record ${ev.id}: a record between them was removed, or records were reordered`);
      }
      expectNext = { digest: d.prev, id: ev.id };
      oldest = d;
    }
    if (page.length < VERIFY_PAGE) break;
    beforeId = page[page.length - 1].id;
  }
  if (oldest) {
    report.firstId = oldest.id;
    report.truncatedBefore = oldest.prev !== GENESIS;
  }
  return report;
}
