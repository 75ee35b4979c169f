/**
 * `cocokit snp …`: show, verify (go-sev-guest `check`-style flags and exit codes) and fetch-vcek (fills the
 * offline cache in Trustee's layout from AMD KDS). Each command is a library call plus formatting.
 */
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import type { Check } from '../formats/check.js';
import {
  CRYPTO_CHECKS,
  KDS_URL,
  certTypeName,
  commonName,
  PRODUCTS,
  decodeKeyInfo,
  decodePlatformInfo,
  decodePolicy,
  formatVersion,
  loadCertificate,
  loadPemBundle,
  loadReport,
  parsePolicyExpectation,
  parseTcbMinimum,
  reportProduct,
  snpClaims,
  validateReport,
  verifyReport,
  createTestRoot,
  fetchVcekToCache,
  evidenceToJson,
  loadTestChip,
  parseReport,
  rootsFromPem,
  signTestReport,
  writeTestRoot,
  TEST_ROOT_FILES,
  type CertType,
  type SnpExpectations,
  type SnpProduct,
  type SnpReport,
  type TcbVersion,
  type RootSet,
} from '../tee/snp/index.js';
import { readInput, type CliIO } from './io.js';
import { printCheckReport, withJsonFailure } from './check-report.js';

function productOption(p: string | undefined): SnpProduct | undefined {
  if (p === undefined) return undefined;
  const v = p.toLowerCase();
  if (!(PRODUCTS as readonly string[]).includes(v)) throw new CocoError('CLI_USAGE', `--product must be one of ${PRODUCTS.join(', ')}`, { kind: 'usage' });
  return v as SnpProduct;
}

function hexOption(v: string | undefined, flag: string, max: number): Uint8Array | undefined {
  if (v === undefined) return undefined;
  let b: Uint8Array;
  try {
    b = fromHex(v.trim(), flag);
  } catch {
    throw new CocoError('CLI_USAGE', `${flag} must be hex`, { kind: 'usage' });
  }
  if (b.length === 0 || b.length > max) throw new CocoError('CLI_USAGE', `${flag} must be 1..${max} bytes of hex`, { kind: 'usage' });
  return b;
}

const tcbText = (t: TcbVersion): string =>
  `${t.fmc === null ? '' : `fmc=${t.fmc} `}bl=${t.bootloader} tee=${t.tee} snp=${t.snp} ucode=${t.microcode} (0x${t.raw.toString(16).padStart(16, '0')})`;

/** JSON-safe view of every decoded field. */
export function reportJson(r: SnpReport): Record<string, unknown> {
  const tcb = (t: TcbVersion): Record<string, unknown> => ({ fmc: t.fmc, bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode, raw: `0x${t.raw.toString(16).padStart(16, '0')}` });
  const big = (v: bigint | null): string | null => (v === null ? null : `0x${v.toString(16)}`);
  const policy = decodePolicy(r.policy);
  const plat = decodePlatformInfo(r.platformInfo);
  return {
    version: r.version,
    product: reportProduct(r),
    guest_svn: r.guestSvn,
    policy: { raw: big(r.policy), ...policy, reservedHigh: big(policy.reservedHigh) },
    family_id: toHex(r.familyId),
    image_id: toHex(r.imageId),
    vmpl: r.vmpl,
    signature_algo: r.signatureAlgo,
    current_tcb: tcb(r.currentTcb),
    platform_info: { raw: big(r.platformInfo), ...plat, reserved: big(plat.reserved) },
    key_info: { raw: r.keyInfo, ...decodeKeyInfo(r.keyInfo) },
    report_data: toHex(r.reportData),
    measurement: toHex(r.measurement),
    host_data: toHex(r.hostData),
    id_key_digest: toHex(r.idKeyDigest),
    author_key_digest: toHex(r.authorKeyDigest),
    report_id: toHex(r.reportId),
    report_id_ma: toHex(r.reportIdMa),
    reported_tcb: tcb(r.reportedTcb),
    cpuid: r.cpuidFamId === null ? null : { family: r.cpuidFamId, model: r.cpuidModId, stepping: r.cpuidStep },
    chip_id: toHex(r.chipId),
    committed_tcb: tcb(r.committedTcb),
    current_version: formatVersion(r.current),
    committed_version: formatVersion(r.committed),
    launch_tcb: tcb(r.launchTcb),
    launch_mit_vector: big(r.launchMitVector),
    current_mit_vector: big(r.currentMitVector),
    tcb_layout: r.tcbLayout,
    signature: { r: toHex(r.signatureR), s: toHex(r.signatureS) },
  };
}

