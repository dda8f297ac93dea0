'use strict';
// The mock cluster's own JS surface: the fault kinds generated from the C
// table, and the cluster-failure faults (PD members, store loss, lost
// replies) as a test drives them.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { MockCluster, REGION_ERROR_KINDS } = require('../../lib/mock');
const { addon } = require('../../lib/native');
const { RawClient } = require('../../lib');

// Waits (polling observable state, 10 s at most) until cond() holds.
async function waitFor(cond, what) {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cond(), `still not true after 10 s: ${what}`);
}

describe('mock cluster surface', () => {
  it('REGION_ERROR_KINDS is the C table, in its order', async () => {
    assert.ok(Object.isFrozen(REGION_ERROR_KINDS));
    assert.ok(REGION_ERROR_KINDS.length >= 9);
    REGION_ERROR_KINDS.forEach((k, i) => assert.equal(addon.tikv_mock_region_error_name(i), k));
    assert.equal(addon.tikv_mock_region_error_name(REGION_ERROR_KINDS.length), null);
    const mock = await MockCluster.start({ stores: 1 });
    try {
      for (const k of REGION_ERROR_KINDS) mock.injectRegionError('RawGet', k);
      assert.throws(() => mock.injectRegionError('RawGet', 'no_such_kind'), RangeError);
    } finally {
      await mock.stop();
    }
  });

  it('PD members: endpoints, leader kill, election, transfer, pause', async () => {
    const mock = await MockCluster.start({ stores: 1, pdMembers: 3, pdElectionMs: 600000 });
    try {
      assert.equal(mock.pdMemberCount, 3);
      assert.equal(mock.pdEndpoints.length, 3);
      assert.equal(new Set(mock.pdEndpoints).size, 3);
      assert.ok(Object.isFrozen(mock.pdEndpoints));
      assert.equal(mock.pdLeader, 1);
      assert.equal(mock.killPdLeader(), 1);
      assert.equal(mock.pdLeader, null);
      mock.setPdElectionMs(200); /* the pending election: 200 ms from now */
      await waitFor(() => mock.pdLeader !== null, 'a new PD leader');
      assert.equal(mock.pdLeader, 2);
      mock.setPdMemberDown(1, false); /* back, as a follower */
      assert.equal(mock.pdLeader, 2);
      mock.transferPdLeader(1);
      assert.equal(mock.pdLeader, 1);
      mock.pausePdMember(1);
      await waitFor(() => mock.pdLeader === 2, 'PD leadership leaving the paused member');
      assert.throws(() => mock.transferPdLeader(1), RangeError);
      mock.pausePdMember(1, false);
      assert.throws(() => mock.transferPdLeader(4), RangeError);
      assert.throws(() => mock.setPdMemberDown('1'), TypeError);
      assert.throws(() => mock.pausePdMember(1, 'yes'), TypeError);
      assert.throws(() => mock.setPdElectionMs(0), RangeError);
      // a client given every member finds the leader
      const client = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 5000 });
      try {
        await client.put('k', 'v');
        assert.deepEqual(await client.get('k'), Buffer.from('v'));
      } finally {
        await client.close();
      }
    } finally {
      await mock.stop();
    }
  });

  it('start options are checked', async () => {
    await assert.rejects(MockCluster.start({ pdMembers: 0 }), RangeError);
    await assert.rejects(MockCluster.start({ pdMembers: 'x' }), TypeError);
    await assert.rejects(MockCluster.start({ raftElectionMs: 0 }), RangeError);
    await assert.rejects(MockCluster.start({ pdMember: 3 }), RangeError);
    const single = await MockCluster.start({ stores: 1 });
    try {
      assert.equal(single.pdEndpoints.length, 1);
      assert.equal(single.pdLeader, 1);
    } finally {
      await single.stop();
    }
  });

  it('store loss: the region elects a leader on another store', async () => {
    const mock = await MockCluster.start({ stores: 3, raftElectionMs: 200 });
    try {
      const [r] = mock.regions();
      assert.equal(r.hasLeader, true);
      assert.equal(r.leaderStore, 1n);
      mock.setRaftElectionMs(60000);
      mock.setStoreDown(1);
      assert.equal(mock.regions()[0].hasLeader, false);
      mock.setStoreDown(1, false); /* back before the election: still the leader */
      assert.equal(mock.regions()[0].hasLeader, true);
      mock.setRaftElectionMs(200);
      mock.setStoreDown(1);
      await waitFor(() => mock.regions()[0].hasLeader, 'a new region leader');
      assert.equal(mock.regions()[0].leaderStore, 2n);
      mock.setStoreDown(1, false);
      assert.equal(mock.regions()[0].leaderStore, 2n); /* rejoined as a follower */
    } finally {
      await mock.stop();
    }
  });

  it('corrupted replies: a read whose reply fails its check is sent again; the kinds are checked', async () => {
    const mock = await MockCluster.start({ stores: 1 });
    const client = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 5000 });
    try {
      await client.put('c', 'v');
      // undecodable replies to a point read, and batch get replies holding a
      // pair of a key not asked: each fails its check and the read goes again
      // (a flipped bit may leave a reply that still checks out, with other
      // values: no exact outcome can be asserted for 'flip')
      for (const [mode, method, read] of [
        ['undecodable', 'RawGet', () => client.get('c')],
        ['stray', 'RawBatchGet', () => client.batchGet(['c']).then((kvs) => kvs[0].value)],
      ]) {
        mock.injectCorruptReply(method, { mode, count: 2 });
        const before = mock.callCount(method);
        assert.deepEqual(await read(), Buffer.from('v'), mode);
        assert.equal(mock.callCount(method) - before, 3, `${mode}: the two damaged replies and the good one`);
      }
      mock.injectCorruptReply('RawGet', { count: 1 }); // 'flip' by default: settles either way
      await client.get('c').then(() => {}, (e) => assert.ok(e instanceof Error));
      assert.throws(() => mock.injectCorruptReply('RawGet', { mode: 'shred' }), /options.mode must be one of undecodable, flip, stray/);
      assert.throws(() => mock.injectCorruptReply('RawGet', { count: 0 }), RangeError);
      assert.throws(() => mock.injectCorruptReply('RawGet', { times: 1 }), /unknown option 'times'/);
      assert.throws(() => mock.injectCorruptReply(7), TypeError);
    } finally {
      await client.close();
      await mock.stop();
    }
  });

  it('lost replies: the write is applied, the reply is not', async () => {
    const mock = await MockCluster.start({ stores: 1 });
    const client = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 5000 });
    try {
      mock.injectLostReply('RawPut', { storeId: 1 });
      const before = mock.callCount('RawPut');
      const outcome = await client.put('lost', 'v').then(() => 'ok', (e) => e.code);
      const calls = mock.callCount('RawPut') - before;
      // either the client resent the put (idempotent) or it saw the transport error
      if (outcome === 'ok') assert.ok(calls >= 2, `${calls} RawPut calls`);
      else assert.equal(calls, 1);
      assert.deepEqual(await client.get('lost'), Buffer.from('v'));
      assert.throws(() => mock.injectLostReply('RawPut', { storeId: 2 }), RangeError);
      assert.throws(() => mock.injectLostReply(1), TypeError);
      assert.throws(() => mock.injectLostReply('RawPut', { count: 0 }), RangeError);
    } finally {
      await client.close();
      await mock.stop();
    }
  });
});
