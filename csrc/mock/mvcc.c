/* The mock's Percolator MVCC store and lock manager (see mvcc.h). */
#include <stdio.h>

#include "mock/mvcc.h"

typedef struct wait_edge {
  uint64_t waiter_ts, lock_ts, key_hash;
  struct wait_edge *next;
} wait_edge_t;

struct mock_mvcc {
  mock_kvmap_t *map; /* encoded key -> mv_key_t* (in the entry's tag) */
  uint64_t max_ts;
  mv_waiter_t *waiters; /* every waiter (doubly linked through next_all) */
  wait_edge_t *edges;   /* the wait-for graph, one edge per waiter */
};

static mv_key_t *of(mock_kventry_t *e) { return e ? (mv_key_t *)(intptr_t)e->tag : NULL; }

mock_mvcc_t *mock_mvcc_new(void) {
  mock_mvcc_t *s = tikv__calloc(1, sizeof(*s));
  if (!s) return NULL;
  if (!(s->map = mock_kvmap_new())) {
    free(s);
    return NULL;
  }
  return s;
}

static void write_free(mv_write_t *w) { tikv__bytes_free(&w->value); }

void mv_lock_free(mv_lock_t *l) {
  if (!l) return;
  tikv__bytes_free(&l->primary);
  tikv__bytes_free(&l->value);
  for (size_t i = 0; i < l->nsecondaries; i++) tikv__bytes_free(&l->secondaries[i]);
  free(l->secondaries);
  free(l->rollback_ts);
  free(l);
}

mv_lock_t *mv_lock_new(void) { return tikv__calloc(1, sizeof(mv_lock_t)); }

void mv_lock_mark_rollback(mv_lock_t *l, uint64_t ts) {
  for (size_t i = 0; i < l->nrollback_ts; i++)
    if (l->rollback_ts[i] == ts) return;
  uint64_t *n = tikv__realloc(l->rollback_ts, (l->nrollback_ts + 1) * sizeof(uint64_t));
  if (!n) return;
  n[l->nrollback_ts++] = ts;
  l->rollback_ts = n;
}

static void key_free(mv_key_t *k) {
  if (!k) return;
  mv_lock_free(k->lock);
  for (size_t i = 0; i < k->nwrites; i++) write_free(&k->writes[i]);
  free(k->writes);
  free(k->raw);
  free(k->enc);
  free(k);
}

void mock_mvcc_free(mock_mvcc_t *s) {
  if (!s) return;
  for (mock_kventry_t *e = mock_kvmap_seek(s->map, (const uint8_t *)"", 0); e;
       e = mock_kvmap_next(s->map, e))
    key_free(of(e));
  mock_kvmap_free(s->map);
  while (s->edges) {
    wait_edge_t *n = s->edges->next;
    free(s->edges);
    s->edges = n;
  }
  /* waiters are flushed before the loop stops; any left are leaked calls */
  free(s);
}

mv_key_t *mv_key_get(mock_mvcc_t *s, const uint8_t *raw, size_t len, bool create) {
  uint8_t *enc = NULL;
  size_t el = 0;
  if (tikv__codec_encode_bytes(raw, len, &enc, &el)) return NULL;
  mv_key_t *k = of(mock_kvmap_get(s->map, enc, el));
  if (k || !create) {
    free(enc);
    return k;
  }
  k = tikv__calloc(1, sizeof(*k));
  uint8_t *r = tikv__memdup(raw, len);
  if (!k || !r || mock_kvmap_put(s->map, enc, el, NULL, 0, (int64_t)(intptr_t)k)) {
    free(k);
    free(r);
    free(enc);
    return NULL;
  }
  k->raw = r;
  k->raw_len = len;
  k->enc = enc;
  k->enc_len = el;
  return k;
}

mv_key_t *mv_first(mock_mvcc_t *s, const uint8_t *enc, size_t len) {
  return of(mock_kvmap_seek(s->map, enc, len));
}
mv_key_t *mv_last_before(mock_mvcc_t *s, const uint8_t *enc, size_t len, bool unbounded) {
  return of(mock_kvmap_seek_before(s->map, enc, len, unbounded));
}
mv_key_t *mv_next(mock_mvcc_t *s, mv_key_t *k) {
  return of(mock_kvmap_next(s->map, mock_kvmap_get(s->map, k->enc, k->enc_len)));
}
mv_key_t *mv_prev(mock_mvcc_t *s, mv_key_t *k) {
  return of(mock_kvmap_prev(s->map, mock_kvmap_get(s->map, k->enc, k->enc_len)));
}

