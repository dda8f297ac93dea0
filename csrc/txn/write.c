/* Pessimistic locks, heartbeats, and background requests (commit of
 * secondaries, rollbacks) that outlive the call that started them. */
#include <math.h>
#include <stdio.h>

#include "txn/txn_internal.h"

/* ---- background key requests: own copies of everything ---- */
typedef enum {
  BG_COMMIT = TIKV__BG_COMMIT,
  BG_ROLLBACK = TIKV__BG_ROLLBACK,
  BG_PESS_ROLLBACK = TIKV__BG_PESS_ROLLBACK,
  BG_RESOLVE = TIKV__BG_RESOLVE,
  BG_HEARTBEAT
} bg_kind;

typedef struct {
  tikv_client_t *c;
  bg_kind kind;
  uint64_t start_ts, commit_ts, for_update_ts, ttl;
  tikv__bytes_t primary;
  tikv__bytes_t *keys;
  size_t n;
  void (*done)(void *arg, tikv_error_t *err);
  void *arg;
  tikv__multi_ops_t mops;
} bg_t;

static int bg_build(void *arg, const tikv__route_t *route, const size_t *idx, size_t n,
                    Kvrpcpb__Context *ctx, grpc_slice *out) {
  bg_t *b = arg;
  if (b->kind == BG_HEARTBEAT) {
    Kvrpcpb__TxnHeartBeatRequest q = KVRPCPB__TXN_HEART_BEAT_REQUEST__INIT;
    q.context = ctx;
    q.primary_lock = (ProtobufCBinaryData){b->primary.len, b->primary.data};
    q.start_version = b->start_ts;
    q.advise_lock_ttl = b->ttl;
    return tikv__pack(&q.base, out);
  }
  ProtobufCBinaryData *keys = tikv__pb_keys(b->keys, idx, n);
  if (!keys) return -1;
  int rc;
  if (b->kind == BG_COMMIT) {
    Kvrpcpb__CommitRequest q = KVRPCPB__COMMIT_REQUEST__INIT;
    q.context = ctx;
    q.start_version = b->start_ts;
    q.commit_version = b->commit_ts;
    q.n_keys = n;
    q.keys = keys;
    rc = tikv__pack(&q.base, out);
  } else if (b->kind == BG_RESOLVE) {
    Kvrpcpb__ResolveLockRequest q = KVRPCPB__RESOLVE_LOCK_REQUEST__INIT;
    q.context = ctx;
    q.start_version = b->start_ts;
    q.commit_version = b->commit_ts;
    q.n_keys = n;
    q.keys = keys;
    rc = tikv__pack(&q.base, out);
  } else if (b->kind == BG_ROLLBACK) {
    Kvrpcpb__BatchRollbackRequest q = KVRPCPB__BATCH_ROLLBACK_REQUEST__INIT;
    q.context = ctx;
    q.start_version = b->start_ts;
    q.n_keys = n;
    q.keys = keys;
    rc = tikv__pack(&q.base, out);
  } else {
    Kvrpcpb__PessimisticRollbackRequest q = KVRPCPB__PESSIMISTIC_ROLLBACK_REQUEST__INIT;
    q.context = ctx;
    q.start_version = b->start_ts;
    q.for_update_ts = b->for_update_ts;
    q.n_keys = n;
    q.keys = keys;
    rc = tikv__pack(&q.base, out);
  }
  free(keys);
  return rc;
}

static void bg_response(void *arg, tikv__multi_part_t *part, ProtobufCMessage *resp) {
  tikv_error_t *err = NULL;
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "error");
  if (fd && fd->label != PROTOBUF_C_LABEL_REPEATED) {
    Kvrpcpb__KeyError *ke = *(Kvrpcpb__KeyError **)((char *)resp + fd->offset);
    if (ke) err = tikv__key_error(ke, resp->descriptor->short_name);
  } else if (fd) {
    size_t n = *(size_t *)((char *)resp + fd->quantifier_offset);
    Kvrpcpb__KeyError **errs = *(Kvrpcpb__KeyError ***)((char *)resp + fd->offset);
    if (n) err = tikv__key_error(errs[0], resp->descriptor->short_name);
  }
  protobuf_c_message_free_unpacked(resp, NULL);
  if (err)
    tikv__multi_part_fail(part, err);
  else
    tikv__multi_part_ok(part);
}

