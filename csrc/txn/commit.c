/* Commit and rollback. Optimistic or pessimistic, a transaction commits by
 * Percolator two-phase commit: prewrite every key (all regions in parallel),
 * take a commit timestamp, commit the primary key — which decides the
 * outcome — then commit the secondaries in the background. Async commit
 * decides at prewrite (the commit ts is the largest min_commit_ts TiKV
 * returned); one-phase commit writes a transaction that fits in one request
 * at once. */
#include <math.h>
#include <stdio.h>

#include "region/validate.h"
#include "txn/txn_internal.h"

typedef struct committer {
  tikv__point_t point; /* the commit of the primary */
  txn_op_t *op;
  tikv_txn_t *t;
  tikv__bytes_t *keys;
  tikv__mut_t **muts;
  size_t n, primary;
  bool async, one_pc;
  uint64_t lock_ttl, max_commit_ts, min_commit_ts, one_pc_ts, commit_ts;
  bool any_zero_min_commit;
  int commit_tries;
  bool retry_commit; /* the primary's commit ts expired: take a newer one */
  /* a request that decides the outcome (the primary's commit; an async or
   * 1PC prewrite) may have been applied without our knowing: sent, and
   * the attempt failed at transport level */
  bool uncertain;
  tikv__scope_t *scope; /* the commit's */
  tikv__backoff_t lock_bo;
} committer_t;

static void committer_free(committer_t *cm) {
  free(cm->keys);
  free(cm->muts);
  free(cm);
}

static void keys_ptrs_bg(committer_t *cm, int kind, uint64_t commit_ts, bool skip_primary) {
  tikv__bytes_t **ks = tikv__calloc(cm->n ? cm->n : 1, sizeof(*ks));
  if (!ks) return; /* readers resolve what is left */
  size_t m = 0;
  for (size_t i = 0; i < cm->n; i++)
    if (!skip_primary || i != cm->primary) ks[m++] = &cm->keys[i];
  if (m)
    tikv__txn_bg(&cm->t->c->router, kind, cm->t->start_ts, commit_ts, cm->t->for_update_ts, ks, m,
                 NULL, tikv__client_deadline(cm->t->c), NULL, NULL);
  free(ks);
}

static void commit_finish(committer_t *cm, tikv_error_t *err, uint64_t commit_ts) {
  txn_op_t *op = cm->op;
  tikv_txn_t *t = cm->t;
  tikv__txn_heartbeat_stop(t);
  if (err) {
    t->state = TXN_ROLLED_BACK;
    if (err->code != TIKV_ERR_UNDETERMINED) keys_ptrs_bg(cm, TIKV__BG_ROLLBACK, 0, false);
  } else {
    t->state = TXN_COMMITTED;
    op->f->u64 = commit_ts;
    op->f->has_u64 = true;
  }
  committer_free(cm);
  tikv__txn_op_complete(op, err);
}

/* ---- commit of the primary ---- */
static void commit_primary(committer_t *cm);

static int build_commit(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                        grpc_slice *out) {
  committer_t *cm = arg;
  ProtobufCBinaryData key = {cm->keys[cm->primary].len, cm->keys[cm->primary].data};
  Kvrpcpb__CommitRequest q = KVRPCPB__COMMIT_REQUEST__INIT;
  q.context = ctx;
  q.start_version = cm->t->start_ts;
  q.n_keys = 1;
  q.keys = &key;
  q.commit_version = cm->commit_ts;
  return tikv__pack(&q.base, out);
}

static tikv_error_t *consume_commit(void *arg, tikv__part_t *part, const ProtobufCMessage *resp) {
  committer_t *cm = arg;
  const Kvrpcpb__CommitResponse *r = (const Kvrpcpb__CommitResponse *)resp;
  if (!r->error) return NULL;
  if (r->error->commit_ts_expired && cm->commit_tries < 5) {
    /* a reader pushed our min_commit_ts past the commit ts: take a newer one */
    cm->commit_tries++;
    cm->retry_commit = true;
    return NULL;
  }
  tikv_error_t *err = tikv__key_error(r->error, "KvCommit");
  if (err->code == TIKV_ERR_TXN_RETRYABLE || err->code == TIKV_ERR_TXN_NOT_FOUND ||
      err->code == TIKV_ERR_KEY_LOCKED) {
    /* our primary lock is gone (rolled back by a resolver, its TTL having
     * run out while the commit waited, e.g. through a leader election):
     * certainly not committed, so safe to run again — TiDB's "KV error safe
     * to retry" for the same answer */
    tikv_error_t *e = tikv__error_new(TIKV_ERR_TXN_RETRYABLE,
                                      "the transaction was rolled back before its commit: %s",
                                      err->message);
    tikv__error_free(err);
    err = e;
  }
  return err;
}

