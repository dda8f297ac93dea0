/* GC as client-rust does it: resolve every lock older than the safe point,
 * region by region (ScanLock, its locks through the lock layer), then ask PD
 * to move the GC safe point. And the other side of it, client-go's
 * CheckVisibility: a read below the safe point is refused. */
#include <stdio.h>

#include "txn/txn_internal.h"

/* client-go's: the safe point is polled every 10 s, and a copy older than
 * 100 s (GcSafePointCacheInterval) is no longer trusted */
#define SAFE_POINT_REFRESH_MS 10000
#define SAFE_POINT_MAX_AGE_MS 100000

#define SCAN_LOCK_LIMIT 1024

typedef struct {
  tikv__walk_t walk;
  tikv_client_t *c;
  tikv_future_t *f;
  uint64_t safepoint;
  tikv__backoff_t lock_bo;
  Pdpb__UpdateGCSafePointRequest q;
} gc_t;

static void gc_free(void *arg) {
  gc_t *g = arg;
  tikv__walk_free(&g->walk);
  free(g);
}

static void gc_finish(gc_t *g, tikv_error_t *err) {
  tikv_future_t *f = g->f;
  gc_free(g);
  tikv__future_complete(f, err);
}

/* ---- reads and the safe point ---- */

static void safe_point_learned(tikv_client_t *c, uint64_t value) {
  /* PD's only moves forward; an older answer (one overtaken) changes nothing */
  if (value > c->gc_safe_point.value) c->gc_safe_point.value = value;
  c->gc_safe_point.read_ms = tikv__now_ms();
}

static tikv_error_t *visible(const tikv_client_t *c, uint64_t ts) {
  uint64_t sp = c->gc_safe_point.value;
  if (ts >= sp) return NULL;
  tikv_error_t *e = tikv__error_new(
      TIKV_ERR_TXN_ABORTED,
      "read at ts %llu is below the GC safe point %llu (%lld ms later): the versions it "
      "needs may be gone",
      (unsigned long long)ts, (unsigned long long)sp,
      (long long)(TIKV__TS_PHYSICAL(sp) - TIKV__TS_PHYSICAL(ts)));
  e->start_ts = ts;
  tikv__error_set_kind(e, "gc_safe_point");
  return e;
}

typedef struct {
  tikv_client_t *c;
  uint64_t ts;
  void (*cb)(void *arg, tikv_error_t *err);
  void *arg;
  Pdpb__GetGCSafePointRequest q;
} visibility_t;

static void safe_point_read(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  visibility_t *v = arg;
  tikv_client_t *c = v->c;
  if (!err) {
    safe_point_learned(c, ((Pdpb__GetGCSafePointResponse *)msg)->safe_point);
    tikv__reply_free(msg);
  } else if (c->gc_safe_point.read_ms &&
             tikv__now_ms() - c->gc_safe_point.read_ms < SAFE_POINT_MAX_AGE_MS) {
    tikv__error_free(err); /* the last one is recent enough */
    err = NULL;
  } else {
    tikv__error_prefix(err, "cannot read the GC safe point to check ts %llu",
                       (unsigned long long)v->ts);
  }
  if (!err) err = visible(c, v->ts);
  void (*cb)(void *, tikv_error_t *) = v->cb;
  void *cb_arg = v->arg;
  free(v);
  cb(cb_arg, err);
}

void tikv__txn_check_visibility(tikv_client_t *c, uint64_t ts, tikv__scope_t *scope,
                                void (*cb)(void *arg, tikv_error_t *err), void *arg) {
  bool known = c->gc_safe_point.read_ms != 0;
  if (known && tikv__now_ms() - c->gc_safe_point.read_ms < SAFE_POINT_REFRESH_MS) {
    cb(arg, visible(c, ts));
    return;
  }
  visibility_t *v = tikv__calloc(1, sizeof(*v));
  if (!v) {
    cb(arg, tikv__oom());
    return;
  }
  *v = (visibility_t){c, ts, cb, arg, PDPB__GET_GCSAFE_POINT_REQUEST__INIT};
  tikv__pd_call(&c->pd, TIKV__REQ_PD_GET_GC_SAFE_POINT, &v->q.base, scope, safe_point_read, v);
}

static void safe_point_done(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  gc_t *g = arg;
  if (!err) {
    Pdpb__UpdateGCSafePointResponse *r = (Pdpb__UpdateGCSafePointResponse *)msg;
    safe_point_learned(g->c, r->new_safe_point);
    g->f->flag = r->new_safe_point == g->safepoint;
    tikv__reply_free(msg);
  }
  gc_finish(g, err);
}

/* ---- ScanLock, region by region ---- */
static tikv_error_t *find_locks(void *arg, const ProtobufCMessage *resp, tikv__locks_t *locks) {
  const Kvrpcpb__ScanLockResponse *r = (const Kvrpcpb__ScanLockResponse *)resp;
  if (r->error) return tikv__key_error(r->error, "KvScanLock");
  for (size_t i = 0; i < r->n_locks; i++)
    if (tikv__locks_add(locks, r->locks[i]))
      return tikv__oom();
  return NULL;
}

