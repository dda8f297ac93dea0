#!/usr/bin/env node
'use strict';
// The mutation run (`make mutants`): applies each mutation of
// test/mutants.txt to the tree, one at a time, rebuilds what it needs, runs
// the suites most likely to catch it first (then every other suite), stops at
// the first failing suite, restores the file, and prints the mutation with
// the test that caught it or SURVIVED, then the score.
//
//   node test/mutants/run.js [--only REGEX] [--list FILE] [--no-conformance] [--check]
//
// --check only verifies that every mutation still applies (its snippet occurs
// exactly once): no build, no test, nothing written.
//
// The format of the list is documented in README.md ("Mutation testing") and
// at the top of test/mutants.txt. The tree is restored whatever happens: on
// success, on failure, on Ctrl-C / SIGTERM, and — for a run that was killed
// outright — at the start of the next run (the original of the mutated file
// is kept in build-c/mutants/restore.json while a mutation is applied).
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');

const ROOT = path.resolve(__dirname, '../..');
const STATE_DIR = path.join(ROOT, 'build-c', 'mutants');
const RESTORE = path.join(STATE_DIR, 'restore.json');
const LOG_DIR = path.join(STATE_DIR, 'logs');
const SUITE_TIMEOUT_MS = 10 * 60 * 1000; // a hang is a catch, but not forever

// ---- every suite, in the order tried after a mutation's own `tests:` ----
// Every test/c/check_*.c (built as build-c/test/check_*), the quick ones first.
const QUICK_FIRST = ['check_proto', 'check_core', 'check_mock', 'check_mock_txn', 'check_pd', 'check_txn', 'check_raw'];
const C_SUITES = fs
  .readdirSync(path.join(ROOT, 'test', 'c'))
  .filter((f) => /^check_\w+\.c$/.test(f))
  .map((f) => f.slice(0, -2))
  .sort((a, b) => {
    const rank = (x) => (QUICK_FIRST.includes(x) ? QUICK_FIRST.indexOf(x) : QUICK_FIRST.length);
    return rank(a) - rank(b) || a.localeCompare(b);
  });
function jsSuites() {
  return fs
    .readdirSync(path.join(ROOT, 'test', 'js'))
    .filter((f) => /\.test\.m?js$/.test(f))
    .sort()
    .map((f) => `js:${f}`);
}
const CONFORMANCE = 'conformance';

function suiteKnown(s) {
  if (C_SUITES.includes(s) || s === CONFORMANCE) return true;
  if (s.startsWith('js:')) return fs.existsSync(path.join(ROOT, 'test', 'js', s.slice(3)));
  return false;
}

// ---- the list ----
const FIELDS = ['breaks', 'file', 'find', 'replace', 'tests', 'survives'];

function parseList(text, file) {
  const entries = [];
  let cur = null;
  let last = null;
  const fail = (n, msg) => {
    throw new Error(`${file}:${n}: ${msg}`);
  };
  text.split('\n').forEach((line, i) => {
    const n = i + 1;
    if (/^\s*#/.test(line) || /^\s*$/.test(line)) {
      last = null;
      return;
    }
    const head = /^\[([^\]\s]+)\]\s*$/.exec(line);
    if (head) {
      cur = { id: head[1], line: n };
      if (entries.some((e) => e.id === cur.id)) fail(n, `duplicate mutation id ${cur.id}`);
      entries.push(cur);
      last = null;
      return;
    }
    if (!cur) fail(n, 'a field before the first [id]');
    if (line === '|' || line.startsWith('| ')) {
      if (!last || (last !== 'find' && last !== 'replace')) fail(n, 'a "|" line continues only find: or replace:');
      cur[last] += '\n' + line.slice(2);
      return;
    }
    const f = /^([a-z]+):(?: (.*))?$/.exec(line);
    if (!f || !FIELDS.includes(f[1])) fail(n, `expected one of ${FIELDS.join(', ')}, "| ..." or [id]: ${line}`);
    if (cur[f[1]] !== undefined) fail(n, `${f[1]} given twice in ${cur.id}`);
    cur[f[1]] = f[2] === undefined ? '' : f[2].replace(/^ +/, '');
    last = f[1];
  });
  for (const e of entries) {
    for (const k of ['breaks', 'file', 'find', 'replace'])
      if (e[k] === undefined) throw new Error(`${file}:${e.line}: ${e.id} has no ${k}:`);
    if (e.find === e.replace) throw new Error(`${file}:${e.line}: ${e.id} replaces its snippet by itself`);
    e.tests = (e.tests || '').split(/\s+/).filter(Boolean);
    for (const s of e.tests)
      if (!suiteKnown(s)) throw new Error(`${file}:${e.line}: ${e.id} names an unknown suite ${s}`);
  }
  return entries;
}

// ---- keeping the tree whole ----
let applied = null; // {file, original}

function restore() {
  if (applied) {
    fs.writeFileSync(applied.abs, applied.original);
    applied = null;
  }
  fs.rmSync(RESTORE, { force: true });
}

