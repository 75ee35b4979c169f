/**
 * Admin API authorization (specs/kbs-protocol.md §2.1, TR `kbs/src/admin/*`): `InsecureAllowAll`, `DenyAll`,
 * or `AuthenticatedAuthorization` = a Bearer JWT verified against identity providers (PEM key: EC, RSA or
 * Ed25519; or a JWKS by `kid`), `exp` required, optional `iss`/`aud` checks, a mandatory string `role` claim,
 * and per-role regex ACLs matched against the full request URI (path + query), method ignored.
 *
 * Tenancy is a property of the identity, not of the token's claims: each provider and each ACL entry may bind
 * the workload namespaces it acts in (`namespaces`, cocokit). A token's `namespace` claim only chooses among
 * them; a claim outside the binding is refused, so holding one tenant's key never reaches another tenant.
 *
 * cocokit also bounds how long an admin token may live (`exp` − `iat`, and `exp` − now), and how far in the
 * future its `iat` may lie: a leaked key must not be able to mint a token that stays valid for years.
 */
import { readFileSync } from 'node:fs';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { CocoError } from '../errors.js';
import type { AclEntry, AdminMode, IdentityProvider } from './config.js';
import { echo } from './echo.js';

/** Every namespace, or exactly these. */
export type NamespaceGrant = '*' | ReadonlySet<string>;

function grantOf(namespaces: string[] | undefined): NamespaceGrant {
  return namespaces === undefined || namespaces.includes('*') ? '*' : new Set(namespaces);
}

function intersect(a: NamespaceGrant, b: NamespaceGrant): NamespaceGrant {
  if (a === '*') return b;
  if (b === '*') return a;
  return new Set([...a].filter((n) => b.has(n)));
}

function union(a: NamespaceGrant, b: NamespaceGrant): NamespaceGrant {
  return a === '*' || b === '*' ? '*' : new Set([...a, ...b]);
}

interface Provider {
  namespaces: NamespaceGrant;
  issuer?: string;
  audience?: string;
  key?: KeyObject;
  jwks?: ReturnType<typeof createLocalJWKSet>;
}

