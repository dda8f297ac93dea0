/* Sending one request to the leader of a region, and what to do when TiKV
 * answers with a region error: correct the cache the way client-go does, sleep
 * the backoff for that kind of error, and hand the work back to its engine to
 * locate its keys again. A reply without region error passes the kind's
 * layer (lock resolution), then its consume. */
#include <stdio.h>
#include <string.h>

#include "region/request.h"
#include "region/validate.h"

void tikv__req_msg_init(tikv__req_msg_t *q, tikv__req_id id, Kvrpcpb__Context *ctx) {
  const ProtobufCMessageDescriptor *d = tikv__req(id)->req;
  /* a type missing from the union is a bug of the build, not of the input */
  if (d->sizeof_message > sizeof(*q)) abort();
  protobuf_c_message_init(d, q);
  tikv__pb_set_message(&q->base, "context", &ctx->base);
}

void tikv__retries_clear(tikv__retries_t *r) {
  tikv__error_free(r->last_err);
  r->last_err = NULL;
}

static const char *req_name(const tikv__send_t *s) { return tikv__req(s->kind->req)->path + 1; }

static void retry_now(void *p) {
  tikv__send_t *s = p;
  if (tikv__loop_stopping(s->rt->rpc->loop)) {
    s->ops->done(s, tikv__error_new(TIKV_ERR_CLOSED, "client closed"));
    return;
  }
  s->ops->retry(s);
}

/* Retries after sleep_ms, or fails with TIMEOUT carrying `why` when that
 * would pass the deadline. */
static void retry_after(tikv__send_t *s, int sleep_ms, const char *why) {
  if (tikv__now_ms() + sleep_ms < s->scope->deadline) {
    tikv__timer_start_in(s->rt->rpc->loop, &s->timer, s->scope, sleep_ms, retry_now, s);
    return;
  }
  const tikv_error_t *last = s->retries->last_err;
  tikv_error_t *e = tikv__error_new(TIKV_ERR_TIMEOUT, "%s: deadline exceeded %s%s%s",
                                    req_name(s), why, last ? "; last error: " : "",
                                    last ? last->message : "");
  if (last) {
    e->region_id = last->region_id;
    e->grpc_status = last->grpc_status;
    tikv__error_set_kind(e, last->detail_kind);
  }
  s->ops->done(s, e);
}

/* Records err as the last cause and retries after sleep_ms. */
static void retry_error(tikv__send_t *s, tikv_error_t *err, int sleep_ms) {
  tikv__stats_retry(s->rt->pd->stats, err->code == TIKV_ERR_REGION ? TIKV__RETRY_REGION : TIKV__RETRY_TRANSPORT, err, sleep_ms);
  tikv__error_free(s->retries->last_err);
  s->retries->last_err = err;
  char why[48];
  snprintf(why, sizeof(why), "after %d retries", s->retries->attempts);
  retry_after(s, sleep_ms, why);
}

/* ---- region errors ---- */

/* client-go's backoff kinds: base and cap in ms */
static int sleep_for(tikv__retries_t *r, int base, int cap) {
  int step = base;
  for (int i = 0; i < r->attempts && step < cap; i++) step *= 2;
  if (step > cap) step = cap;
  tikv__backoff_t tmp;
  tikv__backoff_init(&tmp, step, step);
  r->attempts++;
  return tikv__backoff_next(&tmp);
}

#define BO_REGION_MISS 2, 500
#define BO_SCHEDULING 2, 500
#define BO_STALE_CMD 2, 1000
#define BO_TIKV_RPC 100, 2000
#define BO_SERVER_BUSY 200, 3000

/* The errors handled alike: what to drop from the cache and how to back
 * off, or fatal (no backoff). In the order they are checked. */
