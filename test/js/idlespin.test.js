'use strict';
// The idleSpinUs option: after the client's I/O thread handed completions to
// the JS thread it stays awake that long (default 250 us) for the calls that
// follow, so that a caller awaiting one operation at a time does not have to
// wake it for each (stats().ioWakeups counts those wakeups); 0 turns it off.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { MockCluster, RawClient, TransactionClient } = require('./helpers');

/** Wakeups of the I/O thread over `n` gets awaited one after the other. */
async function wakeupsOver(client, n) {
  await client.put('spin', 'v');
  const before = client.stats().ioWakeups;
  for (let i = 0; i < n; i++) assert.equal((await client.get('spin')).toString(), 'v');
  return client.stats().ioWakeups - before;
}

describe('idleSpinUs option', { timeout: 60000 }, () => {
  it('on by default: sequential calls find the I/O thread awake; 0: each wakes it', async () => {
    const mock = await MockCluster.start({ stores: 1 });
    const byDefault = await RawClient.connect(mock.pdEndpoints);
    // the longest window: a JS thread slower than 250 us (a loaded machine,
    // the other test files running beside this one) does not make it miss
    const spinning = await RawClient.connect(mock.pdEndpoints, { idleSpinUs: 10000 });
    const off = await RawClient.connect(mock.pdEndpoints, { idleSpinUs: 0 });
    try {
      assert.equal(byDefault.options.idleSpinUs, 250);
      assert.equal(off.options.idleSpinUs, 0);
      const taken = await wakeupsOver(spinning, 100);
      assert.ok(taken < 30, `${taken} wakeups over 100 sequential gets with the spin on`);
      const woken = await wakeupsOver(off, 100);
      assert.ok(woken >= 90, `${woken} wakeups over 100 sequential gets with the spin off`);
    } finally {
      await byDefault.close();
      await spinning.close();
      await off.close();
      await mock.stop();
    }
  });

  it('no spinning for replies slower than the window; growing again for replies within it', async () => {
    // stats().ioReplySpinsMissed counts the spins for replies that ran out
    const mock = await MockCluster.start({ stores: 1 });
    const client = await RawClient.connect(mock.pdEndpoints, { idleSpinUs: 10000 });
    const missedOver = async (latencyMs, n) => {
      mock.setLatency('RawGet', latencyMs);
      const before = client.stats().ioReplySpinsMissed;
      for (let i = 0; i < n; i++) assert.equal((await client.get('slow')).toString(), 'v');
      return client.stats().ioReplySpinsMissed - before;
    };
    try {
      await client.put('slow', 'v');
      // 30 ms: the first; a few more only if the I/O thread was kept off the CPU past a reply
      const slow = await missedOver(30, 10);
      assert.ok(slow >= 1 && slow <= 3, `${slow} spins ran out over 10 gets of 30 ms`);
      // 2 ms, within the 10 ms window: spins of 8, 16, ... 1,024 us run out
      const within = await missedOver(2, 10);
      assert.ok(within >= 5, `${within} spins ran out over 10 gets of 2 ms`);
    } finally {
      await client.close();
      await mock.stop();
    }
  });

  it('both clients take it, checked like every other option', async () => {
    const mock = await MockCluster.start({ stores: 1 });
    const tc = await TransactionClient.connect(mock.pdEndpoints, { idleSpinUs: 10000 });
    try {
      assert.equal(tc.options.idleSpinUs, 10000);
      const txn = await tc.begin();
      await txn.put('k', 'v');
      await txn.commit();
    } finally {
      await tc.close();
      await mock.stop();
    }
    for (const bad of [-1, 10001, 1.5]) {
      await assert.rejects(RawClient.connect(['127.0.0.1:1'], { idleSpinUs: bad }), RangeError);
      await assert.rejects(TransactionClient.connect(['127.0.0.1:1'], { idleSpinUs: bad }), RangeError);
    }
    await assert.rejects(RawClient.connect(['127.0.0.1:1'], { idleSpinUs: '5' }), TypeError);
  });
});
