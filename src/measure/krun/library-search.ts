/**
 * Where buildah looks for libkrunfw-sev when it runs krunfw_measurement (specs/keybroker.md §3.5,
 * buildah `internal/mkcw/attest.go`): an absolute path as is; a bare name in each library directory; no
 * name: each directory × libkrunfw-sev.so.4, .so.3, .so. The first existing path wins.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { CocoError } from '../../errors.js';

export const LIBRARY_DIRS = ['/usr/local/lib64', '/usr/local/lib', '/lib64', '/lib', '/usr/lib64', '/usr/lib'];
export const LIBRARY_NAMES = ['libkrunfw-sev.so.4', 'libkrunfw-sev.so.3', 'libkrunfw-sev.so'];

export function libraryDirs(ldLibraryPath: string | undefined): string[] {
  return [...LIBRARY_DIRS, ...(ldLibraryPath ?? '').split(':').filter((d) => d !== '')];
}

export function findLibkrunfw(name: string | undefined, dirs: string[], exists: (p: string) => boolean = existsSync): string {
  if (name !== undefined && isAbsolute(name)) {
    if (exists(name)) return name;
    throw new CocoError('MEASURE_KRUN_LIBRARY', `${name} does not exist`, { kind: 'file' });
  }
  const names = name === undefined ? LIBRARY_NAMES : [name];
  for (const dir of dirs) for (const n of names) if (exists(join(dir, n))) return join(dir, n);
  throw new CocoError(
    'MEASURE_KRUN_LIBRARY',
    `cannot find ${names.join(' / ')} in ${dirs.join(':')} (buildah's search: these directories, then LD_LIBRARY_PATH). ` +
      'Point elsewhere with --firmware /path/to/libkrunfw-sev.so, LD_LIBRARY_PATH=DIR, or --firmware DIR holding qboot.bin, kernel.bin and initrd.bin',
    { kind: 'file' },
  );
}
