/* KvPrewrite of the mock TiKV (see kv_txn.h), in the steps of TiKV's
 * src/storage/txn/actions/prewrite.rs, one mutation at a time:
 *   1. the mutation's properties (PrewriteMutation::from_mutation);
 *   2. check_lock: another txn's lock, our pessimistic lock, or a duplicate
 *      of our own prewrite; without a lock, amend_pessimistic_lock for a
 *      key that should have had one;
 *   3. check_for_newer_version: write conflicts, our own rollback, and the
 *      data constraint (Insert on an existing key);
 *   4. write_lock, with async_commit_timestamps for async commit and 1PC;
 * and around them the command (commands/prewrite.rs): locks of other
 * transactions are collected over every mutation, any other error fails
 * the whole request, a retried prewrite of a committed transaction
 * succeeds (check_committed_record_on_err), CommitTsTooLarge falls back to
 * 2PC, and 1PC writes the records at once. Nothing is written unless every
 * mutation passed. */
#include <stdio.h>

#include "mock/kv_txn.h"

/* The request as TiKV's TransactionProperties, and what the command has
 * gathered so far. */
typedef struct pw_txn {
  mock_kvctx_t *kc;
  const Kvrpcpb__PrewriteRequest *q;
  Kvrpcpb__PrewriteResponse *r;
  uint64_t start_ts;
  bool pessimistic;        /* for_update_ts != 0 */
  bool need_min_commit_ts; /* async commit or 1PC */
  bool fallback;           /* CommitTsTooLarge (or a duplicate without ts): plain 2PC */
  uint64_t final_min_commit_ts;
  uint64_t committed_ts; /* a retry of a txn that committed at this ts */
  /* the locks to install (or, for 1PC, to commit at once) */
  struct pw_planned {
    mv_key_t *k;
    mv_lock_t *lock;
    bool replaces_pessimistic;
  } *plan;
  size_t nplan;
} pw_txn_t;

/* One mutation (TiKV's PrewriteMutation). */
typedef struct pw_mutation {
  const Kvrpcpb__Mutation *mu;
  mv_key_t *k;
  bool should_not_exist, should_not_write;
  bool pessimistic_check; /* DoPessimisticCheck: the key must hold our pessimistic lock */
  bool constraint_check;  /* check_for_newer_version runs */
  bool has_pessimistic_lock;
  uint64_t lock_ttl, min_commit_ts;
} pw_mutation_t;

/* What a step tells the command. */
typedef enum {
  PW_NEXT,      /* go on with this mutation's next step */
  PW_DONE,      /* this mutation needs nothing more (duplicate, collected lock, check only) */
  PW_FAIL,      /* the request fails with *err */
  PW_COMMITTED, /* the txn already committed: the retry succeeds */
} pw_step;

static void raise_min_commit_ts(pw_txn_t *t, uint64_t ts) {
  if (ts > t->final_min_commit_ts) t->final_min_commit_ts = ts;
}

/* ---- 1. the mutation ---- */
static pw_step mutation_of(pw_txn_t *t, size_t i, pw_mutation_t *pm, Kvrpcpb__KeyError **err) {
  mock_kvctx_t *kc = t->kc;
  const Kvrpcpb__PrewriteRequest *q = t->q;
  const Kvrpcpb__Mutation *mu = q->mutations[i];
  int op = mu->op;
  memset(pm, 0, sizeof(*pm));
  pm->mu = mu;
  if (op != KVRPCPB__OP__Put && op != KVRPCPB__OP__Del && op != KVRPCPB__OP__Lock &&
      op != KVRPCPB__OP__Insert && op != KVRPCPB__OP__CheckNotExists) {
    *err = ke_other(kc, "mismatch Op in prewrite mutations");
    return PW_FAIL;
  }
  pm->should_not_exist = op == KVRPCPB__OP__Insert || op == KVRPCPB__OP__CheckNotExists;
  pm->should_not_write = op == KVRPCPB__OP__CheckNotExists;
  int action = i < q->n_pessimistic_actions ? (int)q->pessimistic_actions[i] : 0;
  pm->pessimistic_check =
      t->pessimistic &&
      action == KVRPCPB__PREWRITE_REQUEST__PESSIMISTIC_ACTION__DO_PESSIMISTIC_CHECK;
  pm->constraint_check =
      t->pessimistic ? action == KVRPCPB__PREWRITE_REQUEST__PESSIMISTIC_ACTION__DO_CONSTRAINT_CHECK
                     : !q->skip_constraint_check;
  if (t->pessimistic && pm->should_not_write) {
    *err = ke_other(kc, "cannot handle checkNotExists in pessimistic prewrite");
    return PW_FAIL;
  }
  if (!(pm->k = key_of(kc, &mu->key, true))) {
    *err = ke_other(kc, "out of memory");
    return PW_FAIL;
  }
  pm->lock_ttl = q->lock_ttl;
  pm->min_commit_ts = q->min_commit_ts;
  return PW_NEXT;
}

