/**
 * Digest and HMAC built-ins (opa:v1/topdown/crypto.go) over the UTF-8 bytes of their string operands, via
 * node:crypto; `crypto.hmac.equal` compares in constant time like Go's hmac.Equal.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type BuiltinDef, argString } from './registry.js';

function digest(name: string, alg: string): BuiltinDef {
  return { name, arity: 1, fn: (a) => createHash(alg).update(argString(name, a, 0), 'utf8').digest('hex') };
}

function hmac(name: string, alg: string): BuiltinDef {
  return {
    name,
    arity: 2,
    fn: (a) => createHmac(alg, Buffer.from(argString(name, a, 1), 'utf8')).update(argString(name, a, 0), 'utf8').digest('hex'),
  };
}

export const builtins: BuiltinDef[] = [
  digest('crypto.md5', 'md5'),
  digest('crypto.sha1', 'sha1'),
  digest('crypto.sha256', 'sha256'),
  hmac('crypto.hmac.md5', 'md5'),
  hmac('crypto.hmac.sha1', 'sha1'),
  hmac('crypto.hmac.sha256', 'sha256'),
  hmac('crypto.hmac.sha512', 'sha512'),
  {
    name: 'crypto.hmac.equal',
    arity: 2,
    fn: (a) => {
      const x = Buffer.from(argString('crypto.hmac.equal', a, 0), 'utf8');
      const y = Buffer.from(argString('crypto.hmac.equal', a, 1), 'utf8');
      return x.length === y.length && timingSafeEqual(x, y);
    },
  },
];
