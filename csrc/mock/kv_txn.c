/* What the mock's transactional handlers share (see kv_txn.h): key errors
 * with TiKV's Debug texts, region checks on user keys, and a request's range
 * inside its region. */
#include <stdio.h>

#include "mock/kv_txn.h"

/* ---- key errors ---- */
/* Rust's Debug form of a byte vector: "[107, 49]" (long keys cut). */
char *txn_dbg_bytes(mock_kvctx_t *kc, const uint8_t *p, size_t n) {
  size_t shown = n > 48 ? 48 : n;
  char *s = mock_arena_alloc(kc->arena, shown * 5 + 16);
  size_t o = 0;
  s[o++] = '[';
  for (size_t i = 0; i < shown; i++) o += (size_t)sprintf(s + o, i ? ", %u" : "%u", p[i]);
  if (shown < n) o += (size_t)sprintf(s + o, ", ..");
  s[o++] = ']';
  s[o] = 0;
  return s;
}

Kvrpcpb__KeyError *ke_new(mock_kvctx_t *kc) {
  return NEW(Kvrpcpb__KeyError, KVRPCPB__KEY_ERROR__INIT);
}

Kvrpcpb__LockInfo *txn_lock_info(mock_kvctx_t *kc, const uint8_t *raw, size_t raw_len,
                                 const mv_lock_t *l) {
  Kvrpcpb__LockInfo *li = NEW(Kvrpcpb__LockInfo, KVRPCPB__LOCK_INFO__INIT);
  li->primary_lock = bin(kc, l->primary.data, l->primary.len);
  li->lock_version = l->ts;
  li->key = bin(kc, raw, raw_len);
  li->lock_ttl = l->ttl;
  li->txn_size = l->txn_size;
  li->lock_type = (Kvrpcpb__Op)l->type;
  li->lock_for_update_ts = l->for_update_ts;
  li->use_async_commit = l->use_async_commit;
  li->min_commit_ts = l->min_commit_ts;
  if (l->nsecondaries) {
    li->secondaries = mock_arena_alloc(kc->arena, l->nsecondaries * sizeof(ProtobufCBinaryData));
    for (size_t i = 0; i < l->nsecondaries; i++)
      li->secondaries[i] = bin(kc, l->secondaries[i].data, l->secondaries[i].len);
    li->n_secondaries = l->nsecondaries;
  }
  return li;
}

Kvrpcpb__KeyError *ke_locked(mock_kvctx_t *kc, const mv_key_t *k, const mv_lock_t *l) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->locked = txn_lock_info(kc, k->raw, k->raw_len, l);
  return e;
}

static const char *reason_name(Kvrpcpb__WriteConflict__Reason r) {
  switch (r) {
    case KVRPCPB__WRITE_CONFLICT__REASON__Optimistic: return "Optimistic";
    case KVRPCPB__WRITE_CONFLICT__REASON__PessimisticRetry: return "PessimisticRetry";
    case KVRPCPB__WRITE_CONFLICT__REASON__SelfRolledBack: return "SelfRolledBack";
    case KVRPCPB__WRITE_CONFLICT__REASON__LazyUniquenessCheck: return "LazyUniquenessCheck";
    default: return "Unknown";
  }
}

Kvrpcpb__KeyError *ke_conflict(mock_kvctx_t *kc, uint64_t start_ts, uint64_t conflict_start,
                               uint64_t conflict_commit, const uint8_t *key, size_t kl,
                               const uint8_t *primary, size_t pl,
                               Kvrpcpb__WriteConflict__Reason reason) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  Kvrpcpb__WriteConflict *w = NEW(Kvrpcpb__WriteConflict, KVRPCPB__WRITE_CONFLICT__INIT);
  w->start_ts = start_ts;
  w->conflict_ts = conflict_start;
  w->conflict_commit_ts = conflict_commit;
  w->key = bin(kc, key, kl);
  w->primary = bin(kc, primary, pl);
  w->reason = reason;
  e->conflict = w;
  /* TiKV also fills `retryable`, for older clients */
  e->retryable = mock_arena_printf(
      kc->arena,
      "Error(Txn(Error(Mvcc(Error(WriteConflict { start_ts: TimeStamp(%llu), conflict_start_ts: "
      "TimeStamp(%llu), conflict_commit_ts: TimeStamp(%llu), key: %s, primary: %s, reason: %s "
      "})))))",
      ULL(start_ts), ULL(conflict_start), ULL(conflict_commit), txn_dbg_bytes(kc, key, kl),
      txn_dbg_bytes(kc, primary, pl), reason_name(reason));
  return e;
}