function showText(r: SnpReport): string {
  const pol = decodePolicy(r.policy);
  const plat = decodePlatformInfo(r.platformInfo);
  const ki = decodeKeyInfo(r.keyInfo);
  const product = reportProduct(r);
  const flags = (o: Record<string, unknown>): string =>
    Object.entries(o)
      .filter(([, v]) => v === true)
      .map(([k]) => k)
      .join(' ') || '-';
  const lines: Array<[string, string]> = [
    ['version', String(r.version)],
    ['product', product ?? (r.cpuidFamId === null ? 'unknown (version 2: no CPUID)' : 'unknown CPU')],
    ['cpuid', r.cpuidFamId === null ? '-' : `family 0x${r.cpuidFamId.toString(16)} model 0x${r.cpuidModId!.toString(16)} stepping 0x${r.cpuidStep!.toString(16)}`],
    ['guest_svn', String(r.guestSvn)],
    ['policy', `0x${r.policy.toString(16)} abi>=${pol.abiMajor}.${pol.abiMinor} ${flags({ smt: pol.smt, migrate_ma: pol.migrateMa, DEBUG: pol.debug, single_socket: pol.singleSocket, cxl: pol.cxlAllow, aes256xts: pol.memAes256Xts, rapl_dis: pol.raplDis, ciphertext_hiding: pol.ciphertextHiding, page_swap_disable: pol.pageSwapDisable })}`],
    ['platform_info', `0x${r.platformInfo.toString(16)} ${flags({ smt: plat.smtEnabled, tsme: plat.tsmeEnabled, ecc: plat.eccEnabled, rapl_dis: plat.raplDisabled, ciphertext_hiding: plat.ciphertextHidingEnabled, alias_check: plat.aliasCheckComplete, tio: plat.tioEnabled })}`],
    ['signing_key', `${ki.signingKey}${ki.maskChipKey ? ' mask_chip_key' : ''}${ki.authorKeyEn ? ' author_key' : ''}`],
    ['vmpl', String(r.vmpl)],
    ['measurement', toHex(r.measurement)],
    ['report_data', toHex(r.reportData)],
    ['host_data', toHex(r.hostData)],
    ['family_id', toHex(r.familyId)],
    ['image_id', toHex(r.imageId)],
    ['id_key_digest', toHex(r.idKeyDigest)],
    ['author_key_digest', toHex(r.authorKeyDigest)],
    ['report_id', toHex(r.reportId)],
    ['report_id_ma', toHex(r.reportIdMa)],
    ['chip_id', toHex(r.chipId)],
    ['current_tcb', tcbText(r.currentTcb)],
    ['reported_tcb', tcbText(r.reportedTcb)],
    ['committed_tcb', tcbText(r.committedTcb)],
    ['launch_tcb', tcbText(r.launchTcb)],
    ['firmware', `current ${formatVersion(r.current)}, committed ${formatVersion(r.committed)}`],
  ];
  if (r.launchMitVector !== null) lines.push(['mit_vector', `launch 0x${r.launchMitVector.toString(16)}, current 0x${r.currentMitVector!.toString(16)}`]);
  const w = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}

