/**
 * Expectations on a verified SNP report (go-sev-guest `validate/`): values the relying party wants —
 * measurement, report data, host data, minimum TCB, product, VMPL, guest-policy bits. Each expectation
 * given yields one Check; nothing here touches signatures.
 */
import { check, type Check } from '../../formats/check.js';
import { bytesEqual, toHex } from '../../formats/bytes.js';
import { decodePolicy, kdsProductName, type SnpProduct, type SnpReport, type TcbVersion } from './format.js';

export interface TcbMinimum {
  bootloader?: number;
  tee?: number;
  snp?: number;
  microcode?: number;
  fmc?: number;
}

export interface SnpExpectations {
  measurement?: Uint8Array;
  /** Compared after Trustee's `regularize_data(expected, 64)`: zero-padded or truncated. */
  reportData?: Uint8Array;
  /** Compared after `regularize_data(expected, 32)` (an init-data SHA-384 is truncated, kbs-protocol.md §1.6). */
  hostData?: Uint8Array;
  minTcb?: TcbMinimum;
  product?: SnpProduct;
  vmpl?: number;
  /** Guest policy bits that must have this value (e.g. `{ debug: false }`). */
  policy?: { debug?: boolean; migrateMa?: boolean; smt?: boolean; singleSocket?: boolean };
  minGuestSvn?: number;
}

/** Trustee's `regularize_data`: zero-pad or truncate to `size` bytes (kbs-protocol.md §1.5). */
export function regularize(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(data.subarray(0, size));
  return out;
}

function tcbString(t: TcbVersion): string {
  return `${t.fmc === null ? '' : `fmc=${t.fmc},`}bl=${t.bootloader},tee=${t.tee},snp=${t.snp},ucode=${t.microcode}`;
}

/** Parses `debug=false,migrate_ma=false[,smt=…][,single_socket=…]` into policy-bit expectations. */
export function parsePolicyExpectation(text: string): SnpExpectations['policy'] | null {
  const names: Record<string, keyof NonNullable<SnpExpectations['policy']>> = { debug: 'debug', migrate_ma: 'migrateMa', smt: 'smt', single_socket: 'singleSocket' };
  const out: NonNullable<SnpExpectations['policy']> = {};
  for (const part of text.split(',')) {
    const m = part.trim().match(/^([a-z_]+)=(true|false)$/);
    if (!m || !names[m[1]]) return null;
    out[names[m[1]]] = m[2] === 'true';
  }
  return out;
}

/** Parses `bl=3,tee=0,snp=8,ucode=115[,fmc=1]` (also `bootloader=`/`microcode=`). */
export function parseTcbMinimum(text: string): TcbMinimum | null {
  const out: TcbMinimum = {};
  const names: Record<string, keyof TcbMinimum> = { bl: 'bootloader', bootloader: 'bootloader', tee: 'tee', snp: 'snp', ucode: 'microcode', microcode: 'microcode', fmc: 'fmc' };
  for (const part of text.split(',')) {
    const m = part.trim().match(/^([a-z]+)=(\d{1,3})$/);
    if (!m || !names[m[1]] || Number(m[2]) > 255) return null;
    out[names[m[1]]] = Number(m[2]);
  }
  return out;
}

export function validateReport(report: SnpReport, exp: SnpExpectations, product: SnpProduct | null): Check[] {
  const checks: Check[] = [];
  const bytes = (id: string, what: string, actual: Uint8Array, expected: Uint8Array): void => {
    checks.push(check(id, bytesEqual(actual, expected), `${what} equals the expected value`, { expected: toHex(expected), actual: toHex(actual) }));
  };
  if (exp.measurement) bytes('measurement', 'MEASUREMENT', report.measurement, exp.measurement);
  if (exp.reportData) bytes('report-data', 'REPORT_DATA', report.reportData, regularize(exp.reportData, 64));
  if (exp.hostData) bytes('host-data', 'HOST_DATA', report.hostData, regularize(exp.hostData, 32));
  if (exp.product) {
    checks.push(check('product', product === exp.product, 'report product', { expected: kdsProductName(exp.product), actual: product ? kdsProductName(product) : 'unknown' }));
  }
  if (exp.vmpl !== undefined) checks.push(check('vmpl', report.vmpl === exp.vmpl, 'VMPL of the requesting guest', { expected: String(exp.vmpl), actual: String(report.vmpl) }));
  if (exp.minGuestSvn !== undefined) {
    checks.push(check('guest-svn', report.guestSvn >= exp.minGuestSvn, 'GUEST_SVN at least', { expected: `>= ${exp.minGuestSvn}`, actual: String(report.guestSvn) }));
  }
  if (exp.minTcb) {
    // Like go-sev-guest's MinimumTCB: current, committed and reported TCB each meet the minimum.
    const min = exp.minTcb;
    for (const [name, t] of [
      ['REPORTED_TCB', report.reportedTcb],
      ['CURRENT_TCB', report.currentTcb],
      ['COMMITTED_TCB', report.committedTcb],
    ] as const) {
      const low = (['bootloader', 'tee', 'snp', 'microcode', 'fmc'] as const).filter((k) => min[k] !== undefined && (t[k] ?? 0) < (min[k] as number));
      checks.push(
        check('min-tcb', low.length === 0, `${name} meets the minimum${low.length ? ` (below in ${low.join(', ')})` : ''}`, {
          expected: Object.entries(min).map(([k, v]) => `${k}>=${v}`).join(','),
          actual: tcbString(t),
        }),
      );
    }
  }
  if (exp.policy) {
    const pol = decodePolicy(report.policy);
    for (const [k, want] of Object.entries(exp.policy) as Array<[keyof NonNullable<SnpExpectations['policy']>, boolean | undefined]>) {
      if (want === undefined) continue;
      checks.push(check(`policy.${k}`, pol[k] === want, `guest policy ${k}`, { expected: String(want), actual: String(pol[k]) }));
    }
  }
  return checks;
}
