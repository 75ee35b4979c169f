/**
 * `cocokit tdx …`: show and verify DCAP TD quotes (exit codes as `snp verify`), fill the offline collateral
 * cache from Intel PCS, and make test roots and synthetic quotes for labs without TDX hardware. Each
 * command is a library call plus formatting.
 */
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { check, type Check } from '../formats/check.js';
import { parseJson } from '../formats/json.js';
import { explainEventLog, predictedRegisterOfRecord } from '../measure/explain-events.js';
import {
  PCS_URL,
  ROOT_CA_CRL_URL,
  TDX_TEST_ROOT_FILES,
  checkCcelReplay,
  parseCcelTable,
  collateralCachePath,
  replayCcel,
  uefiEventLogClaims,
  createTdxTestRoot,
  decodeTdAttributes,
  evidenceFromJson,
  evidenceToJson,
  fetchCollateralToCache,
  loadCachedCollateral,
  loadTdxRoot,
  loadTdxTestRoot,
  parseCollateralBundle,
  parseQuote,
  pckExtensionsJson,
  quotePckChain,
  quotePlatform,
  serializeCollateralBundle,
  tdxClaims,
  validateQuoteBody,
  verifyQuote,
  writeTdxTestRoot,
  pckExtensions,
  quoteClaims,
  type TdxCollateral,
  type TdxExpectations,
  type TdxQuote,
  type TestQuoteFields,
} from '../tee/tdx/index.js';
import { eventLogJson } from '../eventlog/index.js';
import { readInput, type CliIO } from './io.js';
import { printCheckReport, withJsonFailure } from './check-report.js';

/** A quote file: raw bytes, hex text, or the CoCo evidence JSON (`{"quote", "cc_eventlog"}`). */
export function loadQuoteInput(bytes: Uint8Array): { raw: Uint8Array; quote: TdxQuote; form: 'raw' | 'hex' | 'evidence'; ccEventLog: Uint8Array | null } {
  const text = Buffer.from(bytes.subarray(0, 1)).toString('latin1');
  if (text === '{') {
    const ev = evidenceFromJson(parseJson(bytes, 'TDX evidence'));
    return { raw: ev.quote, quote: parseQuote(ev.quote), form: 'evidence', ccEventLog: ev.ccEventLog };
  }
  const asText = Buffer.from(bytes).toString('latin1').trim();
  if (asText.length > 0 && /^[0-9a-fA-F\s]+$/.test(asText)) {
    const raw = fromHex(asText.replace(/\s+/g, ''), 'hex quote');
    return { raw, quote: parseQuote(raw), form: 'hex', ccEventLog: null };
  }
  return { raw: bytes, quote: parseQuote(bytes), form: 'raw', ccEventLog: null };
}

function hexOption(v: string | undefined, flag: string, max: number, exact = false): Uint8Array | undefined {
  if (v === undefined) return undefined;
  let b: Uint8Array;
  try {
    b = fromHex(v.trim(), flag);
  } catch {
    throw new CocoError('CLI_USAGE', `${flag} must be hex`, { kind: 'usage' });
  }
  if (b.length === 0 || b.length > max || (exact && b.length !== max)) throw new CocoError('CLI_USAGE', `${flag} must be ${exact ? '' : '1..'}${max} bytes of hex`, { kind: 'usage' });
  return b;
}

function timeOption(v: string | undefined): Date {
  const now = v === undefined ? new Date() : new Date(v);
  if (Number.isNaN(now.getTime())) throw new CocoError('CLI_USAGE', `--at ${v} is not an ISO 8601 time`, { kind: 'usage' });
  return now;
}