uint64_t mv_max_ts(mock_mvcc_t *s) { return s->max_ts; }

uint64_t mock_mvcc_min_lock_ts(mock_mvcc_t *s) {
  uint64_t min = 0;
  for (mv_key_t *k = mv_first(s, (const uint8_t *)"", 0); k; k = mv_next(s, k))
    if (k->lock && (!min || k->lock->ts < min)) min = k->lock->ts;
  return min;
}
void mv_update_max_ts(mock_mvcc_t *s, uint64_t ts) {
  if (ts != UINT64_MAX && ts > s->max_ts) s->max_ts = ts;
}

/* ---- records ---- */
mv_write_t *mv_seek_write(mv_key_t *k, uint64_t ts) {
  for (size_t i = 0; i < k->nwrites; i++)
    if (k->writes[i].commit_ts <= ts) return &k->writes[i];
  return NULL;
}

mv_write_t *mv_read_version(mv_key_t *k, uint64_t ts) {
  for (size_t i = 0; i < k->nwrites; i++) {
    mv_write_t *w = &k->writes[i];
    if (w->commit_ts > ts) continue;
    if (w->type == MV_W_PUT || w->type == MV_W_DELETE) return w;
  }
  return NULL;
}

mv_commit_record_t mv_commit_record(mv_key_t *k, uint64_t start_ts) {
  mv_commit_record_t r = {MV_REC_NONE, NULL, NULL};
  for (size_t i = 0; i < k->nwrites; i++) {
    mv_write_t *w = &k->writes[i];
    if (w->commit_ts < start_ts) break;
    if (w->start_ts == start_ts) {
      r.kind = MV_REC_SINGLE;
      r.write = w;
      return r;
    }
    if (w->commit_ts == start_ts) {
      if (w->overlapped_rollback) {
        r.kind = MV_REC_OVERLAPPED_ROLLBACK;
        r.write = w;
        return r;
      }
      r.overlapped = w;
    }
  }
  return r;
}

int mv_put_write(mv_key_t *k, uint64_t commit_ts, uint64_t start_ts, int type, const uint8_t *value,
                 size_t vlen, bool protected_rb) {
  /* same commit ts: replace (TiKV's put_write overwrites the key+ts) */
  size_t pos = 0;
  while (pos < k->nwrites && k->writes[pos].commit_ts > commit_ts) pos++;
  mv_write_t nw;
  memset(&nw, 0, sizeof(nw));
  nw.commit_ts = commit_ts;
  nw.start_ts = start_ts;
  nw.type = type;
  nw.protected_rb = protected_rb;
  if (type == MV_W_PUT && tikv__bytes_set(&nw.value, value, vlen)) return -1;
  if (pos < k->nwrites && k->writes[pos].commit_ts == commit_ts) {
    write_free(&k->writes[pos]);
    k->writes[pos] = nw;
    return 0;
  }
  if (k->nwrites == k->wcap) {
    size_t nc = k->wcap ? k->wcap * 2 : 4;
    mv_write_t *n = tikv__realloc(k->writes, nc * sizeof(*n));
    if (!n) {
      write_free(&nw);
      return -1;
    }
    k->writes = n;
    k->wcap = nc;
  }
  memmove(&k->writes[pos + 1], &k->writes[pos], (k->nwrites - pos) * sizeof(*k->writes));
  k->writes[pos] = nw;
  k->nwrites++;
  return 0;
}

int mv_put_rollback(mv_key_t *k, uint64_t start_ts, bool protected_rb, mv_write_t *overlapped) {
  if (overlapped) {
    if (protected_rb) overlapped->overlapped_rollback = true;
    return 0;
  }
  return mv_put_write(k, start_ts, start_ts, MV_W_ROLLBACK, NULL, 0, protected_rb);
}

void mv_delete_write_at(mv_key_t *k, size_t i) {
  write_free(&k->writes[i]);
  memmove(&k->writes[i], &k->writes[i + 1], (k->nwrites - i - 1) * sizeof(*k->writes));
  k->nwrites--;
}

