'use strict';
// Per-call options: every operation takes {timeoutMs, signal} (raw ones also
// columnFamily). timeoutMs replaces the client's deadline for that call;
// aborting the signal cancels the operation's gRPC calls in flight (a
// delayed write the mock was holding is never applied) and rejects with an
// AbortError (code ABORTED), except a commit whose primary may already be
// committed (UNDETERMINED).
const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { getEventListeners } = require('node:events');
const { binding, buf, RawClient, TransactionClient, TikvError, MockCluster } = require('./helpers');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function isAbort(e) {
  assert.ok(e instanceof TikvError, `a TikvError, got ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
  assert.equal(e.name, 'AbortError');
  assert.equal(e.code, 'ABORTED');
  assert.equal(e.retryable, false);
  return true;
}

function isCode(code) {
  return (e) => {
    assert.ok(e instanceof TikvError, `expected ${code}, got ${e && e.message}`);
    assert.equal(e.code, code, e.message);
    return true;
  };
}

// A counter of method's calls (pd: PD's) read now, before the operation is
// submitted: abortAfter(ac, n) aborts `ac` once the mock has received n more,
// so that the abort finds the call in flight (held by the mock's latency).
// Read after submitting, the count could already include the call.
function calls(mock, method, pd = false) {
  const count = () => (pd ? mock.pdCallCount(method) : mock.callCount(method));
  const before = count();
  return {
    async abortAfter(ac, n = 1) {
      while (count() < before + n) await sleep(5);
      ac.abort(new Error('caller gave up'));
    },
  };
}

describe('per-call deadlines, cancellation and column families', { timeout: 60000 }, () => {
  let mock;
  let raw;
  let tc;
  before(async () => {
    mock = await MockCluster.start({ stores: 3, regions: 4 });
    // long client-wide deadlines: only the per-call ones can end these calls early
    raw = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 30000, attemptTimeoutMs: 30000 });
    tc = await TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 30000, attemptTimeoutMs: 30000 });
  });
  afterEach(() => mock.clearFaults());
  after(async () => {
    await Promise.all([raw.close(), tc.close()]);
    await mock.stop();
  });

  it('timeoutMs is the call deadline: a slow read fails with TIMEOUT, the next call has the client default', async () => {
    await raw.put('to/k', 'v');
    mock.setLatency('RawGet', 1500);
    await assert.rejects(raw.get('to/k', { timeoutMs: 200 }), isCode('TIMEOUT'));
    // without the option the client's 30 s apply: the same read waits it out
    assert.equal((await raw.get('to/k')).toString(), 'v');
    mock.setLatency('KvGet', 1500);
    const txn = await tc.begin();
    await assert.rejects(txn.get('to/t', { timeoutMs: 200 }), isCode('TIMEOUT'));
    assert.equal(await txn.get('to/t'), null);
    await txn.rollback();
  });

  it('aborting cancels the RPC in flight: the held write is never applied (unary calls)', async () => {
    const unary = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 30000, attemptTimeoutMs: 30000, batchCommands: false });
    try {
      mock.setLatency('RawPut', 800);
      const ac = new AbortController();
      const sent = calls(mock, 'RawPut');
      const p = unary.put('ab/k', 'v', { signal: ac.signal });
      await sent.abortAfter(ac);
      await assert.rejects(p, isAbort);
      mock.clearFaults();
      // past the latency the mock would have applied the put, had the call
      // still been open
      await sleep(1000);
      assert.equal(await unary.get('ab/k'), null);
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'the listener is gone once settled');
    } finally {
      await unary.close();
    }
  });

  it('aborting a request inside a BatchCommands stream rejects it at once; the stream serves on', async () => {
    await raw.put('ab/b', 'v');
    mock.setLatency('RawGet', 800);
    const ac = new AbortController();
    const sent = calls(mock, 'RawGet');
    const slow = raw.get('ab/b');
    const p = raw.get('ab/b', { signal: ac.signal });
    await sent.abortAfter(ac, 2);
    await assert.rejects(p, isAbort);
    assert.equal((await slow).toString(), 'v', 'the other request on the stream is answered');
    assert.equal(raw.stats().tikvTransport, 0, 'a cancel is no store failure');
  });

  it('an already aborted signal rejects at once and sends nothing', async () => {
    const ac = new AbortController();
    const reason = new Error('stop');
    ac.abort(reason);
    const before = { submitted: binding.stats().submitted, stores: mock.callCount('*') };
    for (const p of [
      raw.get('x', { signal: ac.signal }),
      raw.batchPut([['x', 'y']], { signal: ac.signal }),
      tc.currentTimestamp({ signal: ac.signal }),
      tc.begin({ signal: ac.signal }),
      tc.transaction(() => assert.fail('fn must not run'), { signal: ac.signal }),
    ]) {
      await assert.rejects(p, (e) => isAbort(e) && (e.cause === reason || e.cause === undefined));
    }
    assert.deepEqual({ submitted: binding.stats().submitted, stores: mock.callCount('*') }, before);
  });

  it('a settled operation ignores a later abort and leaves no listener', async () => {
    const ac = new AbortController();
    await raw.put('ok/k', 'v', { signal: ac.signal });
    assert.equal((await raw.get('ok/k', { signal: ac.signal })).toString(), 'v');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    ac.abort();
    assert.equal((await raw.get('ok/k')).toString(), 'v');
  });

  it('aborting ends retries and backoff (a store failing every call) and a wait for a PD timestamp', async () => {
    mock.injectGrpcError('RawGet', 14, { count: 100000 });
    const ac = new AbortController();
    const sent1 = calls(mock, 'RawGet');
    const p = raw.get('rt/k', { signal: ac.signal });
    await sent1.abortAfter(ac, 3);
    await assert.rejects(p, isAbort);
    mock.clearFaults();

    mock.pausePd(true);
    try {
      const ac2 = new AbortController();
      const sent2 = calls(mock, 'Tso', true);
      const q = tc.currentTimestamp({ signal: ac2.signal });
      await sent2.abortAfter(ac2);
      await assert.rejects(q, isAbort);
    } finally {
      mock.pausePd(false);
    }
    assert.equal(typeof (await tc.currentTimestamp()), 'bigint', 'the Tso stream still serves others');
  });

  it('a commit aborted during prewrite is ABORTED and rolled back; after the primary was sent it is UNDETERMINED', async () => {
    mock.setLatency('KvPrewrite', 800);
    let txn = await tc.begin();
    await txn.put('cm/a', '1');
    const ac = new AbortController();
    const sent3 = calls(mock, 'KvPrewrite');
    let p = txn.commit({ signal: ac.signal });
    await sent3.abortAfter(ac);
    await assert.rejects(p, isAbort);
    assert.equal(txn.state, 'commitFailed');
    mock.clearFaults();
    await sleep(1000);
    const snap = await tc.snapshot();
    assert.equal(await snap.get('cm/a'), null, 'nothing was committed');

    mock.setLatency('KvCommit', 800);
    txn = await tc.begin();
    await txn.put('cm/b', '2');
    const ac2 = new AbortController();
    const sent4 = calls(mock, 'KvCommit');
    p = txn.commit({ signal: ac2.signal });
    await sent4.abortAfter(ac2);
    await assert.rejects(p, isCode('UNDETERMINED'));
  });

  it('transaction() passes timeoutMs and signal to begin and commit, and an abort is not retried', async () => {
    let runs = 0;
    mock.setLatency('KvPrewrite', 800);
    const ac = new AbortController();
    const sent = calls(mock, 'KvPrewrite');
    const p = tc.transaction(
      async (t) => {
        runs++;
        await t.put('tr/k', 'v');
      },
      { signal: ac.signal }
    );
    await sent.abortAfter(ac);
    await assert.rejects(p, isAbort);
    assert.equal(runs, 1);
    mock.clearFaults();
    // a commit that times out in prewrite is rolled back: fn may run again,
    // but not with retries: 0
    mock.setLatency('KvPrewrite', 1500);
    runs = 0;
    await assert.rejects(
      tc.transaction(
        async (t) => {
          runs++;
          await t.put('tr/k', 'v');
        },
        { timeoutMs: 300, retries: 0 }
      ),
      isCode('TIMEOUT')
    );
    assert.equal(runs, 1);
  });

  it('columnFamily per call: the pair lives in the family named, the client default elsewhere', async () => {
    await raw.put('cf/k', 'w', { columnFamily: 'write' });
    assert.equal(await raw.get('cf/k'), null);
    assert.equal((await raw.get('cf/k', { columnFamily: 'write' })).toString(), 'w');
    assert.deepEqual(
      (await raw.scan('cf/', 'cf0', { columnFamily: 'write' })).map((kv) => kv.key.toString()),
      ['cf/k']
    );
    await raw.batchPut([['cf/l', 'x']], { columnFamily: 'lock' });
    assert.equal((await raw.batchGet(['cf/l', 'cf/k'], { columnFamily: 'lock' })).length, 1);
    await raw.deleteRange('cf/', 'cf0', { columnFamily: 'write' });
    assert.equal(await raw.get('cf/k', { columnFamily: 'write' }), null);
    assert.equal((await raw.get('cf/l', { columnFamily: 'lock' })).toString(), 'x');
  });

  it('connect takes a signal: aborting a connect that waits for PD rejects with an AbortError', async () => {
    mock.pausePd(true);
    try {
      for (const Client of [RawClient, TransactionClient]) {
        const clients = binding.stats().clients;
        const ac = new AbortController();
        const before = mock.pdCallCount('*');
        const p = Client.connect(mock.pdEndpoints, { signal: ac.signal });
        while (mock.pdCallCount('*') === before) await sleep(5);
        ac.abort();
        await assert.rejects(p, isAbort);
        assert.equal(binding.stats().clients, clients, 'the half-connected client was closed');
      }
      const ac = new AbortController();
      ac.abort();
      await assert.rejects(RawClient.connect(mock.pdEndpoints, { signal: ac.signal }), isAbort);
      await assert.rejects(RawClient.connect(mock.pdEndpoints, { signal: 'x' }), TypeError);
    } finally {
      mock.pausePd(false);
    }
    const ac = new AbortController();
    const c = await RawClient.connect(mock.pdEndpoints, { signal: ac.signal });
    ac.abort(); // after connect: nothing to abort
    await c.put('cn/k', 'v');
    await c.close();
  });

  it('bad per-call options are TypeError / RangeError before anything is sent', async () => {
    const before = { submitted: binding.stats().submitted, stores: mock.callCount('*') };
    const cases = [
      [() => raw.get('k', { timeoutMs: 0 }), RangeError],
      [() => raw.get('k', { timeoutMs: 1.5 }), RangeError],
      [() => raw.get('k', { timeoutMs: '5' }), TypeError],
      [() => raw.get('k', { signal: {} }), TypeError],
      [() => raw.get('k', { signal: { aborted: false, addEventListener() {} } }), TypeError],
      [() => raw.get('k', { columnFamily: 'locks' }), RangeError],
      [() => raw.get('k', { columnFamily: 1 }), TypeError],
      [() => tc.currentTimestamp({ timeoutMs: -1 }), RangeError],
    ];
    for (const [run, type] of cases) {
      await assert.rejects(run(), (e) => {
        assert.equal(e.constructor, type, e.message);
        return true;
      });
    }
    assert.deepEqual({ submitted: binding.stats().submitted, stores: mock.callCount('*') }, before);
  });
});

describe('per-call column families under API v2', { timeout: 30000 }, () => {
  it("only 'default' may be named (a RangeError before sending)", async () => {
    const mock = await MockCluster.start({ apiVersion: 2 });
    const c = await RawClient.connect(mock.pdEndpoints, { apiVersion: 2 });
    try {
      await c.put('v2/k', 'v', { columnFamily: 'default' });
      assert.equal((await c.get('v2/k', { columnFamily: 'default' })).toString(), 'v');
      await assert.rejects(c.get('v2/k', { columnFamily: 'write' }), RangeError);
    } finally {
      await c.close();
      await mock.stop();
    }
  });
});
