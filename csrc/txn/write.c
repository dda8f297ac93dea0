/* Pessimistic locks, heartbeats, and background requests (commit of
 * secondaries, rollbacks) that outlive the call that started them. */
#include <math.h>
#include <stdio.h>

#include "txn/txn_internal.h"

/* The key error of a reply's `error` field. PessimisticRollback reports its
 * errors in a repeated field, not judged: the rollback is best effort, a
 * lock that stays is met and resolved again. */
static tikv_error_t *consume_key_error(void *arg, tikv__part_t *part,
                                       const ProtobufCMessage *resp) {
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "error");
  if (!fd || fd->label == PROTOBUF_C_LABEL_REPEATED) return NULL;
  const Kvrpcpb__KeyError *ke = *(Kvrpcpb__KeyError **)((char *)resp + fd->offset);
  return ke ? tikv__key_error(ke, resp->descriptor->short_name) : NULL;
}

/* ---- background key requests: own copies of everything ----
 * The four are one shape: the keys of the transaction start_ts, and its
 * commit ts (commit, resolve) or for_update_ts (pessimistic rollback). */
typedef struct {
  const tikv__kind_t *kind;
  uint64_t start_ts, commit_ts, for_update_ts;
  tikv__bytes_t *keys; /* views into bytes */
  uint8_t *bytes;
  size_t n;
  void (*done)(void *arg, tikv_error_t *err);
  void *arg;
  tikv__scope_t own; /* when the caller lends none */
} bg_t;

static int build_bg(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx, grpc_slice *out) {
  bg_t *b = arg;
  tikv__req_msg_t q;
  tikv__req_msg_init(&q, b->kind->req, ctx);
  tikv__pb_set_u64(&q.base, "start_version", b->start_ts);
  tikv__pb_set_u64(&q.base, "commit_version", b->commit_ts);
  tikv__pb_set_u64(&q.base, "for_update_ts", b->for_update_ts);
  return tikv__pack_keys(&q.base, b->keys, part, out);
}

#define BG_KIND(req) \
  {req, TIKV__KS_TXN, build_bg, consume_key_error, .max_keys = TIKV__TXN_BATCH_KEYS}
static const tikv__kind_t BG_KINDS[] = {
    [TIKV__BG_COMMIT] = BG_KIND(TIKV__REQ_KV_COMMIT),
    [TIKV__BG_ROLLBACK] = BG_KIND(TIKV__REQ_KV_BATCH_ROLLBACK),
    [TIKV__BG_PESS_ROLLBACK] = BG_KIND(TIKV__REQ_KV_PESSIMISTIC_ROLLBACK),
    [TIKV__BG_RESOLVE] = BG_KIND(TIKV__REQ_KV_RESOLVE_LOCK),
};

static void bg_free(bg_t *b) {
  free(b->keys);
  free(b->bytes);
  free(b);
}

static void bg_done(void *arg, tikv_error_t *err) {
  bg_t *b = arg;
  if (b->done)
    b->done(b->arg, err);
  else
    tikv__error_free(err); /* fire and forget: readers resolve what is left */
  bg_free(b);
}

void tikv__txn_bg(tikv__router_t *rt, int kind, uint64_t start_ts, uint64_t commit_ts,
                  uint64_t for_update_ts, tikv__bytes_t *const *keys, size_t n,
                  tikv__scope_t *scope, int64_t deadline,
                  void (*done)(void *arg, tikv_error_t *err), void *arg) {
  bg_t *b = tikv__malloc(sizeof(*b));
  if (b) *b = (bg_t){&BG_KINDS[kind], start_ts, commit_ts, for_update_ts, .n = n, .done = done,
                     .arg = arg};
  if (!b || tikv__bytes_copy_all(&b->keys, &b->bytes, keys, n)) {
    free(b);
    if (done) done(arg, tikv__oom());
    return;
  }
  if (!scope) {
    tikv__scope_init(&b->own, rt->rpc->loop, deadline);
    scope = &b->own;
  }
  tikv__multi_run(rt, b->kind, b, b->keys, NULL, n, scope, bg_done);
}

