'use strict';
// Bad input: TypeError / RangeError, reported before anything reaches the
// addon. Promise-returning methods reject (never throw); iterate() throws.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startCluster, binding, RawClient, MockCluster } = require('./helpers');
const A = require('../../lib/args');

// the bridge's cluster arguments for plaintext API v1 (native.js PLAIN_V1)
const V1 = [0, '', '', '', 1, '', 0]; // cluster shape (plaintext, API v1), then attemptTimeoutMs (0: default)
const NOT_BYTES = [undefined, null, 42, 1n, true, {}, [], [1, 2], new Uint16Array(2), new ArrayBuffer(4), new DataView(new ArrayBuffer(2)), Symbol('s'), () => 1];

describe('argument validation', { timeout: 60000 }, () => {
  let c;
  let client;
  before(async () => {
    c = await startCluster({}, { atomic: true });
    client = c.client;
  });
  after(() => c.stop());

  // asserts that calling fn() returns a Promise rejecting with `type` (and a
  // message matching `message`, when given), and that nothing was submitted
  // to the addon nor reached the cluster
  async function rejectsBeforeNative(fn, type, message) {
    const before = binding.stats().submitted;
    const calls = c.mock.callCount();
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
    assert.equal(c.mock.callCount(), calls, 'nothing reached the cluster');
  }

  it('keys and values must be string | Buffer | Uint8Array (TypeError)', async () => {
    for (const bad of NOT_BYTES) {
      await rejectsBeforeNative(() => client.get(bad), TypeError);
      await rejectsBeforeNative(() => client.put(bad, 'v'), TypeError);
      await rejectsBeforeNative(() => client.put('k', bad), TypeError);
      await rejectsBeforeNative(() => client.delete(bad), TypeError);
      await rejectsBeforeNative(() => client.getKeyTtl(bad), TypeError);
      await rejectsBeforeNative(() => client.compareAndSwap(bad, null, 'v'), TypeError);
      await rejectsBeforeNative(() => client.compareAndSwap('k', null, bad), TypeError);
      if (bad !== undefined && bad !== null) {
        await rejectsBeforeNative(() => client.compareAndSwap('k', bad, 'v'), TypeError);
        await rejectsBeforeNative(() => client.scan('a', bad), TypeError);
        await rejectsBeforeNative(() => client.deleteRange('a', bad), TypeError);
      }
      await rejectsBeforeNative(() => client.scan(bad, 'z'), TypeError);
      await rejectsBeforeNative(() => client.deleteRange(bad, 'z'), TypeError);
    }
  });

  it('arrays of keys, pairs and ranges', async () => {
    for (const bad of [undefined, null, 'abc', Buffer.from('a'), {}, 5]) {
      await rejectsBeforeNative(() => client.batchGet(bad), TypeError);
      await rejectsBeforeNative(() => client.batchGetValues(bad), TypeError);
      await rejectsBeforeNative(() => client.batchDelete(bad), TypeError);
      await rejectsBeforeNative(() => client.batchPut(bad), TypeError);
      await rejectsBeforeNative(() => client.batchScan(bad), TypeError);
    }
    await rejectsBeforeNative(() => client.batchGet(['a', 3]), TypeError);
    await rejectsBeforeNative(() => client.batchGetValues(['a', {}]), TypeError);
    await rejectsBeforeNative(() => client.batchGetValues(['a'], { limit: 1 }), TypeError);
    await rejectsBeforeNative(() => client.batchDelete([null]), TypeError);
    await rejectsBeforeNative(() => client.batchPut([['a']]), TypeError);
    await rejectsBeforeNative(() => client.batchPut([['a', 'b', 'c']]), TypeError);
    await rejectsBeforeNative(() => client.batchPut([['a', 1]]), TypeError);
    await rejectsBeforeNative(() => client.batchPut(['ab']), TypeError);
    await rejectsBeforeNative(() => client.batchPut([{ key: 'a' }]), TypeError);
    await rejectsBeforeNative(() => client.batchPut(new Map([[1, 'a']])), TypeError);
    await rejectsBeforeNative(() => client.batchScan(['a']), TypeError);
    await rejectsBeforeNative(() => client.batchScan([['a', 'b', 'c']]), TypeError);
    await rejectsBeforeNative(() => client.batchScan([[1, 'b']]), TypeError);
  });

  it('every element of a key array is checked, and the error names it', async () => {
    for (const bad of [3, null, undefined, {}, [1], 2n]) {
      for (const [keys, at] of [
        [[bad], 0],
        [['a', bad], 1],
        [['a', 'b', 'c', bad], 3],
        [['a', bad, 'c'], 1],
      ]) {
        const index = new RegExp(`keys\\[${at}\\]`);
        await rejectsBeforeNative(() => client.batchGet(keys), TypeError, index);
        await rejectsBeforeNative(() => client.batchDelete(keys), TypeError, index);
      }
      await rejectsBeforeNative(() => client.batchPut([['a', 'v'], ['b', 'v'], [bad, 'v']]), TypeError, /pairs\[2\]/);
      await rejectsBeforeNative(() => client.batchPut([['a', 'v'], ['b', bad]]), TypeError, /pairs\[1\]/);
      if (bad !== null && bad !== undefined)
        await rejectsBeforeNative(() => client.batchScan([['a', 'b'], ['c', bad]]), TypeError, /ranges\[1\]/);
      await rejectsBeforeNative(() => client.batchScan([['a', 'b'], [bad, 'z']]), TypeError, /ranges\[1\]/);
    }
  });

  it('options objects and their fields', async () => {
    await rejectsBeforeNative(() => client.scan('a', 'b', 'fast'), TypeError);
    await rejectsBeforeNative(() => client.scan('a', 'b', { limit: '10' }), TypeError);
    await rejectsBeforeNative(() => client.scan('a', 'b', { limit: 0 }), RangeError);
    await rejectsBeforeNative(() => client.scan('a', 'b', { limit: -1 }), RangeError);
    await rejectsBeforeNative(() => client.scan('a', 'b', { limit: 10241 }), RangeError);
    await rejectsBeforeNative(() => client.scan('a', 'b', { limit: 1.5 }), RangeError);
    await rejectsBeforeNative(() => client.scan('a', 'b', { limit: NaN }), RangeError);
    await rejectsBeforeNative(() => client.scan('a', 'b', { limit: Infinity }), RangeError);
    await rejectsBeforeNative(() => client.scan('a', 'b', { reverse: 1 }), TypeError);
    await rejectsBeforeNative(() => client.scan('a', 'b', { keyOnly: 'yes' }), TypeError);
    await rejectsBeforeNative(() => client.batchScan([['a', 'b']], { eachLimit: 0 }), RangeError);
    await rejectsBeforeNative(() => client.batchScan([['a', 'b']], { eachLimit: 20000 }), RangeError);
    for (const [ttl, type] of [
      [-1, RangeError],
      [-1n, RangeError],
      [1.5, RangeError],
      [NaN, RangeError],
      [2 ** 53, RangeError],
      [2n ** 64n, RangeError],
      ['10', TypeError],
      [null, TypeError],
    ]) {
      // our own check names the option (the addon's own would not)
      await rejectsBeforeNative(() => client.put('k', 'v', { ttl }), type, /options\.ttl/);
      await rejectsBeforeNative(() => client.batchPut([['k', 'v']], { ttl }), type, /options\.ttl/);
      await rejectsBeforeNative(() => client.compareAndSwap('k', null, 'v', { ttl }), type, /options\.ttl/);
    }
  });

  it('iterate throws its argument errors synchronously', () => {
    assert.throws(() => client.iterate(5), TypeError);
    assert.throws(() => client.iterate('a', 7), TypeError);
    assert.throws(() => client.iterate('a', 'b', { batchSize: 0 }), RangeError);
    assert.throws(() => client.iterate('a', 'b', { batchSize: 2.5 }), RangeError);
    assert.throws(() => client.iterate('a', 'b', { reverse: 'yes' }), TypeError);
  });

  it('connect validates endpoints and options', async () => {
    const cases = [
      [() => RawClient.connect(), TypeError],
      [() => RawClient.connect('127.0.0.1:2379'), TypeError],
      [() => RawClient.connect([]), RangeError],
      [() => RawClient.connect([42]), TypeError],
      [() => RawClient.connect(['']), RangeError],
      [() => RawClient.connect(['a:1,b:2']), RangeError],
      [() => RawClient.connect(['a:1'], 'x'), TypeError],
      [() => RawClient.connect(['a:1'], { timeoutMs: 0 }), RangeError],
      [() => RawClient.connect(['a:1'], { timeoutMs: -5 }), RangeError],
      [() => RawClient.connect(['a:1'], { timeoutMs: 2 ** 32 }), RangeError],
      [() => RawClient.connect(['a:1'], { timeoutMs: '100' }), TypeError],
      [() => RawClient.connect(['a:1'], { attemptTimeoutMs: 0 }), RangeError],
      [() => RawClient.connect(['a:1'], { attemptTimeoutMs: 1.5 }), RangeError],
      [() => RawClient.connect(['a:1'], { attemptTimeoutMs: 2 ** 32 }), RangeError],
      [() => RawClient.connect(['a:1'], { attemptTimeoutMs: '100' }), TypeError],
      [() => RawClient.connect(['a:1'], { columnFamily: 'nope' }), RangeError],
      [() => RawClient.connect(['a:1'], { columnFamily: 3 }), TypeError],
      [() => RawClient.connect(['a:1'], { atomic: 'yes' }), TypeError],
    ];
    for (const [fn, type] of cases) await rejectsBeforeNative(fn, type);
    assert.throws(() => new RawClient(), TypeError);
  });

  it('MockCluster validates its arguments', async () => {
    await assert.rejects(MockCluster.start({ stores: 0 }), RangeError);
    await assert.rejects(MockCluster.start({ regions: 'x' }), TypeError);
    await assert.rejects(MockCluster.start({ enableTtl: 1 }), TypeError);
    await assert.rejects(MockCluster.start('x'), TypeError);
    const m = c.mock;
    assert.throws(() => m.injectRegionError('RawGet', 'bogus'), RangeError);
    assert.throws(() => m.injectRegionError(1, 'not_leader'), TypeError);
    assert.throws(() => m.injectRegionError('RawGet', 'not_leader', { count: 0 }), RangeError);
    assert.throws(() => m.injectRegionError('RawGet', 'not_leader', { regionId: -1 }), RangeError);
    assert.throws(() => m.setLatency('*', -1), RangeError);
    assert.throws(() => m.splitRegion(5), TypeError);
    assert.throws(() => m.transferLeader('1', 1), TypeError);
    assert.throws(() => m.pausePd('yes'), TypeError);
    assert.throws(() => m.callCount(5), TypeError);
  });

  it('the addon itself rejects bad arguments with TypeError/RangeError, never crashes', () => {
    const { addon } = binding;
    assert.throws(() => addon.tikv_raw_get({}, Buffer.from('a')), TypeError);
    assert.throws(() => addon.tikv_raw_get(null, Buffer.from('a')), TypeError);
    assert.throws(() => addon.tikv_raw_get(), TypeError);
    assert.throws(() => addon.tikv_raw_scan(1, 2, 3, 4, 5, 6), TypeError);
    assert.throws(() => addon.tikv_raw_batch_get({}, 'x'), TypeError);
    assert.throws(() => addon.tikvjs_client_new('a:1', -1, 'default', 0, ...V1), RangeError);
    assert.throws(() => addon.tikvjs_client_new('a:1', 1.5, 'default', 0, ...V1), RangeError);
    assert.throws(() => addon.tikvjs_client_new('a:1', 'x', 'default', 0, ...V1), TypeError);
    assert.throws(() => addon.tikvjs_client_new(5, 100, 'default', 0, ...V1), TypeError);
    assert.throws(() => addon.tikvjs_client_new('a:1', 100, 'default', 0, 0, 1, '', '', 1, '', 0), TypeError);
    assert.throws(() => addon.tikvjs_client_new('a:1', 100, 'default', 0, 3, '', '', '', 1, '', 0), /invalid tls/);
    assert.throws(() => addon.closeClient({}), TypeError);
    assert.throws(() => addon.closeClient(), TypeError);
    assert.throws(() => addon.stopMock(42), TypeError);
    assert.throws(() => addon.setDispatcher('x'), TypeError);
    assert.throws(() => addon.tikv_mock_call_count({}, '*'), TypeError);
  });

  it('a native client handle used after close throws instead of crashing', async () => {
    const { addon } = binding;
    const h = addon.tikvjs_client_new(c.mock.pdEndpoints.join(','), 1000, 'default', 0, ...V1);
    assert.equal(addon.closeClient(h), true);
    assert.equal(addon.closeClient(h), false);
    assert.throws(() => addon.tikv_raw_get(h, Buffer.from('a'), undefined), /closed/);
    assert.throws(() => addon.tikv_client_connect(h), /closed/);
  });

  it('the addon takes byte-string arrays only as [data, lengths] that add up', () => {
    const { addon } = binding;
    const h = addon.tikvjs_client_new(c.mock.pdEndpoints.join(','), 1000, 'default', 0, ...V1);
    try {
      const call = (packed) => addon.tikv_raw_batch_get(h, packed, undefined);
      const bad = /\[data, lengths\]/;
      assert.throws(() => call([Buffer.from('a'), Buffer.from('b')]), bad); // an Array of Buffers is not the form
      assert.throws(() => call([Buffer.from('ab')]), bad);
      assert.throws(() => call([Buffer.from('ab'), new Uint16Array([1, 1])]), bad);
      assert.throws(() => call([Buffer.from('ab'), new Uint32Array([1])]), bad); // a byte left over
      assert.throws(() => call([Buffer.from('ab'), new Uint32Array([1, 2])]), bad); // past the end
      assert.throws(() => call([Buffer.from('ab'), new Uint32Array([0xffffffff, 3])]), bad); // no wrap-around
      assert.throws(() => call([new Uint32Array([1]), new Uint32Array([4])]), bad); // data must be bytes
      assert.deepEqual(A.packBytes([Buffer.from('ab'), Buffer.alloc(0), Buffer.from('c')]).map((x) => [...x]),
        [[0x61, 0x62, 0x63], [2, 0, 1]]);
    } finally {
      addon.closeClient(h);
    }
  });
});
