/* gRPC server plumbing of the mock: one grpc_server per PD / store, calls
 * accepted as generic (unregistered) methods and routed by path through the
 * request table (rpc/requests.h) to a service's handler. A call is
 * one struct with a tag per kind of batch; its reference count covers every
 * batch in flight and every message waiting for a timer or a PD unpause.
 *
 * Unary: [RECV_CLOSE_ON_SERVER] + [SEND_INITIAL_METADATA, RECV_MESSAGE],
 * then [SEND_MESSAGE, SEND_STATUS] or [SEND_STATUS].
 * Streams: one RECV_MESSAGE and one SEND at a time; replies queue; the status
 * goes out after the client half-closes and every reply was sent. */
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <stdio.h>

#include "mock/mock_internal.h"

#define ARMED_REQUESTS 8

typedef struct mock_outmsg {
  grpc_byte_buffer *bb;
  struct mock_outmsg *next;
} mock_outmsg;

#define CONTAINER(ptr, type, field) ((type *)((char *)(ptr) - offsetof(type, field)))

static tikv__loop_t *loop_of(mock_call_t *c) { return c->srv->m->loop; }

static void call_free(mock_call_t *c) {
  mock_outmsg *o = c->out_head;
  while (o) {
    mock_outmsg *n = o->next;
    grpc_byte_buffer_destroy(o->bb);
    free(o);
    o = n;
  }
  if (c->recv_buf) grpc_byte_buffer_destroy(c->recv_buf);
  if (c->send_buf) grpc_byte_buffer_destroy(c->send_buf);
  if (c->status_slice_set) grpc_slice_unref(c->status_slice);
  free(c->status_msg);
  if (c->call) grpc_call_unref(c->call);
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->md);
  free(c);
}

void mock_call_ref(mock_call_t *c) { c->refs++; }
void mock_call_unref(mock_call_t *c) {
  if (--c->refs == 0) call_free(c);
}

static bool start_batch(mock_call_t *c, const grpc_op *ops, size_t n, tikv__tag_t *tag) {
  c->refs++;
  tikv__loop_tag_started(loop_of(c));
  grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
  if (e != GRPC_CALL_OK) {
    fprintf(stderr, "tikv-mock: grpc_call_start_batch failed: %d\n", (int)e);
    tikv__loop_tag_finished(loop_of(c));
    c->refs--;
    return false;
  }
  return true;
}

static grpc_byte_buffer *bb_from(uint8_t *data, size_t len) {
  grpc_slice s;
  if (!data || len == 0) {
    free(data);
    s = grpc_empty_slice();
  } else {
    s = grpc_slice_new(data, len, free);
  }
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

static void fill_status_op(mock_call_t *c, grpc_op *op) {
  if (c->status_slice_set) grpc_slice_unref(c->status_slice);
  c->status_slice = grpc_slice_from_copied_string(c->status_msg ? c->status_msg : "");
  c->status_slice_set = true;
  memset(op, 0, sizeof(*op));
  op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  op->data.send_status_from_server.status = (grpc_status_code)c->status_code;
  op->data.send_status_from_server.status_details = &c->status_slice;
  op->data.send_status_from_server.trailing_metadata_count = 0;
}

/* Streams: sends the next queued message, or the status when due. */
static void pump(mock_call_t *c) {
  if (c->sending || c->dead) return;
  grpc_op ops[1];
  if (c->out_head) {
    mock_outmsg *o = c->out_head;
    c->out_head = o->next;
    if (!c->out_head) c->out_tail = NULL;
    c->send_buf = o->bb;
    free(o);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_MESSAGE;
    ops[0].data.send_message.send_message = c->send_buf;
    c->sending = true;
    if (!start_batch(c, ops, 1, &c->send_tag)) {
      c->sending = false;
      grpc_byte_buffer_destroy(c->send_buf);
      c->send_buf = NULL;
    }
    return;
  }
  if (c->status_pending) {
    c->status_pending = false;
    fill_status_op(c, &ops[0]);
    c->sending = true;
    if (!start_batch(c, ops, 1, &c->send_tag)) c->sending = false;
  }
}

void mock_call_maybe_finish(mock_call_t *c) {
  if (!mock_call_streaming(c)) return;
  if (c->client_done && c->pending == 0 && !c->finished) {
    c->finished = true;
    c->status_code = GRPC_STATUS_OK;
    c->status_pending = true;
    pump(c);
  }
}

/* An injected corrupt reply (tikv_mock_inject_corrupt_reply) damages data
 * (len bytes, maybe NULL) in place or replaces it; its new length. */
static size_t corrupt(mock_call_t *c, uint8_t **data, size_t len) {
  mock_cluster_t *m = c->srv->m;
  pthread_mutex_lock(&m->mu);
  int mode = c->req >= 0 ? mock_take_fault(m, MOCK_FAULT_CORRUPT_REPLY, mock_call_method(c), 0) : -1;
  pthread_mutex_unlock(&m->mu);
  return mock_corrupt_bytes(m, mode, data, len);
}

size_t mock_corrupt_bytes(mock_cluster_t *m, int mode, uint8_t **data, size_t len) {
  if (mode < 0) return len;
  pthread_mutex_lock(&m->mu);
  uint64_t seq = ++m->corrupted;
  pthread_mutex_unlock(&m->mu);
  if (mode == TIKV_MOCK_CORRUPT_STRAY) {
    /* field 2 (length 5) = { field 2 (length 3) = FF FF FF } */
    static const uint8_t stray[] = {0x12, 0x05, 0x12, 0x03, 0xff, 0xff, 0xff};
    uint8_t *p = tikv__realloc(*data, len + sizeof(stray));
    if (!p) return len;
    memcpy(p + len, stray, sizeof(stray));
    *data = p;
    return len + sizeof(stray);
  }
  if (mode == TIKV_MOCK_CORRUPT_UNDECODABLE || len == 0) {
    /* 0xff... is a varint that never ends: no message decodes from it */
    uint8_t *p = tikv__realloc(*data, len + 2);
    if (!p) return len;
    memset(p, 0xff, len + 2);
    *data = p;
    return len + 2;
  }
  uint64_t x = seq * 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 1 + (int)(seq % 3); i++) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    (*data)[x % len] ^= (uint8_t)(1u << (x >> 61));
  }
  return seq % 4 == 0 ? len / 2 : len; /* every fourth cut short */
}

