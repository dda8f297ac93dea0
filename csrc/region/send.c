/* Sending one request to the leader of a region, and what to do when TiKV
 * answers with a region error: correct the cache the way client-go does, sleep
 * the backoff for that kind of error, and hand the work back to its owner to
 * locate its keys again. */
#include <stdio.h>

#include "region/region.h"

typedef struct {
  tikv__router_t *rt;
  tikv__req_id req;
  tikv__route_t route;
  tikv__conn_t *conn; /* of the call in flight (the call holds a reference) */
  int64_t deadline;
  tikv__backoff_t *bo;
  tikv_error_t **last_err;
  const tikv__send_ops_t *ops;
  void *arg;
  tikv__timer_t timer;
} send_t;

static void send_free(send_t *s) {
  tikv__route_free(&s->route);
  free(s);
}

static void send_done(send_t *s, tikv_error_t *err, ProtobufCMessage *resp) {
  const tikv__send_ops_t *ops = s->ops;
  void *arg = s->arg;
  send_free(s);
  ops->done(arg, err, resp);
}

static void retry_now(void *p) {
  send_t *s = p;
  if (tikv__loop_stopping(s->rt->rpc->loop)) {
    send_done(s, tikv__error_new(TIKV_ERR_CLOSED, "client closed"), NULL);
    return;
  }
  const tikv__send_ops_t *ops = s->ops;
  void *arg = s->arg;
  send_free(s);
  ops->retry(arg);
}

/* Records err as the last cause and retries after sleep_ms, or fails with
 * TIMEOUT when that would pass the deadline. */
static void retry_after(send_t *s, tikv_error_t *err, int sleep_ms) {
  tikv__error_free(*s->last_err);
  *s->last_err = err;
  if (tikv__now_ms() + sleep_ms >= s->deadline) {
    tikv_error_t *e = tikv__error_new(TIKV_ERR_TIMEOUT,
                                      "%s: deadline exceeded after %d retries; last error: %s",
                                      tikv__req(s->req)->path + 1, s->bo->attempts, err->message);
    e->region_id = err->region_id;
    e->grpc_status = err->grpc_status;
    tikv__error_set_kind(e, err->detail_kind);
    send_done(s, e, NULL);
    return;
  }
  tikv__timer_start(s->rt->rpc->loop, &s->timer, sleep_ms, retry_now, s);
}

/* client-go's backoff kinds: base and cap in ms */
static int sleep_for(tikv__backoff_t *bo, int base, int cap) {
  int step = base;
  for (int i = 0; i < bo->attempts && step < cap; i++) step *= 2;
  if (step > cap) step = cap;
  tikv__backoff_t tmp;
  tikv__backoff_init(&tmp, step, step);
  bo->attempts++;
  return tikv__backoff_next(&tmp);
}

#define BO_REGION_MISS 2, 500
#define BO_SCHEDULING 2, 500
#define BO_STALE_CMD 2, 1000
#define BO_TIKV_RPC 100, 2000
#define BO_SERVER_BUSY 200, 3000

