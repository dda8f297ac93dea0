/* Transactions: TiKV's Percolator-style transactional API (API v1).
 *
 * A transaction reads at its start timestamp, buffers its writes, and
 * commits them by two-phase commit (optionally async commit or one-phase
 * commit). Pessimistic transactions lock keys as they write them. All
 * functions that may touch the network return futures; a transaction's
 * operations run in the order they are called. A transaction is used from
 * one thread at a time. Every future-returning function takes the call's
 * options last (client.h tikv_call_opts_t; NULL: the client's): its timeout
 * (the column family is not a transaction's to choose). Keys are user keys; they are routed by TiKV's
 * memcomparable encoding and never mix with raw keys. */
#ifndef TIKV_TXN_H
#define TIKV_TXN_H

#include "client.h"

TIKV_BEGIN_DECLS

typedef struct tikv_txn_s tikv_txn_t;

typedef struct tikv_txn_options_s {
  int pessimistic;           /* lock keys as they are written (AcquirePessimisticLock) */
  int async_commit;          /* commit is decided when every prewrite succeeded */
  int try_one_pc;            /* a transaction within one region commits in one round trip */
  int64_t lock_wait_timeout_ms; /* pessimistic: how long to wait for a lock;
                                   0 = do not wait (fail at once), < 0 = TiKV's default */
  uint64_t start_ts;         /* 0: take a fresh timestamp from PD */
  int read_only;             /* a snapshot: writes are refused */
} tikv_txn_options_t;

/* Defaults: optimistic, no async commit, no 1PC, lock wait 20 s. */
TIKV_EXTERN void tikv_txn_options_init(tikv_txn_options_t *opts);

/* Creates a transaction (opts copied; NULL means defaults). Nothing is sent
 * until tikv_txn_begin. The transaction uses the client: free it before the
 * client. Returns NULL and sets *err on failure. */
TIKV_EXTERN tikv_txn_t *tikv_txn_new(tikv_client_t *c, const tikv_txn_options_t *opts, int *err);
/* Takes the start timestamp (unless given in the options). Result:
 * tikv_future_get_u64 = start ts. Other operations before it fails. */
TIKV_EXTERN tikv_future_t *tikv_txn_begin(tikv_txn_t *txn, const tikv_call_opts_t *opts);
/* Start ts, 0 before begin completed. */
TIKV_EXTERN uint64_t tikv_txn_start_ts(tikv_txn_t *txn);

/* Reads see the transaction's own writes first. Result: tikv_future_get_value.
 * A reply without a value is "not found", whether or not TiKV set not_found
 * (TiDB's unistore never does), as client-go reads it; likewise batch gets
 * and scans leave out pairs without a value (key-only scans keep them). */
TIKV_EXTERN tikv_future_t *tikv_txn_get(tikv_txn_t *txn, const uint8_t *key, size_t key_len,
                                        const tikv_call_opts_t *opts);
/* Result: tikv_future_get_kvs, the keys found, in key order. */
TIKV_EXTERN tikv_future_t *tikv_txn_batch_get(tikv_txn_t *txn, const tikv_slice_t *keys,
                                              size_t n_keys, const tikv_call_opts_t *opts);
/* [start, end) (empty end: no bound), up to limit pairs, merged with the
 * transaction's writes. Result: tikv_future_get_kvs. */
TIKV_EXTERN tikv_future_t *tikv_txn_scan(tikv_txn_t *txn, const uint8_t *start, size_t start_len,
                                         const uint8_t *end, size_t end_len, uint32_t limit,
                                         int key_only, int reverse, const tikv_call_opts_t *opts);

/* Buffered writes (pessimistic transactions lock the key first, so the
 * future completes after the lock is held). Results: error code only. An
 * empty value is refused (TIKV_ERR_INVALID_ARGUMENT), as client-go refuses
 * it: reads take a stored empty value for a missing key. */
TIKV_EXTERN tikv_future_t *tikv_txn_put(tikv_txn_t *txn, const uint8_t *key, size_t key_len,
                                        const uint8_t *value, size_t value_len,
                                        const tikv_call_opts_t *opts);
