'use strict';
// Key/value array results (batch get, scans, transactional reads) arrive from
// the bridge as one Buffer plus lengths and become {key, value} Buffer views in
// lib/native.js. These tests check the views: right bytes, right order, real
// Buffers sharing one backing store per call, independent of one another.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { startCluster, startTxnCluster, buf } = require('./helpers');
const binding = require('../../lib/native');

const keyOf = (i) => `kvr/${String(i).padStart(4, '0')}`;
// values of different lengths (raw KV refuses empty values)
const valueOf = (i) => 'v'.repeat(1 + (i % 7)) + `#${i}`.repeat(i % 3);

function assertPairs(got, indices, { keyOnly = false } = {}) {
  assert.equal(got.length, indices.length);
  let ab = null;
  got.forEach((p, j) => {
    assert.deepEqual(Object.keys(p), ['key', 'value']);
    assert.ok(Buffer.isBuffer(p.key), 'key is a Buffer');
    assert.ok(Buffer.isBuffer(p.value), 'value is a Buffer');
    assert.equal(p.key.toString(), keyOf(indices[j]));
    assert.equal(p.value.toString(), keyOnly ? '' : valueOf(indices[j]));
    // one backing store per call, like Node's pooled Buffers
    ab = ab || p.key.buffer;
    assert.equal(p.key.buffer, ab);
    assert.equal(p.value.buffer, ab);
  });
}

// Writing into one pair's Buffers changes no other pair's key or value.
function assertIndependent(got) {
  const before = got.map((p) => [Buffer.from(p.key), Buffer.from(p.value)]);
  for (let i = 0; i < got.length; i++) {
    got[i].key.fill(0xff);
    got[i].value.fill(0xee);
    for (let j = 0; j < got.length; j++) {
      if (j === i) continue;
      assert.deepEqual(got[j].key, j < i ? Buffer.alloc(before[j][0].length, 0xff) : before[j][0]);
      assert.deepEqual(got[j].value, j < i ? Buffer.alloc(before[j][1].length, 0xee) : before[j][1]);
    }
  }
}

describe('kvPairs (the one conversion of key/value results)', { timeout: 30000 }, () => {
  it('builds views in order, empty lengths included', () => {
    const data = Buffer.from('k1v1k2k3vvv');
    const lengths = new Uint32Array([2, 2, 2, 0, 2, 3]);
    const got = binding.kvPairs([data, lengths]);
    assert.deepEqual(
      got.map((p) => [p.key.toString(), p.value.toString()]),
      [['k1', 'v1'], ['k2', ''], ['k3', 'vvv']]
    );
    assert.deepEqual(binding.kvPairs([Buffer.alloc(0), new Uint32Array(0)]), []);
    assert.throws(() => binding.kvPairs([null]), RangeError);
  });

  it('makes real Buffers sharing the one backing ArrayBuffer', () => {
    const data = Buffer.from('k1v1k2v2'); // a slice of Node's pool: byteOffset > 0
    const got = binding.kvPairs([data, new Uint32Array([2, 2, 2, 2])]);
    for (const p of got)
      for (const b of [p.key, p.value]) {
        assert.ok(Buffer.isBuffer(b) && b instanceof Buffer);
        assert.equal(b.constructor, Buffer);
        assert.equal(b.buffer, data.buffer);
      }
    assert.equal(got[1].value.byteOffset, data.byteOffset + 6);
    assert.ok(Buffer.isBuffer(got[0].key.subarray(1)));
    assert.equal(got[0].key.toString('hex'), '6b31');
  });

  it('makes values in order, null for none, empty ones included', () => {
    const data = Buffer.from('v1v333');
    const got = binding.kvValues([data, new Uint32Array([2, 0xffffffff, 0, 4]), true]);
    assert.deepEqual(got.map((v) => (v === null ? null : v.toString())), ['v1', null, '', 'v333']);
    assert.equal(got[3].buffer, data.buffer);
    assert.equal(got[3].byteOffset, data.byteOffset + 2);
    assert.deepEqual(binding.kvValues([Buffer.alloc(0), new Uint32Array(0), true]), []);
    assert.throws(() => binding.kvValues([null]), RangeError);
  });

  it('has a Buffer class of its own where Node exposes none', () => {
    for (const species of [null, Uint8Array]) {
      const View = binding.bufferViewClass(species);
      assert.notEqual(View, Buffer[Symbol.species]);
      const ab = new ArrayBuffer(8);
      new Uint8Array(ab).set([1, 2, 3, 4, 5, 6, 7, 8]);
      const b = new View(ab, 2, 3);
      assert.ok(Buffer.isBuffer(b));
      assert.equal(b.constructor, Buffer);
      assert.deepEqual([...b], [3, 4, 5]);
      assert.equal(b.readUInt16BE(0), 0x0304);
      assert.ok(Buffer.isBuffer(b.subarray(1)));
      assert.ok(b.equals(Buffer.from([3, 4, 5])));
    }
  });
});

