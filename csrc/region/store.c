/* Stores: their addresses, resolved through PD's GetStore, one connection
 * each; and the region layer's state that holds them. */
#include "core/stats.h"
#include "region/region.h"

static tikv__store_t *store_find(tikv__router_t *rt, uint64_t id) {
  for (size_t i = 0; i < rt->n_stores; i++)
    if (rt->stores[i].id == id) return &rt->stores[i];
  return NULL;
}

void tikv__store_forget(tikv__router_t *rt, uint64_t store_id, const tikv__conn_t *conn) {
  for (size_t i = 0; i < rt->n_stores; i++)
    if (rt->stores[i].id == store_id && (!conn || rt->stores[i].conn == conn)) {
      tikv__conn_free(rt->stores[i].conn);
      free(rt->stores[i].address);
      rt->stores[i] = rt->stores[--rt->n_stores];
      return;
    }
}

/* ---- down stores and their health checks ----
 * client-go's way: a store that failed at transport level is checked with
 * the gRPC health service at once and then at intervals until it serves;
 * until then requests go to the region's other peers (region/locate.c) or
 * wait. The probe looks its store up by id at every step, as the store
 * array moves and a store may be forgotten meanwhile. */
typedef struct {
  tikv__router_t *rt;
  uint64_t store_id;
  tikv__timer_t timer;
  Grpc__Health__V1__HealthCheckRequest q;
} probe_t;

static void probe_send(void *arg);

bool tikv__store_is_down(tikv__router_t *rt, uint64_t store_id) {
  const tikv__store_t *st = store_find(rt, store_id);
  return st && st->down;
}

static void probe_reply(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  probe_t *p = arg;
  tikv__store_t *st = store_find(p->rt, p->store_id);
  bool serving = !err && ((Grpc__Health__V1__HealthCheckResponse *)msg)->status ==
                             GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  bool closing = (err && err->code == TIKV_ERR_CLOSED) || tikv__loop_stopping(p->rt->rpc->loop);
  /* the store answers, but our TLS handshake with it fails (a rotated CA
   * file that did not sign it): no wait cures that, so requests go to it
   * again and meet the error themselves (TLS, final), rather than waiting
   * for a health check that cannot pass until their deadline */
  bool refused_tls = err && err->code == TIKV_ERR_TLS;
  tikv__error_free(err);
  if (st && refused_tls) st->down = false;
  if (msg) tikv__reply_free(msg);
  if (st && serving) {
    st->down = false;
    tikv__event_emit(p->rt->pd->stats, TIKV_EVENT_STORE_UP, 0, p->store_id,
                     "store %llu answers its health check again", (unsigned long long)p->store_id);
  }
  if (!st || !st->down || closing) {
    if (st && closing) st->down = false; /* no probe is left to clear it */
    free(p);
    return;
  }
  tikv__timer_start(p->rt->rpc->loop, &p->timer, TIKV__PROBE_INTERVAL_MS, probe_send, p);
}

static void probe_send(void *arg) {
  probe_t *p = arg;
  tikv__store_t *st = store_find(p->rt, p->store_id);
  if (!st || !st->down || !st->conn || tikv__loop_stopping(p->rt->rpc->loop)) {
    if (st) st->down = false;
    free(p);
    return;
  }
  p->q = (Grpc__Health__V1__HealthCheckRequest)GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  p->q.service = ""; /* the server as a whole */
  grpc_slice msg;
  tikv__pack(&p->q.base, &msg);
  if (tikv__rpc_send(p->rt->rpc, st->conn, TIKV__REQ_HEALTH_CHECK, msg,
                     tikv__now_ms() + TIKV__PROBE_TIMEOUT_MS, NULL, probe_reply, p) != 0) {
    /* closing, or no memory for the call: try again later */
    if (p->rt->rpc->closing) {
      st->down = false;
      free(p);
      return;
    }
    tikv__timer_start(p->rt->rpc->loop, &p->timer, TIKV__PROBE_INTERVAL_MS, probe_send, p);
  }
}

