#!/usr/bin/env node
'use strict';
// The Node benchmark driver: the twin of bench/driver.c, through the package's
// public API (RawClient, TransactionClient), so that the Node/C ratio measures
// what the addon and the JS layer cost. Same flags, same workloads, same keys
// ("bench/%08lu" of glibc's rand_r with seed 1234 + worker, modulo --keys),
// same value bytes ('v' x value-size), same measurement: `inflight` workers,
// each completion starting the worker's next operation, for a fixed time, then
// the operations in flight are drained; latency per operation (per whole
// transaction for txn) with process.hrtime.bigint. Prints one JSON line, the
// C driver's fields plus "driver":"node" and the bridge's wakeup counts.
//
//   node bench/driver.js --pd HOST:PORT --op get|put|batchget|txn --inflight N
//                        --value-size B --seconds S [--keys N] [--txn-keys K] [--pessimistic]
const path = require('path');

const usage = 'usage: node bench/driver.js --pd HOST:PORT --op get|put|batchget|txn ...';

function parseArgs(argv) {
  const O = { pd: null, op: 'get', inflight: 1, valueSize: 16, keys: 10000, txnKeys: 1, pessimistic: false, seconds: 3.0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = i + 1 < argv.length ? argv[i + 1] : '';
    // atoi/atof like the C driver: garbage reads as 0 and fails the checks below
    const int = () => (i++, parseInt(v, 10) || 0);
    if (a === '--pd') (O.pd = v), i++;
    else if (a === '--op') (O.op = v), i++;
    else if (a === '--inflight') O.inflight = int();
    else if (a === '--value-size') O.valueSize = int();
    else if (a === '--seconds') (O.seconds = parseFloat(v) || 0), i++;
    else if (a === '--keys') O.keys = int();
    else if (a === '--txn-keys') O.txnKeys = int();
    else if (a === '--pessimistic') O.pessimistic = true;
    else {
      process.stderr.write(`unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!O.pd || O.inflight < 1 || O.valueSize < 1 || !['get', 'put', 'batchget', 'txn'].includes(O.op) || O.keys < 1) {
    process.stderr.write(usage + '\n');
    process.exit(2);
  }
  return O;
}

/** glibc's rand_r, bit for bit: the C driver's key sequence. */
function randR(w) {
  let next = w.seed;
  next = (Math.imul(next, 1103515245) + 12345) >>> 0;
  let result = ((next >>> 16) % 2048) >>> 0;
  next = (Math.imul(next, 1103515245) + 12345) >>> 0;
  result = ((result << 10) ^ ((next >>> 16) % 1024)) >>> 0;
  next = (Math.imul(next, 1103515245) + 12345) >>> 0;
  result = ((result << 10) ^ ((next >>> 16) % 1024)) >>> 0;
  w.seed = next;
  return result; // < 2^31
}

function main() {
  const O = parseArgs(process.argv.slice(2));
  const root = path.join(__dirname, '..');
  const tikv = require(root);
  const binding = require(path.join(root, 'lib', 'native'));

  const keyOf = (i) => 'bench/' + String(i % O.keys).padStart(8, '0');
  const value = Buffer.alloc(O.valueSize, 'v');

  let lat = new Float64Array(1 << 16);
  let nLat = 0;
  let errors = 0;
  let stopping = false;
  let active = 0;
  let batchKeys = null;
  let client;
  let t0;
  let stats0;

  function record(ms) {
    if (nLat === lat.length) {
      const bigger = new Float64Array(lat.length * 2);
      bigger.set(lat);
      lat = bigger;
    }
    lat[nLat++] = ms;
  }

  function error(e) {
    errors++;
    if (errors < 5) process.stderr.write(`error: ${e && e.code ? e.code : e}\n`);
  }

  const msSince = (t) => Number(process.hrtime.bigint() - t) / 1e6;

  // ---- raw get / put / batch get: one operation per turn ----
  function rawWorker(i) {
    const w = { seed: 1234 + i, t0: 0n, ok: null, fail: null };
    w.ok = () => rawDone(w);
    w.fail = (e) => {
      error(e);
      rawDone(w);
    };
    return w;
  }

  function rawSubmit(w) {
    w.t0 = process.hrtime.bigint();
    let p;
    if (O.op === 'get') p = client.get(keyOf(randR(w)));
    else if (O.op === 'put') p = client.put(keyOf(randR(w)), value);
    else p = client.batchGet(batchKeys);
    p.then(w.ok, w.fail);
  }

  function rawDone(w) {
    // like the C driver, failed operations count in the latencies too
    record(msSince(w.t0));
    if (stopping) finishWorker();
    else rawSubmit(w);
  }

  // ---- transactions: begin -> put x K -> commit ----
  async function txnWorker(i) {
    const w = { seed: 1234 + i };
    const opts = { pessimistic: O.pessimistic, lockWaitTimeoutMs: 20000 }; // tikv_txn_options_init's default
    for (;;) {
      const start = process.hrtime.bigint();
      let txn = null;
      try {
        txn = await client.begin(opts);
        for (let k = 0; k < O.txnKeys; k++) await txn.put(keyOf(randR(w)), value);
        await txn.commit();
        record(msSince(start));
      } catch (e) {
        error(e);
        // the C driver frees the transaction, which rolls it back in the background
        if (txn && !txn.finished) txn.rollback().catch(() => {});
      }
      if (stopping) return finishWorker();
    }
  }

  function finishWorker() {
    if (--active > 0) return;
    const elapsed = msSince(t0) / 1000;
    const stats1 = binding.stats();
    const sorted = lat.subarray(0, nLat).sort();
    const p50 = nLat ? sorted[Math.floor(nLat / 2)] : 0;
    const p99 = nLat ? sorted[Math.floor(nLat * 0.99)] : 0;
    const delivered = stats1.delivered - stats0.delivered;
    const wakeups = stats1.wakeups - stats0.wakeups;
    const out = {
      driver: 'node',
      op: O.op,
      inflight: O.inflight,
      valueSize: O.valueSize,
      txnKeys: O.txnKeys,
      pessimistic: O.pessimistic,
      ops: nLat,
      seconds: +elapsed.toFixed(3),
      opsPerSec: +(nLat / elapsed).toFixed(1),
      p50Ms: +p50.toFixed(3),
      p99Ms: +p99.toFixed(3),
      errors,
      completions: delivered,
      wakeups,
      completionsPerWakeup: wakeups ? +(delivered / wakeups).toFixed(2) : 0,
    };
    process.stdout.write(JSON.stringify(out) + '\n');
    Promise.resolve(client.close()).then(() => {
      process.exitCode = errors ? 1 : 0;
    });
  }

  async function run() {
    if (O.op === 'txn') {
      if (typeof tikv.TransactionClient !== 'function') {
        process.stderr.write('transactions are not available in this build of the package (no TransactionClient)\n');
        process.exit(3);
      }
      client = await tikv.TransactionClient.connect([O.pd]);
    } else {
      client = await tikv.RawClient.connect([O.pd]);
    }
    // load the keys the reads will hit (outside the measurement), as the C driver does
    if (O.op === 'get' || O.op === 'batchget') {
      const chunk = 500;
      for (let i = 0; i < O.keys; i += chunk) {
        const n = Math.min(chunk, O.keys - i);
        const pairs = new Array(n);
        for (let j = 0; j < n; j++) pairs[j] = [keyOf(i + j), value];
        await client.batchPut(pairs);
      }
    }
    if (O.op === 'batchget') {
      // the same 1,000 keys as the C driver, converted once, as a C caller holds its slices
      batchKeys = new Array(1000);
      for (let i = 0; i < 1000; i++) batchKeys[i] = Buffer.from(keyOf(i * 7));
    }
    stats0 = binding.stats();
    t0 = process.hrtime.bigint();
    active = O.inflight;
    for (let i = 0; i < O.inflight; i++) {
      if (O.op === 'txn') txnWorker(i);
      else rawSubmit(rawWorker(i));
    }
    setTimeout(() => {
      stopping = true;
    }, O.seconds * 1000);
  }

  run().catch((e) => {
    process.stderr.write(`${O.op === 'txn' ? 'connect' : 'connect/load'}: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}

if (require.main === module) main();
module.exports = { randR };