function showText(q: TdxQuote, form: string, ccEventLog: Uint8Array | null): string {
  const b = q.body;
  const a = decodeTdAttributes(b.tdAttributes);
  const flags = Object.entries({ DEBUG: a.debug, sept_ve_disable: a.septVeDisable, pks: a.protectionKeys, kl: a.keyLocker, perfmon: a.perfmon })
    .filter(([, v]) => v)
    .map(([k]) => k)
    .join(' ');
  const lines: Array<[string, string]> = [
    ['form', form],
    ['version', `${q.header.version}${q.header.version === 5 ? ` (body type ${q.bodyType}: TDX ${q.bodyType === 3 ? '1.5' : '1.0'})` : ''}`],
    ['qe_vendor_id', toHex(q.header.qeVendorId)],
    ['tee_tcb_svn', toHex(b.teeTcbSvn)],
    ['mr_seam', toHex(b.mrSeam)],
    ['mrsigner_seam', toHex(b.mrSignerSeam)],
    ['seam_attributes', toHex(b.seamAttributes)],
    ['td_attributes', `${toHex(b.tdAttributes)} ${flags || '-'}`],
    ['xfam', toHex(b.xfam)],
    ['mr_td', toHex(b.mrTd)],
    ['mr_config_id', toHex(b.mrConfigId)],
    ['mr_owner', toHex(b.mrOwner)],
    ['mr_owner_config', toHex(b.mrOwnerConfig)],
    ['rtmr0', toHex(b.rtmr0)],
    ['rtmr1', toHex(b.rtmr1)],
    ['rtmr2', toHex(b.rtmr2)],
    ['rtmr3', toHex(b.rtmr3)],
    ['report_data', toHex(b.reportData)],
  ];
  if (b.teeTcbSvn2 && b.mrServiceTd) lines.push(['tee_tcb_svn2', toHex(b.teeTcbSvn2)], ['mr_servicetd', toHex(b.mrServiceTd)]);
  const qe = q.signatureData.qeReport;
  lines.push(['qe', `mrsigner ${toHex(qe.mrSigner)} isvprodid ${qe.isvProdId} isvsvn ${qe.isvSvn}`]);
  try {
    const e = pckExtensions(quotePckChain(q)[0]);
    lines.push(['pck', `fmspc ${toHex(e.fmspc)} pceid ${toHex(e.pceId)} pcesvn ${e.tcb.pceSvn} sgx_tcb ${e.tcb.sgxComponents.join(',')}`]);
  } catch (err) {
    lines.push(['pck', `unreadable: ${(err as Error).message}`]);
  }
  if (q.trailing.length) lines.push(['trailing', `${q.trailing.length} byte(s) after the signature data`]);
  if (ccEventLog) lines.push(['cc_eventlog', `${ccEventLog.length} bytes`]);
  const w = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}

interface VerifyFlags {
  ccel?: string;
  collateral?: string;
  cache?: string;
  root?: string;
  at?: string;
  allowExpiredCollateral?: boolean;
  reportData?: string;
  mrConfigId?: string;
  mrtd?: string;
  rtmr0?: string;
  rtmr1?: string;
  rtmr2?: string;
  rtmr3?: string;
  debug?: boolean;
  json?: boolean;
  explain?: boolean;
  referenceProvenance?: string;
}

/** Exit code of a finished verification: 2 when authenticity or the platform TCB failed, 5 when only an expectation did. */
export function tdxExitCode(checks: readonly Check[], expectations: readonly Check[]): number {
  const failed = checks.filter((c) => !c.ok);
  if (failed.length === 0) return 0;
  return failed.some((c) => !expectations.includes(c)) ? 2 : 5;
}

