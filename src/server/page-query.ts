/** Paging of the admin listing endpoints: `?limit=&cursor=` in, `x-next-cursor` out (store `PageRequest`). */
import { PAGE_LIMITS, type PageRequest } from '../store/store.js';
import { kbsError } from './errors.js';

/** Response header carrying the cursor of the next page of a listing; absent on the last page. */
export const NEXT_CURSOR_HEADER = 'x-next-cursor';

/** `?limit=<1..1000>&cursor=<from x-next-cursor>`; a larger limit is capped, anything but digits refused. */
export function pageQuery(query: Record<string, string>): PageRequest {
  const out: PageRequest = {};
  if (query.limit !== undefined) {
    if (!/^[1-9][0-9]{0,5}$/.test(query.limit)) throw kbsError('KBS_QUERY', `limit must be a positive integer, got ${JSON.stringify(query.limit.slice(0, 20))}`);
    out.limit = Math.min(Number(query.limit), PAGE_LIMITS.max);
  }
  if (query.cursor !== undefined) out.cursor = query.cursor;
  return out;
}
