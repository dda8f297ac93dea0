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
// To add a generator, add one line to GENERATORS. `inputs` and `outputs` are
// paths relative to the package root (`dir/*.ext` globs allowed); a generator
// without them decides staleness itself (make) and always runs.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');

const GENERATORS = [
  { key: 'errors', inputs: ['include/tikv/error.h', 'scripts/gen-errors.js'], outputs: ['lib/codes.js', 'lib/codes.d.ts'], run: ['node', 'scripts/gen-errors.js'] },
  { key: 'proto', outputs: ['gen/proto/*.pb-c.c', 'gen/proto/*.pb-c.h'], run: ['make', '--no-print-directory', 'proto'], force: ['-B'] },
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

const mtime = (f) => fs.statSync(path.join(ROOT, f)).mtimeMs;

/** Why generator g must run, or null when its outputs are up to date. */
function staleness(g) {
  if (!g.inputs) return 'it checks its own outputs';
  const outs = g.outputs.map((p) => [p, expand(p)]);
  const missing = outs.find(([, files]) => files.length === 0);
  if (missing) return `${missing[0]} is missing`;
  const oldest = Math.min(...outs.flatMap(([, files]) => files.map(mtime)));
  const newer = g.inputs.flatMap(expand).find((f) => mtime(f) > oldest);
  return newer ? `${newer} is newer than its outputs` : null;
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
  for (const g of GENERATORS) {
    if (keys.length && !keys.includes(g.key)) continue;
    const named = keys.includes(g.key);
    const why = force || named ? 'asked for' : staleness(g);
    if (why === null) continue;
    const cmd = g.run.concat(force || named ? g.force || [] : []);
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
  }
  return 0;
}

module.exports = { GENERATORS, expand };
if (require.main === module) process.exitCode = main(process.argv.slice(2));
