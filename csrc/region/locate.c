/* Locating keys: the region cache first, PD on a miss (GetRegion,
 * GetPrevRegion for end keys, ScanRegions ahead of range walks,
 * GetRegionByID to refresh a region). */
#include <stdio.h>

#include "region/region.h"

void tikv__route_free(tikv__route_t *r) {
  tikv__bytes_free(&r->start);
  tikv__bytes_free(&r->end);
}

int tikv__route_copy(tikv__route_t *dst, const tikv__route_t *src) {
  *dst = *src;
  dst->start = (tikv__bytes_t){0};
  dst->end = (tikv__bytes_t){0};
  if (tikv__bytes_set(&dst->start, src->start.data, src->start.len) ||
      tikv__bytes_set(&dst->end, src->end.data, src->end.len)) {
    tikv__route_free(dst);
    return -1;
  }
  return 0;
}

static uint8_t sentinel[TIKV__KEY_SENTINEL_LEN];
static pthread_once_t sentinel_once = PTHREAD_ONCE_INIT;
static void sentinel_fill(void) { memset(sentinel, 0xff, sizeof(sentinel)); }

const uint8_t *tikv__key_sentinel(void) {
  pthread_once(&sentinel_once, sentinel_fill);
  return sentinel;
}

bool tikv__route_contains(const tikv__route_t *r, const uint8_t *key, size_t len) {
  if (tikv__key_cmp(key, len, r->start.data, r->start.len) < 0) return false;
  return r->end.len == 0 || tikv__key_cmp(key, len, r->end.data, r->end.len) < 0;
}

/* A boundary in the caller's key space: transactional boundaries are decoded
 * (a boundary that is not an encoded key is kept as it is, as client-go does
 * for keys outside the transactional space). */
static int boundary(tikv__keyspace ks, const tikv__bytes_t *b, tikv__bytes_t *out) {
  if (ks == TIKV__KS_TXN && b->len) {
    uint8_t *dec;
    size_t dl, used;
    if (tikv__codec_decode_bytes(b->data, b->len, &dec, &dl, &used) == 0) {
      out->data = dec;
      out->len = dl;
      return 0;
    }
  }
  return tikv__bytes_set(out, b->data, b->len);
}

/* The peer to send to: the leader, or with the leader unknown the first
 * peer (NotLeader corrects us). When that peer's store is down, the next
 * peer on a live store, as client-go's replica selector tries followers: one
 * that knows the new leader names it, one that does not says an election
 * is on. With every peer's store down, the leader still (it waits for its
 * health check). */
static size_t pick_peer(tikv__router_t *rt, const tikv__region_t *r) {
  size_t first = r->leader != SIZE_MAX ? r->leader : 0;
  for (size_t i = 0; i < r->n_peers; i++) {
    size_t j = (first + i) % r->n_peers;
    if (!tikv__store_is_down(rt, r->peers[j].store_id)) return j;
  }
  return first;
}

static int route_from_region(tikv__router_t *rt, tikv__keyspace ks, const tikv__region_t *r,
                             bool bounds, tikv__route_t *out) {
  memset(out, 0, sizeof(*out));
  out->region_id = r->id;
  out->conf_ver = r->conf_ver;
  out->version = r->version;
  if (r->n_peers) out->leader = r->peers[pick_peer(rt, r)];
  if (bounds && (boundary(ks, &r->start, &out->start) || boundary(ks, &r->end, &out->end))) {
    tikv__route_free(out);
    return -1;
  }
  return 0;
}

/* key in the cache's (PD's) space */
static int pd_key(tikv__keyspace ks, const uint8_t *key, size_t len, uint8_t **out,
                  size_t *out_len) {
  if (ks == TIKV__KS_TXN) return tikv__codec_encode_bytes(key, len, out, out_len);
  *out = tikv__memdup(key, len);
  *out_len = len;
  return *out ? 0 : -1;
}

bool tikv__locate_cached(tikv__router_t *rt, tikv__keyspace ks, const uint8_t *key, size_t len,
                         bool reverse, bool bounds, tikv__route_t *route) {
  ks = tikv__apicodec_routing(&rt->codec, ks);
  /* raw keys are looked up as they are; transactional ones encoded, on the
   * stack when short */
  uint8_t small[TIKV__CODEC_ENCODED_LEN(64)], *heap = NULL;
  const uint8_t *k = key;
  size_t kl = len;
  if (ks == TIKV__KS_TXN) {
    size_t need = TIKV__CODEC_ENCODED_LEN(len);
    uint8_t *buf = need <= sizeof(small) ? small : (heap = tikv__malloc(need));
    if (!buf) return false;
    kl = tikv__codec_encode_bytes_into(key, len, buf);
    k = buf;
  }
  /* an empty end key means +inf in both spaces */
  if (reverse && len == 0) kl = 0;
  tikv__region_t *r = reverse ? tikv__cache_find_end(&rt->cache, k, kl)
                              : tikv__cache_find(&rt->cache, k, kl);
  free(heap);
  return r && route_from_region(rt, ks, r, bounds, route) == 0;
}

