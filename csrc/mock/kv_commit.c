/* The actions that end a transaction (TiKV's actions/commit.rs,
 * cleanup.rs, check_txn_status.rs) and the commands built on them: KvCommit,
 * KvBatchRollback, KvCleanup, KvCheckTxnStatus, KvCheckSecondaryLocks,
 * KvTxnHeartBeat, KvResolveLock; and KvDeleteRange. See kv_txn.h. */
#include "mock/kv_txn.h"

/* ---- actions ---- */
void txn_rollback_lock(mock_kvctx_t *kc, mv_key_t *k, bool collapse) {
  mv_lock_t *l = k->lock;
  uint64_t ts = l->ts;
  mv_commit_record_t rec = mv_commit_record(k, ts);
  if (rec.kind == MV_REC_NONE) {
    bool protected_rb = l->for_update_ts != 0 && is_primary(k, l);
    /* TiKV collapses against its snapshot, before the new record */
    if (collapse) mv_collapse_prev_rollback(k, ts);
    mv_put_rollback(k, ts, protected_rb, rec.overlapped);
  }
  mv_unlock(store(kc), k, 0);
}

char txn_missing_lock_rollback(mv_key_t *k, uint64_t start_ts, bool protect, uint64_t *commit_ts) {
  mv_commit_record_t rec = mv_commit_record(k, start_ts);
  if (rec.kind == MV_REC_SINGLE) {
    if (rec.write->type == MV_W_ROLLBACK) return 'R';
    *commit_ts = rec.write->commit_ts;
    return 'C';
  }
  if (rec.kind == MV_REC_OVERLAPPED_ROLLBACK) return 'R';
  if (!protect) mv_collapse_prev_rollback(k, start_ts);
  if (k->lock && k->lock->ts != start_ts && !rec.overlapped)
    mv_lock_mark_rollback(k->lock, start_ts);
  mv_put_rollback(k, start_ts, protect, rec.overlapped);
  return 'N';
}

Kvrpcpb__KeyError *txn_cleanup(mock_kvctx_t *kc, mv_key_t *k, uint64_t start_ts,
                               uint64_t current_ts, bool protect, uint64_t *committed_ts) {
  mv_lock_t *l = k->lock;
  if (l && l->ts == start_ts) {
    if (current_ts && TS_PHYS(l->ts) + l->ttl >= TS_PHYS(current_ts)) return ke_locked(kc, k, l);
    txn_rollback_lock(kc, k, !protect);
    return NULL;
  }
  uint64_t cts = 0;
  if (txn_missing_lock_rollback(k, start_ts, protect, &cts) == 'C') {
    if (committed_ts) *committed_ts = cts;
    return ke_committed(kc, start_ts, cts, k);
  }
  return NULL;
}

bool txn_cleanup_would_fail(const mv_key_t *k, uint64_t start_ts) {
  if (k->lock && k->lock->ts == start_ts) return false;
  mv_commit_record_t rec = mv_commit_record((mv_key_t *)k, start_ts);
  return rec.kind == MV_REC_SINGLE && rec.write->type != MV_W_ROLLBACK;
}

int txn_write_type_of_lock(int lock_type) {
  switch (lock_type) {
    case KVRPCPB__OP__Put: return MV_W_PUT;
    case KVRPCPB__OP__Del: return MV_W_DELETE;
    default: return MV_W_LOCK; /* Lock, and a pessimistic lock left behind */
  }
}

Kvrpcpb__KeyError *txn_commit_check(mock_kvctx_t *kc, mv_key_t *k, uint64_t start_ts,
                                    uint64_t commit_ts) {
  mv_lock_t *l = k->lock;
  if (l && l->ts == start_ts) {
    if (commit_ts < l->min_commit_ts)
      return ke_commit_ts_expired(kc, start_ts, commit_ts, k, l->min_commit_ts);
    return NULL;
  }
  mv_commit_record_t rec = mv_commit_record(k, start_ts);
  if (rec.kind == MV_REC_SINGLE && rec.write->type != MV_W_ROLLBACK) return NULL; /* done before */
  return ke_txn_lock_not_found(kc, start_ts, commit_ts, k);
}

