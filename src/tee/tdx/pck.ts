/**
 * The Intel SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1, specs/tdx-initdata.md §1.5): PPID,
 * the platform TCB (16 SGX component SVNs, PCESVN, CPUSVN), PCE-ID, FMSPC, SGX type, and for Platform-CA
 * certificates the platform instance id and configuration. Reading only; the chain is verified in verify.ts.
 */
import { CocoError } from '../../errors.js';
import { toHex } from '../../formats/bytes.js';
import { derChildren, derIntegerValue, oidToString, parseCertificate, readDer, type DerNode } from '../../formats/x509.js';

export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';
const O = SGX_EXTENSION_OID;

export interface PckTcb {
  /** SGX TCB component SVNs 1..16 (index 0 = component 1). */
  sgxComponents: number[];
  pceSvn: number;
  cpuSvn: Uint8Array;
}

export interface PckConfiguration {
  dynamicPlatform: boolean | null;
  cachedKeys: boolean | null;
  smtEnabled: boolean | null;
}

export interface PckExtensions {
  ppid: Uint8Array;
  tcb: PckTcb;
  pceId: Uint8Array;
  fmspc: Uint8Array;
  /** 0 Standard, 1 Scalable, 2 Scalable with integrity. */
  sgxType: number;
  /** Platform-CA certificates only. */
  platformInstanceId: Uint8Array | null;
  configuration: PckConfiguration | null;
}

function bad(message: string): never {
  throw new CocoError('TDX_PCK_EXTENSION', `PCK certificate SGX extension: ${message}`, { kind: 'input' });
}

/** A SEQUENCE of SEQUENCE{OID, value} as a map from OID to the value node. */
function pairs(node: DerNode, what: string): Map<string, DerNode> {
  if (node.tag !== 0x30) bad(`${what} is not a SEQUENCE`);
  const out = new Map<string, DerNode>();
  for (const p of derChildren(node)) {
    if (p.tag !== 0x30) bad(`${what} entry is not a SEQUENCE`);
    const [oid, value] = derChildren(p);
    if (!oid || oid.tag !== 0x06 || !value) bad(`${what} entry is not (OID, value)`);
    const id = oidToString(oid.value);
    if (out.has(id)) bad(`${what} repeats ${id}`);
    out.set(id, value);
  }
  return out;
}

function need(m: Map<string, DerNode>, oid: string, tag: number, what: string): DerNode {
  const n = m.get(oid);
  if (!n) bad(`${what} (${oid}) is missing`);
  if (n.tag !== tag) bad(`${what} (${oid}) has tag 0x${n.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  return n;
}

function octets(m: Map<string, DerNode>, oid: string, size: number, what: string): Uint8Array {
  const v = need(m, oid, 0x04, what).value;
  if (v.length !== size) bad(`${what} is ${v.length} bytes, expected ${size}`);
  return new Uint8Array(v);
}

function smallInt(n: DerNode, what: string): number {
  const v = derIntegerValue(n.value);
  if (v < 0n || v > 0xffffn) bad(`${what} ${v} is out of range`);
  return Number(v);
}

function optBool(m: Map<string, DerNode>, oid: string): boolean | null {
  const n = m.get(oid);
  if (!n) return null;
  if (n.tag !== 0x01 || n.value.length !== 1) bad(`${oid} is not a BOOLEAN`);
  return n.value[0] !== 0;
}

/** Decodes the extension value (the content of its OCTET STRING). */
export function parseSgxExtension(value: Uint8Array): PckExtensions {
  const top = readDer(value);
  if (top.end !== value.length) bad('trailing bytes');
  const m = pairs(top, 'extension');
  const tcbMap = pairs(need(m, `${O}.2`, 0x30, 'TCB'), 'TCB');
  const sgxComponents: number[] = [];
  for (let i = 1; i <= 16; i++) sgxComponents.push(smallInt(need(tcbMap, `${O}.2.${i}`, 0x02, `SGX TCB component ${i}`), `SGX TCB component ${i}`));
  const pceSvn = smallInt(need(tcbMap, `${O}.2.17`, 0x02, 'PCESVN'), 'PCESVN');
  const cpuSvn = octets(tcbMap, `${O}.2.18`, 16, 'CPUSVN');
  const sgxTypeNode = need(m, `${O}.5`, 0x0a, 'SGX type');
  const sgxType = Number(derIntegerValue(sgxTypeNode.value));
  const cfgNode = m.get(`${O}.7`);
  let configuration: PckConfiguration | null = null;
  if (cfgNode) {
    const c = pairs(cfgNode, 'configuration');
    configuration = { dynamicPlatform: optBool(c, `${O}.7.1`), cachedKeys: optBool(c, `${O}.7.2`), smtEnabled: optBool(c, `${O}.7.3`) };
  }
  return {
    ppid: octets(m, `${O}.1`, 16, 'PPID'),
    tcb: { sgxComponents, pceSvn, cpuSvn },
    pceId: octets(m, `${O}.3`, 2, 'PCE-ID'),
    fmspc: octets(m, `${O}.4`, 6, 'FMSPC'),
    sgxType,
    platformInstanceId: m.has(`${O}.6`) ? octets(m, `${O}.6`, 16, 'platform instance id') : null,
    configuration,
  };
}

/** The SGX extension of a DER PCK certificate. */
export function pckExtensions(certDer: Uint8Array): PckExtensions {
  const ext = parseCertificate(certDer).extensions.find((e) => e.oid === SGX_EXTENSION_OID);
  if (!ext) bad('the certificate has no SGX extension');
  return parseSgxExtension(ext.value);
}

/** JSON-friendly view (lowercase hex), as `tdx show` prints it. */
export function pckExtensionsJson(e: PckExtensions): Record<string, unknown> {
  return {
    fmspc: toHex(e.fmspc),
    pceid: toHex(e.pceId),
    ppid: toHex(e.ppid),
    tcb: { comps: e.tcb.sgxComponents, pcesvn: e.tcb.pceSvn, cpusvn: toHex(e.tcb.cpuSvn) },
    sgxtype: e.sgxType,
    platform_instance_id: e.platformInstanceId ? toHex(e.platformInstanceId) : null,
    configuration: e.configuration,
  };
}
