/* The client: its I/O loop, PD connection, region cache and store channels,
 * and the engine that sends a request to the leader of a region and handles
 * region errors. Everything here runs on the I/O thread unless noted. */
#ifndef TIKV_CLUSTER_H
#define TIKV_CLUSTER_H

#include "core/core.h"
#include "errorpb.pb-c.h"
#include "kvrpcpb.pb-c.h"
#include "metapb.pb-c.h"
#include "pdpb.pb-c.h"
#include "rpc/rpc.h"

/* ---- configuration ---- */
struct tikv_config_s {
  char **pd_endpoints;
  size_t n_pd;
  uint32_t timeout_ms;
  char cf[16];
  bool atomic;
};

/* ---- region cache (csrc/region/cache.c): ordered by start key ----
 * Boundaries are kept as PD reports them (memcomparable-encoded for
 * transactional data). */
typedef struct tikv__peer {
  uint64_t id, store_id;
  int role;
} tikv__peer_t;

typedef struct tikv__region {
  uint64_t id, conf_ver, version;
  tikv__bytes_t start, end; /* end.len == 0: unbounded */
  tikv__peer_t *peers;
  size_t n_peers;
  size_t leader; /* index into peers; SIZE_MAX unknown */
} tikv__region_t;

typedef struct tikv__region_cache {
  tikv__region_t **regions; /* sorted by start, non-overlapping */
  size_t count, cap;
} tikv__region_cache_t;

void tikv__cache_init(tikv__region_cache_t *rc);
void tikv__cache_destroy(tikv__region_cache_t *rc);
/* The cached region containing key, or NULL. */
tikv__region_t *tikv__cache_find(tikv__region_cache_t *rc, const uint8_t *key, size_t len);
/* The cached region whose range contains the keys just below end (end
 * exclusive; empty end = the last region), or NULL. */
tikv__region_t *tikv__cache_find_end(tikv__region_cache_t *rc, const uint8_t *end, size_t len);
tikv__region_t *tikv__cache_by_id(tikv__region_cache_t *rc, uint64_t id);
/* Inserts a region from PD or TiKV (copied), replacing every region it
 * overlaps, unless a cached overlapping region has a newer epoch. Returns the
 * cached copy, NULL on OOM or when stale. leader_store_id 0: unknown. */
tikv__region_t *tikv__cache_insert(tikv__region_cache_t *rc, const Metapb__Region *r,
                                   uint64_t leader_peer_id);
void tikv__cache_remove(tikv__region_cache_t *rc, uint64_t region_id);
/* Sets the leader of a cached region to the peer on store_id; false when the
 * region is not cached or has no peer there. */
bool tikv__cache_set_leader(tikv__region_cache_t *rc, uint64_t region_id, uint64_t store_id,
                            uint64_t peer_id);
void tikv__region_free(tikv__region_t *r);

/* ---- stores ---- */
typedef struct tikv__store {
  uint64_t id;
  char *address;
  tikv__conn_t *conn;
} tikv__store_t;

/* ---- a route: what one request needs to know about its region ---- */
typedef struct tikv__route {
  uint64_t region_id, conf_ver, version;
  tikv__peer_t leader;
  /* the region's range in the caller's key space (decoded for txn) */
  tikv__bytes_t start, end;
} tikv__route_t;
void tikv__route_free(tikv__route_t *r);
int tikv__route_copy(tikv__route_t *dst, const tikv__route_t *src);
/* true when key lies in the route's range */
bool tikv__route_contains(const tikv__route_t *r, const uint8_t *key, size_t len);

/* TiKV cannot reverse-scan from +inf: a reverse scan's upper bound must lie
 * inside the region (it checks key-in-region, and "" is not in the last
 * region). This key sorts after every key TiKV accepts (keys are at most
 * 8 KiB), so it stands for +inf in the last region. */
#define TIKV__KEY_SENTINEL_LEN 8193
const uint8_t *tikv__key_sentinel(void);

/* Key spaces: raw keys are compared with PD's boundaries as they are;
 * transactional keys are memcomparable-encoded first (API v1). */
typedef enum { TIKV__KS_RAW = 0, TIKV__KS_TXN = 1 } tikv__keyspace;

typedef struct tikv__pd_waiter tikv__pd_waiter_t;
typedef struct tikv__tso_waiter tikv__tso_waiter_t;

/* ---- the client ---- */
struct tikv_client_s {
  tikv_config_t cfg;
  tikv__loop_t *loop;
  tikv__rpc_t rpc;
  atomic_bool closed;
  pthread_mutex_t close_mu;

  /* PD */
  atomic_uint_fast64_t cluster_id;
  tikv__conn_t **pd_conns; /* one per configured endpoint */
  char *pd_leader_addr;
  tikv__conn_t *pd_leader; /* NULL until members are known */
  bool pd_discovering;
  tikv__pd_waiter_t *pd_waiters; /* wait for a leader */
  tikv_error_t *pd_last_err;
  tikv__backoff_t pd_bo;

  /* TSO */
  tikv__stream_t *tso_stream;
  bool tso_inflight;
  tikv__tso_waiter_t *tso_queue, *tso_queue_tail; /* not yet sent */
  tikv__tso_waiter_t *tso_sent;                   /* sent, awaiting reply (FIFO) */
  size_t tso_sent_count;
  uint64_t tso_last;
  tikv__timer_t tso_timer; /* deadline of the batch in flight */
  bool tso_timed_out;