static void commit_uncertain(void *arg) { ((committer_t *)arg)->uncertain = true; }

/* Sent again after a transport error, as client-go does: TiKV's commit is
 * idempotent and answers for what happened (committed: success; rolled
 * back: an error), so only a failure after an uncertain attempt is
 * undetermined. */
static const tikv__kind_t KV_COMMIT_PRIMARY = {
    TIKV__REQ_KV_COMMIT, TIKV__KS_TXN, build_commit, consume_commit,
    .uncertain = commit_uncertain};

/* A failure of the request that decides the outcome, after an attempt that
 * may have been applied (client-go's undetermined error): the transaction
 * may be committed, so it is neither rolled back nor to be run again. */
static tikv_error_t *undetermined(tikv_error_t *err, const char *what) {
  tikv_error_t *e = tikv__error_new(TIKV_ERR_UNDETERMINED, "%s is undetermined: %s", what,
                                    err->message);
  e->grpc_status = err->grpc_status;
  tikv__error_free(err);
  return e;
}

static void got_commit_ts(void *arg, tikv_error_t *err, uint64_t ts) {
  committer_t *cm = arg;
  if (err) {
    /* nothing was committed: a plain failure */
    commit_finish(cm, err, 0);
    return;
  }
  cm->commit_ts = ts;
  commit_primary(cm);
}

static void commit_done(void *arg, tikv_error_t *err) {
  committer_t *cm = arg;
  if (!err && cm->retry_commit) {
    cm->retry_commit = false;
    tikv__pd_get_ts(&cm->t->c->pd, cm->scope, got_commit_ts, cm);
    return;
  }
  if (err && err->code != TIKV_ERR_UNDETERMINED &&
      (cm->uncertain || err->code == TIKV_ERR_TIMEOUT || err->code == TIKV_ERR_UNAVAILABLE ||
       err->code == TIKV_ERR_GRPC || err->code == TIKV_ERR_CLOSED ||
       err->code == TIKV_ERR_PROTOCOL)) {
    /* the commit may or may not have reached TiKV */
    err = undetermined(err, "commit of the primary key");
  }
  if (err) {
    commit_finish(cm, err, 0);
    return;
  }
  /* decided: the secondaries follow in the background */
  keys_ptrs_bg(cm, TIKV__BG_COMMIT, cm->commit_ts, true);
  commit_finish(cm, NULL, cm->commit_ts);
}

static void commit_primary(committer_t *cm) {
  const tikv__bytes_t *k = &cm->keys[cm->primary];
  tikv__point_run(&cm->point, &cm->t->c->router, &KV_COMMIT_PRIMARY, cm, k->data, k->len,
                  cm->scope, commit_done);
}

/* ---- prewrite ---- */

/* The secondaries an async-commit primary carries: every key but it. */
static ProtobufCBinaryData *secondaries(const committer_t *cm, size_t *n) {
  ProtobufCBinaryData *secs = tikv__calloc(cm->n ? cm->n : 1, sizeof(*secs));
  *n = 0;
  for (size_t i = 0; secs && i < cm->n; i++)
    if (i != cm->primary) secs[(*n)++] = (ProtobufCBinaryData){cm->keys[i].len, cm->keys[i].data};
  return secs;
}

static void fill_mutation(Kvrpcpb__Mutation *mu, const tikv__mut_t *m) {
  mu->op = m->has_write ? m->op : KVRPCPB__OP__Lock;
  mu->key = (ProtobufCBinaryData){m->key.len, m->key.data};
  if (mu->op == KVRPCPB__OP__Put || mu->op == KVRPCPB__OP__Insert)
    mu->value = (ProtobufCBinaryData){m->value.len, m->value.data};
}

