import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { REPO_ROOT } from '../test-support/vectors.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferIO } from './io.js';
import { run } from './program.js';
import { DEMO_RESOURCE, startServe } from './kbs.js';

const CHROMIUM = '/usr/bin/chromium';
const noChromium = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;
if (noChromium && process.env.CI === 'true') throw new Error(`${noChromium}, but CI=true requires the console flow`);

async function cli(cwd: string, ...argv: string[]) {
  const io = bufferIO({ COCOKIT_CLI: 'cocokit' }, cwd);
  const code = await run(argv, io);
  return { code, out: io.out(), err: io.err() };
}

test('npm start prints the console URL and the token command; the demo secret\'s release is then in the decision log', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cocokit-console-cli-'));
  const io = bufferIO({ COCOKIT_LOG_LEVEL: 'silent', COCOKIT_CLI: 'cocokit' }, dataDir);
  const { kbs, url } = await startServe({ port: '0', dataDir }, io);
  try {
    const banner = io.out();
    const line = /^ {2}console: (\S+) \(sign in with the token from: cocokit (kbs console-token .*)\)$/m.exec(banner);
    assert.ok(line, banner);
    assert.equal(line[1], `${url}/console`);
    const page = await fetch(line[1]);
    assert.equal(page.status, 200);
    const tok = await cli(dataDir, ...line[2].split(' '));
    assert.equal(tok.code, 0, tok.err);
    const token = tok.out.trim();
    const get = /^ {2}cocokit (kbs get-resource .*)$/m.exec(banner)!;
    assert.equal((await cli(dataDir, ...get[1].split(' '))).code, 0);
    const r = await fetch(`${url}/kbs/v0/decisions?type=release`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    const [d] = (await r.json()) as Array<Record<string, unknown>>;
    assert.deepEqual([d.resource, d.verdict], [DEMO_RESOURCE, 'allow']);
    // A token lives 15 minutes by default and is refused without one.
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    assert.equal(claims.exp - claims.iat, 900);
    assert.equal((await fetch(`${url}/kbs/v0/decisions`)).status, 401);
    // The same flow in a browser: open the printed URL, sign in with the printed command's token, and find
    // the demo release in the decision log.
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
        assert.deepEqual(errors, []);
      } finally {
        await browser.close();
      }
    }
  } finally {
    await kbs.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('kbs console-token refuses a lifetime beyond an hour', async () => {
  const r = await cli(tmpdir(), 'kbs', 'console-token', '--auth-private-key', 'x.pem', '--minutes', '61');
  assert.equal(r.code, 1);
  assert.match(r.err, /--minutes must be 1\.\.60/);
});
