/* GC as client-rust does it: resolve every lock older than the safe point,
 * region by region (ScanLock, its locks through the lock layer), then ask PD
 * to move the GC safe point. */
#include <stdio.h>

#include "txn/txn_internal.h"

#define SCAN_LOCK_LIMIT 1024

typedef struct {
  tikv__walk_t walk;
  tikv_client_t *c;
  tikv_future_t *f;
  uint64_t safepoint;
  int64_t deadline;
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

static void safe_point_done(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  gc_t *g = arg;
  if (!err) {
    Pdpb__UpdateGCSafePointResponse *r = (Pdpb__UpdateGCSafePointResponse *)msg;
    g->f->flag = r->new_safe_point == g->safepoint;
    protobuf_c_message_free_unpacked(msg, NULL);
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
  tikv__pd_call(&g->c->pd, TIKV__REQ_PD_UPDATE_GC_SAFE_POINT, &g->q.base, g->deadline,
                safe_point_done, g);
}

static void gc_start(void *arg) {
  gc_t *g = arg;
  g->deadline = tikv__client_deadline(g->c);
  tikv__walk_start(&g->walk, &g->c->router, &KV_SCAN_LOCK, g, g->deadline, scanned);
}

tikv_future_t *tikv_client_gc(tikv_client_t *c, uint64_t safepoint) {
  if (!c) return tikv__future_failed(tikv__error_new(TIKV_ERR_INVALID_ARGUMENT, "client is NULL"));
  gc_t *g = tikv__calloc(1, sizeof(*g));
  if (!g || tikv__walk_init(&g->walk, NULL, 0, NULL, 0, false, 0)) {
    if (g) gc_free(g);
    return tikv__future_failed(tikv__oom());
  }
  g->c = c;
  g->safepoint = safepoint;
  tikv__backoff_init(&g->lock_bo, 50, 1000);
  return tikv__client_submit(c, &g->f, g, gc_start, gc_free);
}
