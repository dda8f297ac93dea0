/* The transaction object: its options, its buffer of writes, and the
 * plumbing that runs each public call as an operation on the I/O thread. */
#include <stdio.h>

#include "txn/txn_internal.h"

/* ---- mutation buffer ---- */
size_t tikv__buffer_lower_bound(tikv__buffer_t *b, const uint8_t *key, size_t len) {
  size_t lo = 0, hi = b->count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (tikv__key_cmp(b->items[mid].key.data, b->items[mid].key.len, key, len) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

tikv__mut_t *tikv__buffer_find(tikv__buffer_t *b, const uint8_t *key, size_t len) {
  size_t i = tikv__buffer_lower_bound(b, key, len);
  if (i < b->count && tikv__key_cmp(b->items[i].key.data, b->items[i].key.len, key, len) == 0)
    return &b->items[i];
  return NULL;
}

tikv__mut_t *tikv__buffer_upsert(tikv__buffer_t *b, const uint8_t *key, size_t len) {
  size_t i = tikv__buffer_lower_bound(b, key, len);
  if (i < b->count && tikv__key_cmp(b->items[i].key.data, b->items[i].key.len, key, len) == 0)
    return &b->items[i];
  if (tikv__grow(&b->items, &b->cap, b->count + 1, sizeof(*b->items))) return NULL;
  tikv__mut_t m = {0};
  if (tikv__bytes_set(&m.key, key, len)) return NULL;
  memmove(b->items + i + 1, b->items + i, (b->count - i) * sizeof(*b->items));
  b->items[i] = m;
  b->count++;
  return &b->items[i];
}

void tikv__buffer_free(tikv__buffer_t *b) {
  for (size_t i = 0; i < b->count; i++) {
    tikv__bytes_free(&b->items[i].key);
    tikv__bytes_free(&b->items[i].value);
  }
  free(b->items);
  memset(b, 0, sizeof(*b));
}

/* ---- options and lifetime ---- */
void tikv_txn_options_init(tikv_txn_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->lock_wait_timeout_ms = 20000;
}

tikv_txn_t *tikv_txn_new(tikv_client_t *c, const tikv_txn_options_t *opts, int *err) {
  if (!c) {
    if (err) *err = TIKV_ERR_INVALID_ARGUMENT;
    return NULL;
  }
  tikv_txn_t *t = tikv__calloc(1, sizeof(*t));
  if (!t) {
    if (err) *err = TIKV_ERR_NO_MEMORY;
    return NULL;
  }
  t->c = c;
  if (opts)
    t->opts = *opts;
  else
    tikv_txn_options_init(&t->opts);
  t->state = TXN_NEW;
  tikv__timer_init(&t->heartbeat);
  if (err) *err = TIKV_ERR_OK;
  return t;
}

uint64_t tikv_txn_start_ts(tikv_txn_t *t) { return t ? atomic_load(&t->start_ts_pub) : 0; }

static void txn_destroy(tikv_txn_t *t) {
  tikv__txn_heartbeat_stop(t);
  tikv__error_free(t->deferred_err);
  tikv__buffer_free(&t->buf);
  tikv__bytes_free(&t->primary);
  free(t);
}

static void free_when_clean(tikv_txn_t *t) { txn_destroy(t); }

/* On the I/O thread: the user let go of t. */
static void txn_release(void *arg) {
  tikv_txn_t *t = arg;
  t->freed = true;
  if (t->inflight || t->waiting) return; /* the last operation frees it */
  if (t->state == TXN_ACTIVE && !t->opts.read_only) {
    t->state = TXN_ROLLED_BACK;
    tikv__txn_cleanup(t, free_when_clean);
    return;
  }
  txn_destroy(t);
}

void tikv_txn_free(tikv_txn_t *t) {
  if (!t) return;
  if (tikv__client_post(t->c, txn_release, t) != 0) {
    /* the client is closed: its loop is gone, nothing else can touch t */
    txn_destroy(t);
  }
}

/* ---- operations ---- */
void tikv__txn_op_free(txn_op_t *op) {
  for (size_t i = 0; i < op->n; i++) {
    if (op->keys) tikv__bytes_free(&op->keys[i]);
    if (op->values) tikv__bytes_free(&op->values[i]);
  }
  free(op->keys);
  free(op->values);
  tikv__bytes_free(&op->start);
  tikv__bytes_free(&op->end);
  free(op);
}

static void run_op(txn_op_t *op);

void tikv__txn_op_finished(tikv_txn_t *t) {
  if (t->inflight > 0) return;
  if (t->waiting) {
    txn_op_t *w = t->waiting;
    t->waiting = w->next;
    w->next = NULL;
    run_op(w);
    return;
  }
  if (t->freed) txn_release(t);
}

void tikv__txn_op_complete(txn_op_t *op, tikv_error_t *err) {
  tikv_txn_t *t = op->t;
  tikv_future_t *f = op->f;
  tikv__txn_op_free(op);
  t->inflight--;
  if (f) {
    /* the caller's keys: once, as the result leaves (a kept error waits) */
    const tikv__apicodec_t *codec = &t->c->router.codec;
    if (!err) err = tikv__apicodec_decode_kvs(codec, TIKV__KS_TXN, &f->kvs);
    tikv__apicodec_decode_error(codec, TIKV__KS_TXN, err);
    tikv__future_complete(f, err);
  } else if (err) {
    /* an already acknowledged write: the commit reports it */
    tikv__error_keep(&t->deferred_err, err);
  }
  tikv__txn_op_finished(t);
}

static void op_fail(txn_op_t *op, int code, const char *msg) {
  tikv__txn_op_complete(op, tikv__error_new(code, "%s", msg));
}

/* Buffers op's writes, one per key (lock_keys has many), once the
 * pessimistic locks they need are held (err: they could not be taken). */
static void apply_write(txn_op_t *op, tikv_error_t *err) {
  if (err) {
    tikv__txn_op_complete(op, err);
    return;
  }
  tikv_txn_t *t = op->t;
  for (size_t i = 0; i < op->n; i++) {
    tikv__mut_t *m = tikv__buffer_upsert(&t->buf, op->keys[i].data, op->keys[i].len);
    if (!m) {
      op_fail(op, TIKV_ERR_NO_MEMORY, "out of memory");
      return;
    }
    switch (op->kind) {
      case TXN_OP_PUT:
      case TXN_OP_INSERT: {
        int kind = KVRPCPB__OP__Put;
        if (op->kind == TXN_OP_INSERT) {
          if (m->has_write && (m->op == KVRPCPB__OP__Put || m->op == KVRPCPB__OP__Insert)) {
            tikv_error_t *e = tikv__error_new(TIKV_ERR_ALREADY_EXIST,
                                              "key already exists (written by this transaction)");
            tikv__bytes_set(&e->key, op->keys[i].data, op->keys[i].len);
            tikv__txn_op_complete(op, e);
            return;
          }
          /* inserting over our own delete is a put; otherwise TiKV checks */
          kind = m->has_write && m->op == KVRPCPB__OP__Del ? KVRPCPB__OP__Put : KVRPCPB__OP__Insert;
        }
        if (tikv__bytes_set(&m->value, op->values[i].data, op->values[i].len)) {
          op_fail(op, TIKV_ERR_NO_MEMORY, "out of memory");
          return;
        }
        m->op = kind;
        m->has_write = true;
        break;
      }
      case TXN_OP_DELETE:
        tikv__bytes_free(&m->value);
        m->op = KVRPCPB__OP__Del;
        m->has_write = true;
        break;
      case TXN_OP_LOCK_KEYS:
        if (!m->has_write && !m->pess_locked) {
          m->op = KVRPCPB__OP__Lock;
          m->has_write = true;
        }
        break;
    }
  }
  tikv__txn_op_complete(op, NULL);
}

static void after_lock_then_read(txn_op_t *op, tikv_error_t *err) {
  /* get_for_update (pessimistic): values came back with the lock */
  tikv__txn_op_complete(op, err);
}

static bool keys_all_locked(tikv_txn_t *t, txn_op_t *op) {
  for (size_t i = 0; i < op->n; i++) {
    tikv__mut_t *m = tikv__buffer_find(&t->buf, op->keys[i].data, op->keys[i].len);
    if (!m || !m->pess_locked) return false;
  }
  return true;
}

static void run_op(txn_op_t *op) {
  tikv_txn_t *t = op->t;
  t->inflight++;
  switch (op->kind) {
    case TXN_OP_GET:
    case TXN_OP_BATCH_GET:
      tikv__txn_read_keys(op, t->start_ts);
      return;
    case TXN_OP_SCAN:
      tikv__txn_read_scan(op, t->start_ts);
      return;
    case TXN_OP_PUT:
    case TXN_OP_INSERT:
    case TXN_OP_DELETE:
    case TXN_OP_LOCK_KEYS:
      if (t->opts.pessimistic && !keys_all_locked(t, op)) {
        tikv__txn_lock_pessimistic(op, false, apply_write);
        return;
      }
      apply_write(op, NULL);
      return;
    case TXN_OP_GET_FOR_UPDATE:
    case TXN_OP_BATCH_GET_FOR_UPDATE:
      if (t->opts.pessimistic) {
        tikv__txn_lock_pessimistic(op, true, after_lock_then_read);
        return;
      }
      /* optimistic: read at start ts; the keys are checked at commit */
      for (size_t i = 0; i < op->n; i++) {
        tikv__mut_t *m = tikv__buffer_upsert(&t->buf, op->keys[i].data, op->keys[i].len);
        if (!m) {
          op_fail(op, TIKV_ERR_NO_MEMORY, "out of memory");
          return;
        }
        if (!m->has_write) {
          m->op = KVRPCPB__OP__Lock;
          m->has_write = true;
        }
      }
      tikv__txn_read_keys(op, t->start_ts);
      return;
    case TXN_OP_COMMIT:
      tikv__txn_commit(op);
      return;
    case TXN_OP_ROLLBACK:
      tikv__txn_rollback(op);
      return;
  }
}

static void op_start(void *arg) {
  txn_op_t *op = arg;
  tikv_txn_t *t = op->t;
  const char *why = NULL;
  int code = TIKV_ERR_TXN_FINISHED;
  if (t->state == TXN_NEW) {
    why = "the transaction has not begun (call tikv_txn_begin and wait for it)";
    code = TIKV_ERR_INVALID_ARGUMENT;
  } else if (t->state != TXN_ACTIVE) {
    why = t->state == TXN_ROLLED_BACK ? "the transaction was rolled back"
                                      : "the transaction is committed or committing";
  } else if (t->opts.read_only && op->kind != TXN_OP_GET && op->kind != TXN_OP_BATCH_GET &&
             op->kind != TXN_OP_SCAN && op->kind != TXN_OP_ROLLBACK) {
    why = "a snapshot is read-only";
    code = TIKV_ERR_UNSUPPORTED;
  }
  if (why) {
    t->inflight++;
    op_fail(op, code, why);
    return;
  }
  if (op->kind == TXN_OP_COMMIT || op->kind == TXN_OP_ROLLBACK) {
    t->state = op->kind == TXN_OP_COMMIT ? TXN_COMMITTING : TXN_ROLLED_BACK;
    if (t->inflight) {
      /* wait for the operations already running */
      txn_op_t **p = &t->waiting;
      while (*p) p = &(*p)->next;
      *p = op;
      return;
    }
  }
  run_op(op);
}

static tikv_future_t *fail_now(int code, const char *msg) {
  return tikv__future_failed(tikv__error_new(code, "%s", msg));
}

static void op_drop(void *op) { tikv__txn_op_free(op); }

static tikv_future_t *submit(tikv_txn_t *t, const tikv_call_opts_t *opts, txn_op_t *op) {
  op->t = t;
  return tikv__client_submit(t->c, opts, &op->f, op, op_start, op_drop);
}

static bool slice_ok(const uint8_t *p, size_t len) { return p || len == 0; }

static txn_op_t *op_new(int kind, size_t n, bool with_values) {
  txn_op_t *op = tikv__calloc(1, sizeof(*op));
  if (!op) return NULL;
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

/* Why t cannot take keys yet (API v2 before connect), or NULL. */
static const char *unready(const tikv_txn_t *t) {
  return tikv__apicodec_unready(&t->c->router.codec);
}

static tikv_future_t *keys_op(tikv_txn_t *t, const tikv_call_opts_t *opts, int kind,
                              const tikv_slice_t *keys, size_t n, const tikv_slice_t *values) {
  if (!t) return fail_now(TIKV_ERR_INVALID_ARGUMENT, "transaction is NULL");
  if (n && !keys) return fail_now(TIKV_ERR_INVALID_ARGUMENT, "keys is NULL");
  if (unready(t)) return fail_now(TIKV_ERR_INVALID_ARGUMENT, unready(t));
  for (size_t i = 0; i < n; i++)
    if (!slice_ok(keys[i].data, keys[i].len) || (values && !slice_ok(values[i].data, values[i].len)))
      return fail_now(TIKV_ERR_INVALID_ARGUMENT, "a key or value is NULL");
  txn_op_t *op = op_new(kind, n, values != NULL);
  if (!op) return fail_now(TIKV_ERR_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < n; i++)
    if (tikv__apicodec_encode(&t->c->router.codec, TIKV__KS_TXN, keys[i].data, keys[i].len,
                              &op->keys[i]) ||
        (values && tikv__bytes_set(&op->values[i], values[i].data, values[i].len))) {
      tikv__txn_op_free(op);
      return fail_now(TIKV_ERR_NO_MEMORY, "out of memory");
    }
  return submit(t, opts, op);
}

/* Buffering a write in an optimistic transaction needs no network: it is
 * acknowledged at once (a completed future) and applied on the I/O thread in
 * call order, before any later operation of the transaction. */
static tikv_future_t *buffer_now(tikv_txn_t *t, int kind, const uint8_t *key, size_t key_len,
                                 const uint8_t *value, size_t value_len, bool with_value) {
  txn_op_t *op = op_new(kind, 1, with_value);
  if (!op || tikv__apicodec_encode(&t->c->router.codec, TIKV__KS_TXN, key, key_len, &op->keys[0]) ||
      (with_value && tikv__bytes_set(&op->values[0], value, value_len))) {
    if (op) tikv__txn_op_free(op);
    return fail_now(TIKV_ERR_NO_MEMORY, "out of memory");
  }
  op->t = t;
  if (tikv__client_post(t->c, op_start, op) != 0) {
    tikv__txn_op_free(op);
    return fail_now(TIKV_ERR_CLOSED, "client is closed");
  }
  tikv_future_t *f = tikv__future_new();
  if (f) tikv__future_complete(f, NULL);
  return f;
}

static tikv_future_t *key_op(tikv_txn_t *t, const tikv_call_opts_t *opts, int kind,
                             const uint8_t *key, size_t key_len, const uint8_t *value,
                             size_t value_len, bool with_value) {
  if (!slice_ok(key, key_len) || (with_value && !slice_ok(value, value_len)))
    return fail_now(TIKV_ERR_INVALID_ARGUMENT, "key or value is NULL");
  /* as client-go (ErrCannotSetNilValue): a read takes a stored empty value
   * for a missing key, so none may be written; delete the key instead */
  if (with_value && value_len == 0)
    return fail_now(TIKV_ERR_INVALID_ARGUMENT,
                    "a transaction cannot write an empty value (delete the key instead)");
  if (t && (kind == TXN_OP_PUT || kind == TXN_OP_DELETE) && !t->opts.pessimistic &&
      !t->opts.read_only && atomic_load(&t->start_ts_pub) != 0 && !atomic_load(&t->finishing) &&
      !unready(t))
    return buffer_now(t, kind, key, key_len, value, value_len, with_value);
  tikv_slice_t k = {key, key_len}, v = {value, value_len};
  return keys_op(t, opts, kind, &k, 1, with_value ? &v : NULL);
}

tikv_future_t *tikv_txn_get(tikv_txn_t *t, const uint8_t *key, size_t key_len,
                            const tikv_call_opts_t *opts) {
  return key_op(t, opts, TXN_OP_GET, key, key_len, NULL, 0, false);
}
tikv_future_t *tikv_txn_batch_get(tikv_txn_t *t, const tikv_slice_t *keys, size_t n,
                                  const tikv_call_opts_t *opts) {
  return keys_op(t, opts, TXN_OP_BATCH_GET, keys, n, NULL);
}
tikv_future_t *tikv_txn_put(tikv_txn_t *t, const uint8_t *key, size_t key_len,
                            const uint8_t *value, size_t value_len, const tikv_call_opts_t *opts) {
  return key_op(t, opts, TXN_OP_PUT, key, key_len, value, value_len, true);
}
tikv_future_t *tikv_txn_insert(tikv_txn_t *t, const uint8_t *key, size_t key_len,
                               const uint8_t *value, size_t value_len,
                               const tikv_call_opts_t *opts) {
  return key_op(t, opts, TXN_OP_INSERT, key, key_len, value, value_len, true);
}
tikv_future_t *tikv_txn_delete(tikv_txn_t *t, const uint8_t *key, size_t key_len,
                               const tikv_call_opts_t *opts) {
  return key_op(t, opts, TXN_OP_DELETE, key, key_len, NULL, 0, false);
}
tikv_future_t *tikv_txn_lock_keys(tikv_txn_t *t, const tikv_slice_t *keys, size_t n,
                                  const tikv_call_opts_t *opts) {
  return keys_op(t, opts, TXN_OP_LOCK_KEYS, keys, n, NULL);
}
tikv_future_t *tikv_txn_get_for_update(tikv_txn_t *t, const uint8_t *key, size_t key_len,
                                       const tikv_call_opts_t *opts) {
  return key_op(t, opts, TXN_OP_GET_FOR_UPDATE, key, key_len, NULL, 0, false);
}
tikv_future_t *tikv_txn_batch_get_for_update(tikv_txn_t *t, const tikv_slice_t *keys, size_t n,
                                             const tikv_call_opts_t *opts) {
  return keys_op(t, opts, TXN_OP_BATCH_GET_FOR_UPDATE, keys, n, NULL);
}
tikv_future_t *tikv_txn_commit(tikv_txn_t *t, const tikv_call_opts_t *opts) {
  if (t) atomic_store(&t->finishing, true);
  return keys_op(t, opts, TXN_OP_COMMIT, NULL, 0, NULL);
}
tikv_future_t *tikv_txn_rollback(tikv_txn_t *t, const tikv_call_opts_t *opts) {
  if (t) atomic_store(&t->finishing, true);
  return keys_op(t, opts, TXN_OP_ROLLBACK, NULL, 0, NULL);
}

tikv_future_t *tikv_txn_scan(tikv_txn_t *t, const uint8_t *start, size_t start_len,
                             const uint8_t *end, size_t end_len, uint32_t limit, int key_only,
                             int reverse, const tikv_call_opts_t *opts) {
  if (!t) return fail_now(TIKV_ERR_INVALID_ARGUMENT, "transaction is NULL");
  if (!slice_ok(start, start_len) || !slice_ok(end, end_len))
    return fail_now(TIKV_ERR_INVALID_ARGUMENT, "start or end is NULL");
  if (limit > TIKV_RAW_MAX_SCAN_LIMIT)
    return fail_now(TIKV_ERR_INVALID_ARGUMENT, "limit exceeds the maximum scan limit");
  if (unready(t)) return fail_now(TIKV_ERR_INVALID_ARGUMENT, unready(t));
  txn_op_t *op = op_new(TXN_OP_SCAN, 0, false);
  if (!op || tikv__apicodec_range(&t->c->router.codec, TIKV__KS_TXN, start, start_len, end,
                                  end_len, &op->start, &op->end)) {
    if (op) tikv__txn_op_free(op);
    return fail_now(TIKV_ERR_NO_MEMORY, "out of memory");
  }
  op->limit = limit;
  op->key_only = key_only != 0;
  op->reverse = reverse != 0;
  return submit(t, opts, op);
}

/* ---- begin, timestamps ---- */
typedef struct {
  tikv_client_t *c;
  tikv_txn_t *t;
  tikv_future_t *f;
} ts_req_t;

static void begin_ts(void *arg, tikv_error_t *err, uint64_t ts) {
  ts_req_t *r = arg;
  tikv_txn_t *t = r->t;
  if (!err) {
    if (t) {
      t->start_ts = ts;
      t->for_update_ts = ts;
      t->state = TXN_ACTIVE;
      t->begin_ms = tikv__now_ms();
      atomic_store(&t->start_ts_pub, ts);
    }
    r->f->u64 = ts;
    r->f->has_u64 = true;
  }
  tikv_future_t *f = r->f;
  free(r);
  tikv__future_complete(f, err);
  if (t) {
    /* the user may have let go of t while its timestamp was on the way */
    t->inflight--;
    tikv__txn_op_finished(t);
  }
}

static void begin_start(void *arg) {
  ts_req_t *r = arg;
  tikv_txn_t *t = r->t;
  if (t && t->state != TXN_NEW) {
    tikv_future_t *f = r->f;
    free(r);
    tikv__future_complete(f, tikv__error_new(TIKV_ERR_INVALID_ARGUMENT, "already begun"));
    return;
  }
  if (t) t->inflight++; /* freeing t waits for its begin */
  if (t && t->opts.start_ts) {
    begin_ts(r, NULL, t->opts.start_ts);
    return;
  }
  tikv__pd_get_ts(&r->c->pd, &r->f->scope, begin_ts, r);
}

static tikv_future_t *ts_submit(tikv_client_t *c, tikv_txn_t *t, const tikv_call_opts_t *opts) {
  ts_req_t *r = tikv__calloc(1, sizeof(*r));
  if (!r) return fail_now(TIKV_ERR_NO_MEMORY, "out of memory");
  *r = (ts_req_t){c, t, NULL};
  return tikv__client_submit(c, opts, &r->f, r, begin_start, free);
}

tikv_future_t *tikv_txn_begin(tikv_txn_t *t, const tikv_call_opts_t *opts) {
  if (!t) return fail_now(TIKV_ERR_INVALID_ARGUMENT, "transaction is NULL");
  return ts_submit(t->c, t, opts);
}

tikv_future_t *tikv_client_current_timestamp(tikv_client_t *c, const tikv_call_opts_t *opts) {
  if (!c) return fail_now(TIKV_ERR_INVALID_ARGUMENT, "client is NULL");
  return ts_submit(c, NULL, opts);
}
