/**
 * How many round trips to PostgreSQL one protocol flow costs a KBS replica: each is a socket write waking a
 * server backend and a read, which on this path cost more CPU than the statements themselves. The counts are
 * pinned, so a change that adds one shows here. Counted at the driver: every query a pg client sends (a
 * multi-statement text or a parameterised query alike: one message sequence, one answer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { postgresKbsForFile } from '../test-support/postgres-kbs.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { KbsClient } from '../client/kbs-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { utf8 } from '../formats/bytes.js';
import { policyEvaluators } from '../policy/evaluators.js';
import { openKbs, type Kbs } from '../server/kbs.js';
import { regularize } from '../formats/runtime-data.js';
import { evidenceToJson } from '../tee/snp/evidence.js';
import { parseReport } from '../tee/snp/format.js';
import { createTestRoot } from '../tee/snp/test-root.js';
import type { Attester } from '../tee/verifier.js';

const { skip, kbsConfig } = postgresKbsForFile('round-trips');

/** Every query any pg client of this process sends, while `counting` is on. */
const sent: string[] = [];
let counting = false;
const clientProto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
const realQuery = clientProto.query;
clientProto.query = function (this: unknown, ...args: unknown[]) {
  if (counting) sent.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string } | undefined)?.text ?? '?'));
  return realQuery.apply(this, args);
};

/**
 * The queries `step` causes, up to the moment nothing more is sent for a while: the decision record a request
 * queues is written after the answer, and it belongs to the flow.
 */
async function queriesOf(step: () => Promise<unknown>): Promise<string[]> {
  sent.length = 0;
  counting = true;
  try {
    await step();
    let seen = -1;
    while (seen !== sent.length) {
      seen = sent.length;
      await new Promise((r) => setTimeout(r, 150));
    }
    return [...sent];
  } finally {
    counting = false;
  }
}

/** SNP guests of a chip under a test root the replica trusts. */
const root = createTestRoot({ product: 'milan' });
const chip = root.createChip();
const snpGuest: Attester = {
  tee: 'snp',
  getEvidence: async (reportData) =>
    evidenceToJson(parseReport(root.signReport(chip, { reportData: regularize(reportData, 64) })), [{ type: 'VCEK', data: new Uint8Array(chip.vcek.raw) }]),
};

async function replica(database: string): Promise<{ kbs: Kbs; url: string; adminKeyPem: string }> {
  const { config, dir, adminKeyPem } = await kbsConfig(database);
  writeFileSync(join(dir, 'roots.pem'), root.ark.toString() + root.ask.toString());
  config.attestation_service.snp_trusted_roots = [{ product: 'milan', pem: join(dir, 'roots.pem') }];
  const kbs = await openKbs({ config, ...policyEvaluators() });
  return { kbs, url: await kbs.listen(0, '127.0.0.1'), adminKeyPem };
}

test('round trips to PostgreSQL: 3 per sample or SNP handshake, 1 per resource GET by cookie or Bearer token', { skip }, async () => {
  const { kbs, url, adminKeyPem } = await replica('round_trips');
  try {
    await new KbsAdminClient(url, { privateKeyPem: adminKeyPem }).setResource('default/key/rt', utf8.encode('counted'));
    // A first flow warms what a replica keeps (policies, reference values, the chain head and the versions
    // its records name, the resource), and its decision records are written before counting starts.
    const warm = new KbsClient(url, new SampleAttester());
    await queriesOf(async () => {
      await warm.attest();
      assert.equal(utf8.decode(await warm.getResource('default/key/rt')), 'counted');
    });

    const client = new KbsClient(url, new SampleAttester());
    const handshake = await queriesOf(() => client.attest());
    const byCookie = await queriesOf(async () => assert.equal(utf8.decode(await client.getResource('default/key/rt')), 'counted'));
    // An SNP handshake costs the same trips: the report and its chain are checked in the process.
    await queriesOf(() => new KbsClient(url, snpGuest).attest());
    const snp = await queriesOf(() => new KbsClient(url, snpGuest).attest());
    const { token } = await new KbsClient(url, new SampleAttester()).attest();
    const byBearer = await queriesOf(async () => {
      const res = await fetch(`${url}/kbs/v0/resource/default/key/rt`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      await res.text();
    });
    /** What each query does: per statement its verb and table (the advisory lock: its function). */
    const shape = (texts: string[]) =>
      texts.map((t) =>
        t
          .split(/;\s*\n/)
          .map((st) => `${/^\s*(\w+)/.exec(st)?.[1] ?? '?'} ${/\b(?:INTO|FROM|UPDATE)\s+(\w+)/.exec(st.slice(0, 200))?.[1] ?? /^\s*\w+\s+(\w+)/.exec(st)?.[1] ?? ''}`)
          .join(' + '),
      );
    // /auth writes the session; /attest reads it and spends the nonce in one trip, then writes the attested
    // session, the decision record (guarded by the chain head this replica wrote) and the protocol audit row in
    // another.
    assert.deepEqual(shape(handshake), [
      'INSERT sessions',
      'SELECT sessions + INSERT nonces',
      'INSERT sessions + SELECT pg_advisory_xact_lock + INSERT audit + INSERT audit',
    ]);
    assert.deepEqual(shape(snp), shape(handshake));
    // A resource GET finds the attested session, the policy and the resource held by the replica: only the
    // decision record and the audit row are sent, together.
    assert.deepEqual(shape(byCookie), ['SELECT pg_advisory_xact_lock + INSERT audit + INSERT audit']);
    assert.deepEqual(shape(byBearer), ['SELECT pg_advisory_xact_lock + INSERT audit + INSERT audit']);
  } finally {
    await kbs.close();
  }
});
