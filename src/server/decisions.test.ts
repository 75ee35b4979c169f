import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { Store } from '../store/store.js';
import { openSqliteStore } from '../store/sqlite.js';
import { SQLITE_FILE } from '../store/sqlite.js';
import { openPostgresStore } from '../store/postgres.js';
import { postgresForFile } from '../test-support/postgres.js';
import { DecisionLog, GENESIS, canonicalJson, decisionBody, encodeRecord, jsonCanonical, recordDigest, redactClaims, redactedJson, verifyDecisionChain, type Decision, type DecisionBody } from './decisions.js';

interface Backend {
  store: Store;
  /** Runs one statement on the store's own tables, behind the store's back. */
  exec(sqlText: string): Promise<void>;
  /** Another store on the same database, as a second process or replica would open it. */
  openAnother(): Promise<Store>;
  close(): Promise<void>;
}

async function writeFive(store: Store): Promise<Decision[]> {
  const log = new DecisionLog(store);
  const out: Decision[] = [];
  for (let i = 0; i < 5; i++) {
    const d = await log.record({ type: i % 2 ? 'release' : 'attestation', client: '10.0.0.' + i, tee: 'sample', verdict: i === 2 ? 'deny' : 'allow', resource: 'default/key/a', reason: `r${i}` });
    assert.ok(d);
    out.push(d);
  }
  return out;
}

