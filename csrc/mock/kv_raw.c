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
 *  - a CAS holds its key's scheduler latch until its write applies, and
 *    for_cas puts and deletes wait for it (see "scheduler latches").
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

/* Whether a request (an atomic put or delete, or a CAS) waits for its key's
 * latch: it then answers once the CAS holding it is done. */
static bool latch_wait(mock_kvctx_t *kc, int cf, const ProtobufCBinaryData *key,
                       const ProtobufCMessage *q);

static const char *put_value(mock_cluster_t *m, int cf, const Kvrpcpb__RawPutRequest *q) {
  return mock_kvmap_put(m->raw[cf], q->key.data, q->key.len, q->value.data, q->value.len,
                        expire_at(q->ttl, tikv__now_ms()))
             ? "out of memory"
             : NULL;
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
  mock_kventry_t *near = NULL;
  for (size_t i = 0; i < q->n_keys; i++) {
    mock_kventry_t *e = mock_kvmap_get_near(kc->m->raw[cf], q->keys[i].data, q->keys[i].len, &near);
    if (e && live(e, now)) r->pairs[r->n_pairs++] = pair(kc, e, false);
  }
}

void mock_raw_put(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawPutRequest *q = msg;
  Kvrpcpb__RawPutResponse *r = out;
  int cf = check_single(kc, q->cf, q->ttl, q->context, &q->key, r);
  if (cf < 0 || (q->for_cas && latch_wait(kc, cf, &q->key, &q->base))) return;
  r->error = (char *)put_value(kc->m, cf, q);
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
  if (cf < 0 || (q->for_cas && latch_wait(kc, cf, &q->key, &q->base))) return;
  mock_kvmap_delete(kc->m->raw[cf], q->key.data, q->key.len);
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

/* What a CAS answers, from the key as it is now (the write comes after). */
static void cas_decide(mock_kvctx_t *kc, int cf, const Kvrpcpb__RawCASRequest *q,
                       Kvrpcpb__RawCASResponse *r) {
  mock_kventry_t *e = mock_kvmap_get(kc->m->raw[cf], q->key.data, q->key.len);
  bool exists = e && live(e, tikv__now_ms());
  if (exists) r->previous_value = bin(kc, e->value, e->value_len);
  r->previous_not_exist = !exists;
  if (q->previous_not_exist)
    r->succeed = !exists;
  else
    r->succeed = exists && e->value_len == q->previous_value.len &&
                 (e->value_len == 0 || memcmp(e->value, q->previous_value.data, e->value_len) == 0);
}

/* The write of a CAS that succeeded. */
static void cas_write(mock_cluster_t *m, int cf, const Kvrpcpb__RawCASRequest *q,
                      Kvrpcpb__RawCASResponse *r) {
  if (!r->succeed) return;
  if (q->delete_)
    mock_kvmap_delete(m->raw[cf], q->key.data, q->key.len);
  else if (mock_kvmap_put(m->raw[cf], q->key.data, q->key.len, q->value.data, q->value.len,
                          expire_at(q->ttl, tikv__now_ms())))
    r->error = "out of memory";
}

/* ---- scheduler latches ----
 * TiKV runs a compare-and-swap as a command of its transaction scheduler
 * (RawCompareAndSwap): it takes the key's latch, reads the key, writes
 * through Raft, and releases the latch once the write applied; commands
 * meeting the latch wait, in arrival order. Puts and deletes sent with
 * for_cas (atomic mode) are such commands too (RawAtomicStore); without it
 * they go straight to the engine (Storage::raw_put / raw_delete), latch or
 * no latch, and can land between a CAS's read and its write, which then
 * overwrites them. The mock's Raft writes are instant, unless a test
 * stalls those of CASes with a latency for CAS_WRITE_LATENCY (that name
 * only, never "*"): a CAS read while it is set holds its latch until the
 * latency is removed (looked at every delay_ms). RawBatchPut (for_cas or
 * not) does not wait for latches here. */
#define CAS_WRITE_LATENCY "RawCompareAndSwap/write"

typedef struct raw_waiter {
  mock_reply_to_t *reply;
  ProtobufCMessage *q; /* own copy: a RawPut, RawDelete or RawCAS request */
  struct raw_waiter *next;
} raw_waiter_t;

typedef struct mock_raw_latch {
  mock_cluster_t *m;
  int cf;
  tikv__bytes_t key;
  tikv__timer_t timer; /* the holder's write applies when it fires */
  Kvrpcpb__RawCASRequest *cas; /* the holder (own copy) */
  mock_reply_to_t *reply;      /* its caller */
  Kvrpcpb__RawCASResponse *resp; /* its answer, in arena */
  mock_arena_t arena;
  raw_waiter_t *head, *tail;
  struct mock_raw_latch *next;
} raw_latch_t;

static uint32_t cas_write_ms(const mock_cluster_t *m) {
  for (const mock_latency_t *l = m->latencies; l; l = l->next)
    if (strcmp(l->method, CAS_WRITE_LATENCY) == 0) return l->delay_ms;
  return 0;
}

static ProtobufCMessage *msg_copy(const ProtobufCMessage *q) {
  size_t n = protobuf_c_message_get_packed_size(q);
  uint8_t *buf = tikv__malloc(n ? n : 1);
  if (!buf) return NULL;
  protobuf_c_message_pack(q, buf);
  ProtobufCMessage *c = protobuf_c_message_unpack(q->descriptor, NULL, n, buf);
  free(buf);
  return c;
}

static raw_latch_t *latch_of(mock_cluster_t *m, int cf, const ProtobufCBinaryData *key) {
  for (raw_latch_t *l = m->raw_latches; l; l = l->next)
    if (l->cf == cf && !tikv__key_cmp(l->key.data, l->key.len, key->data, key->len)) return l;
  return NULL;
}

static bool latch_wait(mock_kvctx_t *kc, int cf, const ProtobufCBinaryData *key,
                       const ProtobufCMessage *q) {
  raw_latch_t *l = latch_of(kc->m, cf, key);
  raw_waiter_t *w = l ? tikv__calloc(1, sizeof(*w)) : NULL;
  if (w && !(w->q = msg_copy(q))) {
    free(w);
    w = NULL;
  }
  if (!w) return false; /* no latch (or no memory: then at once) */
  w->reply = mock_kv_defer(kc);
  if (!w->reply) {
    protobuf_c_message_free_unpacked(w->q, NULL);
    free(w);
    return false;
  }
  MOCK_QUEUE_PUSH(l->head, l->tail, w);
  return true;
}

static void latch_fire(void *arg);

/* The CAS q (owned) takes latch l: it reads now, writes after ms. m->mu held. */
static void latch_hold(raw_latch_t *l, Kvrpcpb__RawCASRequest *q, mock_reply_to_t *reply,
                       uint32_t ms) {
  l->cas = q;
  l->reply = reply;
  l->resp = MOCK_NEW(&l->arena, Kvrpcpb__RawCASResponse, KVRPCPB__RAW_CASRESPONSE__INIT);
  cas_decide(&(mock_kvctx_t){.m = l->m, .arena = &l->arena}, l->cf, q, l->resp);
  tikv__timer_start(l->m->loop, &l->timer, ms, latch_fire, l);
}

/* Answers what waited for l in arrival order, up to a CAS, which holds l
 * next; frees l when nobody is left. Loop thread, m->mu not held. */
static void latch_next(raw_latch_t *l) {
  mock_cluster_t *m = l->m;
  bool stopping = tikv__loop_stopping(m->loop);
  pthread_mutex_lock(&m->mu);
  raw_waiter_t *w;
  while ((w = l->head)) {
    l->head = w->next;
    if (!l->head) l->tail = NULL;
    if (w->q->descriptor == &kvrpcpb__raw_casrequest__descriptor && !stopping) {
      latch_hold(l, (Kvrpcpb__RawCASRequest *)w->q, w->reply, cas_write_ms(m));
      pthread_mutex_unlock(&m->mu);
      free(w);
      return;
    }
    Kvrpcpb__RawPutResponse put = KVRPCPB__RAW_PUT_RESPONSE__INIT;
    Kvrpcpb__RawDeleteResponse del = KVRPCPB__RAW_DELETE_RESPONSE__INIT;
    ProtobufCMessage *resp = NULL;
    if (w->q->descriptor == &kvrpcpb__raw_put_request__descriptor) {
      put.error = (char *)put_value(m, l->cf, (Kvrpcpb__RawPutRequest *)w->q);
      resp = &put.base;
    } else if (w->q->descriptor == &kvrpcpb__raw_delete_request__descriptor) {
      const Kvrpcpb__RawDeleteRequest *d = (const Kvrpcpb__RawDeleteRequest *)w->q;
      mock_kvmap_delete(m->raw[l->cf], d->key.data, d->key.len);
      resp = &del.base;
    }
    pthread_mutex_unlock(&m->mu);
    mock_kv_deferred_reply(w->reply, stopping ? NULL : resp);
    protobuf_c_message_free_unpacked(w->q, NULL);
    free(w);
    pthread_mutex_lock(&m->mu);
  }
  raw_latch_t **pp = &m->raw_latches;
  while (*pp != l) pp = &(*pp)->next;
  *pp = l->next;
  pthread_mutex_unlock(&m->mu);
  tikv__bytes_free(&l->key);
  free(l);
}

/* The holder's write applies once the stall is over: it answers, the latch
 * goes on. */
static void latch_fire(void *arg) {
  raw_latch_t *l = arg;
  mock_cluster_t *m = l->m;
  pthread_mutex_lock(&m->mu);
  uint32_t stalled = tikv__loop_stopping(m->loop) ? 0 : cas_write_ms(m);
  if (stalled) {
    tikv__timer_start(m->loop, &l->timer, stalled, latch_fire, l);
    pthread_mutex_unlock(&m->mu);
    return;
  }
  cas_write(m, l->cf, l->cas, l->resp);
  pthread_mutex_unlock(&m->mu);
  mock_kv_deferred_reply(l->reply, &l->resp->base);
  protobuf_c_message_free_unpacked(&l->cas->base, NULL);
  l->cas = NULL;
  mock_arena_free(&l->arena);
  latch_next(l);
}

/* A CAS that takes its key's latch for a write of ms: true, or false when
 * it cannot (no memory), and is then done at once. */
static bool cas_latched(mock_kvctx_t *kc, int cf, const Kvrpcpb__RawCASRequest *q, uint32_t ms) {
  raw_latch_t *l = tikv__calloc(1, sizeof(*l));
  Kvrpcpb__RawCASRequest *copy = l ? (Kvrpcpb__RawCASRequest *)msg_copy(&q->base) : NULL;
  mock_reply_to_t *reply = NULL;
  if (!copy || tikv__bytes_set(&l->key, q->key.data, q->key.len) || !(reply = mock_kv_defer(kc))) {
    if (copy) protobuf_c_message_free_unpacked(&copy->base, NULL);
    if (l) tikv__bytes_free(&l->key);
    free(l);
    return false;
  }
  l->m = kc->m;
  l->cf = cf;
  tikv__timer_init(&l->timer);
  l->next = kc->m->raw_latches;
  kc->m->raw_latches = l;
  latch_hold(l, copy, reply, ms);
  return true;
}

void mock_raw_cas(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawCASRequest *q = msg;
  Kvrpcpb__RawCASResponse *r = out;
  int cf = check_single(kc, q->cf, q->ttl, q->context, &q->key, r);
  if (cf < 0 || latch_wait(kc, cf, &q->key, &q->base)) return;
  uint32_t ms = cas_write_ms(kc->m);
  if (ms && cas_latched(kc, cf, q, ms)) return;
  cas_decide(kc, cf, q, r);
  cas_write(kc->m, cf, q, r);
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
