'use strict';
// The process exits by itself once its work is done: the addon keeps the
// event loop alive only while operations are in flight.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');

const LIB = path.join(__dirname, '..', '..', 'lib');

function runChild(source, timeoutMs = 20000, nodeArgs = []) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [...nodeArgs, '-e', source], {
      env: { ...process.env, TIKV_LIB: LIB },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, ms: Date.now() - t0 });
    });
  });
}

const PRELUDE = `
const { RawClient } = require(process.env.TIKV_LIB);
const { MockCluster } = require(process.env.TIKV_LIB + '/mock');
`;

describe('process lifetime', { timeout: 90000 }, () => {
  it('exits on its own after close()', async () => {
    const r = await runChild(`${PRELUDE}
(async () => {
  const mock = await MockCluster.start();
  const c = await RawClient.connect(mock.pdEndpoints);
  await c.put('a', 'b');
  console.log((await c.get('a')).toString());
  await c.close();
  await mock.stop();
  console.log('done');
})();`);
    assert.equal(r.signal, null, `killed: ${r.err}`);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'b\ndone\n');
    assert.ok(r.ms < 15000);
  });

  it('exits on its own when the client and the mock are left open (cleanup at exit)', async () => {
    const r = await runChild(`${PRELUDE}
(async () => {
  const mock = await MockCluster.start();
  const c = await RawClient.connect(mock.pdEndpoints);
  await c.put('a', 'b');
  console.log('done');
})();`);
    assert.equal(r.signal, null, `killed: ${r.err}`);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'done\n');
  });

  it('stays alive while operations are in flight, and exits after', async () => {
    const r = await runChild(`${PRELUDE}
(async () => {
  const mock = await MockCluster.start();
  const c = await RawClient.connect(mock.pdEndpoints);
  mock.setLatency('RawGet', 300);
  // no timer, no await keeps the loop alive: only the in-flight get does
  c.get('x').then((v) => { console.log('got', v); c.close(); mock.stop(); });
})();`);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'got null\n');
    assert.ok(r.ms >= 300);
  });

  it('exits when close() races operations in flight', async () => {
    const r = await runChild(`${PRELUDE}
(async () => {
  const mock = await MockCluster.start();
  const c = await RawClient.connect(mock.pdEndpoints);
  await c.put('warm', 'up'); // region cached: the puts below go straight to the store
  mock.setLatency('*', 200);
  const ps = [];
  for (let i = 0; i < 100; i++) ps.push(c.put('k' + i, 'v').catch((e) => e.code));
  c.close();
  const res = await Promise.all(ps);
  console.log(res.every((x) => x === 'CLOSED') ? 'all closed' : JSON.stringify(res));
})();`);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'all closed\n');
  });

  it('a client dropped with operations in flight is kept until they complete, then finalized', async () => {
    const r = await runChild(
      `${PRELUDE}
const binding = require(process.env.TIKV_LIB + '/native');
(async () => {
  const mock = await MockCluster.start();
  async function start() {
    const c = await RawClient.connect(mock.pdEndpoints);
    await c.put('k', 'v');
    mock.setLatency('RawGet', 200);
    return [c.get('k')]; // no reference to the client is left but the operation's
  }
  let [p] = await start();
  await new Promise((r) => setImmediate(r));
  global.gc();
  const v = await p;
  console.log('got', v.toString(), 'clients', binding.stats().clients);
  p = null;
  for (let i = 0; i < 20 && binding.stats().clients > 0; i++) {
    global.gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log('clients', binding.stats().clients);
  await mock.stop();
})();`,
      20000,
      ['--expose-gc']
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'got v clients 1\nclients 0\n');
  });

  it('close() during a cold start (region lookup in flight) rejects the operations with CLOSED', async () => {
    const r = await runChild(`${PRELUDE}
(async () => {
  const mock = await MockCluster.start();
  const c = await RawClient.connect(mock.pdEndpoints);
  mock.setLatency('*', 200);
  const ps = [];
  for (let i = 0; i < 5; i++) ps.push(c.put('k' + i, 'v').then(() => 'ok', (e) => e.code));
  c.close();
  console.log(JSON.stringify(await Promise.all(ps)));
})();`);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, JSON.stringify(Array(5).fill('CLOSED')) + '\n');
    assert.ok(r.ms < 10000);
  });
});
