/* Raw key-value operations. Point and batch operations group their keys by
 * region and send one request per region (in chunks of client-go's sizes) in
 * parallel; a part that meets a region error is grouped again. Scans and
 * delete-range walk the range region by region. */
#include <stdio.h>

#include "client/client.h"
#include "region/multi.h"

/* client-go's raw batch limits */
#define BATCH_PAIR_COUNT 512
#define BATCH_PUT_BYTES (16 * 1024)

typedef enum {
  OP_GET,
  OP_BATCH_GET,
  OP_PUT,
  OP_BATCH_PUT,
  OP_DELETE,
  OP_BATCH_DELETE,
  OP_GET_TTL,
  OP_CAS
} op_kind;

static const tikv__req_id METHODS[] = {
    [OP_GET] = TIKV__REQ_RAW_GET,       [OP_BATCH_GET] = TIKV__REQ_RAW_BATCH_GET,
    [OP_PUT] = TIKV__REQ_RAW_PUT,       [OP_BATCH_PUT] = TIKV__REQ_RAW_BATCH_PUT,
    [OP_DELETE] = TIKV__REQ_RAW_DELETE, [OP_BATCH_DELETE] = TIKV__REQ_RAW_BATCH_DELETE,
    [OP_GET_TTL] = TIKV__REQ_RAW_GET_KEY_TTL, [OP_CAS] = TIKV__REQ_RAW_CAS,
};

/* ---- helpers shared by every raw operation ---- */

/* The `error` string every raw response but the batch gets and scans carries. */
static tikv_error_t *response_error(const ProtobufCMessage *resp, const char *what) {
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "error");
  if (!fd || fd->type != PROTOBUF_C_TYPE_STRING) return NULL;
  const char *msg = *(const char **)((const char *)resp + fd->offset);
  if (!msg || !msg[0]) return NULL;
  tikv_error_t *e = tikv__error_new(TIKV_ERR_SERVER, "%s: %s", what, msg);
  return e;
}

static tikv_error_t *pair_error(const Kvrpcpb__KvPair *p, const char *what) {
  if (!p->error) return NULL;
  const Kvrpcpb__KeyError *ke = p->error;
  return tikv__error_new(TIKV_ERR_SERVER, "%s: key error: %s", what,
                         ke->abort && ke->abort[0]       ? ke->abort
                         : ke->retryable && ke->retryable[0] ? ke->retryable
                                                         : "unknown");
}

/* ---- point and batch operations ---- */
typedef struct keyop {
  tikv_client_t *c;
  tikv_future_t *f;
  op_kind kind;
  size_t n;
  tikv__bytes_t *keys, *values;
  uint64_t ttl;
  /* compare-and-swap */
  tikv__bytes_t prev;
  bool prev_not_exist;
  tikv__multi_ops_t mops;
  /* results */
  tikv__kvs_t kvs;
  bool found;
  tikv__bytes_t value;
  uint64_t u64;
  bool has_u64;
  int flag;
} keyop_t;

static void keyop_free(keyop_t *op) {
  for (size_t i = 0; i < op->n; i++) {
    tikv__bytes_free(&op->keys[i]);
    if (op->values) tikv__bytes_free(&op->values[i]);
  }
  free(op->keys);
  free(op->values);
  tikv__bytes_free(&op->prev);
  tikv__bytes_free(&op->value);
  tikv__kvs_free(&op->kvs);
  free(op);
}

static void keyop_done(void *arg, tikv_error_t *err) {
  keyop_t *op = arg;
  tikv_future_t *f = op->f;
  if (!err) {
    /* hand the results over to the future */
    if (op->kind == OP_BATCH_GET) tikv__kvs_sort(&op->kvs, false);
    f->kvs = op->kvs;
    op->kvs = (tikv__kvs_t){0};
    f->found = op->found;
    f->value = op->value;
    op->value = (tikv__bytes_t){0};
    f->u64 = op->u64;
    f->has_u64 = op->has_u64;
    f->flag = op->flag;
  }
  keyop_free(op);
  tikv__future_complete(f, err);
}

static size_t keyop_size(void *arg, size_t i) {
  keyop_t *op = arg;
  return op->keys[i].len + (op->values ? op->values[i].len : 0);
}

