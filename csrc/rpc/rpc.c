/* Connections, requests and streams over the gRPC C core. A unary call is one
 * batch of six ops; it is judged by the status received, not the batch's
 * flag. */
#include "rpc/rpc.h"
#include "rpc/batch.h"
#include "rpc/tls.h"

#include <grpc/byte_buffer_reader.h>
#include <stdio.h>

struct tikv__rpc_call {
  tikv__tag_t tag;
  tikv__rpc_t *rpc;
  tikv__link_t link; /* in rpc->calls */
  grpc_call *call;
  tikv__conn_t *conn;          /* a reference, dropped after the callback */
  const tikv__req_info_t *req; /* path and response type */
  tikv__rpc_cb cb;
  void *arg;
  grpc_metadata_array initial_md, trailing_md;
  grpc_byte_buffer *send_buf, *recv_buf;
  grpc_status_code status;
  grpc_slice details;
  tikv__wait_t wait; /* in its operation's scope: cancelling it cancels the call */
};

/* Calls hold a reference: a connection its owner lets go of (a store found
 * unreachable) is destroyed once its calls are over. Destroying the channel
 * at once would fail every call queued on it with "Channel Destroyed", an
 * error no one can tell from a server's. I/O thread only, but for creation
 * and the last release after the loop stopped. */
struct tikv__conn {
  grpc_channel *channel;
  int refs;
  tikv__batch_conn_t *batch; /* its BatchCommands streams (rpc/batch.h); NULL: none yet */
};

/* Every channel is made here, with the client's credentials. */
static grpc_channel *channel_new(tikv__rpc_t *rpc, const char *target) {
  grpc_arg args[] = {
      {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = -1}},
      {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = -1}},
      /* a store that comes back is reached again within a second */
      {GRPC_ARG_INTEGER, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, {.integer = 100}},
      {GRPC_ARG_INTEGER, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, {.integer = 100}},
      {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, {.integer = 1000}},
      {GRPC_ARG_INTEGER, GRPC_ARG_ENABLE_RETRIES, {.integer = 0}},
      {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 10000}},
      {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 3000}},
      /* one TCP connection per address: without this gRPC may share one
       * subchannel between clients, and a broken store would stall both */
      {GRPC_ARG_INTEGER, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, {.integer = 1}},
  };
  grpc_channel_args ca = {sizeof(args) / sizeof(args[0]), args};
  if (rpc->creds) return grpc_channel_create(target, rpc->creds, &ca);
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  if (!creds) return NULL;
  grpc_channel *ch = grpc_channel_create(target, creds, &ca);
  grpc_channel_credentials_release(creds);
  return ch;
}

tikv__conn_t *tikv__conn_new(tikv__rpc_t *rpc, const char *target) {
  tikv__conn_t *conn = tikv__calloc(1, sizeof(*conn));
  if (!conn) return NULL;
  conn->channel = channel_new(rpc, target);
  if (!conn->channel) {
    free(conn);
    return NULL;
  }
  conn->refs = 1;
  return conn;
}

void tikv__conn_ref(tikv__conn_t *conn) { conn->refs++; }

tikv__batch_conn_t **tikv__conn_batch(tikv__conn_t *conn) { return &conn->batch; }

void tikv__conn_free(tikv__conn_t *conn) {
  if (!conn) return;
  if (--conn->refs > 0) {
    /* only its idle BatchCommands streams hold it: end them; the last to
     * close frees it */
    if (conn->batch && conn->refs == tikv__batch_streams_open(conn->batch))
      tikv__batch_shutdown(conn->batch);
    return;
  }
  tikv__batch_free(conn->batch);
  grpc_channel_destroy(conn->channel);
  free(conn);
}

int tikv__pack(const ProtobufCMessage *msg, grpc_slice *out) {
  /* packed straight into the slice gRPC sends: no copy */
  size_t n = protobuf_c_message_get_packed_size(msg);
  *out = grpc_slice_malloc(n);
  protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(*out));
  return 0;
}

