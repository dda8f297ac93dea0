/* Transactional KV handlers of the mock TiKV (Percolator), after tikv/tikv
 * src/storage/txn/actions and commands, src/storage/mvcc/reader and
 * src/server/service/kv.rs:
 *  - keys in requests are user keys; region checks use their memcomparable
 *    encoding (what transactional region boundaries are);
 *  - reads at ts meet a Put/Delete lock with lock.ts <= ts and
 *    min_commit_ts <= ts as KeyError.locked, unless the lock's ts is in
 *    Context.resolved_locks (bypass) or committed_locks (read the lock's
 *    value); Lock and pessimistic locks never block reads;
 *  - write commands are atomic: an error leaves nothing written;
 *  - errors TiKV reports through its Debug text (abort / retryable) carry the
 *    same shape of text.
 * Handlers run with m->mu held and copy everything they return into the
 * arena. */
#include <stdio.h>

#include "mock/mvcc.h"

#define NEW(T, ...)                                  \
  ({                                                 \
    T *_p = mock_arena_alloc(kc->arena, sizeof(T));  \
    T _i = __VA_ARGS__;                              \
    *_p = _i;                                        \
    _p;                                              \
  })
#define TS_PHYS(ts) ((ts) >> 18)
#define DEFAULT_WAIT_FOR_LOCK_MS 1000 /* TiKV's pessimistic-txn.wait-for-lock-timeout */

static ProtobufCBinaryData bin(mock_kvctx_t *kc, const uint8_t *p, size_t n) {
  ProtobufCBinaryData b = {n, mock_arena_dup(kc->arena, p, n)};
  return b;
}

static bool key_eq(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* Rust's Debug form of a byte vector: "[107, 49]" (long keys cut). */
static char *dbg_bytes(mock_kvctx_t *kc, const uint8_t *p, size_t n) {
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

#define ULL(x) ((unsigned long long)(x))

/* ---- key errors ---- */
static Kvrpcpb__KeyError *ke_new(mock_kvctx_t *kc) {
  return NEW(Kvrpcpb__KeyError, KVRPCPB__KEY_ERROR__INIT);
}

static Kvrpcpb__LockInfo *lock_info(mock_kvctx_t *kc, const uint8_t *raw, size_t raw_len,
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

static Kvrpcpb__KeyError *ke_locked(mock_kvctx_t *kc, const mv_key_t *k, const mv_lock_t *l) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->locked = lock_info(kc, k->raw, k->raw_len, l);
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

static Kvrpcpb__KeyError *ke_conflict(mock_kvctx_t *kc, uint64_t start_ts, uint64_t conflict_start,
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
      ULL(start_ts), ULL(conflict_start), ULL(conflict_commit), dbg_bytes(kc, key, kl),
      dbg_bytes(kc, primary, pl), reason_name(reason));
  return e;
}

/* An Mvcc error TiKV only reports through its Debug text in `abort`. */
static Kvrpcpb__KeyError *ke_abort(mock_kvctx_t *kc, const char *inner) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->abort = mock_arena_printf(kc->arena, "Error(Txn(Error(Mvcc(Error(%s)))))", inner);
  return e;
}

static Kvrpcpb__KeyError *ke_already_exist(mock_kvctx_t *kc, const mv_key_t *k) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->already_exist = NEW(Kvrpcpb__AlreadyExist, KVRPCPB__ALREADY_EXIST__INIT);
  e->already_exist->key = bin(kc, k->raw, k->raw_len);
  return e;
}

static Kvrpcpb__KeyError *ke_txn_not_found(mock_kvctx_t *kc, uint64_t start_ts,
                                           const uint8_t *primary, size_t pl) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->txn_not_found = NEW(Kvrpcpb__TxnNotFound, KVRPCPB__TXN_NOT_FOUND__INIT);
  e->txn_not_found->start_ts = start_ts;
  e->txn_not_found->primary_key = bin(kc, primary, pl);
  return e;
}

static Kvrpcpb__KeyError *ke_txn_lock_not_found(mock_kvctx_t *kc, uint64_t start_ts,
                                                uint64_t commit_ts, const mv_key_t *k) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->retryable = mock_arena_printf(
      kc->arena,
      "Error(Txn(Error(Mvcc(Error(TxnLockNotFound { start_ts: TimeStamp(%llu), commit_ts: "
      "TimeStamp(%llu), key: %s })))))",
      ULL(start_ts), ULL(commit_ts), dbg_bytes(kc, k->raw, k->raw_len));
  return e;
}

static Kvrpcpb__KeyError *ke_committed(mock_kvctx_t *kc, uint64_t start_ts, uint64_t commit_ts,
                                       const mv_key_t *k) {
  return ke_abort(kc, mock_arena_printf(kc->arena,
                                        "Committed { start_ts: TimeStamp(%llu), commit_ts: "
                                        "TimeStamp(%llu), key: %s }",
                                        ULL(start_ts), ULL(commit_ts),
                                        dbg_bytes(kc, k->raw, k->raw_len)));
}

static Kvrpcpb__KeyError *ke_pessimistic_lock_not_found(mock_kvctx_t *kc, uint64_t start_ts,
                                                        const mv_key_t *k) {
  return ke_abort(kc, mock_arena_printf(
                          kc->arena, "PessimisticLockNotFound { start_ts: TimeStamp(%llu), key: %s }",
                          ULL(start_ts), dbg_bytes(kc, k->raw, k->raw_len)));
}

static Kvrpcpb__KeyError *ke_lock_type_not_match(mock_kvctx_t *kc, uint64_t start_ts,
                                                 const mv_key_t *k, bool pessimistic) {
  return ke_abort(kc, mock_arena_printf(kc->arena,
                                        "LockTypeNotMatch { start_ts: TimeStamp(%llu), key: %s, "
                                        "pessimistic: %s }",
                                        ULL(start_ts), dbg_bytes(kc, k->raw, k->raw_len),
                                        pessimistic ? "true" : "false"));
}

static Kvrpcpb__KeyError *ke_commit_ts_expired(mock_kvctx_t *kc, uint64_t start_ts,
                                               uint64_t commit_ts, const mv_key_t *k,
                                               uint64_t min_commit_ts) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->commit_ts_expired = NEW(Kvrpcpb__CommitTsExpired, KVRPCPB__COMMIT_TS_EXPIRED__INIT);
  e->commit_ts_expired->start_ts = start_ts;
  e->commit_ts_expired->attempted_commit_ts = commit_ts;
  e->commit_ts_expired->key = bin(kc, k->raw, k->raw_len);
  e->commit_ts_expired->min_commit_ts = min_commit_ts;
  return e;
}

static Kvrpcpb__KeyError *ke_invalid_txn_tso(mock_kvctx_t *kc, uint64_t start_ts,
                                             uint64_t commit_ts) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->abort = mock_arena_printf(
      kc->arena,
      "Error(Txn(Error(InvalidTxnTso { start_ts: TimeStamp(%llu), commit_ts: TimeStamp(%llu) })))",
      ULL(start_ts), ULL(commit_ts));
  return e;
}

static Kvrpcpb__KeyError *ke_other(mock_kvctx_t *kc, const char *msg) {
  Kvrpcpb__KeyError *e = ke_new(kc);
  e->abort = mock_arena_printf(kc->arena, "Error(Txn(Error(Other(\"%s\"))))", msg);
  return e;
}

