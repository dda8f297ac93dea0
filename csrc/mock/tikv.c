/* The mock's TiKV service: the handlers of every module by request id,
 * unary calls, the BatchCommands stream, GetStoreSafeTS, and the region
 * checks TiKV applies to every request. */
#include <stdio.h>

#include "mock/kv_txn.h"

typedef struct mock_kv_method {
  tikv__req_id req;
  mock_kv_fn fn;
  bool region_first;
} mock_kv_method_t;

static const mock_kv_method_t methods[TIKV__REQ_COUNT] = {
#define ROW(id, fn, region_first) [TIKV__REQ_##id] = {TIKV__REQ_##id, fn, region_first},
    MOCK_TIKV_METHODS(ROW)
#undef ROW
};

static const mock_kv_method_t *find(int req) {
  return req >= 0 && req < TIKV__REQ_COUNT && methods[req].fn ? &methods[req] : NULL;
}

static const tikv__req_info_t *info(const mock_kv_method_t *km) { return tikv__req(km->req); }

/* Every TiKV request keeps its Context as "context", every response its
 * region error as "region_error". */
void *mock_field_of(const ProtobufCMessage *msg, const char *name) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
  if (!f) abort();
  return (char *)msg + f->offset;
}

#define LOST_REPLY_MSG "mock: the connection dropped after the request was applied (lost reply)"

/* Runs one request through its handler; the response lives in the arena.
 * NULL: the handler deferred its answer (mock_kv_defer). *lost: an injected
 * lost reply took this call (the request is applied all the same). */
static ProtobufCMessage *serve(mock_call_t *c, bool batch, uint64_t id, const mock_kv_method_t *km,
                               const ProtobufCMessage *req, mock_arena_t *a, bool *lost) {
  mock_cluster_t *m = c->srv->m;
  const ProtobufCMessageDescriptor *d = info(km)->resp;
  ProtobufCMessage *resp = mock_arena_alloc(a, d->sizeof_message);
  protobuf_c_message_init(d, resp);
  mock_kvctx_t kc = {m, c->srv->store_id, info(km)->method, a, c, batch, id, info(km)->batch_case};
  pthread_mutex_lock(&m->mu);
  kc.lost = *lost = mock_take_fault(m, MOCK_FAULT_LOST_REPLY, kc.method, kc.store_id) >= 0;
  Errorpb__Error *e = NULL;
  /* TiKV's storage checks the API version before anything else */
  bool refused = mock_api_check(&kc, km->req, req, resp);
  if (!refused && km->region_first)
    e = mock_check_context(&kc, *(const Kvrpcpb__Context **)mock_field_of(req, "context"),
                           &kc.region);
  if (e)
    *(Errorpb__Error **)mock_field_of(resp, "region_error") = e;
  else if (!refused)
    km->fn(&kc, req, resp);
  pthread_mutex_unlock(&m->mu);
  return kc.deferred ? NULL : resp;
}

/* Answers a unary call with resp (NULL: the call is gone, or stopping). */
static void reply_unary(mock_call_t *c, const ProtobufCMessage *resp) {
  if (resp)
    mock_call_reply_msg(c, resp);
  else
    mock_call_fail(c, GRPC_STATUS_UNAVAILABLE, "mock: server stopping");
}

/* ---- unary ---- */
static void kv_unary(mock_call_t *c, const uint8_t *data, size_t len) {
  ProtobufCMessage *req = mock_call_unpack(c, data, len);
  if (!req) return;
  mock_arena_t a = {0};
  bool lost;
  ProtobufCMessage *resp = serve(c, false, 0, find(c->req), req, &a, &lost);
  if (resp && lost)
    mock_call_fail(c, GRPC_STATUS_UNAVAILABLE, LOST_REPLY_MSG);
  else if (resp)
    reply_unary(c, resp); /* else answered later */
  mock_arena_free(&a);
  protobuf_c_message_free_unpacked(req, NULL);
}