/* ---- cache misses ---- */
typedef struct {
  tikv__router_t *rt;
  tikv__keyspace ks;
  uint8_t *key; /* in PD's space */
  size_t len;
  uint8_t *end; /* a forward walk's end, for ScanRegions (PD's space) */
  size_t end_len;
  bool reverse; /* locating an exclusive end key */
  bool prev;    /* this attempt asks GetPrevRegion */
  bool last;    /* looking for the last region (empty end key) */
  tikv__scope_t *scope;
  tikv__locate_cb cb;
  void *arg;
  union {
    Pdpb__GetRegionRequest get; /* GetPrevRegion takes the same */
    Pdpb__ScanRegionsRequest scan;
  } q;
} locate_t;

static void locate_send(locate_t *l);

static locate_t *locate_new(tikv__router_t *rt, tikv__keyspace ks, bool reverse, tikv__scope_t *scope,
                            tikv__locate_cb cb, void *arg) {
  locate_t *l = tikv__malloc(sizeof(*l));
  if (l)
    *l = (locate_t){.rt = rt, .ks = ks, .reverse = reverse, .scope = scope, .cb = cb,
                    .arg = arg};
  return l;
}

static void locate_finish(locate_t *l, tikv_error_t *err, const tikv__route_t *route) {
  tikv__locate_cb cb = l->cb;
  void *arg = l->arg;
  free(l->key);
  free(l->end);
  free(l);
  cb(arg, err, route);
}

/* The route of a cached region, or an error for OOM. */
static void finish_with(locate_t *l, const tikv__region_t *r) {
  tikv__route_t route;
  if (!r || route_from_region(l->rt, l->ks, r, true, &route)) {
    locate_finish(l, tikv__oom(), NULL);
    return;
  }
  locate_finish(l, NULL, &route);
  tikv__route_free(&route);
}

/* PD has no region for the key; for the last region or GetPrevRegion, none
 * before it. */
static void region_missing(locate_t *l) {
  if (l->prev || l->last) {
    locate_finish(l, tikv__error_new(TIKV_ERR_REGION, "PD knows no region before the key"), NULL);
    return;
  }
  /* PD answers with no region while a split or bootstrap is in progress */
  tikv_error_t *e = tikv__error_new(TIKV_ERR_REGION, "PD has no region for the key");
  tikv__error_set_kind(e, "region_not_found");
  locate_finish(l, e, NULL);
}

/* Asks again for the region at key (copied). */
static void locate_again(locate_t *l, const ProtobufCBinaryData *key) {
  uint8_t *k = tikv__memdup(key->data, key->len);
  if (!k) {
    locate_finish(l, tikv__oom(), NULL);
    return;
  }
  free(l->key);
  l->key = k;
  l->len = key->len;
  locate_send(l);
}

static void answered(locate_t *l, const Pdpb__GetRegionResponse *resp) {
  uint64_t leader = resp->leader ? resp->leader->id : 0;
  tikv__region_t *r = tikv__cache_insert(&l->rt->cache, resp->region, leader);
  if (r) {
    finish_with(l, r);
    return;
  }
  /* stale against the cache (or OOM): answer from the reply itself */
  tikv__region_cache_t tmp;
  tikv__cache_init(&tmp);
  finish_with(l, tikv__cache_insert(&tmp, resp->region, leader));
  tikv__cache_destroy(&tmp);
}

static void region_reply(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  locate_t *l = arg;
  if (err) {
    locate_finish(l, err, NULL);
    return;
  }
  Pdpb__GetRegionResponse *resp = (Pdpb__GetRegionResponse *)msg;
  const Metapb__Region *m = resp->region;
  if (!m) {
    region_missing(l);
  } else if (l->reverse && !l->prev && !l->last && m->start_key.len &&
             tikv__key_cmp(m->start_key.data, m->start_key.len, l->key, l->len) == 0) {
    /* client-go's rule for end keys: GetRegion(end) is the region only when
     * end lies strictly inside it; when end is its start, the one before it
     * is wanted, which GetPrevRegion gives */
    l->prev = true;
    locate_send(l);
  } else if (l->last && m->end_key.len) {
    /* not the last region yet: continue from its end */
    tikv__cache_insert(&l->rt->cache, m, resp->leader ? resp->leader->id : 0);
    locate_again(l, &m->end_key);
  } else {
    answered(l, resp);
  }
  tikv__reply_free(msg);
}

static void locate_send(locate_t *l) {
  l->q.get = (Pdpb__GetRegionRequest)PDPB__GET_REGION_REQUEST__INIT;
  l->q.get.region_key = (ProtobufCBinaryData){l->len, l->key};
  tikv__pd_call(l->rt->pd, l->prev ? TIKV__REQ_PD_GET_PREV_REGION : TIKV__REQ_PD_GET_REGION,
                &l->q.get.base, l->scope, region_reply, l);
}

static bool cached(tikv__router_t *rt, tikv__keyspace ks, const uint8_t *key, size_t len,
                   bool reverse, tikv__locate_cb cb, void *arg) {
  tikv__route_t route;
  if (!tikv__locate_cached(rt, ks, key, len, reverse, true, &route)) return false;
  cb(arg, NULL, &route);
  tikv__route_free(&route);
  return true;
}

