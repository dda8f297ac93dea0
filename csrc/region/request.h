/* Requests to regions. A request kind says, in one place, how one kind of
 * request is built and how its reply is taken in; three engines send kinds:
 * tikv__point_run for one key, tikv__multi_run for a batch of keys grouped
 * by region, tikv__walk_start for a key range walked region by region. All
 * three send through tikv__send_start, which handles region errors and runs
 * the kind's layer. I/O thread only. */
#ifndef TIKV_REGION_REQUEST_H
#define TIKV_REGION_REQUEST_H

#include "region/region.h"

/* What one request covers. */
typedef struct tikv__part {
  /* keyed requests: the owner's keys and indexes into them, the keys
   * keys[idx[0..n)] in ascending order (on the point path: {0}, one key);
   * keys NULL for range walks */
  const tikv__bytes_t *keys;
  const size_t *idx;
  size_t n;
  /* range walks: the part of the range inside the region, in key order
   * (hi.len 0: unbounded), and how many items are still wanted (0: no
   * limit); consume reports in `taken` how many it kept */
  tikv__bytes_t lo, hi;
  bool reverse;
  uint32_t limit;
  size_t taken;
  /* set by consume (owned by the walk) when the reply stopped at the limit
   * but fewer items were kept: the walk reads on in the same region past
   * this key (reverse: below it) */
  tikv__bytes_t resume;
} tikv__part_t;

/* A layer between a reply and its kind's consume: it sees every reply
 * without region error first (txn/lock.c resolves the locks a reply
 * reports). take() returns false to let the reply through, or true when it
 * took it over; it then calls cont exactly once, at once or later:
 *   cont(ctx, err, NULL, 0)      the request fails with err
 *   cont(ctx, NULL, resp, 0)     resp (owned) goes on to consume as it is
 *   cont(ctx, NULL, NULL, delay) the request is sent again after delay ms */
typedef void (*tikv__layer_cont)(void *ctx, tikv_error_t *err, ProtobufCMessage *resp,
                                 int delay_ms);
typedef struct tikv__layer tikv__layer_t;
struct tikv__layer {
  bool (*take)(const tikv__layer_t *self, tikv__router_t *rt, void *arg, ProtobufCMessage *resp,
               tikv__scope_t *scope, tikv__layer_cont cont, void *ctx);
};

typedef struct tikv__kind {
  tikv__req_id req;
  tikv__keyspace ks;
  /* Packs the request for part; ctx is filled (region, epoch, peer). */
  int (*build)(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx, grpc_slice *out);
  /* Takes in a reply without region error (still the caller's): NULL, or
   * the error that fails the operation. NULL: nothing to take in. */
  tikv_error_t *(*consume)(void *arg, tikv__part_t *part, const ProtobufCMessage *resp);
  const tikv__layer_t *layer; /* NULL: replies go straight to consume */
  /* batches (tikv__multi_run): per request, 0 meaning unlimited; bytes of
   * item i by size_of (NULL: its key's length) */
  size_t max_keys, max_bytes;
  size_t (*size_of)(void *arg, size_t i);
  /* how long TiKV may hold the request on purpose (a pessimistic lock's
   * wait), added to the attempt timeout; NULL: none */
  int64_t (*server_wait_ms)(void *arg);
  /* called when an attempt failed at transport level after its request
   * may have reached TiKV (the request is sent again): whether it was
   * applied is unknown, which a commit must know (txn/commit.c); NULL: not
   * told */
  void (*uncertain)(void *arg);
} tikv__kind_t;

/* Room for a request that a kind builds by field names (tikv__pb_set_*), as
 * kinds of one shape share one builder: any of these types. */
typedef union tikv__req_msg {
  ProtobufCMessage base;
  Kvrpcpb__RawGetRequest raw_get;
  Kvrpcpb__RawGetKeyTTLRequest raw_get_key_ttl;
  Kvrpcpb__RawPutRequest raw_put;
  Kvrpcpb__RawDeleteRequest raw_delete;
  Kvrpcpb__RawCASRequest raw_cas;
  Kvrpcpb__RawBatchGetRequest raw_batch_get;
  Kvrpcpb__RawBatchDeleteRequest raw_batch_delete;
  Kvrpcpb__CommitRequest commit;
  Kvrpcpb__ResolveLockRequest resolve_lock;
  Kvrpcpb__BatchRollbackRequest batch_rollback;
  Kvrpcpb__PessimisticRollbackRequest pessimistic_rollback;
} tikv__req_msg_t;
/* q as an empty request of row id (one of the union's types), with ctx as
 * its context. */
void tikv__req_msg_init(tikv__req_msg_t *q, tikv__req_id id, Kvrpcpb__Context *ctx);

/* The retries of one operation (shared by the parts of a batch): region
 * errors back off by the count of attempts, and the last cause is reported
 * when the deadline passes. */
typedef struct tikv__retries {
  int attempts;
  tikv_error_t *last_err;
} tikv__retries_t;
void tikv__retries_clear(tikv__retries_t *r);

/* ---- sending one request to a region's leader (csrc/region/send.c) ----
 * The engines embed a tikv__send_t: it builds the request, sends it through
 * tikv__rpc_send, handles region errors, passes the reply through the
 * kind's layer and consume, and tells the engine how it ended. */
