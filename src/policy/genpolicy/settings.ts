/**
 * Generator settings: genpolicy-settings.json, and the drop-ins of a settings directory
 * (`genpolicy-settings.d/*.json`, each an RFC 6902 JSON Patch, applied in file-name order).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CocoError } from '../../errors.js';
import { applyJsonPatch } from '../../rego/json-patch.js';

export const SETTINGS_FILE = 'genpolicy-settings.json';
export const DROP_IN_DIR = 'genpolicy-settings.d';

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CocoError('GENPOLICY_SETTINGS', `cannot read ${path}: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CocoError('GENPOLICY_SETTINGS', `${path} is not JSON: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

/** Applies drop-in patches in order; a failing patch names its file. */
export function applyDropIns(settings: unknown, dropIns: { name: string; patch: unknown }[]): Record<string, unknown> {
  let doc = settings;
  for (const d of dropIns) {
    try {
      doc = applyJsonPatch(doc, d.patch);
    } catch (e) {
      if (!(e instanceof CocoError)) throw e;
      throw new CocoError('GENPOLICY_SETTINGS', `settings drop-in ${d.name}: ${e.message}`, { kind: 'input', cause: e, detail: e.detail });
    }
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new CocoError('GENPOLICY_SETTINGS', 'the settings must be a JSON object', { kind: 'input' });
  return doc as Record<string, unknown>;
}

/**
 * Loads settings from a file, or from a directory holding genpolicy-settings.json and, optionally,
 * genpolicy-settings.d/*.json drop-ins.
 */
export function loadSettings(path: string): Record<string, unknown> {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new CocoError('GENPOLICY_SETTINGS', `cannot read ${path}: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  if (!isDir) return applyDropIns(readJson(path), []);
  const base = readJson(join(path, SETTINGS_FILE));
  let names: string[] = [];
  try {
    names = readdirSync(join(path, DROP_IN_DIR)).filter((n) => n.endsWith('.json'));
  } catch {
    // no drop-in directory
  }
  // Name order by code unit, so "10-…" applies before "20-…" whatever the locale.
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return applyDropIns(
    base,
    names.map((name) => ({ name, patch: readJson(join(path, DROP_IN_DIR, name)) })),
  );
}
