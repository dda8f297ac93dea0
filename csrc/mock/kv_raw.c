/* Raw KV handlers of the mock TiKV, after tikv/tikv src/storage/mod.rs and
 * src/server/service/kv.rs:
 *  - column families "" / "default", "lock", "write" are separate keyspaces;
 *    anything else fails with "invalid cf name: X" before any region check;
 *    in API v2 none may be named ("cf is deprecated in API V2, cf name: X");
 *  - a TTL needs storage.enable-ttl (API v2 always takes one), else "ttl is
 *    not enabled, but get put request with ttl"; expired keys read as absent;
 *  - in API v2 raw keys are compared with the regions by their
 *    memcomparable encoding (raw_span);
 *  - point keys must lie in the region ([start, end)), scan starts may equal
 *    the region end (TiKV's inclusive seek check); scans stop at the region
 *    bounds; a reverse scan reads [max(end_key, region start),
 *    min(start_key, region end)) from the top;
 *  - RawBatchGet returns pairs only for keys that exist;
 *  - RawChecksum is TiKV's Crc64_Xor over the default column family: the
 *    CRC-64 (crc64fast's: ECMA-182 reflected, as xz) of each live pair's key
 *    then value, XORed together, with the pairs and their bytes counted, over
 *    each range's part inside the region.
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

/* A storage error of TiKV's, in both of its forms (Display, Debug). */
typedef struct raw_refusal {
  const char *display, *debug;
} raw_refusal;
#define TTL_DISABLED ((raw_refusal){TTL_DISABLED_MSG, "Error(TtlNotEnabled)"})
#define TTLS_LEN ((raw_refusal){TTLS_LEN_MSG, "Error(TtlLenNotEqualsToPairs)"})
#define NO_REFUSAL ((raw_refusal){NULL, NULL})

/* The region's bounds as raw keys compare with them. In API v1, PD's bytes
 * themselves: raw keys are not encoded. In API v2 every boundary is the
 * memcomparable encoding of a key (a raw key is compared by its encoding),
 * and since the encoding keeps the order, raw keys compare with the keys
 * the boundaries encode. */
typedef struct raw_span {
  const uint8_t *start, *end;
  size_t start_len, end_len;
  bool unbounded; /* the region is the last: no end (end_len 0 may be the empty key's) */
} raw_span;

/* A boundary as a raw key; false when it does not decode (never for the
 * mock's own splits: tikv_mock_split_region refuses those in API v2). */
static bool decoded(mock_kvctx_t *kc, const tikv__bytes_t *b, const uint8_t **out, size_t *len) {
  uint8_t *dec;
  size_t used;
  if (b->len == 0) {
    *out = b->data;
    *len = 0;
    return true;
  }
  if (tikv__codec_decode_bytes(b->data, b->len, &dec, len, &used) || used != b->len) return false;
  *out = mock_arena_dup(kc->arena, dec, *len);
  free(dec);
  return true;
}

static bool span_of(mock_kvctx_t *kc, const mock_region_t *r, raw_span *sp) {
  sp->unbounded = r->end.len == 0;
  if (kc->m->opts.api_version != 2) {
    *sp = (raw_span){r->start.data, r->end.data, r->start.len, r->end.len, sp->unbounded};
    return true;
  }
  return decoded(kc, &r->start, &sp->start, &sp->start_len) &&
         decoded(kc, &r->end, &sp->end, &sp->end_len);
}

/* TiKV's first checks on a raw request, after the API version's
 * (apiver.c), in its order: the column family (in API v2 none may be named:
 * "cf is deprecated"), then `refusal` (a TTL the cluster does not take),
 * then the region (leader, epoch, store). The region, its span and *cf, or
 * NULL with resp answered. */