/* One attempt's timeout when the client sets none (tikv_config_set_attempt_
 * timeout_ms). client-go bounds every RPC on its own, apart from the
 * operation, so that a store that takes a request and never answers costs
 * one attempt and the retry can go to another peer; it keeps that bound
 * short for reads (TiDB's tikv_client_read_timeout, a second or two), and
 * gives a pessimistic lock its server-side lock wait on top (kind's
 * server_wait_ms). A healthy TiKV answers a read in milliseconds and a
 * write after one Raft round trip, so 2 s is far above both, and leaves an
 * operation's 20 s room for several attempts while a leader moves. */
#define TIKV__ATTEMPT_TIMEOUT_MS 2000

typedef struct tikv__send tikv__send_t;
typedef struct tikv__send_ops {
  /* The reply was taken in (err NULL) or the request failed. */
  void (*done)(tikv__send_t *s, tikv_error_t *err);
  /* The region changed (cache updated, backoff slept) or the layer asked
   * for the request again: locate again and tikv__send_start anew. */
  void (*retry)(tikv__send_t *s);
} tikv__send_ops_t;

struct tikv__send {
  /* set by the engine */
  tikv__router_t *rt;
  const tikv__kind_t *kind;
  void *arg; /* the kind's */
  tikv__part_t part;
  tikv__scope_t *scope; /* the operation's deadline and cancellation */
  tikv__retries_t *retries;
  const tikv__send_ops_t *ops;
  /* the send's own */
  tikv__route_t route; /* no boundaries */
  tikv__conn_t *conn;  /* of the call in flight (the call holds a reference) */
  tikv__timer_t timer;
};

/* Sends s's request to route's leader. Exactly one of ops->done/retry is
 * called: later, or within this call when the request cannot start. */
void tikv__send_start(tikv__send_t *s, const tikv__route_t *route);

/* ---- one key: straight to its region's leader (csrc/region/point.c) ---- */
typedef struct tikv__point {
  tikv__send_t send;
  tikv__retries_t retries;
  const uint8_t *key; /* borrowed from the owner */
  size_t key_len;
  tikv__bytes_t one; /* the key again, as the part's keys */
  void (*done)(void *arg, tikv_error_t *err);
} tikv__point_t;

/* Sends kind's request for key (borrowed until done) to the leader of its
 * region, locating it again after region errors. done(arg, err) is called
 * once, maybe before this returns; after it p may be freed. */
void tikv__point_run(tikv__point_t *p, tikv__router_t *rt, const tikv__kind_t *kind, void *arg,
                     const uint8_t *key, size_t key_len, tikv__scope_t *scope,
                     void (*done)(void *arg, tikv_error_t *err));

/* ---- walking a key range region by region (csrc/region/walk.c) ---- */
typedef struct tikv__walk {
  tikv__send_t send;
  tikv__retries_t retries;
  tikv__bytes_t start, end; /* [start, end); end.len 0: unbounded */
  tikv__bytes_t cur;        /* forward: next start; reverse: next exclusive end */
  tikv__route_t route;      /* the region being read, with boundaries */
  bool reverse;
  uint32_t left;            /* items still wanted; unused without a limit */
  bool limited;
  void (*done)(void *arg, tikv_error_t *err);
} tikv__walk_t;

/* Prepares a walk of [start, end) (copied; end empty: to the end of the key
 * space), forward or reverse, for at most limit items (0: no limit). 0, or
 * -1 on OOM (then tikv__walk_free). */
int tikv__walk_init(tikv__walk_t *w, const uint8_t *start, size_t start_len, const uint8_t *end,
                    size_t end_len, bool reverse, uint32_t limit);
/* Sends kind's request for the range's part in each region in turn, in key
 * order (reverse: from the end), until the range or the limit is exhausted;
 * region errors resume at the same place. TiKV cannot start a reverse scan
 * at +inf: the last region's part then ends at tikv__key_sentinel(). done is
 * called once, maybe before this returns. */
void tikv__walk_start(tikv__walk_t *w, tikv__router_t *rt, const tikv__kind_t *kind, void *arg,
                      tikv__scope_t *scope, void (*done)(void *arg, tikv_error_t *err));
void tikv__walk_free(tikv__walk_t *w);

/* ---- a batch of keys (csrc/region/multi.c) ----
 * The keys are grouped by region, each group sent as one request (in chunks
 * of the kind's max_keys / max_bytes), all groups in parallel; a group that
 * meets a region error is grouped again from the cache. */

/* Sends keys[idx[0..n)] (idx NULL: keys[0..n)); keys borrowed until done,
 * idx copied. done(arg, err) is called once, err the first failure; maybe
 * before this returns (n == 0 or an early failure). */
void tikv__multi_run(tikv__router_t *rt, const tikv__kind_t *kind, void *arg,
                     const tikv__bytes_t *keys, const size_t *idx, size_t n, tikv__scope_t *scope,
                     void (*done)(void *arg, tikv_error_t *err));

/* Packs m, a request whose repeated `keys` are the part's: keys[part->idx[i]].
 * 0 / -1 (OOM). */
int tikv__pack_keys(ProtobufCMessage *m, const tikv__bytes_t *keys, const tikv__part_t *part,
                    grpc_slice *out);

#endif
