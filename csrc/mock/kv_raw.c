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
 *  - RawBatchGet returns pairs only for keys that exist;
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

/* Where a raw response takes the answers of raw_begin: an error as text
 * (`error`), or for a batch read, whose response has no text, as TiKV's
 * one-pair abort (`pairs`); a region error in `region_error`. */
typedef struct raw_answer {
  char **error;
  Kvrpcpb__KvPair ***pairs;
  size_t *npairs;
  Errorpb__Error **region_error;
} raw_answer;
#define TEXT_ANSWER(r) ((raw_answer){&(r)->error, NULL, NULL, &(r)->region_error})
#define PAIRS_ANSWER(r, f) ((raw_answer){NULL, &(r)->f, &(r)->n_##f, &(r)->region_error})

/* TiKV's first checks on a raw request, in its order: the column family,
 * then `refusal` (a TTL the cluster does not take; NULL: none), then the
 * region (leader, epoch, store). The region and *cf, or NULL with the
 * answer set. */
static mock_region_t *raw_begin(mock_kvctx_t *kc, const char *cf_name, const char *refusal,
                                const Kvrpcpb__Context *ctx, raw_answer a, int *cf) {
  if ((*cf = mock_cf_index(cf_name)) < 0) {
    if (a.error) {
      *a.error = mock_arena_printf(kc->arena, "invalid cf name: %s", cf_name);
      return NULL;
    }
    Kvrpcpb__KvPair *p = MOCK_NEW(kc->arena, Kvrpcpb__KvPair, KVRPCPB__KV_PAIR__INIT);
    p->error = MOCK_NEW(kc->arena, Kvrpcpb__KeyError, KVRPCPB__KEY_ERROR__INIT);
    p->error->abort = mock_arena_printf(kc->arena, "Error(InvalidCf(\"%s\"))", cf_name);
    *a.pairs = mock_arena_dup(kc->arena, &p, sizeof(p));
    *a.npairs = 1;
    return NULL;
  }
  if (refusal) {
    *a.error = (char *)refusal;
    return NULL;
  }
  mock_region_t *reg;
  return (*a.region_error = mock_check_context(kc, ctx, &reg)) ? NULL : reg;
}

/* Every key in the region: NULL, or the region error for the first not. */
static Errorpb__Error *check_keys(mock_kvctx_t *kc, const mock_region_t *reg,
                                  const ProtobufCBinaryData *keys, size_t n, bool end_inclusive) {
  Errorpb__Error *e = NULL;
  for (size_t i = 0; !e && i < n; i++)
    e = mock_check_key(kc, reg, keys[i].data, keys[i].len, end_inclusive);
  return e;
}

/* raw_begin and the key of a single-key request: the column family's
 * index, or -1 with the answer set. */
static int check_single(mock_kvctx_t *kc, const char *cf_name, uint64_t ttl,
                        const Kvrpcpb__Context *ctx, const ProtobufCBinaryData *key, raw_answer a) {
  int cf;
  const char *refusal = ttl && !kc->m->opts.enable_ttl ? TTL_DISABLED_MSG : NULL;
  mock_region_t *reg = raw_begin(kc, cf_name, refusal, ctx, a, &cf);
  if (!reg || (*a.region_error = check_keys(kc, reg, key, 1, false))) return -1;
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
  int cf = check_single(kc, q->cf, 0, q->context, &q->key, TEXT_ANSWER(r));
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
  mock_region_t *reg = raw_begin(kc, q->cf, NULL, q->context, PAIRS_ANSWER(r, pairs), &cf);
  if (!reg || (r->region_error = check_keys(kc, reg, q->keys, q->n_keys, false))) return;
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
  int cf = check_single(kc, q->cf, q->ttl, q->context, &q->key, TEXT_ANSWER(r));
  if (cf < 0 || (q->for_cas && latch_wait(kc, cf, &q->key, &q->base))) return;
  r->error = (char *)put_value(kc->m, cf, q);
}

/* Why a batch put's TTLs are refused, or NULL. */
static const char *batch_ttl_refusal(mock_kvctx_t *kc, const Kvrpcpb__RawBatchPutRequest *q) {
  if (q->n_ttls > 1 && q->n_ttls != q->n_pairs) return TTLS_LEN_MSG;
  for (size_t i = 0; i < q->n_ttls; i++)
    if (q->ttls[i] && !kc->m->opts.enable_ttl) return TTL_DISABLED_MSG;
  return NULL;
}