/* ---- heartbeat: keeps the primary lock alive while the txn runs ---- */
typedef struct {
  tikv__point_t point;
  tikv__scope_t scope;
  uint64_t start_ts, ttl;
  uint8_t primary[];
} heartbeat_t;

static int build_heartbeat(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                           grpc_slice *out) {
  heartbeat_t *h = arg;
  Kvrpcpb__TxnHeartBeatRequest q = KVRPCPB__TXN_HEART_BEAT_REQUEST__INIT;
  q.context = ctx;
  q.primary_lock = (ProtobufCBinaryData){h->point.key_len, h->primary};
  q.start_version = h->start_ts;
  q.advise_lock_ttl = h->ttl;
  return tikv__pack(&q.base, out);
}

static const tikv__kind_t KV_HEARTBEAT = {
    TIKV__REQ_KV_TXN_HEART_BEAT, TIKV__KS_TXN, build_heartbeat, consume_key_error};

static void heartbeat_done(void *arg, tikv_error_t *err) {
  tikv__error_free(err); /* the next beat tries again; a lost lock shows at commit */
  free(arg);
}

static void heartbeat_tick(void *arg) {
  tikv_txn_t *t = arg;
  /* a closing client fires every timer at once: do not re-arm then */
  if (!t->heartbeat_on || !t->has_primary || tikv__loop_stopping(t->c->loop)) return;
  heartbeat_t *h = tikv__malloc(sizeof(*h) + t->primary.len);
  if (h) {
    memcpy(h->primary, t->primary.data, t->primary.len);
    h->start_ts = t->start_ts;
    /* the TTL counts from the lock's start ts */
    h->ttl = (uint64_t)(tikv__now_ms() - t->begin_ms) + TIKV__MANAGED_LOCK_TTL_MS;
    tikv__scope_init(&h->scope, t->c->loop, tikv__client_deadline(t->c));
    tikv__point_run(&h->point, &t->c->router, &KV_HEARTBEAT, h, h->primary, t->primary.len,
                    &h->scope, heartbeat_done);
  }
  tikv__timer_start(t->c->loop, &t->heartbeat, TIKV__MANAGED_LOCK_TTL_MS / 2, heartbeat_tick, t);
}

void tikv__txn_heartbeat_start(tikv_txn_t *t) {
  if (t->heartbeat_on) return;
  t->heartbeat_on = true;
  tikv__timer_start(t->c->loop, &t->heartbeat, TIKV__MANAGED_LOCK_TTL_MS / 2, heartbeat_tick, t);
}

void tikv__txn_heartbeat_stop(tikv_txn_t *t) {
  t->heartbeat_on = false;
  tikv__timer_cancel(t->c->loop, &t->heartbeat);
}

/* ---- pessimistic locks ---- */
typedef struct locker {
  txn_op_t *op;
  tikv_txn_t *t;
  void (*then)(txn_op_t *op, tikv_error_t *err);
  bool want_values;
  bool primary_phase;
  tikv__bytes_t *keys; /* views into op->keys: primary first when chosen here */
  size_t n, from;      /* this phase locks keys[from..n) (or just keys[0]) */
  bool chose_primary;
  uint64_t for_update_ts;
  tikv__scope_t *scope; /* the operation's */
  int64_t wait_deadline;
  int conflicts;
  bool need_new_ts;
  tikv__kvs_t values;
} locker_t;

static void lock_phase(locker_t *l);

static int64_t wait_timeout(locker_t *l) {
  int64_t w = l->t->opts.lock_wait_timeout_ms;
  if (w == 0) return -1; /* no wait */
  if (w < 0) return 0;   /* TiKV's default */
  int64_t left = l->wait_deadline - tikv__now_ms();
  return left > 0 ? left : 1;
}

