/* Raw key-value operations. Each request kind below says how it is built
 * and how its reply fills the future. A single-key operation goes straight
 * to its region's leader (tikv__point_run); a batch is grouped by region and
 * sent in chunks of client-go's sizes, in parallel (tikv__multi_run); scans
 * and delete-range walk the range region by region (tikv__walk_start). */
#include <stdio.h>

#include "client/client.h"
#include "region/request.h"

/* client-go's raw batch limits */
#define BATCH_PAIR_COUNT 512
#define BATCH_PUT_BYTES (16 * 1024)

/* The `error` string of a raw reply (all but the batch gets and scans). */
static tikv_error_t *raw_error(const ProtobufCMessage *resp, tikv__req_id req) {
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "error");
  if (!fd || fd->type != PROTOBUF_C_TYPE_STRING) return NULL;
  const char *msg = *(const char **)((const char *)resp + fd->offset);
  if (!msg || !msg[0]) return NULL;
  return tikv__error_new(TIKV_ERR_SERVER, "%s: %s", tikv__req(req)->method, msg);
}

static tikv_error_t *pair_error(const Kvrpcpb__KvPair *p, tikv__req_id req) {
  if (!p->error) return NULL;
  const Kvrpcpb__KeyError *ke = p->error;
  return tikv__error_new(TIKV_ERR_SERVER, "%s: key error: %s", tikv__req(req)->method,
                         ke->abort && ke->abort[0]           ? ke->abort
                         : ke->retryable && ke->retryable[0] ? ke->retryable
                                                             : "unknown");
}

static ProtobufCBinaryData pb(const tikv__bytes_t *b) {
  return (ProtobufCBinaryData){b->len, b->data};
}

/* ---- one key: the operation and its bytes in one allocation ---- */
typedef struct {
  tikv__point_t point;
  tikv_client_t *c;
  tikv_future_t *f;
  const tikv__kind_t *kind;
  tikv__bytes_t key, value, prev; /* views into data */
  bool prev_not_exist;
  uint64_t ttl;
  const char *cf; /* static, or the client's */
  uint8_t data[];
} keyop_t;

/* The single-key requests are one shape: the key in the column family, and
 * whichever of a value, a TTL, for_cas and the previous value the request
 * has. */
static int build_key(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx, grpc_slice *out) {
  keyop_t *op = arg;
  tikv__req_msg_t q;
  tikv__req_msg_init(&q, op->kind->req, ctx);
  tikv__pb_set_bytes(&q.base, "key", op->key.data, op->key.len);
  tikv__pb_set_string(&q.base, "cf", op->cf);
  tikv__pb_set_bytes(&q.base, "value", op->value.data, op->value.len);
  tikv__pb_set_u64(&q.base, "ttl", op->ttl);
  tikv__pb_set_bool(&q.base, "for_cas", op->c->cfg.atomic);
  tikv__pb_set_bool(&q.base, "previous_not_exist", op->prev_not_exist);
  tikv__pb_set_bytes(&q.base, "previous_value", op->prev.data, op->prev.len);
  return tikv__pack(&q.base, out);
}

static tikv_error_t *consume_get(void *arg, tikv__part_t *part, const ProtobufCMessage *resp) {
  keyop_t *op = arg;
  const Kvrpcpb__RawGetResponse *r = (const Kvrpcpb__RawGetResponse *)resp;
  tikv_error_t *e = raw_error(resp, TIKV__REQ_RAW_GET);
  if (e || r->not_found) return e;
  op->f->found = true;
  return tikv__bytes_set(&op->f->value, r->value.data, r->value.len) ? tikv__oom() : NULL;
}

static tikv_error_t *consume_ttl(void *arg, tikv__part_t *part, const ProtobufCMessage *resp) {
  keyop_t *op = arg;
  const Kvrpcpb__RawGetKeyTTLResponse *r = (const Kvrpcpb__RawGetKeyTTLResponse *)resp;
  tikv_error_t *e = raw_error(resp, TIKV__REQ_RAW_GET_KEY_TTL);
  if (e) return e;
  op->f->has_u64 = !r->not_found;
  op->f->u64 = r->ttl;
  return NULL;
}

static tikv_error_t *consume_write(void *arg, tikv__part_t *part, const ProtobufCMessage *resp) {
  keyop_t *op = arg;
  return raw_error(resp, op->kind->req);
}

static tikv_error_t *consume_cas(void *arg, tikv__part_t *part, const ProtobufCMessage *resp) {
  keyop_t *op = arg;
  const Kvrpcpb__RawCASResponse *r = (const Kvrpcpb__RawCASResponse *)resp;
  tikv_error_t *e = raw_error(resp, TIKV__REQ_RAW_CAS);
  if (e) return e;
  op->f->flag = r->succeed;
  op->f->found = !r->previous_not_exist;
  if (op->f->found &&
      tikv__bytes_set(&op->f->value, r->previous_value.data, r->previous_value.len))
    return tikv__oom();
  return NULL;
}

