/**
 * Where `kbs serve` writes its log lines: gathered in memory and written to the file descriptor a few times a
 * second instead of once per line. Each line written on its own cost a flow two write(2) calls handed to the
 * thread pool and two wake-ups of the event loop for their completions, which at low concurrency was a large
 * share of a flow's CPU.
 *
 * The writes themselves stay on the event loop's thread where that cannot block it: stdout or stderr on a pipe
 * or socket (how a service manager or container runtime collects them) is written through the process's own
 * stream for it, which libuv keeps non-blocking and which waits for a full pipe in the event loop; a regular
 * file is written synchronously (it never waits for a reader). Anything else (a terminal, which Node writes
 * blocking, or another descriptor) goes through the thread pool, which costs a thread hand-off and a wake-up of
 * the event loop per write.
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
import { fstatSync, write as fsWrite, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { Writable } from 'node:stream';

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

/** How the bytes reach the descriptor: see the module comment. */
export type LogWriteMode = 'stream' | 'file' | 'thread-pool';

type Sink = { mode: 'stream'; stream: Writable } | { mode: 'file' } | { mode: 'thread-pool' };

function sinkFor(fd: number): Sink {
  let st;
  try {
    st = fstatSync(fd);
  } catch {
    return { mode: 'thread-pool' };
  }
  if (st.isFile()) return { mode: 'file' };
  if ((fd === 1 || fd === 2) && (st.isFIFO() || st.isSocket()) && !isatty(fd)) {
    const stream = fd === 1 ? process.stdout : process.stderr;
    // A reader that went away fails the write (its callback gets the error), never the process. Node never
    // closes its stdio descriptors, so the number is not freed for another file.
    stream.on('error', () => {});
    return { mode: 'stream', stream };
  }
  return { mode: 'thread-pool' };
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
  readonly #sink: Sink;

  constructor(o: LogDestinationOptions = {}) {
    this.fd = o.fd ?? 2;
    this.#flushMs = o.flushMs ?? 100;
    this.#chunk = o.chunkBytes ?? 16 * 1024;
    this.#max = o.maxBufferedBytes ?? 1024 * 1024;
    this.#sink = sinkFor(this.fd);
  }

  /** How this destination writes to its descriptor. */
  get mode(): LogWriteMode {
    return this.#sink.mode;
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
    const sink = this.#sink;
    if (sink.mode === 'stream') {
      // The stream writes at once what the pipe takes and waits in the event loop for room for the rest.
      sink.stream.write(data, (err) => this.#written(data, err ?? null, err ? 0 : data.length));
    } else if (sink.mode === 'file') {
      let err: NodeJS.ErrnoException | null = null;
      let written = 0;
      try {
        written = writeSync(this.fd, data);
      } catch (e) {
        err = e as NodeJS.ErrnoException;
      }
      this.#written(data, err, written);
    } else {
      fsWrite(this.fd, data, 0, data.length, null, (err, written) => this.#written(data, err, written));
    }
  }

  #written(data: Buffer, err: NodeJS.ErrnoException | null, written: number): void {
    this.#inFlight = undefined;
    if (err) {
      if (err.code !== 'EAGAIN') {
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
  }
}

let stderrDestination: LogDestination | undefined;

/** The process's one destination on stderr, written when the process exits: every server in it shares it. */
export function stderrLog(): LogDestination {
  stderrDestination ??= new LogDestination({ fd: 2 }).flushOnExit();
  return stderrDestination;
}