/* ---- region checks on user keys ---- */
static Errorpb__Error *check_key(mock_kvctx_t *kc, const mock_region_t *r, const uint8_t *raw,
                                 size_t len) {
  uint8_t *enc = NULL;
  size_t el = 0;
  if (tikv__codec_encode_bytes(raw, len, &enc, &el)) return mock_key_not_in_region(kc, r, raw, len);
  Errorpb__Error *e = mock_check_key(kc, r, enc, el, false);
  free(enc);
  return e;
}

static Errorpb__Error *check_keys(mock_kvctx_t *kc, const mock_region_t *r,
                                  const ProtobufCBinaryData *keys, size_t n) {
  for (size_t i = 0; i < n; i++) {
    Errorpb__Error *e = check_key(kc, r, keys[i].data, keys[i].len);
    if (e) return e;
  }
  return NULL;
}

static mock_mvcc_t *store(mock_kvctx_t *kc) { return kc->m->mvcc; }

static mv_key_t *key_of(mock_kvctx_t *kc, const ProtobufCBinaryData *b, bool create) {
  return mv_key_get(store(kc), b->data, b->len, create);
}

/* ---- reads ---- */
typedef struct read_opts {
  uint64_t ts;
  bool check_locks; /* SI / RCCheckTS; RC ignores locks */
  const Kvrpcpb__Context *ctx;
} read_opts;

static bool ts_in(uint64_t ts, const uint64_t *set, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (set[i] == ts) return true;
  return false;
}

static read_opts read_opts_of(const Kvrpcpb__Context *ctx, uint64_t ts) {
  read_opts o = {ts, !ctx || ctx->isolation_level != KVRPCPB__ISOLATION_LEVEL__RC, ctx};
  return o;
}

/* TiKV's point read at o->ts (Lock::check_ts_conflict + the write CF).
 * 1 found (*v, *vl, *commit_ts), 0 absent, -1 locked (*err). */
static int read_key(mock_kvctx_t *kc, mv_key_t *k, const read_opts *o, const uint8_t **v,
                    size_t *vl, uint64_t *commit_ts, Kvrpcpb__KeyError **err) {
  if (!k) return 0;
  const mv_lock_t *l = k->lock;
  if (l && o->check_locks && l->ts <= o->ts &&
      (l->type == KVRPCPB__OP__Put || l->type == KVRPCPB__OP__Del) && l->min_commit_ts <= o->ts) {
    const Kvrpcpb__Context *c = o->ctx;
    bool bypass = c && ts_in(l->ts, c->resolved_locks, c->n_resolved_locks);
    bool own_primary = o->ts == UINT64_MAX && !l->use_async_commit &&
                       key_eq(k->raw, k->raw_len, l->primary.data, l->primary.len);
    if (!bypass && !own_primary) {
      if (c && ts_in(l->ts, c->committed_locks, c->n_committed_locks)) {
        /* the caller knows this txn committed: read the lock's data */
        if (l->type == KVRPCPB__OP__Del) return 0;
        *v = l->value.data;
        *vl = l->value.len;
        *commit_ts = 0;
        return 1;
      }
      *err = ke_locked(kc, k, l);
      return -1;
    }
  }
  mv_write_t *w = mv_read_version(k, o->ts);
  if (!w || w->type != MV_W_PUT) return 0;
  *v = w->value.data;
  *vl = w->value.len;
  *commit_ts = w->commit_ts;
  return 1;
}

static ProtobufCMessage *kv_get(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__GetRequest *q = (const Kvrpcpb__GetRequest *)msg;
  Kvrpcpb__GetResponse *r = NEW(Kvrpcpb__GetResponse, KVRPCPB__GET_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error = check_key(kc, reg, q->key.data, q->key.len))) return &r->base;
  mv_update_max_ts(store(kc), q->version);
  read_opts o = read_opts_of(q->context, q->version);
  const uint8_t *v = NULL;
  size_t vl = 0;
  uint64_t cts = 0;
  int got = read_key(kc, key_of(kc, &q->key, false), &o, &v, &vl, &cts, &r->error);
  if (got == 1) {
    r->value = bin(kc, v, vl);
    if (q->need_commit_ts) r->commit_ts = cts;
  } else if (got == 0) {
    r->not_found = 1;
  }
  return &r->base;
}

static Kvrpcpb__KvPair *new_pair(mock_kvctx_t *kc, const mv_key_t *k, const uint8_t *v,
                                 size_t vl, bool with_value) {
  Kvrpcpb__KvPair *p = NEW(Kvrpcpb__KvPair, KVRPCPB__KV_PAIR__INIT);
  p->key = bin(kc, k->raw, k->raw_len);
  if (with_value) p->value = bin(kc, v, vl);
  return p;
}

static ProtobufCMessage *kv_batch_get(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__BatchGetRequest *q = (const Kvrpcpb__BatchGetRequest *)msg;
  Kvrpcpb__BatchGetResponse *r = NEW(Kvrpcpb__BatchGetResponse, KVRPCPB__BATCH_GET_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error = check_keys(kc, reg, q->keys, q->n_keys))) return &r->base;
  mv_update_max_ts(store(kc), q->version);
  read_opts o = read_opts_of(q->context, q->version);
  r->pairs = mock_arena_alloc(kc->arena, (q->n_keys + 1) * sizeof(void *));
  for (size_t i = 0; i < q->n_keys; i++) {
    mv_key_t *k = key_of(kc, &q->keys[i], false);
    const uint8_t *v = NULL;
    size_t vl = 0;
    uint64_t cts = 0;
    Kvrpcpb__KeyError *err = NULL;
    int got = read_key(kc, k, &o, &v, &vl, &cts, &err);
    if (got == 0) continue;
    Kvrpcpb__KvPair *p;
    if (got < 0) {
      p = NEW(Kvrpcpb__KvPair, KVRPCPB__KV_PAIR__INIT);
      p->error = err;
    } else {
      p = new_pair(kc, k, v, vl, true);
      if (q->need_commit_ts) p->commit_ts = cts;
    }
    r->pairs[r->n_pairs++] = p;
  }
  return &r->base;
}

/* Encoded bounds of a range request within a region, with TiKV's
 * SnapshotStore::verify_range: a bound outside the region is refused. */
typedef struct enc_range {
  uint8_t *lo, *hi; /* malloc'ed; NULL: unbounded */
  size_t lol, hil;
} enc_range;

static void enc_range_free(enc_range *r) {
  free(r->lo);
  free(r->hi);
}

/* lower/upper: user-key bounds, NULL when absent. Returns NULL or the key
 * error. On success *out is clamped to the region. */
