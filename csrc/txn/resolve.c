/* The lock resolver. A lock met by a read or a write belongs to a transaction
 * whose fate its primary key decides: CheckTxnStatus on the primary says
 * committed (roll the lock forward), rolled back or expired (roll it back),
 * or alive (wait, unless the primary's min_commit_ts was pushed past the
 * reader). Async-commit locks are decided by their secondaries
 * (CheckSecondaryLocks), as client-go does. */
#include <stdio.h>

#include "region/validate.h"
#include "txn/txn_internal.h"

/* The KeyErrors that carry only a message and, in their own "key" field,
 * the key. */
#define KE(field) offsetof(Kvrpcpb__KeyError, field)
static const struct {
  size_t field;
  int code;
  const char *kind, *text;
} PLAIN_KEY_ERRORS[] = {
    {KE(already_exist), TIKV_ERR_ALREADY_EXIST, "already_exist", "key already exists"},
    {KE(txn_lock_not_found), TIKV_ERR_TXN_ABORTED, "txn_lock_not_found",
     "the transaction's lock is gone"},
    {KE(assertion_failed), TIKV_ERR_ASSERTION_FAILED, "assertion_failed", "assertion failed"},
    {KE(commit_ts_too_large), TIKV_ERR_TXN_RETRYABLE, "commit_ts_too_large",
     "commit ts too large"},
    {KE(primary_mismatch), TIKV_ERR_SERVER, "primary_mismatch", "primary mismatch"},
};

static tikv_error_t *plain_key_error(const Kvrpcpb__KeyError *ke, const char *what) {
  for (size_t i = 0; i < sizeof(PLAIN_KEY_ERRORS) / sizeof(PLAIN_KEY_ERRORS[0]); i++) {
    const ProtobufCMessage *sub =
        *(const ProtobufCMessage *const *)((const char *)ke + PLAIN_KEY_ERRORS[i].field);
    if (!sub) continue;
    tikv_error_t *e = tikv__error_new(PLAIN_KEY_ERRORS[i].code, "%s: %s", what,
                                      PLAIN_KEY_ERRORS[i].text);
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(sub->descriptor, "key");
    if (fd && fd->type == PROTOBUF_C_TYPE_BYTES) {
      const ProtobufCBinaryData *k = (const void *)((const char *)sub + fd->offset);
      tikv__bytes_set(&e->key, k->data, k->len);
    }
    tikv__error_set_kind(e, PLAIN_KEY_ERRORS[i].kind);
    return e;
  }
  return NULL;
}

/* The KeyErrors about another transaction: its timestamps, key, primary. */
static tikv_error_t *txn_key_error(const Kvrpcpb__KeyError *ke, const char *what) {
  tikv_error_t *e;
  const ProtobufCBinaryData *key = NULL, *primary = NULL;
  if (ke->conflict) {
    const Kvrpcpb__WriteConflict *w = ke->conflict;
    e = tikv__error_new(TIKV_ERR_WRITE_CONFLICT,
                        "%s: write conflict: txn %llu conflicts with txn %llu (committed at %llu)",
                        what, (unsigned long long)w->start_ts, (unsigned long long)w->conflict_ts,
                        (unsigned long long)w->conflict_commit_ts);
    key = &w->key;
    primary = &w->primary;
    e->start_ts = w->start_ts;
    e->conflict_ts = w->conflict_commit_ts ? w->conflict_commit_ts : w->conflict_ts;
    tikv__error_set_kind(e, "conflict");
  } else if (ke->deadlock) {
    e = tikv__error_new(TIKV_ERR_DEADLOCK, "%s: deadlock: waiting for the lock of txn %llu",
                        what, (unsigned long long)ke->deadlock->lock_ts);
    key = &ke->deadlock->lock_key;
    e->conflict_ts = ke->deadlock->lock_ts;
    tikv__error_set_kind(e, "deadlock");
  } else if (ke->commit_ts_expired) {
    const Kvrpcpb__CommitTsExpired *x = ke->commit_ts_expired;
    e = tikv__error_new(TIKV_ERR_COMMIT_TS_EXPIRED,
                        "%s: commit ts %llu expired (min commit ts %llu)", what,
                        (unsigned long long)x->attempted_commit_ts,
                        (unsigned long long)x->min_commit_ts);
    key = &x->key;
    e->start_ts = x->start_ts;
    tikv__error_set_kind(e, "commit_ts_expired");
  } else if (ke->txn_not_found) {
    e = tikv__error_new(TIKV_ERR_TXN_NOT_FOUND, "%s: transaction %llu not found", what,
                        (unsigned long long)ke->txn_not_found->start_ts);
    primary = &ke->txn_not_found->primary_key;
    e->start_ts = ke->txn_not_found->start_ts;
    tikv__error_set_kind(e, "txn_not_found");
  } else {
    return NULL;
  }
  if (key) tikv__bytes_set(&e->key, key->data, key->len);
  if (primary) tikv__bytes_set(&e->primary, primary->data, primary->len);
  return e;
}