static int keyop_build(void *arg, const tikv__route_t *route, const size_t *idx, size_t n,
                       Kvrpcpb__Context *ctx, grpc_slice *out) {
  keyop_t *op = arg;
  tikv_client_t *c = op->c;
  char *cf = c->cfg.cf;
  bool for_cas = c->cfg.atomic;
  int rc = -1;
  switch (op->kind) {
    case OP_GET: {
      Kvrpcpb__RawGetRequest r = KVRPCPB__RAW_GET_REQUEST__INIT;
      r.context = ctx;
      r.key = (ProtobufCBinaryData){op->keys[idx[0]].len, op->keys[idx[0]].data};
      r.cf = cf;
      rc = tikv__pack(&r.base, out);
      break;
    }
    case OP_GET_TTL: {
      Kvrpcpb__RawGetKeyTTLRequest r = KVRPCPB__RAW_GET_KEY_TTLREQUEST__INIT;
      r.context = ctx;
      r.key = (ProtobufCBinaryData){op->keys[idx[0]].len, op->keys[idx[0]].data};
      r.cf = cf;
      rc = tikv__pack(&r.base, out);
      break;
    }
    case OP_PUT: {
      Kvrpcpb__RawPutRequest r = KVRPCPB__RAW_PUT_REQUEST__INIT;
      r.context = ctx;
      r.key = (ProtobufCBinaryData){op->keys[0].len, op->keys[0].data};
      r.value = (ProtobufCBinaryData){op->values[0].len, op->values[0].data};
      r.cf = cf;
      r.ttl = op->ttl;
      r.for_cas = for_cas;
      rc = tikv__pack(&r.base, out);
      break;
    }
    case OP_DELETE: {
      Kvrpcpb__RawDeleteRequest r = KVRPCPB__RAW_DELETE_REQUEST__INIT;
      r.context = ctx;
      r.key = (ProtobufCBinaryData){op->keys[0].len, op->keys[0].data};
      r.cf = cf;
      r.for_cas = for_cas;
      rc = tikv__pack(&r.base, out);
      break;
    }
    case OP_CAS: {
      Kvrpcpb__RawCASRequest r = KVRPCPB__RAW_CASREQUEST__INIT;
      r.context = ctx;
      r.key = (ProtobufCBinaryData){op->keys[0].len, op->keys[0].data};
      r.value = (ProtobufCBinaryData){op->values[0].len, op->values[0].data};
      r.previous_not_exist = op->prev_not_exist;
      r.previous_value = (ProtobufCBinaryData){op->prev.len, op->prev.data};
      r.cf = cf;
      r.ttl = op->ttl;
      rc = tikv__pack(&r.base, out);
      break;
    }
    case OP_BATCH_GET:
    case OP_BATCH_DELETE: {
      ProtobufCBinaryData *keys = tikv__pb_keys(op->keys, idx, n);
      if (!keys) return -1;
      if (op->kind == OP_BATCH_GET) {
        Kvrpcpb__RawBatchGetRequest r = KVRPCPB__RAW_BATCH_GET_REQUEST__INIT;
        r.context = ctx;
        r.n_keys = n;
        r.keys = keys;
        r.cf = cf;
        rc = tikv__pack(&r.base, out);
      } else {
        Kvrpcpb__RawBatchDeleteRequest r = KVRPCPB__RAW_BATCH_DELETE_REQUEST__INIT;
        r.context = ctx;
        r.n_keys = n;
        r.keys = keys;
        r.cf = cf;
        r.for_cas = for_cas;
        rc = tikv__pack(&r.base, out);
      }
      free(keys);
      break;
    }
    case OP_BATCH_PUT: {
      Kvrpcpb__KvPair *pairs = tikv__calloc(n, sizeof(*pairs));
      Kvrpcpb__KvPair **pp = tikv__calloc(n, sizeof(*pp));
      uint64_t *ttls = op->ttl ? tikv__calloc(n, sizeof(*ttls)) : NULL;
      if (!pairs || !pp || (op->ttl && !ttls)) {
        free(pairs);
        free(pp);
        free(ttls);
        return -1;
      }
      for (size_t i = 0; i < n; i++) {
        kvrpcpb__kv_pair__init(&pairs[i]);
        size_t k = idx[i];
        pairs[i].key = (ProtobufCBinaryData){op->keys[k].len, op->keys[k].data};
        pairs[i].value = (ProtobufCBinaryData){op->values[k].len, op->values[k].data};
        pp[i] = &pairs[i];
        if (ttls) ttls[i] = op->ttl;
      }
      Kvrpcpb__RawBatchPutRequest r = KVRPCPB__RAW_BATCH_PUT_REQUEST__INIT;
      r.context = ctx;
      r.n_pairs = n;
      r.pairs = pp;
      r.cf = cf;
      r.for_cas = for_cas;
      r.n_ttls = ttls ? n : 0;
      r.ttls = ttls;
      rc = tikv__pack(&r.base, out);
      free(pairs);
      free(pp);
      free(ttls);
      break;
    }
  }
  return rc;
}

