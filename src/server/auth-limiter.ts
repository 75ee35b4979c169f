/**
 * Admission control for `POST /kbs/v0/auth`: every accepted request stores a session, so an unattested
 * client could otherwise fill the store at network speed. Two bounds apply:
 *
 * - a token bucket per client address (`auth_rate_per_sec`, `auth_burst`), so one client cannot crowd out
 *   the others; IPv6 clients are grouped by their /64, which one host usually holds whole;
 * - a cap on sessions this server opened that have not attested yet (`max_pending_sessions`), which bounds
 *   the store even against many addresses. A session leaves the count when it attests or expires.
 *
 * Both answer with the seconds after which a retry can succeed (HTTP 429 `Retry-After`). The state is in
 * memory and per server: replicas each hold their own bound.
 */

export interface AuthLimits {
  ratePerSec: number;
  burst: number;
  maxPending: number;
}

export type Admission = { ok: true } | { ok: false; reason: 'rate' | 'pending'; retryAfterSecs: number };

interface Bucket {
  tokens: number;
  atMs: number;
}

/** Clients remembered at most; the least recently seen is forgotten first (it then starts with a full bucket). */
const MAX_CLIENTS = 65_536;

/** The bucket key of a client address: IPv4 as is, IPv6 by its first 64 bits. */
export function clientKey(address: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (v4 || !address.includes(':')) return v4 ?? address;
  const [head, tail] = address.split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':') + '::/64';
}

export class AuthLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** Pending session id → expiry (ms). Sessions all live equally long, so insertion order is expiry order. */
  private readonly pending = new Map<string, number>();

  constructor(
    private readonly limits: AuthLimits,
    private readonly nowMs: () => number,
  ) {}

  /** Takes one token from the client's bucket and checks the pending cap; nothing is taken when refused. */
  admit(address: string): Admission {
    const now = this.nowMs();
    this.expirePending(now);
    const key = clientKey(address);
    const { ratePerSec, burst, maxPending } = this.limits;
    const b = this.buckets.get(key) ?? { tokens: burst, atMs: now };
    b.tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.atMs) / 1000) * ratePerSec);
    b.atMs = now;
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > MAX_CLIENTS) this.buckets.delete(this.buckets.keys().next().value as string);
    if (b.tokens < 1) return { ok: false, reason: 'rate', retryAfterSecs: Math.max(1, Math.ceil((1 - b.tokens) / ratePerSec)) };
    if (this.pending.size >= maxPending) {
      const oldest = this.pending.values().next().value as number;
      return { ok: false, reason: 'pending', retryAfterSecs: Math.max(1, Math.ceil((oldest - now) / 1000)) };
    }
    b.tokens -= 1;
    return { ok: true };
  }

  /** A session was stored for an admitted request. */
  opened(id: string, expiresAtMs: number): void {
    this.pending.set(id, expiresAtMs);
  }

  /** A session attested (or is gone): it no longer counts as pending. */
  settled(id: string): void {
    this.pending.delete(id);
  }

  get pendingCount(): number {
    this.expirePending(this.nowMs());
    return this.pending.size;
  }

  private expirePending(now: number): void {
    for (const [id, exp] of this.pending) {
      if (exp > now) break;
      this.pending.delete(id);
    }
  }
}
