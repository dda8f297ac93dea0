#!/usr/bin/env node
'use strict';
// The Node benchmark driver: bench/driver.c again, through the package's
// public API (RawClient, TransactionClient), with the same flags, workloads,
// measurement and JSON line as it and client-go's driver
// (../shared/peers/go-bench). See bench/README.md for the definitions.
//
//   node bench/driver.js --pd HOST:PORT --workload W --concurrency C [--value-size S]
//                        [--duration SECONDS] [--keys N] [--warmup SECONDS] [--cpu]
//                        [--server-pid PID] [--ops N] [--marks] [--batch-get values|pairs]
//   W: raw-get | raw-put | raw-batch-get-1000 | txn-commit-1 | txn-commit-10
//
// raw-batch-get-1000 calls batchGetValues (a value per key, client-go's
// BatchGet, and what the C driver calls); --batch-get pairs calls batchGet
// (the pairs found) instead.
//
// C workers each keep one operation in flight: each settled promise records
// the operation and starts the worker's next one. --ops N ends the window
// after N successful operations and adds the RSS samples (rss_*_kb), as in
// the C driver, and --marks the C driver's three marker system calls around
// each raw operation (process.getuid() before the call, getgid() after it
// returned, geteuid() when its promise's callback starts). When the addon reports its bridge counters, the line also has
// completions_per_wakeup (operations whose completion shared one wakeup of
// the JS thread).
const fs = require('fs');
const path = require('path');

const WARMUP = 0;
const MEASURE = 1;
const STOP = 2;
const BATCH_GET_KEYS = 1000;
const OP_TIMEOUT_MS = 10000; // client-go's driver: 10 s per operation
const MAX_ERROR_LOGS = 5;
const RSS_SAMPLES = 10;
const WORKLOADS = { 'raw-get': 0, 'raw-put': 0, 'raw-batch-get-1000': 0, 'txn-commit-1': 1, 'txn-commit-10': 10 };

function usage() {
  process.stderr.write(
    'usage: node bench/driver.js --pd HOST:PORT --workload raw-get|raw-put|raw-batch-get-1000|' +
      'txn-commit-1|txn-commit-10 --concurrency C [--value-size S] [--duration SECONDS] ' +
      '[--keys N] [--warmup SECONDS] [--cpu] [--server-pid PID] [--ops N] [--marks] [--batch-get values|pairs]\n'
  );
  process.exit(2);
}

function parseArgs(argv) {
  const O = { pd: null, workload: '', batchGet: 'values', batchCommands: true, concurrency: 1, valueSize: 16, duration: 5, keys: 10000, warmup: 1, cpu: false, serverPid: 0, ops: 0, marks: false };
  const num = { '--concurrency': 'concurrency', '--value-size': 'valueSize', '--duration': 'duration', '--keys': 'keys',
    '--warmup': 'warmup', '--server-pid': 'serverPid', '--ops': 'ops' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--cpu' || a === '--marks') {
      O[a.slice(2)] = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) usage();
    if (a === '--pd') O.pd = v;
    else if (a === '--workload') O.workload = v;
    else if (a === '--batch-commands' && (v === 'on' || v === 'off')) O.batchCommands = v === 'on';
    else if (a === '--batch-get' && (v === 'values' || v === 'pairs')) O.batchGet = v;
    else if (num[a]) O[num[a]] = Number(v);
    else usage();
  }
  const int = (x, min) => Number.isSafeInteger(x) && x >= min;
  if (!O.pd || !(O.workload in WORKLOADS) || !int(O.concurrency, 1) || !int(O.keys, 1) || !int(O.valueSize, 1) ||
      !(O.duration > 0) || !(O.warmup >= 0) || !int(O.ops, 0) || !int(O.serverPid, 0))
    usage();
  O.txnKeys = WORKLOADS[O.workload];
  return O;
}

