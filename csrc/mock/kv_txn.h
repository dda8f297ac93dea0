/* The mock TiKV's transactional handlers (Percolator), after tikv/tikv
 * src/storage/txn (actions and commands), src/storage/mvcc/reader and
 * src/server/service/kv.rs, split as TiKV splits them:
 *   kv_txn.c         what every handler shares: key errors with TiKV's
 *                    Debug texts, region checks on user keys, a request's
 *                    range inside its region
 *   kv_read.c        reads: KvGet, KvBatchGet, KvScan, KvScanLock
 *   kv_prewrite.c    KvPrewrite, in the steps of actions/prewrite.rs
 *   kv_commit.c      the actions that end a transaction (commit, rollback,
 *                    cleanup, check_txn_status) and the commands built on
 *                    them: KvCommit, KvBatchRollback, KvCleanup,
 *                    KvCheckTxnStatus, KvCheckSecondaryLocks,
 *                    KvTxnHeartBeat, KvResolveLock, KvDeleteRange
 *   kv_pessimistic.c KvPessimisticLock (with the lock manager's waits) and
 *                    KVPessimisticRollback
 * Rules they all keep:
 *  - keys in requests are user keys; region checks use their memcomparable
 *    encoding (what transactional region boundaries are);
 *  - write commands are atomic: an error leaves nothing written;
 *  - errors TiKV reports through its Debug text (abort / retryable) carry the
 *    same shape of text.
 * Their methods are served region first (MOCK_TIKV_METHODS): tikv.c checks
 * the request's context before the handler runs, which finds the region in
 * kc->region.
 * Handlers run with m->mu held and copy everything they return into the
 * arena. */
#ifndef TIKV_MOCK_KV_TXN_H
#define TIKV_MOCK_KV_TXN_H

#include "mock/mvcc.h"

/* A message of type T in the handler's arena (kc in scope). */
#define NEW(T, ...)                                 \
  ({                                                \
    T *_p = mock_arena_alloc(kc->arena, sizeof(T)); \
    T _i = __VA_ARGS__;                             \
    *_p = _i;                                       \
    _p;                                             \
  })
#define TS_PHYS(ts) ((ts) >> 18)
#define ULL(x) ((unsigned long long)(x))

static inline ProtobufCBinaryData bin(mock_kvctx_t *kc, const uint8_t *p, size_t n) {
  ProtobufCBinaryData b = {n, mock_arena_dup(kc->arena, p, n)};
  return b;
}

