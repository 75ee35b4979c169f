/**
 * Checks an output path before a command does work whose result would be lost (fetching a secret, hashing an
 * image): the directory must exist and be writable, and the path must not be a directory.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { CocoError } from '../errors.js';

export function checkOutputPath(path: string, flag = '--out'): void {
  const fail = (why: string): never => {
    throw new CocoError('CLI_OUTPUT', `${flag} ${path}: ${why}`, { kind: 'file' });
  };
  let st;
  try {
    st = statSync(path);
  } catch {
    // A new file: its directory must exist and be writable.
  }
  if (st?.isDirectory()) fail('is a directory; give a file name');
  const dir = dirname(path);
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch {
    fail(`directory ${dir} does not exist`);
  }
  if (!dirStat!.isDirectory()) fail(`${dir} is not a directory`);
  try {
    accessSync(st ? path : dir, constants.W_OK);
  } catch {
    fail(st ? 'is not writable' : `directory ${dir} is not writable`);
  }
}