async function verifyCommand(io: CliIO, file: string, f: VerifyFlags): Promise<void> {
  if (f.collateral && f.cache) throw new CocoError('CLI_USAGE', 'give --collateral or --cache, not both', { kind: 'usage' });
  const now = timeOption(f.at);
  const exp: TdxExpectations = {
    reportData: hexOption(f.reportData, '--report-data', 64),
    mrConfigId: hexOption(f.mrConfigId, '--mr-config-id', 64),
    mrTd: hexOption(f.mrtd, '--mrtd', 48, true),
    rtmrs: [f.rtmr0, f.rtmr1, f.rtmr2, f.rtmr3].map((r, i) => hexOption(r, `--rtmr${i}`, 48, true) ?? null),
    debugAllowed: f.debug === false ? false : undefined,
  };
  const { raw, quote, ccEventLog } = loadQuoteInput(readInput(io, file, 'quote'));
  const log = f.ccel ? readInput(io, f.ccel, 'CCEL log') : ccEventLog;
  const root = f.root ? loadTdxRoot(Buffer.from(readInput(io, f.root, 'root certificate')).toString('utf8'), `${f.root} (not Intel)`) : undefined;
  if (f.root) io.stderr(`warning: verifying against ${f.root} instead of the Intel SGX Root CA\n`);
  let collateral: TdxCollateral | undefined;
  if (f.collateral) collateral = parseCollateralBundle(readInput(io, f.collateral, 'collateral bundle'));
  else if (f.cache) {
    const p = quotePlatform(quote);
    collateral = loadCachedCollateral(resolve(io.cwd, f.cache), p.fmspc, p.ca);
  }
  const v = verifyQuote(quote, { now, raw, root, collateral, allowExpiredCollateral: f.allowExpiredCollateral });
  const expectations = validateQuoteBody(quote.body, exp);
  const claims = tdxClaims(v);
  let replayChecks: Check[] = [];
  if (log) {
    const replay = replayCcel(log);
    replayChecks = checkCcelReplay(replay, quote.body);
    claims.uefi_event_logs = uefiEventLogClaims(replay.log);
  }
  if (f.referenceProvenance !== undefined) expectations.push(referenceEventsCheck(io, f.referenceProvenance, log));
  const checks = [...v.checks, ...replayChecks, ...expectations];
  printCheckReport(io, checks, tdxExitCode(checks, expectations), f, {
    json: () => ({ claims }),
    valid: () => {
      const tcb = v.tcb ? `TCB ${v.tcb.status}${v.tcb.advisoryIds.length ? ` (${v.tcb.advisoryIds.join(', ')})` : ''}` : 'TCB not evaluated (no collateral)';
      return `valid: TD quote v${quote.header.version} signed under the ${root ? root.label : 'Intel'} root, ${tcb}, ${checks.length} checks passed\n`;
    },
  });
}

function testRootCommand(io: CliIO, f: { out: string }): void {
  const dir = resolve(io.cwd, f.out);
  const t = createTdxTestRoot({ notBefore: new Date(Date.now() - 86_400_000) });
  const paths = writeTdxTestRoot(dir, t);
  io.stdout(
    [
      'TEST root of trust for TDX (NOT Intel: O=cocokit TEST root (not Intel))',
      `  root:  ${paths.root}`,
      `  certs: ${paths.certs} (PCK Platform CA, PCK for FMSPC ${toHex(t.platform.fmspc)}, TCB Signing)`,
      `  keys:  ${paths.keys} (sign synthetic quotes and collateral)`,
      '',
      `Sign a quote and fill a collateral cache:  cocokit tdx test-quote --root-dir ${f.out} --mr-config-id <hex> --cache <dir> --out evidence.json`,
      'Trust it in a KBS config (tests and labs only):',
      '  [attestation_service.verifier_config.tdx_verifier]',
      `  trusted_root = ${JSON.stringify(paths.root)}`,
      '  collateral_cache = "<dir>"',
      '',
    ].join('\n'),
  );
}

interface TestQuoteFlags {
  rootDir: string;
  version: string;
  mrtd?: string;
  rtmr0?: string;
  rtmr1?: string;
  rtmr2?: string;
  rtmr3?: string;
  mrConfigId?: string;
  reportData?: string;
  debug?: boolean;
  cache?: string;
  format: string;
  out?: string;
}

function padded(v: string | undefined, flag: string, size: number): Uint8Array | undefined {
  const b = hexOption(v, flag, size);
  if (!b) return undefined;
  const out = new Uint8Array(size);
  out.set(b);
  return out;
}