tikv_error_t *tikv__key_error(const Kvrpcpb__KeyError *ke, const char *what) {
  tikv_error_t *e = txn_key_error(ke, what);
  if (!e) e = plain_key_error(ke, what);
  if (e) return e;
  if (ke->retryable && ke->retryable[0]) {
    e = tikv__error_new(TIKV_ERR_TXN_RETRYABLE, "%s: %s", what, ke->retryable);
    tikv__error_set_kind(e, "retryable");
  } else if (ke->abort && ke->abort[0]) {
    e = tikv__error_new(TIKV_ERR_TXN_ABORTED, "%s: %s", what, ke->abort);
    tikv__error_set_kind(e, "abort");
  } else if (ke->locked) {
    const Kvrpcpb__LockInfo *l = ke->locked;
    e = tikv__error_new(TIKV_ERR_KEY_LOCKED, "%s: key is locked by txn %llu", what,
                        (unsigned long long)l->lock_version);
    tikv__bytes_set(&e->key, l->key.data, l->key.len);
    tikv__bytes_set(&e->primary, l->primary_lock.data, l->primary_lock.len);
    e->start_ts = l->lock_version;
    e->lock_ttl = l->lock_ttl;
    tikv__error_set_kind(e, "locked");
  } else {
    e = tikv__error_new(TIKV_ERR_SERVER, "%s: unknown key error", what);
  }
  return e;
}

/* ---- the resolver ---- */
typedef enum { ST_ALIVE, ST_COMMITTED, ST_ROLLED_BACK } txn_fate;

typedef struct {
  uint64_t ts;
  txn_fate fate;
  uint64_t commit_ts;
} status_t;

typedef struct resolver {
  tikv__point_t point; /* CheckTxnStatus on the current lock's primary */
  tikv__router_t *rt;
  uint64_t caller_ts;
  tikv__locks_t locks;
  size_t i; /* the current lock */
  tikv__scope_t *scope;
  tikv__resolve_cb cb;
  void *arg;
  uint64_t current_ts;
  int64_t wait_ms; /* min over live locks; 0 none */
  status_t *statuses;
  size_t n_status;
  /* what CheckTxnStatus said of the primary */
  uint64_t commit_ts, lock_ttl;
  bool pushed;             /* its min_commit_ts went past the caller */
  bool async;              /* an async-commit primary lock ... */
  uint64_t async_lock_ttl; /* ... with this TTL */
  /* async-commit resolution: CheckSecondaryLocks over the secondaries */
  bool sec_committed, sec_missing;
  uint64_t sec_commit_ts, sec_max_min_commit_ts;
} resolver_t;

static void next_lock(resolver_t *r);

static void finish(resolver_t *r, tikv_error_t *err) {
  tikv__resolve_cb cb = r->cb;
  void *arg = r->arg;
  int64_t wait = r->wait_ms;
  uint64_t *pushed = tikv__calloc(r->n_status + 1, sizeof(uint64_t));
  size_t n_pushed = 0;
  for (size_t i = 0; pushed && i < r->n_status; i++)
    if (r->statuses[i].fate == ST_ALIVE) pushed[n_pushed++] = r->statuses[i].ts;
  tikv__locks_free(&r->locks);
  free(r->statuses);
  free(r);
  cb(arg, err, err ? 0 : wait, pushed, n_pushed);
  free(pushed);
}

