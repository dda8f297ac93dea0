/* The mock's transactional store: Percolator MVCC after TiKV's
 * src/storage/mvcc and txn_types (one lock per key, write records ordered by
 * commit ts, values kept inline), plus TiKV's concurrency manager max_ts and
 * lock manager (waiters on locked keys, the wait-for graph for deadlocks).
 *
 * Keys are stored by their memcomparable encoding (what region boundaries
 * are compared with); each entry keeps the user key for replies. This data is
 * apart from the raw column families: neither API sees the other's keys.
 *
 * Everything runs with the cluster mutex held, on the loop thread. */
#ifndef TIKV_MOCK_MVCC_H
#define TIKV_MOCK_MVCC_H

#include "mock/mock_internal.h"

/* Lock types carry the kvrpcpb.Op value TiKV reports in LockInfo.lock_type:
 * Put, Del, Lock, PessimisticLock. */
typedef struct mv_lock {
  int type;
  tikv__bytes_t primary;
  uint64_t ts, ttl, for_update_ts, txn_size, min_commit_ts;
  tikv__bytes_t value; /* Put: the value */
  bool use_async_commit;
  tikv__bytes_t *secondaries;
  size_t nsecondaries;
  uint64_t *rollback_ts; /* rollbacks of other txns at this key (TiKV's rollback_ts) */
  size_t nrollback_ts;
} mv_lock_t;

/* Write record types (TiKV's WriteType). */
enum { MV_W_PUT = 0, MV_W_DELETE = 1, MV_W_LOCK = 2, MV_W_ROLLBACK = 3 };

typedef struct mv_write {
  uint64_t commit_ts, start_ts;
  int type;
  tikv__bytes_t value;      /* MV_W_PUT */
  bool overlapped_rollback; /* a rollback of txn commit_ts shares this record */
  bool protected_rb;        /* rollbacks only: never collapsed */
} mv_write_t;

typedef struct mv_waiter mv_waiter_t;

typedef struct mv_key {
  uint8_t *raw; /* user key */
  size_t raw_len;
  uint8_t *enc; /* memcomparable form (the map key) */
  size_t enc_len;
  mv_lock_t *lock;
  mv_write_t *writes; /* newest commit_ts first */
  size_t nwrites, wcap;
  mv_waiter_t *waiters; /* pessimistic lock requests waiting on this key */
} mv_key_t;

typedef struct mock_mvcc mock_mvcc_t;

mock_mvcc_t *mock_mvcc_new(void);
void mock_mvcc_free(mock_mvcc_t *s);

/* The key's entry; created (empty) when `create`. NULL when absent or on
 * OOM. */
mv_key_t *mv_key_get(mock_mvcc_t *s, const uint8_t *raw, size_t len, bool create);
/* Iteration in encoded-key order. first: the first entry with enc >= key;
 * last_before: the last with enc < key (unbounded: the last entry). */
mv_key_t *mv_first(mock_mvcc_t *s, const uint8_t *enc, size_t len);
mv_key_t *mv_last_before(mock_mvcc_t *s, const uint8_t *enc, size_t len, bool unbounded);
mv_key_t *mv_next(mock_mvcc_t *s, mv_key_t *k);
mv_key_t *mv_prev(mock_mvcc_t *s, mv_key_t *k);

/* TiKV's concurrency manager max_ts (one per cluster here). */
uint64_t mv_max_ts(mock_mvcc_t *s);
void mv_update_max_ts(mock_mvcc_t *s, uint64_t ts);
/* The smallest start ts of any lock, 0 when none. */
uint64_t mock_mvcc_min_lock_ts(mock_mvcc_t *s);

/* ---- records ---- */
/* The newest write with commit_ts <= ts (any type), or NULL. */
mv_write_t *mv_seek_write(mv_key_t *k, uint64_t ts);
/* The visible data version at ts: the newest Put/Delete with commit_ts <= ts
 * (Lock and Rollback records skipped). NULL: no version. */
mv_write_t *mv_read_version(mv_key_t *k, uint64_t ts);