/* ---- 2. check_lock ---- */
/* Another txn holds the key: its lock joins the KeyIsLocked errors of the
 * response and the other mutations are still checked (TiDB resolves them
 * all at once), unless this is a retry after our own commit. */
static pw_step other_txn_locked(pw_txn_t *t, pw_mutation_t *pm) {
  Kvrpcpb__KeyError *e = ke_locked(t->kc, pm->k, pm->k->lock);
  if (t->pessimistic) e->locked->lock_ttl = 0; /* TiDB resolves these at once */
  if ((t->committed_ts = txn_committed_at(pm->k, t->start_ts))) return PW_COMMITTED;
  t->r->errors[t->r->n_errors++] = e;
  return PW_DONE;
}

/* amend_pessimistic_lock: a key that should hold our pessimistic lock but
 * does not may still be prewritten while nothing committed since start. */
static pw_step amend_pessimistic_lock(pw_txn_t *t, pw_mutation_t *pm, Kvrpcpb__KeyError **err) {
  mv_write_t *w = mv_seek_write(pm->k, UINT64_MAX);
  if (w && w->commit_ts >= t->start_ts) {
    *err = ke_pessimistic_lock_not_found(t->kc, t->start_ts, pm->k);
    return PW_FAIL;
  }
  return PW_NEXT;
}

static pw_step check_lock(pw_txn_t *t, pw_mutation_t *pm, Kvrpcpb__KeyError **err) {
  mv_lock_t *l = pm->k->lock;
  if (!l) return pm->pessimistic_check ? amend_pessimistic_lock(t, pm, err) : PW_NEXT;
  if (l->ts != t->start_ts) {
    if (!pm->pessimistic_check) return other_txn_locked(t, pm);
    *err = ke_pessimistic_lock_not_found(t->kc, t->start_ts, pm->k);
    return PW_FAIL;
  }
  if (l->type == KVRPCPB__OP__PessimisticLock) {
    if (!t->pessimistic) {
      *err = ke_lock_type_not_match(t->kc, t->start_ts, pm->k, true);
      return PW_FAIL;
    }
    /* ours: overwritten by the prewrite lock, its ttl and min_commit_ts kept if larger */
    pm->has_pessimistic_lock = true;
    if (l->ttl > pm->lock_ttl) pm->lock_ttl = l->ttl;
    if (l->min_commit_ts > pm->min_commit_ts) pm->min_commit_ts = l->min_commit_ts;
    return PW_NEXT;
  }
  /* a duplicate of this prewrite: the lock stays as it is */
  uint64_t ts = l->use_async_commit ? l->min_commit_ts : 0;
  if (t->need_min_commit_ts && ts == 0) t->fallback = true;
  if (t->need_min_commit_ts) raise_min_commit_ts(t, ts);
  return PW_DONE;
}

/* ---- 3. check_for_newer_version ---- */
static pw_step check_for_newer_version(pw_txn_t *t, pw_mutation_t *pm, Kvrpcpb__KeyError **err) {
  mv_key_t *k = pm->k;
  mv_write_t *w = mv_seek_write(k, UINT64_MAX);
  if (!w) return PW_NEXT;
  const ProtobufCBinaryData *pri = &t->q->primary_lock;
  if (w->commit_ts > t->start_ts)
    *err = ke_conflict(t->kc, t->start_ts, w->start_ts, w->commit_ts, k->raw, k->raw_len, pri->data,
                       pri->len,
                       t->pessimistic ? KVRPCPB__WRITE_CONFLICT__REASON__LazyUniquenessCheck
                                      : KVRPCPB__WRITE_CONFLICT__REASON__Optimistic);
  else if (w->commit_ts == t->start_ts && (w->type == MV_W_ROLLBACK || w->overlapped_rollback))
    *err = ke_conflict(t->kc, t->start_ts, w->start_ts, w->commit_ts, k->raw, k->raw_len, pri->data,
                       pri->len, KVRPCPB__WRITE_CONFLICT__REASON__SelfRolledBack);
  else if (pm->should_not_exist && txn_key_exists_from(k, w))
    *err = ke_already_exist(t->kc, k);
  return *err ? PW_FAIL : PW_NEXT;
}

