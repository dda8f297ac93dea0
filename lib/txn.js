'use strict';
// TransactionClient, Transaction and Snapshot: TiKV's transactional API
// (Percolator two-phase commit, optimistic or pessimistic, async commit and
// 1PC) over the addon's futures.
//
// Every method returning a Promise reports every error, argument errors
// included (TypeError / RangeError, raised before anything reaches the addon),
// by rejecting: it never throws.
//
// Lifetimes. A Transaction (or Snapshot) owns a C transaction handle and keeps
// its TransactionClient reachable. The handle is freed as soon as commit() or
// rollback() completes; one dropped without either is freed by a finalizer,
// and the C core rolls it back in the background. Closing the client frees
// the handles of its transactions (the bridge frees them before the client);
// later calls on them reject with CLOSED. A handle is freed exactly once: the
// JS side marks it freed (its "cell") before the native call, so a stale
// handle never reaches the addon.
const A = require('./args');
const { TikvError } = require('./errors');
const { MAX_SCAN_LIMIT, DEFAULT_SCAN_LIMIT } = require('./raw');

const TOKEN = Symbol('TransactionClient');
const MAX_LOCK_WAIT_MS = 0x7fffffff;
const DEFAULT_RETRIES = 10;
const MAX_RETRIES = 1000000;
const BACKOFF_BASE_MS = 2;
const BACKOFF_MAX_MS = 200;