static uint64_t gc_ts(void *arg) { return 0; }

static tikv_error_t *locks_resolved(void *arg, const ProtobufCMessage *resp, int64_t wait_ms,
                                    const uint64_t *pushed, size_t n_pushed, int *delay) {
  gc_t *g = arg;
  const Kvrpcpb__ScanLockResponse *r = (const Kvrpcpb__ScanLockResponse *)resp;
  /* live locks below the safe point, or more than one page: scan the
   * region again; else it is done */
  if (wait_ms || r->n_locks >= SCAN_LOCK_LIMIT)
    *delay = wait_ms ? tikv__backoff_next(&g->lock_bo) : 0;
  else
    *delay = -1;
  return NULL;
}

static const tikv__lock_layer_t SCAN_LOCK_LOCKS = TIKV__LOCK_LAYER(find_locks, gc_ts,
                                                                   locks_resolved);

static int build_scan_lock(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                           grpc_slice *out) {
  gc_t *g = arg;
  Kvrpcpb__ScanLockRequest q = KVRPCPB__SCAN_LOCK_REQUEST__INIT;
  q.context = ctx;
  q.max_version = g->safepoint;
  q.start_key = (ProtobufCBinaryData){part->lo.len, part->lo.data};
  q.end_key = (ProtobufCBinaryData){part->hi.len, part->hi.data};
  q.limit = SCAN_LOCK_LIMIT;
  return tikv__pack(&q.base, out);
}

static const tikv__kind_t KV_SCAN_LOCK = {
    TIKV__REQ_KV_SCAN_LOCK, TIKV__KS_TXN, build_scan_lock, NULL, &SCAN_LOCK_LOCKS.base};

static void scanned(void *arg, tikv_error_t *err) {
  gc_t *g = arg;
  if (err) {
    gc_finish(g, err);
    return;
  }
  g->q = (Pdpb__UpdateGCSafePointRequest)PDPB__UPDATE_GCSAFE_POINT_REQUEST__INIT;
  g->q.safe_point = g->safepoint;
  tikv__pd_call(&g->c->pd, TIKV__REQ_PD_UPDATE_GC_SAFE_POINT, &g->q.base, &g->f->scope,
                safe_point_done, g);
}

static void gc_start(void *arg) {
  gc_t *g = arg;
  tikv__walk_start(&g->walk, &g->c->router, &KV_SCAN_LOCK, g, &g->f->scope, scanned);
}

tikv_future_t *tikv_client_gc(tikv_client_t *c, uint64_t safepoint, const tikv_call_opts_t *opts) {
  if (!c) return tikv__future_failed(tikv__error_new(TIKV_ERR_INVALID_ARGUMENT, "client is NULL"));
  const char *unready = tikv__apicodec_unready(&c->router.codec);
  if (unready) return tikv__future_failed(tikv__error_new(TIKV_ERR_INVALID_ARGUMENT, "%s", unready));
  /* the locks of the keyspace's transactional range only (all in API v1) */
  tikv__bytes_t start = {0}, end = {0};
  gc_t *g = tikv__calloc(1, sizeof(*g));
  int rc = !g || tikv__apicodec_range(&c->router.codec, TIKV__KS_TXN, NULL, 0, NULL, 0, &start,
                                      &end) ||
           tikv__walk_init(&g->walk, start.data, start.len, end.data, end.len, false, 0);
  tikv__bytes_free(&start);
  tikv__bytes_free(&end);
  if (rc) {
    if (g) gc_free(g);
    return tikv__future_failed(tikv__oom());
  }
  g->c = c;
  g->safepoint = safepoint;
  tikv__backoff_init(&g->lock_bo, 50, 1000);
  return tikv__client_submit(c, opts, &g->f, g, gc_start, gc_free);
}

/* ---- UnsafeDestroyRange: to every store, as client-go does ----
 * The stores come from PD's GetAllStores (tombstones and TiFlash left out);
 * each gets the request at once, in parallel, without a region; the
 * failures of all are reported together. Not resent: client-go does not. */
typedef struct {
  tikv_client_t *c;
  tikv_future_t *f;
  tikv__bytes_t start, end;
  size_t pending;
  tikv_error_t *err; /* the first failure, its message naming all */
  Pdpb__GetAllStoresRequest q;
} destroy_t;

typedef struct {
  destroy_t *d;
  uint64_t store_id;
  tikv__conn_t *conn;
} destroy_on_t;

static void destroy_free(void *arg) {
  destroy_t *d = arg;
  tikv__bytes_free(&d->start);
  tikv__bytes_free(&d->end);
  tikv__error_free(d->err);
  free(d);
}

static void destroy_settle(destroy_t *d) {
  if (--d->pending) return;
  tikv_future_t *f = d->f;
  tikv_error_t *err = d->err;
  d->err = NULL;
  destroy_free(d);
  tikv__future_complete(f, err);
}

