/**
 * Registration is atomic across a crash: a KBS process registering and re-registering workloads (64 secrets
 * each) is killed with SIGKILL mid-write, twice; the store it leaves behind holds every workload with all of
 * its secrets from one generation and its audit row, and no secret without its workload.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSqliteStore } from '../store/sqlite.js';
import { WORKLOAD_REPOSITORY } from '../attestation/workload.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NS = 'crash';
const SECRETS = 64;

/** A KBS in its own process on `dataDir` (admin API open: the test is about the store, not auth). */
function startChild(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const script = `
    const { startKbs } = await import('./src/server/test-harness.ts');
    const h = await startKbs((c) => { c.admin.authorization_mode = 'InsecureAllowAll'; }, { dataDir: process.argv[1] });
    process.stdout.write('URL ' + h.url + '\\n');
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dataDir], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`KBS child did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /URL (\S+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.on('exit', (code) => reject(new Error(`KBS child exited (${code}): ${err}`)));
  });
}

const secrets = (gen: string) => Object.fromEntries(Array.from({ length: SECRETS }, (_, i) => [`s${i}`, `${gen}`]));

/** Registers and re-registers until killed; returns the ids whose creation was acknowledged. */
async function churn(url: string, acked: Set<string>, stop: { now: boolean }): Promise<void> {
  while (!stop.now) {
    try {
      const r = await fetch(`${url}/kbs/v0/workloads?namespace=${NS}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tee: 'sample', reference_values: { svn: acked.size }, resources: secrets('g1') }),
      });
      if (r.status !== 201) return;
      const { workload_id: id, version } = (await r.json()) as { workload_id: string; version: number };
      acked.add(id);
      await fetch(`${url}/kbs/v0/workloads/${id}?namespace=${NS}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tee: 'sample', reference_values: { svn: 1 }, resources: secrets('g2'), version }),
      });
    } catch {
      return; // the process is gone
    }
  }
}

test('kill -9 during registrations and updates leaves no torn workload: all secrets of one generation, audit row, no orphans', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cocokit-crash-'));
  const acked = new Set<string>();
  try {
    for (let round = 0; round < 2; round++) {
      const { child, url } = await startChild(dataDir);
      const stop = { now: false };
      const before = acked.size;
      const loops = [0, 1, 2].map(() => churn(url, acked, stop));
      // Kill once a few registrations are through, while the loops keep writing.
      while (acked.size < before + 4) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 7 + round * 11));
      child.kill('SIGKILL');
      stop.now = true;
      await Promise.all(loops);
      await new Promise((r) => child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r));
    }
    const store = await openSqliteStore({ dataDir });
    try {
      const workloads = await store.workloads.list(NS);
      const ids = new Set(workloads.map((w) => w.id));
      for (const id of acked) assert.ok(ids.has(id), `acknowledged workload ${id} is missing`);
      for (const w of workloads) {
        const names = (await store.resources.list({ namespace: NS, repository: WORKLOAD_REPOSITORY, type: w.id })).map((r) => r.tag);
        assert.equal(names.length, SECRETS, `workload ${w.id} (version ${w.version}) has ${names.length} of ${SECRETS} secrets`);
        const gens = new Set<string>();
        for (const n of names) gens.add(new TextDecoder().decode(await store.resources.get({ namespace: NS, repository: WORKLOAD_REPOSITORY, type: w.id, tag: n })));
        assert.deepEqual([...gens], [w.version === 1 ? 'g1' : 'g2'], `workload ${w.id} version ${w.version} mixes secret generations`);
        assert.equal((await store.audit.list({ kind: 'admin.workload.create', subject: w.id })).length, 1, `workload ${w.id} has no audit row`);
      }
      const orphans = (await store.resources.list({ namespace: NS, repository: WORKLOAD_REPOSITORY })).filter((r) => !ids.has(r.type));
      assert.deepEqual(orphans, []);
      assert.ok(workloads.length >= 8);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
