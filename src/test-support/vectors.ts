/**
 * Test helpers: where the shared vectors are, and how a suite that needs an external tool behaves when the
 * tool is missing (skip on a developer machine, fail when CI=true).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above test-support');
    dir = up;
  }
  return dir;
}

export const REPO_ROOT = findRepoRoot();
/** `../shared/vectors` beside the checkout (CI places shared/ there). */
export const VECTORS = resolve(REPO_ROOT, '..', 'shared', 'vectors');

export function vectorPath(...parts: string[]): string {
  return join(VECTORS, ...parts);
}

export function readVector(...parts: string[]): Buffer {
  return readFileSync(vectorPath(...parts));
}

export function readVectorJson<T = any>(...parts: string[]): T {
  return JSON.parse(readFileSync(vectorPath(...parts), 'utf8')) as T;
}

/**
 * For `test(name, { skip: toolMissing('veritysetup') }, …)`: false when the tool is there; a skip reason on
 * a developer machine without it; and under CI=true it throws, so the suite fails instead of skipping.
 */
export function toolMissing(tool: string): false | string {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  if (r.status === 0) return false;
  if (process.env.CI === 'true') throw new Error(`${tool} is required under CI=true but is not installed`);
  return `${tool} is not installed`;
}
