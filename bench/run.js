#!/usr/bin/env node
'use strict';
// Runs the benchmark: one `tikv-mock-server --stores 3 --regions 8`, then for
// every row our C driver (build-c/tikv-bench), our Node driver (bench/driver.js)
// and client-go's driver (../shared/peers/run-go-bench) one after the other
// against it, and prints one Markdown table on stdout (progress and each
// driver's JSON line go to stderr), so
//
//   node bench/run.js > bench/results.md
//
// keeps the table. Options:
//   --quick           1 s windows after 0.5 s of warm-up (CI-size: about 2 minutes)
//   --full            5 s windows after 1 s of warm-up, client-go's defaults (the default)
//   --duration S      measured window per driver and row (overrides the mode)
//   --warmup S        warm-up per driver and row (overrides the mode)
//   --rows REGEXP     only the rows whose label matches, e.g. 'raw-get|@256'
//   --batch-rpc on|off  client-go's BatchCommands stream (default on, its own default)
//   --ours-batch on|off our drivers' BatchCommands stream (default on, our default)
//   --rss             also run raw-get at 256 in flight for --rss-ops operations with
//                     the C and the Node driver, and report their RSS along the way
//   --rss-ops N       operations of the RSS runs (default 10000000; minutes)
//   --go PATH         client-go's driver (default ../shared/peers/run-go-bench)
//   --list            print the row labels and exit
// The order of the three drivers rotates from row to row (C, Node, Go; then
// Node, Go, C; then Go, C, Node), so that none always runs on a warmer or more
// loaded server. See bench/README.md for what each number means.
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const MOCK = path.join(ROOT, 'build-c', 'tikv-mock-server');
const C_DRIVER = path.join(ROOT, 'build-c', 'tikv-bench');
const NODE_DRIVER = path.join(__dirname, 'driver.js');
const GO_DEFAULT = path.join(ROOT, '..', 'shared', 'peers', 'run-go-bench');
const DRIVERS = ['c', 'node', 'go'];
const NAME = { c: 'C', node: 'Node', go: 'Go' };
const MODES = { quick: { duration: 1, warmup: 0.5 }, full: { duration: 5, warmup: 1 } };