void mock_call_reply(mock_call_t *c, uint8_t *data, size_t len) {
  if (c->finished || c->dead) {
    free(data);
    return;
  }
  len = corrupt(c, &data, len);
  grpc_byte_buffer *bb = bb_from(data, len);
  if (mock_call_streaming(c)) {
    mock_outmsg *o = tikv__calloc(1, sizeof(*o));
    if (!o) {
      grpc_byte_buffer_destroy(bb);
      return;
    }
    o->bb = bb;
    MOCK_QUEUE_PUSH(c->out_head, c->out_tail, o);
    pump(c);
    return;
  }
  c->finished = true;
  c->status_code = GRPC_STATUS_OK;
  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  c->send_buf = bb;
  ops[0].op = GRPC_OP_SEND_MESSAGE;
  ops[0].data.send_message.send_message = bb;
  fill_status_op(c, &ops[1]);
  if (!start_batch(c, ops, 2, &c->send_tag)) {
    grpc_byte_buffer_destroy(c->send_buf);
    c->send_buf = NULL;
  }
}

void mock_call_reply_msg(mock_call_t *c, const ProtobufCMessage *msg) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = tikv__malloc(n ? n : 1);
  if (!buf) {
    mock_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "mock: out of memory");
    return;
  }
  protobuf_c_message_pack(msg, buf);
  mock_call_reply(c, buf, n);
}

void mock_call_fail(mock_call_t *c, int status, const char *fmt, ...) {
  if (c->finished || c->dead) return;
  c->finished = true;
  va_list ap;
  va_start(ap, fmt);
  char buf[512];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  free(c->status_msg);
  c->status_msg = tikv__strdup(buf);
  c->status_code = status;
  if (mock_call_streaming(c)) {
    c->status_pending = true;
    pump(c);
    return;
  }
  grpc_op ops[1];
  fill_status_op(c, &ops[0]);
  start_batch(c, ops, 1, &c->send_tag);
}

/* ---- batches completing ---- */
static void on_send(tikv__tag_t *tag, bool ok) {
  mock_call_t *c = CONTAINER(tag, mock_call_t, send_tag);
  tikv__loop_tag_finished(loop_of(c));
  if (c->send_buf) {
    grpc_byte_buffer_destroy(c->send_buf);
    c->send_buf = NULL;
  }
  c->sending = false;
  if (!ok) c->dead = true; /* the stream is gone: drop what is queued */
  if (mock_call_streaming(c) && !c->dead) pump(c);
  mock_call_unref(c);
}