static mock_region_t *raw_begin(mock_kvctx_t *kc, const char *cf_name, raw_refusal refusal,
                                const Kvrpcpb__Context *ctx, void *resp, raw_span *sp, int *cf) {
  mock_arena_t *a = kc->arena;
  if (kc->m->opts.api_version == 2 && cf_name && *cf_name) {
    mock_storage_error(kc, resp,
                       mock_arena_printf(a, "cf is deprecated in API V2, cf name: %s", cf_name),
                       mock_arena_printf(a, "Error(CfDeprecated(\"%s\"))", cf_name));
    return NULL;
  }
  if ((*cf = mock_cf_index(cf_name)) < 0) {
    mock_storage_error(kc, resp, mock_arena_printf(a, "invalid cf name: %s", cf_name),
                       mock_arena_printf(a, "Error(InvalidCf(\"%s\"))", cf_name));
    return NULL;
  }
  if (refusal.display) {
    mock_storage_error(kc, resp, refusal.display, refusal.debug);
    return NULL;
  }
  mock_region_t *reg;
  Errorpb__Error **region_error = mock_field_of(resp, "region_error");
  if ((*region_error = mock_check_context(kc, ctx, &reg))) return NULL;
  if (span_of(kc, reg, sp)) return reg;
  mock_storage_error(kc, resp, "mock: a region boundary is not an encoded key",
                     "mock: a region boundary is not an encoded key");
  return NULL;
}

/* Whether key lies in the span ([start, end), or up to end itself when
 * end_inclusive: a scan may start at the region end). */
static bool in_span(const raw_span *sp, const uint8_t *key, size_t len, bool end_inclusive) {
  if (tikv__key_cmp(key, len, sp->start, sp->start_len) < 0) return false;
  if (sp->unbounded) return true;
  int c = tikv__key_cmp(key, len, sp->end, sp->end_len);
  return c < 0 || (c == 0 && end_inclusive);
}

/* Every key in the region: NULL, or the region error for the first not. */
static Errorpb__Error *check_keys(mock_kvctx_t *kc, const mock_region_t *reg, const raw_span *sp,
                                  const ProtobufCBinaryData *keys, size_t n, bool end_inclusive) {
  for (size_t i = 0; i < n; i++)
    if (!in_span(sp, keys[i].data, keys[i].len, end_inclusive))
      return mock_key_not_in_region(kc, reg, keys[i].data, keys[i].len);
  return NULL;
}

static raw_refusal ttl_refusal(mock_kvctx_t *kc, uint64_t ttl) {
  return ttl && !mock_ttl_enabled(kc->m) ? TTL_DISABLED : NO_REFUSAL;
}

/* raw_begin and the key of a single-key request: the column family's
 * index, or -1 with the answer set. */
static int check_single(mock_kvctx_t *kc, const char *cf_name, uint64_t ttl,
                        const Kvrpcpb__Context *ctx, const ProtobufCBinaryData *key, void *resp) {
  int cf;
  raw_span sp;
  mock_region_t *reg = raw_begin(kc, cf_name, ttl_refusal(kc, ttl), ctx, resp, &sp, &cf);
  Errorpb__Error **region_error = mock_field_of(resp, "region_error");
  if (!reg || (*region_error = check_keys(kc, reg, &sp, key, 1, false))) return -1;
  return cf;
}

/* ---- point operations ---- */
void mock_raw_get(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawGetRequest *q = msg;
  Kvrpcpb__RawGetResponse *r = out;
  int cf = check_single(kc, q->cf, 0, q->context, &q->key, r);
  if (cf < 0) return;
  mock_kventry_t *e = mock_kvmap_get(kc->m->raw[cf], q->key.data, q->key.len);
  if (!e || !live(e, tikv__now_ms()))
    r->not_found = 1;
  else
    r->value = bin(kc, e->value, e->value_len);
}

