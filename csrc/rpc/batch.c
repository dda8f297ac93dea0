/* The BatchCommands transport (see batch.h). */
#include "rpc/batch.h"

/* A FIFO of requests through their links (oldest at head). */
typedef struct fifo {
  tikv__link_t *head, *tail;
  size_t n;
} fifo_t;

struct tikv__batch_req {
  tikv__link_t link; /* in its stream's queue or in flight */
  struct bstream *bs;
  fifo_t *in;        /* the fifo holding it */
  uint64_t id;
  const tikv__req_info_t *req;
  grpc_slice msg;    /* the packed body, kept while a refusal may send it again */
  bool has_msg;
  int64_t deadline_ms;
  tikv__rpc_cb cb;
  void *arg;
  tikv__scope_t *scope; /* its operation's, for a unary resend */
  tikv__wait_t wait;    /* in scope while pending: cancelling it fails r */
};

typedef struct bstream {
  tikv__batch_conn_t *bc;
  tikv__stream_t *s; /* NULL: not open */
  bool sending;
  bool flush_posted; /* a flush runs at the end of this I/O-thread turn */
  tikv__task_t flush; /* posted while flush_posted */
  bool got_reply; /* this stream delivered a message */
  fifo_t queued;  /* waiting for the stream to be free */
  fifo_t flight;  /* sent, waiting for replies */
  tikv__timer_t timer; /* the earliest deadline of queued and flight */
} bstream_t;

struct tikv__batch_conn {
  tikv__rpc_t *rpc;
  tikv__conn_t *conn;
  bool unary;   /* the store refused BatchCommands: unary for good */
  bool proven;  /* some stream answered: a body need not be kept after its send */
  uint64_t next_id;
  unsigned next_stream;
  int open;
  int n;
  tikv__batch_req_t *spare; /* finished records kept for the next requests */
  int n_spare;
  bstream_t streams[];
};

/* Records of finished requests are kept (up to SPARE_MAX a connection), so
 * a steady load allocates none: one calloc less per request. */
enum { SPARE_MAX = 512 };

#define REQ_OF(l) ((tikv__batch_req_t *)((char *)(l)-offsetof(tikv__batch_req_t, link)))

static void fifo_push(fifo_t *f, tikv__batch_req_t *r) {
  r->link.next = NULL;
  r->link.prev = f->tail;
  if (f->tail)
    f->tail->next = &r->link;
  else
    f->head = &r->link;
  f->tail = &r->link;
  f->n++;
  r->in = f;
}

static void fifo_remove(fifo_t *f, tikv__batch_req_t *r) {
  tikv__link_t *l = &r->link;
  if (l->prev)
    l->prev->next = l->next;
  else
    f->head = l->next;
  if (l->next)
    l->next->prev = l->prev;
  else
    f->tail = l->prev;
  f->n--;
  r->in = NULL;
}

/* Moves every request of src to the end of dst. */
static void fifo_take(fifo_t *dst, fifo_t *src) {
  while (src->head) {
    tikv__batch_req_t *r = REQ_OF(src->head);
    fifo_remove(src, r);
    fifo_push(dst, r);
  }
}

/* ---- encoding ---- */
static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

grpc_slice tikv__batch_encode(size_t n, const int *cases, const grpc_slice *bodies,
                              const uint64_t *ids) {
  /* BatchCommandsRequest: 1 requests (Request: oneof cmd, field = the batch
   * case, the body as is), 2 request_ids (packed) */
  size_t total = 0, ids_len = 0;
  for (size_t i = 0; i < n; i++) {
    size_t body = GRPC_SLICE_LENGTH(bodies[i]);
    size_t sub = varint_len((uint64_t)cases[i] << 3 | 2) + varint_len(body) + body;
    total += 1 + varint_len(sub) + sub;
    ids_len += varint_len(ids[i]);
  }
  if (n) total += 1 + varint_len(ids_len) + ids_len;
  grpc_slice out = grpc_slice_malloc(total);
  uint8_t *p = GRPC_SLICE_START_PTR(out);
  for (size_t i = 0; i < n; i++) {
    size_t body = GRPC_SLICE_LENGTH(bodies[i]);
    uint64_t tag = (uint64_t)cases[i] << 3 | 2;
    size_t sub = varint_len(tag) + varint_len(body) + body;
    *p++ = 0x0a;
    p = put_varint(p, sub);
    p = put_varint(p, tag);
    p = put_varint(p, body);
    memcpy(p, GRPC_SLICE_START_PTR(bodies[i]), body);
    p += body;
  }
  if (n) {
    *p++ = 0x12;
    p = put_varint(p, ids_len);
    for (size_t i = 0; i < n; i++) p = put_varint(p, ids[i]);
  }
  return out;
}