void txn_commit_apply(mock_kvctx_t *kc, mv_key_t *k, uint64_t start_ts, uint64_t commit_ts) {
  mv_lock_t *l = k->lock;
  if (!l || l->ts != start_ts) return; /* already committed */
  if (mv_put_write(k, commit_ts, start_ts, txn_write_type_of_lock(l->type), l->value.data,
                   l->value.len, false) == 0) {
    if (ts_in(commit_ts, l->rollback_ts, l->nrollback_ts)) {
      mv_write_t *w = mv_seek_write(k, commit_ts);
      if (w && w->commit_ts == commit_ts) w->overlapped_rollback = true;
    }
  }
  mv_unlock(store(kc), k, commit_ts);
}

bool txn_key_exists_from(mv_key_t *k, const mv_write_t *w) {
  if (w->type == MV_W_DELETE) return false;
  if (w->type == MV_W_PUT) return true;
  mv_write_t *v = mv_read_version(k, w->commit_ts);
  return v && v->type == MV_W_PUT;
}

uint64_t txn_committed_at(mv_key_t *k, uint64_t start_ts) {
  mv_commit_record_t rec = mv_commit_record(k, start_ts);
  return rec.kind == MV_REC_SINGLE && rec.write->type != MV_W_ROLLBACK ? rec.write->commit_ts : 0;
}

/* The keys of a request, created when absent; NULL (*err set) on OOM. */
static mv_key_t **keys_of(mock_kvctx_t *kc, const ProtobufCBinaryData *keys, size_t n,
                          Kvrpcpb__KeyError **err) {
  mv_key_t **ks = mock_arena_alloc(kc->arena, (n + 1) * sizeof(*ks));
  for (size_t i = 0; i < n; i++)
    if (!(ks[i] = key_of(kc, &keys[i], true))) {
      *err = ke_other(kc, "out of memory");
      return NULL;
    }
  return ks;
}

/* ---- commit, rollback, cleanup ---- */
void mock_kv_commit(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__CommitRequest *q = msg;
  Kvrpcpb__CommitResponse *r = out;
  if ((r->region_error = txn_check_keys(kc, kc->region, q->keys, q->n_keys))) return;
  uint64_t st = q->start_version, ct = q->commit_version;
  if (ct <= st) {
    r->error = ke_invalid_txn_tso(kc, st, ct);
    return;
  }
  mv_key_t **ks = keys_of(kc, q->keys, q->n_keys, &r->error);
  for (size_t i = 0; ks && i < q->n_keys; i++)
    if ((r->error = txn_commit_check(kc, ks[i], st, ct))) return;
  if (!ks) return;
  for (size_t i = 0; i < q->n_keys; i++) txn_commit_apply(kc, ks[i], st, ct);
  r->commit_version = ct;
}

/* The Committed error when rolling back txn st on one of ks would fail
 * (all or nothing), else NULL. */
static Kvrpcpb__KeyError *rollback_check(mock_kvctx_t *kc, mv_key_t **ks, size_t n, uint64_t st) {
  for (size_t i = 0; i < n; i++)
    if (txn_cleanup_would_fail(ks[i], st))
      return ke_committed(kc, st, txn_committed_at(ks[i], st), ks[i]);
  return NULL;
}

void mock_kv_batch_rollback(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__BatchRollbackRequest *q = msg;
  Kvrpcpb__BatchRollbackResponse *r = out;
  if ((r->region_error = txn_check_keys(kc, kc->region, q->keys, q->n_keys))) return;
  mv_key_t **ks = keys_of(kc, q->keys, q->n_keys, &r->error);
  if (!ks || (r->error = rollback_check(kc, ks, q->n_keys, q->start_version))) return;
  for (size_t i = 0; i < q->n_keys; i++) txn_cleanup(kc, ks[i], q->start_version, 0, false, NULL);
}

void mock_kv_cleanup(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__CleanupRequest *q = msg;
  Kvrpcpb__CleanupResponse *r = out;
  if ((r->region_error = txn_check_keys(kc, kc->region, &q->key, 1))) return;
  mv_update_max_ts(store(kc), q->current_ts);
  mv_key_t **ks = keys_of(kc, &q->key, 1, &r->error);
  if (!ks) return;
  uint64_t committed = 0;
  Kvrpcpb__KeyError *e = txn_cleanup(kc, ks[0], q->start_version, q->current_ts, true, &committed);
  if (committed)
    r->commit_version = committed; /* TiKV's extract_committed */
  else
    r->error = e;
}

