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
const { attempt, makeCall, abortedError } = require('./call');
const { scanArgs, iterate } = require('./scan');
const { EventEmitter } = require('events');
const { clientEvents } = require('./events');

const TOKEN = Symbol('TransactionClient');
const MAX_LOCK_WAIT_MS = 0x7fffffff;
const DEFAULT_RETRIES = 10;
const MAX_RETRIES = 1000000;
const BACKOFF_BASE_MS = 2;
const BACKOFF_MAX_MS = 200;

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function orZero(ts) {
  return ts === null || ts === undefined ? 0n : ts;
}

// the option keys each method knows (A.options refuses any other)
const CONNECT_OPTIONS = Object.freeze([...A.TIMEOUT_OPTIONS, ...A.CLUSTER_OPTIONS, 'signal']);
const BEGIN_OPTIONS = Object.freeze(['pessimistic', 'asyncCommit', 'tryOnePc', 'lockWaitTimeoutMs']);
const TRANSACTION_OPTIONS = Object.freeze(['retries', ...BEGIN_OPTIONS, ...A.CALL_OPTIONS]);

/**
 * Validates begin() options (and the per-call ones, which apply to the
 * begin's timestamp request); returns the transaction's, normalized.
 */
function beginOptions(options) {
  const o = A.options(options, [...BEGIN_OPTIONS, ...A.CALL_OPTIONS]);
  const pessimistic = A.bool(o.pessimistic, 'options.pessimistic');
  const asyncCommit = A.bool(o.asyncCommit, 'options.asyncCommit');
  const tryOnePc = A.bool(o.tryOnePc, 'options.tryOnePc');
  const lockWaitTimeoutMs =
    o.lockWaitTimeoutMs === undefined ? undefined : A.integer(o.lockWaitTimeoutMs, 'options.lockWaitTimeoutMs', 0, MAX_LOCK_WAIT_MS);
  return { pessimistic, asyncCommit, tryOnePc, lockWaitTimeoutMs };
}

/**
 * Native arguments of put / insert: [key, value]; they take no options. An
 * empty value is refused as client-go refuses it (ErrCannotSetNilValue): a
 * read takes a stored empty value for a missing key.
 */
function kvArgs(key, value, options) {
  const k = A.bytes(key, 'key');
  const v = A.bytes(value, 'value');
  if (v.length === 0) throw new RangeError('value must not be empty: a transaction cannot write an empty value (delete the key instead)');
  A.options(options, A.CALL_OPTIONS);
  return [k, v];
}

// UNDETERMINED is never retryable (the table says so); named here as well
// because running fn again after a commit that may have happened would
// apply its writes twice
function isRetryable(e) {
  return e instanceof TikvError && e.retryable && e.code !== 'CLOSED' && e.code !== 'UNDETERMINED';
}

