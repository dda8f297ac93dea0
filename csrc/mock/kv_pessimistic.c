/* Pessimistic locks of the mock TiKV (see kv_txn.h): KvPessimisticLock in
 * the steps of TiKV's actions/acquire_pessimistic_lock.rs (our own lock, a
 * newer write, our own rollback, the data constraint, the value read), the
 * command's wait for another txn's lock through the lock manager (mvcc.c:
 * waiters, deadlock detection) and KVPessimisticRollback. */
#include "mock/kv_txn.h"

#define DEFAULT_WAIT_FOR_LOCK_MS 1000 /* TiKV's pessimistic-txn.wait-for-lock-timeout */

/* What one mutation of the request will do once every one passed. */
typedef struct pess_plan {
  mv_key_t *k;
  bool write;     /* install / refresh the lock */
  bool has_value; /* the value read (return_values / check_existence) */
  const uint8_t *value;
  size_t value_len;
} pess_plan;

/* The request's shared state. */
typedef struct pess_req {
  mock_kvctx_t *kc;
  const Kvrpcpb__PessimisticLockRequest *q;
  Kvrpcpb__PessimisticLockResponse *r;
  pess_plan *plan;
  mv_key_t *locked_key; /* another txn's lock met: the request waits for it */
} pess_req;

static uint64_t wait_ms_of(int64_t wait_timeout) {
  if (wait_timeout == 0 || wait_timeout > DEFAULT_WAIT_FOR_LOCK_MS) return DEFAULT_WAIT_FOR_LOCK_MS;
  return (uint64_t)wait_timeout;
}

/* The key has no lock: the newest write decides (PessimisticRetry
 * conflict, our own rollback, the data constraint). */
static Kvrpcpb__KeyError *check_writes(pess_req *pr, mv_key_t *k, bool should_not_exist) {
  mock_kvctx_t *kc = pr->kc;
  const Kvrpcpb__PessimisticLockRequest *q = pr->q;
  uint64_t start_ts = q->start_version;
  mv_write_t *w = mv_seek_write(k, UINT64_MAX);
  if (!w) return NULL;
  if (w->commit_ts > q->for_update_ts)
    return ke_conflict(kc, start_ts, w->start_ts, w->commit_ts, k->raw, k->raw_len,
                       q->primary_lock.data, q->primary_lock.len,
                       KVRPCPB__WRITE_CONFLICT__REASON__PessimisticRetry);
  mv_write_t *own = mv_seek_write(k, start_ts);
  if (own && own->commit_ts == start_ts && (own->type == MV_W_ROLLBACK || own->overlapped_rollback))
    return ke_abort(kc, mock_arena_printf(kc->arena,
                                          "PessimisticLockRolledBack { start_ts: TimeStamp(%llu), "
                                          "key: %s }",
                                          ULL(start_ts), txn_dbg_bytes(kc, k->raw, k->raw_len)));
  if (should_not_exist && txn_key_exists_from(k, w)) return ke_already_exist(kc, k);
  return NULL;
}

/* acquire_pessimistic_lock for mutation i: NULL and its plan (or
 * pr->locked_key when another txn holds the key), or the key error. */
static Kvrpcpb__KeyError *acquire_one(pess_req *pr, size_t i) {
  mock_kvctx_t *kc = pr->kc;
  const Kvrpcpb__PessimisticLockRequest *q = pr->q;
  const Kvrpcpb__Mutation *mu = q->mutations[i];
  pess_plan *p = &pr->plan[i];
  if (mu->op != KVRPCPB__OP__PessimisticLock)
    return ke_other(kc, "mismatch Op in pessimistic lock mutations");
  if (!(p->k = key_of(kc, &mu->key, true))) return ke_other(kc, "out of memory");
  mv_lock_t *l = p->k->lock;
  Kvrpcpb__KeyError *err = NULL;
  if (l && l->ts != q->start_version) {
    pr->locked_key = p->k;
    return NULL;
  }
  if (l && l->type != KVRPCPB__OP__PessimisticLock)
    err = ke_lock_type_not_match(kc, q->start_version, p->k, false);
  else if (l)
    p->write = q->for_update_ts > l->for_update_ts; /* ours: refreshed when newer */
  else if (!(err = check_writes(pr, p->k, mu->assertion == KVRPCPB__ASSERTION__NotExist)))
    p->write = true;
  if (err) return err;
  if (q->return_values || q->check_existence) {
    mv_write_t *v = mv_read_version(p->k, q->for_update_ts);
    if ((p->has_value = v && v->type == MV_W_PUT)) {
      p->value = v->value.data;
      p->value_len = v->value.len;
    }
  }
  if (q->lock_only_if_exists && !p->has_value) p->write = false;
  return NULL;
}

/* ---- waiting for another txn's lock (TiKV's lock manager) ---- */
static Kvrpcpb__KeyError *deadlock_error(mock_kvctx_t *kc, const mv_key_t *k, uint64_t lock_ts,
                                         uint64_t hash) {
  Kvrpcpb__KeyError *d = ke_new(kc);
  d->deadlock = NEW(Kvrpcpb__Deadlock, KVRPCPB__DEADLOCK__INIT);
  d->deadlock->lock_ts = lock_ts;
  d->deadlock->lock_key = bin(kc, k->raw, k->raw_len);
  d->deadlock->deadlock_key_hash = hash;
  return d;
}

/* A waiter answering with r (packed now) on timeout; NULL on OOM. Its reply
 * is deferred last, once nothing else can fail. */
