'use strict';
// TransactionClient: bad input (TypeError / RangeError before anything reaches
// the addon), closing with transactions open, transaction handle lifetimes.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { startTxnCluster, rejectsWith, binding, TransactionClient, MockCluster } = require('./helpers');
const { Transaction, Snapshot } = require('../../lib');

const NOT_BYTES = [undefined, null, 42, 1n, true, {}, [], [1, 2], new Uint16Array(2), new ArrayBuffer(4), Symbol('s'), () => 1];

// calling fn() returns a Promise rejecting with `type` (its message matching
// `message`, when given); nothing was submitted
async function rejectsBeforeNative(fn, type, message) {
  const before = binding.stats().submitted;
  let p;
  assert.doesNotThrow(() => {
    p = fn();
  });
  assert.ok(p instanceof Promise, 'returns a Promise');
  await assert.rejects(p, (e) => {
    assert.equal(e.constructor, type, `${e.constructor.name}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
  assert.equal(binding.stats().submitted, before, 'nothing was submitted');
}

describe('TransactionClient argument validation', { timeout: 60000 }, () => {
  let c;
  let client;
  let txn;
  before(async () => {
    c = await startTxnCluster();
    client = c.client;
    txn = await client.begin();
  });
  after(async () => {
    await txn.rollback();
    await c.stop();
  });

  it('connect: endpoints and options', async () => {
    await rejectsBeforeNative(() => TransactionClient.connect('127.0.0.1:1'), TypeError);
    await rejectsBeforeNative(() => TransactionClient.connect([]), RangeError);
    await rejectsBeforeNative(() => TransactionClient.connect([1]), TypeError);
    await rejectsBeforeNative(() => TransactionClient.connect(['']), RangeError);
    await rejectsBeforeNative(() => TransactionClient.connect(['a:1,b:2']), RangeError);
    await rejectsBeforeNative(() => TransactionClient.connect(['a:1'], 'fast'), TypeError);
    await rejectsBeforeNative(() => TransactionClient.connect(['a:1'], { timeoutMs: '1' }), TypeError);
    await rejectsBeforeNative(() => TransactionClient.connect(['a:1'], { timeoutMs: 0 }), RangeError);
    await rejectsBeforeNative(() => TransactionClient.connect(['a:1'], { timeoutMs: 1.5 }), RangeError);
    assert.throws(() => new TransactionClient(), TypeError);
    assert.throws(() => new Transaction(), TypeError);
    assert.throws(() => new Snapshot(), TypeError);
  });

  it('begin options', async () => {
    await rejectsBeforeNative(() => client.begin('pessimistic'), TypeError);
    await rejectsBeforeNative(() => client.begin([]), TypeError);
    await rejectsBeforeNative(() => client.begin({ pessimistic: 1 }), TypeError);
    await rejectsBeforeNative(() => client.begin({ asyncCommit: 'yes' }), TypeError);
    await rejectsBeforeNative(() => client.begin({ tryOnePc: null }), TypeError);
    await rejectsBeforeNative(() => client.begin({ lockWaitTimeoutMs: '1' }), TypeError);
    await rejectsBeforeNative(() => client.begin({ lockWaitTimeoutMs: -1 }), RangeError);
    await rejectsBeforeNative(() => client.begin({ lockWaitTimeoutMs: 0.5 }), RangeError);
    await rejectsBeforeNative(() => client.begin({ lockWaitTimeoutMs: 2 ** 31 }), RangeError);
    assert.equal(binding.stats().txns >= 1, true);
  });

  it('keys and values must be string | Buffer | Uint8Array', async () => {
    for (const bad of NOT_BYTES) {
      await rejectsBeforeNative(() => txn.get(bad), TypeError);
      await rejectsBeforeNative(() => txn.keyExists(bad), TypeError);
      await rejectsBeforeNative(() => txn.put(bad, 'v'), TypeError);
      await rejectsBeforeNative(() => txn.put('k', bad), TypeError);
      await rejectsBeforeNative(() => txn.insert(bad, 'v'), TypeError);
      await rejectsBeforeNative(() => txn.insert('k', bad), TypeError);
      await rejectsBeforeNative(() => txn.delete(bad), TypeError);
      await rejectsBeforeNative(() => txn.getForUpdate(bad), TypeError);
      await rejectsBeforeNative(() => txn.scan(bad, 'z'), TypeError);
    }
    for (const bad of [undefined, null, 'k', 42, {}, new Uint8Array(2)]) {
      await rejectsBeforeNative(() => txn.batchGet(bad), TypeError);
      await rejectsBeforeNative(() => txn.lockKeys(bad), TypeError);
      await rejectsBeforeNative(() => txn.batchGetForUpdate(bad), TypeError);
    }
    // every element is checked, and the error names the one that is wrong
    const pess = await client.begin({ pessimistic: true });
    try {
      for (const [keys, at] of [
        [['a', 1], 1],
        [[null], 0],
        [['a', 'b', {}], 2],
        [['a', 2n, 'c'], 1],
      ]) {
        const index = new RegExp(`keys\\[${at}\\]`);
        const calls = c.mock.callCount();
        await rejectsBeforeNative(() => txn.batchGet(keys), TypeError, index);
        await rejectsBeforeNative(() => txn.lockKeys(keys), TypeError, index);
        await rejectsBeforeNative(() => pess.lockKeys(keys), TypeError, index);
        await rejectsBeforeNative(() => pess.batchGetForUpdate(keys), TypeError, index);
        assert.equal(c.mock.callCount(), calls, 'nothing reached the cluster');
      }
    } finally {
      await pess.rollback();
    }
    await rejectsBeforeNative(() => txn.scan('a', 42), TypeError);
    assert.equal(txn.state, 'active', 'bad input does not finish the transaction');
  });

  it('scan options', async () => {
    await rejectsBeforeNative(() => txn.scan('a', 'b', 5), TypeError);
    await rejectsBeforeNative(() => txn.scan('a', 'b', { limit: 0 }), RangeError);
    await rejectsBeforeNative(() => txn.scan('a', 'b', { limit: 10241 }), RangeError);
    await rejectsBeforeNative(() => txn.scan('a', 'b', { limit: 1.5 }), RangeError);
    await rejectsBeforeNative(() => txn.scan('a', 'b', { limit: '10' }), TypeError);
    await rejectsBeforeNative(() => txn.scan('a', 'b', { reverse: 'yes' }), TypeError);
    await rejectsBeforeNative(() => txn.scan('a', 'b', { keyOnly: 1 }), TypeError);
  });

  it('snapshot, gc and transaction arguments', async () => {
    await rejectsBeforeNative(() => client.snapshot('now'), TypeError);
    await rejectsBeforeNative(() => client.snapshot(-1), RangeError);
    await rejectsBeforeNative(() => client.snapshot(0), RangeError);
    await rejectsBeforeNative(() => client.snapshot(0n), RangeError);
    await rejectsBeforeNative(() => client.snapshot(1.5), RangeError);
    await rejectsBeforeNative(() => client.snapshot(2 ** 64 + 0), RangeError);
    await rejectsBeforeNative(() => client.snapshot(1n << 64n), RangeError);
    const snap = await client.snapshot();
    for (const bad of NOT_BYTES) {
      await rejectsBeforeNative(() => snap.get(bad), TypeError);
      await rejectsBeforeNative(() => snap.scan(bad), TypeError);
    }
    await rejectsBeforeNative(() => snap.batchGet('k'), TypeError);
    await rejectsBeforeNative(() => client.gc(), TypeError);
    await rejectsBeforeNative(() => client.gc('1'), TypeError);
    await rejectsBeforeNative(() => client.gc(-1n), RangeError);
    await rejectsBeforeNative(() => client.transaction(), TypeError);
    await rejectsBeforeNative(() => client.transaction('fn'), TypeError);
    await rejectsBeforeNative(() => client.transaction(() => 1, 'opts'), TypeError);
    await rejectsBeforeNative(() => client.transaction(() => 1, { retries: -1 }), RangeError);
    await rejectsBeforeNative(() => client.transaction(() => 1, { retries: 1.5 }), RangeError);
    await rejectsBeforeNative(() => client.transaction(() => 1, { pessimistic: 'no' }), TypeError);
  });
});

describe('TransactionClient lifetime', { timeout: 60000 }, () => {
  let mock;
  before(async () => {
    mock = await MockCluster.start({ regions: 2 });
  });
  after(() => mock.stop());

  it('close with transactions open: calls in flight and later calls reject with CLOSED', async () => {
    const client = await TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 10000 });
    const txnsBefore = binding.stats().txns;
    const optimistic = await client.begin();
    const pessimistic = await client.begin({ pessimistic: true });
    const snap = await client.snapshot();
    await optimistic.put('close/a', '1');
    await pessimistic.put('close/b', '2');
    assert.equal(binding.stats().txns, txnsBefore + 3);
    mock.setLatency('KvGet', 300);
    const inflight = optimistic.get('close/x');
    const inflight2 = snap.get('close/x');
    await new Promise((r) => setTimeout(r, 50));
    await client.close();
    mock.setLatency('KvGet', 0);
    assert.equal(client.closed, true);
    assert.equal(binding.stats().txns, txnsBefore, 'the transactions were freed with their client');
    await rejectsWith(inflight, 'CLOSED');
    await rejectsWith(inflight2, 'CLOSED');
    await rejectsWith(optimistic.put('close/c', '3'), 'CLOSED');
    await rejectsWith(optimistic.commit(), 'CLOSED');
    await rejectsWith(pessimistic.rollback(), 'CLOSED');
    await rejectsWith(snap.get('close/a'), 'CLOSED');
    await rejectsWith(client.begin(), 'CLOSED');
    await rejectsWith(client.snapshot(), 'CLOSED');
    await rejectsWith(client.currentTimestamp(), 'CLOSED');
    await rejectsWith(client.gc(1n), 'CLOSED');
    await rejectsWith(client.transaction(() => 1), 'CLOSED');
    await client.close(); // idempotent
    assert.equal(client.clusterId, 0n);

    // nothing of the open transactions was committed
    const other = await TransactionClient.connect(mock.pdEndpoints);
    const s = await other.snapshot();
    assert.deepEqual(await s.batchGet(['close/a', 'close/b', 'close/c']), []);
    await other.close();
  });

  it('commit and rollback free the transaction handle at once', async () => {
    const client = await TransactionClient.connect(mock.pdEndpoints);
    const base = binding.stats().txns;
    const a = await client.begin();
    const b = await client.begin();
    assert.equal(binding.stats().txns, base + 2);
    await a.put('free/a', '1');
    await a.commit();
    assert.equal(binding.stats().txns, base + 1);
    await b.rollback();
    assert.equal(binding.stats().txns, base);
    await client.close();
  });

  it('a begin that fails frees its handle', async () => {
    const client = await TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 500 });
    const base = binding.stats().txns;
    mock.pausePd(true);
    try {
      await rejectsWith(client.begin(), 'TIMEOUT');
    } finally {
      mock.pausePd(false);
    }
    assert.equal(binding.stats().txns, base);
    await client.close();
  });

  it('a dropped transaction is freed and rolled back in the background; the process exits', async () => {
    const LIB = path.join(__dirname, '..', '..', 'lib');
    const source = `
const { TransactionClient } = require(process.env.TIKV_LIB);
const { MockCluster } = require(process.env.TIKV_LIB + '/mock');
const binding = require(process.env.TIKV_LIB + '/native');
(async () => {
  const mock = await MockCluster.start();
  const client = await TransactionClient.connect(mock.pdEndpoints);
  await (async () => {
    const t = await client.begin({ pessimistic: true });
    await t.put('dropped', 'x'); // holds the lock
  })();
  for (let i = 0; i < 50 && binding.stats().txns > 0; i++) {
    global.gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log('txns', binding.stats().txns);
  // the background rollback released the lock
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    const t = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 0 });
    try {
      await t.put('dropped', 'y');
      await t.commit();
      ok = true;
    } catch (e) {
      await t.rollback().catch(() => {});
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  console.log('locked again', ok);
  // a client left open with a transaction open: cleaned up at exit
  await client.begin();
})();`;
    const r = await new Promise((resolve) => {
      const child = spawn(process.execPath, ['--expose-gc', '-e', source], {
        env: { ...process.env, TIKV_LIB: LIB },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, out, err });
      });
    });
    assert.equal(r.signal, null, `killed: ${r.err}`);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'txns 0\nlocked again true\n');
  });
});