int tikv__handle_region_error(tikv__router_t *rt, const tikv__route_t *route,
                              const Errorpb__Error *re, tikv__backoff_t *bo, tikv_error_t **err) {
  tikv__region_cache_t *rc = &rt->cache;
  const char *kind = "unknown";
  int sleep = -1;
  bool fatal = false;
  int code = TIKV_ERR_REGION;
  if (re->not_leader) {
    kind = "not_leader";
    const Metapb__Peer *l = re->not_leader->leader;
    if (l && l->store_id && l->store_id != route->leader.store_id &&
        tikv__cache_set_leader(rc, route->region_id, l->store_id, l->id)) {
      sleep = 0; /* a new leader is known: go there at once */
    } else {
      /* leader unknown (election in progress): ask PD for the region again
       * while we pause */
      tikv__refresh_region(rt, route->region_id, tikv__now_ms() + 2000);
      sleep = sleep_for(bo, BO_SCHEDULING);
    }
  } else if (re->epoch_not_match) {
    kind = "epoch_not_match";
    tikv__cache_remove(rc, route->region_id);
    for (size_t i = 0; i < re->epoch_not_match->n_current_regions; i++)
      tikv__cache_insert(rc, re->epoch_not_match->current_regions[i], 0);
    sleep = re->epoch_not_match->n_current_regions ? 0 : sleep_for(bo, BO_REGION_MISS);
  } else if (re->region_not_found) {
    kind = "region_not_found";
    tikv__cache_remove(rc, route->region_id);
    sleep = sleep_for(bo, BO_REGION_MISS);
  } else if (re->key_not_in_region) {
    kind = "key_not_in_region";
    tikv__cache_remove(rc, route->region_id);
    sleep = sleep_for(bo, BO_REGION_MISS);
  } else if (re->store_not_match) {
    kind = "store_not_match";
    tikv__store_forget(rt, route->leader.store_id, NULL);
    tikv__cache_remove(rc, route->region_id);
    sleep = sleep_for(bo, BO_REGION_MISS);
  } else if (re->server_is_busy) {
    kind = "server_is_busy";
    sleep = sleep_for(bo, BO_SERVER_BUSY);
    if (re->server_is_busy->backoff_ms && (int)re->server_is_busy->backoff_ms > sleep)
      sleep = (int)re->server_is_busy->backoff_ms;
  } else if (re->stale_command) {
    kind = "stale_command";
    sleep = sleep_for(bo, BO_STALE_CMD);
  } else if (re->max_timestamp_not_synced) {
    kind = "max_timestamp_not_synced";
    sleep = sleep_for(bo, BO_REGION_MISS);
  } else if (re->read_index_not_ready || re->proposal_in_merging_mode || re->data_is_not_ready ||
             re->disk_full) {
    kind = re->read_index_not_ready      ? "read_index_not_ready"
           : re->proposal_in_merging_mode ? "proposal_in_merging_mode"
           : re->data_is_not_ready        ? "data_is_not_ready"
                                          : "disk_full";
    sleep = sleep_for(bo, BO_REGION_MISS);
  } else if (re->region_not_initialized) {
    kind = "region_not_initialized";
    tikv__cache_remove(rc, route->region_id);
    sleep = sleep_for(bo, BO_REGION_MISS);
  } else if (re->raft_entry_too_large) {
    kind = "raft_entry_too_large";
    fatal = true;
  } else if (re->recoveryinprogress || re->flashbackinprogress || re->flashbacknotprepared) {
    kind = re->recoveryinprogress    ? "recovery_in_progress"
           : re->flashbackinprogress ? "flashback_in_progress"
                                     : "flashback_not_prepared";
    fatal = true;
  } else if (re->undetermined_result) {
    kind = "undetermined_result";
    code = TIKV_ERR_UNDETERMINED;
    fatal = true;
  } else if (re->incompatible_request) {
    kind = "incompatible_request";
    fatal = true;
  } else {
    /* anything else (mismatch_peer_id, is_witness, bucket_version_not_match,
     * a bare message): drop what we know of the region and ask PD again */
    kind = re->mismatch_peer_id ? "mismatch_peer_id"
           : re->is_witness     ? "is_witness"
           : re->bucket_version_not_match ? "bucket_version_not_match"
                                          : "unknown";
    tikv__cache_remove(rc, route->region_id);
    sleep = sleep_for(bo, BO_REGION_MISS);
  }
  tikv_error_t *e = tikv__error_new(code, "region %llu: %s%s%s", (unsigned long long)route->region_id,
                                    kind, re->message && re->message[0] ? ": " : "",
                                    re->message ? re->message : "");
  e->region_id = route->region_id;
  tikv__error_set_kind(e, kind);
  *err = e;
  return fatal ? -1 : sleep;
}