/* check_committed_record_on_err: a write conflict or a missing pessimistic
 * lock on a retried prewrite of a txn that has committed is no error. */
static pw_step check_committed_record_on_err(pw_txn_t *t, pw_mutation_t *pm,
                                             const Kvrpcpb__KeyError *err) {
  bool lost_lock = err->abort && strstr(err->abort, "PessimisticLockNotFound");
  if ((err->conflict || lost_lock) && (t->committed_ts = txn_committed_at(pm->k, t->start_ts)))
    return PW_COMMITTED;
  return PW_FAIL;
}

/* ---- 4. write_lock ---- */
/* async_commit_timestamps: above everything read so far on this store. */
static void async_commit_timestamps(pw_txn_t *t, mv_lock_t *nl) {
  uint64_t base = mv_max_ts(store(t->kc));
  if (t->start_ts > base) base = t->start_ts;
  if (t->q->for_update_ts > base) base = t->q->for_update_ts;
  uint64_t ts = base + 1;
  if (nl->min_commit_ts > ts) ts = nl->min_commit_ts;
  if (t->q->max_commit_ts && ts > t->q->max_commit_ts) {
    t->fallback = true; /* CommitTsTooLarge: plain 2PC for this request */
    return;
  }
  nl->min_commit_ts = ts;
  raise_min_commit_ts(t, ts);
}

/* The lock of an async-commit txn, the primary's with the secondaries. */
static int set_async_commit(const Kvrpcpb__PrewriteRequest *q, const Kvrpcpb__Mutation *mu,
                            mv_lock_t *nl) {
  nl->use_async_commit = true;
  if (!key_eq(mu->key.data, mu->key.len, q->primary_lock.data, q->primary_lock.len) ||
      !q->n_secondaries)
    return 0;
  if (!(nl->secondaries = tikv__calloc(q->n_secondaries, sizeof(tikv__bytes_t)))) return -1;
  nl->nsecondaries = q->n_secondaries;
  for (size_t j = 0; j < q->n_secondaries; j++)
    if (set_bytes(&nl->secondaries[j], &q->secondaries[j])) return -1;
  return 0;
}

static pw_step write_lock(pw_txn_t *t, pw_mutation_t *pm, Kvrpcpb__KeyError **err) {
  const Kvrpcpb__PrewriteRequest *q = t->q;
  mv_lock_t *nl = mv_lock_new();
  int op = pm->mu->op;
  if (!nl || set_bytes(&nl->primary, &q->primary_lock)) goto oom;
  nl->type = op == KVRPCPB__OP__Insert ? KVRPCPB__OP__Put : op;
  nl->ts = t->start_ts;
  nl->ttl = pm->lock_ttl;
  nl->for_update_ts = q->for_update_ts;
  nl->txn_size = q->txn_size;
  nl->min_commit_ts = pm->min_commit_ts;
  if (nl->type == KVRPCPB__OP__Put && set_bytes(&nl->value, &pm->mu->value)) goto oom;
  if (q->use_async_commit && set_async_commit(q, pm->mu, nl)) goto oom;
  if (t->need_min_commit_ts && !t->fallback) async_commit_timestamps(t, nl);
  struct pw_planned *p = &t->plan[t->nplan++];
  p->k = pm->k;
  p->lock = nl;
  p->replaces_pessimistic = pm->has_pessimistic_lock;
  return PW_NEXT;
oom:
  mv_lock_free(nl);
  *err = ke_other(t->kc, "out of memory");
  return PW_FAIL;
}

/* A CheckNotExists mutation: checked, nothing written; it reads, so it
 * pushes max_ts, and bounds the commit ts like a read at start_ts would. */
static pw_step check_not_exists_done(pw_txn_t *t, pw_mutation_t *pm) {
  mv_update_max_ts(store(t->kc), t->start_ts);
  if (t->need_min_commit_ts)
    raise_min_commit_ts(t,
                        pm->min_commit_ts > t->start_ts + 1 ? pm->min_commit_ts : t->start_ts + 1);
  return PW_DONE;
}