/* ---- requests ---- */
/* r leaves this layer: its operation can no longer cancel it here. */
static void forget(tikv__batch_req_t *r) { tikv__wait_remove(&r->wait); }

static tikv__batch_req_t *req_new(tikv__batch_conn_t *bc) {
  tikv__batch_req_t *r = bc->spare;
  if (!r) return tikv__calloc(1, sizeof(*r));
  bc->spare = r->link.next ? REQ_OF(r->link.next) : NULL;
  bc->n_spare--;
  memset(r, 0, sizeof(*r));
  return r;
}

/* r is off every queue and out of its scope. */
static void req_recycle(tikv__batch_conn_t *bc, tikv__batch_req_t *r) {
  if (bc->n_spare >= SPARE_MAX) {
    free(r);
    return;
  }
  r->link.next = bc->spare ? &bc->spare->link : NULL;
  bc->spare = r;
  bc->n_spare++;
}

static void drop_msg(tikv__batch_req_t *r) {
  if (r->has_msg) grpc_slice_unref(r->msg);
  r->has_msg = false;
}

/* Completes r (already out of its fifo) and frees it. */
static void finish(tikv__batch_req_t *r, tikv_error_t *err, ProtobufCMessage *resp) {
  tikv__batch_conn_t *bc = r->bs->bc;
  tikv__conn_t *conn = bc->conn;
  tikv__rpc_cb cb = r->cb;
  void *arg = r->arg;
  forget(r);
  drop_msg(r);
  req_recycle(bc, r); /* bc outlives it: the request's reference to conn is dropped below */
  cb(arg, err, resp);
  tikv__conn_free(conn); /* the request's reference */
}

static void fail_all(fifo_t *f, const tikv_error_t *err) {
  while (f->head) {
    tikv__batch_req_t *r = REQ_OF(f->head);
    fifo_remove(f, r);
    /* "/tikvpb.Tikv/RawPut: /tikvpb.Tikv/BatchCommands: gRPC status ..." */
    tikv_error_t *e = tikv__error_dup(err);
    tikv__error_prefix(e, "%s", r->req->path);
    finish(r, e, NULL);
  }
}

/* ---- deadlines ---- */
static void on_timer(void *arg);

static void arm(bstream_t *bs, int64_t deadline_ms) {
  tikv__loop_t *loop = bs->bc->rpc->loop;
  if (tikv__timer_active(&bs->timer) && bs->timer.when <= deadline_ms) return;
  tikv__timer_start(loop, &bs->timer, deadline_ms - tikv__now_ms(), on_timer, bs);
}

static void expire(fifo_t *f, int64_t now, fifo_t *out, int64_t *next) {
  for (tikv__link_t *l = f->head, *nl; l; l = nl) {
    nl = l->next;
    tikv__batch_req_t *r = REQ_OF(l);
    if (r->deadline_ms <= now) {
      fifo_remove(f, r);
      fifo_push(out, r);
    } else if (*next == 0 || r->deadline_ms < *next) {
      *next = r->deadline_ms;
    }
  }
}

/* The earliest deadline passed: those requests fail as a unary call past
 * its deadline does (DEADLINE_EXCEEDED: TIMEOUT, a transport error to
 * region/send.c). Their replies, if they come, are dropped. */
static void on_timer(void *arg) {
  bstream_t *bs = arg;
  tikv__rpc_t *rpc = bs->bc->rpc;
  int64_t now = tikv__now_ms(), next = 0;
  fifo_t out = {0};
  expire(&bs->queued, now, &out, &next);
  expire(&bs->flight, now, &out, &next);
  /* while stopping, timers fire early; the streams' close fails the rest */
  if (next && !tikv__loop_stopping(rpc->loop)) arm(bs, next);
  if (!out.head) return;
  grpc_slice details = grpc_slice_from_static_string("Deadline Exceeded");
  while (out.head) {
    tikv__batch_req_t *r = REQ_OF(out.head);
    fifo_remove(&out, r);
    finish(r, tikv__rpc_status_error(rpc, r->req->path, GRPC_STATUS_DEADLINE_EXCEEDED, details),
           NULL);
  }
}