void mv_collapse_prev_rollback(mv_key_t *k, uint64_t ts) {
  for (size_t i = 0; i < k->nwrites; i++) {
    if (k->writes[i].commit_ts > ts) continue;
    if (k->writes[i].type == MV_W_ROLLBACK && !k->writes[i].protected_rb) mv_delete_write_at(k, i);
    return;
  }
}

void mv_set_lock(mv_key_t *k, mv_lock_t *l) {
  if (k->lock != l) mv_lock_free(k->lock);
  k->lock = l;
}

/* ---- the lock manager ---- */
uint64_t mv_key_hash(const uint8_t *raw, size_t len) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= raw[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static void edge_remove(mock_mvcc_t *s, uint64_t waiter_ts, uint64_t lock_ts) {
  for (wait_edge_t **pp = &s->edges; *pp; pp = &(*pp)->next) {
    if ((*pp)->waiter_ts == waiter_ts && (*pp)->lock_ts == lock_ts) {
      wait_edge_t *e = *pp;
      *pp = e->next;
      free(e);
      return;
    }
  }
}

/* Depth-first search from `from` for `target` over the edges. */
static bool reaches(mock_mvcc_t *s, uint64_t from, uint64_t target, uint64_t *hash, int depth) {
  if (depth > 64) return false;
  for (wait_edge_t *e = s->edges; e; e = e->next) {
    if (e->waiter_ts != from) continue;
    if (e->lock_ts == target) {
      *hash = e->key_hash;
      return true;
    }
    if (reaches(s, e->lock_ts, target, hash, depth + 1)) return true;
  }
  return false;
}

bool mv_would_deadlock(mock_mvcc_t *s, uint64_t start_ts, uint64_t lock_ts, uint64_t *hash) {
  return reaches(s, lock_ts, start_ts, hash, 0);
}

static void waiter_detach_key(mv_waiter_t *w) {
  if (!w->key) return;
  for (mv_waiter_t **pp = &w->key->waiters; *pp; pp = &(*pp)->next_on_key)
    if (*pp == w) {
      *pp = w->next_on_key;
      break;
    }
  w->key = NULL;
  w->next_on_key = NULL;
}

/* The waiter's reply: the stored timeout answer, or a WriteConflict when the
 * holder released the lock (TiKV's legacy wake-up: the client retries with a
 * new for_update_ts). Sent without the mutex. */
static void waiter_fire(void *arg) {
  mv_waiter_t *w = arg;
  mock_cluster_t *m = w->m;
  mock_mvcc_t *s = m->mvcc;
  pthread_mutex_lock(&m->mu);
  waiter_detach_key(w);
  edge_remove(s, w->start_ts, w->lock_ts);
  if (w->prev_all)
    w->prev_all->next_all = w->next_all;
  else
    s->waiters = w->next_all;
  if (w->next_all) w->next_all->prev_all = w->prev_all;
  pthread_mutex_unlock(&m->mu);

  Kvrpcpb__PessimisticLockResponse *resp = NULL;
  Kvrpcpb__PessimisticLockResponse r = KVRPCPB__PESSIMISTIC_LOCK_RESPONSE__INIT;
  Kvrpcpb__KeyError ke = KVRPCPB__KEY_ERROR__INIT;
  Kvrpcpb__WriteConflict wc = KVRPCPB__WRITE_CONFLICT__INIT;
  Kvrpcpb__KeyError *kep = &ke;
  char msg[320];
  if (w->woken) {
    wc.start_ts = w->start_ts;
    wc.conflict_ts = w->lock_ts;
    wc.conflict_commit_ts = w->released_commit_ts;
    wc.key.data = w->raw_key.data;
    wc.key.len = w->raw_key.len;
    wc.primary.data = w->primary.data;
    wc.primary.len = w->primary.len;
    wc.reason = KVRPCPB__WRITE_CONFLICT__REASON__PessimisticRetry;
    ke.conflict = &wc;
    snprintf(msg, sizeof(msg),
             "Error(Txn(Error(Mvcc(Error(WriteConflict { start_ts: TimeStamp(%llu), "
             "conflict_start_ts: TimeStamp(%llu), conflict_commit_ts: TimeStamp(%llu), "
             "reason: PessimisticRetry })))))",
             (unsigned long long)w->start_ts, (unsigned long long)w->lock_ts,
             (unsigned long long)w->released_commit_ts);
    ke.retryable = msg;
    r.n_errors = 1;
    r.errors = &kep;
    resp = &r;
  } else if (w->timeout_resp) {
    resp = (Kvrpcpb__PessimisticLockResponse *)protobuf_c_message_unpack(
        tikv__req(TIKV__REQ_KV_PESSIMISTIC_LOCK)->resp, NULL, w->timeout_resp_len, w->timeout_resp);
  }
  bool stopping = !w->woken && !w->timeout_resp;
  mock_kv_deferred_reply(w->reply, stopping ? NULL : resp ? &resp->base : NULL);
  if (resp && resp != &r) protobuf_c_message_free_unpacked(&resp->base, NULL);
  mv_waiter_free(w);
}

void mv_waiter_free(mv_waiter_t *w) {
  free(w->timeout_resp);
  tikv__bytes_free(&w->raw_key);
  tikv__bytes_free(&w->primary);
  free(w);
}

void mv_waiter_add(mock_mvcc_t *s, mv_waiter_t *w, bool detect, int64_t timeout_ms) {
  mv_key_t *k = w->key;
  mv_waiter_t **pp = &k->waiters;
  while (*pp) pp = &(*pp)->next_on_key;
  *pp = w;
  w->next_all = s->waiters;
  if (s->waiters) s->waiters->prev_all = w;
  w->prev_all = NULL;
  s->waiters = w;
  if (detect) {
    wait_edge_t *e = tikv__calloc(1, sizeof(*e));
    if (e) {
      e->waiter_ts = w->start_ts;
      e->lock_ts = w->lock_ts;
      e->key_hash = w->key_hash;
      e->next = s->edges;
      s->edges = e;
    }
  } else {
    w->lock_ts = w->lock_ts; /* no edge: edge_remove finds nothing */
  }
  tikv__timer_init(&w->timer);
  tikv__timer_start(w->m->loop, &w->timer, timeout_ms, waiter_fire, w);
}

void mv_unlock(mock_mvcc_t *s, mv_key_t *k, uint64_t commit_ts) {
  if (!k->lock) return;
  uint64_t ts = k->lock->ts;
  mv_lock_free(k->lock);
  k->lock = NULL;
  while (k->waiters) {
    mv_waiter_t *w = k->waiters;
    k->waiters = w->next_on_key;
    w->next_on_key = NULL;
    w->key = NULL;
    w->woken = true;
    w->lock_ts = w->lock_ts ? w->lock_ts : ts;
    w->released_commit_ts = commit_ts;
    tikv__timer_start(w->m->loop, &w->timer, 0, waiter_fire, w);
  }
  (void)s;
}

void mv_waiters_flush(mock_mvcc_t *s, uint64_t store_id) {
  for (mv_waiter_t *w = s->waiters; w; w = w->next_all) {
    if (store_id && w->store_id != store_id) continue;
    free(w->timeout_resp);
    w->timeout_resp = NULL; /* answered as "stopping" */
    w->woken = false;
    tikv__timer_start(w->m->loop, &w->timer, 0, waiter_fire, w);
  }
}

/* ---- GC and range deletion ---- */
void mv_gc(mock_mvcc_t *s, uint64_t sp) {
  for (mv_key_t *k = mv_first(s, (const uint8_t *)"", 0); k; k = mv_next(s, k)) {
    /* keep everything newer than sp and the newest data version <= sp */
    size_t i = 0;
    while (i < k->nwrites && k->writes[i].commit_ts > sp) i++;
    bool kept_data = false;
    while (i < k->nwrites) {
      mv_write_t *w = &k->writes[i];
      if (!kept_data && w->type == MV_W_PUT) {
        kept_data = true;
        i++;
        continue;
      }
      if (!kept_data && w->type == MV_W_DELETE) {
        kept_data = true; /* a delete at the bottom hides nothing: drop it too */
      }
      mv_delete_write_at(k, i);
    }
  }
}

void mv_delete_range(mock_mvcc_t *s, const uint8_t *start, size_t slen, const uint8_t *end,
                     size_t elen) {
  mv_key_t *k = mv_first(s, start, slen);
  while (k && (elen == 0 || tikv__key_cmp(k->enc, k->enc_len, end, elen) < 0)) {
    mv_unlock(s, k, 0);
    for (size_t i = 0; i < k->nwrites; i++) write_free(&k->writes[i]);
    k->nwrites = 0;
    k = mv_next(s, k);
  }
}