void mock_raw_batch_get(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawBatchGetRequest *q = msg;
  Kvrpcpb__RawBatchGetResponse *r = out;
  int cf;
  raw_span sp;
  mock_region_t *reg = raw_begin(kc, q->cf, NO_REFUSAL, q->context, r, &sp, &cf);
  if (!reg || (r->region_error = check_keys(kc, reg, &sp, q->keys, q->n_keys, false))) return;
  r->pairs = mock_arena_alloc(kc->arena, (q->n_keys + 1) * sizeof(void *));
  int64_t now = tikv__now_ms();
  for (size_t i = 0; i < q->n_keys; i++) {
    mock_kventry_t *e = mock_kvmap_get(kc->m->raw[cf], q->keys[i].data, q->keys[i].len);
    if (e && live(e, now)) r->pairs[r->n_pairs++] = pair(kc, e, false);
  }
}

void mock_raw_put(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawPutRequest *q = msg;
  Kvrpcpb__RawPutResponse *r = out;
  int cf = check_single(kc, q->cf, q->ttl, q->context, &q->key, r);
  if (cf < 0) return;
  if (mock_kvmap_put(kc->m->raw[cf], q->key.data, q->key.len, q->value.data, q->value.len,
                     expire_at(q->ttl, tikv__now_ms())))
    r->error = "out of memory";
}

/* Why a batch put's TTLs are refused, if they are. */
static raw_refusal batch_ttl_refusal(mock_kvctx_t *kc, const Kvrpcpb__RawBatchPutRequest *q) {
  if (q->n_ttls > 1 && q->n_ttls != q->n_pairs) return TTLS_LEN;
  for (size_t i = 0; i < q->n_ttls; i++)
    if (ttl_refusal(kc, q->ttls[i]).display) return TTL_DISABLED;
  return NO_REFUSAL;
}

void mock_raw_batch_put(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawBatchPutRequest *q = msg;
  Kvrpcpb__RawBatchPutResponse *r = out;
  int cf;
  raw_span sp;
  mock_region_t *reg = raw_begin(kc, q->cf, batch_ttl_refusal(kc, q), q->context, r, &sp, &cf);
  for (size_t i = 0; reg && i < q->n_pairs; i++)
    if ((r->region_error = check_keys(kc, reg, &sp, &q->pairs[i]->key, 1, false))) return;
  if (!reg) return;
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
}

void mock_raw_delete(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawDeleteRequest *q = msg;
  Kvrpcpb__RawDeleteResponse *r = out;
  int cf = check_single(kc, q->cf, 0, q->context, &q->key, r);
  if (cf >= 0) mock_kvmap_delete(kc->m->raw[cf], q->key.data, q->key.len);
}

void mock_raw_batch_delete(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawBatchDeleteRequest *q = msg;
  Kvrpcpb__RawBatchDeleteResponse *r = out;
  int cf;
  raw_span sp;
  mock_region_t *reg = raw_begin(kc, q->cf, NO_REFUSAL, q->context, r, &sp, &cf);
  if (!reg || (r->region_error = check_keys(kc, reg, &sp, q->keys, q->n_keys, false))) return;
  for (size_t i = 0; i < q->n_keys; i++)
    mock_kvmap_delete(kc->m->raw[cf], q->keys[i].data, q->keys[i].len);
}

/* TiKV's apply of DeleteRange: the start must be in the region, the end may
 * not pass the region end (an empty end means the key space end). */
void mock_raw_delete_range(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawDeleteRangeRequest *q = msg;
  Kvrpcpb__RawDeleteRangeResponse *r = out;
  int cf;
  raw_span sp;
  mock_region_t *reg = raw_begin(kc, q->cf, NO_REFUSAL, q->context, r, &sp, &cf);
  if (!reg || (r->region_error = check_keys(kc, reg, &sp, &q->start_key, 1, false))) return;
  if (!sp.unbounded && (q->end_key.len == 0 ||
                        tikv__key_cmp(q->end_key.data, q->end_key.len, sp.end, sp.end_len) > 0)) {
    r->region_error = mock_key_not_in_region(kc, reg, q->end_key.data, q->end_key.len);
    return;
  }
  mock_kvmap_delete_range(kc->m->raw[cf], q->start_key.data, q->start_key.len, q->end_key.data,
                          q->end_key.len, q->end_key.len == 0);
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
      MOCK_PUSH(kc->arena, *out, *n, *cap, pair(kc, e, key_only));
      got++;
    }
    e = reverse ? mock_kvmap_prev(s, e) : mock_kvmap_next(s, e);
  }
}

