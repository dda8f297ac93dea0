'use strict';
// TransactionClient against a mock cluster: reads, writes, commit and
// rollback, isolation, conflicts, scans, many regions, async commit and 1PC.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startTxnCluster, encodeKey, rejectsWith, buf, TikvError, RawClient, TransactionClient } = require('./helpers');
const { Transaction, Snapshot } = require('../../lib');

const str = (b) => (b === null ? null : b.toString());
const pairs = (kvs) => kvs.map((kv) => [kv.key.toString(), kv.value.toString()]);

describe('transactions against a mock cluster', { timeout: 120000 }, () => {
  let c;
  let client;
  before(async () => {
    c = await startTxnCluster({ stores: 3, regions: 8 });
    client = c.client;
  });
  after(() => c.stop());

  // writes pairs in one transaction
  async function write(entries) {
    const t = await client.begin();
    for (const [k, v] of entries) {
      if (v === null) await t.delete(k);
      else await t.put(k, v);
    }
    return t.commit();
  }

  async function read(key) {
    const s = await client.snapshot();
    return str(await s.get(key));
  }

  it('currentTimestamp is a bigint that moves forward', async () => {
    const a = await client.currentTimestamp();
    const b = await client.currentTimestamp();
    assert.equal(typeof a, 'bigint');
    assert.ok(b > a);
    const many = await Promise.all(Array.from({ length: 50 }, () => client.currentTimestamp()));
    assert.equal(new Set(many.map(String)).size, 50, 'concurrent timestamps are distinct');
    assert.ok(many.every((t) => t > b));
  });

  it('begin / put / get / commit: the commit timestamp follows the start, later readers see it', async () => {
    const t = await client.begin();
    assert.ok(t instanceof Transaction);
    assert.equal(typeof t.startTimestamp, 'bigint');
    assert.equal(t.state, 'active');
    assert.equal(t.finished, false);
    assert.deepEqual(t.options, { pessimistic: false, asyncCommit: false, tryOnePc: false, lockWaitTimeoutMs: undefined });
    assert.equal(await t.put('basic/a', 'A'), undefined);
    await t.put(buf('basic/b'), new Uint8Array([66]));
    assert.equal(str(await t.get('basic/a')), 'A', 'reads its own writes');
    const got = await t.get('basic/b');
    assert.ok(Buffer.isBuffer(got));
    assert.equal(await t.get('basic/none'), null);
    const ts = await t.commit();
    assert.equal(typeof ts, 'bigint');
    assert.ok(ts > t.startTimestamp);
    assert.equal(t.state, 'committed');
    assert.equal(t.finished, true);
    assert.equal(await read('basic/a'), 'A');
    assert.equal(await read('basic/b'), 'B');
  });

  it('own writes: batchGet, keyExists, delete, overwrite', async () => {
    await write([['own/1', 'one'], ['own/2', 'two']]);
    const t = await client.begin();
    await t.put('own/3', 'three');
    await t.delete('own/1');
    await t.put('own/2', 'TWO');
    assert.deepEqual(pairs(await t.batchGet(['own/3', 'own/1', 'own/2', 'own/none'])), [
      ['own/2', 'TWO'],
      ['own/3', 'three'],
    ]);
    assert.equal(await t.keyExists('own/1'), false);
    assert.equal(await t.keyExists('own/2'), true);
    assert.equal(await t.keyExists('own/none'), false);
    await t.commit();
    assert.equal(await read('own/1'), null);
    assert.equal(await read('own/2'), 'TWO');
    assert.equal(await read('own/3'), 'three');
  });

  it('commit of a transaction that wrote nothing resolves 0n', async () => {
    await write([['ro/k', 'v']]);
    const t = await client.begin();
    assert.equal(str(await t.get('ro/k')), 'v');
    assert.equal(await t.commit(), 0n);
    assert.equal(t.state, 'committed');
  });

  it('binary keys and values (zero bytes; empty values are refused: edge.test.js)', async () => {
    const key = Buffer.from([0, 1, 0, 255, 0]);
    await write([[key, Buffer.from([0])], [Buffer.from([0, 1]), Buffer.from([0, 0, 7])]]);
    const s = await client.snapshot();
    assert.deepEqual(await s.get(key), Buffer.from([0]));
    assert.equal(await s.keyExists(key), true, 'a zero byte is a value');
    assert.equal(await s.get(Buffer.from([0, 1, 0, 255])), null);
    assert.deepEqual(await s.scan(Buffer.from([0]), Buffer.from([1])), [
      { key: Buffer.from([0, 1]), value: Buffer.from([0, 0, 7]) },
      { key, value: Buffer.from([0]) },
    ]);
  });

  it('rollback discards the writes; the transaction is finished', async () => {
    await write([['rb/k', 'before']]);
    const t = await client.begin();
    await t.put('rb/k', 'after');
    await t.put('rb/new', 'x');
    assert.equal(await t.rollback(), undefined);
    assert.equal(t.state, 'rolledBack');
    assert.equal(await read('rb/k'), 'before');
    assert.equal(await read('rb/new'), null);
    await rejectsWith(t.rollback(), 'TXN_FINISHED');
    await rejectsWith(t.commit(), 'TXN_FINISHED');
  });

  it('every method rejects with TXN_FINISHED after commit (and after a failed commit)', async () => {
    const t = await client.begin();
    await t.put('fin/k', 'v');
    await t.commit();
    const calls = [
      () => t.get('fin/k'),
      () => t.batchGet(['fin/k']),
      () => t.keyExists('fin/k'),
      () => t.scan('fin/', 'fin0'),
      () => t.put('fin/k', 'w'),
      () => t.insert('fin/k2', 'w'),
      () => t.delete('fin/k'),
      () => t.lockKeys(['fin/k']),
      () => t.getForUpdate('fin/k'),
      () => t.batchGetForUpdate(['fin/k']),
      () => t.commit(),
      () => t.rollback(),
    ];
    for (const call of calls) {
      const e = await rejectsWith(call(), 'TXN_FINISHED');
      assert.equal(e.retryable, false);
    }
    assert.equal(await read('fin/k'), 'v');

    // a commit that failed: finished too (the core rolled it back)
    const a = await client.begin();
    const b = await client.begin();
    await a.put('fin/c', 'a');
    await b.put('fin/c', 'b');
    await a.commit();
    await rejectsWith(b.commit(), 'WRITE_CONFLICT');
    assert.equal(b.state, 'commitFailed');
    assert.equal(b.finished, true);
    await rejectsWith(b.get('fin/c'), 'TXN_FINISHED');
    await rejectsWith(b.rollback(), 'TXN_FINISHED');
  });

  it('operations in flight when commit() is called complete first', async () => {
    const t = await client.begin();
    const puts = [];
    for (let i = 0; i < 20; i++) puts.push(t.put(`inflight/${i}`, String(i)));
    const commit = t.commit();
    const late = rejectsWith(t.put('inflight/late', 'x'), 'TXN_FINISHED');
    await Promise.all(puts);
    await commit;
    await late;
    const s = await client.snapshot();
    assert.equal((await s.scan('inflight/', 'inflight0')).length, 20);
  });

  it('insert: new keys are written; existing keys fail the commit with ALREADY_EXIST', async () => {
    await write([['ins/old', 'v']]);
    const t = await client.begin();
    await t.insert('ins/new', 'fresh');
    await t.commit();
    assert.equal(await read('ins/new'), 'fresh');

    const u = await client.begin();
    await u.insert('ins/old', 'again');
    const e = await rejectsWith(u.commit(), 'ALREADY_EXIST');
    assert.equal(e.retryable, false);
    assert.deepEqual(e.details.key, buf('ins/old'));
    assert.equal(await read('ins/old'), 'v');

    // twice in one transaction: refused at the second insert
    const w = await client.begin();
    await w.insert('ins/twice', '1');
    await rejectsWith(w.insert('ins/twice', '2'), 'ALREADY_EXIST');
    await w.rollback();
    // insert over this transaction's own delete of an existing key: a put
    const x = await client.begin();
    await x.delete('ins/old');
    await x.insert('ins/old', 'replaced');
    await x.commit();
    assert.equal(await read('ins/old'), 'replaced');
  });

  it('write conflict: the later committer fails with WRITE_CONFLICT naming the key', async () => {
    await write([['wc/k', '0']]);
    const a = await client.begin();
    const b = await client.begin();
    await a.put('wc/k', 'a');
    await b.put('wc/k', 'b');
    await b.put('wc/other', 'b');
    const ts = await a.commit();
    const e = await rejectsWith(b.commit(), 'WRITE_CONFLICT');
    assert.ok(e instanceof TikvError);
    assert.equal(e.name, 'TikvError');
    assert.equal(e.errno, 15);
    assert.match(e.message, /write conflict/);
    assert.equal(e.retryable, true);
    assert.deepEqual(e.details.key, buf('wc/k'));
    assert.equal(e.details.startTs, b.startTimestamp);
    assert.equal(e.details.conflictTs, ts);
    assert.equal(await read('wc/k'), 'a');
    assert.equal(await read('wc/other'), null, 'nothing of the failed transaction is visible');
  });

  it('snapshot isolation: no dirty reads, repeatable reads', async () => {
    await write([['si/x', '1']]);
    const writer = await client.begin();
    await writer.put('si/x', '2');
    await writer.put('si/y', 'new');
    // uncommitted writes are invisible to others
    const r1 = await client.begin();
    assert.equal(str(await r1.get('si/x')), '1');
    assert.equal(str(await r1.get('si/y')), null);
    await writer.commit();
    // a transaction that began before the commit still reads its snapshot
    assert.equal(str(await r1.get('si/x')), '1', 'repeatable read');
    assert.deepEqual(pairs(await r1.scan('si/', 'si0')), [['si/x', '1']]);
    await r1.commit();
    const r2 = await client.begin();
    assert.equal(str(await r2.get('si/x')), '2');
    await r2.commit();
    // (no lost update: the write-conflict test above)
  });

  it('snapshot isolation allows write skew (disjoint write sets both commit)', async () => {
    await write([['ws/a', 'on'], ['ws/b', 'on']]);
    // invariant an application might want: at least one stays "on"
    const t1 = await client.begin();
    const t2 = await client.begin();
    assert.equal(str(await t1.get('ws/b')), 'on');
    assert.equal(str(await t2.get('ws/a')), 'on');
    await t1.put('ws/a', 'off');
    await t2.put('ws/b', 'off');
    await t1.commit();
    await t2.commit();
    assert.equal(await read('ws/a'), 'off');
    assert.equal(await read('ws/b'), 'off');

    // lockKeys on what was read turns it into a conflict
    await write([['ws/a', 'on'], ['ws/b', 'on']]);
    const u1 = await client.begin();
    const u2 = await client.begin();
    await u1.lockKeys(['ws/b']);
    await u2.lockKeys(['ws/a']);
    await u1.put('ws/a', 'off');
    await u2.put('ws/b', 'off');
    await u1.commit();
    await rejectsWith(u2.commit(), 'WRITE_CONFLICT');
  });

  it('optimistic getForUpdate: the key read is checked at commit', async () => {
    await write([['gfu/k', '1']]);
    const t = await client.begin();
    assert.equal(str(await t.getForUpdate('gfu/k')), '1');
    assert.deepEqual(pairs(await t.batchGetForUpdate(['gfu/k', 'gfu/none'])), [['gfu/k', '1']]);
    await write([['gfu/k', '2']]);
    await t.put('gfu/other', 'x');
    await rejectsWith(t.commit(), 'WRITE_CONFLICT');
    assert.equal(await read('gfu/other'), null);
  });

  it('snapshots: at a fresh timestamp or at a given one; read-only', async () => {
    const ts1 = await write([['snap/k', 'v1']]);
    const ts2 = await write([['snap/k', 'v2']]);
    assert.ok(ts2 > ts1);
    const now = await client.snapshot();
    assert.ok(now instanceof Snapshot);
    assert.ok(now.timestamp > ts2);
    assert.equal(str(await now.get('snap/k')), 'v2');
    const old = await client.snapshot(ts1);
    assert.equal(old.timestamp, ts1);
    assert.equal(str(await old.get('snap/k')), 'v1');
    assert.deepEqual(pairs(await old.batchGet(['snap/k'])), [['snap/k', 'v1']]);
    assert.equal(await old.keyExists('snap/k'), true);
    assert.deepEqual(pairs(await old.scan('snap/', 'snap0')), [['snap/k', 'v1']]);
    const before = await client.snapshot(ts1 - 1n);
    assert.equal(await before.get('snap/k'), null);
    // a number timestamp works when it is a safe integer (real ones are not)
    const early = await client.snapshot(1);
    assert.equal(early.timestamp, 1n);
    assert.equal(await early.get('snap/k'), null);
    await assert.rejects(client.snapshot(2 ** 53), RangeError);
    assert.equal(typeof now.put, 'undefined', 'no write methods');
    assert.equal(typeof now.commit, 'undefined');
  });

  it('scans merge the transaction\'s own writes, in both directions, with limits and keyOnly', async () => {
    await write(['a', 'b', 'c', 'd', 'e'].map((k) => [`scan/${k}`, k.toUpperCase()]));
    const t = await client.begin();
    await t.delete('scan/b');
    await t.put('scan/c', 'c!');
    await t.put('scan/bb', 'new');
    await t.put('scan/f', 'F');
    assert.deepEqual(pairs(await t.scan('scan/', 'scan0')), [
      ['scan/a', 'A'],
      ['scan/bb', 'new'],
      ['scan/c', 'c!'],
      ['scan/d', 'D'],
      ['scan/e', 'E'],
      ['scan/f', 'F'],
    ]);
    assert.deepEqual(pairs(await t.scan('scan/', 'scan0', { reverse: true, limit: 3 })), [
      ['scan/f', 'F'],
      ['scan/e', 'E'],
      ['scan/d', 'D'],
    ]);
    assert.deepEqual(pairs(await t.scan('scan/', 'scan0', { limit: 2 })), [
      ['scan/a', 'A'],
      ['scan/bb', 'new'],
    ]);
    // [start, end): start included, end excluded
    assert.deepEqual(pairs(await t.scan('scan/bb', 'scan/d')), [
      ['scan/bb', 'new'],
      ['scan/c', 'c!'],
    ]);
    const keys = await t.scan('scan/', 'scan0', { keyOnly: true });
    assert.deepEqual(
      keys.map((kv) => kv.key.toString()),
      ['scan/a', 'scan/bb', 'scan/c', 'scan/d', 'scan/e', 'scan/f']
    );
    assert.ok(keys.every((kv) => kv.value.length === 0));
    // end null: to the end of the key space
    const tail = await t.scan('scan/e', null);
    assert.deepEqual(pairs(tail).slice(0, 2), [['scan/e', 'E'], ['scan/f', 'F']]);
    await t.rollback();
  });

  it('a transaction over many regions: 300 keys committed atomically, then deleted', async () => {
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    const keys = Array.from({ length: 300 }, (_, i) => `${alphabet[i % alphabet.length]}/many/${String(i).padStart(3, '0')}`);
    const t = await client.begin();
    await Promise.all(keys.map((k, i) => t.put(k, `v${i}`)));
    const reader = await client.begin(); // began before the commit
    await t.commit();
    const s = await client.snapshot();
    const got = await s.batchGet(keys);
    assert.equal(got.length, 300);
    assert.deepEqual(
      got.map((kv) => kv.key.toString()),
      [...keys].sort()
    );
    assert.equal((await reader.batchGet(keys)).length, 0, 'all or nothing: none visible to an older reader');
    await reader.commit();
    const d = await client.begin();
    for (const k of keys) await d.delete(k);
    await d.commit();
    assert.equal((await (await client.snapshot()).batchGet(keys)).length, 0);
  });

  it('async commit: committed and visible, and conflicts still detected', async () => {
    const t = await client.begin({ asyncCommit: true });
    assert.equal(t.options.asyncCommit, true);
    await t.put('ac/0', 'a');
    await t.put('Nac/1', 'b'); // another region
    await t.put('zac/2', 'c');
    const ts = await t.commit();
    assert.ok(ts > t.startTimestamp);
    const s = await client.snapshot();
    assert.deepEqual(pairs(await s.batchGet(['ac/0', 'Nac/1', 'zac/2'])), [
      ['Nac/1', 'b'],
      ['ac/0', 'a'],
      ['zac/2', 'c'],
    ]);
    const a = await client.begin({ asyncCommit: true });
    const b = await client.begin({ asyncCommit: true });
    // b reads the key before a commits: a's commit timestamp is then above
    // b's start (an async commit's timestamp only has to exceed the reads
    // TiKV has seen; without this read, a may commit "before" b began)
    assert.equal(str(await b.get('ac/0')), 'a');
    await a.put('ac/0', 'x');
    await b.put('ac/0', 'y');
    const tsa = await a.commit();
    assert.ok(tsa > b.startTimestamp);
    await rejectsWith(b.commit(), 'WRITE_CONFLICT');
    assert.equal(await read('ac/0'), 'x');
  });

  it('1PC: a transaction within one region commits without KvCommit', async () => {
    // "a..." keys are all in the region ["V", "c")
    const region = c.mock.regionForKey(encodeKey('a1pc/0'));
    assert.equal(c.mock.regionForKey(encodeKey('a1pc/9')), region);
    const before = c.mock.callCount('KvCommit');
    const t = await client.begin({ tryOnePc: true });
    for (let i = 0; i < 10; i++) await t.put(`a1pc/${i}`, String(i));
    const ts = await t.commit();
    assert.ok(ts > t.startTimestamp);
    assert.equal(c.mock.callCount('KvCommit'), before, 'no KvCommit for 1PC');
    const s = await client.snapshot();
    assert.equal((await s.scan('a1pc/', 'a1pc0')).length, 10);
    assert.equal((await (await client.snapshot(ts)).scan('a1pc/', 'a1pc0')).length, 10);
    assert.equal((await (await client.snapshot(ts - 1n)).scan('a1pc/', 'a1pc0')).length, 0);
    // across regions 1PC does not apply: a normal two-phase commit
    const u = await client.begin({ tryOnePc: true });
    await u.put('a1pc/x', 'x');
    await u.put('z1pc/x', 'x');
    await u.commit();
    assert.ok(c.mock.callCount('KvCommit') > before, 'two-phase commit across regions');
    assert.equal(await read('z1pc/x'), 'x');
  });

  // (after the tests counting KvCommit: the failed ones are retried in the background)
  it('async commit is decided at prewrite: it commits even when every KvCommit fails', async () => {
    const keys = ['ac/f0', 'Nac/f1', 'zac/f2']; // three regions
    c.mock.injectGrpcError('KvCommit', 14, { count: 1000000 });
    let ts;
    const t = await client.begin({ asyncCommit: true });
    try {
      for (const k of keys) await t.put(k, 'async');
      ts = await t.commit(); // a two-phase commit would fail here
    } finally {
      c.mock.clearFaults();
    }
    assert.ok(ts > t.startTimestamp);
    // visible exactly from the reported ts (its locks committed by a reader
    // or by the client's own retries, whichever comes first)
    assert.deepEqual(pairs(await (await client.snapshot(ts)).batchGet(keys)), [
      ['Nac/f1', 'async'],
      ['ac/f0', 'async'],
      ['zac/f2', 'async'],
    ]);
    assert.deepEqual(await (await client.snapshot(ts - 1n)).batchGet(keys), []);
  });

  it('gc resolves old locks and moves the safe point forward once', async () => {
    await write([['gc/k', 'v']]);
    // locks left below the safe point: an async commit whose KvCommits failed
    const keys = ['gc/l0', 'Ngc/l1', 'zgc/l2'];
    c.mock.injectGrpcError('KvCommit', 14, { count: 1000000 });
    try {
      const t = await client.begin({ asyncCommit: true });
      for (const k of keys) await t.put(k, 'locked');
      await t.commit();
      const now = await client.currentTimestamp();
      const resolves = c.mock.callCount('KvResolveLock');
      assert.equal(await client.gc(now), true);
      assert.ok(c.mock.callCount('KvResolveLock') > resolves, 'gc resolved the locks');
    } finally {
      c.mock.clearFaults();
    }
    // they are gone: reading them meets no lock
    const checks = c.mock.callCount('KvCheckTxnStatus');
    assert.equal((await (await client.snapshot()).batchGet(keys)).length, 3);
    assert.equal(c.mock.callCount('KvCheckTxnStatus'), checks, 'no lock left to resolve');
    const now = await client.currentTimestamp();
    assert.equal(await client.gc(now), true);
    assert.equal(await client.gc(now - 1n), false, 'the safe point does not move backwards');
    assert.equal(await read('gc/k'), 'v', 'the latest version survives gc');
  });

  it('keys are transactional: invisible to a RawClient and vice versa', async () => {
    const raw = await RawClient.connect(c.mock.pdEndpoints);
    try {
      await write([['space/k', 'txn']]);
      assert.equal(await raw.get('space/k'), null);
      await raw.put('space/r', 'raw');
      assert.equal(await read('space/r'), null);
    } finally {
      await raw.close();
    }
  });
});