function restoreLeftover() {
  if (!fs.existsSync(RESTORE)) return;
  const r = JSON.parse(fs.readFileSync(RESTORE, 'utf8'));
  fs.writeFileSync(path.join(ROOT, r.file), Buffer.from(r.original, 'base64'));
  fs.rmSync(RESTORE, { force: true });
  console.log(`restored ${r.file}, left mutated by an interrupted run`);
}

function apply(e) {
  const abs = path.join(ROOT, e.file);
  if (!fs.existsSync(abs)) return `file ${e.file} does not exist`;
  const original = fs.readFileSync(abs);
  const text = original.toString('utf8');
  const count = text.split(e.find).length - 1;
  if (count !== 1) return `its snippet occurs ${count} times in ${e.file} (must be exactly once)`;
  fs.mkdirSync(STATE_DIR, { recursive: true });
  fs.writeFileSync(RESTORE, JSON.stringify({ file: e.file, original: original.toString('base64') }));
  applied = { abs, original };
  fs.writeFileSync(abs, text.replace(e.find, () => e.replace));
  return null;
}

// ---- running things ----
let child = null;

function run(cmd, args, logFile, opts = {}) {
  return new Promise((resolve) => {
    const out = fs.openSync(logFile, 'a');
    fs.writeSync(out, `\n$ ${cmd} ${args.join(' ')}\n`);
    child = spawn(cmd, args, {
      cwd: ROOT,
      stdio: ['ignore', out, out],
      detached: true, // its own process group: a timeout or Ctrl-C ends all of it
      env: { ...process.env, ...(opts.env || {}) },
    });
    const started = Date.now();
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, opts.timeoutMs || SUITE_TIMEOUT_MS);
    let settled = false;
    const settle = (r) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fs.closeSync(out);
      child = null;
      resolve({ ms: Date.now() - started, ...r });
    };
    child.on('error', (error) => settle({ ok: false, error })); // could not start it
    child.on('exit', (code, signal) => settle({ ok: code === 0, code, signal }));
  });
}

function killChild() {
  if (child) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }
}

// Builds what a change to `file` needs; the addon only when a Node suite runs.
function needsC(file) {
  return /^(csrc|include|proto)\//.test(file);
}
// The bridge and the wrapper's interface: the addon only.
function needsAddon(file) {
  return /^swig\/|^binding\.gyp$/.test(file);
}

async function buildC(log) {
  return run('make', ['-j2', 'all'], log);
}
async function buildAddon(log) {
  return run('npm', ['run', '--silent', 'build'], log);
}

function suiteCommand(s) {
  if (s === CONFORMANCE) return ['bash', ['scripts/conformance.sh']];
  if (s.startsWith('js:'))
    return [process.execPath, ['--test', '--test-reporter=tap', path.join('test', 'js', s.slice(3))]];
  return [path.join(ROOT, 'build-c', 'test', s), []];
}

// The first failing test named in a suite's output.
function failedTest(s, text) {
  if (s.startsWith('js:')) {
    const m = /^\s*not ok \d+ - (.*)$/m.exec(text);
    return m ? m[1].trim() : null;
  }
  if (s === CONFORMANCE) {
    const m = /^.*\bFAIL\b.*$/m.exec(text);
    return m ? m[0].trim().slice(0, 120) : null;
  }
  const m = /^[^\s:]+\.c:\d+:[EF]:([^:]+):([^:]+):\d+: ?(.*)$/m.exec(text);
  return m ? `${m[2]} (${m[3].slice(0, 100)})` : null;
}