static void start_recv(mock_call_t *c, bool with_initial_md) {
  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  size_t n = 0;
  if (with_initial_md) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].data.send_initial_metadata.count = 0;
    n++;
  }
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n].data.recv_message.recv_message = &c->recv_buf;
  n++;
  start_batch(c, ops, n, &c->recv_tag);
}

static void on_recv(tikv__tag_t *tag, bool ok) {
  mock_call_t *c = CONTAINER(tag, mock_call_t, recv_tag);
  tikv__loop_tag_finished(loop_of(c));
  grpc_byte_buffer *bb = c->recv_buf;
  c->recv_buf = NULL;
  if (!ok || !bb) {
    if (bb) grpc_byte_buffer_destroy(bb);
    if (mock_call_streaming(c)) {
      c->client_done = true;
      mock_call_maybe_finish(c);
    } else {
      mock_call_fail(c, GRPC_STATUS_INTERNAL, "mock: no request message");
    }
    mock_call_unref(c);
    return;
  }
  grpc_byte_buffer_reader r;
  grpc_slice s = grpc_empty_slice();
  if (grpc_byte_buffer_reader_init(&r, bb)) {
    s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
  }
  grpc_byte_buffer_destroy(bb);
  mock_dispatch_message(c, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
  grpc_slice_unref(s);
  if (mock_call_streaming(c) && !c->finished && !c->dead) start_recv(c, false);
  mock_call_unref(c);
}

static void on_close(tikv__tag_t *tag, bool ok) {
  mock_call_t *c = CONTAINER(tag, mock_call_t, close_tag);
  tikv__loop_tag_finished(loop_of(c));
  c->closed = true;
  if (c->cancelled) {
    c->dead = true;
    c->finished = true;
  }
  mock_call_unref(c);
}

/* ---- accepting calls ---- */
static void arm(mock_server_t *s);

/* The request id and handler of "/pkg.Service/Method" on this server: PD
 * serves pdpb.PD and keyspacepb.Keyspace, a store tikvpb.Tikv, both the
 * health service. */
static mock_msg_fn route(mock_server_t *s, const char *path, int *req) {
  *req = -1;
  const char *slash = strrchr(path, '/');
  if (!slash || path[0] != '/' || (size_t)(slash - path) >= 64) return NULL;
  char svc[64];
  memcpy(svc, path + 1, (size_t)(slash - path - 1));
  svc[slash - path - 1] = 0;
  int id = tikv__req_by_method(svc, slash + 1);
  if (id < 0) return NULL;
  const ProtobufCServiceDescriptor *sd = tikv__req((tikv__req_id)id)->service;
  mock_msg_fn fn = NULL;
  if (sd == &grpc__health__v1__health__descriptor)
    fn = mock_health_check;
  else if (s->kind == MOCK_SRV_PD &&
           (sd == &pdpb__pd__descriptor || sd == &keyspacepb__keyspace__descriptor))
    fn = mock_pd_route(id);
  else if (s->kind == MOCK_SRV_TIKV && sd == &tikvpb__tikv__descriptor)
    fn = mock_tikv_route(id);
  if (fn) *req = id;
  return fn;
}

static void on_request(tikv__tag_t *tag, bool ok) {
  mock_call_t *c = CONTAINER(tag, mock_call_t, req_tag);
  mock_server_t *s = c->srv;
  tikv__loop_tag_finished(s->m->loop);
  if (!ok) {
    call_free(c);
    return;
  }
  if (s->running && !s->stopping) arm(s);

  char path[256];
  size_t plen = GRPC_SLICE_LENGTH(c->details.method);
  if (plen >= sizeof(path)) plen = sizeof(path) - 1;
  memcpy(path, GRPC_SLICE_START_PTR(c->details.method), plen);
  path[plen] = 0;
  c->on_message = route(s, path, &c->req);

  c->refs = 1; /* held until this function returns */
  grpc_op close_op;
  memset(&close_op, 0, sizeof(close_op));
  close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  close_op.data.recv_close_on_server.cancelled = &c->cancelled;
  start_batch(c, &close_op, 1, &c->close_tag);

  if (!c->on_message) {
    if (s->m->opts.verbose)
      fprintf(stderr, "tikv-mock: %s: unimplemented method %s\n",
              s->kind == MOCK_SRV_PD ? "PD" : "TiKV", path);
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    c->finished = true;
    c->status_code = GRPC_STATUS_UNIMPLEMENTED;
    c->status_msg = tikv__strdup("unknown method");
    fill_status_op(c, &ops[1]);
    start_batch(c, ops, 2, &c->send_tag);
  } else {
    start_recv(c, true);
  }
  mock_call_unref(c);
}

static void arm(mock_server_t *s) {
  mock_call_t *c = tikv__calloc(1, sizeof(*c));
  if (!c) return;
  c->srv = s;
  c->req = -1;
  c->req_tag.fn = on_request;
  c->close_tag.fn = on_close;
  c->recv_tag.fn = on_recv;
  c->send_tag.fn = on_send;
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->md);
  grpc_completion_queue *cq = tikv__loop_cq(s->m->loop);
  tikv__loop_tag_started(s->m->loop);
  grpc_call_error e =
      grpc_server_request_call(s->server, &c->call, &c->details, &c->md, cq, cq, &c->req_tag);
  if (e != GRPC_CALL_OK) {
    tikv__loop_tag_finished(s->m->loop);
    call_free(c);
  }
}

