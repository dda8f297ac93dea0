#!/usr/bin/env node
'use strict';
// Summarises a V8 CPU profile (node --cpu-prof) of a benchmark driver: the
// JS thread's time per function, self and inclusive (a function's own time
// plus its callees'), in µs per operation when --ops N is given, else in ms.
//
//   node --cpu-prof --cpu-prof-dir=DIR --cpu-prof-interval 100 bench/driver.js ...
//   node bench/cpuprofile.js DIR/*.cpuprofile [--ops N] [--top K] [--match REGEXP]
//
// --match keeps the functions whose "name file:line" matches (e.g.
// 'lib/|bench/|tikv_'); "(idle)" is the thread waiting in the event loop,
// "(program)" native work outside JS functions, "(garbage collector)" GC.
const fs = require('fs');

function parseArgs(argv) {
  const o = { file: null, ops: 0, top: 30, match: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--ops') o.ops = Number(argv[++i]);
    else if (a === '--top') o.top = Number(argv[++i]);
    else if (a === '--match') o.match = new RegExp(argv[++i]);
    else if (!o.file) o.file = a;
    else {
      process.stderr.write(`cpuprofile.js: unexpected ${a}\n`);
      process.exit(2);
    }
  }
  if (!o.file) {
    process.stderr.write('usage: node bench/cpuprofile.js FILE.cpuprofile [--ops N] [--top K] [--match REGEXP]\n');
    process.exit(2);
  }
  return o;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const prof = JSON.parse(fs.readFileSync(o.file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const label = (n) => {
    const f = n.callFrame;
    const file = f.url ? f.url.replace(/^file:\/\//, '').replace(/^.*\/(lib|bench|node_modules)\//, '$1/') : '';
    return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
  };
  const self = new Map();
  const incl = new Map();
  let total = 0;
  prof.samples.forEach((id, k) => {
    const dt = prof.timeDeltas[k + 1] !== undefined ? prof.timeDeltas[k + 1] : 0; // µs until the next sample
    total += dt;
    const l = label(byId.get(id));
    self.set(l, (self.get(l) || 0) + dt);
    const seen = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const ln = label(byId.get(n));
      if (seen.has(ln)) continue; // recursion: count once
      seen.add(ln);
      incl.set(ln, (incl.get(ln) || 0) + dt);
    }
  });
  const unit = o.ops ? 'µs/op' : 'ms';
  const scale = (us) => (o.ops ? us / o.ops : us / 1000).toFixed(o.ops ? 2 : 1);
  const rows = [...incl.keys()]
    .filter((l) => !o.match || o.match.test(l))
    .map((l) => ({ l, self: self.get(l) || 0, incl: incl.get(l) }))
    .sort((a, b) => b.self - a.self || b.incl - a.incl)
    .slice(0, o.top);
  const out = [`profile: ${(total / 1e6).toFixed(2)} s of samples${o.ops ? `, ${o.ops} operations` : ''}`, '',
    `| self ${unit} | inclusive ${unit} | function |`, '|--:|--:|---|'];
  for (const r of rows) out.push(`| ${scale(r.self)} | ${scale(r.incl)} | ${r.l} |`);
  process.stdout.write(out.join('\n') + '\n');
}

main();
