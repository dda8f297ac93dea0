/* Raw KV handlers of the mock TiKV, after tikv/tikv src/storage/mod.rs and
 * src/server/service/kv.rs:
 *  - column families "" / "default", "lock", "write" are separate keyspaces;
 *    anything else fails with "invalid cf name: X" before any region check;
 *  - a TTL needs storage.enable-ttl, else "ttl is not enabled, but get put
 *    request with ttl"; expired keys read as absent;
 *  - point keys must lie in the region ([start, end)), scan starts may equal
 *    the region end (TiKV's inclusive seek check); scans stop at the region
 *    bounds; a reverse scan reads [max(end_key, region start),
 *    min(start_key, region end)) from the top;
 *  - RawBatchGet returns pairs only for keys that exist.
 * Handlers run with m->mu held and copy everything they return into the
 * arena. */
#include "mock/mock_internal.h"

#define TTL_DISABLED_MSG "ttl is not enabled, but get put request with ttl"
#define TTLS_LEN_MSG "The length of ttls does not equal to the length of pairs"

static bool live(const mock_kventry_t *e, int64_t now) { return e->tag == 0 || e->tag > now; }

static int64_t expire_at(uint64_t ttl_s, int64_t now) {
  if (ttl_s == 0) return 0;
  if (ttl_s > (uint64_t)(INT64_MAX / 2000)) return INT64_MAX;
  return now + (int64_t)ttl_s * 1000;
}

static char *invalid_cf(mock_kvctx_t *kc, const char *cf) {
  return mock_arena_printf(kc->arena, "invalid cf name: %s", cf);
}

static ProtobufCBinaryData bin(mock_kvctx_t *kc, const uint8_t *p, size_t n) {
  ProtobufCBinaryData b = {n, mock_arena_dup(kc->arena, p, n)};
  return b;
}

static Kvrpcpb__KvPair *pair(mock_kvctx_t *kc, const mock_kventry_t *e, bool key_only) {
  Kvrpcpb__KvPair *p = MOCK_NEW(kc->arena, Kvrpcpb__KvPair, KVRPCPB__KV_PAIR__INIT);
  p->key = bin(kc, e->key, e->key_len);
  if (!key_only) p->value = bin(kc, e->value, e->value_len);
  return p;
}

/* The one-pair answer TiKV gives when a whole batch read fails. */
static Kvrpcpb__KvPair **abort_pairs(mock_kvctx_t *kc, const char *msg, size_t *n) {
  Kvrpcpb__KvPair **ps = mock_arena_alloc(kc->arena, sizeof(void *));
  ps[0] = MOCK_NEW(kc->arena, Kvrpcpb__KvPair, KVRPCPB__KV_PAIR__INIT);
  ps[0]->error = MOCK_NEW(kc->arena, Kvrpcpb__KeyError, KVRPCPB__KEY_ERROR__INIT);
  ps[0]->error->abort = (char *)msg;
  *n = 1;
  return ps;
}

/* TiKV's checks for a single-key raw request, in its order: column family,
 * TTL allowed, region (leader, epoch, store), key in the region. Returns the
 * column family's index, or -1 with the response's *error or *region_error
 * set. */
static int check_single(mock_kvctx_t *kc, const char *cf_name, uint64_t ttl,
                        const Kvrpcpb__Context *ctx, ProtobufCBinaryData key, char **error,
                        Errorpb__Error **region_error) {
  int cf = mock_cf_index(cf_name);
  if (cf < 0) {
    *error = invalid_cf(kc, cf_name);
    return -1;
  }
  if (ttl && !kc->m->opts.enable_ttl) {
    *error = TTL_DISABLED_MSG;
    return -1;
  }
  mock_region_t *reg;
  if ((*region_error = mock_check_context(kc, ctx, &reg))) return -1;
  if ((*region_error = mock_check_key(kc, reg, key.data, key.len, false))) return -1;
  return cf;
}