function testQuoteCommand(io: CliIO, f: TestQuoteFlags): void {
  if (f.format !== 'json' && f.format !== 'raw') throw new CocoError('CLI_USAGE', '--format must be json or raw', { kind: 'usage' });
  if (f.version !== '4' && f.version !== '5') throw new CocoError('CLI_USAGE', '--quote-version must be 4 or 5', { kind: 'usage' });
  const t = loadTdxTestRoot(resolve(io.cwd, f.rootDir));
  const fields: TestQuoteFields = { version: f.version === '5' ? 5 : 4 };
  const set = <K extends keyof TestQuoteFields>(k: K, v: TestQuoteFields[K] | undefined): void => {
    if (v !== undefined) fields[k] = v;
  };
  set('mrTd', hexOption(f.mrtd, '--mrtd', 48, true));
  set('rtmr0', hexOption(f.rtmr0, '--rtmr0', 48, true));
  set('rtmr1', hexOption(f.rtmr1, '--rtmr1', 48, true));
  set('rtmr2', hexOption(f.rtmr2, '--rtmr2', 48, true));
  set('rtmr3', hexOption(f.rtmr3, '--rtmr3', 48, true));
  // MRCONFIGID takes the init-data digest padded or truncated to 48 bytes (specs §6.1), as `initdata bind --tee tdx` prints it.
  set('mrConfigId', padded(f.mrConfigId, '--mr-config-id', 48));
  set('reportData', padded(f.reportData, '--report-data', 64));
  if (f.debug) fields.tdAttributes = new Uint8Array([1, 0, 0, 0x10, 0, 0, 0, 0]);
  const raw = t.signQuote(fields);
  if (f.cache) {
    const path = collateralCachePath(resolve(io.cwd, f.cache), t.platform.fmspc, 'platform');
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, serializeCollateralBundle(t.collateral({ issued: new Date(Date.now() - 86_400_000) })));
    io.stderr(`collateral (valid 30 days): ${path}\n`);
  }
  const bytes = f.format === 'raw' ? raw : new TextEncoder().encode(`${JSON.stringify(evidenceToJson({ quote: raw, ccEventLog: null }))}\n`);
  if (f.out) {
    writeFileSync(resolve(io.cwd, f.out), bytes);
    io.stdout(`${resolve(io.cwd, f.out)}\n`);
  } else io.stdoutBytes(bytes);
}

async function fetchCollateralCommand(io: CliIO, file: string, f: { cache: string; pcsUrl: string; rootCrlUrl: string; update?: string }): Promise<void> {
  if (f.update !== undefined && f.update !== 'standard' && f.update !== 'early') throw new CocoError('CLI_USAGE', '--update must be standard or early', { kind: 'usage' });
  const { quote } = loadQuoteInput(readInput(io, file, 'quote'));
  const path = await fetchCollateralToCache(quote, { cacheDir: resolve(io.cwd, f.cache), pcsUrl: f.pcsUrl, rootCrlUrl: f.rootCrlUrl, update: f.update as 'standard' | 'early' | undefined });
  io.stdout(`${path}\n`);
}

function eventlogCommand(io: CliIO, file: string, f: { table?: string; json?: boolean }): void {
  const table = f.table ? parseCcelTable(readInput(io, f.table, 'CCEL table')) : undefined;
  if (table && table.ccType !== 2) throw new CocoError('TDX_CCEL', `the CCEL table names CC type ${table.ccType}, not TDX (2)`, { kind: 'input' });
  const replay = replayCcel(readInput(io, file, 'CCEL log'));
  const rtmrs = Object.fromEntries(replay.rtmrs.map((v, i) => [`rtmr_${i}`, toHex(v)]));
  if (f.json) {
    const tableJson = table ? { ...table, laml: `0x${table.laml.toString(16)}`, lasa: `0x${table.lasa.toString(16)}` } : undefined;
    io.stdout(`${JSON.stringify({ ...(tableJson ? { table: tableJson } : {}), ...rtmrs, log: eventLogJson(replay.log) })}\n`);
    return;
  }
  if (table) io.stdout(`CCEL table: ${table.oemId.trim()}/${table.oemTableId.trim()} log area 0x${table.lasa.toString(16)} (+0x${table.laml.toString(16)})\n`);
  for (const e of replay.log.events.slice(1)) {
    const mr = e.index >= 1 && e.index <= 4 ? `RTMR${e.index - 1}` : `MR${e.index}`;
    io.stdout(`${String(e.seq).padStart(4)} ${mr.padEnd(5)} ${e.typeName.padEnd(34)} ${e.digests.map((d) => toHex(d.digest).slice(0, 16)).join(' ')}…\n`);
  }
  for (const [k, v] of Object.entries(rtmrs)) io.stdout(`${k}: ${v}\n`);
}