/* ---- streams ---- */
static void flush(bstream_t *bs) {
  if (!bs->s || bs->sending || !bs->queued.head) return;
  size_t n = bs->queued.n < TIKV__BATCH_MAX ? bs->queued.n : TIKV__BATCH_MAX;
  int cases[TIKV__BATCH_MAX] = {0};
  grpc_slice bodies[TIKV__BATCH_MAX] = {{0}};
  uint64_t ids[TIKV__BATCH_MAX] = {0};
  tikv__link_t *l = bs->queued.head;
  for (size_t i = 0; i < n; i++, l = l->next) {
    tikv__batch_req_t *r = REQ_OF(l);
    cases[i] = r->req->batch_case;
    bodies[i] = r->msg;
    ids[i] = r->id;
  }
  grpc_slice msg = tikv__batch_encode(n, cases, bodies, ids);
  if (tikv__stream_send(bs->s, msg) != 0) {
    /* the stream is ending: on_close fails what it holds */
    tikv__stream_cancel(bs->s);
    return;
  }
  bs->sending = true;
  for (size_t i = 0; i < n; i++) {
    tikv__batch_req_t *r = REQ_OF(bs->queued.head);
    fifo_remove(&bs->queued, r);
    fifo_push(&bs->flight, r);
    if (bs->bc->proven) drop_msg(r);
  }
}

/* The flush of what this turn of the I/O thread queued: every request
 * submitted in one turn (the callbacks of one reply message resubmitting,
 * a batch split by region) leaves in one message, and none waits longer
 * than the turn. The task holds a connection reference. */
static void flush_task(void *arg) {
  bstream_t *bs = arg;
  tikv__conn_t *conn = bs->bc->conn;
  bs->flush_posted = false;
  flush(bs);
  tikv__conn_free(conn);
}

static void flush_soon(bstream_t *bs) {
  if (bs->sending || bs->flush_posted) return;
  bs->flush = (tikv__task_t){.fn = flush_task, .arg = bs};
  if (tikv__loop_post_task(bs->bc->rpc->loop, &bs->flush) != 0) {
    flush(bs); /* stopping: at once */
    return;
  }
  bs->flush_posted = true;
  tikv__conn_ref(bs->bc->conn);
}

static void on_sent(void *arg, bool ok) {
  bstream_t *bs = arg;
  bs->sending = false;
  if (!ok) {
    tikv__stream_cancel(bs->s); /* broken: on_close follows */
    return;
  }
  flush(bs);
}

static tikv__batch_req_t *find(fifo_t *f, uint64_t id) {
  /* replies come mostly in order: the oldest is the likeliest */
  for (tikv__link_t *l = f->head; l; l = l->next)
    if (REQ_OF(l)->id == id) return REQ_OF(l);
  return NULL;
}

static void on_message(void *arg, ProtobufCMessage *m) {
  bstream_t *bs = arg;
  Tikvpb__BatchCommandsResponse *r = (Tikvpb__BatchCommandsResponse *)m;
  bs->got_reply = true;
  bs->bc->proven = true;
  size_t n = r->n_responses < r->n_request_ids ? r->n_responses : r->n_request_ids;
  for (size_t i = 0; i < n; i++) {
    tikv__batch_req_t *q = find(&bs->flight, r->request_ids[i]);
    if (!q) continue; /* timed out or cancelled: answered already */
    fifo_remove(&bs->flight, q);
    Tikvpb__BatchCommandsResponse__Response *one = r->responses[i];
    /* every member of the oneof is a message pointer at the same place */
    ProtobufCMessage *sub = (ProtobufCMessage *)one->get;
    if ((int)one->cmd_case != q->req->batch_case || !sub || sub->descriptor != q->req->resp) {
      finish(q,
             tikv__error_new(TIKV_ERR_PROTOCOL, "%s: BatchCommands reply of another kind (case %d)",
                             q->req->path, (int)one->cmd_case),
             NULL);
      continue;
    }
    /* handed on alone: it keeps the envelope's arena until freed */
    tikv__reply_keep(sub);
    finish(q, NULL, sub);
  }
  tikv__reply_free(m);
}

