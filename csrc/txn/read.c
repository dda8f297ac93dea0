/* Transactional reads at a timestamp: point and batch gets through the
 * multi-key engine, scans region by region; locks met on the way go to the
 * resolver, and the read is retried. The transaction's own writes come
 * first. */
#include <stdio.h>

#include "txn/txn_internal.h"

/* ---- shared: locks met, resolved, retried ---- */
typedef struct {
  uint64_t *ts;
  size_t n;
} resolved_t;

static int resolved_add(resolved_t *r, const uint64_t *ts, size_t n) {
  if (!n) return 0;
  uint64_t *t = tikv__realloc(r->ts, (r->n + n) * sizeof(uint64_t));
  if (!t) return -1;
  memcpy(t + r->n, ts, n * sizeof(uint64_t));
  r->ts = t;
  r->n += n;
  return 0;
}

static int lock_backoff(tikv__backoff_t *bo, int64_t wait_ms) {
  int s = tikv__backoff_next(bo);
  return wait_ms > 0 && wait_ms < s ? (int)wait_ms : s;
}

/* ---- point and batch gets ---- */
typedef struct {
  txn_op_t *op;
  uint64_t ts;
  tikv__bytes_t *keys; /* the keys to read from TiKV (views into op->keys) */
  size_t n;
  bool single;
  resolved_t resolved;
  tikv__backoff_t bo;
  tikv__kvs_t kvs;
  tikv__multi_ops_t mops;
} reader_t;

typedef struct {
  reader_t *r;
  tikv__multi_part_t *part;
} pending_resolve_t;

static int build_get(void *arg, const tikv__route_t *route, const size_t *idx, size_t n,
                     Kvrpcpb__Context *ctx, grpc_slice *out) {
  reader_t *r = arg;
  ctx->n_resolved_locks = r->resolved.n;
  ctx->resolved_locks = r->resolved.ts;
  if (r->single) {
    Kvrpcpb__GetRequest q = KVRPCPB__GET_REQUEST__INIT;
    q.context = ctx;
    q.key = (ProtobufCBinaryData){r->keys[idx[0]].len, r->keys[idx[0]].data};
    q.version = r->ts;
    return tikv__pack(&q.base, out);
  }
  ProtobufCBinaryData *keys = tikv__pb_keys(r->keys, idx, n);
  if (!keys) return -1;
  Kvrpcpb__BatchGetRequest q = KVRPCPB__BATCH_GET_REQUEST__INIT;
  q.context = ctx;
  q.n_keys = n;
  q.keys = keys;
  q.version = r->ts;
  int rc = tikv__pack(&q.base, out);
  free(keys);
  return rc;
}

static void after_resolve(void *arg, tikv_error_t *err, int64_t wait_ms, const uint64_t *pushed,
                          size_t n_pushed) {
  pending_resolve_t *p = arg;
  reader_t *r = p->r;
  tikv__multi_part_t *part = p->part;
  free(p);
  if (err) {
    tikv__multi_part_fail(part, err);
    return;
  }
  resolved_add(&r->resolved, pushed, n_pushed);
  tikv__multi_part_resend(part, wait_ms ? lock_backoff(&r->bo, wait_ms) : 0);
}