/* ---- BatchCommands ---- */
/* Responses of one message past this size are sent before the rest. */
#define BATCH_FLUSH_BYTES (32 * 1024)
/* The responses of one BatchCommandsResponse being built. */
typedef struct batch_out batch_out;
struct batch_out {
  mock_arena_t arena;
  Tikvpb__BatchCommandsResponse r;
  size_t cap;
  size_t bytes; /* the responses' encoded size, about */
};

static void out_init(batch_out *o, size_t cap) {
  memset(o, 0, sizeof(*o));
  Tikvpb__BatchCommandsResponse init = TIKVPB__BATCH_COMMANDS_RESPONSE__INIT;
  o->r = init;
  o->cap = cap ? cap : 1;
  o->r.responses = mock_arena_alloc(&o->arena, o->cap * sizeof(void *));
  o->r.request_ids = mock_arena_alloc(&o->arena, o->cap * sizeof(uint64_t));
}

static void out_add(batch_out *o, int cmd_case, const ProtobufCMessage *sub, uint64_t id) {
  Tikvpb__BatchCommandsResponse__Response *one =
      MOCK_NEW(&o->arena, Tikvpb__BatchCommandsResponse__Response,
               TIKVPB__BATCH_COMMANDS_RESPONSE__RESPONSE__INIT);
  one->cmd_case = (Tikvpb__BatchCommandsResponse__Response__CmdCase)cmd_case;
  one->get = (Kvrpcpb__GetResponse *)sub; /* the oneof: every member is a pointer */
  o->r.responses[o->r.n_responses++] = one;
  o->r.request_ids[o->r.n_request_ids++] = id;
  o->bytes += protobuf_c_message_get_packed_size(sub);
}

/* Sends what was collected (if anything) and frees it. */
static void out_send(mock_call_t *c, batch_out *o) {
  if (o->r.n_responses) mock_call_reply_msg(c, &o->r.base);
  mock_arena_free(&o->arena);
}

/* One response on its own BatchCommandsResponse (a deferred or delayed one). */
static void send_one(mock_call_t *c, int cmd_case, const ProtobufCMessage *resp, uint64_t id) {
  batch_out o;
  out_init(&o, 1);
  out_add(&o, cmd_case, resp, id);
  out_send(c, &o);
}

/* ---- deferred replies ---- */
struct mock_reply_to {
  mock_call_t *c;
  bool batch;
  uint64_t id;
  int batch_case;
  bool lost; /* an injected lost reply: the answer is a dropped connection */
};

mock_reply_to_t *mock_kv_defer(mock_kvctx_t *kc) {
  mock_reply_to_t *rt = tikv__calloc(1, sizeof(*rt));
  if (!rt) return NULL;
  rt->c = kc->call;
  rt->batch = kc->batch;
  rt->id = kc->batch_id;
  rt->batch_case = kc->batch_case;
  rt->lost = kc->lost;
  mock_call_ref(rt->c);
  if (rt->batch) rt->c->pending++; /* the stream stays open for it */
  kc->deferred = true;
  return rt;
}

void mock_kv_deferred_reply(mock_reply_to_t *rt, const ProtobufCMessage *resp) {
  mock_call_t *c = rt->c;
  if (resp && rt->lost) {
    if (rt->batch) c->pending--;
    mock_call_fail(c, GRPC_STATUS_UNAVAILABLE, LOST_REPLY_MSG);
  } else if (rt->batch) {
    c->pending--;
    if (resp && !c->finished && !c->dead) send_one(c, rt->batch_case, resp, rt->id);
    mock_call_maybe_finish(c);
  } else {
    reply_unary(c, resp);
  }
  mock_call_unref(c);
  free(rt);
}

/* A sub-request held by a latency: h->data is it packed, h->arg its
 * method, h->id its request id. */
