'use strict';
// RawClient: TiKV's raw key-value API over the addon's futures.
//
// Every method returning a Promise reports every error, argument errors
// included (TypeError / RangeError), by rejecting: it never throws.
// iterate() returns an async iterator and throws its argument errors at once.
const A = require('./args');
const { TikvError } = require('./errors');
const { attempt, makeCall } = require('./call');
const { scanArgs, iterate, MAX_SCAN_LIMIT, DEFAULT_SCAN_LIMIT } = require('./scan');
const { EventEmitter } = require('events');
const { clientEvents } = require('./events');

const COLUMN_FAMILIES = ['default', 'lock', 'write'];
const V2_COLUMN_FAMILIES = ['default'];

// the option keys each method knows (A.options refuses any other)
const CONNECT_OPTIONS = Object.freeze([...A.TIMEOUT_OPTIONS, 'columnFamily', 'atomic', ...A.CLUSTER_OPTIONS, 'signal']);
const TTL_OPTIONS = Object.freeze(['ttl', ...A.RAW_CALL_OPTIONS]);
const BATCH_SCAN_OPTIONS = Object.freeze(['eachLimit', 'keyOnly', ...A.RAW_CALL_OPTIONS]);

const TOKEN = Symbol('RawClient');

function ttlToNumber(v) {
  return v === null ? null : Number(v);
}

function ttl(options) {
  return A.u64(A.options(options, TTL_OPTIONS).ttl, 'options.ttl', 0n);
}

