#!/usr/bin/env node
// Runs the Node tests: `node --test` over test/js/*.test.{js,mjs}, named
// file by file. Node 20 to 26 all accept a list of files, while a directory
// argument or a glob means different things across them; the reporter is
// pinned too (the default differs). Extra arguments go
// to node before the files (e.g. --test-name-pattern=scan).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const dir = path.join(__dirname, '..', 'test', 'js');
const files = fs
  .readdirSync(dir)
  .filter((f) => /\.test\.(c|m)?js$/.test(f))
  .sort()
  .map((f) => path.join('test', 'js', f));
if (files.length === 0) {
  console.error('test-js.js: no test files in test/js');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...process.argv.slice(2), ...files], {
  cwd: path.join(__dirname, '..'),
  stdio: 'inherit',
});
process.exit(r.status === null ? 1 : r.status);
