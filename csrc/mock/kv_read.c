/* Transactional reads of the mock TiKV: KvGet, KvBatchGet, KvScan,
 * KvScanLock (see kv_txn.h). After TiKV's mvcc/reader point getter and
 * scanner: a read at ts meets a Put/Delete lock with lock.ts <= ts and
 * min_commit_ts <= ts as KeyError.locked, unless the lock's ts is in
 * Context.resolved_locks (bypass) or committed_locks (read the lock's
 * value); Lock and pessimistic locks never block reads. Every read pushes
 * the concurrency manager's max_ts to its ts. */
#include "mock/kv_txn.h"

typedef struct read_opts {
  uint64_t ts;
  bool check_locks; /* SI / RCCheckTS; RC ignores locks */
  const Kvrpcpb__Context *ctx;
} read_opts;

static read_opts read_opts_of(const Kvrpcpb__Context *ctx, uint64_t ts) {
  read_opts o = {ts, !ctx || ctx->isolation_level != KVRPCPB__ISOLATION_LEVEL__RC, ctx};
  return o;
}

/* What a read sees of one key. */
typedef struct read_result {
  int found; /* 1 found, 0 absent, -1 locked (err) */
  const uint8_t *v;
  size_t vl;
  uint64_t commit_ts; /* 0: read from a lock known committed */
  Kvrpcpb__KeyError *err;
} read_result;

/* Whether lock l stops a read at o->ts (Lock::check_ts_conflict). */
static bool lock_blocks(const mv_key_t *k, const mv_lock_t *l, const read_opts *o) {
  if (!l || !o->check_locks || l->ts > o->ts || l->min_commit_ts > o->ts) return false;
  if (l->type != KVRPCPB__OP__Put && l->type != KVRPCPB__OP__Del) return false;
  const Kvrpcpb__Context *c = o->ctx;
  bool bypass = c && ts_in(l->ts, c->resolved_locks, c->n_resolved_locks);
  bool own_primary = o->ts == UINT64_MAX && !l->use_async_commit && is_primary(k, l);
  return !bypass && !own_primary;
}

/* TiKV's point read at o->ts: the lock check, then the write CF. */
static read_result read_key(mock_kvctx_t *kc, mv_key_t *k, const read_opts *o) {
  read_result res = {0, NULL, 0, 0, NULL};
  if (!k) return res;
  const mv_lock_t *l = k->lock;
  if (lock_blocks(k, l, o)) {
    const Kvrpcpb__Context *c = o->ctx;
    if (c && ts_in(l->ts, c->committed_locks, c->n_committed_locks)) {
      /* the caller knows this txn committed: read the lock's data */
      res.found = l->type == KVRPCPB__OP__Del ? 0 : 1;
      res.v = l->value.data;
      res.vl = l->value.len;
      return res;
    }
    res.found = -1;
    res.err = ke_locked(kc, k, l);
    return res;
  }
  mv_write_t *w = mv_read_version(k, o->ts);
  if (!w || w->type != MV_W_PUT) return res;
  res.found = 1;
  res.v = w->value.data;
  res.vl = w->value.len;
  res.commit_ts = w->commit_ts;
  return res;
}

/* The pair a batch read or a scan returns for k: NULL when absent, the key
 * error when locked. */
static Kvrpcpb__KvPair *read_pair(mock_kvctx_t *kc, mv_key_t *k, const read_opts *o,
                                  bool with_value, bool with_commit_ts) {
  read_result res = read_key(kc, k, o);
  if (res.found == 0) return NULL;
  Kvrpcpb__KvPair *p = NEW(Kvrpcpb__KvPair, KVRPCPB__KV_PAIR__INIT);
  if (res.found < 0) {
    p->error = res.err;
    return p;
  }
  p->key = bin(kc, k->raw, k->raw_len);
  if (with_value) p->value = bin(kc, res.v, res.vl);
  if (with_commit_ts) p->commit_ts = res.commit_ts;
  return p;
}