/* The storage of the singular field `name` if m's type has it with this
 * type. */
static void *field(ProtobufCMessage *m, const char *name, ProtobufCType type) {
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
  if (!fd || fd->type != type || fd->label == PROTOBUF_C_LABEL_REPEATED) return NULL;
  return (char *)m + fd->offset;
}

void tikv__pb_set_u64(ProtobufCMessage *m, const char *name, uint64_t v) {
  uint64_t *f = field(m, name, PROTOBUF_C_TYPE_UINT64);
  if (f) *f = v;
}

void tikv__pb_set_bool(ProtobufCMessage *m, const char *name, bool v) {
  protobuf_c_boolean *f = field(m, name, PROTOBUF_C_TYPE_BOOL);
  if (f) *f = v;
}

void tikv__pb_set_bytes(ProtobufCMessage *m, const char *name, const uint8_t *data, size_t len) {
  ProtobufCBinaryData *f = field(m, name, PROTOBUF_C_TYPE_BYTES);
  if (f) *f = (ProtobufCBinaryData){len, (uint8_t *)data};
}

void tikv__pb_set_string(ProtobufCMessage *m, const char *name, const char *s) {
  char **f = field(m, name, PROTOBUF_C_TYPE_STRING);
  if (f) *f = (char *)s;
}

void tikv__pb_set_message(ProtobufCMessage *m, const char *name, const ProtobufCMessage *v) {
  const ProtobufCMessage **f = field(m, name, PROTOBUF_C_TYPE_MESSAGE);
  if (f) *f = v;
}

void *tikv__pb_array(const ProtobufCMessageDescriptor *d, size_t n) {
  size_t align = _Alignof(max_align_t);
  size_t ptrs = ((n ? n : 1) * sizeof(void *) + align - 1) / align * align;
  char *block = tikv__malloc(ptrs + n * d->sizeof_message);
  if (!block) return NULL;
  void **pp = (void **)block;
  for (size_t i = 0; i < n; i++) {
    pp[i] = block + ptrs + i * d->sizeof_message;
    protobuf_c_message_init(d, pp[i]);
  }
  return pp;
}

void tikv__pb_set_repeated(ProtobufCMessage *m, const char *name, size_t n, const void *items) {
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
  if (!fd || fd->label != PROTOBUF_C_LABEL_REPEATED) return;
  *(size_t *)((char *)m + fd->quantifier_offset) = n;
  *(const void **)((char *)m + fd->offset) = items;
}

/* Takes over msg. */
static grpc_byte_buffer *make_buffer(grpc_slice msg) {
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&msg, 1);
  grpc_slice_unref(msg);
  return bb;
}

/* A reply is unpacked into one arena: its messages, arrays and bytes are
 * bump-allocated there (a thousand pairs cost a few mallocs, not three
 * thousand) and freed together. Every block carries its reply in front, so
 * that tikv__reply_free finds the arena from any message of it; a message
 * handed on alone (BatchCommands' sub-replies) holds a reference. */
typedef struct reply {
  tikv__arena_t arena;
  atomic_int refs;
} reply_t;

enum { REPLY_PREFIX = _Alignof(max_align_t) };

static void *reply_alloc(void *data, size_t size) {
  reply_t *r = data;
  if (size > SIZE_MAX - REPLY_PREFIX) return NULL;
  char *p = tikv__arena_alloc(&r->arena, REPLY_PREFIX + size, 0);
  if (!p) return NULL;
  memcpy(p, &r, sizeof(r));
  return p + REPLY_PREFIX;
}

static void reply_no_free(void *data, void *p) { (void)data, (void)p; } /* the arena's */

static reply_t *reply_of(const ProtobufCMessage *m) {
  reply_t *r;
  memcpy(&r, (const char *)m - REPLY_PREFIX, sizeof(r));
  return r;
}