function makeRawClient(binding) {
  const { addon, openClient } = binding;
  const call = makeCall(binding);
  const finalizer = new FinalizationRegistry((handle) => addon.closeClient(handle));
  const events = clientEvents(addon);

  // events: 'regionError', 'storeDown', 'storeUp', 'pdLeaderChange' (events.js)
  class RawClient extends EventEmitter {
    #h;
    #events;
    #closed = false;
    #handle = () => {
      if (this.#closed) throw TikvError.of('CLOSED');
      return this.#h;
    };

    constructor(token, handle, options) {
      if (token !== TOKEN) throw new TypeError('use RawClient.connect(pdEndpoints, options)');
      super();
      this.#h = handle;
      this.#events = events.watch(this, handle);
      this.options = Object.freeze(options);
      finalizer.register(this, handle, this);
    }

    /**
     * Connects to the cluster whose PD answers at one of pdEndpoints
     * ("host:port"). Options: timeoutMs (per operation, retries included),
     * attemptTimeoutMs (per RPC attempt, default 2000), columnFamily ('default' | 'lock' | 'write'), atomic (needed by
     * compareAndSwap), tls, apiVersion, keyspace, batchCommands and idleSpinUs (args.js clusterOptions).
     */
    static connect(pdEndpoints, options) {
      return attempt(() => {
        A.endpoints(pdEndpoints);
        const o = A.options(options, CONNECT_OPTIONS);
        const { timeoutMs, attemptTimeoutMs } = A.timeouts(o);
        const columnFamily = o.columnFamily === undefined ? 'default' : A.string(o.columnFamily, 'options.columnFamily');
        if (!COLUMN_FAMILIES.includes(columnFamily))
          throw new RangeError(`options.columnFamily must be one of ${COLUMN_FAMILIES.join(', ')}, got ${JSON.stringify(columnFamily)}`);
        const atomic = A.bool(o.atomic, 'options.atomic');
        const cluster = A.clusterOptions(o);
        const signal = A.signal(o.signal, 'options.signal');
        const opts = { pdEndpoints: [...pdEndpoints], timeoutMs: timeoutMs || undefined, attemptTimeoutMs: attemptTimeoutMs || undefined, columnFamily, atomic, ...cluster.shown };
        return openClient(pdEndpoints, timeoutMs, columnFamily, atomic, cluster, attemptTimeoutMs, signal).then((handle) => new RawClient(TOKEN, handle, opts));
      });
    }

    get closed() {
      return this.#closed;
    }

    /** The cluster id PD reported (bigint). */
    get clusterId() {
      return this.#closed ? 0n : addon.tikv_client_cluster_id(this.#h);
    }

    /** Counters of retries by cause, backoff and PD leader changes (a plain object). */
    stats() {
      return events.stats(this.#handle());
    }

    /** One operation of this client, with its per-call options: see call.js. */
    #call(fn, args, transform, options) {
      // API v2 has no column families: only 'default' may be named
      const cfs = this.options.apiVersion === 2 ? V2_COLUMN_FAMILIES : COLUMN_FAMILIES;
      return call(this, this.#handle, fn, args, transform, options, cfs);
    }

    /** Buffer, or null when the key does not exist. */
    get(key, options) {
      return this.#call('tikv_raw_get', () => A.keyArgs(key, options, A.RAW_CALL_OPTIONS), undefined, options);
    }

    /** The pairs found, in key order. */
    batchGet(keys, options) {
      return this.#call('tikv_raw_batch_get', () => A.keysArgs(keys, options, A.RAW_CALL_OPTIONS), undefined, options);
    }

    /** The value of each key, in the order of keys: Buffer, or null where the key does not exist. */
    batchGetValues(keys, options) {
      return this.#call('tikv_raw_batch_get_values', () => A.keysArgs(keys, options, A.RAW_CALL_OPTIONS), undefined, options);
    }

    put(key, value, options) {
      return this.#call('tikv_raw_put', () => [A.bytes(key, 'key'), A.bytes(value, 'value'), ttl(options)], undefined, options);
    }

    /** pairs: Array<[key, value]>, Array<{key, value}> or a Map. */
    batchPut(pairs, options) {
      return this.#call('tikv_raw_batch_put', () => {
        const entries = pairs instanceof Map ? [...pairs] : A.array(pairs, 'pairs');
        const keys = new Array(entries.length);
        const values = new Array(entries.length);
        for (let i = 0; i < entries.length; i++) {
          const p = entries[i];
          if (Array.isArray(p)) {
            if (p.length !== 2) throw new TypeError(`pairs[${i}] must be a [key, value] pair`);
            keys[i] = A.bytesAt(p[0], 'pairs', i, '[0]');
            values[i] = A.bytesAt(p[1], 'pairs', i, '[1]');
          } else if (p !== null && typeof p === 'object' && !(p instanceof Uint8Array)) {
            keys[i] = A.bytesAt(p.key, 'pairs', i, '.key');
            values[i] = A.bytesAt(p.value, 'pairs', i, '.value');
          } else {
            throw new TypeError(`pairs[${i}] must be a [key, value] pair, got ${A.describe(p)}`);
          }
        }
        return [A.packBytes(keys), A.packBytes(values), ttl(options)];
      }, undefined, options);
    }

    delete(key, options) {
      return this.#call('tikv_raw_delete', () => A.keyArgs(key, options, A.RAW_CALL_OPTIONS), undefined, options);
    }

    batchDelete(keys, options) {
      return this.#call('tikv_raw_batch_delete', () => A.keysArgs(keys, options, A.RAW_CALL_OPTIONS), undefined, options);
    }

    /** Deletes [start, end); end null/omitted: to the end of the key space. */
    deleteRange(start, end, options) {
      return this.#call('tikv_raw_delete_range', () => {
        const s = A.bytes(start, 'start');
        const e = A.boundOrEmpty(end, 'end');
        A.options(options, A.RAW_CALL_OPTIONS);
        // as tikv_raw_delete_range refuses it
        if (e.length > 0 && Buffer.compare(s, e) >= 0)
          throw new RangeError('start must be before end (end null or omitted: to the end of the key space)');
        return [s, e];
      }, undefined, options);
    }

    /**
     * Up to `limit` pairs of [start, end) in key order, or descending from end
     * when `reverse`. end null/omitted: the end of the key space.
     */
    scan(start, end, options) {
      return this.#call('tikv_raw_scan', () => scanArgs(start, end, options, A.RAW_CALL_OPTIONS), undefined, options);
    }

    /** ranges: Array<[start, end]>; results of the ranges concatenated in order. */
    batchScan(ranges, options) {
      return this.#call('tikv_raw_batch_scan', () => {
        A.array(ranges, 'ranges');
        const bounds = new Array(ranges.length * 2);
        for (let i = 0; i < ranges.length; i++) {
          const r = ranges[i];
          if (!Array.isArray(r) || r.length < 1 || r.length > 2)
            throw new TypeError(`ranges[${i}] must be a [start, end] pair, got ${A.describe(r)}`);
          bounds[2 * i] = A.bytesAt(r[0], 'ranges', i, '[0]');
          bounds[2 * i + 1] = A.boundOrEmpty(r[1], `ranges[${i}][1]`);
        }
        const o = A.options(options, BATCH_SCAN_OPTIONS);
        const eachLimit = A.integer(o.eachLimit, 'options.eachLimit', 1, MAX_SCAN_LIMIT, DEFAULT_SCAN_LIMIT);
        const keyOnly = A.bool(o.keyOnly, 'options.keyOnly');
        return [A.packBytes(bounds), eachLimit, keyOnly ? 1 : 0];
      }, undefined, options);
    }

    /** Seconds left; 0 for a key without TTL; null when the key does not exist. */
    getKeyTtl(key, options) {
      return this.#call('tikv_raw_get_key_ttl', () => A.keyArgs(key, options, A.RAW_CALL_OPTIONS), ttlToNumber, options);
    }

    /**
     * Sets key to value if its current value is `previous` (null: if it does
     * not exist). Needs the atomic option. Resolves {swapped, previous}.
     */
    compareAndSwap(key, previous, value, options) {
      return this.#call('tikv_raw_compare_and_swap', () => {
        const k = A.bytes(key, 'key');
        const notExist = previous === null || previous === undefined;
        const p = notExist ? A.EMPTY : A.bytes(previous, 'previous');
        return [k, p, notExist ? 1 : 0, A.bytes(value, 'value'), ttl(options)];
      }, undefined, options);
    }

    /**
     * TiKV's RawChecksum of [start, end) (end null/omitted: to the end of the
     * key space) over the default column family, region by region, combined
     * as client-go does: {crc64Xor, totalKvs, totalBytes} (bigints).
     */
    checksum(start, end, options) {
      return this.#call('tikv_raw_checksum', () => {
        const s = A.bytes(start, 'start');
        const e = A.boundOrEmpty(end, 'end');
        A.options(options, A.CALL_OPTIONS);
        return [s, e];
      }, undefined, options);
    }

    /**
     * Async iterator over the pairs of [start, end), ascending (or descending
     * with reverse), fetched a page of batchSize at a time: each page is a scan
     * starting after the last key seen. Throws argument errors at once.
     */
    iterate(start, end, options) {
      return iterate((lo, hi, o) => this.scan(lo, hi, o), start, end, options, A.RAW_CALL_OPTIONS);
    }

    /** Closes the client; operations in flight reject with CLOSED. Idempotent. */
    close() {
      return attempt(() => {
        if (this.#closed) return;
        this.#closed = true;
        finalizer.unregister(this);
        events.unwatch(this.#events);
        addon.closeClient(this.#h);
      });
    }
  }

  return RawClient;
}

module.exports = { makeRawClient };