#define KEY_KIND(req, consume) {req, TIKV__KS_RAW, build_key, consume}
static const tikv__kind_t RAW_GET = KEY_KIND(TIKV__REQ_RAW_GET, consume_get);
static const tikv__kind_t RAW_GET_TTL = KEY_KIND(TIKV__REQ_RAW_GET_KEY_TTL, consume_ttl);
static const tikv__kind_t RAW_PUT = KEY_KIND(TIKV__REQ_RAW_PUT, consume_write);
static const tikv__kind_t RAW_DELETE = KEY_KIND(TIKV__REQ_RAW_DELETE, consume_write);
static const tikv__kind_t RAW_CAS = KEY_KIND(TIKV__REQ_RAW_CAS, consume_cas);

static void keyop_done(void *arg, tikv_error_t *err) {
  keyop_t *op = arg;
  tikv__future_complete(op->f, err); /* op lives in it: gone once the user lets go */
}

static void keyop_start(void *arg) {
  keyop_t *op = arg;
  tikv__point_run(&op->point, &op->c->router, op->kind, op, op->key.data, op->key.len,
                  &op->f->scope, keyop_done);
}

/* ---- batches ---- */
typedef struct {
  tikv_client_t *c;
  tikv_future_t *f;
  tikv__req_id req;
  size_t n;
  tikv__bytes_t *keys, *values; /* views into one buffer */
  uint8_t *bytes;
  uint64_t ttl;
  const char *cf;
  bool aligned; /* batch get: one result per key, in the keys' order */
} batchop_t;

static void batchop_free(void *arg) {
  batchop_t *op = arg;
  free(op->keys);
  free(op->values);
  free(op->bytes);
  free(op);
}

static size_t batch_size(void *arg, size_t i) {
  batchop_t *op = arg;
  return op->keys[i].len + (op->values ? op->values[i].len : 0);
}

/* Batch get and batch delete are one shape: keys in the column family
 * (for_cas where the request has it). */
static int build_keys(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                      grpc_slice *out) {
  batchop_t *op = arg;
  tikv__req_msg_t q;
  tikv__req_msg_init(&q, op->req, ctx);
  tikv__pb_set_string(&q.base, "cf", op->cf);
  tikv__pb_set_bool(&q.base, "for_cas", op->c->cfg.atomic);
  return tikv__pack_keys(&q.base, op->keys, part, out);
}
static tikv_error_t *consume_batch_get(void *arg, tikv__part_t *part,
                                       const ProtobufCMessage *resp) {
  batchop_t *op = arg;
  const Kvrpcpb__RawBatchGetResponse *r = (const Kvrpcpb__RawBatchGetResponse *)resp;
  tikv_error_t *e = raw_error(resp, TIKV__REQ_RAW_BATCH_GET);
  for (size_t i = 0; !e && i < r->n_pairs; i++) {
    const Kvrpcpb__KvPair *kv = r->pairs[i];
    if (!(e = pair_error(kv, TIKV__REQ_RAW_BATCH_GET)) &&
        tikv__kvs_push(&op->f->kvs, kv->key.data, kv->key.len, kv->value.data, kv->value.len,
                       true))
      e = tikv__oom();
  }
  return e;
}
static const tikv__kind_t RAW_BATCH_GET = {
    TIKV__REQ_RAW_BATCH_GET, TIKV__KS_RAW, build_keys, consume_batch_get,
    .max_keys = BATCH_PAIR_COUNT, .size_of = batch_size};

static int build_batch_put(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                           grpc_slice *out) {
  batchop_t *op = arg;
  size_t n = part->n;
  Kvrpcpb__KvPair **pp = tikv__pb_array(&kvrpcpb__kv_pair__descriptor, n);
  uint64_t *ttls = op->ttl ? tikv__calloc(n, sizeof(*ttls)) : NULL;
  int rc = -1;
  if (pp && (!op->ttl || ttls)) {
    for (size_t i = 0; i < n; i++) {
      pp[i]->key = pb(&op->keys[part->idx[i]]);
      pp[i]->value = pb(&op->values[part->idx[i]]);
      if (ttls) ttls[i] = op->ttl;
    }
    Kvrpcpb__RawBatchPutRequest q = KVRPCPB__RAW_BATCH_PUT_REQUEST__INIT;
    q.context = ctx;
    q.n_pairs = n;
    q.pairs = pp;
    q.cf = (char *)op->cf;
    q.for_cas = op->c->cfg.atomic;
    q.n_ttls = ttls ? n : 0;
    q.ttls = ttls;
    rc = tikv__pack(&q.base, out);
  }
  free(pp);
  free(ttls);
  return rc;
}
static tikv_error_t *consume_batch_write(void *arg, tikv__part_t *part,
                                         const ProtobufCMessage *resp) {
  batchop_t *op = arg;
  return raw_error(resp, op->req);
}
static const tikv__kind_t RAW_BATCH_PUT = {
    TIKV__REQ_RAW_BATCH_PUT, TIKV__KS_RAW, build_batch_put, consume_batch_write,
    .max_keys = BATCH_PAIR_COUNT, .max_bytes = BATCH_PUT_BYTES, .size_of = batch_size};

