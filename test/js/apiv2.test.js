'use strict';
// RawClient and TransactionClient in API v2 against MockCluster's keyspaces:
// two keyspaces holding the same user keys stay apart (gets, scans at both
// ends, reverse scans, iterate, delete-range, CAS and TTL, transactions),
// an API v1 client on the same cluster sees what TiKV lets it see, and the
// keyspace is loaded (or refused) at connect.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { RawClient, TransactionClient, TikvError } = require('../../lib');
const { MockCluster } = require('../../lib/mock');

const KEYS = [Buffer.from([0]), Buffer.from('a'), Buffer.from('m'), Buffer.from('z'), Buffer.from([0xff, 0xff])];
const hexes = (pairs) => pairs.map((p) => `${p.key.toString('hex')}=${p.value}`);
const want = (keys, tag) => keys.map((k) => `${k.toString('hex')}=${tag}`);

async function rejectsWith(promise, code, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof TikvError, `${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('API v2 keyspaces', { timeout: 120000 }, () => {
  let mock;
  const clients = [];
  const raw = async (keyspace, options) => {
    const c = await RawClient.connect(mock.pdEndpoints, { apiVersion: 2, keyspace, ...options });
    clients.push(c);
    return c;
  };
  const txn = async (keyspace) => {
    const c = await TransactionClient.connect(mock.pdEndpoints, { apiVersion: 2, keyspace });
    clients.push(c);
    return c;
  };
  before(async () => {
    mock = await MockCluster.start({ stores: 3, regions: 4, apiVersion: 2, keyspaces: ['ks1', 'ks2', { name: 'off', state: 'DISABLED' }] });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await mock.stop();
  });

  it('raw: the same keys in two keyspaces stay apart, to both ends of each', async () => {
    const [a, b] = [await raw('ks1'), await raw('ks2')];
    assert.equal(a.options.apiVersion, 2);
    assert.equal(a.options.keyspace, 'ks1');
    await a.batchPut(KEYS.map((k) => [k, 'A']));
    await b.batchPut(KEYS.map((k) => [k, 'B']));
    for (const [c, tag] of [[a, 'A'], [b, 'B']]) {
      assert.deepEqual(hexes(await c.scan('', null)), want(KEYS, tag));
      assert.deepEqual(hexes(await c.scan('', null, { reverse: true })), want([...KEYS].reverse(), tag));
      assert.deepEqual(hexes(await c.scan('', null, { limit: 1 })), want([KEYS[0]], tag));
      assert.deepEqual(hexes(await c.scan('', null, { limit: 1, reverse: true })), want([KEYS[4]], tag));
      const seen = [];
      for await (const p of c.iterate('', null, { batchSize: 2 })) seen.push(p);
      assert.deepEqual(hexes(seen), want(KEYS, tag));
      assert.deepEqual(hexes(await c.batchGet(['a', 'nope', Buffer.from([0xff, 0xff])])), want([KEYS[1], KEYS[4]], tag));
      assert.deepEqual(hexes(await c.batchScan([['', 'b'], ['y']])), want([KEYS[0], KEYS[1], KEYS[3], KEYS[4]], tag));
    }
    await a.deleteRange('', null);
    assert.deepEqual(await a.scan('', null), []);
    assert.deepEqual(hexes(await b.scan('', null)), want(KEYS, 'B'));
    assert.deepEqual(await (await raw('DEFAULT')).scan('', null), []);
  });

  it('raw: compare-and-swap and TTLs per keyspace', async () => {
    const [a, b] = [await raw('ks1', { atomic: true }), await raw('ks2', { atomic: true })];
    await a.put('t', 'v', { ttl: 100 });
    const ttl = await a.getKeyTtl('t');
    assert.ok(ttl > 0 && ttl <= 100, String(ttl));
    assert.equal(await b.getKeyTtl('t'), null);
    assert.deepEqual(await a.compareAndSwap('c', null, 'A'), { swapped: true, previous: null });
    assert.deepEqual(await b.compareAndSwap('c', null, 'B'), { swapped: true, previous: null });
    assert.deepEqual(await a.compareAndSwap('c', 'B', 'X'), { swapped: false, previous: Buffer.from('A') });
    assert.deepEqual(await b.get('c'), Buffer.from('B'));
  });

  it('transactions: the same keys in two keyspaces stay apart', async () => {
    const [a, b] = [await txn('ks1'), await txn('ks2')];
    for (const [c, tag] of [[a, 'A'], [b, 'B']])
      await c.transaction(async (t) => {
        for (const k of KEYS) await t.put(k, tag);
      });
    for (const [c, tag] of [[a, 'A'], [b, 'B']]) {
      const s = await c.snapshot();
      assert.deepEqual(hexes(await s.scan('', null)), want(KEYS, tag));
      assert.deepEqual(hexes(await s.scan('', null, { reverse: true, limit: 2 })), want([KEYS[4], KEYS[3]], tag));
      assert.deepEqual(await s.get('m'), Buffer.from(tag));
    }
    await a.transaction(async (t) => {
      await t.delete('m');
      const seen = [];
      for await (const p of t.iterate('', null)) seen.push(p);
      assert.deepEqual(hexes(seen), want([KEYS[0], KEYS[1], KEYS[3], KEYS[4]], 'A'));
    });
    assert.equal(await (await a.snapshot()).get('m'), null);
    assert.deepEqual(await (await b.snapshot()).get('m'), Buffer.from('B'));
    // the key an error names is the caller's
    const t = await b.begin();
    await t.insert('a', 'again');
    await assert.rejects(t.commit(), (e) => e.code === 'ALREADY_EXIST' && e.details.key.equals(Buffer.from('a')));
  });

  it('an API v1 client on the same cluster gets what TiKV lets it have', async () => {
    const v1 = await RawClient.connect(mock.pdEndpoints);
    clients.push(v1);
    assert.equal(v1.options.apiVersion, 1);
    await rejectsWith(v1.get('a'), 'SERVER', /Api version in request does not match with TiKV storage/);
    const db = await TransactionClient.connect(mock.pdEndpoints);
    clients.push(db);
    await db.transaction(async (t) => t.put('t_1', 'tidb')); // TiDB's keys pass
    await assert.rejects(
      db.transaction(async (t) => t.put('k', 'v'), { retries: 0 }),
      (e) => e.code === 'TXN_ABORTED' && /InvalidKeyMode/.test(e.message)
    );
    const d = await txn('DEFAULT');
    assert.deepEqual(await (await d.snapshot()).scan('', null), []);
  });

  it('the keyspace must exist and be ENABLED; options must fit API v2', async () => {
    await rejectsWith(RawClient.connect(mock.pdEndpoints, { apiVersion: 2, keyspace: 'nope' }), 'INVALID_ARGUMENT', /keyspace 'nope' does not exist/);
    await rejectsWith(TransactionClient.connect(mock.pdEndpoints, { apiVersion: 2, keyspace: 'off' }), 'INVALID_ARGUMENT', /keyspace 'off' is DISABLED/);
    await rejectsWith(RawClient.connect(mock.pdEndpoints, { keyspace: 'ks1' }), 'INVALID_ARGUMENT', /a keyspace needs API v2/);
    await rejectsWith(
      RawClient.connect(mock.pdEndpoints, { apiVersion: 2, keyspace: 'ks1', columnFamily: 'lock' }),
      'INVALID_ARGUMENT',
      /API v2 has no column families/
    );
    await rejectsWith(RawClient.connect(mock.pdEndpoints, { apiVersion: 2, keyspace: 'a b' }), 'INVALID_ARGUMENT', /keyspace: a keyspace name is 1 to 20/);
    await assert.rejects(RawClient.connect(mock.pdEndpoints, { apiVersion: 3 }), RangeError);
    await assert.rejects(RawClient.connect(mock.pdEndpoints, { apiVersion: '2' }), TypeError);
    await assert.rejects(TransactionClient.connect(mock.pdEndpoints, { keyspace: 1 }), TypeError);
  });
});

describe('API v2 against an API v1 cluster', { timeout: 60000 }, () => {
  it('finds no keyspace', async () => {
    const mock = await MockCluster.start();
    try {
      await rejectsWith(RawClient.connect(mock.pdEndpoints, { apiVersion: 2 }), 'INVALID_ARGUMENT', /keyspace 'DEFAULT' does not exist/);
    } finally {
      await mock.stop();
    }
  });
});
