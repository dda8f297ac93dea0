/* Internals of transactions: the mutation buffer, locks and their
 * resolution, key errors, and the transaction object. I/O thread only. */
#ifndef TIKV_TXN_INTERNAL_H
#define TIKV_TXN_INTERNAL_H

#include "client/client.h"
#include "region/request.h"

/* client-go's defaults */
#define TIKV__DEFAULT_LOCK_TTL_MS 3000
#define TIKV__MANAGED_LOCK_TTL_MS 20000
#define TIKV__TXN_BATCH_KEYS 256
#define TIKV__TXN_BATCH_BYTES (16 * 1024)
#define TIKV__ASYNC_COMMIT_MAX_KEYS 256
#define TIKV__ASYNC_COMMIT_MAX_BYTES 4096
#define TIKV__MAX_COMMIT_TS_WINDOW_MS 2000
#define TIKV__TS_PHYSICAL(ts) ((int64_t)((ts) >> 18))

/* ---- a lock met by a request ---- */
typedef struct tikv__lock {
  tikv__bytes_t key, primary;
  uint64_t ts, ttl, txn_size, min_commit_ts, for_update_ts;
  int lock_type; /* Kvrpcpb__Op */
  bool use_async_commit;
  tikv__bytes_t *secondaries;
  size_t n_secondaries;
} tikv__lock_t;

typedef struct tikv__locks {
  tikv__lock_t *items;
  size_t count, cap;
} tikv__locks_t;

/* csrc/txn/lock.c */
int tikv__locks_add(tikv__locks_t *l, const Kvrpcpb__LockInfo *info);
void tikv__locks_free(tikv__locks_t *l);
/* Copies info's secondaries into k (which has none). 0 / -1 (OOM). */
int tikv__lock_set_secondaries(tikv__lock_t *k, const Kvrpcpb__LockInfo *info);
void tikv__lock_free(tikv__lock_t *k);

/* Resolves locks met by a transaction reading or writing at caller_start_ts
 * (0 for GC): commits or rolls back the lock's transaction when its primary
 * says so. cb's wait_ms is 0 when every lock is gone, else how long until the
 * first live one may expire (the caller backs off and retries). pushed lists
 * the transactions whose min_commit_ts was pushed past caller_start_ts: a
 * reader retries with them in Context.resolved_locks, so TiKV lets it pass.
 * locks is taken over. (csrc/txn/resolve.c) */
typedef void (*tikv__resolve_cb)(void *arg, tikv_error_t *err, int64_t wait_ms,
                                 const uint64_t *pushed, size_t n_pushed);
void tikv__resolve_locks(tikv__router_t *rt, uint64_t caller_start_ts, tikv__locks_t *locks,
                         tikv__scope_t *scope, tikv__resolve_cb cb, void *arg);

/* ---- lock resolution as a layer of the request engines (csrc/txn/lock.c) ----
 * A kind whose replies can report locks sets `.layer = &L.base`, L a
 * tikv__lock_layer_t (TIKV__LOCK_LAYER): the layer finds the locks in each
 * reply, resolves them, and sends the request again after the kind's
 * backoff, or takes the reply in as it is. */
typedef struct tikv__lock_layer {
  tikv__layer_t base;
  /* The locks in resp (added to *locks), or the error of any other key
   * error in it, which fails the request. */
  tikv_error_t *(*find)(void *arg, const ProtobufCMessage *resp, tikv__locks_t *locks);
  /* The start ts of the transaction the locks are resolved for (0: GC). */
  uint64_t (*caller_ts)(void *arg);
  /* Once the locks are resolved (wait_ms and pushed as tikv__resolve_cb's):
   * an error to fail with, or NULL and *delay_ms, the wait before sending
   * again, or -1 to take resp in as it is. */
  tikv_error_t *(*after)(void *arg, const ProtobufCMessage *resp, int64_t wait_ms,
                         const uint64_t *pushed, size_t n_pushed, int *delay_ms);
} tikv__lock_layer_t;
bool tikv__lock_layer_take(const tikv__layer_t *self, tikv__router_t *rt, void *arg,
                           ProtobufCMessage *resp, tikv__scope_t *scope, tikv__layer_cont cont,
                           void *ctx);
#define TIKV__LOCK_LAYER(find, caller_ts, after) {{tikv__lock_layer_take}, find, caller_ts, after}
/* The backoff of most kinds: bo's next step, but no longer than until the
 * first lock may expire; 0 when no lock is left. */
int tikv__lock_backoff(tikv__backoff_t *bo, int64_t wait_ms);

/* A TiKV KeyError as one of our errors (locked errors are not handled here). */
tikv_error_t *tikv__key_error(const Kvrpcpb__KeyError *ke, const char *what);

/* ---- the mutation buffer: sorted by key ---- */
typedef struct tikv__mut {
  tikv__bytes_t key, value;
  int op;            /* Kvrpcpb__Op of the write, when has_write */
  bool has_write;    /* Put/Del/Insert/Lock(optimistic) buffered */
  bool pess_locked;  /* a pessimistic lock is held on it */
} tikv__mut_t;

typedef struct tikv__buffer {
  tikv__mut_t *items;
  size_t count, cap;
} tikv__buffer_t;

