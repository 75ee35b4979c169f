import { CocoError } from '../errors.js';

/** `--limit <n>` of the listing commands: a positive integer (the KBS caps a page at 1000). */
export function pageLimit(text: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(text)) throw new CocoError('CLI_USAGE', `--limit ${text} is not a positive integer`, { kind: 'usage' });
  return Number(text);
}
