/**
 * Carrying TPM 2.0 command bytes to a TPM: the kernel's resource manager (`/dev/tpmrm0`, one command written,
 * one response read) or swtpm's data socket (TCP or Unix, the response framed by the size in its header,
 * TPM 2.0 Part 1 §18). TCTI strings follow tpm2-tss (`device:/dev/tpmrm0`, `swtpm:host=…,port=…`,
 * `swtpm:path=…`).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { CocoError } from '../errors.js';

export interface TpmTransport {
  /** Sends one command and resolves with its complete response. */
  transmit(command: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** TPM 2.0 responses are bounded by the TPM's MAX_RESPONSE_SIZE; 64 KiB is far above any implementation's. */
const MAX_RESPONSE = 0x10000;

function unavailable(message: string, cause?: unknown): CocoError {
  return new CocoError('TPM_TRANSPORT', message, { kind: 'unavailable', ...(cause === undefined ? {} : { cause }) });
}

/** `/dev/tpmrm0` (or `/dev/tpm0`): write a command, read its response. */
export class DeviceTransport implements TpmTransport {
  private constructor(private readonly fh: FileHandle, readonly path: string) {}

  static async open(path = '/dev/tpmrm0'): Promise<DeviceTransport> {
    try {
      return new DeviceTransport(await open(path, 'r+'), path);
    } catch (e) {
      throw unavailable(`cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
    }
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    try {
      await this.fh.write(command);
      const buf = new Uint8Array(MAX_RESPONSE);
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, null);
      return buf.subarray(0, bytesRead);
    } catch (e) {
      throw unavailable(`${this.path}: ${(e as Error).message}`, e);
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** swtpm's data channel (`swtpm socket --server type=tcp,port=P` or `type=unixio,path=…`). */
export class SocketTransport implements TpmTransport {
  private chunks: Buffer[] = [];
  private waiting: { resolve: (b: Uint8Array) => void; reject: (e: unknown) => void } | undefined;
  private failure: Error | undefined;

  private constructor(private readonly socket: Socket, readonly label: string, private readonly timeoutMs: number) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.deliver();
    });
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static connect(target: { host?: string; port?: number; path?: string }, timeoutMs = 30_000): Promise<SocketTransport> {
    const label = target.path ?? `${target.host ?? '127.0.0.1'}:${target.port}`;
    return new Promise((resolve, reject) => {
      const s = target.path !== undefined ? connect({ path: target.path }) : connect({ host: target.host ?? '127.0.0.1', port: target.port ?? 2321 });
      s.setNoDelay(true);
      const onError = (e: Error) => reject(unavailable(`cannot connect to swtpm at ${label}: ${e.message}`, e));
      s.once('error', onError);
      s.once('connect', () => {
        s.off('error', onError);
        resolve(new SocketTransport(s, label, timeoutMs));
      });
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(unavailable(`swtpm at ${this.label}: ${e.message}`, e));
  }

  private deliver(): void {
    if (this.waiting === undefined) return;
    const have = this.chunks.reduce((n, c) => n + c.length, 0);
    if (have < 10) return;
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    const size = all.readUInt32BE(2);
    if (size < 10 || size > MAX_RESPONSE) {
      this.fail(new Error(`response size ${size} is not a TPM response`));
      return;
    }
    if (all.length < size) return;
    this.chunks = all.length > size ? [all.subarray(size)] : [];
    const w = this.waiting;
    this.waiting = undefined;
    w.resolve(new Uint8Array(all.subarray(0, size)));
  }

  transmit(command: Uint8Array): Promise<Uint8Array> {
    if (this.failure !== undefined) return Promise.reject(unavailable(`swtpm at ${this.label}: ${this.failure.message}`, this.failure));
    if (this.waiting !== undefined) return Promise.reject(new CocoError('TPM_TRANSPORT', 'one command at a time', { kind: 'usage' }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`no response within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.waiting = {
        resolve: (b) => {
          clearTimeout(timer);
          resolve(b);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.socket.write(command);
      this.deliver();
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.failure ??= new Error('closed');
      this.socket.end(() => resolve());
      this.socket.destroySoon?.();
    });
  }
}

export type Tcti = { kind: 'device'; path: string } | { kind: 'swtpm'; host: string; port: number } | { kind: 'swtpm'; path: string };

/**
 * Parses a TCTI string: `device[:PATH]`, `swtpm[:host=H,port=P]` (defaults 127.0.0.1:2321, tpm2-tss's),
 * `swtpm:path=SOCKET`.
 * @throws CocoError TPM_TCTI (kind `usage`)
 */
export function parseTcti(text: string): Tcti {
  const bad = (m: string) => new CocoError('TPM_TCTI', `TCTI ${JSON.stringify(text)}: ${m}`, { kind: 'usage' });
  const [kind, conf = ''] = text.split(/:(.*)/s, 2);
  if (kind === 'device') return { kind: 'device', path: conf || '/dev/tpmrm0' };
  if (kind !== 'swtpm') throw bad('only device and swtpm are supported');
  const opts = new Map<string, string>();
  for (const kv of conf.split(',').filter(Boolean)) {
    const [k, v] = kv.split('=', 2);
    if (v === undefined || !['host', 'port', 'path'].includes(k)) throw bad(`unknown option ${kv}`);
    opts.set(k, v);
  }
  if (opts.has('path')) return { kind: 'swtpm', path: opts.get('path') as string };
  const port = Number(opts.get('port') ?? 2321);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('port must be 1..65535');
  return { kind: 'swtpm', host: opts.get('host') ?? '127.0.0.1', port };
}

/** Opens the transport a TCTI string names. */
export async function openTransport(tcti: string | Tcti): Promise<TpmTransport> {
  const t = typeof tcti === 'string' ? parseTcti(tcti) : tcti;
  if (t.kind === 'device') return DeviceTransport.open(t.path);
  return 'path' in t ? SocketTransport.connect({ path: t.path }) : SocketTransport.connect({ host: t.host, port: t.port });
}