static const tikv__kind_t RAW_BATCH_DELETE = {
    TIKV__REQ_RAW_BATCH_DELETE, TIKV__KS_RAW, build_keys, consume_batch_write,
    .max_keys = BATCH_PAIR_COUNT, .size_of = batch_size};

/* The index of key in the sorted kvs, or kvs->count when it is not there. */
static size_t kvs_find(const tikv__kvs_t *kvs, const uint8_t *key, size_t len) {
  size_t lo = 0, hi = kvs->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = tikv__key_cmp(kvs->items[mid].key, kvs->items[mid].key_len, key, len);
    if (c == 0) return mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return kvs->count;
}

/* The found pairs (sorted) become one pair per key of the operation, in its
 * order, value NULL where the key has none. A found pair's bytes stay where
 * they are in the arena; a missing key is copied into it (the operation's
 * own copy goes with the operation). */
static tikv_error_t *align_to_keys(batchop_t *op, tikv__kvs_t *kvs) {
  size_t prefix = tikv__apicodec_prefix_len(&op->c->router.codec);
  tikv_kv_t *items = tikv__malloc((op->n ? op->n : 1) * sizeof(*items));
  if (!items) return tikv__oom();
  size_t next = 0; /* keys asked in order find theirs here: one comparison */
  for (size_t i = 0; i < op->n; i++) {
    const uint8_t *k = op->keys[i].data + prefix;
    size_t kl = op->keys[i].len - prefix;
    size_t at = next < kvs->count && tikv__key_cmp(kvs->items[next].key, kvs->items[next].key_len,
                                                   k, kl) == 0
                    ? next
                    : kvs_find(kvs, k, kl);
    if (at < kvs->count) next = at + 1;
    if (at < kvs->count) {
      items[i] = kvs->items[at];
      continue;
    }
    uint8_t *copy = tikv__arena_alloc(&kvs->bytes, kl + 1, 64 * (kl + 1));
    if (!copy) {
      free(items);
      return tikv__oom();
    }
    if (kl) memcpy(copy, k, kl);
    copy[kl] = 0;
    items[i] = (tikv_kv_t){copy, kl, NULL, 0};
  }
  free(kvs->items);
  kvs->items = items;
  kvs->count = kvs->cap = op->n;
  return NULL;
}

static void batch_done(void *arg, tikv_error_t *err) {
  batchop_t *op = arg;
  tikv_future_t *f = op->f;
  if (!err) err = tikv__apicodec_decode_kvs(&op->c->router.codec, TIKV__KS_RAW, &f->kvs);
  if (!err && op->req == TIKV__REQ_RAW_BATCH_GET) tikv__kvs_sort(&f->kvs, false);
  if (!err && op->aligned) err = align_to_keys(op, &f->kvs);
  batchop_free(op);
  tikv__future_complete(f, err);
}

static const tikv__kind_t *batch_kind(tikv__req_id req) {
  return req == TIKV__REQ_RAW_BATCH_GET   ? &RAW_BATCH_GET
         : req == TIKV__REQ_RAW_BATCH_PUT ? &RAW_BATCH_PUT
                                          : &RAW_BATCH_DELETE;
}

static void batch_start(void *arg) {
  batchop_t *op = arg;
  tikv__multi_run(&op->c->router, batch_kind(op->req), op, op->keys, NULL, op->n,
                  &op->f->scope, batch_done);
}

/* ---- ranges: scans and delete-range ---- */
typedef struct rangeop {
  tikv__walk_t walk;
  tikv_client_t *c;
  tikv_future_t *f;         /* NULL for a batch-scan child */
  struct batchscan *parent; /* set for a batch-scan child */
  bool key_only;
  const char *cf;
  tikv__kvs_t kvs;
} rangeop_t;

typedef struct batchscan {
  tikv_future_t *f;
  size_t n, pending;
  rangeop_t **children;
  tikv_error_t *err;
} batchscan_t;

static void rangeop_free(void *arg) {
  rangeop_t *r = arg;
  tikv__walk_free(&r->walk);
  tikv__kvs_free(&r->kvs);
  free(r);
}

