/* The PD client: finds the leader through GetMembers (trying every
 * configured endpoint), sends unary calls to it with the cluster id in the
 * header, follows it when it changes, and batches timestamp requests over
 * the bidirectional Tso stream. I/O thread only. */
#include <stdio.h>

#include "region/cluster.h"

#define PD_TRY_TIMEOUT_MS 3000 /* one endpoint's GetMembers before trying the next */

struct tikv__pd_waiter {
  void (*cb)(void *arg, tikv_error_t *err);
  void *arg;
  int64_t deadline;
  tikv__timer_t timer;
  tikv_client_t *c;
  tikv__pd_waiter_t *prev, *next;
};

static void discover(tikv_client_t *c);

/* ---- waiting for a leader ---- */
static void waiter_unlink(tikv_client_t *c, tikv__pd_waiter_t *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    c->pd_waiters = w->next;
  if (w->next) w->next->prev = w->prev;
}

static void waiter_timeout(void *arg) {
  tikv__pd_waiter_t *w = arg;
  tikv_client_t *c = w->c;
  waiter_unlink(c, w);
  tikv_error_t *err;
  if (tikv__loop_stopping(c->loop))
    err = tikv__error_new(TIKV_ERR_CLOSED, "client closed while waiting for PD");
  else if (c->pd_last_err)
    err = tikv__error_new(TIKV_ERR_TIMEOUT, "no PD leader within the deadline; last error: %s",
                          c->pd_last_err->message);
  else
    err = tikv__error_new(TIKV_ERR_TIMEOUT, "no PD leader within the deadline");
  void (*cb)(void *, tikv_error_t *) = w->cb;
  void *cb_arg = w->arg;
  free(w);
  cb(cb_arg, err);
}

static void wake_waiters(tikv_client_t *c) {
  while (c->pd_waiters) {
    tikv__pd_waiter_t *w = c->pd_waiters;
    waiter_unlink(c, w);
    tikv__timer_cancel(c->loop, &w->timer);
    void (*cb)(void *, tikv_error_t *) = w->cb;
    void *arg = w->arg;
    free(w);
    cb(arg, NULL);
  }
}

