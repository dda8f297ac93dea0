#!/usr/bin/env node
'use strict';
// Where the time of one raw get at 1 in flight goes, from a kernel trace.
//
// Starts a `tikv-mock-server --stores 3 --regions 8`, runs one driver
// (bench/driver.js or build-c/tikv-bench) on raw-get at 1 in flight with
// --marks, and after its warm-up records with `perf record`, for --seconds,
// every system call entry and exit, every wakeup and every switch off the
// CPU of the driver's and the mock's threads. An operation is the stretch
// from its first marker (getuid, just before the call) to its third (geteuid,
// when its callback starts); the drivers make no other such calls. Anchors
// inside it (the request's sendmsg, the mock's recvmsg and reply sendmsg, the
// reply's recvmsg, the wakeups of the I/O and JS threads) cut it into
// segments, and it prints each segment's median and 25th percentile.
// --timeline prints instead the most common sequence of events with median
// times (--all: every system call, not only the blocking, I/O and wakeup
// ones). --keep FILE keeps the recording (and FILE.json), --from FILE
// analyses a kept one again.
//
//   node bench/trace.js [--driver node|c] [--seconds S] [--timeline] [--all] [--keep FILE | --from FILE]
//
// Only software tracepoints are used (raw_syscalls, sched), so it works where
// hardware counters are not available (as in this VM). Tracing costs about a
// microsecond per event, and those costs are in the times it prints: compare
// runs of this tool with each other, not with bench/run.js. Needs root or
// kernel.perf_event_paranoid <= 1.
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const MOCK = path.join(ROOT, 'build-c', 'tikv-mock-server');
const C_DRIVER = path.join(ROOT, 'build-c', 'tikv-bench');
const NODE_DRIVER = path.join(__dirname, 'driver.js');

// x86_64 system call numbers of the calls that show up on this path
const SYSCALLS = {
  0: 'read', 1: 'write', 7: 'poll', 19: 'readv', 20: 'writev', 23: 'select', 24: 'sched_yield', 35: 'nanosleep',
  44: 'sendto', 45: 'recvfrom', 46: 'sendmsg', 47: 'recvmsg', 202: 'futex', 228: 'clock_gettime',
  230: 'clock_nanosleep', 232: 'epoll_wait', 233: 'epoll_ctl', 270: 'pselect6', 271: 'ppoll', 281: 'epoll_pwait',
  284: 'eventfd', 290: 'eventfd2', 307: 'sendmmsg', 299: 'recvmmsg', 441: 'epoll_pwait2', 9: 'mmap', 11: 'munmap',
  10: 'mprotect', 28: 'madvise', 102: 'getuid', 104: 'getgid', 107: 'geteuid', 3: 'close', 16: 'ioctl',
  72: 'fcntl', 13: 'rt_sigaction', 14: 'rt_sigprocmask', 39: 'getpid', 186: 'gettid', 318: 'getrandom',
};
const MARK = { 102: 'M1', 104: 'M2', 107: 'M3' };
// calls that block, move bytes or wake a thread: the ones worth a line by default
const NOTABLE = new Set(['read', 'write', 'readv', 'writev', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'futex',
  'epoll_wait', 'epoll_pwait', 'epoll_pwait2', 'poll', 'ppoll', 'select', 'pselect6', 'sendmmsg', 'recvmmsg',
  'nanosleep', 'clock_nanosleep', 'sched_yield']);