/* The lock being resolved. */
static tikv__lock_t *current_lock(resolver_t *r) { return &r->locks.items[r->i]; }

/* Finishes r with err, if there is one. */
static bool failed(resolver_t *r, tikv_error_t *err) {
  if (err) finish(r, err);
  return err != NULL;
}

static status_t *status_of(resolver_t *r, uint64_t ts) {
  for (size_t i = 0; i < r->n_status; i++)
    if (r->statuses[i].ts == ts) return &r->statuses[i];
  return NULL;
}

static void remember(resolver_t *r, uint64_t ts, txn_fate fate, uint64_t commit_ts) {
  status_t *s = tikv__realloc(r->statuses, (r->n_status + 1) * sizeof(*s));
  if (!s) return; /* only a cache */
  r->statuses = s;
  s[r->n_status++] = (status_t){ts, fate, commit_ts};
}

/* ms until a lock of this TTL may expire, at least 1 */
static int64_t ttl_left(const resolver_t *r, const tikv__lock_t *k, uint64_t ttl) {
  return TIKV__TS_PHYSICAL(k->ts) + (int64_t)ttl - TIKV__TS_PHYSICAL(r->current_ts);
}

static void live(resolver_t *r, const tikv__lock_t *k, uint64_t ttl) {
  int64_t left = ttl_left(r, k, ttl);
  if (left < 1) left = 1;
  if (r->wait_ms == 0 || left < r->wait_ms) r->wait_ms = left;
}

/* ---- ResolveLock / PessimisticRollback of the current lock ---- */
static void resolve_done(void *arg, tikv_error_t *err) {
  resolver_t *r = arg;
  if (failed(r, err)) return;
  r->i++;
  next_lock(r);
}

/* Rolls the current lock (or, for async commit, all its keys) forward to
 * commit_ts, or back when 0: a pessimistic lock by PessimisticRollback, any
 * other by ResolveLock. */
static void apply_fate(resolver_t *r, uint64_t commit_ts, bool all_keys) {
  tikv__lock_t *k = current_lock(r);
  size_t n = 1 + (all_keys ? k->n_secondaries + 1 : 0);
  tikv__bytes_t **keys = tikv__calloc(n, sizeof(*keys));
  if (!keys) {
    finish(r, tikv__oom());
    return;
  }
  keys[0] = &k->key;
  if (all_keys) {
    keys[1] = &k->primary;
    for (size_t i = 0; i < k->n_secondaries; i++) keys[2 + i] = &k->secondaries[i];
  }
  int kind = k->lock_type == KVRPCPB__OP__PessimisticLock && commit_ts == 0 ? TIKV__BG_PESS_ROLLBACK
                                                                            : TIKV__BG_RESOLVE;
  tikv__txn_bg(r->rt, kind, k->ts, commit_ts, k->for_update_ts, keys, n, r->scope, 0, resolve_done,
               r);
  free(keys);
}

/* ---- CheckSecondaryLocks for async commit ---- */
static int build_check_sec(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                           grpc_slice *out) {
  const tikv__lock_t *k = current_lock(arg);
  Kvrpcpb__CheckSecondaryLocksRequest q = KVRPCPB__CHECK_SECONDARY_LOCKS_REQUEST__INIT;
  q.context = ctx;
  q.start_version = k->ts;
  return tikv__pack_keys(&q.base, k->secondaries, part, out);
}