static void on_get(void *arg, tikv__multi_part_t *part, ProtobufCMessage *resp) {
  reader_t *r = arg;
  tikv__locks_t locks = {0};
  tikv_error_t *err = NULL;
  tikv__kvs_t got = {0};
  if (r->single) {
    Kvrpcpb__GetResponse *g = (Kvrpcpb__GetResponse *)resp;
    if (g->error && g->error->locked) {
      if (tikv__locks_add(&locks, g->error->locked)) err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
    } else if (g->error) {
      err = tikv__key_error(g->error, "KvGet");
    } else if (!g->not_found) {
      size_t n;
      const size_t *idx = tikv__multi_part_items(part, &n);
      if (tikv__kvs_push(&got, r->keys[idx[0]].data, r->keys[idx[0]].len, g->value.data,
                         g->value.len, true))
        err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
    }
  } else {
    Kvrpcpb__BatchGetResponse *g = (Kvrpcpb__BatchGetResponse *)resp;
    if (g->error && g->error->locked) {
      if (tikv__locks_add(&locks, g->error->locked)) err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
    } else if (g->error) {
      err = tikv__key_error(g->error, "KvBatchGet");
    }
    for (size_t i = 0; !err && i < g->n_pairs; i++) {
      Kvrpcpb__KvPair *kv = g->pairs[i];
      if (kv->error && kv->error->locked) {
        if (tikv__locks_add(&locks, kv->error->locked)) err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
      } else if (kv->error) {
        err = tikv__key_error(kv->error, "KvBatchGet");
      } else if (tikv__kvs_push(&got, kv->key.data, kv->key.len, kv->value.data, kv->value.len,
                                true)) {
        err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
      }
    }
  }
  protobuf_c_message_free_unpacked(resp, NULL);
  if (err) {
    tikv__locks_free(&locks);
    tikv__kvs_free(&got);
    tikv__multi_part_fail(part, err);
    return;
  }
  if (locks.count) {
    /* read again once the locks are resolved: drop what this try got */
    tikv__kvs_free(&got);
    pending_resolve_t *p = tikv__calloc(1, sizeof(*p));
    if (!p) {
      tikv__locks_free(&locks);
      tikv__multi_part_fail(part, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
      return;
    }
    *p = (pending_resolve_t){r, part};
    tikv__resolve_locks(r->op->t->c, r->ts, &locks, tikv__multi_deadline(part), after_resolve, p);
    return;
  }
  if (tikv__kvs_append(&r->kvs, &got)) {
    tikv__kvs_free(&got);
    tikv__multi_part_fail(part, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  tikv__kvs_free(&got);
  tikv__multi_part_ok(part);
}

static void reader_free(reader_t *r) {
  free(r->keys);
  free(r->resolved.ts);
  tikv__kvs_free(&r->kvs);
  free(r);
}

static void reader_done(void *arg, tikv_error_t *err) {
  reader_t *r = arg;
  txn_op_t *op = r->op;
  tikv_future_t *f = op->f;
  if (!err) {
    tikv__kvs_sort(&r->kvs, false);
    if (op->kind == TXN_OP_GET || op->kind == TXN_OP_GET_FOR_UPDATE) {
      f->found = r->kvs.count > 0;
      if (f->found && tikv__bytes_set(&f->value, r->kvs.items[0].value, r->kvs.items[0].value_len))
        err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
    } else {
      f->kvs = r->kvs;
      r->kvs = (tikv__kvs_t){0};
    }
  }
  reader_free(r);
  tikv__txn_op_complete(op, err);
}

void tikv__txn_read_keys(txn_op_t *op, uint64_t ts) {
  tikv_txn_t *t = op->t;
  reader_t *r = tikv__calloc(1, sizeof(*r));
  if (r) r->keys = tikv__calloc(op->n ? op->n : 1, sizeof(tikv__bytes_t));
  if (!r || !r->keys) {
    free(r);
    tikv__txn_op_complete(op, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  r->op = op;
  r->ts = ts;
  tikv__backoff_init(&r->bo, 10, 1000);
  bool single = op->kind == TXN_OP_GET || op->kind == TXN_OP_GET_FOR_UPDATE;
  /* own writes first */
  for (size_t i = 0; i < op->n; i++) {
    const tikv__mut_t *m = tikv__buffer_find(&t->buf, op->keys[i].data, op->keys[i].len);
    if (m && m->has_write && m->op != KVRPCPB__OP__Lock) {
      if (m->op != KVRPCPB__OP__Del &&
          tikv__kvs_push(&r->kvs, m->key.data, m->key.len, m->value.data, m->value.len, true)) {
        reader_done(r, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
        return;
      }
      continue;
    }
    /* a key asked twice is read once */
    bool dup = false;
    for (size_t j = 0; j < r->n && !dup; j++)
      dup = !tikv__key_cmp(r->keys[j].data, r->keys[j].len, op->keys[i].data, op->keys[i].len);
    if (!dup) r->keys[r->n++] = op->keys[i];
  }
  r->single = single && r->n == 1;
  r->mops = (tikv__multi_ops_t){
      .req = r->single ? TIKV__REQ_KV_GET : TIKV__REQ_KV_BATCH_GET,
      .ks = TIKV__KS_TXN,
      .max_keys = TIKV__TXN_BATCH_KEYS,
      .build = build_get,
      .on_response = on_get,
      .done = reader_done,
  };
  tikv__multi_run(&t->c->router, &r->mops, r, r->keys, r->n, tikv__client_deadline(t->c));
}

/* ---- scans ---- */
typedef struct {
  txn_op_t *op;
  uint64_t ts;
  int64_t deadline;
  uint32_t want; /* storage pairs to fetch: limit + buffered deletes in range */
  tikv__bytes_t cur;
  tikv__route_t route;
  tikv__kvs_t kvs;
  resolved_t resolved;
  tikv__backoff_t bo, lock_bo;
  tikv_error_t *last_err;
  tikv__timer_t timer;
} scanner_t;

static void scan_step(scanner_t *s);

static bool in_range(const txn_op_t *op, const uint8_t *k, size_t kl) {
  if (tikv__key_cmp(k, kl, op->start.data, op->start.len) < 0) return false;
  return op->end.len == 0 || tikv__key_cmp(k, kl, op->end.data, op->end.len) < 0;
}

static void scan_finish(scanner_t *s, tikv_error_t *err) {
  txn_op_t *op = s->op;
  tikv_future_t *f = op->f;
  if (!err) {
    /* overlay the transaction's writes on what TiKV had */
    tikv__buffer_t *b = &op->t->buf;
    tikv__kvs_t out = {0};
    size_t i = 0;
    tikv__kvs_sort(&s->kvs, false);
    size_t j = tikv__buffer_lower_bound(b, op->start.data, op->start.len);
    while (!err && (i < s->kvs.count || (j < b->count && in_range(op, b->items[j].key.data, b->items[j].key.len)))) {
      const tikv_kv_t *kv = i < s->kvs.count ? &s->kvs.items[i] : NULL;
      const tikv__mut_t *m = j < b->count && in_range(op, b->items[j].key.data, b->items[j].key.len)
                                 ? &b->items[j] : NULL;
      int c = !kv ? 1 : !m ? -1 : tikv__key_cmp(kv->key, kv->key_len, m->key.data, m->key.len);
      bool own = m && c >= 0 && m->has_write && m->op != KVRPCPB__OP__Lock;
      int rc = 0;
      if (c < 0 || (c == 0 && !own)) {
        rc = tikv__kvs_push(&out, kv->key, kv->key_len, kv->value, kv->value_len, !op->key_only);
      } else if (own && m->op != KVRPCPB__OP__Del) {
        rc = tikv__kvs_push(&out, m->key.data, m->key.len, m->value.data, m->value.len, !op->key_only);
      }
      if (rc) err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
      if (c <= 0) i++;
      if (c >= 0) j++;
    }
    if (op->reverse) tikv__kvs_sort(&out, true);
    tikv__kvs_truncate(&out, op->limit);
    if (!err)
      f->kvs = out;
    else
      tikv__kvs_free(&out);
  }
  tikv__bytes_free(&s->cur);
  tikv__route_free(&s->route);
  tikv__kvs_free(&s->kvs);
  free(s->resolved.ts);
  tikv__error_free(s->last_err);
  free(s);
  tikv__txn_op_complete(op, err);
}

static void clamp(const scanner_t *s, const uint8_t **lo, size_t *lo_len, const uint8_t **hi,
                  size_t *hi_len) {
  const txn_op_t *op = s->op;
  const tikv__route_t *rt = &s->route;
  if (!op->reverse) {
    *lo = s->cur.data;
    *lo_len = s->cur.len;
    bool region_first = rt->end.len && (op->end.len == 0 || tikv__key_cmp(rt->end.data, rt->end.len, op->end.data, op->end.len) < 0);
    *hi = region_first ? rt->end.data : op->end.data;
    *hi_len = region_first ? rt->end.len : op->end.len;
  } else {
    *hi = s->cur.data;
    *hi_len = s->cur.len;
    if (s->cur.len == 0 && rt->end.len) {
      *hi = rt->end.data;
      *hi_len = rt->end.len;
    } else if (s->cur.len == 0) {
      *hi = tikv__key_sentinel();
      *hi_len = TIKV__KEY_SENTINEL_LEN;
    }
    bool region_last = tikv__key_cmp(rt->start.data, rt->start.len, op->start.data, op->start.len) > 0;
    *lo = region_last ? rt->start.data : op->start.data;
    *lo_len = region_last ? rt->start.len : op->start.len;
  }
}

static int scan_build(void *arg, const tikv__route_t *route, Kvrpcpb__Context *ctx,
                      grpc_slice *out) {
  scanner_t *s = arg;
  const uint8_t *lo, *hi;
  size_t lo_len, hi_len;
  clamp(s, &lo, &lo_len, &hi, &hi_len);
  ctx->n_resolved_locks = s->resolved.n;
  ctx->resolved_locks = s->resolved.ts;
  Kvrpcpb__ScanRequest q = KVRPCPB__SCAN_REQUEST__INIT;
  q.context = ctx;
  if (!s->op->reverse) {
    q.start_key = (ProtobufCBinaryData){lo_len, (uint8_t *)lo};
    q.end_key = (ProtobufCBinaryData){hi_len, (uint8_t *)hi};
  } else {
    q.start_key = (ProtobufCBinaryData){hi_len, (uint8_t *)hi};
    q.end_key = (ProtobufCBinaryData){lo_len, (uint8_t *)lo};
  }
  q.limit = s->want - (uint32_t)s->kvs.count;
  q.version = s->ts;
  q.key_only = s->op->key_only;
  q.reverse = s->op->reverse;
  return tikv__pack(&q.base, out);
}

static bool scan_advance(scanner_t *s) {
  const tikv__route_t *rt = &s->route;
  const txn_op_t *op = s->op;
  if (s->kvs.count >= s->want) return true;
  if (!op->reverse) {
    if (rt->end.len == 0) return true;
    if (op->end.len && tikv__key_cmp(rt->end.data, rt->end.len, op->end.data, op->end.len) >= 0) return true;
    return tikv__bytes_set(&s->cur, rt->end.data, rt->end.len) != 0;
  }
  if (rt->start.len == 0) return true;
  if (tikv__key_cmp(rt->start.data, rt->start.len, op->start.data, op->start.len) <= 0) return true;
  return tikv__bytes_set(&s->cur, rt->start.data, rt->start.len) != 0;
}

static void scan_retry_timer(void *arg) { scan_step(arg); }

static void scan_after_resolve(void *arg, tikv_error_t *err, int64_t wait_ms,
                               const uint64_t *pushed, size_t n_pushed) {
  scanner_t *s = arg;
  if (err) {
    scan_finish(s, err);
    return;
  }
  resolved_add(&s->resolved, pushed, n_pushed);
  int delay = wait_ms ? lock_backoff(&s->lock_bo, wait_ms) : 0;
  if (tikv__now_ms() + delay >= s->deadline) {
    scan_finish(s, tikv__error_new(TIKV_ERR_TIMEOUT, "KvScan: deadline exceeded waiting for locks"));
    return;
  }
  tikv__timer_start(s->op->t->c->loop, &s->timer, delay, scan_retry_timer, s);
}

static void scan_done(void *arg, tikv_error_t *err, ProtobufCMessage *resp) {
  scanner_t *s = arg;
  if (err) {
    scan_finish(s, err);
    return;
  }
  Kvrpcpb__ScanResponse *r = (Kvrpcpb__ScanResponse *)resp;
  tikv__locks_t locks = {0};
  if (r->error && r->error->locked) {
    if (tikv__locks_add(&locks, r->error->locked)) err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
  } else if (r->error) {
    err = tikv__key_error(r->error, "KvScan");
  }
  for (size_t i = 0; !err && i < r->n_pairs; i++) {
    Kvrpcpb__KvPair *kv = r->pairs[i];
    if (kv->error && kv->error->locked) {
      if (tikv__locks_add(&locks, kv->error->locked)) err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
    } else if (kv->error) {
      err = tikv__key_error(kv->error, "KvScan");
    }
  }
  if (!err && !locks.count) {
    for (size_t i = 0; !err && i < r->n_pairs && s->kvs.count < s->want; i++)
      if (tikv__kvs_push(&s->kvs, r->pairs[i]->key.data, r->pairs[i]->key.len,
                         r->pairs[i]->value.data, r->pairs[i]->value.len, true))
        err = tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory");
  }
  protobuf_c_message_free_unpacked(resp, NULL);
  if (err) {
    tikv__locks_free(&locks);
    scan_finish(s, err);
    return;
  }
  if (locks.count) {
    /* this region is read again after the locks are resolved */
    tikv__resolve_locks(s->op->t->c, s->ts, &locks, s->deadline, scan_after_resolve, s);
    return;
  }
  if (scan_advance(s)) {
    scan_finish(s, NULL);
    return;
  }
  scan_step(s);
}

static void scan_retry(void *arg) { scan_step(arg); }

static const tikv__send_ops_t SCAN_OPS = {scan_build, scan_done, scan_retry};

static void scan_located(void *arg, tikv_error_t *err, const tikv__route_t *route) {
  scanner_t *s = arg;
  if (err) {
    scan_finish(s, err);
    return;
  }
  tikv__route_free(&s->route);
  if (tikv__route_copy(&s->route, route)) {
    scan_finish(s, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  tikv__send(&s->op->t->c->router, TIKV__REQ_KV_SCAN, &s->route,
             s->deadline, &s->bo, &s->last_err, &SCAN_OPS, s);
}

static void scan_step(scanner_t *s) {
  txn_op_t *op = s->op;
  if (op->reverse)
    tikv__locate(&op->t->c->router, TIKV__KS_TXN, s->cur.data, s->cur.len, true, s->deadline, scan_located, s);
  else
    tikv__locate_range(&op->t->c->router, TIKV__KS_TXN, s->cur.data, s->cur.len, op->end.data, op->end.len,
                       s->deadline, scan_located, s);
}

void tikv__txn_read_scan(txn_op_t *op, uint64_t ts) {
  scanner_t *s = tikv__calloc(1, sizeof(*s));
  if (!s) {
    tikv__txn_op_complete(op, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  s->op = op;
  s->ts = ts;
  s->deadline = tikv__client_deadline(op->t->c);
  tikv__backoff_init(&s->bo, 2, 2000);
  tikv__backoff_init(&s->lock_bo, 10, 1000);
  tikv__timer_init(&s->timer);
  /* each buffered write in range can hide one stored pair */
  tikv__buffer_t *b = &op->t->buf;
  uint32_t hidden = 0;
  for (size_t j = tikv__buffer_lower_bound(b, op->start.data, op->start.len);
       j < b->count && in_range(op, b->items[j].key.data, b->items[j].key.len); j++)
    if (b->items[j].has_write && b->items[j].op == KVRPCPB__OP__Del) hidden++;
  s->want = op->limit + hidden;
  bool empty = op->limit == 0 ||
               (op->end.len && tikv__key_cmp(op->start.data, op->start.len, op->end.data, op->end.len) >= 0);
  if (empty || tikv__bytes_set(&s->cur, op->reverse ? op->end.data : op->start.data,
                               op->reverse ? op->end.len : op->start.len)) {
    scan_finish(s, empty ? NULL : tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  scan_step(s);
}
