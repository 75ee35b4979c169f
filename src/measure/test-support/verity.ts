/**
 * Test support for the dm-verity suites: the data-image generators named in
 * ../shared/vectors/verity/cases.json (the images themselves are not stored), and veritysetup as an oracle.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readVectorJson } from '../../test-support/vectors.js';

export interface VerityCase {
  id: string;
  description: string;
  data: { generator: 'zero' | 'sha256ctr' | 'mod251'; seed: string | null; size: number };
  params: {
    hash: string;
    format: number;
    data_block_size: number;
    hash_block_size: number;
    salt: string;
    salt_source: 'given' | 'random' | 'none';
    uuid: string | null;
    hash_offset: number;
    no_superblock: boolean;
    data_blocks: number | null;
    same_device: boolean;
  };
  veritysetup_argv: string[];
  expected: {
    root_hash: string;
    data_blocks: number;
    hash_blocks: number;
    hash_device_file: string;
    hash_device_size: number;
    hash_device_sha256: string;
  };
}

export function verityCases(): VerityCase[] {
  return readVectorJson<{ cases: VerityCase[] }>('verity', 'cases.json').cases;
}

/** The generators of cases.json: `zero`, `mod251` (byte i = i mod 251), `sha256ctr` (SHA-256(seed ‖ u32be k) …). */
export function generateData(g: VerityCase['data']): Buffer {
  const out = Buffer.alloc(g.size);
  if (g.generator === 'mod251') for (let i = 0; i < g.size; i++) out[i] = i % 251;
  else if (g.generator === 'sha256ctr') {
    const k = Buffer.alloc(4);
    for (let off = 0, i = 0; off < g.size; off += 32, i++) {
      k.writeUInt32BE(i);
      createHash('sha256').update(g.seed ?? '', 'utf8').update(k).digest().copy(out, off);
    }
  }
  return out;
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-verity-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeData(dir: string, name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** Runs veritysetup in `cwd`; returns exit status and both streams. */
export function veritysetup(args: string[], cwd: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('veritysetup', args, { cwd, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