function fail(msg) {
  process.stderr.write(`run.js: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { mode: 'full', duration: null, warmup: null, rows: null, batchRpc: 'on', oursBatch: 'on', rss: false, rssOps: 10000000, go: GO_DEFAULT, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--quick' || a === '--full') o.mode = a.slice(2);
    else if (a === '--duration') o.duration = Number(v());
    else if (a === '--warmup') o.warmup = Number(v());
    else if (a === '--rows') o.rows = new RegExp(v());
    else if (a === '--batch-rpc') o.batchRpc = v();
    else if (a === '--ours-batch') o.oursBatch = v();
    else if (a === '--rss') o.rss = true;
    else if (a === '--rss-ops') o.rssOps = Number(v());
    else if (a === '--go') o.go = path.resolve(v());
    else if (a === '--list') o.list = true;
    else if (a === '--help' || a === '-h') {
      const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(2);
      const doc = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
      process.stdout.write(doc.map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else fail(`unknown argument ${a} (see --help)`);
  }
  if (o.duration === null) o.duration = MODES[o.mode].duration;
  if (o.warmup === null) o.warmup = MODES[o.mode].warmup;
  if (!(o.duration > 0) || !(o.warmup >= 0)) fail('--duration must be > 0 and --warmup >= 0');
  if (o.batchRpc !== 'on' && o.batchRpc !== 'off') fail('--batch-rpc is on or off');
  if (o.oursBatch !== 'on' && o.oursBatch !== 'off') fail('--ours-batch is on or off');
  if (!(Number.isSafeInteger(o.rssOps) && o.rssOps >= 1)) fail('--rss-ops must be a positive integer');
  return o;
}

function allRows() {
  const rows = [];
  const add = (workload, concurrency) => rows.push({ label: `${workload} @${concurrency}`, workload, concurrency });
  for (const c of [1, 16, 256]) add('raw-get', c);
  for (const c of [1, 16, 256]) add('raw-put', c);
  for (const c of [1, 16]) add('raw-batch-get-1000', c);
  for (const c of [1, 16]) add('txn-commit-1', c);
  for (const c of [1, 16]) add('txn-commit-10', c);
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

const children = new Set();

/** Runs a command; resolves {code, out, err, killed}. */
function run(cmd, argv, limitMs) {
  return new Promise((resolve) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(p);
    let out = '';
    let err = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGKILL');
    }, limitMs);
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', (e) => {
      clearTimeout(timer);
      children.delete(p);
      resolve({ code: -1, out, err: err + e.message, killed });
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      children.delete(p);
      resolve({ code, out, err, killed });
    });
  });
}

/** One driver run: its JSON result plus {firstError, batchRpc}, or {failed: why}. */
async function runDriver(o, which, mock, workload, concurrency, extra = []) {
  const args = ['--pd', mock.pd, '--workload', workload, '--concurrency', String(concurrency), '--value-size', '16',
    '--duration', String(o.duration), '--warmup', String(o.warmup), '--cpu', '--server-pid', String(mock.proc.pid), ...extra];
  const ours = [...args, '--batch-commands', o.oursBatch];
  const [cmd, argv] = which === 'c' ? [C_DRIVER, ours] : which === 'node' ? [process.execPath, [NODE_DRIVER, ...ours]]
    : [o.go, [...args, '--batch-rpc', o.batchRpc]];
  // connecting, preloading 10,000 keys and draining take seconds; a driver
  // still running long after its window (or, with --ops, its operations at
  // 1,000/s) is stuck
  const opsIdx = extra.indexOf('--ops');
  const limitMs = 1000 * (o.warmup + o.duration + 60 + (opsIdx >= 0 ? Number(extra[opsIdx + 1]) / 1000 : 0));
  const r = await run(cmd, argv, limitMs);
  const errLines = r.err.split('\n');
  const line = r.out.trim().split('\n').pop();
  let j = null;
  try {
    j = JSON.parse(line);
  } catch (_) {
    j = null;
  }
  if (r.killed) return { failed: `no result after ${limitMs / 1000} s (killed)` };
  if (!j || typeof j.ops_per_s !== 'number') {
    const why = errLines.filter((l) => l.trim() && !/\[INFO\]|\[WARN\]/.test(l)).slice(-3).join(' / ');
    return { failed: `exit ${r.code}: ${why || 'no output'}` };
  }
  j.firstError = errLines.find((l) => /error: /.test(l)) || null;
  const m = /batch-rpc=(\w+)/.exec(r.err);
  if (m) j.batchRpc = m[1];
  return j;
}

const num = (x, digits = 0) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ok = (r) => r && !r.failed;
const usPerOp = (r, pct) => (ok(r) && typeof r[pct] === 'number' && r.ops_per_s > 0 ? (r[pct] * 1e4) / r.ops_per_s : null);
const ratio = (a, b) => (ok(a) && ok(b) && b.ops_per_s > 0 ? (a.ops_per_s / b.ops_per_s).toFixed(2) : '—');
const triple = (res, f) => DRIVERS.map((d) => (ok(res[d]) ? f(res[d]) : '—')).join(' / ');
const cpuCell = (res, pct) => DRIVERS.map((d) => {
  const v = usPerOp(res[d], pct);
  return v === null ? '—' : num(v, 1);
}).join(' / ');

function rowTable(results) {
  const lines = [
    '| workload | in flight | ops/s C / Node / Go | p50 µs C / Node / Go | p99 µs C / Node / Go | client CPU µs/op C / Node / Go | server CPU µs/op C / Node / Go | errors C / Node / Go | C/Go | Node/Go | Node/C | order |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|',
  ];
  for (const { row, res, order } of results) {
    lines.push(
      `| ${row.workload} | ${row.concurrency} | ${triple(res, (r) => num(Math.round(r.ops_per_s)))} | ` +
        `${triple(res, (r) => num(r.p50_us))} | ${triple(res, (r) => num(r.p99_us))} | ` +
        `${cpuCell(res, 'client_cpu_pct')} | ${cpuCell(res, 'server_cpu_pct')} | ${triple(res, (r) => num(r.errors))} | ` +
        `${ratio(res.c, res.go)} | ${ratio(res.node, res.go)} | ${ratio(res.node, res.c)} | ${order.map((d) => NAME[d]).join(', ')} |`
    );
  }
  return lines;
}

function rssTable(rss, ops) {
  const mib = (kb) => (kb / 1024).toFixed(1);
  const lines = [
    `RSS of our client, raw-get at 256 in flight, ${num(ops)} successful operations per driver ` +
      '(samples: at the start of the window, after each tenth of the operations, at the end):',
    '',
    '| driver | ops | seconds | ops/s | RSS start MiB | RSS end MiB | end − start MiB | samples min / max MiB | errors |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const d of ['c', 'node']) {
    const r = rss[d];
    if (!ok(r) || !Array.isArray(r.rss_samples_kb)) {
      lines.push(`| ${NAME[d]} | — | — | — | — | — | — | — | ${r && r.failed ? 'failed: ' + r.failed : '—'} |`);
      continue;
    }
    const s = r.rss_samples_kb;
    lines.push(
      `| ${NAME[d]} | ${num(r.ops)} | ${num(r.seconds, 1)} | ${num(Math.round(r.ops_per_s))} | ${mib(r.rss_start_kb)} | ` +
        `${mib(r.rss_end_kb)} | ${mib(r.rss_end_kb - r.rss_start_kb)} | ${mib(Math.min(...s))} / ${mib(Math.max(...s))} | ${num(r.errors)} |`
    );
  }
  lines.push('');
  for (const d of ['c', 'node'])
    if (ok(rss[d]) && rss[d].rss_samples_kb) lines.push(`- ${NAME[d]} samples, MiB: ${rss[d].rss_samples_kb.map(mib).join(', ')}`);
  return lines;
}

function goVersion(goBench) {
  try {
    const mod = fs.readFileSync(path.join(path.dirname(goBench), 'go-bench', 'go.mod'), 'utf8');
    const m = /github\.com\/tikv\/client-go\/v2 (v\S+)/.exec(mod);
    return m ? `client-go ${m[1]}` : 'client-go';
  } catch (_) {
    return 'client-go';
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let rows = allRows();
  if (o.rows) rows = rows.filter((r) => o.rows.test(r.label));
  if (o.list) {
    for (const r of rows) process.stdout.write(r.label + '\n');
    return;
  }
  if (rows.length === 0 && !o.rss) fail('no row matches --rows');
  for (const f of [C_DRIVER, MOCK]) {
    if (!fs.existsSync(f)) fail(`${path.relative(ROOT, f)} is missing: run \`make bench-c\` (and \`npm ci\`) first`);
  }
  if (!fs.existsSync(o.go)) fail(`client-go's driver ${o.go} is missing (see ../shared/peers/README.md, or --go PATH)`);
  try {
    require(ROOT);
  } catch (e) {
    fail(`the Node package does not load: ${e.message}\n(run \`npm ci\` first)`);
  }
  // the first run of run-go-bench builds it (about a minute): do it before anything is timed
  process.stderr.write('building client-go\'s driver if needed...\n');
  const built = await run(o.go, ['-h'], 15 * 60 * 1000);
  if (built.killed || !/-workload/.test(built.err + built.out)) fail(`client-go's driver does not build or run:\n${built.err.trim()}`);

  const load = [os.loadavg()];
  const mock = await startMock();
  const stopAll = () => {
    for (const c of children) c.kill('SIGKILL');
    if (mock.proc.exitCode === null) mock.proc.kill('SIGTERM');
  };
  process.on('exit', stopAll);
  for (const sig of ['SIGINT', 'SIGTERM'])
    process.on(sig, () => {
      stopAll();
      process.exit(130);
    });
  process.stderr.write(`mock cluster: PD ${mock.pd}, pid ${mock.proc.pid}; ${rows.length} rows, ${o.warmup} s warm-up + ${o.duration} s per driver run\n`);

  const notes = [];
  const results = [];
  let goMode = null;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const order = DRIVERS.map((_, k) => DRIVERS[(i + k) % DRIVERS.length]);
    const res = {};
    load.push(os.loadavg());
    for (const which of order) {
      const r = await runDriver(o, which, mock, row.workload, row.concurrency);
      process.stderr.write(`${row.label.padEnd(24)} ${which.padEnd(4)} ${r.failed ? 'FAILED: ' + r.failed : JSON.stringify(r)}\n`);
      res[which] = r;
      if (which === 'go' && r.batchRpc) goMode = r.batchRpc;
      if (r.failed) notes.push(`${row.label}: ${NAME[which]} driver failed: ${r.failed}`);
      else if (r.errors && r.firstError) notes.push(`${row.label}: ${NAME[which]}: ${num(r.errors)} errors, first: ${r.firstError.trim().slice(0, 160)}`);
    }
    results.push({ row, res, order });
  }

  const rss = {};
  if (o.rss) {
    for (const which of ['c', 'node']) {
      process.stderr.write(`RSS run: ${which}, raw-get @256, ${num(o.rssOps)} operations...\n`);
      load.push(os.loadavg());
      rss[which] = await runDriver(o, which, mock, 'raw-get', 256, ['--ops', String(o.rssOps)]);
      process.stderr.write(`rss ${which.padEnd(4)} ${rss[which].failed ? 'FAILED: ' + rss[which].failed : JSON.stringify(rss[which])}\n`);
    }
  }
  load.push(os.loadavg());
  stopAll();

  const l1 = load.map((l) => l[0]);
  const lines = [
    '# tikv-client benchmark: our C driver, our Node driver and client-go against one tikv-mock-server',
    '',
    `${new Date().toISOString()}; ${os.cpus().length} CPUs (${(os.cpus()[0] || {}).model || '?'}); ` +
      `load average (1 min) ${l1[0].toFixed(2)} before, ${Math.min(...l1).toFixed(2)}–${Math.max(...l1).toFixed(2)} during, ` +
      `${l1[l1.length - 1].toFixed(2)} after (5 and 15 min at the end: ${load[load.length - 1][1].toFixed(2)}, ${load[load.length - 1][2].toFixed(2)}); ` +
      `Node ${process.version}; ${goVersion(o.go)} with batch-rpc=${goMode || o.batchRpc}; ` +
      `one \`tikv-mock-server --stores 3 --regions 8\` on this machine; 16-byte values, 10,000 keys; ` +
      `${o.warmup} s warm-up, then a ${o.duration} s window per driver and row; driver order rotating between rows (column "order"). ` +
      'Ratios are of ops/s in this run; CPU per op = CPU time in the window ÷ operations in it.',
  ];
  if (results.length) lines.push('', ...rowTable(results));
  if (notes.length) lines.push('', ...notes.map((n) => `- ${n}`));
  if (o.rss) lines.push('', ...rssTable(rss, o.rssOps));
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`run.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
