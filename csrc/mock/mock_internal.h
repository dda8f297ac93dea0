/* Internals of the mock cluster, shared by its files:
 *   cluster.c   state (regions, stores, ids, faults), the arena, the public API
 *   server.c    gRPC server plumbing: calls, streams, latency, pause, health
 *   pd.c        the PD service
 *   tikv.c      the TiKV service: handlers by request id, unary calls,
 *               BatchCommands, GetStoreSafeTS, the region checks
 *   kv_raw.c    raw KV handlers
 *   kv_txn.h    the transactional handlers (kv_txn.c, kv_read.c,
 *               kv_prewrite.c, kv_commit.c, kv_pessimistic.c)
 *   apiver.c    TiKV's API version and key-mode checks; where a storage
 *               error goes in each response
 *   keyspace.c  keyspaces (API v2) and the regions they split
 *   tls.c       the TLS material every server serves with
 *   mvcc.c      the Percolator store and the lock manager (mvcc.h)
 *   rawstore.c  the ordered map holding the data
 *   main.c      the tikv-mock-server CLI
 * Paths, descriptors and BatchCommands cases of every method come from the
 * request table (rpc/requests.h); the mock keeps only request ids.
 *
 * Threads: every server and handler runs on one I/O loop (csrc/core loop).
 * Public functions may be called from any thread; the cluster state is
 * guarded by m->mu, which handlers hold while they run. */
#ifndef TIKV_MOCK_MOCK_INTERNAL_H
#define TIKV_MOCK_MOCK_INTERNAL_H

#include <grpc/grpc_security.h>

#include "core/core.h"
#include "rpc/requests.h"
#include "tikv/mock.h"

#include "errorpb.pb-c.h"
#include "health.pb-c.h"
#include "keyspacepb.pb-c.h"
#include "kvrpcpb.pb-c.h"
#include "metapb.pb-c.h"
#include "pdpb.pb-c.h"
#include "tikvpb.pb-c.h"

#include "mock/rawstore.h"

/* ---- arena: every message a handler builds is allocated here and freed in
 * one go once the reply is packed ---- */