static int build_lock(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                      grpc_slice *out) {
  locker_t *l = arg;
  size_t n = part->n;
  Kvrpcpb__Mutation **mp = tikv__pb_array(&kvrpcpb__mutation__descriptor, n);
  if (!mp) return -1;
  for (size_t i = 0; i < n; i++) {
    mp[i]->op = KVRPCPB__OP__PessimisticLock;
    mp[i]->key = (ProtobufCBinaryData){l->keys[part->idx[i]].len, l->keys[part->idx[i]].data};
  }
  Kvrpcpb__PessimisticLockRequest q = KVRPCPB__PESSIMISTIC_LOCK_REQUEST__INIT;
  q.context = ctx;
  q.n_mutations = n;
  q.mutations = mp;
  q.primary_lock = (ProtobufCBinaryData){l->t->primary.len, l->t->primary.data};
  q.start_version = l->t->start_ts;
  q.lock_ttl = (uint64_t)(tikv__now_ms() - l->t->begin_ms) + TIKV__MANAGED_LOCK_TTL_MS;
  q.for_update_ts = l->for_update_ts;
  q.is_first_lock = l->primary_phase;
  q.wait_timeout = wait_timeout(l);
  q.return_values = l->want_values;
  q.min_commit_ts = l->for_update_ts + 1;
  int rc = tikv__pack(&q.base, out);
  free(mp);
  return rc;
}

/* Locks are resolved; a write conflict is not a lock (consume handles it). */
static tikv_error_t *find_lock(void *arg, const ProtobufCMessage *resp, tikv__locks_t *locks) {
  locker_t *l = arg;
  const Kvrpcpb__PessimisticLockResponse *r = (const Kvrpcpb__PessimisticLockResponse *)resp;
  for (size_t i = 0; i < r->n_errors; i++) {
    const Kvrpcpb__KeyError *ke = r->errors[i];
    if (ke->locked && tikv__locks_add(locks, ke->locked)) return tikv__oom();
    if (!ke->locked && !ke->conflict) return tikv__key_error(ke, "PessimisticLock");
  }
  if (locks->count && l->t->opts.lock_wait_timeout_ms == 0) {
    tikv_error_t *e = tikv__error_new(TIKV_ERR_LOCK_WAIT_TIMEOUT,
                                      "lock acquire failed and no-wait is set");
    tikv__bytes_set(&e->key, locks->items[0].key.data, locks->items[0].key.len);
    e->conflict_ts = locks->items[0].ts;
    return e;
  }
  return NULL;
}

static uint64_t lock_ts(void *arg) { return ((locker_t *)arg)->t->start_ts; }

static tikv_error_t *lock_after(void *arg, const ProtobufCMessage *resp, int64_t wait_ms,
                                const uint64_t *pushed, size_t n_pushed, int *delay) {
  locker_t *l = arg;
  if (tikv__now_ms() >= l->wait_deadline)
    return tikv__error_new(TIKV_ERR_LOCK_WAIT_TIMEOUT, "pessimistic lock wait timed out");
  /* TiKV itself waits on the lock (wait_timeout); a short pause suffices */
  *delay = wait_ms < 50 ? (int)wait_ms : 50;
  return NULL;
}

static const tikv__lock_layer_t LOCK_LOCKS = TIKV__LOCK_LAYER(find_lock, lock_ts, lock_after);

static tikv_error_t *consume_lock(void *arg, tikv__part_t *part, const ProtobufCMessage *resp) {
  locker_t *l = arg;
  const Kvrpcpb__PessimisticLockResponse *r = (const Kvrpcpb__PessimisticLockResponse *)resp;
  /* find_lock let only conflicts through: someone committed after our
   * for_update_ts */
  for (size_t i = 0; i < r->n_errors; i++)
    if (r->errors[i]->conflict) l->need_new_ts = true;
  if (l->need_new_ts || !l->want_values) return NULL;
  for (size_t i = 0; i < part->n && i < r->n_values; i++) {
    /* no value is no key, whether or not not_found says so (as KvGet) */
    bool absent = (i < r->n_not_founds && r->not_founds[i]) || r->values[i].len == 0;
    const tikv__bytes_t *k = &l->keys[part->idx[i]];
    if (!absent &&
        tikv__kvs_push(&l->values, k->data, k->len, r->values[i].data, r->values[i].len, true))
      return tikv__oom();
  }
  return NULL;
}

/* TiKV holds the request while it waits for the lock: the attempt must
 * outlast that wait (TiKV's default wait_for_lock_timeout is 1 s) */
