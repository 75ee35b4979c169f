import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { REPO_ROOT } from '../test-support/vectors.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_RESOURCE } from '../server/development.js';
import { ensureBuilt } from '../test-support/built-package.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';

const CHROMIUM = '/usr/bin/chromium';
const noChromium = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;
if (noChromium && process.env.CI === 'true') throw new Error(`${noChromium}, but CI=true requires the console flow`);

function cli(cwd: string, ...argv: string[]): Promise<CliRun> {
  return runCli(argv, { cwd, env: { COCOKIT_CLI: 'cocokit' } });
}

/** The command `npm start` runs once it has built the package. */
function startCommand(): string[] {
  const script = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start;
  const m = /^npm run build --silent && (node dist\/cli\/main\.js kbs serve)$/.exec(script);
  assert.ok(m, `npm start is ${script}`);
  return m[1].split(' ');
}

/** Runs a command line the banner printed (`node dist/cli/main.js …`), from the checkout as `npm start` does. */
function printed(line: string) {
  const [cmd, ...args] = line.split(' ');
  assert.equal(cmd, 'node', line);
  const r = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, NODE_ENV: '' }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('npm start (the built package) prints the console URL and the token command; the demo secret\'s release is then in the decision log', { timeout: 240_000 }, async () => {
  const [node, main, ...serve] = startCommand();
  assert.equal(node, 'node');
  assert.equal(join(REPO_ROOT, main), ensureBuilt());
  const dataDir = mkdtempSync(join(tmpdir(), 'cocokit-console-cli-'));
  const child = spawn(process.execPath, [main, ...serve, '--port', '0', '--data-dir', dataDir], { cwd: REPO_ROOT, env: { ...process.env, NODE_ENV: '', COCOKIT_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let banner = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (banner += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    for (let i = 0; i < 600 && !/kbs get-resource .*\n/.test(banner) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    const line = /^ {2}console: (\S+) \(sign in with the token from: (node \S+ kbs console-token .*)\)$/m.exec(banner);
    assert.ok(line, `${banner}\n${stderr}`);
    const url = /listening on (\S+)/.exec(banner)![1];
    assert.equal(line[1], `${url}/console`);
    const page = await fetch(line[1]);
    assert.equal(page.status, 200);
    const tok = printed(line[2]);
    assert.equal(tok.code, 0, tok.err);
    const token = tok.out.trim();
    const get = /^ {2}(node \S+ kbs get-resource .*)$/m.exec(banner)!;
    const fetched = printed(get[1]);
    assert.equal(fetched.code, 0, fetched.err);
    const r = await fetch(`${url}/kbs/v0/decisions?type=release`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    const [d] = (await r.json()) as Array<Record<string, unknown>>;
    assert.deepEqual([d.resource, d.verdict], [DEMO_RESOURCE, 'allow']);
    // A token lives 15 minutes by default and is refused without one.
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    assert.equal(claims.exp - claims.iat, 900);
    assert.equal((await fetch(`${url}/kbs/v0/decisions`)).status, 401);
    // The same flow in a browser: open the printed URL, sign in with the printed command's token, and find
    // the demo release in the decision log, explained by the policy that allowed it.
    if (!noChromium) {
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        const errors: string[] = [];
        page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
        page.on('pageerror', (e) => errors.push(String(e)));
        await page.goto(line[1]);
        await page.fill('#token', token);
        await page.click('#signin-button');
        await page.waitForSelector('#ov-counts tbody tr');
        await page.click('nav [data-page="decisions"]');
        await page.waitForSelector(`#decisions tbody tr:has(td:text-is("${DEMO_RESOURCE}"))`);
        const row = await page.$$eval(`#decisions tbody tr:has(td:text-is("${DEMO_RESOURCE}")) td`, (tds) => tds.map((td) => td.textContent));
        assert.deepEqual([row[2], row[5]], ['release', 'allow']);
        const dir = join(REPO_ROOT, 'test-artifacts', 'console');
        mkdirSync(dir, { recursive: true });
        await page.screenshot({ path: join(dir, 'npm-start-demo-release.png') });
        await page.click(`#decisions tbody tr:has(td:text-is("${DEMO_RESOURCE}"))`);
        await page.waitForSelector('#decision-bodies li.body-succeeded');
        assert.match(await page.textContent('#decision-rule') ?? '', /data.policy.allow is true: rule data.policy.allow \(line \d+\) succeeded/);
        assert.deepEqual(errors, []);
      } finally {
        await browser.close();
      }
    }
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    rmSync(dataDir, { recursive: true, force: true });
  }
  assert.equal(child.exitCode ?? child.signalCode, 0, stderr);
});

test('kbs console-token refuses a lifetime beyond an hour', async () => {
  const r = await cli(tmpdir(), 'kbs', 'console-token', '--auth-private-key', 'x.pem', '--minutes', '61');
  assert.equal(r.code, 1);
  assert.match(r.err, /--minutes must be 1\.\.60/);
});