/* ---- point operations ---- */
static ProtobufCMessage *raw_get(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__RawGetRequest *q = (const Kvrpcpb__RawGetRequest *)msg;
  Kvrpcpb__RawGetResponse *r = MOCK_NEW(kc->arena, Kvrpcpb__RawGetResponse, KVRPCPB__RAW_GET_RESPONSE__INIT);
  int cf = check_single(kc, q->cf, 0, q->context, q->key, &r->error, &r->region_error);
  if (cf < 0) return &r->base;
  mock_kventry_t *e = mock_kvmap_get(kc->m->raw[cf], q->key.data, q->key.len);
  if (!e || !live(e, tikv__now_ms()))
    r->not_found = 1;
  else
    r->value = bin(kc, e->value, e->value_len);
  return &r->base;
}

static ProtobufCMessage *raw_batch_get(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__RawBatchGetRequest *q = (const Kvrpcpb__RawBatchGetRequest *)msg;
  Kvrpcpb__RawBatchGetResponse *r =
      MOCK_NEW(kc->arena, Kvrpcpb__RawBatchGetResponse, KVRPCPB__RAW_BATCH_GET_RESPONSE__INIT);
  int cf = mock_cf_index(q->cf);
  if (cf < 0) {
    r->pairs = abort_pairs(kc, mock_arena_printf(kc->arena, "Error(InvalidCf(\"%s\"))", q->cf),
                           &r->n_pairs);
    return &r->base;
  }
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  for (size_t i = 0; i < q->n_keys; i++)
    if ((r->region_error = mock_check_key(kc, reg, q->keys[i].data, q->keys[i].len, false)))
      return &r->base;
  r->pairs = mock_arena_alloc(kc->arena, (q->n_keys + 1) * sizeof(void *));
  int64_t now = tikv__now_ms();
  for (size_t i = 0; i < q->n_keys; i++) {
    mock_kventry_t *e = mock_kvmap_get(kc->m->raw[cf], q->keys[i].data, q->keys[i].len);
    if (e && live(e, now)) r->pairs[r->n_pairs++] = pair(kc, e, false);
  }
  return &r->base;
}

static ProtobufCMessage *raw_put(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__RawPutRequest *q = (const Kvrpcpb__RawPutRequest *)msg;
  Kvrpcpb__RawPutResponse *r = MOCK_NEW(kc->arena, Kvrpcpb__RawPutResponse, KVRPCPB__RAW_PUT_RESPONSE__INIT);
  int cf = check_single(kc, q->cf, q->ttl, q->context, q->key, &r->error, &r->region_error);
  if (cf < 0) return &r->base;
  if (mock_kvmap_put(kc->m->raw[cf], q->key.data, q->key.len, q->value.data, q->value.len,
                     expire_at(q->ttl, tikv__now_ms())))
    r->error = "out of memory";
  return &r->base;
}

static ProtobufCMessage *raw_batch_put(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__RawBatchPutRequest *q = (const Kvrpcpb__RawBatchPutRequest *)msg;
  Kvrpcpb__RawBatchPutResponse *r =
      MOCK_NEW(kc->arena, Kvrpcpb__RawBatchPutResponse, KVRPCPB__RAW_BATCH_PUT_RESPONSE__INIT);
  int cf = mock_cf_index(q->cf);
  if (cf < 0) {
    r->error = invalid_cf(kc, q->cf);
    return &r->base;
  }
  if (q->n_ttls > 1 && q->n_ttls != q->n_pairs) {
    r->error = TTLS_LEN_MSG;
    return &r->base;
  }
  for (size_t i = 0; i < q->n_ttls; i++)
    if (q->ttls[i] && !kc->m->opts.enable_ttl) {
      r->error = TTL_DISABLED_MSG;
      return &r->base;
    }
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  for (size_t i = 0; i < q->n_pairs; i++)
    if ((r->region_error =
             mock_check_key(kc, reg, q->pairs[i]->key.data, q->pairs[i]->key.len, false)))
      return &r->base;
  int64_t now = tikv__now_ms();
  for (size_t i = 0; i < q->n_pairs; i++) {
    uint64_t ttl = q->n_ttls == 0 ? 0 : q->n_ttls == 1 ? q->ttls[0] : q->ttls[i];
    const Kvrpcpb__KvPair *p = q->pairs[i];
    if (mock_kvmap_put(kc->m->raw[cf], p->key.data, p->key.len, p->value.data, p->value.len,
                       expire_at(ttl, now))) {
      r->error = "out of memory";
      break;
    }
  }
  return &r->base;
}

