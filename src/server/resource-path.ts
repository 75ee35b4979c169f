/**
 * Request routing under `/kbs/v0/` (specs/kbs-protocol.md §1.1): segment 0 is the plugin, the rest the
 * resource path, the query a name→value map. Segments are validated on the raw URL, before any
 * percent-decoding, so `../` and encoded slashes (`%2F`) can never reach storage: each resource segment must
 * match Trustee's `[A-Za-z0-9_-]+[A-Za-z0-9_.-]*`.
 */
import { kbsError } from './errors.js';
import { echo } from './echo.js';

export const PREFIX = '/kbs/v0/';
const SEGMENT = /^[A-Za-z0-9_-]+[A-Za-z0-9_.-]*$/;
const MAX_URL = 8192;

export interface KbsRoute {
  plugin: string;
  path: string[];
  query: Record<string, string>;
}

export function parseKbsUrl(rawUrl: string): KbsRoute {
  if (rawUrl.length > MAX_URL) throw kbsError('KBS_PATH', `request URI longer than ${MAX_URL} characters`);
  const q = rawUrl.indexOf('?');
  const pathPart = q < 0 ? rawUrl : rawUrl.slice(0, q);
  if (!pathPart.startsWith(PREFIX)) throw kbsError('KBS_PATH', `path ${echo(pathPart)} is not under ${PREFIX}`);
  const segments = pathPart.slice(PREFIX.length).split('/');
  const plugin = segments[0];
  if (!plugin) throw kbsError('KBS_PATH', 'no plugin name after /kbs/v0/');
  if (!SEGMENT.test(plugin)) throw kbsError('KBS_PATH', `invalid plugin name ${echo(plugin)}`);
  const query: Record<string, string> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(rawUrl.slice(q + 1))) query[k] = v;
  }
  return { plugin, path: segments.slice(1), query };
}

/** The three validated segments of a resource path (`<repo>/<type>/<tag>`). */
export function resourcePath(path: string[]): [string, string, string] {
  if (path.length !== 3) throw kbsError('KBS_PATH', `a resource path has exactly 3 segments <repository>/<type>/<tag>, got ${path.length}`);
  for (const s of path) {
    if (!SEGMENT.test(s)) throw kbsError('KBS_PATH', `invalid resource path segment ${echo(s)}: must match [A-Za-z0-9_-]+[A-Za-z0-9_.-]*`);
  }
  return path as [string, string, string];
}
