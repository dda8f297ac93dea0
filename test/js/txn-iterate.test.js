'use strict';
// Transaction#iterate and Snapshot#iterate: ranges of any size (past one
// scan's 10,240-pair cap), across regions, forward and reverse, merged with
// the transaction's own buffered writes, a page of batchSize at a time.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startTxnCluster } = require('./helpers');
const { MAX_SCAN_LIMIT } = require('../../lib');

const keys = (kvs) => kvs.map((kv) => kv.key.toString());
const key = (i) => `it/${String(i).padStart(5, '0')}`;

async function collect(iter) {
  const out = [];
  for await (const kv of iter) out.push(kv);
  return out;
}

describe('transactional iterate', { timeout: 120000 }, () => {
  let c;
  let client;
  const N = MAX_SCAN_LIMIT + 1760; // more than one scan may return
  before(async () => {
    c = await startTxnCluster({ stores: 3, regions: 8 });
    client = c.client;
    // keys on both sides of region boundaries ("7", "F", ...) and many of them
    const txn = await client.begin();
    for (let i = 0; i < N; i++) await txn.put(key(i), `v${i}`);
    for (const k of ['0a', '7', '7a', 'Fz', 'N', 'zz']) await txn.put(`b${k}`, k);
    await txn.commit();
  });
  after(() => c.stop());

  it('a snapshot iterates a range larger than one scan, in order, every pair once', async () => {
    const s = await client.snapshot();
    const all = await collect(s.iterate('it/', 'it0'));
    assert.equal(all.length, N);
    for (let i = 0; i < N; i += 997) {
      assert.equal(all[i].key.toString(), key(i));
      assert.equal(all[i].value.toString(), `v${i}`);
    }
    assert.equal(all[N - 1].key.toString(), key(N - 1));
    await assert.rejects(s.scan('it/', 'it0', { limit: MAX_SCAN_LIMIT + 1 }), RangeError);
  });

  it('reverse, across region boundaries, with small pages and keyOnly', async () => {
    const s = await client.snapshot();
    const fwd = keys(await collect(s.iterate('b', 'c', { batchSize: 2 })));
    assert.deepEqual(fwd, ['b0a', 'b7', 'b7a', 'bFz', 'bN', 'bzz']);
    const rev = await collect(s.iterate('b', 'c', { batchSize: 2, reverse: true, keyOnly: true }));
    assert.deepEqual(keys(rev), [...fwd].reverse());
    assert.ok(rev.every((kv) => kv.value.length === 0));
    // a page boundary exactly at the end of the range: no extra page, no repeat
    assert.deepEqual(keys(await collect(s.iterate('b', 'c', { batchSize: 3 }))), fwd);
    assert.deepEqual(keys(await collect(s.iterate('b', 'c', { batchSize: 6 }))), fwd);
  });

  it("a transaction's iterate merges its own puts, overwrites and deletes on every page", async () => {
    const txn = await client.begin();
    await txn.delete('b7');
    await txn.delete('bFz');
    await txn.put('b7a', 'new');
    await txn.put('b8', 'mine');
    await txn.put('c', 'outside');
    for (const batchSize of [1, 2, 3, 100]) {
      const got = await collect(txn.iterate('b', 'c', { batchSize }));
      assert.deepEqual(
        got.map((kv) => [kv.key.toString(), kv.value.toString()]),
        [['b0a', '0a'], ['b7a', 'new'], ['b8', 'mine'], ['bN', 'N'], ['bzz', 'zz']],
        `batchSize ${batchSize}`,
      );
      const rev = await collect(txn.iterate('b', 'c', { batchSize, reverse: true }));
      assert.deepEqual(keys(rev), ['bzz', 'bN', 'b8', 'b7a', 'b0a'], `reverse, batchSize ${batchSize}`);
    }
    await txn.rollback();
    // nothing of it reached the store
    const s = await client.snapshot();
    assert.deepEqual(keys(await collect(s.iterate('b', 'c'))), ['b0a', 'b7', 'b7a', 'bFz', 'bN', 'bzz']);
  });

  it('deleting a whole page of stored keys does not end the walk early', async () => {
    const txn = await client.begin();
    for (let i = 0; i < 50; i++) await txn.delete(key(i));
    const got = await collect(txn.iterate('it/', key(60), { batchSize: 10 }));
    assert.deepEqual(keys(got), Array.from({ length: 10 }, (_, j) => key(50 + j)));
    await txn.rollback();
  });

  it('reads at its own timestamp while others write', async () => {
    const s = await client.snapshot();
    const w = await client.begin();
    await w.put('b1', 'later');
    await w.commit();
    assert.deepEqual(keys(await collect(s.iterate('b', 'c', { batchSize: 1 }))), ['b0a', 'b7', 'b7a', 'bFz', 'bN', 'bzz']);
    const fresh = await client.snapshot();
    assert.ok(keys(await collect(fresh.iterate('b', 'c'))).includes('b1'));
  });

  it('throws argument errors at once, and unknown options by name', async () => {
    const txn = await client.begin();
    const s = await client.snapshot();
    for (const r of [txn, s]) {
      assert.throws(() => r.iterate(5), TypeError);
      assert.throws(() => r.iterate('a', 7), TypeError);
      assert.throws(() => r.iterate('a', 'b', { batchSize: 0 }), RangeError);
      assert.throws(() => r.iterate('a', 'b', { batchSize: MAX_SCAN_LIMIT + 1 }), RangeError);
      assert.throws(() => r.iterate('a', 'b', { limit: 5 }), /unknown option 'limit' \(allowed: batchSize, reverse, keyOnly, timeoutMs, signal\)/);
    }
    await txn.rollback();
    // a finished transaction's iterator rejects on its first page
    await assert.rejects(collect(txn.iterate('a', 'b')), (e) => e.code === 'TXN_FINISHED');
  });
});