void mock_raw_batch_put(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawBatchPutRequest *q = msg;
  Kvrpcpb__RawBatchPutResponse *r = out;
  int cf;
  mock_region_t *reg =
      raw_begin(kc, q->cf, batch_ttl_refusal(kc, q), q->context, TEXT_ANSWER(r), &cf);
  for (size_t i = 0; reg && i < q->n_pairs; i++)
    if ((r->region_error = check_keys(kc, reg, &q->pairs[i]->key, 1, false))) return;
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
  int cf = check_single(kc, q->cf, 0, q->context, &q->key, TEXT_ANSWER(r));
  if (cf < 0 || (q->for_cas && latch_wait(kc, cf, &q->key, &q->base))) return;
  mock_kvmap_delete(kc->m->raw[cf], q->key.data, q->key.len);
}

void mock_raw_batch_delete(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawBatchDeleteRequest *q = msg;
  Kvrpcpb__RawBatchDeleteResponse *r = out;
  int cf;
  mock_region_t *reg = raw_begin(kc, q->cf, NULL, q->context, TEXT_ANSWER(r), &cf);
  if (!reg || (r->region_error = check_keys(kc, reg, q->keys, q->n_keys, false))) return;
  for (size_t i = 0; i < q->n_keys; i++)
    mock_kvmap_delete(kc->m->raw[cf], q->keys[i].data, q->keys[i].len);
}

/* TiKV's apply of DeleteRange: the start must be in the region, the end may
 * not pass the region end (an empty end means the key space end). */
void mock_raw_delete_range(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawDeleteRangeRequest *q = msg;
  Kvrpcpb__RawDeleteRangeResponse *r = out;
  int cf;
  mock_region_t *reg = raw_begin(kc, q->cf, NULL, q->context, TEXT_ANSWER(r), &cf);
  if (!reg || (r->region_error = check_keys(kc, reg, &q->start_key, 1, false))) return;
  if (reg->end.len && (q->end_key.len == 0 || tikv__key_cmp(q->end_key.data, q->end_key.len,
                                                            reg->end.data, reg->end.len) > 0)) {
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

void mock_raw_scan(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawScanRequest *q = msg;
  Kvrpcpb__RawScanResponse *r = out;
  int cf;
  mock_region_t *reg = raw_begin(kc, q->cf, NULL, q->context, PAIRS_ANSWER(r, kvs), &cf);
  if (!reg || (r->region_error = check_keys(kc, reg, &q->start_key, 1, true))) return;
  size_t cap = 0;
  scan_in_region(kc, cf, reg, &q->start_key, &q->end_key, q->limit, q->key_only, q->reverse,
                 &r->kvs, &r->n_kvs, &cap);
}

void mock_raw_batch_scan(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawBatchScanRequest *q = msg;
  Kvrpcpb__RawBatchScanResponse *r = out;
  int cf;
  mock_region_t *reg = raw_begin(kc, q->cf, NULL, q->context, PAIRS_ANSWER(r, kvs), &cf);
  for (size_t i = 0; reg && i < q->n_ranges; i++)
    if ((r->region_error = check_keys(kc, reg, &q->ranges[i]->start_key, 1, true))) return;
  if (!reg) return;
  size_t cap = 0;
  for (size_t i = 0; i < q->n_ranges; i++)
    scan_in_region(kc, cf, reg, &q->ranges[i]->start_key, &q->ranges[i]->end_key, q->each_limit,
                   q->key_only, q->reverse, &r->kvs, &r->n_kvs, &cap);
}

/* ---- TTL and CAS ---- */
void mock_raw_get_key_ttl(mock_kvctx_t *kc, const void *msg, void *out) {
  const Kvrpcpb__RawGetKeyTTLRequest *q = msg;
  Kvrpcpb__RawGetKeyTTLResponse *r = out;
  int cf = check_single(kc, q->cf, 0, q->context, &q->key, TEXT_ANSWER(r));
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
  int cf = check_single(kc, q->cf, q->ttl, q->context, &q->key, TEXT_ANSWER(r));
  if (cf < 0 || latch_wait(kc, cf, &q->key, &q->base)) return;
  uint32_t ms = cas_write_ms(kc->m);
  if (ms && cas_latched(kc, cf, q, ms)) return;
  cas_decide(kc, cf, q, r);
  cas_write(kc->m, cf, q, r);
}
