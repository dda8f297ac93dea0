'use strict';
// The one module that loads the addon. It registers the completion
// dispatcher and hands the rest of the library a small binding object:
//   { addon, track(id, transform?) -> Promise, pendingCount() }
// Other modules receive this object (so they can be tested against a fake).
const path = require('path');
const { TikvError } = require('./errors');
const A = require('./args');

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

/**
 * The class of Node's own Buffers (Buffer.from(arrayBuffer, offset, length)
 * makes one after checking its arguments; Node exposes it as the species of
 * Buffer). Constructing it directly is the cheapest way to a real Buffer over
 * part of an ArrayBuffer: ~30 ns, against ~80 for data.subarray(...), which
 * looks up the species on every call. Should a Node version stop exposing
 * it, a subclass of Uint8Array under Buffer.prototype does the same.
 */
function bufferViewClass(species = Buffer[Symbol.species]) {
  if (typeof species === 'function' && species.prototype === Buffer.prototype) return species;
  class View extends Uint8Array {}
  Object.setPrototypeOf(View.prototype, Buffer.prototype);
  delete View.prototype.constructor; // inherit Buffer's, as Node's own do
  return View;
}
const BufferView = bufferViewClass();

/** The data Buffer of a key/value result; the bridge sends null for one past 4 GiB. */
function dataOf(flat) {
  if (flat[0] === null) throw new RangeError('tikv: result too large for one Buffer (4 GiB)');
  return flat[0];
}

/**
 * A key/value array result arrives from the bridge as [data, lengths]: every
 * key and value of the call copied, in order, into the one Buffer `data`, and
 * their lengths (key 0, value 0, key 1, ...) in the Uint32Array `lengths`.
 * The pairs are views of `data`: the Buffers of one call share one backing
 * ArrayBuffer, like Node's pooled Buffers (buf.buffer is the whole of it).
 * This is the only Array the bridge delivers, so every key/value result
 * (batch get, scans, transactional reads) goes through here.
 */
function kvPairs(flat) {
  const data = dataOf(flat);
  const lengths = flat[1];
  const ab = data.buffer;
  let off = data.byteOffset;
  const n = lengths.length >>> 1;
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const kl = lengths[2 * i];
    const vl = lengths[2 * i + 1];
    const key = new BufferView(ab, off, kl);
    off += kl;
    const value = new BufferView(ab, off, vl);
    off += vl;
    out[i] = { key, value };
  }
  return out;
}

/**
 * A result of one value per key (batchGetValues) arrives as [data, lengths,
 * true]: the values one after the other in data, a length each, and
 * NO_VALUE (bridge.h's TIKVJS_NO_VALUE) for a key without one (null here).
 * The Buffers are views of data, as kvPairs's are.
 */
const NO_VALUE = 0xffffffff;
function kvValues(flat) {
  const data = dataOf(flat);
  const lengths = flat[1];
  const ab = data.buffer;
  let off = data.byteOffset;
  const n = lengths.length;
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const l = lengths[i];
    if (l === NO_VALUE) {
      out[i] = null;
      continue;
    }
    out[i] = new BufferView(ab, off, l);
    off += l;
  }
  return out;
}

addon.setDispatcher(function dispatch(id, err, result) {
  const p = pending.get(id);
  if (p === undefined) return; // cannot happen: every id is tracked synchronously
  pending.delete(id);
  // An entry deleted from a Map stays reachable from the Map's table (old
  // generation: the Map lives as long as the module) until V8 rehashes it,
  // and with it whatever the entry references. Through resolve, that is the
  // promise and so the result: measured at 16 batch gets of 1,000 keys in
  // flight, 70% of what the JS thread allocated survived each young-
  // generation GC and the GC took a third of the thread. So the entry lets
  // go of everything first.
  const { resolve, reject, transform } = p;
  p.resolve = p.reject = p.transform = p.owner = undefined;
  try {
    if (err === null && Array.isArray(result)) result = result.length === 3 ? kvValues(result) : kvPairs(result);
    if (err === null) resolve(transform === undefined ? result : transform(result));
    else reject(TikvError.fromNative(err));
  } catch (e) {
    reject(e);
  }
});

/**
 * Promise of the result of the operation `id` (returned by a native call).
 * `owner` (the client) is kept reachable until the operation completes, so
 * that a client dropped with operations in flight is not finalized (closed)
 * under them.
 */
function track(id, transform, owner) {
  // id 0: the operation succeeded inside the native call (nothing to wait for)
  if (id === 0) return Promise.resolve(transform === undefined ? undefined : transform(undefined));
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, transform, owner });
  });
}

/**
 * Creates a client handle and connects it to PD: Promise of the handle. On
 * any failure the handle is closed and the promise rejects (TikvError for
 * native errors).
 */
/**
 * cluster: args.js clusterOptions(...) (its native: TLS, API version,
 * keyspace; batch: 1 BatchCommands, 0 unary; spin: the idle spin in us);
 * the default is clusterOptions({}). attemptTimeoutMs 0: the default.
 * signal (an AbortSignal, optional): its abort closes the client being
 * connected, and the connect rejects with an AbortError (code ABORTED).
 */
function openClient(pdEndpoints, timeoutMs, columnFamily, atomic, cluster = A.clusterOptions({}), attemptTimeoutMs = 0, signal = undefined) {
  const aborted = () => {
    const e = TikvError.of('ABORTED', 'connect was aborted');
    if (signal.reason !== undefined) e.cause = signal.reason;
    return e;
  };
  if (signal !== undefined && signal.aborted) return Promise.reject(aborted());
  let handle;
  try {
    handle = addon.tikvjs_client_new(pdEndpoints.join(','), timeoutMs, columnFamily, atomic ? 1 : 0, ...cluster.native,
      attemptTimeoutMs, cluster.batch, cluster.spin);
  } catch (e) {
    return Promise.reject(e.code && !(e instanceof TikvError) ? TikvError.of(e.code, e.message) : e);
  }
  let id;
  try {
    id = addon.tikv_client_connect(handle);
  } catch (e) {
    addon.closeClient(handle);
    return Promise.reject(e);
  }
  const onAbort = () => addon.closeClient(handle);
  if (signal !== undefined) signal.addEventListener('abort', onAbort, { once: true });
  const off = () => {
    if (signal !== undefined) signal.removeEventListener('abort', onAbort);
  };
  return track(id).then(
    () => {
      off();
      return handle;
    },
    (e) => {
      off();
      addon.closeClient(handle);
      throw signal !== undefined && signal.aborted ? aborted() : e;
    }
  );
}

module.exports = {
  addon,
  track,
  openClient,
  kvPairs,
  kvValues,
  bufferViewClass,
  pending, // for tests: what an entry still holds once its operation is done
  pendingCount: () => pending.size,
  stats: () => addon.bridgeStats(),
};
