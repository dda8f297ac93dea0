'use strict';
// Range reads shared by RawClient, Transaction and Snapshot: the arguments of
// one scan, and iterate(), which walks a range of any size as a sequence of
// scans of batchSize pairs each, so memory stays bounded by one page.
const A = require('./args');

const MAX_SCAN_LIMIT = 10240;
// what scan() returns at most when no limit is given
const DEFAULT_SCAN_LIMIT = 1024;
const DEFAULT_BATCH_SIZE = 256;

const SCAN_OPTIONS = Object.freeze(['limit', 'keyOnly', 'reverse']);
const ITERATE_OPTIONS = Object.freeze(['batchSize', 'reverse', 'keyOnly']);

/**
 * [start, end) of a scan: start, end (empty: unbounded), limit, keyOnly,
 * reverse. callKeys: the per-call options the method also takes.
 */
function scanArgs(start, end, options, callKeys = A.CALL_OPTIONS) {
  const s = A.bytes(start, 'start');
  const e = A.boundOrEmpty(end, 'end');
  const o = A.options(options, [...SCAN_OPTIONS, ...callKeys]);
  const limit = A.integer(o.limit, 'options.limit', 1, MAX_SCAN_LIMIT, DEFAULT_SCAN_LIMIT);
  const keyOnly = A.bool(o.keyOnly, 'options.keyOnly');
  const reverse = A.bool(o.reverse, 'options.reverse');
  return [s, e, limit, keyOnly ? 1 : 0, reverse ? 1 : 0];
}

/** The smallest key after key. */
function successor(key) {
  const out = Buffer.allocUnsafe(key.length + 1);
  out.set(key, 0);
  out[key.length] = 0;
  return out;
}

/**
 * An async iterator over the pairs of [start, end) (ascending, or descending
 * with reverse), fetched by scan(lo, hi, {limit, reverse, keyOnly}) a page of
 * batchSize at a time, each page starting past the last key seen. A page
 * shorter than batchSize is the last: scan() returns fewer pairs than asked
 * only at the end of its range (a transaction's scan fetches enough stored
 * pairs to make up for its buffered deletes). Throws argument errors at once;
 * the per-call options (callKeys) apply to each page.
 */
function iterate(scan, start, end, options, callKeys = A.CALL_OPTIONS) {
  const s = A.bytes(start, 'start');
  const e = A.boundOrEmpty(end, 'end');
  const o = A.options(options, [...ITERATE_OPTIONS, ...callKeys]);
  // each page's scan takes the per-call options (a signal ends the walk)
  const call = {};
  for (const k of callKeys) if (o[k] !== undefined) call[k] = o[k];
  const batchSize = A.integer(o.batchSize, 'options.batchSize', 1, MAX_SCAN_LIMIT, DEFAULT_BATCH_SIZE);
  const reverse = A.bool(o.reverse, 'options.reverse');
  const keyOnly = A.bool(o.keyOnly, 'options.keyOnly');
  return (async function* pages() {
    let lo = s;
    let hi = e;
    for (;;) {
      if (hi.length > 0 && Buffer.compare(lo, hi) >= 0) return;
      const page = await scan(lo, hi, { limit: batchSize, reverse, keyOnly, ...call });
      for (const kv of page) yield kv;
      if (page.length < batchSize) return;
      const last = page[page.length - 1].key;
      if (reverse) {
        if (last.length === 0) return; // nothing sorts below the empty key
        hi = last;
      } else {
        lo = successor(last);
      }
    }
  })();
}

module.exports = { scanArgs, iterate, MAX_SCAN_LIMIT, DEFAULT_SCAN_LIMIT, DEFAULT_BATCH_SIZE };