static Kvrpcpb__KeyError *region_range(mock_kvctx_t *kc, const mock_region_t *reg,
                                       const ProtobufCBinaryData *lower,
                                       const ProtobufCBinaryData *upper, enc_range *out) {
  memset(out, 0, sizeof(*out));
  if (lower && tikv__codec_encode_bytes(lower->data, lower->len, &out->lo, &out->lol)) goto oom;
  if (upper && tikv__codec_encode_bytes(upper->data, upper->len, &out->hi, &out->hil)) goto oom;
  bool bad_lo = out->lo && reg->start.len &&
                tikv__key_cmp(out->lo, out->lol, reg->start.data, reg->start.len) < 0;
  bool bad_hi = out->hi && reg->end.len &&
                tikv__key_cmp(out->hi, out->hil, reg->end.data, reg->end.len) > 0;
  if (bad_lo || bad_hi) {
    Kvrpcpb__KeyError *e = ke_new(kc);
    e->abort = mock_arena_printf(
        kc->arena,
        "Error(Txn(Error(InvalidReqRange { start: %s, end: %s, lower_bound: Some(%s), "
        "upper_bound: Some(%s) })))",
        out->lo ? mock_arena_printf(kc->arena, "Some(%s)", dbg_bytes(kc, out->lo, out->lol)) : "None",
        out->hi ? mock_arena_printf(kc->arena, "Some(%s)", dbg_bytes(kc, out->hi, out->hil)) : "None",
        dbg_bytes(kc, reg->start.data, reg->start.len), dbg_bytes(kc, reg->end.data, reg->end.len));
    enc_range_free(out);
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
  enc_range_free(out);
  return ke_other(kc, "out of memory");
}

static bool below_hi(const mv_key_t *k, const enc_range *r) {
  return !r->hi || tikv__key_cmp(k->enc, k->enc_len, r->hi, r->hil) < 0;
}
static bool at_or_above_lo(const mv_key_t *k, const enc_range *r) {
  return tikv__key_cmp(k->enc, k->enc_len, r->lo, r->lol) >= 0;
}

static void push_pair(mock_kvctx_t *kc, Kvrpcpb__KvPair ***arr, size_t *n, size_t *cap,
                      Kvrpcpb__KvPair *p) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    Kvrpcpb__KvPair **np = mock_arena_alloc(kc->arena, nc * sizeof(void *));
    if (*n) memcpy(np, *arr, *n * sizeof(void *));
    *arr = np;
    *cap = nc;
  }
  (*arr)[(*n)++] = p;
}

