'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startCluster, buf, RawClient } = require('./helpers');

describe('RawClient against a mock cluster', { timeout: 90000 }, () => {
  let c;
  let client;
  let atomic; // compareAndSwap needs atomic mode, which refuses batch deletes and delete-range
  before(async () => {
    c = await startCluster({ stores: 3, regions: 8, enableTtl: true });
    client = c.client;
    atomic = await RawClient.connect(c.mock.pdEndpoints, { atomic: true });
  });
  after(async () => {
    await atomic.close();
    await c.stop();
  });

  it('connects and knows the cluster id', () => {
    assert.equal(typeof client.clusterId, 'bigint');
    assert.ok(client.clusterId > 0n);
    assert.equal(client.closed, false);
  });

  it('put / get / delete, with strings, Buffers and Uint8Arrays', async () => {
    assert.equal(await client.put('hello', 'world'), undefined);
    assert.deepEqual(await client.get('hello'), buf('world'));
    assert.deepEqual(await client.get(buf('hello')), buf('world'));
    assert.deepEqual(await client.get(new Uint8Array(buf('hello'))), buf('world'));
    await client.put(new Uint8Array([104, 105]), new Uint8Array([1, 2, 3]));
    const got = await client.get('hi');
    assert.ok(Buffer.isBuffer(got));
    assert.deepEqual(got, Buffer.from([1, 2, 3]));
    assert.equal(await client.delete('hello'), undefined);
    assert.equal(await client.get('hello'), null);
    assert.equal(await client.get('never-written'), null);
    await client.delete('hi');
  });

  it('keeps binary keys and values with zero bytes intact', async () => {
    const key = Buffer.from([0, 0, 1, 0, 255, 0]);
    const value = Buffer.from([0, 255, 0, 0, 7]);
    await client.put(key, value);
    assert.deepEqual(await client.get(key), value);
    // a key that is a prefix with a zero byte less is a different key
    assert.equal(await client.get(Buffer.from([0, 0, 1, 0, 255])), null);
    const kvs = await client.scan(Buffer.from([0]), Buffer.from([1]));
    assert.deepEqual(kvs, [{ key, value }]);
    await client.delete(key);
  });

  it('stores values of several MiB', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    await client.put('big', big);
    const got = await client.get('big');
    assert.equal(got.length, big.length);
    assert.ok(got.equals(big));
    await client.delete('big');
  });

  it('UTF-8 strings', async () => {
    await client.put('ключ-🔑', 'значение-✓');
    assert.equal((await client.get(Buffer.from('ключ-🔑', 'utf8'))).toString('utf8'), 'значение-✓');
    await client.delete('ключ-🔑');
  });

  it('batchPut (pairs, objects, Map) / batchGet / batchDelete across regions', async () => {
    const keys = ['0a', '5b', 'Gc', 'Pd', 'Ze', 'hf', 'tg', 'zz'];
    await client.batchPut(keys.slice(0, 3).map((k) => [k, `v-${k}`]));
    await client.batchPut(keys.slice(3, 5).map((k) => ({ key: k, value: `v-${k}` })));
    await client.batchPut(new Map(keys.slice(5).map((k) => [k, `v-${k}`])));
    const got = await client.batchGet([...keys].reverse().concat(['missing']));
    assert.deepEqual(
      got.map((kv) => [kv.key.toString(), kv.value.toString()]),
      keys.map((k) => [k, `v-${k}`])
    );
    await client.batchDelete(keys.slice(0, 4));
    const left = await client.batchGet(keys);
    assert.deepEqual(left.map((kv) => kv.key.toString()), keys.slice(4));
    await client.batchDelete(keys);
    assert.deepEqual(await client.batchGet(keys), []);
    assert.deepEqual(await client.batchGet([]), []);
  });

  it('batchGetValues: one value per key in their order, null where none', async () => {
    const keys = ['0a', '5b', 'Gc', 'Pd', 'Ze', 'hf', 'tg', 'zz']; // every region
    await client.batchPut(keys.map((k) => [k, `w-${k}`]));
    await client.put('empty', '');
    const asked = [...keys].reverse().concat(['missing', '5b', Buffer.from('empty'), new Uint8Array([0x50, 0x64])]);
    const got = await client.batchGetValues(asked);
    assert.equal(got.length, asked.length);
    assert.deepEqual(
      got.map((v) => (v === null ? null : v.toString())),
      [...keys].reverse().map((k) => `w-${k}`).concat([null, 'w-5b', '', 'w-Pd'])
    );
    for (const v of got) if (v !== null) assert.ok(Buffer.isBuffer(v));
    assert.equal(got[0].buffer, got[1].buffer); // views of one result
    assert.deepEqual(await client.batchGetValues([]), []);
    await client.batchDelete([...keys, 'empty']);
    assert.deepEqual(await client.batchGetValues(keys), keys.map(() => null));
  });

  describe('scans', () => {
    // keys in every one of the 8 regions (split at 7, F, N, V, c, k, s)
    const set = new Set();
    for (const c of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') set.add(`s/${c}`).add(`${c}/x`);
    const keys = [...set];
    const sorted = [...keys].sort((a, b) => Buffer.compare(buf(a), buf(b)));

    before(async () => {
      await client.batchPut(keys.map((k) => [k, `v:${k}`]));
    });
    after(async () => {
      await client.batchDelete(keys);
    });

    const names = (kvs) => kvs.map((kv) => kv.key.toString());

    it('scan over [start, end) spanning regions, in key order', async () => {
      const all = await client.scan('0', '{');
      const expected = sorted.filter((k) => k >= '0' && k < '{');
      assert.deepEqual(names(all), expected);
      assert.deepEqual(all[0].value, buf(`v:${expected[0]}`));
      assert.deepEqual(names(await client.scan('A', 'a')), sorted.filter((k) => k >= 'A' && k < 'a'));
    });

    it('end omitted or null means the end of the key space', async () => {
      assert.deepEqual(names(await client.scan('x')), sorted.filter((k) => k >= 'x'));
      assert.deepEqual(names(await client.scan('x', null)), sorted.filter((k) => k >= 'x'));
    });

    it('limit and keyOnly', async () => {
      const five = await client.scan('0', '{', { limit: 5 });
      assert.deepEqual(names(five), sorted.filter((k) => k >= '0').slice(0, 5));
      const ko = await client.scan('0', '{', { limit: 3, keyOnly: true });
      assert.equal(ko.length, 3);
      for (const kv of ko) assert.equal(kv.value.length, 0);
    });

    it('reverse scans descend from end', async () => {
      const rev = await client.scan('0', '{', { reverse: true });
      assert.deepEqual(names(rev), sorted.filter((k) => k >= '0' && k < '{').reverse());
      const top3 = await client.scan('A', 'a', { reverse: true, limit: 3 });
      assert.deepEqual(names(top3), sorted.filter((k) => k >= 'A' && k < 'a').reverse().slice(0, 3));
    });

    it('reverse scans and iteration with an unbounded end start from the end of the key space', async () => {
      const tail = sorted.filter((k) => k >= 'k').reverse();
      assert.deepEqual(names(await client.scan('k', null, { reverse: true })), tail);
      assert.deepEqual(names(await client.scan('k', null, { reverse: true, limit: 2 })), tail.slice(0, 2));
      const seen = [];
      for await (const kv of client.iterate('k', null, { batchSize: 6, reverse: true })) seen.push(kv.key.toString());
      assert.deepEqual(seen, tail);
    });

    it('batchScan concatenates ranges in the order given', async () => {
      const r = await client.batchScan([['z', null], ['0', '1'], ['G', 'H']], { eachLimit: 2 });
      assert.deepEqual(names(r), ['z/x', '0/x', 'G/x']);
      const r2 = await client.batchScan([['a', 'b']], { keyOnly: true });
      assert.deepEqual(names(r2), ['a/x']);
      assert.equal(r2[0].value.length, 0);
    });

    it('iterate pages forward through the range', async () => {
      const seen = [];
      for await (const kv of client.iterate('0', '{', { batchSize: 7 })) seen.push(kv.key.toString());
      assert.deepEqual(seen, sorted.filter((k) => k >= '0' && k < '{'));
      const tail = [];
      for await (const kv of client.iterate('s/', null, { batchSize: 5 })) tail.push(kv.key.toString());
      assert.deepEqual(tail, sorted.filter((k) => k >= 's/'));
    });

    it('iterate pages backward when reversed, and stops early on break', async () => {
      const seen = [];
      for await (const kv of client.iterate('A', 'z', { batchSize: 4, reverse: true })) seen.push(kv.key.toString());
      assert.deepEqual(seen, sorted.filter((k) => k >= 'A' && k < 'z').reverse());
      let n = 0;
      for await (const kv of client.iterate('0', null, { batchSize: 3 })) {
        assert.ok(Buffer.isBuffer(kv.value));
        if (++n === 4) break;
      }
      assert.equal(n, 4);
    });

    it('deleteRange removes [start, end) across regions', async () => {
      await client.deleteRange('A', 'a');
      assert.deepEqual(await client.scan('A', 'a'), []);
      assert.deepEqual(names(await client.scan('0', 'A')), sorted.filter((k) => k >= '0' && k < 'A'));
      assert.ok((await client.scan('a', '{')).length > 0);
      await client.deleteRange('x');
      assert.deepEqual(await client.scan('x'), []);
    });
  });

  it('getKeyTtl: seconds left, 0 without TTL, null when absent', async () => {
    await client.put('ttl-none', 'v');
    assert.equal(await client.getKeyTtl('ttl-none'), 0);
    await client.put('ttl-100', 'v', { ttl: 100 });
    const left = await client.getKeyTtl('ttl-100');
    assert.equal(typeof left, 'number');
    assert.ok(left > 90 && left <= 100, `ttl left ${left}`);
    await client.put('ttl-big', 'v', { ttl: 100n });
    assert.ok((await client.getKeyTtl('ttl-big')) > 90);
    assert.equal(await client.getKeyTtl('ttl-absent'), null);
    await client.batchDelete(['ttl-none', 'ttl-100', 'ttl-big']);
  });

  it('TTL expiry: put and batchPut with ttl 1s disappear', async () => {
    await client.put('ttl-1', 'v', { ttl: 1 });
    await client.batchPut([['ttl-2', 'v']], { ttl: 1 });
    assert.deepEqual(await client.get('ttl-1'), buf('v'));
    await new Promise((r) => setTimeout(r, 2200));
    assert.equal(await client.get('ttl-1'), null);
    assert.equal(await client.get('ttl-2'), null);
    assert.equal(await client.getKeyTtl('ttl-1'), null);
  });

  it('compareAndSwap', async () => {
    await atomic.delete('cas');
    assert.deepEqual(await atomic.compareAndSwap('cas', null, 'one'), { swapped: true, previous: null });
    assert.deepEqual(await atomic.compareAndSwap('cas', null, 'two'), { swapped: false, previous: buf('one') });
    assert.deepEqual(await atomic.compareAndSwap('cas', 'zzz', 'two'), { swapped: false, previous: buf('one') });
    assert.deepEqual(await atomic.compareAndSwap('cas', 'one', 'two'), { swapped: true, previous: buf('one') });
    assert.deepEqual(await atomic.get('cas'), buf('two'));
    await atomic.delete('cas');
  });
});