/* ---- transaction status ---- */
/* check_txn_status_lock_exists: the primary's lock of the txn is there. */
static void txn_status_of_lock(mock_kvctx_t *kc, const Kvrpcpb__CheckTxnStatusRequest *q,
                               Kvrpcpb__CheckTxnStatusResponse *r, mv_key_t *k) {
  mv_lock_t *l = k->lock;
  if (q->verify_is_primary && !is_primary(k, l)) {
    r->error = ke_new(kc);
    r->error->primary_mismatch = NEW(Kvrpcpb__PrimaryMismatch, KVRPCPB__PRIMARY_MISMATCH__INIT);
    r->error->primary_mismatch->lock_info = txn_lock_info(kc, k->raw, k->raw_len, l);
    return;
  }
  bool pushed = false;
  if (!l->use_async_commit || q->force_sync_commit) {
    if (TS_PHYS(l->ts) + l->ttl < TS_PHYS(q->current_ts)) {
      if (q->resolving_pessimistic_lock && l->type == KVRPCPB__OP__PessimisticLock) {
        mv_unlock(store(kc), k, 0);
        r->action = KVRPCPB__ACTION__TTLExpirePessimisticRollback;
      } else {
        txn_rollback_lock(kc, k, true);
        r->action = KVRPCPB__ACTION__TTLExpireRollback;
      }
      return;
    }
    if (l->min_commit_ts && q->caller_start_ts != UINT64_MAX &&
        q->caller_start_ts >= l->min_commit_ts) {
      l->min_commit_ts = q->caller_start_ts + 1;
      if (l->min_commit_ts < q->current_ts) l->min_commit_ts = q->current_ts;
    }
    pushed = (q->caller_start_ts && l->min_commit_ts > q->caller_start_ts) ||
             q->caller_start_ts == UINT64_MAX;
  }
  if (pushed) r->action = KVRPCPB__ACTION__MinCommitTSPushed;
  r->lock_ttl = l->ttl;
  r->lock_info = txn_lock_info(kc, l->primary.data, l->primary.len, l);
}

/* check_txn_status_missing_lock. */
static void txn_status_without_lock(mock_kvctx_t *kc, const Kvrpcpb__CheckTxnStatusRequest *q,
                                    Kvrpcpb__CheckTxnStatusResponse *r, mv_key_t *k) {
  mv_commit_record_t rec = mv_commit_record(k, q->lock_ts);
  if (rec.kind == MV_REC_SINGLE) {
    if (rec.write->type != MV_W_ROLLBACK) r->commit_version = rec.write->commit_ts;
    return; /* rolled back: NoAction, ttl 0, commit_version 0 */
  }
  if (rec.kind == MV_REC_OVERLAPPED_ROLLBACK) return;
  if (!q->rollback_if_not_exist) {
    r->error = ke_txn_not_found(kc, q->lock_ts, q->primary_key.data, q->primary_key.len);
  } else if (q->resolving_pessimistic_lock) {
    r->action = KVRPCPB__ACTION__LockNotExistDoNothing;
  } else {
    uint64_t cts = 0;
    txn_missing_lock_rollback(k, q->lock_ts, true, &cts);
    r->action = KVRPCPB__ACTION__LockNotExistRollback;
  }
}

void mock_kv_check_txn_status(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__CheckTxnStatusRequest *q = msg;
  Kvrpcpb__CheckTxnStatusResponse *r = out;
  if ((r->region_error = txn_check_keys(kc, kc->region, &q->primary_key, 1))) return;
  mock_mvcc_t *s = store(kc);
  mv_update_max_ts(s, q->lock_ts);
  mv_update_max_ts(s, q->current_ts);
  mv_update_max_ts(s, q->caller_start_ts);
  mv_key_t **ks = keys_of(kc, &q->primary_key, 1, &r->error);
  if (!ks) return;
  if (ks[0]->lock && ks[0]->lock->ts == q->lock_ts)
    txn_status_of_lock(kc, q, r, ks[0]);
  else
    txn_status_without_lock(kc, q, r, ks[0]);
}

/* One key of CheckSecondaryLocks: true when the answer is known (the txn
 * committed, was rolled back, or is now rolled back here), false to go on
 * with the next key. */