function parseArgs(argv) {
  const o = { driver: 'node', seconds: 1, timeline: false, all: false, keep: null, from: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--driver') o.driver = argv[++i];
    else if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--timeline') o.timeline = true;
    else if (a === '--all') o.all = o.timeline = true;
    else if (a === '--keep') o.keep = argv[++i];
    else if (a === '--from') o.from = argv[++i];
    else {
      process.stderr.write(`trace.js: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!['node', 'c'].includes(o.driver) || !(o.seconds > 0)) {
    process.stderr.write('usage: node bench/trace.js [--driver node|c] [--seconds S] [--timeline] [--all] [--keep FILE | --from FILE]\n');
    process.exit(2);
  }
  return o;
}

function startMock() {
  return new Promise((resolve, reject) => {
    const p = spawn(MOCK, ['--stores', '3', '--regions', '8'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.on('error', reject);
    p.stdout.on('data', (d) => {
      out += d;
      const m = /^PD (\S+)$/m.exec(out);
      if (m) {
        p.stdout.removeAllListeners('data');
        p.stdout.resume();
        resolve({ proc: p, pd: m[1] });
      }
    });
  });
}

const exited = (p) => new Promise((resolve) => (p.exitCode !== null ? resolve() : p.on('exit', resolve)));

async function record(o, file) {
  const mock = await startMock();
  const args = ['--pd', mock.pd, '--workload', 'raw-get', '--concurrency', '1', '--warmup', '1',
    '--duration', String(o.seconds + 2), '--marks'];
  const driver = o.driver === 'c' ? spawn(C_DRIVER, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, [NODE_DRIVER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  driver.stdout.on('data', (d) => (out += d));
  await new Promise((r) => setTimeout(r, 1500)); // connected, preloaded, warm
  const events = 'raw_syscalls:sys_enter,raw_syscalls:sys_exit,sched:sched_wakeup,sched:sched_switch';
  const perf = spawn('perf', ['record', '-q', '-e', events, '-p', `${driver.pid},${mock.proc.pid}`, '-o', file,
    '--', 'sleep', String(o.seconds)], { stdio: ['ignore', 'inherit', 'inherit'] });
  await exited(perf);
  await exited(driver);
  mock.proc.kill('SIGTERM');
  await exited(mock.proc);
  if (perf.exitCode !== 0) throw new Error(`perf record failed (${perf.exitCode})`);
  process.stderr.write(`driver: ${out.trim()}\n`);
  return { clientPid: driver.pid, mockPid: mock.proc.pid };
}

function parseScript(text, pids) {
  const evs = [];
  // comm pid/tid [cpu] time: event: payload   (perf script --ns -F comm,pid,tid,time,event,trace)
  const re = /^\s*(.+?)\s+(\d+)\/(\d+)\s+(\d+)\.(\d+):\s+(\S+):\s+(.*)$/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    const role = pid === pids.clientPid ? 'client' : pid === pids.mockPid ? 'mock' : null;
    if (!role) continue;
    const t = Number(m[4]) * 1e9 + Number(m[5].padEnd(9, '0').slice(0, 9));
    const e = { t, role, tid: Number(m[3]), comm: m[1].trim(), kind: m[6] };
    const p = m[7];
    if (e.kind === 'raw_syscalls:sys_enter' || e.kind === 'raw_syscalls:sys_exit') {
      const n = /NR (\d+)/.exec(p);
      e.nr = n ? Number(n[1]) : -1;
      e.kind = e.kind.endsWith('enter') ? 'enter' : 'exit';
    } else if (e.kind === 'sched:sched_wakeup') {
      const w = /pid=(\d+)/.exec(p);
      e.kind = 'wakeup';
      e.wakee = w ? Number(w[1]) : -1;
    } else if (e.kind === 'sched:sched_switch') {
      // recorded when one of the traced threads leaves the CPU: R = preempted (still runnable)
      const s = /prev_state=(\S+)/.exec(p);
      e.kind = 'switch';
      e.preempted = !!s && s[1].startsWith('R');
    } else continue;
    evs.push(e);
  }
  evs.sort((a, b) => a.t - b.t);
  return evs;
}

/** "client main", "client grpc_global_tim", "mock tikv-mock-ser#2": stable names across operations. */
function threadNamer(evs, clientPid) {
  const names = new Map();
  const perComm = new Map();
  for (const e of evs) {
    if (names.has(e.tid)) continue;
    let name = e.tid === clientPid ? 'main' : e.comm;
    const key = `${e.role} ${name}`;
    const n = (perComm.get(key) || 0) + 1;
    perComm.set(key, n);
    names.set(e.tid, n > 1 ? `${key}#${n}` : key);
  }
  return (tid) => names.get(tid) || `? ${tid}`;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
}

/** The operations: M1 ... M2 ... M3 (entries of the marker calls in the client), as event index ranges. */
function operations(evs) {
  const ops = [];
  let cur = null;
  for (let i = 0; i < evs.length; i++) {
    const e = evs[i];
    if (e.role !== 'client' || e.kind !== 'enter' || !MARK[e.nr]) continue;
    const m = MARK[e.nr];
    if (m === 'M1') cur = { m1: i, m2: -1 };
    else if (m === 'M2' && cur) cur.m2 = i;
    else if (m === 'M3' && cur && cur.m2 >= 0) {
      ops.push({ m1: cur.m1, m2: cur.m2, m3: i });
      cur = null;
    }
  }
  if (ops.length === 0) throw new Error('no complete operation (M1, M2, M3) in the trace');
  return ops;
}

const isCall = (e, role, name, kind) => e.role === role && e.kind === kind && SYSCALLS[e.nr] === name;

/**
 * The anchors of one operation: the request's sendmsg by the client, the
 * mock's first recvmsg after it and its last sendmsg before the client's
 * last recvmsg (the one that completes the call); for Node also the I/O
 * thread's wakeup by the JS thread (and its first system call return after
 * it) and the JS thread's wakeup by the I/O thread (and its return from
 * epoll). Null when the operation lacks one.
 */
function anchors(evs, op, clientPid) {
  const t = (i) => evs[i].t;
  const find = (from, to, pred) => {
    for (let i = from; i <= to; i++) if (pred(evs[i])) return i;
    return -1;
  };
  const findLast = (from, to, pred) => {
    for (let i = to; i >= from; i--) if (pred(evs[i])) return i;
    return -1;
  };
  const a = { m1: t(op.m1), m2: t(op.m2), m3: t(op.m3) };
  const send = find(op.m1, op.m3, (e) => isCall(e, 'client', 'sendmsg', 'enter'));
  if (send < 0) return null;
  const io = evs[send].tid;
  a.send = t(send);
  // Node: the JS thread wakes the I/O thread; when the I/O thread was not asleep there is no wakeup
  const wake = find(op.m1, send, (e) => e.kind === 'wakeup' && e.role === 'client' && e.tid === clientPid && e.wakee === io);
  if (wake >= 0) {
    const run = find(wake + 1, send, (e) => e.tid === io && e.kind === 'exit');
    a.ioWake = t(wake);
    a.ioRun = run >= 0 ? t(run) : t(send);
  }
  // the end of the reply: the callback (C) or the JS thread's wakeup (Node)
  let end = op.m3;
  if (evs[op.m3].tid !== io) {
    const jsWake = findLast(send + 1, op.m3, (e) => e.kind === 'wakeup' && e.tid === io && e.wakee === evs[op.m3].tid);
    const jsRun = jsWake < 0 ? -1 : find(jsWake + 1, op.m3, (e) => e.tid === evs[op.m3].tid && e.kind === 'exit');
    if (jsRun < 0) return null;
    a.jsWake = t(jsWake);
    a.jsRun = t(jsRun);
    end = jsWake;
  }
  // the reply: the mock reads the request, sends its response headers at once
  // and the message with the status later; the client's last read before the
  // end carries the status, which completes the call
  const mockIn = find(send + 1, end, (e) => isCall(e, 'mock', 'recvmsg', 'exit'));
  const recv = findLast(send + 1, end, (e) => isCall(e, 'client', 'recvmsg', 'exit') && e.tid === io);
  const mockOut = recv < 0 ? -1 : findLast(mockIn + 1, recv, (e) => isCall(e, 'mock', 'sendmsg', 'enter'));
  if (mockIn < 0 || recv < 0 || mockOut < 0) return null;
  a.mockIn = t(mockIn);
  a.mockOut = t(mockOut);
  a.recv = t(recv);
  a.preempted = false;
  for (let i = op.m1; i <= op.m3; i++) if (evs[i].kind === 'switch' && evs[i].preempted) a.preempted = true;
  return a;
}

// [label, from, to]: consecutive stretches of one operation's critical path
const SEGMENTS = [
  ['call returns (M1 → M2): JS layer, addon, tikv_raw_get, post to the I/O thread', 'm1', 'm2'],
  ['M1 → the call wakes the I/O thread (Node)', 'm1', 'ioWake'],
  ['I/O thread wakeup latency (woken → running)', 'ioWake', 'ioRun'],
  ['request, on the I/O thread: task, region, pack, gRPC call, HTTP/2 frame (→ sendmsg)', 'reqStart', 'send'],
  ['client sendmsg → mock recvmsg returns (loopback, mock wakeup)', 'send', 'mockIn'],
  ['mock: headers out, decode, serve, encode, HTTP/2 (→ sendmsg of message and status)', 'mockIn', 'mockOut'],
  ['mock sendmsg → client recvmsg of the status returns (loopback, client wakeup)', 'mockOut', 'recv'],
  ['reply, on the I/O thread: HTTP/2, decode, complete the future (→ callback or JS wakeup)', 'recv', 'replyEnd'],
  ['JS thread wakeup latency (woken → running)', 'jsWake', 'jsRun'],
  ['JS thread: uv async, dispatch, resolve, promise callback (→ M3)', 'jsRun', 'm3'],
];

function segments(evs, pids) {
  const ops = operations(evs);
  const rows = [];
  for (const op of ops) {
    const a = anchors(evs, op, pids.clientPid);
    if (!a) continue;
    // the request work starts when the I/O thread runs after the wakeup (Node) or after the call returned (C)
    // (Node: while the JS thread returns from the call; without a wakeup, the I/O thread was awake already)
    a.reqStart = a.ioRun !== undefined ? a.ioRun : a.m2;
    a.replyEnd = a.jsWake !== undefined ? a.jsWake : a.m3;
    rows.push(a);
  }
  const q = (xs, p) => {
    const v = [...xs].sort((x, y) => x - y);
    return v.length ? v[Math.min(v.length - 1, Math.floor((v.length - 1) * p))] : NaN;
  };
  const seg = SEGMENTS.map(([label, from, to]) => {
    const xs = rows.filter((a) => a[from] !== undefined && a[to] !== undefined).map((a) => (a[to] - a[from]) / 1000);
    return { label, n: xs.length, p25: q(xs, 0.25), median: q(xs, 0.5) };
  });
  const totals = rows.map((a) => (a.m3 - a.m1) / 1000);
  return {
    ops: ops.length,
    n: rows.length,
    preempted: rows.filter((a) => a.preempted).length,
    seg,
    total: { p25: q(totals, 0.25), median: q(totals, 0.5) },
  };
}

/** The most common sequence of events (all of them, or only the notable ones) with median times. */
function timeline(evs, pids, all) {
  const name = threadNamer(evs, pids.clientPid);
  const label = (e) => {
    if (e.kind === 'wakeup') return `${name(e.tid)} wakes ${name(e.wakee)}`;
    if (e.kind === 'switch') return `${name(e.tid)} ${e.preempted ? 'preempted' : 'off the CPU'}`;
    if (e.role === 'client' && MARK[e.nr]) return `${name(e.tid)} ${MARK[e.nr]}`;
    return `${name(e.tid)} ${SYSCALLS[e.nr] || `NR ${e.nr}`} ${e.kind === 'enter' ? '→' : '←'}`;
  };
  const notable = (e) => e.kind === 'wakeup' || (e.kind === 'switch' && e.preempted) ||
    (e.role === 'client' && MARK[e.nr] && e.kind === 'enter') || (!MARK[e.nr] && NOTABLE.has(SYSCALLS[e.nr]));
  const ops = operations(evs);
  const bySig = new Map();
  for (const op of ops) {
    const seq = [];
    for (let i = op.m1; i <= op.m3; i++) {
      const e = evs[i];
      if (e.role === 'client' && MARK[e.nr] && e.kind === 'exit') continue;
      if (all ? e.kind === 'switch' && !e.preempted : !notable(e)) continue;
      seq.push(i);
    }
    const sig = seq.map((i) => label(evs[i])).join('|');
    if (!bySig.has(sig)) bySig.set(sig, []);
    bySig.get(sig).push(seq);
  }
  const [sig, seqs] = [...bySig.entries()].sort((a, b) => b[1].length - a[1].length)[0];
  const labels = sig.split('|');
  return {
    ops: ops.length,
    matching: seqs.length,
    variants: bySig.size,
    labels,
    at: labels.map((_, k) => median(seqs.map((seq) => evs[seq[k]].t - evs[seq[0]].t)) / 1000),
    gap: labels.map((_, k) => (k ? median(seqs.map((seq) => evs[seq[k]].t - evs[seq[k - 1]].t)) / 1000 : 0)),
  };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let file = o.from;
  let pids;
  if (file) {
    pids = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8'));
    o.driver = pids.driver;
  } else {
    try {
      execFileSync('perf', ['--version'], { stdio: 'ignore' });
    } catch (_) {
      process.stderr.write('trace.js: perf is not installed (Debian: linux-perf)\n');
      process.exit(2);
    }
    file = o.keep || path.join(os.tmpdir(), `tikv-trace-${process.pid}.data`);
    pids = { ...(await record(o, file)), driver: o.driver, load: os.loadavg()[0] };
    if (o.keep) fs.writeFileSync(`${file}.json`, JSON.stringify(pids));
  }
  const text = execFileSync('perf', ['script', '-i', file, '--ns', '-F', 'comm,pid,tid,time,event,trace'], {
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  if (!o.keep && !o.from) fs.rmSync(file, { force: true });
  const evs = parseScript(text, pids);
  const who = o.driver === 'c' ? 'C' : 'Node';
  const lines = [];
  if (o.timeline) {
    const r = timeline(evs, pids, o.all);
    lines.push(
      `raw-get at 1 in flight, ${who} driver: ${r.ops} operations traced; ${r.matching} of them ` +
        `(${((100 * r.matching) / r.ops).toFixed(0)}%) share the most common of ${r.variants} event sequences, ` +
        'whose medians follow (µs from M1, µs since the line before):',
      '',
      '| µs | +µs | thread: event |',
      '|--:|--:|---|'
    );
    r.labels.forEach((l, k) => lines.push(`| ${r.at[k].toFixed(1)} | ${k ? r.gap[k].toFixed(1) : ''} | ${l} |`));
  } else {
    const r = segments(evs, pids);
    lines.push(
      `raw-get at 1 in flight, ${who} driver: ${r.ops} operations traced, ${r.n} with every anchor; in ` +
        `${((100 * r.preempted) / r.n).toFixed(0)}% of those a traced thread was preempted. Load average ` +
        `${(pids.load !== undefined ? pids.load : os.loadavg()[0]).toFixed(2)} after the recording. Per segment, in µs (segments need not add up to the total):`,
      '',
      '| segment | median | 25th percentile |',
      '|---|--:|--:|'
    );
    for (const x of r.seg) if (x.n) lines.push(`| ${x.label} | ${x.median.toFixed(1)} | ${x.p25.toFixed(1)} |`);
    lines.push(`| **M1 → M3** | **${r.total.median.toFixed(1)}** | **${r.total.p25.toFixed(1)}** |`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`trace.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