void mock_kv_get(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__GetRequest *q = msg;
  Kvrpcpb__GetResponse *r = out;
  if ((r->region_error = txn_check_keys(kc, kc->region, &q->key, 1))) return;
  mv_update_max_ts(store(kc), q->version);
  read_opts o = read_opts_of(q->context, q->version);
  read_result res = read_key(kc, key_of(kc, &q->key, false), &o);
  if (res.found == 1) {
    r->value = bin(kc, res.v, res.vl);
    if (q->need_commit_ts) r->commit_ts = res.commit_ts;
  } else if (res.found == 0) {
    r->not_found = 1;
  } else {
    r->error = res.err;
  }
}

void mock_kv_batch_get(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__BatchGetRequest *q = msg;
  Kvrpcpb__BatchGetResponse *r = out;
  if ((r->region_error = txn_check_keys(kc, kc->region, q->keys, q->n_keys))) return;
  mv_update_max_ts(store(kc), q->version);
  read_opts o = read_opts_of(q->context, q->version);
  r->pairs = mock_arena_alloc(kc->arena, (q->n_keys + 1) * sizeof(void *));
  for (size_t i = 0; i < q->n_keys; i++) {
    Kvrpcpb__KvPair *p = read_pair(kc, key_of(kc, &q->keys[i], false), &o, true, q->need_commit_ts);
    if (p) r->pairs[r->n_pairs++] = p;
  }
}

void mock_kv_scan(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__ScanRequest *q = msg;
  Kvrpcpb__ScanResponse *r = out;
  mock_region_t *reg = kc->region;
  /* forward: [start_key, end_key); reverse: [end_key, start_key); an empty
   * end_key is unbounded, an empty start_key is the empty key */
  const ProtobufCBinaryData *end = q->end_key.len ? &q->end_key : NULL;
  const ProtobufCBinaryData *lower = q->reverse ? end : &q->start_key;
  const ProtobufCBinaryData *upper = q->reverse ? &q->start_key : end;
  txn_range_t rg;
  if ((r->error = txn_region_range(kc, reg, lower, upper, &rg))) return;
  mock_mvcc_t *s = store(kc);
  mv_update_max_ts(s, q->version);
  read_opts o = read_opts_of(q->context, q->version);
  size_t cap = 0;
  mv_key_t *k =
      q->reverse ? mv_last_before(s, rg.hi, rg.hil, rg.hi == NULL) : mv_first(s, rg.lo, rg.lol);
  while (k && r->n_pairs < q->limit) {
    if (q->reverse ? !at_or_above_lo(k, &rg) : !below_hi(k, &rg)) break;
    Kvrpcpb__KvPair *p = read_pair(kc, k, &o, !q->key_only, false);
    if (p) MOCK_PUSH(kc->arena, r->pairs, r->n_pairs, cap, p);
    k = q->reverse ? mv_prev(s, k) : mv_next(s, k);
  }
  txn_range_free(&rg);
}

void mock_kv_scan_lock(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__ScanLockRequest *q = msg;
  Kvrpcpb__ScanLockResponse *r = out;
  mock_region_t *reg = kc->region;
  mock_mvcc_t *s = store(kc);
  mv_update_max_ts(s, q->max_version);
  txn_range_t rg;
  if ((r->error =
           txn_region_range(kc, reg, &q->start_key, q->end_key.len ? &q->end_key : NULL, &rg)))
    return;
  size_t cap = 0;
  for (mv_key_t *k = mv_first(s, rg.lo, rg.lol); k && below_hi(k, &rg); k = mv_next(s, k)) {
    if (q->limit && r->n_locks >= q->limit) break;
    if (!k->lock || k->lock->ts > q->max_version) continue;
    Kvrpcpb__LockInfo *li = txn_lock_info(kc, k->raw, k->raw_len, k->lock);
    MOCK_PUSH(kc->arena, r->locks, r->n_locks, cap, li);
  }
  txn_range_free(&rg);
}
