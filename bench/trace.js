#!/usr/bin/env node
'use strict';
// Where the time of one raw get at 1 in flight goes, from a kernel trace.
//
// Starts a `tikv-mock-server --stores 3 --regions 8`, runs one driver
// (bench/driver.js or build/tikv-bench) on raw-get at 1 in flight with
// --marks, and after its warm-up records, with `perf record`, every system
// call entry and exit, every wakeup and every switch off the CPU of the
// driver's and the mock's threads for --seconds. Each operation is then the stretch from its first marker
// (getuid, just before the call) to its third (geteuid, when its callback
// starts); the drivers make no other such calls. For the operations whose
// sequence of events across all those threads is the most common one, it
// prints the median time of each event from the first marker, with the
// thread, and the gap from the event before it (--all: every event of that
// sequence; default: the blocking and I/O calls and wakeups only).
//
//   node bench/trace.js [--driver node|c] [--seconds S] [--all] [--perf-data FILE]
//
// Only software tracepoints are used (raw_syscalls, sched), so it works where
// hardware counters are not available (as in this VM). The trace costs about
// a microsecond per event, counted in the times it prints; compare runs of
// this tool with each other, not with bench/run.js. Needs root or
// kernel.perf_event_paranoid <= 1.
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const MOCK = path.join(ROOT, 'build', 'tikv-mock-server');
const C_DRIVER = path.join(ROOT, 'build', 'tikv-bench');
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
  const o = { driver: 'node', seconds: 1, all: false, perfData: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--driver') o.driver = argv[++i];
    else if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--all') o.all = true;
    else if (a === '--perf-data') o.perfData = argv[++i];
    else {
      process.stderr.write(`trace.js: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!['node', 'c'].includes(o.driver) || !(o.seconds > 0)) {
    process.stderr.write('usage: node bench/trace.js [--driver node|c] [--seconds S] [--all] [--perf-data FILE]\n');
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

function analyse(evs, pids, all) {
  const name = threadNamer(evs, pids.clientPid);
  const nameOf = new Map();
  const label = (e) => {
    if (e.kind === 'wakeup') return `${name(e.tid)} wakes ${name(e.wakee)}`;
    if (e.kind === 'switch') return `${name(e.tid)} ${e.preempted ? 'preempted' : 'off the CPU'}`;
    const sc = SYSCALLS[e.nr] || `NR ${e.nr}`;
    if (e.role === 'client' && MARK[e.nr]) return `${name(e.tid)} ${MARK[e.nr]}`;
    return `${name(e.tid)} ${sc} ${e.kind === 'enter' ? '→' : '←'}`;
  };
  const notable = (e) => e.kind === 'wakeup' || (e.kind === 'switch' && e.preempted) || (e.role === 'client' && MARK[e.nr] && e.kind === 'enter') ||
    (!MARK[e.nr] && NOTABLE.has(SYSCALLS[e.nr]));
  // operations: M1 ... M2 ... M3 (enter events of the markers, client process)
  const ops = [];
  let cur = null;
  for (let i = 0; i < evs.length; i++) {
    const e = evs[i];
    if (e.role !== 'client' || e.kind !== 'enter' || !MARK[e.nr]) continue;
    const m = MARK[e.nr];
    if (m === 'M1') cur = { start: i, m2: -1 };
    else if (m === 'M2' && cur) cur.m2 = i;
    else if (m === 'M3' && cur && cur.m2 >= 0) {
      ops.push({ start: cur.start, end: i });
      cur = null;
    }
  }
  if (ops.length === 0) throw new Error('no complete operation (M1, M2, M3) in the trace');
  const bySig = new Map();
  for (const op of ops) {
    const seq = [];
    for (let i = op.start; i <= op.end; i++) {
      const e = evs[i];
      if (e.role === 'client' && MARK[e.nr] && e.kind === 'exit') continue;
      if (!all && !notable(e)) continue;
      seq.push(i);
    }
    const sig = seq.map((i) => label(evs[i])).join('|');
    if (!bySig.has(sig)) bySig.set(sig, []);
    bySig.get(sig).push(seq);
  }
  const [sig, seqs] = [...bySig.entries()].sort((a, b) => b[1].length - a[1].length)[0];
  const labels = sig.split('|');
  const at = labels.map((_, k) => median(seqs.map((seq) => evs[seq[k]].t - evs[seq[0]].t)) / 1000);
  const gap = labels.map((_, k) => (k ? median(seqs.map((seq) => evs[seq[k]].t - evs[seq[k - 1]].t)) / 1000 : 0));
  const total = ops.map((op) => (evs[op.end].t - evs[op.start].t) / 1000);
  void nameOf;
  return { ops: ops.length, matching: seqs.length, variants: bySig.size, labels, at, gap, totalMedian: median(total) };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
  } catch (_) {
    process.stderr.write('trace.js: perf is not installed (Debian: linux-perf)\n');
    process.exit(2);
  }
  const file = o.perfData || path.join(os.tmpdir(), `tikv-trace-${process.pid}.data`);
  const pids = await record(o, file);
  const text = execFileSync('perf', ['script', '-i', file, '--ns', '-F', 'comm,pid,tid,time,event,trace'], {
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  if (!o.perfData) fs.rmSync(file, { force: true });
  const r = analyse(parseScript(text, pids), pids, o.all);
  const lines = [
    `raw-get at 1 in flight, ${o.driver === 'c' ? 'C' : 'Node'} driver: ${r.ops} operations traced, median ` +
      `M1→M3 ${r.totalMedian.toFixed(1)} µs; ${r.matching} of them (${((100 * r.matching) / r.ops).toFixed(0)}%) ` +
      `share the most common of ${r.variants} event sequences, whose medians follow ` +
      '(µs from M1, µs since the line before):',
    '',
    '| µs | +µs | thread: event |',
    '|--:|--:|---|',
  ];
  r.labels.forEach((l, k) => lines.push(`| ${r.at[k].toFixed(1)} | ${k ? r.gap[k].toFixed(1) : ''} | ${l} |`));
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`trace.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
