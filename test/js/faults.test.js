'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { startCluster, RawClient, MockCluster, sleep } = require('./helpers');

describe('faults', { timeout: 120000 }, () => {
  it('injected region errors are retried invisibly', async () => {
    const c = await startCluster({ stores: 3, regions: 2 });
    try {
      const { client, mock } = c;
      await client.put('retry-key', 'v');
      for (const kind of ['not_leader', 'epoch_not_match', 'server_is_busy', 'region_not_found', 'stale_command']) {
        const before = mock.callCount('RawGet');
        mock.injectRegionError('RawGet', kind, { count: 2 });
        assert.deepEqual(await client.get('retry-key'), Buffer.from('v'), kind);
        const calls = mock.callCount('RawGet') - before;
        assert.ok(calls >= 3, `${kind}: ${calls} RawGet calls (2 failed + 1 retry expected)`);
      }
      const beforePut = mock.callCount('RawPut');
      mock.injectRegionError('RawPut', 'not_leader', { count: 1, regionId: mock.regionForKey('retry-key') });
      await client.put('retry-key', 'w');
      assert.ok(mock.callCount('RawPut') - beforePut >= 2);
      assert.deepEqual(await client.get('retry-key'), Buffer.from('w'));
    } finally {
      await c.stop();
    }
  });

  it('gRPC errors: UNAVAILABLE is retried, others surface with their status', async () => {
    const c = await startCluster({ stores: 3 }, { timeoutMs: 3000 });
    try {
      const { client, mock } = c;
      await client.put('g', 'v');
      const before = mock.callCount('RawGet');
      mock.injectGrpcError('RawGet', 14, { count: 1 });
      assert.deepEqual(await client.get('g'), Buffer.from('v'));
      assert.ok(mock.callCount('RawGet') - before >= 2);
      mock.injectGrpcError('RawGet', 13, { count: 1 });
      await assert.rejects(client.get('g'), (e) => {
        assert.equal(e.name, 'TikvError');
        assert.equal(e.code, 'GRPC');
        assert.equal(e.details.grpcStatus, 13);
        assert.equal(e.details.kind, 'INTERNAL');
        return true;
      });
      assert.deepEqual(await client.get('g'), Buffer.from('v'), 'the fault was used up');
    } finally {
      await c.stop();
    }
  });

  it('a store that goes down: operations time out, then succeed once it is back', async () => {
    const c = await startCluster({ stores: 3 }, { timeoutMs: 800 });
    try {
      const { client, mock } = c;
      await client.put('d', 'v');
      const leader = mock.regions()[0].leaderStore;
      const downs = [];
      client.on('storeDown', (e) => downs.push(e.storeId));
      let up = false;
      client.once('storeUp', () => (up = true));
      mock.setStoreDown(leader, true);
      await assert.rejects(client.get('d'), { name: 'TikvError', code: 'TIMEOUT' });
      assert.deepEqual(downs, [BigInt(leader)], 'the client marked the store down');
      mock.setStoreDown(leader, false);
      // used again once its health check passes (not before: a down store gets no requests)
      for (let i = 0; i < 200 && !up; i++) await sleep(25); // (events alone keep no loop alive)
      assert.ok(up, 'the health check saw the store back');
      assert.deepEqual(await client.get('d'), Buffer.from('v'));
    } finally {
      await c.stop();
    }
  });

  it('a region split and a leader move are followed', async () => {
    const c = await startCluster({ stores: 3, regions: 1 });
    try {
      const { client, mock } = c;
      await client.batchPut([['a', '1'], ['m', '2'], ['z', '3']]);
      const rid = mock.splitRegion('m');
      assert.equal(typeof rid, 'bigint');
      assert.equal(mock.regions().length, 2);
      assert.equal(mock.regionForKey('z'), rid);
      const other = mock.regions().find((r) => r.id === rid);
      mock.transferLeader(rid, other.leaderStore === 1n ? 2 : 1);
      assert.deepEqual(await client.get('z'), Buffer.from('3'));
      const [left, right] = mock.regions();
      assert.deepEqual(left.start, Buffer.alloc(0));
      assert.deepEqual(left.end, Buffer.from('m'));
      assert.deepEqual(right.start, Buffer.from('m'));
      assert.deepEqual(right.end, Buffer.alloc(0));
      assert.ok(right.version > 1n, 'a split bumps the epoch version');
      const all = await client.scan('', null);
      assert.deepEqual(all.map((kv) => kv.key.toString()), ['a', 'm', 'z']);
    } finally {
      await c.stop();
    }
  });

  it('a PD that does not answer: connect rejects with TIMEOUT, no hang', async () => {
    const mock = await MockCluster.start();
    try {
      mock.pausePd(true);
      const t0 = Date.now();
      await assert.rejects(RawClient.connect(mock.pdEndpoints, { timeoutMs: 500 }), (e) => {
        assert.equal(e.name, 'TikvError');
        assert.equal(e.code, 'TIMEOUT');
        assert.equal(e.retryable, true);
        return true;
      });
      assert.ok(Date.now() - t0 < 5000, 'rejected near its deadline');
      mock.pausePd(false);
      const client = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 2000 });
      assert.equal(client.clusterId, mock.clusterId);
      await client.close();
    } finally {
      await mock.stop();
    }
  });

  it('a PD that stops answering after connect: operations needing it time out', async () => {
    const mock = await MockCluster.start({ regions: 2 });
    const client = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 600 });
    try {
      mock.pausePd(true);
      // a fresh region (never cached) must be looked up at PD
      const t0 = Date.now();
      // connect caches no region: both regions must be looked up at PD
      const results = await Promise.allSettled([client.get('a-key'), client.get('z-key')]);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.equal(r.reason.code, 'TIMEOUT', r.reason.message);
      }
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      mock.pausePd(false);
      await client.close();
      await mock.stop();
    }
  });

  it('close with operations in flight: they reject with CLOSED; later calls too', async () => {
    const c = await startCluster();
    const { client, mock } = c;
    try {
      await client.put('k', 'v');
      mock.setLatency('*', 300);
      const gets = mock.callCount('RawGet');
      const inflight = [];
      for (let i = 0; i < 50; i++) inflight.push(client.get('k'));
      inflight.push(client.scan('', null));
      // every get is at the store (held by the latency) before close
      for (let i = 0; i < 2000 && mock.callCount('RawGet') < gets + 50; i++) await new Promise((r) => setTimeout(r, 2));
      assert.equal(mock.callCount('RawGet'), gets + 50);
      const closing = client.close();
      assert.ok(closing instanceof Promise);
      await closing;
      assert.equal(client.closed, true);
      const settled = await Promise.allSettled(inflight);
      for (const s of settled) {
        assert.equal(s.status, 'rejected');
        assert.equal(s.reason.code, 'CLOSED');
        assert.equal(s.reason.errno, 3);
      }
      await assert.rejects(client.get('k'), { name: 'TikvError', code: 'CLOSED' });
      await assert.rejects(client.put('k', 'v'), { code: 'CLOSED' });
      await client.close(); // idempotent
      await client.close();
    } finally {
      mock.clearFaults();
      await mock.stop();
    }
  });

  it('an unreachable PD endpoint rejects connect', async () => {
    // retried until the deadline, which carries the last cause
    await assert.rejects(RawClient.connect(['127.0.0.1:1'], { timeoutMs: 300 }), (e) => {
      assert.equal(e.name, 'TikvError');
      assert.equal(e.code, 'TIMEOUT', e.message);
      assert.match(e.message, /127\.0\.0\.1:1/);
      assert.match(e.message, /UNAVAILABLE/);
      return true;
    });
  });
});