static bool check_secondary(mock_kvctx_t *kc, mv_key_t *k, uint64_t start_ts,
                            Kvrpcpb__CheckSecondaryLocksResponse *r) {
  mv_lock_t *l = k->lock;
  mv_commit_record_t rec = mv_commit_record(k, start_ts);
  if (l && l->ts == start_ts) {
    if (l->type != KVRPCPB__OP__PessimisticLock) {
      r->locks[r->n_locks++] = txn_lock_info(kc, k->raw, k->raw_len, l);
      return false;
    }
    /* a pessimistic lock: the txn cannot have committed; roll it back */
    mv_unlock(store(kc), k, 0);
    mv_put_rollback(k, start_ts, true, rec.kind == MV_REC_NONE ? rec.overlapped : NULL);
  } else if (rec.kind == MV_REC_SINGLE) {
    if (rec.write->type != MV_W_ROLLBACK) r->commit_ts = rec.write->commit_ts;
  } else if (rec.kind == MV_REC_NONE) {
    /* protected rollback, so a late prewrite cannot succeed */
    if (l && !rec.overlapped) mv_lock_mark_rollback(l, start_ts);
    mv_put_rollback(k, start_ts, true, rec.overlapped);
  }
  r->n_locks = 0;
  return true;
}

void mock_kv_check_secondary_locks(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__CheckSecondaryLocksRequest *q = msg;
  Kvrpcpb__CheckSecondaryLocksResponse *r = out;
  if ((r->region_error = txn_check_keys(kc, kc->region, q->keys, q->n_keys))) return;
  r->locks = mock_arena_alloc(kc->arena, (q->n_keys + 1) * sizeof(void *));
  for (size_t i = 0; i < q->n_keys; i++) {
    mv_key_t *k = key_of(kc, &q->keys[i], true);
    if (!k) {
      r->error = ke_other(kc, "out of memory");
      break;
    }
    if (check_secondary(kc, k, q->start_version, r)) break;
  }
}

void mock_kv_txn_heart_beat(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__TxnHeartBeatRequest *q = msg;
  Kvrpcpb__TxnHeartBeatResponse *r = out;
  if ((r->region_error = txn_check_keys(kc, kc->region, &q->primary_lock, 1))) return;
  mv_key_t *k = key_of(kc, &q->primary_lock, false);
  if (!k || !k->lock || k->lock->ts != q->start_version) {
    r->error = ke_txn_not_found(kc, q->start_version, q->primary_lock.data, q->primary_lock.len);
    return;
  }
  if (k->lock->ttl < q->advise_lock_ttl) k->lock->ttl = q->advise_lock_ttl;
  r->lock_ttl = k->lock->ttl;
}

/* ---- lock resolution ---- */
/* ResolveLockLite: only the listed keys, of txn start_version; commit at
 * commit_version, or roll back (0). All or nothing. */
static void resolve_lock_lite(mock_kvctx_t *kc, const Kvrpcpb__ResolveLockRequest *q,
                              Kvrpcpb__ResolveLockResponse *r) {
  uint64_t st = q->start_version, ct = q->commit_version;
  if (ct && ct <= st) {
    r->error = ke_invalid_txn_tso(kc, st, ct);
    return;
  }
  mv_key_t **ks = keys_of(kc, q->keys, q->n_keys, &r->error);
  if (!ks) return;
  for (size_t i = 0; ct && i < q->n_keys; i++)
    if ((r->error = txn_commit_check(kc, ks[i], st, ct))) return;
  if (!ct && (r->error = rollback_check(kc, ks, q->n_keys, st))) return;
  for (size_t i = 0; i < q->n_keys; i++) {
    if (ct)
      txn_commit_apply(kc, ks[i], st, ct);
    else
      txn_cleanup(kc, ks[i], st, 0, false, NULL);
  }
}

/* Whether commit ts ct (0: roll back) may resolve lock l (TiKV's
 * ResolveLock checks every lock before it writes). */
static Kvrpcpb__KeyError *resolve_check(mock_kvctx_t *kc, mv_key_t *k, const mv_lock_t *l,
                                        uint64_t ct) {
  if (ct && ct <= l->ts) return ke_invalid_txn_tso(kc, l->ts, ct);
  if (ct && ct < l->min_commit_ts) return ke_commit_ts_expired(kc, l->ts, ct, k, l->min_commit_ts);
  return NULL;
}