static void on_reply(void *p, tikv_error_t *err, ProtobufCMessage *resp) {
  send_t *s = p;
  tikv__router_t *rt = s->rt;
  if (err) {
    if (err->code == TIKV_ERR_CLOSED || tikv__loop_stopping(rt->rpc->loop)) {
      tikv__error_free(err);
      send_done(s, tikv__error_new(TIKV_ERR_CLOSED, "client closed"), NULL);
      return;
    }
    if (err->code == TIKV_ERR_UNAVAILABLE || err->code == TIKV_ERR_TIMEOUT ||
        err->code == TIKV_ERR_CANCELLED) {
      /* the store is unreachable: it is suspect, not gone. Forget its
       * address and the region's leader so both are asked anew. */
      tikv__error_prefix(err, "store %llu", (unsigned long long)s->route.leader.store_id);
      tikv__store_forget(rt, s->route.leader.store_id, s->conn);
      tikv__cache_remove(&rt->cache, s->route.region_id);
      retry_after(s, err, sleep_for(s->bo, BO_TIKV_RPC));
      return;
    }
    send_done(s, err, NULL);
    return;
  }
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field_by_name(tikv__req(s->req)->resp, "region_error");
  Errorpb__Error *re = fd ? *(Errorpb__Error **)((char *)resp + fd->offset) : NULL;
  if (!re) {
    send_done(s, NULL, resp);
    return;
  }
  tikv_error_t *rerr = NULL;
  int sleep = tikv__handle_region_error(rt, &s->route, re, s->bo, &rerr);
  protobuf_c_message_free_unpacked(resp, NULL);
  if (sleep < 0) {
    send_done(s, rerr, NULL);
    return;
  }
  retry_after(s, rerr, sleep);
}

static void on_store(void *p, tikv_error_t *err, tikv__conn_t *conn) {
  send_t *s = p;
  if (err) {
    if (err->code == TIKV_ERR_CLOSED || err->code == TIKV_ERR_TIMEOUT) {
      send_done(s, err, NULL);
    } else {
      tikv__cache_remove(&s->rt->cache, s->route.region_id);
      retry_after(s, err, sleep_for(s->bo, BO_TIKV_RPC));
    }
    return;
  }
  Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
  Metapb__RegionEpoch epoch = METAPB__REGION_EPOCH__INIT;
  Metapb__Peer peer = METAPB__PEER__INIT;
  epoch.conf_ver = s->route.conf_ver;
  epoch.version = s->route.version;
  peer.id = s->route.leader.id;
  peer.store_id = s->route.leader.store_id;
  peer.role = s->route.leader.role;
  ctx.region_id = s->route.region_id;
  ctx.region_epoch = &epoch;
  ctx.peer = &peer;
  grpc_slice msg;
  if (s->ops->build(s->arg, &s->route, &ctx, &msg) != 0) {
    send_done(s, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"), NULL);
    return;
  }
  s->conn = conn;
  if (tikv__rpc_send(s->rt->rpc, conn, s->req, msg, s->deadline, on_reply, s) != 0)
    send_done(s,
              tikv__error_new(s->rt->rpc->closing ? TIKV_ERR_CLOSED : TIKV_ERR_NO_MEMORY,
                              "%s: cannot start the call", tikv__req(s->req)->path + 1),
              NULL);
}

void tikv__send(tikv__router_t *rt, tikv__req_id req, const tikv__route_t *route, int64_t deadline,
                tikv__backoff_t *bo, tikv_error_t **last_err, const tikv__send_ops_t *ops,
                void *arg) {
  send_t *s = tikv__calloc(1, sizeof(*s));
  if (!s || tikv__route_copy(&s->route, route)) {
    free(s);
    ops->done(arg, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"), NULL);
    return;
  }
  s->rt = rt;
  s->req = req;
  s->deadline = deadline;
  s->bo = bo;
  s->last_err = last_err;
  s->ops = ops;
  s->arg = arg;
  tikv__timer_init(&s->timer);
  if (tikv__now_ms() >= deadline) {
    tikv_error_t *last = *last_err;
    send_done(s, tikv__error_new(TIKV_ERR_TIMEOUT, "%s: deadline exceeded%s%s",
                                 tikv__req(req)->path + 1,
                                 last ? "; last error: " : "", last ? last->message : ""),
              NULL);
    return;
  }
  tikv__resolve_store(rt, route->leader.store_id, deadline, on_store, s);
}