/* ---- latency, pause, injected errors ---- */
static void run_message(mock_call_t *c, const uint8_t *data, size_t len) {
  if (!c->finished && !c->dead) c->on_message(c, data, len);
}

mock_held_t *mock_hold(mock_call_t *c, const uint8_t *data, size_t len) {
  mock_held_t *h = tikv__calloc(1, sizeof(*h) + len);
  if (!h) return NULL;
  h->c = c;
  h->data = h->bytes;
  if (len) memcpy(h->bytes, data, len);
  h->len = len;
  c->pending++;
  mock_call_ref(c);
  return h;
}

void mock_held_release(mock_held_t *h, bool run) {
  mock_call_t *c = h->c;
  c->pending--;
  if (run && h->run)
    h->run(h);
  else if (run)
    run_message(c, h->data, h->len);
  mock_call_maybe_finish(c);
  free(h);
  mock_call_unref(c);
}

static void held_fire(void *arg) { mock_held_release(arg, true); }

void mock_held_after(mock_held_t *h, uint32_t delay_ms) {
  tikv__timer_init(&h->timer);
  tikv__timer_start(h->c->srv->m->loop, &h->timer, delay_ms, held_fire, h);
}

void mock_dispatch_message(mock_call_t *c, const uint8_t *data, size_t len) {
  mock_cluster_t *m = c->srv->m;
  mock_server_t *s = c->srv;
  const char *name = mock_call_method(c);
  bool is_health = c->req == TIKV__REQ_HEALTH_CHECK;
  bool is_batch = c->req == TIKV__REQ_BATCH_COMMANDS;

  pthread_mutex_lock(&m->mu);
  /* a BatchCommands message counts as "BatchCommands", each request in it
   * under its own name (tikv.c) */
  if (s->kind == MOCK_SRV_TIKV && !is_health) mock_count_call(m, name);
  if (s->kind == MOCK_SRV_PD && !is_health) mock_count_pd_call(m, name);
  int status = is_health ? -1 : mock_take_fault(m, MOCK_FAULT_GRPC_ERROR, name, 0);
  mock_held_t *h = NULL;
  if (status < 0 && mock_server_paused(s) && !is_health && (h = mock_hold(c, data, len))) {
    MOCK_QUEUE_PUSH(s->held_head, s->held_tail, h);
    pthread_mutex_unlock(&m->mu);
    return;
  }
  uint32_t delay = (is_health || is_batch) ? 0 : mock_latency_for(m, name);
  pthread_mutex_unlock(&m->mu);
  if (status > 0)
    mock_call_fail(c, status, "mock: injected error for %s", name);
  else if (delay > 0 && (h = mock_hold(c, data, len)))
    mock_held_after(h, delay);
  else
    run_message(c, data, len);
}

void mock_server_release_held(mock_server_t *s, bool run) {
  pthread_mutex_lock(&s->m->mu);
  mock_held_t *h = s->held_head;
  s->held_head = s->held_tail = NULL;
  pthread_mutex_unlock(&s->m->mu);
  while (h) {
    mock_held_t *next = h->next;
    mock_held_release(h, run);
    h = next;
  }
}

bool mock_server_paused(const mock_server_t *s) {
  if (s->kind != MOCK_SRV_PD) return false;
  return s->m->pd_all_paused || mock_pd_member_of(s)->stopped;
}