static void prewrite_fields(const committer_t *cm, size_t n, Kvrpcpb__PrewriteRequest *q) {
  tikv_txn_t *t = cm->t;
  q->primary_lock = (ProtobufCBinaryData){cm->keys[cm->primary].len, cm->keys[cm->primary].data};
  q->start_version = t->start_ts;
  q->lock_ttl = cm->lock_ttl;
  q->txn_size = cm->n;
  q->for_update_ts = t->opts.pessimistic ? t->for_update_ts : 0;
  if (cm->async || cm->one_pc) {
    uint64_t min = t->start_ts + 1;
    if (t->opts.pessimistic && t->for_update_ts + 1 > min) min = t->for_update_ts + 1;
    q->min_commit_ts = min;
    q->max_commit_ts = cm->max_commit_ts;
  }
  q->use_async_commit = cm->async;
  /* one-phase commit only when this request carries the whole transaction */
  q->try_one_pc = cm->one_pc && n == cm->n;
}

static int build_prewrite(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                          grpc_slice *out) {
  committer_t *cm = arg;
  bool pessimistic = cm->t->opts.pessimistic;
  size_t n = part->n, n_secs = 0;
  bool has_primary = false;
  for (size_t i = 0; i < n; i++) has_primary |= part->idx[i] == cm->primary;
  Kvrpcpb__Mutation **mp = tikv__pb_array(&kvrpcpb__mutation__descriptor, n);
  Kvrpcpb__PrewriteRequest__PessimisticAction *acts =
      pessimistic ? tikv__calloc(n, sizeof(*acts)) : NULL;
  ProtobufCBinaryData *secs = cm->async && has_primary ? secondaries(cm, &n_secs) : NULL;
  int rc = -1;
  if (mp && (!pessimistic || acts) && (!(cm->async && has_primary) || secs)) {
    for (size_t i = 0; i < n; i++) {
      const tikv__mut_t *m = cm->muts[part->idx[i]];
      fill_mutation(mp[i], m);
      if (acts)
        acts[i] = m->pess_locked
                      ? KVRPCPB__PREWRITE_REQUEST__PESSIMISTIC_ACTION__DO_PESSIMISTIC_CHECK
                      : KVRPCPB__PREWRITE_REQUEST__PESSIMISTIC_ACTION__SKIP_PESSIMISTIC_CHECK;
    }
    Kvrpcpb__PrewriteRequest q = KVRPCPB__PREWRITE_REQUEST__INIT;
    q.context = ctx;
    q.n_mutations = n;
    q.mutations = mp;
    q.n_pessimistic_actions = acts ? n : 0;
    q.pessimistic_actions = acts;
    q.n_secondaries = n_secs;
    q.secondaries = secs;
    prewrite_fields(cm, n, &q);
    rc = tikv__pack(&q.base, out);
  }
  free(mp);
  free(acts);
  free(secs);
  return rc;
}

static tikv_error_t *find_prewrite_locks(void *arg, const ProtobufCMessage *resp,
                                         tikv__locks_t *locks) {
  const Kvrpcpb__PrewriteResponse *r = (const Kvrpcpb__PrewriteResponse *)resp;
  for (size_t i = 0; i < r->n_errors; i++) {
    if (!r->errors[i]->locked) return tikv__key_error(r->errors[i], "KvPrewrite");
    if (tikv__locks_add(locks, r->errors[i]->locked)) return tikv__oom();
  }
  return NULL;
}

static uint64_t prewrite_ts(void *arg) { return ((committer_t *)arg)->t->start_ts; }

static tikv_error_t *prewrite_after(void *arg, const ProtobufCMessage *resp, int64_t wait_ms,
                                    const uint64_t *pushed, size_t n_pushed, int *delay) {
  committer_t *cm = arg;
  *delay = tikv__lock_backoff(&cm->lock_bo, wait_ms);
  return NULL;
}

static const tikv__lock_layer_t PREWRITE_LOCKS =
    TIKV__LOCK_LAYER(find_prewrite_locks, prewrite_ts, prewrite_after);

static tikv_error_t *consume_prewrite(void *arg, tikv__part_t *part,
                                      const ProtobufCMessage *resp) {
  committer_t *cm = arg;
  const Kvrpcpb__PrewriteResponse *r = (const Kvrpcpb__PrewriteResponse *)resp;
  tikv_error_t *bad = tikv__check_commit_ts("TiKV KvPrewrite", cm->t->start_ts,
                                            r->one_pc_commit_ts ? r->one_pc_commit_ts
                                            : cm->async         ? r->min_commit_ts
                                                                : 0);
  if (bad) return bad;
  if (r->one_pc_commit_ts) cm->one_pc_ts = r->one_pc_commit_ts;
  if (cm->async) {
    if (r->min_commit_ts == 0) cm->any_zero_min_commit = true;
    if (r->min_commit_ts > cm->min_commit_ts) cm->min_commit_ts = r->min_commit_ts;
  }
  return NULL;
}

