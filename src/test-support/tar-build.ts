/** Test helper: ustar archives the suite builds itself (files, directories, symlinks, hard links). */

export interface TarItem {
  path: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink';
  /** File content (files only). */
  content?: Uint8Array | string;
  /** Link target (symlinks and hard links). */
  link?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
}

function octal(n: number, width: number): Buffer {
  return Buffer.from(n.toString(8).padStart(width - 1, '0') + '\0', 'latin1');
}

function header(item: TarItem, size: number): Buffer {
  const h = Buffer.alloc(512);
  const name = Buffer.from(item.path);
  if (name.length > 100) throw new Error(`test tar: name too long: ${item.path}`);
  name.copy(h, 0);
  const type = item.type ?? 'file';
  octal(item.mode ?? (type === 'dir' ? 0o755 : 0o644), 8).copy(h, 100);
  octal(item.uid ?? 0, 8).copy(h, 108);
  octal(item.gid ?? 0, 8).copy(h, 116);
  octal(size, 12).copy(h, 124);
  octal(item.mtime ?? 1_700_000_000, 12).copy(h, 136);
  h[156] = { file: 0x30, dir: 0x35, symlink: 0x32, hardlink: 0x31 }[type];
  if (item.link) Buffer.from(item.link).copy(h, 157);
  Buffer.from('ustar\0' + '00', 'latin1').copy(h, 257);
  Buffer.from('root').copy(h, 265);
  Buffer.from('root').copy(h, 297);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  Buffer.from(sum.toString(8).padStart(6, '0') + '\0 ', 'latin1').copy(h, 148);
  return h;
}

/** The archive bytes, ending with the two zero blocks (and padded to 10 KiB records like tar(1)). */
export function buildTar(items: TarItem[]): Buffer {
  const parts: Buffer[] = [];
  for (const item of items) {
    const content = item.type === undefined || item.type === 'file' ? Buffer.from(item.content ?? '') : Buffer.alloc(0);
    parts.push(header(item, content.length), content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  const body = Buffer.concat(parts);
  return Buffer.concat([body, Buffer.alloc((10240 - (body.length % 10240)) % 10240)]);
}