static atomic_size_t replies_live;

size_t tikv__reply_live(void) { return atomic_load_explicit(&replies_live, memory_order_relaxed); }

void tikv__reply_free(ProtobufCMessage *m) {
  if (!m) return;
  reply_t *r = reply_of(m);
  if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1) return;
  tikv__arena_t a = r->arena; /* r lives in it */
  tikv__arena_free(&a);
  atomic_fetch_sub_explicit(&replies_live, 1, memory_order_relaxed);
}

void tikv__reply_keep(ProtobufCMessage *part) {
  atomic_fetch_add_explicit(&reply_of(part)->refs, 1, memory_order_relaxed);
}

ProtobufCMessage *tikv__reply_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                     size_t len) {
  /* unpacked, a reply takes about four times its wire size */
  tikv__arena_t a = {0};
  reply_t *r = len < SIZE_MAX / 8 ? tikv__arena_alloc(&a, sizeof(*r), 4 * len + 512) : NULL;
  if (!r) return NULL;
  r->arena = a;
  atomic_init(&r->refs, 1);
  ProtobufCAllocator al = {reply_alloc, reply_no_free, r};
  ProtobufCMessage *m = protobuf_c_message_unpack(desc, &al, len, data);
  a = r->arena; /* the chunks it grew */
  if (!m)
    tikv__arena_free(&a);
  else
    atomic_fetch_add_explicit(&replies_live, 1, memory_order_relaxed);
  return m;
}

static ProtobufCMessage *unpack_buffer(grpc_byte_buffer *bb,
                                       const ProtobufCMessageDescriptor *desc) {
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) return NULL;
  /* a message in one slice (the usual) is read where it is, not copied */
  grpc_slice *first = NULL, *second = NULL;
  ProtobufCMessage *m;
  if (grpc_byte_buffer_reader_peek(&reader, &first) && !grpc_byte_buffer_reader_peek(&reader, &second)) {
    m = tikv__reply_unpack(desc, GRPC_SLICE_START_PTR(*first), GRPC_SLICE_LENGTH(*first));
  } else {
    grpc_byte_buffer_reader_destroy(&reader);
    if (!grpc_byte_buffer_reader_init(&reader, bb)) return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
    m = tikv__reply_unpack(desc, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
    grpc_slice_unref(s);
  }
  grpc_byte_buffer_reader_destroy(&reader);
  return m;
}

static tikv_error_t *status_error(tikv__rpc_t *rpc, const char *method, grpc_status_code st,
                                  grpc_slice details) {
  /* Transport failures, which the callers retry (region/send.c, pd/pd.c),
   * are the statuses gRPC core itself makes when the connection or the
   * stream breaks: UNAVAILABLE (connect refused, reset, "Socket closed",
   * keepalive timeout, GOAWAY), UNKNOWN (a call cut off without a status:
   * "Channel Destroyed", "Stream removed"), DEADLINE_EXCEEDED (the
   * attempt's deadline), CANCELLED that we did not ask for (RST_STREAM
   * CANCEL). The rest are a server's (or the protocol's) answer to this
   * request, INTERNAL and UNIMPLEMENTED included: resending gets the same. */
  int code;
  switch (st) {
    case GRPC_STATUS_UNAVAILABLE: code = tikv__tls_unavailable_code(details); break;
    case GRPC_STATUS_UNKNOWN: code = TIKV_ERR_UNAVAILABLE; break;
    case GRPC_STATUS_DEADLINE_EXCEEDED: code = TIKV_ERR_TIMEOUT; break;
    case GRPC_STATUS_CANCELLED:
      code = rpc && rpc->closing ? TIKV_ERR_CLOSED : TIKV_ERR_CANCELLED;
      break;
    default: code = TIKV_ERR_GRPC; break;
  }
  const char *name = tikv__grpc_status_name(st);
  tikv_error_t *e = tikv__error_new(code, "%s: gRPC status %s: %.*s%s", method, name,
                                    (int)GRPC_SLICE_LENGTH(details),
                                    (const char *)GRPC_SLICE_START_PTR(details),
                                    tikv__tls_hint(st, details, rpc && rpc->creds));
  e->grpc_status = st;
  tikv__error_set_kind(e, name);
  return e;
}