  tikv__region_cache_t cache;
  tikv__store_t *stores;
  size_t n_stores;
};

/* Runs fn(arg) on the client's I/O thread. If the client is closed, the task
 * is not run and -1 returned. */
int tikv__client_post(tikv_client_t *c, tikv__task_fn fn, void *arg);
/* Deadline for an operation starting now. */
int64_t tikv__client_deadline(tikv_client_t *c);

/* ---- PD (csrc/pd/pd.c) ---- */
/* Completion of a PD call: err or resp (owned by the callee). */
typedef void (*tikv__pd_cb)(void *arg, tikv_error_t *err, ProtobufCMessage *resp);
/* Builds the request with the cluster id: fills buf and len (malloc'ed). */
typedef int (*tikv__pd_build)(void *arg, Pdpb__RequestHeader *hdr, grpc_slice *out);

/* A PD unary call to the leader, found (again) as needed, retried with
 * backoff until the deadline. build is called for each attempt. */
void tikv__pd_call(tikv_client_t *c, tikv__req_id id, tikv__pd_build build, int64_t deadline,
                   tikv__pd_cb cb, void *arg);
/* Waits until the PD leader is known (or the deadline passes). */
void tikv__pd_connect(tikv_client_t *c, int64_t deadline, void (*cb)(void *arg, tikv_error_t *err),
                      void *arg);
/* A timestamp from the TSO stream; concurrent requests share round trips. */
void tikv__pd_get_ts(tikv_client_t *c, int64_t deadline,
                     void (*cb)(void *arg, tikv_error_t *err, uint64_t ts), void *arg);
/* Drops the leader so the next call rediscovers it. */
void tikv__pd_reset_leader(tikv_client_t *c);
void tikv__pd_close(tikv_client_t *c);
void tikv__pd_free(tikv_client_t *c);

/* ---- locating keys and stores (csrc/region/locate.c) ---- */
typedef void (*tikv__locate_cb)(void *arg, tikv_error_t *err, const tikv__route_t *route);
/* Route of the region containing key (reverse=false) or of the region
 * holding the keys just below `key` as an exclusive end (reverse=true; empty
 * key = the last region). Calls cb synchronously on a cache hit. */
void tikv__locate(tikv_client_t *c, tikv__keyspace ks, const uint8_t *key, size_t len,
                  bool reverse, int64_t deadline, tikv__locate_cb cb, void *arg);
/* Like tikv__locate (forward), for an operation that will walk [key, end):
 * a cache miss loads the next regions with one ScanRegions. */
void tikv__locate_range(tikv_client_t *c, tikv__keyspace ks, const uint8_t *key, size_t len,
                        const uint8_t *end, size_t end_len, int64_t deadline,
                        tikv__locate_cb cb, void *arg);
/* Reloads a region and its leader from PD (GetRegionByID) in the
 * background; the cached entry is dropped if PD no longer knows it. */
void tikv__refresh_region(tikv_client_t *c, uint64_t region_id, int64_t deadline);
/* Synchronous cache lookup; true and *route filled on a hit. */
bool tikv__locate_cached(tikv_client_t *c, tikv__keyspace ks, const uint8_t *key, size_t len,
                         bool reverse, tikv__route_t *route);
/* Channel to a store, resolving its address through PD when unknown. */
typedef void (*tikv__store_cb)(void *arg, tikv_error_t *err, tikv__conn_t *conn);
void tikv__resolve_store(tikv_client_t *c, uint64_t store_id, int64_t deadline,
                         tikv__store_cb cb, void *arg);
void tikv__store_forget(tikv_client_t *c, uint64_t store_id);
void tikv__stores_free(tikv_client_t *c);

/* ---- sending a request to a region (csrc/region/send.c) ---- */
typedef struct tikv__send tikv__send_t;
typedef struct tikv__send_ops {
  /* Packs the request for this route; ctx is filled (region, epoch, peer). */
  int (*build)(void *arg, const tikv__route_t *route, Kvrpcpb__Context *ctx, grpc_slice *out);
  /* Final: a response without region error (resp owned), or an error. */
  void (*done)(void *arg, tikv_error_t *err, ProtobufCMessage *resp);
  /* The region changed (error handled, cache updated, backoff slept): the
   * owner must locate its keys again and send anew. */
  void (*retry)(void *arg);
} tikv__send_ops_t;

/* Sends one request to route's leader. Exactly one of done/retry is called
 * later (never synchronously). On retry and done the send is over. */
void tikv__send(tikv_client_t *c, tikv__req_id req, const tikv__route_t *route, tikv__keyspace ks, int64_t deadline,
                tikv__backoff_t *bo, tikv_error_t **last_err, const tikv__send_ops_t *ops,
                void *arg);

/* Region errors: handled by tikv__send; exposed for tests. Returns the
 * backoff to sleep before retrying (0: at once), or -1 when the error is not
 * retryable (then *err is set). */
int tikv__handle_region_error(tikv_client_t *c, const tikv__route_t *route,
                              const Errorpb__Error *re, tikv__backoff_t *bo, tikv_error_t **err);

#endif