static void run_delayed_sub(mock_held_t *h) {
  mock_call_t *c = h->c;
  const mock_kv_method_t *km = h->arg;
  if (c->finished || c->dead) return;
  ProtobufCMessage *req = protobuf_c_message_unpack(info(km)->req, NULL, h->len, h->data);
  if (!req) return;
  mock_arena_t a = {0};
  bool lost;
  ProtobufCMessage *resp = serve(c, true, h->id, km, req, &a, &lost);
  if (resp && lost)
    mock_call_fail(c, GRPC_STATUS_UNAVAILABLE, LOST_REPLY_MSG);
  else if (resp)
    send_one(c, info(km)->batch_case, resp, h->id);
  mock_arena_free(&a);
  protobuf_c_message_free_unpacked(req, NULL);
}

/* Holds a sub-request for delay_ms (packed: the stream's message is freed
 * meanwhile). */
static void delay_sub(mock_call_t *c, const mock_kv_method_t *km, const ProtobufCMessage *sub,
                      uint64_t id, uint32_t delay_ms) {
  size_t n = protobuf_c_message_get_packed_size(sub);
  uint8_t *buf = tikv__malloc(n ? n : 1);
  if (!buf) return;
  protobuf_c_message_pack(sub, buf);
  mock_held_t *h = mock_hold(c, buf, n);
  free(buf);
  if (!h) return;
  h->run = run_delayed_sub;
  h->arg = km;
  h->id = id;
  mock_held_after(h, delay_ms);
}

/* A corrupt reply injected for one request of a stream (mode: its kind):
 * the response is damaged alone. If it still decodes, what it decodes into
 * is its answer; if not, a message that decodes as nothing goes out on the
 * stream, as a faulty network would make it. */
static void corrupt_sub(mock_call_t *c, const mock_kv_method_t *km, int cs,
                        const ProtobufCMessage *resp, uint64_t id, int mode) {
  size_t n = protobuf_c_message_get_packed_size(resp);
  uint8_t *buf = tikv__malloc(n ? n : 1);
  if (!buf) return;
  protobuf_c_message_pack(resp, buf);
  n = mock_corrupt_bytes(c->srv->m, mode, &buf, n);
  ProtobufCMessage *d = mode == TIKV_MOCK_CORRUPT_UNDECODABLE
                            ? NULL
                            : protobuf_c_message_unpack(info(km)->resp, NULL, n, buf);
  if (d) {
    send_one(c, cs, d, id);
    protobuf_c_message_free_unpacked(d, NULL);
    free(buf);
    return;
  }
  uint8_t *bad = tikv__malloc(2);
  free(buf);
  if (!bad) return;
  memset(bad, 0xff, 2); /* a varint that never ends */
  mock_call_reply(c, bad, 2);
}

/* One request of a BatchCommands message: its response joins o (or comes
 * later), or a non-OK gRPC status ends the stream (msg filled). */