typedef struct mock_arena_chunk mock_arena_chunk;
typedef struct mock_arena {
  mock_arena_chunk *head;
} mock_arena_t;
void *mock_arena_alloc(mock_arena_t *a, size_t n); /* zeroed; aborts on OOM */
void *mock_arena_dup(mock_arena_t *a, const void *p, size_t n);
char *mock_arena_printf(mock_arena_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mock_arena_free(mock_arena_t *a);
/* Upper-case hex of bytes, as TiKV logs keys. */
char *mock_arena_hex(mock_arena_t *a, const uint8_t *p, size_t n);
/* A message of the given type, initialised, in the arena. */
#define MOCK_NEW(a, T, INIT)                  \
  ({                                          \
    T *_p = mock_arena_alloc((a), sizeof(T)); \
    T _i = INIT;                              \
    *_p = _i;                                 \
    _p;                                       \
  })

/* Appends p to the arena array (arr, n) whose capacity is cap, growing it
 * by doubling. */
#define MOCK_PUSH(a, arr, n, cap, p)                           \
  do {                                                         \
    if ((n) == (cap)) {                                        \
      size_t nc_ = (cap) ? (cap) * 2 : 16;                     \
      void *np_ = mock_arena_alloc((a), nc_ * sizeof(*(arr))); \
      if (n) memcpy(np_, (arr), (n) * sizeof(*(arr)));         \
      (arr) = np_;                                             \
      (cap) = nc_;                                             \
    }                                                          \
    (arr)[(n)++] = (p);                                        \
  } while (0)

/* ---- regions ---- */
#define MOCK_MAX_PEERS 3
typedef struct mock_region {
  uint64_t id;
  tikv__bytes_t start, end; /* end.len == 0: unbounded */
  uint64_t conf_ver, version;
  int npeers;
  uint64_t peer_id[MOCK_MAX_PEERS];
  uint64_t peer_store[MOCK_MAX_PEERS];
  /* index into the peers of the leader, or while `electing` of the last
   * leader, which PD keeps reporting until it hears of a new one */
  int leader;
  bool electing;       /* no leader: its store is down, an election is due */
  int64_t election_at; /* when the election is held (monotonic ms; INT64_MAX: no quorum) */
  uint64_t split_from; /* region this one was split off (0: initial) */
} mock_region_t;

/* ---- servers and calls ---- */
typedef enum { MOCK_SRV_PD = 0, MOCK_SRV_TIKV = 1 } mock_srv_kind;

typedef struct mock_call mock_call_t;
typedef struct mock_server mock_server_t;
typedef struct tikv_mock_cluster_s mock_cluster_t;

/* What a service does with one received message of a call. It answers with
 * mock_call_reply / mock_call_fail, at once or later (holding a reference
 * with mock_call_ref meanwhile). Runs on the loop thread. */
typedef void (*mock_msg_fn)(mock_call_t *c, const uint8_t *data, size_t len);

/* A message held back, by a latency (a timer) or a paused server (its
 * list). It keeps a reference on its call and counts in c->pending. */
typedef struct mock_held mock_held_t;
struct mock_held {
  tikv__timer_t timer;
  mock_call_t *c;
  const uint8_t *data; /* the message: a copy, in bytes */
  size_t len;
  void (*run)(mock_held_t *h); /* what releasing it runs; NULL: the call's handler */
  const void *arg;             /* for run */
  uint64_t id;                 /* for run */
  mock_held_t *next;
  uint8_t bytes[];
};

struct mock_server {
  mock_cluster_t *m;
  mock_srv_kind kind;
  uint64_t store_id; /* TiKV: the store it serves */
  int pd_member;     /* PD: the member number it serves (1..) */
  grpc_server *server;
  int port;
  bool running, stopping;
  tikv__tag_t shutdown_tag;
  mock_held_t *held_head, *held_tail; /* what it received while paused (m->mu) */
};

/* Frees every node of a singly linked list (through ->next) and empties it. */
#define MOCK_FREE_LIST(head)                 \
  do {                                       \
    while (head) {                           \
      __typeof__(head) next_ = (head)->next; \
      free(head);                            \
      (head) = next_;                        \
    }                                        \
  } while (0)

/* Appends p at the end of a singly linked list (through ->next). */
#define MOCK_LIST_APPEND(head, p)     \
  do {                                \
    __typeof__(head) *pp_ = &(head);  \
    while (*pp_) pp_ = &(*pp_)->next; \
    *pp_ = (p);                       \
  } while (0)

/* Appends p to the singly linked queue (head, tail) through p->next. */
#define MOCK_QUEUE_PUSH(head, tail, p) \
  do {                                 \
    if (tail)                          \
      (tail)->next = (p);              \
    else                               \
      (head) = (p);                    \
    (tail) = (p);                      \
  } while (0)

struct mock_call {
  tikv__tag_t req_tag, close_tag, recv_tag, send_tag;
  mock_server_t *srv;
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array md;
  int req;                /* the method's tikv__req_id; -1: not served here */
  mock_msg_fn on_message; /* its handler */
  int refs;
  int cancelled;    /* written by RECV_CLOSE_ON_SERVER: read only in on_close */
  bool dead;        /* cancelled, or a send failed: nothing more goes out */
  bool closed;      /* the close op completed */
  bool finished;    /* status sent (or being sent) */
  bool client_done; /* stream: the client half-closed */
  bool sending;
  bool status_pending; /* stream: send the status once the queue drains */
  int status_code;
  char *status_msg;
  grpc_byte_buffer *recv_buf;
  grpc_byte_buffer *send_buf;
  grpc_slice status_slice;
  bool status_slice_set;
  struct mock_outmsg *out_head, *out_tail;
  int pending; /* messages waiting for a timer or a PD unpause */
};

/* Reply (unary: message + OK status; stream: one more message). Consumes
 * data (malloc'ed), which may be NULL for an empty message. */
void mock_call_reply(mock_call_t *c, uint8_t *data, size_t len);
/* Damages data (len bytes, malloc'ed, maybe replaced) as an injected
 * corrupt reply of `mode` does (-1: untouched); its new length. */
size_t mock_corrupt_bytes(mock_cluster_t *m, int mode, uint8_t **data, size_t len);
/* Packs msg and replies with it. */
void mock_call_reply_msg(mock_call_t *c, const ProtobufCMessage *msg);
/* Ends the call with a non-OK gRPC status. */
void mock_call_fail(mock_call_t *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Streams: ends the call (status OK) once the client half-closed and no
 * message is pending. Call after c->pending drops. */
void mock_call_maybe_finish(mock_call_t *c);
void mock_call_ref(mock_call_t *c);
void mock_call_unref(mock_call_t *c);

/* Loop thread. 0 or -1 (errbuf filled). port 0: any. */
int mock_server_start(mock_server_t *s, const char *host, int port, char *err, size_t errlen);
/* Loop thread: begins shutdown; s->running turns false when done. */
void mock_server_stop(mock_server_t *s);
/* Another thread: waits until a stopping server is gone (its port free). */
void mock_server_wait_stopped(mock_server_t *s);
const char *mock_advertised_host(const char *host); /* what addresses name for a listen host */

/* The method's name in the request table ("RawGet"): what faults, latency
 * and call counters match against. */
static inline const char *mock_call_method(const mock_call_t *c) {
  return c->req >= 0 ? tikv__req((tikv__req_id)c->req)->method : "";
}
static inline bool mock_call_streaming(const mock_call_t *c) {
  return c->req >= 0 && tikv__req((tikv__req_id)c->req)->cls == TIKV__REQ_CLASS_STREAM;
}

/* ---- services: each maps the request ids it serves (rpc/requests.h) to
 * handlers; NULL for a method it does not implement ---- */
mock_msg_fn mock_pd_route(int req);
mock_msg_fn mock_tikv_route(int req);
void mock_health_check(mock_call_t *c, const uint8_t *data, size_t len);

/* What a TiKV handler is told about the request it serves. */
typedef struct mock_kvctx {
  mock_cluster_t *m;
  uint64_t store_id;
  const char *method;
  mock_arena_t *arena;
  /* the call being answered, for handlers that answer later */
  mock_call_t *call;
  bool batch;        /* inside BatchCommands */
  uint64_t batch_id; /* its request id there */
  int batch_case;
  bool deferred;         /* set by mock_kv_defer */
  bool lost;             /* an injected lost reply takes this call's answer */
  mock_region_t *region; /* region_first methods: the request's region, checked */
} mock_kvctx_t;

/* The TiKV methods the mock serves: X(request id, handler, region_first).
 * The request id names the row of the request table (rpc/requests.h) that
 * gives the method's path, descriptors and BatchCommands case. A handler
 * gets the unpacked request and fills the response (initialised, in the
 * arena; it copies what it puts there: nothing borrows the store); it runs
 * with m->mu held. region_first: the region check (mock_check_context on
 * the request's context) runs before the handler, as TiKV's raftstore does
 * for transactional commands, and the handler finds the region in
 * kc->region; otherwise the handler checks the region itself, after what
 * TiKV checks first (a raw request's column family and TTL). A new method
 * is one row here and its handler. */
#define MOCK_TIKV_METHODS(X)                                       \
  /* raw (kv_raw.c) */                                             \
  X(RAW_GET, mock_raw_get, false)                                  \
  X(RAW_BATCH_GET, mock_raw_batch_get, false)                      \
  X(RAW_PUT, mock_raw_put, false)                                  \
  X(RAW_BATCH_PUT, mock_raw_batch_put, false)                      \
  X(RAW_DELETE, mock_raw_delete, false)                            \
  X(RAW_BATCH_DELETE, mock_raw_batch_delete, false)                \
  X(RAW_DELETE_RANGE, mock_raw_delete_range, false)                \
  X(RAW_SCAN, mock_raw_scan, false)                                \
  X(RAW_BATCH_SCAN, mock_raw_batch_scan, false)                    \
  X(RAW_GET_KEY_TTL, mock_raw_get_key_ttl, false)                  \
  X(RAW_CAS, mock_raw_cas, false)                                  \
  X(RAW_CHECKSUM, mock_raw_checksum, false)                        \
  /* reads (kv_read.c) */                                          \
  X(KV_GET, mock_kv_get, true)                                     \
  X(KV_BATCH_GET, mock_kv_batch_get, true)                         \
  X(KV_SCAN, mock_kv_scan, true)                                   \
  X(KV_SCAN_LOCK, mock_kv_scan_lock, true)                         \
  /* prewrite (kv_prewrite.c) */                                   \
  X(KV_PREWRITE, mock_kv_prewrite, true)                           \
  /* ending a transaction (kv_commit.c) */                         \
  X(KV_COMMIT, mock_kv_commit, true)                               \
  X(KV_BATCH_ROLLBACK, mock_kv_batch_rollback, true)               \
  X(KV_CLEANUP, mock_kv_cleanup, true)                             \
  X(KV_CHECK_TXN_STATUS, mock_kv_check_txn_status, true)           \
  X(KV_CHECK_SECONDARY_LOCKS, mock_kv_check_secondary_locks, true) \
  X(KV_TXN_HEART_BEAT, mock_kv_txn_heart_beat, true)               \
  X(KV_RESOLVE_LOCK, mock_kv_resolve_lock, true)                   \
  X(KV_DELETE_RANGE, mock_kv_delete_range, true)                   \
  X(UNSAFE_DESTROY_RANGE, mock_unsafe_destroy_range, false)        \
  /* pessimistic locks (kv_pessimistic.c) */                       \
  X(KV_PESSIMISTIC_LOCK, mock_kv_pessimistic_lock, true)           \
  X(KV_PESSIMISTIC_ROLLBACK, mock_kv_pessimistic_rollback, true)   \
  /* store-wide (tikv.c) */                                        \
  X(GET_STORE_SAFE_TS, mock_store_safe_ts, false)

typedef void (*mock_kv_fn)(mock_kvctx_t *kc, const void *req, void *resp);
#define MOCK_KV_DECLARE(id, fn, region_first) \
  void fn(mock_kvctx_t *kc, const void *req, void *resp);
MOCK_TIKV_METHODS(MOCK_KV_DECLARE)
#undef MOCK_KV_DECLARE

/* A handler that cannot answer yet (a pessimistic lock waiting for a lock)
 * calls mock_kv_defer and returns NULL; the reply goes out later through
 * mock_kv_deferred_reply, on the loop thread without m->mu held, exactly
 * once. The call stays referenced meanwhile. */
typedef struct mock_reply_to mock_reply_to_t;
mock_reply_to_t *mock_kv_defer(mock_kvctx_t *kc); /* NULL on OOM */
/* Sends resp (a response of the deferred method; NULL: nothing, the call is
 * gone) and frees rt. */
void mock_kv_deferred_reply(mock_reply_to_t *rt, const ProtobufCMessage *resp);

/* Region checks, as TiKV applies them before serving a request. Each returns
 * NULL when the request may go on, else the region error to answer with. */
Errorpb__Error *mock_check_context(mock_kvctx_t *kc, const Kvrpcpb__Context *ctx,
                                   mock_region_t **region);
Errorpb__Error *mock_check_key(mock_kvctx_t *kc, const mock_region_t *r, const uint8_t *key,
                               size_t len, bool end_inclusive);
Errorpb__Error *mock_key_not_in_region(mock_kvctx_t *kc, const mock_region_t *r, const uint8_t *key,
                                       size_t len);
Errorpb__Error *mock_region_error_of_kind(mock_kvctx_t *kc, tikv_mock_region_error kind,
                                          const Kvrpcpb__Context *ctx, mock_region_t *r);
/* Fills a metapb.Region / leader Peer for a region (arena). */
Metapb__Region *mock_region_meta(mock_arena_t *a, const mock_region_t *r);
Metapb__Peer *mock_region_leader_peer(mock_arena_t *a, const mock_region_t *r);

/* ---- faults ---- */
/* A fault for the next `count` calls of a method ("*": any). */
typedef enum {
  MOCK_FAULT_REGION_ERROR, /* value: the tikv_mock_region_error; where: the region (0 any) */
  MOCK_FAULT_GRPC_ERROR,   /* value: the gRPC status */
  MOCK_FAULT_LOST_REPLY,   /* where: the store (0 any) */
  MOCK_FAULT_CORRUPT_REPLY, /* value: the tikv_mock_corrupt_mode */
} mock_fault_type;
typedef struct mock_fault {
  mock_fault_type type;
  char method[48];
  uint64_t where;
  int value;
  int count;
  struct mock_fault *next;
} mock_fault_t;
typedef struct mock_latency {
  char method[48];
  uint32_t delay_ms;
  struct mock_latency *next;
} mock_latency_t;
typedef struct mock_counter {
  char method[48];
  uint64_t count;
  struct mock_counter *next;
} mock_counter_t;
typedef struct mock_service_sp {
  char *service_id;
  uint64_t safe_point;
  int64_t expire_at; /* unix seconds; INT64_MAX for none */
  struct mock_service_sp *next;
} mock_service_sp_t;

/* ---- keyspaces (keyspace.c), API v2 ---- */
typedef struct mock_keyspace {
  char name[24];
  uint32_t id;
  int state;                            /* tikv_mock_keyspace_state */
  int64_t created_at, state_changed_at; /* unix seconds */
  struct mock_keyspace *next;
} mock_keyspace_t;

/* ---- the cluster ---- */
typedef struct mock_store {
  uint64_t id;
  char address[80];
  mock_server_t srv;
  bool down; /* killed: its server stopped (m->mu) */
  bool not_serving; /* its health service answers NOT_SERVING (m->mu) */
} mock_store_t;

/* One PD member: its own server and port; one of them leads. */
typedef struct mock_pd_member {
  int number; /* 1.. in creation order */
  uint64_t id;
  char name[16];
  char address[80];
  mock_server_t srv;
  bool down;    /* killed: its server stopped */
  bool stopped; /* paused as a process: it takes calls and answers none */
} mock_pd_member_t;

#define MOCK_CF_COUNT 3 /* default, lock, write */

struct tikv_mock_cluster_s {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  tikv__loop_t *loop;
  tikv_mock_options_t opts;
  char host[64];
  uint64_t cluster_id;
  uint64_t next_id;
  int64_t start_unix;

  /* PD: members 1..npd at index 0..npd-1 (pointers: calls keep their
   * server's address while members are added) */
  mock_pd_member_t **pd;
  int npd;
  int pd_leader;      /* the leading member's number; 0 during an election */
  int pd_last_leader; /* the one before, where the next election starts */
  bool pd_all_paused; /* tikv_mock_pd_pause: every member stalls, nobody campaigns */
  uint32_t pd_election_ms, raft_election_ms;
  tikv__timer_t pd_election; /* loop thread */
  tikv__timer_t raft_election;

  int nstores;
  mock_store_t *stores; /* store id i+1 at index i */

  mock_region_t **regions; /* sorted by start key */
  int nregions, regions_cap;

  mock_kvmap_t *raw[MOCK_CF_COUNT];
  struct mock_mvcc *mvcc; /* transactional data (mvcc.c) */

  int64_t tso_physical, tso_logical;
  uint64_t gc_safe_point;
  mock_service_sp_t *service_sps;

  mock_fault_t *faults; /* in injection order */
  uint64_t corrupted;   /* replies corrupted so far: the next flips' seed */
  mock_latency_t *latencies;
  mock_counter_t *counters;
  mock_counter_t *pd_counters; /* PD calls and stream messages, by method */

  mock_keyspace_t *keyspaces; /* in creation order; never removed */
  uint32_t next_keyspace_id;
  char *tls_cert, *tls_key, *tls_ca; /* PEM, NUL-terminated; NULL: plaintext / no client CA */
  struct mock_raw_latch *raw_latches; /* kv_raw.c: raw keys a CAS holds */
};

/* All with m->mu held. */
uint64_t mock_alloc_id(mock_cluster_t *m);
/* Splits the region holding key at key, which must lie strictly inside it:
 * the new region (the right half), or NULL. */
mock_region_t *mock_region_split(mock_cluster_t *m, const uint8_t *key, size_t len);
/* The raw characters (1 or 2) of boundary i (1..n-1) of n pre-split regions
 * (see tikv_mock_options_t's region layout). */
size_t mock_split_chars(int n, int i, uint8_t out[2]);
mock_region_t *mock_region_by_id(mock_cluster_t *m, uint64_t id);
int mock_region_index_for_key(mock_cluster_t *m, const uint8_t *key, size_t len);
bool mock_method_matches(const char *pattern, const char *method);
/* Takes one use of the first fault of `type` for method (and where, when
 * the fault names one): its value, or -1 when none matches. */
int mock_take_fault(mock_cluster_t *m, mock_fault_type type, const char *method, uint64_t where);
uint32_t mock_latency_for(mock_cluster_t *m, const char *method);
void mock_count_call(mock_cluster_t *m, const char *method);
void mock_count_pd_call(mock_cluster_t *m, const char *method);

/* Server-side scheduling of a message through faults, pause and latency
 * (server.c). */
void mock_dispatch_message(mock_call_t *c, const uint8_t *data, size_t len);
/* Loop thread: runs (run=true) or drops what a paused server holds. */
void mock_server_release_held(mock_server_t *s, bool run);
/* Holds a copy of a message of call c; NULL on OOM. Loop thread. */
mock_held_t *mock_hold(mock_call_t *c, const uint8_t *data, size_t len);
/* Releases it after delay_ms. */
void mock_held_after(mock_held_t *h, uint32_t delay_ms);
/* Runs it (run=true: h->run, or the call's handler) or drops it, and frees it. */
void mock_held_release(mock_held_t *h, bool run);
/* The request of call c unpacked (its descriptor from the request table);
 * NULL after failing the call when it does not decode. */
ProtobufCMessage *mock_call_unpack(mock_call_t *c, const uint8_t *data, size_t len);

int mock_cf_index(const char *cf); /* 0 default, 1 lock, 2 write, -1 invalid */

/* Runs fn(m, arg) on the loop thread and waits for it: its result, or -1
 * when the loop takes no more work. Any thread (on the loop thread: at
 * once). Not with m->mu held. */
int mock_on_loop(mock_cluster_t *m, int (*fn)(mock_cluster_t *m, void *arg), void *arg);
/* Whether call c's request metadata has `key`. */
bool mock_call_has_metadata(const mock_call_t *c, const char *key);
/* Whether a server takes no answers out now: its process paused, or all of
 * PD stalled (m->mu held). */
bool mock_server_paused(const mock_server_t *s);

/* ---- PD members and elections (members.c), loop thread, m->mu held ---- */
/* The member a PD server serves. */
mock_pd_member_t *mock_pd_member_of(const mock_server_t *s);
/* Whether the member leads now. */
bool mock_pd_is_leader(const mock_cluster_t *m, const mock_pd_member_t *p);
/* The leader went away (killed, paused): an election follows. */
void mock_pd_leader_lost(mock_cluster_t *m);
/* A member came back: an election follows if nobody leads. */
void mock_pd_member_back(mock_cluster_t *m);
void mock_pd_members_free(mock_cluster_t *m);
/* Starts every member's server (loop thread, no lock). 0 or -1 (err). */
int mock_pd_start(mock_cluster_t *m, char *err, size_t errlen);
/* Loop thread, no lock: stops every member's server. */
void mock_pd_stop(mock_cluster_t *m);

/* ---- keyspaces (keyspace.c), m->mu held or before the servers start ---- */
/* DEFAULT and the options' keyspaces, in API v2 (nothing in v1). 0 or -1. */
int mock_keyspaces_bootstrap(mock_cluster_t *m, char *err, size_t errlen);
/* A keyspace (id < 0: the next free), its regions split: its id, or -1
 * with err filled. */
int mock_keyspace_create(mock_cluster_t *m, const char *name, int id, int state, char *err,
                         size_t errlen);
mock_keyspace_t *mock_keyspace_by_name(mock_cluster_t *m, const char *name);

/* ---- API version (apiver.c), with m->mu held ---- */
/* TiKV's check_api_version of request q (of request id req) on this store:
 * false to go on, true when it refused and resp says why. */
bool mock_api_check(mock_kvctx_t *kc, int req, const ProtobufCMessage *q, ProtobufCMessage *resp);
/* Puts a storage error where TiKV's service puts it in a response of this
 * type: `display` (format!("{}")) in a text `error`, else `debug`
 * (format!("{:?}")) as a KeyError's abort in `errors`, `error` and / or one
 * pair of `pairs` / `kvs`. Both strings are kept (arena or static). */
void mock_storage_error(mock_kvctx_t *kc, ProtobufCMessage *resp, const char *display,
                        const char *debug);
/* Where a message keeps its field `name`; aborts when it has none (a
 * table naming a field its message lacks). */
void *mock_field_of(const ProtobufCMessage *msg, const char *name);
/* Whether raw TTLs are taken: storage.enable-ttl, or API v2 (always). */
static inline bool mock_ttl_enabled(const mock_cluster_t *m) {
  return m->opts.enable_ttl || m->opts.api_version == 2;
}

/* ---- TLS (tls.c) ---- */
/* Copies (PEM) or reads (files) the options' material. 0, or -1 with err. */
int mock_tls_load(mock_cluster_t *m, const tikv_mock_options_t *o, char *err, size_t errlen);
void mock_tls_free(mock_cluster_t *m);
/* The credentials a server listens with: SSL when the cluster has TLS
 * (client certificates required and verified with a CA), else insecure. */
grpc_server_credentials *mock_tls_server_credentials(const mock_cluster_t *m);

/* ---- store loss and Raft-like elections (raft.c), loop thread, m->mu held ---- */
/* A store went down: every region it leads starts an election. */
void mock_raft_store_down(mock_cluster_t *m, uint64_t store_id);
/* A store is back: the regions it led keep it as leader if nobody took over. */
void mock_raft_store_up(mock_cluster_t *m, uint64_t store_id);
bool mock_store_is_down(const mock_cluster_t *m, uint64_t store_id);

#endif