function makeTransactionClient(binding) {
  const { addon, track, openClient } = binding;
  const call = makeCall(binding);

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

  /**
   * Creates a C transaction and begins it, with the per-call options of
   * callOpts; resolves the cell and start ts.
   */
  function beginCell(client, shared, o, startTs, readOnly, callOpts) {
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
    // not freed while begin is in flight: the C transaction is not usable (nor
    // safely freeable) before its start timestamp arrives
    return call(client, () => h, 'tikv_txn_begin', () => [], undefined, callOpts).then(
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

    /** The C transaction, or a throw: CLOSED, TXN_FINISHED. */
    handle = () => {
      if (this.cell.shared.closed) throw TikvError.of('CLOSED');
      if (this.state !== 'active')
        throw TikvError.of('TXN_FINISHED', `transaction already committed or rolled back (it is ${this.state})`);
      return this.cell.h;
    };

    /** One operation of this transaction, for owner (the public wrapper), with its per-call options: see call.js. */
    op(owner, fn, args, transform, options) {
      return call(owner, this.handle, fn, args, transform, options);
    }

    /**
     * commit() and rollback(): the operation that finishes the transaction.
     * `state` is what it is once submitted (a call refused at once, by its
     * options or a finished transaction, changes nothing); the C handle is
     * freed when it settles.
     */
    finish(owner, fn, options, state, transform) {
      let submitted = false;
      const handle = () => {
        const h = this.handle();
        submitted = true;
        this.state = state;
        return h;
      };
      const p = call(owner, handle, fn, () => (A.options(options, A.CALL_OPTIONS), []), transform, options);
      if (!submitted) return p;
      return p.then(
        (v) => {
          if (state === 'committing') this.state = 'committed';
          freeCell(this.cell);
          return v;
        },
        (e) => {
          if (state === 'committing') this.state = 'commitFailed';
          freeCell(this.cell);
          throw e;
        }
      );
    }
  }

  /** The reads a Transaction and a Snapshot share; it owns the finalizer registration. */
  class Reader {
    #c;

    constructor(core) {
      this.#c = core;
      txnFinalizer.register(this, core.cell, core.cell);
    }

    /** Buffer, or null when the key does not exist. A transaction sees its own writes. */
    get(key, options) {
      return this.#c.op(this, 'tikv_txn_get', () => A.keyArgs(key, options), undefined, options);
    }

    /** The pairs found, in key order. */
    batchGet(keys, options) {
      return this.#c.op(this, 'tikv_txn_batch_get', () => A.keysArgs(keys, options), undefined, options);
    }

    keyExists(key, options) {
      return this.get(key, options).then((v) => v !== null);
    }

    /** Pairs of [start, end) (merged with a transaction's writes); end null: unbounded. */
    scan(start, end, options) {
      return this.#c.op(this, 'tikv_txn_scan', () => scanArgs(start, end, options), undefined, options);
    }

    /**
     * Async iterator over [start, end) of any size (merged with a
     * transaction's writes), a page of batchSize pairs at a time; see RawClient#iterate.
     */
    iterate(start, end, options) {
      return iterate((lo, hi, o) => this.scan(lo, hi, o), start, end, options);
    }
  }

  /**
   * A transaction: reads at its start timestamp (and sees its own writes),
   * buffers writes until commit(). Pessimistic transactions lock keys as they
   * write them. Obtain one from TransactionClient#begin().
   */
  class Transaction extends Reader {
    #c;

    constructor(token, core) {
      if (token !== TOKEN) throw new TypeError('use TransactionClient#begin()');
      super(core);
      this.#c = core;
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

    put(key, value, options) {
      return this.#c.op(this, 'tikv_txn_put', () => kvArgs(key, value, options), undefined, options);
    }

    /** Like put; the commit fails with ALREADY_EXIST if the key exists. */
    insert(key, value, options) {
      return this.#c.op(this, 'tikv_txn_insert', () => kvArgs(key, value, options), undefined, options);
    }

    delete(key, options) {
      return this.#c.op(this, 'tikv_txn_delete', () => A.keyArgs(key, options), undefined, options);
    }

    /** Locks keys without writing them (pessimistic: now; optimistic: checked at commit). */
    lockKeys(keys, options) {
      return this.#c.op(this, 'tikv_txn_lock_keys', () => A.keysArgs(keys, options), undefined, options);
    }

    /** Reads the latest committed value and locks the key (pessimistic), or reads and checks at commit. */
    getForUpdate(key, options) {
      return this.#c.op(this, 'tikv_txn_get_for_update', () => A.keyArgs(key, options), undefined, options);
    }

    batchGetForUpdate(keys, options) {
      return this.#c.op(this, 'tikv_txn_batch_get_for_update', () => A.keysArgs(keys, options), undefined, options);
    }

    /**
     * Commits; resolves the commit timestamp (0n when nothing was written).
     * Whatever the outcome, the transaction is finished afterwards (a failed
     * commit has been rolled back, except UNDETERMINED: its outcome is unknown).
     * A call refused at once (bad options, already finished) changes nothing.
     */
    commit(options) {
      return this.#c.finish(this, 'tikv_txn_commit', options, 'committing', orZero);
    }

    /** Rolls back, releasing the locks the transaction holds. */
    rollback(options) {
      return this.#c.finish(this, 'tikv_txn_rollback', options, 'rolledBack');
    }
  }

  /** A consistent, read-only view of the data at one timestamp. */
  class Snapshot extends Reader {
    #c;

    constructor(token, core) {
      if (token !== TOKEN) throw new TypeError('use TransactionClient#snapshot()');
      super(core);
      this.#c = core;
    }

    /** The timestamp it reads at (bigint). */
    get timestamp() {
      return this.#c.startTs;
    }
  }

  // events: 'regionError', 'storeDown', 'storeUp', 'pdLeaderChange' (events.js)
  class TransactionClient extends EventEmitter {
    #shared; // {h, closed, cells}: also the finalizer's held value
    #events;
    #handle = () => {
      if (this.#shared.closed) throw TikvError.of('CLOSED');
      return this.#shared.h;
    };

    constructor(token, handle, options) {
      if (token !== TOKEN) throw new TypeError('use TransactionClient.connect(pdEndpoints, options)');
      super();
      this.#shared = { h: handle, closed: false, cells: new Set() };
      this.#events = clientEvents(addon).watch(this, handle);
      this.options = Object.freeze(options);
      clientFinalizer.register(this, this.#shared, this);
    }

    /**
     * Connects to the cluster whose PD answers at one of pdEndpoints
     * ("host:port"). Options: timeoutMs (per operation, retries included),
     * attemptTimeoutMs (per RPC attempt, default 2000), tls, apiVersion, keyspace, batchCommands and idleSpinUs (args.js clusterOptions).
     */
    static connect(pdEndpoints, options) {
      return attempt(() => {
        A.endpoints(pdEndpoints);
        const o = A.options(options, CONNECT_OPTIONS);
        const { timeoutMs, attemptTimeoutMs } = A.timeouts(o);
        const cluster = A.clusterOptions(o);
        const signal = A.signal(o.signal, 'options.signal');
        const opts = { pdEndpoints: [...pdEndpoints], timeoutMs: timeoutMs || undefined, attemptTimeoutMs: attemptTimeoutMs || undefined, ...cluster.shown };
        return openClient(pdEndpoints, timeoutMs, 'default', false, cluster, attemptTimeoutMs, signal).then(
          (handle) => new TransactionClient(TOKEN, handle, opts)
        );
      });
    }

    get closed() {
      return this.#shared.closed;
    }

    /** The cluster id PD reported (bigint). */
    get clusterId() {
      return this.#shared.closed ? 0n : addon.tikv_client_cluster_id(this.#shared.h);
    }

    /** Counters of retries by cause, backoff and PD leader changes (a plain object). */
    stats() {
      return clientEvents(addon).stats(this.#handle());
    }

    /**
     * Begins a transaction: {pessimistic, asyncCommit, tryOnePc,
     * lockWaitTimeoutMs} (lockWaitTimeoutMs: pessimistic lock waits; 0 = fail
     * at once; default 20000).
     */
    begin(options) {
      return attempt(() => {
        const o = beginOptions(options);
        this.#handle();
        return beginCell(this, this.#shared, o, 0n, false, options).then(
          ({ cell, startTs }) => new Transaction(TOKEN, new Core(this, cell, startTs, Object.freeze(o)))
        );
      });
    }

    /** A read-only snapshot at timestamp ts (bigint), or at a fresh timestamp. */
    snapshot(ts, options) {
      return attempt(() => {
        let startTs = 0n;
        if (ts !== undefined && ts !== null) {
          startTs = A.u64(ts, 'ts');
          if (startTs === 0n) throw new RangeError('ts must be a timestamp (> 0), or omitted for a fresh one');
        }
        A.options(options, A.CALL_OPTIONS);
        this.#handle();
        return beginCell(this, this.#shared, {}, startTs, true, options).then(
          ({ cell, startTs: t }) => new Snapshot(TOKEN, new Core(this, cell, t, Object.freeze({ readOnly: true })))
        );
      });
    }

    /** A fresh timestamp from PD (bigint). */
    currentTimestamp(options) {
      return call(this, this.#handle, 'tikv_client_current_timestamp', () => {
        A.options(options, A.CALL_OPTIONS);
        return [];
      }, undefined, options);
    }

    /**
     * Resolves every lock older than safepoint, then moves PD's GC safe point
     * there. Resolves true when it moved (false: it was already past it).
     */
    gc(safepoint, options) {
      return call(this, this.#handle, 'tikv_client_gc', () => {
        const sp = A.u64(safepoint, 'safepoint');
        A.options(options, A.CALL_OPTIONS);
        return [sp];
      }, undefined, options);
    }

    /**
     * Deletes every version and lock of the keys in [start, end) on every
     * store at once (TiKV's UnsafeDestroyRange, sent as client-go does),
     * below the transactions: never use the range again. Both bounds must be
     * non-empty, start not after end (RangeError otherwise).
     */
    unsafeDestroyRange(start, end, options) {
      return call(this, this.#handle, 'tikv_client_unsafe_destroy_range', () => {
        const s = A.bytes(start, 'start');
        const e = A.bytes(end, 'end');
        A.options(options, A.CALL_OPTIONS);
        if (s.length === 0 || e.length === 0)
          throw new RangeError('start and end must not be empty (TiKV refuses the ends of the key space)');
        if (Buffer.compare(s, e) > 0) throw new RangeError('start must not be after end');
        return [s, e];
      }, undefined, options);
    }

    /**
     * Runs fn(txn) in a fresh transaction and commits it; resolves what fn
     * returned. When fn or the commit fails with a retryable TikvError (write
     * conflict, deadlock, lock wait timeout, ...), the transaction is rolled
     * back and fn runs again in a new one, up to `retries` more times, after a
     * short random backoff. Any other error rolls back and rejects. Options:
     * {retries = 10, ...begin() options, timeoutMs, signal}: timeoutMs and
     * signal apply to each begin and commit (fn passes them to its own
     * calls as it likes); an aborted signal also ends the retries.
     */
    async transaction(fn, options) {
      A.func(fn, 'fn');
      const o = A.options(options, TRANSACTION_OPTIONS);
      const retries = A.integer(o.retries, 'options.retries', 0, MAX_RETRIES, DEFAULT_RETRIES);
      const { retries: _ignored, timeoutMs, signal, ...rest } = o;
      const beginOpts = { ...beginOptions(rest), timeoutMs, signal };
      const callOpts = { timeoutMs, signal };
      for (let run = 0; ; run++) {
        if (signal !== undefined && signal.aborted) throw abortedError(signal);
        const txn = await this.begin(beginOpts);
        let result;
        try {
          result = await fn(txn);
          if (!txn.finished) await txn.commit(callOpts);
          return result;
        } catch (e) {
          if (!txn.finished) await txn.rollback().catch(() => {});
          if (!isRetryable(e) || run >= retries) throw e;
        }
        const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(run, 16));
        await sleep(Math.random() * cap);
      }
    }

    /**
     * Closes the client. Open transactions are released (their operations in
     * flight, and any later call, reject with CLOSED). Idempotent.
     */
    close() {
      const s = this.#shared;
      return attempt(() => {
        if (s.closed) return;
        s.closed = true;
        clientFinalizer.unregister(this);
        clientEvents(addon).unwatch(this.#events);
        releaseCells(s);
        addon.closeClient(s.h);
      });
    }
  }

  return { TransactionClient, Transaction, Snapshot };
}

module.exports = { makeTransactionClient, DEFAULT_RETRIES };