static int batch_one(mock_call_t *c, const Tikvpb__BatchCommandsRequest__Request *one, uint64_t id,
                     batch_out *o, char *msg, size_t msg_len) {
  mock_cluster_t *m = c->srv->m;
  int cs = (int)one->cmd_case;
  if (cs == TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_EMPTY) {
    Tikvpb__BatchCommandsEmptyResponse *er = MOCK_NEW(&o->arena, Tikvpb__BatchCommandsEmptyResponse,
                                                      TIKVPB__BATCH_COMMANDS_EMPTY_RESPONSE__INIT);
    er->test_id = one->empty ? one->empty->test_id : 0;
    out_add(o, cs, &er->base, id);
    return 0;
  }
  const mock_kv_method_t *km = find(tikv__req_by_batch_case(cs));
  if (!km) {
    snprintf(msg, msg_len, "mock: BatchCommands request %d is not implemented", cs);
    if (m->opts.verbose) fprintf(stderr, "tikv-mock: %s\n", msg);
    return GRPC_STATUS_UNIMPLEMENTED;
  }
  const ProtobufCMessage *sub = (const ProtobufCMessage *)one->get; /* the oneof's pointer */
  const char *name = info(km)->method;
  pthread_mutex_lock(&m->mu);
  mock_count_call(m, name);
  int status = mock_take_fault(m, MOCK_FAULT_GRPC_ERROR, name, 0);
  uint32_t delay = mock_latency_for(m, name);
  pthread_mutex_unlock(&m->mu);
  if (status > 0) {
    snprintf(msg, msg_len, "mock: injected error for %s", name);
    return status;
  }
  if (delay) {
    delay_sub(c, km, sub, id, delay);
    return 0;
  }
  bool lost;
  ProtobufCMessage *resp = serve(c, true, id, km, sub, &o->arena, &lost);
  if (resp && lost) { /* the stream drops, and the other replies with it */
    snprintf(msg, msg_len, "%s", LOST_REPLY_MSG);
    return GRPC_STATUS_UNAVAILABLE;
  }
  if (resp) {
    pthread_mutex_lock(&m->mu);
    int mode = mock_take_fault(m, MOCK_FAULT_CORRUPT_REPLY, name, 0);
    pthread_mutex_unlock(&m->mu);
    if (mode >= 0)
      corrupt_sub(c, km, cs, resp, id, mode);
    else
      out_add(o, cs, resp, id);
  }
  return 0;
}

static void batch_commands(mock_call_t *c, const uint8_t *data, size_t len) {
  Tikvpb__BatchCommandsRequest *q = (Tikvpb__BatchCommandsRequest *)mock_call_unpack(c, data, len);
  if (!q) return;
  batch_out o;
  out_init(&o, q->n_requests);
  int status = 0;
  char msg[128] = "";
  for (size_t i = 0; i < q->n_requests && !status; i++) {
    status = batch_one(c, q->requests[i], i < q->n_request_ids ? q->request_ids[i] : 0, &o, msg,
                       sizeof(msg));
    /* as TiKV, whose responses go out as they are ready: large ones do not
     * wait for the rest of the message (the client works on them meanwhile) */
    if (!status && i + 1 < q->n_requests &&
        o.bytes >= BATCH_FLUSH_BYTES) {
      out_send(c, &o);
      out_init(&o, q->n_requests - i - 1);
    }
  }
  if (status) {
    mock_arena_free(&o.arena);
    mock_call_fail(c, status, "%s", msg);
  } else {
    out_send(c, &o);
  }
  tikvpb__batch_commands_request__free_unpacked(q, NULL);
}

/* ---- GetStoreSafeTS (client-go polls it for stale reads) ----
 * What TiKV's resolved ts would be: below every lock, else the newest TSO. */
void mock_store_safe_ts(mock_kvctx_t *kc, const void *msg, void *out) {
  mock_cluster_t *m = kc->m;
  Kvrpcpb__StoreSafeTSResponse *r = out;
  uint64_t ts = ((uint64_t)m->tso_physical << 18) + (uint64_t)m->tso_logical;
  uint64_t min_lock = mock_mvcc_min_lock_ts(m->mvcc);
  if (min_lock && min_lock - 1 < ts) ts = min_lock - 1;
  r->safe_ts = ts;
}

mock_msg_fn mock_tikv_route(int req) {
  if (req == TIKV__REQ_BATCH_COMMANDS) return batch_commands;
  return find(req) ? kv_unary : NULL;
}