function certSummary(type: CertType, data: Uint8Array): { type: string; length: number; subject?: string; issuer?: string } {
  const out = { type: certTypeName(type), length: data.length };
  if (type === 'CRL') return out;
  try {
    const cert = loadCertificate(data, 'certificate table entry');
    return { ...out, subject: commonName(cert.subject) ?? undefined, issuer: commonName(cert.issuer) ?? undefined };
  } catch {
    return out; // shown as an opaque blob; verification reports what is wrong with it
  }
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

interface VerifyFlags {
  roots?: string;
  vcek?: string;
  vlek?: string;
  certChain?: string;
  crl?: string[];
  cache?: string;
  at?: string;
  measurement?: string;
  reportData?: string;
  hostData?: string;
  minTcb?: string;
  product?: string;
  vmpl?: string;
  policy?: string;
  json?: boolean;
  explain?: boolean;
}

/** Exit code of a finished verification: 2 when authenticity failed, 5 when only an expectation did. */
export function verdictExitCode(checks: readonly Check[]): number {
  const failed = checks.filter((c) => !c.ok);
  if (failed.length === 0) return 0;
  return failed.some((c) => CRYPTO_CHECKS.has(c.id)) ? 2 : 5;
}

async function verifyCommand(io: CliIO, file: string, f: VerifyFlags): Promise<void> {
  if (f.vcek && f.vlek) throw new CocoError('CLI_USAGE', 'give --vcek or --vlek, not both', { kind: 'usage' });
  const product = productOption(f.product);
  const now = f.at === undefined ? new Date() : new Date(f.at);
  if (Number.isNaN(now.getTime())) throw new CocoError('CLI_USAGE', `--at ${f.at} is not an ISO 8601 time`, { kind: 'usage' });
  const minTcb = f.minTcb === undefined ? undefined : parseTcbMinimum(f.minTcb);
  if (minTcb === null) throw new CocoError('CLI_USAGE', '--min-tcb must look like bl=3,tee=0,snp=8,ucode=115[,fmc=1]', { kind: 'usage' });
  let vmpl: number | undefined;
  if (f.vmpl !== undefined) {
    if (!/^[0-3]$/.test(f.vmpl)) throw new CocoError('CLI_USAGE', '--vmpl must be 0..3', { kind: 'usage' });
    vmpl = Number(f.vmpl);
  }
  const policy = f.policy === undefined ? undefined : parsePolicyExpectation(f.policy);
  if (policy === null) throw new CocoError('CLI_USAGE', '--policy must look like debug=false,migrate_ma=false[,smt=true][,single_socket=false]', { kind: 'usage' });
  const exp: SnpExpectations = {
    policy,
    measurement: hexOption(f.measurement, '--measurement', 48),
    reportData: hexOption(f.reportData, '--report-data', 64),
    hostData: hexOption(f.hostData, '--host-data', 32),
    minTcb,
    product,
    vmpl,
  };
  if (exp.measurement && exp.measurement.length !== 48) throw new CocoError('CLI_USAGE', '--measurement must be 48 bytes of hex', { kind: 'usage' });

  const loaded = loadReport(readInput(io, file, 'report'), { product });
  // --roots replaces the shipped AMD roots, only for this run and only because it was asked for.
  let roots: RootSet | undefined;
  if (f.roots) {
    const rootProduct = product ?? reportProduct(loaded.report);
    if (!rootProduct) throw new CocoError('CLI_USAGE', 'version-2 report with --roots: pass --product', { kind: 'usage' });
    roots = rootsFromPem(rootProduct, Buffer.from(readInput(io, f.roots, 'root bundle')).toString('utf8'), `${f.roots} (not AMD)`);
    io.stderr(`warning: verifying against ${f.roots} instead of the genuine AMD roots\n`);
  }
  const vekFile = f.vcek ?? f.vlek;
  const chain = f.certChain ? loadPemBundle(Buffer.from(readInput(io, f.certChain, 'certificate chain')).toString('utf8'), f.certChain) : undefined;
  const v = verifyReport(loaded.report, {
    now,
    product,
    raw: loaded.raw,
    vek: vekFile ? readInput(io, vekFile, 'VCEK/VLEK') : undefined,
    certTable: loaded.certTable ?? undefined,
    chain,
    crls: f.crl?.map((c) => readInput(io, c, 'CRL')),
    cacheDir: f.cache ? resolve(io.cwd, f.cache) : undefined,
    roots,
  });
  if (f.vlek && v.signer !== 'vlek') v.checks.push({ id: 'signing-key', ok: false, detail: '--vlek given but the report is VCEK-signed' });
  if (f.vcek && v.signer !== 'vcek') v.checks.push({ id: 'signing-key', ok: false, detail: '--vcek given but the report is VLEK-signed' });
  const checks = [...v.checks, ...validateReport(v.report, exp, v.product)];
  printCheckReport(io, checks, verdictExitCode(checks), f, {
    json: () => ({ claims: snpClaims(v.report, v.product) }),
    valid: () => `valid: ${v.product} report signed by ${v.signer.toUpperCase()} (${v.vekSource}), ${checks.length} checks passed\n`,
  });
}

function testRootCommand(io: CliIO, f: { out: string; product?: string }): void {
  const product = productOption(f.product) ?? 'milan';
  const root = createTestRoot({ product });
  // Valid from yesterday for seven years, so a report made now verifies now.
  const chip = root.createChip({ notBefore: new Date(Date.now() - 86_400_000) });
  const paths = writeTestRoot(resolve(io.cwd, f.out), root, chip);
  io.stdout(
    [
      `TEST root of trust for ${product} (NOT AMD: O=cocokit TEST root (not AMD))`,
      `  roots:    ${paths.roots} (ARK + ASK)`,
      `  vcek:     ${paths.vcek} (chip ${Buffer.from(chip.chipId).toString('hex').slice(0, 16)}…, bl=${chip.tcb.bootloader} tee=${chip.tcb.tee} snp=${chip.tcb.snp} ucode=${chip.tcb.microcode})`,
      `  vcek key: ${paths.vcekKey} (signs synthetic reports)`,
      '',
      'Sign a report:  cocokit snp test-report --root-dir ' + f.out + ' --measurement <hex> --report-data <hex> --host-data <hex> --out evidence.json',
      'Trust it in a KBS config (tests and labs only):',
      '  [attestation_service.verifier_config.snp_verifier]',
      `  trusted_roots = [{ product = "${product}", pem = ${JSON.stringify(paths.roots)} }]`,
      '',
    ].join('\n'),
  );
}

function padded(v: string | undefined, flag: string, size: number): Uint8Array | undefined {
  const b = hexOption(v, flag, size);
  if (!b) return undefined;
  const out = new Uint8Array(size);
  out.set(b);
  return out;
}

function testReportCommand(io: CliIO, f: { rootDir: string; measurement?: string; reportData?: string; hostData?: string; vmpl?: string; policy?: string; format: string; out?: string }): void {
  if (f.format !== 'json' && f.format !== 'raw') throw new CocoError('CLI_USAGE', '--format must be json or raw', { kind: 'usage' });
  const measurement = hexOption(f.measurement, '--measurement', 48);
  if (measurement && measurement.length !== 48) throw new CocoError('CLI_USAGE', '--measurement must be 48 bytes of hex', { kind: 'usage' });
  let vmpl: number | undefined;
  if (f.vmpl !== undefined) {
    if (!/^[0-3]$/.test(f.vmpl)) throw new CocoError('CLI_USAGE', '--vmpl must be 0..3', { kind: 'usage' });
    vmpl = Number(f.vmpl);
  }
  let policy: bigint | undefined;
  if (f.policy !== undefined) {
    if (!/^(0x)?[0-9a-f]{1,16}$/i.test(f.policy)) throw new CocoError('CLI_USAGE', '--policy must be a 64-bit hex value, e.g. 0x30000', { kind: 'usage' });
    policy = BigInt(f.policy.startsWith('0x') || f.policy.startsWith('0X') ? f.policy : `0x${f.policy}`);
  }
  const chip = loadTestChip(resolve(io.cwd, f.rootDir));
  const raw = signTestReport(chip, {
    ...(measurement ? { measurement } : {}),
    ...(f.reportData !== undefined ? { reportData: padded(f.reportData, '--report-data', 64) } : {}),
    ...(f.hostData !== undefined ? { hostData: padded(f.hostData, '--host-data', 32) } : {}),
    ...(vmpl !== undefined ? { vmpl } : {}),
    ...(policy !== undefined ? { policy } : {}),
  });
  // The JSON form is what a guest sends to a KBS: the report plus the VCEK in the certificate table.
  const bytes = f.format === 'raw' ? raw : new TextEncoder().encode(JSON.stringify(evidenceToJson(parseReport(raw), [{ type: 'VCEK', data: new Uint8Array(chip.vcek.raw) }])) + '\n');
  if (f.out) {
    writeFileSync(resolve(io.cwd, f.out), bytes);
    io.stdout(`${resolve(io.cwd, f.out)}\n`);
  } else io.stdoutBytes(bytes);
}

async function fetchVcekCommand(io: CliIO, file: string, f: { cache: string; kdsUrl?: string; product?: string }): Promise<void> {
  const product = productOption(f.product);
  const { report } = loadReport(readInput(io, file, 'report'), { product });
  io.stdout(`${await fetchVcekToCache(report, { cacheDir: resolve(io.cwd, f.cache), product, kdsUrl: f.kdsUrl })}\n`);
}

export function register(program: Command, io: CliIO): void {
  const snp = program.command('snp').description('AMD SEV-SNP attestation reports: show, verify, fetch VCEKs, test roots and synthetic reports');
  snp
    .command('show')
    .description('decode an SNP report (raw, hex, CoCo JSON evidence or Azure HCL report)')
    .argument('<report>', 'report file')
    .option('--product <name>', 'product for version-2 reports (milan|genoa|turin)')
    .option('--json', 'print the decoded fields as JSON')
    .action((file: string, f: { json?: boolean; product?: string }) => {
      const { report, certTable, form } = loadReport(readInput(io, file, 'report'), { product: productOption(f.product) });
      const certs = (certTable ?? []).map((e) => certSummary(e.type, e.data));
      if (f.json) io.stdout(`${JSON.stringify({ form, ...reportJson(report), ...(certTable ? { cert_chain: certs } : {}) })}\n`);
      else io.stdout(showText(report) + certs.map((c) => `cert_chain         ${c.type} ${c.length} bytes${c.subject ? ` ${c.subject} issued by ${c.issuer}` : ''}\n`).join(''));
    });
  snp
    .command('verify')
    .description('verify an SNP report against the AMD roots and check expectations (exit 0 valid, 2 signature/chain, 3 certificate unavailable, 5 expectation)')
    .argument('<report>', 'report file (raw, hex, CoCo JSON evidence or Azure HCL report)')
    .option('--roots <file>', "PEM with an ARK and ASK that REPLACE the AMD roots for the report's product (test roots)")
    .option('--vcek <file>', 'VCEK certificate (DER or PEM)')
    .option('--vlek <file>', 'VLEK certificate (DER or PEM)')
    .option('--cert-chain <file>', 'PEM bundle with the ASK/ASVK and ARK (KDS cert_chain)')
    .option('--crl <file>', 'CRL (DER) signed by the ARK; repeatable', collect)
    .option('--cache <dir>', 'offline VCEK cache in Trustee layout')
    .option('--at <iso8601>', 'verification time for certificate validity (default: now)')
    .option('--measurement <hex>', 'expected MEASUREMENT (48 bytes)')
    .option('--report-data <hex>', 'expected REPORT_DATA (zero-padded to 64 bytes)')
    .option('--host-data <hex>', 'expected HOST_DATA (zero-padded to 32 bytes)')
    .option('--min-tcb <spec>', 'minimum TCB, e.g. bl=3,tee=0,snp=8,ucode=115[,fmc=1]')
    .option('--product <name>', 'expected product; also the product of version-2 reports (milan|genoa|turin)')
    .option('--vmpl <n>', 'expected VMPL (0..3)')
    .option('--policy <spec>', 'required guest-policy bits, e.g. debug=false,migrate_ma=false')
    .option('--json', 'print {"valid","checks","claims"} as the last line')
    .option('--explain', 'print every check made, passed or not')
    // With --json a script still gets its one-object last line, carrying the error instead of checks.
    .action((file: string, f: VerifyFlags) => withJsonFailure(io, f, () => verifyCommand(io, file, f)));
  snp
    .command('test-root')
    .description(`make a TEST (non-AMD) root of trust: ${TEST_ROOT_FILES.roots} (ARK+ASK), a chip's ${TEST_ROOT_FILES.vcek} and ${TEST_ROOT_FILES.vcekKey}`)
    .requiredOption('--out <dir>', 'directory to write into')
    .option('--product <name>', 'milan|genoa|turin', 'milan')
    .action((f: { out: string; product?: string }) => testRootCommand(io, f));
  snp
    .command('test-report')
    .description('sign a synthetic SNP report with a test-root chip: CoCo JSON evidence (with the VCEK) or raw bytes')
    .requiredOption('--root-dir <dir>', `directory made by "snp test-root" (${TEST_ROOT_FILES.vcek}, ${TEST_ROOT_FILES.vcekKey})`)
    .option('--measurement <hex>', 'MEASUREMENT (48 bytes; default zero)')
    .option('--report-data <hex>', 'REPORT_DATA (up to 64 bytes, zero-padded)')
    .option('--host-data <hex>', 'HOST_DATA (up to 32 bytes, zero-padded; e.g. from cocokit initdata bind --tee snp)')
    .option('--vmpl <n>', 'VMPL (0..3; default 0)')
    .option('--policy <hex>', 'guest policy (default 0x30000)')
    .option('--format <fmt>', 'json (CoCo evidence) or raw (1184 bytes)', 'json')
    .option('--out <file>', 'write here instead of stdout')
    .action((f: Parameters<typeof testReportCommand>[1]) => testReportCommand(io, f));
  snp
    .command('fetch-vcek')
    .description("download the report's VCEK from AMD KDS into an offline cache (Trustee layout)")
    .argument('<report>', 'report file')
    .requiredOption('--cache <dir>', 'cache directory')
    .option('--kds-url <url>', 'KDS base URL', KDS_URL)
    .option('--product <name>', 'product for version-2 reports (milan|genoa|turin)')
    .action((file: string, f: { cache: string; kdsUrl?: string; product?: string }) => fetchVcekCommand(io, file, f));
}
