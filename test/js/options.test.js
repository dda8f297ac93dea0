'use strict';
// Options are checked: an unknown option key on any method (a typo, or an
// option the method does not have: columnFamily on a transaction) is a
// TypeError naming it and listing the allowed keys; argument errors the C core used to report as TikvError
// INVALID_ARGUMENT are TypeError / RangeError from JS. Either way the method
// rejects (never throws) and nothing reaches the addon or the cluster.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { binding, buf, rejectsWith, RawClient, TransactionClient, MockCluster } = require('./helpers');

// the cluster's shape, which both clients' connect take (typos of them refused)
const CLUSTER = ['tls', 'apiVersion', 'keyspace', 'batchCommands', 'idleSpinUs'];
const CLUSTER_TYPOS = ['tlsOptions', 'apiversion', 'keySpace'];
// what every operation takes, and raw ones also columnFamily (call.js)
const CALL = ['timeoutMs', 'signal'];
const RAW_CALL = [...CALL, 'columnFamily'];

// what reached the addon and the cluster so far
function sent(mock) {
  return { submitted: binding.stats().submitted, stores: mock.callCount('*'), pd: mock.pdCallCount('*') };
}

// fn() returns a Promise (no synchronous throw) rejecting with an error of
// exactly class `type` whose message matches `message`; nothing was sent
async function refusedBeforeSending(mock, fn, type, message) {
  const before = sent(mock);
  let p;
  assert.doesNotThrow(() => {
    p = fn();
  }, 'a Promise-returning method never throws');
  assert.ok(p instanceof Promise, 'returns a Promise');
  await assert.rejects(p, (e) => {
    assert.equal(e.constructor, type, `expected ${type.name}, got ${e.constructor.name}: ${e.message}`);
    if (message instanceof RegExp) assert.match(e.message, message);
    else assert.equal(e.message, message);
    return true;
  });
  assert.deepEqual(sent(mock), before, 'nothing was submitted nor reached the cluster');
}

function unknown(key, allowed) {
  return `unknown option '${key}' (allowed: ${allowed.length > 0 ? allowed.join(', ') : 'none'})`;
}