/* Every lock of the listed txns in the region: start_version alone, or
 * (start_version 0) the txn_infos. A check pass, then the writes. */
static void resolve_lock_region(mock_kvctx_t *kc, const Kvrpcpb__ResolveLockRequest *q,
                                Kvrpcpb__ResolveLockResponse *r, const mock_region_t *reg) {
  size_t nst = q->start_version ? 1 : q->n_txn_infos;
  uint64_t *sts = mock_arena_alloc(kc->arena, (nst + 1) * sizeof(uint64_t));
  uint64_t *cts = mock_arena_alloc(kc->arena, (nst + 1) * sizeof(uint64_t));
  for (size_t i = 0; i < nst; i++) {
    sts[i] = q->start_version ? q->start_version : q->txn_infos[i]->txn;
    cts[i] = q->start_version ? q->commit_version : q->txn_infos[i]->status;
  }
  mock_mvcc_t *s = store(kc);
  txn_range_t rg;
  if ((r->error = txn_region_range(kc, reg, NULL, NULL, &rg))) return;
  for (int pass = 0; pass < 2 && !r->error; pass++) {
    for (mv_key_t *k = mv_first(s, rg.lo, rg.lol); k && below_hi(k, &rg); k = mv_next(s, k)) {
      mv_lock_t *l = k->lock;
      size_t j = 0;
      while (l && j < nst && sts[j] != l->ts) j++;
      if (!l || j == nst) continue;
      if (pass == 0) {
        if ((r->error = resolve_check(kc, k, l, cts[j]))) break;
      } else if (cts[j]) {
        txn_commit_apply(kc, k, l->ts, cts[j]);
      } else {
        txn_rollback_lock(kc, k, true);
      }
    }
  }
  txn_range_free(&rg);
}

void mock_kv_resolve_lock(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__ResolveLockRequest *q = msg;
  Kvrpcpb__ResolveLockResponse *r = out;
  if ((r->region_error = txn_check_keys(kc, kc->region, q->keys, q->n_keys))) return;
  if (q->n_keys)
    resolve_lock_lite(kc, q, r);
  else
    resolve_lock_region(kc, q, r, kc->region);
}

/* ---- range deletion (TiKV's Storage::delete_range; not a transaction) ---- */
void mock_kv_delete_range(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__DeleteRangeRequest *q = msg;
  Kvrpcpb__DeleteRangeResponse *r = out;
  mock_region_t *reg = kc->region;
  txn_range_t rg;
  Kvrpcpb__KeyError *e =
      txn_region_range(kc, reg, &q->start_key, q->end_key.len ? &q->end_key : NULL, &rg);
  if (e) {
    r->error = e->abort;
    return;
  }
  if (!q->notify_only) mv_delete_range(store(kc), rg.lo, rg.lol, rg.hi, rg.hi ? rg.hil : 0);
  txn_range_free(&rg);
}

/* ---- UnsafeDestroyRange (TiKV's gc_worker unsafe_destroy_range) ----
 * Store-wide, below Raft: every lock, record and value of the user keys in
 * [start, end), on the store asked; the data here is one copy, so the
 * first store's call does it and the others find it done. In API v1 raw
 * and transactional keys share TiKV's column families, so raw keys inside
 * the encoded range go too. TiKV asserts both keys are non-empty. */
void mock_unsafe_destroy_range(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__UnsafeDestroyRangeRequest *q = msg;
  Kvrpcpb__UnsafeDestroyRangeResponse *r = out;
  if (!q->start_key.len || !q->end_key.len) {
    r->error = "unsafe destroy range: start_key and end_key must not be empty";
    return;
  }
  uint8_t *lo = NULL, *hi = NULL;
  size_t lol, hil;
  if (tikv__codec_encode_bytes(q->start_key.data, q->start_key.len, &lo, &lol) ||
      tikv__codec_encode_bytes(q->end_key.data, q->end_key.len, &hi, &hil)) {
    r->error = "out of memory";
  } else if (tikv__key_cmp(lo, lol, hi, hil) < 0) {
    mv_delete_range(store(kc), lo, lol, hi, hil);
    for (int cf = 0; cf < MOCK_CF_COUNT; cf++)
      mock_kvmap_delete_range(kc->m->raw[cf], lo, lol, hi, hil, false);
  }
  free(lo);
  free(hi);
}