/* TiKV's get_txn_commit_record: the record of txn start_ts on this key. */
typedef enum { MV_REC_NONE, MV_REC_SINGLE, MV_REC_OVERLAPPED_ROLLBACK } mv_rec_kind;
typedef struct mv_commit_record {
  mv_rec_kind kind;
  mv_write_t *write;      /* SINGLE: the record (commit or rollback) */
  mv_write_t *overlapped; /* NONE: another txn's commit at commit_ts == start_ts */
} mv_commit_record_t;
mv_commit_record_t mv_commit_record(mv_key_t *k, uint64_t start_ts);

/* Adds a write record (value copied). 0 / -1 on OOM. */
int mv_put_write(mv_key_t *k, uint64_t commit_ts, uint64_t start_ts, int type, const uint8_t *value,
                 size_t vlen, bool protected_rb);
/* Writes the rollback record of txn start_ts (TiKV's make_rollback): with an
 * overlapped commit at the same ts, a protected rollback flags that record;
 * an unprotected one writes nothing. */
int mv_put_rollback(mv_key_t *k, uint64_t start_ts, bool protected_rb, mv_write_t *overlapped);
/* TiKV's collapse_prev_rollback: drops an unprotected rollback record just
 * below ts (the newest with commit_ts <= ts). */
void mv_collapse_prev_rollback(mv_key_t *k, uint64_t ts);
void mv_delete_write_at(mv_key_t *k, size_t index);

/* Installs a lock (ownership taken; any previous lock freed). */
void mv_set_lock(mv_key_t *k, mv_lock_t *l);
/* Removes the lock and wakes the key's waiters: the holder committed at
 * commit_ts (0: rolled back). */
void mv_unlock(mock_mvcc_t *s, mv_key_t *k, uint64_t commit_ts);
mv_lock_t *mv_lock_new(void);
void mv_lock_free(mv_lock_t *l);
/* Adds ts to the lock's rollback_ts (TiKV's mark_rollback_on_mismatching_lock). */
void mv_lock_mark_rollback(mv_lock_t *l, uint64_t ts);

/* Drops what no reader at or after safe_point can see. */
void mv_gc(mock_mvcc_t *s, uint64_t safe_point);
/* Removes every lock, record and value of keys in [start, end) (encoded;
 * end_len 0 = unbounded), waking waiters as by a rollback. */
void mv_delete_range(mock_mvcc_t *s, const uint8_t *start, size_t slen, const uint8_t *end,
                     size_t elen);

/* ---- the lock manager (waiters, deadlock detection) ---- */
/* Where a deferred reply goes (tikv.c). */
typedef struct mock_reply_to mock_reply_to_t;

struct mv_waiter {
  mv_waiter_t *next_on_key;
  mv_waiter_t *next_all, *prev_all;
  mock_cluster_t *m;
  mv_key_t *key; /* NULL once detached from the key (woken) */
  tikv__timer_t timer;
  mock_reply_to_t *reply;
  uint64_t store_id;
  uint64_t start_ts, lock_ts;
  uint64_t key_hash;
  bool woken;
  uint64_t released_commit_ts;
  /* the answer on timeout: the PessimisticLockResponse, packed */
  uint8_t *timeout_resp;
  size_t timeout_resp_len;
  /* the answer on wake-up: a WriteConflict for this key and primary */
  tikv__bytes_t raw_key, primary;
};

/* TiKV's key hash for deadlock reports (ours: FNV-1a of the user key). */
uint64_t mv_key_hash(const uint8_t *raw, size_t len);
/* Whether start_ts -> lock_ts would close a cycle in the wait-for graph; on
 * a cycle, *hash gets the hash of the key on the edge that closes it. */
bool mv_would_deadlock(mock_mvcc_t *s, uint64_t start_ts, uint64_t lock_ts, uint64_t *hash);
/* Registers a waiter (already filled) on its key, adds its wait-for edge
 * when `detect`, and starts its timer (timeout_ms). */
void mv_waiter_add(mock_mvcc_t *s, mv_waiter_t *w, bool detect, int64_t timeout_ms);
/* Frees a waiter that was never added (its reply not deferred). */
void mv_waiter_free(mv_waiter_t *w);
/* Answers every waiter at once (server stopping): store_id 0 = all stores. */
void mv_waiters_flush(mock_mvcc_t *s, uint64_t store_id);

#endif
