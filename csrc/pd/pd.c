/* The PD client: finds the leader through GetMembers (trying every
 * configured endpoint and every member PD listed), sends unary calls to it
 * with the cluster id in the header, follows it when it changes, and
 * batches timestamp requests over the bidirectional Tso stream, which is
 * reopened on the new leader with its requests when the leader changes.
 * I/O thread only. */
#include <stdio.h>

#include "pd/pd.h"
#include "pd/validate.h"

#define PD_TRY_TIMEOUT_MS 3000 /* one endpoint's GetMembers before trying the next */
#define PD_REFRESH_MS 60000    /* client-go's member update interval */

/* What PD answers on a member that does not lead (gRPC status or header
 * error): the leader is elsewhere, or being elected. tikv/pd's own client
 * treats these as a leader change (errs.IsLeaderChange). */
static bool is_leader_change(const char *msg) {
  static const char *const MARKS[] = {"not leader", "mismatch leader id", "is not served",
                                      "not primary", "no leader", "leader not found"};
  for (size_t i = 0; msg && i < sizeof(MARKS) / sizeof(MARKS[0]); i++)
    if (strstr(msg, MARKS[i])) return true;
  return false;
}

static tikv__retry_cause pd_cause(const tikv_error_t *err) {
  return is_leader_change(err->message) ? TIKV__RETRY_PD_NOT_LEADER : TIKV__RETRY_PD_TRANSPORT;
}

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

/* Waits for a leader until deadline, or until scope (NULL: none) is
 * cancelled. */
static void connect_until(tikv__pd_t *pd, int64_t deadline, tikv__scope_t *scope,
                          void (*cb)(void *arg, tikv_error_t *err), void *arg) {
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
  tikv__timer_start_in(pd->rpc->loop, &w->timer, scope, deadline - tikv__now_ms(), waiter_timeout,
                       w);
  if (!pd->discovering) discover(pd);
}

