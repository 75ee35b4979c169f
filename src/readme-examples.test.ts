/**
 * The README's shell examples are true: every `cocokit …` line names commands and flags the CLI has, and the
 * "Try it" block (no hardware needed) runs line by line in an empty directory, as a user would paste it
 * after `npm ci`. Port 8080 is swapped for a free one; everything else runs verbatim.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command, Option } from 'commander';
import { REPO_ROOT, toolMissing, vectorPath } from './test-support/vectors.js';
import { bufferIO } from './cli/io.js';
import { buildProgram } from './cli/program.js';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

/** The lines of every ```sh block, continuation lines joined and comments dropped. */
function shellLines(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const joined = m[1].replace(/\\\n\s*/g, ' ');
    for (const raw of joined.split('\n')) {
      const line = raw.replace(/\s+#\s.*$/, '').replace(/^#.*$/, '').trim();
      if (line) out.push(line);
    }
  }
  return out;
}

function allOptions(cmd: Command): Option[] {
  const opts: Option[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) opts.push(...c.options);
  return opts;
}

/** Walks a `cocokit …` line through the command tree; returns what does not exist. */
function checkLine(program: Command, line: string): string[] {
  const problems: string[] = [];
  // A command substitution ($(…), without nested parentheses) is another program's line: one opaque word here.
  const tokens = line.replace(/\$\([^()]*\)/g, 'X').replace(/[[\]]/g, ' ').split(/\s+/).filter(Boolean).slice(1);
  let cmd = program;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.startsWith("'")) {
      while (i < tokens.length && !tokens[i].endsWith("'")) i++;
      continue;
    }
    if (t.startsWith('-')) {
      let takesValue = false;
      for (const alt of t.split('|')) {
        const flag = alt.split('=')[0];
        if (flag === '--help' || flag === '-h' || flag === '--version' || flag === '-V') continue;
        const opt = allOptions(cmd).find((o) => o.long === flag || o.short === flag || (o.negate && o.long === flag));
        if (!opt) problems.push(`${cmd.name()}: no option ${flag}`);
        else if ((opt.required || opt.optional) && !alt.includes('=')) takesValue = true;
      }
      if (takesValue) i++;
      continue;
    }
    const names = t.split('|');
    const sub = cmd.commands.find((c) => c.name() === names[0] || c.aliases().includes(names[0]));
    if (sub) {
      for (const n of names.slice(1)) if (!cmd.commands.some((c) => c.name() === n)) problems.push(`${cmd.name()}: no subcommand ${n}`);
      cmd = sub;
    } else if (cmd.commands.length > 0 && cmd.registeredArguments.length === 0 && /^[a-z][a-z-]+$/.test(t)) {
      problems.push(`${cmd.name()}: no subcommand ${t}`);
    }
  }
  return problems;
}

/** An empty directory with `.bin/cocokit` in it, a script that runs this checkout's CLI (put `bin` on PATH). */
function scratchWithCli(prefix: string): { dir: string; bin: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const bin = join(dir, '.bin');
  spawnSync('mkdir', [bin]);
  const loader = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  writeFileSync(join(bin, 'cocokit'), `#!/bin/sh\nexec "${process.execPath}" --import "${loader}" "${join(REPO_ROOT, 'src', 'cli', 'main.ts')}" "$@"\n`);
  chmodSync(join(bin, 'cocokit'), 0o755);
  return { dir, bin };
}