static ProtobufCMessage *raw_delete(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__RawDeleteRequest *q = (const Kvrpcpb__RawDeleteRequest *)msg;
  Kvrpcpb__RawDeleteResponse *r =
      MOCK_NEW(kc->arena, Kvrpcpb__RawDeleteResponse, KVRPCPB__RAW_DELETE_RESPONSE__INIT);
  int cf = check_single(kc, q->cf, 0, q->context, q->key, &r->error, &r->region_error);
  if (cf < 0) return &r->base;
  mock_kvmap_delete(kc->m->raw[cf], q->key.data, q->key.len);
  return &r->base;
}

static ProtobufCMessage *raw_batch_delete(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__RawBatchDeleteRequest *q = (const Kvrpcpb__RawBatchDeleteRequest *)msg;
  Kvrpcpb__RawBatchDeleteResponse *r =
      MOCK_NEW(kc->arena, Kvrpcpb__RawBatchDeleteResponse, KVRPCPB__RAW_BATCH_DELETE_RESPONSE__INIT);
  int cf = mock_cf_index(q->cf);
  if (cf < 0) {
    r->error = invalid_cf(kc, q->cf);
    return &r->base;
  }
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  for (size_t i = 0; i < q->n_keys; i++)
    if ((r->region_error = mock_check_key(kc, reg, q->keys[i].data, q->keys[i].len, false)))
      return &r->base;
  for (size_t i = 0; i < q->n_keys; i++)
    mock_kvmap_delete(kc->m->raw[cf], q->keys[i].data, q->keys[i].len);
  return &r->base;
}

/* TiKV's apply of DeleteRange: the start must be in the region, the end may
 * not pass the region end (an empty end means the key space end). */
static ProtobufCMessage *raw_delete_range(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__RawDeleteRangeRequest *q = (const Kvrpcpb__RawDeleteRangeRequest *)msg;
  Kvrpcpb__RawDeleteRangeResponse *r =
      MOCK_NEW(kc->arena, Kvrpcpb__RawDeleteRangeResponse, KVRPCPB__RAW_DELETE_RANGE_RESPONSE__INIT);
  int cf = mock_cf_index(q->cf);
  if (cf < 0) {
    r->error = invalid_cf(kc, q->cf);
    return &r->base;
  }
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error =
           mock_check_key(kc, reg, q->start_key.data, q->start_key.len, false)))
    return &r->base;
  if (reg->end.len &&
      (q->end_key.len == 0 ||
       tikv__key_cmp(q->end_key.data, q->end_key.len, reg->end.data, reg->end.len) > 0)) {
    r->region_error = mock_key_not_in_region(kc, reg, q->end_key.data, q->end_key.len);
    return &r->base;
  }
  mock_kvmap_delete_range(kc->m->raw[cf], q->start_key.data, q->start_key.len, q->end_key.data,
                          q->end_key.len, q->end_key.len == 0);
  return &r->base;
}

/* ---- scans ---- */
static const uint8_t *max_key(const uint8_t *a, size_t al, const uint8_t *b, size_t bl,
                              size_t *out) {
  if (tikv__key_cmp(a, al, b, bl) >= 0) {
    *out = al;
    return a;
  }
  *out = bl;
  return b;
}

/* Appends up to `limit` live pairs of [lower, upper) (upper_unbounded: no
 * upper bound) in the given direction to *out. */