/* One scan request bounded by the region's span. start/end as in
 * RawScanRequest. */
static void scan_in_region(mock_kvctx_t *kc, int cf, const raw_span *sp,
                           const ProtobufCBinaryData *start, const ProtobufCBinaryData *end,
                           uint32_t limit, bool key_only, bool reverse, Kvrpcpb__KvPair ***out,
                           size_t *n, size_t *cap) {
  const uint8_t *lo, *hi;
  size_t lol, hil;
  bool hi_unbounded;
  if (!reverse) {
    lo = max_key(start->data, start->len, sp->start, sp->start_len, &lol);
    /* upper: min(end, region end), an empty end_key meaning unbounded */
    hi_unbounded = false;
    if (end->len &&
        (sp->unbounded || tikv__key_cmp(end->data, end->len, sp->end, sp->end_len) < 0)) {
      hi = end->data;
      hil = end->len;
    } else {
      hi = sp->end;
      hil = sp->end_len;
      hi_unbounded = sp->unbounded;
    }
  } else {
    lo = max_key(end->data, end->len, sp->start, sp->start_len, &lol);
    /* upper: start (exclusive), capped at the region end */
    if (!sp->unbounded && tikv__key_cmp(start->data, start->len, sp->end, sp->end_len) > 0) {
      hi = sp->end;
      hil = sp->end_len;
    } else {
      hi = start->data;
      hil = start->len;
    }
    hi_unbounded = false;
  }
  scan_range(kc, cf, lo, lol, hi, hil, hi_unbounded, limit, key_only, reverse, out, n, cap);
}

void mock_raw_scan(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawScanRequest *q = msg;
  Kvrpcpb__RawScanResponse *r = out;
  int cf;
  raw_span sp;
  mock_region_t *reg = raw_begin(kc, q->cf, NO_REFUSAL, q->context, r, &sp, &cf);
  if (!reg || (r->region_error = check_keys(kc, reg, &sp, &q->start_key, 1, true))) return;
  size_t cap = 0;
  scan_in_region(kc, cf, &sp, &q->start_key, &q->end_key, q->limit, q->key_only, q->reverse,
                 &r->kvs, &r->n_kvs, &cap);
}

void mock_raw_batch_scan(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawBatchScanRequest *q = msg;
  Kvrpcpb__RawBatchScanResponse *r = out;
  int cf;
  raw_span sp;
  mock_region_t *reg = raw_begin(kc, q->cf, NO_REFUSAL, q->context, r, &sp, &cf);
  for (size_t i = 0; reg && i < q->n_ranges; i++)
    if ((r->region_error = check_keys(kc, reg, &sp, &q->ranges[i]->start_key, 1, true))) return;
  if (!reg) return;
  size_t cap = 0;
  for (size_t i = 0; i < q->n_ranges; i++)
    scan_in_region(kc, cf, &sp, &q->ranges[i]->start_key, &q->ranges[i]->end_key, q->each_limit,
                   q->key_only, q->reverse, &r->kvs, &r->n_kvs, &cap);
}

/* ---- TTL and CAS ---- */
void mock_raw_get_key_ttl(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawGetKeyTTLRequest *q = msg;
  Kvrpcpb__RawGetKeyTTLResponse *r = out;
  int cf = check_single(kc, q->cf, 0, q->context, &q->key, r);
  if (cf < 0) return;
  int64_t now = tikv__now_ms();
  mock_kventry_t *e = mock_kvmap_get(kc->m->raw[cf], q->key.data, q->key.len);
  if (!e || !live(e, now))
    r->not_found = 1;
  else if (e->tag)
    r->ttl = (uint64_t)((e->tag - now + 999) / 1000);
}