static tikv_error_t *keyop_consume(keyop_t *op, ProtobufCMessage *resp) {
  const char *what = tikv__req(METHODS[op->kind])->method;
  tikv_error_t *e = response_error(resp, what);
  if (e) return e;
  switch (op->kind) {
    case OP_GET: {
      Kvrpcpb__RawGetResponse *r = (Kvrpcpb__RawGetResponse *)resp;
      op->found = !r->not_found;
      if (op->found && tikv__bytes_set(&op->value, r->value.data, r->value.len))
        return tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
      break;
    }
    case OP_GET_TTL: {
      Kvrpcpb__RawGetKeyTTLResponse *r = (Kvrpcpb__RawGetKeyTTLResponse *)resp;
      op->has_u64 = !r->not_found;
      op->u64 = r->ttl;
      break;
    }
    case OP_CAS: {
      Kvrpcpb__RawCASResponse *r = (Kvrpcpb__RawCASResponse *)resp;
      op->flag = r->succeed;
      op->found = !r->previous_not_exist;
      if (op->found &&
          tikv__bytes_set(&op->value, r->previous_value.data, r->previous_value.len))
        return tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
      break;
    }
    case OP_BATCH_GET: {
      Kvrpcpb__RawBatchGetResponse *r = (Kvrpcpb__RawBatchGetResponse *)resp;
      for (size_t i = 0; i < r->n_pairs; i++) {
        if ((e = pair_error(r->pairs[i], what))) return e;
        if (tikv__kvs_push(&op->kvs, r->pairs[i]->key.data, r->pairs[i]->key.len,
                           r->pairs[i]->value.data, r->pairs[i]->value.len, true))
          return tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
      }
      break;
    }
    default:
      break;
  }
  return NULL;
}

static void keyop_response(void *arg, tikv__multi_part_t *part, ProtobufCMessage *resp) {
  tikv_error_t *err = keyop_consume(arg, resp);
  protobuf_c_message_free_unpacked(resp, NULL);
  if (err)
    tikv__multi_part_fail(part, err);
  else
    tikv__multi_part_ok(part);
}