describe('key/value results against a mock cluster', { timeout: 60000 }, () => {
  let c;
  it('a burst of large results has their reactions run between them (a microtask checkpoint)', async () => {
    const keys = [];
    for (let i = 0; i < 1100; i++) keys.push(`burst/${String(i).padStart(4, '0')}`); // > CHECKPOINT_PAIRS
    await c.client.batchPut(keys.map((k) => [k, 'v']));
    const before = binding.stats();
    const seenAt = [];
    const done = [0, 1].map(() => c.client.batchGetValues(keys).then((vs) => seenAt.push([vs.length, binding.stats().delivered])));
    // both completions queue while this thread is busy, so one wakeup delivers both
    const until = Date.now() + 20000;
    while (binding.stats().queued < 2 && Date.now() < until);
    assert.equal(binding.stats().queued, 2);
    await Promise.all(done);
    assert.deepEqual(seenAt, [[1100, before.delivered + 1], [1100, before.delivered + 2]]);
    assert.equal(binding.stats().checkpoints, before.checkpoints + 1);
  });

  it('a finished operation\'s entry lets go of its promise, result and client', async () => {
    // a deleted Map entry stays reachable from the Map's table for a while:
    // holding resolve there kept every result alive through young GCs
    const seen = [];
    const set = binding.pending.set;
    binding.pending.set = function (id, entry) {
      seen.push(entry);
      return set.call(this, id, entry);
    };
    try {
      await c.client.put('held', 'v');
      assert.deepEqual((await c.client.batchGetValues(['held'])).map(String), ['v']);
    } finally {
      binding.pending.set = set;
    }
    assert.ok(seen.length >= 2);
    for (const e of seen) assert.deepEqual([e.resolve, e.reject, e.transform, e.owner], [undefined, undefined, undefined, undefined]);
  });
  const N = 300;
  before(async () => {
    c = await startCluster({ stores: 3, regions: 8 });
    const pairs = [];
    for (let i = 0; i < N; i++) pairs.push([keyOf(i), valueOf(i)]);
    await c.client.batchPut(pairs);
  });
  after(async () => {
    await c.stop();
  });

  it('batchGet: correct, independent Buffers over one backing store', async () => {
    const idx = [];
    for (let i = 0; i < N; i += 3) idx.push(i);
    const got = await c.client.batchGet(idx.map(keyOf).concat(['kvr/missing']));
    got.sort((a, b) => Buffer.compare(a.key, b.key));
    assertPairs(got, idx);
    assertIndependent(got);
    // and the server's copy is untouched
    assertPairs(await c.client.batchGet([keyOf(0), keyOf(3)]), [0, 3]);
  });

  it('scan, reverse scan, key-only scan and batchScan', async () => {
    const all = [...Array(N).keys()];
    const got = await c.client.scan('kvr/', 'kvr0', { limit: N });
    assertPairs(got, all);
    assertIndependent(got);
    const rev = await c.client.scan('kvr/', 'kvr0', { limit: 10, reverse: true });
    assertPairs(rev, all.slice(-10).reverse());
    const keys = await c.client.scan('kvr/', 'kvr0', { limit: N, keyOnly: true });
    assertPairs(keys, all, { keyOnly: true });
    assert.ok(keys.every((p) => p.value.length === 0));
    const bs = await c.client.batchScan([[keyOf(10), keyOf(15)], [keyOf(200), keyOf(202)]]);
    assertPairs(bs, [10, 11, 12, 13, 14, 200, 201]);
    assertIndependent(bs);
    assert.deepEqual(await c.client.scan('kvr0', 'kvr1'), []);
  });

  it('many batch results in flight at once all arrive intact', async () => {
    const ops = [];
    for (let i = 0; i < 64; i++) {
      const idx = [i, i + 64, i + 128];
      ops.push(c.client.batchGet(idx.map(keyOf)).then((got) => {
        got.sort((a, b) => Buffer.compare(a.key, b.key));
        assertPairs(got, idx);
      }));
    }
    await Promise.all(ops);
  });
});

