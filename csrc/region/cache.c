/* The region cache: regions sorted by start key, non-overlapping. Lookups are
 * binary searches; inserts replace whatever the new region overlaps, so a
 * split or merge reported by PD or by an EpochNotMatch reply heals the cache. */
#include "region/cache.h"

void tikv__cache_init(tikv__region_cache_t *rc) { memset(rc, 0, sizeof(*rc)); }

void tikv__region_free(tikv__region_t *r) {
  if (!r) return;
  tikv__bytes_free(&r->start);
  tikv__bytes_free(&r->end);
  free(r->peers);
  free(r);
}

void tikv__cache_destroy(tikv__region_cache_t *rc) {
  for (size_t i = 0; i < rc->count; i++) tikv__region_free(rc->regions[i]);
  free(rc->regions);
  memset(rc, 0, sizeof(*rc));
}

static bool in_region(const tikv__region_t *r, const uint8_t *key, size_t len) {
  if (tikv__key_cmp(key, len, r->start.data, r->start.len) < 0) return false;
  return r->end.len == 0 || tikv__key_cmp(key, len, r->end.data, r->end.len) < 0;
}

/* Index of the last region whose start <= key, or SIZE_MAX. */
static size_t floor_index(tikv__region_cache_t *rc, const uint8_t *key, size_t len) {
  size_t lo = 0, hi = rc->count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const tikv__region_t *r = rc->regions[mid];
    if (tikv__key_cmp(r->start.data, r->start.len, key, len) <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo == 0 ? SIZE_MAX : lo - 1;
}

tikv__region_t *tikv__cache_find(tikv__region_cache_t *rc, const uint8_t *key, size_t len) {
  size_t i = floor_index(rc, key, len);
  if (i == SIZE_MAX) return NULL;
  return in_region(rc->regions[i], key, len) ? rc->regions[i] : NULL;
}

tikv__region_t *tikv__cache_find_end(tikv__region_cache_t *rc, const uint8_t *end, size_t len) {
  if (len == 0) {
    if (!rc->count) return NULL;
    tikv__region_t *last = rc->regions[rc->count - 1];
    return last->end.len == 0 ? last : NULL;
  }
  /* the region with start < end <= region end */
  size_t lo = 0, hi = rc->count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (tikv__key_cmp(rc->regions[mid]->start.data, rc->regions[mid]->start.len, end, len) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return NULL;
  tikv__region_t *r = rc->regions[lo - 1];
  if (r->end.len == 0 || tikv__key_cmp(end, len, r->end.data, r->end.len) <= 0) return r;
  return NULL;
}

tikv__region_t *tikv__cache_by_id(tikv__region_cache_t *rc, uint64_t id) {
  for (size_t i = 0; i < rc->count; i++)
    if (rc->regions[i]->id == id) return rc->regions[i];
  return NULL;
}

static void remove_at(tikv__region_cache_t *rc, size_t i) {
  tikv__region_free(rc->regions[i]);
  memmove(rc->regions + i, rc->regions + i + 1, (rc->count - i - 1) * sizeof(*rc->regions));
  rc->count--;
}

void tikv__cache_remove(tikv__region_cache_t *rc, uint64_t region_id) {
  for (size_t i = 0; i < rc->count; i++)
    if (rc->regions[i]->id == region_id) {
      remove_at(rc, i);
      return;
    }
}

static bool overlaps(const tikv__region_t *a, const uint8_t *s, size_t sl, const uint8_t *e,
                     size_t el) {
  /* [a.start, a.end) and [s, e) intersect */
  bool a_before = a->end.len && tikv__key_cmp(a->end.data, a->end.len, s, sl) <= 0;
  bool a_after = el && tikv__key_cmp(a->start.data, a->start.len, e, el) >= 0;
  return !a_before && !a_after;
}

static bool epoch_newer(const tikv__region_t *a, const Metapb__RegionEpoch *e) {
  uint64_t cv = e ? e->conf_ver : 0, v = e ? e->version : 0;
  return a->version > v || (a->version == v && a->conf_ver > cv);
}

tikv__region_t *tikv__cache_insert(tikv__region_cache_t *rc, const Metapb__Region *m,
                                   uint64_t leader_peer_id) {
  const uint8_t *s = m->start_key.data, *e = m->end_key.data;
  size_t sl = m->start_key.len, el = m->end_key.len;
  /* a stale report (e.g. from PD lagging behind a split we already saw) must
   * not evict newer knowledge */
  for (size_t i = 0; i < rc->count; i++)
    if (overlaps(rc->regions[i], s, sl, e, el) && epoch_newer(rc->regions[i], m->region_epoch))
      return NULL;
  tikv__region_t *r = tikv__calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->id = m->id;
  r->conf_ver = m->region_epoch ? m->region_epoch->conf_ver : 0;
  r->version = m->region_epoch ? m->region_epoch->version : 0;
  r->leader = SIZE_MAX;
  r->n_peers = m->n_peers;
  r->peers = tikv__calloc(m->n_peers ? m->n_peers : 1, sizeof(tikv__peer_t));
  if (!r->peers || tikv__bytes_set(&r->start, s, sl) || tikv__bytes_set(&r->end, e, el)) {
    tikv__region_free(r);
    return NULL;
  }
  for (size_t i = 0; i < m->n_peers; i++) {
    r->peers[i] = (tikv__peer_t){m->peers[i]->id, m->peers[i]->store_id, m->peers[i]->role};
    if (leader_peer_id && m->peers[i]->id == leader_peer_id) r->leader = i;
  }
  if (tikv__grow(&rc->regions, &rc->cap, rc->count + 1, sizeof(*rc->regions))) {
    tikv__region_free(r);
    return NULL;
  }
  for (size_t i = 0; i < rc->count;) {
    if (overlaps(rc->regions[i], s, sl, e, el) || rc->regions[i]->id == r->id)
      remove_at(rc, i);
    else
      i++;
  }
  size_t pos = floor_index(rc, s, sl);
  pos = pos == SIZE_MAX ? 0 : pos + 1;
  memmove(rc->regions + pos + 1, rc->regions + pos, (rc->count - pos) * sizeof(*rc->regions));
  rc->regions[pos] = r;
  rc->count++;
  return r;
}

bool tikv__cache_set_leader(tikv__region_cache_t *rc, uint64_t region_id, uint64_t store_id,
                            uint64_t peer_id) {
  tikv__region_t *r = tikv__cache_by_id(rc, region_id);
  if (!r) return false;
  for (size_t i = 0; i < r->n_peers; i++)
    if (r->peers[i].store_id == store_id && (!peer_id || r->peers[i].id == peer_id)) {
      r->leader = i;
      return true;
    }
  return false;
}