static tikv_error_t *consume_check_sec(void *arg, tikv__part_t *part,
                                       const ProtobufCMessage *resp) {
  resolver_t *r = arg;
  const Kvrpcpb__CheckSecondaryLocksResponse *s =
      (const Kvrpcpb__CheckSecondaryLocksResponse *)resp;
  if (s->error) return tikv__key_error(s->error, "CheckSecondaryLocks");
  const tikv__lock_t *k = current_lock(r);
  tikv_error_t *bad = tikv__check_commit_ts("TiKV KvCheckSecondaryLocks", k->ts, s->commit_ts);
  for (size_t i = 0; !bad && i < s->n_locks; i++)
    if (s->locks[i]->lock_version != k->ts)
      bad = tikv__bad_reply("TiKV KvCheckSecondaryLocks", "a lock of txn %llu, not of txn %llu",
                            (unsigned long long)s->locks[i]->lock_version,
                            (unsigned long long)k->ts);
  if (bad) return bad;
  if (s->commit_ts) {
    r->sec_committed = true;
    r->sec_commit_ts = s->commit_ts;
  }
  size_t locked = 0;
  for (size_t i = 0; i < s->n_locks; i++) {
    if (!s->locks[i]->use_async_commit) continue;
    locked++;
    if (s->locks[i]->min_commit_ts > r->sec_max_min_commit_ts)
      r->sec_max_min_commit_ts = s->locks[i]->min_commit_ts;
  }
  if (locked < part->n && !s->commit_ts) r->sec_missing = true;
  return NULL;
}

static const tikv__kind_t KV_CHECK_SECONDARY_LOCKS = {
    TIKV__REQ_KV_CHECK_SECONDARY_LOCKS, TIKV__KS_TXN, build_check_sec, consume_check_sec,
    .max_keys = TIKV__TXN_BATCH_KEYS};

static void check_sec_done(void *arg, tikv_error_t *err) {
  resolver_t *r = arg;
  if (failed(r, err)) return;
  tikv__lock_t *k = current_lock(r);
  uint64_t commit_ts = 0;
  if (r->sec_committed)
    commit_ts = r->sec_commit_ts;
  else if (!r->sec_missing)
    commit_ts = r->sec_max_min_commit_ts; /* every key prewritten: committed at the max */
  remember(r, k->ts, commit_ts ? ST_COMMITTED : ST_ROLLED_BACK, commit_ts);
  apply_fate(r, commit_ts, true);
}

/* The primary's lock (its min_commit_ts in sec_max_min_commit_ts, its
 * secondaries in the lock) says which keys decide. */
static void resolve_async(resolver_t *r) {
  tikv__lock_t *k = current_lock(r);
  r->sec_committed = r->sec_missing = false;
  r->sec_commit_ts = 0;
  tikv__multi_run(r->rt, &KV_CHECK_SECONDARY_LOCKS, r, k->secondaries, NULL, k->n_secondaries,
                  r->scope, check_sec_done);
}

/* ---- CheckTxnStatus on the primary ---- */
static int build_check(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                       grpc_slice *out) {
  resolver_t *r = arg;
  const tikv__lock_t *k = current_lock(r);
  Kvrpcpb__CheckTxnStatusRequest q = KVRPCPB__CHECK_TXN_STATUS_REQUEST__INIT;
  q.context = ctx;
  q.primary_key = (ProtobufCBinaryData){k->primary.len, k->primary.data};
  q.lock_ts = k->ts;
  q.caller_start_ts = r->caller_ts;
  q.current_ts = r->current_ts;
  q.rollback_if_not_exist = 1;
  q.resolving_pessimistic_lock = k->lock_type == KVRPCPB__OP__PessimisticLock;
  return tikv__pack(&q.base, out);
}

static tikv_error_t *consume_check(void *arg, tikv__part_t *part, const ProtobufCMessage *resp) {
  resolver_t *r = arg;
  const Kvrpcpb__CheckTxnStatusResponse *s = (const Kvrpcpb__CheckTxnStatusResponse *)resp;
  tikv__lock_t *k = current_lock(r);
  if (s->error) return tikv__key_error(s->error, "CheckTxnStatus");
  tikv_error_t *bad = tikv__check_commit_ts("TiKV KvCheckTxnStatus", k->ts, s->commit_version);
  if (bad) return bad;
  r->commit_ts = s->commit_version;
  r->lock_ttl = s->lock_ttl;
  r->pushed = s->action == KVRPCPB__ACTION__MinCommitTSPushed;
  const Kvrpcpb__LockInfo *pl = s->lock_info;
  r->async = pl && pl->use_async_commit;
  if (!r->async) return NULL;
  r->async_lock_ttl = pl->lock_ttl;
  r->sec_max_min_commit_ts = pl->min_commit_ts;
  /* the primary's lock knows every secondary; the lock we met may not */
  if (!k->n_secondaries && tikv__lock_set_secondaries(k, pl)) return tikv__oom();
  return NULL;
}

