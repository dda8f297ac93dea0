/* Transactional reads at a timestamp: a point get straight to its region's
 * leader, batch gets through the multi-key engine, scans region by region.
 * Locks met on the way go through the lock layer: resolved, then the read
 * is sent again. The transaction's own writes come first. */
#include <stdio.h>

#include "txn/txn_internal.h"

/* ---- what every read keeps for the lock layer (the first member of each) ---- */
typedef struct {
  txn_op_t *op;
  uint64_t ts;
  /* transactions whose min_commit_ts the resolver pushed past ts: sent back
   * in Context.resolved_locks, so TiKV lets the read pass their locks */
  uint64_t *pushed;
  size_t n_pushed;
  tikv__backoff_t bo; /* waiting for live locks */
} readctx_t;

static void readctx_init(readctx_t *rc, txn_op_t *op, uint64_t ts) {
  *rc = (readctx_t){.op = op, .ts = ts};
  tikv__backoff_init(&rc->bo, 10, 1000);
}

/* A read request's context (with the pushed transactions) and version. */
static void read_request(const readctx_t *rc, ProtobufCMessage *q, Kvrpcpb__Context *ctx) {
  ctx->n_resolved_locks = rc->n_pushed;
  ctx->resolved_locks = rc->pushed;
  tikv__pb_set_message(q, "context", &ctx->base);
  tikv__pb_set_u64(q, "version", rc->ts);
}

static uint64_t read_ts(void *arg) { return ((readctx_t *)arg)->ts; }

static void visibility_checked(void *arg, tikv_error_t *err) { tikv__txn_op_complete(arg, err); }

/* A read from TiKV at ts is over: it is refused when ts is below the GC
 * safe point, checked after the read as client-go does (a GC that passed
 * ts meanwhile may have taken versions it read). */
static void read_finished(txn_op_t *op, uint64_t ts, tikv_error_t *err) {
  tikv_client_t *c = op->t->c;
  if (err)
    tikv__txn_op_complete(op, err);
  else
    tikv__txn_check_visibility(c, ts, &op->f->scope, visibility_checked, op);
}

static tikv_error_t *read_after(void *arg, const ProtobufCMessage *resp, int64_t wait_ms,
                                const uint64_t *pushed, size_t n, int *delay) {
  readctx_t *rc = arg;
  if (n) {
    uint64_t *t = tikv__realloc(rc->pushed, (rc->n_pushed + n) * sizeof(uint64_t));
    if (!t) return tikv__oom();
    memcpy(t + rc->n_pushed, pushed, n * sizeof(uint64_t));
    rc->pushed = t;
    rc->n_pushed += n;
  }
  *delay = tikv__lock_backoff(&rc->bo, wait_ms);
  return NULL;
}

/* The locks of a read reply: in its error, or in its pairs' errors. */
static tikv_error_t *read_locks(const Kvrpcpb__KeyError *error, Kvrpcpb__KvPair *const *pairs,
                                size_t n, tikv__req_id req, tikv__locks_t *locks) {
  const char *what = tikv__req(req)->method;
  for (size_t i = 0; i <= n; i++) {
    const Kvrpcpb__KeyError *ke = i == 0 ? error : pairs[i - 1]->error;
    if (!ke) continue;
    if (!ke->locked) return tikv__key_error(ke, what);
    if (tikv__locks_add(locks, ke->locked)) return tikv__oom();
  }
  return NULL;
}

/* ---- point get ---- */
typedef struct {
  readctx_t rc;
  tikv__point_t point;
} getter_t;

static tikv_error_t *find_get(void *arg, const ProtobufCMessage *resp, tikv__locks_t *locks) {
  const Kvrpcpb__GetResponse *g = (const Kvrpcpb__GetResponse *)resp;
  return read_locks(g->error, NULL, 0, TIKV__REQ_KV_GET, locks);
}
static const tikv__lock_layer_t GET_LOCKS = TIKV__LOCK_LAYER(find_get, read_ts, read_after);