static ProtobufCMessage *kv_scan(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__ScanRequest *q = (const Kvrpcpb__ScanRequest *)msg;
  Kvrpcpb__ScanResponse *r = NEW(Kvrpcpb__ScanResponse, KVRPCPB__SCAN_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  /* forward: [start_key, end_key); reverse: [end_key, start_key); an empty
   * end_key is unbounded, an empty start_key is the empty key */
  const ProtobufCBinaryData *lower = q->reverse ? (q->end_key.len ? &q->end_key : NULL) : &q->start_key;
  const ProtobufCBinaryData *upper = q->reverse ? &q->start_key : (q->end_key.len ? &q->end_key : NULL);
  enc_range rg;
  if ((r->error = region_range(kc, reg, lower, upper, &rg))) return &r->base;
  mv_update_max_ts(store(kc), q->version);
  read_opts o = read_opts_of(q->context, q->version);
  mock_mvcc_t *s = store(kc);
  size_t cap = 0;
  uint32_t got = 0;
  mv_key_t *k = q->reverse ? mv_last_before(s, rg.hi, rg.hil, rg.hi == NULL) : mv_first(s, rg.lo, rg.lol);
  while (k && got < q->limit) {
    if (q->reverse ? !at_or_above_lo(k, &rg) : !below_hi(k, &rg)) break;
    const uint8_t *v = NULL;
    size_t vl = 0;
    uint64_t cts = 0;
    Kvrpcpb__KeyError *err = NULL;
    int res = read_key(kc, k, &o, &v, &vl, &cts, &err);
    if (res != 0) {
      Kvrpcpb__KvPair *p;
      if (res < 0) {
        p = NEW(Kvrpcpb__KvPair, KVRPCPB__KV_PAIR__INIT);
        p->error = err;
      } else {
        p = new_pair(kc, k, v, vl, !q->key_only);
      }
      push_pair(kc, &r->pairs, &r->n_pairs, &cap, p);
      got++;
    }
    k = q->reverse ? mv_prev(s, k) : mv_next(s, k);
  }
  enc_range_free(&rg);
  return &r->base;
}

/* ---- shared write actions ---- */
static bool is_primary(const mv_key_t *k, const mv_lock_t *l) {
  return key_eq(k->raw, k->raw_len, l->primary.data, l->primary.len);
}

/* TiKV's rollback_lock: writes the rollback record of the lock's txn and
 * removes the lock. */
static void rollback_lock(mock_kvctx_t *kc, mv_key_t *k, bool collapse) {
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

/* TiKV's check_txn_status_missing_lock for the Rollback / ProtectedRollback
 * actions (never ReturnError here). Returns the txn status:
 * 'C' committed (*commit_ts), 'R' rolled back, 'N' lock not exist (rollback
 * written). */
static char missing_lock_rollback(mv_key_t *k, uint64_t start_ts, bool protect,
                                  uint64_t *commit_ts) {
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

/* TiKV's cleanup: rolls back the lock of txn start_ts on k (current_ts != 0:
 * only when its TTL is over). Errors: KeyIsLocked (TTL not over),
 * Committed (*committed_ts set). */
static Kvrpcpb__KeyError *cleanup(mock_kvctx_t *kc, mv_key_t *k, uint64_t start_ts,
                                  uint64_t current_ts, bool protect, uint64_t *committed_ts) {
  mv_lock_t *l = k->lock;
  if (l && l->ts == start_ts) {
    if (current_ts && TS_PHYS(l->ts) + l->ttl >= TS_PHYS(current_ts)) return ke_locked(kc, k, l);
    rollback_lock(kc, k, !protect);
    return NULL;
  }
  uint64_t cts = 0;
  if (missing_lock_rollback(k, start_ts, protect, &cts) == 'C') {
    if (committed_ts) *committed_ts = cts;
    return ke_committed(kc, start_ts, cts, k);
  }
  return NULL;
}

/* Whether cleanup would fail on this key (for all-or-nothing commands). */
static bool cleanup_would_fail(const mv_key_t *k, uint64_t start_ts) {
  if (k->lock && k->lock->ts == start_ts) return false;
  mv_commit_record_t rec = mv_commit_record((mv_key_t *)k, start_ts);
  return rec.kind == MV_REC_SINGLE && rec.write->type != MV_W_ROLLBACK;
}

static int write_type_of_lock(int lock_type) {
  switch (lock_type) {
    case KVRPCPB__OP__Put: return MV_W_PUT;
    case KVRPCPB__OP__Del: return MV_W_DELETE;
    default: return MV_W_LOCK; /* Lock, and a pessimistic lock left behind */
  }
}

/* TiKV's commit, check part: NULL when commit(k) would succeed. */
static Kvrpcpb__KeyError *commit_check(mock_kvctx_t *kc, mv_key_t *k, uint64_t start_ts,
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

/* The commit itself, after commit_check passed. */
static void commit_apply(mock_kvctx_t *kc, mv_key_t *k, uint64_t start_ts, uint64_t commit_ts) {
  mv_lock_t *l = k->lock;
  if (!l || l->ts != start_ts) return; /* already committed */
  if (mv_put_write(k, commit_ts, start_ts, write_type_of_lock(l->type), l->value.data,
                   l->value.len, false) == 0) {
    if (ts_in(commit_ts, l->rollback_ts, l->nrollback_ts)) {
      mv_write_t *w = mv_seek_write(k, commit_ts);
      if (w && w->commit_ts == commit_ts) w->overlapped_rollback = true;
    }
  }
  mv_unlock(store(kc), k, commit_ts);
}

/* ---- prewrite ---- */
typedef struct planned_lock {
  mv_key_t *k;
  mv_lock_t *lock; /* to install (or to commit at once for 1PC) */
  bool replaces_pessimistic;
} planned_lock;

static void planned_free(planned_lock *p, size_t n) {
  for (size_t i = 0; i < n; i++) mv_lock_free(p[i].lock);
  free(p);
}

static int set_bytes(tikv__bytes_t *b, const ProtobufCBinaryData *d) {
  return tikv__bytes_set(b, d->data, d->len);
}

/* TiKV's check_data_constraint: should_not_exist fails when the key has a
 * live value as of the latest record w. */
static bool key_exists_from(mv_key_t *k, const mv_write_t *w) {
  if (w->type == MV_W_DELETE) return false;
  if (w->type == MV_W_PUT) return true;
  mv_write_t *v = mv_read_version(k, w->commit_ts);
  return v && v->type == MV_W_PUT;
}

static ProtobufCMessage *kv_prewrite(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__PrewriteRequest *q = (const Kvrpcpb__PrewriteRequest *)msg;
  Kvrpcpb__PrewriteResponse *r = NEW(Kvrpcpb__PrewriteResponse, KVRPCPB__PREWRITE_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  for (size_t i = 0; i < q->n_mutations; i++)
    if ((r->region_error = check_key(kc, reg, q->mutations[i]->key.data, q->mutations[i]->key.len)))
      return &r->base;
  mock_mvcc_t *s = store(kc);
  uint64_t start_ts = q->start_version;
  bool pessimistic = q->for_update_ts != 0;
  bool async = q->use_async_commit;
  bool one_pc = q->try_one_pc;
  bool need_min_commit_ts = async || one_pc;
  bool fallback = false;
  uint64_t final_min_commit_ts = 0;

  r->errors = mock_arena_alloc(kc->arena, (q->n_mutations + 1) * sizeof(void *));
  planned_lock *plan = tikv__calloc(q->n_mutations + 1, sizeof(*plan));
  size_t nplan = 0;
  if (!plan) {
    r->errors[r->n_errors++] = ke_other(kc, "out of memory");
    return &r->base;
  }
  Kvrpcpb__KeyError *fatal = NULL;

  for (size_t i = 0; i < q->n_mutations && !fatal; i++) {
    const Kvrpcpb__Mutation *mu = q->mutations[i];
    int op = mu->op;
    if (op != KVRPCPB__OP__Put && op != KVRPCPB__OP__Del && op != KVRPCPB__OP__Lock &&
        op != KVRPCPB__OP__Insert && op != KVRPCPB__OP__CheckNotExists) {
      fatal = ke_other(kc, "mismatch Op in prewrite mutations");
      break;
    }
    bool should_not_exist = op == KVRPCPB__OP__Insert || op == KVRPCPB__OP__CheckNotExists;
    bool should_not_write = op == KVRPCPB__OP__CheckNotExists;
    int action = i < q->n_pessimistic_actions ? (int)q->pessimistic_actions[i] : 0;
    bool is_pessimistic_lock =
        pessimistic && action == KVRPCPB__PREWRITE_REQUEST__PESSIMISTIC_ACTION__DO_PESSIMISTIC_CHECK;
    bool constraint_check =
        pessimistic ? action == KVRPCPB__PREWRITE_REQUEST__PESSIMISTIC_ACTION__DO_CONSTRAINT_CHECK
                    : !q->skip_constraint_check;
    if (pessimistic && should_not_write) {
      fatal = ke_other(kc, "cannot handle checkNotExists in pessimistic prewrite");
      break;
    }
    mv_key_t *k = key_of(kc, &mu->key, true);
    if (!k) {
      fatal = ke_other(kc, "out of memory");
      break;
    }
    uint64_t lock_ttl = q->lock_ttl, min_commit_ts = q->min_commit_ts;
    bool has_pessimistic = false;
    Kvrpcpb__KeyError *err = NULL;
    mv_lock_t *l = k->lock;
    if (l) {
      if (l->ts != start_ts) {
        if (is_pessimistic_lock) {
          err = ke_pessimistic_lock_not_found(kc, start_ts, k);
        } else {
          /* other txn's lock: collected, the other keys still checked */
          Kvrpcpb__KeyError *e = ke_locked(kc, k, l);
          if (pessimistic) e->locked->lock_ttl = 0; /* TiDB resolves these at once */
          mv_commit_record_t rec = mv_commit_record(k, start_ts);
          if (rec.kind == MV_REC_SINGLE && rec.write->type != MV_W_ROLLBACK) {
            final_min_commit_ts = rec.write->commit_ts; /* a retry after commit */
            r->n_errors = 0;
            goto committed_already;
          }
          r->errors[r->n_errors++] = e;
          continue;
        }
      } else if (l->type == KVRPCPB__OP__PessimisticLock) {
        if (!pessimistic) {
          err = ke_lock_type_not_match(kc, start_ts, k, true);
        } else {
          has_pessimistic = true;
          if (l->ttl > lock_ttl) lock_ttl = l->ttl;
          if (l->min_commit_ts > min_commit_ts) min_commit_ts = l->min_commit_ts;
        }
      } else {
        /* duplicate: the lock stays as it is */
        uint64_t ts = l->use_async_commit ? l->min_commit_ts : 0;
        if (need_min_commit_ts && ts == 0) fallback = true;
        if (need_min_commit_ts && ts > final_min_commit_ts) final_min_commit_ts = ts;
        continue;
      }
    } else if (is_pessimistic_lock) {
      /* amend_pessimistic_lock: allowed while nothing committed since start */
      mv_write_t *w = mv_seek_write(k, UINT64_MAX);
      if (w && w->commit_ts >= start_ts) err = ke_pessimistic_lock_not_found(kc, start_ts, k);
    }
    if (!err && constraint_check) {
      /* check_for_newer_version */
      mv_write_t *w = mv_seek_write(k, UINT64_MAX);
      if (w) {
        if (w->commit_ts > start_ts)
          err = ke_conflict(kc, start_ts, w->start_ts, w->commit_ts, k->raw, k->raw_len,
                            q->primary_lock.data, q->primary_lock.len,
                            pessimistic ? KVRPCPB__WRITE_CONFLICT__REASON__LazyUniquenessCheck
                                        : KVRPCPB__WRITE_CONFLICT__REASON__Optimistic);
        else if (w->commit_ts == start_ts && (w->type == MV_W_ROLLBACK || w->overlapped_rollback))
          err = ke_conflict(kc, start_ts, w->start_ts, w->commit_ts, k->raw, k->raw_len,
                            q->primary_lock.data, q->primary_lock.len,
                            KVRPCPB__WRITE_CONFLICT__REASON__SelfRolledBack);
        else if (should_not_exist && key_exists_from(k, w))
          err = ke_already_exist(kc, k);
      }
    }
    if (err) {
      /* check_committed_record_on_err: a retried prewrite of a committed txn */
      if (err->conflict || (err->abort && strstr(err->abort, "PessimisticLockNotFound"))) {
        mv_commit_record_t rec = mv_commit_record(k, start_ts);
        if (rec.kind == MV_REC_SINGLE && rec.write->type != MV_W_ROLLBACK) {
          final_min_commit_ts = rec.write->commit_ts;
          r->n_errors = 0;
          goto committed_already;
        }
      }
      fatal = err;
      break;
    }
    if (should_not_write) {
      mv_update_max_ts(s, start_ts);
      if (need_min_commit_ts) {
        uint64_t ts = min_commit_ts > start_ts + 1 ? min_commit_ts : start_ts + 1;
        if (ts > final_min_commit_ts) final_min_commit_ts = ts;
      }
      continue;
    }
    mv_lock_t *nl = mv_lock_new();
    if (!nl || set_bytes(&nl->primary, &q->primary_lock)) {
      mv_lock_free(nl);
      fatal = ke_other(kc, "out of memory");
      break;
    }
    nl->type = op == KVRPCPB__OP__Insert ? KVRPCPB__OP__Put : op;
    nl->ts = start_ts;
    nl->ttl = lock_ttl;
    nl->for_update_ts = q->for_update_ts;
    nl->txn_size = q->txn_size;
    nl->min_commit_ts = min_commit_ts;
    if (nl->type == KVRPCPB__OP__Put && set_bytes(&nl->value, &mu->value)) {
      mv_lock_free(nl);
      fatal = ke_other(kc, "out of memory");
      break;
    }
    if (async) {
      nl->use_async_commit = true;
      if (key_eq(mu->key.data, mu->key.len, q->primary_lock.data, q->primary_lock.len) &&
          q->n_secondaries) {
        nl->secondaries = tikv__calloc(q->n_secondaries, sizeof(tikv__bytes_t));
        if (nl->secondaries) {
          nl->nsecondaries = q->n_secondaries;
          for (size_t j = 0; j < q->n_secondaries; j++) set_bytes(&nl->secondaries[j], &q->secondaries[j]);
        }
      }
    }
    if (need_min_commit_ts && !fallback) {
      /* async_commit_timestamps: above everything read so far */
      uint64_t base = mv_max_ts(s);
      if (start_ts > base) base = start_ts;
      if (q->for_update_ts > base) base = q->for_update_ts;
      uint64_t ts = base + 1;
      if (nl->min_commit_ts > ts) ts = nl->min_commit_ts;
      if (q->max_commit_ts && ts > q->max_commit_ts) {
        fallback = true; /* CommitTsTooLarge: plain 2PC for this request */
      } else {
        nl->min_commit_ts = ts;
        if (ts > final_min_commit_ts) final_min_commit_ts = ts;
      }
    }
    plan[nplan].k = k;
    plan[nplan].lock = nl;
    plan[nplan].replaces_pessimistic = has_pessimistic;
    nplan++;
  }

  if (fatal) {
    r->n_errors = 0;
    r->errors[r->n_errors++] = fatal;
    planned_free(plan, nplan);
    return &r->base;
  }
  if (fallback) {
    async = one_pc = false;
    final_min_commit_ts = 0;
    for (size_t i = 0; i < nplan; i++) {
      mv_lock_t *nl = plan[i].lock;
      nl->use_async_commit = false;
      for (size_t j = 0; j < nl->nsecondaries; j++) tikv__bytes_free(&nl->secondaries[j]);
      free(nl->secondaries);
      nl->secondaries = NULL;
      nl->nsecondaries = 0;
    }
  }
  if (async) r->min_commit_ts = final_min_commit_ts;
  if (r->n_errors) { /* locked keys: nothing written */
    planned_free(plan, nplan);
    return &r->base;
  }
  for (size_t i = 0; i < nplan; i++) {
    mv_key_t *k = plan[i].k;
    mv_lock_t *nl = plan[i].lock;
    plan[i].lock = NULL;
    if (one_pc) {
      mv_put_write(k, final_min_commit_ts, start_ts, write_type_of_lock(nl->type), nl->value.data,
                   nl->value.len, false);
      mv_lock_free(nl);
      if (plan[i].replaces_pessimistic) mv_unlock(s, k, final_min_commit_ts);
    } else {
      mv_set_lock(k, nl);
    }
  }
  if (one_pc) r->one_pc_commit_ts = final_min_commit_ts;
  planned_free(plan, nplan);
  return &r->base;

committed_already:
  planned_free(plan, nplan);
  if (q->use_async_commit) r->min_commit_ts = final_min_commit_ts;
  if (q->try_one_pc) r->one_pc_commit_ts = final_min_commit_ts;
  return &r->base;
}

/* ---- commit, rollback, cleanup ---- */
static ProtobufCMessage *kv_commit(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__CommitRequest *q = (const Kvrpcpb__CommitRequest *)msg;
  Kvrpcpb__CommitResponse *r = NEW(Kvrpcpb__CommitResponse, KVRPCPB__COMMIT_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error = check_keys(kc, reg, q->keys, q->n_keys))) return &r->base;
  if (q->commit_version <= q->start_version) {
    r->error = ke_invalid_txn_tso(kc, q->start_version, q->commit_version);
    return &r->base;
  }
  for (size_t i = 0; i < q->n_keys; i++) {
    mv_key_t *k = key_of(kc, &q->keys[i], true);
    if (!k) {
      r->error = ke_other(kc, "out of memory");
      return &r->base;
    }
    if ((r->error = commit_check(kc, k, q->start_version, q->commit_version))) return &r->base;
  }
  for (size_t i = 0; i < q->n_keys; i++)
    commit_apply(kc, key_of(kc, &q->keys[i], false), q->start_version, q->commit_version);
  r->commit_version = q->commit_version;
  return &r->base;
}

static ProtobufCMessage *kv_batch_rollback(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__BatchRollbackRequest *q = (const Kvrpcpb__BatchRollbackRequest *)msg;
  Kvrpcpb__BatchRollbackResponse *r =
      NEW(Kvrpcpb__BatchRollbackResponse, KVRPCPB__BATCH_ROLLBACK_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error = check_keys(kc, reg, q->keys, q->n_keys))) return &r->base;
  for (size_t i = 0; i < q->n_keys; i++) {
    mv_key_t *k = key_of(kc, &q->keys[i], true);
    if (!k) {
      r->error = ke_other(kc, "out of memory");
      return &r->base;
    }
    if (cleanup_would_fail(k, q->start_version)) {
      uint64_t cts = mv_commit_record(k, q->start_version).write->commit_ts;
      r->error = ke_committed(kc, q->start_version, cts, k);
      return &r->base;
    }
  }
  for (size_t i = 0; i < q->n_keys; i++)
    cleanup(kc, key_of(kc, &q->keys[i], false), q->start_version, 0, false, NULL);
  return &r->base;
}

static ProtobufCMessage *kv_cleanup(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__CleanupRequest *q = (const Kvrpcpb__CleanupRequest *)msg;
  Kvrpcpb__CleanupResponse *r = NEW(Kvrpcpb__CleanupResponse, KVRPCPB__CLEANUP_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error = check_key(kc, reg, q->key.data, q->key.len))) return &r->base;
  mv_update_max_ts(store(kc), q->current_ts);
  mv_key_t *k = key_of(kc, &q->key, true);
  if (!k) {
    r->error = ke_other(kc, "out of memory");
    return &r->base;
  }
  uint64_t committed = 0;
  Kvrpcpb__KeyError *e = cleanup(kc, k, q->start_version, q->current_ts, true, &committed);
  if (committed)
    r->commit_version = committed; /* TiKV's extract_committed */
  else
    r->error = e;
  return &r->base;
}

/* ---- transaction status ---- */
static ProtobufCMessage *kv_check_txn_status(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__CheckTxnStatusRequest *q = (const Kvrpcpb__CheckTxnStatusRequest *)msg;
  Kvrpcpb__CheckTxnStatusResponse *r =
      NEW(Kvrpcpb__CheckTxnStatusResponse, KVRPCPB__CHECK_TXN_STATUS_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error = check_key(kc, reg, q->primary_key.data, q->primary_key.len)))
    return &r->base;
  mock_mvcc_t *s = store(kc);
  mv_update_max_ts(s, q->lock_ts);
  mv_update_max_ts(s, q->current_ts);
  mv_update_max_ts(s, q->caller_start_ts);
  mv_key_t *k = key_of(kc, &q->primary_key, true);
  if (!k) {
    r->error = ke_other(kc, "out of memory");
    return &r->base;
  }
  mv_lock_t *l = k->lock;
  if (l && l->ts == q->lock_ts) {
    if (q->verify_is_primary && !is_primary(k, l)) {
      r->error = ke_new(kc);
      r->error->primary_mismatch = NEW(Kvrpcpb__PrimaryMismatch, KVRPCPB__PRIMARY_MISMATCH__INIT);
      r->error->primary_mismatch->lock_info = lock_info(kc, k->raw, k->raw_len, l);
      return &r->base;
    }
    bool pushed = false;
    if (!l->use_async_commit || q->force_sync_commit) {
      if (TS_PHYS(l->ts) + l->ttl < TS_PHYS(q->current_ts)) {
        if (q->resolving_pessimistic_lock && l->type == KVRPCPB__OP__PessimisticLock) {
          mv_unlock(s, k, 0);
          r->action = KVRPCPB__ACTION__TTLExpirePessimisticRollback;
        } else {
          rollback_lock(kc, k, true);
          r->action = KVRPCPB__ACTION__TTLExpireRollback;
        }
        return &r->base;
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
    r->lock_info = lock_info(kc, l->primary.data, l->primary.len, l);
    return &r->base;
  }
  /* check_txn_status_missing_lock */
  mv_commit_record_t rec = mv_commit_record(k, q->lock_ts);
  if (rec.kind == MV_REC_SINGLE) {
    if (rec.write->type != MV_W_ROLLBACK) r->commit_version = rec.write->commit_ts;
    return &r->base; /* rolled back: NoAction, ttl 0, commit_version 0 */
  }
  if (rec.kind == MV_REC_OVERLAPPED_ROLLBACK) return &r->base;
  if (!q->rollback_if_not_exist) {
    r->error = ke_txn_not_found(kc, q->lock_ts, q->primary_key.data, q->primary_key.len);
    return &r->base;
  }
  if (q->resolving_pessimistic_lock) {
    r->action = KVRPCPB__ACTION__LockNotExistDoNothing;
    return &r->base;
  }
  uint64_t cts = 0;
  missing_lock_rollback(k, q->lock_ts, true, &cts);
  r->action = KVRPCPB__ACTION__LockNotExistRollback;
  return &r->base;
}

static ProtobufCMessage *kv_check_secondary_locks(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__CheckSecondaryLocksRequest *q = (const Kvrpcpb__CheckSecondaryLocksRequest *)msg;
  Kvrpcpb__CheckSecondaryLocksResponse *r =
      NEW(Kvrpcpb__CheckSecondaryLocksResponse, KVRPCPB__CHECK_SECONDARY_LOCKS_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error = check_keys(kc, reg, q->keys, q->n_keys))) return &r->base;
  uint64_t start_ts = q->start_version;
  r->locks = mock_arena_alloc(kc->arena, (q->n_keys + 1) * sizeof(void *));
  for (size_t i = 0; i < q->n_keys; i++) {
    mv_key_t *k = key_of(kc, &q->keys[i], true);
    if (!k) {
      r->error = ke_other(kc, "out of memory");
      return &r->base;
    }
    mv_lock_t *l = k->lock;
    if (l && l->ts == start_ts) {
      if (l->type != KVRPCPB__OP__PessimisticLock) {
        r->locks[r->n_locks++] = lock_info(kc, k->raw, k->raw_len, l);
        continue;
      }
      /* a pessimistic lock: the txn cannot have committed; roll it back */
      mv_commit_record_t rec = mv_commit_record(k, start_ts);
      mv_unlock(store(kc), k, 0);
      mv_put_rollback(k, start_ts, true, rec.kind == MV_REC_NONE ? rec.overlapped : NULL);
      r->n_locks = 0;
      return &r->base;
    }
    mv_commit_record_t rec = mv_commit_record(k, start_ts);
    if (rec.kind == MV_REC_SINGLE) {
      r->n_locks = 0;
      if (rec.write->type != MV_W_ROLLBACK) r->commit_ts = rec.write->commit_ts;
      return &r->base;
    }
    r->n_locks = 0;
    if (rec.kind == MV_REC_NONE) {
      /* protected rollback, so a late prewrite cannot succeed */
      if (l && !rec.overlapped) mv_lock_mark_rollback(l, start_ts);
      mv_put_rollback(k, start_ts, true, rec.overlapped);
    }
    return &r->base;
  }
  return &r->base;
}

static ProtobufCMessage *kv_txn_heart_beat(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__TxnHeartBeatRequest *q = (const Kvrpcpb__TxnHeartBeatRequest *)msg;
  Kvrpcpb__TxnHeartBeatResponse *r =
      NEW(Kvrpcpb__TxnHeartBeatResponse, KVRPCPB__TXN_HEART_BEAT_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error = check_key(kc, reg, q->primary_lock.data, q->primary_lock.len)))
    return &r->base;
  mv_key_t *k = key_of(kc, &q->primary_lock, false);
  if (!k || !k->lock || k->lock->ts != q->start_version) {
    r->error = ke_txn_not_found(kc, q->start_version, q->primary_lock.data, q->primary_lock.len);
    return &r->base;
  }
  if (k->lock->ttl < q->advise_lock_ttl) k->lock->ttl = q->advise_lock_ttl;
  r->lock_ttl = k->lock->ttl;
  return &r->base;
}

/* ---- lock resolution ---- */
static ProtobufCMessage *kv_resolve_lock(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__ResolveLockRequest *q = (const Kvrpcpb__ResolveLockRequest *)msg;
  Kvrpcpb__ResolveLockResponse *r =
      NEW(Kvrpcpb__ResolveLockResponse, KVRPCPB__RESOLVE_LOCK_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error = check_keys(kc, reg, q->keys, q->n_keys))) return &r->base;
  mock_mvcc_t *s = store(kc);
  if (q->n_keys) {
    /* ResolveLockLite: only these keys, txn start_version */
    uint64_t st = q->start_version, ct = q->commit_version;
    if (ct && ct <= st) {
      r->error = ke_invalid_txn_tso(kc, st, ct);
      return &r->base;
    }
    for (size_t i = 0; i < q->n_keys; i++) {
      mv_key_t *k = key_of(kc, &q->keys[i], true);
      if (!k) {
        r->error = ke_other(kc, "out of memory");
        return &r->base;
      }
      if (ct ? (r->error = commit_check(kc, k, st, ct)) != NULL : cleanup_would_fail(k, st)) {
        if (!ct) r->error = ke_committed(kc, st, mv_commit_record(k, st).write->commit_ts, k);
        return &r->base;
      }
    }
    for (size_t i = 0; i < q->n_keys; i++) {
      mv_key_t *k = key_of(kc, &q->keys[i], false);
      if (ct)
        commit_apply(kc, k, st, ct);
      else
        cleanup(kc, k, st, 0, false, NULL);
    }
    return &r->base;
  }
  /* every lock of the listed txns in the region: start_version alone, or
   * (start_version 0) the txn_infos */
  size_t nst = q->start_version ? 1 : q->n_txn_infos;
  uint64_t *sts = mock_arena_alloc(kc->arena, (nst + 1) * sizeof(uint64_t));
  uint64_t *cts = mock_arena_alloc(kc->arena, (nst + 1) * sizeof(uint64_t));
  if (q->start_version) {
    sts[0] = q->start_version;
    cts[0] = q->commit_version;
  } else {
    for (size_t i = 0; i < nst; i++) {
      sts[i] = q->txn_infos[i]->txn;
      cts[i] = q->txn_infos[i]->status;
    }
  }
  enc_range rg;
  if ((r->error = region_range(kc, reg, NULL, NULL, &rg))) return &r->base;
  /* check pass, then apply */
  for (int pass = 0; pass < 2; pass++) {
    for (mv_key_t *k = mv_first(s, rg.lo, rg.lol); k && below_hi(k, &rg); k = mv_next(s, k)) {
      mv_lock_t *l = k->lock;
      if (!l) continue;
      size_t j = 0;
      while (j < nst && sts[j] != l->ts) j++;
      if (j == nst) continue;
      uint64_t ct = cts[j];
      if (pass == 0) {
        if (ct && ct <= l->ts) {
          r->error = ke_invalid_txn_tso(kc, l->ts, ct);
        } else if (ct && ct < l->min_commit_ts) {
          r->error = ke_commit_ts_expired(kc, l->ts, ct, k, l->min_commit_ts);
        }
        if (r->error) {
          enc_range_free(&rg);
          return &r->base;
        }
      } else if (ct) {
        commit_apply(kc, k, l->ts, ct);
      } else {
        rollback_lock(kc, k, true);
      }
    }
  }
  enc_range_free(&rg);
  return &r->base;
}