tikv_error_t *tikv__rpc_status_error(tikv__rpc_t *rpc, const char *method, grpc_status_code st,
                                     grpc_slice details) {
  return status_error(rpc, method, st, details);
}

static void call_free(tikv__rpc_call_t *c) {
  if (c->call) grpc_call_unref(c->call);
  grpc_metadata_array_destroy(&c->initial_md);
  grpc_metadata_array_destroy(&c->trailing_md);
  if (c->send_buf) grpc_byte_buffer_destroy(c->send_buf);
  if (c->recv_buf) grpc_byte_buffer_destroy(c->recv_buf);
  grpc_slice_unref(c->details);
  free(c);
}

static void unary_done(tikv__tag_t *tag, bool ok) {
  tikv__rpc_call_t *c = (tikv__rpc_call_t *)tag;
  tikv__rpc_t *rpc = c->rpc;
  tikv__wait_remove(&c->wait);
  tikv__list_remove(&rpc->calls, &c->link);
  tikv__loop_tag_finished(rpc->loop);
  tikv_error_t *err = NULL;
  ProtobufCMessage *resp = NULL;
  if (!ok) {
    err = tikv__error_new(rpc->closing ? TIKV_ERR_CLOSED : TIKV_ERR_UNAVAILABLE,
                          "%s: call failed", c->req->path);
  } else if (c->status != GRPC_STATUS_OK) {
    err = status_error(rpc, c->req->path, c->status, c->details);
  } else if (!c->recv_buf) {
    err = tikv__error_new(TIKV_ERR_PROTOCOL, "%s: no response message", c->req->path);
  } else if (!(resp = unpack_buffer(c->recv_buf, c->req->resp))) {
    err = tikv__error_new(TIKV_ERR_PROTOCOL, "%s: cannot decode the response", c->req->path);
  }
  tikv__rpc_cb cb = c->cb;
  void *arg = c->arg;
  tikv__conn_t *conn = c->conn;
  call_free(c);
  cb(arg, err, resp);
  tikv__conn_free(conn);
}

/* The scope was cancelled: the call ends with CANCELLED, which its
 * caller sees as a transport failure after the deadline. */
static void unary_wake(tikv__wait_t *w) {
  tikv__rpc_call_t *c = (tikv__rpc_call_t *)((char *)w - offsetof(tikv__rpc_call_t, wait));
  grpc_call_cancel(c->call, NULL);
}

static int unary_start(tikv__rpc_t *rpc, tikv__conn_t *conn, const tikv__req_info_t *req,
                       grpc_slice msg, int64_t deadline_ms, tikv__scope_t *scope, tikv__rpc_cb cb,
                       void *arg) {
  tikv__rpc_call_t *c = tikv__calloc(1, sizeof(*c));
  if (!c) {
    grpc_slice_unref(msg);
    return -1;
  }
  c->tag.fn = unary_done;
  c->rpc = rpc;
  c->req = req;
  c->cb = cb;
  c->arg = arg;
  c->details = grpc_empty_slice();
  grpc_metadata_array_init(&c->initial_md);
  grpc_metadata_array_init(&c->trailing_md);
  c->send_buf = make_buffer(msg);
  grpc_slice path = grpc_slice_from_static_string(req->path);
  c->call = grpc_channel_create_call(conn->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                     tikv__loop_cq(rpc->loop),
                                     path, NULL, tikv__deadline_ms(deadline_ms), NULL);
  if (!c->call || !c->send_buf) {
    call_free(c);
    return -1;
  }
  grpc_op ops[6];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = c->send_buf;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &c->recv_buf;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
  ops[5].data.recv_status_on_client.status = &c->status;
  ops[5].data.recv_status_on_client.status_details = &c->details;
  if (grpc_call_start_batch(c->call, ops, 6, &c->tag, NULL) != GRPC_CALL_OK) {
    call_free(c);
    return -1;
  }
  tikv__list_push(&rpc->calls, &c->link);
  tikv__wait_add(scope, &c->wait, unary_wake);
  tikv__loop_tag_started(rpc->loop);
  c->conn = conn;
  conn->refs++;
  return 0;
}