static void scan_range(mock_kvctx_t *kc, int cf, const uint8_t *lower, size_t ll,
                       const uint8_t *upper, size_t ul, bool upper_unbounded, uint32_t limit,
                       bool key_only, bool reverse, Kvrpcpb__KvPair ***out, size_t *n,
                       size_t *cap) {
  mock_kvmap_t *s = kc->m->raw[cf];
  int64_t now = tikv__now_ms();
  uint32_t got = 0;
  mock_kventry_t *e = reverse ? mock_kvmap_seek_before(s, upper, ul, upper_unbounded)
                              : mock_kvmap_seek(s, lower, ll);
  while (e && got < limit) {
    if (reverse) {
      if (tikv__key_cmp(e->key, e->key_len, lower, ll) < 0) break;
    } else if (!upper_unbounded && tikv__key_cmp(e->key, e->key_len, upper, ul) >= 0) {
      break;
    }
    if (live(e, now)) {
      if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        Kvrpcpb__KvPair **np = mock_arena_alloc(kc->arena, nc * sizeof(void *));
        if (*n) memcpy(np, *out, *n * sizeof(void *));
        *out = np;
        *cap = nc;
      }
      (*out)[(*n)++] = pair(kc, e, key_only);
      got++;
    }
    e = reverse ? mock_kvmap_prev(s, e) : mock_kvmap_next(s, e);
  }
}

/* One scan request bounded by the region. start/end as in RawScanRequest. */
static void scan_in_region(mock_kvctx_t *kc, int cf, const mock_region_t *reg,
                           const ProtobufCBinaryData *start, const ProtobufCBinaryData *end,
                           uint32_t limit, bool key_only, bool reverse, Kvrpcpb__KvPair ***out,
                           size_t *n, size_t *cap) {
  const uint8_t *lo, *hi;
  size_t lol, hil;
  bool hi_unbounded;
  if (!reverse) {
    lo = max_key(start->data, start->len, reg->start.data, reg->start.len, &lol);
    /* upper: min(end, region end), empty meaning unbounded for both */
    if (end->len && (reg->end.len == 0 ||
                     tikv__key_cmp(end->data, end->len, reg->end.data, reg->end.len) < 0)) {
      hi = end->data;
      hil = end->len;
    } else {
      hi = reg->end.data;
      hil = reg->end.len;
    }
    hi_unbounded = hil == 0;
  } else {
    lo = max_key(end->data, end->len, reg->start.data, reg->start.len, &lol);
    /* upper: start (exclusive), capped at the region end */
    if (reg->end.len && tikv__key_cmp(start->data, start->len, reg->end.data, reg->end.len) > 0) {
      hi = reg->end.data;
      hil = reg->end.len;
    } else {
      hi = start->data;
      hil = start->len;
    }
    hi_unbounded = false;
  }
  scan_range(kc, cf, lo, lol, hi, hil, hi_unbounded, limit, key_only, reverse, out, n, cap);
}

static ProtobufCMessage *raw_scan(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__RawScanRequest *q = (const Kvrpcpb__RawScanRequest *)msg;
  Kvrpcpb__RawScanResponse *r = MOCK_NEW(kc->arena, Kvrpcpb__RawScanResponse, KVRPCPB__RAW_SCAN_RESPONSE__INIT);
  int cf = mock_cf_index(q->cf);
  if (cf < 0) {
    r->kvs = abort_pairs(kc, mock_arena_printf(kc->arena, "Error(InvalidCf(\"%s\"))", q->cf),
                         &r->n_kvs);
    return &r->base;
  }
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  if ((r->region_error = mock_check_key(kc, reg, q->start_key.data, q->start_key.len, true)))
    return &r->base;
  size_t cap = 0;
  scan_in_region(kc, cf, reg, &q->start_key, &q->end_key, q->limit, q->key_only, q->reverse,
                 &r->kvs, &r->n_kvs, &cap);
  return &r->base;
}