static int build_get(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx, grpc_slice *out) {
  getter_t *g = arg;
  Kvrpcpb__GetRequest q = KVRPCPB__GET_REQUEST__INIT;
  read_request(&g->rc, &q.base, ctx);
  q.key = (ProtobufCBinaryData){g->point.key_len, (uint8_t *)g->point.key};
  return tikv__pack(&q.base, out);
}
static tikv_error_t *consume_get(void *arg, tikv__part_t *part, const ProtobufCMessage *resp) {
  getter_t *g = arg;
  const Kvrpcpb__GetResponse *r = (const Kvrpcpb__GetResponse *)resp;
  tikv_future_t *f = g->rc.op->f;
  /* no value is no key, whether or not not_found says so: unistore never
   * sets it, and no client writes an empty value (client-go's rule) */
  if (r->not_found || r->value.len == 0) return NULL;
  f->found = true;
  return tikv__bytes_set(&f->value, r->value.data, r->value.len) ? tikv__oom() : NULL;
}
static const tikv__kind_t KV_GET = {
    TIKV__REQ_KV_GET, TIKV__KS_TXN, build_get, consume_get, &GET_LOCKS.base};

static void getter_done(void *arg, tikv_error_t *err) {
  getter_t *g = arg;
  txn_op_t *op = g->rc.op;
  uint64_t ts = g->rc.ts;
  free(g->rc.pushed);
  free(g);
  read_finished(op, ts, err);
}

/* The transaction's own write of key, if it has one that a read sees. */
static const tikv__mut_t *own_write(tikv_txn_t *t, const tikv__bytes_t *key) {
  const tikv__mut_t *m = tikv__buffer_find(&t->buf, key->data, key->len);
  return m && m->has_write && m->op != KVRPCPB__OP__Lock ? m : NULL;
}

/* The future's result from the transaction's own write m. */
static tikv_error_t *own_value(tikv_future_t *f, const tikv__mut_t *m) {
  f->found = m->op != KVRPCPB__OP__Del;
  return f->found && tikv__bytes_set(&f->value, m->value.data, m->value.len) ? tikv__oom() : NULL;
}

static void read_one(txn_op_t *op, uint64_t ts) {
  tikv_txn_t *t = op->t;
  const tikv__mut_t *m = own_write(t, &op->keys[0]);
  getter_t *g = m ? NULL : tikv__calloc(1, sizeof(*g));
  if (!g) {
    /* the transaction's own write answers, or there is no memory */
    tikv__txn_op_complete(op, m ? own_value(op->f, m) : tikv__oom());
    return;
  }
  readctx_init(&g->rc, op, ts);
  tikv__point_run(&g->point, &t->c->router, &KV_GET, g, op->keys[0].data, op->keys[0].len,
                  &op->f->scope, getter_done);
}

/* ---- batch get ---- */
typedef struct {
  readctx_t rc;
  tikv__bytes_t *keys; /* the keys to read from TiKV (views into op->keys) */
  size_t n;
  tikv__kvs_t kvs;
} reader_t;

static tikv_error_t *find_batch_get(void *arg, const ProtobufCMessage *resp,
                                    tikv__locks_t *locks) {
  const Kvrpcpb__BatchGetResponse *g = (const Kvrpcpb__BatchGetResponse *)resp;
  return read_locks(g->error, g->pairs, g->n_pairs, TIKV__REQ_KV_BATCH_GET, locks);
}
static const tikv__lock_layer_t BATCH_GET_LOCKS =
    TIKV__LOCK_LAYER(find_batch_get, read_ts, read_after);

static int build_batch_get(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                           grpc_slice *out) {
  reader_t *r = arg;
  Kvrpcpb__BatchGetRequest q = KVRPCPB__BATCH_GET_REQUEST__INIT;
  read_request(&r->rc, &q.base, ctx);
  return tikv__pack_keys(&q.base, r->keys, part, out);
}
/* Takes pairs in until kvs holds limit; a pair without a value is a key
 * that does not exist (as KvGet's), unless the values were not asked for. */
static tikv_error_t *consume_pairs(tikv__kvs_t *kvs, Kvrpcpb__KvPair *const *pairs, size_t n,
                                   size_t limit, bool key_only) {
  for (size_t i = 0; i < n && kvs->count < limit; i++)
    if ((key_only || pairs[i]->value.len) &&
        tikv__kvs_push(kvs, pairs[i]->key.data, pairs[i]->key.len, pairs[i]->value.data,
                       pairs[i]->value.len, !key_only))
      return tikv__oom();
  return NULL;
}
static tikv_error_t *consume_batch_get(void *arg, tikv__part_t *part,
                                       const ProtobufCMessage *resp) {
  reader_t *r = arg;
  const Kvrpcpb__BatchGetResponse *g = (const Kvrpcpb__BatchGetResponse *)resp;
  return consume_pairs(&r->kvs, g->pairs, g->n_pairs, SIZE_MAX, false);
}
static const tikv__kind_t KV_BATCH_GET = {
    TIKV__REQ_KV_BATCH_GET, TIKV__KS_TXN, build_batch_get, consume_batch_get, &BATCH_GET_LOCKS.base,
    .max_keys = TIKV__TXN_BATCH_KEYS};

