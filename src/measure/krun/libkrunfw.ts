/**
 * Reads the firmware bundles out of a built libkrunfw-sev shared object, the file buildah hands to
 * krunfw_measurement (specs/keybroker.md §3.5, §4.1). libkrunfw's `bin2cbundle.py` emits each bundle as a
 * global `char QBOOT_BUNDLE[]` / `KERNEL_BUNDLE[]` / `INITRD_BUNDLE[]` (64 KiB-padded, plus the string
 * literal's NUL), so they are dynamic symbols whose size minus one is what the `krunfw_get_*` calls return.
 * The kernel load address is an immediate in `krunfw_get_kernel`; it is decoded from the usual x86-64
 * store `movq $imm32, (%rdi)` and can be given explicitly instead.
 */
import { CocoError } from '../../errors.js';
import type { KrunFirmware } from './digest.js';

const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const STT_OBJECT = 1;
const STT_FUNC = 2;

interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  type: number;
}

interface Segment {
  offset: number;
  vaddr: number;
  filesz: number;
}

function bad(message: string): CocoError {
  return new CocoError('MEASURE_KRUN_LIBRARY', message, { kind: 'input' });
}

class Elf {
  private readonly dv: DataView;
  readonly symbols = new Map<string, ElfSymbol>();
  private readonly segments: Segment[] = [];

  constructor(private readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) throw bad('not an ELF file');
    if (bytes[4] !== 2 || bytes[5] !== 1) throw bad('not a little-endian 64-bit ELF file (libkrunfw-sev is x86-64)');
    const phoff = this.u64(0x20);
    const shoff = this.u64(0x28);
    const phentsize = this.u16(0x36);
    const phnum = this.u16(0x38);
    const shentsize = this.u16(0x3a);
    const shnum = this.u16(0x3c);
    if (phentsize < 56 || shentsize < 64) throw bad(`unexpected ELF header entry sizes ${phentsize}/${shentsize}`);
    for (let i = 0; i < phnum; i++) {
      const p = this.range(phoff + i * phentsize, 56, 'program header');
      if (this.u32(p) === PT_LOAD) this.segments.push({ offset: this.u64(p + 8), vaddr: this.u64(p + 16), filesz: this.u64(p + 32) });
    }
    for (let i = 0; i < shnum; i++) {
      const s = this.range(shoff + i * shentsize, 64, 'section header');
      if (this.u32(s + 4) !== SHT_DYNSYM) continue;
      const symOff = this.u64(s + 0x18);
      const symSize = this.u64(s + 0x20);
      const link = this.u32(s + 0x28);
      const entsize = this.u64(s + 0x38) || 24;
      if (entsize < 24) throw bad(`.dynsym entry size ${entsize} is smaller than an Elf64_Sym`);
      if (link >= shnum) throw bad(`.dynsym links to section ${link} of ${shnum}`);
      const strHdr = this.range(shoff + link * shentsize, 64, 'section header');
      const strOff = this.u64(strHdr + 0x18);
      const strSize = this.u64(strHdr + 0x20);
      this.range(strOff, strSize, 'string table');
      this.range(symOff, symSize, 'symbol table');
      for (let off = symOff; off + 24 <= symOff + symSize; off += entsize) {
        const nameAt = this.u32(off);
        if (nameAt >= strSize) throw bad(`symbol name offset ${nameAt} is outside the string table`);
        let end = strOff + nameAt;
        while (end < strOff + strSize && bytes[end] !== 0) end++;
        const name = Buffer.from(bytes.subarray(strOff + nameAt, end)).toString('latin1');
        this.symbols.set(name, { name, value: this.u64(off + 8), size: this.u64(off + 16), type: bytes[off + 4] & 0xf });
      }
    }
  }

  private u16(o: number): number {
    return this.dv.getUint16(o, true);
  }
  private u32(o: number): number {
    return this.dv.getUint32(o, true);
  }
  private u64(o: number): number {
    const v = this.dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`ELF value 0x${v.toString(16)} at offset ${o} is out of range`);
    return Number(v);
  }
  private range(off: number, len: number, what: string): number {
    if (off < 0 || len < 0 || off + len > this.bytes.length) throw bad(`${what} at offset ${off} (+${len}) is outside the ${this.bytes.length}-byte file`);
    return off;
  }

  /** The file bytes backing [vaddr, vaddr + size) of a loaded segment. */
  bytesAt(vaddr: number, size: number, what: string): Uint8Array {
    const seg = this.segments.find((s) => vaddr >= s.vaddr && vaddr + size <= s.vaddr + s.filesz);
    if (seg === undefined) throw bad(`${what} (0x${vaddr.toString(16)}, ${size} bytes) is not inside a loaded segment of the file`);
    const off = this.range(seg.offset + (vaddr - seg.vaddr), size, what);
    return this.bytes.subarray(off, off + size);
  }
}

function bundle(elf: Elf, name: string): Uint8Array {
  const sym = elf.symbols.get(name);
  if (sym === undefined || sym.type !== STT_OBJECT) throw bad(`the library exports no ${name} (is it libkrunfw-sev?)`);
  if (sym.size < 1) throw bad(`${name} is empty`);
  // krunfw_get_*: `*size = sizeof(BUNDLE) - 1`, dropping the string literal's NUL.
  return elf.bytesAt(sym.value, sym.size - 1, name);
}

/** Finds `movq $imm32, (%rdi)` (REX.W C7 /0, ModRM 0x07) in krunfw_get_kernel: the load-address store. */
function kernelLoadAddr(elf: Elf): number {
  const fn = elf.symbols.get('krunfw_get_kernel');
  if (fn === undefined || fn.type !== STT_FUNC) throw bad('the library exports no krunfw_get_kernel');
  const code = elf.bytesAt(fn.value, Math.min(Math.max(fn.size, 7), 64), 'krunfw_get_kernel');
  for (let i = 0; i + 7 <= code.length; i++) {
    if (code[i] === 0x48 && code[i + 1] === 0xc7 && code[i + 2] === 0x07) {
      return new DataView(code.buffer, code.byteOffset + i + 3, 4).getInt32(0, true);
    }
  }
  throw bad('cannot find the kernel load address in krunfw_get_kernel; give it explicitly');
}

/**
 * The qboot, kernel and initrd bundles of a libkrunfw-sev library file, and the kernel load address (decoded
 * from the code unless `loadAddr` is given).
 */
export function readLibkrunfw(bytes: Uint8Array, loadAddr?: number): KrunFirmware {
  const elf = new Elf(bytes);
  return {
    qboot: bundle(elf, 'QBOOT_BUNDLE'),
    kernel: bundle(elf, 'KERNEL_BUNDLE'),
    initrd: bundle(elf, 'INITRD_BUNDLE'),
    kernelLoadAddr: loadAddr ?? kernelLoadAddr(elf),
  };
}