int tikv__rpc_send(tikv__rpc_t *rpc, tikv__conn_t *conn, tikv__req_id id, grpc_slice msg,
                   int64_t deadline_ms, tikv__scope_t *scope, tikv__rpc_cb cb, void *arg) {
  if (rpc->closing) {
    grpc_slice_unref(msg);
    return -1;
  }
  /* A row with a batch case joins the store's BatchCommands streams
   * (rpc/batch.h) unless they are off or the store refused them; the rest
   * travel as unary calls. */
  const tikv__req_info_t *req = tikv__req(id);
  if (req->batch_case && rpc->batch_streams > 0) {
    int r = tikv__batch_send(rpc, conn, &conn->batch, req, msg, deadline_ms, scope, cb, arg);
    if (r <= 0) return r;
  }
  return unary_start(rpc, conn, req, msg, deadline_ms, scope, cb, arg);
}

int tikv__rpc_unary(tikv__rpc_t *rpc, tikv__conn_t *conn, const tikv__req_info_t *req,
                    grpc_slice msg, int64_t deadline_ms, tikv__scope_t *scope, tikv__rpc_cb cb,
                    void *arg) {
  return unary_start(rpc, conn, req, msg, deadline_ms, scope, cb, arg);
}

/* ---- streams ---- */
struct tikv__stream {
  tikv__rpc_call_t base; /* in the rpc's call list so close cancels it */
  tikv__tag_t start_tag, send_tag, recv_tag, pair_tag;
  const tikv__stream_ops_t *ops;
  void *arg;
  int ops_pending; /* tags outstanding; freed when 0 and status received */
  bool status_done, sending, closed_reported;
  bool pair;      /* in lockstep: the batch of a send and its reply's receive */
  bool receiving; /* the receive alone is posted */
  grpc_byte_buffer *out_buf;
  grpc_byte_buffer *in_buf;
  tikv_error_t *close_err;
};

#define STREAM_OF(tagp, field) ((tikv__stream_t *)((char *)(tagp)-offsetof(tikv__stream_t, field)))

static void stream_maybe_finish(tikv__stream_t *s) {
  if (s->ops_pending || !s->status_done || s->closed_reported) return;
  s->closed_reported = true;
  tikv__rpc_t *rpc = s->base.rpc;
  tikv__list_remove(&rpc->calls, &s->base.link);
  tikv_error_t *err = s->close_err;
  if (!err)
    err = status_error(rpc, s->base.req->path,
                                 s->base.status == GRPC_STATUS_OK ? GRPC_STATUS_UNAVAILABLE
                                                                  : s->base.status,
                                 s->base.details);
  const tikv__stream_ops_t *ops = s->ops;
  void *arg = s->arg;
  tikv__conn_t *conn = s->base.conn;
  if (s->out_buf) grpc_byte_buffer_destroy(s->out_buf);
  if (s->in_buf) grpc_byte_buffer_destroy(s->in_buf);
  call_free(&s->base); /* frees s: base is the first member */
  ops->on_close(arg, err);
  tikv__conn_free(conn);
}

static void stream_op_done(tikv__stream_t *s) {
  s->ops_pending--;
  tikv__loop_tag_finished(s->base.rpc->loop);
}