function readUri(uri: string, what: string): string {
  if (/^https?:/.test(uri)) throw new CocoError('KBS_CONFIG', `${what}: only local files are supported: ${uri}`, { kind: 'usage' });
  try {
    return readFileSync(uri.startsWith('file://') ? uri.slice(7) : uri, 'utf8');
  } catch (e) {
    throw new CocoError('KBS_CONFIG', `cannot read ${what} ${uri}: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

/** Bounds on admin token lifetimes (`[admin.authentication.bearer_jwt]`, cocokit). */
export interface AdminTokenLimits {
  /** Longest accepted `exp` − `iat` (and `exp` − now), in seconds. */
  maxLifetimeSecs: number;
  /** How far `iat` may lie ahead of the server clock, in seconds (clocks of admin hosts drift). */
  maxClockSkewSecs: number;
}

export const DEFAULT_ADMIN_TOKEN_LIMITS: AdminTokenLimits = { maxLifetimeSecs: 3600, maxClockSkewSecs: 60 };

export interface AdminIdentity {
  role: string;
  sub?: string;
  /** The workload namespaces this identity may act in: its provider's binding ∩ its role's ACL bindings. */
  namespaces: NamespaceGrant;
  /** The token's `namespace` claim, if it has one (unchecked: see `AdminAuthorizer.namespaceFor`). */
  claimedNamespace?: unknown;
}

export class AdminAuthorizer {
  readonly mode: AdminMode;
  private readonly providers: Provider[];
  private readonly acls: Array<{ role: string; re: RegExp; namespaces: NamespaceGrant }>;
  private readonly clock: () => Date;
  private readonly limits: AdminTokenLimits;

  constructor(mode: AdminMode, providers: IdentityProvider[], acls: AclEntry[], clock: () => Date = () => new Date(), limits: AdminTokenLimits = DEFAULT_ADMIN_TOKEN_LIMITS) {
    this.mode = mode;
    this.clock = clock;
    this.limits = limits;
    this.acls = acls.map((a) => ({ role: a.role, re: new RegExp(a.allowed_endpoints), namespaces: grantOf(a.namespaces) }));
    this.providers = providers.map((p) => {
      const out: Provider = { namespaces: grantOf(p.namespaces), issuer: p.issuer, audience: p.audience };
      if (p.public_key_uri) {
        try {
          out.key = createPublicKey(readUri(p.public_key_uri, 'admin public key'));
        } catch (e) {
          if (e instanceof CocoError) throw e;
          throw new CocoError('KBS_CONFIG', `admin public key ${p.public_key_uri} is not a PEM public key`, { kind: 'input', cause: e });
        }
      }
      if (p.jwk_set_uri) out.jwks = createLocalJWKSet(JSON.parse(readUri(p.jwk_set_uri, 'admin JWKS')));
      return out;
    });
    if (mode === 'AuthenticatedAuthorization' && this.providers.length === 0) {
      throw new CocoError('KBS_CONFIG', 'admin.authorization_mode AuthenticatedAuthorization needs at least one identity provider', { kind: 'usage' });
    }
  }

  /** Throws `KBS_ADMIN_*` (401) unless the request may proceed. */
  async authorize(authorization: string | undefined, uri: string): Promise<AdminIdentity | undefined> {
    if (this.mode === 'InsecureAllowAll') return undefined;
    if (this.mode === 'DenyAll') throw new CocoError('KBS_ADMIN_DENIED', 'the admin API is disabled (authorization_mode = DenyAll)', { kind: 'forbidden' });
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) throw new CocoError('KBS_ADMIN_NO_TOKEN', 'admin request without an Authorization: Bearer token', { kind: 'auth' });
    const { payload, provider } = await this.verifyToken(m[1]);
    const role = payload.role;
    if (typeof role !== 'string') throw new CocoError('KBS_ADMIN_NO_ROLE', 'admin token has no string "role" claim', { kind: 'auth' });
    const matched = this.acls.filter((a) => a.role === role && a.re.test(uri));
    if (matched.length === 0) throw new CocoError('KBS_ADMIN_FORBIDDEN', `role ${echo(role)} may not access ${echo(uri.split('?')[0], 256)}`, { kind: 'forbidden' });
    const byRole = matched.map((a) => a.namespaces).reduce(union);
    return {
      role,
      sub: typeof payload.sub === 'string' ? payload.sub : undefined,
      namespaces: intersect(provider.namespaces, byRole),
      ...(payload.namespace !== undefined ? { claimedNamespace: payload.namespace } : {}),
    };
  }

  /**
   * The one namespace an authorized identity acts in: the token's `namespace` claim when it is inside the
   * identity's binding, or the binding's only namespace when the token names none. A claim outside the
   * binding is refused — a claim may narrow what the configuration grants, never widen it.
   */
  static namespaceFor(id: AdminIdentity): string {
    const claim = id.claimedNamespace;
    if (claim !== undefined) {
      if (typeof claim !== 'string') throw new CocoError('KBS_ADMIN_NAMESPACE', 'the admin token\'s "namespace" claim must be a string', { kind: 'forbidden' });
      if (id.namespaces !== '*' && !id.namespaces.has(claim)) {
        throw new CocoError('KBS_ADMIN_NAMESPACE', `role ${echo(id.role)} may not act in namespace ${echo(claim)}`, { kind: 'forbidden' });
      }
      return claim;
    }
    if (id.namespaces !== '*' && id.namespaces.size === 1) return [...id.namespaces][0];
    throw new CocoError('KBS_ADMIN_NAMESPACE', 'the admin token names no "namespace"; workload registrations are per namespace', { kind: 'forbidden' });
  }

  /** Refuses an identity that may not act in `namespace` (a compat dialect's fixed namespace). */
  static requireNamespace(id: AdminIdentity | undefined, namespace: string): void {
    if (id === undefined || id.namespaces === '*' || id.namespaces.has(namespace)) return;
    throw new CocoError('KBS_ADMIN_NAMESPACE', `role ${echo(id.role)} may not act in namespace ${echo(namespace)}`, { kind: 'forbidden' });
  }

  private async verifyToken(token: string): Promise<{ payload: JWTPayload; provider: Provider }> {
    try {
      decodeProtectedHeader(token);
    } catch (e) {
      throw new CocoError('KBS_ADMIN_TOKEN', 'admin token is not a JWT', { kind: 'auth', cause: e });
    }
    const reasons: string[] = [];
    const now = this.clock();
    for (const p of this.providers) {
      const opts = { requiredClaims: ['exp'], currentDate: now, ...(p.issuer ? { issuer: p.issuer } : {}), ...(p.audience ? { audience: p.audience } : {}) };
      let payload: JWTPayload | undefined;
      try {
        if (p.key) payload = (await jwtVerify(token, p.key, opts)).payload;
        else if (p.jwks) payload = (await jwtVerify(token, p.jwks, opts)).payload;
      } catch (e) {
        reasons.push((e as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'token expired' : (e as Error).message);
      }
      if (payload) {
        this.checkLifetime(payload, now);
        return { payload, provider: p };
      }
    }
    throw new CocoError('KBS_ADMIN_TOKEN', `admin token rejected: ${[...new Set(reasons)].join('; ')}`, { kind: 'auth' });
  }

  /** A verified token must also be short-lived: `iat` not ahead of the clock, `exp` within the lifetime bound. */
  private checkLifetime(payload: JWTPayload, now: Date): void {
    const { maxLifetimeSecs, maxClockSkewSecs } = this.limits;
    const nowSecs = now.getTime() / 1000;
    const exp = payload.exp as number;
    if (typeof payload.iat === 'number') {
      if (payload.iat > nowSecs + maxClockSkewSecs) {
        throw new CocoError('KBS_ADMIN_TOKEN', `admin token rejected: "iat" lies more than ${maxClockSkewSecs} s in the future`, { kind: 'auth' });
      }
      if (exp - payload.iat > maxLifetimeSecs) {
        throw new CocoError('KBS_ADMIN_TOKEN', `admin token rejected: lifetime (exp - iat) exceeds ${maxLifetimeSecs} s`, { kind: 'auth' });
      }
    }
    // Without `iat` (Trustee does not require it), or with a backdated one, the remaining lifetime is bounded too.
    if (exp - nowSecs > maxLifetimeSecs + maxClockSkewSecs) {
      throw new CocoError('KBS_ADMIN_TOKEN', `admin token rejected: "exp" lies more than ${maxLifetimeSecs} s ahead`, { kind: 'auth' });
    }
  }
}
