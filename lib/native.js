'use strict';
// The one module that loads the addon. It registers the completion
// dispatcher and hands the rest of the library a small binding object:
//   { addon, track(id, transform?) -> Promise, pendingCount() }
// Other modules receive this object (so they can be tested against a fake).
const path = require('path');
const { TikvError } = require('./errors');

function load() {
  const root = path.join(__dirname, '..');
  const candidates = [
    process.env.TIKV_CLIENT_ADDON,
    path.join(root, 'build', 'Release', 'tikv.node'),
    path.join(root, 'build', 'Debug', 'tikv.node'),
  ].filter(Boolean);
  let firstError;
  for (const file of candidates) {
    try {
      return require(file);
    } catch (e) {
      if (e && e.code !== 'MODULE_NOT_FOUND') throw e;
      firstError = firstError || e;
    }
  }
  const err = new Error(
    'tikv-client: the native addon is not built (looked for build/Release/tikv.node). ' +
      'Run `npm install` (or `npm run build`) in the package directory.'
  );
  err.cause = firstError;
  throw err;
}

const addon = load();

// id -> { resolve, reject, transform }
const pending = new Map();

addon.setDispatcher(function dispatch(id, err, result) {
  const p = pending.get(id);
  if (p === undefined) return; // cannot happen: every id is tracked synchronously
  pending.delete(id);
  try {
    if (err === null) p.resolve(p.transform === undefined ? result : p.transform(result));
    else p.reject(TikvError.fromNative(err));
  } catch (e) {
    p.reject(e);
  }
});

/**
 * Promise of the result of the operation `id` (returned by a native call).
 * `owner` (the client) is kept reachable until the operation completes, so
 * that a client dropped with operations in flight is not finalized (closed)
 * under them.
 */
function track(id, transform, owner) {
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, transform, owner });
  });
}

module.exports = {
  addon,
  track,
  pendingCount: () => pending.size,
  stats: () => addon.bridgeStats(),
};
