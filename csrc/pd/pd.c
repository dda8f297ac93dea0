/* The PD client: finds the leader through GetMembers (trying every
 * configured endpoint), sends unary calls to it with the cluster id in the
 * header, follows it when it changes, and batches timestamp requests over
 * the bidirectional Tso stream. I/O thread only. */
#include <stdio.h>

#include "pd/pd.h"
#include "pd/validate.h"

#define PD_TRY_TIMEOUT_MS 3000 /* one endpoint's GetMembers before trying the next */

typedef struct {
  tikv__link_t link; /* first: in pd->waiters */
  void (*cb)(void *arg, tikv_error_t *err);
  void *arg;
  tikv__timer_t timer;
  tikv__pd_t *pd;
} waiter_t;

static void discover(tikv__pd_t *pd);

/* ---- waiting for a leader ---- */
static void waiter_timeout(void *arg) {
  waiter_t *w = arg;
  tikv__pd_t *pd = w->pd;
  tikv__list_remove(&pd->waiters, &w->link);
  tikv_error_t *err;
  if (tikv__loop_stopping(pd->rpc->loop))
    err = tikv__error_new(TIKV_ERR_CLOSED, "client closed while waiting for PD");
  else if (pd->last_err)
    err = tikv__error_new(TIKV_ERR_TIMEOUT, "no PD leader within the deadline; last error: %s",
                          pd->last_err->message);
  else
    err = tikv__error_new(TIKV_ERR_TIMEOUT, "no PD leader within the deadline");
  void (*cb)(void *, tikv_error_t *) = w->cb;
  void *cb_arg = w->arg;
  free(w);
  cb(cb_arg, err);
}

/* Every waiter: a leader was found (err NULL), or err (copied) ends them. */
static void wake_waiters(tikv__pd_t *pd, const tikv_error_t *err) {
  while (pd->waiters) {
    waiter_t *w = (waiter_t *)pd->waiters;
    tikv__list_remove(&pd->waiters, &w->link);
    tikv__timer_cancel(pd->rpc->loop, &w->timer);
    void (*cb)(void *, tikv_error_t *) = w->cb;
    void *arg = w->arg;
    free(w);
    cb(arg, err ? tikv__error_dup(err) : NULL);
  }
}

void tikv__pd_connect(tikv__pd_t *pd, int64_t deadline, void (*cb)(void *arg, tikv_error_t *err),
                      void *arg) {
  if (pd->leader) {
    cb(arg, NULL);
    return;
  }
  waiter_t *w = tikv__calloc(1, sizeof(*w));
  if (!w) {
    cb(arg, tikv__oom());
    return;
  }
  w->cb = cb;
  w->arg = arg;
  w->pd = pd;
  tikv__timer_init(&w->timer);
  tikv__list_push(&pd->waiters, &w->link);
  tikv__timer_start(pd->rpc->loop, &w->timer, deadline - tikv__now_ms(), waiter_timeout, w);
  if (!pd->discovering) discover(pd);
}

/* ---- discovery ---- */
typedef struct {
  tikv__pd_t *pd;
  size_t idx; /* endpoint being tried */
  size_t tls_failures; /* endpoints of this round whose TLS handshake failed */
  tikv__timer_t timer;
} discovery_t;

static void try_endpoint(discovery_t *d);

static void set_pd_error(tikv__pd_t *pd, tikv_error_t *err) {
  tikv__error_free(pd->last_err);
  pd->last_err = err;
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
  if (tikv__loop_stopping(d->pd->rpc->loop) || !d->pd->waiters) {
    d->pd->discovering = false;
    free(d);
    return;
  }
  d->idx = d->tls_failures = 0;
  try_endpoint(d);
}