static const tikv__kind_t KV_CHECK_TXN_STATUS = {
    TIKV__REQ_KV_CHECK_TXN_STATUS, TIKV__KS_TXN, build_check, consume_check};

static void check_done(void *arg, tikv_error_t *err) {
  resolver_t *r = arg;
  if (failed(r, err)) return;
  tikv__lock_t *k = current_lock(r);
  if (r->commit_ts || r->lock_ttl == 0) {
    remember(r, k->ts, r->commit_ts ? ST_COMMITTED : ST_ROLLED_BACK, r->commit_ts);
    apply_fate(r, r->commit_ts, false);
    return;
  }
  /* alive */
  if (r->async && ttl_left(r, k, r->async_lock_ttl) <= 0) {
    resolve_async(r);
    return;
  }
  if (r->pushed && r->caller_ts)
    remember(r, k->ts, ST_ALIVE, 0); /* the writer will commit after the reader: go on */
  else
    live(r, k, r->lock_ttl);
  r->i++;
  next_lock(r);
}

static void next_lock(resolver_t *r) {
  while (r->i < r->locks.count) {
    tikv__lock_t *k = current_lock(r);
    status_t *st = status_of(r, k->ts);
    if (!st) {
      tikv__point_run(&r->point, r->rt, &KV_CHECK_TXN_STATUS, r, k->primary.data, k->primary.len,
                      r->scope, check_done);
      return;
    }
    if (st->fate != ST_ALIVE) {
      apply_fate(r, st->fate == ST_COMMITTED ? st->commit_ts : 0, false);
      return;
    }
    r->i++;
  }
  finish(r, NULL);
}

static void got_current_ts(void *arg, tikv_error_t *err, uint64_t ts) {
  resolver_t *r = arg;
  if (failed(r, err)) return;
  r->current_ts = ts;
  next_lock(r);
}

/* Whether every key a lock names is in the client's keyspace: a lock
 * outside it is another keyspace's business, never resolved from here. */
static bool lock_owned(const tikv__router_t *rt, const tikv__lock_t *k) {
  const tikv__apicodec_t *c = &rt->codec;
  bool ok = tikv__apicodec_owns(c, TIKV__KS_TXN, k->key.data, k->key.len) &&
            tikv__apicodec_owns(c, TIKV__KS_TXN, k->primary.data, k->primary.len);
  for (size_t i = 0; ok && i < k->n_secondaries; i++)
    ok = tikv__apicodec_owns(c, TIKV__KS_TXN, k->secondaries[i].data, k->secondaries[i].len);
  return ok;
}

void tikv__resolve_locks(tikv__router_t *rt, uint64_t caller_start_ts, tikv__locks_t *locks,
                         tikv__scope_t *scope, tikv__resolve_cb cb, void *arg) {
  for (size_t i = 0; i < locks->count; i++)
    if (!lock_owned(rt, &locks->items[i])) {
      tikv_error_t *e = tikv__error_new(TIKV_ERR_PROTOCOL,
                                        "TiKV reported a lock of txn %llu outside keyspace %u",
                                        (unsigned long long)locks->items[i].ts,
                                        rt->codec.keyspace_id);
      tikv__locks_free(locks);
      cb(arg, e, 0, NULL, 0);
      return;
    }
  resolver_t *r = tikv__calloc(1, sizeof(*r));
  if (!r) {
    tikv__locks_free(locks);
    cb(arg, tikv__oom(), 0, NULL, 0);
    return;
  }
  r->rt = rt;
  r->caller_ts = caller_start_ts;
  r->locks = *locks;
  memset(locks, 0, sizeof(*locks));
  r->scope = scope;
  r->cb = cb;
  r->arg = arg;
  tikv__pd_get_ts(rt->pd, scope, got_current_ts, r);
}