static void keyop_start(void *arg) {
  keyop_t *op = arg;
  op->mops = (tikv__multi_ops_t){
      .req = METHODS[op->kind],
      .ks = TIKV__KS_RAW,
      .max_keys = BATCH_PAIR_COUNT,
      .max_bytes = op->kind == OP_BATCH_PUT ? BATCH_PUT_BYTES : 0,
      .size_of = keyop_size,
      .build = keyop_build,
      .on_response = keyop_response,
      .done = keyop_done,
  };
  tikv__multi_run(&op->c->router, &op->mops, op, op->keys, op->n, tikv__client_deadline(op->c));
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

static tikv_future_t *closed_future(void) {
  return fail(TIKV_ERR_CLOSED, "client is closed");
}

/* Submits a prepared op; owns it. */
static tikv_future_t *submit(keyop_t *op, void (*start)(void *)) {
  tikv_future_t *f = tikv__future_new();
  if (!f) {
    keyop_free(op);
    return NULL;
  }
  op->f = f;
  if (tikv__client_post(op->c, start, op) != 0) {
    keyop_free(op);
    tikv__future_complete(f, tikv__error_new(TIKV_ERR_CLOSED, "client is closed"));
  }
  return f;
}

static keyop_t *keyop_new(tikv_client_t *c, op_kind kind, size_t n, bool with_values) {
  keyop_t *op = tikv__calloc(1, sizeof(*op));
  if (!op) return NULL;
  op->c = c;
  op->kind = kind;
  op->n = n;
  op->keys = tikv__calloc(n ? n : 1, sizeof(tikv__bytes_t));
  op->values = with_values ? tikv__calloc(n ? n : 1, sizeof(tikv__bytes_t)) : NULL;
  if (!op->keys || (with_values && !op->values)) {
    free(op->keys);
    free(op->values);
    free(op);
    return NULL;
  }
  return op;
}

static bool slice_ok(const uint8_t *p, size_t len) { return p || len == 0; }

#define CHECK_CLIENT(c)                                                              \
  do {                                                                               \
    if (!(c)) return fail(TIKV_ERR_INVALID_ARGUMENT, "client is NULL");              \
    if (atomic_load(&(c)->closed)) return closed_future();                          \
  } while (0)

static tikv_future_t *single(tikv_client_t *c, op_kind kind, const uint8_t *key, size_t key_len,
                             const uint8_t *value, size_t value_len, bool with_value) {
  keyop_t *op = keyop_new(c, kind, 1, with_value);
  if (!op || tikv__bytes_set(&op->keys[0], key, key_len) ||
      (with_value && tikv__bytes_set(&op->values[0], value, value_len))) {
    if (op) keyop_free(op);
    return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  }
  return submit(op, keyop_start);
}

tikv_future_t *tikv_raw_get(tikv_client_t *c, const uint8_t *key, size_t key_len) {
  CHECK_CLIENT(c);
  if (!slice_ok(key, key_len)) return fail(TIKV_ERR_INVALID_ARGUMENT, "key is NULL");
  return single(c, OP_GET, key, key_len, NULL, 0, false);
}

tikv_future_t *tikv_raw_get_key_ttl(tikv_client_t *c, const uint8_t *key, size_t key_len) {
  CHECK_CLIENT(c);
  if (!slice_ok(key, key_len)) return fail(TIKV_ERR_INVALID_ARGUMENT, "key is NULL");
  return single(c, OP_GET_TTL, key, key_len, NULL, 0, false);
}

tikv_future_t *tikv_raw_put(tikv_client_t *c, const uint8_t *key, size_t key_len,
                            const uint8_t *value, size_t value_len, uint64_t ttl_seconds) {
  CHECK_CLIENT(c);
  if (!slice_ok(key, key_len) || !slice_ok(value, value_len))
    return fail(TIKV_ERR_INVALID_ARGUMENT, "key or value is NULL");
  /* client-go refuses empty values: TiKV cannot tell them from deletions */
  if (value_len == 0) return fail(TIKV_ERR_INVALID_ARGUMENT, "empty value is not supported");
  keyop_t *op = keyop_new(c, OP_PUT, 1, true);
  if (!op || tikv__bytes_set(&op->keys[0], key, key_len) ||
      tikv__bytes_set(&op->values[0], value, value_len)) {
    if (op) keyop_free(op);
    return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  }
  op->ttl = ttl_seconds;
  return submit(op, keyop_start);
}

tikv_future_t *tikv_raw_delete(tikv_client_t *c, const uint8_t *key, size_t key_len) {
  CHECK_CLIENT(c);
  if (!slice_ok(key, key_len)) return fail(TIKV_ERR_INVALID_ARGUMENT, "key is NULL");
  return single(c, OP_DELETE, key, key_len, NULL, 0, false);
}

static tikv_future_t *batch(tikv_client_t *c, op_kind kind, const tikv_slice_t *keys, size_t n,
                            const tikv_slice_t *values, bool with_values, uint64_t ttl) {
  if (n && !keys) return fail(TIKV_ERR_INVALID_ARGUMENT, "keys is NULL");
  for (size_t i = 0; i < n; i++) {
    if (!slice_ok(keys[i].data, keys[i].len))
      return fail(TIKV_ERR_INVALID_ARGUMENT, "key %zu is NULL", i);
    if (values && !slice_ok(values[i].data, values[i].len))
      return fail(TIKV_ERR_INVALID_ARGUMENT, "value %zu is NULL", i);
    if (values && values[i].len == 0)
      return fail(TIKV_ERR_INVALID_ARGUMENT, "empty value is not supported (value %zu)", i);
  }
  keyop_t *op = keyop_new(c, kind, n, with_values);
  if (!op) return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < n; i++) {
    if (tikv__bytes_set(&op->keys[i], keys[i].data, keys[i].len) ||
        (values && tikv__bytes_set(&op->values[i], values[i].data, values[i].len))) {
      keyop_free(op);
      return fail(TIKV_ERR_NO_MEMORY, "out of memory");
    }
  }
  op->ttl = ttl;
  return submit(op, keyop_start);
}