static void members_done(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  discovery_t *d = arg;
  tikv__pd_t *pd = d->pd;
  Pdpb__GetMembersResponse *resp = (Pdpb__GetMembersResponse *)msg;
  if (!err) err = tikv__check_members(resp);
  if (!err && resp->header && resp->header->error && resp->header->error->type != 0)
    err = tikv__error_new(TIKV_ERR_PD, "GetMembers: %s", resp->header->error->message);
  if (!err && (!resp->leader || resp->leader->n_client_urls == 0))
    err = tikv__error_new(TIKV_ERR_PD, "GetMembers: PD has no leader yet");
  if (!err) {
    char *addr = strip_scheme(resp->leader->client_urls[0]);
    tikv__conn_t *conn = addr ? tikv__conn_new(pd->rpc, addr) : NULL;
    free(addr);
    if (!conn) {
      err = tikv__error_new(TIKV_ERR_NO_MEMORY, "cannot create a channel to the PD leader");
    } else {
      tikv__conn_free(pd->leader);
      pd->leader = conn;
      atomic_store(&pd->cluster_id, resp->header ? resp->header->cluster_id : 0);
      tikv__backoff_init(&pd->bo, 100, 1000);
    }
  }
  if (msg) protobuf_c_message_free_unpacked(msg, NULL);
  if (!err) {
    pd->discovering = false;
    free(d);
    wake_waiters(pd, NULL);
    return;
  }
  tikv__error_prefix(err, "PD %s", pd->endpoints[d->idx]);
  set_pd_error(pd, err);
  if (tikv__loop_stopping(pd->rpc->loop)) {
    pd->discovering = false;
    free(d);
    return;
  }
  d->tls_failures += err->code == TIKV_ERR_TLS;
  if (++d->idx < pd->n_endpoints) {
    try_endpoint(d);
    return;
  }
  /* no endpoint takes our TLS: waiting cannot cure that (a rotation of the
   * files is picked up by the next connect) */
  if (d->tls_failures == pd->n_endpoints) wake_waiters(pd, err);
  tikv__timer_start(pd->rpc->loop, &d->timer, tikv__backoff_next(&pd->bo), retry_discovery, d);
}

static void try_endpoint(discovery_t *d) {
  tikv__pd_t *pd = d->pd;
  Pdpb__GetMembersRequest req = PDPB__GET_MEMBERS_REQUEST__INIT;
  Pdpb__RequestHeader hdr = PDPB__REQUEST_HEADER__INIT;
  hdr.cluster_id = atomic_load(&pd->cluster_id);
  req.header = &hdr;
  grpc_slice msg;
  int64_t deadline = tikv__now_ms() + PD_TRY_TIMEOUT_MS;
  if (tikv__pack(&req.base, &msg) == 0 &&
      tikv__rpc_send(pd->rpc, pd->conns[d->idx], TIKV__REQ_PD_GET_MEMBERS, msg, deadline,
                     members_done, d) == 0)
    return;
  set_pd_error(pd, tikv__error_new(TIKV_ERR_NO_MEMORY, "cannot start GetMembers"));
  pd->discovering = false;
  free(d);
}

static void discover(tikv__pd_t *pd) {
  discovery_t *d = tikv__calloc(1, sizeof(*d));
  if (!d) return; /* waiters time out with the last error */
  d->pd = pd;
  tikv__timer_init(&d->timer);
  pd->discovering = true;
  try_endpoint(d);
}

void tikv__pd_reset_leader(tikv__pd_t *pd) {
  tikv__conn_free(pd->leader);
  pd->leader = NULL;
  if (pd->tso_stream) tikv__stream_cancel(pd->tso_stream);
}

