'use strict';
// RawClient: TiKV's raw key-value API over the addon's futures.
//
// Every method returning a Promise reports every error, argument errors
// included (TypeError / RangeError), by rejecting: it never throws.
// iterate() returns an async iterator and throws its argument errors at once.
const A = require('./args');
const { TikvError } = require('./errors');

const MAX_SCAN_LIMIT = 10240;
const DEFAULT_SCAN_LIMIT = 1024;
const DEFAULT_BATCH_SIZE = 256;
const COLUMN_FAMILIES = ['default', 'lock', 'write'];

const TOKEN = Symbol('RawClient');

function ttlToNumber(v) {
  return v === null ? null : Number(v);
}

// a thrown error becomes a rejection
function reject(e) {
  return Promise.reject(e);
}

function successor(key) {
  const out = Buffer.allocUnsafe(key.length + 1);
  out.set(key, 0);
  out[key.length] = 0;
  return out;
}

function makeRawClient(binding) {
  const { addon, track, openClient } = binding;
  const finalizer = new FinalizationRegistry((handle) => addon.closeClient(handle));

  class RawClient {
    #h;
    #closed = false;

    constructor(token, handle, options) {
      if (token !== TOKEN) throw new TypeError('use RawClient.connect(pdEndpoints, options)');
      this.#h = handle;
      this.options = Object.freeze(options);
      finalizer.register(this, handle, this);
    }

    /**
     * Connects to the cluster whose PD answers at one of pdEndpoints
     * ("host:port"). Options: timeoutMs (per operation, retries included),
     * columnFamily ('default' | 'lock' | 'write'), atomic (needed by
     * compareAndSwap).
     */
    static connect(pdEndpoints, options) {
      let opts;
      try {
        A.endpoints(pdEndpoints);
        const o = A.options(options);
        const timeoutMs = A.integer(o.timeoutMs, 'options.timeoutMs', 1, 0xffffffff, 0);
        const columnFamily = o.columnFamily === undefined ? 'default' : A.string(o.columnFamily, 'options.columnFamily');
        if (!COLUMN_FAMILIES.includes(columnFamily))
          throw new RangeError(`options.columnFamily must be one of ${COLUMN_FAMILIES.join(', ')}, got ${JSON.stringify(columnFamily)}`);
        const atomic = A.bool(o.atomic, 'options.atomic');
        opts = { pdEndpoints: [...pdEndpoints], timeoutMs: timeoutMs || undefined, columnFamily, atomic };
      } catch (e) {
        return reject(e);
      }
      return openClient(pdEndpoints, opts.timeoutMs || 0, opts.columnFamily, opts.atomic).then(
        (handle) => new RawClient(TOKEN, handle, opts)
      );
    }

    get closed() {
      return this.#closed;
    }

    /** The cluster id PD reported (bigint). */
    get clusterId() {
      return this.#closed ? 0n : addon.tikv_client_cluster_id(this.#h);
    }

    #handle() {
      if (this.#closed) throw TikvError.of('CLOSED');
      return this.#h;
    }

    /** Buffer, or null when the key does not exist. */
    get(key) {
      try {
        const k = A.bytes(key, 'key');
        return track(addon.tikv_raw_get(this.#handle(), k), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    /** The pairs found, in key order. */
    batchGet(keys) {
      try {
        const ks = A.byteArray(keys, 'keys');
        return track(addon.tikv_raw_batch_get(this.#handle(), ks), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    put(key, value, options) {
      try {
        const k = A.bytes(key, 'key');
        const v = A.bytes(value, 'value');
        const ttl = A.u64(A.options(options).ttl, 'options.ttl', 0n);
        return track(addon.tikv_raw_put(this.#handle(), k, v, ttl), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    /** pairs: Array<[key, value]>, Array<{key, value}> or a Map. */
    batchPut(pairs, options) {
      try {
        let entries;
        if (pairs instanceof Map) entries = [...pairs];
        else entries = A.array(pairs, 'pairs');
        const keys = new Array(entries.length);
        const values = new Array(entries.length);
        for (let i = 0; i < entries.length; i++) {
          const p = entries[i];
          if (Array.isArray(p)) {
            if (p.length !== 2) throw new TypeError(`pairs[${i}] must be a [key, value] pair`);
            keys[i] = A.bytes(p[0], `pairs[${i}][0]`);
            values[i] = A.bytes(p[1], `pairs[${i}][1]`);
          } else if (p !== null && typeof p === 'object' && !(p instanceof Uint8Array)) {
            keys[i] = A.bytes(p.key, `pairs[${i}].key`);
            values[i] = A.bytes(p.value, `pairs[${i}].value`);
          } else {
            throw new TypeError(`pairs[${i}] must be a [key, value] pair, got ${A.describe(p)}`);
          }
        }
        const ttl = A.u64(A.options(options).ttl, 'options.ttl', 0n);
        return track(addon.tikv_raw_batch_put(this.#handle(), keys, values, ttl), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    delete(key) {
      try {
        const k = A.bytes(key, 'key');
        return track(addon.tikv_raw_delete(this.#handle(), k), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    batchDelete(keys) {
      try {
        const ks = A.byteArray(keys, 'keys');
        return track(addon.tikv_raw_batch_delete(this.#handle(), ks), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    /** Deletes [start, end); end null/omitted: to the end of the key space. */
    deleteRange(start, end) {
      try {
        const s = A.bytes(start, 'start');
        const e = A.boundOrEmpty(end, 'end');
        return track(addon.tikv_raw_delete_range(this.#handle(), s, e), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    /**
     * Up to `limit` pairs of [start, end) in key order, or descending from end
     * when `reverse`. end null/omitted: the end of the key space.
     */
    scan(start, end, options) {
      try {
        const s = A.bytes(start, 'start');
        const e = A.boundOrEmpty(end, 'end');
        const o = A.options(options);
        const limit = A.integer(o.limit, 'options.limit', 1, MAX_SCAN_LIMIT, DEFAULT_SCAN_LIMIT);
        const keyOnly = A.bool(o.keyOnly, 'options.keyOnly');
        const reverse = A.bool(o.reverse, 'options.reverse');
        return track(addon.tikv_raw_scan(this.#handle(), s, e, limit, keyOnly ? 1 : 0, reverse ? 1 : 0), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    /** ranges: Array<[start, end]>; results of the ranges concatenated in order. */
    batchScan(ranges, options) {
      try {
        A.array(ranges, 'ranges');
        const bounds = new Array(ranges.length * 2);
        for (let i = 0; i < ranges.length; i++) {
          const r = ranges[i];
          if (!Array.isArray(r) || r.length < 1 || r.length > 2)
            throw new TypeError(`ranges[${i}] must be a [start, end] pair, got ${A.describe(r)}`);
          bounds[2 * i] = A.bytes(r[0], `ranges[${i}][0]`);
          bounds[2 * i + 1] = A.boundOrEmpty(r[1], `ranges[${i}][1]`);
        }
        const o = A.options(options);
        const eachLimit = A.integer(o.eachLimit, 'options.eachLimit', 1, MAX_SCAN_LIMIT, DEFAULT_SCAN_LIMIT);
        const keyOnly = A.bool(o.keyOnly, 'options.keyOnly');
        return track(addon.tikv_raw_batch_scan(this.#handle(), bounds, eachLimit, keyOnly ? 1 : 0), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    /** Seconds left; 0 for a key without TTL; null when the key does not exist. */
    getKeyTtl(key) {
      try {
        const k = A.bytes(key, 'key');
        return track(addon.tikv_raw_get_key_ttl(this.#handle(), k), ttlToNumber, this);
      } catch (e) {
        return reject(e);
      }
    }

    /**
     * Sets key to value if its current value is `previous` (null: if it does
     * not exist). Needs the atomic option. Resolves {swapped, previous}.
     */
    compareAndSwap(key, previous, value, options) {
      try {
        const k = A.bytes(key, 'key');
        const notExist = previous === null || previous === undefined;
        const p = notExist ? A.EMPTY : A.bytes(previous, 'previous');
        const v = A.bytes(value, 'value');
        const ttl = A.u64(A.options(options).ttl, 'options.ttl', 0n);
        return track(addon.tikv_raw_compare_and_swap(this.#handle(), k, p, notExist ? 1 : 0, v, ttl), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    /**
     * Async iterator over the pairs of [start, end), ascending (or descending
     * with reverse), fetched a page of batchSize at a time: each page is a scan
     * starting after the last key seen. Throws argument errors at once.
     */
    iterate(start, end, options) {
      const s = A.bytes(start, 'start');
      const e = A.boundOrEmpty(end, 'end');
      const o = A.options(options);
      const batchSize = A.integer(o.batchSize, 'options.batchSize', 1, MAX_SCAN_LIMIT, DEFAULT_BATCH_SIZE);
      const reverse = A.bool(o.reverse, 'options.reverse');
      const keyOnly = A.bool(o.keyOnly, 'options.keyOnly');
      const self = this;
      return (async function* pages() {
        let lo = s;
        let hi = e;
        for (;;) {
          if (hi.length > 0 && Buffer.compare(lo, hi) >= 0) return;
          const page = await self.scan(lo, hi, { limit: batchSize, reverse, keyOnly });
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

    /** Closes the client; operations in flight reject with CLOSED. Idempotent. */
    close() {
      if (!this.#closed) {
        this.#closed = true;
        finalizer.unregister(this);
        try {
          addon.closeClient(this.#h);
        } catch (e) {
          return reject(e);
        }
      }
      return Promise.resolve();
    }
  }

  return RawClient;
}

module.exports = { makeRawClient, MAX_SCAN_LIMIT, DEFAULT_SCAN_LIMIT, DEFAULT_BATCH_SIZE };