tikv_future_t *tikv_raw_batch_get(tikv_client_t *c, const tikv_slice_t *keys, size_t n_keys) {
  CHECK_CLIENT(c);
  return batch(c, OP_BATCH_GET, keys, n_keys, NULL, false, 0);
}

tikv_future_t *tikv_raw_batch_put(tikv_client_t *c, const tikv_slice_t *keys, size_t n_keys,
                                  const tikv_slice_t *values, size_t n_values,
                                  uint64_t ttl_seconds) {
  CHECK_CLIENT(c);
  if (n_keys != n_values)
    return fail(TIKV_ERR_INVALID_ARGUMENT, "%zu keys but %zu values", n_keys, n_values);
  if (n_values && !values) return fail(TIKV_ERR_INVALID_ARGUMENT, "values is NULL");
  return batch(c, OP_BATCH_PUT, keys, n_keys, values, true, ttl_seconds);
}

tikv_future_t *tikv_raw_batch_delete(tikv_client_t *c, const tikv_slice_t *keys, size_t n_keys) {
  CHECK_CLIENT(c);
  if (c->cfg.atomic)
    return fail(TIKV_ERR_UNSUPPORTED, "batch delete is not supported in atomic mode");
  return batch(c, OP_BATCH_DELETE, keys, n_keys, NULL, false, 0);
}

tikv_future_t *tikv_raw_compare_and_swap(tikv_client_t *c, const uint8_t *key, size_t key_len,
                                         const uint8_t *previous, size_t previous_len,
                                         int previous_not_exist, const uint8_t *value,
                                         size_t value_len, uint64_t ttl_seconds) {
  CHECK_CLIENT(c);
  if (!c->cfg.atomic)
    return fail(TIKV_ERR_UNSUPPORTED, "compare-and-swap needs atomic mode (tikv_config_set_atomic)");
  if (!slice_ok(key, key_len) || !slice_ok(value, value_len) ||
      (!previous_not_exist && !slice_ok(previous, previous_len)))
    return fail(TIKV_ERR_INVALID_ARGUMENT, "key, value or previous value is NULL");
  keyop_t *op = keyop_new(c, OP_CAS, 1, true);
  if (!op || tikv__bytes_set(&op->keys[0], key, key_len) ||
      tikv__bytes_set(&op->values[0], value, value_len) ||
      (!previous_not_exist && tikv__bytes_set(&op->prev, previous, previous_len))) {
    if (op) keyop_free(op);
    return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  }
  op->prev_not_exist = previous_not_exist != 0;
  op->ttl = ttl_seconds;
  return submit(op, keyop_start);
}

/* ---- range operations: scan and delete-range walk region by region ---- */
typedef struct rangeop {
  tikv_client_t *c;
  tikv_future_t *f;          /* NULL for a batch-scan child */
  struct batchscan *parent;  /* set for a batch-scan child */
  bool is_delete;
  int64_t deadline;
  tikv__bytes_t start, end;  /* [start, end); end.len 0: unbounded */
  tikv__bytes_t cur;         /* forward: next start; reverse: next exclusive end */
  bool reverse, key_only;
  uint32_t limit;
  tikv__kvs_t kvs;
  tikv__route_t route;       /* region being worked on */
  tikv__backoff_t bo;
  tikv_error_t *last_err;
} rangeop_t;

typedef struct batchscan {
  tikv_future_t *f;
  size_t n, pending;
  rangeop_t **children;
  tikv_error_t *err;
} batchscan_t;

static void range_step(rangeop_t *r);

static void rangeop_free(rangeop_t *r) {
  tikv__bytes_free(&r->start);
  tikv__bytes_free(&r->end);
  tikv__bytes_free(&r->cur);
  tikv__kvs_free(&r->kvs);
  tikv__route_free(&r->route);
  tikv__error_free(r->last_err);
  free(r);
}

static void batchscan_child_done(batchscan_t *b, tikv_error_t *err);

static void range_finish(rangeop_t *r, tikv_error_t *err) {
  if (r->parent) {
    batchscan_child_done(r->parent, err);
    return;
  }
  tikv_future_t *f = r->f;
  if (!err) {
    f->kvs = r->kvs;
    r->kvs = (tikv__kvs_t){0};
  }
  rangeop_free(r);
  tikv__future_complete(f, err);
}