static void on_close(void *arg, tikv_error_t *err) {
  bstream_t *bs = arg;
  tikv__batch_conn_t *bc = bs->bc;
  tikv__rpc_t *rpc = bc->rpc;
  bool refused = err->grpc_status == GRPC_STATUS_UNIMPLEMENTED && !bs->got_reply && !bc->proven;
  bs->s = NULL;
  bs->sending = false;
  bs->got_reply = false;
  bc->open--;
  if (tikv__timer_active(&bs->timer)) tikv__timer_cancel(rpc->loop, &bs->timer);
  /* what it held leaves the stream first: callbacks may send again */
  fifo_t held = {0};
  fifo_take(&held, &bs->flight);
  fifo_take(&held, &bs->queued);
  if (refused && !rpc->closing) {
    bc->unary = true;
    while (held.head) {
      tikv__batch_req_t *r = REQ_OF(held.head);
      fifo_remove(&held, r);
      if (!r->has_msg) {
        finish(r, tikv__error_dup(err), NULL);
        continue;
      }
      r->has_msg = false;
      forget(r); /* a unary call now, which its scope cancels as such */
      if (tikv__rpc_unary(rpc, bc->conn, r->req, r->msg, r->deadline_ms, r->scope, r->cb,
                          r->arg) == 0) {
        tikv__conn_t *conn = bc->conn;
        req_recycle(bc, r);
        tikv__conn_free(conn);
      } else {
        finish(r, tikv__error_new(rpc->closing ? TIKV_ERR_CLOSED : TIKV_ERR_UNAVAILABLE,
                                  "%s: cannot start the call", r->req->path),
               NULL);
      }
    }
  } else {
    fail_all(&held, err);
  }
  tikv__error_free(err);
}

/* requests sent and not answered (a send in flight carries some) */
static bool owed(void *arg) {
  bstream_t *bs = arg;
  return bs->flight.head != NULL || bs->sending;
}

static const tikv__stream_ops_t stream_ops = {on_message, on_close, on_sent, owed, false};

/* ---- the connection's state ---- */
static void cancel_req(tikv__wait_t *w);
int tikv__batch_send(tikv__rpc_t *rpc, tikv__conn_t *conn, tikv__batch_conn_t **slot,
                     const tikv__req_info_t *req, grpc_slice msg, int64_t deadline_ms,
                     tikv__scope_t *scope, tikv__rpc_cb cb, void *arg) {
  tikv__batch_conn_t *bc = *slot;
  if (!bc) {
    int n = rpc->batch_streams > 0 ? rpc->batch_streams : 1;
    bc = tikv__calloc(1, sizeof(*bc) + (size_t)n * sizeof(bstream_t));
    if (!bc) return 1; /* unary then */
    bc->rpc = rpc;
    bc->conn = conn;
    bc->n = n;
    for (int i = 0; i < n; i++) {
      bc->streams[i].bc = bc;
      tikv__timer_init(&bc->streams[i].timer);
    }
    *slot = bc;
  }
  if (bc->unary) return 1;
  bstream_t *bs = &bc->streams[bc->next_stream++ % (unsigned)bc->n];
  if (!bs->s) {
    bs->s = tikv__stream_open(rpc, conn, TIKV__REQ_BATCH_COMMANDS, &stream_ops, bs);
    if (!bs->s) return 1;
    bc->open++;
  }
  tikv__batch_req_t *r = req_new(bc);
  if (!r) {
    grpc_slice_unref(msg);
    return -1;
  }
  r->bs = bs;
  r->id = ++bc->next_id;
  r->req = req;
  r->msg = msg;
  r->has_msg = true;
  r->deadline_ms = deadline_ms;
  r->cb = cb;
  r->arg = arg;
  tikv__conn_ref(conn);
  fifo_push(&bs->queued, r);
  arm(bs, deadline_ms);
  r->scope = scope;
  tikv__wait_add(scope, &r->wait, cancel_req);
  flush_soon(bs);
  return 0;
}

/* Its operation was cancelled: r fails now; not sent yet, it never will be. */
static void cancel_req(tikv__wait_t *w) {
  tikv__batch_req_t *r = (tikv__batch_req_t *)((char *)w - offsetof(tikv__batch_req_t, wait));
  if (!r->in) return;
  fifo_remove(r->in, r);
  grpc_slice details = grpc_slice_from_static_string("Cancelled");
  tikv_error_t *e = tikv__rpc_status_error(NULL, r->req->path, GRPC_STATUS_CANCELLED, details);
  finish(r, e, NULL);
}

int tikv__batch_streams_open(const tikv__batch_conn_t *bc) { return bc ? bc->open : 0; }

void tikv__batch_shutdown(tikv__batch_conn_t *bc) {
  for (int i = 0; i < bc->n; i++)
    if (bc->streams[i].s) tikv__stream_cancel(bc->streams[i].s);
}

void tikv__batch_free(tikv__batch_conn_t *bc) {
  if (!bc) return;
  while (bc->spare) {
    tikv__batch_req_t *r = bc->spare;
    bc->spare = r->link.next ? REQ_OF(r->link.next) : NULL;
    free(r);
  }
  for (int i = 0; i < bc->n; i++)
    if (tikv__timer_active(&bc->streams[i].timer))
      tikv__timer_cancel(bc->rpc->loop, &bc->streams[i].timer);
  free(bc);
}
