/**
 * The inspector's view of a Unified Kernel Image (a PE file with a `.linux` section): every PE section with
 * where it lies and its SHA-256, the text sections shown (`.cmdline`, `.osrel`, `.uname`, `.sbat`), which of
 * them systemd-stub measures into PCR 11, and the PCR 11 values `systemd-measure calculate` predicts for the
 * image (measure/uki.ts, systemd 252 rules as `cocokit measure uki` uses by default).
 */
import { createHash } from 'node:crypto';
import { toHex } from '../formats/bytes.js';
import { sectionMemory } from '../formats/pe.js';
import { UKI_SECTIONS_V252, predictPcr11, ukiSections, type UkiSection } from '../measure/uki.js';
import type { InspectedField, Inspection } from './types.js';

const SECTION_MEANING: Record<string, string> = {
  '.linux': 'the kernel image',
  '.initrd': 'the initrd',
  '.cmdline': 'the kernel command line',
  '.osrel': 'os-release of the image',
  '.uname': 'kernel release (uname -r)',
  '.ucode': 'CPU microcode initrd',
  '.splash': 'boot splash image',
  '.dtb': 'devicetree',
  '.sbat': 'SBAT revocation metadata (generation numbers per component)',
  '.pcrsig': 'signed PCR 11 policies (JSON) for TPM unlocking',
  '.pcrpkey': 'public key of the PCR 11 policy signatures',
  '.sdmagic': 'systemd-stub version string',
  '.text': 'stub code',
  '.data': 'stub data',
  '.reloc': 'relocations',
  '.profile': 'UKI profile description',
};

const TEXT_SECTIONS = new Set(['.cmdline', '.osrel', '.uname', '.sbat', '.sdmagic', '.pcrsig', '.profile']);

/** "MZ" and a PE signature where e_lfanew points. */
export function looksLikePe(b: Uint8Array): boolean {
  if (b.length < 0x40 || b[0] !== 0x4d || b[1] !== 0x5a) return false;
  const pe = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0x3c, true);
  return pe + 4 <= b.length && b[pe] === 0x50 && b[pe + 1] === 0x45 && b[pe + 2] === 0 && b[pe + 3] === 0;
}

function showText(raw: Uint8Array): string {
  const nul = raw.indexOf(0);
  const text = Buffer.from(raw.subarray(0, nul < 0 ? raw.length : nul)).toString('utf8').trim();
  return text.length > 400 ? `${text.slice(0, 400)}… (${text.length} characters)` : text;
}

export function inspectUki(bytes: Uint8Array): Inspection {
  const u = ukiSections(bytes, '252');
  const measured: readonly string[] = UKI_SECTIONS_V252;
  const fields: InspectedField[] = [];
  fields.push({ name: 'MACHINE', value: `0x${u.image.machine.toString(16)}`, meaning: 'PE machine type (0x8664 x86-64, 0xaa64 arm64)' });
  fields.push({ name: 'SIZE_OF_IMAGE', value: String(u.image.sizeOfImage), meaning: 'bytes the image takes in memory' });
  if (u.stub) fields.push({ name: 'STUB', value: u.stub, meaning: 'the systemd-stub that measures the sections (from .sdmagic)' });
  const seen = new Set<string>();
  for (const s of u.image.sections) {
    const { raw, zeroFill } = sectionMemory(bytes, s);
    const first = !seen.has(s.name);
    seen.add(s.name);
    const isMeasured = first && measured.includes(s.name) && s.virtualSize > 0;
    const h = createHash('sha256').update(raw);
    if (zeroFill > 0) h.update(new Uint8Array(zeroFill));
    const flags: Record<string, string | number | boolean> = {
      virtual_size: s.virtualSize,
      virtual_address: `0x${s.virtualAddress.toString(16)}`,
      raw_size: s.sizeOfRawData,
      measured_into_pcr11: isMeasured,
    };
    if (TEXT_SECTIONS.has(s.name)) flags.text = showText(raw);
    fields.push({
      name: s.name || '(unnamed)',
      offset: s.pointerToRawData,
      size: s.sizeOfRawData,
      value: toHex(new Uint8Array(h.digest())),
      meaning: `SHA-256 of the section as loaded (VirtualSize bytes)${SECTION_MEANING[s.name] ? `: ${SECTION_MEANING[s.name]}` : ''}`,
      flags,
    });
  }
  const p = predictPcr11({ sections: u.sections, banks: ['sha256', 'sha384'] });
  for (const v of p.values) {
    const phase = v.phase === '' ? 'sections only' : v.phase;
    fields.push({
      name: `PCR11.${v.bank}.${phase}`,
      value: toHex(v.hash),
      meaning: `predicted PCR 11 (${v.bank}) after the stub measured ${(Object.keys(u.sections) as UkiSection[]).join(' ')} and systemd reached ${phase}`,
      ...(v.bank === 'sha256' && v.phase === 'enter-initrd' ? { references: ['uki_pcr11', 'pcr11', 'tpm_pcr11'] } : {}),
    });
  }
  const notes = ['PCR 11 follows systemd 252 rules (the sections .linux .osrel .cmdline .initrd .splash .dtb .pcrpkey); newer stubs also measure .uname .sbat .ucode (`cocokit measure uki --systemd current`)'];
  if (u.ignored.length) notes.push(`sections not measured into PCR 11: ${u.ignored.join(' ')}`);
  return { format: 'uki', form: 'pe', title: `Unified Kernel Image${u.stub ? ` (${u.stub})` : ''}, ${u.image.sections.length} sections`, fields, checks: [], notes };
}