/* The part of [start, end) inside the current region. */
static void clamp(const rangeop_t *r, const uint8_t **lo, size_t *lo_len, const uint8_t **hi,
                  size_t *hi_len) {
  const tikv__route_t *rt = &r->route;
  if (!r->reverse) {
    *lo = r->cur.data;
    *lo_len = r->cur.len;
    bool region_first = rt->end.len && (r->end.len == 0 ||
                                        tikv__key_cmp(rt->end.data, rt->end.len, r->end.data,
                                                      r->end.len) < 0);
    *hi = region_first ? rt->end.data : r->end.data;
    *hi_len = region_first ? rt->end.len : r->end.len;
  } else {
    /* upper bound: the cursor, or the region's end when the cursor is +inf */
    *hi = r->cur.data;
    *hi_len = r->cur.len;
    if (r->cur.len == 0 && rt->end.len) {
      *hi = rt->end.data;
      *hi_len = rt->end.len;
    } else if (r->cur.len == 0) {
      *hi = tikv__key_sentinel();
      *hi_len = TIKV__KEY_SENTINEL_LEN;
    }
    bool region_last = tikv__key_cmp(rt->start.data, rt->start.len, r->start.data, r->start.len) > 0;
    *lo = region_last ? rt->start.data : r->start.data;
    *lo_len = region_last ? rt->start.len : r->start.len;
  }
}

static int range_build(void *arg, const tikv__route_t *route, Kvrpcpb__Context *ctx,
                       grpc_slice *out) {
  rangeop_t *r = arg;
  const uint8_t *lo, *hi;
  size_t lo_len, hi_len;
  clamp(r, &lo, &lo_len, &hi, &hi_len);
  if (r->is_delete) {
    Kvrpcpb__RawDeleteRangeRequest q = KVRPCPB__RAW_DELETE_RANGE_REQUEST__INIT;
    q.context = ctx;
    q.start_key = (ProtobufCBinaryData){lo_len, (uint8_t *)lo};
    q.end_key = (ProtobufCBinaryData){hi_len, (uint8_t *)hi};
    q.cf = r->c->cfg.cf;
    return tikv__pack(&q.base, out);
  }
  Kvrpcpb__RawScanRequest q = KVRPCPB__RAW_SCAN_REQUEST__INIT;
  q.context = ctx;
  /* TiKV's reverse scan takes the exclusive upper bound as start_key and the
   * inclusive lower bound as end_key */
  if (!r->reverse) {
    q.start_key = (ProtobufCBinaryData){lo_len, (uint8_t *)lo};
    q.end_key = (ProtobufCBinaryData){hi_len, (uint8_t *)hi};
  } else {
    q.start_key = (ProtobufCBinaryData){hi_len, (uint8_t *)hi};
    q.end_key = (ProtobufCBinaryData){lo_len, (uint8_t *)lo};
  }
  q.limit = r->limit - (uint32_t)r->kvs.count;
  q.key_only = r->key_only;
  q.reverse = r->reverse;
  q.cf = r->c->cfg.cf;
  return tikv__pack(&q.base, out);
}

/* After a region is done: is the range finished, and where next? */
static bool advance(rangeop_t *r) {
  const tikv__route_t *rt = &r->route;
  if (!r->is_delete && r->kvs.count >= r->limit) return true;
  if (!r->reverse) {
    if (rt->end.len == 0) return true;
    if (r->end.len && tikv__key_cmp(rt->end.data, rt->end.len, r->end.data, r->end.len) >= 0)
      return true;
    return tikv__bytes_set(&r->cur, rt->end.data, rt->end.len) != 0;
  }
  if (rt->start.len == 0) return true;
  if (tikv__key_cmp(rt->start.data, rt->start.len, r->start.data, r->start.len) <= 0) return true;
  return tikv__bytes_set(&r->cur, rt->start.data, rt->start.len) != 0;
}