/* prewrite(): the steps for mutation i. */
static pw_step prewrite_one(pw_txn_t *t, size_t i, Kvrpcpb__KeyError **err) {
  pw_mutation_t pm;
  pw_step s = mutation_of(t, i, &pm, err);
  if (s != PW_NEXT) return s;
  s = check_lock(t, &pm, err);
  if (s == PW_NEXT && pm.constraint_check) s = check_for_newer_version(t, &pm, err);
  if (s == PW_FAIL) return check_committed_record_on_err(t, &pm, *err);
  if (s != PW_NEXT) return s;
  if (pm.should_not_write) return check_not_exists_done(t, &pm);
  return write_lock(t, &pm, err);
}

/* ---- the command ---- */
/* Every mutation passed: install the locks, or with 1PC commit them now. */
static void apply(pw_txn_t *t, bool one_pc) {
  for (size_t i = 0; i < t->nplan; i++) {
    mv_key_t *k = t->plan[i].k;
    mv_lock_t *nl = t->plan[i].lock;
    t->plan[i].lock = NULL;
    if (!one_pc) {
      mv_set_lock(k, nl);
      continue;
    }
    mv_put_write(k, t->final_min_commit_ts, t->start_ts, txn_write_type_of_lock(nl->type),
                 nl->value.data, nl->value.len, false);
    mv_lock_free(nl);
    if (t->plan[i].replaces_pessimistic) mv_unlock(store(t->kc), k, t->final_min_commit_ts);
  }
  if (one_pc) t->r->one_pc_commit_ts = t->final_min_commit_ts;
}

/* CommitTsTooLarge (or a duplicate lock without a commit ts): the request
 * goes on as plain 2PC, its locks without async-commit data. */
static void fall_back_to_2pc(pw_txn_t *t) {
  t->final_min_commit_ts = 0;
  for (size_t i = 0; i < t->nplan; i++) {
    mv_lock_t *nl = t->plan[i].lock;
    nl->use_async_commit = false;
    for (size_t j = 0; j < nl->nsecondaries; j++) tikv__bytes_free(&nl->secondaries[j]);
    free(nl->secondaries);
    nl->secondaries = NULL;
    nl->nsecondaries = 0;
  }
}

static void finish(pw_txn_t *t, pw_step s, Kvrpcpb__KeyError *fatal) {
  const Kvrpcpb__PrewriteRequest *q = t->q;
  Kvrpcpb__PrewriteResponse *r = t->r;
  if (s == PW_COMMITTED) { /* the retry succeeds, with the commit's ts */
    r->n_errors = 0;
    if (q->use_async_commit) r->min_commit_ts = t->committed_ts;
    if (q->try_one_pc) r->one_pc_commit_ts = t->committed_ts;
  } else if (s == PW_FAIL) {
    r->errors[0] = fatal;
    r->n_errors = 1;
  } else {
    bool async = q->use_async_commit, one_pc = q->try_one_pc;
    if (t->fallback) {
      async = one_pc = false;
      fall_back_to_2pc(t);
    }
    if (async) r->min_commit_ts = t->final_min_commit_ts;
    if (r->n_errors == 0) apply(t, one_pc); /* locked keys: nothing written */
  }
  for (size_t i = 0; i < t->nplan; i++) mv_lock_free(t->plan[i].lock);
}

void mock_kv_prewrite(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__PrewriteRequest *q = msg;
  Kvrpcpb__PrewriteResponse *r = out;
  if ((r->region_error = txn_check_mutations(kc, kc->region, q->mutations, q->n_mutations))) return;
  pw_txn_t t = {
      kc, q, r, q->start_version, q->for_update_ts != 0, q->use_async_commit || q->try_one_pc};
  r->errors = mock_arena_alloc(kc->arena, (q->n_mutations + 1) * sizeof(void *));
  t.plan = mock_arena_alloc(kc->arena, (q->n_mutations + 1) * sizeof(*t.plan));
  pw_step s = PW_NEXT;
  Kvrpcpb__KeyError *fatal = NULL;
  for (size_t i = 0; i < q->n_mutations && s != PW_FAIL && s != PW_COMMITTED; i++)
    s = prewrite_one(&t, i, &fatal);
  finish(&t, s, fatal);
}
