#!/usr/bin/env node
// Makes the generated sources: what is made from files of the tree and is
// shipped in the npm tarball (`prepack` runs this with --force), but never
// committed. A package installed from the tarball therefore compiles only: it
// needs neither SWIG nor protoc-c.
//
//   node scripts/generate.js            make what is missing or older than its inputs
//   node scripts/generate.js --force    make everything (prepack)
//   node scripts/generate.js swig ...   only the named generators
//   node scripts/generate.js --list     the generators and their outputs
//
// To add a generator, add one line to GENERATORS: its inputs, its outputs
// (paths relative to the package root, `dir/*.ext` globs allowed) and the
// command that makes the outputs from the inputs. Both must be in the
// tarball (package.json "files"; scripts/check-pack.sh checks).
//
// Staleness is by content, not by time: a generator runs when one of its
// outputs is missing or its inputs (and command) differ from those it last
// ran on, as recorded in gen/stamps.json (shipped in the tarball). npm does
// not keep a tarball's file times, so times cannot tell. Current outputs
// older than an input are touched, so that make's time-based rules
// (gen/proto) agree.
'use strict';
const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const STAMPS = 'gen/stamps.json';

const GENERATORS = [
  { key: 'errors', inputs: ['include/tikv/error.h', 'scripts/gen-errors.js'], outputs: ['lib/codes.js', 'lib/codes.d.ts'], run: ['node', 'scripts/gen-errors.js'] },
  { key: 'faults', inputs: ['include/tikv/mock.h', 'scripts/gen-faults.js'], outputs: ['lib/mock-faults.js', 'lib/mock-faults.d.ts'], run: ['node', 'scripts/gen-faults.js'] },
  { key: 'proto', inputs: ['proto/*.proto'], outputs: ['gen/proto/*.pb-c.c', 'gen/proto/*.pb-c.h'], run: ['make', '-B', '--no-print-directory', 'proto'] },
  { key: 'swig', inputs: ['swig/tikv.i', 'swig/bridge.h', 'include/tikv/*.h'], outputs: ['gen/tikv_wrap.cxx'], run: ['bash', 'scripts/swig.sh', '-javascript', '-napi', '-c++', '-Iinclude', '-o', 'gen/tikv_wrap.cxx', 'swig/tikv.i'] },
];

/** The files a pattern names now (a `*` in the last part matches any run of characters). */
function expand(pattern) {
  const dir = path.join(ROOT, path.dirname(pattern));
  const base = path.basename(pattern);
  if (!base.includes('*')) return fs.existsSync(path.join(ROOT, pattern)) ? [pattern] : [];
  const re = new RegExp('^' + base.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => re.test(n)).sort().map((n) => path.join(path.dirname(pattern), n));
}

/** The digest of generator g's command and of its inputs' names and contents. */
function digest(g) {
  const h = crypto.createHash('sha256').update(JSON.stringify(g.run));
  for (const f of g.inputs.flatMap(expand).sort()) h.update(`\0${f}\0`).update(fs.readFileSync(path.join(ROOT, f)));
  return h.digest('hex');
}

function readStamps() {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, STAMPS), 'utf8'));
  } catch {
    return {};
  }
}

/** Why generator g must run, or null when its outputs are current. */
function staleness(g, stamps) {
  const missing = g.outputs.find((p) => expand(p).length === 0);
  if (missing) return `${missing} is missing`;
  if (stamps[g.key] === undefined) return 'not generated here before';
  return stamps[g.key] === digest(g) ? null : 'its inputs changed';
}

/** Makes current outputs look current to make too: touched only when older than an input. */
function touch(g) {
  const mtime = (f) => fs.statSync(path.join(ROOT, f)).mtimeMs;
  const newest = Math.max(...g.inputs.flatMap(expand).map(mtime));
  const outs = g.outputs.flatMap(expand);
  if (outs.every((f) => mtime(f) > newest)) return;
  const now = new Date();
  for (const f of outs) fs.utimesSync(path.join(ROOT, f), now, now);
}

function main(argv) {
  const force = argv.includes('--force');
  if (argv.includes('--list')) {
    for (const g of GENERATORS) console.log(`${g.key}: ${g.outputs.join(' ')}`);
    return 0;
  }
  const keys = argv.filter((a) => !a.startsWith('--'));
  const unknown = keys.filter((k) => !GENERATORS.some((g) => g.key === k));
  if (unknown.length) {
    console.error(`generate.js: unknown generator ${unknown.join(', ')} (have: ${GENERATORS.map((g) => g.key).join(', ')})`);
    return 2;
  }
  const stamps = readStamps();
  for (const g of GENERATORS) {
    if (keys.length && !keys.includes(g.key)) continue;
    const why = force || keys.includes(g.key) ? 'asked for' : staleness(g, stamps);
    if (why === null) {
      touch(g);
      continue;
    }
    const cmd = g.run;
    console.error(`generate.js: ${g.key} (${why}): ${cmd.join(' ')}`);
    for (const p of g.outputs) fs.mkdirSync(path.join(ROOT, path.dirname(p)), { recursive: true });
    // the Node that runs this runs the JS generators too
    const r = spawnSync(cmd[0] === 'node' ? process.execPath : cmd[0], cmd.slice(1), { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`generate.js: ${g.key} failed (${r.error ? r.error.message : `exit ${r.status}`})`);
      return 1;
    }
    for (const p of g.outputs) {
      if (expand(p).length === 0) {
        console.error(`generate.js: ${g.key} made no ${p}`);
        return 1;
      }
    }
    stamps[g.key] = digest(g);
    fs.mkdirSync(path.join(ROOT, path.dirname(STAMPS)), { recursive: true });
    fs.writeFileSync(path.join(ROOT, STAMPS), JSON.stringify(stamps, null, 2) + '\n');
  }
  return 0;
}

module.exports = { GENERATORS, STAMPS, expand };
if (require.main === module) process.exitCode = main(process.argv.slice(2));