/* ---- region metadata ---- */
Metapb__Region *mock_region_meta(mock_arena_t *a, const mock_region_t *r) {
  Metapb__Region *mr = MOCK_NEW(a, Metapb__Region, METAPB__REGION__INIT);
  mr->id = r->id;
  mr->start_key.data = mock_arena_dup(a, r->start.data, r->start.len);
  mr->start_key.len = r->start.len;
  mr->end_key.data = mock_arena_dup(a, r->end.data, r->end.len);
  mr->end_key.len = r->end.len;
  mr->region_epoch = MOCK_NEW(a, Metapb__RegionEpoch, METAPB__REGION_EPOCH__INIT);
  mr->region_epoch->conf_ver = r->conf_ver;
  mr->region_epoch->version = r->version;
  mr->n_peers = (size_t)r->npeers;
  mr->peers = mock_arena_alloc(a, (size_t)r->npeers * sizeof(Metapb__Peer *));
  for (int i = 0; i < r->npeers; i++) {
    Metapb__Peer *p = MOCK_NEW(a, Metapb__Peer, METAPB__PEER__INIT);
    p->id = r->peer_id[i];
    p->store_id = r->peer_store[i];
    mr->peers[i] = p;
  }
  return mr;
}

Metapb__Peer *mock_region_leader_peer(mock_arena_t *a, const mock_region_t *r) {
  Metapb__Peer *p = MOCK_NEW(a, Metapb__Peer, METAPB__PEER__INIT);
  p->id = r->peer_id[r->leader];
  p->store_id = r->peer_store[r->leader];
  return p;
}

/* ---- region errors, with TiKV's messages (raftstore errors.rs) ---- */
static Errorpb__Error *new_error(mock_kvctx_t *kc) {
  return MOCK_NEW(kc->arena, Errorpb__Error, ERRORPB__ERROR__INIT);
}

static Errorpb__Error *region_not_found(mock_kvctx_t *kc, uint64_t region_id) {
  Errorpb__Error *e = new_error(kc);
  e->message = mock_arena_printf(kc->arena, "region %llu not found", (unsigned long long)region_id);
  e->region_not_found =
      MOCK_NEW(kc->arena, Errorpb__RegionNotFound, ERRORPB__REGION_NOT_FOUND__INIT);
  e->region_not_found->region_id = region_id;
  return e;
}

static Errorpb__Error *not_leader(mock_kvctx_t *kc, uint64_t region_id, const mock_region_t *r) {
  Errorpb__Error *e = new_error(kc);
  e->not_leader = MOCK_NEW(kc->arena, Errorpb__NotLeader, ERRORPB__NOT_LEADER__INIT);
  e->not_leader->region_id = region_id;
  if (r) {
    e->not_leader->leader = mock_region_leader_peer(kc->arena, r);
    e->message = mock_arena_printf(
        kc->arena, "peer is not leader for region %llu, leader may Some(id: %llu store_id: %llu)",
        (unsigned long long)region_id, (unsigned long long)r->peer_id[r->leader],
        (unsigned long long)r->peer_store[r->leader]);
  } else {
    e->message = mock_arena_printf(kc->arena, "peer is not leader for region %llu, leader may None",
                                   (unsigned long long)region_id);
  }
  return e;
}

static Errorpb__Error *store_not_match(mock_kvctx_t *kc, uint64_t requested) {
  Errorpb__Error *e = new_error(kc);
  e->message = mock_arena_printf(kc->arena, "to store id %llu, mine %llu",
                                 (unsigned long long)requested, (unsigned long long)kc->store_id);
  e->store_not_match = MOCK_NEW(kc->arena, Errorpb__StoreNotMatch, ERRORPB__STORE_NOT_MATCH__INIT);
  e->store_not_match->request_store_id = requested;
  e->store_not_match->actual_store_id = kc->store_id;
  return e;
}

/* protobuf text form of an epoch, as TiKV prints it ("conf_ver: 1 version: 2") */
static char *epoch_text(mock_kvctx_t *kc, uint64_t conf_ver, uint64_t version) {
  if (conf_ver && version)
    return mock_arena_printf(kc->arena, "conf_ver: %llu version: %llu",
                             (unsigned long long)conf_ver, (unsigned long long)version);
  if (conf_ver) return mock_arena_printf(kc->arena, "conf_ver: %llu", (unsigned long long)conf_ver);
  if (version) return mock_arena_printf(kc->arena, "version: %llu", (unsigned long long)version);
  return "";
}

