/* GC as client-rust does it: resolve every lock older than the safe point,
 * region by region (ScanLock, then the lock resolver), then ask PD to move
 * the GC safe point. */
#include <stdio.h>

#include "txn/txn_internal.h"

#define SCAN_LOCK_LIMIT 1024

typedef struct {
  tikv_client_t *c;
  tikv_future_t *f;
  uint64_t safepoint;
  int64_t deadline;
  tikv__bytes_t cur;
  tikv__route_t route;
  tikv__backoff_t bo, lock_bo;
  tikv_error_t *last_err;
  tikv__timer_t timer;
  bool region_more; /* the region had more locks than one page */
} gc_t;

static void gc_step(gc_t *g);

static void gc_finish(gc_t *g, tikv_error_t *err) {
  tikv_future_t *f = g->f;
  tikv__bytes_free(&g->cur);
  tikv__route_free(&g->route);
  tikv__error_free(g->last_err);
  free(g);
  tikv__future_complete(f, err);
}

static int build_safe_point(void *arg, Pdpb__RequestHeader *hdr, grpc_slice *out) {
  gc_t *g = arg;
  Pdpb__UpdateGCSafePointRequest q = PDPB__UPDATE_GCSAFE_POINT_REQUEST__INIT;
  q.header = hdr;
  q.safe_point = g->safepoint;
  return tikv__pack(&q.base, out);
}

static void safe_point_done(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  gc_t *g = arg;
  if (!err) {
    Pdpb__UpdateGCSafePointResponse *r = (Pdpb__UpdateGCSafePointResponse *)msg;
    g->f->flag = r->new_safe_point == g->safepoint;
    protobuf_c_message_free_unpacked(msg, NULL);
  }
  gc_finish(g, err);
}

static int scan_lock_build(void *arg, const tikv__route_t *route, Kvrpcpb__Context *ctx,
                           grpc_slice *out) {
  gc_t *g = arg;
  Kvrpcpb__ScanLockRequest q = KVRPCPB__SCAN_LOCK_REQUEST__INIT;
  q.context = ctx;
  q.max_version = g->safepoint;
  q.start_key = (ProtobufCBinaryData){g->cur.len, g->cur.data};
  q.end_key = (ProtobufCBinaryData){route->end.len, route->end.data};
  q.limit = SCAN_LOCK_LIMIT;
  return tikv__pack(&q.base, out);
}

static void next_region(gc_t *g) {
  if (g->route.end.len == 0) {
    tikv__pd_call(&g->c->pd, TIKV__REQ_PD_UPDATE_GC_SAFE_POINT, build_safe_point, g->deadline,
                  safe_point_done, g);
    return;
  }
  if (tikv__bytes_set(&g->cur, g->route.end.data, g->route.end.len)) {
    gc_finish(g, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  gc_step(g);
}

static void gc_retry_timer(void *arg) { gc_step(arg); }

static void after_resolve(void *arg, tikv_error_t *err, int64_t wait_ms, const uint64_t *pushed,
                          size_t n_pushed) {
  gc_t *g = arg;
  if (err) {
    gc_finish(g, err);
    return;
  }
  if (wait_ms || g->region_more) {
    /* live locks below the safe point (or more pages): scan the region again */
    int delay = wait_ms ? tikv__backoff_next(&g->lock_bo) : 0;
    if (tikv__now_ms() + delay >= g->deadline) {
      gc_finish(g, tikv__error_new(TIKV_ERR_TIMEOUT, "GC: locks below the safe point are still alive"));
      return;
    }
    tikv__timer_start(g->c->loop, &g->timer, delay, gc_retry_timer, g);
    return;
  }
  next_region(g);
}

static void scan_lock_done(void *arg, tikv_error_t *err, ProtobufCMessage *resp) {
  gc_t *g = arg;
  if (err) {
    gc_finish(g, err);
    return;
  }
  Kvrpcpb__ScanLockResponse *r = (Kvrpcpb__ScanLockResponse *)resp;
  if (r->error) {
    err = tikv__key_error(r->error, "KvScanLock");
    protobuf_c_message_free_unpacked(resp, NULL);
    gc_finish(g, err);
    return;
  }
  tikv__locks_t locks = {0};
  for (size_t i = 0; i < r->n_locks; i++)
    if (tikv__locks_add(&locks, r->locks[i])) {
      tikv__locks_free(&locks);
      protobuf_c_message_free_unpacked(resp, NULL);
      gc_finish(g, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
      return;
    }
  g->region_more = r->n_locks >= SCAN_LOCK_LIMIT;
  protobuf_c_message_free_unpacked(resp, NULL);
  if (!locks.count) {
    next_region(g);
    return;
  }
  tikv__resolve_locks(g->c, 0, &locks, g->deadline, after_resolve, g);
}

static void gc_retry(void *arg) { gc_step(arg); }

static const tikv__send_ops_t SCAN_LOCK_OPS = {scan_lock_build, scan_lock_done, gc_retry};

static void gc_located(void *arg, tikv_error_t *err, const tikv__route_t *route) {
  gc_t *g = arg;
  if (err) {
    gc_finish(g, err);
    return;
  }
  tikv__route_free(&g->route);
  if (tikv__route_copy(&g->route, route)) {
    gc_finish(g, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  tikv__send(&g->c->router, TIKV__REQ_KV_SCAN_LOCK, &g->route,
             g->deadline, &g->bo, &g->last_err, &SCAN_LOCK_OPS, g);
}

static void gc_step(gc_t *g) {
  tikv__locate_range(&g->c->router, TIKV__KS_TXN, g->cur.data, g->cur.len, NULL, 0, g->deadline, gc_located, g);
}

static void gc_start(void *arg) {
  gc_t *g = arg;
  g->deadline = tikv__client_deadline(g->c);
  gc_step(g);
}

tikv_future_t *tikv_client_gc(tikv_client_t *c, uint64_t safepoint) {
  if (!c) return tikv__future_failed(tikv__error_new(TIKV_ERR_INVALID_ARGUMENT, "client is NULL"));
  tikv_future_t *f = tikv__future_new();
  gc_t *g = tikv__calloc(1, sizeof(*g));
  if (!f || !g) {
    free(g);
    if (f) tikv__future_complete(f, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return f;
  }
  g->c = c;
  g->f = f;
  g->safepoint = safepoint;
  tikv__backoff_init(&g->bo, 2, 2000);
  tikv__backoff_init(&g->lock_bo, 50, 1000);
  tikv__timer_init(&g->timer);
  if (tikv__client_post(c, gc_start, g) != 0) {
    free(g);
    tikv__future_complete(f, tikv__error_new(TIKV_ERR_CLOSED, "client is closed"));
  }
  return f;
}