test('every cocokit line in the README names commands and flags the CLI has', async () => {
  const program = await buildProgram(bufferIO());
  const lines = shellLines(README).filter((l) => l.startsWith('cocokit '));
  assert.ok(lines.length > 40, `${lines.length} lines`);
  const problems = lines.flatMap((l) => checkLine(program, l).map((p) => `${l}\n    ${p}`));
  assert.deepEqual(problems, []);
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('the README "Try it" block runs line by line in an empty directory', async () => {
  const start = README.indexOf('Try it');
  assert.ok(start > 0, 'README has a "Try it" block');
  const lines = shellLines(README.slice(start, README.indexOf('```', README.indexOf('```sh', start) + 5) + 3));
  assert.ok(lines.length >= 8);
  const { dir, bin } = scratchWithCli('cocokit-readme-');
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, COCOKIT_LOG_LEVEL: 'silent', NODE_ENV: '' };
  const port = String(await freePort());
  const servers: Array<ReturnType<typeof spawn>> = [];
  try {
    for (const raw of lines) {
      const line = raw.replaceAll('8080', port);
      if (line.endsWith('&')) {
        const child = spawn('bash', ['-c', `exec ${line.slice(0, -1)}`], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
        servers.push(child);
        let out = '';
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`${line}: no banner within 60 s\n${out}`)), 60_000);
          child.stdout!.on('data', (d: Buffer) => {
            out += d.toString();
            if (/listening on/.test(out)) {
              clearTimeout(timer);
              resolve();
            }
          });
          child.on('exit', (code) => reject(new Error(`${line}: exited ${code}\n${out}`)));
        });
        continue;
      }
      const r = spawnSync('bash', ['-c', line], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `${line}\n${r.stdout}\n${r.stderr}`);
      if (/get-resource --url .*default\/demo\/secret/.test(line)) assert.match(r.stdout, /Hello from cocokit!/);
      if (/get-resource --path default\/key\/1/.test(line)) assert.equal(r.stdout, 'my disk key');
      if (/get-resource-policy/.test(line)) assert.match(r.stdout, /package policy/);
      if (/ attest$/.test(line)) assert.equal(r.stdout.trim().split('.').length, 3);
    }
  } finally {
    for (const s of servers) s.kill('SIGTERM');
    await Promise.all(servers.map((s) => new Promise<void>((r) => (s.exitCode !== null ? r() : s.on('exit', () => r())))));
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The commands of a ```sh block: continuation lines joined, comments dropped, a heredoc kept whole. */
function shellCommands(block: string): string[] {
  const out: string[] = [];
  const lines = block.replace(/\\\n\s*/g, ' ').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\s+#\s.*$/, '').replace(/^\s*#.*$/, '').trim();
    if (!line) continue;
    const here = /<<'(\w+)'$/.exec(line);
    if (!here) {
      out.push(line);
      continue;
    }
    const body = [line];
    while (++i < lines.length && lines[i] !== here[1]) body.push(lines[i]);
    out.push([...body, here[1]].join('\n'));
  }
  return out;
}

/** Ends the process groups started `detached` for background lines (a shell and what it ran) and waits for them. */
async function stopGroups(servers: Array<ReturnType<typeof spawn>>): Promise<void> {
  for (const s of servers) {
    try {
      process.kill(-s.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await Promise.all(servers.map((s) => new Promise<void>((r) => (s.exitCode !== null || s.signalCode !== null ? r() : s.on('exit', () => r())))));
}

async function waitForPort(port: number, what: string): Promise<void> {
  const { connect } = await import('node:net');
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: nothing listens on ${port} after 60 s`);
}