// ---- main ----
async function main() {
  const argv = process.argv.slice(2);
  let only = null;
  let listFile = path.join(ROOT, 'test', 'mutants.txt');
  let conformance = true;
  let checkOnly = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--only') only = new RegExp(argv[++i]);
    else if (argv[i] === '--list') listFile = path.resolve(argv[++i]);
    else if (argv[i] === '--no-conformance') conformance = false;
    else if (argv[i] === '--check') checkOnly = true;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  restoreLeftover();
  const all = parseList(fs.readFileSync(listFile, 'utf8'), path.relative(ROOT, listFile));
  const entries = only ? all.filter((e) => only.test(e.id)) : all;
  if (entries.length === 0) throw new Error(`no mutation matches ${only}`);
  if (checkOnly) {
    let bad = 0;
    for (const e of entries) {
      const text = fs.existsSync(path.join(ROOT, e.file)) ? fs.readFileSync(path.join(ROOT, e.file), 'utf8') : null;
      const count = text === null ? -1 : text.split(e.find).length - 1;
      if (count !== 1) {
        bad++;
        console.log(`${e.id}: NO LONGER APPLIES: ${count < 0 ? `no file ${e.file}` : `snippet occurs ${count} times in ${e.file}`}`);
      }
    }
    console.log(`${entries.length - bad}/${entries.length} mutations apply`);
    return bad ? 1 : 0;
  }
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const every = [...C_SUITES, ...jsSuites(), ...(conformance ? [CONFORMANCE] : [])];

  // the unmutated tree must build and be what the suites run against
  const baseLog = path.join(LOG_DIR, '_build.log');
  fs.writeFileSync(baseLog, '');
  if (!(await buildC(baseLog)).ok || !(await buildAddon(baseLog)).ok)
    throw new Error(`the unmutated tree does not build: see ${path.relative(ROOT, baseLog)}`);

  console.log(`${entries.length} mutation(s) of ${all.length} in ${path.relative(ROOT, listFile)}; logs in ${path.relative(ROOT, LOG_DIR)}/`);
  const t0 = Date.now();
  const results = [];
  let staleC = false; // the C build (and addon) come from a since-restored mutation
  let staleAddon = false; // the addon alone does
  for (const [i, e] of entries.entries()) {
    const tag = `[${String(i + 1).padStart(2)}/${entries.length}] ${e.id}`;
    const log = path.join(LOG_DIR, `${e.id.replace(/[^\w.-]/g, '_')}.log`);
    fs.writeFileSync(log, `${e.id}: ${e.breaks}\n`);
    const problem = apply(e);
    if (problem) {
      console.log(`${tag}  NO LONGER APPLIES: ${problem}`);
      results.push({ e, status: 'stale', why: problem });
      continue;
    }
    const started = Date.now();
    let status = 'survived';
    let by = null;
    let addonBuilt = true;
    try {
      if (/\.m?js$/.test(e.file) && !(await run(process.execPath, ['--check', e.file], log)).ok) {
        // a mutation that does not parse tests nothing
        status = 'nobuild';
        by = `the mutated ${e.file} does not parse (see ${path.relative(ROOT, log)})`;
      } else if (needsC(e.file) || staleC) {
        staleC = needsC(e.file);
        staleAddon = false;
        addonBuilt = false;
        if (!(await buildC(log)).ok) {
          status = 'nobuild';
          by = `the mutated tree does not build (see ${path.relative(ROOT, log)})`;
        }
      }
      if (needsAddon(e.file) || staleAddon) {
        // built before the first Node suite; once restored, built again
        staleAddon = needsAddon(e.file);
        addonBuilt = false;
      }
      const order = [...e.tests, ...every.filter((s) => !e.tests.includes(s))];
      for (const s of status === 'survived' ? order : []) {
        if (s.startsWith('js:') && !addonBuilt) {
          if (!(await buildAddon(log)).ok) {
            status = 'nobuild';
            by = 'the addon does not build';
            break;
          }
          addonBuilt = true;
        }
        const before = fs.statSync(log).size;
        const [cmd, args] = suiteCommand(s);
        const r = await run(cmd, args, log);
        if (r.error) {
          status = 'nobuild';
          by = `cannot run ${s}: ${r.error.message}`;
          break;
        }
        if (!r.ok) {
          const text = fs.readFileSync(log).subarray(before).toString('utf8');
          const test = failedTest(s, text);
          status = 'caught';
          by = `${s}${test ? `: ${test}` : r.signal ? ` (killed: ${r.signal}, timed out)` : ` (exit ${r.code})`}`;
          break;
        }
      }
    } finally {
      restore();
    }
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    if (status === 'caught') console.log(`${tag}  caught by ${by}  (${secs}s)`);
    else if (status === 'nobuild') console.log(`${tag}  ERROR: ${by}`);
    else if (e.survives !== undefined) console.log(`${tag}  SURVIVED (kept: ${e.survives})  (${secs}s)`);
    else console.log(`${tag}  SURVIVED  (${secs}s) — ${e.breaks}`);
    results.push({ e, status, by });
  }
  if (staleC || staleAddon) {
    // leave the build matching the restored sources
    if (staleC) await buildC(baseLog);
    await buildAddon(baseLog);
  }
  const caught = results.filter((r) => r.status === 'caught').length;
  const survived = results.filter((r) => r.status === 'survived');
  const broken = results.filter((r) => r.status === 'stale' || r.status === 'nobuild');
  const scored = results.length - broken.length;
  const mins = ((Date.now() - t0) / 60000).toFixed(1);
  console.log(
    `\nscore: ${caught}/${scored} caught (${scored ? ((100 * caught) / scored).toFixed(1) : '0'}%), ` +
      `${survived.length} survived, ${broken.length} not run; ${mins} min`
  );
  for (const r of survived)
    console.log(`  SURVIVED ${r.e.id}: ${r.e.breaks}${r.e.survives !== undefined ? ` — kept: ${r.e.survives}` : ''}`);
  for (const r of broken) console.log(`  NOT RUN  ${r.e.id} (${r.e.file}): ${r.why || r.by}`);
  const unexpected = survived.filter((r) => r.e.survives === undefined);
  return unexpected.length || broken.length ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killChild();
    restore();
    console.log(`\ninterrupted (${sig}); the tree is restored (rebuild with make / npm run build)`);
    process.exit(130);
  });
}
process.on('exit', () => {
  if (applied) restore();
});

main().then(
  (code) => process.exit(code),
  (err) => {
    killChild();
    restore();
    console.error(`mutants: ${err.message}`);
    process.exit(2);
  }
);
