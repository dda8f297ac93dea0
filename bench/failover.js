#!/usr/bin/env node
'use strict';
// The failover benchmark: what a steady load sees when the cluster loses its
// PD leader, or a store. On an in-process mock (lib/mockcluster.js) with 3 PD
// members, 3 stores and 8 regions, --concurrency workers each keep one
// operation in flight — raw get, raw put or a 1-key optimistic transaction,
// by worker — for --duration seconds; at --fault-at seconds the fault hits:
//
//   run "pd-leader": the PD leader is killed (the next member leads after the
//                    PD election delay, PD's 3 s lease by default);
//   run "store":     the store leading most regions is killed (its regions
//                    elect leaders elsewhere after the raft election delay,
//                    TiKV's 10 s by default).
//
// It prints, per run, a table of each second (successful and failed
// operations, by kind, and the failures' codes) and one JSON line with the
// totals, the failures, the time from the fault to the first success (of an
// operation started after the fault; overall and by kind), and the election
// delay. Nothing is undone during a run: the dead member or store stays dead.
//
//   node bench/failover.js [--run pd-leader|store|both] [--duration S (20)] [--fault-at S (5)]
//                          [--concurrency C (32)] [--timeout-ms MS (client default)]
//                          [--pd-election-ms MS (3000)] [--raft-election-ms MS (10000)]
//   npm run bench:failover -- --run store
//
// See bench/README.md ("Failover") for what the numbers mean and a run.
const path = require('path');
const { RawClient, TransactionClient } = require(path.join(__dirname, '..', 'lib'));
const { MockCluster } = require(path.join(__dirname, '..', 'lib', 'mock'));

const KINDS = ['raw-get', 'raw-put', 'txn-1'];
const KEYS = 10000;
const VALUE = Buffer.alloc(16, 'v');

function fail(msg) {
  process.stderr.write(`failover.js: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { run: 'both', duration: 20, faultAt: 5, concurrency: 32, timeoutMs: 0, pdElectionMs: 3000, raftElectionMs: 10000 };
  const num = { '--duration': 'duration', '--fault-at': 'faultAt', '--concurrency': 'concurrency', '--timeout-ms': 'timeoutMs',
    '--pd-election-ms': 'pdElectionMs', '--raft-election-ms': 'raftElectionMs' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      const lines = require('fs').readFileSync(__filename, 'utf8').split('\n').slice(2);
      process.stdout.write(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    }
    if (i + 1 >= argv.length) fail(`${a} needs a value (see --help)`);
    const v = argv[++i];
    if (a === '--run') o.run = v;
    else if (num[a]) o[num[a]] = Number(v);
    else fail(`unknown argument ${a} (see --help)`);
  }
  if (!['pd-leader', 'store', 'both'].includes(o.run)) fail('--run is pd-leader, store or both');
  if (!(o.duration > 0) || !(o.faultAt >= 0) || o.faultAt >= o.duration) fail('--fault-at must be within --duration');
  for (const k of ['concurrency', 'pdElectionMs', 'raftElectionMs'])
    if (!Number.isSafeInteger(o[k]) || o[k] < 1) fail(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be a positive integer`);
  if (!Number.isSafeInteger(o.timeoutMs) || o.timeoutMs < 0) fail('--timeout-ms must be a non-negative integer');
  return o;
}