/* ---- unary calls with retry ---- */
typedef struct {
  tikv__pd_t *pd;
  tikv__req_id req;
  ProtobufCMessage *msg; /* the caller's; its header is set for each attempt */
  Pdpb__RequestHeader hdr;
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
  if (tikv__loop_stopping(p->pd->rpc->loop) || err->code == TIKV_ERR_CLOSED) {
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
  tikv__timer_start(p->pd->rpc->loop, &p->timer, sleep, pd_retry_timer, p);
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
    if (!(err = tikv__check_pd_reply(p->req, p->msg, resp))) {
      pd_finish(p, NULL, resp);
      return;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
  }
  if (err->code == TIKV_ERR_PROTOCOL && !tikv__req_is_read(p->req)) {
    pd_finish(p, err, NULL); /* a write's reply we cannot read: not resent */
    return;
  }
  if (err->code == TIKV_ERR_TLS) {
    pd_finish(p, err, NULL); /* as a connect's: retrying cannot cure it */
    return;
  }
  if (err->code == TIKV_ERR_UNAVAILABLE || err->code == TIKV_ERR_TIMEOUT ||
      err->code == TIKV_ERR_GRPC) {
    /* the leader may have moved or died: find it again */
    tikv__pd_reset_leader(p->pd);
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
  /* the cluster id may be new: PD's leader was found (again) */
  p->hdr.cluster_id = atomic_load(&p->pd->cluster_id);
  tikv__pb_set_message(p->msg, "header", &p->hdr.base);
  grpc_slice msg;
  tikv__pack(p->msg, &msg);
  p->attempts++;
  if (tikv__rpc_send(p->pd->rpc, p->pd->leader, p->req, msg, p->deadline, pd_reply, p) != 0)
    pd_finish(p, tikv__error_new(p->pd->rpc->closing ? TIKV_ERR_CLOSED : TIKV_ERR_NO_MEMORY,
                                 "%s: cannot start the call", tikv__req(p->req)->path),
              NULL);
}

static void pd_attempt(pd_call_t *p) { tikv__pd_connect(p->pd, p->deadline, pd_connected, p); }

void tikv__pd_call(tikv__pd_t *pd, tikv__req_id id, ProtobufCMessage *msg, int64_t deadline,
                   tikv__pd_cb cb, void *arg) {
  pd_call_t *p = tikv__calloc(1, sizeof(*p));
  if (!p) {
    cb(arg, tikv__oom(), NULL);
    return;
  }
  *p = (pd_call_t){.pd = pd, .req = id, .msg = msg, .hdr = PDPB__REQUEST_HEADER__INIT,
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

static void tso_flush(tikv__pd_t *pd);

static void tso_fail_list(tikv__tso_waiter_t *w, const tikv_error_t *err) {
  while (w) {
    tikv__tso_waiter_t *next = w->next;
    w->cb(w->arg, tikv__error_dup(err), 0);
    free(w);
    w = next;
  }
}

/* Fails every request not sent yet with err (consumed). */
static void tso_fail_queue(tikv__pd_t *pd, tikv_error_t *err) {
  tikv__tso_waiter_t *q = pd->tso_queue;
  pd->tso_queue = NULL;
  pd->tso_queue_end = &pd->tso_queue;
  tso_fail_list(q, err);
  tikv__error_free(err);
}

static void tso_on_message(void *arg, ProtobufCMessage *msg) {
  tikv__pd_t *pd = arg;
  Pdpb__TsoResponse *r = (Pdpb__TsoResponse *)msg;
  tikv__tso_waiter_t *batch = pd->tso_sent;
  size_t n = pd->tso_sent_count;
  pd->tso_sent = NULL;
  pd->tso_sent_count = 0;
  pd->tso_inflight = false;
  tikv__timer_cancel(pd->rpc->loop, &pd->tso_timer);
  tikv_error_t *err = NULL;
  if (r->header && r->header->error && r->header->error->type != 0)
    err = tikv__error_new(TIKV_ERR_PD, "Tso: %s", r->header->error->message);
  else
    err = tikv__check_tso(r, n);
  if (err) {
    tso_fail_list(batch, err);
    tikv__error_free(err);
  } else {
    size_t i = 0;
    for (tikv__tso_waiter_t *w = batch; w; i++) {
      tikv__tso_waiter_t *next = w->next;
      uint64_t ts = tikv__tso_compose(r->timestamp, n, i);
      if (ts <= pd->tso_last) {
        /* PD must never go backwards; refuse rather than break isolation */
        w->cb(w->arg, tikv__error_new(TIKV_ERR_PROTOCOL, "Tso: timestamp went backwards"), 0);
      } else {
        pd->tso_last = ts;
        w->cb(w->arg, NULL, ts);
      }
      free(w);
      w = next;
    }
  }
  protobuf_c_message_free_unpacked(msg, NULL);
  tso_flush(pd);
}

/* The reply to a batch can arrive before its send completes; a batch queued
 * meanwhile could not be sent (one send at a time) and goes now. */
static void tso_on_sent(void *arg, bool ok) {
  if (ok) tso_flush(arg);
}

static void tso_on_close(void *arg, tikv_error_t *err) {
  tikv__pd_t *pd = arg;
  pd->tso_stream = NULL;
  pd->tso_inflight = false;
  tikv__tso_waiter_t *batch = pd->tso_sent;
  pd->tso_sent = NULL;
  pd->tso_sent_count = 0;
  tikv__timer_cancel(pd->rpc->loop, &pd->tso_timer);
  if (pd->tso_timed_out && err->code != TIKV_ERR_CLOSED) {
    tikv_error_t *t = tikv__error_new(TIKV_ERR_TIMEOUT, "Tso: no timestamp within the deadline");
    tikv__error_free(err);
    err = t;
  }
  pd->tso_timed_out = false;
  tso_fail_list(batch, err);
  if (err->code != TIKV_ERR_CLOSED && !tikv__loop_stopping(pd->rpc->loop)) tikv__pd_reset_leader(pd);
  tikv__error_free(err);
  if (tikv__loop_stopping(pd->rpc->loop)) {
    tso_fail_queue(pd, tikv__error_new(TIKV_ERR_CLOSED, "client closed"));
    return;
  }
  tso_flush(pd);
}

/* A batch that gets no answer by its earliest deadline: PD is stuck. Cancel
 * the stream; on_close fails the batch with TIMEOUT and the next request
 * opens a new stream (after finding the leader again). */
static void tso_deadline(void *arg) {
  tikv__pd_t *pd = arg;
  pd->tso_timed_out = true;
  if (pd->tso_stream) tikv__stream_cancel(pd->tso_stream);
}

static const tikv__stream_ops_t TSO_OPS = {tso_on_message, tso_on_close, tso_on_sent};

static void tso_connected(void *arg, tikv_error_t *err) {
  tikv__pd_t *pd = arg;
  pd->tso_inflight = false;
  if (err) {
    tso_fail_queue(pd, err);
    return;
  }
  tso_flush(pd);
}

static void tso_flush(tikv__pd_t *pd) {
  if (pd->tso_inflight || !pd->tso_queue) return;
  if (!pd->leader) {
    pd->tso_inflight = true; /* a connect is pending */
    int64_t deadline = pd->tso_queue->deadline;
    tikv__pd_connect(pd, deadline, tso_connected, pd);
    return;
  }
  if (!pd->tso_stream) {
    pd->tso_stream = tikv__stream_open(pd->rpc, pd->leader, TIKV__REQ_PD_TSO, &TSO_OPS, pd);
    if (!pd->tso_stream) {
      tso_fail_queue(pd, tikv__error_new(TIKV_ERR_UNAVAILABLE, "cannot open the Tso stream"));
      return;
    }
  }
  size_t n = 0;
  int64_t earliest = INT64_MAX;
  for (tikv__tso_waiter_t *w = pd->tso_queue; w; w = w->next) {
    n++;
    if (w->deadline < earliest) earliest = w->deadline;
  }
  Pdpb__TsoRequest req = PDPB__TSO_REQUEST__INIT;
  Pdpb__RequestHeader hdr = PDPB__REQUEST_HEADER__INIT;
  hdr.cluster_id = atomic_load(&pd->cluster_id);
  req.header = &hdr;
  req.count = (uint32_t)n;
  grpc_slice msg;
  if (tikv__pack(&req.base, &msg) != 0) return;
  int rc = tikv__stream_send(pd->tso_stream, msg);
  /* busy with the previous send (on_sent flushes again) or closing (on_close
   * does) */
  if (rc != 0) return;
  pd->tso_sent = pd->tso_queue;
  pd->tso_sent_count = n;
  pd->tso_queue = NULL;
  pd->tso_queue_end = &pd->tso_queue;
  pd->tso_inflight = true;
  tikv__timer_start(pd->rpc->loop, &pd->tso_timer, earliest - tikv__now_ms(), tso_deadline, pd);
}

void tikv__pd_get_ts(tikv__pd_t *pd, int64_t deadline,
                     void (*cb)(void *arg, tikv_error_t *err, uint64_t ts), void *arg) {
  tikv__tso_waiter_t *w = tikv__calloc(1, sizeof(*w));
  if (!w) {
    cb(arg, tikv__oom(), 0);
    return;
  }
  *w = (tikv__tso_waiter_t){cb, arg, deadline, NULL};
  *pd->tso_queue_end = w;
  pd->tso_queue_end = &w->next;
  tso_flush(pd);
}

int tikv__pd_init(tikv__pd_t *pd, tikv__rpc_t *rpc, char *const *endpoints, size_t n) {
  memset(pd, 0, sizeof(*pd));
  pd->rpc = rpc;
  pd->endpoints = endpoints;
  pd->n_endpoints = n;
  tikv__backoff_init(&pd->bo, 100, 1000);
  tikv__timer_init(&pd->tso_timer);
  pd->tso_queue_end = &pd->tso_queue;
  pd->conns = tikv__calloc(n, sizeof(tikv__conn_t *));
  if (!pd->conns) return -1;
  for (size_t i = 0; i < n; i++)
    if (!(pd->conns[i] = tikv__conn_new(rpc, endpoints[i]))) return -1;
  return 0;
}

void tikv__pd_free(tikv__pd_t *pd) {
  tikv__conn_free(pd->leader);
  pd->leader = NULL;
  for (size_t i = 0; pd->conns && i < pd->n_endpoints; i++) tikv__conn_free(pd->conns[i]);
  free(pd->conns);
  pd->conns = NULL;
  tikv__error_free(pd->last_err);
  pd->last_err = NULL;
}

uint64_t tikv__pd_cluster_id(tikv__pd_t *pd) { return atomic_load(&pd->cluster_id); }