function reject(e) {
  return Promise.reject(e);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function orZero(ts) {
  return ts === null || ts === undefined ? 0n : ts;
}

/** Validates begin() options; returns them normalized. */
function beginOptions(options) {
  const o = A.options(options);
  const pessimistic = A.bool(o.pessimistic, 'options.pessimistic');
  const asyncCommit = A.bool(o.asyncCommit, 'options.asyncCommit');
  const tryOnePc = A.bool(o.tryOnePc, 'options.tryOnePc');
  const lockWaitTimeoutMs =
    o.lockWaitTimeoutMs === undefined ? undefined : A.integer(o.lockWaitTimeoutMs, 'options.lockWaitTimeoutMs', 0, MAX_LOCK_WAIT_MS);
  return { pessimistic, asyncCommit, tryOnePc, lockWaitTimeoutMs };
}

function scanArgs(start, end, options) {
  const s = A.bytes(start, 'start');
  const e = A.boundOrEmpty(end, 'end');
  const o = A.options(options);
  const limit = A.integer(o.limit, 'options.limit', 1, MAX_SCAN_LIMIT, DEFAULT_SCAN_LIMIT);
  const keyOnly = A.bool(o.keyOnly, 'options.keyOnly');
  const reverse = A.bool(o.reverse, 'options.reverse');
  return [s, e, limit, keyOnly ? 1 : 0, reverse ? 1 : 0];
}

function isRetryable(e) {
  return e instanceof TikvError && e.retryable && e.code !== 'CLOSED';
}

function makeTransactionClient(binding) {
  const { addon, track, openClient } = binding;

  // held value: the client's shared state (never the client itself)
  const clientFinalizer = new FinalizationRegistry((shared) => {
    releaseCells(shared);
    addon.closeClient(shared.h);
  });
  // held value: the transaction's cell {h, freed, shared}
  const txnFinalizer = new FinalizationRegistry((cell) => freeCell(cell));

  function releaseCells(shared) {
    // the bridge frees these with the client: forget them here
    for (const cell of shared.cells) {
      cell.freed = true;
      txnFinalizer.unregister(cell);
    }
    shared.cells.clear();
  }

  function freeCell(cell) {
    if (cell.freed) return;
    cell.freed = true;
    cell.shared.cells.delete(cell);
    txnFinalizer.unregister(cell);
    addon.freeTxn(cell.h);
  }

  /** Creates a C transaction and begins it; resolves the cell and start ts. */
  function beginCell(client, shared, o, startTs, readOnly) {
    if (shared.closed) throw TikvError.of('CLOSED');
    const h = addon.tikvjs_txn_new(
      shared.h,
      o.pessimistic ? 1 : 0,
      o.asyncCommit ? 1 : 0,
      o.tryOnePc ? 1 : 0,
      o.lockWaitTimeoutMs === undefined ? -1 : o.lockWaitTimeoutMs,
      startTs,
      readOnly ? 1 : 0
    );
    const cell = { h, freed: false, shared };
    shared.cells.add(cell);
    let id;
    try {
      id = addon.tikv_txn_begin(h);
    } catch (e) {
      freeCell(cell);
      throw e;
    }
    // not freed while begin is in flight: the C transaction is not usable (nor
    // safely freeable) before its start timestamp arrives
    return track(id, undefined, client).then(
      (ts) => ({ cell, startTs: ts }),
      (e) => {
        freeCell(cell);
        throw e;
      }
    );
  }

  /** State shared by the public Transaction / Snapshot wrappers. */
  class Core {
    constructor(client, cell, startTs, options) {
      this.client = client; // keeps the client reachable while the transaction is
      this.cell = cell;
      this.startTs = startTs;
      this.options = options;
      this.state = 'active';
    }

    handle() {
      if (this.cell.shared.closed) throw TikvError.of('CLOSED');
      if (this.state !== 'active')
        throw TikvError.of('TXN_FINISHED', `transaction already committed or rolled back (it is ${this.state})`);
      return this.cell.h;
    }

    get(key, owner) {
      try {
        const k = A.bytes(key, 'key');
        return track(addon.tikv_txn_get(this.handle(), k), undefined, owner);
      } catch (e) {
        return reject(e);
      }
    }

    batchGet(keys, owner) {
      try {
        const ks = A.byteArray(keys, 'keys');
        return track(addon.tikv_txn_batch_get(this.handle(), ks), undefined, owner);
      } catch (e) {
        return reject(e);
      }
    }

    keyExists(key, owner) {
      return this.get(key, owner).then((v) => v !== null);
    }

    scan(start, end, options, owner) {
      try {
        const args = scanArgs(start, end, options);
        return track(addon.tikv_txn_scan(this.handle(), ...args), undefined, owner);
      } catch (e) {
        return reject(e);
      }
    }
  }

  /**
   * A transaction: reads at its start timestamp (and sees its own writes),
   * buffers writes until commit(). Pessimistic transactions lock keys as they
   * write them. Obtain one from TransactionClient#begin().
   */
  class Transaction {
    #c;

    constructor(token, core) {
      if (token !== TOKEN) throw new TypeError('use TransactionClient#begin()');
      this.#c = core;
      txnFinalizer.register(this, core.cell, core.cell);
    }

    /** The start timestamp (bigint): what this transaction reads at. */
    get startTimestamp() {
      return this.#c.startTs;
    }

    /** The options it began with. */
    get options() {
      return this.#c.options;
    }

    /** 'active' | 'committing' | 'committed' | 'rolledBack' | 'commitFailed' */
    get state() {
      return this.#c.state;
    }

    /** True once commit() or rollback() was called. */
    get finished() {
      return this.#c.state !== 'active';
    }

    /** Buffer, or null when the key does not exist. Sees this transaction's writes. */
    get(key) {
      return this.#c.get(key, this);
    }

    /** The pairs found, in key order. */
    batchGet(keys) {
      return this.#c.batchGet(keys, this);
    }

    keyExists(key) {
      return this.#c.keyExists(key, this);
    }

    /** Pairs of [start, end) merged with this transaction's writes; end null: unbounded. */
    scan(start, end, options) {
      return this.#c.scan(start, end, options, this);
    }

    #write(fn, key, value, hasValue) {
      try {
        const k = A.bytes(key, 'key');
        if (!hasValue) return track(addon[fn](this.#c.handle(), k), undefined, this);
        const v = A.bytes(value, 'value');
        return track(addon[fn](this.#c.handle(), k, v), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    put(key, value) {
      return this.#write('tikv_txn_put', key, value, true);
    }

    /** Like put; the commit fails with ALREADY_EXIST if the key exists. */
    insert(key, value) {
      return this.#write('tikv_txn_insert', key, value, true);
    }

    delete(key) {
      return this.#write('tikv_txn_delete', key, undefined, false);
    }

    /** Locks keys without writing them (pessimistic: now; optimistic: checked at commit). */
    lockKeys(keys) {
      try {
        const ks = A.byteArray(keys, 'keys');
        return track(addon.tikv_txn_lock_keys(this.#c.handle(), ks), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    /** Reads the latest committed value and locks the key (pessimistic), or reads and checks at commit. */
    getForUpdate(key) {
      try {
        const k = A.bytes(key, 'key');
        return track(addon.tikv_txn_get_for_update(this.#c.handle(), k), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    batchGetForUpdate(keys) {
      try {
        const ks = A.byteArray(keys, 'keys');
        return track(addon.tikv_txn_batch_get_for_update(this.#c.handle(), ks), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    /**
     * Commits; resolves the commit timestamp (0n when nothing was written).
     * Whatever the outcome, the transaction is finished afterwards (a failed
     * commit has been rolled back, except UNDETERMINED: its outcome is unknown).
     */
    commit() {
      const c = this.#c;
      let id;
      try {
        const h = c.handle();
        c.state = 'committing';
        id = addon.tikv_txn_commit(h);
      } catch (e) {
        if (c.state === 'committing') c.state = 'commitFailed';
        return reject(e);
      }
      return track(id, orZero, this).then(
        (ts) => {
          c.state = 'committed';
          freeCell(c.cell);
          return ts;
        },
        (e) => {
          c.state = 'commitFailed';
          freeCell(c.cell);
          throw e;
        }
      );
    }

    /** Rolls back, releasing the locks the transaction holds. */
    rollback() {
      const c = this.#c;
      let id;
      try {
        const h = c.handle();
        c.state = 'rolledBack';
        id = addon.tikv_txn_rollback(h);
      } catch (e) {
        return reject(e);
      }
      return track(id, undefined, this).finally(() => freeCell(c.cell));
    }
  }

  /** A consistent, read-only view of the data at one timestamp. */
  class Snapshot {
    #c;

    constructor(token, core) {
      if (token !== TOKEN) throw new TypeError('use TransactionClient#snapshot()');
      this.#c = core;
      txnFinalizer.register(this, core.cell, core.cell);
    }

    /** The timestamp it reads at (bigint). */
    get timestamp() {
      return this.#c.startTs;
    }

    get(key) {
      return this.#c.get(key, this);
    }

    batchGet(keys) {
      return this.#c.batchGet(keys, this);
    }

    keyExists(key) {
      return this.#c.keyExists(key, this);
    }

    scan(start, end, options) {
      return this.#c.scan(start, end, options, this);
    }
  }

  class TransactionClient {
    #shared; // {h, closed, cells}: also the finalizer's held value

    constructor(token, handle, options) {
      if (token !== TOKEN) throw new TypeError('use TransactionClient.connect(pdEndpoints, options)');
      this.#shared = { h: handle, closed: false, cells: new Set() };
      this.options = Object.freeze(options);
      clientFinalizer.register(this, this.#shared, this);
    }

    /**
     * Connects to the cluster whose PD answers at one of pdEndpoints
     * ("host:port"). Options: timeoutMs (per operation, retries included).
     */
    static connect(pdEndpoints, options) {
      let opts;
      try {
        A.endpoints(pdEndpoints);
        const o = A.options(options);
        const timeoutMs = A.integer(o.timeoutMs, 'options.timeoutMs', 1, 0xffffffff, 0);
        opts = { pdEndpoints: [...pdEndpoints], timeoutMs: timeoutMs || undefined };
      } catch (e) {
        return reject(e);
      }
      return openClient(pdEndpoints, opts.timeoutMs || 0, 'default', false).then(
        (handle) => new TransactionClient(TOKEN, handle, opts)
      );
    }

    get closed() {
      return this.#shared.closed;
    }

    /** The cluster id PD reported (bigint). */
    get clusterId() {
      return this.#shared.closed ? 0n : addon.tikv_client_cluster_id(this.#shared.h);
    }

    #handle() {
      if (this.#shared.closed) throw TikvError.of('CLOSED');
      return this.#shared.h;
    }

    /**
     * Begins a transaction: {pessimistic, asyncCommit, tryOnePc,
     * lockWaitTimeoutMs} (lockWaitTimeoutMs: pessimistic lock waits; 0 = fail
     * at once; default 20000).
     */
    begin(options) {
      try {
        const o = beginOptions(options);
        this.#handle();
        return beginCell(this, this.#shared, o, 0n, false).then(
          ({ cell, startTs }) => new Transaction(TOKEN, new Core(this, cell, startTs, Object.freeze(o)))
        );
      } catch (e) {
        return reject(e);
      }
    }

    /** A read-only snapshot at timestamp ts (bigint), or at a fresh timestamp. */
    snapshot(ts) {
      try {
        let startTs = 0n;
        if (ts !== undefined && ts !== null) {
          startTs = A.u64(ts, 'ts');
          if (startTs === 0n) throw new RangeError('ts must be a timestamp (> 0), or omitted for a fresh one');
        }
        this.#handle();
        return beginCell(this, this.#shared, {}, startTs, true).then(
          ({ cell, startTs: t }) => new Snapshot(TOKEN, new Core(this, cell, t, Object.freeze({ readOnly: true })))
        );
      } catch (e) {
        return reject(e);
      }
    }

    /** A fresh timestamp from PD (bigint). */
    currentTimestamp() {
      try {
        return track(addon.tikv_client_current_timestamp(this.#handle()), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    /**
     * Resolves every lock older than safepoint, then moves PD's GC safe point
     * there. Resolves true when it moved (false: it was already past it).
     */
    gc(safepoint) {
      try {
        const sp = A.u64(safepoint, 'safepoint');
        return track(addon.tikv_client_gc(this.#handle(), sp), undefined, this);
      } catch (e) {
        return reject(e);
      }
    }

    /**
     * Runs fn(txn) in a fresh transaction and commits it; resolves what fn
     * returned. When fn or the commit fails with a retryable TikvError (write
     * conflict, deadlock, lock wait timeout, ...), the transaction is rolled
     * back and fn runs again in a new one, up to `retries` more times, after a
     * short random backoff. Any other error rolls back and rejects. Options:
     * {retries = 10, ...begin() options}.
     */
    async transaction(fn, options) {
      A.func(fn, 'fn');
      const o = A.options(options);
      const retries = A.integer(o.retries, 'options.retries', 0, MAX_RETRIES, DEFAULT_RETRIES);
      const { retries: _ignored, ...rest } = o;
      const beginOpts = beginOptions(rest);
      for (let attempt = 0; ; attempt++) {
        const txn = await this.begin(beginOpts);
        let result;
        try {
          result = await fn(txn);
          if (!txn.finished) await txn.commit();
          return result;
        } catch (e) {
          if (!txn.finished) await txn.rollback().catch(() => {});
          if (!isRetryable(e) || attempt >= retries) throw e;
        }
        const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
        await sleep(Math.random() * cap);
      }
    }

    /**
     * Closes the client. Open transactions are released (their operations in
     * flight, and any later call, reject with CLOSED). Idempotent.
     */
    close() {
      const s = this.#shared;
      if (!s.closed) {
        s.closed = true;
        clientFinalizer.unregister(this);
        releaseCells(s);
        try {
          addon.closeClient(s.h);
        } catch (e) {
          return reject(e);
        }
      }
      return Promise.resolve();
    }
  }

  return { TransactionClient, Transaction, Snapshot };
}

module.exports = { makeTransactionClient, DEFAULT_RETRIES };
