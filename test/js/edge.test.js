'use strict';
// The edges as TiKV's own clients have them, from JS: empty values (raw keeps
// them; transactions refuse them), reads below the GC safe point, RawChecksum
// and UnsafeDestroyRange. The C suite check_edge has the rest (replies without
// a value, corrupted replies).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { RawClient, TransactionClient, TikvError } = require('../../lib');
const { MockCluster } = require('../../lib/mock');

describe('edges', { timeout: 90000 }, () => {
  let mock, raw, db;
  before(async () => {
    mock = await MockCluster.start({ stores: 3, regions: 8 });
    raw = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 10000, atomic: true });
    db = await TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 10000 });
  });
  after(async () => {
    await raw.close();
    await db.close();
    await mock.stop();
  });

  it('raw: an empty value reads back as an empty Buffer, a missing key as null', async () => {
    await raw.put('e/empty', '');
    const v = await raw.get('e/empty');
    assert.ok(Buffer.isBuffer(v));
    assert.equal(v.length, 0);
    assert.equal(await raw.get('e/missing'), null);
    await raw.batchPut([['e/b1', Buffer.alloc(0)], ['e/b2', 'x']]);
    assert.deepEqual(await raw.batchGet(['e/b1', 'e/b2', 'e/missing']), [
      { key: Buffer.from('e/b1'), value: Buffer.alloc(0) },
      { key: Buffer.from('e/b2'), value: Buffer.from('x') },
    ]);
    const cas = await raw.compareAndSwap('e/empty', '', 'full');
    assert.equal(cas.swapped, true);
    assert.deepEqual(cas.previous, Buffer.alloc(0));
  });

  it('transactions refuse to write an empty value (RangeError), as client-go does', async () => {
    const t = await db.begin();
    await assert.rejects(t.put('e/t', ''), RangeError);
    await assert.rejects(t.insert('e/t', Buffer.alloc(0)), /must not be empty/);
    await t.put('e/t', 'v');
    await t.commit();
    const p = await db.begin({ pessimistic: true });
    await assert.rejects(p.put('e/p', new Uint8Array(0)), RangeError);
    await p.rollback();
  });

  it('a snapshot below the GC safe point rejects, naming the safe point', async () => {
    await db.transaction((t) => t.put('g/k', 'v'));
    const old = await db.currentTimestamp();
    assert.deepEqual(await (await db.snapshot(old)).get('g/k'), Buffer.from('v'));
    const sp = await db.currentTimestamp();
    assert.equal(await db.gc(sp), true);
    const s = await db.snapshot(old);
    for (const read of [() => s.get('g/k'), () => s.batchGet(['g/k']), () => s.scan('g/', 'g0')]) {
      await assert.rejects(read(), (e) => {
        assert.ok(e instanceof TikvError);
        assert.equal(e.code, 'TXN_ABORTED');
        assert.equal(e.details.kind, 'gc_safe_point');
        assert.match(e.message, new RegExp(`below the GC safe point ${sp}`));
        return true;
      });
    }
    assert.deepEqual(await (await db.snapshot(sp)).get('g/k'), Buffer.from('v'));
  });

  it('checksum: RawChecksum across regions, as TiKV computes it', async () => {
    await raw.put('hello ', 'world!');
    // crc64fast's CRC-64 of "hello world!": the key, then the value
    assert.deepEqual(await raw.checksum('hello ', 'hello!'), { crc64Xor: 0x8483c0fa32607d61n, totalKvs: 1n, totalBytes: 12n });
    const keys = ['0k', 'Fk', 'Nk', 'Vk', 'ck', 'kk', 'sk', 'zk'];
    await raw.batchPut(keys.map((k, i) => [k, 'v'.repeat(i)]));
    let crc = 0n;
    let bytes = 0n;
    for (const k of keys) {
      const one = await raw.checksum(k, `${k}\x01`);
      assert.equal(one.totalKvs, 1n);
      crc ^= one.crc64Xor;
      bytes += one.totalBytes;
    }
    assert.deepEqual(await raw.checksum('0', 'h'), await raw.checksum('0', 'h', undefined));
    const all = await raw.checksum('0', null);
    const others = await raw.checksum('e/', 'e0'); // the first test's
    assert.equal(all.totalKvs, 9n + others.totalKvs); // with "hello "
    assert.equal(all.crc64Xor, crc ^ 0x8483c0fa32607d61n ^ others.crc64Xor);
    assert.equal(all.totalBytes, bytes + 12n + others.totalBytes);
    assert.deepEqual(await raw.checksum('zz', 'zz'), { crc64Xor: 0n, totalKvs: 0n, totalBytes: 0n });
    await assert.rejects(raw.checksum(1), TypeError);
    await assert.rejects(raw.checksum('a', 'b', { cf: 'lock' }), /unknown option 'cf'/);
  });

  it('unsafeDestroyRange: every version and lock of the range goes, on every store', async () => {
    await db.transaction(async (t) => {
      for (const k of ['u/a', 'u/b', 'v/x']) await t.put(k, 'v');
    });
    await db.transaction((t) => t.put('u/b', 'v2'));
    const before = await db.currentTimestamp();
    const calls = mock.callCount('UnsafeDestroyRange');
    assert.equal(await db.unsafeDestroyRange('u/', 'u0'), undefined);
    assert.equal(mock.callCount('UnsafeDestroyRange') - calls, 3);
    const s = await db.snapshot(before); // older versions are gone too
    assert.equal(await s.get('u/a'), null);
    assert.equal(await s.get('u/b'), null);
    assert.deepEqual(await s.get('v/x'), Buffer.from('v'));
    await db.unsafeDestroyRange('u/', 'u0'); // again: harmless
    await assert.rejects(db.unsafeDestroyRange('', 'u0'), RangeError);
    await assert.rejects(db.unsafeDestroyRange('u0', 'u/'), /start must not be after end/);
    await assert.rejects(db.unsafeDestroyRange('u/'), TypeError);
  });
});