void tikv__pd_connect(tikv__pd_t *pd, tikv__scope_t *scope,
                      void (*cb)(void *arg, tikv_error_t *err), void *arg) {
  connect_until(pd, scope->deadline, scope, cb, arg);
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

/* Adds addr (taken) to the endpoints discovery tries, unless there: 0, or
 * -1 on OOM (a learned member left out: those known already still serve). */
static int add_endpoint(tikv__pd_t *pd, char *addr) {
  for (size_t i = 0; i < pd->n_eps; i++)
    if (!strcmp(pd->eps[i].addr, addr)) {
      free(addr);
      return 0;
    }
  tikv__conn_t *conn = NULL;
  if (tikv__grow(&pd->eps, &pd->cap_eps, pd->n_eps + 1, sizeof(*pd->eps)) ||
      !(conn = tikv__conn_new(pd->rpc, addr))) {
    free(addr);
    return -1;
  }
  pd->eps[pd->n_eps++] = (tikv__pd_endpoint_t){addr, conn};
  return 0;
}

/* Every member's client URLs join the endpoints: a configuration naming
 * one member still finds the others when that one dies. */
static void learn_members(tikv__pd_t *pd, const Pdpb__GetMembersResponse *resp) {
  for (size_t i = 0; i < resp->n_members; i++) {
    const Pdpb__Member *m = resp->members[i];
    for (size_t j = 0; m && j < m->n_client_urls; j++) {
      char *addr = m->client_urls[j] && m->client_urls[j][0] ? strip_scheme(m->client_urls[j]) : NULL;
      if (addr && addr[0])
        (void)add_endpoint(pd, addr);
      else
        free(addr);
    }
  }
}

static void refresh_fire(void *arg);

/* resp's leader becomes ours: NULL, or why not. */
static tikv_error_t *take_leader(tikv__pd_t *pd, const Pdpb__GetMembersResponse *resp) {
  char *addr = strip_scheme(resp->leader->client_urls[0]);
  tikv__conn_t *conn = addr ? tikv__conn_new(pd->rpc, addr) : NULL;
  if (!conn) {
    free(addr);
    return tikv__error_new(TIKV_ERR_NO_MEMORY, "cannot create a channel to the PD leader");
  }
  tikv__conn_free(pd->leader);
  pd->leader = conn;
  pd->leader_gen++;
  uint64_t was = pd->leader_id;
  pd->leader_id = resp->leader->member_id;
  atomic_store(&pd->cluster_id, resp->header ? resp->header->cluster_id : 0);
  tikv__backoff_init(&pd->bo, 100, 1000);
  if (was && was != pd->leader_id) {
    tikv__stats_retry(pd->stats, TIKV__STAT_PD_LEADER_CHANGE, NULL, 0);
    tikv__event_emit(pd->stats, TIKV_EVENT_PD_LEADER_CHANGE, 0, 0,
                     "PD leader changed to %s (member %llu, was %llu)", addr,
                     (unsigned long long)pd->leader_id, (unsigned long long)was);
  }
  free(addr);
  if (!tikv__timer_active(&pd->refresh_timer))
    tikv__timer_start(pd->rpc->loop, &pd->refresh_timer, PD_REFRESH_MS, refresh_fire, pd);
  return NULL;
}

/* A GetMembers reply's verdict: NULL when it names a leader. */
static tikv_error_t *check_members_reply(tikv_error_t *err, const Pdpb__GetMembersResponse *resp) {
  if (!err) err = tikv__check_members(resp);
  if (!err && resp->header && resp->header->error && resp->header->error->type != 0)
    err = tikv__error_new(TIKV_ERR_PD, "GetMembers: %s", resp->header->error->message);
  if (!err && (!resp->leader || resp->leader->n_client_urls == 0))
    err = tikv__error_new(TIKV_ERR_PD, "GetMembers: PD has no leader yet");
  return err;
}

static void members_done(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  discovery_t *d = arg;
  tikv__pd_t *pd = d->pd;
  Pdpb__GetMembersResponse *resp = (Pdpb__GetMembersResponse *)msg;
  /* a member without a leader still tells who the members are */
  if (!err && !tikv__check_members(resp)) learn_members(pd, resp);
  err = check_members_reply(err, resp);
  if (!err) err = take_leader(pd, resp);
  if (msg) tikv__reply_free(msg);
  if (!err) {
    pd->discovering = false;
    free(d);
    wake_waiters(pd, NULL);
    return;
  }
  tikv__error_prefix(err, "PD %s", pd->eps[d->idx].addr);
  set_pd_error(pd, err);
  if (tikv__loop_stopping(pd->rpc->loop)) {
    pd->discovering = false;
    free(d);
    return;
  }
  d->tls_failures += err->code == TIKV_ERR_TLS;
  if (++d->idx < pd->n_eps) {
    try_endpoint(d);
    return;
  }
  /* no endpoint takes our TLS: waiting cannot cure that (a rotation of the
   * files is picked up by the next connect) */
  if (d->tls_failures == pd->n_eps) wake_waiters(pd, err);
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
      tikv__rpc_send(pd->rpc, pd->eps[d->idx].conn, TIKV__REQ_PD_GET_MEMBERS, msg, deadline,
                     NULL, members_done, d) == 0)
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

/* ---- the periodic member refresh: learns members that joined, and drops
 * a leader PD no longer names (the next call finds the new one) ---- */
typedef struct {
  tikv__pd_t *pd;
  uint64_t gen; /* the leader asked */
} refresh_t;

static void refresh_done(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  refresh_t *r = arg;
  tikv__pd_t *pd = r->pd;
  Pdpb__GetMembersResponse *resp = (Pdpb__GetMembersResponse *)msg;
  pd->refreshing = false;
  err = check_members_reply(err, resp);
  if (!err && !tikv__loop_stopping(pd->rpc->loop)) {
    learn_members(pd, resp);
    if (r->gen == pd->leader_gen && pd->leader && resp->leader->member_id != pd->leader_id)
      tikv__pd_reset_leader(pd);
  }
  tikv__error_free(err); /* the calls find out for themselves */
  if (msg) tikv__reply_free(msg);
  free(r);
}

static void refresh_fire(void *arg) {
  tikv__pd_t *pd = arg;
  if (tikv__loop_stopping(pd->rpc->loop)) return;
  tikv__timer_start(pd->rpc->loop, &pd->refresh_timer, PD_REFRESH_MS, refresh_fire, pd);
  if (!pd->leader || pd->refreshing || pd->discovering) return;
  refresh_t *r = tikv__malloc(sizeof(*r));
  if (!r) return;
  *r = (refresh_t){pd, pd->leader_gen};
  Pdpb__GetMembersRequest req = PDPB__GET_MEMBERS_REQUEST__INIT;
  Pdpb__RequestHeader hdr = PDPB__REQUEST_HEADER__INIT;
  hdr.cluster_id = atomic_load(&pd->cluster_id);
  req.header = &hdr;
  grpc_slice msg;
  if (tikv__pack(&req.base, &msg) == 0 &&
      tikv__rpc_send(pd->rpc, pd->leader, TIKV__REQ_PD_GET_MEMBERS, msg,
                     tikv__now_ms() + PD_TRY_TIMEOUT_MS, NULL, refresh_done, r) == 0) {
    pd->refreshing = true;
    return;
  }
  free(r);
}

/* ---- unary calls with retry ---- */
typedef struct {
  tikv__pd_t *pd;
  tikv__req_id req;
  ProtobufCMessage *msg; /* the caller's; its header is set for each attempt */
  Pdpb__RequestHeader hdr;
  tikv__scope_t *scope;
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

/* Ends p at its deadline, naming the last attempt's error. */
static void pd_expire(pd_call_t *p) {
  tikv_error_t *e = tikv__error_new(TIKV_ERR_TIMEOUT, "%s: deadline exceeded after %d attempts; last error: %s",
                                    tikv__req(p->req)->path, p->attempts, p->last->message);
  e->grpc_status = p->last->grpc_status;
  pd_finish(p, e, NULL);
}

static void pd_retry_timer(void *arg) {
  pd_call_t *p = arg;
  if (tikv__scope_expired(p->scope))
    pd_expire(p); /* cancelled during the backoff */
  else
    pd_attempt(p);
}

static void pd_retry_later(pd_call_t *p, tikv_error_t *err, tikv__retry_cause cause) {
  tikv__error_free(p->last);
  p->last = err;
  int64_t now = tikv__now_ms();
  if (tikv__loop_stopping(p->pd->rpc->loop) || err->code == TIKV_ERR_CLOSED) {
    pd_finish(p, tikv__error_new(TIKV_ERR_CLOSED, "client closed"), NULL);
    return;
  }
  int sleep = tikv__backoff_next(&p->bo);
  if (now + sleep >= p->scope->deadline) {
    pd_expire(p);
    return;
  }
  tikv__stats_retry(p->pd->stats, cause, err, sleep);
  tikv__timer_start_in(p->pd->rpc->loop, &p->timer, p->scope, sleep, pd_retry_timer, p);
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
      tikv__reply_free(resp);
      if (!is_leader_change(e->message)) {
        pd_finish(p, e, NULL);
        return;
      }
      /* a member that does not lead (or PD between leaders): find the
       * leader again */
      tikv__pd_reset_leader(p->pd);
      pd_retry_later(p, e, TIKV__RETRY_PD_NOT_LEADER);
      return;
    }
    if (!(err = tikv__check_pd_reply(p->req, p->msg, resp))) {
      pd_finish(p, NULL, resp);
      return;
    }
    tikv__reply_free(resp);
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
  pd_retry_later(p, err, pd_cause(err));
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
  if (tikv__rpc_send(p->pd->rpc, p->pd->leader, p->req, msg, p->scope->deadline, p->scope, pd_reply, p) != 0)
    pd_finish(p, tikv__error_new(p->pd->rpc->closing ? TIKV_ERR_CLOSED : TIKV_ERR_NO_MEMORY,
                                 "%s: cannot start the call", tikv__req(p->req)->path),
              NULL);
}

static void pd_attempt(pd_call_t *p) { tikv__pd_connect(p->pd, p->scope, pd_connected, p); }

void tikv__pd_call(tikv__pd_t *pd, tikv__req_id id, ProtobufCMessage *msg, tikv__scope_t *scope,
                   tikv__pd_cb cb, void *arg) {
  pd_call_t *p = tikv__calloc(1, sizeof(*p));
  if (!p) {
    cb(arg, tikv__oom(), NULL);
    return;
  }
  *p = (pd_call_t){.pd = pd, .req = id, .msg = msg, .hdr = PDPB__REQUEST_HEADER__INIT,
                   .scope = scope, .cb = cb, .arg = arg};
  tikv__backoff_init(&p->bo, 100, 2000);
  tikv__timer_init(&p->timer);
  pd_attempt(p);
}

/* ---- TSO ----
 * Requests queue up while one batch is in flight; the next batch carries all
 * of them (count = n) and PD answers with the last timestamp of the batch.
 * When the stream ends (the leader died or moved) the batch it carried goes
 * back to the head of the queue, the leader is found again and a new stream
 * takes them all: a request fails only when its own deadline passes. */
struct tikv__tso_waiter {
  /* NULL once answered early (its operation was cancelled while its batch
   * was in flight): its place in the batch stays, its timestamp is dropped */
  void (*cb)(void *arg, tikv_error_t *err, uint64_t ts);
  void *arg;
  tikv__scope_t *scope;
  tikv__wait_t wait;
  tikv__pd_t *pd;
  tikv__tso_waiter_t *next;
};

static void tso_flush(tikv__pd_t *pd);

static int64_t waiter_deadline(const tikv__tso_waiter_t *w) {
  return w->cb ? w->scope->deadline : INT64_MAX;
}

/* Answers w (err consumed) and frees it. */
static void tso_answer(tikv__tso_waiter_t *w, tikv_error_t *err, uint64_t ts) {
  tikv__wait_remove(&w->wait);
  if (w->cb)
    w->cb(w->arg, err, ts);
  else
    tikv__error_free(err);
  free(w);
}

static void tso_fail_list(tikv__tso_waiter_t *w, const tikv_error_t *err) {
  while (w) {
    tikv__tso_waiter_t *next = w->next;
    tso_answer(w, tikv__error_dup(err), 0);
    w = next;
  }
}

/* Its operation was cancelled: a request not sent yet leaves the queue, one
 * sent is answered now and its timestamp dropped when the batch's arrives. */
static void tso_waiter_wake(tikv__wait_t *wt) {
  tikv__tso_waiter_t *w = (tikv__tso_waiter_t *)((char *)wt - offsetof(tikv__tso_waiter_t, wait));
  tikv__pd_t *pd = w->pd;
  tikv_error_t *e = tikv__error_new(TIKV_ERR_TIMEOUT, "Tso: cancelled while waiting for a timestamp");
  for (tikv__tso_waiter_t **pp = &pd->tso_queue; *pp; pp = &(*pp)->next) {
    if (*pp != w) continue;
    *pp = w->next;
    if (pd->tso_queue_end == &w->next) pd->tso_queue_end = pp;
    tso_answer(w, e, 0);
    return;
  }
  void (*cb)(void *, tikv_error_t *, uint64_t) = w->cb;
  w->cb = NULL;
  cb(w->arg, e, 0);
}

/* Fails every request not sent yet with err (consumed). */
static void tso_fail_queue(tikv__pd_t *pd, tikv_error_t *err) {
  tikv__tso_waiter_t *q = pd->tso_queue;
  pd->tso_queue = NULL;
  pd->tso_queue_end = &pd->tso_queue;
  tso_fail_list(q, err);
  tikv__error_free(err);
}

static void tso_set_cause(tikv__pd_t *pd, tikv_error_t *err) {
  tikv__error_free(pd->tso_cause);
  pd->tso_cause = err;
}

/* The batch sent (FIFO, before everything queued) back to the queue's head,
 * in its order: the requests are answered in the order they were made. */
static void tso_requeue_sent(tikv__pd_t *pd) {
  tikv__tso_waiter_t *batch = pd->tso_sent;
  pd->tso_sent = NULL;
  pd->tso_sent_count = 0;
  if (!batch) return;
  tikv__tso_waiter_t *last = batch;
  while (last->next) last = last->next;
  last->next = pd->tso_queue;
  if (!pd->tso_queue) pd->tso_queue_end = &last->next;
  pd->tso_queue = batch;
}

static int64_t tso_earliest(const tikv__pd_t *pd) {
  int64_t earliest = INT64_MAX;
  for (const tikv__tso_waiter_t *w = pd->tso_queue; w; w = w->next)
    if (waiter_deadline(w) < earliest) earliest = waiter_deadline(w);
  return earliest;
}

/* Fails the queued requests whose deadline has passed with TIMEOUT naming
 * why (cause: an error to copy, else the last stream's end). Unlinked before
 * any callback runs: a callback may ask for a timestamp again. */
static void tso_expire(tikv__pd_t *pd, const tikv_error_t *cause) {
  int64_t now = tikv__now_ms();
  tikv__tso_waiter_t *expired = NULL, **exp_end = &expired;
  tikv__tso_waiter_t **pp = &pd->tso_queue;
  while (*pp) {
    tikv__tso_waiter_t *w = *pp;
    if (waiter_deadline(w) <= now) {
      *pp = w->next;
      w->next = NULL;
      *exp_end = w;
      exp_end = &w->next;
    } else {
      pp = &w->next;
    }
  }
  pd->tso_queue_end = pp;
  if (!expired) return;
  tikv_error_t *e;
  if (cause && cause->code == TIKV_ERR_TIMEOUT)
    e = tikv__error_dup(cause);
  else if (cause || pd->tso_cause)
    e = tikv__error_new(TIKV_ERR_TIMEOUT, "Tso: no timestamp within the deadline; last error: %s",
                        (cause ? cause : pd->tso_cause)->message);
  else
    e = tikv__error_new(TIKV_ERR_TIMEOUT, "Tso: no timestamp within the deadline");
  tso_fail_list(expired, e);
  tikv__error_free(e);
}

static void tso_retry_fire(void *arg) {
  tikv__pd_t *pd = arg;
  if (tikv__loop_stopping(pd->rpc->loop)) {
    tso_fail_queue(pd, tikv__error_new(TIKV_ERR_CLOSED, "client closed"));
    return;
  }
  tso_expire(pd, NULL);
  tso_flush(pd);
}

/* After a stream ended: the requests left wait a backoff (never past the
 * earliest deadline), then go to the leader found anew. */
static void tso_retry_later(tikv__pd_t *pd) {
  tso_expire(pd, NULL);
  /* a broken stream counts as one retry, whether or not requests wait */
  if (!pd->tso_queue) {
    tikv__stats_retry(pd->stats, pd_cause(pd->tso_cause), pd->tso_cause, 0);
    return;
  }
  int sleep = tikv__backoff_next(&pd->tso_bo);
  int64_t left = tso_earliest(pd) - tikv__now_ms();
  if (left < sleep) sleep = left > 0 ? (int)left : 0;
  tikv__stats_retry(pd->stats, pd_cause(pd->tso_cause), pd->tso_cause, sleep);
  tikv__timer_start(pd->rpc->loop, &pd->tso_retry_timer, sleep, tso_retry_fire, pd);
}

/* Ends the stream on our side (cause, taken, says why); on_close carries
 * its requests over. */
static void tso_drop_stream(tikv__pd_t *pd, tikv_error_t *cause) {
  tso_set_cause(pd, cause);
  pd->tso_dropped = true;
  if (pd->tso_stream) tikv__stream_cancel(pd->tso_stream);
}

static void tso_on_message(void *arg, ProtobufCMessage *msg) {
  tikv__pd_t *pd = arg;
  Pdpb__TsoResponse *r = (Pdpb__TsoResponse *)msg;
  tikv__timer_cancel(pd->rpc->loop, &pd->tso_timer);
  pd->tso_inflight = false;
  tikv_error_t *err = NULL;
  if (r->header && r->header->error && r->header->error->type != 0)
    err = tikv__error_new(TIKV_ERR_PD, "Tso: %s", r->header->error->message);
  else
    err = tikv__check_tso(r, pd->tso_sent_count);
  if (err && err->code == TIKV_ERR_PD && is_leader_change(err->message)) {
    /* this member does not serve timestamps: the batch goes to the leader */
    tikv__reply_free(msg);
    tso_requeue_sent(pd);
    tso_drop_stream(pd, err);
    return;
  }
  tikv__tso_waiter_t *batch = pd->tso_sent;
  size_t n = pd->tso_sent_count;
  pd->tso_sent = NULL;
  pd->tso_sent_count = 0;
  if (err) {
    tso_fail_list(batch, err);
    tikv__error_free(err);
  } else {
    tikv__backoff_init(&pd->tso_bo, 50, 1000);
    size_t i = 0;
    for (tikv__tso_waiter_t *w = batch; w; i++) {
      tikv__tso_waiter_t *next = w->next;
      uint64_t ts = tikv__tso_compose(r->timestamp, n, i);
      if (ts <= pd->tso_last) {
        /* PD must never go backwards; refuse rather than break isolation */
        tso_answer(w, tikv__error_new(TIKV_ERR_PROTOCOL, "Tso: timestamp went backwards"), 0);
      } else {
        pd->tso_last = ts;
        tso_answer(w, NULL, ts);
      }
      w = next;
    }
  }
  tikv__reply_free(msg); /* r->timestamp was read above */
  tso_flush(pd);
}

static void tso_on_close(void *arg, tikv_error_t *err) {
  tikv__pd_t *pd = arg;
  pd->tso_stream = NULL;
  pd->tso_inflight = false;
  tikv__timer_cancel(pd->rpc->loop, &pd->tso_timer);
  bool dropped = pd->tso_dropped;
  pd->tso_dropped = false;
  if (err->code == TIKV_ERR_CLOSED || tikv__loop_stopping(pd->rpc->loop)) {
    tso_requeue_sent(pd);
    tikv__error_free(err);
    tso_fail_queue(pd, tikv__error_new(TIKV_ERR_CLOSED, "client closed"));
    return;
  }
  if (err->code == TIKV_ERR_PROTOCOL && !dropped) {
    /* a reply we cannot read: its batch fails, as any unreadable reply does */
    tikv__tso_waiter_t *batch = pd->tso_sent;
    pd->tso_sent = NULL;
    pd->tso_sent_count = 0;
    tso_fail_list(batch, err);
  } else {
    tso_requeue_sent(pd);
  }
  if (dropped)
    tikv__error_free(err);
  else
    tso_set_cause(pd, err);
  /* the leader died or moved (or is stuck): find it again */
  tikv__pd_reset_leader(pd);
  tso_retry_later(pd);
}

/* A batch that gets no answer by its earliest deadline: PD is stuck. The
 * stream is dropped; the requests past their deadline fail with TIMEOUT,
 * the others go to the leader found anew. */
static void tso_deadline(void *arg) {
  tikv__pd_t *pd = arg;
  tso_drop_stream(pd, tikv__error_new(TIKV_ERR_TIMEOUT, "Tso: PD did not answer in time"));
}

/* one batch in flight at a time (tso_inflight), so in lockstep: the reply
 * ends the send's batch, and the next batch goes from tso_on_message */
static const tikv__stream_ops_t TSO_OPS = {tso_on_message, tso_on_close, NULL, NULL, true};

static void tso_connected(void *arg, tikv_error_t *err) {
  tikv__pd_t *pd = arg;
  pd->tso_inflight = false;
  if (err && err->code == TIKV_ERR_TIMEOUT && !tikv__loop_stopping(pd->rpc->loop)) {
    /* the earliest deadline passed while PD had no leader: those fail, the
     * others wait on */
    tso_expire(pd, err);
    tikv__error_free(err);
  } else if (err) {
    tso_fail_queue(pd, err);
    return;
  }
  tso_flush(pd);
}

static void tso_flush(tikv__pd_t *pd) {
  if (pd->tso_inflight || !pd->tso_queue || tikv__timer_active(&pd->tso_retry_timer)) return;
  if (!pd->leader) {
    pd->tso_inflight = true; /* a connect is pending */
    connect_until(pd, tso_earliest(pd), NULL, tso_connected, pd);
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
  for (tikv__tso_waiter_t *w = pd->tso_queue; w; w = w->next) n++;
  int64_t earliest = tso_earliest(pd);
  Pdpb__TsoRequest req = PDPB__TSO_REQUEST__INIT;
  Pdpb__RequestHeader hdr = PDPB__REQUEST_HEADER__INIT;
  hdr.cluster_id = atomic_load(&pd->cluster_id);
  req.header = &hdr;
  req.count = (uint32_t)n;
  grpc_slice msg;
  if (tikv__pack(&req.base, &msg) != 0) return;
  int rc = tikv__stream_send(pd->tso_stream, msg);
  /* closing: on_close flushes again (a batch in flight stopped us above) */
  if (rc != 0) return;
  pd->tso_sent = pd->tso_queue;
  pd->tso_sent_count = n;
  pd->tso_queue = NULL;
  pd->tso_queue_end = &pd->tso_queue;
  pd->tso_inflight = true;
  tikv__timer_start(pd->rpc->loop, &pd->tso_timer, earliest - tikv__now_ms(), tso_deadline, pd);
}

void tikv__pd_get_ts(tikv__pd_t *pd, tikv__scope_t *scope,
                     void (*cb)(void *arg, tikv_error_t *err, uint64_t ts), void *arg) {
  tikv__tso_waiter_t *w = tikv__calloc(1, sizeof(*w));
  if (!w) {
    cb(arg, tikv__oom(), 0);
    return;
  }
  *w = (tikv__tso_waiter_t){.cb = cb, .arg = arg, .scope = scope, .pd = pd};
  *pd->tso_queue_end = w;
  pd->tso_queue_end = &w->next;
  tikv__wait_add(scope, &w->wait, tso_waiter_wake);
  tso_flush(pd);
}

int tikv__pd_init(tikv__pd_t *pd, tikv__rpc_t *rpc, char *const *endpoints, size_t n) {
  memset(pd, 0, sizeof(*pd));
  pd->rpc = rpc;
  tikv__backoff_init(&pd->bo, 100, 1000);
  tikv__backoff_init(&pd->tso_bo, 50, 1000);
  tikv__timer_init(&pd->tso_timer);
  tikv__timer_init(&pd->tso_retry_timer);
  tikv__timer_init(&pd->refresh_timer);
  pd->tso_queue_end = &pd->tso_queue;
  for (size_t i = 0; i < n; i++) {
    char *addr = tikv__strdup(endpoints[i]);
    if (!addr || add_endpoint(pd, addr)) return -1;
  }
  return 0;
}

void tikv__pd_free(tikv__pd_t *pd) {
  tikv__conn_free(pd->leader);
  pd->leader = NULL;
  for (size_t i = 0; i < pd->n_eps; i++) {
    tikv__conn_free(pd->eps[i].conn);
    free(pd->eps[i].addr);
  }
  free(pd->eps);
  pd->eps = NULL;
  pd->n_eps = pd->cap_eps = 0;
  tikv__error_free(pd->last_err);
  pd->last_err = NULL;
  tikv__error_free(pd->tso_cause);
  pd->tso_cause = NULL;
}

uint64_t tikv__pd_cluster_id(tikv__pd_t *pd) { return atomic_load(&pd->cluster_id); }