/* Only an async-commit or 1PC prewrite decides the outcome: TiKV may
 * have committed it (1PC) or every lock may be in place (async commit, which
 * is then committed). A prewrite is sent again after a transport error
 * either way: TiKV's prewrite is idempotent. */
static void prewrite_uncertain(void *arg) {
  committer_t *cm = arg;
  if (cm->async || cm->one_pc) cm->uncertain = true;
}

static const tikv__kind_t KV_PREWRITE = {
    TIKV__REQ_KV_PREWRITE, TIKV__KS_TXN, build_prewrite, consume_prewrite, &PREWRITE_LOCKS.base,
    .max_keys = TIKV__TXN_BATCH_KEYS, .max_bytes = TIKV__TXN_BATCH_BYTES,
    .uncertain = prewrite_uncertain};

static void prewrite_done(void *arg, tikv_error_t *err) {
  committer_t *cm = arg;
  /* not rolled back (commit_finish): the locks are left to the resolvers,
   * which find the transaction committed or not by its primary */
  if (err && cm->uncertain && err->code != TIKV_ERR_UNDETERMINED)
    err = undetermined(err, cm->one_pc ? "one-phase commit" : "async commit");
  if (err) {
    commit_finish(cm, err, 0);
    return;
  }
  if (cm->one_pc_ts) {
    commit_finish(cm, NULL, cm->one_pc_ts);
    return;
  }
  if (cm->async && !cm->any_zero_min_commit && cm->min_commit_ts) {
    /* every key prewritten with async commit: the transaction is committed */
    keys_ptrs_bg(cm, TIKV__BG_COMMIT, cm->min_commit_ts, false);
    commit_finish(cm, NULL, cm->min_commit_ts);
    return;
  }
  /* two-phase commit (also the fallback when TiKV declined 1PC/async) */
  tikv__pd_get_ts(&cm->t->c->pd, cm->scope, got_commit_ts, cm);
}

static void prewrite(committer_t *cm) {
  cm->t->prewrite_started = true;
  tikv__multi_run(&cm->t->c->router, &KV_PREWRITE, cm, cm->keys, NULL, cm->n, cm->scope,
                  prewrite_done);
}

static void got_max_commit_base(void *arg, tikv_error_t *err, uint64_t ts) {
  committer_t *cm = arg;
  if (err) {
    commit_finish(cm, err, 0);
    return;
  }
  cm->max_commit_ts = ts + ((uint64_t)TIKV__MAX_COMMIT_TS_WINDOW_MS << 18);
  prewrite(cm);
}