/* An Mvcc error TiKV only reports through its Debug text in `abort`. */
Kvrpcpb__KeyError *ke_abort(mock_kvctx_t *kc, const char *inner) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->abort = mock_arena_printf(kc->arena, "Error(Txn(Error(Mvcc(Error(%s)))))", inner);
  return e;
}

Kvrpcpb__KeyError *ke_already_exist(mock_kvctx_t *kc, const mv_key_t *k) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->already_exist = NEW(Kvrpcpb__AlreadyExist, KVRPCPB__ALREADY_EXIST__INIT);
  e->already_exist->key = bin(kc, k->raw, k->raw_len);
  return e;
}

Kvrpcpb__KeyError *ke_txn_not_found(mock_kvctx_t *kc, uint64_t start_ts, const uint8_t *primary,
                                    size_t pl) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->txn_not_found = NEW(Kvrpcpb__TxnNotFound, KVRPCPB__TXN_NOT_FOUND__INIT);
  e->txn_not_found->start_ts = start_ts;
  e->txn_not_found->primary_key = bin(kc, primary, pl);
  return e;
}

Kvrpcpb__KeyError *ke_txn_lock_not_found(mock_kvctx_t *kc, uint64_t start_ts, uint64_t commit_ts,
                                         const mv_key_t *k) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->retryable = mock_arena_printf(
      kc->arena,
      "Error(Txn(Error(Mvcc(Error(TxnLockNotFound { start_ts: TimeStamp(%llu), commit_ts: "
      "TimeStamp(%llu), key: %s })))))",
      ULL(start_ts), ULL(commit_ts), txn_dbg_bytes(kc, k->raw, k->raw_len));
  return e;
}

Kvrpcpb__KeyError *ke_committed(mock_kvctx_t *kc, uint64_t start_ts, uint64_t commit_ts,
                                const mv_key_t *k) {
  return ke_abort(
      kc, mock_arena_printf(kc->arena,
                            "Committed { start_ts: TimeStamp(%llu), commit_ts: "
                            "TimeStamp(%llu), key: %s }",
                            ULL(start_ts), ULL(commit_ts), txn_dbg_bytes(kc, k->raw, k->raw_len)));
}

Kvrpcpb__KeyError *ke_pessimistic_lock_not_found(mock_kvctx_t *kc, uint64_t start_ts,
                                                 const mv_key_t *k) {
  return ke_abort(
      kc,
      mock_arena_printf(kc->arena, "PessimisticLockNotFound { start_ts: TimeStamp(%llu), key: %s }",
                        ULL(start_ts), txn_dbg_bytes(kc, k->raw, k->raw_len)));
}

Kvrpcpb__KeyError *ke_lock_type_not_match(mock_kvctx_t *kc, uint64_t start_ts, const mv_key_t *k,
                                          bool pessimistic) {
  return ke_abort(kc, mock_arena_printf(kc->arena,
                                        "LockTypeNotMatch { start_ts: TimeStamp(%llu), key: %s, "
                                        "pessimistic: %s }",
                                        ULL(start_ts), txn_dbg_bytes(kc, k->raw, k->raw_len),
                                        pessimistic ? "true" : "false"));
}

Kvrpcpb__KeyError *ke_commit_ts_expired(mock_kvctx_t *kc, uint64_t start_ts, uint64_t commit_ts,
                                        const mv_key_t *k, uint64_t min_commit_ts) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->commit_ts_expired = NEW(Kvrpcpb__CommitTsExpired, KVRPCPB__COMMIT_TS_EXPIRED__INIT);
  e->commit_ts_expired->start_ts = start_ts;
  e->commit_ts_expired->attempted_commit_ts = commit_ts;
  e->commit_ts_expired->key = bin(kc, k->raw, k->raw_len);
  e->commit_ts_expired->min_commit_ts = min_commit_ts;
  return e;
}