void mock_raw_cas(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawCASRequest *q = msg;
  Kvrpcpb__RawCASResponse *r = out;
  int cf = check_single(kc, q->cf, q->ttl, q->context, &q->key, r);
  if (cf < 0) return;
  int64_t now = tikv__now_ms();
  mock_kventry_t *e = mock_kvmap_get(kc->m->raw[cf], q->key.data, q->key.len);
  bool exists = e && live(e, now);
  if (exists) r->previous_value = bin(kc, e->value, e->value_len); /* copied before any write */
  r->previous_not_exist = !exists;
  if (q->previous_not_exist)
    r->succeed = !exists;
  else
    r->succeed = exists && e->value_len == q->previous_value.len &&
                 (e->value_len == 0 || memcmp(e->value, q->previous_value.data, e->value_len) == 0);
  if (r->succeed) {
    if (q->delete_)
      mock_kvmap_delete(kc->m->raw[cf], q->key.data, q->key.len);
    else if (mock_kvmap_put(kc->m->raw[cf], q->key.data, q->key.len, q->value.data, q->value.len,
                            expire_at(q->ttl, now)))
      r->error = "out of memory";
  }
}

/* ---- checksums (TiKV's raw_checksum_ranges) ---- */
static uint64_t crc64_table[256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init(void) {
  for (uint64_t i = 0; i < 256; i++) {
    uint64_t r = i;
    for (int j = 0; j < 8; j++) r = (r >> 1) ^ (0xC96C5795D7870F42ull & (0 - (r & 1)));
    crc64_table[i] = r;
  }
}

/* crc64fast's Digest: continues crc (0 to start) over p[0..n). */
static uint64_t crc64(uint64_t crc, const uint8_t *p, size_t n) {
  pthread_once(&crc64_once, crc64_init);
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = crc64_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/* The range's part inside the region, as TiKV's region snapshot bounds its
 * iterator (an empty end: the region's end). */
static void checksum_range(mock_kvctx_t *kc, const mock_region_t *reg, const Kvrpcpb__KeyRange *kr,
                           Kvrpcpb__RawChecksumResponse *r) {
  size_t lol;
  const uint8_t *lo = max_key(kr->start_key.data, kr->start_key.len, reg->start.data,
                              reg->start.len, &lol);
  const ProtobufCBinaryData *end = &kr->end_key;
  bool region_first = reg->end.len && (!end->len || tikv__key_cmp(reg->end.data, reg->end.len,
                                                                  end->data, end->len) < 0);
  const uint8_t *hi = region_first ? reg->end.data : end->data;
  size_t hil = region_first ? reg->end.len : end->len;
  int64_t now = tikv__now_ms();
  mock_kvmap_t *s = kc->m->raw[0];
  for (mock_kventry_t *e = mock_kvmap_seek(s, lo, lol);
       e && (!hil || tikv__key_cmp(e->key, e->key_len, hi, hil) < 0); e = mock_kvmap_next(s, e)) {
    if (!live(e, now)) continue;
    r->checksum ^= crc64(crc64(0, e->key, e->key_len), e->value, e->value_len);
    r->total_kvs++;
    r->total_bytes += e->key_len + e->value_len;
  }
}

void mock_raw_checksum(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawChecksumRequest *q = msg;
  Kvrpcpb__RawChecksumResponse *r = out;
  if (q->algorithm != KVRPCPB__CHECKSUM_ALGORITHM__Crc64_Xor) {
    r->error = mock_arena_printf(kc->arena, "unknown checksum algorithm %d", (int)q->algorithm);
    return;
  }
  mock_region_t *reg;
  if ((r->region_error = mock_check_context(kc, q->context, &reg))) return;
  for (size_t i = 0; i < q->n_ranges; i++) checksum_range(kc, reg, q->ranges[i], r);
}