static int build_scan(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                      grpc_slice *out) {
  rangeop_t *r = arg;
  Kvrpcpb__RawScanRequest q = KVRPCPB__RAW_SCAN_REQUEST__INIT;
  q.context = ctx;
  /* TiKV's reverse scan takes the exclusive upper bound as start_key and the
   * inclusive lower bound as end_key */
  q.start_key = pb(part->reverse ? &part->hi : &part->lo);
  q.end_key = pb(part->reverse ? &part->lo : &part->hi);
  q.limit = part->limit;
  q.key_only = r->key_only;
  q.reverse = part->reverse;
  q.cf = (char *)r->cf;
  return tikv__pack(&q.base, out);
}
static tikv_error_t *consume_scan(void *arg, tikv__part_t *part, const ProtobufCMessage *resp) {
  rangeop_t *r = arg;
  const Kvrpcpb__RawScanResponse *s = (const Kvrpcpb__RawScanResponse *)resp;
  tikv_error_t *e = NULL;
  for (size_t i = 0; !e && i < s->n_kvs; i++) {
    const Kvrpcpb__KvPair *kv = s->kvs[i];
    if ((e = pair_error(kv, TIKV__REQ_RAW_SCAN)) || part->taken >= part->limit) break;
    if (tikv__kvs_push(&r->kvs, kv->key.data, kv->key.len, kv->value.data, kv->value.len,
                       !r->key_only))
      e = tikv__oom();
    part->taken++;
  }
  return e;
}
static const tikv__kind_t RAW_SCAN = {TIKV__REQ_RAW_SCAN, TIKV__KS_RAW, build_scan, consume_scan};

static int build_delete_range(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                              grpc_slice *out) {
  rangeop_t *r = arg;
  Kvrpcpb__RawDeleteRangeRequest q = KVRPCPB__RAW_DELETE_RANGE_REQUEST__INIT;
  q.context = ctx;
  q.start_key = pb(&part->lo);
  q.end_key = pb(&part->hi);
  q.cf = (char *)r->cf;
  return tikv__pack(&q.base, out);
}
static tikv_error_t *consume_delete_range(void *arg, tikv__part_t *part,
                                          const ProtobufCMessage *resp) {
  return raw_error(resp, TIKV__REQ_RAW_DELETE_RANGE);
}
static const tikv__kind_t RAW_DELETE_RANGE = {
    TIKV__REQ_RAW_DELETE_RANGE, TIKV__KS_RAW, build_delete_range, consume_delete_range};

/* RawChecksum: one range per region (its part of the range), combined as
 * client-go does. */
static int build_checksum(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                          grpc_slice *out) {
  Kvrpcpb__KeyRange range = KVRPCPB__KEY_RANGE__INIT, *ranges = &range;
  range.start_key = pb(&part->lo);
  range.end_key = pb(&part->hi);
  Kvrpcpb__RawChecksumRequest q = KVRPCPB__RAW_CHECKSUM_REQUEST__INIT;
  q.context = ctx;
  q.algorithm = KVRPCPB__CHECKSUM_ALGORITHM__Crc64_Xor;
  q.n_ranges = 1;
  q.ranges = &ranges;
  return tikv__pack(&q.base, out);
}
static tikv_error_t *consume_checksum(void *arg, tikv__part_t *part,
                                      const ProtobufCMessage *resp) {
  rangeop_t *r = arg;
  const Kvrpcpb__RawChecksumResponse *c = (const Kvrpcpb__RawChecksumResponse *)resp;
  tikv_error_t *e = raw_error(resp, TIKV__REQ_RAW_CHECKSUM);
  if (e) return e;
  r->f->u64 ^= c->checksum;
  r->f->counts[0] += c->total_kvs;
  r->f->counts[1] += c->total_bytes;
  return NULL;
}
static const tikv__kind_t RAW_CHECKSUM = {TIKV__REQ_RAW_CHECKSUM, TIKV__KS_RAW, build_checksum,
                                          consume_checksum};

static void batchscan_child_done(batchscan_t *b, tikv_error_t *err);

/* A batch scan's ranges run in its operation's scope. */
static tikv__scope_t *range_scope(rangeop_t *r) {
  return r->parent ? &r->parent->f->scope : &r->f->scope;
}

static void range_done(void *arg, tikv_error_t *err) {
  rangeop_t *r = arg;
  if (r->parent) {
    batchscan_child_done(r->parent, err);
    return;
  }
  tikv_future_t *f = r->f;
  if (!err) err = tikv__apicodec_decode_kvs(&r->c->router.codec, TIKV__KS_RAW, &r->kvs);
  if (!err) {
    f->kvs = r->kvs;
    r->kvs = (tikv__kvs_t){0};
  }
  rangeop_free(r);
  tikv__future_complete(f, err);
}