void tikv__txn_commit(txn_op_t *op) {
  tikv_txn_t *t = op->t;
  if (t->deferred_err) {
    /* a write acknowledged earlier was lost: never commit without it */
    tikv_error_t *e = t->deferred_err;
    t->deferred_err = NULL;
    t->state = TXN_ROLLED_BACK;
    tikv__txn_op_complete(op, e);
    return;
  }
  committer_t *cm = tikv__calloc(1, sizeof(*cm));
  size_t cap = t->buf.count ? t->buf.count : 1;
  if (cm) {
    cm->keys = tikv__calloc(cap, sizeof(tikv__bytes_t));
    cm->muts = tikv__calloc(cap, sizeof(tikv__mut_t *));
  }
  if (!cm || !cm->keys || !cm->muts) {
    if (cm) committer_free(cm);
    t->state = TXN_ROLLED_BACK;
    tikv__txn_op_complete(op, tikv__oom());
    return;
  }
  cm->op = op;
  cm->t = t;
  cm->scope = &op->f->scope;
  tikv__backoff_init(&cm->lock_bo, 10, 1000);
  size_t bytes = 0, key_bytes = 0;
  for (size_t i = 0; i < t->buf.count; i++) {
    tikv__mut_t *m = &t->buf.items[i];
    if (!m->has_write && !m->pess_locked) continue;
    cm->muts[cm->n] = m;
    cm->keys[cm->n] = m->key;
    cm->n++;
    bytes += m->key.len + m->value.len;
    key_bytes += m->key.len;
  }
  if (cm->n == 0) {
    /* nothing written: nothing to commit */
    commit_finish(cm, NULL, 0);
    return;
  }
  cm->primary = 0;
  if (t->has_primary)
    for (size_t i = 0; i < cm->n; i++)
      if (!tikv__key_cmp(cm->keys[i].data, cm->keys[i].len, t->primary.data, t->primary.len)) cm->primary = i;
  /* client-go's lock TTL: 3 s, more for large transactions, plus the time
   * the transaction has run */
  double mib = (double)bytes / (1024.0 * 1024.0);
  uint64_t ttl = TIKV__DEFAULT_LOCK_TTL_MS;
  if (mib > 1.0) {
    ttl = (uint64_t)(6000.0 * sqrt(mib));
    if (ttl > TIKV__MANAGED_LOCK_TTL_MS) ttl = TIKV__MANAGED_LOCK_TTL_MS;
  }
  if (t->opts.pessimistic && ttl < TIKV__MANAGED_LOCK_TTL_MS) ttl = TIKV__MANAGED_LOCK_TTL_MS;
  cm->lock_ttl = ttl + (uint64_t)(tikv__now_ms() - t->begin_ms);
  cm->async = t->opts.async_commit && cm->n <= TIKV__ASYNC_COMMIT_MAX_KEYS &&
              key_bytes <= TIKV__ASYNC_COMMIT_MAX_BYTES;
  cm->one_pc = t->opts.try_one_pc && cm->n <= TIKV__TXN_BATCH_KEYS && bytes <= TIKV__TXN_BATCH_BYTES;
  if (!t->has_primary) {
    if (tikv__bytes_set(&t->primary, cm->keys[0].data, cm->keys[0].len)) {
      commit_finish(cm, tikv__oom(), 0);
      return;
    }
    t->has_primary = true;
  }
  tikv__txn_heartbeat_start(t);
  if (cm->async || cm->one_pc)
    tikv__pd_get_ts(&t->c->pd, cm->scope, got_max_commit_base, cm);
  else
    prewrite(cm);
}

/* ---- rollback ---- */
typedef struct {
  tikv_txn_t *t;
  txn_op_t *op;
  void (*done)(tikv_txn_t *t);
  int pending;
  tikv_error_t *err;
} rollback_t;

static void rollback_part_done(void *arg, tikv_error_t *err) {
  rollback_t *rb = arg;
  if (err) tikv__error_keep(&rb->err, err);
  if (--rb->pending) return;
  tikv_txn_t *t = rb->t;
  txn_op_t *op = rb->op;
  void (*done)(tikv_txn_t *) = rb->done;
  tikv_error_t *e = rb->err;
  free(rb);
  if (op)
    tikv__txn_op_complete(op, e);
  else
    tikv__error_free(e);
  if (done) done(t);
}

static void rollback_run(tikv_txn_t *t, txn_op_t *op, void (*done)(tikv_txn_t *)) {
  tikv__txn_heartbeat_stop(t);
  rollback_t *rb = tikv__calloc(1, sizeof(*rb));
  tikv__bytes_t **ks = tikv__calloc(t->buf.count ? t->buf.count : 1, sizeof(*ks));
  if (!rb || !ks) {
    free(rb);
    free(ks);
    if (op) tikv__txn_op_complete(op, tikv__oom());
    if (done) done(t);
    return;
  }
  *rb = (rollback_t){t, op, done, 1, NULL};
  size_t m = 0;
  for (size_t i = 0; i < t->buf.count; i++)
    if (t->buf.items[i].pess_locked || (t->prewrite_started && t->buf.items[i].has_write))
      ks[m++] = &t->buf.items[i].key;
  if (m) {
    rb->pending++;
    tikv__txn_bg(&t->c->router, t->prewrite_started ? TIKV__BG_ROLLBACK : TIKV__BG_PESS_ROLLBACK,
                 t->start_ts, 0, t->for_update_ts, ks, m, op ? &op->f->scope : NULL,
                 tikv__client_deadline(t->c), rollback_part_done, rb);
  }
  free(ks);
  rollback_part_done(rb, NULL);
}

void tikv__txn_rollback(txn_op_t *op) {
  op->t->state = TXN_ROLLED_BACK;
  rollback_run(op->t, op, NULL);
}

void tikv__txn_cleanup(tikv_txn_t *t, void (*done)(tikv_txn_t *t)) { rollback_run(t, NULL, done); }