describe('unknown option keys are a TypeError naming them', { timeout: 60000 }, () => {
  let mock;
  let raw;
  let atomic;
  let tc;
  let txn;
  let snap;
  before(async () => {
    mock = await MockCluster.start({ regions: 2, enableTtl: true });
    raw = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 10000 });
    atomic = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 10000, atomic: true });
    tc = await TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 10000 });
    txn = await tc.begin();
    snap = await tc.snapshot();
  });
  after(async () => {
    await txn.rollback();
    await Promise.all([raw.close(), atomic.close(), tc.close()]);
    await mock.stop();
  });

  // [method, (options) => call, allowed keys, keys that must be refused]
  const CONNECT = ['timeoutMs', 'attemptTimeoutMs', 'columnFamily', 'atomic', ...CLUSTER, 'signal'];
  const TTL = ['ttl', ...RAW_CALL];
  const SCAN = ['limit', 'keyOnly', 'reverse'];
  const RAW_SCAN = [...SCAN, ...RAW_CALL];
  const TXN_SCAN = [...SCAN, ...CALL];
  const BEGIN = ['pessimistic', 'asyncCommit', 'tryOnePc', 'lockWaitTimeoutMs', ...CALL];
  const NONE = CALL;
  const RAW = RAW_CALL;
  // a transactional call has no column family
  const perCall = (typo) => ['columnFamily', typo];
  const rawTypo = (typo) => [typo, 'columnfamily', 'timeout'];
  const cases = () => [
    ['RawClient.connect', (o) => RawClient.connect(mock.pdEndpoints, o), CONNECT, [...CLUSTER_TYPOS, 'timeOutMs', 'atomics']],
    ['raw get', (o) => raw.get('k', o), RAW, rawTypo('keyOnly')],
    ['raw batchGet', (o) => raw.batchGet(['k'], o), RAW, rawTypo('limit')],
    ['raw put', (o) => raw.put('k', 'v', o), TTL, rawTypo('tll')],
    ['raw batchPut', (o) => raw.batchPut([['k', 'v']], o), TTL, rawTypo('ttlSeconds')],
    ['raw delete', (o) => raw.delete('k', o), RAW, rawTypo('ttl')],
    ['raw batchDelete', (o) => raw.batchDelete(['k'], o), RAW, rawTypo('atomic')],
    ['raw deleteRange', (o) => raw.deleteRange('a', 'b', o), RAW, rawTypo('limit')],
    ['raw scan', (o) => raw.scan('a', 'b', o), RAW_SCAN, rawTypo('keysOnly')],
    ['raw batchScan', (o) => raw.batchScan([['a', 'b']], o), ['eachLimit', 'keyOnly', ...RAW_CALL], rawTypo('limit')],
    ['raw getKeyTtl', (o) => raw.getKeyTtl('k', o), RAW, rawTypo('ttl')],
    ['raw compareAndSwap', (o) => atomic.compareAndSwap('k', null, 'v', o), TTL, rawTypo('previousNotExist')],
    ['raw checksum', (o) => raw.checksum('a', 'b', o), CALL, ['columnFamily', 'limit']],
    ['TransactionClient.connect', (o) => TransactionClient.connect(mock.pdEndpoints, o), ['timeoutMs', 'attemptTimeoutMs', ...CLUSTER, 'signal'], [...CLUSTER_TYPOS, 'columnFamily', 'atomic']],
    ['begin', (o) => tc.begin(o), BEGIN, ['columnFamily', 'optimistic', 'retries']],
    ['snapshot', (o) => tc.snapshot(undefined, o), NONE, perCall('ts')],
    ['currentTimestamp', (o) => tc.currentTimestamp(o), NONE, perCall('physical')],
    ['gc', (o) => tc.gc(1n, o), NONE, perCall('safepoint')],
    ['unsafeDestroyRange', (o) => tc.unsafeDestroyRange('a', 'b', o), NONE, perCall('force')],
    ['transaction', (o) => tc.transaction(() => 1, o), ['retries', ...BEGIN], ['columnFamily', 'retry', 'optimistic']],
    ['txn get', (o) => txn.get('k', o), NONE, perCall('forUpdate')],
    ['txn batchGet', (o) => txn.batchGet(['k'], o), NONE, perCall('limit')],
    ['txn keyExists', (o) => txn.keyExists('k', o), NONE, perCall('x')],
    ['txn scan', (o) => txn.scan('a', 'b', o), TXN_SCAN, perCall('batchSize')],
    ['txn put', (o) => txn.put('k', 'v', o), NONE, perCall('ttl')],
    ['txn insert', (o) => txn.insert('k', 'v', o), NONE, perCall('ttl')],
    ['txn delete', (o) => txn.delete('k', o), NONE, perCall('x')],
    ['txn lockKeys', (o) => txn.lockKeys(['k'], o), NONE, perCall('lockWaitTimeoutMs')],
    ['txn getForUpdate', (o) => txn.getForUpdate('k', o), NONE, perCall('lockWaitTimeoutMs')],
    ['txn batchGetForUpdate', (o) => txn.batchGetForUpdate(['k'], o), NONE, perCall('lockWaitTimeoutMs')],
    ['txn commit', (o) => txn.commit(o), NONE, perCall('asyncCommit')],
    ['txn rollback', (o) => txn.rollback(o), NONE, perCall('force')],
    ['snapshot get', (o) => snap.get('k', o), NONE, perCall('ts')],
    ['snapshot batchGet', (o) => snap.batchGet(['k'], o), NONE, perCall('ts')],
    ['snapshot keyExists', (o) => snap.keyExists('k', o), NONE, perCall('ts')],
    ['snapshot scan', (o) => snap.scan('a', 'b', o), TXN_SCAN, perCall('ts')],
  ];

  it('every Promise-returning method rejects an unknown key, naming it and its allowed keys', async () => {
    for (const [method, run, allowed, refused] of cases()) {
      for (const key of refused) {
        // a key present with the value undefined is still a key the caller wrote
        for (const value of [1, undefined]) {
          await refusedBeforeSending(mock, () => run({ [key]: value }), TypeError, unknown(key, allowed)).catch((e) => {
            e.message = `${method} { ${key}: ${value} }: ${e.message}`;
            throw e;
          });
        }
      }
      // next to allowed keys too
      const withAllowed = Object.fromEntries(allowed.map((k) => [k, undefined]));
      await refusedBeforeSending(mock, () => run({ ...withAllowed, [refused[0]]: 1 }), TypeError, unknown(refused[0], allowed));
    }
    assert.equal(txn.state, 'active', 'a commit or rollback refused for its options leaves the transaction active');
  });

  it('options must be an object (an argument in the options slot of a method without options too)', async () => {
    for (const [method, run] of cases()) {
      for (const bad of [5, 'opts', true, ['ttl']]) {
        await refusedBeforeSending(mock, () => run(bad), TypeError, /^options must be an object, got /).catch((e) => {
          e.message = `${method} ${JSON.stringify(bad)}: ${e.message}`;
          throw e;
        });
      }
    }
  });

  it('every allowed key is accepted (undefined, null and {} are no options)', async () => {
    // each method once with every key it knows, given a valid value
    const c = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 10000, attemptTimeoutMs: 5000, columnFamily: 'default', atomic: true });
    await c.close();
    await raw.put('opt/k', 'v', { ttl: 100 });
    await raw.batchPut([['opt/l', 'w']], { ttl: 100 });
    assert.deepEqual(await raw.scan('opt/', 'opt0', { limit: 1, keyOnly: true, reverse: true }), [
      { key: buf('opt/l'), value: buf('') },
    ]);
    assert.equal((await raw.batchScan([['opt/', 'opt0']], { eachLimit: 1, keyOnly: false })).length, 1);
    const pages = [];
    for await (const kv of raw.iterate('opt/', 'opt0', { batchSize: 1, reverse: false, keyOnly: true })) pages.push(kv.key.toString());
    assert.deepEqual(pages, ['opt/k', 'opt/l']);
    assert.equal((await atomic.compareAndSwap('opt/cas', null, 'v', { ttl: 100 })).swapped, true);
    const t = await TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 10000, attemptTimeoutMs: 5000 });
    await t.close();
    const b = await tc.begin({ pessimistic: false, asyncCommit: true, tryOnePc: true, lockWaitTimeoutMs: 10 });
    await b.rollback();
    assert.equal(await tc.transaction(() => 7, { retries: 0, pessimistic: true, asyncCommit: false, tryOnePc: false, lockWaitTimeoutMs: 0 }), 7);
    assert.deepEqual(await txn.scan('opt/', 'opt0', { limit: 1, keyOnly: true, reverse: false }), []);

    for (const none of [undefined, null, {}]) {
      assert.equal((await raw.get('opt/k', none)).toString(), 'v');
      assert.equal((await raw.batchGet(['opt/k'], none)).length, 1);
      assert.equal(await raw.getKeyTtl('opt/none', none), null);
      await raw.delete('opt/none', none);
      await raw.batchDelete(['opt/none'], none);
      await raw.deleteRange('opt/none', 'opt/none0', none);
      await txn.put('opt/t', 'v', none);
      await txn.insert('opt/u', 'v', none);
      await txn.delete('opt/u', none);
      await txn.lockKeys(['opt/t'], none);
      assert.equal((await txn.get('opt/t', none)).toString(), 'v');
      assert.equal((await txn.batchGet(['opt/t'], none)).length, 1);
      assert.equal(await txn.keyExists('opt/t', none), true);
      assert.equal(await txn.getForUpdate('opt/none', none), null);
      assert.deepEqual(await txn.batchGetForUpdate(['opt/none'], none), []);
      assert.equal(await snap.get('opt/t', none), null);
      assert.deepEqual(await snap.batchGet(['opt/t'], none), []);
      assert.equal(await snap.keyExists('opt/t', none), false);
      assert.equal(typeof (await tc.currentTimestamp(none)), 'bigint');
      assert.equal(typeof (await tc.gc(1n, none)), 'boolean');
      const s = await tc.snapshot(undefined, none);
      assert.equal(typeof s.timestamp, 'bigint');
      const x = await tc.begin(none);
      await x.put('opt/x', '1');
      assert.equal(typeof (await x.commit(none)), 'bigint');
      await (await tc.begin(none)).rollback(none);
      assert.equal(await tc.transaction(() => 'ok', none), 'ok');
    }
  });

  it('iterate throws its unknown keys at once', () => {
    const allowed = ['batchSize', 'reverse', 'keyOnly'];
    for (const key of ['limit', 'eachLimit']) {
      assert.throws(() => raw.iterate('a', 'b', { [key]: 1 }), (e) => {
        assert.equal(e.constructor, TypeError);
        assert.equal(e.message, unknown(key, [...allowed, ...RAW_CALL]));
        return true;
      });
      assert.throws(() => snap.iterate('a', 'b', { [key]: 1 }), (e) => {
        assert.equal(e.message, unknown(key, [...allowed, ...CALL]));
        return true;
      });
    }
    assert.throws(() => snap.iterate('a', 'b', { columnFamily: 'lock' }), /unknown option 'columnFamily'/);
  });

  it('arguments are checked before the handle: a closed client still reports a bad argument as such', async () => {
    const c = await RawClient.connect(mock.pdEndpoints);
    await c.close();
    await refusedBeforeSending(mock, () => c.get(42), TypeError, /^key must be a string, Buffer or Uint8Array/);
    await refusedBeforeSending(mock, () => c.scan('a', 'b', { limits: 1 }), TypeError, unknown('limits', RAW_SCAN));
    await rejectsWith(c.get('k'), 'CLOSED');
    const t = await TransactionClient.connect(mock.pdEndpoints);
    const x = await t.begin();
    await t.close();
    await refusedBeforeSending(mock, () => x.put('k', 5), TypeError, /^value must be/);
    await refusedBeforeSending(mock, () => t.gc(-1n), RangeError, /^safepoint must be between/);
    await rejectsWith(x.put('k', 'v'), 'CLOSED');
  });
});