describe('transactional scans across regions', { timeout: 60000 }, () => {
  let d;
  before(async () => {
    d = await startTxnCluster({ stores: 3, regions: 8 });
  });
  after(() => d.stop());

  it('scans and batches across regions, forward and reverse', async () => {
    // one key per region: the mock splits at "7", "F", "N", "V", "c", "k", "s" (encoded)
    const keys = ['0x', '8x', 'Gx', 'Px', 'Wx', 'dx', 'mx', 'tx', 'zx'];
    const regions = new Set(keys.map((k) => String(d.mock.regionForKey(encodeKey(k)))));
    assert.equal(regions.size, 8, 'the keys are spread over every region');
    const w = await d.client.begin();
    for (const k of keys) await w.put(k, `v-${k}`);
    await w.commit();
    const t = await d.client.begin();
    await t.put('Hx', 'mine');
    await t.delete('dx');
    const expected = [...keys.filter((k) => k !== 'dx'), 'Hx'].sort();
    assert.deepEqual(
      (await t.scan('0', 'zz')).map((kv) => kv.key.toString()),
      expected
    );
    assert.deepEqual(
      (await t.scan('0', 'zz', { reverse: true })).map((kv) => kv.key.toString()),
      [...expected].reverse()
    );
    assert.deepEqual(
      (await t.scan('5', 'n', { reverse: true, limit: 4 })).map((kv) => kv.key.toString()),
      ['mx', 'Wx', 'Px', 'Hx']
    );
    assert.deepEqual(
      pairs(await t.batchGet([...keys].reverse())),
      keys.filter((k) => k !== 'dx').map((k) => [k, `v-${k}`])
    );
    await t.rollback();
  });

  it('a fresh client\'s reverse scan ending at a region boundary asks PD for the region before', async () => {
    const w = await d.client.begin();
    for (const k of ['Dy', 'Ey', 'Fy']) await w.put(k, k);
    await w.commit();
    // "F" encodes to the boundary of the regions ["7", "F") and ["F", "N")
    const fresh = await TransactionClient.connect(d.mock.pdEndpoints, { timeoutMs: 3000 });
    try {
      const prev = d.mock.pdCallCount('GetPrevRegion');
      const s = await fresh.snapshot();
      assert.deepEqual(pairs(await s.scan('C', 'F', { reverse: true })), [['Ey', 'Ey'], ['Dy', 'Dy']]);
      assert.equal(d.mock.pdCallCount('GetPrevRegion'), prev + 1);
    } finally {
      await fresh.close();
    }
  });
});