static void scan_start(void *arg) {
  rangeop_t *r = arg;
  tikv__walk_start(&r->walk, &r->c->router, &RAW_SCAN, r, range_scope(r),
                   range_done);
}

static void delete_range_start(void *arg) {
  rangeop_t *r = arg;
  tikv__walk_start(&r->walk, &r->c->router, &RAW_DELETE_RANGE, r, range_scope(r),
                   range_done);
}

static void checksum_start(void *arg) {
  rangeop_t *r = arg;
  r->f->has_u64 = true;
  tikv__walk_start(&r->walk, &r->c->router, &RAW_CHECKSUM, r, range_scope(r),
                   range_done);
}

/* ---- batch scan: one range walk per range, concatenated in the given order ---- */
static void batchscan_free(void *arg) {
  batchscan_t *b = arg;
  for (size_t i = 0; i < b->n; i++)
    if (b->children[i]) rangeop_free(b->children[i]);
  free(b->children);
  tikv__error_free(b->err);
  free(b);
}

static void batchscan_child_done(batchscan_t *b, tikv_error_t *err) {
  if (err) tikv__error_keep(&b->err, err);
  if (--b->pending) return;
  tikv_future_t *f = b->f;
  tikv_error_t *e = b->err;
  b->err = NULL;
  for (size_t i = 0; !e && i < b->n; i++)
    if (tikv__kvs_append(&f->kvs, &b->children[i]->kvs)) e = tikv__oom();
  if (!e && b->n) e = tikv__apicodec_decode_kvs(&b->children[0]->c->router.codec, TIKV__KS_RAW, &f->kvs);
  batchscan_free(b);
  tikv__future_complete(f, e);
}

static bool range_valid(const tikv__bytes_t *start, const tikv__bytes_t *end) {
  return end->len == 0 || tikv__key_cmp(start->data, start->len, end->data, end->len) < 0;
}

static void batchscan_start(void *arg) {
  batchscan_t *b = arg;
  size_t n = b->n;
  b->pending = n + 1;
  for (size_t i = 0; i < n; i++) {
    rangeop_t *r = b->children[i];
    if (r->walk.left == 0 || !range_valid(&r->walk.start, &r->walk.end))
      batchscan_child_done(b, NULL);
    else
      tikv__walk_start(&r->walk, &r->c->router, &RAW_SCAN, r, range_scope(r),
                       range_done);
  }
  batchscan_child_done(b, NULL);
}

/* ---- argument checks and submission ---- */

static tikv_future_t *fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static tikv_future_t *fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tikv_error_t *e = tikv__error_newv(code, fmt, ap);
  va_end(ap);
  return tikv__future_failed(e);
}

static bool slice_ok(const uint8_t *p, size_t len) { return p || len == 0; }

/* The column family a call names (opts NULL or naming none: the client's),
 * as TiKV spells it: static storage or the client's; NULL when refused. */
static const char *call_cf(tikv_client_t *c, const tikv_call_opts_t *opts) {
  const char *cf = opts ? opts->column_family : NULL;
  if (!cf) return c->cfg.cf;
  static const char *const names[] = {"default", "lock", "write"};
  for (int i = 0; i < 3; i++)
    if (!strcmp(cf, names[i]) || (i == 0 && !cf[0]))
      /* API v2 raw requests name none ("default" is all there is) */
      return c->cfg.api_version == 2 ? (i == 0 ? "" : NULL) : names[i];
  return NULL;
}

/* Declares cf, the call's column family, after the checks every call
 * makes. */
#define CHECK_CALL(c, opts)                                             \
  if (!(c)) return fail(TIKV_ERR_INVALID_ARGUMENT, "client is NULL");   \
  if (atomic_load(&(c)->closed)) return fail(TIKV_ERR_CLOSED, "client is closed"); \
  do {                                                                  \
    const char *unready_ = tikv__apicodec_unready(&(c)->router.codec); \
    if (unready_) return fail(TIKV_ERR_INVALID_ARGUMENT, "%s", unready_); \
  } while (0);                                                          \
  const char *cf = call_cf(c, opts);                                    \
  if (!cf)                                                              \
    return fail(TIKV_ERR_INVALID_ARGUMENT, "column family %s: %s", (opts)->column_family, \
                (c)->cfg.api_version == 2 ? "API v2 has no column families"             \
                                          : "must be \"default\", \"lock\" or \"write\"")

