'use strict';
// The client through a PD leader change, from JS: transactions in a loop
// while the PD leader is killed all succeed (the C core waits out the
// election and carries the timestamp requests over), the change shows in
// stats() and as a 'pdLeaderChange' event, delivered on the JS thread.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { MockCluster } = require('../../lib/mock');
const { RawClient, TransactionClient, TikvError } = require('../../lib');

// Waits (polling observable state, 10 s at most) until cond() holds.
async function waitFor(cond, what) {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cond(), `still not true after 10 s: ${what}`);
}

describe('PD leader change', () => {
  it('transactions in a loop through killPdLeader() all succeed', { timeout: 60000 }, async () => {
    const mock = await MockCluster.start({ pdMembers: 3, pdElectionMs: 1500 });
    const client = await TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 20000 });
    try {
      const events = [];
      client.on('pdLeaderChange', (e) => events.push(e));
      assert.equal(client.stats().pdLeaderChanges, 0);
      let committed = 0;
      let lastTs = 0n;
      const failures = [];
      let stop = false;
      const loop = (async () => {
        for (let i = 0; !stop; i++) {
          try {
            const txn = await client.begin();
            await txn.put(`pdfail/${i % 8}`, `v${i}`);
            const ts = await txn.commit();
            assert.ok(ts > lastTs, 'commit timestamps increase');
            lastTs = ts;
            committed++;
          } catch (e) {
            failures.push(e);
          }
        }
      })();
      await waitFor(() => committed >= 5, 'some commits before the kill');
      const old = mock.killPdLeader();
      await waitFor(() => mock.pdLeader !== null && mock.pdLeader !== old, 'a new PD leader');
      const after = committed;
      await waitFor(() => committed >= after + 5, 'commits after the election');
      stop = true;
      await loop;
      assert.deepEqual(failures.map((e) => `${e.code}: ${e.message}`), []);
      const st = client.stats();
      assert.equal(st.pdLeaderChanges, 1);
      assert.ok(st.pdTransport + st.pdNotLeader >= 1, JSON.stringify(st));
      assert.equal(Object.getPrototypeOf(st), Object.prototype);
      assert.equal(events.length, 1);
      assert.equal(events[0].type, 'pdLeaderChange');
      assert.equal(events[0].regionId, 0n);
      assert.match(events[0].message, new RegExp(mock.pdEndpoints[mock.pdLeader - 1].replace(/\./g, '\\.')));
    } finally {
      await client.close();
      await mock.stop();
    }
  });

  it('RawClient: a transfer shows as an event and in stats(); stats() after close throws', { timeout: 60000 }, async () => {
    const mock = await MockCluster.start({ pdMembers: 3 });
    const client = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 20000 });
    try {
      const seen = [];
      const listener = (e) => seen.push(e);
      client.on('pdLeaderChange', listener);
      mock.transferPdLeader(2);
      // a fresh region lookup (unary) and a timestamp-free raw write
      await client.put('pdfail/raw', 'v');
      await client.deleteRange('pdfail/a', 'pdfail/z');
      await waitFor(() => client.stats().pdLeaderChanges === 1 && seen.length === 1, 'the change seen');
      assert.equal(seen[0].type, 'pdLeaderChange');
      assert.ok(client.stats().pdNotLeader >= 1, 'the old leader said "not leader"');
      client.off('pdLeaderChange', listener);
      assert.equal(client.listenerCount('pdLeaderChange'), 0);
    } finally {
      await client.close();
      await mock.stop();
    }
    assert.throws(() => client.stats(), (e) => e instanceof TikvError && e.code === 'CLOSED');
  });
});