describe('options', { timeout: 60000 }, () => {
  it('atomic mode refuses batchDelete and deleteRange (UNSUPPORTED), as TiKV clients do', async () => {
    const c = await startCluster({}, { atomic: true });
    try {
      assert.equal(c.client.options.atomic, true);
      await assert.rejects(c.client.batchDelete(['a']), { name: 'TikvError', code: 'UNSUPPORTED' });
      await assert.rejects(c.client.deleteRange('a', 'b'), { name: 'TikvError', code: 'UNSUPPORTED' });
    } finally {
      await c.stop();
    }
  });

  it('compareAndSwap without atomic mode rejects with UNSUPPORTED', async () => {
    const c = await startCluster({}, { atomic: false });
    try {
      await assert.rejects(c.client.compareAndSwap('k', null, 'v'), { name: 'TikvError', code: 'UNSUPPORTED' });
    } finally {
      await c.stop();
    }
  });

  it('column families are separate key spaces', async () => {
    const mock = await require('./helpers').MockCluster.start();
    const d = await RawClient.connect(mock.pdEndpoints);
    const w = await RawClient.connect(mock.pdEndpoints, { columnFamily: 'write' });
    try {
      assert.equal(w.options.columnFamily, 'write');
      await d.put('cf-key', 'in-default');
      assert.equal(await w.get('cf-key'), null);
      await w.put('cf-key', 'in-write');
      assert.deepEqual(await d.get('cf-key'), buf('in-default'));
      assert.deepEqual(await w.get('cf-key'), buf('in-write'));
    } finally {
      await d.close();
      await w.close();
      await mock.stop();
    }
  });
});