static ProtobufCMessage *raw_batch_scan(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__RawBatchScanRequest *q = (const Kvrpcpb__RawBatchScanRequest *)msg;
  Kvrpcpb__RawBatchScanResponse *r =
      MOCK_NEW(kc->arena, Kvrpcpb__RawBatchScanResponse, KVRPCPB__RAW_BATCH_SCAN_RESPONSE__INIT);
  int cf = mock_cf_index(q->cf);
  if (cf < 0) {
    r->kvs = abort_pairs(kc, mock_arena_printf(kc->arena, "Error(InvalidCf(\"%s\"))", q->cf),
                         &r->n_kvs);
    return &r->base;
  }
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return &r->base;
  for (size_t i = 0; i < q->n_ranges; i++)
    if ((r->region_error = mock_check_key(kc, reg, q->ranges[i]->start_key.data,
                                          q->ranges[i]->start_key.len, true)))
      return &r->base;
  size_t cap = 0;
  for (size_t i = 0; i < q->n_ranges; i++)
    scan_in_region(kc, cf, reg, &q->ranges[i]->start_key, &q->ranges[i]->end_key, q->each_limit,
                   q->key_only, q->reverse, &r->kvs, &r->n_kvs, &cap);
  return &r->base;
}

/* ---- TTL and CAS ---- */
static ProtobufCMessage *raw_get_key_ttl(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__RawGetKeyTTLRequest *q = (const Kvrpcpb__RawGetKeyTTLRequest *)msg;
  Kvrpcpb__RawGetKeyTTLResponse *r =
      MOCK_NEW(kc->arena, Kvrpcpb__RawGetKeyTTLResponse, KVRPCPB__RAW_GET_KEY_TTLRESPONSE__INIT);
  int cf = check_single(kc, q->cf, 0, q->context, q->key, &r->error, &r->region_error);
  if (cf < 0) return &r->base;
  int64_t now = tikv__now_ms();
  mock_kventry_t *e = mock_kvmap_get(kc->m->raw[cf], q->key.data, q->key.len);
  if (!e || !live(e, now))
    r->not_found = 1;
  else if (e->tag)
    r->ttl = (uint64_t)((e->tag - now + 999) / 1000);
  return &r->base;
}

static ProtobufCMessage *raw_cas(mock_kvctx_t *kc, const ProtobufCMessage *msg) {
  const Kvrpcpb__RawCASRequest *q = (const Kvrpcpb__RawCASRequest *)msg;
  Kvrpcpb__RawCASResponse *r = MOCK_NEW(kc->arena, Kvrpcpb__RawCASResponse, KVRPCPB__RAW_CASRESPONSE__INIT);
  int cf = check_single(kc, q->cf, q->ttl, q->context, q->key, &r->error, &r->region_error);
  if (cf < 0) return &r->base;
  int64_t now = tikv__now_ms();
  mock_kventry_t *e = mock_kvmap_get(kc->m->raw[cf], q->key.data, q->key.len);
  bool exists = e && live(e, now);
  if (exists) r->previous_value = bin(kc, e->value, e->value_len); /* copied before any write */
  r->previous_not_exist = !exists;
  if (q->previous_not_exist)
    r->succeed = !exists;
  else
    r->succeed = exists && e->value_len == q->previous_value.len &&
                 (e->value_len == 0 ||
                  memcmp(e->value, q->previous_value.data, e->value_len) == 0);
  if (r->succeed) {
    if (q->delete_)
      mock_kvmap_delete(kc->m->raw[cf], q->key.data, q->key.len);
    else if (mock_kvmap_put(kc->m->raw[cf], q->key.data, q->key.len, q->value.data, q->value.len,
                            expire_at(q->ttl, now)))
      r->error = "out of memory";
  }
  return &r->base;
}

const mock_kv_method_t mock_raw_methods[] = {
    {TIKV__REQ_RAW_GET, raw_get},
    {TIKV__REQ_RAW_BATCH_GET, raw_batch_get},
    {TIKV__REQ_RAW_PUT, raw_put},
    {TIKV__REQ_RAW_BATCH_PUT, raw_batch_put},
    {TIKV__REQ_RAW_DELETE, raw_delete},
    {TIKV__REQ_RAW_BATCH_DELETE, raw_batch_delete},
    {TIKV__REQ_RAW_DELETE_RANGE, raw_delete_range},
    {TIKV__REQ_RAW_SCAN, raw_scan},
    {TIKV__REQ_RAW_BATCH_SCAN, raw_batch_scan},
    {TIKV__REQ_RAW_GET_KEY_TTL, raw_get_key_ttl},
    {TIKV__REQ_RAW_CAS, raw_cas},
    {0, NULL},
};
