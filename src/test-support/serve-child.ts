/**
 * A `kbs serve` child process for tests: waits for the banner's URL and stops the process (SIGTERM, then
 * SIGKILL after 10 s) whatever the test's outcome.
 */
import type { ChildProcess } from 'node:child_process';

/** The URL of the banner's `listening on` line; fails if the child exits first or prints none in 60 s. */
export function listeningUrl(child: ChildProcess): Promise<string> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no banner in 60 s:\n${out}\n${err}`)), 60_000);
    child.stdout?.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`kbs serve exited (${code}):\n${out}\n${err}`));
    });
  });
}

/** Ends the child and waits for its exit. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}