test('the README "Measured boot with a vTPM" walk-through runs with swtpm', { skip: toolMissing('swtpm'), timeout: 600_000 }, async () => {
  const start = README.indexOf('### Measured boot with a vTPM');
  assert.ok(start > 0, 'README has the vTPM walk-through');
  const from = README.indexOf('```sh', start) + 5;
  const cmds = shellCommands(README.slice(from, README.indexOf('```', from)));
  const { dir, bin } = scratchWithCli('cocokit-readme-vtpm-');
  // The files the walk-through names: the synthetic event log of the TPM vectors, init-data, a secret.
  copyFileSync(vectorPath('tpm', 'eventlog.bin'), join(dir, 'eventlog.bin'));
  writeFileSync(join(dir, 'init-data.toml'), 'version = "0.1.0"\nalgorithm = "sha256"\n\n[data]\n"aa.toml" = \'\'\'\n[token_configs]\n\'\'\'\n');
  writeFileSync(join(dir, 'secret.bin'), 'the disk key');
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, COCOKIT_LOG_LEVEL: 'silent', NODE_ENV: '' };
  const [kbsPort, tpmPort, ctrlPort] = [await freePort(), await freePort(), await freePort()];
  const servers: Array<ReturnType<typeof spawn>> = [];
  let prelude = '';
  let gets = 0;
  try {
    for (const raw of cmds) {
      const cmd = raw.replaceAll('8080', String(kbsPort)).replaceAll('2321', String(tpmPort)).replaceAll('2322', String(ctrlPort));
      if (/^[A-Z_]+=/.test(cmd)) {
        prelude += `${cmd}\n`;
        continue;
      }
      if (cmd.endsWith('&')) {
        const child = spawn('bash', ['-c', prelude + cmd.slice(0, -1)], { cwd: dir, env, stdio: 'ignore', detached: true });
        servers.push(child);
        await waitForPort(/swtpm socket/.test(cmd) ? ctrlPort : kbsPort, cmd);
        continue;
      }
      const r = spawnSync('bash', ['-c', prelude + cmd], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
      if (/kbs get-resource/.test(cmd)) {
        gets++;
        // The guest that booted the reference UKI gets the secret; after another UKI it is refused (exit 6).
        if (gets === 1) assert.equal(r.stdout, 'the disk key', `${cmd}\n${r.stderr}`);
        else {
          assert.equal(r.status, 6, `${cmd}\n${r.stdout}\n${r.stderr}`);
          assert.match(r.stderr, /PolicyDeny/);
        }
        continue;
      }
      assert.equal(r.status, 0, `${cmd}\n${r.stdout}\n${r.stderr}`);
    }
    assert.equal(gets, 2);
  } finally {
    await stopGroups(servers);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the README walk-through "From build artifacts to a released secret" runs command by command', { timeout: 300_000 }, async () => {
  const start = README.indexOf('#### From build artifacts to a released secret');
  assert.ok(start > 0, 'README has the artifacts walk-through');
  const from = README.indexOf('```sh', start) + 5;
  const cmds = shellCommands(README.slice(from, README.indexOf('```', from)));
  const { dir, bin } = scratchWithCli('cocokit-readme-artifacts-');
  copyFileSync(vectorPath('snp', 'ovmf', 'OVMF.fd'), join(dir, 'OVMF.fd'));
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, COCOKIT_LOG_LEVEL: 'silent', NODE_ENV: '' };
  const port = await freePort();
  const servers: Array<ReturnType<typeof spawn>> = [];
  const seen: string[] = [];
  try {
    for (const raw of cmds) {
      const cmd = raw.replaceAll('8080', String(port));
      if (cmd.endsWith('&')) {
        const child = spawn('bash', ['-c', cmd.slice(0, -1)], { cwd: dir, env, stdio: 'ignore', detached: true });
        servers.push(child);
        await waitForPort(port, cmd);
        continue;
      }
      const r = spawnSync('bash', ['-c', cmd], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
      const what = `${cmd}\n${r.stdout}\n${r.stderr}`;
      if (/get-workload-resource/.test(cmd) && /--vcpus 4/.test(cmd)) {
        assert.equal(r.status, 0, what);
        assert.equal(r.stdout, 'opened-from-artifacts');
        seen.push('released');
      } else if (/get-workload-resource/.test(cmd)) {
        assert.equal(r.status, 6, what);
        assert.match(r.stderr, /registered measurement computed by snp-launch-digest with \{"vcpus":4,/);
        seen.push('denied');
      } else if (/ get-decision /.test(cmd)) {
        assert.equal(r.status, 0, what);
        assert.match(r.stdout, /— deny \(WORKLOAD_POLICY_DENY\)\n/);
        assert.ok(r.stdout.endsWith('\n  matches with --vcpus 2; registered with 4\n'), what);
        seen.push('decided');
      } else if (/ explain /.test(cmd)) {
        assert.equal(r.status, 0, what);
        assert.equal(r.stdout.trim(), 'matches with --vcpus 2; registered with 4');
        seen.push('explained');
      } else if (/ show /.test(cmd)) {
        assert.equal(r.status, 0, what);
        const shown = JSON.parse(r.stdout) as { provenance: { measurement: { algorithm: string; parameters: { vcpus: number } } } };
        assert.equal(shown.provenance.measurement.algorithm, 'snp-launch-digest');
        assert.equal(shown.provenance.measurement.parameters.vcpus, 4);
        seen.push('shown');
      } else assert.equal(r.status, 0, what);
    }
    assert.deepEqual(seen, ['shown', 'released', 'denied', 'decided', 'explained']);
  } finally {
    await stopGroups(servers);
    rmSync(dir, { recursive: true, force: true });
  }
});