static mv_waiter_t *waiter_new(pess_req *pr, mv_key_t *k) {
  mv_waiter_t *w = tikv__calloc(1, sizeof(*w));
  if (!w) return NULL;
  size_t n = protobuf_c_message_get_packed_size(&pr->r->base);
  w->timeout_resp = tikv__malloc(n ? n : 1);
  w->timeout_resp_len = n;
  if (!w->timeout_resp || tikv__bytes_set(&w->raw_key, k->raw, k->raw_len) ||
      set_bytes(&w->primary, &pr->q->primary_lock) || !(w->reply = mock_kv_defer(pr->kc))) {
    mv_waiter_free(w);
    return NULL;
  }
  protobuf_c_message_pack(&pr->r->base, w->timeout_resp);
  return w;
}

/* Another txn holds locked_key: the KeyIsLocked answer, a deadlock, or a
 * wait (the reply deferred: the lock manager answers). */
static void wait_for_lock(pess_req *pr) {
  mock_kvctx_t *kc = pr->kc;
  const Kvrpcpb__PessimisticLockRequest *q = pr->q;
  mv_key_t *k = pr->locked_key;
  mv_lock_t *l = k->lock;
  pr->r->errors[pr->r->n_errors++] = ke_locked(kc, k, l);
  if (q->wait_timeout < 0) return; /* no wait */
  uint64_t hash = 0;
  if (!q->is_first_lock && mv_would_deadlock(store(kc), q->start_version, l->ts, &hash)) {
    pr->r->errors[0] = deadlock_error(kc, k, l->ts, hash);
    return;
  }
  mv_waiter_t *w = waiter_new(pr, k);
  if (!w) return;
  w->m = kc->m;
  w->key = k;
  w->store_id = kc->store_id;
  w->start_ts = q->start_version;
  w->lock_ts = l->ts;
  w->key_hash = mv_key_hash(k->raw, k->raw_len);
  mv_waiter_add(store(kc), w, !q->is_first_lock, (int64_t)wait_ms_of(q->wait_timeout));
}

/* ---- every mutation passed ---- */
static void write_locks(pess_req *pr) {
  const Kvrpcpb__PessimisticLockRequest *q = pr->q;
  for (size_t i = 0; i < q->n_mutations; i++) {
    if (!pr->plan[i].write) continue;
    mv_lock_t *nl = mv_lock_new();
    if (!nl || set_bytes(&nl->primary, &q->primary_lock)) {
      mv_lock_free(nl);
      continue;
    }
    nl->type = KVRPCPB__OP__PessimisticLock;
    nl->ts = q->start_version;
    nl->ttl = q->lock_ttl;
    nl->for_update_ts = q->for_update_ts;
    nl->min_commit_ts = q->min_commit_ts;
    mv_set_lock(pr->plan[i].k, nl);
  }
}

static void fill_values(pess_req *pr) {
  mock_kvctx_t *kc = pr->kc;
  const Kvrpcpb__PessimisticLockRequest *q = pr->q;
  Kvrpcpb__PessimisticLockResponse *r = pr->r;
  size_t n = q->n_mutations;
  if (q->return_values) {
    r->values = mock_arena_alloc(kc->arena, (n + 1) * sizeof(ProtobufCBinaryData));
    r->n_values = n;
    for (size_t i = 0; i < n; i++)
      if (pr->plan[i].has_value) r->values[i] = bin(kc, pr->plan[i].value, pr->plan[i].value_len);
  }
  if (q->return_values || q->check_existence) {
    r->not_founds = mock_arena_alloc(kc->arena, (n + 1) * sizeof(protobuf_c_boolean));
    r->n_not_founds = n;
    for (size_t i = 0; i < n; i++) r->not_founds[i] = !pr->plan[i].has_value;
  }
}

void mock_kv_pessimistic_lock(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__PessimisticLockRequest *q = msg;
  Kvrpcpb__PessimisticLockResponse *r = out;
  if ((r->region_error = txn_check_mutations(kc, kc->region, q->mutations, q->n_mutations))) return;
  r->errors = mock_arena_alloc(kc->arena, sizeof(void *));
  if (q->lock_only_if_exists && !q->return_values) {
    r->errors[r->n_errors++] = ke_other(kc, "lock_only_if_exists is set, but return_values is not");
    return;
  }
  mv_update_max_ts(store(kc), q->for_update_ts);
  pess_req pr = {kc, q, r, mock_arena_alloc(kc->arena, (q->n_mutations + 1) * sizeof(pess_plan)),
                 NULL};
  for (size_t i = 0; i < q->n_mutations && !pr.locked_key; i++) {
    Kvrpcpb__KeyError *err = acquire_one(&pr, i);
    if (err) {
      r->errors[r->n_errors++] = err;
      return;
    }
  }
  if (pr.locked_key) {
    wait_for_lock(&pr);
    return;
  }
  write_locks(&pr);
  fill_values(&pr);
}

void mock_kv_pessimistic_rollback(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__PessimisticRollbackRequest *q = msg;
  Kvrpcpb__PessimisticRollbackResponse *r = out;
  if ((r->region_error = txn_check_keys(kc, kc->region, q->keys, q->n_keys))) return;
  for (size_t i = 0; i < q->n_keys; i++) {
    mv_key_t *k = key_of(kc, &q->keys[i], false);
    mv_lock_t *l = k ? k->lock : NULL;
    if (l && l->type == KVRPCPB__OP__PessimisticLock && l->ts == q->start_version &&
        l->for_update_ts <= q->for_update_ts)
      mv_unlock(store(kc), k, 0);
  }
}