describe('transactional key/value results', { timeout: 60000 }, () => {
  let c;
  before(async () => {
    c = await startTxnCluster({ stores: 3, regions: 4 });
    const t = await c.client.begin();
    for (let i = 0; i < 20; i++) await t.put(keyOf(i), valueOf(i));
    await t.commit();
  });
  after(async () => {
    await c.stop();
  });

  it('batchGet, scan and batchGetForUpdate', async () => {
    const t = await c.client.begin({ pessimistic: true });
    const bg = await t.batchGet([keyOf(4), keyOf(1), keyOf(9)]);
    bg.sort((a, b) => Buffer.compare(a.key, b.key));
    assertPairs(bg, [1, 4, 9]);
    assertIndependent(bg);
    const sc = await t.scan(keyOf(0), keyOf(20));
    assertPairs(sc, [...Array(20).keys()]);
    const gf = await t.batchGetForUpdate([keyOf(2), keyOf(3)]);
    gf.sort((a, b) => Buffer.compare(a.key, b.key));
    assertPairs(gf, [2, 3]);
    assertIndependent(gf);
    await t.rollback();
    // writing into results changed nothing stored
    const snap = await c.client.snapshot();
    assert.deepEqual(await snap.get(keyOf(2)), buf(valueOf(2)));
  });
});

const ROOT = path.join(__dirname, '..', '..');
const LIB = path.join(ROOT, 'lib');

function runChild(source, args = []) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', source, ...args], {
      env: { ...process.env, TIKV_LIB: LIB },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

// build-c/tikv-mock-server (npm run build:c builds it): PD address and process
function startMockServer() {
  return new Promise((resolve, reject) => {
    const p = spawn(path.join(ROOT, 'build-c', 'tikv-mock-server'), ['--stores', '3', '--regions', '8'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    p.on('error', reject);
    p.on('exit', (code) => reject(new Error(`tikv-mock-server exited (${code})`)));
    p.stdout.on('data', (d) => {
      out += d;
      const m = /^PD (\S+)$/m.exec(out);
      if (m) resolve({ proc: p, pd: m[1] });
    });
  });
}

describe('process lifetime with batch results', { timeout: 60000 }, () => {
  it('exits on its own after close(), with batch reads in flight at close', async () => {
    const source = `
const { RawClient } = require(process.env.TIKV_LIB);
const { MockCluster } = require(process.env.TIKV_LIB + '/mock');
(async () => {
  const mock = await MockCluster.start();
  const c = await RawClient.connect(mock.pdEndpoints);
  await c.batchPut([['a', '1'], ['b', '22']]);
  const got = await c.batchGet(['a', 'b']);
  console.log(got.map((p) => p.key + '=' + p.value).sort().join(','));
  const sc = await c.scan('a', null, { keyOnly: true });
  console.log(sc.map((p) => p.key + ':' + p.value.length).join(','));
  // in flight at close: they complete with CLOSED on the stopping I/O thread
  mock.setLatency('RawBatchGet', 2000);
  const late = [];
  for (let i = 0; i < 32; i++) late.push(c.batchGet(['a', 'b']).then(() => 'ok', (e) => e.code));
  await new Promise((r) => setTimeout(r, 50));
  await c.close();
  console.log([...new Set(await Promise.all(late))].join());
  await mock.stop();
  console.log('done');
})();`;
    const r = await runChild(source);
    assert.equal(r.signal, null, `killed: ${r.err}`);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'a=1,b=22\na:0,b:0\nCLOSED\ndone\n');
  });

  // With the mock in this process, the mock's own I/O threads run the idle
  // hook too and happen to wake JS. With a mock server in another process the
  // client's I/O thread is the only one: the CLOSED completions it queues
  // while stopping (when it runs no idle hook) must still reach JS.
  it('against a mock server process: operations in flight at close() settle, then the process exits', async () => {
    const server = await startMockServer();
    try {
      const source = `
const { RawClient } = require(process.env.TIKV_LIB);
(async () => {
  const c = await RawClient.connect([process.argv[1]]);
  await c.batchPut([['a', '1'], ['b', '22']]);
  for (let round = 0; round < 5; round++) {
    const late = [];
    for (let i = 0; i < 64; i++) late.push(c.batchGet(['a', 'b']).then(() => 'ok', (e) => e.code));
    await new Promise((r) => setImmediate(r));
    if (round === 4) await c.close();
    const codes = new Set(await Promise.all(late));
    if (round < 4 && (codes.size !== 1 || !codes.has('ok'))) throw new Error([...codes].join());
    if (round === 4 && ![...codes].every((x) => x === 'ok' || x === 'CLOSED')) throw new Error([...codes].join());
  }
  console.log('done');
})();`;
      const r = await runChild(source, [server.pd]);
      assert.equal(r.signal, null, `killed (hung): ${r.err}`);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, 'done\n');
    } finally {
      server.proc.removeAllListeners('exit');
      server.proc.kill('SIGTERM');
    }
  });
});