static void stream_status(tikv__tag_t *tag, bool ok) {
  tikv__stream_t *s = (tikv__stream_t *)tag; /* base.tag */
  stream_op_done(s);
  s->status_done = true;
  /* a status means the call is over: unblock a pending receive */
  grpc_call_cancel(s->base.call, NULL);
  stream_maybe_finish(s);
}

static void start_recv(tikv__stream_t *s);

/* A message received, by the receive alone or by the pair (lockstep). The
 * next receive is posted now only if replies are still owed; otherwise the
 * next send posts it (the top of rpc.h). */
static void received(tikv__stream_t *s, bool ok) {
  grpc_byte_buffer *bb = s->in_buf;
  s->in_buf = NULL;
  if (ok && bb && !s->status_done) {
    ProtobufCMessage *m = unpack_buffer(bb, s->base.req->resp);
    grpc_byte_buffer_destroy(bb);
    if (!m) {
      if (!s->close_err)
        s->close_err = tikv__error_new(TIKV_ERR_PROTOCOL, "%s: cannot decode a stream message",
                                       s->base.req->path);
      grpc_call_cancel(s->base.call, NULL);
    } else {
      s->ops->on_message(s->arg, m);
      if (!s->ops->lockstep && !s->receiving && !s->status_done && s->ops->owed(s->arg))
        start_recv(s);
    }
  } else if (bb) {
    grpc_byte_buffer_destroy(bb);
  }
}

static void stream_recv_done(tikv__tag_t *tag, bool ok) {
  tikv__stream_t *s = STREAM_OF(tag, recv_tag);
  stream_op_done(s);
  s->receiving = false;
  received(s, ok);
  stream_maybe_finish(s);
}

/* The pair ended with the reply (its send was over long before): the user
 * may send again, from on_message. */
static void stream_pair_done(tikv__tag_t *tag, bool ok) {
  tikv__stream_t *s = STREAM_OF(tag, pair_tag);
  stream_op_done(s);
  s->pair = false;
  grpc_byte_buffer_destroy(s->out_buf);
  s->out_buf = NULL;
  received(s, ok);
  stream_maybe_finish(s);
}

static void start_recv(tikv__stream_t *s) {
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &s->in_buf;
  if (grpc_call_start_batch(s->base.call, &op, 1, &s->recv_tag, NULL) == GRPC_CALL_OK) {
    s->receiving = true;
    s->ops_pending++;
    tikv__loop_tag_started(s->base.rpc->loop);
  } else {
    /* without a receive the stream is deaf: end it, on_close reports */
    if (!s->close_err)
      s->close_err = tikv__error_new(TIKV_ERR_INTERNAL, "%s: cannot receive on the stream",
                                     s->base.req->path);
    grpc_call_cancel(s->base.call, NULL);
  }
}

static void stream_start_done(tikv__tag_t *tag, bool ok) {
  tikv__stream_t *s = STREAM_OF(tag, start_tag);
  stream_op_done(s);
  if (!ok) grpc_call_cancel(s->base.call, NULL);
  stream_maybe_finish(s);
}

static void stream_send_done(tikv__tag_t *tag, bool ok) {
  tikv__stream_t *s = STREAM_OF(tag, send_tag);
  stream_op_done(s);
  s->sending = false;
  if (s->out_buf) grpc_byte_buffer_destroy(s->out_buf);
  s->out_buf = NULL;
  if (!s->status_done) s->ops->on_sent(s->arg, ok);
  stream_maybe_finish(s);
}

