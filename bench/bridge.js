#!/usr/bin/env node
'use strict';
// The addon's own cost, without the network: how long one call into the
// addon takes, and one completion's trip back to JS, on the package at
// --package (default: this one), so that two builds (e.g. the V8 bridge of
// an older checkout and the Node-API one) can be compared in one sitting.
//
//   node bench/bridge.js [--package DIR] [--seconds S]
//
// Rows (each the best of 3 runs of S seconds, default 1):
//   call u64   addon.tikv_client_cluster_id(handle): the wrapper, a handle
//              check and a BigInt result around a C getter; nothing else
//   call put   addon.tikv_txn_put(handle, key, value) on an optimistic
//              transaction: the wrapper, its argument conversions (a handle
//              check and two Buffers) and a buffered write in C (which
//              posts the write to the I/O thread); the future completes
//              inside the call, so nothing comes back across threads
//   trip @1    await addon get of a key the transaction buffered: the call,
//              a future completed on a C thread, one wakeup of the JS thread,
//              the result converted (a Buffer) and dispatched; one at a time
//   trip @256  the same with 256 in flight: what one completion costs when
//              wakeups are shared
// Prints one JSON line per row: {row, ns_per_op, ops}.
const path = require('path');

function parseArgs(argv) {
  const o = { pkg: path.join(__dirname, '..'), seconds: 1 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--package') o.pkg = path.resolve(argv[++i]);
    else if (argv[i] === '--seconds') o.seconds = Number(argv[++i]);
    else {
      process.stderr.write('usage: node bench/bridge.js [--package DIR] [--seconds S]\n');
      process.exit(2);
    }
  }
  return o;
}

async function best(seconds, body) {
  let bestNs = Infinity;
  let ops = 0;
  for (let r = 0; r < 3; r++) {
    const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
    const t0 = process.hrtime.bigint();
    let n = 0;
    let t = t0;
    while (t < end) {
      n += await body();
      t = process.hrtime.bigint();
    }
    const ns = Number(t - t0) / n;
    if (ns < bestNs) (bestNs = ns), (ops = n);
  }
  return { ns_per_op: Math.round(bestNs), ops };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const binding = require(path.join(o.pkg, 'lib', 'native'));
  const { MockCluster } = require(path.join(o.pkg, 'lib', 'mock'));
  const { addon, track, openClient } = binding;
  const mock = await MockCluster.start({ stores: 1, regions: 1 });
  const client = await openClient(mock.pdEndpoints, 10000, 'default', false);
  const txn = addon.tikvjs_txn_new(client, 0, 0, 0, -1, 0n, 0);
  await track(addon.tikv_txn_begin(txn, undefined));
  const key = Buffer.from('bench/bridge/key');
  const value = Buffer.alloc(16, 'v');
  if (addon.tikv_txn_put(txn, key, value, undefined) !== 0) throw new Error('an optimistic put no longer completes inside the call');

  const rows = [];
  rows.push({
    row: 'call u64',
    ...(await best(o.seconds, () => {
      for (let i = 0; i < 1000; i++) addon.tikv_client_cluster_id(client);
      return 1000;
    })),
  });
  rows.push({
    row: 'call put',
    ...(await best(o.seconds, () => {
      for (let i = 0; i < 1000; i++) addon.tikv_txn_put(txn, key, value, undefined);
      return 1000;
    })),
  });
  rows.push({
    row: 'trip @1',
    ...(await best(o.seconds, async () => {
      for (let i = 0; i < 100; i++) await track(addon.tikv_txn_get(txn, key, undefined));
      return 100;
    })),
  });
  rows.push({
    row: 'trip @256',
    ...(await best(o.seconds, async () => {
      const ps = new Array(256);
      for (let i = 0; i < 256; i++) ps[i] = track(addon.tikv_txn_get(txn, key, undefined));
      await Promise.all(ps);
      return 256;
    })),
  });
  const got = await track(addon.tikv_txn_get(txn, key, undefined));
  if (!value.equals(got)) throw new Error('the buffered value did not come back');
  addon.freeTxn(txn);
  addon.closeClient(client);
  await mock.stop();
  for (const r of rows) process.stdout.write(JSON.stringify({ package: o.pkg, node: process.version, ...r }) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
