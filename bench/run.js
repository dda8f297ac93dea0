#!/usr/bin/env node
'use strict';
// Runs the benchmark: one tikv-mock-server process, then for every row the C
// driver (build-c/tikv-bench) and the Node driver (bench/driver.js) one after
// the other against it, and prints the table as Markdown on stdout (progress
// and the drivers' JSON lines go to stderr), so
//
//   node bench/run.js > bench/results.md
//
// keeps the table. Options:
//   --seconds S      measured time per driver and row (default 3)
//   --rows REGEXP    only the rows whose label matches, e.g. 'get 16 B|@256'
//   --repeat N       run each driver N times per row, keep the best ops/s (default 1)
//   --list           print the row labels and exit
// The order of the two drivers alternates from row to row (C first on even
// rows, Node first on odd ones), so that neither always runs on a warmer or
// more loaded server.
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const C_DRIVER = path.join(ROOT, 'build-c', 'tikv-bench');
const MOCK = path.join(ROOT, 'build-c', 'tikv-mock-server');
const NODE_DRIVER = path.join(__dirname, 'driver.js');

function parseArgs(argv) {
  const o = { seconds: 3, rows: null, repeat: 1, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--seconds') (o.seconds = Number(v)), i++;
    else if (a === '--rows') (o.rows = new RegExp(v)), i++;
    else if (a === '--repeat') (o.repeat = Number(v)), i++;
    else if (a === '--list') o.list = true;
    else if (a === '--help' || a === '-h') {
      const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(2);
      const doc = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
      process.stdout.write(doc.map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else {
      process.stderr.write(`run.js: unknown argument ${a} (see --help)\n`);
      process.exit(2);
    }
  }
  if (!(o.seconds > 0) || !(Number.isInteger(o.repeat) && o.repeat >= 1)) {
    process.stderr.write('run.js: --seconds must be > 0 and --repeat an integer >= 1\n');
    process.exit(2);
  }
  return o;
}

function sizeLabel(b) {
  return b >= 1024 && b % 1024 === 0 ? `${b / 1024} KiB` : `${b} B`;
}

function allRows() {
  const rows = [];
  for (const op of ['get', 'put'])
    for (const valueSize of [16, 1024])
      for (const inflight of [1, 16, 256])
        rows.push({ label: `${op} ${sizeLabel(valueSize)} @${inflight}`, op, valueSize, inflight, args: [] });
  for (const inflight of [1, 16])
    rows.push({ label: `batchget 1000 keys @${inflight}`, op: 'batchget', valueSize: 16, inflight, args: [] });
  for (const txnKeys of [1, 10])
    for (const pessimistic of [false, true])
      for (const inflight of [1, 16])
        rows.push({
          label: `txn ${txnKeys} key${txnKeys > 1 ? 's' : ''} ${pessimistic ? 'pessimistic' : 'optimistic'} @${inflight}`,
          op: 'txn',
          valueSize: 16,
          inflight,
          args: ['--txn-keys', String(txnKeys), ...(pessimistic ? ['--pessimistic'] : [])],
        });
  return rows;
}

function startMock() {
  return new Promise((resolve, reject) => {
    const p = spawn(MOCK, ['--stores', '3', '--regions', '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const onExit = (code) => reject(new Error(`tikv-mock-server exited (${code}) before listening: ${err.trim()}`));
    p.on('error', reject);
    p.on('exit', onExit);
    p.stderr.on('data', (d) => (err += d));
    p.stdout.on('data', (d) => {
      out += d;
      const m = /^PD (\S+)$/m.exec(out);
      if (m) {
        p.off('exit', onExit);
        p.stdout.removeAllListeners('data');
        p.stdout.resume();
        resolve({ proc: p, pd: m[1] });
      }
    });
  });
}

/** Runs one driver; resolves its JSON result or {failed: why}. */
function runDriver(which, pd, row, seconds) {
  const args = ['--pd', pd, '--op', row.op, '--inflight', String(row.inflight), '--value-size', String(row.valueSize),
    '--seconds', String(seconds), ...row.args];
  const [cmd, argv] = which === 'c' ? [C_DRIVER, args] : [process.execPath, [NODE_DRIVER, ...args]];
  // generous: connecting, loading 10,000 keys and draining 256 operations take
  // well under a second each; a driver still running after this is stuck
  const limitMs = seconds * 1000 + 15000;
  return new Promise((resolve) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, limitMs);
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', (e) => {
      clearTimeout(timer);
      resolve({ failed: e.message });
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop();
      let r = null;
      try {
        r = JSON.parse(line);
      } catch (_) {
        /* no result */
      }
      if (timedOut) return resolve({ failed: `no result after ${limitMs / 1000} s (killed)` });
      if (!r) return resolve({ failed: `exit ${code}: ${err.trim().split('\n').slice(-3).join(' / ') || 'no output'}` });
      if (r.errors) r.note = `${r.errors} errors: ${err.trim().split('\n').slice(0, 2).join(' / ')}`;
      resolve(r);
    });
  });
}

function better(a, b) {
  if (!a || a.failed) return b;
  if (!b || b.failed) return a;
  return b.opsPerSec > a.opsPerSec ? b : a;
}

