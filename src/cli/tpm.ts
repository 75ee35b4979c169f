/**
 * `cocokit tpm …`: checkquote (tpm2_checkquote's flags, output and verdicts, plus `--explain`/`--json`) and
 * eventlog (tpm2_eventlog's YAML, `--json`, `--replay`, `--compare`). Each command is a library call plus
 * formatting.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { allOk, check, renderChecks, type Check } from '../formats/check.js';
import { formatPcrRead, parsePcrRead } from '../measure/pcr.js';
import { compareReplay, eventLogJson, hashAlgorithmByName, hashAlgorithmName, parseEventLog, renderTpm2EventlogYaml, replayEventLog, type RegisterBanks } from '../eventlog/index.js';
import {
  TPM_ALG,
  TPM_RH,
  TpmClient,
  akTemplate,
  encodePcrsFile,
  formatPcrList,
  openTransport,
  srkTemplate,
  attestToJson,
  ecdsaFromDer,
  ecdsaToDer,
  parsePcrList,
  parsePcrsFile,
  parseSignature,
  parseTpm2bPublic,
  verifyQuote,
  type TpmSignature,
  type TpmtPublic,
} from '../tpm/index.js';
import { TpmAttester } from '../tee/tpm/attester.js';
import { explainEventLog, predictedRegisterOfRecord } from '../measure/explain-events.js';
import { parseJson } from '../formats/json.js';
import { withJsonFailure } from './check-report.js';
import { readInput, type CliIO } from './io.js';

/** `-u`: a PEM public key or a TPM2B_PUBLIC, as tpm2_checkquote accepts. */
export function loadAkPublic(bytes: Uint8Array): TpmtPublic | KeyObject {
  const text = Buffer.from(bytes.subarray(0, 64)).toString('latin1');
  if (text.includes('-----BEGIN')) {
    try {
      return createPublicKey(Buffer.from(bytes));
    } catch (e) {
      throw new CocoError('TPM_KEY', `not a PEM public key: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
  }
  return parseTpm2bPublic(bytes);
}

/**
 * `-s`: a marshaled TPMT_SIGNATURE, else a plain signature (raw RSA, DER ECDSA) whose scheme comes from the
 * key (a TPMT_PUBLIC's scheme, RSASSA for a PEM RSA key) and hash from `-g` — tpm2_checkquote's detection.
 */
export function loadQuoteSignature(bytes: Uint8Array, ak: TpmtPublic | KeyObject, hash: number): TpmSignature {
  try {
    return parseSignature(bytes);
  } catch (e) {
    if (!(e instanceof CocoError) || e.code !== 'TPM_FORMAT') throw e;
  }
  const isTpmt = !('asymmetricKeyType' in ak);
  const rsa = isTpmt ? (ak as TpmtPublic).type === TPM_ALG.RSA : (ak as KeyObject).asymmetricKeyType === 'rsa';
  if (rsa) {
    const scheme = isTpmt && (ak as TpmtPublic).scheme.scheme === TPM_ALG.RSAPSS ? TPM_ALG.RSAPSS : TPM_ALG.RSASSA;
    return { sigAlg: scheme, hash, sig: bytes };
  }
  return { sigAlg: TPM_ALG.ECDSA, hash, ...ecdsaFromDer(bytes) };
}

/** `-q`: a hex string, or a file holding the raw qualification (≤ 64 bytes, tpm2-tools' buffer). */
function qualification(io: CliIO, v: string | undefined): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  let b: Uint8Array | undefined;
  if (/^(0x)?[0-9a-fA-F]*$/.test(v) && v.replace(/^0x/, '').length % 2 === 0) b = fromHex(v.replace(/^0x/, ''));
  else if (existsSync(resolve(io.cwd, v))) b = readInput(io, v, 'qualification');
  if (b === undefined) throw new CocoError('CLI_USAGE', `-q ${v}: neither a hex string nor a file`, { kind: 'usage' });
  if (b.length > 64) throw new CocoError('CLI_USAGE', `-q: ${b.length} bytes, at most 64`, { kind: 'usage' });
  return b;
}

/** `-f` with `-l`: bare concatenated values in selection order (`tpm2_pcrread -F values`). */
function valuesFile(bytes: Uint8Array, list: string): RegisterBanks {
  const sel = parsePcrList(list);
  const out: RegisterBanks = new Map();
  let at = 0;
  for (const s of sel) {
    const size = (hashAlgorithmByName(s.bank) as { size: number }).size;
    const m = new Map<number, Uint8Array>();
    out.set(s.bank, m);
    for (const p of s.pcrs) {
      if (at + size > bytes.length) throw new CocoError('TPM_PCRS_FILE', `PCR values file: no value for ${s.bank}:${p}`, { kind: 'input' });
      m.set(p, bytes.subarray(at, at + size));
      at += size;
    }
  }
  if (at !== bytes.length) throw new CocoError('TPM_PCRS_FILE', `PCR values file: ${bytes.length - at} byte(s) beyond the values of ${list}`, { kind: 'input' });
  return out;
}

interface CheckquoteFlags {
  public: string;
  message: string;
  signature: string;
  format?: string;
  pcr?: string;
  pcrList?: string;
  hashAlgorithm?: string;
  qualification?: string;
  eventlog?: string;
  json?: boolean;
  explain?: boolean;
  referenceProvenance?: string;
}

/**
 * `--reference-provenance`: the event log replayed against the PCR events a reference value's provenance
 * predicts (a UKI's PCR 11, …); the check names the first event that differs, as the KBS's decision record does.
 */
function referenceEventsCheck(io: CliIO, file: string, log: Uint8Array | undefined): Check {
  const predicted = predictedRegisterOfRecord(parseJson(readInput(io, file, 'reference provenance'), file));
  if (predicted === undefined) throw new CocoError('CLI_USAGE', `${file}: no predicted events (provenance "events") in it; register the value --from-artifacts with a UKI`, { kind: 'usage' });
  if (!predicted.register.startsWith('PCR ')) throw new CocoError('CLI_USAGE', `${file}: its events are for ${predicted.register}, not a PCR (verify a TD quote with cocokit tdx verify)`, { kind: 'usage' });
  if (log === undefined) return check('reference-events', false, `no event log to replay against the ${predicted.register} events of ${file} (give -e)`);
  const m = explainEventLog('tpm', log, predicted);
  return check('reference-events', m === undefined, m === undefined ? `the log's ${predicted.register} events are the ones the artifacts predict` : m.message);
}

function checkquote(io: CliIO, f: CheckquoteFlags): void {
  const ak = loadAkPublic(readInput(io, f.public, 'public key'));
  const hashName = f.hashAlgorithm ?? 'sha256';
  const hash = hashAlgorithmByName(hashName);
  if (hash === undefined) throw new CocoError('CLI_USAGE', `-g ${hashName}: not a hash algorithm`, { kind: 'usage' });
  if (f.format !== undefined) io.stderr('WARN: DEPRECATED: Format ignored\n');
  const signature = loadQuoteSignature(readInput(io, f.signature, 'signature'), ak, hash.id);
  if ('hash' in signature && signature.hash !== hash.id && f.hashAlgorithm !== undefined) {
    io.stderr(`WARN: User specified hash algorithm of "${hashName}", does not match expected hash algorithm of "${hashAlgorithmName(signature.hash)}", using: "${hashAlgorithmName(signature.hash)}"\n`);
  }
  let pcrs: RegisterBanks | undefined;
  if (f.pcr !== undefined) {
    const bytes = readInput(io, f.pcr, 'PCR file');
    pcrs = f.pcrList !== undefined ? valuesFile(bytes, f.pcrList) : parsePcrsFile(bytes).pcrs;
  } else if (f.eventlog !== undefined) throw new CocoError('CLI_USAGE', '-e needs the quoted PCR values (-f)', { kind: 'usage' });
  const v = verifyQuote({ attest: readInput(io, f.message, 'quote message'), signature, ak, nonce: qualification(io, f.qualification), ...(pcrs === undefined ? {} : { pcrs }) });
  const checks: Check[] = [...v.checks];
  const logBytes = f.eventlog === undefined ? undefined : readInput(io, f.eventlog, 'event log');
  if (logBytes !== undefined && v.quoted !== undefined) {
    const log = parseEventLog(logBytes);
    const cmp = compareReplay(log, replayEventLog(log), v.quoted);
    const bad = cmp.registers.filter((r) => !r.ok);
    const where = cmp.firstDivergent === undefined ? '' : `; first divergent event ${cmp.firstDivergent.seq} (${cmp.firstDivergent.typeName} in PCR ${cmp.firstDivergent.index}): ${cmp.firstDivergent.reason}`;
    checks.push(check('eventlog', cmp.ok, cmp.ok ? 'the event log replays to the quoted PCR values' : `the event log does not replay to ${bad.map((r) => `${r.bank}:${r.register}`).join(', ')}${where}`));
  }
  if (f.referenceProvenance !== undefined) checks.push(referenceEventsCheck(io, f.referenceProvenance, logBytes));
  const valid = allOk(checks);
  if (f.json) {
    io.stdout(`${JSON.stringify({ valid, checks, attest: attestToJson(v.attest), ...(v.quoted ? { pcrs: Object.fromEntries([...v.quoted].map(([b, m]) => [b, Object.fromEntries([...m].map(([i, x]) => [String(i), toHex(x)]))])) } : {}) })}\n`);
  } else {
    if (valid && v.quoted !== undefined) io.stdout(`pcrs:\n${formatPcrRead(v.quoted)}`);
    if (valid) io.stdout(`sig: ${toHex('sig' in signature ? signature.sig : 'r' in signature ? ecdsaToDer(signature.r, signature.s) : new Uint8Array(0))}\n`);
    if (f.explain) io.stdout(`${renderChecks(checks)}\n`);
  }
  if (!valid) {
    for (const c of checks.filter((x) => !x.ok)) io.stderr(`ERROR: ${c.id}: ${c.detail}${c.expected !== undefined ? ` (expected ${c.expected}, actual ${c.actual})` : ''}\n`);
    // tpm2_checkquote exits 1 on any failed verification.
    io.exitCode = 1;
  }
}

/** `--compare`: tpm2_pcrread text, or tpm2-tools' serialized PCR file. */
function loadPcrs(bytes: Uint8Array, what: string): RegisterBanks {
  const text = Buffer.from(bytes).toString('utf8');
  if (/^\s*(pcrs:\s*)?[a-z0-9_]+\s*:\s*$/im.test(text.split('\n').slice(0, 2).join('\n'))) return parsePcrRead(text.replace(/^\s*pcrs:\s*$/m, ''), what);
  return parsePcrsFile(bytes).pcrs;
}

interface EventlogFlags {
  json?: boolean;
  replay?: boolean;
  compare?: string;
  padding?: boolean;
}

function eventlog(io: CliIO, file: string, f: EventlogFlags): void {
  const log = parseEventLog(readInput(io, file, 'event log'), { what: file, ...(f.padding ? { trailing: 'padding' as const } : {}) });
  const replay = replayEventLog(log);
  if (f.compare !== undefined) {
    const cmp = compareReplay(log, replay, loadPcrs(readInput(io, f.compare, 'PCR values'), f.compare));
    if (f.json) io.stdout(`${JSON.stringify({ ok: cmp.ok, registers: cmp.registers.map((r) => ({ bank: r.bank, pcr: r.register, ok: r.ok, expected: toHex(r.expected), replayed: toHex(r.replayed), ...(r.firstDivergent ? { firstDivergent: r.firstDivergent } : {}) })), ...(cmp.firstDivergent ? { firstDivergent: cmp.firstDivergent } : {}) })}\n`);
    else {
      for (const r of cmp.registers) io.stdout(`${r.ok ? 'ok  ' : 'FAIL'} ${r.bank}:${r.register}${r.ok ? '' : ` replayed 0x${toHex(r.replayed)}, expected 0x${toHex(r.expected)}`}\n`);
      const d = cmp.firstDivergent;
      if (d !== undefined) io.stdout(`first divergent event: ${d.seq} (${d.typeName} in PCR ${d.index}): ${d.reason}\n`);
      else if (!cmp.ok) io.stdout('first divergent event: not in the log (the PCRs hold extends the log does not record, or an event whose digest the log cannot show wrong)\n');
    }
    if (!cmp.ok) throw new CocoError('EVENTLOG_MISMATCH', `the event log does not replay to ${cmp.registers.filter((r) => !r.ok).length} PCR value(s)`, { kind: 'expectation' });
    return;
  }
  if (f.replay) {
    if (f.json) io.stdout(`${JSON.stringify(Object.fromEntries([...replay.banks].map(([b, m]) => [b, Object.fromEntries([...m].map(([i, v]) => [String(i), toHex(v)]))])))}\n`);
    else io.stdout(formatPcrRead(replay.banks));
    return;
  }
  if (f.json) io.stdout(`${JSON.stringify(eventLogJson(log))}\n`);
  else io.stdout(renderTpm2EventlogYaml(log, replay.banks));
}

function writeOutput(io: CliIO, file: string, bytes: Uint8Array, what: string): void {
  try {
    writeFileSync(resolve(io.cwd, file), bytes);
  } catch (e) {
    throw new CocoError('CLI_FILE', `cannot write ${what} ${file}: ${(e as Error).message}`, { kind: 'usage', cause: e });
  }
}

async function withTpm<T>(tcti: string, f: (c: TpmClient) => Promise<T>): Promise<T> {
  const client = new TpmClient(await openTransport(tcti));
  try {
    return await f(client);
  } finally {
    await client.transport.close();
  }
}

interface PcrreadFlags {
  tcti: string;
  output?: string;
  json?: boolean;
}

async function pcrread(io: CliIO, list: string | undefined, f: PcrreadFlags): Promise<void> {
  await withTpm(f.tcti, async (c) => {
    const selection = list !== undefined ? parsePcrList(list) : (await c.pcrBanks()).filter((b) => b.pcrs.length > 0);
    const values = await c.pcrRead(selection);
    if (f.output !== undefined) writeOutput(io, f.output, encodePcrsFile(values), 'PCR file');
    if (f.json) io.stdout(`${JSON.stringify(Object.fromEntries([...values].map(([b, m]) => [b, Object.fromEntries([...m].map(([i, v]) => [String(i), toHex(v)]))])))}\n`);
    else io.stdout(formatPcrRead(values));
  });
}

interface QuoteFlags {
  tcti: string;
  pcrList: string;
  keyContext?: string;
  keyAlgorithm: string;
  qualification?: string;
  message?: string;
  signature?: string;
  pcr?: string;
  akPublic?: string;
}

/** `tpm quote`: tpm2_quote's outputs; the AK is a loaded or persistent handle (-c), or one made for this quote. */
async function quote(io: CliIO, f: QuoteFlags): Promise<void> {
  const selection = parsePcrList(f.pcrList);
  const nonce = qualification(io, f.qualification);
  await withTpm(f.tcti, async (c) => {
    const cleanup: number[] = [];
    try {
      let ak: number;
      let publicBytes: Uint8Array;
      if (f.keyContext !== undefined) {
        ak = Number(f.keyContext);
        if (!Number.isInteger(ak) || ak < 0 || ak > 0xffffffff) throw new CocoError('CLI_USAGE', '-c takes a handle, e.g. 0x81010002', { kind: 'usage' });
        publicBytes = (await c.readPublic(ak)).publicBytes;
      } else {
        const kinds = ['rsa', 'rsapss', 'ecc256', 'ecc384'] as const;
        const kind = kinds.find((k) => k === f.keyAlgorithm);
        if (kind === undefined) throw new CocoError('CLI_USAGE', `-G must be one of ${kinds.join(', ')}`, { kind: 'usage' });
        const srk = await c.createPrimary(TPM_RH.OWNER, srkTemplate());
        cleanup.push(srk.handle);
        const created = await c.create(srk.handle, akTemplate(kind));
        const loaded = await c.load(srk.handle, created);
        cleanup.push(loaded.handle);
        ak = loaded.handle;
        publicBytes = created.publicBytes;
      }
      const q = await c.quote(ak, nonce, selection);
      const values = await c.pcrRead(selection);
      if (f.message !== undefined) writeOutput(io, f.message, q.attest, 'quote message');
      if (f.signature !== undefined) writeOutput(io, f.signature, q.signatureBytes, 'signature');
      if (f.pcr !== undefined) writeOutput(io, f.pcr, encodePcrsFile(values), 'PCR file');
      if (f.akPublic !== undefined) writeOutput(io, f.akPublic, new Uint8Array([publicBytes.length >> 8, publicBytes.length & 0xff, ...publicBytes]), 'AK public');
      const sig = q.signature;
      const sigHex = 'sig' in sig ? toHex(sig.sig) : 'r' in sig ? toHex(ecdsaToDer(sig.r, sig.s)) : '';
      const alg = { [TPM_ALG.RSASSA]: 'rsassa', [TPM_ALG.RSAPSS]: 'rsapss', [TPM_ALG.ECDSA]: 'ecdsa' }[sig.sigAlg as number] ?? String(sig.sigAlg);
      const pcrDigest = q.parsed.attested.type === 'quote' ? toHex(q.parsed.attested.pcrDigest) : '';
      io.stdout(`quoted: ${toHex(q.attest)}\nsignature:\n  alg: ${alg}\n  sig: ${sigHex}\npcrs:\n${formatPcrRead(values)}calcDigest: ${pcrDigest}\n`);
      if (values.size !== selection.length || formatPcrList([...values].map(([bank, m]) => ({ bank, pcrs: [...m.keys()] }))) !== formatPcrList(selection)) {
        io.stderr('WARN: the PCRs read after the quote do not cover the selection (unallocated bank?)\n');
      }
    } finally {
      for (const h of cleanup.reverse()) await c.flush(h);
    }
  });
}

/** `PCR:bank=hex` as tpm2_pcrextend takes it (several banks joined by `,`). */
function parseExtend(spec: string): { pcr: number; digests: { alg: number; digest: Uint8Array }[] } {
  const m = /^(\d{1,2}):(.+)$/.exec(spec);
  const bad = () => new CocoError('CLI_USAGE', `${spec}: expected PCR:bank=hex[,bank=hex…], e.g. 8:sha256=ab…`, { kind: 'usage' });
  if (m === null || Number(m[1]) > 23) throw bad();
  const digests = m[2].split(',').map((part) => {
    const [bank, hex] = part.split('=', 2);
    const alg = hashAlgorithmByName(bank ?? '');
    if (alg === undefined || hex === undefined || !/^[0-9a-fA-F]+$/.test(hex) || hex.length !== alg.size * 2) throw bad();
    return { alg: alg.id, digest: fromHex(hex) };
  });
  return { pcr: Number(m[1]), digests };
}

async function extend(io: CliIO, specs: string[], f: { tcti: string; eventlog?: string }): Promise<void> {
  const steps: { pcr: number; digests: { alg: number; digest: Uint8Array }[] }[] = [];
  if (f.eventlog !== undefined) {
    const log = parseEventLog(readInput(io, f.eventlog, 'event log'), { what: f.eventlog });
    for (const e of log.format === 'crypto-agile' ? log.events.slice(1) : log.events) {
      // PFP §10.4.1: EV_NO_ACTION events are logged but never extended.
      if (e.type !== 0x3 && e.index <= 23) steps.push({ pcr: e.index, digests: e.digests.map((d) => ({ alg: d.alg, digest: d.digest })) });
    }
  }
  steps.push(...specs.map(parseExtend));
  if (steps.length === 0) throw new CocoError('CLI_USAGE', 'nothing to extend: give PCR:bank=hex arguments or --eventlog', { kind: 'usage' });
  await withTpm(f.tcti, async (c) => {
    const allocated = new Set((await c.pcrBanks()).filter((b) => b.pcrs.length > 0).map((b) => b.hash));
    for (const s of steps) {
      const digests = s.digests.filter((d) => allocated.has(d.alg));
      if (digests.length > 0) await c.pcrExtend(s.pcr, digests);
    }
  });
  io.stderr(`extended ${steps.length} time(s)\n`);
}

export function register(program: Command, io: CliIO): void {
  const tpm = program.command('tpm').description('TPM 2.0 quotes and event logs');
  tpm
    .command('checkquote')
    .description('verify a TPM quote like tpm2_checkquote (exit 0 valid, 1 invalid); also RSA-PSS quotes from libtpms')
    .requiredOption('-u, --public <file>', 'AK public key: PEM or TPM2B_PUBLIC')
    .requiredOption('-m, --message <file>', 'quote message (TPMS_ATTEST)')
    .requiredOption('-s, --signature <file>', 'signature: TPMT_SIGNATURE, or plain (raw RSA / DER ECDSA)')
    .option('-F, --format <fmt>', 'ignored (signature format is detected), accepted for compatibility')
    .option('-f, --pcr <file>', 'PCR values: tpm2-tools serialized file, or bare values with -l')
    .option('-l, --pcr-list <list>', 'PCR selection of a bare values file, e.g. sha256:0,1,2+sha1:0')
    .option('-g, --hash-algorithm <alg>', 'hash of a plain signature (default sha256)')
    .option('-q, --qualification <hex|file>', 'expected qualifying data (nonce); absent means empty')
    .option('-e, --eventlog <file>', 'event log to replay against the quoted PCRs')
    .option('--reference-provenance <file>', 'a reference value record (kbs config get-reference-value NAME --provenance) whose predicted PCR events the -e log is replayed against')
    .option('--json', 'print {"valid","checks","attest","pcrs"}')
    .option('--explain', 'print every check made, passed or not')
    .action((f: CheckquoteFlags) => withJsonFailure(io, f, () => checkquote(io, f)));
  tpm
    .command('eventlog')
    .description("decode a TCG event log (tpm2_eventlog's YAML), replay it, or compare it with PCR values (exit 5 on mismatch)")
    .argument('<file>', 'binary event log (e.g. /sys/kernel/security/tpm0/binary_bios_measurements)')
    .option('--json', 'JSON instead of YAML')
    .option('--replay', 'print the replayed PCRs per bank (tpm2_pcrread format)')
    .option('--compare <pcrs>', 'PCR values (tpm2_pcrread output or a serialized PCR file) to compare the replay with')
    .option('--padding', 'accept erased bytes after the last record (CCEL tables)')
    .action((file: string, f: EventlogFlags) => eventlog(io, file, f));
  tpm
    .command('pcrread')
    .description('read PCRs from a TPM (tpm2_pcrread output)')
    .argument('[pcr-list]', 'e.g. sha256:0,1,2+sha1:all (default: every allocated PCR)')
    .option('-T, --tcti <tcti>', 'device:/dev/tpmrm0 or swtpm:host=H,port=P or swtpm:path=SOCKET', 'device:/dev/tpmrm0')
    .option('-o, --output <file>', 'also write the values in tpm2-tools serialized form')
    .option('--json', 'print {bank: {pcr: hex}}')
    .action((list: string | undefined, f: PcrreadFlags) => pcrread(io, list, f));
  tpm
    .command('quote')
    .description('quote PCRs with an attestation key (tpm2_quote output and files)')
    .requiredOption('-l, --pcr-list <list>', 'PCRs to quote, e.g. sha256:0,7,11')
    .option('-T, --tcti <tcti>', 'device:/dev/tpmrm0 or swtpm:host=H,port=P or swtpm:path=SOCKET', 'device:/dev/tpmrm0')
    .option('-c, --key-context <handle>', 'a loaded or persistent AK handle (default: create an AK under a fresh SRK for this quote)')
    .option('-G, --key-algorithm <kind>', 'kind of AK to create: rsa, rsapss, ecc256, ecc384', 'rsa')
    .option('-q, --qualification <hex|file>', 'qualifying data (nonce), at most 64 bytes')
    .option('-m, --message <file>', 'write the quote message (TPMS_ATTEST)')
    .option('-s, --signature <file>', 'write the signature (TPMT_SIGNATURE)')
    .option('-o, --pcr <file>', 'write the quoted PCR values (tpm2-tools serialized form)')
    .option('-u, --ak-public <file>', 'write the AK public area (TPM2B_PUBLIC)')
    .action((f: QuoteFlags) => quote(io, f));
  tpm
    .command('extend')
    .description('extend PCRs (tpm2_pcrextend), or replay a whole event log into a TPM (to stand in for a boot)')
    .argument('[pcr-digests...]', 'PCR:bank=hex[,bank=hex], e.g. 8:sha256=<init-data digest>')
    .option('-T, --tcti <tcti>', 'device:/dev/tpmrm0 or swtpm:host=H,port=P or swtpm:path=SOCKET', 'device:/dev/tpmrm0')
    .option('--eventlog <file>', "extend every event of this log (banks the TPM has not allocated are skipped), before the arguments")
    .action((specs: string[], f: { tcti: string; eventlog?: string }) => extend(io, specs, f));
  tpm
    .command('ak')
    .description("print the attestation key `kbs get-resource --tee tpm` quotes with (std base64 DER SPKI, for the trusted_aks reference value)")
    .option('-T, --tcti <tcti>', 'device:/dev/tpmrm0 or swtpm:host=H,port=P or swtpm:path=SOCKET', 'device:/dev/tpmrm0')
    .action(async (f: { tcti: string }) => io.stdout(`${await new TpmAttester({ tcti: f.tcti }).akPublic()}\n`));
}