static void reader_done(void *arg, tikv_error_t *err) {
  reader_t *r = arg;
  txn_op_t *op = r->rc.op;
  if (!err) {
    tikv__kvs_sort(&r->kvs, false);
    op->f->kvs = r->kvs;
    r->kvs = (tikv__kvs_t){0};
  }
  uint64_t ts = r->rc.ts;
  bool asked_tikv = r->n > 0; /* else the transaction's own writes answered */
  free(r->keys);
  free(r->rc.pushed);
  tikv__kvs_free(&r->kvs);
  free(r);
  if (asked_tikv)
    read_finished(op, ts, err);
  else
    tikv__txn_op_complete(op, err);
}

static void read_many(txn_op_t *op, uint64_t ts) {
  tikv_txn_t *t = op->t;
  reader_t *r = tikv__calloc(1, sizeof(*r));
  if (r) r->keys = tikv__calloc(op->n ? op->n : 1, sizeof(tikv__bytes_t));
  if (!r || !r->keys) {
    free(r);
    tikv__txn_op_complete(op, tikv__oom());
    return;
  }
  readctx_init(&r->rc, op, ts);
  for (size_t i = 0; i < op->n; i++) {
    const tikv__mut_t *m = own_write(t, &op->keys[i]);
    if (m) {
      if (m->op != KVRPCPB__OP__Del &&
          tikv__kvs_push(&r->kvs, m->key.data, m->key.len, m->value.data, m->value.len, true)) {
        reader_done(r, tikv__oom());
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
  tikv__multi_run(&t->c->router, &KV_BATCH_GET, r, r->keys, NULL, r->n,
                  &op->f->scope, reader_done);
}

void tikv__txn_read_keys(txn_op_t *op, uint64_t ts) {
  if (op->kind == TXN_OP_GET || op->kind == TXN_OP_GET_FOR_UPDATE)
    read_one(op, ts);
  else
    read_many(op, ts);
}

/* ---- scans ---- */
typedef struct {
  readctx_t rc;
  tikv__walk_t walk; /* for limit + buffered deletes in range: each can hide a pair */
  tikv__kvs_t kvs;
} scanner_t;

static tikv_error_t *find_scan(void *arg, const ProtobufCMessage *resp, tikv__locks_t *locks) {
  const Kvrpcpb__ScanResponse *r = (const Kvrpcpb__ScanResponse *)resp;
  return read_locks(r->error, r->pairs, r->n_pairs, TIKV__REQ_KV_SCAN, locks);
}
static const tikv__lock_layer_t SCAN_LOCKS = TIKV__LOCK_LAYER(find_scan, read_ts, read_after);

static int build_scan(void *arg, const tikv__part_t *part, Kvrpcpb__Context *ctx,
                      grpc_slice *out) {
  scanner_t *s = arg;
  Kvrpcpb__ScanRequest q = KVRPCPB__SCAN_REQUEST__INIT;
  read_request(&s->rc, &q.base, ctx);
  /* TiKV's reverse scan takes the exclusive upper bound as start_key */
  const tikv__bytes_t *from = part->reverse ? &part->hi : &part->lo;
  const tikv__bytes_t *to = part->reverse ? &part->lo : &part->hi;
  q.start_key = (ProtobufCBinaryData){from->len, from->data};
  q.end_key = (ProtobufCBinaryData){to->len, to->data};
  q.limit = part->limit;
  q.key_only = s->rc.op->key_only;
  q.reverse = part->reverse;
  return tikv__pack(&q.base, out);
}
static tikv_error_t *consume_scan(void *arg, tikv__part_t *part, const ProtobufCMessage *resp) {
  scanner_t *s = arg;
  const Kvrpcpb__ScanResponse *r = (const Kvrpcpb__ScanResponse *)resp;
  size_t before = s->kvs.count;
  tikv_error_t *err =
      consume_pairs(&s->kvs, r->pairs, r->n_pairs, before + part->limit, s->rc.op->key_only);
  part->taken = s->kvs.count - before;
  /* the reply stopped at the limit but pairs were left out: the region has
   * more past its last key */
  if (!err && part->limit && r->n_pairs >= part->limit && part->taken < part->limit) {
    const ProtobufCBinaryData *last = &r->pairs[r->n_pairs - 1]->key;
    if (tikv__bytes_set(&part->resume, last->data, last->len)) err = tikv__oom();
  }
  return err;
}
static const tikv__kind_t KV_SCAN = {
    TIKV__REQ_KV_SCAN, TIKV__KS_TXN, build_scan, consume_scan, &SCAN_LOCKS.base};

static bool in_range(const txn_op_t *op, const tikv__mut_t *m) {
  if (tikv__key_cmp(m->key.data, m->key.len, op->start.data, op->start.len) < 0) return false;
  return op->end.len == 0 || tikv__key_cmp(m->key.data, m->key.len, op->end.data, op->end.len) < 0;
}

/* The transaction's writes laid over what TiKV had (sorted ascending), in
 * the scan's order and limit. */
static tikv_error_t *overlay(const txn_op_t *op, const tikv__kvs_t *kvs, tikv__kvs_t *out) {
  const tikv__buffer_t *b = &op->t->buf;
  size_t i = 0, j = tikv__buffer_lower_bound((tikv__buffer_t *)b, op->start.data, op->start.len);
  for (;;) {
    const tikv_kv_t *kv = i < kvs->count ? &kvs->items[i] : NULL;
    const tikv__mut_t *m = j < b->count && in_range(op, &b->items[j]) ? &b->items[j] : NULL;
    if (!kv && !m) break;
    int c = !kv ? 1 : !m ? -1 : tikv__key_cmp(kv->key, kv->key_len, m->key.data, m->key.len);
    bool own = m && c >= 0 && m->has_write && m->op != KVRPCPB__OP__Lock;
    int rc = 0;
    if (c < 0 || (c == 0 && !own))
      rc = tikv__kvs_push(out, kv->key, kv->key_len, kv->value, kv->value_len, !op->key_only);
    else if (own && m->op != KVRPCPB__OP__Del)
      rc = tikv__kvs_push(out, m->key.data, m->key.len, m->value.data, m->value.len,
                          !op->key_only);
    if (rc) return tikv__oom();
    if (c <= 0) i++;
    if (c >= 0) j++;
  }
  if (op->reverse) tikv__kvs_sort(out, true);
  tikv__kvs_truncate(out, op->limit);
  return NULL;
}

static void scanner_free(scanner_t *s) {
  tikv__walk_free(&s->walk);
  tikv__kvs_free(&s->kvs);
  free(s->rc.pushed);
  free(s);
}

static void scan_done(void *arg, tikv_error_t *err) {
  scanner_t *s = arg;
  txn_op_t *op = s->rc.op;
  if (!err) {
    tikv__kvs_sort(&s->kvs, false);
    err = overlay(op, &s->kvs, &op->f->kvs);
  }
  uint64_t ts = s->rc.ts;
  scanner_free(s);
  read_finished(op, ts, err);
}

void tikv__txn_read_scan(txn_op_t *op, uint64_t ts) {
  bool empty = op->limit == 0 || (op->end.len && tikv__key_cmp(op->start.data, op->start.len,
                                                               op->end.data, op->end.len) >= 0);
  if (empty) {
    tikv__txn_op_complete(op, NULL);
    return;
  }
  tikv__buffer_t *b = &op->t->buf;
  uint32_t hidden = 0;
  for (size_t j = tikv__buffer_lower_bound(b, op->start.data, op->start.len);
       j < b->count && in_range(op, &b->items[j]); j++)
    if (b->items[j].has_write && b->items[j].op == KVRPCPB__OP__Del) hidden++;
  scanner_t *s = tikv__calloc(1, sizeof(*s));
  if (!s || tikv__walk_init(&s->walk, op->start.data, op->start.len, op->end.data, op->end.len,
                            op->reverse, op->limit + hidden)) {
    if (s) scanner_free(s);
    tikv__txn_op_complete(op, tikv__oom());
    return;
  }
  readctx_init(&s->rc, op, ts);
  tikv__walk_start(&s->walk, &op->t->c->router, &KV_SCAN, s, &op->f->scope,
                   scan_done);
}
