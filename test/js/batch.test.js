'use strict';
// The batchCommands option: on by default (TiKV requests ride the stores'
// BatchCommands streams, many per message under load), false sends each as a
// unary call; both clients take it, checked like every other option, and a
// store refusing the stream is spoken to unary.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { MockCluster, RawClient, TransactionClient } = require('./helpers');

describe('batchCommands option', { timeout: 60000 }, () => {
  it('on by default: requests in BatchCommands messages, coalesced under load', async () => {
    const mock = await MockCluster.start({ stores: 3, regions: 8 });
    const c = await RawClient.connect(mock.pdEndpoints);
    try {
      assert.equal(c.options.batchCommands, true);
      await c.put('a1', 'v1');
      const msgs = mock.callCount('BatchCommands');
      const gets = mock.callCount('RawGet');
      const vals = await Promise.all(Array.from({ length: 256 }, () => c.get('a1')));
      assert.ok(vals.every((v) => v.toString() === 'v1'));
      assert.equal(mock.callCount('RawGet') - gets, 256);
      const sent = mock.callCount('BatchCommands') - msgs;
      assert.ok(sent > 0 && sent < 128, `256 gets in ${sent} messages`);
    } finally {
      await c.close();
      await mock.stop();
    }
  });

  it('false: every request is a unary call (both clients)', async () => {
    const mock = await MockCluster.start({ stores: 3, regions: 8 });
    const c = await RawClient.connect(mock.pdEndpoints, { batchCommands: false });
    const tc = await TransactionClient.connect(mock.pdEndpoints, { batchCommands: false });
    try {
      assert.equal(c.options.batchCommands, false);
      assert.equal(tc.options.batchCommands, false);
      const msgs = mock.callCount('BatchCommands');
      await c.put('a1', 'v1');
      assert.equal((await c.get('a1')).toString(), 'v1');
      await tc.transaction(async (txn) => {
        await txn.put('b1', 'w1');
      });
      const snap = await tc.snapshot();
      assert.equal((await snap.get('b1')).toString(), 'w1');
      assert.equal(mock.callCount('BatchCommands'), msgs);
      assert.ok(mock.callCount('KvCommit') >= 1);
    } finally {
      await c.close();
      await tc.close();
      await mock.stop();
    }
  });

  it('a transaction client batches too', async () => {
    const mock = await MockCluster.start({ stores: 3, regions: 8 });
    const tc = await TransactionClient.connect(mock.pdEndpoints, { batchCommands: true });
    try {
      const msgs = mock.callCount('BatchCommands');
      await tc.transaction(async (txn) => {
        await txn.put('b1', 'w1');
      });
      assert.ok(mock.callCount('BatchCommands') - msgs >= 2, 'prewrite and commit in the stream');
    } finally {
      await tc.close();
      await mock.stop();
    }
  });

  it('a store refusing BatchCommands gets unary calls', async () => {
    const mock = await MockCluster.start({ stores: 1, regions: 1 });
    mock.injectGrpcError('BatchCommands', 12, { count: 1000 });
    const c = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 5000 });
    try {
      await c.put('a1', 'v1');
      const msgs = mock.callCount('BatchCommands');
      for (let i = 0; i < 3; i++) assert.equal((await c.get('a1')).toString(), 'v1');
      assert.equal(mock.callCount('BatchCommands'), msgs);
    } finally {
      await c.close();
      await mock.stop();
    }
  });

  it('is checked: a boolean or absent', async () => {
    for (const bad of [1, 'yes', null, {}])
      await assert.rejects(RawClient.connect(['127.0.0.1:1'], { batchCommands: bad }), TypeError);
    await assert.rejects(TransactionClient.connect(['127.0.0.1:1'], { batchCommands: 0 }), TypeError);
    await assert.rejects(RawClient.connect(['127.0.0.1:1'], { batchCommand: true }), TypeError);
  });
});