void tikv__locate(tikv__router_t *rt, tikv__keyspace ks, const uint8_t *key, size_t len,
                  bool reverse, tikv__scope_t *scope, tikv__locate_cb cb, void *arg) {
  if (cached(rt, ks, key, len, reverse, cb, arg)) return;
  ks = tikv__apicodec_routing(&rt->codec, ks);
  locate_t *l = locate_new(rt, ks, reverse, scope, cb, arg);
  int rc = -1;
  if (l && reverse && len == 0) {
    /* the last region: start from a key past every plausible boundary and
     * follow region ends until the unbounded one */
    l->last = true;
    l->len = 64;
    if ((l->key = tikv__malloc(l->len))) {
      memset(l->key, 0xff, l->len);
      rc = 0;
    }
  } else if (l) {
    rc = pd_key(ks, key, len, &l->key, &l->len);
  }
  if (rc) {
    free(l);
    cb(arg, tikv__oom(), NULL);
    return;
  }
  locate_send(l);
}

/* ---- loading many regions at once (PD's ScanRegions) ----
 * Range operations (scans, delete-range, GC) walk region after region: one
 * ScanRegions fills the cache for the next regions instead of one GetRegion
 * per region, as client-go's BatchLoadRegionsWithKeyRange does. */
#define SCAN_REGIONS_LIMIT 32

static void scan_regions_reply(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  locate_t *l = arg;
  tikv__region_cache_t *rc = &l->rt->cache;
  if (!err) {
    Pdpb__ScanRegionsResponse *r = (Pdpb__ScanRegionsResponse *)msg;
    for (size_t i = 0; i < r->n_regions; i++)
      if (r->regions[i]->region)
        tikv__cache_insert(rc, r->regions[i]->region,
                           r->regions[i]->leader ? r->regions[i]->leader->id : 0);
    for (size_t i = 0; !r->n_regions && i < r->n_region_metas; i++)
      tikv__cache_insert(rc, r->region_metas[i],
                         i < r->n_leaders && r->leaders[i] ? r->leaders[i]->id : 0);
    tikv__reply_free(msg);
  } else {
    tikv__error_free(err); /* GetRegion below is the fallback */
  }
  tikv__region_t *r = tikv__cache_find(rc, l->key, l->len);
  if (r)
    finish_with(l, r);
  else
    locate_send(l);
}

void tikv__locate_range(tikv__router_t *rt, tikv__keyspace ks, const uint8_t *key, size_t len,
                        const uint8_t *end, size_t end_len, tikv__scope_t *scope,
                        tikv__locate_cb cb, void *arg) {
  if (cached(rt, ks, key, len, false, cb, arg)) return;
  ks = tikv__apicodec_routing(&rt->codec, ks);
  locate_t *l = locate_new(rt, ks, false, scope, cb, arg);
  if (!l || pd_key(ks, key, len, &l->key, &l->len) ||
      (end_len && pd_key(ks, end, end_len, &l->end, &l->end_len))) {
    if (l) free(l->key);
    free(l);
    cb(arg, tikv__oom(), NULL);
    return;
  }
  l->q.scan = (Pdpb__ScanRegionsRequest)PDPB__SCAN_REGIONS_REQUEST__INIT;
  l->q.scan.start_key = (ProtobufCBinaryData){l->len, l->key};
  l->q.scan.end_key = (ProtobufCBinaryData){l->end_len, l->end};
  l->q.scan.limit = SCAN_REGIONS_LIMIT;
  tikv__pd_call(rt->pd, TIKV__REQ_PD_SCAN_REGIONS, &l->q.scan.base, scope, scan_regions_reply,
                l);
}

/* ---- refreshing one region by id (PD's GetRegionByID) ---- */
typedef struct {
  tikv__router_t *rt;
  Pdpb__GetRegionByIDRequest q;
  tikv__scope_t scope; /* its own: no caller waits for it */
} by_id_t;

static void by_id_reply(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  by_id_t *b = arg;
  if (!err) {
    Pdpb__GetRegionResponse *r = (Pdpb__GetRegionResponse *)msg;
    if (r->region && r->leader)
      tikv__cache_insert(&b->rt->cache, r->region, r->leader->id);
    else
      tikv__cache_remove(&b->rt->cache, b->q.region_id);
    tikv__reply_free(msg);
  } else {
    /* PD unreachable says nothing of the region: what the cache knows still
     * routes to its peers */
    tikv__error_free(err);
  }
  free(b);
}

void tikv__refresh_region(tikv__router_t *rt, uint64_t region_id, int64_t deadline) {
  by_id_t *b = tikv__calloc(1, sizeof(*b));
  if (!b) {
    tikv__cache_remove(&rt->cache, region_id);
    return;
  }
  *b = (by_id_t){rt, PDPB__GET_REGION_BY_IDREQUEST__INIT};
  b->q.region_id = region_id;
  tikv__scope_init(&b->scope, rt->rpc->loop, deadline);
  tikv__pd_call(rt->pd, TIKV__REQ_PD_GET_REGION_BY_ID, &b->q.base, &b->scope, by_id_reply, b);
}