tikv__stream_t *tikv__stream_open(tikv__rpc_t *rpc, tikv__conn_t *conn, tikv__req_id id,
                                  const tikv__stream_ops_t *ops, void *arg) {
  if (rpc->closing) return NULL;
  tikv__stream_t *s = tikv__calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->base.tag.fn = stream_status;
  s->base.rpc = rpc;
  s->base.req = tikv__req(id);
  s->base.details = grpc_empty_slice();
  grpc_metadata_array_init(&s->base.initial_md);
  grpc_metadata_array_init(&s->base.trailing_md);
  s->start_tag.fn = stream_start_done;
  s->send_tag.fn = stream_send_done;
  s->recv_tag.fn = stream_recv_done;
  s->pair_tag.fn = stream_pair_done;
  s->ops = ops;
  s->arg = arg;
  grpc_slice path = grpc_slice_from_static_string(s->base.req->path);
  s->base.call = grpc_channel_create_call(conn->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                          tikv__loop_cq(rpc->loop), path, NULL,
                                          gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
  if (!s->base.call) {
    call_free(&s->base);
    return NULL;
  }
  grpc_op ops_start[2];
  memset(ops_start, 0, sizeof(ops_start));
  ops_start[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops_start[1].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops_start[1].data.recv_initial_metadata.recv_initial_metadata = &s->base.initial_md;
  grpc_op op_status;
  memset(&op_status, 0, sizeof(op_status));
  op_status.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  op_status.data.recv_status_on_client.trailing_metadata = &s->base.trailing_md;
  op_status.data.recv_status_on_client.status = &s->base.status;
  op_status.data.recv_status_on_client.status_details = &s->base.details;
  /* our initial metadata goes out at once; the peer's must be asked for
   * before (or with) the first message receive */
  if (grpc_call_start_batch(s->base.call, ops_start, 2, &s->start_tag, NULL) != GRPC_CALL_OK) {
    call_free(&s->base);
    return NULL;
  }
  s->ops_pending++;
  tikv__loop_tag_started(rpc->loop);
  if (grpc_call_start_batch(s->base.call, &op_status, 1, &s->base.tag, NULL) != GRPC_CALL_OK) {
    /* cannot happen on a fresh call; cancel and let the start tag finish */
    grpc_call_cancel(s->base.call, NULL);
    s->status_done = true;
  } else {
    s->ops_pending++;
    tikv__loop_tag_started(rpc->loop);
  }
  tikv__list_push(&rpc->calls, &s->base.link);
  s->base.conn = conn;
  conn->refs++;
  /* nothing is owed yet: the first send posts the first receive */
  return s;
}

int tikv__stream_send(tikv__stream_t *s, grpc_slice msg) {
  if (s->sending || s->pair || s->status_done) {
    grpc_slice_unref(msg);
    return -1;
  }
  s->out_buf = make_buffer(msg);
  if (!s->out_buf) return -1;
  bool lockstep = s->ops->lockstep;
  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_MESSAGE;
  ops[0].data.send_message.send_message = s->out_buf;
  ops[1].op = GRPC_OP_RECV_MESSAGE;
  ops[1].data.recv_message.recv_message = &s->in_buf;
  if (grpc_call_start_batch(s->base.call, ops, lockstep ? 2 : 1,
                            lockstep ? &s->pair_tag : &s->send_tag, NULL) != GRPC_CALL_OK) {
    grpc_byte_buffer_destroy(s->out_buf);
    s->out_buf = NULL;
    return -1;
  }
  if (lockstep)
    s->pair = true;
  else
    s->sending = true;
  s->ops_pending++;
  tikv__loop_tag_started(s->base.rpc->loop);
  /* after the send: the window update for the last reply joins its write */
  if (!lockstep && !s->receiving) start_recv(s);
  return 0;
}

void tikv__stream_cancel(tikv__stream_t *s) { grpc_call_cancel(s->base.call, NULL); }

void tikv__rpc_cancel_all(tikv__rpc_t *rpc) {
  rpc->closing = true;
  for (tikv__link_t *l = rpc->calls; l; l = l->next)
    grpc_call_cancel(((tikv__rpc_call_t *)((char *)l - offsetof(tikv__rpc_call_t, link)))->call,
                     NULL);
}