/** mulberry32, as bench/driver.js: a uniform index in [0, n). */
function randIndex(w, n) {
  let t = (w.rng = (w.rng + 0x6d2b79f5) >>> 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
}

const keyOf = (i) => Buffer.from(`bench/${String(i).padStart(8, '0')}`);

/** The store leading the region of the load's middle raw key (the load's keys are in few regions). */
function loadedStore(mock) {
  const id = mock.regionForKey(keyOf(KEYS / 2));
  return mock.regions().find((r) => r.id === id).leaderStore;
}

async function runOne(o, which) {
  const mock = await MockCluster.start({ stores: 3, regions: 8, pdMembers: 3, pdElectionMs: o.pdElectionMs, raftElectionMs: o.raftElectionMs });
  const copts = o.timeoutMs ? { timeoutMs: o.timeoutMs } : {};
  const raw = await RawClient.connect(mock.pdEndpoints, copts);
  const txn = await TransactionClient.connect(mock.pdEndpoints, copts);
  try {
    const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i));
    for (let i = 0; i < KEYS; i += 500) await raw.batchPut(keys.slice(i, i + 500).map((k) => [k, VALUE]));

    const seconds = Math.ceil(o.duration);
    const perSec = Array.from({ length: seconds }, () => ({ ok: Object.fromEntries(KINDS.map((k) => [k, 0])), failed: 0, codes: {} }));
    const total = { ok: 0, failed: 0, codes: {} };
    const firstOk = Object.fromEntries(KINDS.map((k) => [k, null])); // ms from the fault
    let lastFailure = null; // ms from the fault
    let faultAt = null; // ms since t0, once the fault hit
    let fault = '';
    const t0 = Date.now();
    const end = t0 + o.duration * 1000;

    const op = (kind, w) => {
      const k = keys[randIndex(w, KEYS)];
      if (kind === 'raw-get') return raw.get(k).then((v) => {
        if (v === null) throw new Error('a preloaded key was not found');
      });
      if (kind === 'raw-put') return raw.put(k, VALUE);
      return txn.transaction((t) => t.put(k, VALUE), { retries: 0 });
    };

    async function worker(i) {
      const w = { rng: (0x5eed0000 + i) >>> 0 };
      const kind = KINDS[i % KINDS.length];
      while (Date.now() < end) {
        const start = Date.now();
        let err = null;
        try {
          await op(kind, w);
        } catch (e) {
          err = e;
        }
        const now = Date.now();
        if (now >= end) break; // settled after the window: not counted
        const s = perSec[Math.floor((now - t0) / 1000)];
        if (err) {
          const code = err.code || err.name;
          s.failed++;
          s.codes[code] = (s.codes[code] || 0) + 1;
          total.failed++;
          total.codes[code] = (total.codes[code] || 0) + 1;
          if (faultAt !== null) lastFailure = now - t0 - faultAt;
          // a failure that comes at once would make this worker spin: pace it as a caller would
          if (now - start < 10) await new Promise((r) => setTimeout(r, 10));
        } else {
          s.ok[kind]++;
          total.ok++;
          if (faultAt !== null && start - t0 >= faultAt && firstOk[kind] === null) firstOk[kind] = now - t0 - faultAt;
        }
      }
    }

    const timer = setTimeout(() => {
      faultAt = Date.now() - t0;
      if (which === 'pd-leader') fault = `PD member ${mock.killPdLeader()} (the leader) killed`;
      else {
        const s = loadedStore(mock);
        const led = mock.regions().filter((r) => r.leaderStore === s).length;
        mock.setStoreDown(s, true);
        fault = `store ${s} (leading ${led} of 8 regions, the raw load's among them) killed`;
      }
    }, o.faultAt * 1000);
    const workers = Promise.all(Array.from({ length: o.concurrency }, (_, i) => worker(i)));
    // an operation still hanging a second after the window is not waited for: closing rejects it (CLOSED)
    await Promise.race([workers, new Promise((r) => setTimeout(r, end + 1000 - Date.now()))]);
    clearTimeout(timer);
    await txn.close();
    await raw.close();
    await workers;

    const oks = Object.values(firstOk).filter((v) => v !== null);
    return {
      run: which,
      fault,
      fault_at_ms: faultAt,
      election_ms: which === 'pd-leader' ? o.pdElectionMs : o.raftElectionMs,
      election: which === 'pd-leader' ? 'PD leader lease (pdElectionMs)' : 'raft election (raftElectionMs)',
      concurrency: o.concurrency,
      duration_s: o.duration,
      ok: total.ok,
      failed: total.failed,
      failed_by_code: total.codes,
      first_ok_after_fault_ms: oks.length ? Math.min(...oks) : null,
      first_ok_after_fault_ms_by_kind: firstOk,
      last_failure_after_fault_ms: lastFailure,
      per_second: perSec.map((s) => ({ ...s, okByKind: s.ok, ok: KINDS.reduce((n, k) => n + s.ok[k], 0) })),
    };
  } finally {
    await txn.close();
    await raw.close();
    await mock.stop();
  }
}

function table(r) {
  const lines = [
    `### ${r.run}: ${r.fault} at ${(r.fault_at_ms / 1000).toFixed(2)} s; election delay ${r.election_ms} ms (${r.election}); ${r.concurrency} in flight`,
    '',
    '| second | ok/s | failed/s | ok raw-get | ok raw-put | ok txn-1 | failures by code |',
    '|--:|--:|--:|--:|--:|--:|---|',
  ];
  r.per_second.forEach((s, i) => {
    const mark = Math.floor(r.fault_at_ms / 1000) === i ? ' (fault)' : '';
    const codes = Object.entries(s.codes).map(([c, n]) => `${c} ${n}`).join(', ');
    lines.push(`| ${i}${mark} | ${s.ok} | ${s.failed} | ${s.okByKind['raw-get']} | ${s.okByKind['raw-put']} | ${s.okByKind['txn-1']} | ${codes} |`);
  });
  const ms = (v) => (v === null ? 'none' : `${v} ms`);
  const by = Object.entries(r.first_ok_after_fault_ms_by_kind).map(([k, v]) => `${k} ${ms(v)}`).join(', ');
  lines.push('', `Total: ${r.ok} ok, ${r.failed} failed (${Object.entries(r.failed_by_code).map(([c, n]) => `${c} ${n}`).join(', ') || 'none'}). ` +
    `First success after the fault: ${ms(r.first_ok_after_fault_ms)} (${by}); last failure ${ms(r.last_failure_after_fault_ms)} after it.`, '');
  return lines.join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const runs = o.run === 'both' ? ['pd-leader', 'store'] : [o.run];
  for (const which of runs) {
    process.stderr.write(`failover.js: run ${which} (${o.duration} s, fault at ${o.faultAt} s)\n`);
    const r = await runOne(o, which);
    process.stdout.write(table(r) + '\n');
    const { per_second: perSecond, ...line } = r;
    process.stdout.write(JSON.stringify({ ...line, ok_per_s: perSecond.map((s) => s.ok), failed_per_s: perSecond.map((s) => s.failed) }) + '\n');
  }
}

main().catch((e) => {
  process.stderr.write(`failover.js: ${e && e.stack}\n`);
  process.exit(1);
});