static Errorpb__Error *epoch_not_match(mock_kvctx_t *kc, mock_region_t *r,
                                       const Metapb__RegionEpoch *sent) {
  mock_cluster_t *m = kc->m;
  Errorpb__Error *e = new_error(kc);
  e->message = mock_arena_printf(
      kc->arena, "EpochNotMatch current epoch of region %llu is %s, but you sent %s",
      (unsigned long long)r->id, epoch_text(kc, r->conf_ver, r->version),
      epoch_text(kc, sent ? sent->conf_ver : 0, sent ? sent->version : 0));
  e->epoch_not_match = MOCK_NEW(kc->arena, Errorpb__EpochNotMatch, ERRORPB__EPOCH_NOT_MATCH__INIT);
  /* the region and its split siblings, in key order: the regions that now
   * cover what the client believed one region */
  Metapb__Region **cur = mock_arena_alloc(kc->arena, (size_t)m->nregions * sizeof(void *));
  size_t n = 0;
  for (int i = 0; i < m->nregions; i++) {
    mock_region_t *x = m->regions[i];
    if (x == r || x->split_from == r->id || (r->split_from && x->id == r->split_from) ||
        (r->split_from && x->split_from == r->split_from))
      cur[n++] = mock_region_meta(kc->arena, x);
  }
  e->epoch_not_match->n_current_regions = n;
  e->epoch_not_match->current_regions = cur;
  return e;
}

Errorpb__Error *mock_key_not_in_region(mock_kvctx_t *kc, const mock_region_t *r, const uint8_t *key,
                                       size_t len) {
  Errorpb__Error *e = new_error(kc);
  e->message = mock_arena_printf(
      kc->arena, "key %s is not in region key range [%s, %s) for region %llu",
      mock_arena_hex(kc->arena, key, len), mock_arena_hex(kc->arena, r->start.data, r->start.len),
      mock_arena_hex(kc->arena, r->end.data, r->end.len), (unsigned long long)r->id);
  Errorpb__KeyNotInRegion *k =
      MOCK_NEW(kc->arena, Errorpb__KeyNotInRegion, ERRORPB__KEY_NOT_IN_REGION__INIT);
  k->key.data = mock_arena_dup(kc->arena, key, len);
  k->key.len = len;
  k->region_id = r->id;
  k->start_key.data = mock_arena_dup(kc->arena, r->start.data, r->start.len);
  k->start_key.len = r->start.len;
  k->end_key.data = mock_arena_dup(kc->arena, r->end.data, r->end.len);
  k->end_key.len = r->end.len;
  e->key_not_in_region = k;
  return e;
}

static Errorpb__Error *server_is_busy(mock_kvctx_t *kc) {
  Errorpb__Error *e = new_error(kc);
  e->message = "server is busy";
  e->server_is_busy = MOCK_NEW(kc->arena, Errorpb__ServerIsBusy, ERRORPB__SERVER_IS_BUSY__INIT);
  e->server_is_busy->reason = "scheduler is busy";
  return e;
}

static Errorpb__Error *stale_command(mock_kvctx_t *kc) {
  Errorpb__Error *e = new_error(kc);
  e->message = "stale command";
  e->stale_command = MOCK_NEW(kc->arena, Errorpb__StaleCommand, ERRORPB__STALE_COMMAND__INIT);
  return e;
}

static Errorpb__Error *max_timestamp_not_synced(mock_kvctx_t *kc) {
  Errorpb__Error *e = new_error(kc);
  e->message = "max timestamp not synced";
  e->max_timestamp_not_synced =
      MOCK_NEW(kc->arena, Errorpb__MaxTimestampNotSynced, ERRORPB__MAX_TIMESTAMP_NOT_SYNCED__INIT);
  return e;
}

/* An injected region error. r is the request's region (NULL if unknown:
 * every kind but NotLeader answers RegionNotFound then). */