static void bg_done(void *arg, tikv_error_t *err) {
  bg_t *b = arg;
  if (b->done)
    b->done(b->arg, err);
  else
    tikv__error_free(err); /* fire and forget: readers resolve what is left */
  for (size_t i = 0; i < b->n; i++) tikv__bytes_free(&b->keys[i]);
  free(b->keys);
  tikv__bytes_free(&b->primary);
  free(b);
}

static const tikv__req_id BG_METHODS[] = {
    [BG_COMMIT] = TIKV__REQ_KV_COMMIT,
    [BG_ROLLBACK] = TIKV__REQ_KV_BATCH_ROLLBACK,
    [BG_PESS_ROLLBACK] = TIKV__REQ_KV_PESSIMISTIC_ROLLBACK,
    [BG_RESOLVE] = TIKV__REQ_KV_RESOLVE_LOCK,
    [BG_HEARTBEAT] = TIKV__REQ_KV_TXN_HEART_BEAT,
};

void tikv__txn_bg(tikv_client_t *c, int kind, uint64_t start_ts, uint64_t commit_ts,
                  uint64_t for_update_ts, tikv__bytes_t *const *keys, size_t n, int64_t deadline,
                  void (*done)(void *arg, tikv_error_t *err), void *arg) {
  bg_t *b = tikv__calloc(1, sizeof(*b));
  if (b) b->keys = tikv__calloc(n ? n : 1, sizeof(tikv__bytes_t));
  bool oom = !b || !b->keys;
  for (size_t i = 0; !oom && i < n; i++) {
    if (tikv__bytes_set(&b->keys[i], keys[i]->data, keys[i]->len)) oom = true;
    else b->n = i + 1;
  }
  if (oom) {
    if (b) {
      for (size_t i = 0; i < b->n; i++) tikv__bytes_free(&b->keys[i]);
      free(b->keys);
      free(b);
    }
    if (done) done(arg, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  b->c = c;
  b->kind = (bg_kind)kind;
  b->start_ts = start_ts;
  b->commit_ts = commit_ts;
  b->for_update_ts = for_update_ts;
  b->done = done;
  b->arg = arg;
  b->mops = (tikv__multi_ops_t){
      .req = BG_METHODS[kind],
      .ks = TIKV__KS_TXN,
      .max_keys = TIKV__TXN_BATCH_KEYS,
      .build = bg_build,
      .on_response = bg_response,
      .done = bg_done,
  };
  tikv__multi_run(&c->router, &b->mops, b, b->keys, b->n, deadline ? deadline : tikv__client_deadline(c));
}

/* ---- heartbeat: keeps the primary lock alive while the txn runs ---- */
static void heartbeat_tick(void *arg) {
  tikv_txn_t *t = arg;
  /* a closing client fires every timer at once: do not re-arm then */
  if (!t->heartbeat_on || !t->has_primary || tikv__loop_stopping(t->c->loop)) return;
  bg_t *b = tikv__calloc(1, sizeof(*b));
  if (b && !tikv__bytes_set(&b->primary, t->primary.data, t->primary.len)) {
    b->keys = tikv__calloc(1, sizeof(tikv__bytes_t));
    if (b->keys && !tikv__bytes_set(&b->keys[0], t->primary.data, t->primary.len)) {
      b->n = 1;
      b->c = t->c;
      b->kind = BG_HEARTBEAT;
      b->start_ts = t->start_ts;
      /* the TTL counts from the lock's start ts */
      b->ttl = (uint64_t)(tikv__now_ms() - t->begin_ms) + TIKV__MANAGED_LOCK_TTL_MS;
      b->mops = (tikv__multi_ops_t){
          .req = BG_METHODS[BG_HEARTBEAT],
          .ks = TIKV__KS_TXN,
          .build = bg_build,
          .on_response = bg_response,
          .done = bg_done,
      };
      tikv__multi_run(&t->c->router, &b->mops, b, b->keys, 1, tikv__client_deadline(t->c));
      b = NULL;
    }
  }
  if (b) {
    tikv__bytes_free(&b->primary);
    if (b->keys) tikv__bytes_free(&b->keys[0]);
    free(b->keys);
    free(b);
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
  int64_t deadline, wait_deadline;
  int conflicts;
  bool need_new_ts;
  tikv__backoff_t bo;
  tikv__kvs_t values;
  tikv__multi_ops_t mops;
} locker_t;

static void lock_phase(locker_t *l);

static int64_t wait_timeout(locker_t *l) {
  int64_t w = l->t->opts.lock_wait_timeout_ms;
  if (w == 0) return -1; /* no wait */
  if (w < 0) return 0;   /* TiKV's default */
  int64_t left = l->wait_deadline - tikv__now_ms();
  return left > 0 ? left : 1;
}

static int lock_build(void *arg, const tikv__route_t *route, const size_t *idx, size_t n,
                      Kvrpcpb__Context *ctx, grpc_slice *out) {
  locker_t *l = arg;
  Kvrpcpb__Mutation *muts = tikv__calloc(n, sizeof(*muts));
  Kvrpcpb__Mutation **mp = tikv__calloc(n, sizeof(*mp));
  if (!muts || !mp) {
    free(muts);
    free(mp);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    kvrpcpb__mutation__init(&muts[i]);
    muts[i].op = KVRPCPB__OP__PessimisticLock;
    muts[i].key = (ProtobufCBinaryData){l->keys[idx[i]].len, l->keys[idx[i]].data};
    mp[i] = &muts[i];
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
  free(muts);
  free(mp);
  return rc;
}

typedef struct {
  locker_t *l;
  tikv__multi_part_t *part;
} lock_wait_t;

static void lock_after_resolve(void *arg, tikv_error_t *err, int64_t wait_ms,
                               const uint64_t *pushed, size_t n_pushed) {
  lock_wait_t *w = arg;
  locker_t *l = w->l;
  tikv__multi_part_t *part = w->part;
  free(w);
  if (err) {
    tikv__multi_part_fail(part, err);
    return;
  }
  if (tikv__now_ms() >= l->wait_deadline) {
    tikv__multi_part_fail(part, tikv__error_new(TIKV_ERR_LOCK_WAIT_TIMEOUT,
                                                "pessimistic lock wait timed out"));
    return;
  }
  /* TiKV itself waits on the lock (wait_timeout); a short pause suffices */
  tikv__multi_part_resend(part, wait_ms ? (int)(wait_ms < 50 ? wait_ms : 50) : 0);
}

static void lock_response(void *arg, tikv__multi_part_t *part, ProtobufCMessage *resp) {
  locker_t *l = arg;
  Kvrpcpb__PessimisticLockResponse *r = (Kvrpcpb__PessimisticLockResponse *)resp;
  tikv__locks_t locks = {0};
  tikv_error_t *err = NULL;
  for (size_t i = 0; i < r->n_errors && !err; i++) {
    Kvrpcpb__KeyError *ke = r->errors[i];
    if (ke->locked) {
      if (tikv__locks_add(&locks, ke->locked)) err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
    } else if (ke->conflict) {
      l->need_new_ts = true; /* someone committed after our for_update_ts */
    } else {
      err = tikv__key_error(ke, "PessimisticLock");
    }
  }
  if (!err && !locks.count && !l->need_new_ts && l->want_values) {
    size_t n;
    const size_t *idx = tikv__multi_part_items(part, &n);
    for (size_t i = 0; i < n && i < r->n_values && !err; i++) {
      bool absent = i < r->n_not_founds && r->not_founds[i];
      if (!absent && tikv__kvs_push(&l->values, l->keys[idx[i]].data, l->keys[idx[i]].len,
                                    r->values[i].data, r->values[i].len, true))
        err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
    }
  }
  protobuf_c_message_free_unpacked(resp, NULL);
  if (err) {
    tikv__locks_free(&locks);
    tikv__multi_part_fail(part, err);
    return;
  }
  if (locks.count) {
    if (l->t->opts.lock_wait_timeout_ms == 0) {
      tikv_error_t *e = tikv__error_new(TIKV_ERR_LOCK_WAIT_TIMEOUT,
                                        "lock acquire failed and no-wait is set");
      tikv__bytes_set(&e->key, locks.items[0].key.data, locks.items[0].key.len);
      e->conflict_ts = locks.items[0].ts;
      tikv__locks_free(&locks);
      tikv__multi_part_fail(part, e);
      return;
    }
    lock_wait_t *w = tikv__calloc(1, sizeof(*w));
    if (!w) {
      tikv__locks_free(&locks);
      tikv__multi_part_fail(part, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
      return;
    }
    *w = (lock_wait_t){l, part};
    tikv__resolve_locks(l->t->c, l->t->start_ts, &locks, tikv__multi_deadline(part),
                        lock_after_resolve, w);
    return;
  }
  tikv__multi_part_ok(part);
}

static void locker_finish(locker_t *l, tikv_error_t *err) {
  txn_op_t *op = l->op;
  tikv_txn_t *t = l->t;
  if (err && l->chose_primary) {
    /* the primary never got locked for good: pick again next time */
    tikv__bytes_free(&t->primary);
    t->has_primary = false;
  }
  if (err) {
    /* release what this call may have locked (keys it did not hold before) */
    tikv__bytes_t **ks = tikv__calloc(l->n ? l->n : 1, sizeof(*ks));
    size_t m = 0;
    for (size_t i = 0; ks && i < l->n; i++) {
      tikv__mut_t *mu = tikv__buffer_find(&t->buf, l->keys[i].data, l->keys[i].len);
      if (!mu || !mu->pess_locked) ks[m++] = &l->keys[i];
    }
    if (ks && m)
      tikv__txn_bg(t->c, TIKV__BG_PESS_ROLLBACK, t->start_ts, 0, l->for_update_ts, ks, m, 0, NULL, NULL);
    free(ks);
  } else {
    for (size_t i = 0; i < l->n && !err; i++) {
      tikv__mut_t *m = tikv__buffer_upsert(&t->buf, l->keys[i].data, l->keys[i].len);
      if (!m)
        err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
      else
        m->pess_locked = true;
    }
    if (l->for_update_ts > t->for_update_ts) t->for_update_ts = l->for_update_ts;
    if (l->want_values && !err) {
      /* own writes win over what TiKV holds */
      tikv__kvs_t out = {0};
      for (size_t i = 0; i < op->n && !err; i++) {
        const tikv__mut_t *m = tikv__buffer_find(&t->buf, op->keys[i].data, op->keys[i].len);
        int rc = 0;
        if (m && m->has_write && m->op != KVRPCPB__OP__Lock) {
          if (m->op != KVRPCPB__OP__Del)
            rc = tikv__kvs_push(&out, m->key.data, m->key.len, m->value.data, m->value.len, true);
        } else {
          for (size_t j = 0; j < l->values.count; j++)
            if (!tikv__key_cmp(l->values.items[j].key, l->values.items[j].key_len, op->keys[i].data, op->keys[i].len)) {
              rc = tikv__kvs_push(&out, l->values.items[j].key, l->values.items[j].key_len,
                                  l->values.items[j].value, l->values.items[j].value_len, true);
              break;
            }
        }
        if (rc) err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
      }
      tikv__kvs_sort(&out, false);
      if (op->kind == TXN_OP_GET_FOR_UPDATE) {
        op->f->found = out.count > 0;
        if (out.count) tikv__bytes_set(&op->f->value, out.items[0].value, out.items[0].value_len);
        tikv__kvs_free(&out);
      } else {
        op->f->kvs = out;
      }
    }
    if (!err) tikv__txn_heartbeat_start(t);
  }
  tikv__kvs_free(&l->values);
  free(l->keys);
  void (*then)(txn_op_t *, tikv_error_t *) = l->then;
  free(l);
  then(op, err);
}

static void got_for_update_ts(void *arg, tikv_error_t *err, uint64_t ts) {
  locker_t *l = arg;
  if (err) {
    locker_finish(l, err);
    return;
  }
  l->for_update_ts = ts;
  lock_phase(l);
}

static void lock_phase_done(void *arg, tikv_error_t *err) {
  locker_t *l = arg;
  if (err) {
    locker_finish(l, err);
    return;
  }
  if (l->need_new_ts) {
    /* a write newer than our for_update_ts: lock again at a newer one, as
     * pessimistic transactions read and lock the latest version */
    l->need_new_ts = false;
    tikv__kvs_truncate(&l->values, 0);
    if (++l->conflicts > 10) {
      locker_finish(l, tikv__error_new(TIKV_ERR_WRITE_CONFLICT,
                                       "pessimistic lock: write conflicts kept recurring"));
      return;
    }
    tikv__pd_get_ts(&l->t->c->pd, l->deadline, got_for_update_ts, l);
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
    locker_finish(l, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  for (size_t i = 0; i < n; i++) idx[i] = from + i;
  tikv__multi_run_idx(&l->t->c->router, &l->mops, l, l->keys, idx, n, l->deadline);
  free(idx);
}

void tikv__txn_lock_pessimistic(txn_op_t *op, bool want_values,
                                void (*then)(txn_op_t *op, tikv_error_t *err)) {
  tikv_txn_t *t = op->t;
  locker_t *l = tikv__calloc(1, sizeof(*l));
  if (l) l->keys = tikv__calloc(op->n ? op->n : 1, sizeof(tikv__bytes_t));
  if (!l || !l->keys) {
    free(l);
    then(op, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  l->op = op;
  l->t = t;
  l->then = then;
  l->want_values = want_values;
  l->deadline = tikv__client_deadline(t->c);
  int64_t w = t->opts.lock_wait_timeout_ms;
  l->wait_deadline = w > 0 ? tikv__now_ms() + w : l->deadline;
  tikv__backoff_init(&l->bo, 10, 1000);
  /* distinct keys; the smallest becomes the primary when there is none */
  for (size_t i = 0; i < op->n; i++) {
    bool dup = false;
    for (size_t j = 0; j < l->n && !dup; j++)
      dup = !tikv__key_cmp(l->keys[j].data, l->keys[j].len, op->keys[i].data, op->keys[i].len);
    if (!dup) l->keys[l->n++] = op->keys[i];
  }
  if (!t->has_primary && l->n) {
    size_t min = 0;
    for (size_t i = 1; i < l->n; i++)
      if (tikv__key_cmp(l->keys[i].data, l->keys[i].len, l->keys[min].data, l->keys[min].len) < 0) min = i;
    tikv__bytes_t tmp = l->keys[0];
    l->keys[0] = l->keys[min];
    l->keys[min] = tmp;
    if (tikv__bytes_set(&t->primary, l->keys[0].data, l->keys[0].len)) {
      free(l->keys);
      free(l);
      then(op, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
      return;
    }
    t->has_primary = true;
    l->chose_primary = true;
    l->primary_phase = true;
  }
  l->mops = (tikv__multi_ops_t){
      .req = TIKV__REQ_KV_PESSIMISTIC_LOCK,
      .ks = TIKV__KS_TXN,
      .max_keys = TIKV__TXN_BATCH_KEYS,
      .build = lock_build,
      .on_response = lock_response,
      .done = lock_phase_done,
  };
  tikv__pd_get_ts(&t->c->pd, l->deadline, got_for_update_ts, l);
}
