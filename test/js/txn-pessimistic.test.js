'use strict';
// Pessimistic transactions: locks taken as keys are written, lock waits woken
// by the holder's commit, lock wait timeouts, deadlock detection.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startTxnCluster, rejectsWith, sleep } = require('./helpers');

const str = (b) => (b === null ? null : b.toString());

// resolves {settled, value, error} without ever rejecting
function watch(p) {
  const w = { settled: false, value: undefined, error: undefined };
  w.done = p.then(
    (v) => {
      w.settled = true;
      w.value = v;
    },
    (e) => {
      w.settled = true;
      w.error = e;
    }
  );
  return w;
}

describe('pessimistic transactions', { timeout: 120000 }, () => {
  let c;
  let client;
  before(async () => {
    c = await startTxnCluster({ stores: 3, regions: 4 });
    client = c.client;
  });
  after(() => c.stop());

  async function read(key) {
    return str(await (await client.snapshot()).get(key));
  }

  // waits (bounded) until the mock has counted n calls of method: it serves
  // calls one at a time, so a counted lock request is waiting before any
  // request sent after this
  async function untilCalls(method, n) {
    for (let i = 0; i < 2000 && c.mock.callCount(method) < n; i++) await sleep(5);
    assert.ok(c.mock.callCount(method) >= n, `${method}: ${c.mock.callCount(method)} calls, want ${n}`);
  }

  async function write(key, value) {
    const t = await client.begin();
    await t.put(key, value);
    return t.commit();
  }

  it('put locks the key at once; a second locker with lockWaitTimeoutMs 0 fails with LOCK_WAIT_TIMEOUT', async () => {
    const holder = await client.begin({ pessimistic: true });
    assert.equal(holder.options.pessimistic, true);
    await holder.put('p/nowait', 'holder');
    const other = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 0 });
    const t0 = Date.now();
    const e = await rejectsWith(other.put('p/nowait', 'other'), 'LOCK_WAIT_TIMEOUT');
    assert.ok(Date.now() - t0 < 2000, `no wait (${Date.now() - t0} ms)`);
    assert.equal(e.retryable, true);
    await other.rollback();
    await holder.commit();
    assert.equal(await read('p/nowait'), 'holder');
  });

  it('a short lock wait times out after about lockWaitTimeoutMs', async () => {
    const holder = await client.begin({ pessimistic: true });
    await holder.lockKeys(['p/short']);
    const waiter = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 300 });
    const t0 = Date.now();
    await rejectsWith(waiter.getForUpdate('p/short'), 'LOCK_WAIT_TIMEOUT');
    const waited = Date.now() - t0;
    assert.ok(waited >= 250, `waited ${waited} ms`);
    assert.ok(waited < 5000, `waited ${waited} ms`);
    await waiter.rollback();
    await holder.rollback();
  });

  it('a waiter is woken by the holder\'s commit and reads the committed value', async () => {
    await write('p/wake', '1');
    const holder = await client.begin({ pessimistic: true });
    assert.equal(str(await holder.getForUpdate('p/wake')), '1');
    await holder.put('p/wake', '2');
    const waiter = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 10000 });
    const locks = c.mock.callCount('KvPessimisticLock');
    const w = watch(waiter.getForUpdate('p/wake'));
    await untilCalls('KvPessimisticLock', locks + 1);
    assert.equal(w.settled, false, 'the waiter waits for the lock');
    const t0 = Date.now();
    await holder.commit();
    await w.done;
    assert.equal(w.error, undefined, w.error && w.error.stack);
    assert.ok(Date.now() - t0 < 5000, 'woken soon after the commit');
    assert.equal(str(w.value), '2', 'getForUpdate reads the latest committed value');
    // the waiter now holds the lock: read-modify-write without conflict
    await waiter.put('p/wake', String(Number(str(w.value)) + 1));
    await waiter.commit();
    assert.equal(await read('p/wake'), '3');
  });

  it('a waiter is woken by the holder\'s rollback', async () => {
    const holder = await client.begin({ pessimistic: true });
    await holder.put('p/rb', 'holder');
    const waiter = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 10000 });
    const locks = c.mock.callCount('KvPessimisticLock');
    const w = watch(waiter.put('p/rb', 'waiter'));
    await untilCalls('KvPessimisticLock', locks + 1);
    assert.equal(w.settled, false, 'the waiter waits for the lock');
    await holder.rollback();
    await w.done;
    assert.equal(w.error, undefined, w.error && w.error.stack);
    await waiter.commit();
    assert.equal(await read('p/rb'), 'waiter');
  });

  it('pessimistic read-modify-writes of one counter do not lose updates', async () => {
    await write('p/counter', '0');
    const N = 10;
    await Promise.all(
      Array.from({ length: N }, async () => {
        const t = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 20000 });
        const v = Number(str(await t.getForUpdate('p/counter')));
        await t.put('p/counter', String(v + 1));
        await t.commit();
      })
    );
    assert.equal(await read('p/counter'), String(N));
  });

  it('deadlock: the locker closing the cycle gets DEADLOCK, the other proceeds', async () => {
    const a = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 10000 });
    const b = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 10000 });
    await a.put('p/dl1', 'a');
    await b.put('p/dl2', 'b');
    const locks = c.mock.callCount('KvPessimisticLock');
    const wa = watch(a.put('p/dl2', 'a'));
    await untilCalls('KvPessimisticLock', locks + 1); // a waits for b
    // b waits for a: b's wait would close the cycle, so b is the victim
    const e = await rejectsWith(b.put('p/dl1', 'b'), 'DEADLOCK');
    assert.equal(e.retryable, true);
    assert.equal(wa.settled, false, 'a still waits');
    await b.rollback(); // releases b's lock: a gets it
    await wa.done;
    assert.equal(wa.error, undefined, wa.error && wa.error.stack);
    await a.commit();
    assert.equal(await read('p/dl1'), 'a');
    assert.equal(await read('p/dl2'), 'a');
  });

  it('lockKeys and batchGetForUpdate lock several keys across regions', async () => {
    const keys = ['0p/multi', 'Hp/multi', 'Xp/multi', 'zp/multi'];
    const t = await client.begin({ pessimistic: true });
    await t.lockKeys(keys.slice(0, 2));
    assert.deepEqual(await t.batchGetForUpdate(keys.slice(2)), []);
    const other = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 0 });
    for (const k of keys) await rejectsWith(other.lockKeys([k]), 'LOCK_WAIT_TIMEOUT');
    await t.rollback();
    await other.lockKeys(keys); // released by the rollback
    await other.rollback();
  });

  it('batchGetForUpdate meeting a newer write on a secondary locks again and returns every key', async () => {
    await write('p/wc/a', 'a0');
    await write('p/wc/b', 'b0');
    const t = await client.begin({ pessimistic: true });
    const n = c.mock.callCount('KvPessimisticLock');
    c.mock.setLatency('KvPessimisticLock', 400);
    let got;
    try {
      // the primary (p/wc/a) is locked first, alone; p/wc/b changes meanwhile,
      // so its lock meets a write newer than the for_update_ts
      const p = t.batchGetForUpdate(['p/wc/a', 'p/wc/b']);
      await untilCalls('KvPessimisticLock', n + 1);
      await write('p/wc/b', 'b1');
      got = await p;
    } finally {
      c.mock.setLatency('KvPessimisticLock', 0);
    }
    assert.deepEqual(got.map((p) => [p.key.toString(), p.value.toString()]), [['p/wc/a', 'a0'], ['p/wc/b', 'b1']]);
    await t.rollback();
  });

  it('reads are not blocked by pessimistic locks', async () => {
    await write('p/read', 'committed');
    const t = await client.begin({ pessimistic: true });
    await t.put('p/read', 'locked');
    const t0 = Date.now();
    assert.equal(await read('p/read'), 'committed');
    assert.ok(Date.now() - t0 < 2000);
    await t.rollback();
  });

  it('a pessimistic transaction still sees its own writes and commits with async commit / 1PC', async () => {
    // 1PC: one prewrite, no KvCommit
    const u = await client.begin({ pessimistic: true, tryOnePc: true });
    await u.put('p/mode/b', '1pc');
    assert.equal(str(await u.get('p/mode/b')), '1pc');
    const commits = c.mock.callCount('KvCommit');
    const prewrites = c.mock.callCount('KvPrewrite');
    const ts2 = await u.commit();
    assert.ok(ts2 > u.startTimestamp);
    assert.equal(c.mock.callCount('KvCommit'), commits, 'no KvCommit for 1PC');
    assert.equal(c.mock.callCount('KvPrewrite'), prewrites + 1);
    assert.equal(str(await (await client.snapshot(ts2)).get('p/mode/b')), '1pc');
    assert.equal(str(await (await client.snapshot(ts2 - 1n)).get('p/mode/b')), null);
    // async commit: decided at prewrite, so every KvCommit failing does not
    // matter (last: the failed KvCommits are retried in the background)
    const t = await client.begin({ pessimistic: true, asyncCommit: true });
    await t.put('p/mode/a', 'async');
    await t.put('zp/mode/a', 'async'); // another region
    assert.equal(str(await t.get('p/mode/a')), 'async');
    c.mock.injectGrpcError('KvCommit', 14, { count: 1000000 });
    let ts;
    try {
      ts = await t.commit();
    } finally {
      c.mock.clearFaults();
    }
    assert.ok(ts > t.startTimestamp);
    assert.equal(str(await (await client.snapshot(ts)).get('zp/mode/a')), 'async');
    assert.equal(str(await (await client.snapshot(ts - 1n)).get('zp/mode/a')), null);
  });
});