/* Like put, but the commit fails with TIKV_ERR_ALREADY_EXIST if the key exists. */
TIKV_EXTERN tikv_future_t *tikv_txn_insert(tikv_txn_t *txn, const uint8_t *key, size_t key_len,
                                           const uint8_t *value, size_t value_len,
                                           const tikv_call_opts_t *opts);
TIKV_EXTERN tikv_future_t *tikv_txn_delete(tikv_txn_t *txn, const uint8_t *key, size_t key_len,
                                           const tikv_call_opts_t *opts);
/* Locks keys without writing them: pessimistic transactions acquire the locks
 * now; optimistic ones check at commit that nobody wrote them meanwhile. */
TIKV_EXTERN tikv_future_t *tikv_txn_lock_keys(tikv_txn_t *txn, const tikv_slice_t *keys,
                                              size_t n_keys, const tikv_call_opts_t *opts);
/* Reads the latest committed value and locks the key (pessimistic), or reads
 * at the start ts and locks it at commit (optimistic). Result: value. */
TIKV_EXTERN tikv_future_t *tikv_txn_get_for_update(tikv_txn_t *txn, const uint8_t *key,
                                                   size_t key_len, const tikv_call_opts_t *opts);
/* Result: kvs of the keys found. */
TIKV_EXTERN tikv_future_t *tikv_txn_batch_get_for_update(tikv_txn_t *txn,
                                                         const tikv_slice_t *keys, size_t n_keys,
                                                         const tikv_call_opts_t *opts);

/* Commits. Result: tikv_future_get_u64 = commit ts (0 when nothing was
 * written). Errors: WRITE_CONFLICT, ALREADY_EXIST, TXN_ABORTED, UNDETERMINED
 * (the primary's commit was sent but its outcome is unknown), ... After it,
 * the transaction accepts no more operations (TXN_FINISHED). */
TIKV_EXTERN tikv_future_t *tikv_txn_commit(tikv_txn_t *txn, const tikv_call_opts_t *opts);
/* Rolls back, releasing every lock the transaction holds. */
TIKV_EXTERN tikv_future_t *tikv_txn_rollback(tikv_txn_t *txn, const tikv_call_opts_t *opts);
/* Frees the transaction. One that was neither committed nor rolled back is
 * rolled back in the background; operations still running finish first.
 * Free every transaction before freeing its client. NULL is a no-op.
 * Futures already returned stay valid. */
TIKV_EXTERN void tikv_txn_free(tikv_txn_t *txn);

/* A fresh timestamp from PD. Result: tikv_future_get_u64. */
TIKV_EXTERN tikv_future_t *tikv_client_current_timestamp(tikv_client_t *c,
                                                         const tikv_call_opts_t *opts);
/* Resolves every lock older than safepoint, then asks PD to move the GC safe
 * point there. Result: tikv_future_get_bool, 1 when PD's safe point moved to
 * safepoint (0 when it was already past it). */
TIKV_EXTERN tikv_future_t *tikv_client_gc(tikv_client_t *c, uint64_t safepoint,
                                          const tikv_call_opts_t *opts);

/* TiKV's UnsafeDestroyRange, as client-go sends it: to every store PD lists
 * (tombstones and TiFlash left out), in parallel, which deletes every
 * version and lock of the transactional keys in [start, end) at once,
 * below Raft: no transaction sees it happen, so the caller must never use
 * the range again (TiDB's GC does it after dropping a table). Both bounds
 * must be non-empty (TiKV refuses the key space's ends) and start not
 * after end. Result: error code only; a failure names every store that
 * failed. Calling it again on the same range is harmless. */
TIKV_EXTERN tikv_future_t *tikv_client_unsafe_destroy_range(tikv_client_t *c, const uint8_t *start,
                                                            size_t start_len, const uint8_t *end,
                                                            size_t end_len,
                                                            const tikv_call_opts_t *opts);

TIKV_END_DECLS

#endif
