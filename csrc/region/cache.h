/* The region cache (csrc/region/cache.c): regions ordered by start key,
 * non-overlapping. Boundaries are kept as PD reports them
 * (memcomparable-encoded for transactional data). */
#ifndef TIKV_REGION_CACHE_H
#define TIKV_REGION_CACHE_H

#include "core/core.h"
#include "metapb.pb-c.h"

typedef struct tikv__peer {
  uint64_t id, store_id;
  int role;
} tikv__peer_t;

typedef struct tikv__region {
  uint64_t id, conf_ver, version;
  tikv__bytes_t start, end; /* end.len == 0: unbounded */
  tikv__peer_t *peers;
  size_t n_peers;
  size_t leader; /* index into peers; SIZE_MAX unknown */
} tikv__region_t;

typedef struct tikv__region_cache {
  tikv__region_t **regions; /* sorted by start, non-overlapping */
  size_t count, cap;
} tikv__region_cache_t;

void tikv__cache_init(tikv__region_cache_t *rc);
void tikv__cache_destroy(tikv__region_cache_t *rc);
/* The cached region containing key, or NULL. */
tikv__region_t *tikv__cache_find(tikv__region_cache_t *rc, const uint8_t *key, size_t len);
/* The cached region whose range contains the keys just below end (end
 * exclusive; empty end = the last region), or NULL. */
tikv__region_t *tikv__cache_find_end(tikv__region_cache_t *rc, const uint8_t *end, size_t len);
tikv__region_t *tikv__cache_by_id(tikv__region_cache_t *rc, uint64_t id);
/* Inserts a region from PD or TiKV (copied), replacing every region it
 * overlaps, unless a cached overlapping region has a newer epoch. Returns the
 * cached copy, NULL on OOM or when stale. leader_peer_id 0: unknown. */
tikv__region_t *tikv__cache_insert(tikv__region_cache_t *rc, const Metapb__Region *r,
                                   uint64_t leader_peer_id);
void tikv__cache_remove(tikv__region_cache_t *rc, uint64_t region_id);
/* Sets the leader of a cached region to the peer on store_id; false when the
 * region is not cached or has no peer there. */
bool tikv__cache_set_leader(tikv__region_cache_t *rc, uint64_t region_id, uint64_t store_id,
                            uint64_t peer_id);
void tikv__region_free(tikv__region_t *r);

#endif
