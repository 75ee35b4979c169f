import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { goPemDecode } from './gopem.js';

const block = (type: string, body: Buffer, eol = '\n') => `-----BEGIN ${type}-----${eol}${body.toString('base64').replace(/.{64}/g, `$&${eol}`)}${eol}-----END ${type}-----${eol}`;

test('goPemDecode reads a block, its type and the text after its END line', () => {
  const der = Buffer.from('3003020101', 'hex');
  const d = goPemDecode(`${block('CERTIFICATE', der)}tail`);
  assert.equal(d?.block.type, 'CERTIFICATE');
  assert.deepEqual(d?.block.bytes, der);
  assert.equal(d?.rest, 'tail');
  // CRLF line ends, text before the block, headers before the body, an empty body right before END.
  assert.deepEqual(goPemDecode(`junk\r\n${block('X', der, '\r\n')}`)?.block.bytes, der);
  const withHeaders = goPemDecode(`-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES\n\n${der.toString('base64')}\n-----END X-----\n`);
  assert.deepEqual(withHeaders?.block.headers, new Map([['Proc-Type', '4,ENCRYPTED'], ['DEK-Info', 'AES']]));
  assert.deepEqual(withHeaders?.block.bytes, der);
  assert.deepEqual(goPemDecode('-----BEGIN EMPTY-----\n-----END EMPTY-----\n')?.block.bytes, Buffer.alloc(0));
  // Only the END line's own line break is taken.
  assert.equal(goPemDecode(`${block('X', der)}\n`)?.rest, '\n');
});

test('goPemDecode passes over malformed blocks to the next good one, and finds none in text without one', () => {
  const der = Buffer.from('0500', 'hex');
  const good = block('GOOD', der);
  for (const bad of [
    '-----BEGIN BAD-----\n!!!!\n-----END BAD-----\n', // not base64
    '-----BEGIN BAD-----\nBQA=\n-----END OTHER-----\n', // END names another type
    '-----BEGIN BAD-----\nBQA=\n-----END BAD----- x\n', // text after END
    '-----BEGIN BAD----\nBQA=\n-----END BAD-----\n', // BEGIN line not closed by five dashes
    '-----BEGIN BAD-----\nBQA\n-----END BAD-----\n', // base64 without its padding
  ]) {
    assert.equal(goPemDecode(bad), undefined, bad);
    assert.equal(goPemDecode(`${bad}${good}`)?.block.type, 'GOOD', bad);
  }
  for (const none of ['', 'plain text', '-----BEGIN X-----\nBQA=\n', '-----BEGIN X-----', ' -----BEGIN X-----\nBQA=\n-----END X-----\n']) {
    assert.equal(goPemDecode(none), undefined, none);
  }
});

test('goPemDecode round-trips any block and never throws on any text', () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Z][A-Z ]{0,12}[A-Z]$/), fc.uint8Array({ maxLength: 200 }), fc.string({ maxLength: 20 }), (type, bytes, tail) => {
      const d = goPemDecode(`${block(type, Buffer.from(bytes))}${tail}`);
      assert.equal(d?.block.type, type);
      assert.deepEqual(d?.block.bytes, Buffer.from(bytes));
      assert.equal(d?.rest, tail);
    }),
    { numRuns: 300 },
  );
  const pemish = fc.string({ unit: fc.constantFrom('-', 'B', 'E', 'G', 'I', 'N', 'D', ' ', 'X', '\n', '\r', 'A', '=', ':', '/'), maxLength: 120 });
  fc.assert(
    fc.property(pemish, (text) => {
      const d = goPemDecode(text);
      if (d) assert.ok(d.rest.length < text.length);
    }),
    { numRuns: 2000 },
  );
});
