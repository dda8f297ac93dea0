/* Lock resolution as a layer of the request engines (client-rust's
 * ResolveLock plan around Dispatch): a reply that reports locks is held
 * while the resolver decides their transactions, then the request is sent
 * again after the kind's backoff, or the reply is taken in as it is. */
#include "txn/txn_internal.h"

int tikv__locks_add(tikv__locks_t *l, const Kvrpcpb__LockInfo *info) {
  if (tikv__grow(&l->items, &l->cap, l->count + 1, sizeof(*l->items))) return -1;
  tikv__lock_t k = {0};
  k.ts = info->lock_version;
  k.ttl = info->lock_ttl;
  k.txn_size = info->txn_size;
  k.min_commit_ts = info->min_commit_ts;
  k.for_update_ts = info->lock_for_update_ts;
  k.lock_type = info->lock_type;
  k.use_async_commit = info->use_async_commit;
  if (tikv__bytes_set(&k.key, info->key.data, info->key.len) ||
      tikv__bytes_set(&k.primary, info->primary_lock.data, info->primary_lock.len) ||
      tikv__lock_set_secondaries(&k, info)) {
    tikv__lock_free(&k);
    return -1;
  }
  l->items[l->count++] = k;
  return 0;
}

int tikv__lock_set_secondaries(tikv__lock_t *k, const Kvrpcpb__LockInfo *info) {
  if (!info->n_secondaries) return 0;
  k->secondaries = tikv__calloc(info->n_secondaries, sizeof(tikv__bytes_t));
  if (!k->secondaries) return -1;
  k->n_secondaries = info->n_secondaries;
  for (size_t i = 0; i < info->n_secondaries; i++)
    if (tikv__bytes_set(&k->secondaries[i], info->secondaries[i].data, info->secondaries[i].len))
      return -1;
  return 0;
}

void tikv__lock_free(tikv__lock_t *k) {
  tikv__bytes_free(&k->key);
  tikv__bytes_free(&k->primary);
  for (size_t i = 0; i < k->n_secondaries; i++) tikv__bytes_free(&k->secondaries[i]);
  free(k->secondaries);
  k->secondaries = NULL;
  k->n_secondaries = 0;
}

void tikv__locks_free(tikv__locks_t *l) {
  for (size_t i = 0; i < l->count; i++) tikv__lock_free(&l->items[i]);
  free(l->items);
  memset(l, 0, sizeof(*l));
}

int tikv__lock_backoff(tikv__backoff_t *bo, int64_t wait_ms) {
  if (!wait_ms) return 0;
  int s = tikv__backoff_next(bo);
  return wait_ms < s ? (int)wait_ms : s;
}

/* ---- the layer ---- */
typedef struct {
  const tikv__lock_layer_t *layer;
  void *arg;
  ProtobufCMessage *resp; /* held until the locks are resolved */
  tikv__layer_cont cont;
  void *ctx;
  tikv__stats_t *stats;
  size_t n_locks;
} held_t;

static void resolved(void *p, tikv_error_t *err, int64_t wait_ms, const uint64_t *pushed,
                     size_t n_pushed) {
  held_t *h = p;
  int delay = 0;
  if (!err) err = h->layer->after(h->arg, h->resp, wait_ms, pushed, n_pushed, &delay);
  /* every lock decided, or some still alive to wait for */
  if (!err && !wait_ms) tikv__stats_retry(h->stats, TIKV__RETRY_LOCK_RESOLVED, NULL, (int)h->n_locks);
  if (!err && delay > 0) tikv__stats_retry(h->stats, TIKV__RETRY_LOCK_BACKOFF, NULL, delay);
  ProtobufCMessage *resp = h->resp;
  tikv__layer_cont cont = h->cont;
  void *ctx = h->ctx;
  free(h);
  if (err || delay >= 0) {
    tikv__reply_free(resp);
    cont(ctx, err, NULL, delay);
  } else {
    cont(ctx, NULL, resp, 0);
  }
}

bool tikv__lock_layer_take(const tikv__layer_t *self, tikv__router_t *rt, void *arg,
                           ProtobufCMessage *resp, tikv__scope_t *scope, tikv__layer_cont cont,
                           void *ctx) {
  const tikv__lock_layer_t *layer = (const tikv__lock_layer_t *)self;
  tikv__locks_t locks = {0};
  tikv_error_t *err = layer->find(arg, resp, &locks);
  if (!err && !locks.count) return false;
  held_t *h = err ? NULL : tikv__malloc(sizeof(*h));
  if (!err && !h) err = tikv__oom();
  if (err) {
    tikv__locks_free(&locks);
    tikv__reply_free(resp);
    cont(ctx, err, NULL, 0);
    return true;
  }
  *h = (held_t){layer, arg, resp, cont, ctx, rt->pd->stats, locks.count};
  tikv__resolve_locks(rt, layer->caller_ts(arg), &locks, scope, resolved, h);
  return true;
}