Kvrpcpb__KeyError *ke_invalid_txn_tso(mock_kvctx_t *kc, uint64_t start_ts, uint64_t commit_ts) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->abort = mock_arena_printf(
      kc->arena,
      "Error(Txn(Error(InvalidTxnTso { start_ts: TimeStamp(%llu), commit_ts: TimeStamp(%llu) })))",
      ULL(start_ts), ULL(commit_ts));
  return e;
}

Kvrpcpb__KeyError *ke_other(mock_kvctx_t *kc, const char *msg) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->abort = mock_arena_printf(kc->arena, "Error(Txn(Error(Other(\"%s\"))))", msg);
  return e;
}

/* ---- region checks on user keys ---- */
Errorpb__Error *txn_check_key(mock_kvctx_t *kc, const mock_region_t *r, const uint8_t *raw,
                              size_t len) {
  uint8_t *enc = NULL;
  size_t el = 0;
  if (tikv__codec_encode_bytes(raw, len, &enc, &el)) return mock_key_not_in_region(kc, r, raw, len);
  Errorpb__Error *e = mock_check_key(kc, r, enc, el, false);
  free(enc);
  return e;
}

Errorpb__Error *txn_check_keys(mock_kvctx_t *kc, const mock_region_t *r,
                               const ProtobufCBinaryData *keys, size_t n) {
  for (size_t i = 0; i < n; i++) {
    Errorpb__Error *e = txn_check_key(kc, r, keys[i].data, keys[i].len);
    if (e) return e;
  }
  return NULL;
}

Errorpb__Error *txn_check_mutations(mock_kvctx_t *kc, const mock_region_t *r,
                                    Kvrpcpb__Mutation *const *mutations, size_t n) {
  for (size_t i = 0; i < n; i++) {
    Errorpb__Error *e = txn_check_key(kc, r, mutations[i]->key.data, mutations[i]->key.len);
    if (e) return e;
  }
  return NULL;
}

/* ---- a request's range in its region ---- */
void txn_range_free(txn_range_t *r) {
  free(r->lo);
  free(r->hi);
}

/* lower/upper: user-key bounds, NULL when absent. Returns NULL or the key
 * error. On success *out is clamped to the region. */
Kvrpcpb__KeyError *txn_region_range(mock_kvctx_t *kc, const mock_region_t *reg,
                                    const ProtobufCBinaryData *lower,
                                    const ProtobufCBinaryData *upper, txn_range_t *out) {
  memset(out, 0, sizeof(*out));
  if (lower && tikv__codec_encode_bytes(lower->data, lower->len, &out->lo, &out->lol)) goto oom;
  if (upper && tikv__codec_encode_bytes(upper->data, upper->len, &out->hi, &out->hil)) goto oom;
  bool bad_lo = out->lo && reg->start.len &&
                tikv__key_cmp(out->lo, out->lol, reg->start.data, reg->start.len) < 0;
  bool bad_hi =
      out->hi && reg->end.len && tikv__key_cmp(out->hi, out->hil, reg->end.data, reg->end.len) > 0;
  if (bad_lo || bad_hi) {
    Kvrpcpb__KeyError *e = ke_new(kc);
    e->abort = mock_arena_printf(
        kc->arena,
        "Error(Txn(Error(InvalidReqRange { start: %s, end: %s, lower_bound: Some(%s), "
        "upper_bound: Some(%s) })))",
        out->lo ? mock_arena_printf(kc->arena, "Some(%s)", txn_dbg_bytes(kc, out->lo, out->lol))
                : "None",
        out->hi ? mock_arena_printf(kc->arena, "Some(%s)", txn_dbg_bytes(kc, out->hi, out->hil))
                : "None",
        txn_dbg_bytes(kc, reg->start.data, reg->start.len),
        txn_dbg_bytes(kc, reg->end.data, reg->end.len));
    txn_range_free(out);
    return e;
  }
  if (!out->lo || tikv__key_cmp(out->lo, out->lol, reg->start.data, reg->start.len) < 0) {
    free(out->lo);
    out->lo = tikv__memdup(reg->start.data, reg->start.len);
    out->lol = reg->start.len;
    if (!out->lo) goto oom;
  }
  if (reg->end.len && !out->hi) {
    out->hi = tikv__memdup(reg->end.data, reg->end.len);
    out->hil = reg->end.len;
    if (!out->hi) goto oom;
  }
  return NULL;
oom:
  txn_range_free(out);
  return ke_other(kc, "out of memory");
}