/* Adds store_id's failure (err consumed) to the operation's. */
static void destroy_failed(destroy_t *d, uint64_t store_id, tikv_error_t *err) {
  if (!d->err) {
    d->err = err;
    tikv__error_prefix(err, "unsafe destroy range failed on store %llu", (unsigned long long)store_id);
    return;
  }
  tikv_error_t *all = tikv__error_new(d->err->code, "%s; on store %llu: %s", d->err->message,
                                      (unsigned long long)store_id, err->message);
  tikv__error_free(d->err);
  tikv__error_free(err);
  d->err = all;
}

static void destroyed_on(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  destroy_on_t *o = arg;
  destroy_t *d = o->d;
  if (!err) {
    const Kvrpcpb__UnsafeDestroyRangeResponse *r = (const Kvrpcpb__UnsafeDestroyRangeResponse *)msg;
    bool failed = r->error && r->error[0];
    if (failed || r->region_error)
      err = tikv__error_new(TIKV_ERR_SERVER, "%s",
                            failed ? r->error : "a region error (TiKV sends none here)");
    tikv__reply_free(msg);
  } else if (err->code == TIKV_ERR_UNAVAILABLE || err->code == TIKV_ERR_TIMEOUT) {
    tikv__store_forget(&d->c->router, o->store_id, o->conn); /* suspect: asked anew next time */
  }
  if (err) destroy_failed(d, o->store_id, err);
  free(o);
  destroy_settle(d);
}

static void destroy_send(destroy_t *d, const Metapb__Store *s) {
  destroy_on_t *o = tikv__calloc(1, sizeof(*o));
  tikv__conn_t *conn = o ? tikv__store_conn(&d->c->router, s->id, s->address) : NULL;
  Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
  Kvrpcpb__UnsafeDestroyRangeRequest q = KVRPCPB__UNSAFE_DESTROY_RANGE_REQUEST__INIT;
  q.context = &ctx;
  q.start_key = (ProtobufCBinaryData){d->start.len, d->start.data};
  q.end_key = (ProtobufCBinaryData){d->end.len, d->end.data};
  grpc_slice msg;
  if (conn && tikv__pack(&q.base, &msg) == 0) {
    *o = (destroy_on_t){d, s->id, conn};
    d->pending++;
    if (tikv__rpc_send(&d->c->rpc, conn, TIKV__REQ_UNSAFE_DESTROY_RANGE, msg, d->f->scope.deadline,
                       &d->f->scope, destroyed_on, o) == 0)
      return;
    d->pending--;
  }
  free(o);
  destroy_failed(d, s->id, tikv__error_new(TIKV_ERR_NO_MEMORY, "cannot send the request"));
}

/* TiFlash's stores carry the label engine=tiflash (or tiflash_compute). */
static bool tiflash(const Metapb__Store *s) {
  for (size_t i = 0; i < s->n_labels; i++)
    if (!strcmp(s->labels[i]->key, "engine") && !strncmp(s->labels[i]->value, "tiflash", 7))
      return true;
  return false;
}

static void stores_listed(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  destroy_t *d = arg;
  d->pending = 1; /* while sending */
  if (err) {
    d->err = err;
    tikv__error_prefix(err, "unsafe destroy range: cannot list the stores");
  } else {
    const Pdpb__GetAllStoresResponse *r = (const Pdpb__GetAllStoresResponse *)msg;
    for (size_t i = 0; i < r->n_stores; i++)
      if (r->stores[i]->state != METAPB__STORE_STATE__Tombstone && !tiflash(r->stores[i]))
        destroy_send(d, r->stores[i]);
    tikv__reply_free(msg);
  }
  destroy_settle(d);
}

static void destroy_start(void *arg) {
  destroy_t *d = arg;
  d->q = (Pdpb__GetAllStoresRequest)PDPB__GET_ALL_STORES_REQUEST__INIT;
  d->q.exclude_tombstone_stores = 1;
  tikv__pd_call(&d->c->pd, TIKV__REQ_PD_GET_ALL_STORES, &d->q.base, &d->f->scope, stores_listed, d);
}

tikv_future_t *tikv_client_unsafe_destroy_range(tikv_client_t *c, const uint8_t *start,
                                                size_t start_len, const uint8_t *end,
                                                size_t end_len, const tikv_call_opts_t *opts) {
  const char *bad = !c                      ? "client is NULL"
                    : !start || !start_len  ? "start must not be empty (TiKV refuses the key space's start)"
                    : !end || !end_len      ? "end must not be empty (TiKV refuses the key space's end)"
                    : tikv__key_cmp(start, start_len, end, end_len) > 0 ? "start must not be after end"
                                                                         : NULL;
  if (bad) return tikv__future_failed(tikv__error_new(TIKV_ERR_INVALID_ARGUMENT, "%s", bad));
  destroy_t *d = tikv__calloc(1, sizeof(*d));
  if (!d || tikv__bytes_set(&d->start, start, start_len) || tikv__bytes_set(&d->end, end, end_len)) {
    if (d) destroy_free(d);
    return tikv__future_failed(tikv__oom());
  }
  d->c = c;
  return tikv__client_submit(c, opts, &d->f, d, destroy_start, destroy_free);
}