describe('argument checks made in JS instead of the C core', { timeout: 60000 }, () => {
  let mock;
  let raw;
  before(async () => {
    mock = await MockCluster.start({ regions: 2 });
    raw = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 10000 });
  });
  after(async () => {
    await raw.close();
    await mock.stop();
  });

  it('deleteRange: start must sort before a bounded end (RangeError, nothing deleted)', async () => {
    await raw.batchPut([['dr/a', '1'], ['dr/b', '2']]);
    const message = 'start must be before end (end null or omitted: to the end of the key space)';
    for (const [start, end] of [
      ['dr/b', 'dr/a'],
      ['dr/a', 'dr/a'],
      [buf('dr/a\0'), 'dr/a'],
    ]) {
      await refusedBeforeSending(mock, () => raw.deleteRange(start, end), RangeError, message);
    }
    assert.deepEqual((await raw.scan('dr/', 'dr0')).map((kv) => kv.key.toString()), ['dr/a', 'dr/b']);
    // the tightest range still deletes its one key
    await raw.deleteRange('dr/a', buf('dr/a\0'));
    assert.deepEqual((await raw.scan('dr/', 'dr0')).map((kv) => kv.key.toString()), ['dr/b']);
    await raw.deleteRange('dr/');
    assert.deepEqual(await raw.scan('dr/', 'dr0'), []);
  });

  it('PD endpoints are refused as the C core refuses them: "host:port" after an http:// or https:// prefix and trailing slashes', async () => {
    const bad = ['localhost', 'http://', 'http://pd-host', 'https://pd-host', 'pd-host/', 'http:///', `${mock.pdEndpoints[0]}\0junk`];
    for (const connect of [(e) => RawClient.connect(e), (e) => TransactionClient.connect(e)]) {
      for (const e of bad) {
        await refusedBeforeSending(mock, () => connect([e]), RangeError, `pdEndpoints[0] must be "host:port", got ${JSON.stringify(e)}`);
        await refusedBeforeSending(mock, () => connect([mock.pdEndpoints[0], e]), RangeError, /^pdEndpoints\[1\] must be "host:port"/);
      }
    }
    // what the C core accepts still connects
    for (const e of [`http://${mock.pdEndpoints[0]}`, `${mock.pdEndpoints[0]}//`]) {
      const c = await RawClient.connect([e], { timeoutMs: 10000 });
      assert.equal(c.clusterId, mock.clusterId);
      await c.close();
    }
  });

  it('compareAndSwap outside atomic mode stays UNSUPPORTED (a mode, not an argument) and sends nothing', async () => {
    const before = sent(mock);
    await rejectsWith(raw.compareAndSwap('k', null, 'v'), 'UNSUPPORTED');
    assert.deepEqual({ ...sent(mock), submitted: before.submitted }, before, 'nothing reached the cluster');
  });
});