void tikv__pd_connect(tikv_client_t *c, int64_t deadline, void (*cb)(void *arg, tikv_error_t *err),
                      void *arg) {
  if (c->pd_leader) {
    cb(arg, NULL);
    return;
  }
  tikv__pd_waiter_t *w = tikv__calloc(1, sizeof(*w));
  if (!w) {
    cb(arg, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  w->cb = cb;
  w->arg = arg;
  w->c = c;
  w->deadline = deadline;
  tikv__timer_init(&w->timer);
  w->next = c->pd_waiters;
  if (c->pd_waiters) c->pd_waiters->prev = w;
  c->pd_waiters = w;
  tikv__timer_start(c->loop, &w->timer, deadline - tikv__now_ms(), waiter_timeout, w);
  if (!c->pd_discovering) discover(c);
}

/* ---- discovery ---- */
typedef struct {
  tikv_client_t *c;
  size_t idx; /* endpoint being tried */
  tikv__timer_t timer;
} discovery_t;

static void try_endpoint(discovery_t *d);

static void set_pd_error(tikv_client_t *c, tikv_error_t *err) {
  tikv__error_free(c->pd_last_err);
  c->pd_last_err = err;
}

static char *strip_scheme(const char *url) {
  const char *p = strstr(url, "://");
  const char *host = p ? p + 3 : url;
  char *s = tikv__strdup(host);
  if (s) {
    size_t n = strlen(s);
    if (n && s[n - 1] == '/') s[n - 1] = 0;
  }
  return s;
}

static void retry_discovery(void *arg) {
  discovery_t *d = arg;
  if (tikv__loop_stopping(d->c->loop) || !d->c->pd_waiters) {
    d->c->pd_discovering = false;
    free(d);
    return;
  }
  d->idx = 0;
  try_endpoint(d);
}

static void members_done(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  discovery_t *d = arg;
  tikv_client_t *c = d->c;
  Pdpb__GetMembersResponse *resp = (Pdpb__GetMembersResponse *)msg;
  if (!err && resp->header && resp->header->error && resp->header->error->type != 0)
    err = tikv__error_new(TIKV_ERR_PD, "GetMembers: %s", resp->header->error->message);
  if (!err && (!resp->leader || resp->leader->n_client_urls == 0))
    err = tikv__error_new(TIKV_ERR_PD, "GetMembers: PD has no leader yet");
  if (!err) {
    char *addr = strip_scheme(resp->leader->client_urls[0]);
    tikv__conn_t *ch = addr ? tikv__conn_new(&c->rpc, addr) : NULL;
    if (!ch) {
      free(addr);
      err = tikv__error_new(TIKV_ERR_NO_MEMORY, "cannot create a channel to the PD leader");
    } else {
      tikv__conn_free(c->pd_leader);
      free(c->pd_leader_addr);
      c->pd_leader = ch;
      c->pd_leader_addr = addr;
      atomic_store(&c->cluster_id, resp->header ? resp->header->cluster_id : 0);
      tikv__backoff_init(&c->pd_bo, 100, 1000);
    }
  }
  if (msg) protobuf_c_message_free_unpacked(msg, NULL);
  if (!err) {
    c->pd_discovering = false;
    free(d);
    wake_waiters(c);
    return;
  }
  tikv__error_prefix(err, "PD %s", c->cfg.pd_endpoints[d->idx]);
  set_pd_error(c, err);
  if (tikv__loop_stopping(c->loop)) {
    c->pd_discovering = false;
    free(d);
    return;
  }
  if (++d->idx < c->cfg.n_pd) {
    try_endpoint(d);
    return;
  }
  tikv__timer_start(c->loop, &d->timer, tikv__backoff_next(&c->pd_bo), retry_discovery, d);
}

static void try_endpoint(discovery_t *d) {
  tikv_client_t *c = d->c;
  Pdpb__GetMembersRequest req = PDPB__GET_MEMBERS_REQUEST__INIT;
  Pdpb__RequestHeader hdr = PDPB__REQUEST_HEADER__INIT;
  hdr.cluster_id = atomic_load(&c->cluster_id);
  req.header = &hdr;
  grpc_slice msg;
  int64_t deadline = tikv__now_ms() + PD_TRY_TIMEOUT_MS;
  if (tikv__pack(&req.base, &msg) == 0 &&
      tikv__rpc_send(&c->rpc, c->pd_conns[d->idx], TIKV__REQ_PD_GET_MEMBERS, msg, deadline,
                     members_done, d) == 0)
    return;
  set_pd_error(c, tikv__error_new(TIKV_ERR_NO_MEMORY, "cannot start GetMembers"));
  c->pd_discovering = false;
  free(d);
}

static void discover(tikv_client_t *c) {
  discovery_t *d = tikv__calloc(1, sizeof(*d));
  if (!d) return; /* waiters time out with the last error */
  d->c = c;
  tikv__timer_init(&d->timer);
  c->pd_discovering = true;
  try_endpoint(d);
}

void tikv__pd_reset_leader(tikv_client_t *c) {
  tikv__conn_free(c->pd_leader);
  c->pd_leader = NULL;
  free(c->pd_leader_addr);
  c->pd_leader_addr = NULL;
  if (c->tso_stream) tikv__stream_cancel(c->tso_stream);
}

/* ---- unary calls with retry ---- */
typedef struct {
  tikv_client_t *c;
  tikv__req_id req;
  tikv__pd_build build;
  int64_t deadline;
  tikv__pd_cb cb;
  void *arg;
  tikv__backoff_t bo;
  tikv__timer_t timer;
  tikv_error_t *last;
  int attempts;
} pd_call_t;

static void pd_attempt(pd_call_t *p);

static void pd_finish(pd_call_t *p, tikv_error_t *err, ProtobufCMessage *resp) {
  tikv__pd_cb cb = p->cb;
  void *arg = p->arg;
  tikv__error_free(p->last);
  free(p);
  cb(arg, err, resp);
}

static void pd_retry_timer(void *arg) { pd_attempt(arg); }

static void pd_retry_later(pd_call_t *p, tikv_error_t *err) {
  tikv__error_free(p->last);
  p->last = err;
  int64_t now = tikv__now_ms();
  if (tikv__loop_stopping(p->c->loop) || err->code == TIKV_ERR_CLOSED) {
    pd_finish(p, tikv__error_new(TIKV_ERR_CLOSED, "client closed"), NULL);
    return;
  }
  int sleep = tikv__backoff_next(&p->bo);
  if (now + sleep >= p->deadline) {
    tikv_error_t *e = tikv__error_new(TIKV_ERR_TIMEOUT, "%s: deadline exceeded after %d attempts; last error: %s",
                                      tikv__req(p->req)->path, p->attempts, err->message);
    e->grpc_status = err->grpc_status;
    pd_finish(p, e, NULL);
    return;
  }
  tikv__timer_start(p->c->loop, &p->timer, sleep, pd_retry_timer, p);
}

static void pd_reply(void *arg, tikv_error_t *err, ProtobufCMessage *resp) {
  pd_call_t *p = arg;
  if (!err) {
    /* every PD response has `ResponseHeader header = 1` */
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(tikv__req(p->req)->resp, "header");
    Pdpb__ResponseHeader *h = fd ? *(Pdpb__ResponseHeader **)((char *)resp + fd->offset) : NULL;
    if (h && h->error && h->error->type != PDPB__ERROR_TYPE__OK) {
      const ProtobufCEnumValue *ev =
          protobuf_c_enum_descriptor_get_value(&pdpb__error_type__descriptor, h->error->type);
      tikv_error_t *e = tikv__error_new(TIKV_ERR_PD, "%s: PD error %s: %s", tikv__req(p->req)->path,
                                        ev ? ev->name : "UNKNOWN", h->error->message);
      tikv__error_set_kind(e, ev ? ev->name : "UNKNOWN");
      protobuf_c_message_free_unpacked(resp, NULL);
      pd_finish(p, e, NULL);
      return;
    }
    pd_finish(p, NULL, resp);
    return;
  }
  if (err->code == TIKV_ERR_UNAVAILABLE || err->code == TIKV_ERR_TIMEOUT ||
      err->code == TIKV_ERR_GRPC) {
    /* the leader may have moved or died: find it again */
    tikv__pd_reset_leader(p->c);
  }
  pd_retry_later(p, err);
}

static void pd_connected(void *arg, tikv_error_t *err) {
  pd_call_t *p = arg;
  if (err) {
    if (p->last) tikv__error_prefix(err, "after %s", p->last->message);
    pd_finish(p, err, NULL);
    return;
  }
  Pdpb__RequestHeader hdr = PDPB__REQUEST_HEADER__INIT;
  hdr.cluster_id = atomic_load(&p->c->cluster_id);
  grpc_slice msg;
  if (p->build(p->arg, &hdr, &msg) != 0) {
    pd_finish(p, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"), NULL);
    return;
  }
  p->attempts++;
  if (tikv__rpc_send(&p->c->rpc, p->c->pd_leader, p->req, msg, p->deadline, pd_reply, p) != 0)
    pd_finish(p, tikv__error_new(p->c->rpc.closing ? TIKV_ERR_CLOSED : TIKV_ERR_NO_MEMORY,
                                 "%s: cannot start the call", tikv__req(p->req)->path),
              NULL);
}

static void pd_attempt(pd_call_t *p) { tikv__pd_connect(p->c, p->deadline, pd_connected, p); }

void tikv__pd_call(tikv_client_t *c, tikv__req_id id, tikv__pd_build build, int64_t deadline,
                   tikv__pd_cb cb, void *arg) {
  pd_call_t *p = tikv__calloc(1, sizeof(*p));
  if (!p) {
    cb(arg, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"), NULL);
    return;
  }
  *p = (pd_call_t){.c = c, .req = id, .build = build,
                   .deadline = deadline, .cb = cb, .arg = arg};
  tikv__backoff_init(&p->bo, 100, 2000);
  tikv__timer_init(&p->timer);
  pd_attempt(p);
}

/* ---- TSO ----
 * Requests queue up while one batch is in flight; the next batch carries all
 * of them (count = n) and PD answers with the last timestamp of the batch. */
struct tikv__tso_waiter {
  void (*cb)(void *arg, tikv_error_t *err, uint64_t ts);
  void *arg;
  int64_t deadline;
  tikv__tso_waiter_t *next;
};

static void tso_flush(tikv_client_t *c);

static void tso_fail_list(tikv__tso_waiter_t *w, tikv_error_t *err) {
  while (w) {
    tikv__tso_waiter_t *next = w->next;
    w->cb(w->arg, tikv__error_dup(err), 0);
    free(w);
    w = next;
  }
}

static void tso_on_message(void *arg, ProtobufCMessage *msg) {
  tikv_client_t *c = arg;
  Pdpb__TsoResponse *r = (Pdpb__TsoResponse *)msg;
  tikv__tso_waiter_t *batch = c->tso_sent;
  size_t n = c->tso_sent_count;
  c->tso_sent = NULL;
  c->tso_sent_count = 0;
  c->tso_inflight = false;
  tikv__timer_cancel(c->loop, &c->tso_timer);
  tikv_error_t *err = NULL;
  if (r->header && r->header->error && r->header->error->type != 0)
    err = tikv__error_new(TIKV_ERR_PD, "Tso: %s", r->header->error->message);
  else if (!r->timestamp || r->count != n)
    err = tikv__error_new(TIKV_ERR_PROTOCOL, "Tso: asked for %zu timestamps, got %u", n, r->count);
  if (err) {
    tso_fail_list(batch, err);
    tikv__error_free(err);
  } else {
    uint32_t bits = r->timestamp->suffix_bits;
    int64_t first_logical = r->timestamp->logical - ((int64_t)(n - 1) << bits);
    size_t i = 0;
    for (tikv__tso_waiter_t *w = batch; w; i++) {
      tikv__tso_waiter_t *next = w->next;
      int64_t logical = first_logical + ((int64_t)i << bits);
      uint64_t ts = ((uint64_t)r->timestamp->physical << 18) + (uint64_t)logical;
      if (ts <= c->tso_last) {
        /* PD must never go backwards; refuse rather than break isolation */
        w->cb(w->arg, tikv__error_new(TIKV_ERR_PROTOCOL, "Tso: timestamp went backwards"), 0);
      } else {
        c->tso_last = ts;
        w->cb(w->arg, NULL, ts);
      }
      free(w);
      w = next;
    }
  }
  protobuf_c_message_free_unpacked(msg, NULL);
  tso_flush(c);
}

/* The reply to a batch can arrive before its send completes; a batch queued
 * meanwhile could not be sent (one send at a time) and goes now. */
static void tso_on_sent(void *arg, bool ok) {
  if (ok) tso_flush(arg);
}

static void tso_on_close(void *arg, tikv_error_t *err) {
  tikv_client_t *c = arg;
  c->tso_stream = NULL;
  c->tso_inflight = false;
  tikv__tso_waiter_t *batch = c->tso_sent;
  c->tso_sent = NULL;
  c->tso_sent_count = 0;
  tikv__timer_cancel(c->loop, &c->tso_timer);
  if (c->tso_timed_out && err->code != TIKV_ERR_CLOSED) {
    tikv_error_t *t = tikv__error_new(TIKV_ERR_TIMEOUT, "Tso: no timestamp within the deadline");
    tikv__error_free(err);
    err = t;
  }
  c->tso_timed_out = false;
  tso_fail_list(batch, err);
  if (err->code != TIKV_ERR_CLOSED && !tikv__loop_stopping(c->loop)) tikv__pd_reset_leader(c);
  tikv__error_free(err);
  if (tikv__loop_stopping(c->loop)) {
    tikv_error_t *e = tikv__error_new(TIKV_ERR_CLOSED, "client closed");
    tikv__tso_waiter_t *q = c->tso_queue;
    c->tso_queue = c->tso_queue_tail = NULL;
    tso_fail_list(q, e);
    tikv__error_free(e);
    return;
  }
  tso_flush(c);
}

/* A batch that gets no answer by its earliest deadline: PD is stuck. Cancel
 * the stream; on_close fails the batch with TIMEOUT and the next request
 * opens a new stream (after finding the leader again). */
static void tso_deadline(void *arg) {
  tikv_client_t *c = arg;
  c->tso_timed_out = true;
  if (c->tso_stream) tikv__stream_cancel(c->tso_stream);
}

static const tikv__stream_ops_t TSO_OPS = {tso_on_message, tso_on_close, tso_on_sent};

static void tso_connected(void *arg, tikv_error_t *err) {
  tikv_client_t *c = arg;
  c->tso_inflight = false;
  if (err) {
    tikv__tso_waiter_t *q = c->tso_queue;
    c->tso_queue = c->tso_queue_tail = NULL;
    tso_fail_list(q, err);
    tikv__error_free(err);
    return;
  }
  tso_flush(c);
}

static void tso_flush(tikv_client_t *c) {
  if (c->tso_inflight || !c->tso_queue) return;
  if (!c->pd_leader) {
    c->tso_inflight = true; /* a connect is pending */
    int64_t deadline = c->tso_queue->deadline;
    tikv__pd_connect(c, deadline, tso_connected, c);
    return;
  }
  if (!c->tso_stream) {
    c->tso_stream = tikv__stream_open(&c->rpc, c->pd_leader, TIKV__REQ_PD_TSO, &TSO_OPS, c);
    if (!c->tso_stream) {
      tikv_error_t *e = tikv__error_new(TIKV_ERR_UNAVAILABLE, "cannot open the Tso stream");
      tikv__tso_waiter_t *q = c->tso_queue;
      c->tso_queue = c->tso_queue_tail = NULL;
      tso_fail_list(q, e);
      tikv__error_free(e);
      return;
    }
  }
  size_t n = 0;
  int64_t earliest = INT64_MAX;
  for (tikv__tso_waiter_t *w = c->tso_queue; w; w = w->next) {
    n++;
    if (w->deadline < earliest) earliest = w->deadline;
  }
  Pdpb__TsoRequest req = PDPB__TSO_REQUEST__INIT;
  Pdpb__RequestHeader hdr = PDPB__REQUEST_HEADER__INIT;
  hdr.cluster_id = atomic_load(&c->cluster_id);
  req.header = &hdr;
  req.count = (uint32_t)n;
  grpc_slice msg;
  if (tikv__pack(&req.base, &msg) != 0) return;
  int rc = tikv__stream_send(c->tso_stream, msg);
  /* busy with the previous send (on_sent flushes again) or closing (on_close
   * does) */
  if (rc != 0) return;
  c->tso_sent = c->tso_queue;
  c->tso_sent_count = n;
  c->tso_queue = c->tso_queue_tail = NULL;
  c->tso_inflight = true;
  tikv__timer_start(c->loop, &c->tso_timer, earliest - tikv__now_ms(), tso_deadline, c);
}

void tikv__pd_get_ts(tikv_client_t *c, int64_t deadline,
                     void (*cb)(void *arg, tikv_error_t *err, uint64_t ts), void *arg) {
  tikv__tso_waiter_t *w = tikv__calloc(1, sizeof(*w));
  if (!w) {
    cb(arg, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"), 0);
    return;
  }
  w->cb = cb;
  w->arg = arg;
  w->deadline = deadline;
  if (c->tso_queue_tail)
    c->tso_queue_tail->next = w;
  else
    c->tso_queue = w;
  c->tso_queue_tail = w;
  tso_flush(c);
}

void tikv__pd_close(tikv_client_t *c) {
  /* cancel_all has cancelled every call and the Tso stream; waiters for a
   * leader get CLOSED through their timers (fired at once while stopping) */
}

void tikv__pd_free(tikv_client_t *c) {
  tikv__conn_free(c->pd_leader);
  c->pd_leader = NULL;
  free(c->pd_leader_addr);
  c->pd_leader_addr = NULL;
  for (size_t i = 0; c->pd_conns && i < c->cfg.n_pd; i++) tikv__conn_free(c->pd_conns[i]);
  free(c->pd_conns);
  c->pd_conns = NULL;
  tikv__error_free(c->pd_last_err);
  c->pd_last_err = NULL;
}