const fmtOps = (r) => (r && !r.failed ? Math.round(r.opsPerSec).toLocaleString('en-US') : '—');
const fmtLat = (r) => (r && !r.failed ? `${r.p50Ms.toFixed(2)} / ${r.p99Ms.toFixed(2)}` : '—');

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let rows = allRows();
  if (o.rows) rows = rows.filter((r) => o.rows.test(r.label));
  if (o.list) {
    for (const r of rows) process.stdout.write(r.label + '\n');
    return;
  }
  if (rows.length === 0) {
    process.stderr.write('run.js: no row matches --rows\n');
    process.exit(2);
  }
  for (const f of [C_DRIVER, MOCK]) {
    if (!fs.existsSync(f)) {
      process.stderr.write(`run.js: ${path.relative(ROOT, f)} is missing: run \`make bench-c\` (and \`npm ci\`) first\n`);
      process.exit(2);
    }
  }
  const notes = [];
  let hasTxn = false;
  try {
    hasTxn = typeof require(ROOT).TransactionClient === 'function';
  } catch (e) {
    process.stderr.write(`run.js: the Node package does not load: ${e.message}\n(run \`npm ci\` first)\n`);
    process.exit(2);
  }
  if (!hasTxn && rows.some((r) => r.op === 'txn')) {
    notes.push('txn rows skipped: this build of the Node package has no TransactionClient (transactions not in JS yet).');
    rows = rows.filter((r) => r.op !== 'txn');
  }

  const loadBefore = os.loadavg()[0].toFixed(2);
  const mock = await startMock();
  const stopMock = () => {
    if (mock.proc.exitCode === null) mock.proc.kill('SIGTERM');
  };
  process.on('exit', stopMock);
  for (const sig of ['SIGINT', 'SIGTERM'])
    process.on(sig, () => {
      stopMock();
      process.exit(130);
    });
  process.stderr.write(`mock cluster: PD ${mock.pd} (3 stores, 8 regions); ${rows.length} rows, ${o.seconds} s per driver run\n`);

  const results = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const order = i % 2 === 0 ? ['c', 'node'] : ['node', 'c'];
    const best = { c: null, node: null };
    for (let rep = 0; rep < o.repeat; rep++) {
      for (const which of order) {
        const r = await runDriver(which, mock.pd, row, o.seconds);
        process.stderr.write(`${row.label.padEnd(32)} ${which.padEnd(4)} ${r.failed ? 'FAILED: ' + r.failed : JSON.stringify(r)}\n`);
        best[which] = better(best[which], r);
      }
    }
    for (const which of ['c', 'node']) {
      const r = best[which];
      if (r && r.failed) notes.push(`${row.label}: ${which === 'c' ? 'C' : 'Node'} driver failed: ${r.failed}`);
      else if (r && r.note) notes.push(`${row.label}: ${which === 'c' ? 'C' : 'Node'} driver: ${r.note}`);
    }
    results.push({ row, c: best.c, node: best.node, first: order[0] });
  }
  stopMock();

  const lines = [];
  lines.push(`# tikv-client benchmark: Node (addon) vs C-only driver`);
  lines.push('');
  lines.push(
    `${new Date().toISOString()}, ${os.cpus().length} CPUs (${(os.cpus()[0] || {}).model || '?'}), ` +
      `load average ${loadBefore} before the run, ${os.loadavg()[0].toFixed(2)} after; ` +
      `Node ${process.version}; one tikv-mock-server (3 stores, 8 regions) on this machine; ` +
      `${o.seconds} s per run; driver order alternating between rows (first: column "1st")` +
      (o.repeat > 1 ? `; each driver run ${o.repeat} times per row, best ops/s kept` : '; one run per driver and row') +
      '. Latencies in ms (p50 / p99); a txn operation is a whole transaction (begin, K puts, commit).'
  );
  lines.push('');
  lines.push('| op | value | in flight | C ops/s | Node ops/s | Node/C | C p50 / p99 | Node p50 / p99 | Node compl./wakeup | 1st |');
  lines.push('|---|---|--:|--:|--:|--:|--:|--:|--:|---|');
  for (const { row, c, node, first } of results) {
    const ratio = c && node && !c.failed && !node.failed && c.opsPerSec > 0 ? (node.opsPerSec / c.opsPerSec).toFixed(2) : '—';
    let op = row.op;
    let value = sizeLabel(row.valueSize);
    if (row.op === 'batchget') op = 'batchget 1000 keys';
    if (row.op === 'txn') op = row.label.replace(/ @\d+$/, '');
    const cpw = node && !node.failed && node.completionsPerWakeup !== undefined ? String(node.completionsPerWakeup) : '—';
    lines.push(`| ${op} | ${value} | ${row.inflight} | ${fmtOps(c)} | ${fmtOps(node)} | ${ratio} | ${fmtLat(c)} | ${fmtLat(node)} | ${cpw} | ${first === 'c' ? 'C' : 'Node'} |`);
  }
  if (notes.length) {
    lines.push('');
    for (const n of notes) lines.push(`- ${n}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`run.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
