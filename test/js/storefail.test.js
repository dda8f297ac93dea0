'use strict';
// Store failures seen from JS: a commit whose outcome cannot be known is
// UNDETERMINED and transaction() never runs its function again; raw and
// transactional operations go on through a store that goes down.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { MockCluster, RawClient, TransactionClient, TikvError, buf } = require('./helpers');

describe('store failures', { timeout: 120000 }, () => {
  it('transaction() with its commit reply lost rejects UNDETERMINED and ran fn once', async () => {
    const mock = await MockCluster.start({ stores: 3, regions: 8 });
    const tc = await TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 2000 });
    try {
      // every KvCommit is applied and its reply lost, until the deadline
      mock.injectLostReply('KvCommit', { count: 1000000 });
      let runs = 0;
      await assert.rejects(
        tc.transaction(async (txn) => {
          runs++;
          await txn.put('0-lost', 'a');
          await txn.put('8-lost', 'b');
        }),
        (e) => {
          assert.ok(e instanceof TikvError);
          assert.equal(e.code, 'UNDETERMINED');
          assert.equal(e.retryable, false);
          return true;
        }
      );
      assert.equal(runs, 1, 'fn must not run again after an undetermined commit');
      mock.clearFaults();
      // an async commit is decided at prewrite: its lost replies too
      mock.injectLostReply('KvPrewrite', { count: 1000000 });
      let asyncRuns = 0;
      await assert.rejects(
        tc.transaction(
          async (txn) => {
            asyncRuns++;
            await txn.put('0-async', 'c');
            await txn.put('8-async', 'd');
          },
          { asyncCommit: true }
        ),
        (e) => e instanceof TikvError && e.code === 'UNDETERMINED'
      );
      assert.equal(asyncRuns, 1, 'fn must not run again after an undetermined async commit');
      mock.clearFaults();
      // the commits had been applied: every key is there once resolved
      const s = await tc.begin();
      assert.deepEqual(await s.get('0-lost'), buf('a'));
      assert.deepEqual(await s.get('8-lost'), buf('b'));
      assert.deepEqual(await s.get('0-async'), buf('c'));
      assert.deepEqual(await s.get('8-async'), buf('d'));
      await s.rollback();
    } finally {
      await tc.close();
      await mock.stop();
    }
  });

  it('raw and transactional operations go on through setStoreDown', async () => {
    const mock = await MockCluster.start({ stores: 3, regions: 8, raftElectionMs: 300 });
    const raw = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 10000, attemptTimeoutMs: 1000 });
    const tc = await TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 10000, attemptTimeoutMs: 1000 });
    const events = [];
    raw.on('storeDown', (e) => events.push(['down', e.storeId]));
    raw.on('storeUp', (e) => events.push(['up', e.storeId]));
    try {
      const region = mock.regionForKey('0-down');
      const leader = mock.regions().find((r) => r.id === region).leaderStore;
      await raw.put('0-down', 'before');
      await tc.transaction(async (txn) => txn.put('0-txn', 'before'));
      mock.setStoreDown(leader);
      await raw.put('0-down', 'after');
      assert.deepEqual(await raw.get('0-down'), buf('after'));
      await tc.transaction(async (txn) => {
        assert.deepEqual(await txn.get('0-txn'), buf('before'));
        await txn.put('0-txn', 'after');
        await txn.put('8-txn', 'after');
      });
      const s = await tc.begin();
      assert.deepEqual(await s.get('0-txn'), buf('after'));
      assert.deepEqual(await s.get('8-txn'), buf('after'));
      await s.rollback();
      const now = mock.regions().find((r) => r.id === region);
      assert.notEqual(now.leaderStore, leader, 'the region elected a leader on a live store');
      mock.setStoreDown(leader, false);
      assert.deepEqual(await raw.get('0-down'), buf('after'));
      // the health check sees the store back (probes every 300 ms)
      for (let i = 0; i < 100 && !events.some(([k]) => k === 'up'); i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(events, [['down', BigInt(leader)], ['up', BigInt(leader)]]);
    } finally {
      await raw.close();
      await tc.close();
      await mock.stop();
    }
  });
});