tikv__mut_t *tikv__buffer_find(tikv__buffer_t *b, const uint8_t *key, size_t len);
/* Finds or adds the entry for key. NULL on OOM. */
tikv__mut_t *tikv__buffer_upsert(tikv__buffer_t *b, const uint8_t *key, size_t len);
/* Index of the first entry >= key. */
size_t tikv__buffer_lower_bound(tikv__buffer_t *b, const uint8_t *key, size_t len);
void tikv__buffer_free(tikv__buffer_t *b);

/* ---- the transaction ---- */
typedef enum { TXN_NEW, TXN_ACTIVE, TXN_COMMITTING, TXN_COMMITTED, TXN_ROLLED_BACK } txn_state;

typedef struct txn_op txn_op_t;

struct tikv_txn_s {
  tikv_client_t *c;
  tikv_txn_options_t opts;
  atomic_uint_fast64_t start_ts_pub; /* readable from any thread */
  /* set by the user's thread when it asks for commit or rollback: buffered
   * writes after that take the slow path and fail there */
  atomic_bool finishing;
  /* I/O thread only from here */
  uint64_t start_ts, for_update_ts;
  txn_state state;
  tikv__buffer_t buf;
  tikv__bytes_t primary; /* len 0 and data NULL: not chosen */
  bool has_primary;
  int inflight;          /* operations running */
  txn_op_t *waiting;     /* commit/rollback waiting for them */
  bool freed;            /* the user let go; free when idle */
  bool prewrite_started; /* locks may exist in TiKV */
  /* a buffered write that was acknowledged at once but could not be applied
   * (out of memory): the commit fails with it rather than lose the write */
  tikv_error_t *deferred_err;
  /* heartbeat of the primary lock */
  tikv__timer_t heartbeat;
  bool heartbeat_on;
  int64_t begin_ms;
};

/* Requests over copies of keys[0..n) of the transaction start_ts, which may
 * outlive their caller: commit (at commit_ts), rollback, pessimistic
 * rollback (of the locks taken at for_update_ts), resolve (roll the locks
 * forward to commit_ts, or back when 0). done may be NULL. In scope (the
 * caller's, which waits for done), or NULL: in its own, until deadline. */
enum { TIKV__BG_COMMIT, TIKV__BG_ROLLBACK, TIKV__BG_PESS_ROLLBACK, TIKV__BG_RESOLVE };
void tikv__txn_bg(tikv__router_t *rt, int kind, uint64_t start_ts, uint64_t commit_ts,
                  uint64_t for_update_ts, tikv__bytes_t *const *keys, size_t n,
                  tikv__scope_t *scope, int64_t deadline,
                  void (*done)(void *arg, tikv_error_t *err), void *arg);

void tikv__txn_heartbeat_start(tikv_txn_t *t);
void tikv__txn_heartbeat_stop(tikv_txn_t *t);
/* Called when an operation of t finishes, to run whatever waits. */
void tikv__txn_op_finished(tikv_txn_t *t);

/* ---- operations (csrc/txn/read.c, write.c, commit.c) ---- */
struct txn_op {
  tikv_txn_t *t;
  tikv_future_t *f;
  int kind;
  tikv__bytes_t *keys, *values;
  size_t n;
  tikv__bytes_t start, end;
  uint32_t limit;
  bool key_only, reverse;
  txn_op_t *next; /* in the waiting list */
};

enum {
  TXN_OP_GET,
  TXN_OP_BATCH_GET,
  TXN_OP_SCAN,
  TXN_OP_PUT,
  TXN_OP_INSERT,
  TXN_OP_DELETE,
  TXN_OP_LOCK_KEYS,
  TXN_OP_GET_FOR_UPDATE,
  TXN_OP_BATCH_GET_FOR_UPDATE,
  TXN_OP_COMMIT,
  TXN_OP_ROLLBACK,
};

void tikv__txn_op_free(txn_op_t *op);
/* Completes op's future (err consumed, or the future's result fields already
 * filled) and frees op. */
void tikv__txn_op_complete(txn_op_t *op, tikv_error_t *err);

/* client-go's CheckVisibility (csrc/txn/gc.c): cb(arg, NULL) when a read at
 * ts may be trusted, else TXN_ABORTED naming the GC safe point it is below.
 * PD's safe point is read again (GetGCSafePoint) when the copy is 10 s old;
 * when PD cannot answer, a copy younger than 100 s serves. cb may run
 * before this returns. */
void tikv__txn_check_visibility(tikv_client_t *c, uint64_t ts, tikv__scope_t *scope,
                                void (*cb)(void *arg, tikv_error_t *err), void *arg);

/* Snapshot reads at ts, resolving locks. Results in the future's fields:
 * kvs (found pairs) for batch get; value for get. */
void tikv__txn_read_keys(txn_op_t *op, uint64_t ts);
void tikv__txn_read_scan(txn_op_t *op, uint64_t ts);
/* Pessimistic lock of op->keys at a fresh for_update_ts; values returned
 * into the future's kvs when want_values. */
void tikv__txn_lock_pessimistic(txn_op_t *op, bool want_values,
                                void (*then)(txn_op_t *op, tikv_error_t *err));
void tikv__txn_commit(txn_op_t *op);
void tikv__txn_rollback(txn_op_t *op);
/* Rolls back whatever t holds in TiKV, in the background, then calls done. */
void tikv__txn_cleanup(tikv_txn_t *t, void (*done)(tikv_txn_t *t));

#endif