export function register(program: Command, io: CliIO): void {
  const tdx = program.command('tdx').description('Intel TDX DCAP quotes: show, verify, fetch collateral, test roots and synthetic quotes');
  tdx
    .command('show')
    .description('decode a TD quote (raw, hex or CoCo JSON evidence)')
    .argument('<quote>', 'quote file')
    .option('--json', 'print the decoded fields as JSON (Trustee claim names)')
    .action((file: string, f: { json?: boolean }) => {
      const { quote, form, ccEventLog } = loadQuoteInput(readInput(io, file, 'quote'));
      if (!f.json) {
        io.stdout(showText(quote, form, ccEventLog));
        return;
      }
      let pck: unknown = null;
      try {
        pck = pckExtensionsJson(pckExtensions(quotePckChain(quote)[0]));
      } catch {
        pck = null; // shown as absent; verification reports what is wrong with the chain
      }
      io.stdout(`${JSON.stringify({ form, quote: quoteClaims(quote), td_attributes: decodeTdAttributes(quote.body.tdAttributes), pck, trailing_bytes: quote.trailing.length }, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}\n`);
    });
  tdx
    .command('verify')
    .description('verify a TD quote against the Intel SGX Root CA and check expectations (exit 0 valid, 2 signature/chain/collateral/TCB, 3 collateral unavailable, 5 expectation)')
    .argument('<quote>', 'quote file (raw, hex or CoCo JSON evidence)')
    .option('--ccel <file>', 'CCEL log area (/sys/firmware/acpi/tables/data/CCEL) to replay against RTMR0..3; evidence JSON carries its own')
    .option('--collateral <file>', 'collateral bundle (QuoteCollateralV3 JSON)')
    .option('--cache <dir>', 'offline collateral cache (filled by tdx fetch-collateral)')
    .option('--root <pem>', 'root certificate that REPLACES the Intel SGX Root CA (test roots)')
    .option('--at <iso8601>', 'verification time for certificates and collateral (default: now)')
    .option('--allow-expired-collateral', 'report expired collateral instead of failing (Intel QvE behaviour)')
    .option('--report-data <hex>', 'expected REPORTDATA (zero-padded to 64 bytes)')
    .option('--mr-config-id <hex>', 'expected MRCONFIGID, e.g. the init-data digest (zero-padded or truncated to 48 bytes)')
    .option('--mrtd <hex>', 'expected MRTD (48 bytes)')
    .option('--rtmr0 <hex>', 'expected RTMR0 (48 bytes)')
    .option('--rtmr1 <hex>', 'expected RTMR1 (48 bytes)')
    .option('--rtmr2 <hex>', 'expected RTMR2 (48 bytes)')
    .option('--rtmr3 <hex>', 'expected RTMR3 (48 bytes)')
    .option('--no-debug', 'require the DEBUG attribute (and every other TUD bit) to be clear')
    .option('--reference-provenance <file>', 'a reference value record (kbs config get-reference-value NAME --provenance) whose predicted RTMR events the log is replayed against')
    .option('--json', 'print {"valid","checks","claims"} as the last line')
    .option('--explain', 'print every check made, passed or not')
    // With --json a script still gets its one-object last line, carrying the error instead of checks.
    .action((file: string, f: VerifyFlags) => withJsonFailure(io, f, () => verifyCommand(io, file, f)));
  tdx
    .command('eventlog')
    .description('list a CCEL event log (/sys/firmware/acpi/tables/data/CCEL) and the RTMR0..3 it replays to')
    .argument('<ccel>', 'CCEL log area')
    .option('--table <file>', 'the ACPI CCEL table (/sys/firmware/acpi/tables/CCEL), checked and shown')
    .option('--json', 'events (decoded) and RTMRs as JSON')
    .action((file: string, f: { table?: string; json?: boolean }) => eventlogCommand(io, file, f));
  tdx
    .command('fetch-collateral')
    .description("download the quote's TCB Info, QE Identity and CRLs from Intel PCS (or a PCCS) into an offline cache")
    .argument('<quote>', 'quote file (raw, hex or CoCo JSON evidence)')
    .requiredOption('--cache <dir>', 'cache directory')
    .option('--pcs-url <url>', 'PCS or PCCS base URL', PCS_URL)
    .option('--root-crl-url <url>', 'Intel SGX Root CA CRL URL', ROOT_CA_CRL_URL)
    .option('--update <type>', 'TCB evaluation: standard or early (PCS default when absent)')
    .action((file: string, f: { cache: string; pcsUrl: string; rootCrlUrl: string; update?: string }) => fetchCollateralCommand(io, file, f));
  tdx
    .command('test-root')
    .description(`make a TEST (non-Intel) DCAP root of trust: ${TDX_TEST_ROOT_FILES.root}, ${TDX_TEST_ROOT_FILES.certs}, ${TDX_TEST_ROOT_FILES.keys}`)
    .requiredOption('--out <dir>', 'directory to write into')
    .action((f: { out: string }) => testRootCommand(io, f));
  tdx
    .command('test-quote')
    .description('sign a synthetic TD quote with a test root: CoCo JSON evidence or raw bytes; optionally write matching collateral')
    .requiredOption('--root-dir <dir>', 'directory made by "tdx test-root"')
    .option('--quote-version <n>', '4 (TDX 1.0 body) or 5 (TDX 1.5 body)', '4')
    .option('--mrtd <hex>', 'MRTD (48 bytes; default zero)')
    .option('--rtmr0 <hex>', 'RTMR0 (48 bytes)')
    .option('--rtmr1 <hex>', 'RTMR1 (48 bytes)')
    .option('--rtmr2 <hex>', 'RTMR2 (48 bytes)')
    .option('--rtmr3 <hex>', 'RTMR3 (48 bytes)')
    .option('--mr-config-id <hex>', 'MRCONFIGID (up to 48 bytes, zero-padded; e.g. from cocokit initdata bind --tee tdx)')
    .option('--report-data <hex>', 'REPORTDATA (up to 64 bytes, zero-padded)')
    .option('--debug', 'set the DEBUG TD attribute')
    .option('--cache <dir>', 'also write collateral for the test platform into this cache directory')
    .option('--format <fmt>', 'json (CoCo evidence) or raw', 'json')
    .option('--out <file>', 'write here instead of stdout')
    .action((f: Omit<TestQuoteFlags, 'version'> & { quoteVersion: string }) => testQuoteCommand(io, { ...f, version: f.quoteVersion }));
}

/**
 * `--reference-provenance`: the log replayed against the RTMR events a reference value's provenance predicts;
 * the check names the first event that differs.
 */
function referenceEventsCheck(io: CliIO, file: string, log: Uint8Array | null | undefined): Check {
  const doc = parseJson(readInput(io, file, 'reference provenance'), file);
  const predicted = predictedRegisterOfRecord(doc);
  if (predicted === undefined) throw new CocoError('CLI_USAGE', `${file}: no predicted events (provenance "events") in it; register the value --from-artifacts with a kernel`, { kind: 'usage' });
  if (!log) return check('reference-events', false, `no event log to replay against the ${predicted.register} events of ${file} (give --ccel)`);
  const m = explainEventLog('tdx', log, predicted);
  return check('reference-events', m === undefined, m === undefined ? `the log's ${predicted.register} events are the ones the artifacts predict` : m.message);
}
