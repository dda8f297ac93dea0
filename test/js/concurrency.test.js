'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startCluster, binding, RawClient } = require('./helpers');

describe('concurrency', { timeout: 90000 }, () => {
  let c;
  let client;
  let atomic;
  before(async () => {
    c = await startCluster({ stores: 3, regions: 4 });
    client = c.client;
    atomic = await RawClient.connect(c.mock.pdEndpoints, { atomic: true });
  });
  after(async () => {
    await atomic.close();
    await c.stop();
  });

  it('2,000 operations in flight at once', async () => {
    const N = 2000;
    const before = binding.stats();
    const puts = [];
    for (let i = 0; i < N; i++) puts.push(client.put(`conc/${String(i).padStart(5, '0')}`, `value-${i}`));
    // (a put already finished when the bridge looks is resolved without
    // being counted, so only the gets, which carry values, count exactly)
    assert.ok(binding.stats().submitted - before.submitted <= N);
    await Promise.all(puts);
    const gets = [];
    const beforeGets = binding.stats().submitted;
    for (let i = 0; i < N; i++) gets.push(client.get(`conc/${String(i).padStart(5, '0')}`));
    assert.equal(binding.stats().submitted - beforeGets, N, 'all submitted before any completes');
    const values = await Promise.all(gets);
    values.forEach((v, i) => assert.equal(v.toString(), `value-${i}`));
    const s = binding.stats();
    assert.equal(s.submitted, s.delivered, 'every submitted future was delivered');
    assert.ok(s.wakeups - before.wakeups < 2 * N, `completions share wakeups (${s.wakeups - before.wakeups} for ${2 * N})`);
    assert.equal(binding.pendingCount(), 0);
    const all = await client.scan('conc/', 'conc0', { limit: 10240 });
    assert.equal(all.length, N);
    await client.deleteRange('conc/', 'conc0');
  });

  it('the JS thread is woken for completions only: an idle one sleeps', async () => {
    // each wakeup is a byte down the bridge's pipe, read before delivering:
    // one left unread would wake the loop again and again for nothing
    await Promise.all(Array.from({ length: 50 }, (_, i) => client.put(`idle/${i}`, 'v')));
    const before = binding.stats();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = binding.stats();
    assert.equal(after.delivered, before.delivered);
    assert.ok(after.signals - before.signals <= 1, `${after.signals - before.signals} wakeups in 200 ms with nothing to deliver`);
    assert.equal((await client.get('idle/7')).toString(), 'v');
    assert.ok(binding.stats().signals > after.signals, 'a completion wakes it');
    await client.deleteRange('idle/', 'idle0');
  });

  it('mixed operations interleave and each resolves its own result', async () => {
    const ops = [];
    for (let i = 0; i < 300; i++) {
      const k = `mix/${i}`;
      ops.push(client.put(k, String(i)).then(() => client.get(k)).then((v) => assert.equal(v.toString(), String(i))));
      ops.push(client.getKeyTtl(`mix/none/${i}`).then((t) => assert.equal(t, null)));
      ops.push(client.batchGet([`mix/none/${i}`]).then((r) => assert.deepEqual(r, [])));
    }
    await Promise.all(ops);
    await client.deleteRange('mix/', 'mix0');
  });

  it('compareAndSwap races: exactly one winner', async () => {
    for (let round = 0; round < 5; round++) {
      const key = `race/${round}`;
      await atomic.delete(key);
      const contenders = 50;
      const results = await Promise.all(
        Array.from({ length: contenders }, (_, i) => atomic.compareAndSwap(key, null, `winner-${i}`))
      );
      const winners = results.filter((r) => r.swapped);
      assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
      const losers = results.filter((r) => !r.swapped);
      const final = await atomic.get(key);
      // a loser lost because the key existed: it saw the winner's value
      for (const l of losers) assert.ok(l.previous !== null && l.previous.equals(final), `loser saw ${l.previous}`);
      // the winner's value is the one stored
      const idx = results.findIndex((r) => r.swapped);
      assert.equal(final.toString(), `winner-${idx}`);
    }
    // a swap chain: each of N increments by CAS retry loops lands exactly once
    await atomic.put('race/counter', '0');
    const incr = async () => {
      for (;;) {
        const cur = await atomic.get('race/counter');
        const r = await atomic.compareAndSwap('race/counter', cur, String(Number(cur.toString()) + 1));
        if (r.swapped) return;
      }
    };
    await Promise.all(Array.from({ length: 20 }, incr));
    assert.equal((await atomic.get('race/counter')).toString(), '20');
  });
});