function chainSuite(name: string, skip: false | string, open: () => Promise<Backend>): void {
  describe(`decision chain on ${name}`, { skip }, () => {
    test('an untouched log verifies, each record linking to the one before', async () => {
      const b = await open();
      try {
        const ds = await writeFive(b.store);
        assert.equal(ds[0].prev, GENESIS);
        for (let i = 1; i < ds.length; i++) assert.equal(ds[i].prev, ds[i - 1].digest);
        const r = await verifyDecisionChain(b.store);
        assert.deepEqual(r, { ok: true, records: 5, truncatedBefore: false, problems: [], firstId: ds[0].id, lastId: ds[4].id });
      } finally {
        await b.close();
      }
    });

    test('a log reopened continues the chain from its newest record', async () => {
      const b = await open();
      try {
        const ds = await writeFive(b.store);
        const more = await new DecisionLog(b.store).record({ type: 'attestation', client: 'x', tee: 'sample', verdict: 'allow' });
        assert.equal(more?.prev, ds[4].digest);
        assert.equal((await verifyDecisionChain(b.store)).ok, true);
      } finally {
        await b.close();
      }
    });

    test('two stores on one database appending at once keep one chain', async () => {
      const b = await open();
      const other = await b.openAnother();
      try {
        const logs = [new DecisionLog(b.store), new DecisionLog(other)];
        const written = await Promise.all(
          Array.from({ length: 120 }, (_, i) => logs[i % 2].record({ type: 'attestation', client: `10.0.${i % 2}.${i}`, tee: 'sample', verdict: 'allow' })),
        );
        assert.ok(written.every((d) => d !== undefined));
        const r = await verifyDecisionChain(b.store);
        assert.deepEqual({ ok: r.ok, records: r.records, problems: r.problems }, { ok: true, records: 120, problems: [] });
        // Every record links to a distinct predecessor: no two were appended after the same head.
        assert.equal(new Set(written.map((d) => d!.prev)).size, 120);
      } finally {
        await other.close();
        await b.close();
      }
    });

    test('stores taking turns link each record to the other store\'s newest, whatever each knew of its own', async () => {
      const b = await open();
      const other = await b.openAnother();
      try {
        const logs = [new DecisionLog(b.store), new DecisionLog(other)];
        // Runs of one store (it links to the head it wrote) broken by the other's appends (it must not).
        const order = [0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0];
        const written: Decision[] = [];
        for (const [i, who] of order.entries()) {
          const d = await logs[who].record({ type: 'release', client: `10.1.${who}.${i}`, tee: 'sample', verdict: 'allow', resource: 'default/key/a' });
          assert.ok(d);
          assert.equal(d.prev, i === 0 ? GENESIS : written[i - 1].digest, `record ${i} (store ${who}) links to record ${i - 1}`);
          written.push(d);
        }
        const r = await verifyDecisionChain(b.store);
        assert.deepEqual({ ok: r.ok, records: r.records, problems: r.problems }, { ok: true, records: order.length, problems: [] });
      } finally {
        await other.close();
        await b.close();
      }
    });

    test('a newest record deleted behind the log\'s back: the next links to the one now newest, as on a fresh start', async () => {
      const b = await open();
      try {
        const log = new DecisionLog(b.store);
        const ds = await writeFive(b.store);
        const first = await log.record({ type: 'attestation', client: 'x', tee: 'sample', verdict: 'allow' });
        assert.equal(first?.prev, ds[4].digest);
        await b.exec(`delete from audit where id = ${first!.id}`);
        const next = await log.record({ type: 'attestation', client: 'y', tee: 'sample', verdict: 'allow' });
        assert.equal(next?.prev, ds[4].digest);
        // All deleted: the chain starts again from genesis.
        await b.exec("delete from audit where kind = 'kbs.decision'");
        assert.equal((await log.record({ type: 'attestation', client: 'z', tee: 'sample', verdict: 'allow' }))?.prev, GENESIS);
        assert.equal((await verifyDecisionChain(b.store)).ok, true);
      } finally {
        await b.close();
      }
    });

    test('records queued by submit are written by close, and a full queue makes the caller wait', async () => {
      const b = await open();
      try {
        const log = new DecisionLog(b.store, { queueBound: 3 });
        const waits = Array.from({ length: 6 }, (_, i) => log.submit({ type: 'release', client: 'c', tee: 'sample', verdict: 'allow', resource: `default/key/${i}` }));
        assert.deepEqual(waits.map((w) => w === undefined), [true, true, true, false, false, false]);
        assert.equal(log.pending, 6);
        await Promise.all(waits);
        await log.close();
        assert.equal(log.pending, 0);
        const r = await verifyDecisionChain(b.store);
        assert.deepEqual({ ok: r.ok, records: r.records }, { ok: true, records: 6 });
      } finally {
        await b.close();
      }
    });

    test('detects an edited verdict', async () => {
      const b = await open();
      try {
        const ds = await writeFive(b.store);
        await b.exec(`update audit set outcome = 'allow', detail = replace(detail, '"verdict":"deny"', '"verdict":"allow"') where id = ${ds[2].id}`);
        const r = await verifyDecisionChain(b.store);
        assert.equal(r.ok, false);
        assert.deepEqual(r.problems, [{ id: ds[2].id, problem: 'content does not match its digest (edited)' }]);
      } finally {
        await b.close();
      }
    });

    test('keeps the evidence text it digested, and detects one byte of it changed', async () => {
      const b = await open();
      try {
        const ds = await writeFive(b.store);
        const ev = { attestation_report: { report_data: [7, 8, 9, 250], vmpl: 0 }, cert_chain: null };
        const d = await new DecisionLog(b.store).record({ type: 'attestation', client: 'x', tee: 'snp', evidence: ev, verdict: 'allow' });
        assert.equal(d?.prev, ds[4].digest);
        const [stored] = await b.store.audit.list({ kind: 'kbs.decision', limit: 1 });
        const kept = (stored.detail as { evidence_text?: string }).evidence_text;
        assert.equal(kept, JSON.stringify(ev));
        assert.equal((stored.detail as { evidence_digest?: string }).evidence_digest, createHash('sha256').update(kept!).digest('hex'));
        assert.equal((await verifyDecisionChain(b.store)).ok, true);
        await b.exec(`update audit set detail = replace(detail, '9,250]', '9,251]') where id = ${d!.id}`);
        const r = await verifyDecisionChain(b.store);
        assert.deepEqual(r.problems, [{ id: d!.id, problem: 'content does not match its digest (edited)' }]);
      } finally {
        await b.close();
      }
    });

    test('detects an edited time', async () => {
      const b = await open();
      try {
        const ds = await writeFive(b.store);
        await b.exec(`update audit set time = time + 1 where id = ${ds[1].id}`);
        const r = await verifyDecisionChain(b.store);
        assert.deepEqual(r.problems.map((p) => p.id), [ds[1].id]);
      } finally {
        await b.close();
      }
    });

    test('detects a deleted record in the middle', async () => {
      const b = await open();
      try {
        const ds = await writeFive(b.store);
        await b.exec(`delete from audit where id = ${ds[2].id}`);
        const r = await verifyDecisionChain(b.store);
        assert.equal(r.ok, false);
        assert.equal(r.records, 4);
        assert.deepEqual(r.problems, [{ id: ds[3].id, problem: `does not follow record ${ds[1].id}: a record between them was removed, or records were reordered` }]);
      } finally {
        await b.close();
      }
    });

    test('detects two records swapped', async () => {
      const b = await open();
      try {
        const ds = await writeFive(b.store);
        const [x, y] = [ds[1].id, ds[3].id];
        // Swap the rows' contents: each keeps a valid digest, only their order in the log changes.
        const cols = 'time, subject, outcome, detail';
        await b.exec(`insert into audit (time, kind, subject, outcome, detail) select time, 'swap', subject, outcome, detail from audit where id = ${y}`);
        await b.exec(`update audit set (${cols}) = (select ${cols} from audit a2 where a2.id = ${x}) where id = ${y}`);
        await b.exec(`update audit set (${cols}) = (select ${cols} from audit a2 where a2.kind = 'swap') where id = ${x}`);
        await b.exec(`delete from audit where kind = 'swap'`);
        const r = await verifyDecisionChain(b.store);
        assert.equal(r.ok, false);
        assert.ok(r.problems.every((p) => /does not follow/.test(p.problem)), JSON.stringify(r.problems));
        assert.ok(r.problems.length >= 2);
      } finally {
        await b.close();
      }
    });

    test('retention pruning the oldest records leaves a chain that verifies, marked truncated', async () => {
      const b = await open();
      try {
        const ds = await writeFive(b.store);
        assert.equal(await b.store.audit.retain({ keepNewest: 3 }), 2);
        const r = await verifyDecisionChain(b.store);
        assert.equal(r.ok, true);
        assert.equal(r.truncatedBefore, true);
        assert.equal(r.firstId, ds[2].id);
      } finally {
        await b.close();
      }
    });
  });
}