void tikv__store_mark_down(tikv__router_t *rt, uint64_t store_id, const tikv__conn_t *conn) {
  tikv__store_t *st = store_find(rt, store_id);
  if (!st || (conn && st->conn != conn) || st->down) return;
  probe_t *p = tikv__calloc(1, sizeof(*p));
  if (!p) {
    tikv__store_forget(rt, store_id, conn); /* asked anew through PD instead */
    return;
  }
  st->down = true;
  tikv__event_emit(rt->pd->stats, TIKV_EVENT_STORE_DOWN, 0, store_id,
                   "store %llu failed at transport level: routed around, health-checked",
                   (unsigned long long)store_id);
  p->rt = rt;
  p->store_id = store_id;
  tikv__timer_init(&p->timer);
  /* PD may know of a new leader for its regions (or the old one, until an
   * election: the routes go to other peers meanwhile). The ids first: a
   * refresh may change the cache (it drops the region when out of memory). */
  uint64_t *ids = tikv__calloc(rt->cache.count ? rt->cache.count : 1, sizeof(*ids));
  size_t n = 0;
  for (size_t i = 0; ids && i < rt->cache.count; i++) {
    const tikv__region_t *r = rt->cache.regions[i];
    if (r->leader != SIZE_MAX && r->peers[r->leader].store_id == store_id) ids[n++] = r->id;
  }
  for (size_t i = 0; i < n; i++)
    tikv__refresh_region(rt, ids[i], tikv__now_ms() + TIKV__PROBE_TIMEOUT_MS);
  free(ids); /* without memory the routes still avoid the store */
  probe_send(p);
}

void tikv__router_init(tikv__router_t *rt, tikv__rpc_t *rpc, tikv__pd_t *pd) {
  memset(rt, 0, sizeof(*rt));
  rt->rpc = rpc;
  rt->pd = pd;
  tikv__cache_init(&rt->cache);
}

void tikv__router_free(tikv__router_t *rt) {
  while (rt->n_stores) tikv__store_forget(rt, rt->stores[0].id, NULL);
  free(rt->stores);
  rt->stores = NULL;
  tikv__cache_destroy(&rt->cache);
}

typedef struct {
  tikv__router_t *rt;
  uint64_t id;
  tikv__store_cb cb;
  void *arg;
  Pdpb__GetStoreRequest q;
} store_req_t;

static void store_reply(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  store_req_t *s = arg;
  tikv__router_t *rt = s->rt;
  tikv__store_cb cb = s->cb;
  void *cb_arg = s->arg;
  uint64_t id = s->id;
  free(s);
  if (err) {
    cb(cb_arg, err, NULL);
    return;
  }
  Pdpb__GetStoreResponse *resp = (Pdpb__GetStoreResponse *)msg;
  if (!resp->store || !resp->store->address || !resp->store->address[0] ||
      resp->store->state == METAPB__STORE_STATE__Tombstone) {
    tikv__reply_free(msg);
    tikv_error_t *e = tikv__error_new(TIKV_ERR_UNAVAILABLE, "store %llu is unknown or removed",
                                      (unsigned long long)id);
    cb(cb_arg, e, NULL);
    return;
  }
  tikv__conn_t *conn = tikv__store_conn(rt, id, resp->store->address);
  tikv__reply_free(msg);
  if (!conn) {
    cb(cb_arg, tikv__error_new(TIKV_ERR_NO_MEMORY, "cannot create a channel to store %llu",
                               (unsigned long long)id),
       NULL);
    return;
  }
  cb(cb_arg, NULL, conn);
}

tikv__conn_t *tikv__store_conn(tikv__router_t *rt, uint64_t id, const char *address) {
  tikv__store_t *st = store_find(rt, id);
  if (!st) {
    tikv__store_t *n = tikv__realloc(rt->stores, (rt->n_stores + 1) * sizeof(*n));
    if (!n) return NULL;
    rt->stores = n;
    st = &rt->stores[rt->n_stores++];
    memset(st, 0, sizeof(*st));
    st->id = id;
  }
  if (!st->address || strcmp(st->address, address) != 0) {
    tikv__conn_free(st->conn);
    free(st->address);
    st->address = tikv__strdup(address);
    st->conn = st->address ? tikv__conn_new(rt->rpc, st->address) : NULL;
  }
  if (st->conn) return st->conn;
  tikv__store_forget(rt, id, NULL);
  return NULL;
}

void tikv__resolve_store(tikv__router_t *rt, uint64_t store_id, tikv__scope_t *scope,
                         tikv__store_cb cb, void *arg) {
  tikv__store_t *st = store_find(rt, store_id);
  if (st && st->down) {
    tikv_error_t *e = tikv__error_new(TIKV_ERR_UNAVAILABLE,
                                      "store %llu is down (waiting for its health check)",
                                      (unsigned long long)store_id);
    tikv__error_set_kind(e, "store_down");
    cb(arg, e, NULL);
    return;
  }
  if (st && st->conn) {
    cb(arg, NULL, st->conn);
    return;
  }
  store_req_t *s = tikv__calloc(1, sizeof(*s));
  if (!s) {
    cb(arg, tikv__oom(), NULL);
    return;
  }
  *s = (store_req_t){rt, store_id, cb, arg, PDPB__GET_STORE_REQUEST__INIT};
  s->q.store_id = store_id;
  tikv__pd_call(rt->pd, TIKV__REQ_PD_GET_STORE, &s->q.base, scope, store_reply, s);
}