static inline bool key_eq(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

static inline mock_mvcc_t *store(mock_kvctx_t *kc) { return kc->m->mvcc; }

static inline mv_key_t *key_of(mock_kvctx_t *kc, const ProtobufCBinaryData *b, bool create) {
  return mv_key_get(store(kc), b->data, b->len, create);
}

static inline bool ts_in(uint64_t ts, const uint64_t *set, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (set[i] == ts) return true;
  return false;
}

static inline bool is_primary(const mv_key_t *k, const mv_lock_t *l) {
  return key_eq(k->raw, k->raw_len, l->primary.data, l->primary.len);
}

static inline int set_bytes(tikv__bytes_t *b, const ProtobufCBinaryData *d) {
  return tikv__bytes_set(b, d->data, d->len);
}

/* ---- key errors (kv_txn.c) ---- */
/* Rust's Debug form of a byte vector: "[107, 49]" (long keys cut). */
char *txn_dbg_bytes(mock_kvctx_t *kc, const uint8_t *p, size_t n);
Kvrpcpb__LockInfo *txn_lock_info(mock_kvctx_t *kc, const uint8_t *raw, size_t raw_len,
                                 const mv_lock_t *l);
Kvrpcpb__KeyError *ke_new(mock_kvctx_t *kc);
Kvrpcpb__KeyError *ke_locked(mock_kvctx_t *kc, const mv_key_t *k, const mv_lock_t *l);
Kvrpcpb__KeyError *ke_conflict(mock_kvctx_t *kc, uint64_t start_ts, uint64_t conflict_start,
                               uint64_t conflict_commit, const uint8_t *key, size_t kl,
                               const uint8_t *primary, size_t pl,
                               Kvrpcpb__WriteConflict__Reason reason);
/* An Mvcc error TiKV only reports through its Debug text in `abort`. */
Kvrpcpb__KeyError *ke_abort(mock_kvctx_t *kc, const char *inner);
Kvrpcpb__KeyError *ke_already_exist(mock_kvctx_t *kc, const mv_key_t *k);
Kvrpcpb__KeyError *ke_txn_not_found(mock_kvctx_t *kc, uint64_t start_ts, const uint8_t *primary,
                                    size_t pl);
Kvrpcpb__KeyError *ke_txn_lock_not_found(mock_kvctx_t *kc, uint64_t start_ts, uint64_t commit_ts,
                                         const mv_key_t *k);
Kvrpcpb__KeyError *ke_committed(mock_kvctx_t *kc, uint64_t start_ts, uint64_t commit_ts,
                                const mv_key_t *k);
Kvrpcpb__KeyError *ke_pessimistic_lock_not_found(mock_kvctx_t *kc, uint64_t start_ts,
                                                 const mv_key_t *k);
Kvrpcpb__KeyError *ke_lock_type_not_match(mock_kvctx_t *kc, uint64_t start_ts, const mv_key_t *k,
                                          bool pessimistic);
Kvrpcpb__KeyError *ke_commit_ts_expired(mock_kvctx_t *kc, uint64_t start_ts, uint64_t commit_ts,
                                        const mv_key_t *k, uint64_t min_commit_ts);
Kvrpcpb__KeyError *ke_invalid_txn_tso(mock_kvctx_t *kc, uint64_t start_ts, uint64_t commit_ts);
Kvrpcpb__KeyError *ke_other(mock_kvctx_t *kc, const char *msg);

/* ---- region checks on user keys (kv_txn.c) ---- */
Errorpb__Error *txn_check_key(mock_kvctx_t *kc, const mock_region_t *r, const uint8_t *raw,
                              size_t len);
Errorpb__Error *txn_check_keys(mock_kvctx_t *kc, const mock_region_t *r,
                               const ProtobufCBinaryData *keys, size_t n);
/* txn_check_keys for a request of mutations. */
Errorpb__Error *txn_check_mutations(mock_kvctx_t *kc, const mock_region_t *r,
                                    Kvrpcpb__Mutation *const *mutations, size_t n);

/* Encoded bounds of a range request within a region, with TiKV's
 * SnapshotStore::verify_range: a bound outside the region is refused. */
typedef struct txn_range {
  uint8_t *lo, *hi; /* malloc'ed; NULL: unbounded */
  size_t lol, hil;
} txn_range_t;
/* lower/upper: user-key bounds, NULL when absent. Returns NULL or the key
 * error. On success *out is clamped to the region. */
Kvrpcpb__KeyError *txn_region_range(mock_kvctx_t *kc, const mock_region_t *reg,
                                    const ProtobufCBinaryData *lower,
                                    const ProtobufCBinaryData *upper, txn_range_t *out);
void txn_range_free(txn_range_t *r);
static inline bool below_hi(const mv_key_t *k, const txn_range_t *r) {
  return !r->hi || tikv__key_cmp(k->enc, k->enc_len, r->hi, r->hil) < 0;
}
static inline bool at_or_above_lo(const mv_key_t *k, const txn_range_t *r) {
  return tikv__key_cmp(k->enc, k->enc_len, r->lo, r->lol) >= 0;
}

/* ---- actions that end a transaction (kv_commit.c) ---- */
/* TiKV's rollback_lock: writes the rollback record of the lock's txn and
 * removes the lock. */
void txn_rollback_lock(mock_kvctx_t *kc, mv_key_t *k, bool collapse);
/* TiKV's check_txn_status_missing_lock for the Rollback / ProtectedRollback
 * actions (never ReturnError here). Returns the txn status: 'C' committed
 * (*commit_ts), 'R' rolled back, 'N' lock not exist (rollback written). */
char txn_missing_lock_rollback(mv_key_t *k, uint64_t start_ts, bool protect, uint64_t *commit_ts);
/* TiKV's cleanup: rolls back the lock of txn start_ts on k (current_ts != 0:
 * only when its TTL is over). Errors: KeyIsLocked (TTL not over), Committed
 * (*committed_ts set). */
Kvrpcpb__KeyError *txn_cleanup(mock_kvctx_t *kc, mv_key_t *k, uint64_t start_ts,
                               uint64_t current_ts, bool protect, uint64_t *committed_ts);
/* Whether cleanup would fail on this key (for all-or-nothing commands). */
bool txn_cleanup_would_fail(const mv_key_t *k, uint64_t start_ts);
/* The write record type a lock of this kvrpcpb.Op commits as. */
int txn_write_type_of_lock(int lock_type);
/* TiKV's commit, check part: NULL when commit(k) would succeed. */
Kvrpcpb__KeyError *txn_commit_check(mock_kvctx_t *kc, mv_key_t *k, uint64_t start_ts,
                                    uint64_t commit_ts);
/* The commit itself, after txn_commit_check passed. */
void txn_commit_apply(mock_kvctx_t *kc, mv_key_t *k, uint64_t start_ts, uint64_t commit_ts);
/* TiKV's check_data_constraint: should_not_exist fails when the key has a
 * live value as of the latest record w. */
bool txn_key_exists_from(mv_key_t *k, const mv_write_t *w);
/* The commit ts of txn start_ts on k when it committed there, else 0
 * (TiKV's check_committed_record_on_err: a retried request of a committed
 * transaction succeeds). */
uint64_t txn_committed_at(mv_key_t *k, uint64_t start_ts);

#endif
