/**
 * Where `kbs serve` writes its log lines: gathered in memory and written to the file descriptor a few times a
 * second instead of once per line. Each line written on its own cost a flow two write(2) calls handed to the
 * thread pool and two wake-ups of the event loop for their completions, which at low concurrency was a large
 * share of a flow's CPU.
 *
 * - Lines are written in order, in one write per interval (`flushMs`), or at once when `chunkBytes` gather.
 * - A reader that is slower than the log keeps at most `maxBufferedBytes` waiting; lines beyond that are
 *   dropped and counted, and the count is written as a line of its own once there is room again.
 * - A write error other than EAGAIN (the reader is gone: EPIPE, EBADF) stops logging for good, as a pino
 *   destination does; the server keeps running.
 * - `flushSync` (on process exit) makes one attempt to write what is pending and never retries, so a closed
 *   pipe cannot keep the process from exiting.
 * A process killed by SIGKILL loses the lines of its last interval at most; the audit log, not this one, is
 * the record of what the KBS did.
 */
import { write as fsWrite, writeSync } from 'node:fs';

export interface LogDestinationOptions {
  /** File descriptor written to (default 2, stderr). */
  fd?: number;
  /** Longest time a line waits before it is written, in milliseconds (default 100). */
  flushMs?: number;
  /** Bytes gathered that are written at once, without waiting for the interval (default 16 KiB). */
  chunkBytes?: number;
  /** Bytes kept waiting for a slow reader before lines are dropped (default 1 MiB). */
  maxBufferedBytes?: number;
}

export class LogDestination {
  readonly fd: number;
  readonly #flushMs: number;
  readonly #chunk: number;
  readonly #max: number;
  /** Lines not yet written; what a partial write left over is `#rest`, written before them. */
  #pending: string[] = [];
  #rest: Buffer | undefined;
  /** Characters pending (UTF-16 code units: bounds, not exact byte counts), `#rest` included. */
  #bytes = 0;
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The bytes handed to an asynchronous write that has not completed. */
  #inFlight: Buffer | undefined;
  #stopped = false;
  #exitHook: (() => void) | undefined;

  constructor(o: LogDestinationOptions = {}) {
    this.fd = o.fd ?? 2;
    this.#flushMs = o.flushMs ?? 100;
    this.#chunk = o.chunkBytes ?? 16 * 1024;
    this.#max = o.maxBufferedBytes ?? 1024 * 1024;
  }

  /** True once a write failed for good; later lines are discarded. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Lines dropped because the reader was too slow, not yet reported. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Characters waiting to be written (not counting a write in progress). */
  get pendingBytes(): number {
    return this.#bytes;
  }

  /** One log line (pino's stream interface). */
  write(line: string): boolean {
    if (this.#stopped) return true;
    if (this.#bytes + line.length > this.#max) {
      this.#dropped++;
      return true;
    }
    this.#pending.push(line);
    this.#bytes += line.length;
    if (this.#bytes >= this.#chunk) this.#flush();
    else this.#schedule();
    return true;
  }

  /** Writes what is pending now, asynchronously. */
  flush(): void {
    this.#flush();
  }

  /**
   * One synchronous attempt to write what is pending; for process exit. What a failed or partial write leaves
   * is discarded: nothing is retried.
   */
  flushSync(): void {
    this.#clearTimer();
    if (this.#stopped) return;
    const data = this.#take();
    if (data.length === 0) return;
    try {
      writeSync(this.fd, data);
    } catch {
      // The reader is gone or not reading: the lines are lost, the process still exits.
    }
  }

  /** Writes what is pending when the process exits (once per destination). */
  flushOnExit(): this {
    if (!this.#exitHook) {
      this.#exitHook = () => this.flushSync();
      process.once('exit', this.#exitHook);
    }
    return this;
  }

  /** Writes what is pending and stops the interval; later lines are still accepted and written. */
  end(): void {
    this.flushSync();
    if (this.#exitHook) process.removeListener('exit', this.#exitHook);
    this.#exitHook = undefined;
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer || this.#inFlight || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, this.#flushMs);
    this.#timer.unref();
  }

  /** The pending bytes as one buffer, with the count of dropped lines first; empties the queue. */
  #take(): Buffer {
    let text = this.#pending.join('');
    if (this.#dropped > 0) {
      text = `${JSON.stringify({ level: 40, time: Date.now(), msg: `${this.#dropped} log lines dropped: the log reader was too slow` })}\n${text}`;
      this.#dropped = 0;
    }
    const rest = this.#rest;
    this.#pending = [];
    this.#rest = undefined;
    this.#bytes = 0;
    const data = Buffer.from(text, 'utf8');
    return rest === undefined ? data : Buffer.concat([rest, data]);
  }

  #flush(): void {
    this.#clearTimer();
    if (this.#inFlight || this.#stopped) return;
    const data = this.#take();
    if (data.length === 0) return;
    this.#inFlight = data;
    fsWrite(this.fd, data, 0, data.length, null, (err, written) => {
      this.#inFlight = undefined;
      if (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.#stopped = true;
          this.#pending = [];
          this.#rest = undefined;
          this.#bytes = 0;
          return;
        }
        written = 0;
      }
      if (written < data.length) {
        // The rest goes first next time, after the interval: a full pipe needs its reader to catch up.
        const rest = data.subarray(written);
        this.#rest = rest;
        this.#bytes += rest.length;
        this.#schedule();
        return;
      }
      if (this.#bytes >= this.#chunk) this.#flush();
      else if (this.#bytes > 0 || this.#dropped > 0) this.#schedule();
    });
  }
}

let stderrDestination: LogDestination | undefined;

/** The process's one destination on stderr, written when the process exits: every server in it shares it. */
export function stderrLog(): LogDestination {
  stderrDestination ??= new LogDestination({ fd: 2 }).flushOnExit();
  return stderrDestination;
}