/* A single-key operation with copies of its bytes; submitted at once. */
static tikv_future_t *keyop(tikv_client_t *c, const tikv_call_opts_t *opts, const char *cf,
                            const tikv__kind_t *kind, const tikv_slice_t *key,
                            const tikv_slice_t *value, const tikv_slice_t *prev, uint64_t ttl) {
  const tikv__apicodec_t *codec = &c->router.codec;
  size_t vl = value ? value->len : 0, pl = prev ? prev->len : 0;
  size_t kl = tikv__apicodec_prefix_len(codec) + key->len;
  /* the op and its bytes live in its future: one allocation */
  keyop_t *op;
  tikv_future_t *f = tikv__future_new_with(sizeof(*op) + kl + vl + pl, (void **)&op);
  if (!f) return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  op->f = f;
  op->c = c;
  op->kind = kind;
  op->ttl = ttl;
  op->cf = cf;
  op->prev_not_exist = prev == NULL;
  uint8_t *p = op->data;
  op->key = (tikv__bytes_t){p, tikv__apicodec_encode_into(codec, TIKV__KS_RAW, key->data, key->len, p)};
  p += kl;
  const tikv_slice_t *src[] = {value, prev};
  tikv__bytes_t *dst[] = {&op->value, &op->prev};
  for (int i = 0; i < 2; i++) {
    if (!src[i]) continue;
    if (src[i]->len) memcpy(p, src[i]->data, src[i]->len);
    *dst[i] = (tikv__bytes_t){p, src[i]->len};
    p += src[i]->len;
  }
  return tikv__client_submit(c, opts, &op->f, op, keyop_start, NULL);
}

tikv_future_t *tikv_raw_get(tikv_client_t *c, const uint8_t *key, size_t key_len,
                            const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  if (!slice_ok(key, key_len)) return fail(TIKV_ERR_INVALID_ARGUMENT, "key is NULL");
  return keyop(c, opts, cf, &RAW_GET, &(tikv_slice_t){key, key_len}, NULL, NULL, 0);
}

tikv_future_t *tikv_raw_get_key_ttl(tikv_client_t *c, const uint8_t *key, size_t key_len,
                                    const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  if (!slice_ok(key, key_len)) return fail(TIKV_ERR_INVALID_ARGUMENT, "key is NULL");
  return keyop(c, opts, cf, &RAW_GET_TTL, &(tikv_slice_t){key, key_len}, NULL, NULL, 0);
}

tikv_future_t *tikv_raw_put(tikv_client_t *c, const uint8_t *key, size_t key_len,
                            const uint8_t *value, size_t value_len, uint64_t ttl_seconds,
                            const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  if (!slice_ok(key, key_len) || !slice_ok(value, value_len))
    return fail(TIKV_ERR_INVALID_ARGUMENT, "key or value is NULL");
  /* an empty value is a value (client-go accepts it since v2.0.4): it reads
   * back empty, which not_found tells from a missing key */
  return keyop(c, opts, cf, &RAW_PUT, &(tikv_slice_t){key, key_len}, &(tikv_slice_t){value, value_len},
               NULL, ttl_seconds);
}

tikv_future_t *tikv_raw_delete(tikv_client_t *c, const uint8_t *key, size_t key_len,
                               const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  if (!slice_ok(key, key_len)) return fail(TIKV_ERR_INVALID_ARGUMENT, "key is NULL");
  return keyop(c, opts, cf, &RAW_DELETE, &(tikv_slice_t){key, key_len}, NULL, NULL, 0);
}

tikv_future_t *tikv_raw_compare_and_swap(tikv_client_t *c, const uint8_t *key, size_t key_len,
                                         const uint8_t *previous, size_t previous_len,
                                         int previous_not_exist, const uint8_t *value,
                                         size_t value_len, uint64_t ttl_seconds,
                                         const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  if (!c->cfg.atomic)
    return fail(TIKV_ERR_UNSUPPORTED, "compare-and-swap needs atomic mode (tikv_config_set_atomic)");
  if (!slice_ok(key, key_len) || !slice_ok(value, value_len) ||
      (!previous_not_exist && !slice_ok(previous, previous_len)))
    return fail(TIKV_ERR_INVALID_ARGUMENT, "key, value or previous value is NULL");
  return keyop(c, opts, cf, &RAW_CAS, &(tikv_slice_t){key, key_len}, &(tikv_slice_t){value, value_len},
               previous_not_exist ? NULL : &(tikv_slice_t){previous, previous_len}, ttl_seconds);
}

/* Copies slices[0..n) into views of one buffer at *bytes (advanced), keys
 * (codec not NULL) in their wire form. */
static void copy_slices(tikv__bytes_t *dst, const tikv_slice_t *src, size_t n, uint8_t **bytes,
                        const tikv__apicodec_t *codec) {
  for (size_t i = 0; i < n; i++) {
    size_t len = codec ? tikv__apicodec_encode_into(codec, TIKV__KS_RAW, src[i].data, src[i].len,
                                                     *bytes)
                       : src[i].len;
    if (!codec && len) memcpy(*bytes, src[i].data, len);
    dst[i] = (tikv__bytes_t){*bytes, len};
    *bytes += len;
  }
}