bool mock_call_has_metadata(const mock_call_t *c, const char *key) {
  size_t n = strlen(key);
  for (size_t i = 0; i < c->md.count; i++) {
    grpc_slice k = c->md.metadata[i].key;
    if (GRPC_SLICE_LENGTH(k) == n && memcmp(GRPC_SLICE_START_PTR(k), key, n) == 0) return true;
  }
  return false;
}

ProtobufCMessage *mock_call_unpack(mock_call_t *c, const uint8_t *data, size_t len) {
  const ProtobufCMessageDescriptor *d = tikv__req((tikv__req_id)c->req)->req;
  ProtobufCMessage *q = protobuf_c_message_unpack(d, NULL, len, data);
  if (!q) mock_call_fail(c, GRPC_STATUS_INTERNAL, "failed to decode %s", d->name);
  return q;
}

/* ---- health ---- */
void mock_health_check(mock_call_t *c, const uint8_t *data, size_t len) {
  Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  r.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  mock_server_t *s = c->srv;
  pthread_mutex_lock(&s->m->mu);
  if (s->kind == MOCK_SRV_TIKV && s->m->stores[s->store_id - 1].not_serving)
    r.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
  pthread_mutex_unlock(&s->m->mu);
  mock_call_reply_msg(c, &r.base);
}

/* ---- server lifecycle (loop thread) ---- */
static void on_shutdown(tikv__tag_t *tag, bool ok) {
  mock_server_t *s = CONTAINER(tag, mock_server_t, shutdown_tag);
  tikv__loop_tag_finished(s->m->loop);
  grpc_server_destroy(s->server);
  s->server = NULL;
  pthread_mutex_lock(&s->m->mu);
  s->running = false;
  s->stopping = false;
  pthread_cond_broadcast(&s->m->cv);
  pthread_mutex_unlock(&s->m->mu);
}

int mock_server_start(mock_server_t *s, const char *host, int port, char *err, size_t errlen) {
  grpc_arg args[3];
  memset(args, 0, sizeof(args));
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = -1;
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  args[1].value.integer = -1;
  args[2].type = GRPC_ARG_INTEGER;
  args[2].key = GRPC_ARG_ALLOW_REUSEPORT;
  args[2].value.integer = 0;
  grpc_channel_args ca = {3, args};
  s->shutdown_tag.fn = on_shutdown;
  s->server = grpc_server_create(&ca, NULL);
  if (!s->server) {
    snprintf(err, errlen, "grpc_server_create failed");
    return -1;
  }
  grpc_server_register_completion_queue(s->server, tikv__loop_cq(s->m->loop), NULL);
  char addr[128];
  snprintf(addr, sizeof(addr), "%s:%d", host, port);
  grpc_server_credentials *creds = mock_tls_server_credentials(s->m);
  int bound = grpc_server_add_http2_port(s->server, addr, creds);
  grpc_server_credentials_release(creds);
  if (bound <= 0) {
    /* gRPC loads the certificate, key and CA here, and says no more */
    snprintf(err, errlen, "cannot listen on %s%s", addr,
             s->m->tls_cert ? " with TLS: the port is taken, or gRPC refused the certificate, "
                              "key or CA (a key that is not the certificate's, PEM that does "
                              "not parse)"
                            : "");
    grpc_server_destroy(s->server);
    s->server = NULL;
    return -1;
  }
  grpc_server_start(s->server);
  s->port = bound;
  s->stopping = false;
  s->running = true;
  for (int i = 0; i < ARMED_REQUESTS; i++) arm(s);
  return 0;
}

void mock_server_wait_stopped(mock_server_t *s) {
  pthread_mutex_lock(&s->m->mu);
  while (s->running) pthread_cond_wait(&s->m->cv, &s->m->mu);
  pthread_mutex_unlock(&s->m->mu);
}

const char *mock_advertised_host(const char *host) {
  if (!host || !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
      strcmp(host, "[::]") == 0)
    return "127.0.0.1";
  return host;
}

void mock_server_stop(mock_server_t *s) {
  if (!s->running || s->stopping) return;
  s->stopping = true;
  tikv__loop_tag_started(s->m->loop);
  grpc_server_shutdown_and_notify(s->server, tikv__loop_cq(s->m->loop), &s->shutdown_tag);
  grpc_server_cancel_all_calls(s->server);
}