static void range_done(void *arg, tikv_error_t *err, ProtobufCMessage *resp) {
  rangeop_t *r = arg;
  if (err) {
    range_finish(r, err);
    return;
  }
  if (r->is_delete) {
    err = response_error(resp, "RawDeleteRange");
  } else {
    Kvrpcpb__RawScanResponse *s = (Kvrpcpb__RawScanResponse *)resp;
    for (size_t i = 0; i < s->n_kvs && !err; i++) {
      if ((err = pair_error(s->kvs[i], "RawScan"))) break;
      if (r->kvs.count >= r->limit) break;
      if (tikv__kvs_push(&r->kvs, s->kvs[i]->key.data, s->kvs[i]->key.len, s->kvs[i]->value.data,
                         s->kvs[i]->value.len, !r->key_only))
        err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
    }
  }
  protobuf_c_message_free_unpacked(resp, NULL);
  if (err || advance(r)) {
    range_finish(r, err);
    return;
  }
  range_step(r);
}

static void range_retry(void *arg) { range_step(arg); }

static const tikv__send_ops_t RANGE_OPS = {range_build, range_done, range_retry};

static void range_located(void *arg, tikv_error_t *err, const tikv__route_t *route) {
  rangeop_t *r = arg;
  if (err) {
    range_finish(r, err);
    return;
  }
  tikv__route_free(&r->route);
  if (tikv__route_copy(&r->route, route)) {
    range_finish(r, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  tikv__send(&r->c->router, r->is_delete ? TIKV__REQ_RAW_DELETE_RANGE : TIKV__REQ_RAW_SCAN, &r->route, r->deadline, &r->bo, &r->last_err,
             &RANGE_OPS, r);
}

static void range_step(rangeop_t *r) {
  if (r->reverse)
    tikv__locate(&r->c->router, TIKV__KS_RAW, r->cur.data, r->cur.len, true, r->deadline, range_located, r);
  else
    tikv__locate_range(&r->c->router, TIKV__KS_RAW, r->cur.data, r->cur.len, r->end.data, r->end.len,
                       r->deadline, range_located, r);
}

static void range_start(void *arg) {
  rangeop_t *r = arg;
  r->deadline = tikv__client_deadline(r->c);
  range_step(r);
}

static rangeop_t *rangeop_new(tikv_client_t *c, const uint8_t *start, size_t start_len,
                              const uint8_t *end, size_t end_len, bool reverse) {
  rangeop_t *r = tikv__calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->c = c;
  r->reverse = reverse;
  tikv__backoff_init(&r->bo, 2, 2000);
  if (tikv__bytes_set(&r->start, start, start_len) || tikv__bytes_set(&r->end, end, end_len) ||
      tikv__bytes_set(&r->cur, reverse ? end : start, reverse ? end_len : start_len)) {
    rangeop_free(r);
    return NULL;
  }
  return r;
}

static tikv_future_t *range_submit(rangeop_t *r) {
  tikv_future_t *f = tikv__future_new();
  if (!f) {
    rangeop_free(r);
    return NULL;
  }
  r->f = f;
  if (tikv__client_post(r->c, range_start, r) != 0) {
    rangeop_free(r);
    tikv__future_complete(f, tikv__error_new(TIKV_ERR_CLOSED, "client is closed"));
  }
  return f;
}

static bool range_valid(const uint8_t *start, size_t start_len, const uint8_t *end,
                        size_t end_len) {
  return end_len == 0 || tikv__key_cmp(start, start_len, end, end_len) < 0;
}

tikv_future_t *tikv_raw_scan(tikv_client_t *c, const uint8_t *start, size_t start_len,
                             const uint8_t *end, size_t end_len, uint32_t limit, int key_only,
                             int reverse) {
  CHECK_CLIENT(c);
  if (!slice_ok(start, start_len) || !slice_ok(end, end_len))
    return fail(TIKV_ERR_INVALID_ARGUMENT, "start or end is NULL");
  if (limit > TIKV_RAW_MAX_SCAN_LIMIT)
    return fail(TIKV_ERR_INVALID_ARGUMENT, "limit %u exceeds the maximum scan limit %d", limit,
                TIKV_RAW_MAX_SCAN_LIMIT);
  bool empty_range = !range_valid(start, start_len, end, end_len);
  rangeop_t *r = rangeop_new(c, start, start_len, end, end_len, reverse != 0);
  if (!r) return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  r->limit = limit;
  r->key_only = key_only != 0;
  if (limit == 0 || empty_range) {
    /* nothing can match: answer without a round trip */
    rangeop_free(r);
    tikv_future_t *f = tikv__future_new();
    if (f) tikv__future_complete(f, NULL);
    return f;
  }
  return range_submit(r);
}

tikv_future_t *tikv_raw_delete_range(tikv_client_t *c, const uint8_t *start, size_t start_len,
                                     const uint8_t *end, size_t end_len) {
  CHECK_CLIENT(c);
  if (c->cfg.atomic)
    return fail(TIKV_ERR_UNSUPPORTED, "delete range is not supported in atomic mode");
  if (!slice_ok(start, start_len) || !slice_ok(end, end_len))
    return fail(TIKV_ERR_INVALID_ARGUMENT, "start or end is NULL");
  if (!range_valid(start, start_len, end, end_len))
    return fail(TIKV_ERR_INVALID_ARGUMENT, "start must be before end");
  rangeop_t *r = rangeop_new(c, start, start_len, end, end_len, false);
  if (!r) return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  r->is_delete = true;
  return range_submit(r);
}

/* ---- batch scan: one range walk per range, concatenated in the given order ---- */
static void batchscan_free(batchscan_t *b) {
  for (size_t i = 0; i < b->n; i++)
    if (b->children[i]) rangeop_free(b->children[i]);
  free(b->children);
  tikv__error_free(b->err);
  free(b);
}

static void batchscan_child_done(batchscan_t *b, tikv_error_t *err) {
  if (err) {
    if (!b->err)
      b->err = err;
    else
      tikv__error_free(err);
  }
  if (--b->pending) return;
  tikv_future_t *f = b->f;
  tikv_error_t *e = b->err;
  b->err = NULL;
  if (!e)
    for (size_t i = 0; i < b->n; i++)
      if (tikv__kvs_append(&f->kvs, &b->children[i]->kvs)) {
        e = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
        break;
      }
  batchscan_free(b);
  tikv__future_complete(f, e);
}

static void batchscan_start(void *arg) {
  batchscan_t *b = arg;
  size_t n = b->n;
  b->pending = n + 1;
  for (size_t i = 0; i < n; i++) {
    rangeop_t *r = b->children[i];
    r->deadline = tikv__client_deadline(r->c);
    if (r->limit == 0 || !range_valid(r->start.data, r->start.len, r->end.data, r->end.len)) {
      batchscan_child_done(b, NULL);
      continue;
    }
    range_step(r);
  }
  batchscan_child_done(b, NULL);
}

tikv_future_t *tikv_raw_batch_scan(tikv_client_t *c, const tikv_slice_t *ranges, size_t n_bounds,
                                   uint32_t each_limit, int key_only) {
  CHECK_CLIENT(c);
  if (n_bounds % 2) return fail(TIKV_ERR_INVALID_ARGUMENT, "ranges need a start and an end each");
  if (n_bounds && !ranges) return fail(TIKV_ERR_INVALID_ARGUMENT, "ranges is NULL");
  if (each_limit > TIKV_RAW_MAX_SCAN_LIMIT)
    return fail(TIKV_ERR_INVALID_ARGUMENT, "limit %u exceeds the maximum scan limit %d",
                each_limit, TIKV_RAW_MAX_SCAN_LIMIT);
  for (size_t i = 0; i < n_bounds; i++)
    if (!slice_ok(ranges[i].data, ranges[i].len))
      return fail(TIKV_ERR_INVALID_ARGUMENT, "range bound %zu is NULL", i);
  batchscan_t *b = tikv__calloc(1, sizeof(*b));
  if (!b) return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  b->n = n_bounds / 2;
  b->children = tikv__calloc(b->n ? b->n : 1, sizeof(rangeop_t *));
  if (!b->children) {
    free(b);
    return fail(TIKV_ERR_NO_MEMORY, "out of memory");
  }
  for (size_t i = 0; i < b->n; i++) {
    rangeop_t *r = rangeop_new(c, ranges[2 * i].data, ranges[2 * i].len, ranges[2 * i + 1].data,
                               ranges[2 * i + 1].len, false);
    if (!r) {
      batchscan_free(b);
      return fail(TIKV_ERR_NO_MEMORY, "out of memory");
    }
    r->parent = b;
    r->limit = each_limit;
    r->key_only = key_only != 0;
    b->children[i] = r;
  }
  tikv_future_t *f = tikv__future_new();
  if (!f) {
    batchscan_free(b);
    return NULL;
  }
  b->f = f;
  if (tikv__client_post(c, batchscan_start, b) != 0) {
    batchscan_free(b);
    tikv__future_complete(f, tikv__error_new(TIKV_ERR_CLOSED, "client is closed"));
  }
  return f;
}