static tikv_future_t *batch(tikv_client_t *c, const tikv_call_opts_t *opts, const char *cf,
                            tikv__req_id req, const tikv_slice_t *keys, size_t n,
                            const tikv_slice_t *values, uint64_t ttl, bool aligned) {
  if (n && !keys) return fail(TIKV_ERR_INVALID_ARGUMENT, "keys is NULL");
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (!slice_ok(keys[i].data, keys[i].len))
      return fail(TIKV_ERR_INVALID_ARGUMENT, "key %zu is NULL", i);
    if (values && !slice_ok(values[i].data, values[i].len))
      return fail(TIKV_ERR_INVALID_ARGUMENT, "value %zu is NULL", i);
    total += tikv__apicodec_prefix_len(&c->router.codec) + keys[i].len +
             (values ? values[i].len : 0);
  }
  batchop_t *op = tikv__calloc(1, sizeof(*op));
  if (op) {
    op->keys = tikv__calloc(n ? n : 1, sizeof(tikv__bytes_t));
    op->values = values ? tikv__calloc(n ? n : 1, sizeof(tikv__bytes_t)) : NULL;
    op->bytes = tikv__malloc(total);
  }
  if (!op || !op->keys || (values && !op->values) || !op->bytes) {
    if (op) batchop_free(op);
    return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  }
  uint8_t *p = op->bytes;
  copy_slices(op->keys, keys, n, &p, &c->router.codec);
  if (values) copy_slices(op->values, values, n, &p, NULL);
  op->c = c;
  op->req = req;
  op->n = n;
  op->ttl = ttl;
  op->cf = cf;
  op->aligned = aligned;
  return tikv__client_submit(c, opts, &op->f, op, batch_start, batchop_free);
}

tikv_future_t *tikv_raw_batch_get(tikv_client_t *c, const tikv_slice_t *keys, size_t n_keys,
                                  const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  return batch(c, opts, cf, TIKV__REQ_RAW_BATCH_GET, keys, n_keys, NULL, 0, false);
}

tikv_future_t *tikv_raw_batch_get_values(tikv_client_t *c, const tikv_slice_t *keys,
                                         size_t n_keys, const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  return batch(c, opts, cf, TIKV__REQ_RAW_BATCH_GET, keys, n_keys, NULL, 0, true);
}

tikv_future_t *tikv_raw_batch_put(tikv_client_t *c, const tikv_slice_t *keys, size_t n_keys,
                                  const tikv_slice_t *values, size_t n_values,
                                  uint64_t ttl_seconds, const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  if (n_keys != n_values)
    return fail(TIKV_ERR_INVALID_ARGUMENT, "%zu keys but %zu values", n_keys, n_values);
  if (n_values && !values) return fail(TIKV_ERR_INVALID_ARGUMENT, "values is NULL");
  return batch(c, opts, cf, TIKV__REQ_RAW_BATCH_PUT, keys, n_keys, values, ttl_seconds, false);
}

tikv_future_t *tikv_raw_batch_delete(tikv_client_t *c, const tikv_slice_t *keys, size_t n_keys,
                                     const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  if (c->cfg.atomic)
    return fail(TIKV_ERR_UNSUPPORTED, "batch delete is not supported in atomic mode");
  return batch(c, opts, cf, TIKV__REQ_RAW_BATCH_DELETE, keys, n_keys, NULL, 0, false);
}

static rangeop_t *rangeop_new(tikv_client_t *c, const char *cf, const tikv_slice_t *start,
                              const tikv_slice_t *end, bool reverse, uint32_t limit,
                              bool key_only) {
  rangeop_t *r = tikv__calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->c = c;
  r->cf = cf;
  r->key_only = key_only;
  tikv__bytes_t ws = {0}, we = {0};
  int rc = tikv__apicodec_range(&c->router.codec, TIKV__KS_RAW, start->data, start->len, end->data,
                                end->len, &ws, &we) ||
           tikv__walk_init(&r->walk, ws.data, ws.len, we.data, we.len, reverse, limit);
  tikv__bytes_free(&ws);
  tikv__bytes_free(&we);
  if (rc) {
    rangeop_free(r);
    return NULL;
  }
  return r;
}