chainSuite('SQLite', false, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-decisions-'));
  const store = await openSqliteStore({ dataDir: dir });
  const raw = new Database(join(dir, SQLITE_FILE));
  raw.pragma('busy_timeout = 5000');
  return {
    store,
    exec: async (s) => void raw.prepare(s).run(),
    openAnother: () => openSqliteStore({ dataDir: dir }),
    close: async () => {
      raw.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

test('two processes appending to one SQLite database at the same time keep one chain', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-decisions-'));
  try {
    (await openSqliteStore({ dataDir: dir })).close();
    const script = join(dir, 'append.mts');
    const here = (f: string) => JSON.stringify(fileURLToPath(new URL(f, import.meta.url)));
    // Each child loads the code, says "ready" and waits for "go" (start-up takes a variable second or two),
    // so that the two write in the same moments; between rounds each leaves the write lock free a little.
    writeFileSync(
      script,
      [
        `import { openSqliteStore } from ${here('../store/sqlite.ts')};`,
        `import { DecisionLog } from ${here('./decisions.ts')};`,
        `const store = await openSqliteStore({ dataDir: ${JSON.stringify(dir)} });`,
        'const log = new DecisionLog(store);',
        "process.stdout.write('ready\\n');",
        "await new Promise((r) => process.stdin.once('data', r));",
        'process.stdin.pause();',
        'for (let round = 0; round < 30; round++) {',
        "  const ds = await Promise.all(Array.from({ length: 1 + (round % 4) }, (_, i) => log.record({ type: 'attestation', client: `${process.argv[2]}/${round}/${i}`, tee: 'sample', verdict: 'allow' })));",
        "  if (ds.some((d) => d === undefined)) throw new Error('a record was not written');",
        '  await new Promise((r) => setTimeout(r, round % 3));',
        '}',
        'await store.close();',
      ].join('\n'),
    );
    const children = ['a', 'b'].map((name) => {
      const c = spawn(process.execPath, ['--import', 'tsx', script, name], { stdio: ['pipe', 'pipe', 'inherit'], timeout: 60_000 });
      const ready = new Promise<void>((resolve) => c.stdout.once('data', () => resolve()));
      const exit = new Promise<number | null>((resolve, reject) => {
        c.on('error', reject);
        c.on('exit', resolve);
      });
      return { c, ready, exit };
    });
    await Promise.race([Promise.all(children.map((x) => x.ready)), Promise.all(children.map((x) => x.exit))]);
    for (const x of children) x.c.stdin.end('go\n');
    assert.deepEqual(await Promise.all(children.map((x) => x.exit)), [0, 0]);
    const store = await openSqliteStore({ dataDir: dir });
    try {
      const r = await verifyDecisionChain(store);
      // 30 rounds of 1, 2, 3, 4, 1, … records: 73 per process.
      assert.deepEqual({ ok: r.ok, records: r.records, problems: r.problems }, { ok: true, records: 146, problems: [] });
      // The two did write in turns (each switch is an append after the other process's head), and each also
      // appended after its own head.
      const writers = (await store.audit.list({ kind: 'kbs.decision', limit: 1000 })).reverse().map((e) => (e.detail as { client: string }).client.split('/')[0]);
      const switches = writers.filter((w, i) => i > 0 && w !== writers[i - 1]).length;
      assert.ok(switches >= 2, `the processes took turns (${switches} switches)`);
      assert.ok(switches < writers.length - 1, 'a process appended after its own head');
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const pg = postgresForFile();
const pgSkip = pg.skip;
let schemas = 0;
chainSuite('PostgreSQL', pgSkip, async () => {
  const schema = `decisions_${schemas++}`;
  const url = await pg.cluster().createSchema(schema);
  const store = await openPostgresStore({ connectionString: url, kek: new Uint8Array(32).fill(3) });
  return {
    store,
    openAnother: () => openPostgresStore({ connectionString: url, kek: new Uint8Array(32).fill(3) }),
    exec: async (s) => void (await pg.cluster().query(s.replace(/\baudit\b/g, `${schema}.audit`))),
    close: () => store.close(),
  };
});

test('claims keep no nonce, token or secret-named value', () => {
  const claims = { submods: { cpu0: { 'ear.veraison.annotated-evidence': { runtime_data_claims: { nonce: 'n0nce', 'tee-pubkey': { kty: 'EC' } } } } }, access_token: 't0ken', client_secret: 's3cret' };
  const text = JSON.stringify(redactClaims(claims));
  for (const s of ['n0nce', 't0ken', 's3cret']) assert.ok(!text.includes(s), text);
  assert.ok(text.includes('"kty":"EC"'));
});

test('evidence beyond the bound is kept as its digest and size only', () => {
  const big = decisionBody({ type: 'attestation', client: 'c', tee: 'sample', evidence: 'x'.repeat(2000), verdict: 'allow' }, 1000);
  assert.equal(big.evidence, undefined);
  assert.equal(big.evidence_bytes, 2000);
  assert.match(big.evidence_digest!, /^[0-9a-f]{64}$/);
  assert.deepEqual(big.omitted, ['evidence']);
  const small = decisionBody({ type: 'attestation', client: 'c', tee: 'sample', evidence: { quote: 'AAAA' }, verdict: 'allow' }, 1000);
  assert.equal(small.evidence_text, '{"quote":"AAAA"}');
});

test('a record keeps the evidence as its JSON text, and digests that text', () => {
  const ev = { attestation_report: { version: 3, measurement: Array.from({ length: 48 }, (_, i) => i * 5), signature: { r: [1, 2], s: [3] } }, cert_chain: null };
  const text = JSON.stringify(ev);
  const b = decisionBody({ type: 'attestation', client: 'c', tee: 'snp', evidence: ev, verdict: 'allow' }, 16 * 1024);
  assert.equal(b.evidence_text, text);
  assert.equal(b.evidence_digest, createHash('sha256').update(text).digest('hex'));
  assert.equal(b.evidence_bytes, Buffer.byteLength(text));
  assert.equal(b.evidence, undefined);
  // A string evidence is its own text.
  const s = decisionBody({ type: 'attestation', client: 'c', tee: 'tdx', evidence: 'BAACAIEAAAAA', verdict: 'allow' }, 1000);
  assert.equal(s.evidence_text, 'BAACAIEAAAAA');
  assert.equal(s.evidence_digest, createHash('sha256').update('BAACAIEAAAAA').digest('hex'));
  // Multi-byte text is bounded by its UTF-8 size.
  const wide = decisionBody({ type: 'attestation', client: 'c', tee: 'sample', evidence: 'é'.repeat(600), verdict: 'allow' }, 1000);
  assert.equal(wide.evidence_bytes, 1200);
  assert.equal(wide.evidence_text, undefined);
  assert.deepEqual(wide.omitted, ['evidence']);
});

test('an encoded record reads back as its body, and its digest is the digest of what it holds', () => {
  const input = fc.record(
    {
      type: fc.constantFrom('attestation' as const, 'release' as const),
      client: fc.string(),
      tee: fc.string(),
      evidence: fc.jsonValue(),
      checks: fc.jsonValue(),
      claims: fc.jsonValue(),
      trace: fc.jsonValue(),
      resource: fc.string(),
      query: fc.dictionary(fc.string(), fc.string()),
      policyId: fc.string(),
      policyText: fc.string(),
      explanations: fc.dictionary(fc.string(), fc.string()),
      token: fc.string(),
      verdict: fc.constantFrom('allow' as const, 'deny' as const, 'error' as const),
      code: fc.string(),
      reason: fc.string(),
    },
    { requiredKeys: ['type', 'client', 'tee', 'verdict'] },
  );
  fc.assert(
    fc.property(input, fc.integer({ min: 0, max: 2 ** 42 }), fc.stringMatching(/^[0-9a-f]{64}$/), fc.integer({ min: 0, max: 4096 }), (inp, time, prev, max) => {
      const bound = max === 0 ? 1 << 20 : max;
      const { digest, subject, outcome, detail } = encodeRecord(inp, bound, time, prev);
      const read = JSON.parse(detail) as DecisionBody;
      assert.equal(read.prev, prev);
      assert.equal(read.digest, digest);
      assert.equal(outcome, inp.verdict);
      assert.equal(subject, inp.type === 'release' ? `release:${inp.resource ?? ''}` : `attestation:${inp.tee}`);
      assert.equal(digest, recordDigest(time, subject, outcome, read));
      const { prev: _p, digest: _d, ...body } = read;
      assert.deepEqual(body, decisionBody(inp, bound));
      // The fields as the input gave them, claims and queries redacted (a copy made by assignment drops a
      // "__proto__" key, which the record keeps).
      if (!JSON.stringify(inp).includes('"__proto__"')) {
        if (inp.claims !== undefined && body.claims !== undefined) assert.deepEqual(body.claims, JSON.parse(JSON.stringify(redactClaims(inp.claims))));
        if (inp.query !== undefined) assert.deepEqual(body.query, redactClaims(inp.query));
      }
      if (inp.reason !== undefined) assert.equal(body.reason, inp.reason.slice(0, 4096));
    }),
    { numRuns: 300 },
  );
});

test('redacted JSON is the canonical JSON of the redacted copy', () => {
  assert.equal(redactedJson({ b: { nonce: 'n', x: [1, { token: 't' }] }, a: undefined, c: null }), '{"b":{"nonce":"[redacted]","x":[1,{"token":"[redacted]"}]},"c":null}');
  let deep: unknown = 'bottom';
  for (let i = 0; i < 40; i++) deep = { d: deep };
  assert.equal(redactedJson(deep), canonicalJson(redactClaims(deep)));
  fc.assert(
    fc.property(fc.anything({ withBoxedValues: false, withMap: false, withSet: false, withObjectString: true, withNullPrototype: true, withSparseArray: true }), (v) => redactedJson(v) === canonicalJson(redactClaims(v))),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.jsonValue(), fc.constantFrom('nonce', 'client_secret', 'x', 'accessToken'), (v, k) => redactedJson({ [k]: v, v }) === canonicalJson(redactClaims({ [k]: v, v }))),
    { numRuns: 300 },
  );
  // Member names beyond those remembered between records are written the same way.
  const many = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [i % 3 === 0 ? `nonce_${i}` : `claim_${i}`, { token: i, value: `v${i}` }]));
  assert.equal(redactedJson(many), canonicalJson(redactClaims(many)));
  assert.equal(redactedJson(many), canonicalJson(redactClaims(many)));
});

test('a record too large for one audit row drops its largest parts and names them', () => {
  const body = decisionBody({ type: 'attestation', client: 'c', tee: 'sample', evidence: 'e'.repeat(40_000), claims: { big: 'c'.repeat(70_000) }, verdict: 'allow' }, 1 << 20);
  assert.deepEqual(body.omitted, ['evidence', 'claims']);
  assert.ok(JSON.stringify(body).length < 64 * 1024);
});

test('a release keeps its request query, redacted like claims', () => {
  const body = decisionBody({ type: 'release', client: 'c', tee: 'sample', resource: 'a/b/c', query: { version: '2', token: 'tok-Z9' }, verdict: 'allow' }, 1000);
  assert.deepEqual(body.query, { version: '2', token: '[redacted]' });
  assert.equal(decisionBody({ type: 'release', client: 'c', tee: 'sample', verdict: 'allow' }, 1000).query, undefined);
});

/** Keys sorted at every level, element by element: the form record digests are defined over. */
function sortedJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${Array.from(v, (x) => sortedJson(x)).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`).join(',')}}`;
}

test('canonical JSON sorts keys at every level, and arrays of scalars come out as element by element', () => {
  assert.equal(canonicalJson({ b: [3, 'x', null, true], a: { d: [{ z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[{"y":2,"z":1}]},"b":[3,"x",null,true]}');
  // Holes, undefined and non-finite numbers in an array are null, as in the element-wise form.
  // eslint-disable-next-line no-sparse-arrays
  assert.equal(canonicalJson([1, , undefined, NaN, Infinity, '"q"']), '[1,null,null,null,null,"\\"q\\""]');
  fc.assert(
    fc.property(fc.jsonValue(), (v) => canonicalJson(v) === sortedJson(v)),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.string(), fc.constant(null), fc.boolean(), fc.double())), (v) => canonicalJson(v) === sortedJson(v)),
    { numRuns: 500 },
  );
});

test('canonical JSON of any value is that of its JSON round trip, and refuses what JSON.stringify refuses', () => {
  const roundTrip = (v: unknown): string => canonicalJson(v === undefined ? null : JSON.parse(JSON.stringify(v) ?? 'null'));
  const same = (v: unknown): boolean => {
    let want: string | Error;
    try {
      want = roundTrip(v);
    } catch (e) {
      want = e as Error;
    }
    if (typeof want !== 'string') {
      assert.throws(() => jsonCanonical(v), TypeError);
      return true;
    }
    return jsonCanonical(v) === want;
  };
  const when = new Date(Date.UTC(2025, 5, 1));
  assert.equal(
    jsonCanonical({ z: when, y: [undefined, () => 1, Symbol('s')], x: { f: () => 1, u: undefined, s: Symbol('t') }, w: { toJSON: (k: string) => `key ${k}` }, v: new Number(2), u: new String('s') }),
    `{"u":"s","v":2,"w":"key w","x":{},"y":[null,null,null],"z":"${when.toISOString()}"}`,
  );
  assert.equal(jsonCanonical(undefined), 'null');
  assert.equal(jsonCanonical(new Date(NaN)), 'null');
  assert.ok(same([{ n: 1n }]));
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.throws(() => jsonCanonical(cyclic), TypeError);
  fc.assert(
    fc.property(fc.anything({ withBoxedValues: true, withDate: true, withNullPrototype: true, withSparseArray: true, withObjectString: true, withBigInt: true, withMap: true, withSet: true }), (v) => same(v)),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.array(fc.record({ id: fc.string(), ok: fc.boolean(), detail: fc.string(), expected: fc.option(fc.string(), { nil: undefined }), actual: fc.option(fc.string(), { nil: undefined }) })), (v) => same(v) && same({ tee: 'snp', checks: v })),
    { numRuns: 300 },
  );
});

test('a claim named __proto__ is kept as a member by the redacted copy and the redacted JSON alike', () => {
  const v = JSON.parse('{"__proto__":{"nonce":"n","k":1},"a":2}') as unknown;
  assert.equal(redactedJson(v), '{"__proto__":{"k":1,"nonce":"[redacted]"},"a":2}');
  assert.equal(canonicalJson(redactClaims(v)), redactedJson(v));
});