enum { KEEP, DROP, FATAL };
typedef struct {
  size_t field; /* of the error's message in Errorpb__Error */
  const char *kind;
  int action;
  int base, cap;
} re_rule_t;
#define RE(field, kind, action, bo) {offsetof(Errorpb__Error, field), kind, action, bo}
#define RE_FATAL(field, kind) {offsetof(Errorpb__Error, field), kind, FATAL, 0, 0}
static const re_rule_t RULES[] = {
    RE(region_not_found, "region_not_found", DROP, BO_REGION_MISS),
    RE(key_not_in_region, "key_not_in_region", DROP, BO_REGION_MISS),
    RE(stale_command, "stale_command", KEEP, BO_STALE_CMD),
    RE(max_timestamp_not_synced, "max_timestamp_not_synced", KEEP, BO_REGION_MISS),
    RE(read_index_not_ready, "read_index_not_ready", KEEP, BO_REGION_MISS),
    RE(proposal_in_merging_mode, "proposal_in_merging_mode", KEEP, BO_REGION_MISS),
    RE(data_is_not_ready, "data_is_not_ready", KEEP, BO_REGION_MISS),
    RE(disk_full, "disk_full", KEEP, BO_REGION_MISS),
    RE(region_not_initialized, "region_not_initialized", DROP, BO_REGION_MISS),
    RE_FATAL(raft_entry_too_large, "raft_entry_too_large"),
    RE_FATAL(recoveryinprogress, "recovery_in_progress"),
    RE_FATAL(flashbackinprogress, "flashback_in_progress"),
    RE_FATAL(flashbacknotprepared, "flashback_not_prepared"),
    RE_FATAL(undetermined_result, "undetermined_result"),
    RE_FATAL(incompatible_request, "incompatible_request"),
    /* the rest: drop what we know of the region and ask PD again */
    RE(mismatch_peer_id, "mismatch_peer_id", DROP, BO_REGION_MISS),
    RE(is_witness, "is_witness", DROP, BO_REGION_MISS),
    RE(bucket_version_not_match, "bucket_version_not_match", DROP, BO_REGION_MISS),
};

static bool has(const Errorpb__Error *re, size_t field) {
  return *(const void *const *)((const char *)re + field) != NULL;
}

/* The errors with their own handling; -2 when re is none of them. */
static int special_error(tikv__router_t *rt, const tikv__route_t *route,
                         const Errorpb__Error *re, tikv__retries_t *r, const char **kind) {
  tikv__region_cache_t *rc = &rt->cache;
  if (re->not_leader) {
    *kind = "not_leader";
    const Metapb__Peer *l = re->not_leader->leader;
    if (l && l->store_id && l->store_id != route->leader.store_id &&
        tikv__cache_set_leader(rc, route->region_id, l->store_id, l->id)) {
      /* a new leader is known: go there at once, unless its store is down
       * (the route goes to another peer again until it passes its health
       * check: not at once, or we would spin between the two) */
      return tikv__store_is_down(rt, l->store_id) ? sleep_for(r, BO_TIKV_RPC) : 0;
    }
    /* leader unknown (election in progress): ask PD for the region again
     * while we pause */
    tikv__refresh_region(rt, route->region_id, tikv__now_ms() + 2000);
    return sleep_for(r, BO_SCHEDULING);
  }
  if (re->epoch_not_match) {
    *kind = "epoch_not_match";
    tikv__cache_remove(rc, route->region_id);
    for (size_t i = 0; i < re->epoch_not_match->n_current_regions; i++)
      tikv__cache_insert(rc, re->epoch_not_match->current_regions[i], 0);
    return re->epoch_not_match->n_current_regions ? 0 : sleep_for(r, BO_REGION_MISS);
  }
  if (re->store_not_match) {
    *kind = "store_not_match";
    tikv__store_forget(rt, route->leader.store_id, NULL);
    tikv__cache_remove(rc, route->region_id);
    return sleep_for(r, BO_REGION_MISS);
  }
  if (re->server_is_busy) {
    *kind = "server_is_busy";
    int sleep = sleep_for(r, BO_SERVER_BUSY);
    int asked = (int)re->server_is_busy->backoff_ms;
    return asked > sleep ? asked : sleep;
  }
  return -2;
}

/* Updates the cache for a region error. Returns the backoff to sleep before
 * retrying (0: at once), or -1 when the error is not retryable; *err is set
 * either way. */