static int64_t lock_server_wait(void *arg) {
  int64_t w = wait_timeout(arg);
  return w < 0 ? 0 : w == 0 ? 1000 : w;
}

static const tikv__kind_t KV_PESSIMISTIC_LOCK = {
    TIKV__REQ_KV_PESSIMISTIC_LOCK, TIKV__KS_TXN, build_lock, consume_lock, &LOCK_LOCKS.base,
    .max_keys = TIKV__TXN_BATCH_KEYS, .server_wait_ms = lock_server_wait};

/* Releases what this call may have locked (keys it did not hold before). */
static void locker_release(locker_t *l) {
  tikv_txn_t *t = l->t;
  if (l->chose_primary) {
    /* the primary never got locked for good: pick again next time */
    tikv__bytes_free(&t->primary);
    t->has_primary = false;
  }
  tikv__bytes_t **ks = tikv__calloc(l->n ? l->n : 1, sizeof(*ks));
  size_t m = 0;
  for (size_t i = 0; ks && i < l->n; i++) {
    tikv__mut_t *mu = tikv__buffer_find(&t->buf, l->keys[i].data, l->keys[i].len);
    if (!mu || !mu->pess_locked) ks[m++] = &l->keys[i];
  }
  if (ks && m)
    tikv__txn_bg(&t->c->router, TIKV__BG_PESS_ROLLBACK, t->start_ts, 0, l->for_update_ts, ks, m,
                 NULL, tikv__client_deadline(t->c), NULL, NULL);
  free(ks);
}

/* The values asked for, in key order: own writes win over what TiKV holds. */
static tikv_error_t *locker_values(locker_t *l, tikv__kvs_t *out) {
  txn_op_t *op = l->op;
  for (size_t i = 0; i < op->n; i++) {
    const tikv__bytes_t *k = &op->keys[i];
    const tikv__mut_t *m = tikv__buffer_find(&l->t->buf, k->data, k->len);
    const tikv_kv_t *got = NULL;
    if (m && m->has_write && m->op != KVRPCPB__OP__Lock) {
      if (m->op != KVRPCPB__OP__Del &&
          tikv__kvs_push(out, m->key.data, m->key.len, m->value.data, m->value.len, true))
        return tikv__oom();
      continue;
    }
    for (size_t j = 0; j < l->values.count && !got; j++)
      if (!tikv__key_cmp(l->values.items[j].key, l->values.items[j].key_len, k->data, k->len))
        got = &l->values.items[j];
    if (got && tikv__kvs_push(out, got->key, got->key_len, got->value, got->value_len, true))
      return tikv__oom();
  }
  tikv__kvs_sort(out, false);
  return NULL;
}

static tikv_error_t *locker_locked(locker_t *l) {
  tikv_txn_t *t = l->t;
  txn_op_t *op = l->op;
  for (size_t i = 0; i < l->n; i++) {
    tikv__mut_t *m = tikv__buffer_upsert(&t->buf, l->keys[i].data, l->keys[i].len);
    if (!m) return tikv__oom();
    m->pess_locked = true;
  }
  if (l->for_update_ts > t->for_update_ts) t->for_update_ts = l->for_update_ts;
  if (l->want_values) {
    tikv__kvs_t out = {0};
    tikv_error_t *err = locker_values(l, &out);
    if (err) {
      tikv__kvs_free(&out);
      return err;
    }
    if (op->kind == TXN_OP_GET_FOR_UPDATE) {
      op->f->found = out.count > 0;
      if (out.count) tikv__bytes_set(&op->f->value, out.items[0].value, out.items[0].value_len);
      tikv__kvs_free(&out);
    } else {
      op->f->kvs = out;
    }
  }
  tikv__txn_heartbeat_start(t);
  return NULL;
}

static void locker_finish(locker_t *l, tikv_error_t *err) {
  txn_op_t *op = l->op;
  if (err)
    locker_release(l);
  else
    err = locker_locked(l);
  tikv__kvs_free(&l->values);
  free(l->keys);
  void (*then)(txn_op_t *, tikv_error_t *) = l->then;
  free(l);
  then(op, err);
}

/* Finishes l with err, if there is one. */
static bool failed(locker_t *l, tikv_error_t *err) {
  if (err) locker_finish(l, err);
  return err != NULL;
}