/** mulberry32 (bench/driver.c has the same): a uniform index in [0, n), n < 2^31. */
function randIndex(w, n) {
  let t = (w.rng = (w.rng + 0x6d2b79f5) >>> 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  t = (t ^ (t >>> 14)) >>> 0;
  // (t * n) >> 32 exactly: t * n may pass 2^53, its two 16-bit halves do not
  const hi = (t >>> 16) * n;
  const lo = (t & 0xffff) * n;
  return Math.floor(hi / 65536) + Math.floor(((hi % 65536) * 65536 + lo) / 4294967296);
}

/** utime + stime of a process in clock ticks, as client-go's driver reads them; -1 when unreadable. */
function cpuTicks(pid) {
  try {
    const s = fs.readFileSync(pid ? `/proc/${pid}/stat` : '/proc/self/stat', 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch (_) {
    return -1;
  }
}

const round = (x, unit) => Math.floor(x / unit + 0.5) * unit;
const fixed = (x, digits) => Number(x.toFixed(digits));

/** Nearest rank, as client-go's driver computes it. */
function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const rank = Math.min(Math.max(Math.trunc((sorted.length * p) / 100 + 0.999999999), 1), sorted.length);
  return sorted[rank - 1];
}

function main() {
  const O = parseArgs(process.argv.slice(2));
  const root = path.join(__dirname, '..');
  const tikv = require(root);
  let binding = null;
  try {
    binding = require(path.join(root, 'lib', 'native'));
    if (typeof binding.stats !== 'function') binding = null;
  } catch (_) {
    binding = null;
  }

  const value = Buffer.alloc(O.valueSize, 'v');
  // "bench/%08d" of 0..keys-1, converted once, as a Go or C caller holds its byte slices
  const keyTable = new Array(O.keys);
  for (let i = 0; i < O.keys; i++) keyTable[i] = Buffer.from('bench/' + String(i).padStart(8, '0'));
  const batchN = Math.min(BATCH_GET_KEYS, O.keys);
  const txnN = Math.min(O.txnKeys, O.keys);

  let phase = WARMUP;
  let errors = 0;
  let succeeded = 0; // in the window, for --ops
  let active = O.concurrency;
  let client;
  let t0;
  let t1;
  let self0;
  let srv0;
  let self1;
  let srv1;
  let stats0;
  const rss = [];
  const lats = [];
  const countedLat = O.ops ? new Uint32Array(O.ops).fill(0xffffffff) : null;

  /** Every operation ends here: client-go's rules for what counts (see driver.c). */
  function opDone(w, err) {
    const us = Number((process.hrtime.bigint() - w.t0) / 1000n);
    if (err !== null && phase !== WARMUP) {
      if (++errors <= MAX_ERROR_LOGS) process.stderr.write(`driver.js: error: ${err && err.message ? err.message : err}\n`);
    } else if (err === null && phase === MEASURE) {
      if (O.ops) countSuccess(us);
      else w.lat.push(us);
    }
    if (phase === STOP) workerExit();
    else submit(w);
  }

  /** --ops: the latencies go to one array allocated and touched before the
   * window, so that the RSS samples show the client's memory, not ours. */
  function countSuccess(us) {
    if (succeeded === O.ops) return;
    const n = ++succeeded;
    countedLat[n - 1] = us;
    const tenth = Math.max(1, Math.floor(O.ops / RSS_SAMPLES));
    if (n % tenth === 0 && rss.length <= RSS_SAMPLES) rss.push(Math.round(process.memoryUsage.rss() / 1024));
    if (n === O.ops) endWindow();
  }

  function beginWindow() {
    self0 = cpuTicks(0);
    srv0 = O.serverPid ? cpuTicks(O.serverPid) : -1;
    if (O.ops) rss.push(Math.round(process.memoryUsage.rss() / 1024));
    if (binding) stats0 = binding.stats();
    t0 = process.hrtime.bigint();
    phase = MEASURE;
    if (!O.ops) setTimeout(endWindow, O.duration * 1000);
  }

  function endWindow() {
    phase = STOP;
    t1 = process.hrtime.bigint();
    self1 = cpuTicks(0);
    srv1 = O.serverPid ? cpuTicks(O.serverPid) : -1;
    if (O.ops) rss.push(Math.round(process.memoryUsage.rss() / 1024));
  }

  function submit(w) {
    w.t0 = process.hrtime.bigint();
    if (O.txnKeys) return void txnOp(w).then(w.ok, w.fail);
    const i = randIndex(w, O.keys);
    if (O.marks) process.getuid();
    if (O.workload === 'raw-get') client.get(keyTable[i]).then(w.gotValue, w.fail);
    else if (O.workload === 'raw-put') client.put(keyTable[i], value).then(w.ok, w.fail);
    else {
      for (let j = 0; j < batchN; j++) w.batch[j] = keyTable[(i + j) % O.keys];
      if (O.batchGet === 'values') client.batchGetValues(w.batch).then(w.gotValues, w.fail);
      else client.batchGet(w.batch).then(w.gotPairs, w.fail);
    }
    if (O.marks) process.getgid();
  }

  /** Optimistic, plain 2PC (as client-go's driver): begin, K puts on consecutive keys, commit. */
  async function txnOp(w) {
    const start = randIndex(w, O.keys);
    const txn = await client.begin({ pessimistic: false, asyncCommit: false, tryOnePc: false });
    try {
      for (let j = 0; j < txnN; j++) await txn.put(keyTable[(start + j) % O.keys], value);
      await txn.commit();
    } catch (e) {
      if (!txn.finished) txn.rollback().catch(() => {});
      throw e;
    }
  }

  function worker(i) {
    const w = { rng: (0x5eed0000 + i) >>> 0, t0: 0n, lat: [], batch: O.workload === 'raw-batch-get-1000' ? new Array(batchN) : null };
    w.ok = () => opDone(w, null);
    w.fail = (e) => opDone(w, e);
    w.gotValue = (v) => opDone(w, v === null ? 'raw-get: key not found' : null);
    w.gotPairs = (kvs) => opDone(w, kvs.length === batchN ? null : `raw-batch-get: ${kvs.length} of ${batchN} keys found`);
    w.gotValues = (vs) => {
      let found = 0; // counted as client-go's driver does
      for (let j = 0; j < vs.length; j++) if (vs[j] !== null) found++;
      opDone(w, found === batchN ? null : `raw-batch-get: ${found} of ${batchN} keys found`);
    };
    if (O.marks)
      for (const k of ['ok', 'fail', 'gotValue', 'gotPairs', 'gotValues']) {
        const f = w[k];
        w[k] = (x) => (process.geteuid(), f(x));
      }
    lats.push(w.lat);
    return w;
  }

  function workerExit() {
    if (--active > 0) return;
    const seconds = Number(t1 - t0) / 1e9;
    let all = countedLat ? countedLat.subarray(0, succeeded) : new Uint32Array(lats.reduce((n, l) => n + l.length, 0));
    if (!countedLat) {
      let k = 0;
      for (const l of lats) for (const us of l) all[k++] = us;
    }
    all = all.sort();
    const out = {
      client: 'node',
      workload: O.workload,
      concurrency: O.concurrency,
      value_size: O.valueSize,
      ops: all.length,
      seconds: fixed(round(seconds, 0.001), 3),
      ops_per_s: fixed(round(all.length / seconds, 0.1), 1),
      p50_us: percentile(all, 50),
      p99_us: percentile(all, 99),
      errors,
    };
    const pct = (ticks) => fixed(round((ticks / 100 / seconds) * 100, 0.1), 1);
    if (O.cpu) out.client_cpu_pct = pct(self1 - self0);
    if (srv0 >= 0 && srv1 >= 0) out.server_cpu_pct = pct(srv1 - srv0);
    if (O.ops) Object.assign(out, { rss_start_kb: rss[0], rss_end_kb: rss[rss.length - 1], rss_samples_kb: rss });
    if (binding) {
      const s = binding.stats();
      const wakeups = s.wakeups - stats0.wakeups;
      if (wakeups > 0) out.completions_per_wakeup = fixed((s.delivered - stats0.delivered) / wakeups, 2);
    }
    process.stdout.write(JSON.stringify(out) + '\n');
    Promise.resolve(client.close()).catch(() => {});
  }

  /** The keys the reads will find, in batch puts as client-go's driver sends them (not timed). */
  async function preload() {
    const chunk = Math.min(1000, Math.max(1, Math.floor(1000000 / (O.valueSize + 16))));
    for (let i = 0; i < O.keys; i += chunk) {
      const pairs = [];
      for (let j = i; j < Math.min(i + chunk, O.keys); j++) pairs.push([keyTable[j], value]);
      for (let attempt = 0; ; attempt++) {
        try {
          await client.batchPut(pairs);
          break;
        } catch (e) {
          if (attempt === 3) throw new Error(`preload failed: ${e.message}`);
          process.stderr.write(`driver.js: preload retry after error: ${e.message}\n`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
  }

  async function run() {
    const Client = O.txnKeys ? tikv.TransactionClient : tikv.RawClient;
    client = await Client.connect([O.pd], { timeoutMs: OP_TIMEOUT_MS, batchCommands: O.batchCommands });
    if (O.workload === 'raw-get' || O.workload === 'raw-batch-get-1000') await preload();
    for (let i = 0; i < O.concurrency; i++) submit(worker(i));
    setTimeout(beginWindow, O.warmup * 1000);
  }

  run().catch((e) => {
    process.stderr.write(`driver.js: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}

if (require.main === module) main();
module.exports = { randIndex, percentile };
