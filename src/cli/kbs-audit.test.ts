import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore, SQLITE_FILE } from '../store/sqlite.js';
import { DecisionLog } from '../server/decisions.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';

function cli(cwd: string, ...argv: string[]): Promise<CliRun> {
  return runCli(argv, { cwd });
}

test('kbs audit verify passes an intact decision log and exits 2 naming the edited record', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-audit-cli-'));
  try {
    const store = await openSqliteStore({ dataDir: join(dir, 'data') });
    const log = new DecisionLog(store);
    const ids: number[] = [];
    for (const verdict of ['allow', 'deny', 'allow'] as const) ids.push((await log.record({ type: 'release', client: 'c', tee: 'sample', verdict, resource: 'default/key/a' }))!.id);
    await store.close();

    const ok = await cli(dir, 'kbs', 'audit', 'verify', '--data-dir', 'data');
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, new RegExp(`3 decision record\\(s\\), ids ${ids[0]}..${ids[2]}\\nchain intact`));

    const raw = new Database(join(dir, 'data', SQLITE_FILE));
    raw.prepare("update audit set outcome = 'allow', detail = replace(detail, '\"verdict\":\"deny\"', '\"verdict\":\"allow\"') where id = ?").run(ids[1]);
    raw.close();
    const bad = await cli(dir, 'kbs', 'audit', 'verify', '--data-dir', 'data', '--json');
    assert.equal(bad.code, 2, bad.err);
    assert.deepEqual(JSON.parse(bad.out).problems, [{ id: ids[1], problem: 'content does not match its digest (edited)' }]);
    assert.match(bad.err, /tampered/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kbs audit verify refuses a data directory that does not exist instead of creating it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-audit-cli-'));
  try {
    const r = await cli(dir, 'kbs', 'audit', 'verify', '--data-dir', 'nope');
    assert.equal(r.code, 11);
    assert.match(r.err, /no KBS data directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