tikv_future_t *tikv_raw_scan(tikv_client_t *c, const uint8_t *start, size_t start_len,
                             const uint8_t *end, size_t end_len, uint32_t limit, int key_only,
                             int reverse, const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  if (!slice_ok(start, start_len) || !slice_ok(end, end_len))
    return fail(TIKV_ERR_INVALID_ARGUMENT, "start or end is NULL");
  if (limit > TIKV_RAW_MAX_SCAN_LIMIT)
    return fail(TIKV_ERR_INVALID_ARGUMENT, "limit %u exceeds the maximum scan limit %d", limit,
                TIKV_RAW_MAX_SCAN_LIMIT);
  rangeop_t *r = rangeop_new(c, cf, &(tikv_slice_t){start, start_len}, &(tikv_slice_t){end, end_len},
                             reverse != 0, limit, key_only != 0);
  if (!r) return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  if (limit == 0 || !range_valid(&r->walk.start, &r->walk.end)) {
    /* nothing can match: answer without a round trip */
    rangeop_free(r);
    return tikv__future_failed(NULL); /* succeeded, with no pairs */
  }
  return tikv__client_submit(c, opts, &r->f, r, scan_start, rangeop_free);
}

tikv_future_t *tikv_raw_delete_range(tikv_client_t *c, const uint8_t *start, size_t start_len,
                                     const uint8_t *end, size_t end_len,
                                     const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  if (c->cfg.atomic)
    return fail(TIKV_ERR_UNSUPPORTED, "delete range is not supported in atomic mode");
  if (!slice_ok(start, start_len) || !slice_ok(end, end_len))
    return fail(TIKV_ERR_INVALID_ARGUMENT, "start or end is NULL");
  if (end_len && tikv__key_cmp(start, start_len, end, end_len) >= 0)
    return fail(TIKV_ERR_INVALID_ARGUMENT, "start must be before end");
  rangeop_t *r = rangeop_new(c, cf, &(tikv_slice_t){start, start_len}, &(tikv_slice_t){end, end_len},
                             false, 0, false);
  if (!r) return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  return tikv__client_submit(c, opts, &r->f, r, delete_range_start, rangeop_free);
}

tikv_future_t *tikv_raw_checksum(tikv_client_t *c, const uint8_t *start, size_t start_len,
                                 const uint8_t *end, size_t end_len, const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  if (!slice_ok(start, start_len) || !slice_ok(end, end_len))
    return fail(TIKV_ERR_INVALID_ARGUMENT, "start or end is NULL");
  rangeop_t *r = rangeop_new(c, cf, &(tikv_slice_t){start, start_len}, &(tikv_slice_t){end, end_len},
                             false, 0, false);
  if (!r) return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  if (!range_valid(&r->walk.start, &r->walk.end)) {
    rangeop_free(r); /* an empty range: the checksum of nothing, without a round trip */
    tikv_future_t *f = tikv__future_new();
    if (f) {
      f->has_u64 = true;
      tikv__future_complete(f, NULL);
    }
    return f;
  }
  return tikv__client_submit(c, opts, &r->f, r, checksum_start, rangeop_free);
}

int tikv_future_get_checksum(tikv_future_t *f, tikv_checksum_t *out) {
  int code = tikv_future_get_error_code(f);
  if (code == TIKV_ERR_OK && out) *out = (tikv_checksum_t){f->u64, f->counts[0], f->counts[1]};
  return code;
}

tikv_future_t *tikv_raw_batch_scan(tikv_client_t *c, const tikv_slice_t *ranges, size_t n_bounds,
                                   uint32_t each_limit, int key_only,
                                   const tikv_call_opts_t *opts) {
  CHECK_CALL(c, opts);
  if (n_bounds % 2) return fail(TIKV_ERR_INVALID_ARGUMENT, "ranges need a start and an end each");
  if (n_bounds && !ranges) return fail(TIKV_ERR_INVALID_ARGUMENT, "ranges is NULL");
  if (each_limit > TIKV_RAW_MAX_SCAN_LIMIT)
    return fail(TIKV_ERR_INVALID_ARGUMENT, "limit %u exceeds the maximum scan limit %d",
                each_limit, TIKV_RAW_MAX_SCAN_LIMIT);
  for (size_t i = 0; i < n_bounds; i++)
    if (!slice_ok(ranges[i].data, ranges[i].len))
      return fail(TIKV_ERR_INVALID_ARGUMENT, "range bound %zu is NULL", i);
  batchscan_t *b = tikv__calloc(1, sizeof(*b));
  if (b) b->children = tikv__calloc(n_bounds / 2 ? n_bounds / 2 : 1, sizeof(rangeop_t *));
  if (!b || !b->children) {
    free(b);
    return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  }
  b->n = n_bounds / 2;
  for (size_t i = 0; i < b->n; i++) {
    rangeop_t *r = rangeop_new(c, cf, &ranges[2 * i], &ranges[2 * i + 1], false, each_limit,
                               key_only != 0);
    if (!r) {
      batchscan_free(b);
      return fail(TIKV_ERR_NO_MEMORY, "out of memory");
    }
    r->parent = b;
    b->children[i] = r;
  }
  return tikv__client_submit(c, opts, &b->f, b, batchscan_start, batchscan_free);
}