static int region_error(tikv__router_t *rt, const tikv__route_t *route, const Errorpb__Error *re,
                        tikv__retries_t *r, tikv_error_t **err) {
  const char *kind = "unknown";
  int code = TIKV_ERR_REGION;
  int sleep = special_error(rt, route, re, r, &kind);
  const re_rule_t *rule = NULL;
  for (size_t i = 0; sleep == -2 && !rule && i < sizeof(RULES) / sizeof(RULES[0]); i++)
    if (has(re, RULES[i].field)) rule = &RULES[i];
  if (rule) {
    kind = rule->kind;
    if (rule->action == DROP) tikv__cache_remove(&rt->cache, route->region_id);
    sleep = rule->action == FATAL ? -1 : sleep_for(r, rule->base, rule->cap);
    if (rule->field == offsetof(Errorpb__Error, undetermined_result)) code = TIKV_ERR_UNDETERMINED;
  } else if (sleep == -2) {
    /* an error this client does not know: as the last rules */
    tikv__cache_remove(&rt->cache, route->region_id);
    sleep = sleep_for(r, BO_REGION_MISS);
  }
  tikv_error_t *e = tikv__error_new(code, "region %llu: %s%s%s",
                                    (unsigned long long)route->region_id, kind,
                                    re->message && re->message[0] ? ": " : "",
                                    re->message ? re->message : "");
  e->region_id = route->region_id;
  tikv__error_set_kind(e, kind);
  *err = e;
  return sleep;
}

/* ---- the reply ---- */

static void consume(tikv__send_t *s, ProtobufCMessage *resp) {
  tikv_error_t *err = s->kind->consume ? s->kind->consume(s->arg, &s->part, resp) : NULL;
  tikv__reply_free(resp);
  s->ops->done(s, err);
}

static void after_layer(void *ctx, tikv_error_t *err, ProtobufCMessage *resp, int delay_ms) {
  tikv__send_t *s = ctx;
  if (err)
    s->ops->done(s, err);
  else if (resp)
    consume(s, resp);
  else
    retry_after(s, delay_ms, "waiting for locks");
}

/* A transport error (rpc.c says which statuses are): the store is down
 * until its health check passes; the region stays cached, so the next
 * attempt goes to its other peers (region/locate.c), which name the new
 * leader or say that an election is on. The request may have been applied:
 * the kind is told. */
static void transport_error(tikv__send_t *s, tikv_error_t *err) {
  tikv__router_t *rt = s->rt;
  tikv__error_prefix(err, "store %llu", (unsigned long long)s->route.leader.store_id);
  if (s->kind->uncertain) s->kind->uncertain(s->arg);
  tikv__store_mark_down(rt, s->route.leader.store_id, s->conn);
  retry_error(s, err, sleep_for(s->retries, BO_TIKV_RPC));
}

/* The attempt ended with the operation's own deadline, or its cancellation
 * cancelled the call: the store is not to blame (marking it down would cost
 * every other operation on it a health check). The request may still have
 * been applied: the kind is told; the operation then ends as its deadline
 * says. */
static void caller_gave_up(tikv__send_t *s, tikv_error_t *err) {
  if (s->kind->uncertain) s->kind->uncertain(s->arg);
  tikv__error_free(s->retries->last_err);
  s->retries->last_err = err;
  retry_after(s, 0, s->scope->cancelled ? "(cancelled)" : "");
}

/* A reply that does not decode or fails its check: a read is sent again
 * (it changes nothing); a write's outcome is unknown, the caller's to judge. */
static void bad_reply(tikv__send_t *s, tikv_error_t *err) {
  if (tikv__req_is_read(s->kind->req))
    retry_error(s, err, sleep_for(s->retries, BO_TIKV_RPC));
  else
    s->ops->done(s, err);
}