static ProtobufCMessage *kv_scan_lock(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__ScanLockRequest *q = (const Kvrpcpb__ScanLockRequest *)msg;
  Kvrpcpb__ScanLockResponse *r = NEW(Kvrpcpb__ScanLockResponse, KVRPCPB__SCAN_LOCK_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  mock_mvcc_t *s = store(kc);
  mv_update_max_ts(s, q->max_version);
  enc_range rg;
  if ((r->error = region_range(kc, reg, &q->start_key, q->end_key.len ? &q->end_key : NULL, &rg)))
    return &r->base;
  size_t cap = 0;
  for (mv_key_t *k = mv_first(s, rg.lo, rg.lol); k && below_hi(k, &rg); k = mv_next(s, k)) {
    if (q->limit && r->n_locks >= q->limit) break;
    if (!k->lock || k->lock->ts > q->max_version) continue;
    if (r->n_locks == cap) {
      size_t nc = cap ? cap * 2 : 16;
      Kvrpcpb__LockInfo **n = mock_arena_alloc(kc->arena, nc * sizeof(void *));
      if (cap) memcpy(n, r->locks, cap * sizeof(void *));
      r->locks = n;
      cap = nc;
    }
    r->locks[r->n_locks++] = lock_info(kc, k->raw, k->raw_len, k->lock);
  }
  enc_range_free(&rg);
  return &r->base;
}

static ProtobufCMessage *kv_delete_range(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__DeleteRangeRequest *q = (const Kvrpcpb__DeleteRangeRequest *)msg;
  Kvrpcpb__DeleteRangeResponse *r =
      NEW(Kvrpcpb__DeleteRangeResponse, KVRPCPB__DELETE_RANGE_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  enc_range rg;
  Kvrpcpb__KeyError *e = region_range(kc, reg, &q->start_key, q->end_key.len ? &q->end_key : NULL, &rg);
  if (e) {
    r->error = e->abort;
    return &r->base;
  }
  if (!q->notify_only) mv_delete_range(store(kc), rg.lo, rg.lol, rg.hi, rg.hi ? rg.hil : 0);
  enc_range_free(&rg);
  return &r->base;
}

/* ---- pessimistic locks ---- */
typedef struct pess_plan {
  mv_key_t *k;
  bool write;           /* install / refresh the lock */
  bool has_value;       /* the value read (return_values / check_existence) */
  const uint8_t *value;
  size_t value_len;
} pess_plan;

static uint64_t wait_ms_of(int64_t wait_timeout) {
  if (wait_timeout == 0 || wait_timeout > DEFAULT_WAIT_FOR_LOCK_MS) return DEFAULT_WAIT_FOR_LOCK_MS;
  return (uint64_t)wait_timeout;
}

static ProtobufCMessage *kv_pessimistic_lock(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__PessimisticLockRequest *q = (const Kvrpcpb__PessimisticLockRequest *)msg;
  Kvrpcpb__PessimisticLockResponse *r =
      NEW(Kvrpcpb__PessimisticLockResponse, KVRPCPB__PESSIMISTIC_LOCK_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  for (size_t i = 0; i < q->n_mutations; i++)
    if ((r->region_error = check_key(kc, reg, q->mutations[i]->key.data, q->mutations[i]->key.len)))
      return &r->base;
  mock_mvcc_t *s = store(kc);
  uint64_t start_ts = q->start_version, fu_ts = q->for_update_ts;
  r->errors = mock_arena_alloc(kc->arena, sizeof(void *));
  if (q->lock_only_if_exists && !q->return_values) {
    r->errors[r->n_errors++] =
        ke_other(kc, "lock_only_if_exists is set, but return_values is not");
    return &r->base;
  }
  mv_update_max_ts(s, fu_ts);
  pess_plan *plan = mock_arena_alloc(kc->arena, (q->n_mutations + 1) * sizeof(*plan));
  mv_key_t *locked_key = NULL;
  for (size_t i = 0; i < q->n_mutations; i++) {
    const Kvrpcpb__Mutation *mu = q->mutations[i];
    if (mu->op != KVRPCPB__OP__PessimisticLock) {
      r->errors[r->n_errors++] = ke_other(kc, "mismatch Op in pessimistic lock mutations");
      return &r->base;
    }
    bool should_not_exist = mu->assertion == KVRPCPB__ASSERTION__NotExist;
    mv_key_t *k = key_of(kc, &mu->key, true);
    if (!k) {
      r->errors[r->n_errors++] = ke_other(kc, "out of memory");
      return &r->base;
    }
    plan[i].k = k;
    mv_lock_t *l = k->lock;
    Kvrpcpb__KeyError *err = NULL;
    if (l) {
      if (l->ts != start_ts) {
        locked_key = k;
        break;
      }
      if (l->type != KVRPCPB__OP__PessimisticLock) {
        err = ke_lock_type_not_match(kc, start_ts, k, false);
      } else {
        plan[i].write = fu_ts > l->for_update_ts;
      }
    } else {
      mv_write_t *w = mv_seek_write(k, UINT64_MAX);
      if (w) {
        if (w->commit_ts > fu_ts) {
          err = ke_conflict(kc, start_ts, w->start_ts, w->commit_ts, k->raw, k->raw_len,
                            q->primary_lock.data, q->primary_lock.len,
                            KVRPCPB__WRITE_CONFLICT__REASON__PessimisticRetry);
        } else {
          mv_write_t *own = mv_seek_write(k, start_ts);
          if (own && own->commit_ts == start_ts &&
              (own->type == MV_W_ROLLBACK || own->overlapped_rollback))
            err = ke_abort(kc, mock_arena_printf(kc->arena,
                                                 "PessimisticLockRolledBack { start_ts: "
                                                 "TimeStamp(%llu), key: %s }",
                                                 ULL(start_ts), dbg_bytes(kc, k->raw, k->raw_len)));
          else if (should_not_exist && key_exists_from(k, w))
            err = ke_already_exist(kc, k);
        }
      }
      plan[i].write = true;
    }
    if (err) {
      r->errors[r->n_errors++] = err;
      return &r->base;
    }
    if (q->return_values || q->check_existence) {
      mv_write_t *v = mv_read_version(k, fu_ts);
      plan[i].has_value = v && v->type == MV_W_PUT;
      if (plan[i].has_value) {
        plan[i].value = v->value.data;
        plan[i].value_len = v->value.len;
      }
    }
    if (q->lock_only_if_exists && !plan[i].has_value) plan[i].write = false;
  }

  if (locked_key) {
    mv_lock_t *l = locked_key->lock;
    Kvrpcpb__KeyError *e = ke_locked(kc, locked_key, l);
    r->errors[r->n_errors++] = e;
    if (q->wait_timeout < 0) return &r->base; /* no wait */
    uint64_t hash = 0;
    if (!q->is_first_lock && mv_would_deadlock(s, start_ts, l->ts, &hash)) {
      Kvrpcpb__KeyError *d = ke_new(kc);
      d->deadlock = NEW(Kvrpcpb__Deadlock, KVRPCPB__DEADLOCK__INIT);
      d->deadlock->lock_ts = l->ts;
      d->deadlock->lock_key = bin(kc, locked_key->raw, locked_key->raw_len);
      d->deadlock->deadlock_key_hash = hash;
      r->errors[0] = d;
      return &r->base;
    }
    /* wait for the holder (TiKV's lock manager): answered by waiter_fire */
    mv_waiter_t *w = tikv__calloc(1, sizeof(*w));
    size_t n = protobuf_c_message_get_packed_size(&r->base);
    uint8_t *packed = tikv__malloc(n ? n : 1);
    if (!w || !packed || tikv__bytes_set(&w->raw_key, locked_key->raw, locked_key->raw_len) ||
        set_bytes(&w->primary, &q->primary_lock)) {
      if (w) {
        tikv__bytes_free(&w->raw_key);
        tikv__bytes_free(&w->primary);
      }
      free(w);
      free(packed);
      return &r->base;
    }
    protobuf_c_message_pack(&r->base, packed);
    mock_reply_to_t *rt = mock_kv_defer(kc);
    if (!rt) {
      tikv__bytes_free(&w->raw_key);
      tikv__bytes_free(&w->primary);
      free(w);
      free(packed);
      return &r->base;
    }
    w->m = kc->m;
    w->key = locked_key;
    w->reply = rt;
    w->store_id = kc->store_id;
    w->start_ts = start_ts;
    w->lock_ts = l->ts;
    w->key_hash = mv_key_hash(locked_key->raw, locked_key->raw_len);
    w->timeout_resp = packed;
    w->timeout_resp_len = n;
    mv_waiter_add(s, w, !q->is_first_lock, (int64_t)wait_ms_of(q->wait_timeout));
    return NULL;
  }

  for (size_t i = 0; i < q->n_mutations; i++) {
    if (!plan[i].write) continue;
    mv_lock_t *nl = mv_lock_new();
    if (!nl || set_bytes(&nl->primary, &q->primary_lock)) {
      mv_lock_free(nl);
      continue;
    }
    nl->type = KVRPCPB__OP__PessimisticLock;
    nl->ts = start_ts;
    nl->ttl = q->lock_ttl;
    nl->for_update_ts = fu_ts;
    nl->min_commit_ts = q->min_commit_ts;
    mv_set_lock(plan[i].k, nl);
  }
  if (q->return_values) {
    r->values = mock_arena_alloc(kc->arena, (q->n_mutations + 1) * sizeof(ProtobufCBinaryData));
    r->n_values = q->n_mutations;
    for (size_t i = 0; i < q->n_mutations; i++)
      if (plan[i].has_value) r->values[i] = bin(kc, plan[i].value, plan[i].value_len);
  }
  if (q->return_values || q->check_existence) {
    r->not_founds = mock_arena_alloc(kc->arena, (q->n_mutations + 1) * sizeof(protobuf_c_boolean));
    r->n_not_founds = q->n_mutations;
    for (size_t i = 0; i < q->n_mutations; i++) r->not_founds[i] = !plan[i].has_value;
  }
  return &r->base;
}

static ProtobufCMessage *kv_pessimistic_rollback(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__PessimisticRollbackRequest *q = (const Kvrpcpb__PessimisticRollbackRequest *)msg;
  Kvrpcpb__PessimisticRollbackResponse *r =
      NEW(Kvrpcpb__PessimisticRollbackResponse, KVRPCPB__PESSIMISTIC_ROLLBACK_RESPONSE__INIT);
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error = check_keys(kc, reg, q->keys, q->n_keys))) return &r->base;
  for (size_t i = 0; i < q->n_keys; i++) {
    mv_key_t *k = key_of(kc, &q->keys[i], false);
    mv_lock_t *l = k ? k->lock : NULL;
    if (l && l->type == KVRPCPB__OP__PessimisticLock && l->ts == q->start_version &&
        l->for_update_ts <= q->for_update_ts)
      mv_unlock(store(kc), k, 0);
  }
  return &r->base;
}

const mock_kv_method_t mock_txn_methods[] = {
    {TIKV__REQ_KV_GET, kv_get},
    {TIKV__REQ_KV_SCAN, kv_scan},
    {TIKV__REQ_KV_BATCH_GET, kv_batch_get},
    {TIKV__REQ_KV_PREWRITE, kv_prewrite},
    {TIKV__REQ_KV_COMMIT, kv_commit},
    {TIKV__REQ_KV_BATCH_ROLLBACK, kv_batch_rollback},
    {TIKV__REQ_KV_CLEANUP, kv_cleanup},
    {TIKV__REQ_KV_CHECK_TXN_STATUS, kv_check_txn_status},
    {TIKV__REQ_KV_CHECK_SECONDARY_LOCKS, kv_check_secondary_locks},
    {TIKV__REQ_KV_TXN_HEART_BEAT, kv_txn_heart_beat},
    {TIKV__REQ_KV_RESOLVE_LOCK, kv_resolve_lock},
    {TIKV__REQ_KV_SCAN_LOCK, kv_scan_lock},
    {TIKV__REQ_KV_DELETE_RANGE, kv_delete_range},
    {TIKV__REQ_KV_PESSIMISTIC_LOCK, kv_pessimistic_lock},
    {TIKV__REQ_KV_PESSIMISTIC_ROLLBACK, kv_pessimistic_rollback},
    {0, NULL},
};