Errorpb__Error *mock_region_error_of_kind(mock_kvctx_t *kc, tikv_mock_region_error kind,
                                          const Kvrpcpb__Context *ctx, mock_region_t *r) {
  uint64_t rid = ctx ? ctx->region_id : 0;
  bool not_leader_kind = kind == TIKV_MOCK_REGION_ERROR_NOT_LEADER ||
                         kind == TIKV_MOCK_REGION_ERROR_NOT_LEADER_NO_HINT;
  if (!r && !not_leader_kind) return region_not_found(kc, rid);
  switch (kind) {
    case TIKV_MOCK_REGION_ERROR_NOT_LEADER: return not_leader(kc, rid, r);
    case TIKV_MOCK_REGION_ERROR_NOT_LEADER_NO_HINT: return not_leader(kc, rid, NULL);
    case TIKV_MOCK_REGION_ERROR_STORE_NOT_MATCH:
      return store_not_match(kc, ctx && ctx->peer ? ctx->peer->store_id : 0);
    case TIKV_MOCK_REGION_ERROR_SERVER_IS_BUSY: return server_is_busy(kc);
    case TIKV_MOCK_REGION_ERROR_STALE_COMMAND: return stale_command(kc);
    case TIKV_MOCK_REGION_ERROR_MAX_TIMESTAMP_NOT_SYNCED: return max_timestamp_not_synced(kc);
    case TIKV_MOCK_REGION_ERROR_EPOCH_NOT_MATCH:
      return epoch_not_match(kc, r, ctx ? ctx->region_epoch : NULL);
    case TIKV_MOCK_REGION_ERROR_KEY_NOT_IN_REGION:
      return mock_key_not_in_region(kc, r, r->start.data, r->start.len);
    case TIKV_MOCK_REGION_ERROR_REGION_NOT_FOUND:
    case TIKV_MOCK_REGION_ERROR_COUNT: break;
  }
  return region_not_found(kc, rid);
}

/* TiKV's order: the region must have a peer on this store (raft router),
 * then the peer checks: store id, leadership, epoch version. */
Errorpb__Error *mock_check_context(mock_kvctx_t *kc, const Kvrpcpb__Context *ctx,
                                   mock_region_t **region) {
  mock_cluster_t *m = kc->m;
  uint64_t rid = ctx ? ctx->region_id : 0;
  int kind = mock_take_fault(m, MOCK_FAULT_REGION_ERROR, kc->method, rid);
  if (kind >= 0)
    return mock_region_error_of_kind(kc, (tikv_mock_region_error)kind, ctx,
                                     mock_region_by_id(m, rid));
  mock_region_t *r = mock_region_by_id(m, rid);
  int mine = -1;
  for (int i = 0; r && i < r->npeers; i++)
    if (r->peer_store[i] == kc->store_id) mine = i;
  if (!r || mine < 0) return region_not_found(kc, rid);
  uint64_t req_store = ctx && ctx->peer ? ctx->peer->store_id : 0;
  if (req_store != kc->store_id) return store_not_match(kc, req_store);
  /* during an election nobody leads: no leader to name */
  if (r->electing || r->leader != mine) return not_leader(kc, rid, r->electing ? NULL : r);
  uint64_t ver = ctx->region_epoch ? ctx->region_epoch->version : 0;
  if (ver != r->version) return epoch_not_match(kc, r, ctx->region_epoch);
  *region = r;
  return NULL;
}

Errorpb__Error *mock_check_key(mock_kvctx_t *kc, const mock_region_t *r, const uint8_t *key,
                               size_t len, bool end_inclusive) {
  if (tikv__key_cmp(key, len, r->start.data, r->start.len) >= 0) {
    if (r->end.len == 0) return NULL;
    int c = tikv__key_cmp(key, len, r->end.data, r->end.len);
    if (c < 0 || (c == 0 && end_inclusive)) return NULL;
  }
  return mock_key_not_in_region(kc, r, key, len);
}