static void got_for_update_ts(void *arg, tikv_error_t *err, uint64_t ts) {
  locker_t *l = arg;
  if (failed(l, err)) return;
  l->for_update_ts = ts;
  lock_phase(l);
}

static void lock_phase_done(void *arg, tikv_error_t *err) {
  locker_t *l = arg;
  if (failed(l, err)) return;
  if (l->need_new_ts) {
    /* a write newer than our for_update_ts: lock again at a newer one, as
     * pessimistic transactions read and lock the latest version; every key
     * again, the primary first (the values read so far are dropped, and they
     * were read at the old ts) */
    l->need_new_ts = false;
    l->primary_phase = l->chose_primary;
    tikv__kvs_truncate(&l->values, 0);
    if (++l->conflicts > 10) {
      locker_finish(l, tikv__error_new(TIKV_ERR_WRITE_CONFLICT,
                                       "pessimistic lock: write conflicts kept recurring"));
      return;
    }
    tikv__pd_get_ts(&l->t->c->pd, l->scope, got_for_update_ts, l);
    return;
  }
  if (l->primary_phase && l->n > 1) {
    l->primary_phase = false;
    l->from = 1;
    lock_phase(l);
    return;
  }
  locker_finish(l, NULL);
}

static void lock_phase(locker_t *l) {
  /* the primary is locked on its own first, so that its lock exists before
   * any secondary points at it */
  size_t from = l->primary_phase ? 0 : l->from;
  size_t n = l->primary_phase ? 1 : l->n - l->from;
  size_t *idx = tikv__malloc((n ? n : 1) * sizeof(size_t));
  if (!idx) {
    locker_finish(l, tikv__oom());
    return;
  }
  for (size_t i = 0; i < n; i++) idx[i] = from + i;
  tikv__multi_run(&l->t->c->router, &KV_PESSIMISTIC_LOCK, l, l->keys, idx, n, l->scope,
                  lock_phase_done);
  free(idx);
}

/* The distinct keys of op; the smallest becomes the primary when t has none. */
static int locker_keys(locker_t *l) {
  txn_op_t *op = l->op;
  tikv_txn_t *t = l->t;
  for (size_t i = 0; i < op->n; i++) {
    bool dup = false;
    for (size_t j = 0; j < l->n && !dup; j++)
      dup = !tikv__key_cmp(l->keys[j].data, l->keys[j].len, op->keys[i].data, op->keys[i].len);
    if (!dup) l->keys[l->n++] = op->keys[i];
  }
  if (t->has_primary || !l->n) return 0;
  size_t min = 0;
  for (size_t i = 1; i < l->n; i++)
    if (tikv__key_cmp(l->keys[i].data, l->keys[i].len, l->keys[min].data, l->keys[min].len) < 0)
      min = i;
  tikv__bytes_t tmp = l->keys[0];
  l->keys[0] = l->keys[min];
  l->keys[min] = tmp;
  if (tikv__bytes_set(&t->primary, l->keys[0].data, l->keys[0].len)) return -1;
  t->has_primary = true;
  l->chose_primary = true;
  l->primary_phase = true;
  return 0;
}

void tikv__txn_lock_pessimistic(txn_op_t *op, bool want_values,
                                void (*then)(txn_op_t *op, tikv_error_t *err)) {
  tikv_txn_t *t = op->t;
  locker_t *l = tikv__calloc(1, sizeof(*l));
  if (l) {
    l->op = op;
    l->t = t;
    l->keys = tikv__calloc(op->n ? op->n : 1, sizeof(tikv__bytes_t));
  }
  if (!l || !l->keys || locker_keys(l)) {
    if (l) free(l->keys);
    free(l);
    then(op, tikv__oom());
    return;
  }
  l->then = then;
  l->want_values = want_values;
  l->scope = &op->f->scope;
  int64_t w = t->opts.lock_wait_timeout_ms;
  l->wait_deadline = w > 0 ? tikv__now_ms() + w : l->scope->deadline;
  tikv__pd_get_ts(&t->c->pd, l->scope, got_for_update_ts, l);
}