static void on_reply(void *p, tikv_error_t *err, ProtobufCMessage *resp) {
  tikv__send_t *s = p;
  if (!err && (err = tikv__check_reply(s->kind->req, resp, &s->part)))
    tikv__reply_free(resp);
  if (err) {
    if (err->code == TIKV_ERR_PROTOCOL && !tikv__loop_stopping(s->rt->rpc->loop)) {
      bad_reply(s, err);
    } else if (err->code == TIKV_ERR_CLOSED || tikv__loop_stopping(s->rt->rpc->loop)) {
      tikv__error_free(err);
      s->ops->done(s, tikv__error_new(TIKV_ERR_CLOSED, "client closed"));
    } else if ((err->code == TIKV_ERR_UNAVAILABLE || err->code == TIKV_ERR_TIMEOUT ||
                err->code == TIKV_ERR_CANCELLED) &&
               tikv__scope_expired(s->scope)) {
      caller_gave_up(s, err);
    } else if (err->code == TIKV_ERR_UNAVAILABLE || err->code == TIKV_ERR_TIMEOUT ||
               err->code == TIKV_ERR_CANCELLED) {
      transport_error(s, err);
    } else {
      s->ops->done(s, err);
    }
    return;
  }
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "region_error");
  Errorpb__Error *re = fd ? *(Errorpb__Error **)((char *)resp + fd->offset) : NULL;
  if (re) {
    tikv_error_t *rerr = NULL;
    int sleep = region_error(s->rt, &s->route, re, s->retries, &rerr);
    tikv__reply_free(resp);
    if (sleep < 0)
      s->ops->done(s, rerr);
    else
      retry_error(s, rerr, sleep);
    return;
  }
  const tikv__layer_t *layer = s->kind->layer;
  if (layer && layer->take(layer, s->rt, s->arg, resp, s->scope, after_layer, s)) return;
  consume(s, resp);
}

/* One attempt's deadline: a hung store costs one attempt, not the
 * operation (the attempt's DEADLINE_EXCEEDED is a transport error). */
static int64_t attempt_deadline(const tikv__send_t *s) {
  int64_t ms = s->rt->attempt_timeout_ms ? s->rt->attempt_timeout_ms : TIKV__ATTEMPT_TIMEOUT_MS;
  if (s->kind->server_wait_ms) ms += s->kind->server_wait_ms(s->arg);
  int64_t d = tikv__now_ms() + ms;
  return d < s->scope->deadline ? d : s->scope->deadline;
}

static void on_store(void *p, tikv_error_t *err, tikv__conn_t *conn) {
  tikv__send_t *s = p;
  if (err) {
    if (err->code == TIKV_ERR_CLOSED || err->code == TIKV_ERR_TIMEOUT) {
      s->ops->done(s, err);
    } else {
      /* a down store keeps its place in the region: its health check
       * decides; PD not knowing the store does not */
      if (strcmp(err->detail_kind, "store_down") != 0)
        tikv__cache_remove(&s->rt->cache, s->route.region_id);
      retry_error(s, err, sleep_for(s->retries, BO_TIKV_RPC));
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
  tikv__apicodec_context(&s->rt->codec, &ctx);
  grpc_slice msg;
  if (s->kind->build(s->arg, &s->part, &ctx, &msg) != 0) {
    s->ops->done(s, tikv__oom());
    return;
  }
  s->conn = conn;
  if (tikv__rpc_send(s->rt->rpc, conn, s->kind->req, msg, attempt_deadline(s), s->scope, on_reply, s) != 0)
    s->ops->done(s, tikv__error_new(s->rt->rpc->closing ? TIKV_ERR_CLOSED : TIKV_ERR_NO_MEMORY,
                                    "%s: cannot start the call", req_name(s)));
}

void tikv__send_start(tikv__send_t *s, const tikv__route_t *route) {
  s->route = *route;
  s->route.start = s->route.end = (tikv__bytes_t){0};
  s->conn = NULL;
  tikv__timer_init(&s->timer);
  if (tikv__scope_expired(s->scope)) {
    const tikv_error_t *last = s->retries->last_err;
    s->ops->done(s, tikv__error_new(TIKV_ERR_TIMEOUT, "%s: deadline exceeded%s%s", req_name(s),
                                    last ? "; last error: " : "", last ? last->message : ""));
    return;
  }
  tikv__resolve_store(s->rt, route->leader.store_id, s->scope, on_store, s);
}
